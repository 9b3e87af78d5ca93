//! Reading a containerlab file: its nodes with `defaults` and `kinds`
//! applied, and its links, each value with its path in the file. What
//! noglab has no place for is said here, once, where it is written.

use std::collections::BTreeSet;

use serde_yaml::{Mapping, Value};

use super::Said;
use crate::topology::names::MAX_LAB_NAME;
use crate::topology::spans::{Path, Seg};

/// A value and where it is written.
#[derive(Debug, Clone)]
pub(crate) struct Sourced {
    pub text: String,
    pub path: Path,
}

/// One node's settings, its own over its kind's over the defaults.
#[derive(Debug, Clone)]
pub(crate) struct ClabNode {
    /// As written in the file.
    pub name: String,
    pub path: Path,
    pub kind: Option<Sourced>,
    pub image: Option<Sourced>,
    /// Later levels' binds replace earlier ones to the same destination.
    pub binds: Vec<Sourced>,
    pub exec: Vec<Sourced>,
}

/// Whether containerlab's node is a bridge: its links make one LAN.
pub(crate) fn is_bridge(node: &ClabNode) -> bool {
    node.kind
        .as_ref()
        .is_some_and(|k| k.text == "bridge" || k.text == "ovs-bridge")
}

/// A link end: a node as written and its interface.
#[derive(Debug, Clone)]
pub(crate) struct End {
    pub node: String,
    pub iface: String,
    pub path: Path,
}

#[derive(Debug, Clone)]
pub(crate) struct ClabLink {
    pub path: Path,
    pub ends: Vec<End>,
}

#[derive(Debug)]
pub(crate) struct Clab {
    /// The noglab lab name made from containerlab's.
    pub lab: String,
    pub nodes: Vec<ClabNode>,
    /// Links between two nodes of the file (others are said and left out).
    pub links: Vec<ClabLink>,
}

/// Node names containerlab gives a meaning of its own in link endpoints:
/// the machine itself, the management network, a host interface.
const SPECIAL_ENDPOINTS: &[&str] = &["host", "mgmt-net", "macvlan"];

pub(crate) fn sub(path: &Path, seg: impl Into<Seg>) -> Path {
    let mut p = path.clone();
    p.push(seg.into());
    p
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// A valid noglab name made from `name` (lowercase, `-` for what noglab
/// names cannot hold, a letter first: `1` becomes `n1`), not in `taken`.
pub(crate) fn valid_name(name: &str, max: usize, taken: &BTreeSet<String>) -> String {
    let mut s: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    s = s.trim_matches('-').to_string();
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s = format!("n{s}");
    }
    s.truncate(max);
    let base = s.trim_end_matches('-').to_string();
    let mut out = base.clone();
    let mut n = 2;
    while taken.contains(&out) {
        let tail = format!("-{n}");
        let mut b = base.clone();
        b.truncate(max - tail.len());
        out = format!("{}{tail}", b.trim_end_matches('-'));
        n += 1;
    }
    out
}

