//! One lab over several Docker engines, end to end: two extra engines on
//! this machine, each a dockerd in its own network namespace
//! (`scripts/test-engines.sh`, started here and removed after, pass or
//! fail), beside the main engine, which lends its images (copied to the
//! others by noglab with save and load), runs the host guard and, in the
//! labs/bgp test, the lab-wide nodes.

use std::path::PathBuf;

use crate::docker::{lab_prefix, skip, Lab};
use crate::support::{noglab, root};

/// The extra engines share names, addresses and a bridge: one test at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The extra engines, stopped and removed when dropped.
struct Engines {
    _turn: std::sync::MutexGuard<'static, ()>,
    names: [String; 2],
    data: PathBuf,
    file: PathBuf,
    /// Segments joining the engines (`parent` eth1 ... ethN each).
    segments: usize,
    /// Whether the main engine's host joins them (nogmain1 ... nogmainN).
    main_parent: bool,
}

impl Engines {
    /// Two engines on one segment; the main engine has no parent.
    fn start() -> Engines {
        Engines::start_with(1, false)
    }

    /// Two engines on `segments` segments, the main engine's host on them
    /// too when `main_parent`.
    fn start_with(segments: usize, main_parent: bool) -> Engines {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let p = lab_prefix();
        let names = [format!("{p}ea"), format!("{p}eb")];
        let data = root().join("target/engines");
        let engines = Engines {
            _turn: turn,
            file: data.join(format!("{p}-engines.yml")),
            names,
            data,
            segments,
            main_parent,
        };
        engines.script("up");
        let [a, b] = &engines.names;
        std::fs::write(
            &engines.file,
            format!(
                "engines:\n  {a}: {{ endpoint: \"unix:///run/docker-{a}.sock\", address: 10.231.0.2, pods: 10, parent: eth1 }}\n  {b}: {{ endpoint: \"unix:///run/docker-{b}.sock\", address: 10.231.0.3, pods: 10, parent: eth1 }}\n  main: {{ endpoint: \"unix:///var/run/docker.sock\", pods: 1 }}\nshared: main\n"
            ),
        )
        .expect("write the engines file");
        engines
    }

