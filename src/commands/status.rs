//! `noglab status`: one row per node, from one list call per lab.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::ListFormat;
use crate::engine::docker::DockerEngine;
use crate::engine::{Engine, ObservedContainer, Scope};
use crate::plan::labels;
use crate::state;

#[derive(Debug, Serialize)]
pub struct Row {
    pub lab: String,
    pub pod: String,
    pub node: String,
    pub kind: String,
    pub state: String,
    pub health: String,
    pub uptime: String,
    pub container: String,
}

pub async fn run(lab: Option<String>, format: ListFormat) -> Result<()> {
    let engine = DockerEngine::connect().await?;
    let containers = match lab {
        Some(lab) => {
            let lab = super::resolve_lab(&engine, Some(lab)).await?;
            engine.containers(Scope::Lab(&lab)).await?
        }
        None => engine.containers(Scope::All).await?,
    };
    let rows = rows(containers)?;
    match format {
        ListFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&rows).context("failed to print status")?
        ),
        ListFormat::Table => print_table(&rows),
    }
    Ok(())
}

fn uptime(c: &ObservedContainer) -> String {
    if c.state != "running" {
        return "-".into();
    }
    let s = c.status.strip_prefix("Up ").unwrap_or(&c.status);
    s.split(" (").next().unwrap_or(s).to_string()
}

/// Rows for every node: what the engine has, plus nodes of the saved plan
/// whose container is gone.
fn rows(containers: Vec<ObservedContainer>) -> Result<Vec<Row>> {
    let mut by_key: BTreeMap<(String, u32, String), Row> = BTreeMap::new();
    let mut labs = std::collections::BTreeSet::new();
    for c in containers {
        let lab = c.label(labels::LAB).unwrap_or_default().to_string();
        let pod = c.label(labels::POD).unwrap_or_default().to_string();
        let node = c.label(labels::NODE).unwrap_or_default().to_string();
        labs.insert(lab.clone());
        let row = Row {
            lab: lab.clone(),
            pod: pod.clone(),
            node: node.clone(),
            kind: c.label(labels::KIND).unwrap_or_default().to_string(),
            state: c.state.clone(),
            health: c.health().to_string(),
            uptime: uptime(&c),
            container: c.name.clone(),
        };
        by_key.insert((lab, pod.parse().unwrap_or(0), node), row);
    }
    for lab in labs {
        let Some(plan) = state::load_plan(&lab)? else {
            continue;
        };
        for (pod, spec) in plan.containers() {
            by_key
                .entry((lab.clone(), pod, spec.node.clone()))
                .or_insert_with(|| Row {
                    lab: lab.clone(),
                    pod: pod.to_string(),
                    node: spec.node.clone(),
                    kind: spec.kind.clone(),
                    state: "missing".into(),
                    health: "-".into(),
                    uptime: "-".into(),
                    container: spec.name.clone(),
                });
        }
    }
    Ok(by_key.into_values().collect())
}

fn print_table(rows: &[Row]) {
    if rows.is_empty() {
        println!("no lab is running");
        return;
    }
    let header = ["LAB", "POD", "NODE", "KIND", "STATE", "HEALTH", "UPTIME"];
    let cells: Vec<[&str; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.lab.as_str(),
                &r.pod,
                &r.node,
                &r.kind,
                &r.state,
                &r.health,
                &r.uptime,
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cols: &[&str; 7]| {
        let parts: Vec<String> = cols
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(&header);
    for row in &cells {
        line(row);
    }
}
