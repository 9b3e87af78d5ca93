//! The bad-input corpus: every `tests/errors/NAME.yml` beside the exact
//! stderr of `noglab validate tests/errors/NAME.yml` in `NAME.err`.
//!
//! `NOGLAB_BLESS=1 cargo test --test cli errors` rewrites the `.err` files;
//! read every changed one: each message must say where and what, and what
//! to do when there is something to do.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{self, root};

/// The corpus may grow, never silently shrink.
const AT_LEAST: usize = 40;

/// A hostile template must be stopped, not waited out.
const SLOWEST: Duration = Duration::from_secs(5);

fn cases() -> Vec<PathBuf> {
    let dir = root().join("tests/errors");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    cases.sort();
    cases
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .expect("inside the repository")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_bad_topology_prints_its_exact_errors() {
    let cases = cases();
    assert!(
        cases.len() >= AT_LEAST,
        "found {} cases in tests/errors, expected at least {AT_LEAST}",
        cases.len()
    );
    let mut failed = Vec::new();
    for case in &cases {
        let rel = relative(case);
        let outcome = std::panic::catch_unwind(|| {
            let started = Instant::now();
            let done = support::noglab(&["validate", &rel]).code(2);
            let took = started.elapsed();
            assert!(took < SLOWEST, "{rel} took {took:?}");
            assert!(
                done.stdout.is_empty(),
                "{rel} printed to stdout:\n{}",
                done.stdout
            );
            support::golden(&case.with_extension("err"), &done.stderr);
        });
        if outcome.is_err() {
            failed.push(rel);
        }
    }
    assert!(failed.is_empty(), "cases that failed: {failed:#?}");
}

/// An `.err` whose topology was removed or renamed would never be checked.
#[test]
fn every_expected_output_has_its_topology() {
    let dir = root().join("tests/errors");
    for entry in std::fs::read_dir(&dir).expect("tests/errors") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "err") {
            assert!(
                path.with_extension("yml").is_file(),
                "{} has no topology beside it",
                relative(&path)
            );
        }
    }
}

/// Every problem is reported in line order, each with its line and caret.
#[test]
fn several_problems_come_back_at_once_in_line_order() {
    let done = support::noglab(&["validate", "tests/errors/many-problems.yml"]).code(2);
    let places: Vec<(usize, usize)> = done
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("tests/errors/many-problems.yml:"))
        .filter_map(|rest| {
            let mut parts = rest.splitn(3, ':');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect();
    assert!(places.len() >= 8, "{}", done.stderr);
    let mut sorted = places.clone();
    sorted.sort();
    assert_eq!(places, sorted, "{}", done.stderr);
    assert!(done.stderr.ends_with(&format!(
        "{} problems in tests/errors/many-problems.yml\n",
        places.len()
    )));
}

/// A check that could never fail (or never pass) stops `up` as it stops
/// `validate`, with the same messages, before noglab asks anything of an
/// engine: here there is none to ask, and bad input is still exit 2.
#[test]
fn issue18_up_refuses_checks_that_cannot_mislead_before_any_engine() {
    let state = tempfile_dir("issue18-up");
    for case in [
        "check-route-prefix",
        "check-ping-target",
        "check-json-pointer",
    ] {
        let file = format!("tests/errors/{case}.yml");
        let expected = std::fs::read_to_string(root().join(format!("tests/errors/{case}.err")))
            .expect("the corpus's expected output");
        let done = support::noglab(&["up", &file, "--pods", "2"])
            .env("DOCKER_HOST", "unix:///nonexistent/noglab-test.sock")
            .env("NOGLAB_STATE_DIR", &state)
            .code(2);
        assert_eq!(done.stderr, expected, "{case}");
        assert!(done.stdout.is_empty(), "{case}: {}", done.stdout);
    }
    let left: Vec<_> = std::fs::read_dir(&state)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "up wrote state: {left:?}");
}

/// An empty folder of its own under `target/`, for a test's state.
fn tempfile_dir(name: &str) -> PathBuf {
    let dir = root().join("target/tmp").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a test folder");
    dir
}

/// `validate --format json` says what the text says, case by case: every
/// problem's `file:line:col: message` is a line of the case's `.err`, and
/// every such line of it a problem.
#[test]
fn validate_json_lists_the_same_problems_with_their_places() {
    let mut placed = 0;
    for case in cases() {
        let rel = relative(&case);
        let done = support::noglab(&["validate", &rel, "--format", "json"]).code(2);
        assert!(done.stderr.is_empty(), "{rel}: {}", done.stderr);
        let doc: serde_json::Value =
            serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(doc["valid"], false, "{rel}: {doc:#}");
        assert_eq!(doc["file"], rel.as_str(), "{rel}");
        let expected = std::fs::read_to_string(case.with_extension("err")).expect("its .err");
        let problems = doc["problems"].as_array().expect("a list");
        assert!(!problems.is_empty(), "{rel}: {doc:#}");
        let mut lines = Vec::new();
        for p in problems {
            let message = p["message"].as_str().expect("a message");
            let line = match (p["line"].as_u64(), p["col"].as_u64()) {
                (Some(line), Some(col)) => {
                    placed += 1;
                    format!(
                        "{}:{line}:{col}: {message}",
                        p["file"].as_str().expect("a file")
                    )
                }
                _ => format!("error: {message}"),
            };
            assert!(
                expected.contains(&line),
                "{rel}: the text does not say\n{line}\nit says\n{expected}"
            );
            lines.push(line);
        }
        let prefix = format!("{rel}:");
        let in_text = expected.lines().filter(|l| l.starts_with(&prefix)).count();
        let in_json = lines.iter().filter(|l| l.starts_with(&prefix)).count();
        assert_eq!(in_text, in_json, "{rel}: {doc:#}");
    }
    assert!(placed >= AT_LEAST, "only {placed} problems had a place");
}

