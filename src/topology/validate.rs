//! Checks of a topology that hold for every pod: names, kinds, references,
//! interface names. Each problem is a path and a message, and whether it is
//! about the key at that path (a node's name, a file's destination) or its
//! value; the caller turns paths into file positions.

use std::collections::{BTreeMap, BTreeSet};

use super::names::{
    bad_name, check as name_ok, parse_endpoint, MAX_CHECK_ID, MAX_INTERFACES, MAX_LAB_NAME,
    MAX_NETWORK_NAME, MAX_NODE_NAME,
};
use super::spans::{Path, Problem};
use super::{Topology, MAX_PODS};
use crate::kinds;

/// Marks an interface taken by a shared network rather than a link.
const SHARED_USE: usize = usize::MAX;

fn used_by(link: usize) -> String {
    if link == SHARED_USE {
        "a shared network".into()
    } else {
        format!("link {}", link + 1)
    }
}

fn value(path: Path, message: impl Into<String>) -> Problem {
    Problem::value(path, message)
}

fn key(path: Path, message: impl Into<String>) -> Problem {
    Problem::key(path, message)
}

/// What the checks look at beyond the well-formed part of the topology:
/// parts that failed to deserialize are already reported, yet their names
/// and places still count.
pub(super) struct Shape<'a> {
    /// Whether the topology has a `name` at all (a missing one is
    /// already reported).
    pub has_name: bool,
    /// Whether `nodes` could be read at all; when not, nothing can be said
    /// about which nodes exist.
    pub nodes_read: bool,
    /// Every node name in the file, including nodes whose body is broken.
    pub node_names: &'a BTreeSet<String>,
    /// Every shared node name in the file, including broken ones.
    pub shared_node_names: &'a BTreeSet<String>,
    /// For each link of the topology, its index in the file (links that
    /// failed to deserialize leave gaps).
    pub link_index: &'a [usize],
    /// Likewise for checks.
    pub check_index: &'a [usize],
}

/// Every check that needs no pod number, in the file's order of sections.
pub(super) fn check(t: &Topology, shape: &Shape) -> Vec<Problem> {
    let mut out = Vec::new();
    check_top(t, shape, &mut out);
    let mut ifaces = InterfaceUse::default();
    check_links(t, shape, &mut ifaces, &mut out);
    check_shared_networks(t, shape, &mut ifaces, &mut out);
    check_checks(t, shape, &mut out);
    if let Some(access) = &t.access {
        check_access(access, &mut out);
    }
    ifaces.check_counts(&mut out);
    out
}

/// The lab's name and pod count, and every node's own fields.
fn check_top(t: &Topology, shape: &Shape, out: &mut Vec<Problem>) {
    if shape.has_name {
        if let Err(m) = name_ok(&t.name, MAX_LAB_NAME) {
            out.push(value(path!["name"], bad_name("lab", &t.name, &m)));
        }
    }
    if t.pods == 0 || t.pods > MAX_PODS {
        out.push(value(
            path!["pods"],
            format!("pods must be between 1 and {MAX_PODS}, not {}", t.pods),
        ));
    }
    if shape.node_names.is_empty() && shape.nodes_read {
        out.push(value(
            path!["nodes"],
            "a topology needs at least one node under `nodes:`",
        ));
    }
    for (name, node) in &t.nodes {
        check_node(path!["nodes", name.as_str()], name, node, false, out);
    }
    for (name, node) in &t.shared.nodes {
        let base = path!["shared", "nodes", name.as_str()];
        check_node(base.clone(), name, node, true, out);
        if shape.node_names.contains(name) {
            out.push(key(
                base,
                format!(
                    "`{name}` is already a pod node; shared and pod nodes need different names"
                ),
            ));
        }
    }
}

/// Interfaces per node, across links and shared networks: those named
/// explicitly (with who named them first) and how many there are.
#[derive(Default)]
struct InterfaceUse<'t> {
    explicit: BTreeMap<&'t str, BTreeMap<String, usize>>,
    count: BTreeMap<&'t str, u32>,
}

impl<'t> InterfaceUse<'t> {
    /// Counts one interface of `node`; an explicit name taken before is a
    /// problem at `here`. `user` is a link's index or [`SHARED_USE`].
    fn take(
        &mut self,
        node: &'t str,
        iface: Option<&str>,
        user: usize,
        here: Path,
        out: &mut Vec<Problem>,
    ) {
        *self.count.entry(node).or_default() += 1;
        let Some(iface) = iface else { return };
        let used = self.explicit.entry(node).or_default();
        if let Some(first) = used.get(iface) {
            out.push(value(
                here,
                format!(
                    "interface `{node}:{iface}` is already used by {}",
                    used_by(*first)
                ),
            ));
        } else {
            used.insert(iface.to_string(), user);
        }
    }

