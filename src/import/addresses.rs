//! The addresses a containerlab lab sets on its interfaces (in FRR's
//! `interface` blocks, in `ip addr add` exec lines), and its links made
//! into noglab links: a link's subnet is taken when its two ends hold the
//! two addresses noglab would give them (the subnet's first two usable),
//! and the lines that set them are then the plan's to set.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::nodes::Node;
use super::read::{is_bridge, Clab, End};
use super::Said;
use crate::plan::addressing::nth;
use crate::topology::names::{interface_number, MAX_INTERFACES};
use crate::topology::spans::Path as YamlPath;

/// A link as noglab writes it: its ends in the order the plan addresses
/// them, and the subnets taken from the configs.
#[derive(Debug)]
pub(crate) struct Link {
    /// (noglab node name, interface): two, or more on a LAN.
    pub ends: Vec<(String, String)>,
    pub ipv4: Option<IpNet>,
    pub ipv6: Option<IpNet>,
    /// Where each subnet was read: `r1's frr.conf`, `h1's exec lines`.
    pub from: Vec<String>,
}

/// Where an address is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A line of the node's config.
    Line(usize),
    /// One of the node's exec lines.
    Exec(usize),
}

#[derive(Debug, Clone)]
struct Addr {
    iface: String,
    net: IpNet,
    source: Source,
}

/// The addresses in FRR's `interface NAME` blocks: `ip address A/L`,
/// `ipv6 address A/L`, with their line indexes.
pub(crate) fn frr_addresses(text: &str) -> Vec<(String, IpNet, usize)> {
    let mut out = Vec::new();
    let mut iface: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let indented = line.starts_with([' ', '\t']);
        match words[..] {
            ["interface", name, ..] if !indented => iface = Some(name.to_string()),
            ["ip" | "ipv6", "address", addr] if indented || iface.is_some() => {
                if let (Some(name), Ok(net)) = (&iface, addr.parse::<IpNet>()) {
                    out.push((name.clone(), net, i));
                }
            }
            ["!"] | ["exit"] => iface = None,
            [] => {}
            _ if !indented => iface = None,
            _ => {}
        }
    }
    out
}

/// `ip [-4|-6] addr add A/L dev NAME` (and `ip a a`, `ip address add`):
/// the interface and the address.
pub(crate) fn exec_address(line: &str) -> Option<(String, IpNet)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let rest = match words.first() {
        Some(&"ip") => &words[1..],
        _ => return None,
    };
    let rest = match rest.first() {
        Some(&"-4") | Some(&"-6") => &rest[1..],
        _ => rest,
    };
    match rest {
        [obj, verb, addr, "dev", dev]
            if ["a", "addr", "address"].contains(obj) && ["a", "add"].contains(verb) =>
        {
            Some((dev.to_string(), addr.parse().ok()?))
        }
        _ => None,
    }
}

fn addresses(node: &Node) -> Vec<Addr> {
    let mut out = Vec::new();
    if node.kind == "frr" {
        if let Some(config) = &node.config {
            for (iface, net, line) in frr_addresses(&config.text) {
                out.push(Addr {
                    iface,
                    net,
                    source: Source::Line(line),
                });
            }
        }
    }
    for (i, line) in node.exec.iter().enumerate() {
        if let Some((iface, net)) = exec_address(&line.text) {
            out.push(Addr {
                iface,
                net,
                source: Source::Exec(i),
            });
        }
    }
    out
}

fn source_name(node: &Node, source: Source) -> String {
    match source {
        Source::Line(_) => format!(
            "{}'s {}",
            node.name,
            node.config
                .as_ref()
                .map(|c| c.dest.rsplit('/').next().unwrap_or("config"))
                .unwrap_or("config")
        ),
        Source::Exec(_) => format!("{}'s exec lines", node.name),
    }
}

/// Link interfaces noglab cannot name (`net0`, `e1`, `eth0`) get each
/// node's lowest ethN that no link of the file names.
fn rename_interfaces(
    clab: &Clab,
    index: &BTreeMap<String, usize>,
    nodes: &mut [Node],
    said: &mut Said,
) {
    let ends = || {
        clab.links
            .iter()
            .flat_map(|l| &l.ends)
            .filter_map(|e| index.get(&e.node).map(|&i| (i, e)))
    };
    let mut taken: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for (i, e) in ends() {
        if let Some(n) = interface_number(&e.iface) {
            taken.entry(i).or_default().push(n);
        }
    }
    for (i, e) in ends() {
        if interface_number(&e.iface).is_some() || nodes[i].renamed.contains_key(&e.iface) {
            continue;
        }
        let used = taken.entry(i).or_default();
        let Some(n) = (1..=MAX_INTERFACES).find(|n| !used.contains(n)) else {
            continue;
        };
        used.push(n);
        let new = format!("eth{n}");
        said.changed(
            &e.path,
            format!(
                "interface `{}` of `{}` is {new} in noglab (its lab interfaces are eth1 to eth{MAX_INTERFACES}), in its configs and exec lines too",
                e.iface, e.node
            ),
        );
        nodes[i].renamed.insert(e.iface.clone(), new);
    }
}

