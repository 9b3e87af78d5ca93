//! The readiness protocol between noglab and the init inside every node
//! (`images/common/noglab-init`): what the init logs when its readiness
//! job ends, the files it leaves in its run folder, and how long noglab
//! waits. The names the init script shares with noglab are written here
//! once; a test holds them against the script.

use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::engine::{Engine, LogFollow};

/// Where the init keeps what its readiness job did (`NOGLAB_RUN_DIR`).
const RUN_DIR: &str = "/run/noglab";
/// The exit code of the node's exec lines, written once they ran (124 when
/// a readiness probe gave up first).
const EXEC_RC: &str = "exec.rc";
/// Their output, or why the node is not ready.
const EXEC_LOG: &str = "exec.log";

/// How long the init waits for the kind's readiness probe
/// (`NOGLAB_READY_TIMEOUT`).
const INIT_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the init lets the exec lines run (`NOGLAB_EXEC_TIMEOUT`):
/// they may wait for a shared service that is slow while a room boots.
const INIT_EXEC_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a node may take to say something: the init's readiness limit
/// and some.
const READY_TIMEOUT: Duration = Duration::from_secs(INIT_READY_TIMEOUT.as_secs() + 30);
/// How long a node whose exec lines began may take to be ready: their
/// limit, then the configuration's check, and some.
const EXEC_TIMEOUT: Duration =
    Duration::from_secs(INIT_EXEC_TIMEOUT.as_secs() + INIT_READY_TIMEOUT.as_secs() + 30);
/// How often a node asked from inside looks for `EXEC_RC`.
const POLL: Duration = Duration::from_millis(100);

/// The lines the init logs when its readiness job ends or it fails:
/// `noglab-init: ready after 3s; exec.sh rc=0`, `noglab-init: not ready
/// after 120s: ...`, `noglab-init: error: ...`.
const READY_LINE: &str = "noglab-init: ready after ";
const NOT_READY_LINE: &str = "noglab-init: not ready after ";
const ERROR_LINE: &str = "noglab-init: error: ";
const END_LINES: &[&str] = &[READY_LINE, NOT_READY_LINE, ERROR_LINE];
/// The line the init logs when the kind is ready and the exec lines begin:
/// `noglab-init: running exec.sh (up to 300s)`.
const EXEC_LINE: &str = "noglab-init: running exec.sh ";
/// What ends the first wait: an end line, or the exec lines beginning.
const FIRST_LINES: &[&str] = &[READY_LINE, NOT_READY_LINE, ERROR_LINE, EXEC_LINE];
/// How a ready line ends when the exec lines succeeded.
const EXEC_OK: &str = " rc=0";

/// How often a node being waited for is looked at: whether it stopped.
const WATCH: Duration = Duration::from_secs(1);
/// Restarts by the engine during the wait that say a node stops at start
/// for good: one could be a fluke that the next start repairs.
const RESTARTS_GIVING_UP: i64 = 2;
/// Lines of a stopped node's log an error shows.
const LOG_LINES: usize = 10;

/// Waits until the node's init has set up the interfaces, the kind is ready
/// and the exec lines ran; fails with their output otherwise.
///
/// A `fresh` node (created in this run) is followed through its log, where
/// the init says when it is done: the engine only reads a file it keeps,
/// runs nothing in the node and is not polled. A node started again has
/// its last start in its log too, so it, and a node whose exec lines
/// failed (for their output), is asked from inside with an exec.
///
/// Meanwhile the node is watched: one whose main process exits (a daemon
/// that refuses its configuration) and that the engine keeps restarting,
/// or that stays stopped, fails at once, with the last lines of its log.
pub async fn wait_ready<E: Engine>(engine: &E, container: &str, fresh: bool) -> Result<()> {
    // A fresh node's restarts are all of this start.
    let before = if fresh {
        0
    } else {
        engine.run_state(container).await.map_or(0, |s| s.restarts)
    };
    let wait = async {
        if fresh && follow_log(engine, container).await? {
            return Ok(());
        }
        ask_inside(engine, container, before).await
    };
    tokio::select! {
        r = wait => r,
        e = watch(engine, container, before) => Err(e),
    }
}

