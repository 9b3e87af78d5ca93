//! From what the engine has to what the plan wants.
//!
//! `diff` is pure: it compares observed resources (found by labels) with the
//! plan, by spec hash, and returns the actions that close the gap. `execute`
//! runs them against an [`Engine`]: the shared pod first, then every pod's
//! removals and networks, then every pod's containers (nodes slow to be
//! ready before hosts), all pods at once, with at most `Limits::parallel`
//! engine operations in flight across the lab. Waiting for a started node
//! to be ready holds no engine slot: it follows the node's log.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{anyhow, Result};
use tokio::sync::Semaphore;

use crate::engine::{Created, Engine, LogFollow, ObservedContainer, ObservedNetwork};
use crate::plan::{
    labels, pod_label, ContainerSpec, FileSpec, NetworkSpec, Plan, PodPlan, SHARED_POD,
};
use crate::progress::Progress;
use crate::stop::{is_interrupted, Interrupted, Stop};

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
}

impl Action {
    pub fn pod(&self) -> u32 {
        match self {
            Action::RemoveContainer { pod, .. }
            | Action::RemoveNetwork { pod, .. }
            | Action::CreateNetwork { pod, .. }
            | Action::CreateContainer { pod, .. }
            | Action::StartContainer { pod, .. } => *pod,
        }
    }

    /// Order inside a pod: what goes must go before what comes.
    fn phase(&self) -> u8 {
        match self {
            Action::RemoveContainer { .. } => 0,
            Action::RemoveNetwork { .. } => 1,
            Action::CreateNetwork { .. } => 2,
            Action::CreateContainer { .. } | Action::StartContainer { .. } => 3,
        }
    }

    /// Whether the node this action starts is ready as soon as it runs
    /// (its kind's readiness is `true`), so it may be started last.
    fn ready_at_once(&self) -> bool {
        match self {
            Action::CreateContainer { spec, .. } => {
                crate::kinds::lookup_any(&spec.kind).is_some_and(crate::kinds::Kind::ready_at_once)
            }
            _ => false,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Action::RemoveContainer { name, .. } => format!("remove container {name}"),
            Action::RemoveNetwork { name, .. } => format!("remove network {name}"),
            Action::CreateNetwork { spec, .. } => format!("create network {}", spec.name),
            Action::CreateContainer { spec, .. } => format!("create container {}", spec.name),
            Action::StartContainer { name, .. } => format!("start container {name}"),
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
    for c in observed.pod_containers(pod.pod) {
        actions.push(Action::RemoveContainer {
            pod: pod.pod,
            name: c.name.clone(),
        });
    }
    let networks_only = Observed {
        containers: Vec::new(),
        networks: observed.pod_networks(pod.pod).cloned().collect(),
    };
    diff_pod(&networks_only, pod, actions);
}

fn diff_pod(observed: &Observed, pod: &PodPlan, actions: &mut Vec<Action>) {
    let p = pod.pod;
    let role = |n: &NetworkSpec| n.labels.get(labels::NETWORK).cloned().unwrap_or_default();
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
    actions.extend(net_actions);
    for spec in &pod.containers {
        if !kept_nodes.contains(&spec.node) {
            actions.push(Action::CreateContainer {
                pod: p,
                spec: Box::new(spec.clone()),
            });
        }
    }
}

/// Engine operations in flight by default. On a 2-core Docker 20.10 host
/// the engine floor of `bench/` takes the same time at 2 to 32 (dockerd
/// starts containers about one at a time), and its own CPU grows past 4
/// (README, "Benchmark").
pub const DEFAULT_PARALLEL: usize = 4;

/// Nodes booting at once per CPU: started, not yet seen ready (hosts, ready
/// at once, do not count). Measured on 2 CPUs with labs/bgp at 30 pods
/// (README, "Sizing"): with no bound, 60 routers booted at once, the load
/// average reached 50-75 and FRR's own start timeouts fired.
pub const BOOTING_PER_CPU: usize = 4;

/// The default bound on nodes booting at once, from the CPUs noglab may use.
pub fn default_booting() -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    (cpus * BOOTING_PER_CPU).max(2)
}

/// Tuning for `execute`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Engine operations in flight across all pods: a network created or
    /// removed, a container removed, or a container created, attached and
    /// filled, or started. Waiting for readiness takes none.
    pub parallel: usize,
    /// Nodes started and not yet ready, across all pods: a node waits for
    /// a place before its start, and keeps it until it is ready (or with
    /// `wait_ready` off, until it started). Nodes ready at once (hosts)
    /// take none.
    pub booting: usize,
    /// Wait for each started node's init and exec lines.
    pub wait_ready: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            parallel: DEFAULT_PARALLEL,
            booting: default_booting(),
            wait_ready: true,
        }
    }
}

