//! noglab's own addresses for Docker: every network gets an explicit subnet
//! from a range noglab owns (198.18.0.0/15 by default, RFC 2544 space that
//! lab addressing never uses), so Docker's default pools are never drained
//! and lab subnets never collide with Docker's.
//!
//! A lab takes one aligned block of the range; each pod a slot of the block
//! (slot 0 is kept for lab-wide resources); each network of a pod a subnet
//! of the slot, sized for its endpoints plus Docker's network, gateway and
//! broadcast addresses. Link networks are plain wires: the node's init
//! replaces Docker's address with the planned lab addresses.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::topology::Topology;

/// The range noglab allocates Docker subnets from, unless
/// `NOGLAB_PLUMBING_RANGE` says otherwise.
pub const DEFAULT_RANGE: &str = "198.18.0.0/15";

/// The fewest pod slots a lab's block holds, so `up --pods` can grow a lab
/// without moving it.
const MIN_SLOTS: u32 = 64;

#[derive(Debug, Clone)]
pub struct Plumbing {
    /// Addresses per pod slot (a power of two).
    pub pod_size: u32,
    mgmt: (u32, u8),
    links: Vec<(u32, u8)>,
}

fn subnet_size(endpoints: usize) -> u32 {
    (endpoints as u32 + 3).next_power_of_two().max(8)
}

impl Plumbing {
    pub fn layout(t: &Topology) -> Plumbing {
        let mut sizes: Vec<(Option<usize>, u32)> = vec![(None, subnet_size(t.nodes.len()))];
        for (i, link) in t.links.iter().enumerate() {
            sizes.push((Some(i), subnet_size(link.endpoints.len())));
        }
        // Largest first keeps every subnet aligned to its own size.
        sizes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut offset = 0u32;
        let mut mgmt = (0, 32);
        let mut links = vec![(0u32, 32u8); t.links.len()];
        for (which, size) in sizes {
            let prefix = 32 - size.trailing_zeros() as u8;
            match which {
                None => mgmt = (offset, prefix),
                Some(i) => links[i] = (offset, prefix),
            }
            offset += size;
        }
        Plumbing {
            pod_size: offset.next_power_of_two().max(8),
            mgmt,
            links,
        }
    }

    /// Slots a new block should have for `pods` pods.
    pub fn slots(pods: u32) -> u32 {
        (pods + 1).next_power_of_two().max(MIN_SLOTS)
    }

    /// The prefix length of a block for `pods` pods.
    pub fn block_prefix(&self, pods: u32) -> u8 {
        let size = u64::from(self.pod_size) * u64::from(Self::slots(pods));
        32 - size.trailing_zeros() as u8
    }

    /// Whether `block` has a slot for every pod up to `pods`.
    pub fn check_block(&self, block: Ipv4Net, pods: u32) -> Result<(), String> {
        let have = (1u64 << (32 - block.prefix_len())) / u64::from(self.pod_size);
        if u64::from(pods) + 1 > have {
            return Err(format!(
                "the lab's address block {block} has room for {} pods; run `noglab down` and `noglab up` to grow it to {pods}",
                have.saturating_sub(1)
            ));
        }
        Ok(())
    }

    pub fn pod_base(&self, block: Ipv4Net, pod: u32) -> u32 {
        u32::from(block.network()) + pod * self.pod_size
    }

    pub fn mgmt_subnet(&self, pod_base: u32) -> Ipv4Net {
        net(pod_base + self.mgmt.0, self.mgmt.1)
    }

    pub fn link_subnet(&self, pod_base: u32, link: usize) -> Ipv4Net {
        let (off, prefix) = self.links[link];
        net(pod_base + off, prefix)
    }
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
        assert_eq!(Plumbing::slots(3), 64);
        assert_eq!(Plumbing::slots(100), 128);
    }
}
