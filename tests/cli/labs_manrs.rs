//! The MANRS workshop lab (labs/manrs) end to end on a real engine, with
//! its two kinds of border router: FRR in pod 1, BIRD 2 in pod 2. Solved,
//! every check passes in both pods; the IRR answers bgpq4 with the lab's
//! objects, serves its one source and nothing else, and no node routes off
//! the lab. Brought back to its initial state, only the infrastructure
//! holds; pod 1 solved by hand with the guide's commands (bgpq4 and vtysh,
//! nft, IRRd's submissions with curl), as the participant `lab`, passes
//! while pod 2 still fails every exercise.
//!
//! Needs the IRR image, which `noglab images build irr` makes (IRRd's
//! packages fetched with this machine's pip the first time).
//! `cargo test labs_manrs -- --nocapture` prints the timings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use crate::docker::{access_ports, images, lab_prefix, lint_is_sound, skip, Lab};
use crate::support::{noglab, root};

/// Copies labs/manrs (with its folders) to a test lab of its own name, and
/// moves its access ports off those of a lab an instructor may be running.
fn manrs_lab() -> Lab {
    images();
    noglab(&["images", "build", "irr", "--quiet"]).ok();
    let name = format!("{}manrs-{}", lab_prefix(), std::process::id() % 100_000);
    let dir = root().join("target/test-labs").join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    copy_tree(&root().join("labs/manrs"), &dir);
    let topology = dir.join("topology.yml");
    let text = std::fs::read_to_string(&topology).expect("topology");
    let ssh = access_ports(8, 2840);
    let text = text
        .replace("\nname: manrs\n", &format!("\nname: {name}\n"))
        .replace("base_port: 2800", &format!("base_port: {ssh}"));
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

/// The ids of the lab's checks: step 0's, and the exercises' by step.
fn check_ids(lab: &Lab) -> (BTreeSet<String>, BTreeMap<u64, BTreeSet<String>>) {
    let text = std::fs::read_to_string(lab.dir.join("topology.yml")).expect("topology");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
    let mut infra = BTreeSet::new();
    let mut exercise: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for c in yaml["checks"].as_sequence().expect("checks") {
        let id = c["id"].as_str().expect("id").to_string();
        match c["step"].as_u64().expect("step") {
            0 => {
                infra.insert(id);
            }
            step => {
                exercise.entry(step).or_default().insert(id);
            }
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

fn ok(lab: &Lab, pod: &str, node: &str, cmd: &[&str]) -> String {
    let mut args = vec!["exec", lab.name.as_str(), "--pod", pod, node, "--"];
    args.extend_from_slice(cmd);
    let out = noglab(&args).run();
    assert_eq!(
        out.code, 0,
        "{node} (pod {pod}): {cmd:?}\n{}{}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// A shell script run on pod 1's border as the participant, `lab`.
fn as_lab(lab: &Lab, script: &str) -> String {
    ok(lab, "1", "border", &["su", "-", "lab", "-c", script])
}

/// Step 1 on FRR, as README.md says: bgpq4's prefix-lists, loaded with
/// vtysh, and the customer's route maps matching them.
const STEP1_FRR: &str = "
bgpq4 -h 100.64.0.43 -4 -l CUSTOMER4 AS-POD1-CUSTOMERS
bgpq4 -h 100.64.0.43 -4 -l CUSTOMER4 AS-POD1-CUSTOMERS > customer4.conf
bgpq4 -h 100.64.0.43 -6 -l CUSTOMER6 AS-POD1-CUSTOMERS > customer6.conf
vtysh -f customer4.conf
vtysh -f customer6.conf
vtysh -c 'configure terminal' \
  -c 'route-map FROM-CUSTOMER permit 10' -c 'match ip address prefix-list CUSTOMER4' -c 'exit' \
  -c 'route-map FROM-CUSTOMER6 permit 10' -c 'match ipv6 address prefix-list CUSTOMER6' -c 'end' \
  -c 'write memory'
";

/// Step 2, the same on FRR and BIRD: strict uRPF on the customer's side.
const STEP2: &str = "
nft -f - <<'EOF'
table inet bcp38 {
    chain prerouting {
        type filter hook prerouting priority filter; policy accept;
        iifname \"eth1\" fib saddr . iif oif missing counter drop
    }
}
EOF
nft list table inet bcp38
";

/// Step 3 on FRR: the blackholes, announced with RFC 7999's community; the
/// one for 198.51.100.66 (not the pod's) too, which the upstream refuses.
const STEP3_FRR: &str = "
vtysh -c 'configure terminal' \
  -c 'ip route 100.72.1.10/32 blackhole' \
  -c 'ipv6 route 2001:db8:1001::10/128 blackhole' \
  -c 'ip prefix-list BLACKHOLE seq 5 permit 100.72.1.10/32' \
  -c 'ipv6 prefix-list BLACKHOLE6 seq 5 permit 2001:db8:1001::10/128' \
  -c 'route-map TO-UPSTREAM permit 5' -c 'match ip address prefix-list BLACKHOLE' -c 'set community blackhole' -c 'exit' \
  -c 'route-map TO-UPSTREAM6 permit 5' -c 'match ipv6 address prefix-list BLACKHOLE6' -c 'set community blackhole' -c 'exit' \
  -c 'router bgp 65001' \
  -c 'address-family ipv4 unicast' -c 'network 100.72.1.10/32' -c 'exit-address-family' \
  -c 'address-family ipv6 unicast' -c 'network 2001:db8:1001::10/128' -c 'exit-address-family' \
  -c 'end'
vtysh -c 'configure terminal' \
  -c 'ip route 198.51.100.66/32 blackhole' \
  -c 'ip prefix-list BLACKHOLE seq 10 permit 198.51.100.66/32' \
  -c 'router bgp 65001' -c 'address-family ipv4 unicast' -c 'network 198.51.100.66/32' \
  -c 'end' -c 'write memory'
";

/// Step 4: the route object fixed through IRRd's submissions, with the
/// pod's password; then step 1's filter built again until it has the
/// change (IRRd's answers catch up within seconds, not all at once: the
/// guide has participants check the filter before loading it).
const STEP4: &str = r#"
PASS=$(cat /etc/irr/password)
curl -sS -w '\n' -X POST http://100.64.0.43:8080/v1/submit/ --data @- <<EOF
{"objects": [{"object_text": "route: 100.73.1.0/24\ndescr: Pod 1's customer\norigin: AS65101\nmnt-by: MAINT-POD1\nsource: LAB\n"}],
 "passwords": ["$PASS"]}
EOF
curl -sS -w '\n' -X DELETE http://100.64.0.43:8080/v1/submit/ --data @- <<EOF
{"objects": [{"object_text": "route: 100.73.1.0/24\norigin: AS64510\nmnt-by: MAINT-POD1\nsource: LAB\n"}],
 "passwords": ["$PASS"], "delete_reason": "the customer has its own AS now"}
EOF
whois -h 100.64.0.43 100.73.1.0/24
whois -h 100.64.0.43 '!gAS65101'
for try in $(seq 30); do
  bgpq4 -h 100.64.0.43 -4 -l CUSTOMER4 AS-POD1-CUSTOMERS > customer4.conf
  grep 100.73.1.0/24 customer4.conf && echo "in the filter built after $try tries" && break
  sleep 2
done
vtysh -f customer4.conf
"#;

#[test]
// IRRd (eight processes, PostgreSQL, Redis) starts slowly beside the other
// tests' labs, and its answers then lag what participants submit: run on
// its own, as the tests that load the machine are.
#[ignore = "its IRR wants the machine to itself; .ci/run runs it on its own"]
fn issue19_manrs_lab_with_frr_and_bird_pods_solved_initial_and_solved_by_hand() {
    if skip() {
        return;
    }
    let lab = manrs_lab();
    let (infra, exercise) = check_ids(&lab);
    assert_eq!(
        exercise.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "{exercise:?}"
    );
    let all_exercise: BTreeSet<String> = exercise.values().flatten().cloned().collect();

    // Solved: every check of both pods passes.
    let started = Instant::now();
    noglab(&["up", &lab.file(), "--pods", "2", "--solution"]).ok();
    let up = started.elapsed();
    let status = noglab(&["status", &lab.name, "--format", "json"]).ok();
    for (pod, kind) in [(1, "frr"), (2, "bird")] {
        assert_eq!(
            border_kind(&status.stdout, pod).as_deref(),
            Some(kind),
            "{}",
            status.stdout
        );
    }
    let (code, results) = check(&lab, &[]);
    assert_eq!(code, 0, "{results:#?}");
    assert_eq!(
        results.len(),
        2 * (infra.len() + all_exercise.len()),
        "{results:#?}"
    );
    eprintln!(
        "manrs: up --solution {:.0}s, every check passing {:.0}s after up began",
        up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    // The IRR answers bgpq4 with the lab's objects: pod 1's customer
    // prefixes, registered to its as-set's member.
    let lists = ok(
        &lab,
        "1",
        "border",
        &["bgpq4", "-h", "100.64.0.43", "-4", "AS-POD1-CUSTOMERS"],
    );
    for p in ["100.72.1.0/24", "100.73.1.0/24", "100.74.1.0/24"] {
        assert!(lists.contains(&format!("permit {p}\n")), "{lists}");
    }
    assert!(!lists.contains("100.72.2.0/24"), "{lists}");
    let lists6 = ok(
        &lab,
        "2",
        "border",
        &["bgpq4", "-h", "100.64.0.43", "-6", "AS-POD2-CUSTOMERS"],
    );
    assert!(lists6.contains("permit 2001:db8:1002::/48\n"), "{lists6}");

    // The IRR has its one source and nothing from outside: IRRd lists LAB
    // alone, and its configuration names no mirror, NRTM or RPKI source.
    let sources = ok(
        &lab,
        "1",
        "border",
        &["whois", "-h", "100.64.0.43", "!s-lc"],
    );
    assert_eq!(sources.trim(), "A4\nLAB\nC", "{sources}");
    let serials = ok(&lab, "1", "border", &["whois", "-h", "100.64.0.43", "!j-*"]);
    let known: Vec<&str> = serials
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('A') && *l != "C")
        .collect();
    assert!(
        known.len() == 1 && known[0].starts_with("LAB:"),
        "{serials}"
    );
    let conf = ok(&lab, "shared", "irr", &["cat", "/etc/irrd/irrd.yaml"]);
    let yaml: serde_yaml::Value = serde_yaml::from_str(&conf).expect("irrd.yaml");
    let names: Vec<&str> = yaml["irrd"]["sources"]
        .as_mapping()
        .expect("sources")
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(names, ["LAB"], "{conf}");
    let source = &yaml["irrd"]["sources"]["LAB"];
    assert_eq!(source["authoritative"], serde_yaml::Value::Bool(true));
    for key in [
        "import_source",
        "nrtm_host",
        "nrtm_port",
        "import_serial_source",
    ] {
        assert!(source.get(key).is_none(), "{key} in {conf}");
    }
    assert!(yaml["irrd"]["rpki"]["roa_source"].is_null(), "{conf}");

    // Offline: no node has a route off the lab. Only the hosts have a
    // default route, through their customer router, which has none; the
    // access points answer participants' SSH and start nothing.
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
                format!("default via 100.72.{pod}.1 dev eth1"),
                "pod {pod} host"
            );
            continue;
        }
        assert_eq!(default, "", "{node} (pod {pod}) has a default route");
        for target in ["9.9.9.9", "2620:fe::9"] {
            let get = noglab(&[
                "exec", &lab.name, "--pod", pod, node, "--", "ip", "route", "get", target,
            ])
            .run();
            assert_ne!(
                get.code, 0,
                "{node} (pod {pod}) routes {target}: {}",
                get.stdout
            );
        }
    }
    assert_eq!(seen, 2 + 2 * 4, "{containers}");

    // Initial: the infrastructure holds, every exercise fails (asked once
    // each, once the sessions are up). The borders made anew put their
    // pod's objects in the IRR back as they start.
    noglab(&["up", &lab.file(), "--pods", "2", "--recreate"]).ok();
    let (code, results) = check(&lab, &["--step", "0"]);
    assert_eq!(code, 0, "{results:#?}");
    let (code, results) = check(&lab, &["--no-wait"]);
    assert_eq!(code, 1);
    for pod in [1, 2] {
        assert_eq!(
            failing(&results, pod),
            all_exercise,
            "pod {pod}: {results:#?}"
        );
    }
    eprintln!(
        "manrs: initial lab checked {:.0}s after up began",
        started.elapsed().as_secs_f64()
    );

    // Pod 1 (FRR) solved by hand, step by step, as the participant: each
    // step's checks pass once it is done.
    let by_hand = Instant::now();
    let out = as_lab(&lab, STEP1_FRR);
    assert!(out.contains("permit 100.72.1.0/24\n"), "{out}");
    assert!(!out.contains("100.73.1.0/24"), "{out}");
    let (code, results) = check(&lab, &["--pod", "1", "--step", "1"]);
    assert_eq!(code, 0, "{results:#?}");
    let out = as_lab(&lab, STEP2);
    assert!(out.contains("fib saddr . iif oif missing"), "{out}");
    let (code, results) = check(&lab, &["--pod", "1", "--step", "2"]);
    assert_eq!(code, 0, "{results:#?}");
    as_lab(&lab, STEP3_FRR);
    let (code, results) = check(&lab, &["--pod", "1", "--step", "3"]);
    assert_eq!(code, 0, "{results:#?}");
    let out = as_lab(&lab, STEP4);
    assert_eq!(out.matches("\"successful\":1,").count(), 2, "{out}");
    assert_eq!(out.matches("\"failed\":0,").count(), 2, "{out}");
    let object = as_lab(&lab, "whois -h 100.64.0.43 100.73.1.0/24");
    assert!(object.contains("origin:         AS65101"), "{object}");
    assert!(!object.contains("AS64510"), "{object}");
    let (code, results) = check(&lab, &["--pod", "1"]);
    assert_eq!(code, 0, "{results:#?}\nstep 4 said:\n{out}");
    eprintln!(
        "manrs: pod 1 solved by hand, every check passing, in {:.0}s",
        by_hand.elapsed().as_secs_f64()
    );

    // Pod 2 did nothing: every exercise fails there still; its customer's
    // unregistered routes are accepted, its stale object unchanged.
    let (code, results) = check(&lab, &["--pod", "2", "--no-wait"]);
    assert_eq!(code, 1);
    assert_eq!(failing(&results, 2), all_exercise, "{results:#?}");
    let leak = &results[&(2, "rejects-leak".to_string())].1;
    assert!(
        leak.contains("203.0.113.0/24 from the customer: received and accepted"),
        "{leak}"
    );
    eprintln!(
        "manrs: the whole test {:.0}s",
        started.elapsed().as_secs_f64()
    );
}

/// The kind of pod `pod`'s border in `noglab status --format json`.
fn border_kind(status: &str, pod: u64) -> Option<String> {
    let rows: serde_json::Value = serde_json::from_str(status).ok()?;
    let rows = rows.as_array().or_else(|| rows["nodes"].as_array())?;
    rows.iter()
        .find(|r| {
            r["node"] == "border"
                && (r["pod"].as_u64() == Some(pod)
                    || r["pod"].as_str().and_then(|p| p.parse().ok()) == Some(pod))
        })
        .and_then(|r| r["kind"].as_str().map(String::from))
}

/// `noglab check --lint labs/manrs`: every check fails on the initial lab and
/// passes on the solved one, step 0 passes both times (issue 18).
#[test]
#[ignore = "its IRR wants the machine to itself; .ci/run runs it on its own"]
fn issue18_manrs_lab_checks_can_fail_and_can_pass() {
    if skip() {
        return;
    }
    lint_is_sound(&manrs_lab(), 2);
}
