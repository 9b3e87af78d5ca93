//! `noglab graph`: one pod and the shared nodes as a picture, from the plan
//! of a topology file (or the saved plan of a lab brought up before). No
//! Docker. SVG goes through Graphviz's `dot` when it is installed, else
//! through noglab's own layout.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{anyhow, Context, Result};

use crate::cli::{GraphFormat, SvgLayout};
use crate::diag::input_error;
use crate::graph;
use crate::plan::Plan;
use crate::topology;

pub fn run(target: &Path, format: GraphFormat, pod: u32, layout: SvgLayout) -> Result<()> {
    if pod == 0 {
        return Err(input_error("pods count from 1: `--pod 1` is the first"));
    }
    let plan = plan_for(target, pod)?;
    let g = graph::build(&plan, pod).map_err(input_error)?;
    let text = match format {
        GraphFormat::Dot => graph::dot(&g),
        GraphFormat::Mermaid => graph::mermaid(&g),
        GraphFormat::Svg => svg(&g, layout)?,
    };
    print!("{text}");
    Ok(())
}

/// A topology file or folder, planned with enough pods to hold `pod`; or,
/// when no such path exists, a lab whose plan noglab saved at `up`.
fn plan_for(target: &Path, pod: u32) -> Result<Plan> {
    if let Some(lab) = super::lab_name_target(target) {
        return super::saved_plan(lab);
    }
    let loaded = topology::load(target)?;
    let pods = loaded.topology.pods.max(pod);
    super::check_pods(pods)?;
    super::expand_in(&loaded, pods, None, false)
}

fn svg(g: &graph::Graph, layout: SvgLayout) -> Result<String> {
    if layout == SvgLayout::Builtin {
        return Ok(graph::svg(g));
    }
    match graphviz(&graph::dot(g)) {
        Ok(svg) => Ok(svg),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && layout == SvgLayout::Auto => {
            Ok(graph::svg(g))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(anyhow!(
            "Graphviz's `dot` is not installed (apt-get install graphviz); `--layout builtin` draws without it"
        )),
        Err(e) => Err(e).context("failed to draw the graph with Graphviz's `dot -Tsvg`"),
    }
}

fn graphviz(dot: &str) -> std::io::Result<String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(dot.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
