//! One node's container, the same for a pod node and a shared node: its
//! kind in a pod, its vars, its rendered files and exec lines, its login
//! shell and daemons, noglab's own files, and the spec sealed with labels
//! and a hash.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::Ipv4Net;
use serde_json::Value as Json;

use super::context::{Context, Vars};
use super::interfaces::in_order;
use super::names::{container_name, labels, own_files, pod_label, spec_hash, NOGLAB_DIR};
use super::problems::{Problem, Problems};
use super::render::{self, RenderError};
use super::{Attachment, ContainerSpec, FileSpec, MEMORY_LIMIT, PIDS_LIMIT};
use crate::kinds::{self, Kind};
use crate::topology::spans::Path;
use crate::topology::{Loaded, Node, Seg, Topology};

/// One node to plan, in a pod or in the lab-wide pod.
pub(crate) struct NodeAt<'a> {
    pub lab: &'a str,
    pub pod: u32,
    pub name: &'a str,
    pub node: &'a Node,
    /// Its kind in this pod.
    pub kind: &'static Kind,
    /// Where the node stands in the topology, for problems.
    pub base: Path,
    pub mgmt: Attachment,
    pub mgmt_net: Ipv4Net,
    pub links: Vec<Attachment>,
    /// Whether the lab has access points, so the node runs sshd for them.
    pub access: bool,
}

/// `base` and then the keys `segs`.
pub(crate) fn sub(base: &Path, segs: &[&str]) -> Path {
    let mut p = base.clone();
    p.extend(segs.iter().map(|s| Seg::Key(s.to_string())));
    p
}

/// Each pod node's kind in one pod: as written, or its template rendered
/// with `ctx` (the pod, the lab and its vars: a node's own vars and
/// interfaces may themselves depend on kinds, through `nodes`). A rendered
/// kind must be a known one that fits the node. Also each node's kind as
/// templates see it, even a wrong one, so that a bad kind is reported once
/// rather than again by every template that reads `nodes`.
pub(crate) fn pod_kinds<'t>(
    t: &'t Topology,
    ctx: &Context,
    problems: &mut Problems,
) -> (BTreeMap<&'t str, &'static Kind>, BTreeMap<String, String>) {
    let mut kinds = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (name, node) in &t.nodes {
        names.insert(name.clone(), node.kind.clone());
        if !crate::topology::is_template(&node.kind) {
            // Checked when the topology was loaded.
            kinds.extend(kinds::lookup(&node.kind).map(|k| (name.as_str(), k)));
            continue;
        }
        let base = path!["nodes", name.as_str()];
        let json = Context {
            node: Some(name.as_str()),
            ..ctx.clone()
        }
        .to_json();
        let Some(rendered) = problems.render(&node.kind, &json, sub(&base, &["kind"])) else {
            continue;
        };
        let rendered = rendered.trim().to_string();
        names.insert(name.clone(), rendered.clone());
        let Some(kind) = kinds::lookup(&rendered) else {
            problems.push(
                sub(&base, &["kind"]),
                format!(
                    "`{}` renders to {}",
                    node.kind.trim(),
                    crate::topology::unknown_kind(&rendered)
                ),
            );
            continue;
        };
        let fit = crate::topology::kind_fit_problems(&base, node, kind);
        if fit.is_empty() {
            kinds.insert(name.as_str(), kind);
        }
        // The plan's problems point at values, as the kind's own does.
        problems.extend(fit.into_iter().map(|p| Problem::value(p.path, p.message)));
    }
    (kinds, names)
}

/// A node planned: its container, and what its checks render with.
pub(crate) struct Planned {
    /// `None` when something failed (reported).
    pub spec: Option<ContainerSpec>,
    /// The node's context with its own vars.
    pub context: Json,
    /// The node's own vars that failed (reported), so that its checks do
    /// not report them again.
    pub failed_vars: BTreeSet<String>,
}

