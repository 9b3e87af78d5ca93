//! Each containerlab node as a noglab node: its kind (from containerlab's
//! kind and image), a valid name, and its binds read into a config
//! template, files and, for FRR, the daemons its `daemons` file enables.

use std::collections::{BTreeMap, BTreeSet};

use super::read::{is_bridge, valid_name, Clab, ClabNode, Sourced};
use super::{Files, Said};
use crate::kinds;
use crate::topology::names::MAX_NODE_NAME;
use crate::topology::spans::Path;

/// A file for the node, from a bound file.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    /// Where it was bound in the containerlab node.
    pub dest: String,
    pub text: String,
}

#[derive(Debug)]
pub(crate) struct Node {
    /// As containerlab names it.
    pub clab: String,
    pub name: String,
    pub kind: &'static str,
    pub config: Option<Bound>,
    /// Destination in the node -> file.
    pub files: BTreeMap<String, Bound>,
    pub daemons: Vec<String>,
    pub exec: Vec<Sourced>,
    /// Lines of `config` whose address became a link's (line index ->
    /// the interface), and exec lines (by index) that did so: the plan
    /// sets those addresses now.
    pub adopted_lines: BTreeMap<usize, String>,
    pub adopted_exec: BTreeSet<usize>,
    /// Interfaces renamed to noglab's ethN: containerlab's name -> noglab's.
    pub renamed: BTreeMap<String, String>,
}

impl Node {
    /// noglab's name of an interface containerlab names `iface`.
    pub fn interface(&self, iface: &str) -> String {
        self.renamed
            .get(iface)
            .cloned()
            .unwrap_or_else(|| iface.to_string())
    }

    /// A line of the node's configs or exec lines with its renamed
    /// interfaces' names replaced, as whole words.
    pub fn renamed_in(&self, line: &str) -> String {
        let mut out = line.to_string();
        for (old, new) in &self.renamed {
            out = replace_word(&out, old, new);
        }
        out
    }
}

