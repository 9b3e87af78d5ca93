//! The topology file: serde types, loading with file:line:col diagnostics,
//! and the checks that need no pod number.
//!
//! Knows nothing of pods, tera or Docker. What depends on a pod (rendered
//! templates, addresses) is checked by `plan`, which reports back through
//! the same [`Spans`] so every message points into the file.

#[macro_use]
pub mod spans;
mod validate;
pub use validate::parse_endpoint;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    pub name: String,
    pub pods: u32,
    pub vars: BTreeMap<String, serde_yaml::Value>,
    pub nodes: BTreeMap<String, Node>,
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    name: String,
    #[serde(default)]
    pods: Option<u32>,
    #[serde(default)]
    vars: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    nodes: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    links: Vec<serde_yaml::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// A kind from the registry in `kinds`.
    pub kind: String,
    /// Template for the kind's main config file, relative to the topology.
    #[serde(default)]
    pub config: Option<String>,
    /// Node values, merged over the lab-wide ones.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_yaml::Value>,
    /// Commands run inside the node once it is up, in order.
    #[serde(default)]
    pub exec: Vec<String>,
    /// More files to place in the node: absolute path in the container ->
    /// template relative to the topology.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// An image to use instead of the kind's own.
    #[serde(default)]
    pub image: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// `node` or `node:ethN`.
    pub endpoints: Vec<String>,
    /// Subnet template, e.g. `100.64.{{ pod }}.0/29`.
    #[serde(default)]
    pub ipv4: Option<String>,
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
    load_str(&file, source, |rel| read_template(&dir, rel)).map_err(anyhow::Error::new)
}

/// Loads from a string; `read` fetches a template by its relative path.
/// Kept apart from the filesystem so tests and fuzzing can drive it.
pub fn load_str(
    file: &Path,
    source: String,
    read: impl Fn(&str) -> Result<String, String>,
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
    if !matches!(value, serde_yaml::Value::Mapping(_)) {
        return Err(fail(vec![Diagnostic {
            line: 1,
            col: 1,
            message: "a topology must be a mapping with at least `name` and `nodes`".into(),
        }]));
    }

    let mut problems: Vec<Diagnostic> = Vec::new();
    let raw: RawTopology = match typed(value, &[], &spans) {
        Ok(raw) => raw,
        Err(d) => return Err(fail(vec![d])),
    };

    let mut nodes = BTreeMap::new();
    for (name, v) in raw.nodes {
        match typed::<Node>(v, &path!["nodes", name.as_str()], &spans) {
            Ok(node) => {
                nodes.insert(name, node);
            }
            Err(d) => problems.push(d),
        }
    }
    let mut links = Vec::new();
    for (i, v) in raw.links.into_iter().enumerate() {
        match typed::<Link>(v, &path!["links", i], &spans) {
            Ok(link) => links.push(link),
            Err(d) => problems.push(d),
        }
    }
    let complete = problems.is_empty();
    let topology = Topology {
        name: raw.name,
        pods: raw.pods.unwrap_or(1),
        vars: raw.vars,
        nodes,
        links,
    };

    let mut templates = BTreeMap::new();
    let mut found = validate::check(&topology, complete);
    for (path, rel) in template_refs(&topology) {
        match validate::template_path(rel) {
            Err(message) => found.push((path, message)),
            Ok(()) => match read(rel) {
                Ok(text) => {
                    templates.insert(rel.to_string(), text);
                }
                Err(e) => found.push((path, format!("cannot read template `{rel}`: {e}"))),
            },
        }
    }
    problems.extend(found.into_iter().map(|(p, m)| at(spans.value(&p), m)));
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

/// Every template file a topology names, with the path of the value that names it.
fn template_refs(t: &Topology) -> Vec<(spans::Path, &str)> {
    let mut refs = Vec::new();
    for (name, node) in &t.nodes {
        if let Some(config) = &node.config {
            refs.push((path!["nodes", name.as_str(), "config"], config.as_str()));
        }
        for (dest, src) in &node.files {
            refs.push((
                path!["nodes", name.as_str(), "files", dest.as_str()],
                src.as_str(),
            ));
        }
    }
    refs
}

fn read_template(dir: &Path, rel: &str) -> Result<String, String> {
    let full = dir.join(rel);
    // A template must stay inside the topology's folder, links included.
    let canon_dir = dir.canonicalize().map_err(|e| e.to_string())?;
    let canon = full.canonicalize().map_err(|e| e.to_string())?;
    if !canon.starts_with(&canon_dir) {
        return Err("it resolves outside the topology's folder".into());
    }
    std::fs::read_to_string(&canon).map_err(|e| e.to_string())
}

/// Deserializes one part of the document, mapping a serde error to the
/// place it concerns.
fn typed<T: serde::de::DeserializeOwned>(
    value: serde_yaml::Value,
    base: &[Seg],
    spans: &Spans,
) -> Result<T, Diagnostic> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path: spans::Path = base.to_vec();
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
        let message = e.inner().to_string();
        // For an unknown field, point at the field itself.
        let pos = match backticked(&message) {
            Some(field) if message.starts_with("unknown field") => {
                let mut p = path.clone();
                p.push(Seg::Key(field.to_string()));
                spans.key(&p)
            }
            _ if message.starts_with("missing field") => spans.key(&path),
            _ => spans.value(&path),
        };
        let message = match path.last() {
            Some(Seg::Key(k))
                if !message.starts_with("unknown field")
                    && !message.starts_with("missing field") =>
            {
                format!("`{k}`: {message}")
            }
            _ => message,
        };
        at(pos, message)
    })
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