    fn check_counts(self, out: &mut Vec<Problem>) {
        for (node, n) in self.count {
            if n > MAX_INTERFACES {
                out.push(key(
                    path!["nodes", node],
                    format!("node `{node}` has {n} links; at most {MAX_INTERFACES} are supported"),
                ));
            }
        }
    }
}

/// Links: two endpoints at least, known nodes, each once, valid interfaces.
fn check_links<'t>(
    t: &Topology,
    shape: &Shape<'t>,
    ifaces: &mut InterfaceUse<'t>,
    out: &mut Vec<Problem>,
) {
    for (link, &li) in t.links.iter().zip(shape.link_index) {
        if link.endpoints.len() < 2 {
            out.push(value(
                path!["links", li, "endpoints"],
                "a link needs at least two endpoints",
            ));
        }
        let mut on_link = BTreeSet::new();
        for (ei, ep) in link.endpoints.iter().enumerate() {
            let here = path!["links", li, "endpoints", ei];
            let (node, iface) = match parse_endpoint(ep) {
                Ok(x) => x,
                Err(m) => {
                    out.push(value(here, m));
                    continue;
                }
            };
            let Some(node_name) = shape.node_names.get(node) else {
                if shape.nodes_read {
                    let known: Vec<&str> = shape.node_names.iter().map(String::as_str).collect();
                    out.push(value(
                        here,
                        format!("unknown node `{node}`; nodes are: {}", known.join(", ")),
                    ));
                }
                continue;
            };
            if !on_link.insert(node) {
                out.push(value(
                    here.clone(),
                    format!("node `{node}` appears twice on this link"),
                ));
            }
            ifaces.take(node_name.as_str(), iface, li, here, out);
        }
    }
}

/// Shared networks: good names, attached nodes that exist, addresses with
/// a subnet, interfaces that do not clash with the links'.
fn check_shared_networks<'t>(
    t: &'t Topology,
    shape: &Shape<'t>,
    ifaces: &mut InterfaceUse<'t>,
    out: &mut Vec<Problem>,
) {
    for (net, n) in &t.shared.networks {
        let base = path!["shared", "networks", net.as_str()];
        if let Err(m) = name_ok(net, MAX_NETWORK_NAME) {
            out.push(key(base.clone(), bad_name("network", net, &m)));
        }
        if n.attach.is_empty() {
            out.push(value(
                base.clone(),
                format!("shared network `{net}` needs nodes under `attach:`"),
            ));
        }
        for (node, a) in &n.attach {
            let here = path!["shared", "networks", net.as_str(), "attach", node.as_str()];
            let pod_node = shape.node_names.get(node);
            let shared_node = t.shared.nodes.get_key_value(node).map(|(k, _)| k);
            let Some(node_name) = pod_node.or(shared_node) else {
                if shape.nodes_read {
                    let known: Vec<&str> = shape
                        .node_names
                        .iter()
                        .chain(t.shared.nodes.keys())
                        .map(String::as_str)
                        .collect();
                    out.push(key(
                        here,
                        format!("unknown node `{node}`; nodes are: {}", known.join(", ")),
                    ));
                }
                continue;
            };
            for (family, addr, subnet) in [("ipv4", &a.ipv4, &n.ipv4), ("ipv6", &a.ipv6, &n.ipv6)] {
                if addr.is_some() && subnet.is_none() {
                    out.push(value(
                        sub(&here, &[family]),
                        format!("shared network `{net}` has no `{family}` subnet for this address"),
                    ));
                }
            }
            let iface = a.interface.as_deref();
            let at = sub(&here, &["interface"]);
            match iface.map(|i| parse_endpoint(&format!("{node}:{i}")).map(|_| ())) {
                Some(Err(m)) => {
                    ifaces.take(node_name.as_str(), None, SHARED_USE, at.clone(), out);
                    out.push(value(at, m));
                }
                _ => ifaces.take(node_name.as_str(), iface, SHARED_USE, at, out),
            }
        }
    }
}

/// The access points' ports: every pod's fits. (`web_base_port` is
/// retired and opens no port: nothing to check against.)
fn check_access(access: &super::Access, out: &mut Vec<Problem>) {
    if access.base_port == 0 || u32::from(access.base_port) + MAX_PODS > 65535 {
        out.push(value(
            path!["access", "base_port"],
            format!(
                "base_port must be between 1 and {}, so that every pod gets a port",
                65535 - MAX_PODS
            ),
        ));
    }
}

/// `base` and then the keys `segs`.
fn sub(base: &Path, segs: &[&str]) -> Path {
    let mut p = base.clone();
    p.extend(segs.iter().map(|s| super::Seg::Key(s.to_string())));
    p
}

