//! Why a running node would be recreated: what differs between the spec
//! it was created from (the plan saved at the last `up`) and the planned
//! one, in words an instructor can act on. `up` shows these before it
//! destroys what participants configured; plain functions, no engine.

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::{Attachment, ContainerSpec, NOGLAB_DIR};

/// One difference between two specs of a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Kind {
        from: String,
        to: String,
    },
    Image {
        from: String,
        to: String,
    },
    /// A file of the node's own (config, `files:`): `up --apply-files` can
    /// put it in place without recreating the node.
    File {
        path: String,
        how: &'static str,
    },
    /// One of noglab's files (interfaces, readiness, exec lines, daemons):
    /// they are read at the node's start.
    NoglabFile {
        path: String,
        how: &'static str,
    },
    Interface {
        name: String,
        from: String,
        to: String,
    },
    /// Capabilities, sysctls, limits, published ports, read-only paths,
    /// hostname: how the container itself is made.
    Container(&'static str),
}

impl Change {
    pub fn describe(&self) -> String {
        match self {
            Change::Kind { from, to } => format!("kind {from} -> {to}"),
            Change::Image { from, to } => format!("image {from} -> {to}"),
            Change::File { path, how } | Change::NoglabFile { path, how } => {
                format!("{path} {how}")
            }
            Change::Interface { name, from, to } => format!("{name} {from} -> {to}"),
            Change::Container(what) => format!("{what} changed"),
        }
    }

    /// Whether copying files in (and reloading the daemon) applies it.
    pub fn files_can_apply(&self) -> bool {
        matches!(self, Change::File { .. })
    }
}

fn addresses(a: Option<&Attachment>) -> String {
    let Some(a) = a else {
        return "(none)".into();
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(v4) = a.ipv4 {
        parts.push(v4.to_string());
    }
    if let Some(v6) = a.ipv6 {
        parts.push(v6.to_string());
    }
    parts.push(format!("on {}", a.network));
    parts.join(" ")
}

/// What differs between the spec a node was created from and the planned
/// one, in a stable order; empty when nothing that matters does (the
/// labels, which carry the spec's hash, are not compared).
pub fn between(old: &ContainerSpec, new: &ContainerSpec) -> Vec<Change> {
    let mut out = Vec::new();
    if old.kind != new.kind {
        out.push(Change::Kind {
            from: old.kind.clone(),
            to: new.kind.clone(),
        });
    }
    if old.image != new.image {
        out.push(Change::Image {
            from: old.image.clone(),
            to: new.image.clone(),
        });
    }
    let paths: BTreeSet<&String> = old.files.keys().chain(new.files.keys()).collect();
    for path in paths {
        let how = match (old.files.get(path), new.files.get(path)) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(_), Some(_)) => "changed",
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            (None, None) => continue,
        };
        let path = path.clone();
        if path.starts_with(&format!("{NOGLAB_DIR}/")) {
            // The interfaces file follows the addresses, said below.
            if !path.ends_with("/interfaces") {
                out.push(Change::NoglabFile { path, how });
            }
        } else {
            out.push(Change::File { path, how });
        }
    }
    let by_name = |s: &ContainerSpec| -> BTreeMap<String, Attachment> {
        std::iter::once(&s.mgmt)
            .chain(&s.links)
            .map(|a| (a.interface.clone(), a.clone()))
            .collect()
    };
    let (a, b) = (by_name(old), by_name(new));
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for name in names {
        let (x, y) = (a.get(name), b.get(name));
        let same = match (x, y) {
            (Some(x), Some(y)) => {
                x.ipv4 == y.ipv4
                    && x.ipv6 == y.ipv6
                    && x.network == y.network
                    && x.docker_ip == y.docker_ip
            }
            _ => false,
        };
        if !same {
            out.push(Change::Interface {
                name: name.clone(),
                from: addresses(x),
                to: addresses(y),
            });
        }
    }
    let container = [
        ("capabilities", old.capabilities != new.capabilities),
        ("sysctls", old.sysctls != new.sysctls),
        (
            "memory and process limits",
            old.memory != new.memory || old.pids != new.pids,
        ),
        ("published ports", old.ports != new.ports),
        ("read-only paths", old.read_only != new.read_only),
        ("hostname", old.hostname != new.hostname),
        ("where unknown names are resolved (DNS)", old.dns != new.dns),
    ];
    out.extend(
        container
            .into_iter()
            .filter(|(_, differs)| *differs)
            .map(|(what, _)| Change::Container(what)),
    );
    out
}

