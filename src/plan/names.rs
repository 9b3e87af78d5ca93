//! How noglab names what it creates: the labels every resource carries,
//! container, network and bridge names, the paths of noglab's own files in
//! a node, pods in messages, and the spec hashes that tell a changed
//! resource from an unchanged one. Each name is made here and nowhere else.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

use super::{plumbing, ContainerSpec, NetworkSpec};

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

/// Lab-wide resources are pod 0 inside noglab, `shared` on the engine.
pub const SHARED_POD: u32 = 0;
pub const SHARED_LABEL: &str = "shared";
/// The `noglab.network` label of a pod's management network.
pub const MGMT_NETWORK: &str = "mgmt";
/// The node name of each pod's access point.
pub const ACCESS_NODE: &str = "access";

/// The folder of noglab's own files in every node, as a literal so that
/// the paths below are built from it at compile time.
macro_rules! noglab_dir {
    () => {
        "/etc/noglab"
    };
}

/// Where noglab puts its files in every node (interfaces, readiness, login,
/// exec lines, keys): read-only inside. `noglab-init` only reads it; noglab
/// writes it through the engine before the first start, and `credentials
/// rotate` through the engine too, which a read-only mount inside does not
/// stop.
pub const NOGLAB_DIR: &str = noglab_dir!();

/// noglab's own files in a node, which the node's init and the images'
/// scripts read (`images/common/noglab-init`).
pub mod own_files {
    /// `<docker-ip> <name> [cidr...]` per interface.
    pub const INTERFACES: &str = concat!(noglab_dir!(), "/interfaces");
    /// The kind's readiness command, as a script.
    pub const READY: &str = concat!(noglab_dir!(), "/ready");
    /// The kind's check after the exec lines, as a script.
    pub const VERIFY: &str = concat!(noglab_dir!(), "/verify");
    /// The kind's health probe, where it differs from readiness.
    pub const HEALTH: &str = concat!(noglab_dir!(), "/health");
    /// The participants' login shell and groups.
    pub const LOGIN: &str = concat!(noglab_dir!(), "/login");
    /// The node's exec lines, as a script.
    pub const EXEC: &str = concat!(noglab_dir!(), "/exec.sh");
    /// The optional daemons the node runs.
    pub const DAEMONS: &str = concat!(noglab_dir!(), "/daemons");
    /// An access point's routes.
    pub const ROUTES: &str = concat!(noglab_dir!(), "/routes");
}

/// The `noglab.pod` label of a pod: its number, or `shared` for pod 0.
pub fn pod_label(pod: u32) -> String {
    if pod == SHARED_POD {
        SHARED_LABEL.to_string()
    } else {
        pod.to_string()
    }
}

/// `bgp-p03-r1`, or `bgp-shared-rs` for a shared node; networks likewise
/// (`bgp-p03-l1`).
pub fn container_name(lab: &str, pod: u32, node: &str) -> String {
    if pod == SHARED_POD {
        format!("{lab}-shared-{node}")
    } else {
        format!("{lab}-p{pod:02}-{node}")
    }
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

/// A network of a pod (or of the lab, pod 0) in the role `role` (`mgmt`,
/// `l1`, `access`, a shared network's name): its names, labels and hash.
pub(crate) fn network_spec(
    lab: &str,
    pod: u32,
    role: &str,
    subnet: Ipv4Net,
    block: Ipv4Net,
    host_facing: bool,
) -> NetworkSpec {
    let name = container_name(lab, pod, role);
    let labels = BTreeMap::from([
        (labels::LAB.to_string(), lab.to_string()),
        (labels::POD.to_string(), pod_label(pod)),
        (labels::NETWORK.to_string(), role.to_string()),
        (labels::BLOCK.to_string(), block.to_string()),
    ]);
    let bridge = bridge_name(&name, host_facing);
    let mut spec = NetworkSpec {
        name,
        host_facing,
        bridge,
        subnet,
        gateway: plumbing::gateway(subnet),
        labels,
    };
    let hash = short_hash(&serde_json::to_vec(&spec).unwrap_or_default());
    spec.labels.insert(labels::HASH.to_string(), hash);
    spec
}

/// The Linux bridge of a network: 15 characters, from its name. The guard
/// on the host knows lab wires as ngl*, access networks as nga*.
fn bridge_name(network: &str, host_facing: bool) -> String {
    let digest = Sha256::digest(network.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}{hex}", if host_facing { "nga" } else { "ngl" })
}

/// A container's hash: of its whole spec, labels included.
pub(crate) fn spec_hash(spec: &ContainerSpec) -> String {
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
    fn own_files_are_under_noglabs_folder() {
        for path in [
            own_files::INTERFACES,
            own_files::READY,
            own_files::VERIFY,
            own_files::HEALTH,
            own_files::LOGIN,
            own_files::EXEC,
            own_files::DAEMONS,
            own_files::ROUTES,
        ] {
            assert!(path.starts_with(&format!("{NOGLAB_DIR}/")), "{path}");
        }
        assert_eq!(own_files::READY, "/etc/noglab/ready");
    }

    #[test]
    fn names_of_pods_and_the_lab() {
        assert_eq!(container_name("bgp", 3, "r1"), "bgp-p03-r1");
        assert_eq!(container_name("bgp", SHARED_POD, "rs"), "bgp-shared-rs");
        assert_eq!(describe_pods(&[1, 2, 3, 4, 7]), "pods 1-4, 7");
        assert_eq!(describe_pods(&[3]), "pod 3");
        assert_eq!(pod_label(SHARED_POD), "shared");
    }
}
