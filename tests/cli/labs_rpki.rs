//! The RPKI workshop lab (labs/rpki) end to end on a real engine, with
//! its two kinds of border router: FRR in pod 1, BIRD 2 in pod 2. Solved,
//! every check passes in both pods and nothing routes off the lab;
//! brought back to its initial state, only the infrastructure holds;
//! solved by hand as participants and the instructor would (vtysh on
//! FRR, BIRD's rpki.conf and birdc, krillc through Krill's gate, the
//! rogue's `hijack`), first pod 1 alone passes, and its ROV drops the
//! hijack that pod 2 accepts; then pod 2 as well, with the validator
//! fetching over RRDP alone (Krill's rsyncd stopped).
//!
//! Needs the Krill image, which `noglab images build krill` makes (from
//! noglab's cache in a minute; compiling Krill the first time takes about
//! twenty). `cargo test labs_rpki -- --nocapture` prints the timings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::docker::{access_ports, images, lab_prefix, lint_is_sound, skip, wait_for, Lab};
use crate::support::{noglab, root};

/// Copies labs/rpki (with its folders) to a test lab of its own name, and
/// moves its access ports off those of a lab an instructor may be running.
fn rpki_lab() -> Lab {
    images();
    noglab(&["images", "build", "krill", "--quiet"]).ok();
    let name = format!("{}rpki-{}", lab_prefix(), std::process::id() % 100_000);
    let dir = root().join("target/test-labs").join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    copy_tree(&root().join("labs/rpki"), &dir);
    let topology = dir.join("topology.yml");
    let text = std::fs::read_to_string(&topology).expect("topology");
    let ssh = access_ports(5, 2640);
    let text = text
        .replace("\nname: rpki\n", &format!("\nname: {name}\n"))
        .replace("base_port: 2600", &format!("base_port: {ssh}"));
    assert!(
        text.contains(&name) && text.contains(&format!("base_port: {ssh}")),
        "{text}"
    );
    std::fs::write(&topology, text).expect("write topology");
    let _ = noglab(&["down", &name, "--quiet"]).run();
    Lab::adopt(name, dir)
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

/// Each pod's router kind, as `noglab status` reports it.
fn router_kinds(lab: &Lab) -> BTreeMap<u64, String> {
    let out = noglab(&["status", &lab.name, "--format", "json"]).ok();
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).expect("status json");
    let rows = rows
        .as_array()
        .or_else(|| rows["nodes"].as_array())
        .expect("status rows")
        .clone();
    rows.iter()
        .filter(|r| r["node"] == "router")
        .map(|r| {
            (
                r["pod"]
                    .as_u64()
                    .or_else(|| r["pod"].as_str().and_then(|p| p.parse().ok()))
                    .expect("pod"),
                r["kind"].as_str().expect("kind").to_string(),
            )
        })
        .collect()
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

/// The lab's tests one at a time: each brings up the whole lab, and two
/// at once only slow each other's convergence on a small machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn issue7_rpki_lab_with_frr_and_bird_pods_solved_initial_and_solved_by_hand() {
    if skip() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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
    let kinds = router_kinds(&lab);
    assert_eq!(
        kinds,
        BTreeMap::from([(1, "frr".to_string()), (2, "bird".to_string())])
    );
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

    // From here on the validator has RRDP only: Krill's rsyncd stops, so
    // every ROA change below reaches FORT over RRDP (HTTPS to krill.test,
    // whose certificate FORT was given), or the checks on it fail.
    ok(
        &lab,
        "shared",
        "krill",
        &[
            "bash",
            "-c",
            "pkill -x rsync; sleep 1; if (exec 3<>/dev/tcp/127.0.0.1/873) 2>/dev/null; then echo rsyncd still answers; exit 1; fi",
        ],
    );

    // Initial: the infrastructure holds, no exercise does (asked once
    // each, once the BGP sessions are up). Hosts made anew took their
    // pod's ROA away; the validator drops it at its next validation
    // (within a minute), so the upstream's view is asked last.
    noglab(&["up", &lab.file(), "--pods", "2", "--recreate"]).ok();
    let (code, results) = check(&lab, &["--step", "0"]);
    assert_eq!(code, 0, "{results:#?}");
    let (code, results) = check(&lab, &["--no-wait"]);
    assert_eq!(code, 1);
    for pod in [1, 2] {
        let mut want = exercise.clone();
        let got = failing(&results, pod);
        if !got.contains("roa-valid") {
            want.remove("roa-valid");
        }
        assert_eq!(got, want, "pod {pod}: {results:#?}");
    }
    // The validator drops the ROAs at its next validation, within its
    // 60 s cycle; then the upstream sees neither prefix valid.
    wait_for(Duration::from_secs(150), || {
        let (_, step3) = check(&lab, &["--step", "3", "--no-wait"]);
        match [1, 2].map(|pod| step3[&(pod, "roa-valid".to_string())].0.clone()) {
            [a, b] if a == "fail" && b == "fail" => Ok(()),
            got => Err(format!("roa-valid still passes: {got:?}")),
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));

    // Pod 1 (FRR) solved by hand: its router's solved config through
    // vtysh, its ROA through krillc on its host, and the instructor's
    // hijack of every pod.
    let config = lab.solved_file(1, "router", "/etc/frr/frr.conf");
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
    let (code, results) = check(&lab, &["--pod", "1"]);
    assert_eq!(code, 0, "{results:#?}");
    // Pod 2 did nothing: every exercise fails there, and its router,
    // without ROV, accepts the hijack that pod 1's drops.
    let (code, results) = check(&lab, &["--pod", "2", "--no-wait"]);
    assert_eq!(code, 1);
    assert_eq!(failing(&results, 2), exercise, "{results:#?}");
    let accepted = &results[&(2, "hijack-rejected".to_string())].1;
    assert!(
        accepted.contains("the hijack 100.68.2.0/25 from AS64511 is accepted"),
        "{accepted}"
    );

    // Pod 2 (BIRD) solved by hand, as a participant logged in to it:
    // rpki.conf written as user `lab`, BIRD told to read it again, the
    // ROA through krillc.
    let rpki = lab.solved_file(2, "router", "/etc/bird/rpki.conf");
    assert!(rpki.contains("roa_check"), "{rpki}");
    ok(
        &lab,
        "2",
        "router",
        &[
            "su",
            "lab",
            "-c",
            &format!("cat > /etc/bird/rpki.conf <<'EOF'\n{rpki}EOF\nbirdc configure"),
        ],
    );
    let roa_added = Instant::now();
    ok(
        &lab,
        "2",
        "host",
        &[
            "krillc",
            "roas",
            "update",
            "--add",
            "100.68.2.0/24 => 65002",
        ],
    );
    let (code, results) = check(&lab, &["--pod", "2"]);
    assert_eq!(code, 0, "{results:#?}");
    eprintln!(
        "rpki: pod 2 (BIRD) passing every check {:.0}s after its ROA",
        roa_added.elapsed().as_secs_f64()
    );
    let (code, results) = check(&lab, &["--no-wait"]);
    assert_eq!(code, 0, "{results:#?}");

    // The gate keeps pod 1 to its own CA.
    let other = noglab(&[
        "exec", &lab.name, "--pod", "1", "host", "--", "krillc", "roas", "list", "--ca", "pod2",
    ])
    .run();
    assert_ne!(other.code, 0);
    assert!(other.stderr.contains("pod1"), "{}", other.stderr);
    eprintln!(
        "rpki: the whole test {:.0}s",
        started.elapsed().as_secs_f64()
    );
}

/// `noglab check --lint labs/rpki`: every check fails on the initial lab and
/// passes on the solved one, step 0 passes both times (issue 18).
#[test]
fn issue18_rpki_lab_checks_can_fail_and_can_pass() {
    if skip() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    lint_is_sound(&rpki_lab(), 2);
}
