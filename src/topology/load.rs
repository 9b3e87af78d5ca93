//! Loading a topology: the YAML read twice (positions, then serde types
//! field by field, so that one wrong type hides nothing else), the checks
//! of `validate`, and every template file the topology names read once,
//! so that planning never touches the filesystem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::spans::{self, Pos, Problem, Seg, Spans};
use super::{is_template, validate, Access, Check, Link, Node, Shared, Topology, MAX_PODS};
use crate::diag::{Diagnostic, Diagnostics};

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
    /// Every shared node name written, whether or not `shared` typed.
    shared_node_names: BTreeSet<String>,
    access: Option<Access>,
    checks: Vec<serde_yaml::Value>,
}

const TOP_FIELDS: &[&str] = &[
    "name", "pods", "vars", "nodes", "links", "shared", "access", "checks",
];

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
    /// What the file asks for that noglab no longer does, each as
    /// `FILE:LINE:COL: message`: loading goes on, and the commands that
    /// act on the file say it.
    pub fn retired(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self
            .topology
            .access
            .as_ref()
            .is_some_and(|a| a.web_base_port.is_some())
        {
            let at = self
                .spans
                .key(&[Seg::Key("access".into()), Seg::Key("web_base_port".into())]);
            out.push(format!(
                "{}:{}:{}: access.web_base_port is retired and opens no port: participants' terminals in the browser are the portal's (`noglab serve`, and `noglab handout --portal` prints each pod's link); remove the line",
                self.file.display(),
                at.line,
                at.col
            ));
        }
        out
    }

    /// Turns problems into diagnostics at their places in the file.
    pub fn diagnostics(&self, problems: Vec<Problem>) -> Diagnostics {
        let items = problems.into_iter().map(|p| self.spans.locate(p)).collect();
        Diagnostics::new(self.file.clone(), self.source.clone(), items)
    }

    /// Where the value at `path` is written, as `FILE:LINE:COL`, for a
    /// message that names a second place besides its own.
    pub fn place(&self, path: &[Seg]) -> String {
        let pos = self.spans.value(path);
        format!("{}:{}:{}", self.file.display(), pos.line, pos.col)
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
    // `topology.yml` alone has an empty parent, which names no folder.
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let loaded = load_str_in(
        &file,
        source,
        |rel| read_template(&dir, rel),
        |prefix, suffix| files_like(&dir, prefix, suffix),
    )
    .map_err(anyhow::Error::new)?;
    for line in loaded.retired() {
        eprintln!("warning: {line}");
    }
    Ok(loaded)
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

/// A topology that names no template files, for tests: it must load.
#[cfg(test)]
pub(crate) fn topology_for_tests(source: &str) -> Topology {
    load_str(
        Path::new("t.yml"),
        source.into(),
        |_| Err("no files".into()),
    )
    .expect("a valid topology")
    .topology
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
    let (spans, map) = parse_document(&source).map_err(fail)?;
    let mut problems: Vec<Diagnostic> = Vec::new();
    unquoted_template_vars(&spans, &mut problems);
    let raw = raw_topology(map, &spans, &mut problems);
    let (has_name, nodes_read, pods_written) = (raw.name.is_some(), raw.nodes_read, raw.pods);
    let shared_node_names = raw.shared_node_names.clone();
    let typed = typed_topology(raw, &spans, &mut problems);
    let mut found = validate::check(
        &typed.topology,
        &validate::Shape {
            has_name,
            nodes_read,
            node_names: &typed.node_names,
            shared_node_names: &shared_node_names,
            link_index: &typed.link_index,
            check_index: &typed.check_index,
        },
    );
    if let Some(p) = pods_written.filter(|p| u32::try_from(*p).is_err()) {
        // Out of u32's range: report the number as written.
        found.retain(|f| f.path != path!["pods"]);
        found.push(Problem::value(
            path!["pods"],
            format!("pods must be between 1 and {MAX_PODS}, not {p}"),
        ));
    }
    let templates = read_templates(&typed.topology, read, list, &mut found);
    problems.extend(found.into_iter().map(|f| spans.locate(f)));
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    Ok(Loaded {
        file: file.to_path_buf(),
        source: source.clone(),
        spans,
        topology: typed.topology,
        templates,
    })
}

/// The document's positions and its top-level mapping; a YAML error,
/// duplicate keys or a document that is no mapping end loading here.
fn parse_document(source: &str) -> Result<(Spans, serde_yaml::Mapping), Vec<Diagnostic>> {
    let (spans, duplicates) = Spans::parse(source).map_err(|d| vec![d])?;
    if !duplicates.is_empty() {
        return Err(duplicates);
    }
    let value: serde_yaml::Value = serde_yaml::from_str(source).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        vec![Diagnostic {
            line,
            col,
            message: format!("invalid YAML: {}", strip_location(&e.to_string())),
        }]
    })?;
    match value {
        serde_yaml::Value::Mapping(map) => Ok((spans, map)),
        other => {
            let what = match other {
                serde_yaml::Value::Null => "the file is empty",
                serde_yaml::Value::Sequence(_) => "this is a list",
                _ => "this is a single value",
            };
            Err(vec![at(
                spans.value(&[]),
                format!("{what}; a topology is a mapping with at least `name:` and `nodes:`"),
            )])
        }
    }
}