/// A node's container spec and its context (see [`Planned`]).
pub(crate) fn plan_node(
    loaded: &Loaded,
    at: NodeAt,
    ctx: &Context,
    problems: &mut Problems,
) -> Planned {
    let mut here = problems.nested();
    let (vars, vars_ok) = node_vars(&at, ctx, &mut here);
    let ctx = Context {
        vars: Some(&vars),
        ..ctx.clone()
    };
    let json = ctx.to_json();
    let mut files = Files {
        loaded,
        ctx: &json,
        out: BTreeMap::new(),
    };
    files.place_all(&at, ctx.solution.unwrap_or(false), &mut here);
    let exec = exec_lines(&at, &json, &mut here);
    let login_shell = login_shell_of(&at, &json, &mut here);
    let ok = vars_ok && daemons_known(&at, &mut here);
    let failed_vars = here.failed_vars().clone();
    problems.absorb(here);
    if !ok {
        return Planned {
            spec: None,
            context: json,
            failed_vars,
        };
    }
    let mut files = files.out;
    own_files(&at, &ctx, loaded, login_shell, exec, &mut files);
    Planned {
        spec: Some(container(at, files)),
        context: json,
        failed_vars,
    }
}

/// The node's vars merged over the lab-wide ones, each rendered with the
/// lab-wide ones; whether all rendered.
fn node_vars(at: &NodeAt, ctx: &Context, problems: &mut Problems) -> (Vars, bool) {
    let json = ctx.to_json();
    let mut vars = ctx.vars.cloned().unwrap_or_default();
    let mut ok = true;
    for (k, v) in &at.node.vars {
        match render::render_value(v, &json) {
            Ok(r) => {
                vars.insert(k.clone(), r);
            }
            Err(e) => {
                ok = false;
                problems.var_failed(k);
                problems.push(sub(&at.base, &["vars", k]), render::placed(e, v).inline());
            }
        }
    }
    (vars, ok)
}

/// The template file a node names at `rel`, for this node's context: `rel`
/// itself, or what it renders to when it holds tags. `None` when it
/// renders to nothing (no such file in this pod).
fn template_file(loaded: &Loaded, rel: &str, ctx: &Json) -> Result<Option<String>, PathError> {
    if !crate::topology::is_template(rel) {
        return Ok(Some(rel.to_string()));
    }
    let rendered = render::render(rel, ctx).map_err(PathError::Render)?;
    let rendered = rendered.trim();
    if rendered.is_empty() {
        return Ok(None);
    }
    if loaded.templates.contains_key(rendered) {
        return Ok(Some(rendered.to_string()));
    }
    let (prefix, suffix) = crate::topology::template_path_ends(rel);
    let known: Vec<&str> = loaded
        .templates
        .keys()
        .map(String::as_str)
        .filter(|k| k.starts_with(prefix) && k.ends_with(suffix))
        .collect();
    Err(PathError::NoFile(format!(
        "`{rel}` renders to `{rendered}`, which is not a file in the topology's folder; it has {}",
        known.join(", ")
    )))
}

/// Why a template path with tags names no file.
enum PathError {
    Render(RenderError),
    NoFile(String),
}

/// A node's rendered files, by destination.
struct Files<'a> {
    loaded: &'a Loaded,
    ctx: &'a Json,
    out: BTreeMap<String, FileSpec>,
}

