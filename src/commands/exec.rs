//! `noglab exec --pod N NODE -- CMD...`: run a command in a node, print its
//! output as it comes, exit with its exit code. What is piped or redirected
//! to noglab's standard input reaches the command's, byte for byte, and its
//! end closes the command's; a terminal's is left alone, as `docker exec`
//! without `-i` does, so a command that would read it does not wait for
//! typing (`connect` is for that).
//!
//! `--pod` with a list, a range or `all` (`1,3,5-8`) runs the command in
//! the node of each of those pods, a few at a time (as many as CPUs), and
//! prints every line it writes as it comes, prefixed `pN: `; noglab exits
//! with the worst (highest) exit code. Standard input reaches none of them:
//! one input cannot be given whole to several commands, so the commands
//! get a closed one, as with `--no-stdin`.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};

use anyhow::Result;
use futures_util::stream::{self, StreamExt};

use crate::diag::ExitCode;
use tokio::io::AsyncRead;

use crate::engine::{Connector, Engine, Scope};

pub async fn run<C: Connector>(
    engines: &C,
    pod: &str,
    target: &[String],
    command: &[String],
    no_stdin: bool,
) -> Result<()> {
    let engine = engines.engine().await?;
    if several(pod) {
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        let per_cpu = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let run = Several {
            pods: pod,
            target,
            command,
            parallel: per_cpu,
        };
        return exec_in_pods(engine, run, &mut out, &mut err).await;
    }
    let input = (!no_stdin && !std::io::stdin().is_terminal()).then(tokio::io::stdin);
    exec_in(
        engine,
        pod,
        target,
        command,
        input,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
    .await
}

/// Runs the command in the node `target` names, `input` (when given) as
/// its standard input, its output and errors to `stdout` and `stderr` as
/// they come.
async fn exec_in<E: Engine>(
    engine: &E,
    pod: &str,
    target: &[String],
    command: &[String],
    input: Option<impl AsyncRead + Send + Unpin>,
    stdout: &mut impl Write,
    stderr: &mut impl Write,
) -> Result<()> {
    let (lab, node) = super::split_target(target);
    let lab = super::resolve_lab(engine, lab).await?;
    let pod = super::parse_pod(pod)?;
    let container = super::find_node(engine, &lab, pod, &node).await?;
    super::require_running(&container, pod)?;
    let sink = |is_err: bool, bytes: &[u8]| {
        if is_err {
            let _ = stderr.write_all(bytes);
        } else {
            let _ = stdout.write_all(bytes);
            let _ = stdout.flush();
        }
    };
    let code = match input {
        Some(input) => {
            engine
                .exec_with_input(&container.name, command, input, sink)
                .await?
        }
        None => {
            engine
                .exec_streaming(&container.name, command, sink)
                .await?
        }
    };
    if code != 0 {
        return Err(ExitCode(code as i32).into());
    }
    Ok(())
}

/// Whether `--pod` names pods by a list, a range or `all` (each line of
/// output then says its pod), rather than one pod.
fn several(spec: &str) -> bool {
    spec.trim() == "all" || spec.contains(',') || spec.contains('-')
}

/// A command to run in one node of several pods.
struct Several<'a> {
    /// `1,3,5-8` or `all`.
    pods: &'a str,
    target: &'a [String],
    command: &'a [String],
    /// Commands running at once.
    parallel: usize,
}