pub(crate) fn links(clab: &Clab, nodes: &mut [Node], said: &mut Said) -> Vec<Link> {
    let index: BTreeMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clab.clone(), i))
        .collect();
    let addrs: Vec<Vec<Addr>> = nodes.iter().map(addresses).collect();
    let mut used: BTreeMap<(usize, String), ()> = BTreeMap::new();
    rename_interfaces(clab, &index, nodes, said);
    let mut out = Vec::new();
    'groups: for (path, bridge, group) in groups(clab, said) {
        if group.len() < 2 {
            said.dropped(
                &path,
                format!(
                    "bridge `{}` is not converted: it has one member, and a noglab LAN has two or more",
                    bridge.unwrap_or_default()
                ),
            );
            continue;
        }
        let mut ends = Vec::new();
        for end in &group {
            let Some(&i) = index.get(&end.node) else {
                said.dropped(
                    &end.path,
                    format!(
                        "link to `{}:{}` is not converted: node `{}` is not",
                        end.node, end.iface, end.node
                    ),
                );
                continue 'groups;
            };
            if used.insert((i, end.iface.clone()), ()).is_some() {
                said.problem(
                    &end.path,
                    format!("`{}:{}` is on another link already", end.node, end.iface),
                );
                continue 'groups;
            }
            ends.push((i, end.iface.clone()));
        }
        let mut ranks: Option<Vec<usize>> = None;
        let mut nets = [None, None];
        let mut from = Vec::new();
        for (f, v6) in [(0, false), (1, true)] {
            let found: Vec<Option<Addr>> = ends
                .iter()
                .map(|(n, iface)| {
                    addrs[*n]
                        .iter()
                        .find(|x| x.iface == *iface && x.net.addr().is_ipv6() == v6)
                        .cloned()
                })
                .collect();
            let family = if v6 { "IPv6" } else { "IPv4" };
            if found.iter().all(Option::is_none) {
                continue;
            }
            let Some(found) = found.into_iter().collect::<Option<Vec<Addr>>>() else {
                said.changed(
                    &path,
                    format!("the {family} addresses of only some ends stay in their nodes' configs or exec lines: noglab addresses a link's ends together"),
                );
                continue;
            };
            let written: Vec<IpNet> = found.iter().map(|a| a.net).collect();
            match order_of(&written) {
                Some((net, r)) if ranks.as_ref().is_none_or(|o| *o == r) => {
                    ranks = Some(r);
                    nets[f] = Some(net);
                    for ((n, _), addr) in ends.iter().zip(&found) {
                        let node = &mut nodes[*n];
                        match addr.source {
                            Source::Line(l) => {
                                let iface = node.interface(&addr.iface);
                                node.adopted_lines.insert(l, iface);
                            }
                            Source::Exec(e) => {
                                node.adopted_exec.insert(e);
                            }
                        }
                        let s = source_name(node, addr.source);
                        if !from.contains(&s) {
                            from.push(s);
                        }
                    }
                }
                _ => {
                    let list: Vec<String> = written.iter().map(ToString::to_string).collect();
                    said.changed(
                        &path,
                        format!(
                            "{} stay in their nodes' configs: noglab gives a link's ends its subnet's first usable addresses, in order",
                            list.join(", ")
                        ),
                    );
                }
            }
        }
        let mut named: Vec<(usize, (String, String))> = ends
            .iter()
            .enumerate()
            .map(|(k, (n, iface))| {
                let rank = ranks.as_ref().map_or(k, |r| r[k]);
                (rank, (nodes[*n].name.clone(), nodes[*n].interface(iface)))
            })
            .collect();
        named.sort_by_key(|(rank, _)| *rank);
        out.push(Link {
            ends: named.into_iter().map(|(_, e)| e).collect(),
            ipv4: nets[0],
            ipv6: nets[1],
            from,
        });
    }
    out
}

/// The lab's wires: each link between two nodes, and each bridge's
/// members as one LAN (at the bridge, with its name).
fn groups<'a>(clab: &'a Clab, said: &mut Said) -> Vec<(YamlPath, Option<String>, Vec<&'a End>)> {
    let bridges: BTreeMap<&str, &YamlPath> = clab
        .nodes
        .iter()
        .filter(|n| is_bridge(n))
        .map(|n| (n.name.as_str(), &n.path))
        .collect();
    let mut out: Vec<(YamlPath, Option<String>, Vec<&End>)> = Vec::new();
    let mut lans: BTreeMap<&str, usize> = BTreeMap::new();
    for link in &clab.links {
        let on: Vec<&End> = link
            .ends
            .iter()
            .filter(|e| bridges.contains_key(e.node.as_str()))
            .collect();
        match on[..] {
            [] => out.push((link.path.clone(), None, link.ends.iter().collect())),
            [bridge] => {
                let member = link
                    .ends
                    .iter()
                    .find(|e| !bridges.contains_key(e.node.as_str()))
                    .expect("a link's other end");
                let name = bridge.node.as_str();
                let g = *lans.entry(name).or_insert_with(|| {
                    out.push((bridges[name].clone(), Some(name.to_string()), Vec::new()));
                    out.len() - 1
                });
                out[g].2.push(member);
            }
            _ => said.dropped(
                &link.path,
                "a link between two bridges is not converted: noglab's LANs are between nodes",
            ),
        }
    }
    out
}

