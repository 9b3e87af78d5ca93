//! The topology file: serde types, loading with file:line:col diagnostics,
//! and the checks that need no pod number.
//!
//! Knows nothing of pods, tera or Docker. What depends on a pod (rendered
//! templates, addresses) is checked by `plan`, which reports back through
//! the same [`Spans`] so every message points into the file.

#[macro_use]
pub mod spans;
pub mod describe;
mod load;
pub mod names;
mod validate;
pub(crate) use load::distance;
#[cfg(test)]
pub(crate) use load::topology_for_tests;
pub use load::{load, load_str, load_str_in, resolve_file, template_path_ends, Loaded};
pub use names::{parse_endpoint, MAX_LAB_NAME, MAX_NODE_NAME};
pub use validate::{check_kind_problem, kind_fit_problems, unknown_kind};

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use spans::{Pos, Problem, Seg, Spans};

/// The most pods a lab may have (noglab's address plan has room for this many).
pub const MAX_PODS: u32 = 250;
/// The highest access `base_port`: every pod's port must fit below 65536.
pub const MAX_BASE_PORT: u16 = u16::MAX - MAX_PODS as u16;

/// A topology as written, after its shape was checked.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(
    deny_unknown_fields,
    title = "noglab topology",
    description = "One lab: nodes and links that every participant's pod gets, plus lab-wide shared nodes and networks. See docs/writing-a-lab.md."
)]
pub struct Topology {
    /// The lab name: lowercase letters, digits and `-`, starting with a
    /// letter, at most 24 characters. It prefixes every container and network.
    #[schemars(length(min = 1, max = MAX_LAB_NAME), pattern(names::NAME_PATTERN))]
    pub name: String,
    /// How many participant pods `noglab up` creates; `--pods N` overrides.
    #[schemars(default = "one", range(min = 1, max = MAX_PODS))]
    pub pods: u32,
    /// Lab-wide values for templates (`{{ vars.NAME }}`); string values are
    /// themselves templates, rendered per pod.
    #[schemars(default, with = "BTreeMap<String, serde_json::Value>")]
    pub vars: BTreeMap<String, serde_yaml::Value>,
    /// The nodes of each pod, by name (lowercase letters, digits and `-`).
    #[schemars(extend("minProperties" = 1, "propertyNames" = describe::names(MAX_NODE_NAME)))]
    pub nodes: BTreeMap<String, Node>,
    /// Point-to-point links and LANs between the nodes of a pod.
    #[schemars(default)]
    pub links: Vec<Link>,
    /// Lab-wide nodes and networks, once per lab.
    #[schemars(default)]
    pub shared: Shared,
    /// Participants' SSH access point per pod, when present.
    pub access: Option<Access>,
    /// Exercise checks, in order, run per pod by `noglab check`.
    #[schemars(default)]
    pub checks: Vec<Check>,
}

/// One exercise check: something that must hold in every pod once the
/// participant has done a step. Exactly one of `run`, `ping`, `bgp`,
/// `route` or `dns` says what to run; strings are templates with the
/// target node's context in each pod.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(extend("oneOf" = describe::one_of_required(&["run", "ping", "bgp", "route", "dns"])))]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Short and unique: a column of the scoreboard.
    #[schemars(length(min = 1, max = names::MAX_CHECK_ID), pattern(names::NAME_PATTERN))]
    pub id: String,
    /// What the instructor reads.
    #[serde(default)]
    pub title: Option<String>,
    /// The exercise step it belongs to (`noglab check --step N`), at most
    /// 99; 0 for what holds from the start (the lab's infrastructure).
    #[serde(default = "one")]
    #[schemars(range(max = MAX_STEP))]
    pub step: u32,
    /// The node it runs on: a pod node, or a shared node (checked for each pod).
    pub node: String,
    /// A command run with `sh -c`.
    #[serde(default)]
    pub run: Option<String>,
    /// Built-in: the node pings this address.
    #[serde(default)]
    pub ping: Option<String>,
    /// Built-in: a BGP session's state (FRR or BIRD).
    #[serde(default)]
    pub bgp: Option<BgpCheck>,
    /// Built-in: a prefix in the node's routing table (FRR or BIRD).
    #[serde(default)]
    pub route: Option<RouteCheck>,
    /// Built-in: a DNS answer through `dig`.
    #[serde(default)]
    pub dns: Option<DnsCheck>,
    /// What must hold of `run`'s result (the built-ins bring their own).
    #[serde(default)]
    pub expect: Expect,
    /// Seconds to keep retrying until it holds (things converge).
    #[serde(default = "default_check_timeout")]
    pub timeout: u32,
}

/// The last exercise step a check may belong to: a guide has a section a
/// step, and a larger number is a typo (`step: 12` for 1 and 2).
pub const MAX_STEP: u32 = 99;

