//! What is unique to the lab-wide pod (pod label `shared`): the shared
//! networks (the IXP LAN, a service network), planned before the pods
//! since pods attach to them, what templates see of them, and the shared
//! nodes (the route server, the transit provider, the DNS root), planned
//! after the pods since their templates see every pod.

use std::collections::BTreeMap;

use ipnet::{Ipv4Net, Ipv6Net};
use serde_json::Value as Json;

use super::addressing::{shared_address, shared_subnet};
use super::context::{Context, Interface, NodeView, PodView, SharedNetworkView, SharedView, Vars};
use super::interfaces::Interfaces;
use super::names::{container_name, network_spec, SHARED_POD};
use super::node::{plan_node, NodeAt};
use super::problems::Problems;
use super::{plumbing, Attachment, LabPlan, NetworkSpec, PodPlan};
use crate::topology::spans::Path;
use crate::topology::Topology;

/// One shared network with its members and the shared nodes' attachments.
pub(crate) struct SharedNet {
    pub name: String,
    pub spec: NetworkSpec,
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

fn attach_path(network: &str, member: &str, field: &str) -> Path {
    path!["shared", "networks", network, "attach", member, field]
}

/// The shared networks: their subnets and the shared nodes' addresses,
/// rendered with what a shared network's templates see (`lab`, `pods`).
pub(crate) fn networks(
    t: &Topology,
    layout: (&plumbing::Plumbing, Ipv4Net),
    pods: u32,
    ifaces: &Interfaces,
    problems: &mut Problems,
) -> Vec<SharedNet> {
    let (plumbing, block) = layout;
    let ctx = Context {
        lab: &t.name,
        pods,
        ..Context::default()
    }
    .to_json();
    let mut out = Vec::new();
    for (i, (name, net)) in t.shared.networks.iter().enumerate() {
        let here = |field: &str| path!["shared", "networks", name.as_str(), field];
        let v4 = shared_subnet(net.ipv4.as_deref(), &ctx, here("ipv4"), problems);
        let v6 = shared_subnet(net.ipv6.as_deref(), &ctx, here("ipv6"), problems);
        let (pod_members, lab_members): (Vec<String>, Vec<String>) = net
            .attach
            .keys()
            .cloned()
            .partition(|n| t.nodes.contains_key(n));
        let subnet = plumbing.shared_subnet(block, i);
        let spec = network_spec(&t.name, SHARED_POD, name, subnet, block, false);
        let mut shared = SharedNet {
            name: name.clone(),
            spec,
            v4,
            v6,
            lab_members,
            pod_members,
            ifaces: ifaces.shared.get(name).cloned().unwrap_or_default(),
            lab_attach: BTreeMap::new(),
        };
        for (k, member) in shared.lab_members.iter().enumerate() {
            let a = shared.attachment(t, member, k, &ctx, problems);
            shared.lab_attach.extend(a.map(|a| (member.clone(), a)));
        }
        out.push(shared);
    }
    out
}

impl SharedNet {
    /// The attachment of `member` as the network's `k`-th endpoint, its
    /// addresses rendered with `ctx`.
    fn attachment(
        &self,
        t: &Topology,
        member: &str,
        k: usize,
        ctx: &Json,
        problems: &mut Problems,
    ) -> Option<Attachment> {
        let a = t.shared.networks.get(&self.name)?.attach.get(member)?;
        let at = |f: &str| attach_path(&self.name, member, f);
        let ipv4 = shared_address(a.ipv4.as_deref(), self.v4, ctx, at("ipv4"), problems);
        let ipv6 = shared_address(a.ipv6.as_deref(), self.v6, ctx, at("ipv6"), problems);
        Some(Attachment {
            network: self.spec.name.clone(),
            docker_ip: plumbing::nth_host(self.spec.subnet, k),
            interface: self.ifaces.get(member).cloned().unwrap_or_default(),
            ipv4,
            ipv6,
        })
    }

