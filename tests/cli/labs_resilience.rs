//! The resilience lab, `labs/resilience`, end to end on the real engine:
//! brought up solved, two pods pass every check; a path cut while the
//! client's probe pings costs what BFD allows and no more, as the lab's
//! own `ping-failover` check measures it, and with the path back (its IPv6
//! addresses put back by `noglab link ... up`) every check passes again;
//! brought back to its initial state, step 0 passes and every exercise
//! check fails; pod 1 configured by hand through vtysh passes while pod 2
//! still fails.
//!
//! `cargo test --test cli labs_resilience -- --nocapture` prints what each
//! cut cost.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::docker::{access_ports, lint_is_sound, skip, wait_for, Lab};
use crate::support::{noglab, root, Done};

/// A copy of `labs/resilience` under a unique name, with its template
/// folders, its access points moved to ports of the test's own.
fn resilience_lab() -> Lab {
    let src = root().join("labs/resilience");
    let lab = Lab::copy_of(&src, "res");
    for sub in ["initial", "solution", "pod"] {
        copy_dir(&src.join(sub), &lab.dir.join(sub));
    }
    let ssh = access_ports(10, 2910);
    let topology = std::fs::read_to_string(lab.file()).expect("topology");
    assert!(topology.contains("base_port: 2900"), "{topology}");
    let moved = topology.replace("base_port: 2900", &format!("base_port: {ssh}"));
    std::fs::write(lab.file(), moved).expect("write topology");
    lab
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("lab subfolder") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

fn json(out: &Done) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr))
}

/// `noglab check` on the lab: exit code and board.
fn board(lab: &Lab, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["check", lab.name.as_str(), "--format", "json"];
    args.extend_from_slice(extra);
    let out = noglab(&args).run();
    (out.code, json(&out))
}

/// (pod, id, step, passed) for every result.
fn results(board: &Value) -> Vec<(u64, String, u64, bool)> {
    let steps: BTreeMap<String, u64> = board["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().expect("id").to_string(),
                c["step"].as_u64().expect("step"),
            )
        })
        .collect();
    board["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let id = r["id"].as_str().expect("id").to_string();
            (
                r["pod"].as_u64().expect("pod"),
                id.clone(),
                steps[&id],
                r["status"] == "pass",
            )
        })
        .collect()
}

