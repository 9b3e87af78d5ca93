//! Lab-wide networks and nodes: the IXP LAN, the route server, the transit
//! provider, the DNS root. Shared networks are planned before the pods
//! (pods attach to them), shared nodes after (their templates see every
//! pod: a route server lists a neighbor per pod).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde_json::{json, Value as Json};

use super::{
    addr, container_name, iface_entry, network_spec, nth_host, render, uses_failed_var, Attachment,
    NodeInput, Plumbing, PodPlan, Problem, SHARED_POD,
};
use crate::topology::{Loaded, Topology};

/// One shared network with its members and the shared nodes' attachments.
pub(crate) struct SharedNet {
    pub name: String,
    pub spec: super::NetworkSpec,
    pub v4: Option<Ipv4Net>,
    pub v6: Option<Ipv6Net>,
    /// Shared nodes attached, in name order.
    pub lab_members: Vec<String>,
    /// Pod nodes attached (in every pod), in name order.
    pub pod_members: Vec<String>,
    /// Each member's interface on this network.
    pub ifaces: BTreeMap<String, String>,
    /// The shared nodes' attachments.
    pub lab_attach: BTreeMap<String, Attachment>,
}

/// Interfaces of every attachment to a shared network: the given one, or
/// the node's lowest ethN free after its links, in network then node order.
pub(crate) fn assign_interfaces(
    t: &Topology,
    links: &[Vec<(String, String)>],
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut used: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    let num = |iface: &str| iface.get(3..).and_then(|d| d.parse::<u32>().ok());
    for eps in links {
        for (node, iface) in eps {
            used.entry(node.as_str()).or_default().extend(num(iface));
        }
    }
    for net in t.shared.networks.values() {
        for (node, a) in &net.attach {
            if let Some(iface) = &a.interface {
                used.entry(node.as_str()).or_default().extend(num(iface));
            }
        }
    }
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, net) in &t.shared.networks {
        for (node, a) in &net.attach {
            let iface = match &a.interface {
                Some(i) => i.clone(),
                None => {
                    let taken = used.entry(node.as_str()).or_default();
                    let n = (1..).find(|n| !taken.contains(n)).unwrap_or(1);
                    taken.push(n);
                    format!("eth{n}")
                }
            };
            out.entry(name.clone())
                .or_default()
                .insert(node.clone(), iface);
        }
    }
    out
}

/// A rendered address on a shared network, with the network's prefix.
fn address<N: Copy>(
    tpl: Option<&String>,
    subnet: Option<N>,
    ctx: &Json,
    path: crate::topology::spans::Path,
    failed: &[String],
    problems: &mut Vec<Problem>,
    make: impl Fn(IpAddr, N) -> Result<N, String>,
) -> Option<N> {
    let (tpl, subnet) = (tpl?, subnet?);
    let text = match render::render(tpl, ctx) {
        Ok(t) => t,
        Err(e) => {
            if !uses_failed_var(&e.message, failed) {
                problems.push(Problem {
                    path,
                    message: e.inline(),
                });
            }
            return None;
        }
    };
    let parsed = text
        .trim()
        .parse::<IpAddr>()
        .map_err(|_| {
            format!(
                "`{}` is not an address (write it without a prefix)",
                text.trim()
            )
        })
        .and_then(|ip| make(ip, subnet));
    match parsed {
        Ok(n) => Some(n),
        Err(message) => {
            problems.push(Problem { path, message });
            None
        }
    }
}

fn in_v4(ip: IpAddr, net: Ipv4Net) -> Result<Ipv4Net, String> {
    match ip {
        IpAddr::V4(a) if net.contains(&a) => {
            Ipv4Net::new(a, net.prefix_len()).map_err(|e| e.to_string())
        }
        _ => Err(format!("{ip} is not in the network's IPv4 subnet {net}")),
    }
}

fn in_v6(ip: IpAddr, net: Ipv6Net) -> Result<Ipv6Net, String> {
    match ip {
        IpAddr::V6(a) if net.contains(&a) => {
            Ipv6Net::new(a, net.prefix_len()).map_err(|e| e.to_string())
        }
        _ => Err(format!("{ip} is not in the network's IPv6 subnet {net}")),
    }
}

