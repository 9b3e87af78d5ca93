//! `noglab status`: one row per node, from one list call per lab.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::ListFormat;
use crate::engine::spread::ENGINE_LABEL;
use crate::engine::{Connector, Engine, ObservedContainer, Scope};
use crate::plan::labels;
use crate::state;

#[derive(Debug, Serialize)]
pub struct Row {
    pub lab: String,
    pub pod: String,
    /// The engine of the engines file that holds it, when there are several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    pub node: String,
    pub kind: String,
    pub state: String,
    pub health: String,
    pub uptime: String,
    pub container: String,
    /// Why the node is `unhealthy`: what its last health probe said.
    pub reason: Option<String>,
}

pub async fn run<C: Connector>(engines: &C, lab: Option<String>, format: ListFormat) -> Result<()> {
    let engine = engines.engine().await?;
    let containers = match lab {
        Some(lab) => {
            let lab = super::resolve_lab(engine, Some(lab)).await?;
            engine.containers(Scope::Lab(&lab)).await?
        }
        None => engine.containers(Scope::All).await?,
    };
    // Pods on an engine that does not answer are rows of their own
    // (state `unreachable`); the engine's trouble goes to stderr.
    for line in engine.unreachable() {
        eprintln!("{line}");
    }
    let mut rows = rows(containers)?;
    add_reasons(engine, &mut rows).await;
    match format {
        ListFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&rows).context("failed to print status")?
        ),
        ListFormat::Table => print_table(&rows),
    }
    Ok(())
}

/// The reason of each unhealthy node, from its last health probe (one
/// inspect per unhealthy node; a node the engine cannot say more about
/// keeps none).
async fn add_reasons<E: Engine>(engine: &E, rows: &mut [Row]) {
    for row in rows.iter_mut().filter(|r| r.health == "unhealthy") {
        row.reason = engine.health_report(&row.container).await.ok().flatten();
    }
}

/// Whether `up` or `reset` saw this node ready (at `seen`) during its
/// current run: Docker's first health check comes a minute after a start
/// (`HEALTH_INTERVAL`), and until then its health says `starting` although
/// noglab waited for the node. A node started again since (by Docker's
/// restart policy, a daemon restart) is still `starting`: its uptime is
/// shorter than the time since it was seen.
fn seen_ready_since_start(c: &ObservedContainer, seen: Option<u64>, now: u64) -> bool {
    let (Some(seen), Some(up)) = (seen, least_uptime(&uptime(c))) else {
        return false;
    };
    // Docker rounds the uptime down, noglab the times: a second of slack.
    now.saturating_sub(up) <= seen + 1
}