/// Checks of one node, pod or shared, whose value stands at `base`.
fn check_node(base: Path, name: &str, node: &super::Node, shared: bool, out: &mut Vec<Problem>) {
    let here = |field: &str| {
        let mut p = base.clone();
        p.push(super::Seg::Key(field.to_string()));
        p
    };
    let sub = |a: &str, b: &str| {
        let mut p = base.clone();
        p.extend([
            super::Seg::Key(a.to_string()),
            super::Seg::Key(b.to_string()),
        ]);
        p
    };
    {
        if let Err(m) = name_ok(name, MAX_NODE_NAME) {
            out.push(key(base.clone(), bad_name("node", name, &m)));
        }
        match kinds::lookup(&node.kind) {
            // A pod node's kind rendered per pod is checked per pod, by
            // the plan, with `kind_fit`.
            None if super::is_template(&node.kind) && !shared => {}
            None if super::is_template(&node.kind) => out.push(value(
                here("kind"),
                format!(
                    "a shared node's kind is written as it is, not as a template: `{name}` exists once for the whole lab; valid kinds: {}",
                    kinds::names().join(", ")
                ),
            )),
            None => out.push(value(here("kind"), unknown_kind(&node.kind))),
            Some(kind) => kind_fit(&base, node, kind, out),
        }
        for dest in node.files.keys() {
            if let Err(m) = container_path(dest) {
                out.push(key(sub("files", dest), m));
            }
        }
        for (i, line) in node.exec.iter().enumerate() {
            if line.trim().is_empty() {
                let mut p = here("exec");
                p.push(super::Seg::Index(i));
                out.push(value(p, "empty exec line; remove it or write the command"));
            }
        }
        if let Some(sol) = &node.solution {
            check_solution(&base, sol, out);
        }
        if let Some(image) = &node.image {
            if !image_ok(image) {
                out.push(value(
                    here("image"),
                    format!(
                        "bad image reference `{image}`; write it as `name[:tag]` or `name@digest`"
                    ),
                ));
            }
        }
    }
}

/// `unknown kind `x`; valid kinds: ...`.
pub fn unknown_kind(kind: &str) -> String {
    format!(
        "unknown kind `{kind}`; valid kinds: {}",
        kinds::names().join(", ")
    )
}

/// What a node asks of its kind that the kind may not have: a main config
/// file, a `files:` entry apart from where the config goes. For a kind
/// rendered per pod, the plan asks this of each pod's kind.
fn kind_fit(base: &Path, node: &super::Node, kind: &kinds::Kind, out: &mut Vec<Problem>) {
    let at = |segs: &[&str]| {
        let mut p = base.clone();
        p.extend(segs.iter().map(|s| super::Seg::Key(s.to_string())));
        p
    };
    let no_config = || {
        format!(
            "kind `{}` has no main config file; place files with `files:` instead",
            kind.name
        )
    };
    let both = |dest: &str| {
        format!(
            "`{dest}` is where `config:` goes for kind `{}`; drop one of the two",
            kind.name
        )
    };
    if node.config.is_some() {
        match kind.config_path {
            None => out.push(value(at(&["config"]), no_config())),
            Some(dest) if node.files.contains_key(dest) => {
                out.push(key(at(&["files", dest]), both(dest)))
            }
            Some(_) => {}
        }
    }
    if let Some(sol) = node.solution.as_ref().filter(|s| s.config.is_some()) {
        match kind.config_path {
            None => out.push(value(at(&["solution", "config"]), no_config())),
            Some(dest) if sol.files.contains_key(dest) => {
                out.push(key(at(&["solution", "files", dest]), both(dest)))
            }
            Some(_) => {}
        }
    }
}

/// [`kind_fit`] for one pod's rendered kind.
pub fn kind_fit_problems(base: &Path, node: &super::Node, kind: &kinds::Kind) -> Vec<Problem> {
    let mut out = Vec::new();
    kind_fit(base, node, kind, &mut out);
    out
}

/// Checks of a node's `solution`, the same as of the node's own fields.
fn check_solution(base: &Path, sol: &super::Solution, out: &mut Vec<Problem>) {
    let at = |segs: &[&str]| {
        let mut p = base.clone();
        p.push(super::Seg::Key("solution".into()));
        p.extend(segs.iter().map(|s| super::Seg::Key(s.to_string())));
        p
    };
    for dest in sol.files.keys() {
        if let Err(m) = container_path(dest) {
            out.push(key(at(&["files", dest]), m));
        }
    }
    for (i, line) in sol.exec.iter().enumerate() {
        if line.trim().is_empty() {
            let mut p = at(&["exec"]);
            p.push(super::Seg::Index(i));
            out.push(value(p, "empty exec line; remove it or write the command"));
        }
    }
}

