//! One participant pod, its stages in order: the lab-wide vars, the link
//! subnets, the attachments to shared networks, each node's kind, what
//! templates see of the pod (built once), the pod's networks, its nodes,
//! its checks and its access point. Problems of every stage come back
//! together.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::{Ipv4Net, Ipv6Net};
use serde_json::Value as Json;

use super::access::access_point;
use super::addressing::{link_subnets, nth, LinkSubnets};
use super::checks::{render_check, CheckSpec};
use super::context::{Context, Interface, NodeView, PodView, Vars};
use super::names::{container_name, network_spec, SHARED_POD};
use super::node::{plan_node, pod_kinds, NodeAt};
use super::problems::Problems;
use super::render;
use super::{plumbing, Attachment, ContainerSpec, LabPlan, NetworkSpec, PodPlan};
use crate::kinds::Kind;

/// What planning one pod gives, even when part of it failed, so that the
/// checks that do not depend on the failed part still run.
pub(crate) struct PodOutcome {
    /// The pod's plan, or every problem found in it.
    pub plan: Result<PodPlan, Problems>,
    /// The pod as the shared nodes' templates see it, when all of that
    /// rendered (its vars, link subnets, shared addresses and kinds); a
    /// template failing in one of its nodes does not change it.
    pub view: Option<PodView>,
    /// The attachments to shared networks of the pod's nodes whose kind
    /// is known in it, with the network's index.
    pub on_shared: Vec<(usize, String, Attachment)>,
}

/// Pod `pod`'s plan, the pod as the shared nodes' templates see it, and
/// its nodes' addresses on the shared networks.
pub(crate) fn expand_pod(lab: &LabPlan, pod: u32) -> PodOutcome {
    let t = &lab.loaded.topology;
    let mut problems = Problems::default();
    let base = Context {
        pod: Some(pod),
        ..lab.context()
    };
    let vars = lab_vars(&base, lab, &mut problems);
    let with_vars = Context {
        vars: Some(&vars),
        ..base.clone()
    };
    let json = with_vars.to_json();
    let subnets = link_subnets(t, &json, &mut problems);
    let shared = shared_attachments(lab, pod, &json, &mut problems);
    let (kinds, kind_names) = pod_kinds(t, &with_vars, &mut problems);
    let nodes = node_views(lab, &subnets, &shared, kind_names);
    let view = PodView { pod, vars, nodes };
    let view_complete = problems.is_empty();
    let on_shared: Vec<(usize, String, Attachment)> = shared
        .iter()
        .filter(|(name, _)| kinds.contains_key(name.as_str()))
        .flat_map(|(name, a)| a.iter().map(|(i, a)| (*i, name.clone(), a.clone())))
        .collect();
    let ctx = Context {
        vars: Some(&view.vars),
        nodes: Some(&view.nodes),
        shared: Some(&lab.shared),
        ..base
    };
    let mut networks = pod_networks(lab, pod);
    let mut nodes = PodNodes::plan(
        lab,
        &networks,
        &subnets,
        shared,
        &kinds,
        &ctx,
        &mut problems,
    );
    let checks = nodes.checks(lab, &kinds, &ctx, &mut problems);
    if let Some(access) = &t.access {
        let pod_base = lab.plumbing.pod_base(lab.block, pod);
        let subnet = lab.plumbing.access_subnet(pod_base);
        let net = network_spec(&t.name, pod, "access", subnet, lab.block, true);
        let mgmt_at = plumbing::nth_host(networks[0].subnet, t.nodes.len());
        let mgmt = Attachment::management(&networks[0].name, mgmt_at);
        let point = access_point(&t.name, pod, access, mgmt, networks[0].subnet, &net);
        nodes.containers.push(point);
        networks.push(net);
    }
    let plan = if problems.is_empty() {
        Ok(PodPlan {
            pod,
            networks,
            containers: nodes.containers,
            checks,
        })
    } else {
        Err(problems)
    };
    PodOutcome {
        plan,
        view: view_complete.then_some(view),
        on_shared,
    }
}