impl Files<'_> {
    /// The kind's config (the solution's, in solution mode, where it names
    /// a file), the node's files, then the solution's over them.
    fn place_all(&mut self, at: &NodeAt, solved: bool, problems: &mut Problems) {
        let (base, node) = (&at.base, at.node);
        let solution = node.solution.as_ref().filter(|_| solved);
        if let Some(dest) = at.kind.config_path {
            let solved_config = solution.and_then(|s| s.config.as_deref());
            let placed = solved_config.is_some_and(|rel| {
                self.place(sub(base, &["solution", "config"]), rel, dest, problems)
            });
            if let (false, Some(rel)) = (placed, &node.config) {
                self.place(sub(base, &["config"]), rel, dest, problems);
            }
        }
        for (dest, rel) in &node.files {
            self.place(sub(base, &["files", dest]), rel, dest, problems);
        }
        for (dest, rel) in solution.iter().flat_map(|s| &s.files) {
            self.place(sub(base, &["solution", "files", dest]), rel, dest, problems);
        }
    }

    /// Renders the template at `rel` to `dest`; false when `rel` is a
    /// template that renders to nothing (no such file in this pod).
    fn place(&mut self, path: Path, rel: &str, dest: &str, problems: &mut Problems) -> bool {
        let rel = match template_file(self.loaded, rel, self.ctx) {
            Ok(Some(rel)) => rel,
            Ok(None) => return false,
            Err(PathError::Render(e)) => {
                problems.render_failed(path, &e.placed_in(rel), RenderError::inline);
                return true;
            }
            Err(PathError::NoFile(message)) => {
                problems.push(path, message);
                return true;
            }
        };
        let Some(src) = self.loaded.templates.get(&rel) else {
            return true;
        };
        match render::render(src, self.ctx) {
            Ok(mut text) => {
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                self.out.insert(dest.to_string(), file(0o644, text));
            }
            Err(e) => {
                let node = self.ctx["node"].as_str().unwrap_or_default();
                problems.render_failed(path, &e.placed_in(src), |e| e.in_file(&rel, node));
            }
        }
        true
    }
}

fn file(mode: u32, content: String) -> FileSpec {
    FileSpec { mode, content }
}

/// The node's exec lines, then its solution's in solution mode; a line
/// that renders to nothing (`{% if %}` false in this pod) runs nothing.
fn exec_lines(at: &NodeAt, ctx: &Json, problems: &mut Problems) -> Vec<String> {
    let solved = ctx["solution"].as_bool().unwrap_or(false);
    let own = at
        .node
        .exec
        .iter()
        .enumerate()
        .map(|(i, l)| (&["exec"][..], i, l));
    let solution = at
        .node
        .solution
        .iter()
        .filter(|_| solved)
        .flat_map(|s| s.exec.iter().enumerate())
        .map(|(i, l)| (&["solution", "exec"][..], i, l));
    let mut lines = Vec::new();
    for (segs, i, line) in own.chain(solution) {
        let mut path = sub(&at.base, segs);
        path.push(Seg::Index(i));
        lines.extend(
            problems
                .render(line, ctx, path)
                .filter(|l| !l.trim().is_empty()),
        );
    }
    lines
}

/// The node's `login_shell`, rendered; one that renders to nothing leaves
/// the kind's shell.
fn login_shell_of(at: &NodeAt, ctx: &Json, problems: &mut Problems) -> Option<String> {
    let path = sub(&at.base, &["login_shell"]);
    let shell = problems.render(at.node.login_shell.as_deref()?, ctx, path.clone())?;
    let shell = shell.trim();
    if valid_login_shell(shell) {
        return Some(shell.to_string());
    }
    if !shell.is_empty() {
        problems.push(path, format!(
            "login shell `{shell}` is not a command name or absolute path (letters, digits, `_.+-` and `/`, no arguments)"
        ));
    }
    None
}

/// A node's `login_shell`: one command, no arguments (it becomes the
/// participants' user's login shell).
fn valid_login_shell(shell: &str) -> bool {
    !shell.is_empty()
        && shell
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.+-/".contains(c))
        && (!shell.contains('/') || shell.starts_with('/'))
}

/// The shell participants get in a node from the access point, as its
/// plan says; `None` for a node without logins.
pub fn login_shell(spec: &ContainerSpec) -> Option<&str> {
    spec.files
        .get(own_files::LOGIN)?
        .content
        .lines()
        .find_map(|l| l.strip_prefix("shell="))
}

