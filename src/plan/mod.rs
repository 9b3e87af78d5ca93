//! From a loaded topology and a pod count to the desired state of every pod:
//! networks, containers, addresses, labels, rendered files and a spec hash.
//!
//! Synchronous and deterministic: no filesystem, no Docker, ordered maps.
//! `expand` calls the stages in order, each in its own file and each the
//! same for a pod and for the lab-wide pod:
//!
//! 1. `interfaces`: every interface name (the same in every pod);
//!    `plumbing`: the Docker subnets inside the lab's block;
//! 2. `shared`: the shared networks, which pods attach to;
//! 3. per pod (`pod`): its vars and link subnets (`addressing`), each
//!    node's kind, what templates see (`context`), its networks, its nodes
//!    (`node`), its checks (`checks`) and its access point (`access`);
//! 4. the shared nodes (`shared`), whose templates see every pod.
//!
//! `names` names what noglab creates, `render` runs templates, and
//! `problems` gathers what went wrong where, so every stage reports all it
//! finds at once.

mod access;
pub mod addressing;
pub mod check_fields;
pub mod checks;
pub mod context;
mod interfaces;
pub mod names;
mod node;
pub mod plumbing;
mod pod;
mod problems;
pub mod render;
mod shared;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::diag::Diagnostics;
use crate::topology::Loaded;

pub use names::{
    container_name, describe_pods, labels, own_files, pod_label, ACCESS_NODE, NOGLAB_DIR,
    SHARED_LABEL, SHARED_POD,
};
pub use node::{login_shell, DNS};
pub use plumbing::Plumbing;
pub use problems::Problem;

use context::{Context, SharedView};
use interfaces::Interfaces;
use problems::{PodProblems, Problems};
use shared::SharedNet;

/// Per-node limits, so one participant's runaway process cannot starve the room.
pub const MEMORY_LIMIT: i64 = 1 << 30;
pub const PIDS_LIMIT: i64 = 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub lab: String,
    pub pods: u32,
    /// The lab's share of noglab's plumbing range.
    pub block: Ipv4Net,
    pub pod_plans: BTreeMap<u32, PodPlan>,
    /// Lab-wide networks and nodes (pod label `shared`), numbered pod 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<PodPlan>,
    /// The first host port of the access points (pod N at base + N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_base_port: Option<u16>,
    /// Brought up with `--solution`: every node's solution applied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub solution: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PodPlan {
    pub pod: u32,
    pub networks: Vec<NetworkSpec>,
    pub containers: Vec<ContainerSpec>,
    /// The lab's checks, rendered for this pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<checks::CheckSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetworkSpec {
    pub name: String,
    /// The host takes part (it publishes the access point's port): the
    /// bridge gets the gateway address. Lab networks are plain wires.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_facing: bool,
    /// The Linux bridge's name on the host: `ngl` and a hash, 15 characters.
    pub bridge: String,
    /// Docker's subnet, from the plumbing block; only used to find the
    /// interface inside the node, never as a lab address.
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attachment {
    pub network: String,
    /// The address Docker gives the endpoint, by which the node's init
    /// recognises the interface before renaming it.
    pub docker_ip: Ipv4Addr,
    pub interface: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Ipv4Net>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Net>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileSpec {
    pub mode: u32,
    pub content: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub node: String,
    pub kind: String,
    pub image: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub capabilities: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    pub memory: i64,
    pub pids: i64,
    pub mgmt: Attachment,
    pub links: Vec<Attachment>,
    pub files: BTreeMap<String, FileSpec>,
    /// Host ports published: container port -> host port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<(u16, u16)>,
    /// Paths mounted read-only inside, for root in the node too: noglab's
    /// own files, which nobody in a node has reason to change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_only: Vec<String>,
    /// The name servers the engine's embedded resolver (127.0.0.11 in the
    /// node) forwards names it does not know to: the node's own loopback,
    /// so that no name a node asks for leaves it (see `plan::node::DNS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
}

impl Plan {
    /// Every pod's plan, the lab-wide one (pod 0) first.
    pub fn all_pods(&self) -> impl Iterator<Item = &PodPlan> {
        self.shared.iter().chain(self.pod_plans.values())
    }

    pub fn containers(&self) -> impl Iterator<Item = (u32, &ContainerSpec)> {
        self.all_pods()
            .flat_map(|p| p.containers.iter().map(move |c| (p.pod, c)))
    }
}

/// What every pod of a lab shares, worked out once before the pods.
pub(crate) struct LabPlan<'a> {
    loaded: &'a Loaded,
    pods: u32,
    block: Ipv4Net,
    solution: bool,
    plumbing: Plumbing,
    ifaces: Interfaces,
    nets: Vec<SharedNet>,
    /// What templates see as `shared`, built once for every pod.
    shared: SharedView,
}

