//! The registry of node kinds: for each, its image, where its main config
//! goes, what it needs from the kernel, what `connect` opens and how to tell
//! it is ready. Data only; the plan and the commands read it.

/// What noglab knows about one kind of node.
#[derive(Debug)]
pub struct Kind {
    pub name: &'static str,
    pub description: &'static str,
    /// The folder under `images/` its image is built from.
    pub image: &'static str,
    /// Where a node's `config:` template is rendered to.
    pub config_path: Option<&'static str>,
    /// Linux capabilities added to Docker's defaults (never privileged).
    pub capabilities: &'static [&'static str],
    /// Namespaced sysctls set at container creation.
    pub sysctls: &'static [(&'static str, &'static str)],
    /// The command `connect` opens.
    pub shell: &'static [&'static str],
    /// A shell command that exits 0 once the node is ready: its daemons
    /// run the planned configuration. Exit 3 means broken for good (its
    /// output says why; noglab-init stops waiting), so a daemon's own tool
    /// is written `TOOL ... || exit 1`: its exit codes mean other things.
    /// It may repair (FRR re-applies a configuration that did not apply).
    pub readiness: &'static str,
    /// A shell command run after the node's `exec` lines (which may be
    /// what makes the configuration loadable: keys imported, zones
    /// reloaded), until it exits 0: the daemon serves everything its
    /// configuration declares. Exit 3 means broken for good.
    pub verify: Option<&'static str>,
    /// Docker's health probe when it must differ from `readiness`: one
    /// that only looks, for kinds whose readiness repairs (a repair later
    /// in the day would undo a participant's unsaved work).
    pub health: Option<&'static str>,
    /// Daemons a node runs only when its configuration uses them, each
    /// with a regex (multi-line) of the statements that use it. The plan
    /// lists those the node's config or its solution config use in
    /// `/etc/noglab/daemons`; the image starts only those (and what it
    /// always runs).
    pub daemons: &'static [(&'static str, &'static str)],
    /// A shell command that makes the daemon read its config again.
    pub reload: Option<&'static str>,
    /// Memory a node of this kind uses, in MiB, for `doctor`'s estimate:
    /// the largest figure Docker gave for the kind in docs/sizing.md's
    /// rooms (10 and 30 pods), rounded up with room to grow (a resolver's
    /// cache, a participant's sessions). The engine's own share per
    /// container is doctor's to add.
    pub memory_mib: u64,
    /// CPU time a node of this kind uses from its start until it is ready
    /// (daemons, configuration, noglab-init's work), in milliseconds, for
    /// `doctor`'s estimate of a room on a machine's CPUs (measured with
    /// `bench/room`, docs/sizing.md).
    pub boot_cpu_ms: u64,
    /// What a node of this kind keeps using at rest, in thousandths of one
    /// CPU, for the same estimate (measured the same way).
    pub rest_cpu_permille: u64,
    /// Groups the participants' login user needs to use the kind's shell
    /// (vtysh talks to FRR's daemons through frrvty's sockets).
    pub login_groups: &'static str,
    /// Whose command line answers the built-in routing checks (`bgp`,
    /// `route`) on a node of this kind.
    pub router: Option<Router>,
    /// What `noglab save` keeps of a node of this kind: participants' work.
    pub state: State,
}

/// A kind's participant state: the folders and files `save` takes and
/// `restore` puts back (nothing outside them is ever written), files made
/// by a command at save time, and what makes the daemon read them again.
#[derive(Debug)]
pub struct State {
    /// Absolute folders or files in the node.
    pub paths: &'static [&'static str],
    /// Files inside `paths` that belong to the node itself, not to
    /// participants (keys each start makes for the daemon's control
    /// channel): never saved, never put back.
    pub except: &'static [&'static str],
    /// `(path, shell command)`: the file at `path` is what the command
    /// prints when `save` runs (FRR's running configuration, which a
    /// participant may not have written to disk). Inside `paths`.
    pub generated: &'static [(&'static str, &'static str)],
    /// A shell command `restore` runs once the files are back.
    pub restore: Option<&'static str>,
}