/// Runs the command in the node of every pod `run.pods` names, its lines
/// prefixed by pod; fails with the worst exit code. A pod or node that
/// does not exist is bad input and runs nothing anywhere; a node that is
/// not running fails its pod only.
async fn exec_in_pods<E: Engine>(
    engine: &E,
    run: Several<'_>,
    stdout: &mut impl Write,
    stderr: &mut impl Write,
) -> Result<()> {
    let (lab, node) = super::split_target(run.target);
    let lab = super::resolve_lab(engine, lab).await?;
    let containers = engine.containers(Scope::Lab(&lab)).await?;
    let pods = super::parse_pods(run.pods, &super::pods_of(&containers))?;
    let mut targets = Vec::new();
    for pod in pods {
        targets.push((pod, super::pick_node(&containers, &lab, pod, &node)?));
    }
    let cell = RefCell::new(Prefixed::new(stdout, stderr));
    let out = &cell;
    let results: Vec<(u32, i64)> = stream::iter(targets)
        .map(|(pod, container)| async move {
            if let Err(e) = super::require_running(&container, pod) {
                out.borrow_mut().error(pod, &format!("{e:#}"));
                return (pod, 1);
            }
            let sink = |is_err: bool, bytes: &[u8]| out.borrow_mut().write(pod, is_err, bytes);
            let code = engine
                .exec_streaming(&container.name, run.command, sink)
                .await;
            let mut out = out.borrow_mut();
            out.end(pod);
            match code {
                Ok(code) => (pod, code),
                Err(e) => {
                    out.error(pod, &format!("{e:#}"));
                    (pod, 1)
                }
            }
        })
        .buffer_unordered(run.parallel.max(1))
        .collect()
        .await;
    worst(results, cell.into_inner().stderr)
}

/// The highest exit code, after a line that says which pods failed.
fn worst(mut results: Vec<(u32, i64)>, stderr: &mut impl Write) -> Result<()> {
    results.sort_unstable();
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, code)| *code != 0)
        .map(|(pod, code)| format!("pod {pod} (exit {code})"))
        .collect();
    let Some(worst) = results
        .iter()
        .map(|(_, code)| *code)
        .max()
        .filter(|c| *c != 0)
    else {
        return Ok(());
    };
    let _ = writeln!(stderr, "failed in {}", failed.join(", "));
    Err(ExitCode(worst.clamp(1, 255) as i32).into())
}

/// Output of several pods' commands, each line whole and prefixed `pN: `
/// by the pod it came from, as lines complete; a pod's unfinished line is
/// kept until its next bytes or the end of its command.
struct Prefixed<'w, O: Write, E: Write> {
    stdout: &'w mut O,
    stderr: &'w mut E,
    /// Each pod's unfinished line, of its output and of its errors.
    partial: std::collections::BTreeMap<(u32, bool), Vec<u8>>,
}

impl<'w, O: Write, E: Write> Prefixed<'w, O, E> {
    fn new(stdout: &'w mut O, stderr: &'w mut E) -> Self {
        Prefixed {
            stdout,
            stderr,
            partial: Default::default(),
        }
    }

    fn write(&mut self, pod: u32, is_err: bool, bytes: &[u8]) {
        let mut line = self.partial.remove(&(pod, is_err)).unwrap_or_default();
        for &b in bytes {
            line.push(b);
            if b == b'\n' {
                self.emit(pod, is_err, &line);
                line.clear();
            }
        }
        if !line.is_empty() {
            self.partial.insert((pod, is_err), line);
        }
    }

    /// The pod's command ended: its unfinished lines, ended.
    fn end(&mut self, pod: u32) {
        for is_err in [false, true] {
            if let Some(mut line) = self.partial.remove(&(pod, is_err)) {
                line.push(b'\n');
                self.emit(pod, is_err, &line);
            }
        }
    }

    fn error(&mut self, pod: u32, message: &str) {
        self.emit(pod, true, format!("error: {message}\n").as_bytes());
    }