impl LabPlan<'_> {
    /// What every template of the lab sees of it.
    fn context(&self) -> Context<'_> {
        Context {
            lab: &self.loaded.topology.name,
            pods: self.pods,
            solution: Some(self.solution),
            ..Context::default()
        }
    }
}

/// Expands `loaded` for pods 1..=pods inside the plumbing `block`.
pub fn expand(loaded: &Loaded, pods: u32, block: Ipv4Net) -> Result<Plan, Diagnostics> {
    expand_as(loaded, pods, block, false)
}

/// As `expand`; with `solution`, every node's `solution` stands over its
/// config, files and exec lines, and templates see `solution` true.
pub fn expand_as(
    loaded: &Loaded,
    pods: u32,
    block: Ipv4Net,
    solution: bool,
) -> Result<Plan, Diagnostics> {
    let t = &loaded.topology;
    let plumbing = Plumbing::for_block(t, block);
    if let Err(message) = plumbing.check_block(block, pods) {
        return Err(loaded.diagnostics(vec![Problem::value(path!["pods"], message)]));
    }
    let ifaces = Interfaces::assign(t);
    let mut lab_problems = Problems::default();
    let nets = shared::networks(t, (&plumbing, block), pods, &ifaces, &mut lab_problems);
    let shared = shared::view(t, &nets);
    let lab = LabPlan {
        loaded,
        pods,
        block,
        solution,
        plumbing,
        ifaces,
        nets,
        shared,
    };
    let mut pod_problems = PodProblems::default();
    let mut pod_plans = BTreeMap::new();
    let mut views = Vec::new();
    let mut on_shared = Vec::new();
    for pod in 1..=pods {
        let outcome = pod::expand_pod(&lab, pod);
        match outcome.plan {
            Ok(plan) => {
                pod_plans.insert(pod, plan);
            }
            Err(found) => pod_problems.record(pod, found),
        }
        views.extend(outcome.view);
        on_shared.push((pod, outcome.on_shared));
    }
    // What does not depend on a failed part runs even when a pod failed,
    // so that every independent problem comes back in one run.
    for (i, net) in lab.nets.iter().enumerate() {
        let mut endpoints: Vec<addressing::Endpoint> = net
            .lab_attach
            .iter()
            .map(|(node, attachment)| addressing::Endpoint {
                node,
                pod: None,
                attachment,
            })
            .collect();
        for (pod, attached) in &on_shared {
            endpoints.extend(attached.iter().filter(|(n, _, _)| *n == i).map(
                |(_, node, attachment)| addressing::Endpoint {
                    node,
                    pod: Some(*pod),
                    attachment,
                },
            ));
        }
        addressing::duplicate_addresses(loaded, &net.name, &endpoints, &mut lab_problems);
    }
    // The shared nodes' templates see every pod: only when each pod's view
    // is whole, or a pod's failure would show again as theirs.
    let shared = if views.len() == pods as usize {
        shared::plan(&lab, &views, &mut lab_problems)
    } else {
        None
    };
    if !pod_problems.is_empty() || !lab_problems.is_empty() {
        let mut all = pod_problems.merged(pods);
        all.extend(lab_problems.into_vec());
        return Err(loaded.diagnostics(all));
    }
    Ok(Plan {
        lab: t.name.clone(),
        pods,
        block,
        pod_plans,
        shared,
        access_base_port: t.access.as_ref().map(|a| a.base_port),
        solution,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds;
    use crate::topology::Loaded;
    use node::kind_image;

    #[test]
    fn a_solution_stands_over_config_files_and_exec_only_when_asked() {
        let source = "name: lab\nnodes:\n  r1:\n    kind: frr\n    config: r1.conf\n    files: {/etc/a: a.txt, /etc/b: b.txt}\n    exec: [echo initial]\n    solution:\n      config: r1.solved.conf\n      files: {/etc/b: b.solved.txt}\n      exec: [\"echo solved {{ pod }}\"]\n  h1: {kind: host}\nlinks:\n  - endpoints: [r1, h1]\n";
        let loaded =
            crate::topology::load_str(std::path::Path::new("t.yml"), source.into(), |rel| {
                Ok(match rel {
                    "r1.conf" => "initial {{ solution }}".into(),
                    "r1.solved.conf" => "solved {{ solution }} pod {{ pod }}".into(),
                    other => format!("{other} for pod {{{{ pod }}}}"),
                })
            })
            .expect("valid topology");
        let block = "198.18.0.0/18".parse().expect("block");
        let file =
            |plan: &Plan, dest: &str| plan.pod_plans[&2].containers[1].files[dest].content.clone();
        let initial = expand(&loaded, 2, block).expect("plans");
        assert!(!initial.solution);
        assert_eq!(initial.pod_plans[&2].containers[1].node, "r1");
        assert_eq!(file(&initial, "/etc/frr/frr.conf"), "initial false\n");
        assert_eq!(file(&initial, "/etc/b"), "b.txt for pod 2\n");
        assert_eq!(
            file(&initial, "/etc/noglab/exec.sh").lines().last(),
            Some("echo initial")
        );

        let solved = expand_as(&loaded, 2, block, true).expect("plans");
        assert!(solved.solution);
        assert_eq!(file(&solved, "/etc/frr/frr.conf"), "solved true pod 2\n");
        assert_eq!(file(&solved, "/etc/a"), "a.txt for pod 2\n");
        assert_eq!(file(&solved, "/etc/b"), "b.solved.txt for pod 2\n");
        let exec = file(&solved, "/etc/noglab/exec.sh");
        assert_eq!(
            exec.lines().skip(1).collect::<Vec<_>>(),
            ["echo initial", "echo solved 2"]
        );
        // A node without a solution is the same in both.
        assert_eq!(
            initial.pod_plans[&2].containers[0],
            solved.pod_plans[&2].containers[0]
        );
    }
    #[test]
    fn a_route_validity_check_reads_bgp_on_frr_and_is_refused_elsewhere() {
        let source = "name: lab\nnodes:\n  r1: {kind: frr}\n  r2: {kind: bird}\nlinks:\n  - endpoints: [r1, r2]\nchecks:\n  - {id: v, node: r1, route: {prefix: \"100.68.{{ pod }}.0/24\", validity: notfound}}\n";
        let loaded =
            crate::topology::load_str(std::path::Path::new("t.yml"), source.into(), |_| {
                Err("no files".into())
            })
            .expect("valid topology");
        let block = "198.18.0.0/18".parse().expect("block");
        let plan = expand(&loaded, 1, block).expect("plans");
        let check = &plan.pod_plans[&1].checks[0];
        assert_eq!(check.command[2], "show bgp ipv4 unicast 100.68.1.0/24 json");
        assert_eq!(
            check.expect.frr_validity,
            Some(("100.68.1.0/24".into(), "notfound".into()))
        );

        let on_bird = source.replace("node: r1", "node: r2");
        let loaded = crate::topology::load_str(std::path::Path::new("t.yml"), on_bird, |_| {
            Err("no files".into())
        })
        .expect("valid topology");
        let plan = expand(&loaded, 1, block).expect("plans");
        let check = &plan.pod_plans[&1].checks[0];
        assert_eq!(check.command[2], checks::BIRD_VALIDITY);
        assert_eq!(check.command[4], "100.68.1.0/24");
        assert_eq!(
            check.expect.bird_validity,
            Some(("100.68.1.0/24".into(), "notfound".into()))
        );

        for (node, present, message) in [
            ("r1", "false", "validity needs the route present"),
            ("r2", "false", "validity needs the route present"),
        ] {
            let source = source
                .replace("node: r1", &format!("node: {node}"))
                .replace("validity:", &format!("present: {present}, validity:"));
            let loaded = crate::topology::load_str(std::path::Path::new("t.yml"), source, |_| {
                Err("no files".into())
            })
            .expect("valid topology");
            let err = expand(&loaded, 1, block).expect_err("refused").to_string();
            assert!(err.contains(message), "{err}");
        }
    }

    fn load_with(source: &str, files: &[(&str, &str)]) -> Result<Loaded, Diagnostics> {
        let files: BTreeMap<String, String> = files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let names: Vec<String> = files.keys().cloned().collect();
        crate::topology::load_str_in(
            std::path::Path::new("t.yml"),
            source.into(),
            |rel| files.get(rel).cloned().ok_or(format!("no file {rel}")),
            |prefix, suffix| {
                names
                    .iter()
                    .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
                    .cloned()
                    .collect()
            },
        )
    }

    const PER_POD_KIND: &str = "name: lab\npods: 3\nvars:\n  router_kind: \"{% if pod is odd %}frr{% else %}bird{% endif %}\"\nnodes:\n  r1:\n    kind: \"{{ vars.router_kind }}\"\n    config: \"r1.{{ vars.router_kind }}.conf\"\n    solution:\n      config: \"solved/r1.{{ vars.router_kind }}.conf\"\n  h1:\n    kind: host\n    exec: [\"echo {{ nodes.r1.kind }}\"]\nlinks:\n  - endpoints: [r1, h1]\n    ipv4: \"100.64.{{ pod }}.0/29\"\nchecks:\n  - {id: up, node: r1, bgp: {neighbor: 100.64.0.1}}\n  - {id: v, node: r1, route: {prefix: 100.68.0.0/24, validity: valid}}\n";

    fn per_pod_files() -> Vec<(&'static str, &'static str)> {
        vec![
            ("r1.frr.conf", "! frr in pod {{ pod }}"),
            ("r1.bird.conf", "# bird in pod {{ pod }}"),
            ("solved/r1.frr.conf", "! frr solved"),
            ("solved/r1.bird.conf", "# bird solved"),
        ]
    }

    #[test]
    fn a_login_shell_replaces_the_kinds_where_it_renders_to_something() {
        let source = PER_POD_KIND.replace(
            "name: lab\n",
            "name: lab\naccess: {base_port: 2200}\n",
        ).replace(
            "    config: \"r1.{{ vars.router_kind }}.conf\"\n",
            "    config: \"r1.{{ vars.router_kind }}.conf\"\n    login_shell: \"{% if vars.router_kind == 'bird' %}bash{% endif %}\"\n",
        );
        let loaded = load_with(&source, &per_pod_files()).expect("valid topology");
        let block = "198.18.0.0/18".parse().expect("block");
        let plan = expand(&loaded, 3, block).expect("plans");
        for (pod, shell) in [(1, "vtysh"), (2, "bash"), (3, "vtysh")] {
            let p = &plan.pod_plans[&pod];
            let r1 = p.containers.iter().find(|c| c.node == "r1").expect("r1");
            assert_eq!(login_shell(r1), Some(shell), "pod {pod}");
            let groups = if shell == "bash" {
                "bird"
            } else {
                "frr frrvty"
            };
            assert_eq!(
                r1.files["/etc/noglab/login"].content,
                format!("shell={shell}\ngroups={groups}\n")
            );
            let h1 = p.containers.iter().find(|c| c.node == "h1").expect("h1");
            assert_eq!(login_shell(h1), Some("bash"));
        }
    }

    #[test]
    fn a_kind_template_gives_each_pod_its_own_kind_and_everything_kind_keyed() {
        let loaded = load_with(PER_POD_KIND, &per_pod_files()).expect("valid topology");
        let block = "198.18.0.0/18".parse().expect("block");
        let plan = expand(&loaded, 3, block).expect("plans");
        for (pod, kind) in [(1, "frr"), (2, "bird"), (3, "frr")] {
            let p = &plan.pod_plans[&pod];
            let r1 = p.containers.iter().find(|c| c.node == "r1").expect("r1");
            let own = kinds::lookup(kind).expect("kind");
            assert_eq!(r1.kind, kind, "pod {pod}");
            assert_eq!(r1.labels[labels::KIND], kind);
            assert_eq!(r1.image, kind_image(own));
            let caps: Vec<String> = own.capabilities.iter().map(|c| c.to_string()).collect();
            assert_eq!(r1.capabilities, caps);
            assert_eq!(
                r1.files["/etc/noglab/ready"].content,
                format!("#!/bin/sh\n{}\n", own.readiness)
            );
            let config = own.config_path.expect("config path");
            // Config, interfaces, readiness; health for both; FRR's daemons.
            let files = if kind == "frr" { 5 } else { 4 };
            assert_eq!(r1.files.len(), files, "{:?}", r1.files.keys());
            assert_eq!(
                r1.files
                    .get("/etc/noglab/health")
                    .map(|f| f.content.clone()),
                own.health.map(|h| format!("#!/bin/sh\n{h}\n"))
            );
            assert!(r1.files[config]
                .content
                .contains(&format!("{kind} in pod {pod}")));
            // Other nodes' templates see each pod's kind.
            let h1 = p.containers.iter().find(|c| c.node == "h1").expect("h1");
            assert!(h1.files["/etc/noglab/exec.sh"]
                .content
                .contains(&format!("echo {kind}\n")));
            // Built-in checks follow the kind.
            let first = &p.checks[0].command[0];
            assert_eq!(first, if kind == "bird" { "birdc" } else { "vtysh" });
            if kind == "bird" {
                assert!(p.checks[1].expect.bird_validity.is_some());
            } else {
                assert!(p.checks[1].expect.frr_validity.is_some());
            }
        }
        let solved = expand_as(&loaded, 2, block, true).expect("plans");
        let bird = &solved.pod_plans[&2].containers[1];
        assert_eq!(bird.files["/etc/bird/bird.conf"].content, "# bird solved\n");
    }

    #[test]
    fn a_kind_template_that_renders_wrong_is_reported_in_the_pods_it_does() {
        let block = "198.18.0.0/18".parse().expect("block");
        let err = |source: String, files: Vec<(&str, &str)>| {
            let loaded = load_with(&source, &files).expect("loads");
            let e = expand(&loaded, 3, block).expect_err("refused");
            e.items
                .iter()
                .map(|i| format!("{}:{}: {}", i.line, i.col, i.message))
                .collect::<Vec<_>>()
        };
        let typo = PER_POD_KIND.replace("else %}bird", "else %}brid");
        let got = err(typo, per_pod_files());
        assert_eq!(
            got,
            vec![format!(
                "7:11: `{{{{ vars.router_kind }}}}` renders to unknown kind `brid`; valid kinds: {} (in pod 2)",
                kinds::names().join(", ")
            )]
        );
        // A kind with no config file of its own, and a check it cannot run.
        let host = PER_POD_KIND.replace("else %}bird", "else %}host");
        let got = err(host, per_pod_files());
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with("8:13: kind `host` has no main config file"),
            "{got:?}"
        );
        assert!(got[0].ends_with("(in pod 2)"), "{got:?}");
        // A pod whose config path renders to no file.
        let mut files = per_pod_files();
        files.retain(|(n, _)| *n != "r1.bird.conf");
        let got = err(PER_POD_KIND.to_string(), files);
        assert_eq!(
            got,
            vec!["8:13: `r1.{{ vars.router_kind }}.conf` renders to `r1.bird.conf`, which is not a file in the topology's folder; it has r1.frr.conf (in pod 2)".to_string()]
        );
    }

    #[test]
    fn a_path_that_renders_to_nothing_places_no_file_in_that_pod() {
        let source = PER_POD_KIND
            .replace(
                "    solution:\n      config: \"solved/r1.{{ vars.router_kind }}.conf\"\n",
                "    files:\n      /etc/extra: \"{% if vars.router_kind == 'bird' %}r1.bird.conf{% endif %}\"\n    solution:\n      config: \"{% if vars.router_kind == 'frr' %}solved/r1.frr.conf{% endif %}\"\n",
            );
        assert!(source.contains("/etc/extra"), "{source}");
        let loaded = load_with(&source, &per_pod_files()).expect("valid topology");
        let block = "198.18.0.0/18".parse().expect("block");
        let plan = expand_as(&loaded, 2, block, true).expect("plans");
        let frr = &plan.pod_plans[&1].containers[1];
        assert!(!frr.files.contains_key("/etc/extra"));
        assert_eq!(frr.files["/etc/frr/frr.conf"].content, "! frr solved\n");
        let bird = &plan.pod_plans[&2].containers[1];
        assert_eq!(bird.files["/etc/extra"].content, "# bird in pod 2\n");
        // No solution config in this pod: the node's own.
        assert_eq!(
            bird.files["/etc/bird/bird.conf"].content,
            "# bird in pod 2\n"
        );
    }

    #[test]
    fn issue18_a_clash_on_a_shared_network_never_suggests_the_nodes_own_template() {
        // `pod % 2` gives pods 1 and 3 the same address: the hint's
        // template starts from that address, not from what is written.
        let source = "name: lab\npods: 3\nnodes:\n  r1: {kind: frr}\nshared:\n  networks:\n    ixp:\n      ipv4: 198.51.100.0/24\n      attach:\n        r1: {ipv4: \"198.51.100.{{ 10 + pod % 2 }}\"}\n";
        let loaded = load_with(source, &[]).expect("loads");
        let block = "198.18.0.0/18".parse().expect("block");
        let e = expand(&loaded, 3, block).expect_err("refused");
        let messages: Vec<&str> = e.items.iter().map(|i| i.message.as_str()).collect();
        assert_eq!(
            messages,
            ["198.51.100.11 on shared network `ixp` is given to both r1 of pod 1 (eth1, at t.yml:10:20) and r1 of pod 3 (eth1, at t.yml:10:20); make a pod node's address a template of the pod, like `198.51.100.{{ 11 + pod }}`"]
        );
    }

    #[test]
    fn kind_templates_are_for_pod_nodes_and_paths_with_tags_need_a_file() {
        let shared = "name: lab\nnodes:\n  h1: {kind: host}\nshared:\n  nodes:\n    rs: {kind: \"{{ vars.k }}\"}\n";
        let e = load_with(shared, &[]).expect_err("refused");
        assert!(
            e.items[0]
                .message
                .starts_with("a shared node's kind is written as it is"),
            "{:?}",
            e.items
        );
        let e = load_with(PER_POD_KIND, &[]).expect_err("no files");
        assert_eq!(e.items.len(), 2, "{:?}", e.items);
        assert!(
            e.items[0].message.starts_with(
                "no file in the topology's folder matches `r1.{{ vars.router_kind }}.conf`"
            ),
            "{:?}",
            e.items
        );
        assert_eq!(
            crate::topology::template_path_ends("a/r1.{{ x }}-{% if y %}b{% endif %}.conf"),
            ("a/r1.", ".conf")
        );
    }
}
