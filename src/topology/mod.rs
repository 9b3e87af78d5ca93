//! The topology file: serde types, loading with file:line:col diagnostics,
//! and the checks that need no pod number.
//!
//! Knows nothing of pods, tera or Docker. What depends on a pod (rendered
//! templates, addresses) is checked by `plan`, which reports back through
//! the same [`Spans`] so every message points into the file.

#[macro_use]
pub mod spans;
mod validate;
pub use validate::{check_kind_problem, kind_fit_problems, parse_endpoint, unknown_kind};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diag::{Diagnostic, Diagnostics};
pub use spans::{Pos, Seg, Spans};

/// The longest lab name: it prefixes every container and network name.
pub const MAX_LAB_NAME: usize = 24;
/// The longest node name: it becomes a host name and part of a container name.
pub const MAX_NODE_NAME: usize = 24;
/// The most pods a lab may have (noglab's address plan has room for this many).
pub const MAX_PODS: u32 = 250;

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
    #[schemars(length(min = 1, max = MAX_LAB_NAME), pattern(crate::schema::NAME_PATTERN))]
    pub name: String,
    /// How many participant pods `noglab up` creates; `--pods N` overrides.
    #[schemars(default = "one", range(min = 1, max = MAX_PODS))]
    pub pods: u32,
    /// Lab-wide values for templates (`{{ vars.NAME }}`); string values are
    /// themselves templates, rendered per pod.
    #[schemars(default, with = "BTreeMap<String, serde_json::Value>")]
    pub vars: BTreeMap<String, serde_yaml::Value>,
    /// The nodes of each pod, by name (lowercase letters, digits and `-`).
    #[schemars(extend("minProperties" = 1, "propertyNames" = crate::schema::names(MAX_NODE_NAME)))]
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
#[schemars(extend("oneOf" = crate::schema::one_of_required(&["run", "ping", "bgp", "route", "dns"])))]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Short and unique: a column of the scoreboard.
    #[schemars(length(min = 1, max = 32), pattern(crate::schema::NAME_PATTERN))]
    pub id: String,
    /// What the instructor reads.
    #[serde(default)]
    pub title: Option<String>,
    /// The exercise step it belongs to (`noglab check --step N`); 0 for
    /// what holds from the start (the lab's infrastructure).
    #[serde(default = "one")]
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
    #[schemars(extend("propertyNames" = crate::schema::names(MAX_NODE_NAME)))]
    pub nodes: BTreeMap<String, Node>,
    /// Lab-wide segments, by name (at most 15 characters).
    #[serde(default)]
    #[schemars(extend("propertyNames" = crate::schema::names(validate::MAX_NETWORK_NAME)))]
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
    #[schemars(extend("propertyNames" = crate::schema::names(MAX_NODE_NAME)))]
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
    #[schemars(pattern(crate::schema::INTERFACE_PATTERN))]
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
    #[schemars(range(min = 1, max = crate::schema::MAX_BASE_PORT))]
    pub base_port: u16,
    /// A terminal in the browser for participants without an SSH client:
    /// pod N's at `https://HOST:(web_base_port + N)/`, same credentials.
    #[serde(default)]
    #[schemars(range(min = 1, max = crate::schema::MAX_BASE_PORT))]
    pub web_base_port: Option<u16>,
}

/// The top level as written. Each field is deserialized on its own (see
/// [`raw_topology`]) so that a wrong type in one does not hide the others.
struct RawTopology {
    /// `None` when missing, already reported.
    name: Option<String>,
    /// Wider than the topology's `u32` so that any whole number written
    /// is reported by the range check, as written.
    pods: Option<i64>,
    vars: BTreeMap<String, serde_yaml::Value>,
    nodes: BTreeMap<String, serde_yaml::Value>,
    /// False when `nodes` is there but could not be read (already reported).
    nodes_read: bool,
    links: Vec<serde_yaml::Value>,
    shared: Shared,
    access: Option<Access>,
    checks: Vec<serde_yaml::Value>,
}

