//! Interface names and what each interface is attached to. One allocator
//! names every interface a node has: a name written in the topology is
//! reserved first, then each bare endpoint takes its node's lowest free
//! ethN, links in order, then shared networks (in network, then node
//! order). eth0 is always the management network's.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::addressing::{nth_net, LinkSubnets};
use super::{plumbing, Attachment, NetworkSpec};
use crate::topology::names::{interface_number, MGMT_INTERFACE};
use crate::topology::{parse_endpoint, Topology};

/// Every interface name of a lab, the same in every pod.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interfaces {
    /// Each link's endpoints, in order: (node, interface).
    pub links: Vec<Vec<(String, String)>>,
    /// Each shared network's members' interfaces: network -> node -> interface.
    pub shared: BTreeMap<String, BTreeMap<String, String>>,
}

/// The numbers of each node's interfaces taken so far.
#[derive(Default)]
struct Allocator {
    taken: BTreeMap<String, BTreeSet<u32>>,
}

impl Allocator {
    fn reserve(&mut self, node: &str, iface: &str) {
        if let Some(n) = interface_number(iface) {
            self.taken.entry(node.to_string()).or_default().insert(n);
        }
    }

    /// The node's lowest free ethN, taken.
    fn next(&mut self, node: &str) -> String {
        let taken = self.taken.entry(node.to_string()).or_default();
        let n = (1..).find(|n| !taken.contains(n)).unwrap_or(1);
        taken.insert(n);
        format!("eth{n}")
    }
}

impl Interfaces {
    pub fn assign(t: &Topology) -> Interfaces {
        let mut alloc = Allocator::default();
        let explicit_links =
            t.links
                .iter()
                .flat_map(|l| &l.endpoints)
                .filter_map(|ep| match parse_endpoint(ep) {
                    Ok((node, Some(iface))) => Some((node, iface)),
                    _ => None,
                });
        for (node, iface) in explicit_links {
            alloc.reserve(node, iface);
        }
        let links = t
            .links
            .iter()
            .map(|link| {
                link.endpoints
                    .iter()
                    .map(|ep| match parse_endpoint(ep) {
                        Ok((node, Some(iface))) => (node.to_string(), iface.to_string()),
                        Ok((node, None)) => (node.to_string(), alloc.next(node)),
                        // Refused on loading.
                        Err(_) => (ep.clone(), String::new()),
                    })
                    .collect()
            })
            .collect();
        for net in t.shared.networks.values() {
            for (node, a) in &net.attach {
                if let Some(iface) = &a.interface {
                    alloc.reserve(node, iface);
                }
            }
        }
        let mut shared: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (name, net) in &t.shared.networks {
            for (node, a) in &net.attach {
                let iface = a.interface.clone().unwrap_or_else(|| alloc.next(node));
                shared
                    .entry(name.clone())
                    .or_default()
                    .insert(node.clone(), iface);
            }
        }
        Interfaces { links, shared }
    }

    /// Each node's attachments to the pod's links (`networks`, one per
    /// link, in order), with the link's addresses in this pod.
    pub fn link_attachments(
        &self,
        subnets: &[LinkSubnets],
        networks: &[NetworkSpec],
    ) -> BTreeMap<String, Vec<Attachment>> {
        let mut out: BTreeMap<String, Vec<Attachment>> = BTreeMap::new();
        for (li, eps) in self.links.iter().enumerate() {
            let (subnet, net) = (subnets[li], &networks[li]);
            for (k, (node, iface)) in eps.iter().enumerate() {
                out.entry(node.clone()).or_default().push(Attachment {
                    network: net.name.clone(),
                    docker_ip: plumbing::nth_host(net.subnet, k),
                    interface: iface.clone(),
                    ipv4: subnet.v4.and_then(|n| nth_net(n, k as u32)),
                    ipv6: subnet.v6.and_then(|n| nth_net(n, k as u32)),
                });
            }
        }
        out
    }
}

impl Attachment {
    /// A node's attachment to its management network, as eth0.
    pub(crate) fn management(network: &str, docker_ip: Ipv4Addr) -> Attachment {
        Attachment {
            network: network.to_string(),
            docker_ip,
            interface: MGMT_INTERFACE.into(),
            ipv4: None,
            ipv6: None,
        }
    }
}

/// Attachments in the order of their interfaces' numbers (eth2 before eth10).
pub(crate) fn in_order(links: &mut [Attachment]) {
    links.sort_by_key(|a| interface_number(&a.interface).unwrap_or(0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_names_first_then_the_lowest_free_links_then_shared() {
        let source = "name: lab\nnodes:\n  r1: {kind: frr}\n  r2: {kind: frr}\nlinks:\n  - endpoints: [r1, r2]\n  - endpoints: [\"r1:eth1\", \"r2:eth3\"]\n  - endpoints: [r1, r2]\nshared:\n  networks:\n    ixp:\n      attach: {r1: {}, r2: {interface: eth5}}\n";
        let ifaces = Interfaces::assign(&crate::topology::topology_for_tests(source));
        let names: Vec<Vec<&str>> = ifaces
            .links
            .iter()
            .map(|eps| eps.iter().map(|(_, i)| i.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            [["eth2", "eth1"], ["eth1", "eth3"], ["eth3", "eth2"]]
        );
        assert_eq!(ifaces.shared["ixp"]["r1"], "eth4");
        assert_eq!(ifaces.shared["ixp"]["r2"], "eth5");
    }
}
