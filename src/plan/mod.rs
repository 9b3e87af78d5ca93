//! From a loaded topology and a pod count to the desired state of every pod:
//! networks, containers, addresses, labels, rendered files and a spec hash.
//!
//! Synchronous and deterministic: no filesystem, no Docker, ordered maps.
//! `expand` is a named sequence of steps (interfaces, plumbing, then per pod:
//! vars, links, node contexts, files, specs) so each can be read alone.

pub mod addr;
pub mod checks;
pub mod plumbing;
pub mod render;
mod shared;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

use crate::diag::Diagnostics;
use crate::kinds;
use crate::topology::spans::Path;
use crate::topology::{parse_endpoint, Loaded, Node, Topology};

pub use plumbing::Plumbing;

/// Label keys, shared with the reconciler and the commands.
pub mod labels {
    pub const LAB: &str = "noglab.lab";
    pub const POD: &str = "noglab.pod";
    pub const NODE: &str = "noglab.node";
    pub const KIND: &str = "noglab.kind";
    pub const NETWORK: &str = "noglab.network";
    pub const BLOCK: &str = "noglab.block";
    pub const HASH: &str = "noglab.hash";
}

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
    /// The first host port of the browser terminals (pod N at base + N).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_web_base_port: Option<u16>,
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
}

/// Where noglab puts its files in every node (interfaces, readiness, login,
/// exec lines, keys): read-only inside. `noglab-init` only reads it; noglab
/// writes it through the engine before the first start, and `credentials
/// rotate` through the engine too, which a read-only mount inside does not
/// stop.
pub const NOGLAB_DIR: &str = "/etc/noglab";

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

/// The `noglab.pod` label of a pod: its number, or `shared` for pod 0.
pub fn pod_label(pod: u32) -> String {
    if pod == SHARED_POD {
        SHARED_LABEL.to_string()
    } else {
        pod.to_string()
    }
}

/// Lab-wide resources are pod 0 inside noglab, `shared` on the engine.
pub const SHARED_POD: u32 = 0;
pub const SHARED_LABEL: &str = "shared";
/// Where an access point's browser terminal listens inside it.
pub const WEB_PORT: u16 = 4200;
/// The node name of each pod's access point.
pub const ACCESS_NODE: &str = "access";

/// A problem with one value of the topology, in some pods.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub path: Path,
    pub message: String,
}

/// Expands `loaded` for pods 1..=pods inside the plumbing `block`.
///
/// Steps: interfaces (pod-independent), the lab-wide shared networks, every
/// pod, then the shared nodes, whose templates see every pod.
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
    let ifaces = assign_interfaces(t);
    let shared_ifaces = shared::assign_interfaces(t, &ifaces);
    let plumbing = Plumbing::for_block(t, block);
    if let Err(message) = plumbing.check_block(block, pods) {
        return Err(loaded.diagnostics(vec![crate::topology::Problem::value(
            path!["pods"],
            message,
        )]));
    }

    let mut lab_problems: Vec<Problem> = Vec::new();
    let nets = shared::networks(
        loaded,
        &plumbing,
        block,
        pods,
        &shared_ifaces,
        &mut lab_problems,
    );

    // What every template sees of the lab as a whole.
    let lab_ctx = json!({ "lab": t.name, "pods": pods, "solution": solution });
    let mut problems: BTreeMap<(Path, String), Vec<u32>> = BTreeMap::new();
    let mut pod_plans = BTreeMap::new();
    let mut summaries = Vec::new();
    for pod in 1..=pods {
        match expand_pod(loaded, &ifaces, &nets, &plumbing, block, &lab_ctx, pod) {
            Ok((p, summary)) => {
                pod_plans.insert(pod, p);
                summaries.push(summary);
            }
            Err(found) => {
                for p in found {
                    problems.entry((p.path, p.message)).or_default().push(pod);
                }
            }
        }
    }
    let mut list = merge_pods(problems, pods);
    if !list.is_empty() {
        list.extend(lab_problems.into_iter().map(|p| (p.path, p.message)));
        let list = list
            .into_iter()
            .map(|(path, message)| crate::topology::Problem::value(path, message));
        return Err(loaded.diagnostics(list.collect()));
    }
    shared::duplicate_addresses(&nets, &pod_plans, &mut lab_problems);
    let shared = shared::plan(
        loaded,
        &nets,
        &plumbing,
        block,
        &lab_ctx,
        &summaries,
        &mut lab_problems,
    );
    if !lab_problems.is_empty() {
        return Err(loaded.diagnostics(
            lab_problems
                .into_iter()
                .map(|p| crate::topology::Problem::value(p.path, p.message))
                .collect(),
        ));
    }
    Ok(Plan {
        lab: t.name.clone(),
        pods,
        block,
        pod_plans,
        shared,
        access_base_port: t.access.as_ref().map(|a| a.base_port),
        access_web_base_port: t.access.as_ref().and_then(|a| a.web_base_port),
        solution,
    })
}

