//! `noglab reset --pod SPEC [--node NAME]`: recreate the containers of pods,
//! or one node, from the plan the lab was brought up with; other pods are
//! not touched.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::diag::input_error;
use crate::engine::{Connector, Engine};
use crate::plan::{describe_pods, Plan, PodPlan};
use crate::progress::Progress;
use crate::reconcile::{self, Action, Limits, Observed};
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
    let store = super::save::store_dir();
    let (what, seen_ready) =
        reset(engine, &plan, pods, shared, node.as_deref(), quiet, &store).await?;
    state::mark_ready(&lab, &seen_ready, state::now())?;
    state::update_unready(&lab, &[], &seen_ready)?;
    println!(
        "lab {lab}: reset {what} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Recreates what was asked from the plan; says what it reset, with the
/// containers it saw ready.
pub(crate) async fn reset<E: Engine>(
    engine: &E,
    plan: &Plan,
    pods: Option<&str>,
    shared: bool,
    node: Option<&str>,
    quiet: bool,
    store: &std::path::Path,
) -> Result<(String, Vec<String>)> {
    let lab = &plan.lab;
    let selected = select(plan, pods, shared)?;
    let observed = super::observe(engine, lab).await?;
    super::refuse_unreachable(
        &observed.containers,
        |p| selected.iter().any(|s| s.pod == p),
        lab,
        "nothing was reset",
    )?;
    let actions = actions(&observed, &selected, node, lab)?;
    // What participants did in the nodes about to go is kept first:
    // `restore --last` undoes a reset done by mistake.
    let removed: Vec<_> = observed
        .containers
        .iter()
        .filter(|c| {
            actions
                .iter()
                .any(|a| matches!(a, Action::RemoveContainer { name, .. } if *name == c.name))
        })
        .cloned()
        .collect();
    super::save::before(engine, lab, &removed, Some(plan), "reset", store).await?;
    let pods_text = if shared {
        "the shared nodes".to_string()
    } else {
        describe_pods(&selected.iter().map(|p| p.pod).collect::<Vec<_>>())
    };
    let what = match node {
        Some(n) => format!("node {n} of {pods_text}"),
        None => pods_text,
    };
    let progress = Progress::new(quiet);
    progress.step(format!("resetting {what} of lab {lab}"));
    let secrets = super::secrets(plan)?;
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
    Ok((what, seen_ready))
}

/// The pods `--pod SPEC` names, or the shared one.
fn select<'a>(plan: &'a Plan, pods: Option<&str>, shared: bool) -> Result<Vec<&'a PodPlan>> {
    if shared {
        return Ok(vec![plan.shared.as_ref().ok_or_else(|| {
            input_error(format!("lab {} has no shared nodes", plan.lab))
        })?]);
    }
    let existing: BTreeSet<u32> = plan.pod_plans.keys().copied().collect();
    let spec = pods.ok_or_else(|| input_error("say which pods: --pod SPEC, or --shared"))?;
    Ok(super::parse_pods(spec, &existing)?
        .iter()
        .map(|p| &plan.pod_plans[p])
        .collect())
}

