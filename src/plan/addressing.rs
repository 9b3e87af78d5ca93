//! Lab addresses: which addresses of a subnet are usable and which one
//! the k-th endpoint gets (one set of rules for IPv4 and IPv6, through
//! [`Subnet`]), each pod's link subnets, addresses on shared networks, and
//! the checks that no two links of a pod, and no two nodes on a shared
//! network, share an address.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde_json::Value as Json;

use super::problems::Problems;
use super::Attachment;
use crate::topology::spans::Path;
use crate::topology::{Loaded, Topology};

/// An IPv4 or IPv6 subnet, for the rules that are the same for both.
pub trait Subnet: Copy + Display + PartialEq {
    type Addr: Copy + Display;
    /// The topology's field for it: `ipv4` or `ipv6`.
    const FIELD: &'static str;
    /// Its name in messages: `IPv4`.
    const WORD: &'static str;
    /// A subnet written as it should be, for messages.
    const EXAMPLE: &'static str;
    /// Bits of an address.
    const BITS: u8;
    /// Addresses of a subnet no endpoint gets, but on a point-to-point
    /// subnet (/31, /127: RFC 3021, RFC 6164): IPv4's network and
    /// broadcast, IPv6's subnet-router anycast.
    const RESERVED: u128;

    fn parse_text(text: &str) -> Option<Self>;
    fn new(addr: Self::Addr, prefix: u8) -> Option<Self>;
    fn prefix(self) -> u8;
    fn addr(self) -> Self::Addr;
    fn network(self) -> Self::Addr;
    fn trunc(self) -> Self;
    fn contains(self, addr: Self::Addr) -> bool;
    fn bits(addr: Self::Addr) -> u128;
    fn from_bits(bits: u128) -> Self::Addr;
    /// An address of this family, if `ip` is one.
    fn of(ip: IpAddr) -> Option<Self::Addr>;
}

macro_rules! subnet {
    ($net:ty, $addr:ty, $int:ty, $ip:ident, $field:literal, $word:literal, $example:literal, $bits:literal, $reserved:literal) => {
        impl Subnet for $net {
            type Addr = $addr;
            const FIELD: &'static str = $field;
            const WORD: &'static str = $word;
            const EXAMPLE: &'static str = $example;
            const BITS: u8 = $bits;
            const RESERVED: u128 = $reserved;

            fn parse_text(text: &str) -> Option<Self> {
                text.parse().ok()
            }
            fn new(addr: $addr, prefix: u8) -> Option<Self> {
                <$net>::new(addr, prefix).ok()
            }
            fn prefix(self) -> u8 {
                self.prefix_len()
            }
            fn addr(self) -> $addr {
                <$net>::addr(&self)
            }
            fn network(self) -> $addr {
                <$net>::network(&self)
            }
            fn trunc(self) -> Self {
                <$net>::trunc(&self)
            }
            fn contains(self, addr: $addr) -> bool {
                <$net>::contains(&self, &addr)
            }
            fn bits(addr: $addr) -> u128 {
                u128::from(<$int>::from(addr))
            }
            fn from_bits(bits: u128) -> $addr {
                // Only ever called with an address inside a subnet.
                <$addr>::from(bits as $int)
            }
            fn of(ip: IpAddr) -> Option<$addr> {
                match ip {
                    IpAddr::$ip(a) => Some(a),
                    _ => None,
                }
            }
        }
    };
}

subnet!(
    Ipv4Net,
    Ipv4Addr,
    u32,
    V4,
    "ipv4",
    "IPv4",
    "100.64.1.0/29",
    32,
    2
);
subnet!(
    Ipv6Net,
    Ipv6Addr,
    u128,
    V6,
    "ipv6",
    "IPv6",
    "2001:db8:1::/64",
    128,
    1
);

/// Parses a rendered subnet and insists on a network address, so
/// `100.64.1.5/29` is caught rather than silently moved.
pub fn parse<N: Subnet>(text: &str) -> Result<N, String> {
    let net = N::parse_text(text.trim())
        .ok_or_else(|| format!("`{text}` is not an {} subnet like {}", N::WORD, N::EXAMPLE))?;
    if N::bits(net.network()) != N::bits(net.addr()) {
        return Err(format!(
            "`{text}` has host bits set; the subnet is {}",
            net.trunc()
        ));
    }
    Ok(net)
}