/// Whether a list of written addresses is what the plan gives ends in
/// some order: the subnet, and each end's rank.
fn order_of(nets: &[IpNet]) -> Option<(IpNet, Vec<usize>)> {
    let first = nets.first()?;
    let net = first.trunc();
    if nets
        .iter()
        .any(|n| n.prefix_len() != first.prefix_len() || n.trunc() != net)
    {
        return None;
    }
    let nth_addr = |k: usize| -> Option<IpAddr> {
        let k = u32::try_from(k).ok()?;
        match net {
            IpNet::V4(n) => nth(n, k).map(Into::into),
            IpNet::V6(n) => nth(n, k).map(Into::into),
        }
    };
    let wanted: Vec<IpAddr> = (0..nets.len()).map(nth_addr).collect::<Option<_>>()?;
    let mut ranks = Vec::new();
    for n in nets {
        let k = wanted.iter().position(|w| *w == n.addr())?;
        if ranks.contains(&k) {
            return None;
        }
        ranks.push(k);
    }
    Some((net, ranks))
}

/// [`order_of`] for two ends: the subnet, and whether they swap.
#[cfg(test)]
fn subnet_of(a: IpNet, b: IpNet) -> Option<(IpNet, bool)> {
    order_of(&[a, b]).map(|(net, r)| (net, r[0] == 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frr_interface_blocks_give_their_addresses_and_nothing_else() {
        let conf = "interface eth1\n ip address 10.0.0.1/30\n ipv6 address 2001:db8::1/64\nexit\n!\ninterface lo\n ip address 10.255.0.1/32\n!\nrouter bgp 1\n neighbor 10.0.0.2 remote-as 2\n ip address 192.0.2.1/24\n";
        let got: Vec<(String, String, usize)> = frr_addresses(conf)
            .into_iter()
            .map(|(i, n, l)| (i, n.to_string(), l))
            .collect();
        assert_eq!(
            got,
            [
                ("eth1".into(), "10.0.0.1/30".into(), 1),
                ("eth1".into(), "2001:db8::1/64".into(), 2),
                ("lo".into(), "10.255.0.1/32".into(), 6),
            ]
        );
    }

    #[test]
    fn exec_lines_that_add_an_address_are_read_in_their_usual_spellings() {
        for line in [
            "ip addr add 10.0.0.2/24 dev eth1",
            "ip address add 10.0.0.2/24 dev eth1",
            "ip -4 a a 10.0.0.2/24 dev eth1",
        ] {
            let (iface, net) = exec_address(line).expect(line);
            assert_eq!(
                (iface.as_str(), net.to_string().as_str()),
                ("eth1", "10.0.0.2/24")
            );
        }
        assert_eq!(exec_address("ip route add 10.0.0.0/8 via 10.0.0.1"), None);
        assert_eq!(
            exec_address("ip addr add 10.0.0.2/24 dev eth1 label x"),
            None
        );
    }

    #[test]
    fn a_subnet_is_taken_only_when_the_ends_hold_its_first_two_addresses() {
        let n = |s: &str| s.parse::<IpNet>().expect("net");
        let net = |s: &str| Some((n(s), false));
        assert_eq!(
            subnet_of(n("10.0.0.1/30"), n("10.0.0.2/30")),
            net("10.0.0.0/30")
        );
        assert_eq!(
            subnet_of(n("10.0.0.2/30"), n("10.0.0.1/30")),
            Some((n("10.0.0.0/30"), true))
        );
        assert_eq!(
            subnet_of(n("10.0.0.0/31"), n("10.0.0.1/31")),
            net("10.0.0.0/31")
        );
        assert_eq!(
            subnet_of(n("2001:db8::1/64"), n("2001:db8::2/64")),
            net("2001:db8::/64")
        );
        // Not the first two, two subnets, two lengths: left in the configs.
        assert_eq!(subnet_of(n("10.0.0.1/24"), n("10.0.0.10/24")), None);
        assert_eq!(subnet_of(n("10.0.0.1/30"), n("10.0.1.2/30")), None);
        assert_eq!(subnet_of(n("10.0.0.1/30"), n("10.0.0.2/29")), None);
    }
}
