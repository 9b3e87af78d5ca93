//! `noglab reset --pod SPEC [--node NAME]`: recreate pods or one node from
//! the plan the lab was brought up with; other pods are not touched.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::diag::input_error;
use crate::engine::docker::DockerEngine;
use crate::plan::{describe_pods, labels};
use crate::progress::Progress;
use crate::reconcile::{self, Action, Limits};
use crate::state;

pub async fn run(lab: Option<String>, pods: &str, node: Option<String>, quiet: bool) -> Result<()> {
    let started = Instant::now();
    let engine = DockerEngine::connect().await?;
    let lab = super::resolve_lab(&engine, lab).await?;
    let _lock = state::lock(&lab)?;
    let plan = state::load_plan(&lab)?.ok_or_else(|| {
        anyhow!("noglab has no saved plan for lab {lab} (it was brought up by another user or machine); run `noglab up FILE` for it first")
    })?;
    let existing: BTreeSet<u32> = plan.pod_plans.keys().copied().collect();
    let selected = super::parse_pods(pods, &existing)?;
    let observed = super::observe(&engine, &lab).await?;

    let mut actions = Vec::new();
    for pod in &selected {
        let pod_plan = &plan.pod_plans[pod];
        match &node {
            Some(node) => {
                let spec = pod_plan
                    .containers
                    .iter()
                    .find(|c| &c.node == node)
                    .ok_or_else(|| {
                        let nodes: Vec<&str> = pod_plan
                            .containers
                            .iter()
                            .map(|c| c.node.as_str())
                            .collect();
                        input_error(format!(
                            "lab {lab} has no node `{node}`; nodes: {}",
                            nodes.join(", ")
                        ))
                    })?;
                let pod_s = pod.to_string();
                for c in &observed.containers {
                    if c.label(labels::POD) == Some(pod_s.as_str())
                        && c.label(labels::NODE) == Some(node.as_str())
                    {
                        actions.push(Action::RemoveContainer {
                            pod: *pod,
                            name: c.name.clone(),
                        });
                    }
                }
                actions.push(Action::CreateContainer {
                    pod: *pod,
                    spec: Box::new(spec.clone()),
                });
            }
            None => {
                reconcile::remove_pod(&observed, *pod, &mut actions);
                for n in &pod_plan.networks {
                    actions.push(Action::CreateNetwork {
                        pod: *pod,
                        spec: n.clone(),
                    });
                }
                for c in &pod_plan.containers {
                    actions.push(Action::CreateContainer {
                        pod: *pod,
                        spec: Box::new(c.clone()),
                    });
                }
            }
        }
    }
    let what = match &node {
        Some(n) => format!(
            "node {n} of {}",
            describe_pods(&selected.iter().copied().collect::<Vec<_>>())
        ),
        None => describe_pods(&selected.iter().copied().collect::<Vec<_>>()),
    };
    let progress = Progress::new(quiet);
    progress.step(format!("resetting {what} of lab {lab}"));
    let result = reconcile::execute(&engine, actions, Limits::default(), &progress).await;
    progress.finish();
    result.map_err(|e| anyhow!("reset of {what} of lab {lab} failed:\n{e:#}"))?;
    println!(
        "lab {lab}: reset {what} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
