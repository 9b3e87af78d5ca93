//! The RPKI workshop lab (labs/rpki) end to end on a real engine: solved,
//! every check passes in two pods and nothing routes off the lab; brought
//! back to its initial state, only the infrastructure holds; solved in pod
//! 1 by hand, as a participant and the instructor would (vtysh, krillc
//! through Krill's gate, the rogue's `hijack`), pod 1 passes and pod 2
//! does not.
//!
//! Needs the Krill image, which `noglab images build krill` makes (from
//! noglab's cache in a minute; compiling Krill the first time takes about
//! twenty). `cargo test labs_rpki -- --nocapture` prints the timings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use crate::docker::{images, skip, Lab};
use crate::support::{noglab, root};

/// Copies labs/rpki (with its folders) to a test lab of its own name, and
/// moves its access ports off those of a lab an instructor may be running.
fn rpki_lab() -> Lab {
    images();
    noglab(&["images", "build", "krill", "--quiet"]).ok();
    let name = format!("trpki-{}", std::process::id() % 100_000);
    let dir = root().join("target/test-labs").join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    copy_tree(&root().join("labs/rpki"), &dir);
    let topology = dir.join("topology.yml");
    let text = std::fs::read_to_string(&topology).expect("topology");
    let text = text
        .replace("\nname: rpki\n", &format!("\nname: {name}\n"))
        .replace("base_port: 2600", "base_port: 2640");
    assert!(text.contains(&name) && text.contains("2640"), "{text}");
    std::fs::write(&topology, text).expect("write topology");
    let _ = noglab(&["down", &name, "--quiet"]).run();
    Lab { name, dir }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("lab folder") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).expect("copy");
        }
    }
}

/// Each check's result: (pod, id) -> (status, detail and output).
type Results = BTreeMap<(u64, String), (String, String)>;

/// `noglab check LAB --format json [ARGS]`: the exit code and the results.
fn check(lab: &Lab, args: &[&str]) -> (i32, Results) {
    let mut all = vec!["check", lab.name.as_str(), "--format", "json"];
    all.extend_from_slice(args);
    let out = noglab(&all).run();
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    let results = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                (
                    r["pod"].as_u64().expect("pod"),
                    r["id"].as_str().expect("id").to_string(),
                ),
                (
                    r["status"].as_str().unwrap_or("").to_string(),
                    format!(
                        "{} {}",
                        r["detail"].as_str().unwrap_or(""),
                        r["output"].as_str().unwrap_or("")
                    ),
                ),
            )
        })
        .collect();
    (out.code, results)
}

/// The ids of the lab's checks, by step.
fn check_ids(lab: &Lab) -> (BTreeSet<String>, BTreeSet<String>) {
    let text = std::fs::read_to_string(lab.dir.join("topology.yml")).expect("topology");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
    let mut infra = BTreeSet::new();
    let mut exercise = BTreeSet::new();
    for c in yaml["checks"].as_sequence().expect("checks") {
        let id = c["id"].as_str().expect("id").to_string();
        if c["step"].as_u64() == Some(0) {
            infra.insert(id);
        } else {
            exercise.insert(id);
        }
    }
    (infra, exercise)
}

fn failing(results: &Results, pod: u64) -> BTreeSet<String> {
    results
        .iter()
        .filter(|((p, _), (status, _))| *p == pod && status != "pass")
        .map(|((_, id), _)| id.clone())
        .collect()
}

/// Pod `pod`'s router config as `plan --solution` renders it.
fn solved_router_config(lab: &Lab, pod: u32) -> String {
    let out = noglab(&[
        "plan",
        &lab.file(),
        "--pods",
        "2",
        "--solution",
        "--format",
        "json",
    ])
    .ok();
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("plan json");
    plan["pod_plans"][pod.to_string()]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["node"] == "router")
        .expect("router")["files"]["/etc/frr/frr.conf"]["content"]
        .as_str()
        .expect("frr.conf")
        .to_string()
}

fn ok(lab: &Lab, pod: &str, node: &str, cmd: &[&str]) -> String {
    let pod_args = pod.to_string();
    let mut args = vec!["exec", lab.name.as_str(), "--pod", &pod_args, node, "--"];
    args.extend_from_slice(cmd);
    let out = noglab(&args).run();
    assert_eq!(
        out.code, 0,
        "{node} (pod {pod}): {cmd:?}\n{}{}",
        out.stdout, out.stderr
    );
    out.stdout
}

