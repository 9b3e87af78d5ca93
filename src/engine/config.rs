//! The engines file: which Docker engines a lab spreads over.
//!
//! ```yaml
//! engines:
//!   a: { endpoint: "unix:///run/docker-a.sock", address: 192.0.2.1, pods: 10, parent: eth1 }
//!   b: { endpoint: "tcp://192.0.2.2:2376", tls: { ca: ca.pem, cert: cert.pem, key: key.pem }, address: 192.0.2.2, weight: 2, parent: [eth1, eth2] }
//! shared: a
//! ```
//!
//! Read with positions, like a topology, and every problem reported at
//! once as `FILE:LINE:COL`. Without a file noglab drives the one engine
//! the docker CLI would ([`super::host`]). Pure: the only thing read
//! besides the file is whether the TLS files it names are there.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::host::{self, Endpoint};
use crate::diag::{Diagnostic, Diagnostics};
use crate::topology::names;
use crate::topology::spans::{Path as SpanPath, Problem, Seg, Spans};

/// The environment variable that names an engines file when `--engines`
/// does not.
pub const ENV: &str = "NOGLAB_ENGINES";

/// The longest engine name: it goes into labels and messages.
pub const MAX_ENGINE_NAME: usize = 16;

/// The longest Linux interface name (IFNAMSIZ less its terminator).
const MAX_IFNAME: usize = 15;

const TOP_FIELDS: &[&str] = &["engines", "shared"];
const ENGINE_FIELDS: &[&str] = &["endpoint", "tls", "address", "pods", "weight", "parent"];
const TLS_FIELDS: &[&str] = &["ca", "cert", "key"];

/// The engines noglab drives, in the order written.
#[derive(Debug, Clone, PartialEq)]
pub struct Engines {
    /// The file they came from; `None` for the one local engine.
    pub file: Option<PathBuf>,
    pub engines: Vec<EngineEntry>,
    /// The index in `engines` of the one that runs the lab-wide nodes.
    pub shared: usize,
}

/// One engine of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineEntry {
    pub name: String,
    pub endpoint: Endpoint,
    /// Client certificate and the CA the engine's certificate is signed
    /// by, for a `tcp://` endpoint.
    pub tls: Option<Tls>,
    /// The host name or address participants reach this engine's pods at.
    pub address: Option<String>,
    pub share: Share,
    /// The interfaces that join this engine's host to the others' at
    /// layer 2, for networks shared across engines (`parent: eth1`, or a
    /// list: one segment per lab-wide network, in the same order on every
    /// engine); empty when it has none.
    pub parents: Vec<String>,
}

/// How many pods an engine takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// At most this many.
    Pods(u32),
    /// Any number, in proportion to this weight among the engines.
    Weight(u32),
}

impl Share {
    /// Its part in a proportional split.
    pub fn weight(self) -> u32 {
        match self {
            Share::Pods(n) | Share::Weight(n) => n,
        }
    }

    /// The most pods it takes, when bounded.
    pub fn capacity(self) -> Option<u32> {
        match self {
            Share::Pods(n) => Some(n),
            Share::Weight(_) => None,
        }
    }
}

/// The files of a TLS connection, resolved against the engines file's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The name of the one engine noglab drives without an engines file.
pub const LOCAL: &str = "local";

impl Engines {
    /// Whether noglab drives more than one engine.
    pub fn several(&self) -> bool {
        self.engines.len() > 1
    }

    pub fn by_name(&self, name: &str) -> Option<&EngineEntry> {
        self.engines.iter().find(|e| e.name == name)
    }

    /// The engine of the lab-wide nodes.
    pub fn shared_engine(&self) -> &EngineEntry {
        &self.engines[self.shared]
    }
}

