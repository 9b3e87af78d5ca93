//! Every topology shipped under `examples/`, `topologies/`, `labs/` and
//! `tests/labs/` (the end-to-end tests' labs) validates and plans, so none
//! of them rots unnoticed (just's `tests/examples.rs`).
//!
//! A folder holding `topology.yml` (or `.yaml`) is one lab: that file is its
//! topology and other YAML files beside it are taken as its own data. In
//! any other folder, each `*.yml`/`*.yaml` file is a topology.

use std::path::{Path, PathBuf};

use crate::support::{self, root};

const FOLDERS: &[&str] = &["examples", "topologies", "labs", "tests/labs"];

fn is_yaml(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "yml" || e == "yaml")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    let lab = ["topology.yml", "topology.yaml"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file());
    match lab {
        Some(topology) => out.push(topology),
        None => out.extend(
            entries
                .iter()
                .filter(|p| p.is_file() && is_yaml(p))
                .cloned(),
        ),
    }
    for sub in entries.iter().filter(|p| p.is_dir()) {
        collect(sub, out);
    }
}

pub(crate) fn topologies() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for folder in FOLDERS {
        // A folder that does not exist yet simply has nothing to check.
        collect(&root().join(folder), &mut out);
    }
    out
}

pub(crate) fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .expect("inside the repository")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_shipped_topology_validates_and_plans() {
    let found = topologies();
    assert!(
        !found.is_empty(),
        "no topology found under {}",
        FOLDERS.join(", ")
    );
    let mut failed = Vec::new();
    for topology in &found {
        let rel = relative(topology);
        let validate = support::noglab(&["validate", &rel]).run();
        if validate.code != 0 {
            failed.push(format!(
                "noglab validate {rel} exited {}:\n{}",
                validate.code, validate.stderr
            ));
            continue;
        }
        let plan = support::noglab(&["plan", &rel, "--format", "json"]).run();
        if plan.code != 0 {
            failed.push(format!(
                "noglab plan {rel} exited {}:\n{}",
                plan.code, plan.stderr
            ));
            continue;
        }
        let value: serde_json::Value = match serde_json::from_str(&plan.stdout) {
            Ok(v) => v,
            Err(e) => {
                failed.push(format!("noglab plan {rel} printed no JSON plan: {e}"));
                continue;
            }
        };
        let containers = value["pod_plans"]
            .as_object()
            .map(|pods| {
                pods.values()
                    .filter_map(|p| p["containers"].as_array())
                    .map(Vec::len)
                    .sum::<usize>()
            })
            .unwrap_or(0);
        if containers == 0 {
            failed.push(format!("noglab plan {rel} plans no container"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} topologies failed:\n\n{}",
        failed.len(),
        found.len(),
        failed.join("\n\n")
    );
}

/// `noglab validate topology.yml` inside the lab's folder reads its
/// templates from there (the file's folder is `.`, not an empty path).
#[test]
fn a_topology_named_without_its_folder_finds_its_templates() {
    let done = support::noglab(&["validate", "topology.yml"])
        .dir(&root().join("labs/bgp"))
        .ok();
    assert!(
        done.stdout.starts_with("topology.yml: lab bgp is valid"),
        "{}",
        done.stdout
    );
}