/// Files placed in containers beside their spec's (credentials, kept out
/// of the plan), by container name.
pub type Secrets = BTreeMap<String, BTreeMap<String, FileSpec>>;

/// A node `prepare` made ready to start, to start and wait for.
struct Started {
    name: String,
    /// Created in this run, so its whole log is of this start.
    fresh: bool,
}

/// Runs the actions; every pod is tried, failures are reported together.
/// On success, the containers it started and saw ready (with
/// `Limits::wait_ready`), for `state::mark_ready`.
///
/// Once `stop` is requested no action and no engine call starts any more;
/// those in flight finish, waits for readiness are given up, and the
/// result is an [`Interrupted`] error saying how far the work got.
pub async fn execute<E: Engine>(
    engine: &E,
    actions: Vec<Action>,
    limits: Limits,
    secrets: &Secrets,
    progress: &Progress,
    stop: &Stop,
) -> Result<Vec<String>> {
    execute_then(engine, actions, limits, secrets, progress, stop, || ()).await
}

/// The phases of a pod's actions before its nodes: removals and networks.
const NETWORK_PHASES: std::ops::RangeInclusive<u8> = 0..=2;
/// The last phase: containers created or started.
const NODE_PHASES: std::ops::RangeInclusive<u8> = 3..=3;

/// `execute`, calling `networks_done` once every pod's networks are made
/// (or failed), before any pod's node is: a new lab's `up` holds the
/// address allocation lock until its networks hold its block, not while
/// its nodes start.
///
/// The lab-wide (shared) pod goes first and whole: pods attach to its
/// networks and nodes. Then every pod's removals and networks, then every
/// pod's nodes (those slow to be ready before those ready at once), all
/// pods at once behind one fair semaphore. A pod whose removals or
/// networks failed gets no nodes.
pub async fn execute_then<E: Engine>(
    engine: &E,
    actions: Vec<Action>,
    limits: Limits,
    secrets: &Secrets,
    progress: &Progress,
    stop: &Stop,
    networks_done: impl FnOnce(),
) -> Result<Vec<String>> {
    let total = actions.len();
    let mut by_pod: BTreeMap<u32, Vec<Action>> = BTreeMap::new();
    for a in actions {
        by_pod.entry(a.pod()).or_default().push(a);
    }
    progress.add(total as u64);
    let slots = Semaphore::new(limits.parallel.max(1));
    let booting = Semaphore::new(limits.booting.max(1));
    let seen_ready = std::sync::Mutex::new(Vec::new());
    let run = Run {
        engine,
        slots: &slots,
        booting: &booting,
        seen_ready: &seen_ready,
        limits,
        secrets,
        progress,
        stop,
    };
    let run = &run;
    let work = async {
        let mut outcomes: BTreeMap<u32, PodOutcome> = BTreeMap::new();
        if let Some(actions) = by_pod.remove(&SHARED_POD) {
            let mut outcome = run.phases(&actions, NETWORK_PHASES).await;
            if outcome.errors.is_empty() {
                outcome.add(run.phases(&actions, NODE_PHASES).await);
            }
            if !outcome.errors.is_empty() {
                by_pod.clear();
            }
            outcomes.insert(SHARED_POD, outcome);
        }
        let networks =
            futures_util::future::join_all(by_pod.iter().map(|(pod, actions)| async move {
                (*pod, run.phases(actions, NETWORK_PHASES).await)
            }))
            .await;
        networks_done();
        outcomes.extend(networks);
        let failed = |pod: &u32| outcomes.get(pod).is_some_and(|o| !o.errors.is_empty());
        // Nodes that take a while to be ready (routers, servers) queue for
        // the engine before those ready at once (hosts), whatever their
        // pod: the last nodes started are then quick ones, and `up` does
        // not end with a router's boot after the engine's work is done.
        let mut nodes: Vec<(u32, &Action)> = by_pod
            .iter()
            .filter(|(pod, _)| !failed(pod))
            .flat_map(|(pod, actions)| {
                actions
                    .iter()
                    .filter(|a| NODE_PHASES.contains(&a.phase()))
                    .map(move |a| (*pod, a))
            })
            .collect();
        nodes.sort_by_key(|(pod, a)| (a.ready_at_once(), *pod));
        let results = futures_util::future::join_all(
            nodes
                .into_iter()
                .map(|(pod, a)| async move { (pod, run.action(a).await) }),
        )
        .await;
        for (pod, r) in results {
            let outcome = outcomes.entry(pod).or_default();
            match r {
                Ok(()) => outcome.done += 1,
                Err(e) => outcome.errors.push(e),
            }
        }
        outcomes
    };
    // Says at once that Ctrl-C was heard; never ends by itself.
    let notice = async {
        stop.wait().await;
        progress.println(
            "interrupted: letting the engine calls in flight finish (Ctrl-C again to quit at once)",
        );
        std::future::pending::<()>().await
    };
    // In pod order, the shared one (pod 0) first.
    let outcomes = tokio::select! {
        r = work => r,
        () = notice => BTreeMap::new(),
    };
    let done: usize = outcomes.values().map(|o| o.done).sum();
    let mut failures: Vec<String> = Vec::new();
    let mut interrupted = false;
    for (pod, outcome) in outcomes {
        for e in outcome.errors {
            if is_interrupted(&e) {
                interrupted = true;
                continue;
            }
            let which = if pod == SHARED_POD {
                "shared".to_string()
            } else {
                format!("pod {pod}")
            };
            failures.push(format!("{which}: {e:#}"));
        }
    }
    if interrupted || (stop.requested() && done < total) {
        let mut message = format!(
            "stopped after {done} of {total} steps (the engine calls in flight finished first)"
        );
        if !failures.is_empty() {
            message.push_str(&format!("; before that:\n{}", failures.join("\n")));
        }
        return Err(anyhow::Error::new(Interrupted).context(message));
    }
    if failures.is_empty() {
        Ok(seen_ready.into_inner().unwrap_or_else(|e| e.into_inner()))
    } else {
        Err(anyhow!("{}", failures.join("\n")))
    }
}