/// The topology's typed parts, and what validation must know of the
/// parts that did not type.
struct Typed {
    topology: Topology,
    /// Every node name written, broken nodes' too.
    node_names: BTreeSet<String>,
    /// Each typed link's index in the file.
    link_index: Vec<usize>,
    /// Each typed check's index in the file.
    check_index: Vec<usize>,
}

/// Types nodes, links and checks one by one, so that a broken one is
/// reported without hiding the others.
fn typed_topology(raw: RawTopology, spans: &Spans, problems: &mut Vec<Diagnostic>) -> Typed {
    let node_names: BTreeSet<String> = raw.nodes.keys().cloned().collect();
    let mut nodes = BTreeMap::new();
    for (name, v) in raw.nodes {
        match typed::<Node>(v, path!["nodes", name.as_str()], spans) {
            Ok(node) => {
                nodes.insert(name, node);
            }
            Err(d) => problems.push(d),
        }
    }
    let (links, link_index) = typed_list::<Link>(raw.links, "links", spans, problems);
    let (checks, check_index) = typed_list::<Check>(raw.checks, "checks", spans, problems);
    let pods = match raw.pods {
        None => 1,
        Some(p) => u32::try_from(p).unwrap_or(0),
    };
    let topology = Topology {
        name: raw.name.unwrap_or_default(),
        pods,
        vars: raw.vars,
        nodes,
        links,
        shared: raw.shared,
        access: raw.access,
        checks,
    };
    Typed {
        topology,
        node_names,
        link_index,
        check_index,
    }
}

/// The items of a list that type, each with its index in the file.
fn typed_list<T: serde::de::DeserializeOwned>(
    items: Vec<serde_yaml::Value>,
    field: &str,
    spans: &Spans,
    problems: &mut Vec<Diagnostic>,
) -> (Vec<T>, Vec<usize>) {
    let mut out = Vec::new();
    let mut index = Vec::new();
    for (i, v) in items.into_iter().enumerate() {
        match typed::<T>(v, path![field, i], spans) {
            Ok(item) => {
                out.push(item);
                index.push(i);
            }
            Err(d) => problems.push(d),
        }
    }
    (out, index)
}