/// One message per place: a template that fails in several pods, each
/// time with its own values, is reported once, with the pods it fails in.
fn merge_pods(problems: BTreeMap<(Path, String), Vec<u32>>, pods: u32) -> Vec<(Path, String)> {
    let mut by_path: BTreeMap<Path, Vec<(String, Vec<u32>)>> = BTreeMap::new();
    for ((path, message), in_pods) in problems {
        by_path.entry(path).or_default().push((message, in_pods));
    }
    let mut out = Vec::new();
    for (path, mut found) in by_path {
        // The message of the lowest pod speaks for the others.
        found.sort_by_key(|(_, in_pods)| in_pods.first().copied());
        let first_pods = found[0].1.clone();
        let mut others: Vec<u32> = found[1..]
            .iter()
            .flat_map(|(_, p)| p.iter().copied())
            .filter(|p| !first_pods.contains(p))
            .collect();
        others.sort_unstable();
        others.dedup();
        let every = first_pods.len() + others.len() == pods as usize;
        let suffix = match (others.is_empty(), every) {
            (true, true) => String::new(),
            (true, false) => format!(" (in {})", describe_pods(&first_pods)),
            (false, true) => format!(
                " (in {}; likewise, with other values, in every other pod)",
                describe_pods(&first_pods)
            ),
            (false, false) => format!(
                " (in {}; likewise, with other values, in {})",
                describe_pods(&first_pods),
                describe_pods(&others)
            ),
        };
        let message = std::mem::take(&mut found[0].0);
        out.push((path, format!("{message}{suffix}")));
    }
    out
}

/// `pod 3`, `pods 1-4, 7`.
pub fn describe_pods(pods: &[u32]) -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &p in pods {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == p => *end = p,
            _ => ranges.push((p, p)),
        }
    }
    let text: Vec<String> = ranges
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    format!(
        "pod{} {}",
        if pods.len() == 1 { "" } else { "s" },
        text.join(", ")
    )
}

/// Step 1: every link endpoint's interface. Explicit names are reserved
/// first; a bare node name then takes the node's lowest free ethN, in link
/// order.
pub fn assign_interfaces(t: &Topology) -> Vec<Vec<(String, String)>> {
    let mut used: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for link in &t.links {
        for ep in &link.endpoints {
            if let Ok((node, Some(iface))) = parse_endpoint(ep) {
                if let Ok(n) = iface[3..].parse::<u32>() {
                    used.entry(node).or_default().push(n);
                }
            }
        }
    }
    t.links
        .iter()
        .map(|link| {
            link.endpoints
                .iter()
                .map(|ep| match parse_endpoint(ep) {
                    Ok((node, Some(iface))) => (node.to_string(), iface.to_string()),
                    Ok((node, None)) => {
                        let taken = used.entry(node).or_default();
                        let n = (1..).find(|n| !taken.contains(n)).unwrap_or(1);
                        taken.push(n);
                        (node.to_string(), format!("eth{n}"))
                    }
                    Err(_) => (ep.clone(), String::new()),
                })
                .collect()
        })
        .collect()
}

/// Per-link addresses of one pod: subnet and each endpoint's address.
struct LinkAddrs {
    v4: Option<Ipv4Net>,
    v6: Option<Ipv6Net>,
}

/// The interface entry templates see for an address on a subnet.
fn iface_entry(
    v4: Option<(Ipv4Addr, Ipv4Net)>,
    v6: Option<(Ipv6Addr, Ipv6Net)>,
) -> serde_json::Map<String, Json> {
    let mut entry = serde_json::Map::new();
    if let Some((a, net)) = v4 {
        entry.insert("ipv4".into(), json!(format!("{a}/{}", net.prefix_len())));
        entry.insert("ipv4_address".into(), json!(a.to_string()));
        entry.insert("ipv4_network".into(), json!(net.to_string()));
    }
    if let Some((a, net)) = v6 {
        entry.insert("ipv6".into(), json!(format!("{a}/{}", net.prefix_len())));
        entry.insert("ipv6_address".into(), json!(a.to_string()));
        entry.insert("ipv6_network".into(), json!(net.to_string()));
    }
    entry
}

/// Renders lab-wide vars for one pod; failures are reported once and
/// remembered so that templates using them are not reported again.
fn lab_vars(
    t: &Topology,
    base: &Json,
    problems: &mut Vec<Problem>,
) -> (serde_json::Map<String, Json>, Vec<String>) {
    let mut failed_vars: Vec<String> = Vec::new();
    let mut lab_vars = serde_json::Map::new();
    for (k, v) in &t.vars {
        match render::render_value(v, base) {
            Ok(r) => {
                lab_vars.insert(k.clone(), r);
            }
            Err(e) => {
                failed_vars.push(k.clone());
                problems.push(Problem {
                    path: path!["vars", k.as_str()],
                    message: e.inline(),
                })
            }
        }
    }
    (lab_vars, failed_vars)
}