/// How many endpoints a subnet can address.
pub fn usable<N: Subnet>(net: N) -> u128 {
    let host_bits = u32::from(N::BITS - net.prefix());
    match host_bits {
        0 => 0,
        1 => 2,
        128 => u128::MAX,
        h => (1u128 << h) - N::RESERVED,
    }
}

/// Insists that `net` has an address for each of `n` endpoints, naming
/// the smallest subnet that would.
pub fn fits<N: Subnet>(net: N, n: u32) -> Result<N, String> {
    if usable(net) >= u128::from(n) {
        return Ok(net);
    }
    let fit = (0..N::BITS)
        .rev()
        .find(|&p| usable(N::new(net.network(), p).unwrap_or(net)) >= u128::from(n))
        .unwrap_or(0);
    Err(format!(
        "subnet {net} has {} usable address{} for {n} endpoints; use a /{fit} or larger",
        usable(net),
        if usable(net) == 1 { "" } else { "es" }
    ))
}

/// The address endpoint `k` (from 0) gets: the (k+1)-th usable address.
pub fn nth<N: Subnet>(net: N, k: u32) -> Option<N::Addr> {
    if u128::from(k) >= usable(net) {
        return None;
    }
    let first = if net.prefix() == N::BITS - 1 { 0 } else { 1 };
    Some(N::from_bits(N::bits(net.network()) + first + u128::from(k)))
}

/// Endpoint `k`'s address with the subnet's prefix.
pub fn nth_net<N: Subnet>(net: N, k: u32) -> Option<N> {
    nth(net, k).and_then(|a| N::new(a, net.prefix()))
}

fn overlap<N: Subnet>(x: N, y: N) -> bool {
    x.contains(y.network()) || y.contains(x.network())
}

/// One link's subnets in one pod.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LinkSubnets {
    pub v4: Option<Ipv4Net>,
    pub v6: Option<Ipv6Net>,
}

/// Every link's subnets in one pod, rendered with the pod's context,
/// each fitting its endpoints, no two overlapping.
pub(crate) fn link_subnets(t: &Topology, ctx: &Json, problems: &mut Problems) -> Vec<LinkSubnets> {
    let links: Vec<LinkSubnets> = t
        .links
        .iter()
        .enumerate()
        .map(|(li, link)| {
            let n = link.endpoints.len() as u32;
            LinkSubnets {
                v4: link_subnet(link.ipv4.as_deref(), li, n, ctx, problems),
                v6: link_subnet(link.ipv6.as_deref(), li, n, ctx, problems),
            }
        })
        .collect();
    for (i, a) in links.iter().enumerate() {
        for (j, b) in links.iter().enumerate().take(i) {
            overlaps(a.v4, b.v4, (i, j), problems);
            overlaps(a.v6, b.v6, (i, j), problems);
        }
    }
    links
}

fn link_subnet<N: Subnet>(
    template: Option<&str>,
    li: usize,
    endpoints: u32,
    ctx: &Json,
    problems: &mut Problems,
) -> Option<N> {
    let path = path!["links", li, N::FIELD];
    let text = problems.render(template?, ctx, path.clone())?;
    parse(&text)
        .and_then(|net| fits(net, endpoints))
        .map_err(|message| problems.push(path, message))
        .ok()
}

/// Link `i`'s subnet must not share addresses with link `j`'s.
fn overlaps<N: Subnet>(
    x: Option<N>,
    y: Option<N>,
    (i, j): (usize, usize),
    problems: &mut Problems,
) {
    if let (Some(x), Some(y)) = (x, y) {
        if overlap(x, y) {
            problems.push(
                path!["links", i, N::FIELD],
                format!("subnet {x} overlaps {y} of link {}", j + 1),
            );
        }
    }
}

/// A shared network's subnet, rendered with the lab's context.
pub(crate) fn shared_subnet<N: Subnet>(
    template: Option<&str>,
    ctx: &Json,
    path: Path,
    problems: &mut Problems,
) -> Option<N> {
    let text = problems.render(template?, ctx, path.clone())?;
    parse(&text).map_err(|m| problems.push(path, m)).ok()
}