#[test]
fn validate_json_of_a_valid_lab() {
    let done = support::noglab(&["validate", "labs/bgp", "--format", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&done.stdout).expect("JSON");
    assert_eq!(doc["valid"], true, "{doc:#}");
    assert_eq!(doc["file"], "labs/bgp/topology.yml");
    assert_eq!(doc["lab"]["name"], "bgp");
    assert!(doc["lab"]["nodes"].as_u64() > Some(0), "{doc:#}");
    assert_eq!(doc["problems"], serde_json::json!([]));
}

/// The engines files' corpus: every `tests/engines-errors/NAME.yml` beside
/// the exact stderr of `noglab engines --engines` on it, in `NAME.err`
/// (`NOGLAB_BLESS=1` rewrites them). Exit 2, like a topology's problems.
#[test]
fn every_bad_engines_file_prints_its_exact_errors() {
    let dir = root().join("tests/engines-errors");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/engines-errors")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "found {} cases", cases.len());
    for case in &cases {
        let rel = relative(case);
        let done = support::noglab(&["engines", "--engines", &rel]).code(2);
        assert!(done.stdout.is_empty(), "{rel}: {}", done.stdout);
        support::golden(&case.with_extension("err"), &done.stderr);
    }
    for entry in std::fs::read_dir(&dir).expect("tests/engines-errors") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "err") {
            assert!(path.with_extension("yml").is_file(), "{}", path.display());
        }
    }
}

/// A command that needs an engine reads the engines file first, from
/// `NOGLAB_ENGINES` as from `--engines`, and a bad one is bad input: exit
/// 2 with its places, before any engine is asked.
#[test]
fn a_bad_engines_file_stops_a_command_before_any_engine() {
    let expected = std::fs::read_to_string(root().join("tests/engines-errors/unknown-field.err"))
        .expect("the corpus's expected output");
    let done = support::noglab(&["status"])
        .env("NOGLAB_ENGINES", "tests/engines-errors/unknown-field.yml")
        .env("DOCKER_HOST", "unix:///nonexistent/noglab-test.sock")
        .code(2);
    assert_eq!(done.stderr, expected);
}

/// A good engines file is listed as written, in its order, without
/// connecting to any engine; without a file, the one local engine.
#[test]
fn engines_lists_the_file_or_the_local_engine() {
    let done = support::noglab(&["engines", "--engines", "tests/engines/two.yml"]).ok();
    assert_eq!(
        done.stdout,
        "ENGINE  ENDPOINT                   ADDRESS    PODS        PARENT\n\
         a       unix:///run/docker-a.sock  192.0.2.1  at most 10  eth1\n\
         b *     unix:///run/docker-b.sock  192.0.2.2  weight 2    eth1\n\
         * runs the lab-wide nodes\n"
    );
    let json = support::noglab(&["engines", "--format", "json"])
        .env("NOGLAB_ENGINES", "tests/engines/two.yml")
        .ok();
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(rows[1]["name"], "b");
    assert_eq!(rows[1]["shared"], true);
    assert_eq!(rows[0]["pods"], 10);
    let local = support::noglab(&["engines", "--format", "json"])
        .env("DOCKER_HOST", "unix:///run/elsewhere.sock")
        .ok();
    let rows: serde_json::Value = serde_json::from_str(&local.stdout).expect("json");
    assert_eq!(rows[0]["name"], "local");
    assert_eq!(rows[0]["endpoint"], "unix:///run/elsewhere.sock");
}

/// A retired setting is no error: an older topology still validates, and
/// noglab says where the setting is and what replaces it.
#[test]
fn a_retired_setting_is_named_and_the_file_still_loads() {
    let dir = std::env::temp_dir().join(format!("noglab-retired-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let file = dir.join("topology.yml");
    std::fs::write(
        &file,
        "name: old\naccess:\n  base_port: 2200\n  web_base_port: 4200\nnodes:\n  h1: { kind: host }\n",
    )
    .expect("written");
    let done = support::noglab(&["validate", file.to_str().expect("UTF-8")]).ok();
    let warning = format!(
        "warning: {}:4:3: access.web_base_port is retired and opens no port",
        file.display()
    );
    assert!(done.stderr.contains(&warning), "{}", done.stderr);
    assert!(done.stderr.contains("noglab serve"), "{}", done.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