fn replace_word(text: &str, word: &str, by: &str) -> String {
    let part = |c: char| c.is_ascii_alphanumeric() || "_.-/".contains(c);
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + word.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(part) || after.is_some_and(part) {
            out.push_str(word);
        } else {
            out.push_str(by);
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// Images that are a plain Linux host, by the last part of their name.
const HOST_IMAGES: &[&str] = &[
    "alpine",
    "busybox",
    "debian",
    "ubuntu",
    "centos",
    "fedora",
    "rockylinux",
    "almalinux",
    "network-multitool",
    "netshoot",
];

/// The noglab kind of a containerlab node, or why it has none.
fn noglab_kind(node: &ClabNode) -> Result<&'static str, String> {
    let kind = node.kind.as_ref().map(|k| k.text.as_str()).unwrap_or("");
    if kind != "linux" {
        return Err(if kind.is_empty() {
            format!(
                "node `{}` is not converted: it has no kind (neither its own nor in `defaults`)",
                node.name
            )
        } else {
            format!(
                "node `{}` is not converted: kind `{kind}` has no noglab kind (noglab converts `linux` nodes running FRR, BIRD or a plain host image)",
                node.name
            )
        });
    }
    let image = node
        .image
        .as_ref()
        .map(|i| i.text.to_lowercase())
        .unwrap_or_default();
    // `registry:5000/team/frr:9.1` -> repository `registry:5000/team/frr`, last part `frr`.
    let last = image.rsplit('/').next().unwrap_or("");
    let repo_tail = last.split(['@', ':']).next().unwrap_or("");
    let repo = format!("{}{repo_tail}", &image[..image.len() - last.len()]);
    let bound_under = |dir: &str| {
        node.binds.iter().any(|b| {
            b.text
                .split(':')
                .nth(1)
                .is_some_and(|d| d == dir || d.starts_with(&format!("{dir}/")))
        })
    };
    if repo.contains("frr") || bound_under("/etc/frr") {
        Ok("frr")
    } else if repo.contains("bird") || bound_under("/etc/bird") {
        Ok("bird")
    } else if HOST_IMAGES.contains(&repo_tail) {
        Ok("host")
    } else if image.is_empty() {
        Err(format!(
            "node `{}` is not converted: it has no image",
            node.name
        ))
    } else {
        Err(format!(
            "node `{}` is not converted: image `{image}` is neither FRR, BIRD nor a plain Linux host ({})",
            node.name,
            HOST_IMAGES.join(", ")
        ))
    }
}

/// The nodes noglab runs, with their names; the others are said.
pub(crate) fn nodes(clab: &Clab, files: &dyn Files, said: &mut Said) -> Vec<Node> {
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for node in &clab.nodes {
        if is_bridge(node) {
            // Its links become one LAN (`addresses`).
            continue;
        }
        let kind = match noglab_kind(node) {
            Ok(k) => k,
            Err(m) => {
                said.dropped(&node.path, m);
                continue;
            }
        };
        let name = valid_name(&node.name, MAX_NODE_NAME, &taken);
        taken.insert(name.clone());
        if name != node.name {
            said.changed(
                &node.path,
                format!(
                    "node `{}` is `{name}` in noglab (names are lowercase letters, digits and `-`, starting with a letter)",
                    node.name
                ),
            );
        }
        if let Some(image) = &node.image {
            said.changed(
                &image.path,
                format!("image `{}` becomes noglab's own {kind} image", image.text),
            );
        }
        let mut n = Node {
            clab: node.name.clone(),
            name,
            kind,
            config: None,
            files: BTreeMap::new(),
            daemons: Vec::new(),
            exec: node.exec.clone(),
            adopted_lines: BTreeMap::new(),
            adopted_exec: BTreeSet::new(),
            renamed: BTreeMap::new(),
        };
        for bind in &node.binds {
            read_bind(&mut n, bind, files, said);
        }
        out.push(n);
    }
    out
}

/// The files a bind brings into the node: `SOURCE:DEST[:OPTIONS]`, a file
/// or a folder (its files, one level).
fn read_bind(node: &mut Node, bind: &Sourced, files: &dyn Files, said: &mut Said) {
    let parts: Vec<&str> = bind.text.split(':').collect();
    let (src, dest) = match parts[..] {
        [src, dest] | [src, dest, _] if !src.is_empty() && dest.starts_with('/') => (src, dest),
        _ => {
            said.problem(
                &bind.path,
                format!(
                    "bind `{}`: write `SOURCE:/DESTINATION` (`:ro` may follow)",
                    bind.text
                ),
            );
            return;
        }
    };
    if src.contains("__clab") {
        said.dropped(
            &bind.path,
            format!(
                "bind `{}` is not converted: it names containerlab's own lab folders",
                bind.text
            ),
        );
        return;
    }
    let dest = dest.trim_end_matches('/');
    if let Some(entries) = files.list(src) {
        for entry in entries {
            let from = format!("{}/{entry}", src.trim_end_matches('/'));
            if files.list(&from).is_some() {
                said.dropped(
                    &bind.path,
                    format!("folder `{from}` inside bind `{}` is not converted (its files are taken one level deep)", bind.text),
                );
                continue;
            }
            take_file(node, &from, &format!("{dest}/{entry}"), bind, files, said);
        }
    } else {
        take_file(node, src, dest, bind, files, said);
    }
}

fn take_file(
    node: &mut Node,
    src: &str,
    dest: &str,
    bind: &Sourced,
    files: &dyn Files,
    said: &mut Said,
) {
    let text = match files.read(src) {
        Ok(t) => t,
        Err(e) => {
            said.problem(
                &bind.path,
                format!("cannot read `{src}` of bind `{}`: {e}", bind.text),
            );
            return;
        }
    };
    let kind = kinds::lookup(node.kind).expect("a kind of the registry");
    let is_config = kind.config_path == Some(dest)
        // BIRD's own images read /etc/bird.conf.
        || (node.kind == "bird" && dest == "/etc/bird.conf");
    if is_config {
        if dest != kind.config_path.unwrap_or(dest) {
            said.changed(
                &bind.path,
                format!(
                    "`{dest}` goes to {}, where noglab's {} image reads its config",
                    kind.config_path.unwrap_or(""),
                    node.kind
                ),
            );
        }
        node.config = Some(Bound {
            dest: dest.to_string(),
            text,
        });
    } else if node.kind == "frr" && dest == "/etc/frr/daemons" {
        node.daemons = frr_daemons(&text, kind, &bind.path, said);
    } else if ["/etc/noglab", "/proc", "/sys", "/dev", "/run/noglab"]
        .iter()
        .any(|r| dest == *r || dest.starts_with(&format!("{r}/")))
    {
        said.dropped(
            &bind.path,
            format!(
                "`{src}` bound to `{dest}` is not converted: noglab keeps that folder to itself"
            ),
        );
    } else {
        node.files.insert(
            dest.to_string(),
            Bound {
                dest: dest.to_string(),
                text,
            },
        );
    }
}

/// The daemons an FRR `daemons` file turns on that the node's kind can
/// choose (zebra and staticd always run; `*_options` lines are the image's
/// business).
fn frr_daemons(text: &str, kind: &kinds::Kind, path: &Path, said: &mut Said) -> Vec<String> {
    let known: Vec<&str> = kind.daemons.iter().map(|(n, _)| *n).collect();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((name, value)) = line.trim().split_once('=') else {
            continue;
        };
        let on = value.trim().trim_matches('"') == "yes";
        if !on || name.ends_with("_options") || name.starts_with('#') {
            continue;
        }
        if known.contains(&name) {
            out.push(name.to_string());
        } else if !["zebra", "staticd", "watchfrr", "vtysh_enable"].contains(&name) {
            said.dropped(
                path,
                format!(
                    "daemon `{name}` of the `daemons` file is not converted: noglab's FRR runs {}",
                    known.join(", ")
                ),
            );
        }
    }
    out
}
