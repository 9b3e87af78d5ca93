//! The template interface: what every template a lab author writes sees
//! (a `config` or `files` template, an `exec` line, a `vars` string, a
//! subnet, a check), as types. Each stage of the plan fills in what it
//! knows: the lab first, then a pod's vars, then its nodes' interfaces and
//! kinds; the pod's part is built once and every node's context borrows it.
//!
//! The docs' table of template fields (`docs/writing-a-lab.md`, "What a
//! template sees") is generated from these types, and a test fails when
//! the two disagree.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value as Json;

use super::addressing::Subnet;

/// Rendered vars, by name.
pub type Vars = serde_json::Map<String, Json>;

/// A template's context. Which fields a template sees depends on what it
/// is: a shared network's subnet sees `lab` and `pods` alone; a lab-wide
/// var also `pod` and `solution`; a link's subnet and a kind also `vars`
/// (and a kind `node`); a node's files, exec lines and checks see it all.
/// An absent field is an absent name, never an empty one.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Context<'a> {
    /// The lab name.
    pub lab: &'a str,
    /// How many pods the lab has.
    pub pods: u32,
    /// `true` when the lab is brought up with `--solution`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solution: Option<bool>,
    /// The pod number, from 1 (a shared node's templates have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<u32>,
    /// The lab-wide vars merged with this node's, rendered (a shared
    /// node's: its own only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, Json>>")]
    pub vars: Option<&'a Vars>,
    /// The node being rendered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<&'a str>,
    /// This node's interfaces, by name: see the table of an interface's keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<&'a BTreeMap<String, Interface>>,
    /// Every node of the pod (for a shared node: every shared node), by
    /// name: `{kind, interfaces}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<&'a BTreeMap<String, NodeView>>,
    /// The lab-wide part: each shared network's `ipv4`/`ipv6` subnet
    /// (`networks`), each shared node's `kind` and `interfaces` (`nodes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<&'a SharedView>,
    /// A shared node's templates only: every pod, each with its `pod`
    /// number, its rendered lab-wide `vars` and its `nodes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_pods: Option<&'a [PodView]>,
}

impl Context<'_> {
    /// The context as tera takes it.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// One interface of a node, as templates see it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct Interface {
    /// The address with its prefix length.
    #[schemars(example = &"100.64.3.0/31")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// The bare address.
    #[schemars(example = &"100.64.3.0")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    /// The subnet.
    #[schemars(example = &"100.64.3.0/31")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_network: Option<String>,
    /// The IPv6 address with its prefix length.
    #[schemars(example = &"2001:db8:3:1::/127")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    /// The bare IPv6 address.
    #[schemars(example = &"2001:db8:3:1::")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    /// The IPv6 subnet.
    #[schemars(example = &"2001:db8:3:1::/127")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_network: Option<String>,
    /// On a point-to-point link: the node at the other end.
    #[schemars(example = &"r2")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// On a point-to-point link: the other end's interface.
    #[schemars(example = &"eth1")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_interface: Option<String>,
    /// On a point-to-point link: the other end's address.
    #[schemars(example = &"100.64.3.1")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_ipv4_address: Option<String>,
    /// On a point-to-point link: the other end's IPv6 address.
    #[schemars(example = &"2001:db8:3:1::1")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_ipv6_address: Option<String>,
    /// On a shared network: the network's name.
    #[schemars(example = &"ixp")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// An address on a subnet, in the three forms templates see; the
/// subnet alone when the address is absent.
struct Forms {
    cidr: Option<String>,
    address: Option<String>,
    network: Option<String>,
}

fn forms<N: Subnet>(address: Option<N::Addr>, subnet: Option<N>) -> Forms {
    Forms {
        cidr: address
            .zip(subnet)
            .map(|(a, net)| format!("{a}/{}", net.prefix())),
        address: address.map(|a| a.to_string()),
        network: subnet.map(|net| net.to_string()),
    }
}

