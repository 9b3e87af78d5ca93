//! The pure half of the reconciler: what is on the engine against what the
//! plan wants, by labels and spec hash, as a list of actions. No engine,
//! no async: every function here is a plain computation.

use std::collections::BTreeSet;

use crate::engine::{ObservedContainer, ObservedNetwork};
use crate::plan::{labels, pod_label, ContainerSpec, NetworkSpec, Plan, PodPlan};

/// What a lab has on the engine.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub containers: Vec<ObservedContainer>,
    pub networks: Vec<ObservedNetwork>,
}

impl Observed {
    /// Pod numbers found on the engine (lab-wide resources excluded).
    pub fn pods(&self) -> BTreeSet<u32> {
        let c = self.containers.iter().filter_map(|c| c.label(labels::POD));
        let n = self.networks.iter().filter_map(|n| n.label(labels::POD));
        c.chain(n).filter_map(|p| p.parse().ok()).collect()
    }

    fn pod_containers(&self, pod: u32) -> impl Iterator<Item = &ObservedContainer> {
        let p = pod_label(pod);
        self.containers
            .iter()
            .filter(move |c| c.label(labels::POD) == Some(p.as_str()))
    }

    fn pod_networks(&self, pod: u32) -> impl Iterator<Item = &ObservedNetwork> {
        let p = pod_label(pod);
        self.networks
            .iter()
            .filter(move |n| n.label(labels::POD) == Some(p.as_str()))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    RemoveContainer {
        pod: u32,
        name: String,
    },
    RemoveNetwork {
        pod: u32,
        name: String,
    },
    CreateNetwork {
        pod: u32,
        spec: NetworkSpec,
    },
    /// Create, attach, copy files in, start, wait until ready.
    CreateContainer {
        pod: u32,
        spec: Box<ContainerSpec>,
    },
    /// Start a stopped container and wait until ready.
    StartContainer {
        pod: u32,
        name: String,
    },
    /// Wait until a running container is ready: an earlier run started it
    /// and stopped before it saw it ready (Ctrl-C).
    WaitReady {
        pod: u32,
        name: String,
    },
}

impl Action {
    pub fn pod(&self) -> u32 {
        match self {
            Action::RemoveContainer { pod, .. }
            | Action::RemoveNetwork { pod, .. }
            | Action::CreateNetwork { pod, .. }
            | Action::CreateContainer { pod, .. }
            | Action::StartContainer { pod, .. }
            | Action::WaitReady { pod, .. } => *pod,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Action::RemoveContainer { name, .. } => format!("remove container {name}"),
            Action::RemoveNetwork { name, .. } => format!("remove network {name}"),
            Action::CreateNetwork { spec, .. } => format!("create network {}", spec.name),
            Action::CreateContainer { spec, .. } => format!("create container {}", spec.name),
            Action::StartContainer { name, .. } => format!("start container {name}"),
            Action::WaitReady { name, .. } => format!("wait for container {name}"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    pub actions: Vec<Action>,
    /// Pods on the engine that the plan does not have.
    pub extra_pods: Vec<u32>,
}

/// Compares the engine's resources with the plan. With `prune`, pods beyond
/// the plan are removed; without, they are reported in `extra_pods`.
pub fn diff(observed: &Observed, plan: &Plan, prune: bool) -> Diff {
    let mut out = Diff::default();
    for pod in plan.all_pods() {
        diff_pod(observed, pod, &mut out.actions);
    }
    for pod in observed.pods() {
        if plan.pod_plans.contains_key(&pod) {
            continue;
        }
        if prune {
            remove_pod(observed, pod, &mut out.actions);
        } else {
            out.extra_pods.push(pod);
        }
    }
    out
}

/// Waits for the containers that an earlier run started and never saw
/// ready (`unready`, by name), where `actions` leave them running as they
/// are: without it, a lab interrupted while its nodes booted would count
/// as up to date with nodes that never became ready.
pub fn finish_waits(observed: &Observed, unready: &BTreeSet<String>, actions: &mut Vec<Action>) {
    let touched: BTreeSet<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::RemoveContainer { name, .. } | Action::StartContainer { name, .. } => {
                Some(name.as_str())
            }
            Action::CreateContainer { spec, .. } => Some(spec.name.as_str()),
            _ => None,
        })
        .collect();
    let mut waits = Vec::new();
    for c in &observed.containers {
        if c.state != "running" || !unready.contains(&c.name) || touched.contains(c.name.as_str()) {
            continue;
        }
        let pod = match c.label(labels::POD) {
            Some(p) if p == crate::plan::SHARED_LABEL => crate::plan::SHARED_POD,
            Some(p) => match p.parse() {
                Ok(pod) => pod,
                Err(_) => continue,
            },
            None => continue,
        };
        waits.push(Action::WaitReady {
            pod,
            name: c.name.clone(),
        });
    }
    actions.extend(waits);
}

/// Actions that remove every container and network of a pod.
pub fn remove_pod(observed: &Observed, pod: u32, actions: &mut Vec<Action>) {
    for c in observed.pod_containers(pod) {
        actions.push(Action::RemoveContainer {
            pod,
            name: c.name.clone(),
        });
    }
    for n in observed.pod_networks(pod) {
        actions.push(Action::RemoveNetwork {
            pod,
            name: n.name.clone(),
        });
    }
}

/// Actions that recreate every container of a pod from the plan. Networks
/// that match the plan stay, as in `up`: they are bridges on the host that
/// no node can change. A missing or changed one is made again.
pub fn recreate_pod(observed: &Observed, pod: &PodPlan, actions: &mut Vec<Action>) {
    remove_containers(observed, pod.pod, None, actions);
    let networks_only = Observed {
        containers: Vec::new(),
        networks: observed.pod_networks(pod.pod).cloned().collect(),
    };
    diff_pod(&networks_only, pod, actions);
}

/// Actions that recreate a pod's containers from the plan, or only the
/// container of `node`, and leave its networks as they are: a node's
/// networks are its pod's, and the lab-wide pod's networks have every pod
/// attached to them.
pub fn recreate_containers(
    observed: &Observed,
    pod: &PodPlan,
    node: Option<&str>,
    actions: &mut Vec<Action>,
) {
    remove_containers(observed, pod.pod, node, actions);
    for spec in &pod.containers {
        if node.is_none_or(|n| spec.node == n) {
            actions.push(Action::CreateContainer {
                pod: pod.pod,
                spec: Box::new(spec.clone()),
            });
        }
    }
}

/// Removes a pod's containers, or only those of `node`.
fn remove_containers(observed: &Observed, pod: u32, node: Option<&str>, actions: &mut Vec<Action>) {
    for c in observed.pod_containers(pod) {
        if node.is_none_or(|n| c.label(labels::NODE) == Some(n)) {
            actions.push(Action::RemoveContainer {
                pod,
                name: c.name.clone(),
            });
        }
    }
}

/// One pod's actions: stale networks and containers go, what is missing
/// comes; a container on a network that changed is recreated with it.
fn diff_pod(observed: &Observed, pod: &PodPlan, actions: &mut Vec<Action>) {
    let (net_actions, networks_changed) = diff_networks(observed, pod);
    let kept_nodes = diff_containers(observed, pod, networks_changed, actions);
    actions.extend(net_actions);
    for spec in &pod.containers {
        if !kept_nodes.contains(&spec.node) {
            actions.push(Action::CreateContainer {
                pod: pod.pod,
                spec: Box::new(spec.clone()),
            });
        }
    }
}

/// The network a spec is, within its pod (`noglab.network`).
fn role(n: &NetworkSpec) -> String {
    n.labels.get(labels::NETWORK).cloned().unwrap_or_default()
}

/// A pod's network removals and creations, and whether any network changed.
fn diff_networks(observed: &Observed, pod: &PodPlan) -> (Vec<Action>, bool) {
    let p = pod.pod;
    let planned_roles: BTreeSet<String> = pod.networks.iter().map(role).collect();
    let mut seen_roles = BTreeSet::new();
    let mut net_actions = Vec::new();
    let mut networks_changed = false;
    for n in observed.pod_networks(p) {
        let r = n.label(labels::NETWORK).unwrap_or_default().to_string();
        let planned = pod.networks.iter().find(|s| role(s) == r);
        let current = planned.is_some_and(|s| {
            s.labels.get(labels::HASH).map(String::as_str) == n.label(labels::HASH)
        });
        // A second network for the same role (an engine without duplicate
        // checks) is removed like a stale one.
        if !current || !seen_roles.insert(r.clone()) || !planned_roles.contains(&r) {
            networks_changed = true;
            net_actions.push(Action::RemoveNetwork {
                pod: p,
                name: n.name.clone(),
            });
        }
    }
    for spec in &pod.networks {
        let r = role(spec);
        let kept = observed.pod_networks(p).any(|n| {
            n.label(labels::NETWORK) == Some(r.as_str())
                && n.label(labels::HASH) == spec.labels.get(labels::HASH).map(String::as_str)
        });
        if !kept {
            net_actions.push(Action::CreateNetwork {
                pod: p,
                spec: spec.clone(),
            });
        }
    }
    (net_actions, networks_changed)
}

/// A pod's container removals and starts; returns the nodes whose
/// container stays.
fn diff_containers(
    observed: &Observed,
    pod: &PodPlan,
    networks_changed: bool,
    actions: &mut Vec<Action>,
) -> BTreeSet<String> {
    let p = pod.pod;
    let mut kept_nodes = BTreeSet::new();
    for c in observed.pod_containers(p) {
        let node = c.label(labels::NODE).unwrap_or_default();
        let planned = pod.containers.iter().find(|s| s.node == node);
        let keep = match planned {
            None => false,
            Some(s) => {
                !networks_changed
                    && s.labels.get(labels::HASH).map(String::as_str) == c.label(labels::HASH)
                    // A container that never started may lack attachments or files.
                    && !matches!(c.state.as_str(), "created" | "dead" | "removing")
                    && kept_nodes.insert(node.to_string())
            }
        };
        if keep {
            if c.state == "exited" {
                actions.push(Action::StartContainer {
                    pod: p,
                    name: c.name.clone(),
                });
            }
        } else {
            actions.push(Action::RemoveContainer {
                pod: p,
                name: c.name.clone(),
            });
        }
    }
    kept_nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::reconcile::testing::{observed, plan, plan_of, run, up, TOPOLOGY};

    #[tokio::test]
    async fn nodes_left_booting_are_waited_for_unless_replaced_or_stopped() {
        let engine = FakeEngine::default();
        let p = plan(2);
        up(&engine, &p).await;
        engine
            .lock()
            .containers
            .get_mut("lab-p02-h1")
            .expect("h1")
            .state = "exited".into();
        let unready: BTreeSet<String> = ["lab-p01-r1", "lab-p02-r1", "lab-p02-h1", "lab-p09-r1"]
            .map(String::from)
            .into();
        // Without the list, the lab is up to date.
        let observed = observed(&engine).await;
        let mut actions = diff(&observed, &p, false).actions;
        assert_eq!(
            actions.iter().map(Action::describe).collect::<Vec<_>>(),
            ["start container lab-p02-h1"]
        );
        finish_waits(&observed, &unready, &mut actions);
        assert_eq!(
            actions.iter().map(Action::describe).collect::<Vec<_>>(),
            [
                "start container lab-p02-h1",
                "wait for container lab-p01-r1",
                "wait for container lab-p02-r1"
            ]
        );
        assert_eq!(actions[1].pod(), 1);
        assert_eq!(actions[2].pod(), 2);
        engine.clear_calls();
        let wait = crate::reconcile::Limits {
            wait_ready: true,
            ..crate::reconcile::testing::NO_WAIT
        };
        let mut seen = crate::reconcile::testing::run_with(&engine, actions, wait)
            .await
            .expect("waits");
        seen.sort();
        assert_eq!(seen, ["lab-p01-r1", "lab-p02-h1", "lab-p02-r1"]);
        // Asked from inside, never started again.
        let calls = engine.calls();
        for r1 in ["lab-p01-r1", "lab-p02-r1"] {
            assert!(calls.contains(&format!("exec {r1} sh")), "{calls:?}");
            assert!(!calls.contains(&format!("start {r1}")), "{calls:?}");
        }
    }

    #[tokio::test]
    async fn half_created_and_changed_containers_are_replaced() {
        let engine = FakeEngine::default();
        let p = plan(1);
        up(&engine, &p).await;
        {
            let mut s = engine.lock();
            // Killed between create and start: never started.
            s.containers.get_mut("lab-p01-r1").expect("r1").state = "created".into();
            // Stopped by someone: just start it again.
            s.containers.get_mut("lab-p01-h1").expect("h1").state = "exited".into();
        }
        let d = diff(&observed(&engine).await, &p, false);
        assert_eq!(
            d.actions.iter().map(Action::describe).collect::<Vec<_>>(),
            vec![
                "start container lab-p01-h1".to_string(),
                "remove container lab-p01-r1".to_string(),
                "create container lab-p01-r1".to_string(),
            ]
        );

        // A changed config changes the hash: only that node is recreated.
        let changed = plan_of(
            &TOPOLOGY.replace("h1: {kind: host}", "h1: {kind: host, exec: [\"true\"]}"),
            1,
        );
        run(&engine, d.actions).await.expect("executes");
        let d = diff(&observed(&engine).await, &changed, false);
        assert_eq!(
            d.actions.iter().map(Action::describe).collect::<Vec<_>>(),
            vec![
                "remove container lab-p01-h1".to_string(),
                "create container lab-p01-h1".to_string()
            ]
        );
    }

    #[tokio::test]
    async fn recreating_a_pod_keeps_its_networks_unless_they_differ() {
        let engine = FakeEngine::default();
        let p = plan(2);
        up(&engine, &p).await;
        let mut actions = Vec::new();
        recreate_pod(&observed(&engine).await, &p.pod_plans[&2], &mut actions);
        assert_eq!(
            actions.iter().map(Action::describe).collect::<Vec<_>>(),
            vec![
                "remove container lab-p02-h1".to_string(),
                "remove container lab-p02-r1".to_string(),
                "create container lab-p02-h1".to_string(),
                "create container lab-p02-r1".to_string(),
            ]
        );

        // A network that went missing is made again, before the containers.
        engine.lock().networks.remove("lab-p02-l1");
        let mut actions = Vec::new();
        recreate_pod(&observed(&engine).await, &p.pod_plans[&2], &mut actions);
        assert_eq!(
            actions.iter().map(Action::describe).collect::<Vec<_>>(),
            vec![
                "remove container lab-p02-h1".to_string(),
                "remove container lab-p02-r1".to_string(),
                "create network lab-p02-l1".to_string(),
                "create container lab-p02-h1".to_string(),
                "create container lab-p02-r1".to_string(),
            ]
        );
    }

    #[tokio::test]
    async fn pods_beyond_the_plan_need_prune() {
        let engine = FakeEngine::default();
        run(
            &engine,
            diff(&observed(&engine).await, &plan(3), false).actions,
        )
        .await
        .expect("executes");
        let smaller = plan(2);
        let d = diff(&observed(&engine).await, &smaller, false);
        assert_eq!(d.extra_pods, vec![3]);
        assert!(d.actions.is_empty());
        let d = diff(&observed(&engine).await, &smaller, true);
        assert!(d.actions.iter().all(|a| a.pod() == 3));
        run(&engine, d.actions).await.expect("executes");
        assert_eq!(
            observed(&engine)
                .await
                .pods()
                .into_iter()
                .collect::<Vec<_>>(),
            vec![1, 2]
        );
    }
}