fn expand_pod(
    loaded: &Loaded,
    ifaces: &[Vec<(String, String)>],
    nets: &[shared::SharedNet],
    plumbing: &Plumbing,
    block: Ipv4Net,
    lab_ctx: &Json,
    pod: u32,
) -> Result<(PodPlan, Json), Vec<Problem>> {
    let t = &loaded.topology;
    let mut problems = Vec::new();
    let mut base = lab_ctx.clone();
    base["pod"] = json!(pod);

    // Step 2: lab-wide vars.
    let (lab_vars, failed_vars) = lab_vars(t, &base, &mut problems);
    let mut with_vars = base.clone();
    with_vars["vars"] = Json::Object(lab_vars.clone());

    // Step 3: link subnets and endpoint addresses.
    let mut links: Vec<LinkAddrs> = Vec::new();
    for (li, link) in t.links.iter().enumerate() {
        let n = link.endpoints.len() as u32;
        let mut subnet = |family: &str, tpl: Option<&String>| {
            let path = path!["links", li, family];
            match render::render(tpl?, &with_vars) {
                Ok(text) => Some((path, text)),
                Err(e) => {
                    if !uses_failed_var(&e.message, &failed_vars) {
                        problems.push(Problem {
                            path,
                            message: e.inline(),
                        });
                    }
                    None
                }
            }
        };
        let v4 = subnet("ipv4", link.ipv4.as_ref());
        let v6 = subnet("ipv6", link.ipv6.as_ref());
        let v4 = v4.and_then(|(path, text)| {
            match addr::parse_v4(&text).and_then(|net| addr::fits_v4(net, n)) {
                Ok(net) => Some(net),
                Err(message) => {
                    problems.push(Problem { path, message });
                    None
                }
            }
        });
        let v6 = v6.and_then(|(path, text)| {
            match addr::parse_v6(&text).and_then(|net| addr::fits_v6(net, n)) {
                Ok(net) => Some(net),
                Err(message) => {
                    problems.push(Problem { path, message });
                    None
                }
            }
        });
        links.push(LinkAddrs { v4, v6 });
    }
    overlaps(&links, &mut problems);

    // Step 4: each node's interfaces, as templates see them, and its
    // attachments: links, then shared networks.
    let mut node_ifaces: BTreeMap<&str, serde_json::Map<String, Json>> = BTreeMap::new();
    let mut attachments: BTreeMap<&str, Vec<(usize, usize, String)>> = BTreeMap::new();
    for (li, eps) in ifaces.iter().enumerate() {
        let la = &links[li];
        for (k, (node, iface)) in eps.iter().enumerate() {
            let v4 = la
                .v4
                .and_then(|n| addr::nth_v4(n, k as u32).map(|a| (a, n)));
            let v6 = la
                .v6
                .and_then(|n| addr::nth_v6(n, k as u32).map(|a| (a, n)));
            let mut entry = iface_entry(v4, v6);
            if let Some(net) = la.v4.filter(|_| v4.is_none()) {
                entry.insert("ipv4_network".into(), json!(net.to_string()));
            }
            if let Some(net) = la.v6.filter(|_| v6.is_none()) {
                entry.insert("ipv6_network".into(), json!(net.to_string()));
            }
            if eps.len() == 2 {
                let other = 1 - k;
                let (peer, peer_iface) = &eps[other];
                entry.insert("peer".into(), json!(peer));
                entry.insert("peer_interface".into(), json!(peer_iface));
                if let Some(a) = la.v4.and_then(|n| addr::nth_v4(n, other as u32)) {
                    entry.insert("peer_ipv4_address".into(), json!(a.to_string()));
                }
                if let Some(a) = la.v6.and_then(|n| addr::nth_v6(n, other as u32)) {
                    entry.insert("peer_ipv6_address".into(), json!(a.to_string()));
                }
            }
            node_ifaces
                .entry(node.as_str())
                .or_default()
                .insert(iface.clone(), Json::Object(entry));
            attachments
                .entry(node.as_str())
                .or_default()
                .push((li, k, iface.clone()));
        }
    }
    let mut shared_attach: BTreeMap<&str, Vec<Attachment>> = BTreeMap::new();
    for net in nets {
        for (j, member) in net.pod_members.iter().enumerate() {
            let Some(a) =
                net.attach_pod_node(t, member, j, pod, &with_vars, &failed_vars, &mut problems)
            else {
                continue;
            };
            let entry = iface_entry(
                a.ipv4.map(|n| (n.addr(), net.v4.unwrap_or(n))),
                a.ipv6.map(|n| (n.addr(), net.v6.unwrap_or(n))),
            );
            let mut entry = entry;
            entry.insert("network".into(), json!(net.name));
            node_ifaces
                .entry(member.as_str())
                .or_default()
                .insert(a.interface.clone(), Json::Object(entry));
            shared_attach.entry(member.as_str()).or_default().push(a);
        }
    }
    // Step 4b: each node's kind in this pod (a template renders per pod).
    let (node_kinds, kind_names) = node_kinds(t, &with_vars, &failed_vars, &mut problems);
    let nodes_json: serde_json::Map<String, Json> = t
        .nodes
        .keys()
        .map(|name| {
            let ifs = node_ifaces.get(name.as_str()).cloned().unwrap_or_default();
            (
                name.clone(),
                json!({ "kind": kind_names[name.as_str()], "interfaces": ifs }),
            )
        })
        .collect();

    // Step 5: the pod's networks.
    let pod_base = plumbing.pod_base(block, pod);
    let mut networks = Vec::new();
    let mgmt_net = plumbing.mgmt_subnet(pod_base);
    networks.push(network_spec(&t.name, pod, "mgmt", mgmt_net, block, false));
    for li in 0..t.links.len() {
        let subnet = plumbing.link_subnet(pod_base, li);
        networks.push(network_spec(
            &t.name,
            pod,
            &format!("l{}", li + 1),
            subnet,
            block,
            false,
        ));
    }

    // Step 6: per node, its context, rendered files and container spec.
    let mut containers = Vec::new();
    let mut contexts: BTreeMap<String, Json> = BTreeMap::new();
    for (ni, (name, node)) in t.nodes.iter().enumerate() {
        let mut ctx = with_vars.clone();
        ctx["node"] = json!(name);
        ctx["interfaces"] =
            Json::Object(node_ifaces.get(name.as_str()).cloned().unwrap_or_default());
        ctx["nodes"] = Json::Object(nodes_json.clone());
        ctx["shared"] = shared::context(t, nets);

        let mgmt = Attachment {
            network: networks[0].name.clone(),
            docker_ip: nth_host(mgmt_net, ni),
            interface: "eth0".into(),
            ipv4: None,
            ipv6: None,
        };
        let mut attached: Vec<Attachment> = attachments
            .get(name.as_str())
            .into_iter()
            .flatten()
            .map(|(li, k, iface)| {
                let la = &links[*li];
                Attachment {
                    network: networks[li + 1].name.clone(),
                    docker_ip: nth_host(networks[li + 1].subnet, *k),
                    interface: iface.clone(),
                    ipv4: la.v4.and_then(|net| {
                        addr::nth_v4(net, *k as u32)
                            .and_then(|a| Ipv4Net::new(a, net.prefix_len()).ok())
                    }),
                    ipv6: la.v6.and_then(|net| {
                        addr::nth_v6(net, *k as u32)
                            .and_then(|a| Ipv6Net::new(a, net.prefix_len()).ok())
                    }),
                }
            })
            .collect();
        attached.extend(shared_attach.remove(name.as_str()).unwrap_or_default());
        let Some(&kind) = node_kinds.get(name.as_str()) else {
            continue;
        };
        let input = NodeInput {
            lab: &t.name,
            pod,
            name,
            node,
            kind,
            base: path!["nodes", name.as_str()],
            ctx,
            failed: failed_vars.clone(),
            mgmt,
            mgmt_net,
            links: attached,
            access: t.access.is_some(),
        };
        let (spec, ctx) = node_spec(loaded, input, &mut problems);
        containers.extend(spec);
        contexts.insert(name.clone(), ctx);
    }

    // Step 6b: the checks, each with its node's context (a shared node's
    // checks see this pod, with the shared node's interfaces).
    let mut checks = Vec::new();
    for (ci, check) in t.checks.iter().enumerate() {
        let (ctx, kind, container) =
            match (contexts.get(&check.node), t.shared.nodes.get(&check.node)) {
                // A node whose kind did not render has no context (its
                // kind is reported already).
                (Some(ctx), _) => (
                    ctx.clone(),
                    node_kinds[check.node.as_str()].name,
                    container_name(&t.name, pod, &check.node),
                ),
                (None, Some(node)) => {
                    let mut ctx = with_vars.clone();
                    ctx["node"] = json!(check.node);
                    ctx["nodes"] = Json::Object(nodes_json.clone());
                    ctx["shared"] = shared::context(t, nets);
                    ctx["interfaces"] =
                        ctx["shared"]["nodes"][check.node.as_str()]["interfaces"].clone();
                    (
                        ctx,
                        node.kind.as_str(),
                        container_name(&t.name, SHARED_POD, &check.node),
                    )
                }
                (None, None) => continue,
            };
        checks.extend(checks::render_check(
            check,
            ci,
            kind,
            &ctx,
            &container,
            &mut problems,
        ));
    }

    // Step 7: the pod's access point, if the lab has one.
    if let Some(access) = &t.access {
        let subnet = plumbing.access_subnet(pod_base);
        let net = network_spec(&t.name, pod, "access", subnet, block, true);
        containers.push(access_spec(
            &t.name,
            pod,
            access,
            &networks[0],
            mgmt_net,
            t.nodes.len(),
            &net,
        ));
        networks.push(net);
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    let summary = json!({ "pod": pod, "vars": lab_vars, "nodes": nodes_json });
    Ok((
        PodPlan {
            pod,
            networks,
            containers,
            checks,
        },
        summary,
    ))
}

/// Each pod node's kind in one pod: as written, or its template rendered
/// with what a kind may depend on (the pod, the lab and its vars: a node's
/// own vars and interfaces may themselves depend on kinds, through
/// `nodes`). A rendered kind must be a known one that fits the node.
/// Also each node's kind as templates see it, even a wrong one, so that a
/// bad kind is reported once rather than again by every template that
/// reads `nodes`.
#[allow(clippy::type_complexity)]
fn node_kinds<'t>(
    t: &'t Topology,
    with_vars: &Json,
    failed_vars: &[String],
    problems: &mut Vec<Problem>,
) -> (
    BTreeMap<&'t str, &'static kinds::Kind>,
    BTreeMap<&'t str, String>,
) {
    let mut out = BTreeMap::new();
    let mut names: BTreeMap<&str, String> = t
        .nodes
        .iter()
        .map(|(name, node)| (name.as_str(), node.kind.clone()))
        .collect();
    for (name, node) in &t.nodes {
        if !crate::topology::is_template(&node.kind) {
            // Checked when the topology was loaded.
            if let Some(kind) = kinds::lookup(&node.kind) {
                out.insert(name.as_str(), kind);
            }
            continue;
        }
        let base = path!["nodes", name.as_str()];
        let mut ctx = with_vars.clone();
        ctx["node"] = json!(name);
        let at = sub(&base, &["kind"]);
        let rendered = match render::render(&node.kind, &ctx) {
            Ok(text) => text.trim().to_string(),
            Err(e) => {
                if !uses_failed_var(&e.message, failed_vars) {
                    problems.push(Problem {
                        path: at,
                        message: e.inline(),
                    });
                }
                continue;
            }
        };
        names.insert(name.as_str(), rendered.clone());
        let Some(kind) = kinds::lookup(&rendered) else {
            problems.push(Problem {
                path: at,
                message: format!(
                    "`{}` renders to {}",
                    node.kind.trim(),
                    crate::topology::unknown_kind(&rendered)
                ),
            });
            continue;
        };
        let fit = crate::topology::kind_fit_problems(&base, node, kind);
        if fit.is_empty() {
            out.insert(name.as_str(), kind);
        }
        problems.extend(fit.into_iter().map(|p| Problem {
            path: p.path,
            message: p.message,
        }));
    }
    (out, names)
}