    fn script(&self, action: &str) {
        let out = std::process::Command::new(root().join("scripts/test-engines.sh"))
            .env("SEGMENTS", self.segments.to_string())
            .env("MAIN_PARENT", if self.main_parent { "1" } else { "0" })
            .arg(action)
            .arg(&self.data)
            .args(&self.names)
            .output()
            .expect("scripts/test-engines.sh runs");
        assert!(
            out.status.success() || action == "down",
            "test-engines.sh {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops engine `i`'s dockerd (its containers stop with it) and waits
    /// until its socket no longer answers.
    fn stop(&self, i: usize) {
        let name = &self.names[i];
        let pid = std::fs::read_to_string(self.data.join(name).join("dockerd.pid"))
            .expect("the engine's pid file");
        let killed = std::process::Command::new("kill")
            .arg(pid.trim())
            .status()
            .expect("kill runs");
        assert!(killed.success(), "kill dockerd {name}");
        let gone = crate::docker::wait_for(std::time::Duration::from_secs(60), || {
            let answers = std::process::Command::new("docker")
                .args(["-H", &format!("unix:///run/docker-{name}.sock"), "version"])
                .output()
                .is_ok_and(|o| o.status.success());
            if answers {
                Err(format!("engine {name} still answers"))
            } else {
                Ok(())
            }
        });
        gone.unwrap_or_else(|e| panic!("{e}"));
    }

    fn file(&self) -> &str {
        self.file.to_str().expect("a UTF-8 path")
    }

    /// The socket of extra engine `engine`, or of the main one (2).
    fn socket(&self, engine: usize) -> String {
        match self.names.get(engine) {
            Some(name) => format!("unix:///run/docker-{name}.sock"),
            None => "unix:///var/run/docker.sock".into(),
        }
    }

    /// The names of the lab's networks on engine `engine` (2: the main one).
    fn networks_on(&self, engine: usize, lab: &str) -> Vec<String> {
        let out = std::process::Command::new("docker")
            .args(["-H", &self.socket(engine)])
            .args([
                "network",
                "ls",
                "--filter",
                &format!("label=noglab.lab={lab}"),
            ])
            .args(["--format", "{{.Name}}"])
            .output()
            .expect("docker CLI runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect()
    }

    /// `docker ps` on one engine (2: the main one): the names of the
    /// lab's containers, with their ids and engine labels.
    fn names_on(&self, engine: usize, lab: &str) -> Vec<String> {
        let out = std::process::Command::new("docker")
            .args(["-H", &self.socket(engine)])
            .args(["ps", "-a", "--filter", &format!("label=noglab.lab={lab}")])
            .args([
                "--format",
                "{{.Names}} {{.ID}} {{.Label \"noglab.engine\"}}",
            ])
            .output()
            .expect("docker CLI runs");
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        self.script("down");
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Pods of a lab without lab-wide networks spread over two engines, one
/// pod each, whole; every command reaches each pod where it runs.
#[test]
fn a_lab_spreads_its_pods_over_two_engines() {
    if skip() {
        return;
    }
    let engines = Engines::start();
    let lab = Lab::new("two-routers", "spread");
    let (a, b) = (&engines.names[0], &engines.names[1]);
    let with = |args: &[&str]| {
        let mut all = vec!["--engines", engines.file()];
        all.extend_from_slice(args);
        noglab(&all)
    };
    let file = lab.file();
    with(&["up", &file, "--pods", "2"]).ok();

    // Each pod whole on its engine, labelled so; none on the main engine.
    let on_a = engines.names_on(0, &lab.name);
    let on_b = engines.names_on(1, &lab.name);
    let pods = |lines: &[String], pod: &str, engine: &str| {
        lines.len() == 3
            && lines
                .iter()
                .all(|l| l.contains(&format!("-p{pod}-")) && l.ends_with(engine))
    };
    assert!(pods(&on_a, "01", a), "{on_a:?}");
    assert!(pods(&on_b, "02", b), "{on_b:?}");
    let main = crate::docker::docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=noglab.lab={}", lab.name),
    ]);
    assert!(main.trim().is_empty(), "on the main engine: {main}");

    // One table, an engine column.
    let status = with(&["status", &lab.name]).ok().stdout;
    assert!(status.starts_with("LAB"), "{status}");
    assert!(
        status.lines().next().is_some_and(|h| h.contains("ENGINE")),
        "{status}"
    );
    for (pod, engine) in [("1", a), ("2", b)] {
        let rows = status
            .lines()
            .filter(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.get(1) == Some(&pod) && cols.get(2) == Some(&engine.as_str())
            })
            .count();
        assert_eq!(rows, 3, "pod {pod} on {engine}:\n{status}");
    }

    // The exercise's checks pass in both pods, and exec reaches each.
    let check = with(&["check", &lab.name]).ok().stdout;
    assert!(check.contains("checks pass in 2 pods"), "{check}");
    let exec = with(&[
        "exec",
        "--pod",
        "all",
        &lab.name,
        "r1",
        "--",
        "cat",
        "/etc/hostname",
    ])
    .ok()
    .stdout;
    assert!(exec.contains("p1: r1") && exec.contains("p2: r1"), "{exec}");

    // The placement holds: up again changes nothing.
    let again = with(&["up", &file, "--pods", "2"]).ok().stdout;
    assert!(again.contains("up to date"), "{again}");

    // A reset of pod 2 touches engine b only.
    with(&["reset", &lab.name, "--pod", "2"]).ok();
    assert_eq!(engines.names_on(0, &lab.name), on_a, "engine a was touched");
    let after = engines.names_on(1, &lab.name);
    assert!(pods(&after, "02", b), "{after:?}");
    assert_ne!(after, on_b, "pod 2 was not recreated");

    // Engine b stops. Within seconds status shows pod 2 unreachable
    // there and pod 1 running; pod 1's checks pass; what would act on pod
    // 2 says engine b does not answer, and engine a is left alone.
    engines.stop(1);
    let on_a = engines.names_on(0, &lab.name);
    let started = std::time::Instant::now();
    let status = with(&["status", &lab.name, "--format", "json"]).ok();
    let took = started.elapsed();
    assert!(took.as_secs() < 10, "status took {took:?}");
    assert!(
        status
            .stderr
            .contains(&format!("engine {b} does not answer")),
        "{}",
        status.stderr
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&status.stdout).expect("json");
    assert_eq!(rows.len(), 6, "{rows:#?}");
    for row in &rows {
        let (pod, state, engine) = (&row["pod"], &row["state"], &row["engine"]);
        match pod.as_str() {
            Some("1") => assert!(state == "running" && engine == a.as_str(), "{row}"),
            Some("2") => assert!(state == "unreachable" && engine == b.as_str(), "{row}"),
            _ => panic!("{row}"),
        }
    }
    eprintln!("status with engine {b} stopped: {:.2}s", took.as_secs_f64());
    let check = with(&["check", &lab.name, "--pod", "1"]).ok().stdout;
    assert!(check.contains("checks pass in 1 pod ("), "{check}");
    let board = with(&["check", &lab.name, "--format", "json"])
        .code(1)
        .stdout;
    let board: serde_json::Value = serde_json::from_str(&board).expect("json");
    for r in board["results"].as_array().expect("results") {
        if r["pod"] == 2 {
            assert_eq!(r["status"], "error", "{r}");
            assert!(
                r["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(&format!("engine {b} does not answer")),
                "{r}"
            );
        } else {
            assert_eq!(r["status"], "pass", "{r}");
        }
    }
    let up = with(&["up", &file, "--pods", "2"]).code(1);
    assert!(
        up.stderr.contains(&format!("engine {b} does not answer"))
            && up.stderr.contains("was not changed")
            && up.stderr.contains("--skip-unreachable"),
        "{}",
        up.stderr
    );
    let skipping = with(&["up", &file, "--pods", "2", "--skip-unreachable"]).ok();
    assert!(
        skipping.stderr.contains("pod 2 left as they are"),
        "{}",
        skipping.stderr
    );
    assert!(
        skipping.stdout.contains("up to date"),
        "{}",
        skipping.stdout
    );
    let reset = with(&["reset", &lab.name, "--pod", "2"]).code(1);
    assert!(
        reset
            .stderr
            .contains(&format!("engine {b} does not answer"))
            && reset.stderr.contains("nothing was reset"),
        "{}",
        reset.stderr
    );
    let exec = with(&["exec", &lab.name, "--pod", "2", "r1", "--", "true"]).run();
    assert_ne!(exec.code, 0);
    assert!(
        exec.stderr.contains(&format!("engine {b} does not answer")),
        "{}",
        exec.stderr
    );
    let down = with(&["down", &lab.name]).code(1);
    assert!(
        down.stderr.contains("nothing was removed"),
        "{}",
        down.stderr
    );
    assert_eq!(engines.names_on(0, &lab.name), on_a, "engine a was touched");

    // Engine b back: down removes everything on both.
    engines.script("up");
    with(&["down", &lab.name]).ok();
    assert!(engines.names_on(0, &lab.name).is_empty());
    assert!(engines.names_on(1, &lab.name).is_empty());

    // Lab-wide networks spanning engines need each engine's `parent`:
    // the main engine has none, so with the route server there the lab
    // is refused before anything is created.
    let ixp = Lab::new("ixp", "spreadixp");
    let refused = with(&["up", &ixp.file(), "--pods", "2"]).code(2);
    assert!(
        refused.stderr.contains("has lab-wide networks")
            && refused.stderr.contains("engine main has no `parent`"),
        "{}",
        refused.stderr
    );
    assert!(engines.names_on(0, &ixp.name).is_empty());
    assert!(engines.names_on(1, &ixp.name).is_empty());
}

/// labs/bgp over three engines: pods 1-2 on engine a, pods 3-4 on engine
/// b, the transit, route server and content on the main engine. The
/// lab's two lab-wide networks (transit LAN, IXP LAN) each ride on an
/// interface of their own on every engine (`parent: [eth1, eth2]`; on the
/// main engine's host nogmain1 and nogmain2), each pair of them a veth
/// into one bridge per segment: no VLANs needed.
#[test]
fn labs_bgp_spans_three_engines() {
    if skip() {
        return;
    }
    let engines = Engines::start_with(2, true);
    let (a, b) = (engines.names[0].clone(), engines.names[1].clone());
    std::fs::write(
        &engines.file,
        format!(
            "engines:\n  {a}: {{ endpoint: \"unix:///run/docker-{a}.sock\", address: 10.231.0.2, pods: 10, parent: [eth1, eth2] }}\n  {b}: {{ endpoint: \"unix:///run/docker-{b}.sock\", address: 10.231.0.3, pods: 10, parent: [eth1, eth2] }}\n  main: {{ endpoint: \"unix:///var/run/docker.sock\", pods: 1, parent: [nogmain1, nogmain2] }}\nshared: main\n"
        ),
    )
    .expect("write the engines file");
    let lab = crate::labs_bgp::bgp_lab("spanbgp", 11, 2450);
    let with = |args: &[&str]| {
        let mut all = vec!["--engines", engines.file()];
        all.extend_from_slice(args);
        noglab(&all)
    };

    // Before class: doctor sees the three engines reach each other at
    // layer 2 over each of their two parents, and leaves no probe behind.
    let layer2 = |file: &str| {
        let out = noglab(&["--engines", file, "doctor", &lab.file(), "--format", "json"]).run();
        let doc: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", out.stdout, out.stderr));
        for engine in 0..3 {
            let left = std::process::Command::new("docker")
                .args(["-H", &engines.socket(engine)])
                .args(["ps", "-aq", "--filter", "label=noglab.doctor"])
                .output()
                .expect("docker CLI runs");
            assert!(left.stdout.is_empty(), "a probe left on engine {engine}");
        }
        doc["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .filter(|c| c["check"] == "layer 2")
            .map(|c| {
                (
                    c["level"].as_str().unwrap_or_default().to_string(),
                    c["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect::<Vec<(String, String)>>()
    };
    let seen = layer2(engines.file());
    eprintln!("doctor, layer 2 over two parents: {seen:#?}");
    let names = [a.as_str(), b.as_str(), "main"];
    for (x, y) in [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)] {
        for parents in [["eth1", "eth1", "nogmain1"], ["eth2", "eth2", "nogmain2"]] {
            let (from, to) = (names[x], names[y]);
            let over = format!("({} and {})", parents[x], parents[y]);
            for want in [
                format!("IPv4 from engine {from} to engine {to} over their parents {over}"),
                format!("IPv6 multicast and link-local from engine {from} to engine {to} {over}"),
            ] {
                assert!(
                    seen.iter().any(|(l, m)| l == "ok" && *m == want),
                    "no ok line `{want}`: {seen:#?}"
                );
            }
        }
    }
    assert_eq!(seen.len(), 24, "{seen:#?}");
    // Engine b's second parent joins nothing (a veth pair inside its
    // namespace): the first segment still holds, the second fails both
    // ways between a and b.
    let ns = format!("nogeng-{b}");
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(["-n", &ns])
            .args(args)
            .status()
            .expect("ip runs")
    };
    assert!(ip(&["link", "add", "l2x", "type", "veth", "peer", "name", "l2y"]).success());
    ip(&["link", "set", "l2x", "up"]);
    ip(&["link", "set", "l2y", "up"]);
    let cut_file = engines
        .file
        .with_file_name(format!("{}-cut.yml", lab_prefix()));
    std::fs::write(
        &cut_file,
        format!(
            "engines:\n  {a}: {{ endpoint: \"unix:///run/docker-{a}.sock\", parent: [eth1, eth2] }}\n  {b}: {{ endpoint: \"unix:///run/docker-{b}.sock\", parent: [eth1, l2x] }}\n"
        ),
    )
    .expect("write");
    let cut = layer2(cut_file.to_str().expect("a UTF-8 path"));
    eprintln!("doctor, layer 2 with {b}'s second parent joining nothing: {cut:#?}");
    ip(&["link", "del", "l2x"]);
    let _ = std::fs::remove_file(&cut_file);
    let level = |m: &str| {
        cut.iter()
            .find(|(_, line)| line.starts_with(m))
            .map(|(l, _)| l.as_str())
            .unwrap_or("missing")
    };
    for (from, to) in [(&a, &b), (&b, &a)] {
        assert_eq!(
            level(&format!(
                "IPv4 from engine {from} to engine {to} over their parents (eth1 and eth1)"
            )),
            "ok",
            "{cut:#?}"
        );
        assert_eq!(
            level(&format!(
                "IPv6 multicast and link-local from engine {from} to engine {to} (eth1 and eth1)"
            )),
            "ok",
            "{cut:#?}"
        );
    }
    assert_eq!(
        level(&format!(
            "IPv4 from engine {a} to engine {b} over their parents (eth2 and l2x)"
        )),
        "fail",
        "{cut:#?}"
    );
    assert_eq!(
        level(&format!(
            "IPv4 from engine {b} to engine {a} over their parents (l2x and eth2)"
        )),
        "fail",
        "{cut:#?}"
    );
    assert_eq!(
        level(&format!(
            "IPv6 multicast and link-local from engine {a} to engine {b} (eth2 and l2x)"
        )),
        "fail",
        "{cut:#?}"
    );
    assert_eq!(
        level(&format!(
            "IPv6 multicast and link-local from engine {b} to engine {a} (l2x and eth2)"
        )),
        "fail",
        "{cut:#?}"
    );

    // Four pods solved: 1-2 on a, 3-4 on b, the lab-wide nodes on main.
    with(&["up", &lab.file(), "--pods", "4", "--solution"]).ok();
    let on = |engine: usize| engines.names_on(engine, &lab.name);
    let (on_a, on_b, on_main) = (on(0), on(1), on(2));
    let only = |lines: &[String], pods: &[&str]| {
        !lines.is_empty()
            && lines
                .iter()
                .all(|l| pods.iter().any(|p| l.contains(&format!("-{p}-"))))
            && pods
                .iter()
                .all(|p| lines.iter().any(|l| l.contains(&format!("-{p}-"))))
    };
    assert!(only(&on_a, &["p01", "p02"]), "{on_a:#?}");
    assert!(only(&on_b, &["p03", "p04"]), "{on_b:#?}");
    assert!(
        ["transit", "rs", "content"]
            .iter()
            .all(|n| on_main.iter().any(|l| l.contains(&format!("-shared-{n} ")))),
        "{on_main:#?}"
    );
    assert!(
        on_main.iter().all(|l| l.contains("-shared-")),
        "{on_main:#?}"
    );
    // Each lab-wide network is a macvlan over its own parent, everywhere.
    for (engine, parents) in [
        (0, ["eth1", "eth2"]),
        (1, ["eth1", "eth2"]),
        (2, ["nogmain1", "nogmain2"]),
    ] {
        let mut seen: Vec<String> = Vec::new();
        for net in engines.networks_on(engine, &lab.name) {
            let out = std::process::Command::new("docker")
                .args(["-H", &engines.socket(engine), "network", "inspect", &net])
                .args(["--format", "{{.Driver}} {{index .Options \"parent\"}}"])
                .output()
                .expect("docker CLI runs");
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if text.starts_with("macvlan") {
                seen.push(text);
            }
        }
        seen.sort();
        assert_eq!(
            seen,
            parents.map(|p| format!("macvlan {p}")),
            "engine {engine}'s lab-wide networks"
        );
    }

    // Every pod's border peers with the route server over the macvlan
    // segment, IPv4 and IPv6, and every check of the solved lab passes.
    let check = with(&["check", &lab.name]).ok().stdout;
    assert!(check.contains("checks pass in 4 pods"), "{check}");
    // Pod 1 (engine a) has pod 3's (engine b) aggregates from the route
    // server, and its host reaches pod 3's host across the IXP.
    let in_pod = |pod: &str, node: &str, cmd: &[&str]| {
        let mut all = vec!["exec", "--pod", pod, lab.name.as_str(), node, "--"];
        all.extend_from_slice(cmd);
        with(&all)
    };
    for (family, prefix) in [("ipv4", "100.68.3.0/24"), ("ipv6", "2001:db8:3::/48")] {
        let learned = crate::docker::wait_for(std::time::Duration::from_secs(60), || {
            let out = in_pod(
                "1",
                "border",
                &[
                    "vtysh",
                    "-c",
                    &format!(
                        "show bgp {family} unicast neighbors {} routes",
                        if family == "ipv4" {
                            "198.51.100.254"
                        } else {
                            "2001:db8:ffff::6:4510"
                        }
                    ),
                ],
            )
            .run()
            .stdout;
            out.contains(prefix).then_some(()).ok_or(out)
        });
        assert!(
            learned.is_ok(),
            "pod 1 has no {prefix} from the route server: {learned:?}"
        );
    }
    in_pod("1", "host", &["ping", "-c", "2", "-W", "3", "100.68.3.66"]).ok();
    in_pod(
        "1",
        "host",
        &["ping", "-c", "2", "-W", "3", "2001:db8:3:64::2"],
    )
    .ok();

    // Isolation across engines: pod 1 reaches pod 3's border on the IXP
    // LAN, and nothing of pod 3 outside it, even with routes forced as a
    // participant could add: its border-core link over pod 1's own link,
    // its management address over pod 1's management network.
    let pings = |target: &str| {
        in_pod("1", "border", &["ping", "-c", "1", "-W", "2", target])
            .run()
            .code
            == 0
    };
    assert!(
        pings("198.51.100.3"),
        "pod 1 cannot reach pod 3 on the IXP LAN"
    );
    let mgmt3 = in_pod("3", "border", &["ip", "-4", "-br", "addr", "show", "eth0"])
        .ok()
        .stdout;
    let mgmt3 = mgmt3
        .split_whitespace()
        .nth(2)
        .and_then(|a| a.split('/').next())
        .expect("pod 3's management address")
        .to_string();
    in_pod(
        "1",
        "border",
        &["ip", "route", "replace", "100.68.3.17/32", "dev", "eth1"],
    )
    .ok();
    in_pod(
        "1",
        "border",
        &[
            "ip",
            "route",
            "replace",
            &format!("{mgmt3}/32"),
            "dev",
            "eth0",
        ],
    )
    .ok();
    for target in ["100.68.3.17", mgmt3.as_str()] {
        assert!(!pings(target), "pod 1 reached pod 3's {target}");
    }

    // Each pod's handout points at its own engine's address.
    let csv = with(&["handout", &lab.name, "--format", "csv"]).ok().stdout;
    for (pod, address) in [
        (1, "10.231.0.2"),
        (2, "10.231.0.2"),
        (3, "10.231.0.3"),
        (4, "10.231.0.3"),
    ] {
        assert!(csv.contains(&format!("\n{pod},{address},")), "{csv}");
    }

    // A reset of pod 3 recreates pod 3 on engine b and touches nothing else.
    with(&["reset", &lab.name, "--pod", "3"]).ok();
    assert_eq!(on(0), on_a, "engine a was touched");
    assert_eq!(on(2), on_main, "the main engine was touched");
    let after = on(1);
    let of = |lines: &[String], pod: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.contains(&format!("-{pod}-")))
            .cloned()
            .collect()
    };
    assert_eq!(of(&after, "p04"), of(&on_b, "p04"), "pod 4 was touched");
    let (before3, after3) = (of(&on_b, "p03"), of(&after, "p03"));
    assert_eq!(before3.len(), after3.len(), "{after:#?}");
    assert!(
        before3.iter().all(|l| !after3.contains(l)),
        "pod 3 was not recreated: {after3:#?}"
    );

    // Engine b stops: within 10 s status shows pods 3-4 unreachable and
    // the rest as they were; pods 1-2 still pass every check.
    engines.stop(1);
    let started = std::time::Instant::now();
    let status = with(&["status", &lab.name, "--format", "json"]).ok();
    let took = started.elapsed();
    assert!(took.as_secs() < 10, "status took {took:?}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&status.stdout).expect("json");
    for row in &rows {
        let state = row["state"].as_str().unwrap_or_default();
        match row["pod"].as_str() {
            Some("3" | "4") => assert!(
                state == "unreachable" && row["engine"] == b.as_str(),
                "{row}"
            ),
            _ => assert_eq!(state, "running", "{row}"),
        }
    }
    assert!(rows.iter().any(|r| r["pod"] == "4"), "{rows:#?}");
    eprintln!("status with engine {b} stopped: {:.2}s", took.as_secs_f64());
    let check = with(&["check", &lab.name, "--pod", "1-2"]).ok().stdout;
    assert!(check.contains("checks pass in 2 pods"), "{check}");

    // Engine b back: down removes everything on all three.
    engines.script("up");
    with(&["down", &lab.name]).ok();
    for engine in 0..3 {
        assert!(on(engine).is_empty(), "containers left on engine {engine}");
        assert!(
            engines.networks_on(engine, &lab.name).is_empty(),
            "networks left on engine {engine}: {:?}",
            engines.networks_on(engine, &lab.name)
        );
    }
}