/// No participant state: `save` skips the node.
const NO_STATE: State = State {
    paths: &[],
    except: &[],
    generated: &[],
    restore: None,
};

/// Where a host's addresses and routes are written, as commands.
pub const HOST_STATE: &str = "/var/lib/noglab-state/network.sh";

/// The routing daemons whose state the built-in checks can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Router {
    /// FRR: `vtysh -c '... json'`.
    Frr,
    /// BIRD: `birdc show ...`.
    Bird,
}

/// The built-in checks that only some kinds can run, with those kinds, in
/// the order messages name them.
pub static BUILTIN_CHECKS: &[(&str, &[&str])] = &[
    ("bgp", &["frr", "bird"]),
    ("route", &["frr", "bird"]),
    ("dns", &["host", "bind"]),
];

/// The kinds that can run built-in check `builtin` (`bgp`, `route`,
/// `dns`); `None` for a check every kind can run.
pub fn running(builtin: &str) -> Option<&'static [&'static str]> {
    BUILTIN_CHECKS
        .iter()
        .find(|(b, _)| *b == builtin)
        .map(|(_, kinds)| *kinds)
}

/// Every kind needs NET_ADMIN: the node's init renames its interfaces and
/// sets the planned addresses at each start. Docker's default set already
/// holds NET_RAW (ping, tcpdump) and NET_BIND_SERVICE (ports 53, 179, 323);
/// routers name NET_RAW anyway, since their raw sockets (OSPF, IS-IS) must
/// work even on an engine whose defaults drop it.
const SERVICE_CAPS: &[&str] = &["NET_ADMIN"];

const BASE_SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv6.conf.all.disable_ipv6", "0"),
    ("net.ipv6.conf.default.disable_ipv6", "0"),
];

const ROUTER_SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv6.conf.all.disable_ipv6", "0"),
    ("net.ipv6.conf.default.disable_ipv6", "0"),
    ("net.ipv4.ip_forward", "1"),
    ("net.ipv6.conf.all.forwarding", "1"),
    ("net.ipv6.conf.default.forwarding", "1"),
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.default.rp_filter", "0"),
];

/// FRR's daemons beside zebra and staticd (always run), and the
/// statements that need each. A protocol participants configure from
/// scratch is in the node's solution config, so its daemon runs in the
/// initial lab too.
const FRR_DAEMONS: &[(&str, &str)] = &[
    ("bgpd", r"^\s*router bgp\b"),
    ("ospfd", r"^\s*(router ospf|ip ospf)\b"),
    ("ospf6d", r"^\s*(router ospf6|ipv6 ospf6)\b"),
    ("ripd", r"^\s*(router rip|ip rip)\b"),
    ("ripngd", r"^\s*(router ripng|ipv6 ripng)\b"),
    ("isisd", r"^\s*(router isis|ipv6? router isis|isis)\b"),
    ("pimd", r"^\s*(router pim|ip pim|ip igmp|ip multicast)\b"),
    ("pim6d", r"^\s*(router pim6|ipv6 pim|ipv6 mld)\b"),
    ("ldpd", r"^\s*mpls ldp\b"),
    ("nhrpd", r"^\s*(ip|ipv6) nhrp\b"),
    ("eigrpd", r"^\s*router eigrp\b"),
    ("babeld", r"^\s*(router babel|babel)\b"),
    ("pbrd", r"^\s*(pbr-map|pbr-policy)\b"),
    (
        "bfdd",
        r"^\s*(bfd|neighbor \S+ bfd|ip ospf bfd|ipv6 ospf6 bfd|isis bfd)\b",
    ),
    (
        "fabricd",
        r"^\s*(router openfabric|ipv6? router openfabric|openfabric)\b",
    ),
    ("vrrpd", r"^\s*vrrp\b"),
];