/// Whether every daemon the node names is one of its kind's.
fn daemons_known(at: &NodeAt, problems: &mut Problems) -> bool {
    let kind = at.kind;
    let known: Vec<&str> = kind.daemons.iter().map(|(n, _)| *n).collect();
    let mut ok = true;
    for (i, d) in at.node.daemons.iter().enumerate() {
        if known.contains(&d.as_str()) {
            continue;
        }
        let mut path = sub(&at.base, &["daemons"]);
        path.push(Seg::Index(i));
        let message = if known.is_empty() {
            format!("kind `{}` has no daemons to choose", kind.name)
        } else {
            let hint = known
                .iter()
                .map(|k| (crate::topology::distance(d, k), *k))
                .filter(|(dist, _)| *dist <= 2)
                .min()
                .map(|(_, k)| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            format!(
                "`{d}` is not a daemon of kind `{}`; its daemons: {}{hint}",
                kind.name,
                known.join(", ")
            )
        };
        problems.push(path, message);
        ok = false;
    }
    ok
}

/// The daemons a node of a kind with optional daemons runs: those its
/// config in this mode and its config in the other mode (initial or
/// solved) use, so that participants find running every daemon the
/// exercise needs, and `up --solution` runs what `up` runs.
fn node_daemons(
    loaded: &Loaded,
    at: &NodeAt,
    ctx: &Context,
    files: &BTreeMap<String, FileSpec>,
) -> Vec<&'static str> {
    let (node, kind) = (at.node, at.kind);
    let this = kind
        .config_path
        .and_then(|p| files.get(p))
        .map(|f| f.content.clone());
    let solved = ctx.solution.unwrap_or(false);
    let other_ctx = Context {
        solution: Some(!solved),
        ..ctx.clone()
    }
    .to_json();
    let other_rel = if solved {
        node.config.as_deref()
    } else {
        node.solution.as_ref().and_then(|s| s.config.as_deref())
    };
    // Errors here are the other mode's, which `validate` reports; this
    // only reads what renders.
    let other = other_rel
        .and_then(|rel| template_file(loaded, rel, &other_ctx).ok().flatten())
        .and_then(|rel| loaded.templates.get(&rel))
        .and_then(|src| render::render(src, &other_ctx).ok());
    let used = kind.daemons_used(this.iter().chain(other.iter()).map(String::as_str));
    kind.daemons
        .iter()
        .map(|(d, _)| *d)
        .filter(|d| used.contains(d) || node.daemons.iter().any(|n| n == d))
        .collect()
}

/// noglab's own files in the node: the daemons to run, the interfaces,
/// the kind's readiness, verify and health scripts, the participants'
/// login, the exec lines.
fn own_files(
    at: &NodeAt,
    ctx: &Context,
    loaded: &Loaded,
    login_shell: Option<String>,
    exec: Vec<String>,
    files: &mut BTreeMap<String, FileSpec>,
) {
    let kind = at.kind;
    if !kind.daemons.is_empty() {
        let daemons = node_daemons(loaded, at, ctx, files);
        files.insert(
            own_files::DAEMONS.into(),
            file(0o644, format!("{}\n", daemons.join(" "))),
        );
    }
    let mut links = at.links.clone();
    in_order(&mut links);
    let interfaces = interfaces_file(&at.mgmt, at.mgmt_net, &links);
    files.insert(own_files::INTERFACES.into(), file(0o644, interfaces));
    files.insert(own_files::READY.into(), script(kind.readiness));
    files.extend(kind.verify.map(|v| (own_files::VERIFY.into(), script(v))));
    files.extend(kind.health.map(|h| (own_files::HEALTH.into(), script(h))));
    if at.access {
        // Participants arrive from the pod's access point as user `lab`,
        // in the kind's own shell.
        let shell = login_shell.unwrap_or_else(|| kind.shell.join(" "));
        let login = format!("shell={shell}\ngroups={}\n", kind.login_groups);
        files.insert(own_files::LOGIN.into(), file(0o644, login));
    }
    if !exec.is_empty() {
        let mut text = String::from("# exec lines of this node, run once it is up, in order\n");
        for l in &exec {
            text.push_str(l);
            text.push('\n');
        }
        files.insert(own_files::EXEC.into(), file(0o755, text));
    }
}

/// A shell command as an executable script.
pub(crate) fn script(command: &str) -> FileSpec {
    file(0o755, format!("#!/bin/sh\n{command}\n"))
}