fn one() -> u32 {
    1
}

fn default_check_timeout() -> u32 {
    10
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BgpCheck {
    /// The neighbor's address, as the router names it.
    pub neighbor: String,
    /// The state the session must be in.
    #[serde(default = "established")]
    pub state: String,
}

fn established() -> String {
    "Established".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteCheck {
    /// The prefix, IPv4 or IPv6, as `100.66.1.0/24`.
    pub prefix: String,
    /// `false` checks the prefix is absent (a filter works).
    #[serde(default = "yes")]
    pub present: bool,
    /// The RPKI validity of the prefix's best path in BGP: `valid`,
    /// `invalid` or `notfound`. FRR says it per path (with an RTR cache);
    /// on BIRD the primary route's origin AS goes through `roa_check`
    /// against each ROA table that holds ROAs.
    #[serde(default)]
    pub validity: Option<Validity>,
    /// With `present: false`: a prefix that must be in the table for the
    /// absence to count, one the same feed brings (a valid route of the
    /// same peer). Until it is, the check fails as not yet conclusive: an
    /// empty table right after `up` proves no filter.
    #[serde(default)]
    pub witness: Option<String>,
}

/// A route's RPKI origin validation state (RFC 6811).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    Valid,
    Invalid,
    Notfound,
}

impl Validity {
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Invalid => "invalid",
            Validity::Notfound => "notfound",
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsCheck {
    /// The name asked for.
    pub name: String,
    /// The record type asked for.
    #[serde(default = "a_record", rename = "type")]
    pub rtype: String,
    /// The server asked (default: the node's resolver).
    #[serde(default)]
    pub server: Option<String>,
    /// The answer's status: NOERROR, NXDOMAIN, SERVFAIL...
    #[serde(default = "noerror")]
    pub rcode: String,
    /// Whether the AD (authenticated data) flag must be set, or clear.
    #[serde(default)]
    pub ad: Option<bool>,
}

fn a_record() -> String {
    "A".into()
}

fn noerror() -> String {
    "NOERROR".into()
}

/// What must hold of a command's result; every given part must.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The exit code (default 0 when nothing else is said).
    #[serde(default)]
    pub exit: Option<i64>,
    /// Text the output must contain.
    #[serde(default)]
    pub contains: Option<String>,
    /// Text the output must not contain.
    #[serde(default)]
    pub not_contains: Option<String>,
    /// A regular expression the output must match.
    #[serde(default)]
    pub matches: Option<String>,
    /// A value in the output read as JSON.
    #[serde(default)]
    pub json: Option<JsonExpect>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonExpect {
    /// A JSON pointer (RFC 6901): `/ipv4Unicast/peers/100.64.1.1/state`.
    pub pointer: String,
    /// The value, as text, must equal this.
    #[serde(default)]
    pub equals: Option<String>,
    /// The value, as text, must not equal this.
    #[serde(default)]
    pub not_equals: Option<String>,
    /// Whether the value must exist (or not).
    #[serde(default)]
    pub exists: Option<bool>,
    /// The value must be a number at least this large.
    #[serde(default)]
    pub at_least: Option<f64>,
}

/// Nodes and networks that exist once per lab (pod label `shared`): a route
/// server, a transit provider, an IXP LAN, a DNS root.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shared {
    /// Nodes that exist once for the whole lab, by name (not a pod node's name).
    #[serde(default)]
    #[schemars(extend("propertyNames" = describe::names(MAX_NODE_NAME)))]
    pub nodes: BTreeMap<String, Node>,
    /// Lab-wide segments, by name (at most 15 characters).
    #[serde(default)]
    #[schemars(extend("propertyNames" = describe::names(names::MAX_NETWORK_NAME)))]
    pub networks: BTreeMap<String, SharedNetwork>,
}

/// A lab-wide segment that shared nodes and every pod's nodes attach to.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedNetwork {
    /// Subnet (a template of `lab` and `pods`), e.g. `198.51.100.0/24`.
    #[serde(default)]
    pub ipv4: Option<String>,
    /// IPv6 subnet (a template of `lab` and `pods`), e.g. `2001:db8:ffff::/64`.
    #[serde(default)]
    pub ipv6: Option<String>,
    /// Attached nodes (shared or pod nodes) and their addresses; a pod
    /// node's addresses are templates of its pod (`198.51.100.{{ 10 + pod }}`).
    #[serde(default)]
    #[schemars(extend("propertyNames" = describe::names(MAX_NODE_NAME)))]
    pub attach: BTreeMap<String, Attach>,
}