/// A template path is relative and stays inside the topology's folder.
pub(super) fn template_path(rel: &str) -> Result<(), String> {
    let p = std::path::Path::new(rel);
    if rel.is_empty() {
        return Err("empty template path".into());
    }
    if p.is_absolute() {
        return Err(format!(
            "template `{rel}` must be a path relative to the topology"
        ));
    }
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "template `{rel}` must stay inside the topology's folder (no `..`)"
        ));
    }
    Ok(())
}

/// Where a `files:` entry may go inside a container.
fn container_path(dest: &str) -> Result<(), String> {
    let p = std::path::Path::new(dest);
    if !p.is_absolute() {
        return Err(format!(
            "file destination `{dest}` must be an absolute path in the node"
        ));
    }
    if dest.ends_with('/') {
        return Err(format!(
            "file destination `{dest}` is a folder; name the file to write"
        ));
    }
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("file destination `{dest}` must not contain `..`"));
    }
    for reserved in ["/etc/noglab", "/proc", "/sys", "/dev", "/run/noglab"] {
        if p.starts_with(reserved) {
            return Err(format!(
                "file destination `{dest}` is under {reserved}, which noglab reserves"
            ));
        }
    }
    Ok(())
}

fn image_ok(image: &str) -> bool {
    !image.is_empty()
        && image.len() <= 255
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
}

/// Whether a built-in check can run on a node of `kind`: when not, the
/// check's field that cannot and why.
pub fn check_kind_problem(c: &super::Check, kind: &str) -> Option<(&'static str, String)> {
    let what = if c.bgp.is_some() {
        "bgp"
    } else if c.route.is_some() {
        "route"
    } else if c.dns.is_some() {
        "dns"
    } else {
        return None;
    };
    let supported = kinds::running(what)?;
    (!supported.contains(&kind)).then(|| {
        (
            what,
            format!(
                "a `{what}` check runs on kinds {}, not on `{kind}` node `{}`",
                supported.join(", "),
                c.node
            ),
        )
    })
}

/// Checks: unique ids, a known node, exactly one thing to run, a step in
/// range, built-ins the node's kind can do, regular expressions that
/// compile.
fn check_checks(t: &Topology, shape: &Shape, out: &mut Vec<Problem>) {
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (c, &ci) in t.checks.iter().zip(shape.check_index) {
        let here = |f: &str| path!["checks", ci, f];
        if let Err(m) = name_ok(&c.id, MAX_CHECK_ID) {
            out.push(value(here("id"), bad_name("check id", &c.id, &m)));
        }
        if let Some(first) = ids.insert(c.id.as_str(), ci) {
            out.push(value(
                here("id"),
                format!("check id `{}` is already used by check {}", c.id, first + 1),
            ));
        }
        // A node whose own body failed to type is already reported: the
        // check naming it is not wrong too, only its kind is unknown.
        let written =
            shape.node_names.contains(&c.node) || shape.shared_node_names.contains(&c.node);
        let kind = match (t.nodes.get(&c.node), t.shared.nodes.get(&c.node)) {
            (Some(n), _) | (None, Some(n)) => Some(n.kind.as_str()),
            (None, None) => {
                if shape.nodes_read && !written {
                    out.push(value(here("node"), format!("unknown node `{}`", c.node)));
                }
                None
            }
        };
        let actions = [
            c.run.is_some(),
            c.ping.is_some(),
            c.bgp.is_some(),
            c.route.is_some(),
            c.dns.is_some(),
        ];
        let n = actions.iter().filter(|a| **a).count();
        if n != 1 {
            out.push(value(
                path!["checks", ci],
                format!(
                    "check `{}` needs exactly one of `run`, `ping`, `bgp`, `route` or `dns` (it has {n})",
                    c.id
                ),
            ));
        }
        if c.run.is_none() && c.expect != super::Expect::default() {
            out.push(value(
                here("expect"),
                "`expect` goes with `run`; the built-in checks bring their own",
            ));
        }
        // A kind rendered per pod is checked per pod, by the plan.
        if let Some(kind) = kind.filter(|k| !super::is_template(k)) {
            if let Some((what, message)) = check_kind_problem(c, kind) {
                out.push(value(here(what), message));
            }
        }
        if let Some(re) = &c.expect.matches {
            if !re.contains("{{") && !re.contains("{%") {
                if let Err(e) = regex::Regex::new(re) {
                    out.push(value(
                        path!["checks", ci, "expect", "matches"],
                        format!(
                            "bad regular expression: {}",
                            e.to_string().lines().last().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        if c.step > super::MAX_STEP {
            out.push(value(
                here("step"),
                format!(
                    "a check's step is at most {}: 0 for what holds from the start, then the exercise's steps from 1",
                    super::MAX_STEP
                ),
            ));
        }
        if c.timeout > 600 {
            out.push(value(
                here("timeout"),
                "a check's timeout is at most 600 seconds",
            ));
        }
    }
}
