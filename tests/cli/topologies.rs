//! The library under `topologies/` on the real engine: each topology comes
//! up in two pods, as its own lab, and every one of its checks passes in
//! both (`noglab check` retries each until its timeout). Then pod 1 is
//! broken as a participant would break it, and the checks that watch that
//! part fail there while pod 2 still passes everything: the checks can
//! fail, and the pods are apart. One lab at a time, so that the library's
//! labs never crowd the machine.
//!
//! `cargo test --test cli topologies:: -- --nocapture --test-threads 1`
//! prints each topology's times.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;

use crate::docker::{skip, Lab};
use crate::support::{noglab, root};

/// Every topology of the library: the short tag its test lab is named
/// after (`<prefix><tag>-<pid>` must fit noglab's 24 characters), and how
/// to break pod 1: on which node, with which command, and which checks
/// must then fail at once.
struct Topology {
    name: &'static str,
    tag: &'static str,
    break_node: &'static str,
    break_with: &'static [&'static str],
    then_fail: &'static [&'static str],
}

const LIBRARY: &[Topology] = &[
    Topology {
        name: "ospf-ring",
        tag: "ring",
        break_node: "r2",
        break_with: &[
            "vtysh",
            "-c",
            "conf t",
            "-c",
            "interface eth1",
            "-c",
            "shutdown",
        ],
        then_fail: &["r2-r3-ospf", "r2-r3-ospf6"],
    },
    Topology {
        name: "isp-core",
        tag: "isp",
        break_node: "pe2",
        break_with: &[
            "vtysh",
            "-c",
            "conf t",
            "-c",
            "router bgp 65001",
            "-c",
            "neighbor 100.64.1.2 shutdown",
        ],
        then_fail: &["pe2-rr2-ibgp", "pe2-cust-via-rr2"],
    },
    Topology {
        name: "ixp",
        tag: "ixp",
        break_node: "rs",
        break_with: &["birdc", "disable", "m4_v4"],
        then_fail: &["rs-m4"],
    },
    Topology {
        name: "anycast-dns",
        tag: "anycast",
        break_node: "edge",
        break_with: &[
            "vtysh",
            "-c",
            "conf t",
            "-c",
            "router bgp 65001",
            "-c",
            "neighbor 100.64.1.19 shutdown",
        ],
        then_fail: &["edge-site2", "site2-announces"],
    },
    Topology {
        name: "campus-edge",
        tag: "campus",
        break_node: "edge",
        break_with: &[
            "vtysh",
            "-c",
            "conf t",
            "-c",
            "router bgp 65001",
            "-c",
            "neighbor 100.65.1.0 shutdown",
        ],
        then_fail: &["edge-upstream", "edge-default", "h1-ping-test"],
    },
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

/// `noglab check` on the lab as JSON: its exit code, the board, and the
/// ids of the checks that did not pass, by pod.
fn check(lab: &Lab, extra: &[&str]) -> (i32, Value, BTreeMap<u64, BTreeSet<String>>) {
    let mut args = vec!["check", lab.name.as_str(), "--format", "json"];
    args.extend_from_slice(extra);
    let out = noglab(&args).run();
    let board: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    let mut failed: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for r in board["results"].as_array().into_iter().flatten() {
        if r["status"] != "pass" {
            let pod = r["pod"].as_u64().expect("a pod number");
            let id = r["id"].as_str().expect("an id").to_string();
            failed.entry(pod).or_default().insert(id);
        }
    }
    (out.code, board, failed)
}

fn comes_up_in_two_pods_and_passes_its_checks(name: &str) {
    if skip() {
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let topology = LIBRARY.iter().find(|t| t.name == name).expect("in LIBRARY");
    let per_pod = declared_checks(name);
    assert!(per_pod > 0, "topologies/{name} declares no checks");

    let lab = Lab::copy_of(&folder(name), topology.tag);
    let started = Instant::now();
    lab.up(2);
    let up = started.elapsed();
    let started = Instant::now();
    let (code, board, failed) = check(&lab, &[]);
    let checked = started.elapsed();
    assert!(
        code == 0 && failed.is_empty(),
        "topologies/{name}: checks failed (exit {code}): {failed:?}\n{board:#}"
    );
    assert_eq!(
        board["passed"],
        2 * per_pod,
        "topologies/{name}: {per_pod} checks in each of 2 pods: {board:#}"
    );

    // Broken in pod 1 as a participant would break it: the checks on that
    // part fail there, at once; pod 2 is untouched.
    let broke = lab.exec(1, topology.break_node, topology.break_with);
    assert_eq!(
        broke.code, 0,
        "breaking pod 1's {}: {}{}",
        topology.break_node, broke.stdout, broke.stderr
    );
    let (code, board, failed) = check(&lab, &["--no-wait"]);
    assert_eq!(code, 1, "topologies/{name}: broken, yet {board:#}");
    let pod1 = failed.get(&1).cloned().unwrap_or_default();
    for id in topology.then_fail {
        assert!(
            pod1.contains(*id),
            "topologies/{name}: pod 1 broken on {}, yet {id} passes (failed: {pod1:?})",
            topology.break_node
        );
    }
    assert!(
        !failed.contains_key(&2),
        "topologies/{name}: pod 2 fails when only pod 1 was broken: {failed:?}"
    );
    eprintln!(
        "topologies/{name}: up {:.1}s, {} checks passed in {:.1}s; pod 1 broken on {}: {} failed",
        up.as_secs_f64(),
        2 * per_pod,
        checked.as_secs_f64(),
        topology.break_node,
        pod1.iter().cloned().collect::<Vec<_>>().join(", ")
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
    let mut listed: Vec<String> = LIBRARY.iter().map(|t| t.name.to_string()).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "every topology under topologies/ needs its test in tests/cli/topologies.rs"
    );
    for Topology { name, .. } in LIBRARY {
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