    /// The `j`-th pod member's attachment in `pod`, its addresses rendered
    /// with the pod's context: after the shared nodes, every pod's members.
    pub fn attach_pod_node(
        &self,
        t: &Topology,
        (member, j): (&str, usize),
        pod: u32,
        ctx: &Json,
        problems: &mut Problems,
    ) -> Option<Attachment> {
        let k = self.lab_members.len() + (pod as usize - 1) * self.pod_members.len() + j;
        self.attachment(t, member, k, ctx, problems)
    }

    /// An attachment to this network as templates see it.
    pub fn interface(&self, a: &Attachment) -> Interface {
        Interface {
            network: Some(self.name.clone()),
            ..Interface::with(
                (a.ipv4.map(|n| n.addr()), a.ipv4.and(self.v4)),
                (a.ipv6.map(|n| n.addr()), a.ipv6.and(self.v6)),
            )
        }
    }
}

/// What templates see as `shared`: the networks' subnets and the shared
/// nodes' interfaces on them.
pub(crate) fn view(t: &Topology, nets: &[SharedNet]) -> SharedView {
    let mut nodes: BTreeMap<String, NodeView> = t
        .shared
        .nodes
        .iter()
        .map(|(name, n)| {
            let kind = n.kind.clone();
            (
                name.clone(),
                NodeView {
                    kind,
                    interfaces: BTreeMap::new(),
                },
            )
        })
        .collect();
    let mut networks = BTreeMap::new();
    for net in nets {
        let subnets = SharedNetworkView {
            ipv4: net.v4.map(|n| n.to_string()),
            ipv6: net.v6.map(|n| n.to_string()),
        };
        networks.insert(net.name.clone(), subnets);
        for (node, a) in &net.lab_attach {
            let entry = nodes.entry(node.clone()).or_default();
            entry
                .interfaces
                .insert(a.interface.clone(), net.interface(a));
        }
    }
    SharedView { networks, nodes }
}

/// The lab-wide pod: its management network, the shared networks and the
/// shared nodes, whose templates see every pod as `all_pods`.
pub(crate) fn plan(
    lab: &LabPlan,
    all_pods: &[PodView],
    problems: &mut Problems,
) -> Option<PodPlan> {
    let t = &lab.loaded.topology;
    if t.shared.nodes.is_empty() && lab.nets.is_empty() {
        return None;
    }
    let mut networks = Vec::new();
    let mgmt_net = lab.plumbing.shared_mgmt_subnet(lab.block);
    let mgmt_name = container_name(&t.name, SHARED_POD, "mgmt");
    if !t.shared.nodes.is_empty() {
        networks.push(network_spec(
            &t.name,
            SHARED_POD,
            super::names::MGMT_NETWORK,
            mgmt_net,
            lab.block,
            false,
        ));
    }
    networks.extend(lab.nets.iter().map(|n| n.spec.clone()));
    let no_vars = Vars::new();
    let mut containers = Vec::new();
    for (ni, (name, node)) in t.shared.nodes.iter().enumerate() {
        let ctx = Context {
            node: Some(name.as_str()),
            vars: Some(&no_vars),
            interfaces: lab.shared.nodes.get(name).map(|n| &n.interfaces),
            nodes: Some(&lab.shared.nodes),
            shared: Some(&lab.shared),
            all_pods: Some(all_pods),
            ..lab.context()
        };
        // A shared node's kind is written as it is (checked on loading).
        let Some(kind) = crate::kinds::lookup(&node.kind) else {
            continue;
        };
        let at = NodeAt {
            lab: &t.name,
            pod: SHARED_POD,
            name,
            node,
            kind,
            base: path!["shared", "nodes", name.as_str()],
            mgmt: Attachment::management(&mgmt_name, plumbing::nth_host(mgmt_net, ni)),
            mgmt_net,
            links: lab
                .nets
                .iter()
                .filter_map(|n| n.lab_attach.get(name).cloned())
                .collect(),
            access: false,
        };
        containers.extend(plan_node(lab.loaded, at, &ctx, problems).spec);
    }
    Some(PodPlan {
        pod: SHARED_POD,
        networks,
        containers,
        checks: Vec::new(),
    })
}