/// The results that did not pass, one line each with their detail and
/// output: what an assertion shows first, before the whole board.
fn failing(board: &Value) -> String {
    board["results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["status"] != "pass")
                .map(|r| {
                    format!(
                        "pod {} {}: {} {} {}\n",
                        r["pod"],
                        r["id"].as_str().unwrap_or_default(),
                        r["status"],
                        r["detail"].as_str().unwrap_or_default(),
                        r["output"].as_str().unwrap_or_default().trim()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether check `id` passed in `pod`, and its detail.
fn result(board: &Value, pod: u32, id: &str) -> (bool, String) {
    let r = board["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["pod"] == pod && r["id"] == id)
        .unwrap_or_else(|| panic!("no result for pod {pod} {id}: {board:#}"));
    (
        r["status"] == "pass",
        r["detail"].as_str().unwrap_or_default().to_string(),
    )
}

/// What the client's ping probe counted since its last restart: replies,
/// and the most lost in a row, from `probe report ping`'s line.
fn ping_report(lab: &Lab, pod: u32) -> Result<(u32, u32, String), String> {
    let out = lab.exec(pod, "client", &["probe", "report", "ping", "10"]);
    let line = out.stdout.trim().to_string();
    // ping: 52 replies, at most 3 lost in a row, longest time ...
    let number_before = |word: &str| -> Result<u32, String> {
        line.split(word)
            .next()
            .and_then(|s| s.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                format!(
                    "pod {pod}: no number before `{word}` in `{line}` {}",
                    out.stderr
                )
            })
    };
    Ok((
        number_before(" replies")?,
        number_before(" lost in a row")?,
        line.clone(),
    ))
}

fn link(lab: &Lab, end: &str, action: &str) {
    noglab(&["link", &lab.name, "--pod", "all", end, action]).ok();
}

fn restart_probes(lab: &Lab) {
    for pod in [1, 2] {
        // As the participant does it: user lab, over SSH.
        let out = lab.exec(
            pod,
            "client",
            &[
                "setpriv",
                "--reuid=lab",
                "--regid=lab",
                "--init-groups",
                "probe",
                "restart",
            ],
        );
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    }
}

/// Waits until each pod's ping probe has counted `replies` since its
/// restart, so that a cut falls in the middle of a measurement.
fn wait_replies(lab: &Lab, replies: u32) {
    for pod in [1, 2] {
        wait_for(Duration::from_secs(30), || match ping_report(lab, pod)? {
            (n, _, _) if n >= replies => Ok(()),
            (_, _, line) => Err(format!("pod {pod}: {line}")),
        })
        .unwrap_or_else(|e| panic!("the probe does not get replies: {e}"));
    }
}

/// The lab's tests one at a time: each brings up the whole lab, and two
/// at once only slow each other's convergence on a small machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn resilience_lab_solved_failover_measured_and_initial() {
    if skip() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let lab = resilience_lab();

    // Solved: every check of both pods passes.
    let started = Instant::now();
    noglab(&["up", &lab.file(), "--pods", "2", "--solution"]).ok();
    let (code, solved) = board(&lab, &[]);
    assert_eq!(code, 0, "{}\n{solved:#}", failing(&solved));
    let per_pod = results(&solved).len() / 2;
    assert!(per_pod >= 30, "{solved:#}");
    assert_eq!(solved["passed"], 2 * per_pod, "{solved:#}");
    eprintln!(
        "labs/resilience --solution, 2 pods: every check passing {:.1}s after up began",
        started.elapsed().as_secs_f64()
    );

    // Each path cut in turn at a's end, in both pods, while the client
    // pings the server every 100 ms. With ECMP the probe's packets take one
    // path each way, chosen by a hash: one of the two cuts is on the way
    // back from b, which only BFD tells b about. Each cut must cost fewer
    // pings than the lab allows, as its check says, and one of them must
    // cost some: a probe that saw nothing would measure nothing.
    let mut worst = BTreeMap::new();
    for end in ["a:eth1", "a:eth2"] {
        restart_probes(&lab);
        wait_replies(&lab, 20);
        link(&lab, end, "down");
        // BFD's 300 ms and the route change, then enough replies after.
        std::thread::sleep(Duration::from_secs(4));
        let (_, cut) = board(&lab, &["--step", "1", "--no-wait"]);
        for pod in [1, 2] {
            let (passed, detail) = result(&cut, pod, "ping-failover");
            let (replies, lost, line) = ping_report(&lab, pod).unwrap_or_else(|e| panic!("{e}"));
            eprintln!("pod {pod}, {end} cut: {line}");
            assert!(
                passed,
                "pod {pod}, {end} cut: ping-failover fails: {detail}"
            );
            assert!(
                replies >= 40,
                "pod {pod}: pings go on after the cut: {line}"
            );
            let w: &mut u32 = worst.entry(pod).or_default();
            *w = (*w).max(lost);
            // The cut path's sessions are down, as the checks show.
            let path = if end == "a:eth1" {
                "bgp-path1"
            } else {
                "bgp-path2"
            };
            let (up, detail) = result(&cut, pod, path);
            assert!(!up, "pod {pod}: {path} passes with {end} down: {detail}");
        }
        // Back up: both paths' sessions (IPv6 ones too, over addresses
        // that `link up` put back), BFD and both next hops, before the
        // next cut.
        link(&lab, end, "up");
        for step in ["1", "2"] {
            let (code, back) = board(&lab, &["--step", step]);
            assert_eq!(
                code,
                0,
                "step {step} after {end} came back: {}\n{back:#}",
                failing(&back)
            );
        }
    }
    for (pod, lost) in &worst {
        assert!(
            *lost > 0,
            "pod {pod}: neither cut cost a ping; the probe measures nothing"
        );
    }

    // Both paths back, with their IPv6 addresses: the sessions over them
    // (IPv6 ones too), both next hops and the anycast routes return, and
    // with the probes counting afresh (once routing has settled: a probe
    // restarted while the anycast routes come back counts their return
    // as a loss) every check passes again.
    wait_for(Duration::from_secs(120), || {
        let (_, now) = board(&lab, &["--no-wait"]);
        let unsettled: Vec<String> = results(&now)
            .into_iter()
            // The probe reports (ping-failover, dns-failover,
            // drain-no-loss) still count the cuts: they pass once the
            // probes are restarted below.
            .filter(|(_, id, _, passed)| {
                !passed && !id.ends_with("-failover") && id != "drain-no-loss"
            })
            .map(|(pod, id, _, _)| format!("pod {pod} {id}"))
            .collect();
        if unsettled.is_empty() {
            Ok(())
        } else {
            Err(format!("{unsettled:?}\n{}", failing(&now)))
        }
    })
    .unwrap_or_else(|e| panic!("routing does not settle after the cuts: {e}"));
    restart_probes(&lab);
    wait_replies(&lab, 20);
    let (code, back) = board(&lab, &[]);
    assert_eq!(code, 0, "after the cuts: {}\n{back:#}", failing(&back));
    for pod in [1, 2] {
        let addrs = lab.exec(
            pod,
            "a",
            &["ip", "-6", "-o", "addr", "show", "scope", "global"],
        );
        for want in [
            format!("2001:db8:{pod}:16::/127"),
            format!("2001:db8:{pod}:18::/127"),
        ] {
            assert!(
                addrs.stdout.contains(&want),
                "pod {pod} a: {}",
                addrs.stdout
            );
        }
    }

    // Initial, the same lab converging back: step 0 passes, and not one
    // exercise check, in either pod.
    noglab(&["up", &lab.file(), "--pods", "2", "--recreate"]).ok();
    let (code, step0) = board(&lab, &["--step", "0"]);
    assert_eq!(code, 0, "{}\n{step0:#}", failing(&step0));
    let (code, initial) = board(&lab, &["--no-wait"]);
    assert_eq!(code, 1, "{initial:#}");
    for (pod, id, step, passed) in results(&initial) {
        assert_eq!(
            passed,
            step == 0,
            "initially, pod {pod} {id} (step {step}) should {}: {initial:#}",
            if step == 0 { "pass" } else { "fail" }
        );
    }

    // A participant in pod 1 configures both routers through vtysh with
    // the solved configuration (what `noglab plan --solution --file` shows
    // the instructor): pod 1 passes everything, pod 2 still fails every
    // exercise check.
    for node in ["a", "b"] {
        let solved = noglab(&[
            "plan",
            &lab.file(),
            "--pods",
            "2",
            "--solution",
            "--pod",
            "1",
            "--node",
            node,
            "--file",
            "/etc/frr/frr.conf",
        ])
        .ok()
        .stdout;
        assert!(solved.contains("bfd"), "pod 1 {node}'s solution: {solved}");
        let out = lab.exec(
            1,
            node,
            &[
                "sh",
                "-c",
                "printf '%s\\n' \"$1\" > /tmp/solved.conf && vtysh -f /tmp/solved.conf",
                "sh",
                &solved,
            ],
        );
        assert_eq!(
            out.code, 0,
            "vtysh -f on pod 1 {node}:\n{}\n{}",
            out.stdout, out.stderr
        );
    }
    restart_probes(&lab);
    let (code, one) = board(&lab, &["--pod", "1"]);
    assert_eq!(code, 0, "pod 1 solved by hand: {}\n{one:#}", failing(&one));
    let (code, two) = board(&lab, &["--pod", "2", "--no-wait"]);
    assert_eq!(code, 1, "{two:#}");
    for (pod, id, step, passed) in results(&two) {
        assert_eq!(
            passed,
            step == 0,
            "after pod 1 is solved by hand, pod {pod} {id} (step {step}): {two:#}"
        );
    }
}

/// `noglab check --lint labs/resilience`: every check fails on the initial lab and
/// passes on the solved one, step 0 passes both times (issue 18).
#[test]
fn issue18_resilience_lab_checks_can_fail_and_can_pass() {
    if skip() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    lint_is_sound(&resilience_lab(), 2);
}
