//! Golden plans: `noglab plan` output beside the file it must equal, under
//! `tests/golden/`. `NOGLAB_BLESS=1 cargo test --test cli plan_golden`
//! rewrites them; read the diff before committing it.
//!
//! Two things in a plan change with the node images rather than with the
//! topology: each container's `image` tag (a hash of its build context under
//! `images/`) and its `noglab.hash` label (which covers the image). They are
//! replaced by placeholders after checking their shape, so editing an image
//! does not break these tests; everything else is compared exactly.

use serde_yaml::Value as Yaml;

use crate::support::{self, root};

/// Runs `noglab plan ARGS` in noglab's default plumbing range, whatever the
/// environment says.
fn plan(args: &[&str]) -> String {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    let done = support::noglab(&all)
        .env("NOGLAB_PLUMBING_RANGE", "198.18.0.0/15")
        .ok();
    assert!(
        done.stderr.is_empty(),
        "plan wrote to stderr:\n{}",
        done.stderr
    );
    done.stdout
}

/// Replaces what depends on the images (see the module docs). Works on
/// YAML values, which also hold the JSON plan (JSON is YAML).
fn without_image_tags(plan: &mut Yaml) {
    let pods = plan
        .get_mut("pod_plans")
        .and_then(Yaml::as_mapping_mut)
        .expect("pod_plans is a map");
    for (_, pod) in pods.iter_mut() {
        let containers = pod
            .get_mut("containers")
            .and_then(Yaml::as_sequence_mut)
            .expect("containers is a list");
        for c in containers {
            let kind = c["kind"].as_str().expect("kind").to_string();
            let image = c["image"].as_str().expect("image");
            assert!(
                image.starts_with(&format!("noglab/{kind}:")),
                "unexpected image {image} for kind {kind}"
            );
            c["image"] = Yaml::String(format!("noglab/{kind}:<tag>"));
            let labels = c
                .get_mut("labels")
                .and_then(Yaml::as_mapping_mut)
                .expect("labels");
            let hash = labels
                .get("noglab.hash")
                .and_then(Yaml::as_str)
                .expect("noglab.hash");
            assert!(
                hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "unexpected noglab.hash {hash}"
            );
            labels.insert("noglab.hash".into(), "<hash>".into());
        }
    }
}

fn yaml_golden(args: &[&str], golden: &str) {
    let out = plan(args);
    let mut value: Yaml = serde_yaml::from_str(&out).expect("plan prints YAML");
    without_image_tags(&mut value);
    let text = serde_yaml::to_string(&value).expect("YAML");
    support::golden(&root().join(golden), &text);
}

#[test]
fn two_routers_two_pods_yaml() {
    yaml_golden(
        &["examples/two-routers", "--pods", "2"],
        "tests/golden/two-routers.plan.yaml",
    );
}

#[test]
fn two_routers_one_pod_json() {
    let out = plan(&["examples/two-routers", "--pods", "1", "--format", "json"]);
    serde_json::from_str::<serde_json::Value>(&out).expect("plan prints JSON");
    let mut value: Yaml = serde_yaml::from_str(&out).expect("JSON is YAML");
    without_image_tags(&mut value);
    let text = serde_json::to_string_pretty(&value).expect("JSON") + "\n";
    support::golden(&root().join("tests/golden/two-routers.plan.json"), &text);
}

/// /31 and /127, a /29 LAN of four, explicit names before bare ones, vars
/// merging, and no peer keys on a LAN: see the topology's comments.
#[test]
fn addressing_rules() {
    yaml_golden(
        &["tests/golden/topologies/addressing"],
        "tests/golden/addressing.plan.yaml",
    );
}

/// The same plan comes out every time: nothing in it depends on the clock,
/// the environment or the order maps are walked in.
#[test]
fn plans_are_deterministic() {
    let args = ["examples/two-routers", "--pods", "3", "--format", "json"];
    let first = plan(&args);
    let again = support::noglab(&["plan", args[0], args[1], args[2], args[3], args[4]])
        .env("NOGLAB_PLUMBING_RANGE", "198.18.0.0/15")
        .env("HOME", "/nonexistent")
        .env("TZ", "Pacific/Kiritimati")
        .ok();
    assert_eq!(first, again.stdout);
}

/// The JSON plan's file `path` of `node` in pod `pod`.
fn planned_file(plan: &serde_json::Value, pod: &str, node: &str, path: &str) -> String {
    plan["pod_plans"][pod]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["node"] == node)
        .and_then(|c| c["files"][path]["content"].as_str())
        .unwrap_or_else(|| panic!("pod {pod} {node} {path} in the plan"))
        .to_string()
}

