//! `noglab connect --pod N NODE`: an interactive terminal in a node, with
//! the kind's shell (vtysh for FRR). Raw mode and window size follow the
//! local terminal.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

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
    let (lab, node) = super::split_target(target);
    let engine = engines.engine().await?;
    let lab = super::resolve_lab(engine, lab).await?;
    let pod = super::parse_pod(pod)?;
    let container = super::find_node(engine, &lab, pod, &node).await?;
    super::require_running(&container, pod)?;
    let shell: Vec<String> = container
        .label(labels::KIND)
        .and_then(kinds::lookup_any)
        .map(|k| k.shell.iter().map(|s| s.to_string()).collect())
        .unwrap_or_else(|| vec!["bash".into()]);

    let terminal = std::io::stdin().is_terminal();
    let size = crossterm::terminal::size().unwrap_or((80, 24));
    let mut session = engine
        .exec_interactive(&container.name, &shell, size)
        .await?;
    let _raw = RawMode(terminal && crossterm::terminal::enable_raw_mode().is_ok());

    let mut input = session.input;
    let forward = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let _ = tokio::io::copy(&mut stdin, &mut input).await;
        let _ = input.shutdown().await;
    });
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        .context("failed to watch the terminal size")?;
    let mut stdout = tokio::io::stdout();
    loop {
        tokio::select! {
            chunk = session.output.next() => match chunk {
                Some(Ok(bytes)) => {
                    stdout.write_all(&bytes).await.context("failed to write to the terminal")?;
                    stdout.flush().await.context("failed to write to the terminal")?;
                }
                Some(Err(e)) => return Err(e),
                None => break,
            },
            _ = winch.recv() => {
                if let Ok(size) = crossterm::terminal::size() {
                    let _ = engine.resize(&session.exec_id, size).await;
                }
            }
        }
    }
    forward.abort();
    let code = engine.exec_exit_code(&session.exec_id).await?;
    if code != 0 {
        return Err(ExitCode(code as i32).into());
    }
    Ok(())
}