const TOP_FIELDS: &[&str] = &[
    "name", "pods", "vars", "nodes", "links", "shared", "access", "checks",
];

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
        schema_with = "crate::schema::kind",
        description = "What the node runs: its image, where `config` goes, what `noglab connect` opens. A pod node's kind may be a template rendered per pod with `pod`, `pods`, `lab`, `node`, `solution` and the lab-wide `vars` (not the node's own vars or interfaces), e.g. `\"{{ vars.router_kind }}\"`, so pods may run different software.",
        transform = crate::schema::describe_kinds
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
    #[schemars(inner(pattern(crate::schema::COMMAND_PATTERN)))]
    pub exec: Vec<String>,
    /// More files to place in the node: absolute path in the container ->
    /// template relative to the topology (a path that may itself be a
    /// template, as `config`'s).
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": crate::schema::FILE_PATTERN }))]
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
    #[schemars(extend("propertyNames" = { "pattern": crate::schema::FILE_PATTERN }))]
    pub files: BTreeMap<String, String>,
    /// Commands run after the node's `exec` lines.
    #[serde(default)]
    #[schemars(inner(pattern(crate::schema::COMMAND_PATTERN)))]
    pub exec: Vec<String>,
}

/// A wire between nodes of a pod: two endpoints, or a LAN of more.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// `node` or `node:ethN`.
    #[schemars(length(min = 2), inner(pattern(crate::schema::ENDPOINT_PATTERN)))]
    pub endpoints: Vec<String>,
    /// Subnet template, e.g. `100.64.{{ pod }}.0/29`.
    #[serde(default)]
    pub ipv4: Option<String>,
    /// IPv6 subnet template, e.g. `2001:db8:{{ pod }}:1::/64`.
    #[serde(default)]
    pub ipv6: Option<String>,
}

/// A loaded topology with everything needed to plan it without touching the
/// filesystem again: the template files it names, and where each value
/// stands in the file for later diagnostics.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: PathBuf,
    pub source: String,
    pub spans: Spans,
    pub topology: Topology,
    /// Template sources by the relative path written in the topology.
    pub templates: BTreeMap<String, String>,
}

impl Loaded {
    /// Turns (path, message) pairs into diagnostics at the values' places.
    pub fn diagnostics(&self, problems: Vec<(spans::Path, String)>) -> Diagnostics {
        let items = problems
            .into_iter()
            .map(|(path, message)| at(self.spans.value(&path), message))
            .collect();
        Diagnostics::new(self.file.clone(), self.source.clone(), items)
    }
}

fn at(pos: Pos, message: String) -> Diagnostic {
    Diagnostic {
        line: pos.line,
        col: pos.col,
        message,
    }
}

/// Finds the topology file: a file as given, or `topology.yml` (or
/// `.yaml`) inside a lab folder.
pub fn resolve_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        for name in ["topology.yml", "topology.yaml"] {
            let candidate = path.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
        return path.join("topology.yml");
    }
    path.to_path_buf()
}

/// Reads and checks a topology. Every problem found comes back at once.
pub fn load(path: &Path) -> Result<Loaded, anyhow::Error> {
    let file = resolve_file(path);
    let source = std::fs::read_to_string(&file).map_err(|e| {
        crate::diag::input_error(format!("cannot read topology {}: {e}", file.display()))
    })?;
    let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    load_str_in(
        &file,
        source,
        |rel| read_template(&dir, rel),
        |prefix, suffix| files_like(&dir, prefix, suffix),
    )
    .map_err(anyhow::Error::new)
}

/// Loads from a string; `read` fetches a template by its relative path.
/// Kept apart from the filesystem so tests and fuzzing can drive it.
/// Template paths that are themselves templates find no file.
pub fn load_str(
    file: &Path,
    source: String,
    read: impl Fn(&str) -> Result<String, String>,
) -> Result<Loaded, Diagnostics> {
    load_str_in(file, source, read, |_, _| Vec::new())
}