/// A node on a shared network, and its addresses there.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attach {
    /// A bare address, the prefix comes from the network.
    #[serde(default)]
    pub ipv4: Option<String>,
    /// A bare IPv6 address, the prefix comes from the network.
    #[serde(default)]
    pub ipv6: Option<String>,
    /// The node's interface on the network; default its next free ethN.
    #[serde(default)]
    #[schemars(pattern(describe::INTERFACE_PATTERN))]
    pub interface: Option<String>,
}

/// The default first port: pod N listens on `base_port + N`.
pub const DEFAULT_BASE_PORT: u16 = 2200;

fn default_base_port() -> u16 {
    DEFAULT_BASE_PORT
}

/// Participants' SSH access: one published TCP port per pod.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// Pod N's access point listens on the host at `base_port + N`.
    #[serde(default = "default_base_port")]
    #[schemars(range(min = 1, max = MAX_BASE_PORT))]
    pub base_port: u16,
    /// Retired: participants' terminals in the browser are the portal's
    /// (`noglab serve`). Still read, so that older topologies load; it
    /// opens no port, and noglab says so.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_BASE_PORT))]
    #[schemars(extend("deprecated" = true))]
    pub web_base_port: Option<u16>,
}

/// Whether a value holds a tera tag (`{{ }}` or `{% %}`), so that it is
/// rendered per pod rather than taken as written.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// A node: one container in every pod (or, under `shared`, once per lab).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// A kind from the registry in `kinds`, or, for a pod node, a template
    /// that renders to one in each pod.
    #[schemars(
        schema_with = "crate::topology::describe::kind",
        description = "What the node runs: its image, where `config` goes, what `noglab connect` opens. A pod node's kind may be a template rendered per pod with `pod`, `pods`, `lab`, `node`, `solution` and the lab-wide `vars` (not the node's own vars or interfaces), e.g. `\"{{ vars.router_kind }}\"`, so pods may run different software.",
        transform = describe::describe_kinds
    )]
    pub kind: String,
    /// Template for the kind's main config file, relative to the topology.
    /// The path itself may be a template, rendered per pod with the node's
    /// context: `router.{{ vars.router_kind }}.conf`.
    #[serde(default)]
    pub config: Option<String>,
    /// Node values, merged over the lab-wide ones.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub vars: BTreeMap<String, serde_yaml::Value>,
    /// Commands run inside the node once it is up, in order.
    #[serde(default)]
    #[schemars(inner(pattern(describe::COMMAND_PATTERN)))]
    pub exec: Vec<String>,
    /// More files to place in the node: absolute path in the container ->
    /// template relative to the topology (a path that may itself be a
    /// template, as `config`'s).
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": describe::FILE_PATTERN }))]
    pub files: BTreeMap<String, String>,
    /// An image to use instead of the kind's own.
    #[serde(default)]
    pub image: Option<String>,
    /// What participants get when they `ssh` to this node from the pod's
    /// access point, instead of the kind's shell (vtysh on FRR, birdc on
    /// BIRD): e.g. `bash`, for labs where they edit the node's files. A
    /// command name or absolute path; may be a template, and one that
    /// renders to nothing leaves the kind's shell.
    #[serde(default)]
    pub login_shell: Option<String>,
    /// Daemons the node runs beside those its configs use (FRR: `bgpd`,
    /// `ospfd`, `ospf6d`, `isisd`, `bfdd`, ...): for a protocol that
    /// participants set up from nothing in a lab without a solution config.
    #[serde(default)]
    pub daemons: Vec<String>,
    /// What `noglab up --solution` uses instead: the exercise solved.
    #[serde(default)]
    pub solution: Option<Solution>,
}

/// A node's solved state, for `noglab up --solution` (a lab author's proof
/// that the lab is solvable, an instructor's rescue for a stuck group).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Solution {
    /// Template for the kind's main config file, replacing `config` (a
    /// path that may itself be a template, as `config`'s).
    #[serde(default)]
    pub config: Option<String>,
    /// Files placed over the node's `files` (same destination: replaced).
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": describe::FILE_PATTERN }))]
    pub files: BTreeMap<String, String>,
    /// Commands run after the node's `exec` lines.
    #[serde(default)]
    #[schemars(inner(pattern(describe::COMMAND_PATTERN)))]
    pub exec: Vec<String>,
}

/// A wire between nodes of a pod: two endpoints, or a LAN of more.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// `node` or `node:ethN`.
    #[schemars(length(min = 2), inner(pattern(describe::ENDPOINT_PATTERN)))]
    pub endpoints: Vec<String>,
    /// Subnet template, e.g. `100.64.{{ pod }}.0/29`.
    #[serde(default)]
    pub ipv4: Option<String>,
    /// IPv6 subnet template, e.g. `2001:db8:{{ pod }}:1::/64`.
    #[serde(default)]
    pub ipv6: Option<String>,
}
