//! `noglab connect --pod N NODE`: an interactive terminal in a node, with
//! the kind's shell (vtysh for FRR). Raw mode and window size follow the
//! local terminal.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::diag::ExitCode;
use crate::engine::{Connector, Engine};
use crate::kinds;
use crate::plan::labels;

/// Leaves raw mode however the session ends.
struct RawMode(bool);

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

pub async fn run<C: Connector>(engines: &C, pod: &str, target: &[String]) -> Result<()> {
    let engine = engines.engine().await?;
    let (container, shell) = session_target(engine, pod, target).await?;
    let terminal = std::io::stdin().is_terminal();
    let size = crossterm::terminal::size().unwrap_or((80, 24));
    let session = engine.exec_interactive(&container, &shell, size).await?;
    let _raw = RawMode(terminal && crossterm::terminal::enable_raw_mode().is_ok());
    let winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        .context("failed to watch the terminal size")?;
    // Each change of the window's size, as the terminal's new size.
    let resizes = futures_util::stream::unfold(winch, |mut winch| async move {
        winch.recv().await?;
        Some((crossterm::terminal::size().ok(), winch))
    })
    .filter_map(|size| async move { size });
    let code = relay(
        engine,
        session,
        tokio::io::stdin(),
        &mut tokio::io::stdout(),
        Box::pin(resizes),
    )
    .await?;
    exit_with(code)
}

/// The container of the node asked for, running, and the shell its kind
/// opens.
async fn session_target<E: Engine>(
    engine: &E,
    pod: &str,
    target: &[String],
) -> Result<(String, Vec<String>)> {
    let (lab, node) = super::split_target(target);
    let lab = super::resolve_lab(engine, lab).await?;
    let pod = super::parse_pod(pod)?;
    let container = super::find_node(engine, &lab, pod, &node).await?;
    super::require_running(&container, pod)?;
    let shell: Vec<String> = container
        .label(labels::KIND)
        .and_then(kinds::lookup_any)
        .map(|k| k.shell.iter().map(|s| s.to_string()).collect())
        .unwrap_or_else(|| vec!["bash".into()]);
    Ok((container.name, shell))
}

/// Carries a session until it ends: what is typed to the node, what the
/// node prints to `output`, the terminal's new sizes to the engine.
/// Returns the session's exit code.
async fn relay<E: Engine>(
    engine: &E,
    session: crate::engine::Interactive,
    mut typed: impl AsyncRead + Send + Unpin + 'static,
    output: &mut (impl AsyncWrite + Unpin),
    mut resizes: impl Stream<Item = (u16, u16)> + Unpin,
) -> Result<i64> {
    let mut input = session.input;
    let forward = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut typed, &mut input).await;
        let _ = input.shutdown().await;
    });
    let mut printed = session.output;
    loop {
        tokio::select! {
            chunk = printed.next() => match chunk {
                Some(Ok(bytes)) => {
                    output.write_all(&bytes).await.context("failed to write to the terminal")?;
                    output.flush().await.context("failed to write to the terminal")?;
                }
                Some(Err(e)) => return Err(e),
                None => break,
            },
            Some(size) = resizes.next() => {
                let _ = engine.resize(&session.exec_id, size).await;
            }
        }
    }
    forward.abort();
    engine.exec_exit_code(&session.exec_id).await
}

/// The session's exit code as noglab's.
fn exit_with(code: i64) -> Result<()> {
    if code != 0 {
        return Err(ExitCode(code as i32).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::reconcile::testing;

    #[tokio::test]
    async fn a_router_opens_vtysh_and_the_session_carries_keys_output_and_sizes() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(2)).await;
        {
            let mut s = engine.lock();
            s.session_output = vec!["r1# ".into(), "BGP router identifier 10.0.0.1\n".into()];
            s.session_code = 0;
        }
        let target = ["lab".to_string(), "r1".to_string()];
        let (container, shell) = session_target(&engine, "2", &target)
            .await
            .expect("r1 of pod 2");
        assert_eq!(
            (container.as_str(), shell.as_slice()),
            ("lab-p02-r1", &["vtysh".to_string()][..])
        );

        let session = engine
            .exec_interactive(&container, &shell, (120, 40))
            .await
            .expect("session");
        let mut screen = Vec::new();
        let code = relay(
            &engine,
            session,
            &b"show bgp summary\nexit\n"[..],
            &mut screen,
            futures_util::stream::iter([(100, 30)]),
        )
        .await
        .expect("the session ends");
        assert_eq!(code, 0);
        assert_eq!(
            String::from_utf8_lossy(&screen),
            "r1# BGP router identifier 10.0.0.1\n"
        );
        assert_eq!(engine.typed(), "show bgp summary\nexit\n");
        let calls = engine.calls();
        assert_eq!(
            calls.first().map(String::as_str),
            Some("exec_interactive lab-p02-r1 vtysh 120x40")
        );
        assert!(
            calls.contains(&"resize session-lab-p02-r1 100x30".to_string()),
            "{calls:?}"
        );
        assert_eq!(
            calls.last().map(String::as_str),
            Some("exit code session-lab-p02-r1")
        );
    }

    #[tokio::test]
    async fn a_host_opens_bash_and_its_exit_code_is_noglabs() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(1)).await;
        engine.lock().session_code = 130;
        // One lab running: its name may be left out.
        let (container, shell) = session_target(&engine, "1", &["h1".to_string()])
            .await
            .expect("h1");
        assert_eq!(container, "lab-p01-h1");
        assert_eq!(shell, ["bash"]);
        let session = engine
            .exec_interactive(&container, &shell, (80, 24))
            .await
            .expect("session");
        let code = relay(
            &engine,
            session,
            &b""[..],
            &mut Vec::new(),
            futures_util::stream::pending(),
        )
        .await
        .expect("ends");
        let err = exit_with(code).expect_err("non-zero");
        assert_eq!(err.downcast_ref::<ExitCode>().map(|c| c.0), Some(130));
    }

    #[tokio::test]
    async fn a_stopped_node_or_a_missing_one_opens_nothing() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(1)).await;
        engine
            .lock()
            .containers
            .get_mut("lab-p01-r1")
            .expect("r1")
            .state = "exited".into();
        let err = session_target(&engine, "1", &["r1".to_string()])
            .await
            .expect_err("stopped");
        assert!(
            format!("{err}").contains("is not running (exited)"),
            "{err}"
        );
        let err = session_target(&engine, "1", &["r9".to_string()])
            .await
            .expect_err("no such node");
        assert_eq!(
            format!("{err}"),
            "pod 1 of lab lab has no node `r9`; nodes: h1, r1"
        );
        assert!(engine.calls().is_empty(), "{:?}", engine.calls());
    }
}