/// "Show a group its own solution": one rendered file of one node of one
/// pod, raw, from the topology or from a lab by its name (the plan saved
/// at its `up`); what does not exist is exit 2, naming what does.
#[test]
fn issue18_plan_prints_one_pods_node_or_file() {
    let whole = plan(&["labs/bgp", "--solution", "--pods", "3", "--format", "json"]);
    let whole: serde_json::Value = serde_json::from_str(&whole).expect("the plan is JSON");
    let want = planned_file(&whole, "3", "border", "/etc/frr/frr.conf");
    assert!(want.contains("ip route 100.68.3.0/24 Null0"), "{want}");
    // Pod 3 of a 2-pod topology is planned as `up --pods 3` would.
    let args = [
        "--pod",
        "3",
        "--node",
        "border",
        "--file",
        "/etc/frr/frr.conf",
    ];
    let mut solved = vec!["labs/bgp", "--solution"];
    solved.extend(args);
    assert_eq!(plan(&solved), want);
    let mut initial = vec!["labs/bgp"];
    initial.extend(args);
    assert_ne!(plan(&initial), want, "the initial file is not the solution");

    let node = plan(&[
        "labs/bgp", "--pod", "2", "--node", "core", "--format", "json",
    ]);
    let node: serde_json::Value = serde_json::from_str(&node).expect("a node's spec");
    assert_eq!(node["name"], "bgp-p02-core");

    for (args, message) in [
        (
            vec!["labs/bgp", "--pods", "2", "--pod", "3"],
            "error: lab bgp has no pod 3; it has pods 1-2\n",
        ),
        (
            vec!["labs/bgp", "--pod", "1", "--node", "r9"],
            "error: pod 1 of lab bgp has no node `r9`; nodes: border, core, host, access\n",
        ),
        (
            vec!["labs/bgp", "--pod", "shared", "--node", "rs", "--file", "/etc/bird.conf"],
            "error: shared node rs of lab bgp has no file `/etc/bird.conf`; its files: /etc/bird/bird.conf, /etc/noglab/health, /etc/noglab/interfaces, /etc/noglab/ready\n",
        ),
        (
            vec!["labs/bgp", "--pod", "0"],
            "error: `0` is not a pod: give its number (from 1) or `shared`\n",
        ),
    ] {
        let mut all = vec!["plan"];
        all.extend(args);
        let done = support::noglab(&all).code(2);
        assert_eq!(done.stderr, message);
        assert!(done.stdout.is_empty(), "{}", done.stdout);
    }
}

/// A lab brought up before is planned by its name, as `graph` and `check`
/// take it: the plan saved at its `up`, here written as `up` writes it.
#[test]
fn issue18_plan_takes_a_lab_by_its_name() {
    let state = root().join("target/tmp/issue18-plan-state");
    let _ = std::fs::remove_dir_all(&state);
    let saved = state.join("labs/bgp");
    std::fs::create_dir_all(&saved).expect("a state folder");
    let json = plan(&["labs/bgp", "--format", "json"]);
    std::fs::write(saved.join("plan.json"), &json).expect("the saved plan");
    let whole: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let want = planned_file(&whole, "2", "border", "/etc/frr/frr.conf");

    let by_name = |args: &[&str]| {
        let mut all = vec!["plan", "bgp"];
        all.extend_from_slice(args);
        support::noglab(&all).env("NOGLAB_STATE_DIR", &state)
    };
    let args = [
        "--pod",
        "2",
        "--node",
        "border",
        "--file",
        "/etc/frr/frr.conf",
    ];
    assert_eq!(by_name(&args).ok().stdout, want);
    let again: serde_json::Value =
        serde_json::from_str(&by_name(&["--format", "json"]).ok().stdout).expect("JSON");
    assert_eq!(again, whole);
    let solved = by_name(&["--solution"]).code(2);
    assert_eq!(
        solved.stderr,
        "error: lab bgp runs its initial state, so its saved plan holds no solution: give its topology, `noglab plan FILE --solution`\n"
    );
    let pods = by_name(&["--pods", "3"]).code(2);
    assert_eq!(
        pods.stderr,
        "error: --pods goes with a topology file: lab bgp has the pods it was brought up with\n"
    );
    let unknown = support::noglab(&["plan", "nolab"])
        .env("NOGLAB_STATE_DIR", &state)
        .code(2);
    assert_eq!(
        unknown.stderr,
        "error: `nolab` is neither a topology file nor a lab noglab has brought up\n"
    );
}
