//! Exercise checks and the scoreboard, end to end (issue 5).

use crate::docker::{skip, Lab};
use crate::support::noglab;

fn board(lab: &Lab, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["check", lab.name.as_str(), "--format", "json"];
    args.extend_from_slice(extra);
    let out = noglab(&args).run();
    let json = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    (out.code, json)
}

fn failing(json: &serde_json::Value) -> Vec<(u64, String)> {
    json["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] != "pass")
        .map(|r| {
            (
                r["pod"].as_u64().unwrap_or(0),
                r["id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn issue5_checks_pass_fail_in_one_pod_and_pass_after_reset() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "chk");
    // Before the lab runs, checking its file is a clear error.
    let early = noglab(&["check", &lab.file()]).code(2);
    assert!(
        early.stderr.contains("is not running") && early.stderr.contains("noglab up"),
        "{}",
        early.stderr
    );

    lab.up(2);
    let (code, json) = board(&lab, &[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["passed"], 12, "{json:#}");

    // Break pod 2 as a participant could: shut r1's IPv4 session.
    let shut = lab.exec(
        2,
        "r1",
        &[
            "vtysh",
            "-c",
            "conf t",
            "-c",
            "router bgp 65102",
            "-c",
            "neighbor 100.64.2.1 shutdown",
        ],
    );
    assert_eq!(shut.code, 0, "{}", shut.stderr);
    let (code, json) = board(&lab, &["--step", "1"]);
    assert_eq!(code, 1);
    assert_eq!(
        failing(&json),
        vec![(2, "bgp-v4".to_string())],
        "only pod 2's session cell fails: {json:#}"
    );
    let detail = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["status"] == "fail")
        .expect("a failure")["detail"]
        .clone();
    assert!(
        detail
            .as_str()
            .unwrap_or("")
            .contains("expected Established"),
        "{detail}"
    );

    // The room right now, without waiting for convergence: the same cell.
    let (code, json) = board(&lab, &["--step", "1", "--no-wait"]);
    assert_eq!(code, 1);
    assert_eq!(failing(&json), vec![(2, "bgp-v4".to_string())], "{json:#}");

    // The table shows the same, pods as rows.
    let table = noglab(&["check", &lab.name, "--pod", "2", "--step", "1"]).code(1);
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with('2') && l.contains("FAIL")),
        "{}",
        table.stdout
    );

    noglab(&["reset", &lab.name, "--pod", "2"]).ok();
    let (code, json) = board(&lab, &[]);
    assert_eq!(code, 0, "{json:#}");
    assert!(failing(&json).is_empty());
}

/// `check --lint` takes a lab folder or topology file and refuses, with
/// exit 2 and before touching the engine, a lab name, a lab without
/// checks, a topology with errors and the board's own flags (issue 18).
#[test]
fn issue18_lint_refuses_bad_input_before_anything_is_created() {
    let out = noglab(&["check", "--lint", "bgp"]).code(2);
    assert!(
        out.stderr
            .contains("--lint takes a lab's folder or topology file"),
        "{}",
        out.stderr
    );
    let out = noglab(&["check", "--lint", "examples/two-routers", "--pods", "0"]).code(2);
    assert!(
        out.stderr.contains("--pods must be between 1 and"),
        "{}",
        out.stderr
    );
    let out = noglab(&["check", "--lint", "tests/errors/check-json-pointer.yml"]).code(2);
    assert!(
        out.stderr.contains("check-json-pointer.yml:"),
        "{}",
        out.stderr
    );
    let dir = crate::support::root().join("target/test-labs/lint-no-checks");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("topology.yml"),
        "name: nochecks\nnodes:\n  h1: {kind: host}\n",
    )
    .expect("write");
    let out = noglab(&["check", "--lint", &dir.to_string_lossy()]).code(2);
    assert!(
        out.stderr.contains("has no checks to lint"),
        "{}",
        out.stderr
    );
    for flags in [
        &["--pod", "1"][..],
        &["--step", "1"],
        &["--watch"],
        &["--no-wait"],
    ] {
        let mut args = vec!["check", "--lint", "labs/bgp"];
        args.extend_from_slice(flags);
        let out = noglab(&args).code(2);
        assert!(
            out.stderr.contains("cannot be used with"),
            "{flags:?}: {}",
            out.stderr
        );
    }
    noglab(&["check", "labs/bgp", "--pods", "2"]).code(2);
}
