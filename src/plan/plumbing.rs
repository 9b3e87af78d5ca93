//! noglab's own addresses for Docker: every network gets an explicit subnet
//! from a range noglab owns (198.18.0.0/15 by default, RFC 2544 space that
//! lab addressing never uses), so Docker's default pools are never drained
//! and lab subnets never collide with Docker's.
//!
//! A lab takes one aligned block of the range: first its lab-wide region
//! (the shared nodes' management network and the shared networks, sized for
//! every pod the block can hold), then one slot per pod. Each network of a
//! pod gets a subnet of the slot sized for its endpoints plus Docker's
//! network, gateway and broadcast addresses. Link networks are plain wires:
//! the node's init replaces Docker's address with the planned lab addresses.
//!
//! The layout is a function of the topology and the block's size alone, so
//! the same lab always gets the same addresses inside its block.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::topology::Topology;

/// The range noglab allocates Docker subnets from, unless
/// `NOGLAB_PLUMBING_RANGE` says otherwise.
pub const DEFAULT_RANGE: &str = "198.18.0.0/15";

/// The fewest pod slots a lab's block holds, so `up --pods` can grow a lab
/// without moving it.
const MIN_SLOTS: u32 = 63;

/// Which network of a pod or of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Net {
    Mgmt,
    Access,
    Link(usize),
    SharedMgmt,
    Shared(usize),
}

#[derive(Debug, Clone)]
pub struct Plumbing {
    /// Addresses per pod slot (a power of two).
    pub pod_size: u32,
    /// How many pods the layout has room for.
    pub slots: u32,
    /// Where pod 1's slot starts inside the block.
    pods_offset: u32,
    nets: Vec<(Net, u32, u8)>,
}

fn subnet_size(endpoints: u64) -> u32 {
    u32::try_from((endpoints + 3).next_power_of_two().max(8)).unwrap_or(1 << 31)
}

/// Packs subnets largest first, which keeps each aligned to its own size;
/// returns the offsets and the packed size.
fn pack(mut sizes: Vec<(Net, u32)>) -> (Vec<(Net, u32, u8)>, u32) {
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut offset = 0u32;
    let mut out = Vec::new();
    for (net, size) in sizes {
        out.push((net, offset, 32 - size.trailing_zeros() as u8));
        offset = offset.saturating_add(size);
    }
    (out, offset)
}

impl Plumbing {
    /// The layout of a lab whose block holds `slots` pods.
    pub fn layout(t: &Topology, slots: u32) -> Plumbing {
        let mut pod = vec![(Net::Mgmt, subnet_size(t.nodes.len() as u64 + 1))];
        if t.access.is_some() {
            pod.push((Net::Access, subnet_size(1)));
        }
        for (i, link) in t.links.iter().enumerate() {
            pod.push((Net::Link(i), subnet_size(link.endpoints.len() as u64)));
        }
        let (pod_nets, pod_total) = pack(pod);
        let pod_size = pod_total.next_power_of_two().max(8);

        let mut shared = Vec::new();
        if !t.shared.nodes.is_empty() {
            shared.push((Net::SharedMgmt, subnet_size(t.shared.nodes.len() as u64)));
        }
        for (i, net) in t.shared.networks.values().enumerate() {
            let (in_pods, lab_wide): (Vec<&String>, Vec<&String>) =
                net.attach.keys().partition(|n| t.nodes.contains_key(*n));
            let endpoints = lab_wide.len() as u64 + in_pods.len() as u64 * u64::from(slots);
            shared.push((Net::Shared(i), subnet_size(endpoints)));
        }
        let (shared_nets, shared_total) = pack(shared);
        let region = if shared_total == 0 {
            0
        } else {
            shared_total.next_power_of_two()
        };
        let pods_offset = region.max(pod_size);

        let mut nets = shared_nets;
        nets.extend(pod_nets);
        Plumbing {
            pod_size,
            slots,
            pods_offset,
            nets,
        }
    }

    /// Addresses the whole block needs.
    fn total(&self) -> u64 {
        u64::from(self.pods_offset) + u64::from(self.slots) * u64::from(self.pod_size)
    }

    /// The prefix length of a block with this layout.
    pub fn block_prefix(&self) -> u8 {
        32 - self.total().next_power_of_two().trailing_zeros().min(32) as u8
    }

    /// The layout for a new lab of `pods` pods.
    pub fn for_pods(t: &Topology, pods: u32) -> Plumbing {
        let slots = ((pods + 1).next_power_of_two() - 1).max(MIN_SLOTS);
        Plumbing::layout(t, slots)
    }

    /// The layout inside an existing block: the most slots that fit.
    pub fn for_block(t: &Topology, block: Ipv4Net) -> Plumbing {
        let size = 1u64 << (32 - block.prefix_len());
        let mut best = Plumbing::layout(t, MIN_SLOTS);
        let mut slots = MIN_SLOTS;
        loop {
            slots = slots * 2 + 1;
            let candidate = Plumbing::layout(t, slots);
            if candidate.total() > size || slots > 1 << 20 {
                return best;
            }
            best = candidate;
        }
    }