/// As [`load_str`]; `list` names the files (relative paths) that start
/// with a prefix and end with a suffix, for template paths that are
/// themselves templates (`router.{{ vars.router_kind }}.conf`): every
/// file they could render to is read now, so that planning needs no
/// filesystem.
pub fn load_str_in(
    file: &Path,
    source: String,
    read: impl Fn(&str) -> Result<String, String>,
    list: impl Fn(&str, &str) -> Vec<String>,
) -> Result<Loaded, Diagnostics> {
    let fail = |items: Vec<Diagnostic>| Diagnostics::new(file.to_path_buf(), source.clone(), items);

    let (spans, duplicates) = Spans::parse(&source).map_err(|d| fail(vec![d]))?;
    if !duplicates.is_empty() {
        return Err(fail(duplicates));
    }
    let value: serde_yaml::Value = serde_yaml::from_str(&source).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        fail(vec![Diagnostic {
            line,
            col,
            message: format!("invalid YAML: {}", strip_location(&e.to_string())),
        }])
    })?;
    let map = match value {
        serde_yaml::Value::Mapping(map) => map,
        other => {
            let what = match other {
                serde_yaml::Value::Null => "the file is empty",
                serde_yaml::Value::Sequence(_) => "this is a list",
                _ => "this is a single value",
            };
            return Err(fail(vec![at(
                spans.value(&[]),
                format!("{what}; a topology is a mapping with at least `name:` and `nodes:`"),
            )]));
        }
    };

    let mut problems: Vec<Diagnostic> = Vec::new();
    let raw = raw_topology(map, &spans, &mut problems);

    let node_names: BTreeSet<String> = raw.nodes.keys().cloned().collect();
    let mut nodes = BTreeMap::new();
    for (name, v) in raw.nodes {
        match typed::<Node>(v, path!["nodes", name.as_str()], &spans) {
            Ok(node) => {
                nodes.insert(name, node);
            }
            Err(d) => problems.push(d),
        }
    }
    let mut links = Vec::new();
    let mut link_index = Vec::new();
    for (i, v) in raw.links.into_iter().enumerate() {
        match typed::<Link>(v, path!["links", i], &spans) {
            Ok(link) => {
                links.push(link);
                link_index.push(i);
            }
            Err(d) => problems.push(d),
        }
    }
    let mut checks = Vec::new();
    let mut check_index = Vec::new();
    for (i, v) in raw.checks.into_iter().enumerate() {
        match typed::<Check>(v, path!["checks", i], &spans) {
            Ok(c) => {
                checks.push(c);
                check_index.push(i);
            }
            Err(d) => problems.push(d),
        }
    }
    let pods = match raw.pods {
        None => 1,
        Some(p) => u32::try_from(p).unwrap_or(0),
    };
    let topology = Topology {
        name: raw.name.clone().unwrap_or_default(),
        pods,
        vars: raw.vars,
        nodes,
        links,
        shared: raw.shared,
        access: raw.access,
        checks,
    };
    let mut found = validate::check(
        &topology,
        &validate::Shape {
            has_name: raw.name.is_some(),
            nodes_read: raw.nodes_read,
            node_names: &node_names,
            link_index: &link_index,
            check_index: &check_index,
        },
    );
    if let Some(p) = raw.pods.filter(|p| u32::try_from(*p).is_err()) {
        // Out of u32's range: report the number as written.
        found.retain(|f| f.path != path!["pods"]);
        found.push(validate::Found {
            path: path!["pods"],
            at_key: false,
            message: format!("pods must be between 1 and {MAX_PODS}, not {p}"),
        });
    }

    let mut templates = BTreeMap::new();
    for (path, rel) in template_refs(&topology) {
        match validate::template_path(rel) {
            Err(message) => found.push(validate::Found {
                path,
                at_key: false,
                message,
            }),
            Ok(()) if is_template(rel) => {
                let (prefix, suffix) = template_path_ends(rel);
                let mut any = false;
                for candidate in list(prefix, suffix) {
                    if let Ok(text) = read(&candidate) {
                        templates.insert(candidate, text);
                        any = true;
                    }
                }
                if !any {
                    found.push(validate::Found {
                        path,
                        at_key: false,
                        message: format!(
                            "no file in the topology's folder matches `{rel}` (a path with a template renders, per pod, to one of the files whose names start with `{prefix}` and end with `{suffix}`)"
                        ),
                    });
                }
            }
            Ok(()) => match read(rel) {
                Ok(text) => {
                    templates.insert(rel.to_string(), text);
                }
                Err(e) => found.push(validate::Found {
                    path,
                    at_key: false,
                    message: format!("cannot read template `{rel}`: {e}"),
                }),
            },
        }
    }
    problems.extend(found.into_iter().map(|f| {
        let pos = if f.at_key {
            spans.key(&f.path)
        } else {
            spans.value(&f.path)
        };
        at(pos, f.message)
    }));
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    Ok(Loaded {
        file: file.to_path_buf(),
        source: source.clone(),
        spans,
        topology,
        templates,
    })
}