/// How one pod's actions went: how many completed, and what failed.
#[derive(Default)]
struct PodOutcome {
    done: usize,
    errors: Vec<anyhow::Error>,
}

impl PodOutcome {
    fn add(&mut self, later: PodOutcome) {
        self.done += later.done;
        self.errors.extend(later.errors);
    }
}

/// What every action of one `execute` shares.
struct Run<'a, E> {
    engine: &'a E,
    /// Engine operations in flight, across all pods.
    slots: &'a Semaphore,
    /// Nodes booting, across all pods.
    booting: &'a Semaphore,
    /// Containers started and seen ready.
    seen_ready: &'a std::sync::Mutex<Vec<String>>,
    limits: Limits,
    secrets: &'a Secrets,
    progress: &'a Progress,
    stop: &'a Stop,
}

impl<E: Engine> Run<'_, E> {
    /// Runs one pod's actions of these phases, phase after phase, the
    /// actions of a phase at once; stops at the first phase with a failure.
    async fn phases(&self, actions: &[Action], phases: std::ops::RangeInclusive<u8>) -> PodOutcome {
        let mut outcome = PodOutcome::default();
        for phase in phases {
            let batch = actions.iter().filter(|a| a.phase() == phase);
            for r in futures_util::future::join_all(batch.map(|a| self.action(a))).await {
                match r {
                    Ok(()) => outcome.done += 1,
                    Err(e) => outcome.errors.push(e),
                }
            }
            // Creating on top of a failed removal would only add confusion.
            if !outcome.errors.is_empty() {
                break;
            }
        }
        outcome
    }

    /// One action: its engine work in an engine slot; for a node, its
    /// start in another once a booting place is free, then, without the
    /// engine slot, the wait until it is ready.
    async fn action(&self, a: &Action) -> Result<()> {
        let r = self.action_inner(a).await;
        self.progress.inc();
        r
    }

    async fn action_inner(&self, a: &Action) -> Result<()> {
        let prepared = {
            let _slot = self.slots.acquire().await;
            self.stop.check()?;
            self.progress.step(a.describe());
            prepare(self.engine, a, self.secrets, self.stop).await?
        };
        let Some(node) = prepared else {
            return Ok(());
        };
        let _booting = if a.ready_at_once() {
            None
        } else {
            Some(self.booting.acquire().await)
        };
        {
            let _slot = self.slots.acquire().await;
            self.stop.check()?;
            self.engine.start(&node.name).await?;
        }
        if !self.limits.wait_ready {
            return Ok(());
        }
        self.stop
            .abandon_on(wait_ready(self.engine, &node.name, node.fresh))
            .await?;
        self.seen_ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(node.name);
        Ok(())
    }
}