    fn emit(&mut self, pod: u32, is_err: bool, line: &[u8]) {
        let prefix = format!("p{pod}: ");
        if is_err {
            let _ = self.stderr.write_all(prefix.as_bytes());
            let _ = self.stderr.write_all(line);
        } else {
            let _ = self.stdout.write_all(prefix.as_bytes());
            let _ = self.stdout.write_all(line);
            let _ = self.stdout.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::engine::ExecOutput;
    use crate::reconcile::testing;

    const NO_INPUT: Option<&[u8]> = None;

    fn words(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn the_command_runs_whole_in_the_node_and_its_output_and_code_are_noglabs() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(2)).await;
        engine.lock().exec_outputs.insert(
            "lab-p02-h1".into(),
            ExecOutput {
                code: 1,
                stdout: b"PING 100.64.2.0\n".to_vec(),
                stderr: b"1 packets transmitted, 0 received\n".to_vec(),
            },
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = exec_in(
            &engine,
            "2",
            &words(&["lab", "h1"]),
            &words(&["ping", "-c", "1", "100.64.2.0"]),
            NO_INPUT,
            &mut out,
            &mut err,
        )
        .await;
        let code = result.expect_err("the command failed");
        assert_eq!(code.downcast_ref::<ExitCode>().map(|c| c.0), Some(1));
        assert_eq!(String::from_utf8_lossy(&out), "PING 100.64.2.0\n");
        assert_eq!(
            String::from_utf8_lossy(&err),
            "1 packets transmitted, 0 received\n"
        );
        assert_eq!(
            engine.lock().executed,
            [(
                "lab-p02-h1".to_string(),
                words(&["ping", "-c", "1", "100.64.2.0"])
            )]
        );
    }

    #[tokio::test]
    async fn a_command_that_succeeds_exits_0_and_bad_targets_run_nothing() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(1)).await;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        exec_in(
            &engine,
            "1",
            &words(&["r1"]),
            &words(&["true"]),
            NO_INPUT,
            &mut out,
            &mut err,
        )
        .await
        .expect("exit 0");
        assert_eq!(engine.calls(), ["exec lab-p01-r1 true"]);

        engine.clear_calls();
        for (pod, target, message) in [
            ("2", "r1", "lab lab has no pod 2; it has pod 1"),
            (
                "x",
                "r1",
                "`x` is not a pod: give its number (from 1) or `shared`",
            ),
            (
                "1",
                "r7",
                "pod 1 of lab lab has no node `r7`; nodes: h1, r1",
            ),
        ] {
            let e = exec_in(
                &engine,
                pod,
                &words(&[target]),
                &words(&["true"]),
                NO_INPUT,
                &mut out,
                &mut err,
            )
            .await
            .expect_err(message);
            assert_eq!(format!("{e}"), message);
            assert!(
                e.chain().any(|c| c.is::<crate::diag::InputError>()),
                "exit 2: {e}"
            );
        }
        assert!(engine.calls().is_empty(), "{:?}", engine.calls());
    }