/// The lab-wide vars, rendered for one pod; a var that fails is reported
/// once and remembered, so that templates using it are not reported again.
fn lab_vars(base: &Context, lab: &LabPlan, problems: &mut Problems) -> Vars {
    let json = base.to_json();
    let mut vars = Vars::new();
    for (k, v) in &lab.loaded.topology.vars {
        match render::render_value(v, &json) {
            Ok(r) => {
                vars.insert(k.clone(), r);
            }
            Err(e) => {
                problems.var_failed(k);
                problems.push(path!["vars", k.as_str()], render::placed(e, v).inline());
            }
        }
    }
    vars
}

/// Each pod node's attachments to the shared networks in this pod, with
/// the network's index.
fn shared_attachments(
    lab: &LabPlan,
    pod: u32,
    ctx: &Json,
    problems: &mut Problems,
) -> BTreeMap<String, Vec<(usize, Attachment)>> {
    let t = &lab.loaded.topology;
    let mut out: BTreeMap<String, Vec<(usize, Attachment)>> = BTreeMap::new();
    for (i, net) in lab.nets.iter().enumerate() {
        for (j, member) in net.pod_members.iter().enumerate() {
            let a = net.attach_pod_node(t, (member, j), pod, ctx, problems);
            out.entry(member.clone())
                .or_default()
                .extend(a.map(|a| (i, a)));
        }
    }
    out
}

/// Every node of the pod as templates see it: its kind in this pod and
/// its interfaces, on links (with the peer's, on a link of two) and on
/// shared networks.
fn node_views(
    lab: &LabPlan,
    subnets: &[LinkSubnets],
    shared: &BTreeMap<String, Vec<(usize, Attachment)>>,
    kind_names: BTreeMap<String, String>,
) -> BTreeMap<String, NodeView> {
    let mut nodes: BTreeMap<String, NodeView> = kind_names
        .into_iter()
        .map(|(name, kind)| {
            (
                name,
                NodeView {
                    kind,
                    interfaces: BTreeMap::new(),
                },
            )
        })
        .collect();
    for (li, eps) in lab.ifaces.links.iter().enumerate() {
        let LinkSubnets { v4, v6 } = subnets[li];
        for (k, (node, iface)) in eps.iter().enumerate() {
            let mut entry = Interface::with(
                (v4.and_then(|n| nth(n, k as u32)), v4),
                (v6.and_then(|n| nth(n, k as u32)), v6),
            );
            if eps.len() == 2 {
                let other = 1 - k;
                let (peer, peer_iface) = &eps[other];
                entry.peer = Some(peer.clone());
                entry.peer_interface = Some(peer_iface.clone());
                entry.peer_ipv4_address = peer_address::<Ipv4Net>(v4, other);
                entry.peer_ipv6_address = peer_address::<Ipv6Net>(v6, other);
            }
            let view = nodes.entry(node.clone()).or_default();
            view.interfaces.insert(iface.clone(), entry);
        }
    }
    for (node, attached) in shared {
        for (i, a) in attached {
            let view = nodes.entry(node.clone()).or_default();
            view.interfaces
                .insert(a.interface.clone(), lab.nets[*i].interface(a));
        }
    }
    nodes
}

fn peer_address<N: super::addressing::Subnet>(subnet: Option<N>, k: usize) -> Option<String> {
    subnet.and_then(|n| nth(n, k as u32)).map(|a| a.to_string())
}

/// The pod's management network, then one network per link.
fn pod_networks(lab: &LabPlan, pod: u32) -> Vec<NetworkSpec> {
    let t = &lab.loaded.topology;
    let pod_base = lab.plumbing.pod_base(lab.block, pod);
    let mgmt = lab.plumbing.mgmt_subnet(pod_base);
    let mut networks = vec![network_spec(
        &t.name,
        pod,
        super::names::MGMT_NETWORK,
        mgmt,
        lab.block,
        false,
    )];
    for li in 0..t.links.len() {
        let subnet = lab.plumbing.link_subnet(pod_base, li);
        let role = format!("l{}", li + 1);
        networks.push(network_spec(&t.name, pod, &role, subnet, lab.block, false));
    }
    networks
}

