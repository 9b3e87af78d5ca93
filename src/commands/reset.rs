//! `noglab reset --pod SPEC [--node NAME]`: recreate the containers of pods,
//! or one node, from the plan the lab was brought up with; other pods are
//! not touched.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::diag::input_error;
use crate::engine::Connector;
use crate::plan::{describe_pods, labels, pod_label, PodPlan, SHARED_POD};
use crate::progress::Progress;
use crate::reconcile::{self, Action, Limits};
use crate::state;

pub async fn run<C: Connector>(
    engines: &C,
    lab: Option<String>,
    pods: Option<&str>,
    shared: bool,
    node: Option<String>,
    quiet: bool,
) -> Result<()> {
    let started = Instant::now();
    let engine = engines.engine().await?;
    let lab = super::resolve_lab(engine, lab).await?;
    let _lock = state::lock(&lab)?;
    let plan = state::load_plan(&lab)?.ok_or_else(|| {
        anyhow!("noglab has no saved plan for lab {lab} (it was brought up by another user or machine); run `noglab up FILE` for it first")
    })?;
    let selected: Vec<&PodPlan> = if shared {
        vec![plan
            .shared
            .as_ref()
            .ok_or_else(|| input_error(format!("lab {lab} has no shared nodes")))?]
    } else {
        let existing: BTreeSet<u32> = plan.pod_plans.keys().copied().collect();
        let spec = pods.ok_or_else(|| input_error("say which pods: --pod SPEC, or --shared"))?;
        super::parse_pods(spec, &existing)?
            .iter()
            .map(|p| &plan.pod_plans[p])
            .collect()
    };
    let observed = super::observe(engine, &lab).await?;

    let mut actions = Vec::new();
    for pod_plan in &selected {
        let pod = pod_plan.pod;
        let pod_s = pod_label(pod);
        let in_pod =
            |c: &&crate::engine::ObservedContainer| c.label(labels::POD) == Some(pod_s.as_str());
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
                            "lab {lab} has no node `{node}` there; nodes: {}",
                            nodes.join(", ")
                        ))
                    })?;
                for c in observed.containers.iter().filter(in_pod) {
                    if c.label(labels::NODE) == Some(node.as_str()) {
                        actions.push(Action::RemoveContainer {
                            pod,
                            name: c.name.clone(),
                        });
                    }
                }
                actions.push(Action::CreateContainer {
                    pod,
                    spec: Box::new(spec.clone()),
                });
            }
            // Shared networks stay: every pod is attached to them.
            None if pod == SHARED_POD => {
                for c in observed.containers.iter().filter(in_pod) {
                    actions.push(Action::RemoveContainer {
                        pod,
                        name: c.name.clone(),
                    });
                }
                for c in &pod_plan.containers {
                    actions.push(Action::CreateContainer {
                        pod,
                        spec: Box::new(c.clone()),
                    });
                }
            }
            None => reconcile::recreate_pod(&observed, pod_plan, &mut actions),
        }
    }
    let selected: Vec<u32> = selected.iter().map(|p| p.pod).collect();
    let pods_text = if shared {
        "the shared nodes".to_string()
    } else {
        describe_pods(&selected)
    };
    let what = match &node {
        Some(n) => format!("node {n} of {pods_text}"),
        None => pods_text,
    };
    let progress = Progress::new(quiet);
    progress.step(format!("resetting {what} of lab {lab}"));
    let secrets = super::secrets(&plan)?;
    // Ctrl-C keeps its default here: reset removes before it creates, and
    // the next reset (or `up`) completes what a killed one left.
    let result = reconcile::execute(
        engine,
        actions,
        Limits::default(),
        &secrets,
        &progress,
        &crate::stop::Stop::never(),
    )
    .await;
    progress.finish();
    let seen_ready = result.map_err(|e| anyhow!("reset of {what} of lab {lab} failed:\n{e:#}"))?;
    state::mark_ready(&lab, &seen_ready, state::now())?;
    println!(
        "lab {lab}: reset {what} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