    /// Whether `block` holds this layout and `pods` pods.
    pub fn check_block(&self, block: Ipv4Net, pods: u32) -> Result<(), String> {
        let size = 1u64 << (32 - block.prefix_len());
        if self.total() > size || pods > self.slots {
            return Err(format!(
                "the lab's address block {block} has room for {} pods; run `noglab down` and `noglab up` to grow it to {pods}",
                self.slots.min(u32::try_from(size / u64::from(self.pod_size)).unwrap_or(0))
            ));
        }
        Ok(())
    }

    pub fn pod_base(&self, block: Ipv4Net, pod: u32) -> u32 {
        u32::from(block.network()) + self.pods_offset + (pod - 1) * self.pod_size
    }

    fn find(&self, base: u32, which: Net) -> Ipv4Net {
        let (_, off, prefix) = self
            .nets
            .iter()
            .find(|(n, _, _)| *n == which)
            .copied()
            .unwrap_or((which, 0, 32));
        net(base + off, prefix)
    }

    pub fn mgmt_subnet(&self, pod_base: u32) -> Ipv4Net {
        self.find(pod_base, Net::Mgmt)
    }

    pub fn access_subnet(&self, pod_base: u32) -> Ipv4Net {
        self.find(pod_base, Net::Access)
    }

    pub fn link_subnet(&self, pod_base: u32, link: usize) -> Ipv4Net {
        self.find(pod_base, Net::Link(link))
    }

    pub fn shared_mgmt_subnet(&self, block: Ipv4Net) -> Ipv4Net {
        self.find(u32::from(block.network()), Net::SharedMgmt)
    }

    /// The `i`-th shared network, in name order.
    pub fn shared_subnet(&self, block: Ipv4Net, i: usize) -> Ipv4Net {
        self.find(u32::from(block.network()), Net::Shared(i))
    }
}

/// The gateway Docker gives a network: its first address.
pub(crate) fn gateway(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

/// Docker's address for the k-th endpoint of a plumbing subnet: after the
/// network address and the gateway.
pub(crate) fn nth_host(net: Ipv4Net, k: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + 2 + k as u32)
}

fn net(addr: u32, prefix: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from(addr), prefix).unwrap_or_default()
}

/// noglab's range: `NOGLAB_PLUMBING_RANGE` or the default.
pub fn range() -> Result<Ipv4Net, String> {
    let text = std::env::var("NOGLAB_PLUMBING_RANGE").unwrap_or_else(|_| DEFAULT_RANGE.into());
    text.parse::<Ipv4Net>()
        .map(|n| n.trunc())
        .map_err(|_| format!("NOGLAB_PLUMBING_RANGE `{text}` is not an IPv4 subnet"))
}

/// The first aligned block of `prefix` inside `range` that overlaps none of `taken`.
pub fn allocate(range: Ipv4Net, prefix: u8, taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    if prefix < range.prefix_len() {
        return None;
    }
    range.subnets(prefix).ok()?.find(|b| {
        !taken
            .iter()
            .any(|t| t.contains(&b.network()) || b.contains(&t.network()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Ipv4Net {
        DEFAULT_RANGE.parse().expect("range")
    }

    fn topo(src: &str) -> Topology {
        crate::topology::topology_for_tests(src)
    }

    #[test]
    fn allocate_skips_taken_blocks() {
        let first = allocate(r(), 19, &[]).expect("free");
        assert_eq!(first.to_string(), "198.18.0.0/19");
        let second = allocate(r(), 19, &[first]).expect("free");
        assert_eq!(second.to_string(), "198.18.32.0/19");
        let around = allocate(r(), 19, &["198.18.40.0/24".parse().expect("net")]).expect("free");
        assert_eq!(around.to_string(), "198.18.0.0/19");
    }

    #[test]
    fn sizes_are_powers_of_two() {
        assert_eq!(subnet_size(2), 8);
        assert_eq!(subnet_size(5), 8);
        assert_eq!(subnet_size(6), 16);
    }

    #[test]
    fn a_block_is_read_back_with_the_slots_it_was_made_for() {
        let t = topo("name: l\nnodes:\n  r1: {kind: frr}\n  r2: {kind: frr}\nlinks:\n  - endpoints: [r1, r2]\nshared:\n  nodes:\n    rs: {kind: frr}\n  networks:\n    ixp:\n      ipv4: 198.51.100.0/24\n      attach: {rs: {}, r1: {}}\n");
        for pods in [1, 63, 64, 200] {
            let made = Plumbing::for_pods(&t, pods);
            let block = allocate(r(), made.block_prefix(), &[]).expect("fits");
            let read = Plumbing::for_block(&t, block);
            assert_eq!(read.slots, made.slots, "pods {pods}");
            assert!(read.check_block(block, pods).is_ok());
            // Pods and shared networks never overlap.
            let last = read.pod_base(block, read.slots) + read.pod_size - 1;
            assert!(block.contains(&Ipv4Addr::from(last)));
            let ixp = read.shared_subnet(block, 0);
            assert!(
                u32::from(ixp.broadcast()) < read.pod_base(block, 1),
                "pods {pods}"
            );
            assert!(ixp.hosts().count() as u64 > u64::from(read.slots));
        }
    }
}