/// The engines file named by `--engines` or [`ENV`], read and checked;
/// `None` when neither names one (the one local engine).
pub fn from_flag(flag: Option<&Path>) -> anyhow::Result<Option<Engines>> {
    match flag {
        Some(p) if !p.as_os_str().is_empty() => load(p).map(Some),
        _ => Ok(None),
    }
}

/// Reads and checks an engines file; every problem comes back at once.
pub fn load(file: &Path) -> anyhow::Result<Engines> {
    let source = std::fs::read_to_string(file).map_err(|e| {
        crate::diag::input_error(format!("cannot read engines file {}: {e}", file.display()))
    })?;
    let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    load_str(file, source, |p| dir.join(p).is_file()).map_err(anyhow::Error::new)
}

/// As [`load`], from a string; `exists` says whether a file named
/// relative to the engines file's folder is there.
pub fn load_str(
    file: &Path,
    source: String,
    exists: impl Fn(&Path) -> bool,
) -> Result<Engines, Diagnostics> {
    let fail = |items: Vec<Diagnostic>| Diagnostics::new(file.to_path_buf(), source.clone(), items);
    let (spans, duplicates) = Spans::parse(&source).map_err(|d| fail(vec![d]))?;
    if !duplicates.is_empty() {
        return Err(fail(duplicates));
    }
    let value: Value = serde_yaml::from_str(&source).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        fail(vec![Diagnostic {
            line,
            col,
            message: format!("invalid YAML: {message}"),
        }])
    })?;
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    let engines = read(&value, &mut problems, |p| exists(p)).map(|mut e| {
        e.file = Some(file.to_path_buf());
        for entry in &mut e.engines {
            if let Some(tls) = &mut entry.tls {
                for p in [&mut tls.ca, &mut tls.cert, &mut tls.key] {
                    *p = dir.join(&*p);
                }
            }
        }
        e
    });
    match engines {
        Some(engines) if problems.is_empty() => Ok(engines),
        _ => Err(fail(
            problems.into_iter().map(|p| spans.locate(p)).collect(),
        )),
    }
}

/// The file's shape, checked; `None` when a problem was found.
fn read(
    value: &Value,
    problems: &mut Vec<Problem>,
    exists: impl Fn(&Path) -> bool,
) -> Option<Engines> {
    let Value::Mapping(top) = value else {
        problems.push(Problem::value(
            path![],
            "an engines file is a mapping with `engines:`, each engine under its name with at least `endpoint:`",
        ));
        return None;
    };
    unknown_fields(top, &[], TOP_FIELDS, problems);
    let mut engines = Vec::new();
    let mut written: Vec<&str> = Vec::new();
    match top.get("engines") {
        None => problems.push(Problem::value(
            path![],
            "missing field `engines`: name each engine with its `endpoint:`, as in `engines: { a: { endpoint: \"unix:///var/run/docker.sock\" } }`",
        )),
        Some(Value::Mapping(map)) if !map.is_empty() => {
            for (key, body) in map {
                let Some(name) = key.as_str() else {
                    problems.push(Problem::value(
                        path!["engines"],
                        "an engine's name must be text",
                    ));
                    continue;
                };
                written.push(name);
                if let Some(e) = engine(name, body, problems, &exists) {
                    engines.push(e);
                }
            }
        }
        Some(_) => problems.push(Problem::value(
            path!["engines"],
            "`engines` must be a mapping of at least one engine, each under its name",
        )),
    }
    let shared = match top.get("shared") {
        None => 0,
        Some(Value::String(s)) => match engines.iter().position(|e| &e.name == s) {
            Some(i) => i,
            None if written.contains(&s.as_str()) => 0,
            None => {
                problems.push(Problem::value(
                    path!["shared"],
                    format!(
                        "no engine `{s}` in this file; the lab-wide nodes run on one of: {}",
                        written.join(", ")
                    ),
                ));
                0
            }
        },
        Some(_) => {
            problems.push(Problem::value(
                path!["shared"],
                "`shared` names the engine that runs the lab-wide nodes",
            ));
            0
        }
    };
    (!engines.is_empty()).then_some(Engines {
        file: None,
        engines,
        shared,
    })
}

