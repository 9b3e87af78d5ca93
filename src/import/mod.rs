//! `noglab import containerlab`: a containerlab topology (`*.clab.yml`)
//! made into a noglab lab folder.
//!
//! Pure: it reads the containerlab file it is given and the files that
//! file binds through [`Files`], and returns the lab's files (the topology
//! and its templates) with the list of what it changed and what it left
//! out. It never writes; `commands/import.rs` does, and prints the list.
//!
//! The stages, in order: `read` (the containerlab file, its `defaults` and
//! `kinds` applied to each node), `nodes` (each node's noglab kind, name,
//! config, files and daemons from its binds), `addresses` (the addresses
//! the configs and exec lines set, and the links' subnets made from them),
//! `write` (the topology and the templates, each fixed address marked).

mod addresses;
mod nodes;
mod read;
mod write;

use std::collections::BTreeMap;
use std::path::Path;

use crate::diag::Diagnostics;
use crate::topology::spans::Path as YamlPath;
use crate::topology::{Pos, Spans};

/// The files a containerlab topology names, relative to its folder (or
/// absolute): kept apart from the filesystem so tests can drive it.
pub trait Files {
    /// A file's text.
    fn read(&self, path: &str) -> Result<String, String>;
    /// The names of the entries directly in a folder, sorted, or `None`
    /// when `path` is no folder.
    fn list(&self, path: &str) -> Option<Vec<String>>;
}

/// One thing the import says about the containerlab file, at its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub pos: Pos,
    /// Left out of the lab (the import then exits 1), rather than changed
    /// on the way in.
    pub dropped: bool,
    pub message: String,
}

/// A lab folder's contents.
#[derive(Debug)]
pub struct Imported {
    /// The noglab lab name.
    pub lab: String,
    /// File name in the folder -> text: `topology.yml` and its templates.
    pub files: BTreeMap<String, String>,
    /// What was renamed, moved or left out, in the file's order.
    pub notes: Vec<Note>,
}

/// What a stage says, before it has a place in the file.
#[derive(Debug, Default)]
pub(crate) struct Said {
    /// Bad input: the import stops with these.
    problems: Vec<(YamlPath, String)>,
    notes: Vec<(YamlPath, bool, String)>,
}

impl Said {
    fn problem(&mut self, path: &YamlPath, message: impl Into<String>) {
        self.problems.push((path.clone(), message.into()));
    }
    fn dropped(&mut self, path: &YamlPath, message: impl Into<String>) {
        self.notes.push((path.clone(), true, message.into()));
    }
    fn changed(&mut self, path: &YamlPath, message: impl Into<String>) {
        self.notes.push((path.clone(), false, message.into()));
    }
}