/// Step 2: the shared networks, their subnets and the shared nodes' addresses.
pub(crate) fn networks(
    loaded: &Loaded,
    plumbing: &Plumbing,
    block: Ipv4Net,
    pods: u32,
    ifaces: &BTreeMap<String, BTreeMap<String, String>>,
    problems: &mut Vec<Problem>,
) -> Vec<SharedNet> {
    let t = &loaded.topology;
    let ctx = json!({ "lab": t.name, "pods": pods });
    let mut out = Vec::new();
    for (i, (name, net)) in t.shared.networks.iter().enumerate() {
        let here = |field: &str| path!["shared", "networks", name.as_str(), field];
        let v4 = net.ipv4.as_ref().and_then(|tpl| {
            render::render(tpl, &ctx)
                .map_err(|e| e.inline())
                .and_then(|text| addr::parse_v4(&text))
                .map_err(|message| {
                    problems.push(Problem {
                        path: here("ipv4"),
                        message,
                    })
                })
                .ok()
        });
        let v6 = net.ipv6.as_ref().and_then(|tpl| {
            render::render(tpl, &ctx)
                .map_err(|e| e.inline())
                .and_then(|text| addr::parse_v6(&text))
                .map_err(|message| {
                    problems.push(Problem {
                        path: here("ipv6"),
                        message,
                    })
                })
                .ok()
        });
        let (pod_members, lab_members): (Vec<String>, Vec<String>) = net
            .attach
            .keys()
            .cloned()
            .partition(|n| t.nodes.contains_key(n));
        let spec = network_spec(
            &t.name,
            SHARED_POD,
            name,
            plumbing.shared_subnet(block, i),
            block,
            false,
        );
        let node_ifaces = ifaces.get(name).cloned().unwrap_or_default();
        let mut lab_attach = BTreeMap::new();
        for (k, member) in lab_members.iter().enumerate() {
            let a = &net.attach[member];
            let at = |f: &str| {
                path![
                    "shared",
                    "networks",
                    name.as_str(),
                    "attach",
                    member.as_str(),
                    f
                ]
            };
            let ipv4 = address(a.ipv4.as_ref(), v4, &ctx, at("ipv4"), &[], problems, in_v4);
            let ipv6 = address(a.ipv6.as_ref(), v6, &ctx, at("ipv6"), &[], problems, in_v6);
            lab_attach.insert(
                member.clone(),
                Attachment {
                    network: spec.name.clone(),
                    docker_ip: nth_host(spec.subnet, k),
                    interface: node_ifaces.get(member).cloned().unwrap_or_default(),
                    ipv4,
                    ipv6,
                },
            );
        }
        out.push(SharedNet {
            name: name.clone(),
            spec,
            v4,
            v6,
            lab_members,
            pod_members,
            ifaces: node_ifaces,
            lab_attach,
        });
    }
    out
}

impl SharedNet {
    /// The `j`-th pod member's attachment in `pod`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn attach_pod_node(
        &self,
        t: &Topology,
        member: &str,
        j: usize,
        pod: u32,
        ctx: &Json,
        failed: &[String],
        problems: &mut Vec<Problem>,
    ) -> Option<Attachment> {
        let a = t.shared.networks.get(&self.name)?.attach.get(member)?;
        let at = |f: &str| {
            path![
                "shared",
                "networks",
                self.name.as_str(),
                "attach",
                member,
                f
            ]
        };
        let ipv4 = address(
            a.ipv4.as_ref(),
            self.v4,
            ctx,
            at("ipv4"),
            failed,
            problems,
            in_v4,
        );
        let ipv6 = address(
            a.ipv6.as_ref(),
            self.v6,
            ctx,
            at("ipv6"),
            failed,
            problems,
            in_v6,
        );
        let k = self.lab_members.len() + (pod as usize - 1) * self.pod_members.len() + j;
        Some(Attachment {
            network: self.spec.name.clone(),
            docker_ip: nth_host(self.spec.subnet, k),
            interface: self.ifaces.get(member).cloned().unwrap_or_default(),
            ipv4,
            ipv6,
        })
    }
}

/// What templates see as `shared`: the networks' subnets and the shared
/// nodes' interfaces on them.
pub(crate) fn context(t: &Topology, nets: &[SharedNet]) -> Json {
    let mut networks = serde_json::Map::new();
    let mut nodes: BTreeMap<String, serde_json::Map<String, Json>> = t
        .shared
        .nodes
        .keys()
        .map(|n| (n.clone(), serde_json::Map::new()))
        .collect();
    for net in nets {
        let mut entry = serde_json::Map::new();
        if let Some(v4) = net.v4 {
            entry.insert("ipv4".into(), json!(v4.to_string()));
        }
        if let Some(v6) = net.v6 {
            entry.insert("ipv6".into(), json!(v6.to_string()));
        }
        networks.insert(net.name.clone(), Json::Object(entry));
        for (node, a) in &net.lab_attach {
            let mut e = iface_entry(
                a.ipv4.map(|n| (n.addr(), net.v4.unwrap_or(n))),
                a.ipv6.map(|n| (n.addr(), net.v6.unwrap_or(n))),
            );
            e.insert("network".into(), json!(net.name));
            nodes
                .entry(node.clone())
                .or_default()
                .insert(a.interface.clone(), Json::Object(e));
        }
    }
    let nodes: serde_json::Map<String, Json> = nodes
        .into_iter()
        .map(|(name, ifs)| {
            let kind = t
                .shared
                .nodes
                .get(&name)
                .map(|n| n.kind.clone())
                .unwrap_or_default();
            (name, json!({ "kind": kind, "interfaces": ifs }))
        })
        .collect();
    json!({ "networks": networks, "nodes": nodes })
}