fn engine(
    name: &str,
    body: &Value,
    problems: &mut Vec<Problem>,
    exists: &impl Fn(&Path) -> bool,
) -> Option<EngineEntry> {
    let at = |field: &str| path!["engines", name, field];
    let before = problems.len();
    if let Err(why) = names::check(name, MAX_ENGINE_NAME) {
        problems.push(Problem::key(
            path!["engines", name],
            names::bad_name("engine", name, &why),
        ));
    }
    let Value::Mapping(map) = body else {
        problems.push(Problem::value(
            path!["engines", name],
            format!("engine `{name}` must be a mapping with at least `endpoint:`"),
        ));
        return None;
    };
    unknown_fields(
        map,
        &[Seg::from("engines"), Seg::from(name)],
        ENGINE_FIELDS,
        problems,
    );
    let endpoint = match map.get("endpoint") {
        None => {
            problems.push(Problem::key(
                path!["engines", name],
                format!("engine `{name}` has no `endpoint`: unix:///path/to/docker.sock or tcp://HOST:PORT"),
            ));
            None
        }
        Some(Value::String(s)) if s.trim().starts_with("https://") => {
            problems.push(Problem::value(
                at("endpoint"),
                format!(
                    "`{s}`: write a TLS endpoint as tcp://HOST:PORT with the files under `tls:`"
                ),
            ));
            None
        }
        Some(Value::String(s)) => match host::parse(s) {
            Ok(e) => Some(e),
            Err(why) => {
                problems.push(Problem::value(at("endpoint"), why));
                None
            }
        },
        Some(_) => {
            problems.push(Problem::value(
                at("endpoint"),
                "`endpoint` is text: unix:///path/to/docker.sock or tcp://HOST:PORT",
            ));
            None
        }
    };
    let tls = map
        .get("tls")
        .and_then(|v| tls(v, &at("tls"), problems, exists));
    if let (Some(Endpoint::Unix(_)), true) = (&endpoint, map.contains_key("tls")) {
        problems.push(Problem::key(
            at("tls"),
            "`tls` is for a tcp:// endpoint; a unix socket needs none",
        ));
    }
    let address = match map.get("address") {
        None => None,
        Some(v) => match scalar_text(v).filter(|s| is_host(s)) {
            Some(s) => Some(s),
            None => {
                problems.push(Problem::value(
                    at("address"),
                    "`address` is the host name or IP address participants reach this engine's pods at, like 192.0.2.1 or lab1.example.net",
                ));
                None
            }
        },
    };
    let count = |field: &str, problems: &mut Vec<Problem>| -> Option<u32> {
        let v = map.get(field)?;
        match v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1)
        {
            Some(n) => Some(n),
            None => {
                problems.push(Problem::value(
                    at(field),
                    format!("`{field}` must be a whole number of at least 1"),
                ));
                None
            }
        }
    };
    let pods = count("pods", problems);
    let weight = count("weight", problems);
    let share = match (pods, weight) {
        (Some(_), Some(_)) => {
            problems.push(Problem::key(
                at("weight"),
                "give `pods` (the most this engine takes) or `weight` (its share), not both",
            ));
            None
        }
        (Some(n), None) => Some(Share::Pods(n)),
        (None, Some(n)) => Some(Share::Weight(n)),
        (None, None) => Some(Share::Weight(1)),
    };
    let parents = match map.get("parent") {
        None => Vec::new(),
        Some(v) => parents(v, &at("parent"), problems),
    };
    if problems.len() > before {
        return None;
    }
    Some(EngineEntry {
        name: name.to_string(),
        endpoint: endpoint?,
        tls,
        address,
        share: share?,
        parents,
    })
}