/// Whether the node stopped for good, with what to say: it was restarted
/// `RESTARTS_GIVING_UP` times since `before`, or is stopped and will not
/// be restarted.
async fn stopped<E: Engine>(engine: &E, container: &str, before: i64) -> Option<anyhow::Error> {
    let state = engine.run_state(container).await.ok()?;
    let restarted = state.restarts - before;
    let how = if restarted >= RESTARTS_GIVING_UP {
        // Not the exit code: the engine's is 0 again while a new start runs.
        format!("its main process keeps exiting (restarted {restarted} times)")
    } else if matches!(state.status.as_str(), "exited" | "dead") {
        format!("its main process exited (exit code {})", state.exit_code)
    } else {
        return None;
    };
    let log = engine
        .log_tail(container, 4 * LOG_LINES)
        .await
        .unwrap_or_default();
    Some(anyhow!(
        "{container} did not come up: {how}; the last lines of its log:\n{}",
        last_lines(&log)
    ))
}

/// Resolves once the node stopped for good (see `stopped`); never else.
async fn watch<E: Engine>(engine: &E, container: &str, before: i64) -> anyhow::Error {
    loop {
        tokio::time::sleep(WATCH).await;
        if let Some(e) = stopped(engine, container, before).await {
            return e;
        }
    }
}

/// What a stopped node's log says last, indented: each line once (a node
/// restarted says the same at every start), its interface lines left out.
fn last_lines(log: &[String]) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for line in log.iter().rev().map(|l| l.trim_end()) {
        let interface = line.starts_with("noglab-init: eth") && line.contains(" (");
        if line.is_empty() || interface || kept.contains(&line) {
            continue;
        }
        kept.push(line);
        if kept.len() == LOG_LINES {
            break;
        }
    }
    if kept.is_empty() {
        return "    (nothing)".into();
    }
    kept.iter()
        .rev()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What following the init's log says: ready (true), failed (an error), or nothing
/// conclusive (false: ask inside).
async fn follow_log<E: Engine>(engine: &E, container: &str) -> Result<bool> {
    // An engine that cannot read this log (another logging driver) leaves
    // the answer to the exec.
    let mut seen = engine
        .first_log_line(container, FIRST_LINES, READY_TIMEOUT)
        .await
        .unwrap_or(LogFollow::Ended);
    if matches!(&seen, LogFollow::Line(line) if line.starts_with(EXEC_LINE)) {
        // Alive and ready; its exec lines run, within their own limit.
        seen = engine
            .first_log_line(container, END_LINES, EXEC_TIMEOUT)
            .await
            .unwrap_or(LogFollow::Ended);
        if matches!(seen, LogFollow::TimedOut) {
            return Err(anyhow!(
                "{container} did not come up: its exec lines began but the init said nothing more in {}s",
                EXEC_TIMEOUT.as_secs()
            ));
        }
    }
    match seen {
        LogFollow::Line(line) if line.starts_with(READY_LINE) && line.trim_end().ends_with(EXEC_OK) => {
            Ok(true)
        }
        LogFollow::Line(line) if line.starts_with(ERROR_LINE) => {
            Err(anyhow!("{container} did not come up: {}", line.trim_end()))
        }
        // The init gives up on readiness before this: without a word from
        // it, the exec below would only wait as long again.
        LogFollow::TimedOut => Err(anyhow!(
            "{container} did not come up: its init said nothing in {}s (does its image start with noglab-init?)",
            READY_TIMEOUT.as_secs()
        )),
        LogFollow::Line(_) | LogFollow::Ended => Ok(false),
    }
}

/// Waits inside the node for the exec lines' exit code; their output when
/// it is not 0. A node that is not running, or was restarted while asked,
/// is asked again once it runs (`watch` gives up on one that keeps
/// stopping).
async fn ask_inside<E: Engine>(engine: &E, container: &str, before: i64) -> Result<()> {
    let cmd = vec!["sh".to_string(), "-c".to_string(), wait_script()];
    loop {
        let asked = engine.exec(container, &cmd).await;
        if asked.as_ref().is_ok_and(|out| out.code == 0) {
            return Ok(());
        }
        let interrupted = match engine.run_state(container).await {
            Ok(state) => state.status != "running" || state.restarts > before,
            Err(_) => false,
        };
        if interrupted {
            if let Some(e) = stopped(engine, container, before).await {
                return Err(e);
            }
            tokio::time::sleep(WATCH).await;
            continue;
        }
        let out = asked.map_err(|e| {
            anyhow!(
                "{container} did not come up: noglab could not look inside it ({})",
                engine_reason(&e, container)
            )
        })?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let text = if text.is_empty() {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        } else {
            text
        };
        return Err(anyhow!(
            "{container} did not come up (exit {}): {}",
            out.code,
            text
        ));
    }
}