/// Reads the top level field by field, reporting every problem.
fn raw_topology(
    mut map: serde_yaml::Mapping,
    spans: &Spans,
    problems: &mut Vec<Diagnostic>,
) -> RawTopology {
    let mut field = |name: &str| map.remove(name).filter(|v| !v.is_null());
    let name = field("name");
    let pods = field("pods");
    let vars = field("vars");
    let nodes = field("nodes");
    let links = field("links");
    let shared = field("shared");
    let access = field("access");
    let checks = field("checks");
    for key in map.keys() {
        let text = match key {
            serde_yaml::Value::String(s) => s.clone(),
            other => serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        let message = format!(
            "unknown field `{text}`, expected one of {}",
            TOP_FIELDS
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        problems.push(at(
            spans.key(&[Seg::Key(text.clone())]),
            plain_words(&message, &[]),
        ));
    }
    // With `nodes:` missing and an unknown field there, the nodes are most
    // likely under a misspelt key: say that, not that there are none.
    let nodes_misspelt = nodes.is_none() && !map.is_empty();
    let name = match name {
        None => {
            problems.push(at(
                spans.value(&[]),
                plain_words("missing field `name`", &[]),
            ));
            None
        }
        Some(v) => typed::<String>(v, path!["name"], spans)
            .map_err(|d| problems.push(d))
            .ok(),
    };
    let pods = pods.and_then(|v| {
        typed::<i64>(v, path!["pods"], spans)
            .map_err(|d| problems.push(d))
            .ok()
    });
    let vars = vars
        .and_then(|v| {
            typed(v, path!["vars"], spans)
                .map_err(|d| problems.push(d))
                .ok()
        })
        .unwrap_or_default();
    let mut nodes_read = !nodes_misspelt;
    let nodes = nodes
        .and_then(|v| {
            typed(v, path!["nodes"], spans)
                .map_err(|d| {
                    nodes_read = false;
                    problems.push(d)
                })
                .ok()
        })
        .unwrap_or_default();
    let links = links
        .and_then(|v| {
            typed(v, path!["links"], spans)
                .map_err(|d| problems.push(d))
                .ok()
        })
        .unwrap_or_default();
    let shared = shared
        .and_then(|v| {
            typed(v, path!["shared"], spans)
                .map_err(|d| problems.push(d))
                .ok()
        })
        .unwrap_or_default();
    let access = access.and_then(|v| {
        // `access: {}` turns it on with defaults.
        let v = if v.is_null() {
            serde_yaml::Value::Mapping(Default::default())
        } else {
            v
        };
        typed(v, path!["access"], spans)
            .map_err(|d| problems.push(d))
            .ok()
    });
    let checks = checks
        .and_then(|v| {
            typed(v, path!["checks"], spans)
                .map_err(|d| problems.push(d))
                .ok()
        })
        .unwrap_or_default();
    RawTopology {
        name,
        pods,
        vars,
        nodes,
        nodes_read,
        links,
        shared,
        access,
        checks,
    }
}

/// Every template file a topology names, with the path of the value that names it.
fn template_refs(t: &Topology) -> Vec<(spans::Path, &str)> {
    let mut refs = Vec::new();
    let all = t
        .nodes
        .iter()
        .map(|(n, node)| (path!["nodes", n.as_str()], node))
        .chain(
            t.shared
                .nodes
                .iter()
                .map(|(n, node)| (path!["shared", "nodes", n.as_str()], node)),
        );
    for (base, node) in all {
        if let Some(config) = &node.config {
            let mut p = base.clone();
            p.push(Seg::Key("config".into()));
            refs.push((p, config.as_str()));
        }
        for (dest, src) in &node.files {
            let mut p = base.clone();
            p.extend([Seg::Key("files".into()), Seg::Key(dest.clone())]);
            refs.push((p, src.as_str()));
        }
        if let Some(sol) = &node.solution {
            if let Some(config) = &sol.config {
                let mut p = base.clone();
                p.extend([Seg::Key("solution".into()), Seg::Key("config".into())]);
                refs.push((p, config.as_str()));
            }
            for (dest, src) in &sol.files {
                let mut p = base.clone();
                p.extend([
                    Seg::Key("solution".into()),
                    Seg::Key("files".into()),
                    Seg::Key(dest.clone()),
                ]);
                refs.push((p, src.as_str()));
            }
        }
    }
    refs
}

/// What a template path written with tags is sure to start and end with:
/// the text before its first tag and after its last.
pub fn template_path_ends(rel: &str) -> (&str, &str) {
    let start = [rel.find("{{"), rel.find("{%")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rel.len());
    let end = [rel.rfind("}}"), rel.rfind("%}")]
        .into_iter()
        .flatten()
        .filter(|e| *e >= start)
        .max()
        .map_or(rel.len(), |e| e + 2);
    (&rel[..start], &rel[end..])
}

/// The most files looked at for one template path with tags.
const MAX_CANDIDATES: usize = 1000;

/// Files under `dir` (relative paths with `/`) that start with `prefix`
/// and end with `suffix`, searched from the prefix's folder down; folder
/// links are not followed, and the search stops after [`MAX_CANDIDATES`]
/// entries.
fn files_like(dir: &Path, prefix: &str, suffix: &str) -> Vec<String> {
    let top = prefix.rfind('/').map_or("", |i| &prefix[..=i]);
    let mut out = Vec::new();
    let mut seen = 0;
    let mut todo = vec![top.to_string()];
    while let Some(rel_dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(dir.join(&rel_dir)) else {
            continue;
        };
        let mut names: Vec<(String, bool)> = entries
            .flatten()
            .filter_map(|e| {
                let is_dir = e.file_type().ok()?.is_dir();
                Some((e.file_name().into_string().ok()?, is_dir))
            })
            .collect();
        names.sort();
        for (name, is_dir) in names {
            seen += 1;
            if seen > MAX_CANDIDATES {
                return out;
            }
            let rel = format!("{rel_dir}{name}");
            if is_dir {
                todo.push(format!("{rel}/"));
            } else if rel.len() >= prefix.len() + suffix.len()
                && rel.starts_with(prefix)
                && rel.ends_with(suffix)
            {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

fn read_template(dir: &Path, rel: &str) -> Result<String, String> {
    let full = dir.join(rel);
    let cannot = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{} does not exist (template paths are relative to the topology's folder)",
            full.display()
        ),
        _ => format!("{}: {e}", full.display()),
    };
    // A template must stay inside the topology's folder, links included.
    let canon_dir = dir.canonicalize().map_err(cannot)?;
    let canon = full.canonicalize().map_err(cannot)?;
    if !canon.starts_with(&canon_dir) {
        return Err(format!(
            "{} resolves outside the topology's folder",
            full.display()
        ));
    }
    if canon.is_dir() {
        return Err(format!("{} is a folder, not a file", full.display()));
    }
    std::fs::read_to_string(&canon).map_err(cannot)
}

/// Deserializes one part of the document, mapping a serde error to the
/// place it concerns.
fn typed<T: serde::de::DeserializeOwned>(
    value: serde_yaml::Value,
    base: spans::Path,
    spans: &Spans,
) -> Result<T, Diagnostic> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path: spans::Path = base.clone();
        for seg in e.path().iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => path.push(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key } => path.push(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    path.push(Seg::Key(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let message = plain_words(&e.inner().to_string(), &base);
        // For an unknown field, point at the field itself.
        let pos = match backticked(&message) {
            Some(field) if message.starts_with("unknown field") => {
                let mut p = path.clone();
                p.push(Seg::Key(field.to_string()));
                spans.key(&p)
            }
            _ if message.starts_with("missing field")
                || message.starts_with("node `") && message.contains("has no `kind`")
                || message.starts_with("link ") && message.contains(" has no `") =>
            {
                spans.key(&path)
            }
            _ => spans.value(&path),
        };
        let message = match path.last() {
            Some(Seg::Key(k))
                if !message.starts_with("unknown field")
                    && !message.starts_with("missing field")
                    && !message.starts_with("node `") =>
            {
                format!("`{k}`: {message}")
            }
            _ => message,
        };
        at(pos, message)
    })
}

/// serde's wording, in the words of a YAML file: lists and mappings, not
/// sequences and maps; a missing field said with what to do; a misspelt
/// field with the likely one.
fn plain_words(message: &str, base: &[Seg]) -> String {
    let mut m = message
        .replace("invalid type: unit value", "nothing given")
        .replace("invalid type: sequence", "invalid type: list")
        .replace("invalid type: map", "invalid type: mapping")
        .replace("expected a sequence", "expected a list")
        .replace("expected a map", "expected a mapping")
        .replace("expected i64", "expected a whole number")
        .replace("expected u32", "expected a whole number");
    if let Some(field) = backticked(&m).filter(|_| m.starts_with("missing field")) {
        m = match (base, field) {
            ([], "name") => {
                "missing field `name`: every topology needs a lab name, like `name: bgp-lab`"
                    .to_string()
            }
            ([Seg::Key(n), Seg::Key(node)], "kind") if n == "nodes" => format!(
                "node `{node}` has no `kind`; valid kinds: {}",
                crate::kinds::names().join(", ")
            ),
            ([Seg::Key(l), Seg::Index(i)], _) if l == "links" => {
                format!("link {} has no `{field}`", i + 1)
            }
            _ => m,
        };
    } else if let Some(field) = backticked(&m).filter(|_| m.starts_with("unknown field")) {
        let expected: Vec<&str> = m
            .split_once("expected ")
            .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        if let Some(best) = expected
            .iter()
            .map(|c| (distance(field, c), *c))
            .filter(|(d, c)| *d <= 2 && *d < c.len())
            .min()
        {
            m = format!("{m}; did you mean `{}`?", best.1);
        }
    }
    m
}

/// Levenshtein distance, for suggesting a field name.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// serde_yaml appends " at line X column Y"; the diagnostic already says where.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `source` with no template files, returning each problem as
    /// `LINE:COL: message`.
    fn problems(source: &str) -> Vec<String> {
        match load_str(Path::new("t.yml"), source.to_string(), |rel| {
            Err(format!("no file {rel}"))
        }) {
            Ok(_) => Vec::new(),
            Err(d) => d
                .items
                .iter()
                .map(|i| format!("{}:{}: {}", i.line, i.col, i.message))
                .collect(),
        }
    }

    #[test]
    fn a_broken_link_does_not_move_the_links_after_it() {
        let p = problems(
            "name: lab\nnodes:\n  r1: {kind: frr}\nlinks:\n  - {endpoints: [r1], bogus: 1}\n  - endpoints: [r1, r9]\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("5:23: unknown field `bogus`"), "{p:?}");
        assert!(p[1].starts_with("6:21: unknown node `r9`"), "{p:?}");
    }

    #[test]
    fn a_broken_node_still_counts_as_a_node() {
        let p = problems(
            "name: lab\nnodes:\n  r1: {kind: frr, bogus: 1}\n  r2: {kind: frr}\nlinks:\n  - endpoints: [r1, r2, r3]\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[1].contains("unknown node `r3`; nodes are: r1, r2"),
            "{p:?}"
        );
    }

    #[test]
    fn node_names_are_reported_at_the_name() {
        let p = problems("name: lab\nnodes:\n  R1:\n    kind: frr\n");
        assert_eq!(p, vec!["3:3: bad node name `R1`: use lowercase letters, digits and `-`, starting with a letter"]);
    }

    #[test]
    fn every_top_level_type_error_comes_back() {
        let p = problems("name: 42\npods: two\nnodes: [a]\nlinks: {a: b}\n");
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[1].contains("expected a whole number"), "{p:?}");
        // With `nodes` unreadable, nothing is said about nodes being missing.
        assert!(!p.iter().any(|m| m.contains("at least one node")), "{p:?}");
    }

    #[test]
    fn pods_out_of_range_are_reported_as_written() {
        for (written, shown) in [
            ("0", "0"),
            ("-3", "-3"),
            ("4294967296", "4294967296"),
            ("251", "251"),
        ] {
            let p = problems(&format!(
                "name: lab\npods: {written}\nnodes:\n  r1: {{kind: frr}}\n"
            ));
            assert_eq!(
                p,
                vec![format!(
                    "2:7: pods must be between 1 and {MAX_PODS}, not {shown}"
                )]
            );
        }
    }

    #[test]
    fn a_missing_name_is_said_once() {
        let p = problems("# lab\nnodes:\n  r1: {kind: frr}\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("2:1: missing field `name`"), "{p:?}");
    }

    #[test]
    fn misspelt_fields_get_a_suggestion() {
        let p = problems("name: lab\nnodes:\n  r1: {kind: frr, confg: x}\n");
        assert!(p[0].ends_with("did you mean `config`?"), "{p:?}");
        let p = problems("name: lab\nnode:\n  r1: {kind: frr}\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].ends_with("did you mean `nodes`?"), "{p:?}");
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn files_may_not_overwrite_the_config() {
        let p = problems(
            "name: lab\nnodes:\n  r1:\n    kind: frr\n    config: a\n    files:\n      /etc/frr/frr.conf: a\n",
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("7:7: `/etc/frr/frr.conf` is where `config:` goes")),
            "{p:?}"
        );
    }
}