/// A node's address on a shared network: written bare, inside the
/// network's subnet, and given the subnet's prefix.
pub(crate) fn shared_address<N: Subnet>(
    template: Option<&str>,
    subnet: Option<N>,
    ctx: &Json,
    path: Path,
    problems: &mut Problems,
) -> Option<N> {
    let (template, subnet) = (template?, subnet?);
    let text = problems.render(template, ctx, path.clone())?;
    let text = text.trim();
    let parsed = text
        .parse::<IpAddr>()
        .map_err(|_| format!("`{text}` is not an address (write it without a prefix)"))
        .and_then(|ip| match N::of(ip).filter(|a| subnet.contains(*a)) {
            Some(a) => N::new(a, subnet.prefix())
                .ok_or_else(|| format!("{a} has no /{} network", subnet.prefix())),
            None => Err(format!(
                "{ip} is not in the network's {} subnet {subnet}",
                N::WORD
            )),
        });
    parsed.map_err(|m| problems.push(path, m)).ok()
}

/// One endpoint on a shared network: a shared node's (no pod), or a pod
/// node's in one pod.
pub(crate) struct Endpoint<'a> {
    pub node: &'a str,
    pub pod: Option<u32>,
    pub attachment: &'a Attachment,
}

impl Endpoint<'_> {
    /// Who it is, its interface and where its address is written:
    /// `shared node rs (eth1, at lab.yml:12:21)`, `r1 of pod 2 (eth1, at ...)`.
    fn describe(&self, at: &str) -> String {
        let who = match self.pod {
            Some(pod) => format!("{} of pod {pod}", self.node),
            None => format!("shared node {}", self.node),
        };
        format!("{who} ({}, at {at})", self.attachment.interface)
    }
}

/// No address is given twice on shared network `name` (e.g. a template
/// that forgot the pod number, or a shared node's fixed address that a
/// pod node's template also gives): `endpoints` are the shared nodes',
/// then every pod's, in order. A clash is said once per place, naming
/// both endpoints with where each address is written, at the one whose
/// address should change.
pub(crate) fn duplicate_addresses(
    loaded: &Loaded,
    name: &str,
    endpoints: &[Endpoint],
    problems: &mut Problems,
) {
    let mut seen: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for (i, e) in endpoints.iter().enumerate() {
        let a = e.attachment;
        let addrs = [
            a.ipv4.map(|n| ("ipv4", IpAddr::V4(n.addr()))),
            a.ipv6.map(|n| ("ipv6", IpAddr::V6(n.addr()))),
        ];
        for (family, ip) in addrs.into_iter().flatten() {
            let Some(&first) = seen.get(&ip) else {
                seen.insert(ip, i);
                continue;
            };
            let first = &endpoints[first];
            let path_of =
                |e: &Endpoint| path!["shared", "networks", name, "attach", e.node, family];
            // A shared node's fixed address is the one to move, not every
            // pod's; otherwise the later endpoint's.
            let fix = if first.pod.is_none() && e.pod.is_some() {
                first
            } else {
                e
            };
            let path = path_of(fix);
            if problems.has_at(&path) {
                continue;
            }
            let (a_at, b_at) = (loaded.place(&path_of(first)), loaded.place(&path_of(e)));
            let hint = clash_hint(name, (first, e), ip);
            problems.push(
                path,
                format!(
                    "{ip} on shared network `{name}` is given to both {} and {}; {hint}",
                    first.describe(&a_at),
                    e.describe(&b_at)
                ),
            );
        }
    }
}