/// Imports the containerlab topology `source`, read from `file`.
pub fn containerlab(file: &Path, source: &str, files: &dyn Files) -> Result<Imported, Diagnostics> {
    let fail = |items| Diagnostics::new(file.to_path_buf(), source.to_string(), items);
    let (spans, duplicates) = Spans::parse(source).map_err(|d| fail(vec![d]))?;
    if !duplicates.is_empty() {
        return Err(fail(duplicates));
    }
    let locate = |path: &YamlPath, message: String| {
        spans.locate(crate::topology::Problem::value(path.clone(), message))
    };
    let mut said = Said::default();
    let clab = read::read(source, &mut said)
        .map_err(|(path, message)| fail(vec![locate(&path, message)]))?;
    let mut nodes = nodes::nodes(&clab, files, &mut said);
    let links = addresses::links(&clab, &mut nodes, &mut said);
    if !said.problems.is_empty() {
        let items = said
            .problems
            .iter()
            .map(|(p, m)| locate(p, m.clone()))
            .collect();
        return Err(fail(items));
    }
    let source_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let files = write::files(&clab, &nodes, &links, &source_name);
    let mut notes: Vec<Note> = said
        .notes
        .iter()
        .map(|(path, dropped, message)| {
            let d = spans.locate(crate::topology::Problem::key(path.clone(), message.clone()));
            Note {
                pos: Pos {
                    line: d.line,
                    col: d.col,
                },
                dropped: *dropped,
                message: d.message,
            }
        })
        .collect();
    notes.sort_by_key(|n| (n.pos.line, n.pos.col));
    notes.dedup();
    Ok(Imported {
        lab: clab.lab.clone(),
        files,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files in memory; a folder is a name ending in `/` listing its files.
    struct Mem(Vec<(&'static str, &'static str)>);

    impl Files for Mem {
        fn read(&self, path: &str) -> Result<String, String> {
            let found = self.0.iter().find(|(p, _)| *p == path);
            found
                .map(|(_, t)| t.to_string())
                .ok_or("no such file".into())
        }
        fn list(&self, path: &str) -> Option<Vec<String>> {
            let dir = format!("{}/", path.trim_end_matches('/'));
            let names: Vec<String> = self
                .0
                .iter()
                .filter_map(|(p, _)| p.strip_prefix(dir.as_str()).map(String::from))
                .collect();
            (!names.is_empty()).then_some(names)
        }
    }

    fn import(source: &str, files: Mem) -> Result<Imported, Diagnostics> {
        containerlab(Path::new("lab.clab.yml"), source, &files)
    }

    #[test]
    fn a_node_takes_its_kind_from_defaults_and_its_image_and_binds_from_kinds() {
        let src = "name: l\ntopology:\n  defaults:\n    kind: linux\n    binds: [d:/etc/motd]\n  kinds:\n    linux:\n      image: frrouting/frr:9\n      binds: [k:/etc/motd]\n  nodes:\n    r1: {}\n    r2:\n      binds: [n:/etc/motd]\n";
        let files = Mem(vec![("d", "defaults\n"), ("k", "kind\n"), ("n", "node\n")]);
        let out = import(src, files).expect("imports");
        let topology = &out.files["topology.yml"];
        assert!(topology.contains("  r1:\n    kind: frr\n"), "{topology}");
        assert_eq!(out.files["r1.motd"], "kind\n");
        assert_eq!(out.files["r2.motd"], "node\n");
        assert!(out.notes.iter().all(|n| !n.dropped), "{:?}", out.notes);
    }

    #[test]
    fn bad_input_points_at_its_place_and_writes_nothing() {
        let src = "name: l\ntopology:\n  nodes:\n    r1:\n      kind: linux\n      image: alpine\n      binds: [missing:/etc/x]\n  links:\n    - endpoints: [\"r1:eth1\", \"r9:eth1\"]\n";
        let err = import(src, Mem(vec![])).expect_err("bad input");
        let text = err.to_string();
        assert!(
            text.contains("lab.clab.yml:7:15: cannot read `missing`"),
            "{text}"
        );
        assert!(
            text.contains("lab.clab.yml:9:30: unknown node `r9`; the nodes are r1"),
            "{text}"
        );
    }

    #[test]
    fn what_noglab_has_no_place_for_is_dropped_and_said_where() {
        let src = "name: l\nmgmt:\n  network: m\ntopology:\n  nodes:\n    r1:\n      kind: linux\n      image: alpine\n      mgmt-ipv4: 172.20.20.2\n      env: {A: b}\n    s1:\n      kind: nokia_srlinux\n  links:\n    - endpoints: [\"r1:eth1\", \"s1:e1-1\"]\n";
        let out = import(src, Mem(vec![])).expect("imports");
        let dropped: Vec<(usize, &str)> = out
            .notes
            .iter()
            .filter(|n| n.dropped)
            .map(|n| (n.pos.line, n.message.split(':').next().unwrap_or("")))
            .collect();
        assert_eq!(
            dropped,
            [
                (2, "`mgmt` is not converted"),
                (9, "`mgmt-ipv4` is not converted"),
                (10, "`env` is not converted"),
                (11, "node `s1` is not converted"),
                (14, "link to `s1"),
            ]
        );
        assert!(!out.files["topology.yml"].contains("links:"));
    }

    #[test]
    fn a_template_tag_in_a_config_stays_text() {
        let src = "name: l\ntopology:\n  nodes:\n    r1:\n      kind: linux\n      image: frrouting/frr\n      binds: [c:/etc/frr/frr.conf]\n";
        let out =
            import(src, Mem(vec![("c", "! {{ not a tag }}\nhostname r1\n")])).expect("imports");
        assert_eq!(
            out.files["r1.frr.conf"],
            "{% raw %}! {{ not a tag }}{% endraw %}\nhostname r1\n"
        );
    }

    #[test]
    fn interfaces_noglab_cannot_name_are_renamed_everywhere_the_node_says_them() {
        let src = "name: l\ntopology:\n  nodes:\n    r1:\n      kind: linux\n      image: frrouting/frr\n      binds: [c:/etc/frr/frr.conf]\n    h1:\n      kind: linux\n      image: alpine\n      exec:\n        - ip addr add 10.0.0.2/30 dev net0\n        - ip link set net0 mtu 1400\n        - ip link set net0x up\n  links:\n    - endpoints: [\"r1:net0\", \"h1:net0\"]\n    - endpoints: [\"r1:eth1\", \"h1:eth2\"]\n";
        let conf = "interface net0\n ip address 10.0.0.1/30\n ip ospf area 0\n";
        let out = import(src, Mem(vec![("c", conf)])).expect("imports");
        let topology = &out.files["topology.yml"];
        assert!(
            topology.contains("endpoints: [\"r1:eth2\", \"h1:eth1\"]\n"),
            "{topology}"
        );
        assert!(topology.contains("ipv4: \"10.0.0.0/30\""), "{topology}");
        assert!(
            topology.contains("- \"ip link set eth1 mtu 1400\""),
            "{topology}"
        );
        assert!(
            topology.contains("- \"ip link set net0x up\""),
            "{topology}"
        );
        let r1 = &out.files["r1.frr.conf"];
        assert!(r1.starts_with("{#"), "{r1}");
        assert!(r1.contains("interface eth2\n {# ip address 10.0.0.1/30: the link's address now, which noglab sets on eth2 (interfaces.eth2.ipv4) #}\n ip ospf area 0\n"), "{r1}");
        let said: Vec<&str> = out.notes.iter().map(|n| n.message.as_str()).collect();
        assert!(said.contains(&"interface `net0` of `r1` is eth2 in noglab (its lab interfaces are eth1 to eth64), in its configs and exec lines too"), "{said:?}");
        assert!(out.notes.iter().all(|n| !n.dropped), "{said:?}");
    }

    #[test]
    fn a_bridge_and_its_members_are_one_lan_addressed_in_order() {
        let host = |n: &str, a: &str| {
            format!("    {n}:\n      kind: linux\n      image: alpine\n      exec: [\"ip addr add {a} dev eth1\"]\n")
        };
        let src = format!(
            "name: l\ntopology:\n  nodes:\n    br1:\n      kind: bridge\n    br2:\n      kind: bridge\n{}{}{}  links:\n    - endpoints: [\"h1:eth1\", \"br1:e1\"]\n    - endpoints: [\"br1:e2\", \"h2:eth1\"]\n    - endpoints: [\"h3:eth1\", \"br1:e3\"]\n    - endpoints: [\"h3:eth2\", \"br2:e1\"]\n",
            host("h1", "10.9.0.3/24"),
            host("h2", "10.9.0.1/24"),
            host("h3", "10.9.0.2/24"),
        );
        let out = import(&src, Mem(vec![])).expect("imports");
        let topology = &out.files["topology.yml"];
        assert!(
            topology.contains("  - endpoints: [\"h2:eth1\", \"h3:eth1\", \"h1:eth1\"]\n"),
            "{topology}"
        );
        assert!(
            topology.contains("    ipv4: \"10.9.0.0/24\"\n"),
            "{topology}"
        );
        assert!(!topology.contains("ip addr add"), "{topology}");
        let dropped: Vec<(usize, &str)> = out
            .notes
            .iter()
            .filter(|n| n.dropped)
            .map(|n| (n.pos.line, n.message.as_str()))
            .collect();
        assert_eq!(
            dropped,
            [(6, "bridge `br2` is not converted: it has one member, and a noglab LAN has two or more")]
        );
    }
}