/// What `node_spec` needs to know about one node.
pub(crate) struct NodeInput<'a> {
    pub lab: &'a str,
    pub pod: u32,
    pub name: &'a str,
    pub node: &'a Node,
    /// Its kind in this pod.
    pub kind: &'static kinds::Kind,
    /// Where the node stands in the topology, for diagnostics.
    pub base: Path,
    /// The template context, without the node's own vars yet.
    pub ctx: Json,
    /// Vars whose templates failed (already reported).
    pub failed: Vec<String>,
    pub mgmt: Attachment,
    pub mgmt_net: Ipv4Net,
    pub links: Vec<Attachment>,
    /// Whether the lab has access points, so the node runs sshd for them.
    pub access: bool,
}

fn sub(base: &Path, segs: &[&str]) -> Path {
    let mut p = base.clone();
    p.extend(
        segs.iter()
            .map(|s| crate::topology::Seg::Key(s.to_string())),
    );
    p
}

/// A node's vars, rendered files and container spec; `None` when something
/// failed (reported in `problems`).
pub(crate) fn node_spec(
    loaded: &Loaded,
    input: NodeInput,
    problems: &mut Vec<Problem>,
) -> (Option<ContainerSpec>, Json) {
    let NodeInput {
        lab,
        pod,
        name,
        node,
        kind,
        base,
        mut ctx,
        mut failed,
        mgmt,
        mgmt_net,
        mut links,
        access,
    } = input;
    let mut vars = ctx["vars"].as_object().cloned().unwrap_or_default();
    let mut node_ok = true;
    for (k, v) in &node.vars {
        match render::render_value(v, &ctx) {
            Ok(r) => {
                vars.insert(k.clone(), r);
            }
            Err(e) => {
                node_ok = false;
                failed.push(k.clone());
                problems.push(Problem {
                    path: sub(&base, &["vars", k]),
                    message: e.inline(),
                })
            }
        }
    }
    ctx["vars"] = Json::Object(vars);

    let mut files = BTreeMap::new();
    // False when the path is a template that renders to nothing: no
    // such file in this pod.
    let mut render_file = |path: Path, rel: &str, dest: &str, problems: &mut Vec<Problem>| {
        let rel = match template_file(loaded, rel, &ctx) {
            Ok(Some(rel)) => rel,
            Ok(None) => return false,
            Err(e) if uses_failed_var(&e, &failed) => return true,
            Err(message) => {
                problems.push(Problem { path, message });
                return true;
            }
        };
        let rel = rel.as_str();
        let Some(src) = loaded.templates.get(rel) else {
            return true;
        };
        match render::render(src, &ctx) {
            Ok(mut text) => {
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                files.insert(
                    dest.to_string(),
                    FileSpec {
                        mode: 0o644,
                        content: text,
                    },
                );
            }
            Err(e) if uses_failed_var(&e.message, &failed) => {}
            Err(e) => problems.push(Problem {
                path,
                message: e.in_file(rel),
            }),
        }
        true
    };
    // In solution mode the node's `solution` stands over its own fields.
    let solved = ctx["solution"].as_bool().unwrap_or(false);
    let solution = node.solution.as_ref().filter(|_| solved);
    if let Some(dest) = kind.config_path {
        // A solution config whose path renders to nothing leaves the
        // node's own.
        let solved_config = solution.and_then(|s| s.config.as_deref());
        let placed = solved_config.is_some_and(|rel| {
            render_file(sub(&base, &["solution", "config"]), rel, dest, problems)
        });
        if let (false, Some(rel)) = (placed, &node.config) {
            render_file(sub(&base, &["config"]), rel, dest, problems);
        }
    }
    for (dest, rel) in &node.files {
        render_file(sub(&base, &["files", dest]), rel, dest, problems);
    }
    for (dest, rel) in solution.iter().flat_map(|s| &s.files) {
        render_file(
            sub(&base, &["solution", "files", dest]),
            rel,
            dest,
            problems,
        );
    }
    let lines = node
        .exec
        .iter()
        .enumerate()
        .map(|(i, l)| (&["exec"][..], i, l));
    let solution_lines = solution
        .iter()
        .flat_map(|s| s.exec.iter().enumerate())
        .map(|(i, l)| (&["solution", "exec"][..], i, l));
    let mut exec = Vec::new();
    for (at, i, line) in lines.chain(solution_lines) {
        match render::render(line, &ctx) {
            // A line that renders to nothing (`{% if %}` false in this
            // pod) runs nothing.
            Ok(l) if l.trim().is_empty() => {}
            Ok(l) => exec.push(l),
            Err(e) if uses_failed_var(&e.message, &failed) => {}
            Err(e) => {
                let mut path = sub(&base, at);
                path.push(crate::topology::Seg::Index(i));
                problems.push(Problem {
                    path,
                    message: e.inline(),
                })
            }
        }
    }
    // One that renders to nothing leaves the kind's shell.
    let login_shell = match node.login_shell.as_deref().map(|t| render::render(t, &ctx)) {
        Some(Ok(shell)) if valid_login_shell(shell.trim()) => Some(shell.trim().to_string()),
        Some(Ok(shell)) if !shell.trim().is_empty() => {
            problems.push(Problem {
                path: sub(&base, &["login_shell"]),
                message: format!(
                    "login shell `{}` is not a command name or absolute path (letters, digits, `_.+-` and `/`, no arguments)",
                    shell.trim()
                ),
            });
            None
        }
        Some(Err(e)) if !uses_failed_var(&e.message, &failed) => {
            problems.push(Problem {
                path: sub(&base, &["login_shell"]),
                message: e.inline(),
            });
            None
        }
        _ => None,
    };
    if !node_ok {
        return (None, ctx);
    }
    for (i, d) in node.daemons.iter().enumerate() {
        if !kind.daemons.iter().any(|(name, _)| name == d) {
            let mut path = sub(&base, &["daemons"]);
            path.push(crate::topology::Seg::Index(i));
            let known: Vec<&str> = kind.daemons.iter().map(|(n, _)| *n).collect();
            problems.push(Problem {
                path,
                message: if known.is_empty() {
                    format!("kind `{}` has no daemons to choose", kind.name)
                } else {
                    let hint = known
                        .iter()
                        .map(|k| (crate::topology::distance(d, k), *k))
                        .filter(|(dist, _)| *dist <= 2)
                        .min()
                        .map(|(_, k)| format!("; did you mean `{k}`?"))
                        .unwrap_or_default();
                    format!(
                        "`{d}` is not a daemon of kind `{}`; its daemons: {}{hint}",
                        kind.name,
                        known.join(", ")
                    )
                },
            });
            node_ok = false;
        }
    }
    if !node_ok {
        return (None, ctx);
    }
    if !kind.daemons.is_empty() {
        let daemons = node_daemons(loaded, node, kind, &ctx, &files);
        files.insert(
            "/etc/noglab/daemons".into(),
            FileSpec {
                mode: 0o644,
                content: format!("{}\n", daemons.join(" ")),
            },
        );
    }

    links.sort_by_key(|a| a.interface[3..].parse::<u32>().unwrap_or(0));
    files.insert(
        "/etc/noglab/interfaces".into(),
        FileSpec {
            mode: 0o644,
            content: interfaces_file(&mgmt, mgmt_net, &links),
        },
    );
    files.insert(
        "/etc/noglab/ready".into(),
        FileSpec {
            mode: 0o755,
            content: format!("#!/bin/sh\n{}\n", kind.readiness),
        },
    );
    if let Some(verify) = kind.verify {
        files.insert(
            "/etc/noglab/verify".into(),
            FileSpec {
                mode: 0o755,
                content: format!("#!/bin/sh\n{verify}\n"),
            },
        );
    }
    if let Some(health) = kind.health {
        files.insert(
            "/etc/noglab/health".into(),
            FileSpec {
                mode: 0o755,
                content: format!("#!/bin/sh\n{health}\n"),
            },
        );
    }
    if access {
        // Participants arrive from the pod's access point as user `lab`,
        // in the kind's own shell.
        files.insert(
            "/etc/noglab/login".into(),
            FileSpec {
                mode: 0o644,
                content: format!(
                    "shell={}\ngroups={}\n",
                    login_shell.unwrap_or_else(|| kind.shell.join(" ")),
                    kind.login_groups
                ),
            },
        );
    }
    if !exec.is_empty() {
        let mut script = String::from("# exec lines of this node, run once it is up, in order\n");
        for l in &exec {
            script.push_str(l);
            script.push('\n');
        }
        files.insert(
            "/etc/noglab/exec.sh".into(),
            FileSpec {
                mode: 0o755,
                content: script,
            },
        );
    }

    let spec = ContainerSpec {
        name: container_name(lab, pod, name),
        node: name.to_string(),
        kind: kind.name.to_string(),
        image: node.image.clone().unwrap_or_else(|| kind_image(kind)),
        hostname: name.to_string(),
        labels: BTreeMap::new(),
        capabilities: Vec::new(),
        sysctls: BTreeMap::new(),
        memory: MEMORY_LIMIT,
        pids: PIDS_LIMIT,
        mgmt,
        links,
        files,
        ports: Vec::new(),
        read_only: Vec::new(),
    };
    (Some(seal(spec, lab, pod, kind)), ctx)
}

