//! `noglab validate FILE`: every problem of a topology, for every pod, without Docker.
//!
//! With `--format json`, one document on standard output whatever the
//! verdict (the exit code still says it): [`Verdict`].

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::cli::ListFormat;
use crate::diag::{Diagnostics, ExitCode};
use crate::progress::write_stdout;

/// What `validate --format json` prints.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// The file checked, as given (or the lab folder's topology.yml).
    pub file: String,
    pub valid: bool,
    /// The lab's name, pods, nodes and links; absent when invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab: Option<Summary>,
    /// Every problem, in file order; empty when valid.
    pub problems: Vec<Problem>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub name: String,
    pub pods: u32,
    pub nodes: usize,
    pub links: usize,
    /// Nodes with a `solution`, whose solved lab was checked too.
    pub solutions: usize,
}

/// One problem. `line` and `col` count from 1; both are `null` for a
/// problem that has no place in a file (a missing file, say).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub message: String,
}

pub fn run(file: &Path, pods: Option<u32>, format: ListFormat) -> Result<()> {
    match format {
        ListFormat::Table => {
            let summary = check(file, pods)?;
            let solution = match summary.solutions {
                0 => String::new(),
                n => format!(", solution for {n} nodes"),
            };
            println!(
                "{}: lab {} is valid ({} pods, {} nodes, {} links{solution})",
                topology_file(file),
                summary.name,
                summary.pods,
                summary.nodes,
                summary.links
            );
            Ok(())
        }
        ListFormat::Json => {
            let verdict = verdict(file, check(file, pods));
            let mut text = serde_json::to_string_pretty(&verdict)?;
            text.push('\n');
            write_stdout(text.as_bytes())?;
            if verdict.valid {
                Ok(())
            } else {
                // Bad input, as without --format; the document said it all.
                Err(ExitCode(2).into())
            }
        }
    }
}

/// The lab when valid; otherwise the error `main` reports.
fn check(file: &Path, pods: Option<u32>) -> Result<Summary> {
    let (loaded, plan) = super::load_plan(file, pods, false)?;
    // The solved lab must render too: its templates are only read there.
    let t = &loaded.topology;
    let solved = t.nodes.values().chain(t.shared.nodes.values());
    let solutions = solved.filter(|n| n.solution.is_some()).count();
    if solutions > 0 {
        super::expand_in(&loaded, plan.pods, Some(plan.block), true)?;
    }
    Ok(Summary {
        name: plan.lab.clone(),
        pods: plan.pods,
        nodes: t.nodes.len(),
        links: t.links.len(),
        solutions,
    })
}

/// The topology file a path names: itself, or a folder's topology.yml.
fn topology_file(file: &Path) -> String {
    if file.is_dir() {
        file.join("topology.yml").display().to_string()
    } else {
        file.display().to_string()
    }
}

/// `check`'s outcome as the document prints it: problems with a place in
/// a file one each, anything else one problem without a place.
pub fn verdict(file: &Path, outcome: Result<Summary>) -> Verdict {
    let file = topology_file(file);
    match outcome {
        Ok(summary) => Verdict {
            file,
            valid: true,
            lab: Some(summary),
            problems: Vec::new(),
        },
        Err(err) => {
            let problems = match err.chain().find_map(|e| e.downcast_ref::<Diagnostics>()) {
                Some(d) => d
                    .items
                    .iter()
                    .map(|item| Problem {
                        file: d.file.display().to_string(),
                        line: Some(item.line),
                        col: Some(item.col),
                        message: item.message.clone(),
                    })
                    .collect(),
                None => vec![Problem {
                    file: file.clone(),
                    line: None,
                    col: None,
                    message: format!("{err:#}"),
                }],
            };
            Verdict {
                file,
                valid: false,
                lab: None,
                problems,
            }
        }
    }
}