/// Whether the network is there as planned (labels and hash): an `up`
/// killed while Docker was creating it leaves it to appear after this `up`
/// looked at the engine. Then it is this lab's, and reused.
async fn planned_network_exists<E: Engine>(engine: &E, spec: &NetworkSpec) -> Result<bool> {
    let Some(lab) = spec.labels.get(labels::LAB) else {
        return Ok(false);
    };
    let hash = spec.labels.get(labels::HASH).map(String::as_str);
    Ok(engine
        .networks(crate::engine::Scope::Lab(lab))
        .await?
        .iter()
        .any(|n| n.name == spec.name && hash.is_some() && n.label(labels::HASH) == hash))
}

/// Removes networks of this name that carry this lab's labels but not the
/// planned spec; true when there were any.
async fn remove_stale_network<E: Engine>(engine: &E, spec: &NetworkSpec) -> Result<bool> {
    let Some(lab) = spec.labels.get(labels::LAB) else {
        return Ok(false);
    };
    let stale: Vec<String> = engine
        .networks(crate::engine::Scope::Lab(lab))
        .await?
        .into_iter()
        .filter(|n| {
            n.name == spec.name
                && n.label(labels::HASH) != spec.labels.get(labels::HASH).map(String::as_str)
        })
        .map(|n| n.id)
        .collect();
    for id in &stale {
        engine.remove_network(id).await?;
    }
    Ok(!stale.is_empty())
}

/// The engine work of one action but a node's start: the node to start
/// is returned.
async fn prepare<E: Engine>(
    engine: &E,
    action: &Action,
    secrets: &Secrets,
    stop: &Stop,
) -> Result<Option<Started>> {
    match action {
        Action::RemoveContainer { name, .. } => engine.remove_container(name).await.map(|_| None),
        Action::RemoveNetwork { name, .. } => engine.remove_network(name).await.map(|_| None),
        Action::CreateNetwork { spec, .. } => match engine.create_network(spec).await? {
            Created::New => Ok(None),
            Created::Existed if planned_network_exists(engine, spec).await? => Ok(None),
            // An interrupted `up` of this lab finished creating it after we
            // looked, from another plan (another block): it is stale, and
            // ours to replace.
            Created::Existed if remove_stale_network(engine, spec).await? => {
                stop.check()?;
                match engine.create_network(spec).await? {
                    Created::New => Ok(None),
                    Created::Existed if planned_network_exists(engine, spec).await? => Ok(None),
                    Created::Existed => Err(anyhow!(
                        "failed to create network {}: it keeps coming back; is another noglab running on this lab?",
                        spec.name
                    )),
                }
            }
            Created::Existed => Err(anyhow!(
                "failed to create network {}: a network of that name exists without this lab's labels; remove it or rename the lab",
                spec.name
            )),
        },
        // Stopped between two of its calls, a container is left created
        // but not started: the next `up` replaces it (see `diff_pod`).
        Action::CreateContainer { spec, .. } => {
            if engine.create_container(spec).await? == Created::Existed {
                return Err(anyhow!(
                    "failed to create container {}: a container of that name exists without this lab's labels; remove it or rename the lab",
                    spec.name
                ));
            }
            for a in &spec.links {
                stop.check()?;
                engine.connect(&spec.name, a).await?;
            }
            stop.check()?;
            match secrets.get(&spec.name) {
                Some(extra) => {
                    let mut files = spec.files.clone();
                    files.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
                    engine.upload(&spec.name, &files).await?;
                }
                None => engine.upload(&spec.name, &spec.files).await?,
            }
            Ok(Some(Started {
                name: spec.name.clone(),
                fresh: true,
            }))
        }
        Action::StartContainer { name, .. } => Ok(Some(Started {
            name: name.clone(),
            fresh: false,
        })),
    }
}