#[test]
fn issue7_rpki_lab_solved_initial_and_solved_by_hand_in_pod_1() {
    if skip() {
        return;
    }
    let lab = rpki_lab();
    let (infra, exercise) = check_ids(&lab);
    assert!(
        infra.len() >= 4 && exercise.len() >= 8,
        "{infra:?} {exercise:?}"
    );

    // Solved: every check of both pods passes.
    let started = Instant::now();
    noglab(&["up", &lab.file(), "--pods", "2", "--solution"]).ok();
    let up = started.elapsed();
    let (code, results) = check(&lab, &[]);
    assert_eq!(code, 0, "{results:#?}");
    assert_eq!(results.len(), 2 * (infra.len() + exercise.len()));
    eprintln!(
        "rpki: up --solution {:.0}s, every check passing {:.0}s after up began",
        up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    // Offline: no node has a route off the lab. Only the hosts have a
    // default route, through their own pod's router, which has none.
    // (Each pod's access point answers participants' SSH through its
    // default route; noglab's guard lets nothing start from there.)
    let containers = crate::docker::docker(&[
        "ps",
        "--filter",
        &format!("label=noglab.lab={}", lab.name),
        "--format",
        "{{.Label \"noglab.pod\"}} {{.Label \"noglab.node\"}}",
    ]);
    let mut seen = 0;
    for line in containers.lines() {
        let (pod, node) = line.split_once(' ').expect("pod and node");
        seen += 1;
        if node == "access" {
            continue;
        }
        let route = noglab(&[
            "exec", &lab.name, "--pod", pod, node, "--", "ip", "-4", "route", "show", "default",
        ])
        .run();
        let default = route.stdout.trim();
        if node == "host" {
            assert_eq!(
                default,
                format!("default via 100.68.{pod}.1 dev eth1"),
                "pod {pod} host"
            );
        } else {
            assert_eq!(default, "", "{node} (pod {pod}) has a default route");
            let get = noglab(&[
                "exec", &lab.name, "--pod", pod, node, "--", "ip", "route", "get", "9.9.9.9",
            ])
            .run();
            assert_ne!(
                get.code, 0,
                "{node} (pod {pod}) routes 9.9.9.9: {}",
                get.stdout
            );
        }
    }
    assert_eq!(seen, 4 + 2 * 3, "{containers}");

    // Initial: the infrastructure holds, no exercise does. Hosts made
    // anew took their pod's ROA away; the validator drops it at its next
    // validation (within a minute), so the upstream's view is asked last.
    noglab(&["up", &lab.file(), "--pods", "2"]).ok();
    let (code, results) = check(&lab, &["--step", "0"]);
    assert_eq!(code, 0, "{results:#?}");
    let (code, results) = check(&lab, &[]);
    assert_eq!(code, 1);
    for pod in [1, 2] {
        let mut want = exercise.clone();
        let got = failing(&results, pod);
        if !got.contains("roa-valid") {
            want.remove("roa-valid");
        }
        assert_eq!(got, want, "pod {pod}: {results:#?}");
    }
    let (_, step3) = check(&lab, &["--step", "3"]);
    assert_eq!(step3[&(1, "roa-valid".to_string())].0, "fail", "{step3:#?}");

    // Pod 1 solved by hand: its router's solved config through vtysh, its
    // ROA through krillc on its host, and the instructor's hijack.
    let config = solved_router_config(&lab, 1);
    assert!(config.contains("match rpki invalid"), "{config}");
    ok(
        &lab,
        "1",
        "router",
        &[
            "sh",
            "-c",
            &format!("cat > /tmp/solution.conf <<'EOF'\n{config}EOF\nvtysh -f /tmp/solution.conf"),
        ],
    );
    let roa_added = Instant::now();
    ok(
        &lab,
        "1",
        "host",
        &[
            "krillc",
            "roas",
            "update",
            "--add",
            "100.68.1.0/24 => 65001",
        ],
    );
    let hijack = ok(&lab, "shared", "rogue", &["hijack", "all"]);
    assert!(hijack.contains("100.68.2.0/25"), "{hijack}");
    let (code, _) = check(&lab, &["--step", "3", "--pod", "1"]);
    assert_eq!(code, 0);
    eprintln!(
        "rpki: pod 1's ROA valid at the upstream {:.0}s after krillc",
        roa_added.elapsed().as_secs_f64()
    );
    let (code, results) = check(&lab, &[]);
    assert_eq!(code, 1);
    assert_eq!(failing(&results, 1), BTreeSet::new(), "{results:#?}");
    assert_eq!(failing(&results, 2), exercise, "{results:#?}");

    // The gate keeps pod 1 to its own CA.
    let other = noglab(&[
        "exec", &lab.name, "--pod", "1", "host", "--", "krillc", "roas", "list", "--ca", "pod2",
    ])
    .run();
    assert_ne!(other.code, 0);
    assert!(other.stderr.contains("pod1"), "{}", other.stderr);
}
