//! `noglab import containerlab` on the containerlab topologies under
//! `tests/import/`, written in the shapes containerlab's own FRR labs take:
//! file binds, exec lines and node names that are numbers (`frr-binds`); a
//! folder bound over /etc/frr with `defaults` and `kinds` blocks
//! (`frr-dir`); BIRD routers and a Linux host with management addresses
//! (`bird-host`). Without Docker: what each import writes and says (golden
//! files in each case's `expected/`, `NOGLAB_BLESS=1` regenerates them),
//! and that the lab validates. On the real engine: each lab comes up in two
//! pods, its routing sessions establish and a ping crosses it in both.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::docker::{lab_prefix, pings, skip, wait_for, Lab};
use crate::support::{golden, noglab, root, Done};

/// A containerlab topology under `tests/import/<case>/`, the exit code its
/// import must have, and how its routing is proven on the engine.
struct Case {
    dir: &'static str,
    file: &'static str,
    code: i32,
    /// (node, a command, what its output holds, blanks left out, once
    /// the session is up).
    session: (&'static str, &'static [&'static str], &'static str),
    /// (node, address it pings across the lab).
    ping: (&'static str, &'static str),
}

const CASES: &[Case] = &[
    Case {
        dir: "frr-binds",
        file: "ebgp.clab.yml",
        code: 0,
        session: (
            "n1",
            &["vtysh", "-c", "show bgp neighbors 10.0.12.2 json"],
            "\"bgpState\":\"Established\"",
        ),
        ping: ("pc1", "10.255.0.1"),
    },
    Case {
        dir: "frr-dir",
        file: "ospf.clab.yml",
        code: 0,
        session: (
            "r1",
            &["vtysh", "-c", "show ip ospf neighbor 10.1.255.2"],
            "Full/-",
        ),
        ping: ("r1", "10.1.255.2"),
    },
    Case {
        dir: "bird-host",
        file: "bird.clab.yml",
        // Its management network and addresses are not converted.
        code: 1,
        session: (
            "bird1",
            &[
                "birdc",
                "-s",
                "/run/bird/bird.ctl",
                "show",
                "protocols",
                "peer",
            ],
            "Established",
        ),
        ping: ("client", "10.2.0.1"),
    },
];

fn import(case: &Case, out: &Path) -> Done {
    let _ = std::fs::remove_dir_all(out);
    let file = format!("tests/import/{}/{}", case.dir, case.file);
    noglab(&[
        "import",
        "containerlab",
        &file,
        "-o",
        &out.to_string_lossy(),
    ])
    .code(case.code)
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("folder")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn issue18_import_containerlab_writes_and_says_what_the_golden_files_hold_and_validates() {
    for case in CASES {
        let out = root().join("target/test-import").join(case.dir);
        let done = import(case, &out);
        let expected = root().join("tests/import").join(case.dir).join("expected");
        golden(&expected.join("stderr"), &done.stderr);
        let written = sorted_files(&out);
        for path in &written {
            let name = path.file_name().expect("name");
            golden(
                &expected.join(name),
                &std::fs::read_to_string(path).expect("text"),
            );
        }
        // Nothing expected that the import no longer writes.
        for path in sorted_files(&expected) {
            let name = path.file_name().expect("name");
            assert!(
                name == "stderr" || out.join(name).is_file(),
                "{}: expected {} is no longer written",
                case.dir,
                name.to_string_lossy()
            );
        }
        let valid = noglab(&["validate", &out.to_string_lossy(), "--pods", "2"]).ok();
        assert!(
            valid.stdout.contains("is valid (2 pods"),
            "{}",
            valid.stdout
        );
    }
}

#[test]
fn issue18_import_containerlab_bad_input_is_file_line_col_and_exit_2() {
    let dir = root().join("target/test-import/bad");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("bad.clab.yml");
    std::fs::write(
        &file,
        "name: bad\ntopology:\n  nodes:\n    r1:\n      kind: linux\n      image: alpine\n      exec: ip addr add 10.0.0.1/30 dev eth1\n  links:\n    - endpoints: [\"r1:eth1\", \"r2:eth1\"]\n",
    )
    .expect("write");
    let out = dir.join("lab");
    let done = noglab(&[
        "import",
        "containerlab",
        &file.to_string_lossy(),
        "-o",
        &out.to_string_lossy(),
    ])
    .code(2);
    let f = file.to_string_lossy();
    assert!(
        done.stderr
            .contains(&format!("{f}:7:13: expected a list of strings")),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr
            .contains(&format!("{f}:9:30: unknown node `r2`; the nodes are r1")),
        "{}",
        done.stderr
    );
    assert!(!out.exists(), "bad input writes nothing");
    // An import never overwrites a lab.
    let case = &CASES[0];
    let out = root().join("target/test-import/twice");
    import(case, &out);
    let again = noglab(&[
        "import",
        "containerlab",
        &format!("tests/import/{}/{}", case.dir, case.file),
        "-o",
        &out.to_string_lossy(),
    ])
    .code(2);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
}

#[test]
fn issue18_imported_containerlab_labs_come_up_in_two_pods_and_route() {
    if skip() {
        return;
    }
    for (i, case) in CASES.iter().enumerate() {
        crate::docker::images();
        let name = format!("{}imp{i}-{}", lab_prefix(), std::process::id() % 100_000);
        let dir = root().join("target/test-labs").join(&name);
        import(case, &dir);
        let topology = dir.join("topology.yml");
        let text = std::fs::read_to_string(&topology).expect("topology");
        let renamed: String = text
            .lines()
            .map(|l| {
                if l.starts_with("name:") {
                    format!("name: {name}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&topology, renamed).expect("write");
        // Removed by label when dropped, pass or fail.
        let lab = Lab::adopt(name.clone(), dir);
        noglab(&["up", &topology.to_string_lossy(), "--pods", "2", "--quiet"]).ok();
        let (node, cmd, want) = case.session;
        let (from, to) = case.ping;
        for pod in [1, 2] {
            wait_for(Duration::from_secs(90), || {
                let out = lab.exec(pod, node, cmd);
                // FRR's JSON may come indented: compare without blanks.
                if out.stdout.replace([' ', '\n'], "").contains(want) {
                    Ok(())
                } else {
                    Err(format!("{}: pod {pod} {node}: {}", case.dir, out.stdout))
                }
            })
            .unwrap_or_else(|e| panic!("{e}"));
            wait_for(Duration::from_secs(60), || {
                if pings(&lab, pod, from, to) {
                    Ok(())
                } else {
                    Err(format!(
                        "{}: pod {pod}: {from} does not reach {to}",
                        case.dir
                    ))
                }
            })
            .unwrap_or_else(|e| panic!("{e}"));
        }
        drop(lab);
    }
}
