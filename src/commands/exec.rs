//! `noglab exec --pod N NODE -- CMD...`: run a command in a node, print its
//! output as it comes, exit with its exit code.

use std::io::Write;

use anyhow::Result;

use crate::diag::ExitCode;
use crate::engine::{Connector, Engine};

pub async fn run<C: Connector>(
    engines: &C,
    pod: &str,
    target: &[String],
    command: &[String],
) -> Result<()> {
    let engine = engines.engine().await?;
    exec_in(
        engine,
        pod,
        target,
        command,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
    .await
}

/// Runs the command in the node `target` names, its output and errors to
/// `stdout` and `stderr` as they come.
async fn exec_in<E: Engine>(
    engine: &E,
    pod: &str,
    target: &[String],
    command: &[String],
    stdout: &mut impl Write,
    stderr: &mut impl Write,
) -> Result<()> {
    let (lab, node) = super::split_target(target);
    let lab = super::resolve_lab(engine, lab).await?;
    let pod = super::parse_pod(pod)?;
    let container = super::find_node(engine, &lab, pod, &node).await?;
    super::require_running(&container, pod)?;
    let code = engine
        .exec_streaming(&container.name, command, |is_err, bytes| {
            if is_err {
                let _ = stderr.write_all(bytes);
            } else {
                let _ = stdout.write_all(bytes);
                let _ = stdout.flush();
            }
        })
        .await?;
    if code != 0 {
        return Err(ExitCode(code as i32).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::engine::ExecOutput;
    use crate::reconcile::testing;

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
}