/// The least uptime Docker's words allow (the `uptime` column): `5
/// seconds` is at least 5 s, `About a minute` at least 60 s.
fn least_uptime(text: &str) -> Option<u64> {
    if text == "Less than a second" {
        return Some(0);
    }
    if let Some(unit) = text.strip_prefix("About a").map(str::trim_start) {
        return match unit.trim_start_matches("n ") {
            "minute" => Some(60),
            "hour" => Some(3600),
            _ => None,
        };
    }
    let (n, unit) = text.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let unit = unit.trim_end_matches('s');
    let scale = match unit {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        "week" => 7 * 86_400,
        "month" => 30 * 86_400,
        "year" => 365 * 86_400,
        _ => return None,
    };
    Some(n * scale)
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
    let mut seen: BTreeMap<String, state::ReadySeen> = BTreeMap::new();
    let now = state::now();
    for c in containers {
        let lab = c.label(labels::LAB).unwrap_or_default().to_string();
        let mut health = c.health();
        if health == "starting" {
            if !seen.contains_key(&lab) {
                seen.insert(lab.clone(), state::load_ready(&lab).unwrap_or_default());
            }
            if seen_ready_since_start(&c, seen[&lab].get(&c.name).copied(), now) {
                health = "healthy";
            }
        }
        let pod = c.label(labels::POD).unwrap_or_default().to_string();
        let node = c.label(labels::NODE).unwrap_or_default().to_string();
        labs.insert(lab.clone());
        let row = Row {
            lab: lab.clone(),
            pod: pod.clone(),
            engine: c.label(ENGINE_LABEL).map(String::from),
            node: node.clone(),
            kind: c.label(labels::KIND).unwrap_or_default().to_string(),
            state: c.state.clone(),
            health: health.to_string(),
            uptime: uptime(&c),
            container: c.name.clone(),
            reason: None,
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
                    engine: None,
                    node: spec.node.clone(),
                    kind: spec.kind.clone(),
                    state: "missing".into(),
                    health: "-".into(),
                    uptime: "-".into(),
                    container: spec.name.clone(),
                    reason: None,
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
    // An engine column when the lab is spread over several.
    let spread = rows.iter().any(|r| r.engine.is_some());
    let keep = |cols: Vec<&'_ str>| -> Vec<String> {
        cols.into_iter()
            .enumerate()
            .filter(|(i, _)| spread || *i != 2)
            .map(|(_, c)| c.to_string())
            .collect()
    };
    let header = keep(vec![
        "LAB", "POD", "ENGINE", "NODE", "KIND", "STATE", "HEALTH", "UPTIME",
    ]);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            keep(vec![
                r.lab.as_str(),
                &r.pod,
                r.engine.as_deref().unwrap_or("-"),
                &r.node,
                &r.kind,
                &r.state,
                &r.health,
                &r.uptime,
            ])
        })
        .collect();
    let mut width: Vec<usize> = header.iter().map(String::len).collect();
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cols: &[String]| {
        let parts: Vec<String> = cols
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(&header);
    for row in &cells {
        line(row);
    }
    let reasons: Vec<&Row> = rows.iter().filter(|r| r.reason.is_some()).collect();
    if !reasons.is_empty() {
        println!();
        for r in reasons {
            println!(
                "{} (pod {} {}): {}",
                r.container,
                r.pod,
                r.node,
                r.reason.as_deref().unwrap_or_default()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(status: &str) -> ObservedContainer {
        ObservedContainer {
            id: "id".into(),
            name: "lab-p01-r1".into(),
            labels: BTreeMap::new(),
            state: "running".into(),
            status: status.into(),
            created: 0,
        }
    }

    #[tokio::test]
    async fn unhealthy_nodes_carry_their_probes_reason_and_only_they() {
        let engine = crate::engine::fake::FakeEngine::default();
        engine.lock().health_reports.insert(
            "lab-p01-r1".into(),
            "not healthy: restarted since configured: bgpd".into(),
        );
        let row = |name: &str, health: &str| Row {
            lab: "lab".into(),
            engine: None,
            pod: "1".into(),
            node: name.into(),
            kind: "frr".into(),
            state: "running".into(),
            health: health.into(),
            uptime: "1 hour".into(),
            container: format!("lab-p01-{name}"),
            reason: None,
        };
        let mut rows = vec![row("r1", "unhealthy"), row("r2", "healthy")];
        add_reasons(&engine, &mut rows).await;
        assert_eq!(
            rows[0].reason.as_deref(),
            Some("not healthy: restarted since configured: bgpd")
        );
        assert_eq!(rows[1].reason, None);
        assert_eq!(engine.calls(), ["health_report lab-p01-r1"]);
    }

    #[test]
    fn docker_uptimes_are_read_as_their_least_value() {
        for (text, least) in [
            ("Up Less than a second (health: starting)", Some(0)),
            ("Up 1 second (health: starting)", Some(1)),
            ("Up 42 seconds (health: starting)", Some(42)),
            ("Up About a minute (health: starting)", Some(60)),
            ("Up 3 minutes (healthy)", Some(180)),
            ("Up About an hour", Some(3600)),
            ("Up 2 hours (unhealthy)", Some(7200)),
            ("Up 4 days", Some(4 * 86_400)),
            ("Exited (0) 3 seconds ago", None),
            ("Up a while", None),
        ] {
            assert_eq!(least_uptime(&uptime(&running(text))), least, "{text}");
        }
    }

    #[test]
    fn a_node_seen_ready_in_its_current_run_is_healthy_one_started_since_is_not() {
        let now = 1_000_000;
        // Started 40 s ago, seen ready 35 s ago (in this run).
        let c = running("Up 40 seconds (health: starting)");
        assert!(seen_ready_since_start(&c, Some(now - 35), now));
        // Seen ready 50 s ago: it has started again since.
        assert!(!seen_ready_since_start(&c, Some(now - 50), now));
        // Never seen, or an uptime that cannot be read.
        assert!(!seen_ready_since_start(&c, None, now));
        assert!(!seen_ready_since_start(
            &running("Up a while (health: starting)"),
            Some(now),
            now
        ));
        // Seen in the very second it started.
        assert!(seen_ready_since_start(
            &running("Up Less than a second (health: starting)"),
            Some(now),
            now
        ));
    }
}
