//! One lab over several Docker engines, end to end: two extra engines on
//! this machine, each a dockerd in its own network namespace
//! (`scripts/test-engines.sh`, started here and removed after, pass or
//! fail), beside the main engine, which only lends its images (copied to
//! the others by noglab with save and load) and runs the host guard.

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
}

impl Engines {
    fn start() -> Engines {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let p = lab_prefix();
        let names = [format!("{p}ea"), format!("{p}eb")];
        let data = root().join("target/engines");
        let engines = Engines {
            _turn: turn,
            file: data.join(format!("{p}-engines.yml")),
            names,
            data,
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

    /// `docker ps` on one extra engine: the names of the lab's containers.
    fn names_on(&self, engine: usize, lab: &str) -> Vec<String> {
        let out = std::process::Command::new("docker")
            .args([
                "-H",
                &format!("unix:///run/docker-{}.sock", self.names[engine]),
            ])
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

/// An IXP over two engines: the route server and pod 1 on engine a, pod
/// 2 on engine b, the IXP LAN a macvlan over each engine's `parent`
/// (the bridge joining them). BGP comes up across engines, routes go
/// through the route server, and IPv6 neighbours find each other.
#[test]
fn an_ixp_lan_spans_two_engines() {
    if skip() {
        return;
    }
    let engines = Engines::start();
    let file = engines
        .file
        .with_file_name(format!("{}-ixp-engines.yml", lab_prefix()));
    let text = std::fs::read_to_string(&engines.file).expect("the engines file");
    let text = text.replace("shared: main", &format!("shared: {}", engines.names[0]));
    std::fs::write(&file, text).expect("write the engines file");
    let file = file.to_str().expect("a UTF-8 path").to_string();
    let ixp = Lab::new("ixp", "spanixp");
    let with = |args: &[&str]| {
        let mut all = vec!["--engines", file.as_str()];
        all.extend_from_slice(args);
        noglab(&all)
    };
    let in_r1 = |pod: &str, cmd: &[&str]| {
        let mut all = vec!["exec", "--pod", pod, ixp.name.as_str(), "r1", "--"];
        all.extend_from_slice(cmd);
        with(&all)
    };
    // Before class: doctor sees the two engines reach each other at
    // layer 2 over their parents (IPv4, IPv6 multicast both ways), and
    // leaves no probe behind.
    let layer2 = |file: &str| {
        let out = noglab(&["--engines", file, "doctor", &ixp.file(), "--format", "json"]).run();
        let doc: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", out.stdout, out.stderr));
        let lines: Vec<(String, String)> = doc["checks"]
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
            .collect();
        for engine in &engines.names {
            let left = std::process::Command::new("docker")
                .args(["-H", &format!("unix:///run/docker-{engine}.sock")])
                .args(["ps", "-aq", "--filter", "label=noglab.doctor"])
                .output()
                .expect("docker CLI runs");
            assert!(left.stdout.is_empty(), "a probe left on {engine}");
        }
        lines
    };
    let (a, b) = (&engines.names[0], &engines.names[1]);
    // Every direction's line at `level`.
    let each_direction = |lines: &[(String, String)], level: &str| {
        for want in [
            format!("IPv4 from engine {a} to engine {b}"),
            format!("IPv4 from engine {b} to engine {a}"),
            format!("IPv6 multicast and link-local from engine {a} to engine {b}"),
            format!("IPv6 multicast and link-local from engine {b} to engine {a}"),
        ] {
            assert!(
                lines
                    .iter()
                    .any(|(l, m)| l == level && m.starts_with(&want)),
                "{level} {want}: {lines:?}"
            );
        }
    };
    let seen = layer2(&file);
    eprintln!("doctor, layer 2 over eth1: {seen:#?}");
    each_direction(&seen, "ok");
    assert!(
        seen.iter()
            .any(|(level, m)| level == "warn" && m.contains("engine main has no `parent`")),
        "{seen:?}"
    );
    // A parent that joins nothing (a veth pair inside engine b's
    // namespace) fails, both ways.
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
    let alone = file.replace(".yml", "-alone.yml");
    let text = std::fs::read_to_string(&file).expect("engines file");
    let b_line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{b}:")))
        .expect("engine b's line");
    std::fs::write(
        &alone,
        text.replace(b_line, &b_line.replace("parent: eth1", "parent: l2x")),
    )
    .expect("write");
    let cut = layer2(&alone);
    eprintln!("doctor, layer 2 with {b}'s parent joining nothing: {cut:#?}");
    ip(&["link", "del", "l2x"]);
    let _ = std::fs::remove_file(&alone);
    each_direction(&cut, "fail");

    with(&["up", &ixp.file(), "--pods", "2"]).ok();
    let on_a = engines.names_on(0, &ixp.name);
    assert!(on_a.iter().any(|l| l.contains("-shared-rs ")), "{on_a:?}");
    let on_b = engines.names_on(1, &ixp.name);
    assert!(on_b.iter().all(|l| l.contains("-p02-")), "{on_b:?}");

    // Pod 2's session to the route server on the other engine, and pod
    // 1's LAN learned through it.
    let learned = crate::docker::wait_for(std::time::Duration::from_secs(90), || {
        let out = in_r1("2", &["vtysh", "-c", "show ip route bgp"])
            .run()
            .stdout;
        out.contains("100.68.1.0/29").then_some(()).ok_or(out)
    });
    assert!(
        learned.is_ok(),
        "pod 2 never learned pod 1's LAN: {learned:?}"
    );
    let summary = in_r1("2", &["vtysh", "-c", "show bgp summary"]).ok().stdout;
    let rs = summary
        .lines()
        .find(|l| l.starts_with("198.51.100.1 "))
        .unwrap_or_else(|| panic!("no session to the route server:\n{summary}"));
    let state = rs.split_whitespace().nth(9).unwrap_or_default();
    assert!(state.parse::<u32>().is_ok(), "not established: {rs}");
    // IPv6 over the LAN: neighbour discovery crosses engines.
    in_r1("2", &["ping", "-c", "2", "-W", "3", "2001:db8:ffff::11"]).ok();

    // Each pod's handout points at its own engine's address.
    let csv = with(&["handout", &ixp.name, "--format", "csv"]).ok().stdout;
    assert!(
        csv.contains("\n1,10.231.0.2,") && csv.contains("\n2,10.231.0.3,"),
        "{csv}"
    );

    with(&["down", &ixp.name]).ok();
    assert!(engines.names_on(0, &ixp.name).is_empty());
    assert!(engines.names_on(1, &ixp.name).is_empty());
    let _ = std::fs::remove_file(&file);
}