/// No address is given twice on a shared network (e.g. a template that
/// forgot the pod number).
pub(crate) fn duplicate_addresses(
    nets: &[SharedNet],
    pods: &BTreeMap<u32, PodPlan>,
    problems: &mut Vec<Problem>,
) {
    for net in nets {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut owners: Vec<(String, String, &Attachment)> = net
            .lab_attach
            .iter()
            .map(|(n, a)| (n.clone(), format!("shared node {n}"), a))
            .collect();
        for pod in pods.values() {
            for c in &pod.containers {
                for a in c.links.iter().filter(|a| a.network == net.spec.name) {
                    owners.push((c.node.clone(), format!("{} of pod {}", c.node, pod.pod), a));
                }
            }
        }
        for (node, who, a) in owners {
            let addrs = a
                .ipv4
                .map(|n| n.addr().to_string())
                .into_iter()
                .chain(a.ipv6.map(|n| n.addr().to_string()));
            for ip in addrs {
                if let Some(first) = seen.get(&ip) {
                    let family = if ip.contains(':') { "ipv6" } else { "ipv4" };
                    let message = format!(
                        "{ip} on shared network `{}` is given to both {first} and {who}; make a pod node's address a template of the pod, like `198.51.100.{{{{ 10 + pod }}}}`",
                        net.name
                    );
                    let path = path![
                        "shared",
                        "networks",
                        net.name.as_str(),
                        "attach",
                        node.as_str(),
                        family
                    ];
                    if !problems.iter().any(|p| p.path == path) {
                        problems.push(Problem { path, message });
                    }
                } else {
                    seen.insert(ip, who.clone());
                }
            }
        }
    }
}

/// The last step: the shared nodes, whose templates see every pod as
/// `all_pods` (each with its `pod`, `vars` and `nodes`).
pub(crate) fn plan(
    loaded: &Loaded,
    nets: &[SharedNet],
    plumbing: &Plumbing,
    block: Ipv4Net,
    lab_ctx: &Json,
    summaries: &[Json],
    problems: &mut Vec<Problem>,
) -> Option<PodPlan> {
    let t = &loaded.topology;
    if t.shared.nodes.is_empty() && nets.is_empty() {
        return None;
    }
    let mut networks = Vec::new();
    let mgmt_net = plumbing.shared_mgmt_subnet(block);
    if !t.shared.nodes.is_empty() {
        networks.push(network_spec(
            &t.name, SHARED_POD, "mgmt", mgmt_net, block, false,
        ));
    }
    networks.extend(nets.iter().map(|n| n.spec.clone()));
    let shared_ctx = context(t, nets);
    let mut containers = Vec::new();
    for (ni, (name, node)) in t.shared.nodes.iter().enumerate() {
        let links: Vec<Attachment> = nets
            .iter()
            .filter_map(|n| n.lab_attach.get(name).cloned())
            .collect();
        let mut ctx = lab_ctx.clone();
        ctx["node"] = json!(name);
        ctx["vars"] = json!({});
        ctx["interfaces"] = shared_ctx["nodes"][name.as_str()]["interfaces"].clone();
        ctx["nodes"] = shared_ctx["nodes"].clone();
        ctx["shared"] = shared_ctx.clone();
        ctx["all_pods"] = json!(summaries);
        // A shared node's kind is written as it is (checked on loading).
        let Some(kind) = crate::kinds::lookup(&node.kind) else {
            continue;
        };
        let input = NodeInput {
            lab: &t.name,
            pod: SHARED_POD,
            name,
            node,
            kind,
            base: path!["shared", "nodes", name.as_str()],
            ctx,
            failed: Vec::new(),
            mgmt: Attachment {
                network: container_name(&t.name, SHARED_POD, "mgmt"),
                docker_ip: nth_host(mgmt_net, ni),
                interface: "eth0".into(),
                ipv4: None,
                ipv6: None,
            },
            mgmt_net,
            links,
            access: false,
        };
        containers.extend(super::node_spec(loaded, input, problems).0);
    }
    Some(PodPlan {
        pod: SHARED_POD,
        networks,
        containers,
        checks: Vec::new(),
    })
}