    #[tokio::test]
    async fn piped_input_reaches_the_command_byte_for_byte() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(1)).await;
        let every_byte: Vec<u8> = (0..=255u8).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        exec_in(
            &engine,
            "1",
            &words(&["r1"]),
            &words(&["tee", "/tmp/bytes"]),
            Some(&every_byte[..]),
            &mut out,
            &mut err,
        )
        .await
        .expect("exit 0");
        assert_eq!(
            engine.lock().fed,
            [("lab-p01-r1".to_string(), every_byte.clone())]
        );
        assert_eq!(
            engine.lock().executed,
            [("lab-p01-r1".to_string(), words(&["tee", "/tmp/bytes"]))]
        );
    }

    fn several_pods(pods: &str) -> Several<'_> {
        Several {
            pods,
            target: &[],
            command: &[],
            parallel: 2,
        }
    }

    async fn in_pods(
        engine: &FakeEngine,
        pods: &str,
        target: &[&str],
        command: &[&str],
    ) -> (Result<()>, String, String) {
        let (target, command) = (words(target), words(command));
        let run = Several {
            target: &target,
            command: &command,
            ..several_pods(pods)
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = exec_in_pods(engine, run, &mut out, &mut err).await;
        let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
        (result, text(out), text(err))
    }

    fn sorted_lines(text: &str) -> Vec<&str> {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        lines
    }

    #[tokio::test]
    async fn every_pod_runs_it_each_line_says_its_pod_and_the_worst_code_is_noglabs() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(3)).await;
        let outputs = [
            ("lab-p01-r1", 0, "up 3 days\nload 0.1", ""),
            ("lab-p02-r1", 3, "", "vtysh: no such command\n"),
            ("lab-p03-r1", 1, "half\n", "bad\n"),
        ];
        for (name, code, stdout, stderr) in outputs {
            engine.lock().exec_outputs.insert(
                name.into(),
                ExecOutput {
                    code,
                    stdout: stdout.as_bytes().to_vec(),
                    stderr: stderr.as_bytes().to_vec(),
                },
            );
        }
        let (result, out, err) = in_pods(&engine, "all", &["lab", "r1"], &["uptime"]).await;
        let code = result.expect_err("pods 2 and 3 failed");
        assert_eq!(code.downcast_ref::<ExitCode>().map(|c| c.0), Some(3));
        // An unfinished last line is ended with its pod's command.
        assert_eq!(
            sorted_lines(&out),
            ["p1: load 0.1", "p1: up 3 days", "p3: half"]
        );
        assert_eq!(
            sorted_lines(&err),
            [
                "failed in pod 2 (exit 3), pod 3 (exit 1)",
                "p2: vtysh: no such command",
                "p3: bad"
            ]
        );
        assert!(
            err.ends_with("failed in pod 2 (exit 3), pod 3 (exit 1)\n"),
            "{err}"
        );
        let mut ran = engine.lock().executed.clone();
        ran.sort();
        assert_eq!(
            ran,
            ["lab-p01-r1", "lab-p02-r1", "lab-p03-r1"].map(|c| (c.to_string(), words(&["uptime"])))
        );
    }

    #[tokio::test]
    async fn a_list_and_ranges_run_in_those_pods_only_and_all_passing_is_exit_0() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(5)).await;
        let (result, out, err) = in_pods(&engine, "1,3-4", &["h1"], &["true"]).await;
        result.expect("every pod passed");
        assert_eq!((out.as_str(), err.as_str()), ("", ""));
        let mut ran: Vec<String> = engine.calls();
        ran.sort();
        assert_eq!(
            ran,
            [
                "exec lab-p01-h1 true",
                "exec lab-p03-h1 true",
                "exec lab-p04-h1 true"
            ]
        );
    }

    #[tokio::test]
    async fn a_pod_or_node_that_does_not_exist_runs_nothing_anywhere() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(3)).await;
        for (pods, node, message) in [
            (
                "1,4",
                "r1",
                "bad pod list `1,4`: pod 4 does not exist; the lab has pods 1-3",
            ),
            (
                "all",
                "r7",
                "pod 1 of lab lab has no node `r7`; nodes: h1, r1",
            ),
            (
                "2-x",
                "r1",
                "bad pod list `2-x`: `2-x` is not a pod number or range",
            ),
        ] {
            let (result, out, err) = in_pods(&engine, pods, &[node], &["true"]).await;
            let e = result.expect_err(message);
            assert_eq!(format!("{e}"), message);
            assert!(
                e.chain().any(|c| c.is::<crate::diag::InputError>()),
                "exit 2: {e}"
            );
            assert_eq!((out.as_str(), err.as_str()), ("", ""));
        }
        assert!(engine.calls().is_empty(), "{:?}", engine.calls());
    }

    #[tokio::test]
    async fn a_node_that_is_not_running_fails_its_pod_and_the_others_run() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(2)).await;
        if let Some(c) = engine.lock().containers.get_mut("lab-p02-r1") {
            c.state = "exited".into();
        }
        let (result, _, err) = in_pods(&engine, "1-2", &["r1"], &["true"]).await;
        let code = result.expect_err("pod 2's node is down");
        assert_eq!(code.downcast_ref::<ExitCode>().map(|c| c.0), Some(1));
        assert_eq!(
            err,
            "p2: error: node r1 of pod 2 is not running (exited); `noglab reset --pod 2 --node r1` brings it back\nfailed in pod 2 (exit 1)\n"
        );
        assert_eq!(engine.calls(), ["exec lab-p01-r1 true"]);
    }

    #[test]
    fn one_pod_is_a_number_or_shared_and_several_a_list_a_range_or_all() {
        for one in ["3", "shared", "x"] {
            assert!(!several(one), "{one}");
        }
        for many in ["all", "1,3", "5-8", "1,3,5-8"] {
            assert!(several(many), "{many}");
        }
    }

    #[test]
    fn lines_are_whole_and_prefixed_however_the_bytes_come() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut p = Prefixed::new(&mut out, &mut err);
        p.write(1, false, b"ab");
        p.write(2, false, b"x\ny");
        p.write(1, false, b"c\nd\n");
        p.write(2, true, b"e");
        p.end(2);
        p.end(1);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "p2: x\np1: abc\np1: d\np2: y\n"
        );
        assert_eq!(String::from_utf8_lossy(&err), "p2: e\n");
    }
}