/// Reads the file. `Err` when it is no containerlab topology at all;
/// other bad input goes to `said`'s problems, each at its place.
pub(crate) fn read(source: &str, said: &mut Said) -> Result<Clab, (Path, String)> {
    let doc: Value =
        serde_yaml::from_str(source).map_err(|e| (Vec::new(), format!("invalid YAML: {e}")))?;
    let Value::Mapping(top) = doc else {
        return Err((
            Vec::new(),
            "a containerlab topology is a mapping with `name:` and `topology:`".into(),
        ));
    };
    let mut lab = None;
    let mut topology = None;
    for (k, v) in &top {
        let key = key_text(k);
        let p: Path = vec![Seg::Key(key.clone())];
        match key.as_str() {
            "name" => match v {
                Value::String(s) => lab = Some((s.clone(), p)),
                _ => said.problem(&p, "the lab's `name` must be a string"),
            },
            "topology" => match v {
                Value::Mapping(m) => topology = Some(m),
                _ => said.problem(&p, "`topology` must be a mapping with `nodes:` and `links:`"),
            },
            "mgmt" => said.dropped(
                &p,
                "`mgmt` is not converted: noglab plans every node's management network (eth0) itself",
            ),
            "prefix" => said.dropped(
                &p,
                "`prefix` is not converted: noglab names containers after the lab, pod and node",
            ),
            _ => said.dropped(&p, format!("`{key}` is not converted")),
        }
    }
    let Some(topology) = topology else {
        return Err((
            Vec::new(),
            "no `topology:`; a containerlab topology has `topology: {nodes: ..., links: ...}`"
                .into(),
        ));
    };
    let lab = match lab {
        Some((name, p)) => {
            let valid = valid_name(&name, MAX_LAB_NAME, &BTreeSet::new());
            if valid != name {
                said.changed(
                    &p,
                    format!("lab `{name}` is `{valid}` in noglab ({})", rule()),
                );
            }
            valid
        }
        None => {
            said.problem(
                &Vec::new(),
                "no `name:`; a containerlab topology names its lab",
            );
            String::new()
        }
    };
    let tpath: Path = vec![Seg::Key("topology".into())];
    let mut nodes_v = None;
    let mut links_v = None;
    let mut defaults = Level::default();
    let mut kinds: Vec<(String, Level)> = Vec::new();
    for (k, v) in topology {
        let key = key_text(k);
        let p = sub(&tpath, key.as_str());
        match key.as_str() {
            "nodes" => nodes_v = Some((v, p)),
            "links" => links_v = Some((v, p)),
            "defaults" => defaults = level(v, &p, "defaults", said),
            "kinds" => match v {
                Value::Mapping(m) => {
                    for (kk, kv) in m {
                        let kind = key_text(kk);
                        let l = level(kv, &sub(&p, kind.as_str()), "a kind", said);
                        kinds.push((kind, l));
                    }
                }
                Value::Null => {}
                _ => said.problem(&p, "`kinds` must be a mapping of kind name to its settings"),
            },
            _ => said.dropped(&p, format!("`{key}` is not converted")),
        }
    }
    let nodes = match nodes_v {
        Some((Value::Mapping(m), p)) if !m.is_empty() => read_nodes(m, &p, &defaults, &kinds, said),
        Some((_, p)) => {
            return Err((
                p,
                "`nodes` must be a mapping of node name to its settings".into(),
            ))
        }
        None => {
            return Err((
                tpath,
                "no `nodes:` under `topology:`; containerlab names each node there".into(),
            ))
        }
    };
    let names: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let links = match links_v {
        None | Some((Value::Null, _)) => Vec::new(),
        Some((Value::Sequence(items), p)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| read_link(v, &sub(&p, i), &names, said))
            .collect(),
        Some((_, p)) => {
            said.problem(&p, "`links` must be a list of links with `endpoints:`");
            Vec::new()
        }
    };
    Ok(Clab { lab, nodes, links })
}

fn rule() -> &'static str {
    "noglab names are lowercase letters, digits and `-`, starting with a letter"
}

/// A node's, a kind's or the defaults' settings.
#[derive(Debug, Default, Clone)]
struct Level {
    kind: Option<Sourced>,
    image: Option<Sourced>,
    binds: Vec<Sourced>,
    exec: Vec<Sourced>,
}

fn level(v: &Value, path: &Path, what: &str, said: &mut Said) -> Level {
    let mut l = Level::default();
    let map = match v {
        Value::Null => return l,
        Value::Mapping(m) => m,
        _ => {
            said.problem(
                path,
                format!("{what}'s settings must be a mapping (kind, image, binds, exec, ...)"),
            );
            return l;
        }
    };
    for (k, val) in map {
        let key = key_text(k);
        let p = sub(path, key.as_str());
        match key.as_str() {
            "kind" => l.kind = string(val, &p, said),
            "image" => l.image = string(val, &p, said),
            "binds" => l.binds = strings(val, &p, said),
            "exec" => l.exec = strings(val, &p, said),
            "mgmt-ipv4" | "mgmt-ipv6" => said.dropped(
                &p,
                format!("`{key}` is not converted: noglab gives every node a management address on eth0 itself"),
            ),
            "startup-config" => said.dropped(
                &p,
                "`startup-config` is not converted: noglab takes FRR's and BIRD's configs from their binds",
            ),
            _ => said.dropped(&p, format!("`{key}` is not converted")),
        }
    }
    l
}

fn string(v: &Value, path: &Path, said: &mut Said) -> Option<Sourced> {
    match v {
        Value::String(s) => Some(Sourced {
            text: s.clone(),
            path: path.clone(),
        }),
        Value::Number(n) => Some(Sourced {
            text: n.to_string(),
            path: path.clone(),
        }),
        _ => {
            said.problem(path, "expected a string");
            None
        }
    }
}

fn strings(v: &Value, path: &Path, said: &mut Said) -> Vec<Sourced> {
    match v {
        Value::Null => Vec::new(),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| string(item, &sub(path, i), said))
            .collect(),
        _ => {
            said.problem(path, "expected a list of strings");
            Vec::new()
        }
    }
}

fn bind_destination(bind: &str) -> &str {
    bind.split(':').nth(1).unwrap_or(bind)
}

/// Binds of several levels: a later level's bind to the same destination
/// replaces the earlier one.
fn merged_binds(levels: &[&[Sourced]]) -> Vec<Sourced> {
    let mut out: Vec<Sourced> = Vec::new();
    for level in levels {
        for b in level.iter() {
            let dest = bind_destination(&b.text);
            out.retain(|o| bind_destination(&o.text) != dest);
            out.push(b.clone());
        }
    }
    out
}

