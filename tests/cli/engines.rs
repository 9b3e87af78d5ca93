//! One lab over several Docker engines, end to end: two extra engines on
//! this machine, each a dockerd in its own network namespace
//! (`scripts/test-engines.sh`, started here and removed after, pass or
//! fail), beside the main engine, which only lends its images (copied to
//! the others by noglab with save and load) and runs the host guard.

use std::path::PathBuf;

use crate::docker::{lab_prefix, skip, Lab};
use crate::support::{noglab, root};

/// The extra engines, stopped and removed when dropped.
struct Engines {
    names: [String; 2],
    data: PathBuf,
    file: PathBuf,
}

impl Engines {
    fn start() -> Engines {
        let p = lab_prefix();
        let names = [format!("{p}ea"), format!("{p}eb")];
        let data = root().join("target/engines");
        let engines = Engines {
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

    // Down removes everything on both.
    with(&["down", &lab.name]).ok();
    assert!(engines.names_on(0, &lab.name).is_empty());
    assert!(engines.names_on(1, &lab.name).is_empty());

    // Lab-wide networks stay on one engine: a lab with some is refused
    // before anything is created, rather than half made.
    let ixp = Lab::new("ixp", "spreadixp");
    let refused = with(&["up", &ixp.file(), "--pods", "2"]).code(2);
    assert!(
        refused.stderr.contains("has lab-wide networks")
            && refused
                .stderr
                .contains("pods 1-2 would run on another engine"),
        "{}",
        refused.stderr
    );
    assert!(engines.names_on(0, &ixp.name).is_empty());
    assert!(engines.names_on(1, &ixp.name).is_empty());
}