pub static KINDS: &[Kind] = &[
    Kind {
        name: "frr",
        description: "FRRouting: bgpd, ospfd, ospf6d, isisd, bfdd, with the RPKI module",
        image: "frr",
        config_path: Some("/etc/frr/frr.conf"),
        // SYS_ADMIN: every FRR daemon asks for it at start (for VRFs in
        // network namespaces, which no lab uses) and exits without it;
        // measured with labs/bgp: zebra's "privs_init: initial cap_set_proc
        // failed: Operation not permitted", wanting
        // cap_net_admin,cap_net_raw,cap_sys_admin. Root holding it could
        // remount /etc/noglab: the init starts the participants' sshd
        // without it in its bounding set, so no login session ever holds
        // it (`audit` checks sshd); only the engine's own commands (`exec`,
        // `connect`, checks) and FRR's daemons do.
        capabilities: &["NET_ADMIN", "NET_RAW", "SYS_ADMIN"],
        sysctls: ROUTER_SYSCTLS,
        shell: &["vtysh"],
        readiness: "frr-ready",
        verify: None,
        health: Some("frr-ready --health"),
        daemons: FRR_DAEMONS,
        reload: Some("/usr/lib/frr/frr-reload.py --reload /etc/frr/frr.conf"),
        memory_mib: 48,
        boot_cpu_ms: 1300,
        rest_cpu_permille: 3,
        login_groups: "frr frrvty",
        router: Some(Router::Frr),
        state: State {
            paths: &["/etc/frr"],
            except: &[],
            // The running configuration, without vtysh's two header lines.
            generated: &[(
                "/etc/frr/frr.conf",
                "vtysh -c 'show running-config' | sed '1,/^Current configuration:/d'",
            )],
            restore: Some("/usr/lib/frr/frr-reload.py --reload /etc/frr/frr.conf"),
        },
    },
    Kind {
        name: "bird",
        description: "BIRD 2: BGP, OSPF, BFD, RPKI over RTR",
        image: "bird",
        config_path: Some("/etc/bird/bird.conf"),
        capabilities: &["NET_ADMIN", "NET_RAW"],
        sysctls: ROUTER_SYSCTLS,
        shell: &["birdc", "-s", "/run/bird/bird.ctl"],
        readiness: "bird-ready",
        verify: None,
        // A participant's edit in progress (a file that does not parse yet,
        // a protocol not yet `configure`d) is theirs: health only asks
        // whether BIRD runs, which it does on its last good configuration.
        health: Some(
            "birdc -s /run/bird/bird.ctl show status | grep -q 'Daemon is up and running'",
        ),
        daemons: &[],
        reload: Some("birdc -s /run/bird/bird.ctl configure"),
        memory_mib: 16,
        boot_cpu_ms: 150,
        rest_cpu_permille: 1,
        login_groups: "bird",
        router: Some(Router::Bird),
        state: State {
            paths: &["/etc/bird"],
            except: &[],
            generated: &[],
            restore: Some("birdc -s /run/bird/bird.ctl configure"),
        },
    },
    Kind {
        name: "unbound",
        description: "Unbound validating resolver, with dig and delv",
        image: "unbound",
        config_path: Some("/etc/unbound/unbound.conf"),
        capabilities: SERVICE_CAPS,
        sysctls: BASE_SYSCTLS,
        shell: &["bash"],
        // unbound-control exits 3 for "unbound is stopped", which is also
        // what it says while unbound is still starting: not yet, not broken
        // (noglab-init reads 3 as broken for good).
        readiness: "unbound-control status || exit 1",
        verify: None,
        health: None,
        daemons: &[],
        reload: Some("unbound-control reload"),
        memory_mib: 32,
        boot_cpu_ms: 700,
        rest_cpu_permille: 1,
        login_groups: "",
        router: None,
        state: State {
            paths: &["/etc/unbound", "/var/lib/unbound"],
            except: &[
                "/etc/unbound/unbound_control.key",
                "/etc/unbound/unbound_control.pem",
                "/etc/unbound/unbound_server.key",
                "/etc/unbound/unbound_server.pem",
            ],
            generated: &[],
            // Files come back owned by root; the daemon's data is its own
            // again, as the image's start makes it.
            restore: Some("chown -R unbound:unbound /var/lib/unbound && unbound-control reload"),
        },
    },
    Kind {
        name: "bind",
        description: "BIND 9 (authoritative or resolver), dig, delv, nsupdate, dnssec-* tools",
        image: "bind",
        config_path: Some("/etc/bind/named.conf"),
        capabilities: SERVICE_CAPS,
        sysctls: BASE_SYSCTLS,
        shell: &["bash"],
        readiness: "rndc status || exit 1",
        // Zones load after named answers, and some only once the node's
        // exec lines ran (keys imported).
        verify: Some("bind-ready"),
        health: None,
        daemons: &[],
        reload: Some("rndc reload"),
        memory_mib: 48,
        boot_cpu_ms: 800,
        rest_cpu_permille: 2,
        login_groups: "",
        router: None,
        state: State {
            paths: &["/etc/bind", "/var/lib/bind", "/var/cache/bind"],
            except: &[
                "/etc/bind/rndc.key",
                "/var/cache/bind/managed-keys.bind",
                "/var/cache/bind/managed-keys.bind.jnl",
            ],
            generated: &[],
            // Files come back owned by root: zones and journals are
            // named's again (it writes them when it signs or takes
            // updates), as the image's start makes them.
            restore: Some(
                "chown -R bind:bind /var/cache/bind /var/lib/bind && rndc reconfig && rndc reload",
            ),
        },
    },
    Kind {
        name: "knot",
        description: "Knot DNS authoritative server, with keymgr, kdig and knsupdate",
        image: "knot",
        config_path: Some("/etc/knot/knot.conf"),
        capabilities: SERVICE_CAPS,
        sysctls: BASE_SYSCTLS,
        shell: &["knotc"],
        readiness: "knotc status || exit 1",
        verify: Some("knot-ready"),
        health: None,
        daemons: &[],
        reload: Some("knotc reload"),
        memory_mib: 16,
        boot_cpu_ms: 800,
        rest_cpu_permille: 2,
        login_groups: "knot",
        router: None,
        state: State {
            paths: &["/etc/knot", "/var/lib/knot"],
            except: &[],
            generated: &[],
            // Files come back owned by root, and Knot keeps its zone files
            // 0660: without them back as knot's, Knot cannot read the zone
            // (measured: "failed to parse zone file ... operation not
            // permitted") nor its journal and keys.
            restore: Some("chown -R knot:knot /var/lib/knot && knotc reload"),
        },
    },
    Kind {
        name: "rtr",
        description: "StayRTR: an RTR cache on port 323 serving the VRPs of a rendered JSON file",
        image: "rtr",
        config_path: Some("/etc/stayrtr/vrps.json"),
        capabilities: SERVICE_CAPS,
        sysctls: BASE_SYSCTLS,
        shell: &["bash"],
        readiness: "rtr-ready",
        verify: None,
        health: None,
        daemons: &[],
        // StayRTR reads the file again every 10 s by itself.
        reload: None,
        memory_mib: 48,
        // Not measured yet (no image on the machine that measured the
        // others): an estimate on the high side.
        boot_cpu_ms: 300,
        rest_cpu_permille: 1,
        login_groups: "",
        router: None,
        state: State {
            paths: &["/etc/stayrtr"],
            except: &[],
            generated: &[],
            // StayRTR reads its file again by itself.
            restore: None,
        },
    },
    Kind {
        name: "rpki",
        description: "FORT validator serving RTR on port 323, and rpki-client; TALs in /etc/tals",
        image: "rpki",
        config_path: Some("/etc/fort/config.json"),
        capabilities: SERVICE_CAPS,
        sysctls: BASE_SYSCTLS,
        shell: &["bash"],
        // RTR port open and a first validation done: FORT binds its port
        // before validating, and exits when the first validation fails.
        readiness: "rpki-ready",
        verify: None,
        health: None,
        daemons: &[],
        // FORT validates again every `server.interval.validation` seconds;
        // a changed config needs a restart of the node.
        reload: None,
        // Measured (`bench/room labs/rpki 10`, docs/sizing.md): 10 MiB
        // resident, 1.0 CPU-second until `up` returned, 9.4 per mille of a
        // CPU at rest (validating again every few seconds).
        memory_mib: 32,
        boot_cpu_ms: 1000,
        rest_cpu_permille: 10,
        login_groups: "",
        router: None,
        state: State {
            paths: &["/etc/fort", "/etc/tals"],
            except: &[],
            generated: &[],
            restore: None,
        },
    },
    Kind {
        name: "krill",
        description:
            "Krill RPKI CA (testbed mode: a whole offline RPKI) with rsyncd; krillc in the node",
        image: "krill",
        config_path: Some("/etc/krill/krill.conf"),
        capabilities: SERVICE_CAPS,
        sysctls: BASE_SYSCTLS,
        shell: &["bash"],
        readiness: "krillc health || exit 1",
        verify: None,
        health: None,
        daemons: &[],
        // Krill reads its config at start only.
        reload: None,
        // Measured (`bench/room labs/rpki 10`, docs/sizing.md): 15 MiB
        // resident, 6.2 per mille of a CPU at rest, and 34.6 CPU-seconds
        // until `up` returned: the shared Krill makes every pod's CA and
        // ROAs, about 3.5 CPU-seconds per pod; the figure is a room of 10.
        memory_mib: 32,
        boot_cpu_ms: 35_000,
        rest_cpu_permille: 7,
        login_groups: "",
        router: None,
        state: State {
            paths: &["/var/lib/krill"],
            except: &[],
            generated: &[],
            // Krill reads its data at its start only, and is the node's
            // main process: the data is back, Krill sees it once the node
            // restarts.
            restore: None,
        },
    },
    Kind {
        name: "irr",
        description: "IRRd 4 serving the lab's RPSL: whois and IRRd queries on port 43, HTTP API and submissions on 8080",
        image: "irr",
        config_path: Some("/etc/irrd/lab.rpsl"),
        // NET_ADMIN for the init alone: port 43 and IRRd's change of user
        // are within Docker's defaults.
        capabilities: SERVICE_CAPS,
        sysctls: BASE_SYSCTLS,
        shell: &["bash"],
        // A query for the RPSL's first object answers on port 43 and over
        // HTTP: the RPSL is loaded and IRRd takes submissions.
        readiness: "irr-ready",
        verify: None,
        health: None,
        daemons: &[],
        // The RPSL is loaded once per node; changes go through IRRd's
        // submissions, which a reload would undo.
        reload: None,
        // Measured (`bench/room labs/manrs 10`, docs/sizing.md): 426 MiB
        // resident (IRRd's eight processes, PostgreSQL, Redis) serving the
        // RPSL of 10 pods, 10.8 CPU-seconds until `up` returned, 5.8 per
        // mille of a CPU at rest.
        memory_mib: 448,
        boot_cpu_ms: 11_000,
        rest_cpu_permille: 6,
        login_groups: "",
        router: None,
        // Objects participants submit live in IRRd's database, which
        // snapshots do not hold yet: a reset IRR serves the lab's RPSL
        // again.
        state: NO_STATE,
    },
    Kind {
        name: "host",
        description: "Debian client: ping, traceroute, mtr, dig, curl, tcpdump, ssh",
        image: "host",
        config_path: None,
        capabilities: &["NET_ADMIN", "NET_RAW"],
        sysctls: BASE_SYSCTLS,
        shell: &["bash"],
        readiness: "true",
        verify: None,
        health: None,
        daemons: &[],
        reload: None,
        memory_mib: 8,
        boot_cpu_ms: 600,
        rest_cpu_permille: 1,
        login_groups: "",
        router: None,
        state: State {
            paths: &["/var/lib/noglab-state"],
            except: &[],
            // Global addresses and the routes the kernel did not add, as
            // the commands that set them again; not the management
            // interface's (eth0), which the engine gives.
            generated: &[(
                HOST_STATE,
                "ip -o addr show scope global | awk '$2 != \"eth0\" {print \"ip addr replace \" $4 \" dev \" $2}'; ip -4 route show | grep -v 'proto kernel' | grep -v 'dev eth0' | sed 's/^/ip -4 route replace /'; ip -6 route show | grep -v 'proto kernel' | grep -v '^fe80' | grep -v '^multicast' | grep -v 'dev eth0' | sed 's/^/ip -6 route replace /'",
            )],
            restore: Some("sh /var/lib/noglab-state/network.sh 2>/dev/null; true"),
        },
    },
];