/// `parent`: one interface, or a list of distinct ones.
fn parents(value: &Value, at: &SpanPath, problems: &mut Vec<Problem>) -> Vec<String> {
    let what = format!("`parent` is the name of a network interface on the engine's host (at most {MAX_IFNAME} characters, no `/`, `:` or spaces), like eth1 or vxlan100, or a list of them, one per lab-wide network: [eth1, eth2]");
    let items: Vec<(SpanPath, &Value)> = match value {
        Value::Sequence(list) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut here = at.clone();
                here.push(Seg::from(i));
                (here, v)
            })
            .collect(),
        Value::Sequence(_) => {
            problems.push(Problem::value(at.clone(), what));
            return Vec::new();
        }
        v => vec![(at.clone(), v)],
    };
    let mut found: Vec<String> = Vec::new();
    for (here, v) in items {
        match scalar_text(v).filter(|s| is_ifname(s)) {
            Some(s) if found.contains(&s) => problems.push(Problem::value(
                here,
                format!("`{s}` is named twice: each lab-wide network needs its own interface"),
            )),
            Some(s) => found.push(s),
            None => problems.push(Problem::value(here, what.clone())),
        }
    }
    found
}

fn tls(
    value: &Value,
    at: &SpanPath,
    problems: &mut Vec<Problem>,
    exists: &impl Fn(&Path) -> bool,
) -> Option<Tls> {
    let Value::Mapping(map) = value else {
        problems.push(Problem::value(
            at.clone(),
            "`tls` is a mapping of the files `ca`, `cert` and `key`",
        ));
        return None;
    };
    unknown_fields(map, at, TLS_FIELDS, problems);
    let mut file = |field: &str| -> Option<PathBuf> {
        let mut here = at.clone();
        here.push(Seg::from(field));
        match map.get(field) {
            None => {
                problems.push(Problem::key(
                    at.clone(),
                    format!("`tls` has no `{field}`; it needs `ca`, `cert` and `key` (PEM files, as `docker --tlsverify` takes)"),
                ));
                None
            }
            Some(Value::String(s)) if exists(Path::new(s)) => Some(PathBuf::from(s)),
            Some(Value::String(s)) => {
                problems.push(Problem::value(
                    here,
                    format!("no file `{s}` (a path is taken from the engines file's folder)"),
                ));
                None
            }
            Some(_) => {
                problems.push(Problem::value(here, format!("`{field}` is a file's path")));
                None
            }
        }
    };
    let (ca, cert, key) = (file("ca"), file("cert"), file("key"));
    Some(Tls {
        ca: ca?,
        cert: cert?,
        key: key?,
    })
}