/// The daemons a node of a kind with optional daemons runs: those its
/// config in this mode and its config in the other mode (initial or
/// solved) use, so that participants find running every daemon the
/// exercise needs, and `up --solution` runs what `up` runs.
fn node_daemons(
    loaded: &Loaded,
    node: &crate::topology::Node,
    kind: &kinds::Kind,
    ctx: &Json,
    files: &BTreeMap<String, FileSpec>,
) -> Vec<&'static str> {
    let this = kind
        .config_path
        .and_then(|p| files.get(p))
        .map(|f| f.content.clone());
    let solved = ctx["solution"].as_bool().unwrap_or(false);
    let mut other_ctx = ctx.clone();
    other_ctx["solution"] = Json::Bool(!solved);
    let other_rel = if solved {
        node.config.as_deref()
    } else {
        node.solution.as_ref().and_then(|s| s.config.as_deref())
    };
    // Errors here are the other mode's, which `validate` reports; this
    // only reads what renders.
    let other = other_rel
        .and_then(|rel| template_file(loaded, rel, &other_ctx).ok().flatten())
        .and_then(|rel| loaded.templates.get(&rel))
        .and_then(|src| render::render(src, &other_ctx).ok());
    let used = kind.daemons_used(this.iter().chain(other.iter()).map(String::as_str));
    kind.daemons
        .iter()
        .map(|(d, _)| *d)
        .filter(|d| used.contains(d) || node.daemons.iter().any(|n| n == d))
        .collect()
}