/// What resetting the pods (or one node of each) takes: a pod is recreated
/// with its networks as `up` would; the shared pod's networks, and a
/// node's, stay.
fn actions(
    observed: &Observed,
    selected: &[&PodPlan],
    node: Option<&str>,
    lab: &str,
) -> Result<Vec<Action>> {
    let mut actions = Vec::new();
    for pod_plan in selected {
        if let Some(node) = node {
            if !pod_plan.containers.iter().any(|c| c.node == node) {
                let nodes: Vec<&str> = pod_plan
                    .containers
                    .iter()
                    .map(|c| c.node.as_str())
                    .collect();
                return Err(input_error(format!(
                    "lab {lab} has no node `{node}` there; nodes: {}",
                    nodes.join(", ")
                )));
            }
        }
        if node.is_some() || pod_plan.pod == crate::plan::SHARED_POD {
            reconcile::recreate_containers(observed, pod_plan, node, &mut actions);
        } else {
            reconcile::recreate_pod(observed, pod_plan, &mut actions);
        }
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::reconcile::testing;

    /// The small lab with a lab-wide host on a network every pod's router
    /// is attached to.
    fn plan_with_shared(pods: u32) -> Plan {
        let source = format!(
            "{}shared:\n  nodes:\n    rs: {{kind: host}}\n  networks:\n    ixp:\n      ipv4: 198.51.100.0/24\n      attach:\n        rs: {{ipv4: 198.51.100.1}}\n        r1: {{ipv4: \"198.51.100.{{{{ 10 + pod }}}}\"}}\n",
            testing::TOPOLOGY
        );
        testing::plan_of(&source, pods)
    }

    /// Where the tests' automatic snapshots go.
    fn store() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("noglab-reset-{}", std::process::id()))
    }

    /// What a reset asked of the engine, but its lists and readiness.
    fn changes(engine: &FakeEngine) -> Vec<String> {
        let mut calls: Vec<String> = engine
            .calls()
            .into_iter()
            .filter(|c| {
                !c.starts_with("follow log ")
                    && !c.starts_with("download ")
                    && !c.starts_with("exec ")
            })
            .collect();
        calls.sort();
        calls
    }

    #[tokio::test]
    async fn a_pod_is_recreated_whole_and_the_others_are_not_touched() {
        let engine = FakeEngine::default();
        let plan = testing::plan(3);
        testing::up(&engine, &plan).await;
        engine.lock().log = vec!["noglab-init: ready after 1s; exec.sh rc=0".into()];
        let (what, mut seen) = reset(&engine, &plan, Some("2"), false, None, true, &store())
            .await
            .expect("reset");
        assert_eq!(what, "pod 2");
        seen.sort();
        assert_eq!(seen, ["lab-p02-h1", "lab-p02-r1"]);
        assert_eq!(
            changes(&engine),
            [
                "connect lab-p02-h1 lab-p02-l1",
                "connect lab-p02-r1 lab-p02-l1",
                "create container lab-p02-h1",
                "create container lab-p02-r1",
                "remove container lab-p02-h1",
                "remove container lab-p02-r1",
                "start lab-p02-h1",
                "start lab-p02-r1",
                "upload lab-p02-h1 2",
                "upload lab-p02-r1 4",
            ]
        );
    }

    /// `restore --last` undoes a reset done by mistake: the reset saved
    /// what it removed, and only that.
    #[tokio::test]
    async fn a_reset_saves_the_nodes_it_removes_first() {
        let engine = FakeEngine::default();
        let plan = testing::plan(2);
        testing::up(&engine, &plan).await;
        let at = std::env::temp_dir().join(format!("noglab-reset-saves-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&at);
        reset(&engine, &plan, Some("2"), false, Some("r1"), true, &at)
            .await
            .expect("reset");
        let saved = crate::snapshot::stored(&at, "lab", Some(2)).expect("list");
        assert_eq!(saved.len(), 1, "{saved:?}");
        assert!(saved[0].to_string_lossy().ends_with("-reset"), "{saved:?}");
        let snap = crate::snapshot::read(&saved[0]).expect("reads");
        assert_eq!(
            snap.nodes
                .iter()
                .map(|n| n.node.as_str())
                .collect::<Vec<_>>(),
            ["r1"]
        );
        assert!(crate::snapshot::stored(&at, "lab", Some(1))
            .expect("list")
            .is_empty());
        let calls = engine.calls();
        let downloaded = calls
            .iter()
            .position(|c| c == "download lab-p02-r1 /etc/frr");
        let removed = calls
            .iter()
            .position(|c| c == "remove container lab-p02-r1");
        assert!(downloaded < removed && downloaded.is_some(), "{calls:?}");
        let _ = std::fs::remove_dir_all(&at);
    }

    #[tokio::test]
    async fn one_node_of_several_pods_is_recreated_alone() {
        let engine = FakeEngine::default();
        let plan = testing::plan(3);
        testing::up(&engine, &plan).await;
        let (what, _) = reset(
            &engine,
            &plan,
            Some("1,3"),
            false,
            Some("h1"),
            true,
            &store(),
        )
        .await
        .expect("reset");
        assert_eq!(what, "node h1 of pods 1, 3");
        let calls = changes(&engine);
        assert!(
            calls
                .iter()
                .all(|c| c.contains("-p01-h1") || c.contains("-p03-h1")),
            "{calls:?}"
        );
        for call in [
            "remove container lab-p01-h1",
            "create container lab-p03-h1",
            "start lab-p03-h1",
        ] {
            assert!(calls.contains(&call.to_string()), "{call}: {calls:?}");
        }
    }

    #[tokio::test]
    async fn the_shared_nodes_are_recreated_and_their_network_stays() {
        let engine = FakeEngine::default();
        let plan = plan_with_shared(2);
        testing::up(&engine, &plan).await;
        let (what, _) = reset(&engine, &plan, None, true, None, true, &store())
            .await
            .expect("reset");
        assert_eq!(what, "the shared nodes");
        let calls = changes(&engine);
        assert!(calls.iter().all(|c| !c.contains("network")), "{calls:?}");
        assert!(calls.iter().all(|c| c.contains("-rs")), "{calls:?}");
        assert!(
            calls.contains(&"create container lab-shared-rs".to_string()),
            "{calls:?}"
        );
        assert!(
            calls.contains(&"remove container lab-shared-rs".to_string()),
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn what_is_not_in_the_plan_is_bad_input_and_changes_nothing() {
        let engine = FakeEngine::default();
        let plan = testing::plan(2);
        testing::up(&engine, &plan).await;
        for (pods, shared, node, message) in [
            (
                Some("2"),
                false,
                Some("r9"),
                "lab lab has no node `r9` there; nodes: h1, r1",
            ),
            (None, true, None, "lab lab has no shared nodes"),
            (None, false, None, "say which pods: --pod SPEC, or --shared"),
            (
                Some("4"),
                false,
                None,
                "bad pod list `4`: pod 4 does not exist; the lab has pods 1-2",
            ),
        ] {
            let err = reset(&engine, &plan, pods, shared, node, true, &store())
                .await
                .expect_err(message);
            assert_eq!(format!("{err}"), message);
            assert!(err.is::<crate::diag::InputError>(), "exit 2: {err}");
        }
        assert!(engine.calls().is_empty(), "{:?}", engine.calls());
    }

    #[tokio::test]
    async fn a_failed_reset_says_what_it_was_resetting() {
        let engine = FakeEngine::default();
        let plan = testing::plan(2);
        testing::up(&engine, &plan).await;
        engine.lock().fail_on = Some("start lab-p01-r1".into());
        let err = reset(&engine, &plan, Some("1"), false, Some("r1"), true, &store())
            .await
            .expect_err("start fails");
        assert_eq!(
            format!("{err:#}"),
            "reset of node r1 of pod 1 of lab lab failed:\npod 1: failed to start lab-p01-r1: injected failure"
        );
    }
}