/// The engine's own words in an error of a command noglab ran in
/// `container`, without the command: the wait script is noglab's
/// business, not the reader's.
fn engine_reason(e: &anyhow::Error, container: &str) -> String {
    let text = format!("{e:#}");
    let marker = format!(" in {container}: ");
    match text.find(&marker) {
        Some(at) => text[at + marker.len()..].to_string(),
        None => text,
    }
}

/// A shell script that waits up to `READY_TIMEOUT` and `EXEC_TIMEOUT` for
/// `EXEC_RC`, prints `EXEC_LOG` when the code is not 0, and exits with it.
fn wait_script() -> String {
    let tries = (READY_TIMEOUT + EXEC_TIMEOUT).as_millis() / POLL.as_millis();
    let poll = POLL.as_secs_f64();
    let rc = format!("{RUN_DIR}/{EXEC_RC}");
    let log = format!("{RUN_DIR}/{EXEC_LOG}");
    format!(
        "i=0; while [ ! -s {rc} ]; do i=$((i+1)); [ $i -gt {tries} ] && {{ echo 'timed out waiting for the node to become ready'; exit 124; }}; sleep {poll}; done; rc=$(cat {rc}); [ \"$rc\" = 0 ] || cat {log}; exit $rc"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;

    /// The init script as the images embed it.
    fn init_script() -> &'static str {
        crate::images::EMBEDDED
            .iter()
            .find(|(path, _)| *path == "common/noglab-init")
            .map(|(_, text)| *text)
            .expect("noglab-init is embedded")
    }

    #[test]
    fn the_init_writes_what_noglab_reads() {
        let init = init_script();
        for (what, wanted) in [
            (
                "its run folder",
                format!("RUN_DIR=${{NOGLAB_RUN_DIR:-{RUN_DIR}}}"),
            ),
            (
                "its readiness timeout",
                format!(
                    "WAIT_READY=${{NOGLAB_READY_TIMEOUT:-{}}}",
                    INIT_READY_TIMEOUT.as_secs()
                ),
            ),
            ("the exec lines' code", format!("\"$RUN_DIR/{EXEC_RC}\"")),
            ("their output", format!("\"$RUN_DIR/{EXEC_LOG}\"")),
            ("its log prefix", "log() { echo \"noglab-init: $*\"".into()),
            ("its error lines", format!("echo \"{ERROR_LINE}$*\"")),
            (
                "its exec timeout",
                format!(
                    "WAIT_EXEC=${{NOGLAB_EXEC_TIMEOUT:-{}}}",
                    INIT_EXEC_TIMEOUT.as_secs()
                ),
            ),
            (
                "its exec line",
                format!(
                    "log \"{}(up to ${{WAIT_EXEC}}s)\"",
                    EXEC_LINE.trim_start_matches("noglab-init: ")
                ),
            ),
            (
                "its ready line",
                format!(
                    "log \"{}$((SECONDS - start))s; exec.sh rc=$rc\"",
                    READY_LINE.trim_start_matches("noglab-init: ")
                ),
            ),
            (
                "its not-ready line",
                format!(
                    "log \"{}$((SECONDS - start))s: $gave_up\"",
                    NOT_READY_LINE.trim_start_matches("noglab-init: ")
                ),
            ),
        ] {
            assert!(
                init.contains(&wanted),
                "{what}: noglab-init has no `{wanted}`"
            );
        }
        assert!(READY_TIMEOUT > INIT_READY_TIMEOUT);
    }

    #[test]
    fn the_wait_inside_gives_up_with_the_log() {
        let script = wait_script();
        assert!(script.contains("[ $i -gt 6000 ]"), "{script}");
        assert!(script.contains("sleep 0.1;"), "{script}");
        assert!(
            script.contains("while [ ! -s /run/noglab/exec.rc ]"),
            "{script}"
        );
        assert!(
            script.contains("|| cat /run/noglab/exec.log; exit $rc"),
            "{script}"
        );
    }

    #[tokio::test]
    async fn a_node_running_its_exec_lines_is_waited_for_as_long_as_they_may_run() {
        // The exec lines began (a pod's host waiting for a shared service)
        // and ended well: ready, through the log alone.
        let engine = FakeEngine::default();
        engine.lock().log = vec![
            "noglab-init: running exec.sh (up to 300s)".into(),
            "noglab-init: ready after 212s; exec.sh rc=0".into(),
        ];
        wait_ready(&engine, "lab-p17-host", true)
            .await
            .expect("ready");
        assert_eq!(
            engine.calls(),
            vec![
                "follow log lab-p17-host".to_string(),
                "follow log lab-p17-host".to_string()
            ]
        );

        // They began and the init said nothing more: named as such, not as
        // an image without an init.
        {
            let mut s = engine.lock();
            s.log = vec!["noglab-init: running exec.sh (up to 300s)".into()];
            s.log_times_out = true;
        }
        let err = wait_ready(&engine, "lab-p17-host", true)
            .await
            .expect_err("never ready");
        assert_eq!(
            format!("{err:#}"),
            format!(
                "lab-p17-host did not come up: its exec lines began but the init said nothing more in {}s",
                EXEC_TIMEOUT.as_secs()
            )
        );
    }

    #[tokio::test]
    async fn a_new_node_is_waited_for_through_its_log_a_restarted_one_from_inside() {
        let engine = FakeEngine::default();
        engine.lock().log = vec![
            "noglab-init: eth1 (was eth2, 198.18.0.10): 100.64.1.0/31".into(),
            "noglab-init: ready after 2s; exec.sh rc=0".into(),
        ];
        wait_ready(&engine, "lab-p01-r1", true)
            .await
            .expect("ready");
        assert_eq!(engine.calls(), vec!["follow log lab-p01-r1".to_string()]);

        // Its log holds earlier starts: ask inside.
        engine.clear_calls();
        wait_ready(&engine, "lab-p01-r1", false)
            .await
            .expect("ready");
        assert_eq!(
            engine.calls(),
            vec![
                "state lab-p01-r1".to_string(),
                "exec lab-p01-r1 sh".to_string()
            ]
        );

        // Exec lines failed: their output comes from inside.
        engine.clear_calls();
        engine.lock().log = vec!["noglab-init: ready after 2s; exec.sh rc=1".into()];
        wait_ready(&engine, "lab-p01-r1", true)
            .await
            .expect("the fake's exec says 0");
        assert_eq!(
            engine.calls(),
            vec![
                "follow log lab-p01-r1".to_string(),
                "exec lab-p01-r1 sh".to_string()
            ]
        );

        // The init gave up: its message is the answer.
        engine.lock().log = vec!["noglab-init: error: cannot set eth1 up".into()];
        let err = wait_ready(&engine, "lab-p01-r1", true)
            .await
            .expect_err("init failed");
        assert_eq!(
            format!("{err:#}"),
            "lab-p01-r1 did not come up: noglab-init: error: cannot set eth1 up"
        );

        // No word from an init in all that time (an image without one):
        // asking inside would only wait as long again.
        engine.clear_calls();
        {
            let mut s = engine.lock();
            s.log = vec!["listening on 0.0.0.0:80".into()];
            s.log_times_out = true;
        }
        let err = wait_ready(&engine, "lab-p01-r1", true)
            .await
            .expect_err("never ready");
        assert!(
            format!("{err:#}")
                .starts_with("lab-p01-r1 did not come up: its init said nothing in 150s"),
            "{err:#}"
        );
        assert_eq!(engine.calls(), vec!["follow log lab-p01-r1".to_string()]);
    }

    /// A node whose daemon refuses its configuration, as a new user's
    /// first BIRD file with a syntax error: its main process exits and
    /// the engine restarts it over and over.
    fn restarting_bird(engine: &FakeEngine, restarts: i64) {
        let mut s = engine.lock();
        s.containers.insert(
            "lab-p01-b1".into(),
            crate::engine::ObservedContainer {
                id: "c1".into(),
                name: "lab-p01-b1".into(),
                labels: Default::default(),
                state: "restarting".into(),
                status: "Restarting (1) 1 second ago".into(),
                created: 1,
            },
        );
        s.restarts.insert("lab-p01-b1".into(), restarts);
        let start = [
            "noglab-init: eth0 (was eth1, 198.18.36.18): 198.18.36.18/29",
            "noglab-init: eth1 (was eth0, 198.18.36.26): 100.64.1.0/31",
            "bird: /etc/bird/bird.conf:6:3 syntax error, unexpected CF_SYM_UNDEFINED, expecting ';'",
        ];
        s.log = start
            .iter()
            .cycle()
            .take(12)
            .map(|l| l.to_string())
            .collect();
    }

    #[tokio::test]
    async fn a_node_that_keeps_stopping_at_start_fails_with_its_log_and_no_script() {
        let engine = FakeEngine::default();
        restarting_bird(&engine, 3);
        // Docker refuses an exec in a restarting container.
        engine.lock().fail_on = Some("exec lab-p01-b1 sh".into());
        let err = wait_ready(&engine, "lab-p01-b1", true)
            .await
            .expect_err("never comes up");
        let text = format!("{err:#}");
        assert_eq!(
            text,
            "lab-p01-b1 did not come up: its main process keeps exiting (restarted 3 times); the last lines of its log:\n    bird: /etc/bird/bird.conf:6:3 syntax error, unexpected CF_SYM_UNDEFINED, expecting ';'"
        );
        for internal in ["sh -c", "exec.rc", "/run/noglab"] {
            assert!(!text.contains(internal), "{text}");
        }
    }

    #[tokio::test]
    async fn a_node_restarted_once_is_waited_for_a_node_that_keeps_restarting_is_not() {
        // Restarted once: asked again once it runs, and it is ready.
        let engine = FakeEngine::default();
        restarting_bird(&engine, 1);
        engine.lock().fail_on = Some("exec lab-p01-b1 sh".into());
        let wait = wait_ready(&engine, "lab-p01-b1", true);
        let recover = async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            engine
                .lock()
                .containers
                .get_mut("lab-p01-b1")
                .expect("there")
                .state = "running".into();
        };
        let (r, ()) = tokio::join!(wait, recover);
        r.expect("ready once it runs");

        // Restarted again and again while waited for: the watch gives up.
        let engine = FakeEngine::default();
        restarting_bird(&engine, 0);
        // Each exec ends with the container's stop.
        engine.lock().exec_outputs.insert(
            "lab-p01-b1".into(),
            crate::engine::ExecOutput {
                code: 137,
                ..Default::default()
            },
        );
        let wait = wait_ready(&engine, "lab-p01-b1", true);
        let restart = async {
            for n in 1..=2 {
                tokio::time::sleep(Duration::from_millis(700)).await;
                engine.lock().restarts.insert("lab-p01-b1".into(), n);
            }
            std::future::pending::<()>().await
        };
        let err = tokio::select! {
            r = wait => r.expect_err("keeps restarting"),
            () = restart => unreachable!(),
        };
        assert!(
            format!("{err:#}").contains("keeps exiting (restarted 2 times)"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn a_node_asked_inside_that_failed_says_what_its_exec_lines_printed() {
        let engine = FakeEngine::default();
        engine.lock().exec_outputs.insert(
            "lab-p01-h1".into(),
            crate::engine::ExecOutput {
                code: 2,
                stdout: b"\nping: 100.64.1.0: Network unreachable\n".to_vec(),
                stderr: b"ignored when stdout says something".to_vec(),
            },
        );
        let err = wait_ready(&engine, "lab-p01-h1", false)
            .await
            .expect_err("exec lines failed");
        assert_eq!(
            format!("{err:#}"),
            "lab-p01-h1 did not come up (exit 2): ping: 100.64.1.0: Network unreachable"
        );
        let executed = engine.lock().executed.clone();
        assert_eq!(executed.len(), 1);
        assert_eq!(executed[0].1[..2], ["sh".to_string(), "-c".to_string()]);
        assert_eq!(executed[0].1[2], wait_script());
    }
}