/// Reads every template file the topology names (for a path with tags,
/// every file it could render to); what cannot be read is a problem.
fn read_templates(
    topology: &Topology,
    read: impl Fn(&str) -> Result<String, String>,
    list: impl Fn(&str, &str) -> Vec<String>,
    found: &mut Vec<Problem>,
) -> BTreeMap<String, String> {
    let mut templates = BTreeMap::new();
    for (path, rel) in template_refs(topology) {
        if let Err(message) = validate::template_path(rel) {
            found.push(Problem::value(path, message));
        } else if is_template(rel) {
            let (prefix, suffix) = template_path_ends(rel);
            let mut any = false;
            for candidate in list(prefix, suffix) {
                if let Ok(text) = read(&candidate) {
                    templates.insert(candidate, text);
                    any = true;
                }
            }
            if !any {
                found.push(Problem::value(
                    path,
                    format!(
                        "no file in the topology's folder matches `{rel}` (a path with a template renders, per pod, to one of the files whose names start with `{prefix}` and end with `{suffix}`)"
                    ),
                ));
            }
        } else {
            match read(rel) {
                Ok(text) => {
                    templates.insert(rel.to_string(), text);
                }
                Err(e) => found.push(Problem::value(
                    path,
                    format!("cannot read template `{rel}`: {e}"),
                )),
            }
        }
    }
    templates
}

/// Reads the top level field by field, reporting every problem.
fn raw_topology(
    mut map: serde_yaml::Mapping,
    spans: &Spans,
    problems: &mut Vec<Diagnostic>,
) -> RawTopology {
    let mut field = |name: &str| map.remove(name).filter(|v| !v.is_null());
    let (name, pods, vars, nodes) = (field("name"), field("pods"), field("vars"), field("nodes"));
    let (links, shared) = (field("links"), field("shared"));
    let (access, checks) = (field("access"), field("checks"));
    unknown_top_fields(&map, spans, problems);
    // With `nodes:` missing and an unknown field there, the nodes are most
    // likely under a misspelt key: say that, not that there are none.
    let nodes_misspelt = nodes.is_none() && !map.is_empty();
    if name.is_none() {
        problems.push(at(
            spans.value(&[]),
            plain_words("missing field `name`", &[]),
        ));
    }
    let name = part(name, "name", spans, problems).and_then(Result::ok);
    let pods = part(pods, "pods", spans, problems).and_then(Result::ok);
    let vars = part(vars, "vars", spans, problems).and_then(Result::ok);
    let nodes = part(nodes, "nodes", spans, problems);
    let nodes_read = !nodes_misspelt && !matches!(nodes, Some(Err(())));
    let links = part(links, "links", spans, problems).and_then(Result::ok);
    let shared_node_names = written_shared_nodes(shared.as_ref());
    let shared = part(shared, "shared", spans, problems).and_then(Result::ok);
    let access = part(access, "access", spans, problems).and_then(Result::ok);
    let checks = part(checks, "checks", spans, problems).and_then(Result::ok);
    RawTopology {
        name,
        pods,
        vars: vars.unwrap_or_default(),
        nodes: nodes.and_then(Result::ok).unwrap_or_default(),
        nodes_read,
        links: links.unwrap_or_default(),
        shared: shared.unwrap_or_default(),
        shared_node_names,
        access,
        checks: checks.unwrap_or_default(),
    }
}