/// What to do about two endpoints given the same address `ip`.
fn clash_hint(name: &str, (a, b): (&Endpoint, &Endpoint), ip: IpAddr) -> String {
    match (a.pod, b.pod) {
        // The same in two pods: the node's address does not follow the
        // pod, so a template that does (the example) is not what it has.
        (Some(_), Some(_)) if a.node == b.node => match per_pod_example(ip) {
            Some(example) => {
                format!("make a pod node's address a template of the pod, like `{example}`")
            }
            None => "make a pod node's address a template of the pod, different in every pod"
                .to_string(),
        },
        (Some(_), Some(_)) => format!(
            "give {} and {} addresses of their own in every pod, e.g. each its own range with `pod` added to a different first address",
            a.node, b.node
        ),
        (None, Some(_)) | (Some(_), None) => {
            let (shared, pod) = if a.pod.is_none() { (a, b) } else { (b, a) };
            format!(
                "give shared node {} an address that no pod node gets on `{name}`, or change {}'s address there so that no pod gets {ip}",
                shared.node, pod.node
            )
        }
        (None, None) => "give each shared node an address of its own".to_string(),
    }
}

/// A template of the pod that starts from `ip`: `198.51.100.{{ 10 + pod }}`
/// for 198.51.100.10. IPv6 has no such simple form here.
fn per_pod_example(ip: IpAddr) -> Option<String> {
    let IpAddr::V4(v4) = ip else { return None };
    let [a, b, c, d] = v4.octets();
    Some(format!("{a}.{b}.{c}.{{{{ {d} + pod }}}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Net {
        parse(s).expect("valid")
    }

    fn v6(s: &str) -> Ipv6Net {
        parse(s).expect("valid")
    }

    #[test]
    fn slash31_uses_both_addresses() {
        let n = v4("100.64.3.0/31");
        assert_eq!(nth(n, 0), Some("100.64.3.0".parse().expect("ip")));
        assert_eq!(nth(n, 1), Some("100.64.3.1".parse().expect("ip")));
        assert_eq!(nth(n, 2), None);
    }

    #[test]
    fn slash29_skips_network_and_broadcast() {
        let n = v4("100.64.1.0/29");
        assert_eq!(usable(n), 6);
        assert_eq!(nth(n, 0), Some("100.64.1.1".parse().expect("ip")));
        assert_eq!(nth(n, 5), Some("100.64.1.6".parse().expect("ip")));
        assert_eq!(nth(n, 6), None);
        assert_eq!(usable(v4("100.64.1.1/32")), 0);
        assert_eq!(usable(v4("0.0.0.0/0")), (1 << 32) - 2);
    }

    #[test]
    fn ipv6_counts_from_one_except_slash127() {
        let n = v6("2001:db8:1:1::/64");
        assert_eq!(nth(n, 0), Some("2001:db8:1:1::1".parse().expect("ip")));
        let p = v6("2001:db8:1::/127");
        assert_eq!(nth(p, 0), Some("2001:db8:1::".parse().expect("ip")));
        assert_eq!(nth(p, 1), Some("2001:db8:1::1".parse().expect("ip")));
        assert_eq!(nth(p, 2), None);
        assert_eq!(usable(v6("::/0")), u128::MAX);
        assert_eq!(usable(v6("2001:db8::/126")), 3);
    }

    #[test]
    fn too_small_names_the_size_that_fits() {
        let e = fits(v4("100.64.1.0/30"), 3).expect_err("3 on a /30");
        assert!(e.ends_with("use a /29 or larger"), "{e}");
        let e = fits(v4("100.64.1.1/32"), 2).expect_err("2 on a /32");
        assert!(e.ends_with("use a /31 or larger"), "{e}");
        let e = fits(v6("2001:db8::/128"), 2).expect_err("/128");
        assert!(e.ends_with("use a /127 or larger"), "{e}");
        let e = fits(v6("2001:db8::/127"), 3).expect_err("/127");
        assert!(e.ends_with("use a /126 or larger"), "{e}");
        assert!(fits(v4("100.64.1.0/29"), 6).is_ok());
    }

    #[test]
    fn host_bits_are_an_error() {
        let e = parse::<Ipv4Net>("100.64.1.5/29").expect_err("host bits");
        assert!(e.contains("100.64.1.0/29"), "{e}");
        assert!(parse::<Ipv4Net>("100.64.1/29").is_err());
        assert!(parse::<Ipv6Net>("2001:db8::1/64").is_err());
        let e = parse::<Ipv6Net>("nope").expect_err("not a subnet");
        assert_eq!(e, "`nope` is not an IPv6 subnet like 2001:db8:1::/64");
    }
}
