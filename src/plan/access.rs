//! A pod's access point: sshd for participants, on the pod's management
//! network (so node names resolve) and on its own host-facing network that
//! publishes the pod's ports.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;

use super::names::{container_name, own_files, ACCESS_NODE};
use super::node::{interfaces_file, kind_image, script, seal};
use super::{plumbing, Attachment, ContainerSpec, FileSpec, NetworkSpec};
use crate::kinds;
use crate::topology::Access;

/// Pod `pod`'s access point, attached to the management network by `mgmt`
/// and to its own network `net`.
pub(crate) fn access_point(
    lab: &str,
    pod: u32,
    access: &Access,
    mgmt: Attachment,
    mgmt_net: Ipv4Net,
    net: &NetworkSpec,
) -> ContainerSpec {
    let kind = &kinds::ACCESS;
    let ip = plumbing::nth_host(net.subnet, 0);
    let outside = Attachment {
        network: net.name.clone(),
        docker_ip: ip,
        interface: "eth1".into(),
        ipv4: Ipv4Net::new(ip, net.subnet.prefix_len()).ok(),
        ipv6: None,
    };
    let text = |content: String| FileSpec {
        mode: 0o644,
        content,
    };
    let interfaces = interfaces_file(&mgmt, mgmt_net, std::slice::from_ref(&outside));
    let files = BTreeMap::from([
        (own_files::INTERFACES.to_string(), text(interfaces)),
        // Replies to participants' laptops leave through the host.
        (
            own_files::ROUTES.to_string(),
            text(format!("default via {}\n", net.gateway)),
        ),
        (own_files::READY.to_string(), script(kind.readiness)),
    ]);
    let port = |base: u16| base.saturating_add(u16::try_from(pod).unwrap_or(u16::MAX));
    let ports = vec![(22, port(access.base_port))];
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
        mgmt,
        links: vec![outside],
        files,
        ports,
        read_only: Vec::new(),
        dns: Vec::new(),
    };
    seal(spec, lab, pod, kind)
}