/// What the node's init reads at every start: `<docker-ip> <name> [cidr...]`.
pub(crate) fn interfaces_file(
    mgmt: &Attachment,
    mgmt_net: Ipv4Net,
    links: &[Attachment],
) -> String {
    let mut s =
        String::from("# <docker-ipv4> <interface> [address/prefix ...], written by noglab\n");
    s.push_str(&format!(
        "{} {} {}/{}\n",
        mgmt.docker_ip,
        mgmt.interface,
        mgmt.docker_ip,
        mgmt_net.prefix_len()
    ));
    for a in links {
        s.push_str(&format!("{} {}", a.docker_ip, a.interface));
        if let Some(v4) = a.ipv4 {
            s.push_str(&format!(" {v4}"));
        }
        if let Some(v6) = a.ipv6 {
            s.push_str(&format!(" {v6}"));
        }
        s.push('\n');
    }
    s
}

/// The node's container spec, sealed.
fn container(at: NodeAt, files: BTreeMap<String, FileSpec>) -> ContainerSpec {
    let mut links = at.links;
    in_order(&mut links);
    let spec = ContainerSpec {
        name: container_name(at.lab, at.pod, at.name),
        node: at.name.to_string(),
        kind: at.kind.name.to_string(),
        image: at.node.image.clone().unwrap_or_else(|| kind_image(at.kind)),
        hostname: at.name.to_string(),
        labels: BTreeMap::new(),
        capabilities: Vec::new(),
        sysctls: BTreeMap::new(),
        memory: MEMORY_LIMIT,
        pids: PIDS_LIMIT,
        mgmt: at.mgmt,
        links,
        files,
        ports: Vec::new(),
        read_only: Vec::new(),
        dns: Vec::new(),
    };
    seal(spec, at.lab, at.pod, at.kind)
}

/// The image noglab builds for a kind.
pub(crate) fn kind_image(kind: &Kind) -> String {
    crate::images::lookup(kind.image)
        .map(|d| d.reference())
        .unwrap_or_else(|| kind.image.to_string())
}

/// Where the engine's embedded resolver in every node sends the names it
/// does not know (those of the pod's containers it answers itself): the
/// node's own loopback. Without it, Docker forwards them to the host's
/// resolvers, and a lab's names could leave the machine. Measured on
/// Docker 20.10: the node's `/etc/resolv.conf` stays `nameserver
/// 127.0.0.11` (`options ndots:0`, no search domain), and a name from
/// outside is forwarded to 127.0.0.1:53 inside the node, which refuses it
/// (ICMP port unreachable, on `lo` only): the embedded resolver then does
/// not answer, and the client gives up after its own timeouts (`getent
/// hosts`: 20 s for a name, 10 s for an address). A node whose own server
/// listens on its loopback answers from the lab. A lab's own resolver,
/// written into `/etc/resolv.conf` by its exec lines, is asked directly.
pub const DNS: &[&str] = &["127.0.0.1"];

/// Completes a container spec with what every noglab container carries:
/// its labels, its kind's capabilities and sysctls, noglab's folder
/// read-only, its name servers, and the hash of it all.
pub(crate) fn seal(mut spec: ContainerSpec, lab: &str, pod: u32, kind: &Kind) -> ContainerSpec {
    spec.labels = BTreeMap::from([
        (labels::LAB.to_string(), lab.to_string()),
        (labels::POD.to_string(), pod_label(pod)),
        (labels::NODE.to_string(), spec.node.clone()),
        (labels::KIND.to_string(), kind.name.to_string()),
    ]);
    spec.capabilities = kind.capabilities.iter().map(|c| c.to_string()).collect();
    spec.sysctls = kind
        .sysctls
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    spec.read_only = vec![NOGLAB_DIR.to_string()];
    spec.dns = DNS.iter().map(|s| s.to_string()).collect();
    let hash = spec_hash(&spec);
    spec.labels.insert(labels::HASH.to_string(), hash);
    spec
}