/// How long a node may take to be ready: the init's own limit
/// (NOGLAB_READY_TIMEOUT, 120 s) and some.
const READY_TIMEOUT: Duration = Duration::from_secs(150);

/// The lines noglab-init logs when its readiness job ends or it fails.
const READY_LINE: &str = "noglab-init: ready after ";
const END_LINES: &[&str] = &[
    READY_LINE,
    "noglab-init: not ready after ",
    "noglab-init: error: ",
];

/// Waits until the node's init has set up the interfaces, the kind is ready
/// and the exec lines ran; fails with their output otherwise.
///
/// A `fresh` node (created in this run) is followed through its log, where
/// the init says when it is done: the engine only reads a file it keeps,
/// runs nothing in the node and is not polled. A node started again has
/// its last start in its log too, so it, and a node whose exec lines
/// failed (for their output), is asked from inside with an exec.
pub async fn wait_ready<E: Engine>(engine: &E, container: &str, fresh: bool) -> Result<()> {
    if fresh {
        // An engine that cannot read this log (another logging driver)
        // leaves the answer to the exec.
        match engine
            .first_log_line(container, END_LINES, READY_TIMEOUT)
            .await
            .unwrap_or(LogFollow::Ended)
        {
            LogFollow::Line(line)
                if line.starts_with(READY_LINE) && line.trim_end().ends_with(" rc=0") =>
            {
                return Ok(())
            }
            LogFollow::Line(line) if line.starts_with("noglab-init: error: ") => {
                return Err(anyhow!("{container} did not come up: {}", line.trim_end()))
            }
            // The init gives up on readiness before this: without a word
            // from it, the exec below would only wait as long again.
            LogFollow::TimedOut => {
                return Err(anyhow!(
                    "{container} did not come up: its init said nothing in {}s (does its image start with noglab-init?)",
                    READY_TIMEOUT.as_secs()
                ))
            }
            LogFollow::Line(_) | LogFollow::Ended => {}
        }
    }
    let script = "i=0; while [ ! -s /run/noglab/exec.rc ]; do i=$((i+1)); [ $i -gt 1500 ] && { echo 'timed out waiting for the node to become ready'; exit 124; }; sleep 0.1; done; rc=$(cat /run/noglab/exec.rc); [ \"$rc\" = 0 ] || cat /run/noglab/exec.log; exit $rc";
    let cmd = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
    let out = engine.exec(container, &cmd).await?;
    if out.code != 0 {
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let text = if text.is_empty() {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        } else {
            text
        };
        return Err(anyhow!(
            "{container} did not come up (exit {}): {}",
            out.code,
            text
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::engine::Scope;
    use crate::topology::load_str;

    const TOPOLOGY: &str = "name: lab\nnodes:\n  r1: {kind: frr}\n  h1: {kind: host}\nlinks:\n  - endpoints: [r1, h1]\n    ipv4: \"100.64.{{ pod }}.0/31\"\n";

    fn plan(pods: u32) -> Plan {
        plan_of(TOPOLOGY, pods)
    }

    fn plan_of(source: &str, pods: u32) -> Plan {
        let loaded = load_str(std::path::Path::new("t.yml"), source.to_string(), |_| {
            Err("no files".into())
        })
        .expect("valid topology");
        crate::plan::expand(&loaded, pods, "198.18.0.0/18".parse().expect("block")).expect("plans")
    }

    async fn observed(engine: &FakeEngine) -> Observed {
        Observed {
            containers: engine.containers(Scope::Lab("lab")).await.expect("list"),
            networks: engine.networks(Scope::Lab("lab")).await.expect("list"),
        }
    }

    fn quiet() -> Progress {
        Progress::new(true)
    }

    /// Executes actions without waiting for readiness or credentials.
    async fn run(engine: &FakeEngine, actions: Vec<Action>) -> Result<()> {
        execute(
            engine,
            actions,
            NO_WAIT,
            &Secrets::new(),
            &quiet(),
            &Stop::never(),
        )
        .await
        .map(|_| ())
    }

    const NO_WAIT: Limits = Limits {
        parallel: 2,
        booting: 8,
        wait_ready: false,
    };

    #[tokio::test]
    async fn creates_everything_then_nothing() {
        let engine = FakeEngine::default();
        let p = plan(2);
        let d = diff(&observed(&engine).await, &p, false);
        assert_eq!(
            d.actions
                .iter()
                .filter(|a| matches!(a, Action::CreateNetwork { .. }))
                .count(),
            4
        );
        assert_eq!(
            d.actions
                .iter()
                .filter(|a| matches!(a, Action::CreateContainer { .. }))
                .count(),
            4
        );
        run(&engine, d.actions).await.expect("executes");

        // Within a pod, networks exist before the containers that use them,
        // and each container is attached, filled and started in that order.
        let calls = engine.calls();
        let pos = |c: &str| {
            calls
                .iter()
                .position(|x| x == c)
                .unwrap_or_else(|| panic!("no call {c}: {calls:?}"))
        };
        assert!(pos("create network lab-p01-l1") < pos("create container lab-p01-r1"));
        assert!(pos("create container lab-p01-r1") < pos("connect lab-p01-r1 lab-p01-l1"));
        // r1's files: its interfaces, readiness, health and daemons.
        assert!(pos("connect lab-p01-r1 lab-p01-l1") < pos("upload lab-p01-r1 4"));
        assert!(pos("upload lab-p01-r1 4") < pos("start lab-p01-r1"));

        let again = diff(&observed(&engine).await, &p, false);
        assert_eq!(again, Diff::default(), "a complete lab needs nothing");
    }

    #[tokio::test]
    async fn a_network_created_after_the_diff_is_reused_if_planned() {
        let engine = FakeEngine::default();
        let p = plan(1);
        let actions = diff(&observed(&engine).await, &p, false).actions;
        // An interrupted `up` had asked for pod 1's link network: Docker
        // finishes it after this `up` looked.
        let l1 = p.pod_plans[&1]
            .networks
            .iter()
            .find(|n| n.name == "lab-p01-l1")
            .expect("l1");
        engine.create_network(l1).await.expect("created");
        run(&engine, actions)
            .await
            .expect("the planned network is reused");

        // One of that name that is not this lab's is still refused.
        let engine = FakeEngine::default();
        let actions = diff(&observed(&engine).await, &p, false).actions;
        let mut foreign = l1.clone();
        foreign.labels.remove(labels::LAB);
        engine.create_network(&foreign).await.expect("created");
        let err = run(&engine, actions)
            .await
            .expect_err("a foreign network is not taken");
        assert!(
            format!("{err:#}").contains("exists without this lab's labels"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn ctrl_c_starts_no_new_call_and_up_again_completes_without_duplicates() {
        let engine = FakeEngine::default();
        let p = plan(2);
        let stop = Stop::never();
        // Ctrl-C while pod 1's router is being created; one action at a time
        // so that what "after" means is certain.
        engine.lock().stop_on = Some(("create container lab-p01-r1".into(), stop.clone()));
        let actions = diff(&observed(&engine).await, &p, false).actions;
        let total = actions.len();
        let serial = Limits {
            parallel: 1,
            booting: 1,
            wait_ready: false,
        };
        let err = execute(&engine, actions, serial, &Secrets::new(), &quiet(), &stop)
            .await
            .expect_err("interrupted");
        assert!(is_interrupted(&err), "{err:#}");
        // Every pod's two networks were done (networks come before any node,
        // routers before hosts); pod 1's router's create was in flight.
        assert_eq!(
            format!("{err}"),
            format!("stopped after 4 of {total} steps (the engine calls in flight finished first)")
        );
        let calls = engine.calls();
        assert_eq!(
            calls.last().map(String::as_str),
            Some("create container lab-p01-r1"),
            "nothing started after the Ctrl-C: {calls:?}"
        );
        assert!(
            !calls.iter().any(|c| c.contains("container lab-p02")),
            "{calls:?}"
        );

        // The router was left created, never started: `up` again replaces it
        // and completes the lab, with one of everything.
        let d = diff(&observed(&engine).await, &p, false);
        assert!(
            d.actions.contains(&Action::RemoveContainer {
                pod: 1,
                name: "lab-p01-r1".into()
            }),
            "{:?}",
            d.actions
        );
        run(&engine, d.actions).await.expect("up again completes");
        let again = observed(&engine).await;
        assert_eq!(again.containers.len(), 4);
        assert_eq!(again.networks.len(), 4);
        assert!(again.containers.iter().all(|c| c.state == "running"));
        assert_eq!(diff(&again, &p, false), Diff::default());
    }

    #[tokio::test]
    async fn half_created_and_changed_containers_are_replaced() {
        let engine = FakeEngine::default();
        let p = plan(1);
        run(&engine, diff(&observed(&engine).await, &p, false).actions)
            .await
            .expect("executes");
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
    async fn a_new_node_is_waited_for_through_its_log_a_restarted_one_from_inside() {
        let engine = FakeEngine::default();
        engine.lock().log = vec![
            "noglab-init: eth1 (was eth2, 198.18.0.10): 100.64.1.0/31".into(),
            "noglab-init: ready after 2s; exec.sh rc=0".into(),
        ];
        wait_ready(&engine, "lab-p01-r1", true)
            .await
            .expect("ready");
        assert_eq!(engine.calls(), vec!["follow log lab-p01-r1".to_string()]);

        // Its log holds earlier starts: ask inside.
        engine.clear_calls();
        wait_ready(&engine, "lab-p01-r1", false)
            .await
            .expect("ready");
        assert_eq!(engine.calls(), vec!["exec lab-p01-r1 sh".to_string()]);

        // Exec lines failed: their output comes from inside.
        engine.clear_calls();
        engine.lock().log = vec!["noglab-init: ready after 2s; exec.sh rc=1".into()];
        wait_ready(&engine, "lab-p01-r1", true)
            .await
            .expect("the fake's exec says 0");
        assert_eq!(
            engine.calls(),
            vec![
                "follow log lab-p01-r1".to_string(),
                "exec lab-p01-r1 sh".to_string()
            ]
        );

        // The init gave up: its message is the answer.
        engine.lock().log = vec!["noglab-init: error: cannot set eth1 up".into()];
        let err = wait_ready(&engine, "lab-p01-r1", true)
            .await
            .expect_err("init failed");
        assert_eq!(
            format!("{err:#}"),
            "lab-p01-r1 did not come up: noglab-init: error: cannot set eth1 up"
        );

        // No word from an init in all that time (an image without one):
        // asking inside would only wait as long again.
        engine.clear_calls();
        {
            let mut s = engine.lock();
            s.log = vec!["listening on 0.0.0.0:80".into()];
            s.log_times_out = true;
        }
        let err = wait_ready(&engine, "lab-p01-r1", true)
            .await
            .expect_err("never ready");
        assert!(
            format!("{err:#}")
                .starts_with("lab-p01-r1 did not come up: its init said nothing in 150s"),
            "{err:#}"
        );
        assert_eq!(engine.calls(), vec!["follow log lab-p01-r1".to_string()]);
    }

    #[tokio::test]
    async fn execute_names_the_nodes_it_saw_ready_and_only_when_it_waited() {
        let engine = FakeEngine::default();
        engine.lock().log = vec!["noglab-init: ready after 1s; exec.sh rc=0".into()];
        let p = plan(2);
        let actions = diff(&observed(&engine).await, &p, false).actions;
        let wait = Limits {
            parallel: 2,
            booting: 8,
            wait_ready: true,
        };
        let mut seen = execute(
            &engine,
            actions,
            wait,
            &Secrets::new(),
            &quiet(),
            &Stop::never(),
        )
        .await
        .expect("executes");
        seen.sort();
        assert_eq!(
            seen,
            ["lab-p01-h1", "lab-p01-r1", "lab-p02-h1", "lab-p02-r1"]
        );

        let mut actions = Vec::new();
        recreate_pod(&observed(&engine).await, &p.pod_plans[&2], &mut actions);
        let seen = execute(
            &engine,
            actions,
            NO_WAIT,
            &Secrets::new(),
            &quiet(),
            &Stop::never(),
        )
        .await
        .expect("executes");
        assert!(seen.is_empty(), "not waited for: {seen:?}");
    }

    #[tokio::test]
    async fn recreating_a_pod_keeps_its_networks_unless_they_differ() {
        let engine = FakeEngine::default();
        let p = plan(2);
        run(&engine, diff(&observed(&engine).await, &p, false).actions)
            .await
            .expect("executes");
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

    /// The routers' starts and the waits for them, in call order.
    async fn boot_order(booting: usize) -> Vec<String> {
        let engine = FakeEngine::default();
        engine.lock().log = vec!["noglab-init: ready after 1s; exec.sh rc=0".into()];
        let limits = Limits {
            parallel: 4,
            booting,
            wait_ready: true,
        };
        let actions = diff(&observed(&engine).await, &plan(3), false).actions;
        execute(
            &engine,
            actions,
            limits,
            &Secrets::new(),
            &quiet(),
            &Stop::never(),
        )
        .await
        .expect("executes");
        engine
            .calls()
            .into_iter()
            .filter(|c| {
                c.ends_with("-r1") && (c.starts_with("start ") || c.starts_with("follow log "))
            })
            .map(|c| c.replace("follow log", "ready"))
            .collect()
    }

    #[tokio::test]
    async fn no_more_nodes_boot_at_once_than_allowed_and_hosts_do_not_count() {
        // One at a time: each router is ready before the next starts.
        assert_eq!(
            boot_order(1).await,
            [
                "start lab-p01-r1",
                "ready lab-p01-r1",
                "start lab-p02-r1",
                "ready lab-p02-r1",
                "start lab-p03-r1",
                "ready lab-p03-r1",
            ]
        );
        // Three at once: all three start before the first is waited for.
        let three = boot_order(3).await;
        assert!(
            three[..3].iter().all(|c| c.starts_with("start ")),
            "{three:?}"
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

    #[tokio::test]
    async fn nodes_slow_to_be_ready_start_before_hosts_in_every_pod() {
        let engine = FakeEngine::default();
        let p = plan(3);
        run(&engine, diff(&observed(&engine).await, &p, false).actions)
            .await
            .expect("executes");
        let creates: Vec<String> = engine
            .calls()
            .into_iter()
            .filter_map(|c| c.strip_prefix("create container ").map(String::from))
            .collect();
        assert_eq!(
            creates,
            [
                "lab-p01-r1",
                "lab-p02-r1",
                "lab-p03-r1",
                "lab-p01-h1",
                "lab-p02-h1",
                "lab-p03-h1"
            ]
        );
    }

    #[tokio::test]
    async fn networks_done_comes_between_every_network_and_the_first_node() {
        let engine = FakeEngine::default();
        // Pod 2 cannot make a network: it gets no nodes, the others do.
        engine.lock().fail_on = Some("create network lab-p02-l1".into());
        let p = plan(3);
        let calls_then = std::sync::Mutex::new(None);
        let err = execute_then(
            &engine,
            diff(&observed(&engine).await, &p, false).actions,
            NO_WAIT,
            &Secrets::new(),
            &quiet(),
            &Stop::never(),
            || *calls_then.lock().expect("lock") = Some(engine.calls().len()),
        )
        .await
        .expect_err("pod 2 fails");
        assert_eq!(
            format!("{err:#}"),
            "pod 2: failed to create network lab-p02-l1: injected failure"
        );
        let calls = engine.calls();
        let then = calls_then
            .into_inner()
            .expect("lock")
            .expect("networks_done was called");
        let (before, after) = calls.split_at(then);
        assert!(
            before.iter().all(|c| c.starts_with("create network")),
            "{before:?}"
        );
        assert_eq!(before.len(), 5, "every other network first: {before:?}");
        assert!(
            after.iter().all(|c| !c.starts_with("create network")),
            "{after:?}"
        );
        assert!(after.iter().all(|c| !c.contains("-p02-")), "{after:?}");
        for pod in ["p01", "p03"] {
            for node in ["h1", "r1"] {
                assert!(
                    after.contains(&format!("start lab-{pod}-{node}")),
                    "{after:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_failing_pod_does_not_stop_the_others_and_up_again_completes() {
        let engine = FakeEngine::default();
        engine.lock().fail_on = Some("start lab-p02-r1".into());
        let p = plan(3);
        let err = run(&engine, diff(&observed(&engine).await, &p, false).actions)
            .await
            .expect_err("pod 2 fails");
        let text = format!("{err:#}");
        assert!(
            text.starts_with("pod 2: failed to start lab-p02-r1"),
            "{text}"
        );
        assert!(!text.contains("pod 1") && !text.contains("pod 3"), "{text}");

        // The next run replaces the node that never started, nothing else.
        let d = diff(&observed(&engine).await, &p, false);
        assert_eq!(
            d.actions.iter().map(Action::describe).collect::<Vec<_>>(),
            vec![
                "remove container lab-p02-r1".to_string(),
                "create container lab-p02-r1".to_string()
            ]
        );
        run(&engine, d.actions).await.expect("completes");
        assert_eq!(diff(&observed(&engine).await, &p, false), Diff::default());
    }
}