/// The template file a node names at `rel`, for this node's context: `rel`
/// itself, or what it renders to when it holds tags. `None` when it
/// renders to nothing (no such file in this pod).
fn template_file(loaded: &Loaded, rel: &str, ctx: &Json) -> Result<Option<String>, String> {
    if !crate::topology::is_template(rel) {
        return Ok(Some(rel.to_string()));
    }
    let rendered = render::render(rel, ctx).map_err(|e| e.inline())?;
    let rendered = rendered.trim();
    if rendered.is_empty() {
        return Ok(None);
    }
    if loaded.templates.contains_key(rendered) {
        return Ok(Some(rendered.to_string()));
    }
    let (prefix, suffix) = crate::topology::template_path_ends(rel);
    let known: Vec<&str> = loaded
        .templates
        .keys()
        .map(String::as_str)
        .filter(|k| k.starts_with(prefix) && k.ends_with(suffix))
        .collect();
    Err(format!(
        "`{rel}` renders to `{rendered}`, which is not a file in the topology's folder; it has {}",
        known.join(", ")
    ))
}

/// The image noglab builds for a kind.
fn kind_image(kind: &kinds::Kind) -> String {
    crate::images::lookup(kind.image)
        .map(|d| d.reference())
        .unwrap_or_else(|| kind.image.to_string())
}