impl Interface {
    /// An interface with these addresses on these subnets.
    pub fn with<V4: Subnet, V6: Subnet>(
        v4: (Option<V4::Addr>, Option<V4>),
        v6: (Option<V6::Addr>, Option<V6>),
    ) -> Interface {
        let (four, six) = (forms(v4.0, v4.1), forms(v6.0, v6.1));
        Interface {
            ipv4: four.cidr,
            ipv4_address: four.address,
            ipv4_network: four.network,
            ipv6: six.cidr,
            ipv6_address: six.address,
            ipv6_network: six.network,
            ..Interface::default()
        }
    }
}

/// A node as other templates see it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct NodeView {
    /// Its kind in this pod (a kind template rendered).
    pub kind: String,
    /// Its interfaces, by name.
    pub interfaces: BTreeMap<String, Interface>,
}

/// What templates see of the lab-wide networks and nodes.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct SharedView {
    /// Each shared network's subnets, by name.
    pub networks: BTreeMap<String, SharedNetworkView>,
    /// Each shared node, by name.
    pub nodes: BTreeMap<String, NodeView>,
}

/// A shared network's subnets.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct SharedNetworkView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
}

/// One pod as templates see it: built once per pod, borrowed by each of
/// its nodes' contexts, and listed in `all_pods` for the shared nodes.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PodView {
    /// The pod number.
    pub pod: u32,
    /// Its lab-wide vars, rendered.
    #[schemars(with = "BTreeMap<String, Json>")]
    pub vars: Vars,
    /// Its nodes, by name.
    pub nodes: BTreeMap<String, NodeView>,
}

/// The docs' tables of template fields, as markdown: the context's
/// fields, then an interface's keys.
pub fn docs_table() -> String {
    let context = schemars::schema_for!(Context<'static>).to_value();
    let interface = schemars::schema_for!(Interface).to_value();
    let mut out = String::from("| name | value |\n|---|---|\n");
    for (name, field) in properties(&context) {
        out.push_str(&format!("| `{name}` | {} |\n", text(field, "description")));
    }
    out.push_str("\nEach entry of `interfaces` has:\n\n| key | example | what |\n|---|---|---|\n");
    for (name, field) in properties(&interface) {
        let example = field["examples"][0].as_str().unwrap_or_default();
        out.push_str(&format!(
            "| `{name}` | `{example}` | {} |\n",
            text(field, "description")
        ));
    }
    out
}

fn properties(schema: &Json) -> impl Iterator<Item = (&String, &Json)> {
    schema["properties"].as_object().into_iter().flatten()
}

/// A schema's text on one line.
fn text(field: &Json, key: &str) -> String {
    field[key]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the docs hold the generated table, between these lines.
    const DOCS: &str = "docs/writing-a-lab.md";
    const BEGIN: &str = "<!-- template fields: generated from src/plan/context.rs -->\n";
    const END: &str = "<!-- end of template fields -->\n";

    /// The docs' table is the types' (`NOGLAB_BLESS=1` rewrites it).
    #[test]
    fn issue21_the_docs_table_of_template_fields_is_the_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DOCS);
        let docs = std::fs::read_to_string(&path).expect("the docs");
        let start = docs.find(BEGIN).expect("the table's first line") + BEGIN.len();
        let end = start + docs[start..].find(END).expect("the table's last line");
        let want = docs_table();
        if std::env::var_os("NOGLAB_BLESS").is_some() {
            let blessed = format!("{}{want}{}", &docs[..start], &docs[end..]);
            std::fs::write(&path, blessed).expect("write the docs");
            return;
        }
        assert_eq!(
            docs[start..end],
            want,
            "{DOCS} differs from the template types; NOGLAB_BLESS=1 cargo test --lib rewrites it"
        );
    }

    #[test]
    fn every_field_is_described() {
        let table = docs_table();
        for line in table.lines().filter(|l| l.starts_with("| `")) {
            assert!(!line.ends_with("|  |"), "{line}");
        }
        for name in [
            "all_pods",
            "interfaces",
            "ipv6_network",
            "peer_interface",
            "network",
        ] {
            assert!(table.contains(&format!("| `{name}` |")), "{name}");
        }
    }
}
