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