fn read_nodes(
    map: &Mapping,
    path: &Path,
    defaults: &Level,
    kinds: &[(String, Level)],
    said: &mut Said,
) -> Vec<ClabNode> {
    let mut out = Vec::new();
    for (k, v) in map {
        let name = key_text(k);
        let p = sub(path, name.as_str());
        let own = level(v, &p, &format!("node `{name}`"), said);
        let kind = own.kind.clone().or_else(|| defaults.kind.clone());
        let of_kind = kind
            .as_ref()
            .and_then(|k| kinds.iter().find(|(n, _)| *n == k.text))
            .map(|(_, l)| l.clone())
            .unwrap_or_default();
        out.push(ClabNode {
            name,
            kind,
            image: own
                .image
                .clone()
                .or(of_kind.image.clone())
                .or(defaults.image.clone()),
            binds: merged_binds(&[&defaults.binds, &of_kind.binds, &own.binds]),
            exec: [&defaults.exec[..], &of_kind.exec[..], &own.exec[..]].concat(),
            path: p,
        });
    }
    out
}

/// One link of two nodes of the file, in containerlab's brief form
/// (`endpoints: ["r1:eth1", "r2:eth1"]`) or its extended one (`type:
/// veth`, `endpoints: [{node: r1, interface: eth1}, ...]`).
fn read_link(v: &Value, path: &Path, names: &BTreeSet<&str>, said: &mut Said) -> Option<ClabLink> {
    let Value::Mapping(m) = v else {
        said.problem(path, "a link is a mapping with `endpoints:`");
        return None;
    };
    let mut ends_v = None;
    for (k, val) in m {
        let key = key_text(k);
        let p = sub(path, key.as_str());
        match key.as_str() {
            "endpoints" => ends_v = Some((val, p)),
            "type" => match val.as_str() {
                Some("veth") => {}
                Some(other) => {
                    said.dropped(
                        &p,
                        format!("link of type `{other}` is not converted: noglab links are between two nodes of the lab"),
                    );
                    return None;
                }
                None => said.problem(&p, "expected a string"),
            },
            _ => said.dropped(&p, format!("`{key}` of a link is not converted")),
        }
    }
    let Some((Value::Sequence(items), epath)) = ends_v else {
        said.problem(
            path,
            "a link needs `endpoints:`, a list of two `node:interface`",
        );
        return None;
    };
    if items.len() != 2 {
        said.problem(
            &epath,
            format!("a link has two endpoints, this one has {}", items.len()),
        );
        return None;
    }
    let mut ends = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = sub(&epath, i);
        let (node, iface) = match item {
            Value::String(s) => match s.split_once(':') {
                Some((n, i)) if !n.is_empty() && !i.is_empty() => (n.to_string(), i.to_string()),
                _ => {
                    said.problem(&p, format!("endpoint `{s}`: write `node:interface`"));
                    return None;
                }
            },
            Value::Mapping(e) => {
                let get = |k: &str| e.get(k).map(key_text);
                match (get("node"), get("interface")) {
                    (Some(n), Some(i)) => (n, i),
                    _ => {
                        said.problem(&p, "an endpoint needs `node:` and `interface:`");
                        return None;
                    }
                }
            }
            _ => {
                said.problem(&p, "an endpoint is `node:interface`");
                return None;
            }
        };
        if !names.contains(node.as_str()) {
            if SPECIAL_ENDPOINTS.contains(&node.as_str()) {
                said.dropped(
                    &p,
                    format!("link to `{node}:{iface}` is not converted: noglab's links stay inside the lab"),
                );
            } else {
                let known: Vec<&str> = names.iter().copied().collect();
                said.problem(
                    &p,
                    format!("unknown node `{node}`; the nodes are {}", known.join(", ")),
                );
            }
            return None;
        }
        ends.push(End {
            node,
            iface,
            path: p,
        });
    }
    Some(ClabLink {
        path: path.clone(),
        ends,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::names::{check, MAX_NODE_NAME};

    #[test]
    fn every_name_becomes_a_valid_one_and_none_twice() {
        let mut taken = BTreeSet::new();
        for (name, want) in [
            ("1", "n1"),
            ("PC1", "pc1"),
            ("srl_1.lab", "srl-1-lab"),
            ("-x-", "x"),
            ("pc1", "pc1-2"),
            ("", "n"),
        ] {
            let got = valid_name(name, MAX_NODE_NAME, &taken);
            assert_eq!(got, want, "{name:?}");
            assert!(check(&got, MAX_NODE_NAME).is_ok(), "{got}");
            taken.insert(got);
        }
        let long = valid_name(&"a".repeat(40), MAX_NODE_NAME, &taken);
        assert_eq!(long.len(), MAX_NODE_NAME);
    }
}