fn unknown_fields(
    map: &serde_yaml::Mapping,
    at: &[Seg],
    known: &[&str],
    problems: &mut Vec<Problem>,
) {
    for key in map.keys() {
        let Some(k) = key.as_str() else { continue };
        if known.contains(&k) {
            continue;
        }
        let mut m = format!(
            "unknown field `{k}`, expected one of {}",
            known
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some((_, best)) = known
            .iter()
            .map(|c| (crate::topology::distance(k, c), *c))
            .filter(|(d, c)| *d <= 2 && *d < c.len())
            .min()
        {
            m.push_str(&format!("; did you mean `{best}`?"));
        }
        let mut path = at.to_vec();
        path.push(Seg::from(k));
        problems.push(Problem::key(path, m));
    }
}

/// A string, or a number YAML read from the same text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// An IP address or a DNS host name.
fn is_host(s: &str) -> bool {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// What Linux takes as an interface name.
fn is_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_IFNAME
        && s != "."
        && s != ".."
        && !s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(source: &str) -> Result<Engines, Vec<String>> {
        load_str(Path::new("engines.yml"), source.into(), |p| {
            p.to_str().is_some_and(|s| s.ends_with(".pem"))
        })
        .map_err(|d| {
            d.items
                .iter()
                .map(|i| format!("{}:{}: {}", i.line, i.col, i.message))
                .collect()
        })
    }

    #[test]
    fn the_documented_shape_loads_in_file_order() {
        let e = load(
            "engines:\n  b: { endpoint: \"unix:///run/docker-b.sock\", address: 192.0.2.2, pods: 10, parent: eth1 }\n  a: { endpoint: \"tcp://192.0.2.1:2376\", tls: { ca: ca.pem, cert: cert.pem, key: key.pem }, address: lab1.example.net, weight: 3 }\n",
        ).expect("accepted");
        let names: Vec<&str> = e.engines.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(e.shared_engine().name, "b");
        let b = &e.engines[0];
        assert_eq!(b.endpoint, Endpoint::Unix("/run/docker-b.sock".into()));
        assert_eq!(b.share, Share::Pods(10));
        assert_eq!(b.parents, ["eth1"]);
        assert_eq!(b.address.as_deref(), Some("192.0.2.2"));
        let a = &e.engines[1];
        assert_eq!(a.share, Share::Weight(3));
        assert_eq!(
            a.tls.as_ref().map(|t| t.ca.clone()),
            Some(PathBuf::from("ca.pem"))
        );
        assert_eq!(a.address.as_deref(), Some("lab1.example.net"));
    }

    #[test]
    fn a_parent_is_one_interface_or_a_list_of_distinct_ones() {
        let e = load("engines:\n  a: { endpoint: \"unix:///a.sock\", parent: [eth1, vxlan200] }\n  b: { endpoint: \"unix:///b.sock\" }\n").expect("accepted");
        assert_eq!(e.engines[0].parents, ["eth1", "vxlan200"]);
        assert!(e.engines[1].parents.is_empty());
        let errs = load("engines:\n  a: { endpoint: \"unix:///a.sock\", parent: [eth1, eth1] }\n  b: { endpoint: \"unix:///b.sock\", parent: [] }\n  c: { endpoint: \"unix:///c.sock\", parent: [eth1, \"a/b\"] }\n").expect_err("refused");
        assert!(
            errs.iter()
                .any(|e| e.starts_with("2:51: `eth1` is named twice")),
            "{errs:#?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("3:44: `parent` is the name")),
            "{errs:#?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("4:51: `parent` is the name")),
            "{errs:#?}"
        );
    }

    #[test]
    fn an_engine_without_pods_or_weight_weighs_one_and_shared_names_one() {
        let e = load("engines:\n  a: { endpoint: \"unix:///a.sock\" }\n  b: { endpoint: \"unix:///b.sock\" }\nshared: b\n").expect("accepted");
        assert_eq!(e.engines[0].share, Share::Weight(1));
        assert_eq!(e.shared_engine().name, "b");
        assert!(e.several());
    }

    #[test]
    fn every_problem_is_said_at_its_place() {
        let errs = load(
            "engines:\n  A: { endpoint: \"ssh://h\" }\n  b: { endpoint: \"unix:///b.sock\", tls: { ca: x.crt }, pods: 0, weight: 2, parnet: eth1 }\nshared: c\n",
        ).expect_err("refused");
        assert!(
            errs.iter()
                .any(|e| e.starts_with("2:3: bad engine name `A`")),
            "{errs:#?}"
        );
        assert!(
            errs.iter().any(|e| e.starts_with("2:18: `ssh://h`")),
            "{errs:#?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("unknown field `parnet`")
                    && e.ends_with("did you mean `parent`?")),
            "{errs:#?}"
        );
        assert!(
            errs.iter().any(|e| e.contains("no file `x.crt`")),
            "{errs:#?}"
        );
        assert!(
            errs.iter().any(|e| e.contains("`tls` has no `cert`")),
            "{errs:#?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("`pods` must be a whole number")),
            "{errs:#?}"
        );
        assert!(
            errs.iter().any(|e| e.starts_with("4:9: no engine `c`")),
            "{errs:#?}"
        );
    }
}