/// The names under `shared: nodes:` as written: a shared node whose body
/// is broken makes all of `shared` fail to type, yet checks that name it
/// must not also call it unknown.
fn written_shared_nodes(shared: Option<&serde_yaml::Value>) -> BTreeSet<String> {
    shared
        .and_then(|s| s.get("nodes"))
        .and_then(serde_yaml::Value::as_mapping)
        .map(|nodes| {
            nodes
                .keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// One top-level field typed: `None` when absent, `Err` when reported.
fn part<T: serde::de::DeserializeOwned>(
    value: Option<serde_yaml::Value>,
    name: &str,
    spans: &Spans,
    problems: &mut Vec<Diagnostic>,
) -> Option<Result<T, ()>> {
    value.map(|v| typed(v, path![name], spans).map_err(|d| problems.push(d)))
}

/// Every top-level key that is no field of a topology.
fn unknown_top_fields(map: &serde_yaml::Mapping, spans: &Spans, problems: &mut Vec<Diagnostic>) {
    let expected = TOP_FIELDS
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    for key in map.keys() {
        let text = match key {
            serde_yaml::Value::String(s) => s.clone(),
            other => serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        let message = format!("unknown field `{text}`, expected one of {expected}");
        problems.push(at(
            spans.key(&[Seg::Key(text.clone())]),
            plain_words(&message, &[]),
        ));
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
        let mut message = plain_words(&e.inner().to_string(), &base);
        if message.starts_with("invalid type: mapping") {
            let text_expected = message.ends_with("expected a string");
            if let Some(hint) = spans
                .written(&path)
                .and_then(|w| mapping_by_mistake(w, text_expected))
            {
                message = hint;
            }
        }
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

/// What to say when a value written as text was read by YAML as a
/// mapping: an unquoted template (`{{ x }}` is a flow mapping), or a
/// plain value with `: ` in it (`- echo step: one`) where text is
/// expected (`text_expected`; a list or mapping written wrong is no such
/// slip).
fn mapping_by_mistake(written: &str, text_expected: bool) -> Option<String> {
    let quoted = if written.contains('"') {
        format!("'{}'", written.replace('\'', "''"))
    } else {
        format!("\"{written}\"")
    };
    if written.starts_with("{{") {
        Some(format!(
            "YAML reads a value that starts with `{{{{` as a mapping, not as text; put it in quotes: `{quoted}`"
        ))
    } else if text_expected
        && written.contains(": ")
        && !written.starts_with(['{', '[', '"', '\'', '&', '*', '!'])
    {
        Some(format!(
            "YAML reads `{written}` as a mapping because of its `: `; put it in quotes: `{quoted}`"
        ))
    } else {
        None
    }
}

/// Values under `vars:` take any shape, so an unquoted template there is
/// no type error: it would reach the templates as a mapping. Each is a
/// problem at its place.
fn unquoted_template_vars(spans: &Spans, problems: &mut Vec<Diagnostic>) {
    for (path, pos, written) in spans.unquoted_templates() {
        let in_vars = |i: usize| matches!(path.get(i), Some(Seg::Key(k)) if k == "vars");
        let vars_at = match path.first() {
            Some(Seg::Key(k)) if k == "vars" => Some(0),
            Some(Seg::Key(k)) if k == "nodes" => Some(2),
            Some(Seg::Key(k)) if k == "shared" => Some(3),
            _ => None,
        };
        if vars_at.is_some_and(|i| in_vars(i) && path.len() > i + 1) {
            if let Some(hint) = mapping_by_mistake(written, false) {
                let message = match path.last() {
                    Some(Seg::Key(k)) => format!("`{k}`: {hint}"),
                    _ => hint,
                };
                problems.push(at(pos, message));
            }
        }
    }
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
    fn a_retired_setting_loads_and_is_named_where_it_is_written() {
        let source = "name: lab\naccess:\n  base_port: 2200\n  web_base_port: 4200\nnodes:\n  h1: {kind: host}\n";
        let loaded = load_str(
            Path::new("t.yml"),
            source.into(),
            |_| Err("no files".into()),
        )
        .expect("an older topology still loads");
        let retired = loaded.retired();
        assert_eq!(retired.len(), 1, "{retired:?}");
        assert!(
            retired[0].starts_with("t.yml:4:3: access.web_base_port is retired"),
            "{retired:?}"
        );
        let without = load_str(
            Path::new("t.yml"),
            source.replace("  web_base_port: 4200\n", ""),
            |_| Err("no files".into()),
        )
        .expect("loads");
        assert!(without.retired().is_empty());
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
    fn a_check_on_a_broken_node_is_not_a_second_problem() {
        let p = problems(
            "name: lab\nnodes:\n  r1: {kind: frr, confg: x}\nshared:\n  nodes:\n    rs: {kind: bird, bogus: 1}\nchecks:\n  - {id: a, node: r1, run: 'true'}\n  - {id: b, node: rs, run: 'true'}\n  - {id: c, node: r9, run: 'true'}\n",
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[2].starts_with("10:19: unknown node `r9`"), "{p:?}");
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