/// Whether every change can be applied by copying files in: then `up
/// --apply-files` keeps the running node.
pub fn files_only(changes: &[Change]) -> bool {
    !changes.is_empty() && changes.iter().all(Change::files_can_apply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::FileSpec;

    fn spec() -> ContainerSpec {
        let at = |net: &str, ip: &str, name: &str, v4: Option<&str>| Attachment {
            network: net.into(),
            docker_ip: ip.parse().expect("ip"),
            interface: name.into(),
            ipv4: v4.map(|v| v.parse().expect("net")),
            ipv6: None,
        };
        let mut files = BTreeMap::new();
        for (p, c) in [
            ("/etc/frr/frr.conf", "router bgp 65001\n"),
            ("/etc/noglab/interfaces", "x\n"),
            ("/etc/noglab/daemons", "bgpd\n"),
        ] {
            files.insert(
                p.to_string(),
                FileSpec {
                    mode: 0o644,
                    content: c.into(),
                },
            );
        }
        ContainerSpec {
            name: "lab-p01-r1".into(),
            node: "r1".into(),
            kind: "frr".into(),
            image: "noglab/frr:1".into(),
            hostname: "r1".into(),
            labels: BTreeMap::new(),
            capabilities: vec!["NET_ADMIN".into()],
            sysctls: BTreeMap::new(),
            memory: 1 << 30,
            pids: 1024,
            mgmt: at("lab-p01-mgmt", "198.18.0.2", "eth0", None),
            links: vec![at(
                "lab-p01-l1",
                "198.18.0.10",
                "eth1",
                Some("100.64.1.0/31"),
            )],
            files,
            ports: vec![],
            read_only: vec![],
            dns: Vec::new(),
        }
    }

    #[test]
    fn the_same_spec_has_no_changes_whatever_its_labels() {
        let a = spec();
        let mut b = spec();
        b.labels.insert("noglab.hash".into(), "other".into());
        assert!(between(&a, &b).is_empty());
        assert!(!files_only(&between(&a, &b)));
    }

    #[test]
    fn a_config_edit_is_a_file_change_that_files_can_apply() {
        let a = spec();
        let mut b = spec();
        b.files.get_mut("/etc/frr/frr.conf").expect("conf").content = "router bgp 65002\n".into();
        b.files.insert(
            "/etc/motd".into(),
            FileSpec {
                mode: 0o644,
                content: "hi\n".into(),
            },
        );
        let c = between(&a, &b);
        assert_eq!(
            c.iter().map(Change::describe).collect::<Vec<_>>(),
            ["/etc/frr/frr.conf changed", "/etc/motd added"]
        );
        assert!(files_only(&c));
    }

    #[test]
    fn a_node_made_before_its_names_were_kept_inside_says_so() {
        let a = spec();
        let mut b = spec();
        b.dns = vec!["127.0.0.1".into()];
        let c = between(&a, &b);
        assert_eq!(
            c.iter().map(Change::describe).collect::<Vec<_>>(),
            ["where unknown names are resolved (DNS) changed"]
        );
        assert!(!files_only(&c));
    }

    #[test]
    fn addresses_images_daemons_and_limits_need_a_new_container() {
        let a = spec();
        let mut b = spec();
        b.image = "noglab/frr:2".into();
        b.links[0].ipv4 = Some("100.64.1.2/31".parse().expect("net"));
        b.files
            .get_mut("/etc/noglab/interfaces")
            .expect("ifaces")
            .content = "y\n".into();
        b.files
            .get_mut("/etc/noglab/daemons")
            .expect("daemons")
            .content = "bgpd ospfd\n".into();
        b.pids = 2048;
        let c = between(&a, &b);
        assert_eq!(
            c.iter().map(Change::describe).collect::<Vec<_>>(),
            [
                "image noglab/frr:1 -> noglab/frr:2",
                "/etc/noglab/daemons changed",
                "eth1 100.64.1.0/31 on lab-p01-l1 -> 100.64.1.2/31 on lab-p01-l1",
                "memory and process limits changed",
            ]
        );
        assert!(!files_only(&c));
    }
}
