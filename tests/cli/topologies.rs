//! The library under `topologies/` on the real engine: each topology comes
//! up in two pods, as its own lab, and every one of its checks passes in
//! both (`noglab check` retries each until its timeout), then it is removed.
//! One lab at a time, so that the library's labs never crowd the machine.
//!
//! `cargo test --test cli topologies:: -- --nocapture --test-threads 1`
//! prints each topology's times.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;

use crate::docker::{skip, Lab};
use crate::support::{noglab, root};

/// Every topology of the library, with the short tag its test lab is named
/// after (`<prefix><tag>-<pid>` must fit noglab's 24 characters).
const LIBRARY: &[(&str, &str)] = &[
    ("ospf-ring", "ring"),
    ("isp-core", "isp"),
    ("ixp", "ixp"),
    ("anycast-dns", "anycast"),
    ("campus-edge", "campus"),
];

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn folder(name: &str) -> PathBuf {
    root().join("topologies").join(name)
}

/// How many checks the topology declares, from its own file.
fn declared_checks(name: &str) -> usize {
    let text = std::fs::read_to_string(folder(name).join("topology.yml")).expect("topology.yml");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    yaml["checks"].as_sequence().map_or(0, Vec::len)
}

fn comes_up_in_two_pods_and_passes_its_checks(name: &str) {
    if skip() {
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tag = LIBRARY
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .expect("in LIBRARY");
    let per_pod = declared_checks(name);
    assert!(per_pod > 0, "topologies/{name} declares no checks");

    let lab = Lab::copy_of(&folder(name), tag);
    let started = Instant::now();
    lab.up(2);
    let up = started.elapsed();
    let started = Instant::now();
    let out = noglab(&["check", &lab.name, "--format", "json"]).run();
    let checked = started.elapsed();
    let board: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    let failed: Vec<String> = board["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["status"] != "pass")
        .map(|r| r.to_string())
        .collect();
    assert!(
        out.code == 0 && failed.is_empty(),
        "topologies/{name}: checks failed (exit {}):\n{}\n{}",
        out.code,
        failed.join("\n"),
        out.stderr
    );
    assert_eq!(
        board["passed"],
        2 * per_pod,
        "topologies/{name}: {per_pod} checks in each of 2 pods: {board:#}"
    );
    eprintln!(
        "topologies/{name}: up {:.1}s, {} checks passed in {:.1}s",
        up.as_secs_f64(),
        2 * per_pod,
        checked.as_secs_f64()
    );
}

#[test]
fn issue18_every_folder_under_topologies_is_brought_up_by_a_test() {
    let mut found: Vec<String> = std::fs::read_dir(root().join("topologies"))
        .expect("topologies/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("topology.yml").is_file())
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut listed: Vec<String> = LIBRARY.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "every topology under topologies/ needs its test in tests/cli/topologies.rs"
    );
    for (name, _) in LIBRARY {
        let readme = folder(name).join("README.md");
        assert!(readme.is_file(), "topologies/{name} has no README.md");
    }
}

#[test]
fn issue18_ospf_ring_comes_up_and_passes_its_checks() {
    comes_up_in_two_pods_and_passes_its_checks("ospf-ring");
}

#[test]
fn issue18_isp_core_comes_up_and_passes_its_checks() {
    comes_up_in_two_pods_and_passes_its_checks("isp-core");
}

#[test]
fn issue18_ixp_comes_up_and_passes_its_checks() {
    comes_up_in_two_pods_and_passes_its_checks("ixp");
}

#[test]
fn issue18_anycast_dns_comes_up_and_passes_its_checks() {
    comes_up_in_two_pods_and_passes_its_checks("anycast-dns");
}

#[test]
fn issue18_campus_edge_comes_up_and_passes_its_checks() {
    comes_up_in_two_pods_and_passes_its_checks("campus-edge");
}