/// Completes a container spec with what every noglab container carries:
/// its labels, its kind's capabilities and sysctls, noglab's folder
/// read-only, and the hash of it all.
fn seal(mut spec: ContainerSpec, lab: &str, pod: u32, kind: &kinds::Kind) -> ContainerSpec {
    spec.labels = BTreeMap::from([
        (labels::LAB.to_string(), lab.to_string()),
        (labels::POD.to_string(), pod_label(pod)),
        (labels::NODE.to_string(), spec.node.clone()),
        (labels::KIND.to_string(), kind.name.to_string()),
    ]);
    spec.capabilities = kind.capabilities.iter().map(|c| c.to_string()).collect();
    spec.sysctls = kind
        .sysctls
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    spec.read_only = vec![NOGLAB_DIR.to_string()];
    let hash = spec_hash(&spec);
    spec.labels.insert(labels::HASH.to_string(), hash);
    spec
}

/// A pod's access point: sshd for participants, on the pod's management
/// network (so node names resolve) and on its own host-facing network that
/// publishes the pod's port.
fn access_spec(
    lab: &str,
    pod: u32,
    access: &crate::topology::Access,
    mgmt: &NetworkSpec,
    mgmt_net: Ipv4Net,
    nodes: usize,
    net: &NetworkSpec,
) -> ContainerSpec {
    let kind = &kinds::ACCESS;
    let mgmt_at = Attachment {
        network: mgmt.name.clone(),
        docker_ip: nth_host(mgmt_net, nodes),
        interface: "eth0".into(),
        ipv4: None,
        ipv6: None,
    };
    let ip = nth_host(net.subnet, 0);
    let outside = Attachment {
        network: net.name.clone(),
        docker_ip: ip,
        interface: "eth1".into(),
        ipv4: Ipv4Net::new(ip, net.subnet.prefix_len()).ok(),
        ipv6: None,
    };
    let mut files = BTreeMap::new();
    files.insert(
        "/etc/noglab/interfaces".into(),
        FileSpec {
            mode: 0o644,
            content: interfaces_file(&mgmt_at, mgmt_net, std::slice::from_ref(&outside)),
        },
    );
    // Replies to participants' laptops leave through the host.
    files.insert(
        "/etc/noglab/routes".into(),
        FileSpec {
            mode: 0o644,
            content: format!("default via {}\n", net.gateway),
        },
    );
    files.insert(
        "/etc/noglab/ready".into(),
        FileSpec {
            mode: 0o755,
            content: format!("#!/bin/sh\n{}\n", kind.readiness),
        },
    );
    let port = |base: u16| base.saturating_add(u16::try_from(pod).unwrap_or(u16::MAX));
    let mut ports = vec![(22, port(access.base_port))];
    if let Some(web) = access.web_base_port {
        // The browser terminal logs in through the pod's own sshd.
        files.insert(
            "/etc/noglab/web".into(),
            FileSpec {
                mode: 0o644,
                content: format!("port={WEB_PORT}\nhost=pod{pod}\n"),
            },
        );
        ports.push((WEB_PORT, port(web)));
    }
    let spec = ContainerSpec {
        name: container_name(lab, pod, ACCESS_NODE),
        node: ACCESS_NODE.to_string(),
        kind: kind.name.to_string(),
        image: kind_image(kind),
        hostname: format!("pod{pod}"),
        labels: BTreeMap::new(),
        capabilities: Vec::new(),
        sysctls: BTreeMap::new(),
        memory: 256 << 20,
        pids: 256,
        mgmt: mgmt_at,
        links: vec![outside],
        files,
        ports,
        read_only: Vec::new(),
    };
    seal(spec, lab, pod, kind)
}

/// Whether a render failed only because it used a var whose own template
/// failed, which is already reported.
pub(crate) fn uses_failed_var(message: &str, failed: &[String]) -> bool {
    failed.iter().any(|v| {
        let name = format!("variable `vars.{v}");
        message
            .find(&name)
            .map(|i| &message[i + name.len()..])
            .is_some_and(|rest| rest.starts_with('`') || rest.starts_with('.'))
    })
}