/// The pod's node containers, and each node's context for its checks.
struct PodNodes {
    pod: u32,
    containers: Vec<ContainerSpec>,
    /// Each node's context for its checks, and its own vars that failed.
    contexts: BTreeMap<String, (Json, BTreeSet<String>)>,
}

impl PodNodes {
    /// Every node of the pod whose kind is known in it.
    fn plan(
        lab: &LabPlan,
        networks: &[NetworkSpec],
        subnets: &[LinkSubnets],
        mut shared: BTreeMap<String, Vec<(usize, Attachment)>>,
        kinds: &BTreeMap<&str, &'static Kind>,
        ctx: &Context,
        problems: &mut Problems,
    ) -> PodNodes {
        let t = &lab.loaded.topology;
        let pod = ctx.pod.unwrap_or_default();
        let mgmt = &networks[0];
        let mut links = lab.ifaces.link_attachments(subnets, &networks[1..]);
        let mut out = PodNodes {
            pod,
            containers: Vec::new(),
            contexts: BTreeMap::new(),
        };
        for (ni, (name, node)) in t.nodes.iter().enumerate() {
            let Some(&kind) = kinds.get(name.as_str()) else {
                continue;
            };
            let mut attached = links.remove(name).unwrap_or_default();
            attached.extend(shared.remove(name).into_iter().flatten().map(|(_, a)| a));
            let node_ctx = Context {
                node: Some(name.as_str()),
                interfaces: ctx.nodes.and_then(|n| n.get(name)).map(|n| &n.interfaces),
                ..ctx.clone()
            };
            let at = NodeAt {
                lab: &t.name,
                pod,
                name,
                node,
                kind,
                base: path!["nodes", name.as_str()],
                mgmt: Attachment::management(&mgmt.name, plumbing::nth_host(mgmt.subnet, ni)),
                mgmt_net: mgmt.subnet,
                links: attached,
                access: t.access.is_some(),
            };
            let planned = plan_node(lab.loaded, at, &node_ctx, problems);
            out.containers.extend(planned.spec);
            out.contexts
                .insert(name.clone(), (planned.context, planned.failed_vars));
        }
        out
    }

    /// The lab's checks, each with its node's context (a shared node's
    /// checks see this pod, with the shared node's interfaces).
    fn checks(
        &self,
        lab: &LabPlan,
        kinds: &BTreeMap<&str, &'static Kind>,
        ctx: &Context,
        problems: &mut Problems,
    ) -> Vec<CheckSpec> {
        let t = &lab.loaded.topology;
        let mut checks = Vec::new();
        for (ci, check) in t.checks.iter().enumerate() {
            let name = check.node.as_str();
            let shared_kind = t
                .shared
                .nodes
                .get(name)
                .and_then(|n| crate::kinds::lookup(&n.kind));
            let (json, kind, container) = match (self.contexts.get(name), shared_kind) {
                // A node whose kind did not render has no context (its
                // kind is reported already).
                (Some((json, _)), _) => (
                    json.clone(),
                    kinds[name],
                    container_name(&t.name, self.pod, name),
                ),
                (None, Some(kind)) => {
                    let json = Context {
                        node: Some(name),
                        interfaces: lab.shared.nodes.get(name).map(|n| &n.interfaces),
                        ..ctx.clone()
                    }
                    .to_json();
                    (json, kind, container_name(&t.name, SHARED_POD, name))
                }
                (None, None) => continue,
            };
            // A var of the node's that failed is reported where it is
            // written, not again by a check that uses it.
            let no_vars = BTreeSet::new();
            let failed = self.contexts.get(name).map_or(&no_vars, |(_, f)| f);
            let mut here = problems.nested_with(failed);
            checks.extend(render_check(check, ci, kind, &json, &container, &mut here));
            problems.absorb(here);
        }
        checks
    }
}