/// Each pod's access point: sshd for participants. Not a kind topologies
/// can use; noglab adds it to every pod of a lab with `access:`.
pub static ACCESS: Kind = Kind {
    name: "access",
    description: "the pod's SSH access point for participants",
    image: "access",
    config_path: None,
    capabilities: &["NET_ADMIN", "NET_RAW"],
    sysctls: BASE_SYSCTLS,
    shell: &["bash"],
    readiness: "test -s /run/sshd.pid",
    verify: None,
    health: None,
    daemons: &[],
    reload: None,
    memory_mib: 16,
    boot_cpu_ms: 150,
    rest_cpu_permille: 1,
    login_groups: "",
    router: None,
    state: NO_STATE,
};

impl Kind {
    /// The daemons of `daemons` that these configuration texts use, in
    /// the table's order.
    pub fn daemons_used<'a>(
        &self,
        configs: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Vec<&'static str> {
        self.daemons
            .iter()
            .filter(|(_, uses)| {
                let re = daemon_regex(uses);
                configs.clone().into_iter().any(|c| re.is_match(c))
            })
            .map(|(d, _)| *d)
            .collect()
    }

    /// Whether a node of this kind is ready as soon as it runs.
    pub fn ready_at_once(&self) -> bool {
        self.readiness == "true"
    }
}