/// Step 3b: two links of a pod must not share addresses.
fn overlaps(links: &[LinkAddrs], problems: &mut Vec<Problem>) {
    for (i, a) in links.iter().enumerate() {
        for (j, b) in links.iter().enumerate().take(i) {
            if let (Some(x), Some(y)) = (a.v4, b.v4) {
                if x.contains(&y.network()) || y.contains(&x.network()) {
                    problems.push(Problem {
                        path: path!["links", i, "ipv4"],
                        message: format!("subnet {x} overlaps {y} of link {}", j + 1),
                    });
                }
            }
            if let (Some(x), Some(y)) = (a.v6, b.v6) {
                if x.contains(&y.network()) || y.contains(&x.network()) {
                    problems.push(Problem {
                        path: path!["links", i, "ipv6"],
                        message: format!("subnet {x} overlaps {y} of link {}", j + 1),
                    });
                }
            }
        }
    }
}

/// Docker's address for the k-th endpoint of a plumbing subnet: after the
/// network address and the gateway Docker reserves.
pub(crate) fn nth_host(net: Ipv4Net, k: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + 2 + k as u32)
}

/// What the node's init reads at every start: `<docker-ip> <name> [cidr...]`.
pub(crate) fn interfaces_file(
    mgmt: &Attachment,
    mgmt_net: Ipv4Net,
    links: &[Attachment],
) -> String {
    let mut s =
        String::from("# <docker-ipv4> <interface> [address/prefix ...], written by noglab\n");
    s.push_str(&format!(
        "{} eth0 {}/{}\n",
        mgmt.docker_ip,
        mgmt.docker_ip,
        mgmt_net.prefix_len()
    ));
    for a in links {
        s.push_str(&format!("{} {}", a.docker_ip, a.interface));
        if let Some(v4) = a.ipv4 {
            s.push_str(&format!(" {v4}"));
        }
        if let Some(v6) = a.ipv6 {
            s.push_str(&format!(" {v6}"));
        }
        s.push('\n');
    }
    s
}

/// `bgp-p03-r1`, or `bgp-shared-rs` for a shared node.
/// A node's `login_shell`: one command, no arguments (it becomes the
/// participants' user's login shell).
fn valid_login_shell(shell: &str) -> bool {
    !shell.is_empty()
        && shell
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.+-/".contains(c))
        && (!shell.contains('/') || shell.starts_with('/'))
}

/// The shell participants get in a node from the access point, as its
/// plan says (`/etc/noglab/login`); `None` for a node without logins.
pub fn login_shell(spec: &ContainerSpec) -> Option<&str> {
    spec.files
        .get("/etc/noglab/login")?
        .content
        .lines()
        .find_map(|l| l.strip_prefix("shell="))
}

pub fn container_name(lab: &str, pod: u32, node: &str) -> String {
    if pod == SHARED_POD {
        format!("{lab}-shared-{node}")
    } else {
        format!("{lab}-p{pod:02}-{node}")
    }
}

pub(crate) fn network_spec(
    lab: &str,
    pod: u32,
    role: &str,
    subnet: Ipv4Net,
    block: Ipv4Net,
    host_facing: bool,
) -> NetworkSpec {
    let name = container_name(lab, pod, role);
    let mut labels = BTreeMap::new();
    labels.insert(labels::LAB.to_string(), lab.to_string());
    labels.insert(labels::POD.to_string(), pod_label(pod));
    labels.insert(labels::NETWORK.to_string(), role.to_string());
    labels.insert(labels::BLOCK.to_string(), block.to_string());
    let digest = Sha256::digest(name.as_bytes());
    // The guard on the host knows lab wires as ngl*, access networks as nga*.
    let bridge = format!(
        "{}{}",
        if host_facing { "nga" } else { "ngl" },
        digest
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut spec = NetworkSpec {
        name,
        host_facing,
        bridge,
        subnet,
        gateway: Ipv4Addr::from(u32::from(subnet.network()) + 1),
        labels,
    };
    let hash = short_hash(&serde_json::to_vec(&spec).unwrap_or_default());
    spec.labels.insert(labels::HASH.to_string(), hash);
    spec
}

fn spec_hash(spec: &ContainerSpec) -> String {
    short_hash(&serde_json::to_vec(spec).unwrap_or_default())
}

fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_with_other_values_in_other_pods_is_said_once() {
        let mut found = BTreeMap::new();
        let at = path!["links", 0, "ipv4"];
        found.insert((at.clone(), "`b` is bad".to_string()), vec![5]);
        found.insert((at.clone(), "`a` is bad".to_string()), vec![4]);
        found.insert((at.clone(), "`c` is bad".to_string()), vec![6]);
        assert_eq!(
            merge_pods(found.clone(), 6),
            vec![(
                at.clone(),
                "`a` is bad (in pod 4; likewise, with other values, in pods 5-6)".to_string()
            )]
        );
        assert_eq!(
            merge_pods(found, 3),
            vec![(
                at.clone(),
                "`a` is bad (in pod 4; likewise, with other values, in every other pod)"
                    .to_string()
            )]
        );
        let mut same = BTreeMap::new();
        same.insert((at.clone(), "bad".to_string()), vec![1, 2, 3]);
        assert_eq!(
            merge_pods(same.clone(), 3),
            vec![(at.clone(), "bad".into())]
        );
        assert_eq!(merge_pods(same, 5), vec![(at, "bad (in pods 1-3)".into())]);
    }

    #[test]
    fn uses_of_a_failed_var_are_recognised() {
        let failed = vec!["asn".to_string()];
        assert!(uses_failed_var(
            "variable `vars.asn` not found in context",
            &failed
        ));
        assert!(uses_failed_var("variable `vars.asn.x` not found", &failed));
        assert!(!uses_failed_var("variable `vars.asn2` not found", &failed));
        assert!(!uses_failed_var("variable `vars.id` not found", &failed));
    }

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
