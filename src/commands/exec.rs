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
    let (lab, node) = super::split_target(target);
    let engine = engines.engine().await?;
    let lab = super::resolve_lab(engine, lab).await?;
    let pod = super::parse_pod(pod)?;
    let container = super::find_node(engine, &lab, pod, &node).await?;
    super::require_running(&container, pod)?;
    let code = engine
        .exec_streaming(&container.name, command, |is_err, bytes| {
            if is_err {
                let _ = std::io::stderr().write_all(bytes);
            } else {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(bytes);
                let _ = out.flush();
            }
        })
        .await?;
    if code != 0 {
        return Err(ExitCode(code as i32).into());
    }
    Ok(())
}