/// A kind table's daemon regex, compiled once per process: compiling it
/// for every node was two thirds of planning a lab (0.1 s of a no-op `up`
/// at 30 pods).
fn daemon_regex(uses: &'static str) -> &'static regex::Regex {
    static COMPILED: std::sync::LazyLock<std::collections::HashMap<&'static str, regex::Regex>> =
        std::sync::LazyLock::new(|| {
            KINDS
                .iter()
                .chain(std::iter::once(&ACCESS))
                .flat_map(|k| k.daemons.iter())
                .map(|(_, uses)| {
                    let re = regex::RegexBuilder::new(uses)
                        .multi_line(true)
                        .build()
                        .expect("the kind table's regexes are valid (tested)");
                    (*uses, re)
                })
                .collect()
        });
    COMPILED
        .get(uses)
        .expect("every kind's daemon regexes are compiled")
}

pub fn lookup(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// A kind by name, noglab's own access point included (for nodes found on
/// the engine rather than in a topology).
pub fn lookup_any(name: &str) -> Option<&'static Kind> {
    lookup(name).or((name == ACCESS.name).then_some(&ACCESS))
}

pub fn names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_images_exist() {
        let mut names = names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
        for k in KINDS {
            assert!(
                crate::images::lookup(k.image).is_some(),
                "kind {} names image {} that noglab cannot build",
                k.name,
                k.image
            );
            for (d, uses) in k.daemons {
                assert!(
                    regex::Regex::new(uses).is_ok(),
                    "kind {}: daemon {d}'s regex does not compile",
                    k.name
                );
            }
            assert!(
                !k.capabilities.contains(&"ALL"),
                "kind {} asks for every capability",
                k.name
            );
        }
    }

    /// The kinds that run the routing checks say whose command line
    /// answers them.
    #[test]
    fn routing_checks_run_on_routers() {
        for builtin in ["bgp", "route"] {
            for name in running(builtin).expect("a check some kinds run") {
                let kind = lookup(name).expect("a kind");
                assert!(kind.router.is_some(), "{name} runs `{builtin}`");
            }
        }
        for (_, kinds) in BUILTIN_CHECKS {
            assert!(kinds.iter().all(|k| lookup(k).is_some()), "{kinds:?}");
        }
        assert_eq!(running("ping"), None);
    }

    /// What `save` makes or leaves out lies inside what it takes, and
    /// what `restore` runs is there only with something to read.
    #[test]
    fn state_files_lie_inside_the_state_paths() {
        for k in KINDS.iter().chain([&ACCESS]) {
            let s = &k.state;
            for p in s.except.iter().chain(s.generated.iter().map(|(p, _)| p)) {
                assert!(crate::snapshot::inside(p, s.paths), "{}: {p}", k.name);
            }
            assert!(s.restore.is_none() || !s.paths.is_empty(), "{}", k.name);
        }
        assert!(lookup("frr")
            .expect("frr")
            .state
            .paths
            .contains(&"/etc/frr"));
        assert!(ACCESS.state.paths.is_empty());
    }

    #[test]
    fn frr_runs_the_daemons_its_configs_use() {
        let frr = lookup("frr").expect("frr");
        let initial = "hostname r1\ninterface eth1\n ip ospf area 0\n ipv6 ospf6 area 0\n!\n";
        let solved = "router bgp 65001\n neighbor 100.64.1.1 remote-as 65002\n neighbor 100.64.1.1 bfd\n!\nrouter ospf6\n!\n";
        assert_eq!(frr.daemons_used([initial]), ["ospfd", "ospf6d"]);
        assert_eq!(
            frr.daemons_used([initial, solved]),
            ["bgpd", "ospfd", "ospf6d", "bfdd"]
        );
        // Words that only look alike use nothing; comments neither.
        assert!(frr
            .daemons_used(["router ospf6x\n! router bgp 1\ndescription bfd\n"])
            .is_empty());
        assert_eq!(frr.daemons_used(["router ripng\n"]), ["ripngd"]);
        assert!(lookup("bird")
            .expect("bird")
            .daemons_used([solved])
            .is_empty());
    }

    /// A daemon's own tool that exits 3 (`unbound-control status` does,
    /// for "unbound is stopped", while unbound is still starting) never
    /// makes a readiness probe say "broken for good" (noglab-init's 3):
    /// each kind's probe runs with a stand-in for its tool that exits 3.
    #[test]
    fn a_daemons_tool_exiting_3_is_not_yet_never_broken_for_good() {
        let dir = std::env::temp_dir().join(format!("noglab-ready-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut tried = Vec::new();
        for kind in KINDS.iter().chain([&ACCESS]) {
            let tool = kind.readiness.split_whitespace().next().expect("a command");
            // noglab's own probes (exit 3 is theirs to say) and shell
            // builtins.
            if tool.ends_with("-ready") || ["true", "test"].contains(&tool) {
                continue;
            }
            let stand_in = dir.join(tool);
            std::fs::write(&stand_in, "#!/bin/sh\necho \"$0 is stopped\"\nexit 3\n")
                .expect("write");
            std::fs::set_permissions(
                &stand_in,
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .expect("chmod");
            let out = std::process::Command::new("sh")
                .args(["-c", kind.readiness])
                .env("PATH", &path)
                .output()
                .expect("sh runs");
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("is stopped"),
                "{}: the stand-in {tool} did not run",
                kind.name
            );
            assert_eq!(
                out.status.code(),
                Some(1),
                "{}: `{}`",
                kind.name,
                kind.readiness
            );
            tried.push(kind.name);
        }
        let _ = std::fs::remove_dir_all(&dir);
        for k in ["unbound", "bind", "knot", "krill"] {
            assert!(tried.contains(&k), "{k} not tried: {tried:?}");
        }
    }
}
