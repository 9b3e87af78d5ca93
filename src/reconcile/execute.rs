//! The async half of the reconciler: runs a diff's actions against an
//! engine, bounded. One bound on the engine operations in flight across
//! the lab (`Limits::parallel`), another on the nodes started and not yet
//! ready (`Limits::booting`); waiting for readiness (`super::ready`) holds
//! no engine slot. Every pod is tried and failures are reported together;
//! a Ctrl-C lets the calls in flight finish and says how far the work got.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use tokio::sync::Semaphore;

use super::diff::Action;
use super::ready::wait_ready;
use super::timeline::{Step, Timeline};
use crate::engine::{Created, Engine, Scope};
use crate::plan::{labels, FileSpec, NetworkSpec, SHARED_POD};
use crate::progress::Progress;
use crate::stop::{is_interrupted, Interrupted, Stop};

/// Engine operations in flight by default. On a 2-core Docker 20.10 host
/// the engine floor of `bench/` takes the same time at 2 to 32 (dockerd
/// starts containers about one at a time), and its own CPU grows past 4
/// (README, "Benchmark").
pub const DEFAULT_PARALLEL: usize = 4;

/// Nodes booting at once per CPU: started, not yet seen ready (hosts, ready
/// at once, do not count). Measured on 2 CPUs with labs/bgp at 30 pods
/// (docs/sizing.md): with no bound, 60 routers booted at once, the load
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

/// Order inside a pod: what goes must go before what comes.
fn phase(a: &Action) -> u8 {
    match a {
        Action::RemoveContainer { .. } => 0,
        Action::RemoveNetwork { .. } => 1,
        Action::CreateNetwork { .. } => 2,
        Action::CreateContainer { .. }
        | Action::StartContainer { .. }
        | Action::WaitReady { .. } => 3,
    }
}

/// The first phase, every pod's at once: containers removed.
const REMOVAL_PHASES: std::ops::RangeInclusive<u8> = 0..=0;
/// The phases of a pod's actions between its container removals and its
/// nodes: networks removed and created.
const NETWORK_PHASES: std::ops::RangeInclusive<u8> = 1..=2;
/// The last phase: containers created or started.
const NODE_PHASES: std::ops::RangeInclusive<u8> = 3..=3;

/// Pods making their networks at once, while the pods before them create
/// and start their nodes.
const PODS_NETWORKING: usize = 2;

/// Whether the node this action starts is ready as soon as it runs (its
/// kind's readiness is `true`), so it may be started last.
fn ready_at_once(a: &Action) -> bool {
    match a {
        Action::CreateContainer { spec, .. } => {
            crate::kinds::lookup_any(&spec.kind).is_some_and(crate::kinds::Kind::ready_at_once)
        }
        _ => false,
    }
}

/// A node `prepare` made ready to start, to start and wait for.
struct Started {
    name: String,
    /// Created in this run, so its whole log is of this start.
    fresh: bool,
    /// Already running: only its readiness is left to wait for.
    running: bool,
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

/// `execute`, calling `networks_done` once every pod's networks are made
/// (or failed), before any pod's node is: a new lab's `up` holds the
/// address allocation lock until its networks hold its block, not while
/// its nodes start.
///
/// Every pod's stale containers go first, the lab-wide (shared) pod's
/// too: a lab-wide network that changed can only be removed once the
/// pods' nodes attached to it are. Then the lab-wide pod's networks and
/// nodes: pods attach to them. Then every pod's networks, then every pod's
/// nodes (those slow to be ready before those ready at once), all pods at
/// once behind one fair semaphore. A pod whose removals or networks failed
/// gets no nodes.
pub async fn execute_then<E: Engine>(
    engine: &E,
    actions: Vec<Action>,
    limits: Limits,
    secrets: &Secrets,
    progress: &Progress,
    stop: &Stop,
    networks_done: impl FnOnce(),
) -> Result<Vec<String>> {
    let (result, seen_ready) = execute_seeing(
        engine,
        actions,
        limits,
        secrets,
        progress,
        stop,
        networks_done,
        None,
    )
    .await;
    result.map(|()| seen_ready)
}

/// `execute_then`, with the containers it saw ready whatever the outcome:
/// a run that failed or was interrupted saw some ready all the same. Each
/// engine step is recorded in `timeline` when one is given.
#[allow(clippy::too_many_arguments)]
pub async fn execute_seeing<E: Engine>(
    engine: &E,
    actions: Vec<Action>,
    limits: Limits,
    secrets: &Secrets,
    progress: &Progress,
    stop: &Stop,
    networks_done: impl FnOnce(),
    timeline: Option<&Timeline>,
) -> (Result<()>, Vec<String>) {
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
        timeline,
    };
    // Says at once that Ctrl-C was heard; never ends by itself.
    let notice = async {
        stop.wait().await;
        progress.println(
            "interrupted: letting the engine calls in flight finish (Ctrl-C again to quit at once)",
        );
        std::future::pending::<()>().await
    };
    let outcomes = tokio::select! {
        r = run.all(by_pod, networks_done) => r,
        () = notice => BTreeMap::new(),
    };
    let result = conclude(outcomes, total, stop);
    (
        result,
        seen_ready.into_inner().unwrap_or_else(|e| e.into_inner()),
    )
}

/// The result of a run from how each pod's actions went (in pod order, the
/// shared one, pod 0, first): what failed, or how far an interrupted run
/// got.
fn conclude(outcomes: BTreeMap<u32, PodOutcome>, total: usize, stop: &Stop) -> Result<()> {
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
        Ok(())
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

    fn record(&mut self, result: Result<()>) {
        match result {
            Ok(()) => self.done += 1,
            Err(e) => self.errors.push(e),
        }
    }

    fn failed(&self) -> bool {
        !self.errors.is_empty()
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
    timeline: Option<&'a Timeline>,
}

impl<E: Engine> Run<'_, E> {
    /// Every pod's actions in the order `execute_then` describes; how each
    /// pod's went.
    async fn all(
        &self,
        mut by_pod: BTreeMap<u32, Vec<Action>>,
        networks_done: impl FnOnce(),
    ) -> BTreeMap<u32, PodOutcome> {
        // Every pod's stale containers go first, the lab-wide pod's with
        // them: a lab-wide network that changed (renamed, readdressed) can
        // only go once the pods' nodes attached to it have.
        let mut outcomes: BTreeMap<u32, PodOutcome> =
            futures_util::future::join_all(by_pod.iter().map(|(pod, actions)| async move {
                (*pod, self.phases(actions, REMOVAL_PHASES).await)
            }))
            .await
            .into_iter()
            .collect();
        by_pod.retain(|pod, _| !outcomes.get(pod).is_some_and(PodOutcome::failed));
        if let Some(actions) = by_pod.remove(&SHARED_POD) {
            let outcome = self.shared(&actions).await;
            if outcome.failed() {
                by_pod.clear();
            }
            outcomes.entry(SHARED_POD).or_default().add(outcome);
        }
        // Each pod's nodes follow its own networks, while other pods'
        // networks are still being made: dockerd makes networks one at a
        // time and leaves the CPUs mostly idle meanwhile (measured at 10
        // pods of 3 routers and a host: 3 s of network creation with the 2
        // CPUs 60 % idle), which the first pods' routers now boot in.
        let networks_left = std::sync::atomic::AtomicUsize::new(by_pod.len());
        let networks_done = std::sync::Mutex::new(Some(networks_done));
        let (all_networks, networks_made) = tokio::sync::watch::channel(false);
        // Pods make their networks a few at a time: all at once, every
        // network would queue for the engine ahead of the first node.
        let networking = Semaphore::new(PODS_NETWORKING);
        let pod_runs = by_pod.iter().map(|(pod, actions)| {
            let networks_made = networks_made.clone();
            let all_networks = &all_networks;
            let networks_left = &networks_left;
            let networks_done = &networks_done;
            let networking = &networking;
            async move {
                let mut outcome = {
                    let _turn = networking.acquire().await;
                    self.phases(actions, NETWORK_PHASES).await
                };
                if networks_left.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                    if let Some(done) = networks_done
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take()
                    {
                        done();
                    }
                    all_networks.send_replace(true);
                }
                if !outcome.failed() {
                    for r in self.nodes(actions, networks_made).await {
                        outcome.record(r);
                    }
                }
                (*pod, outcome)
            }
        });
        for (pod, outcome) in futures_util::future::join_all(pod_runs).await {
            outcomes.entry(pod).or_default().add(outcome);
        }
        outcomes
    }

    /// The lab-wide pod, but its container removals: its networks, then
    /// its nodes.
    async fn shared(&self, actions: &[Action]) -> PodOutcome {
        let mut outcome = self.phases(actions, NETWORK_PHASES).await;
        if !outcome.failed() {
            outcome.add(self.phases(actions, NODE_PHASES).await);
        }
        outcome
    }

    /// One pod's nodes, each action's result. Nodes that take a while to
    /// be ready (routers, servers) queue for the engine at once; those
    /// ready at once (hosts) only once every pod's networks are made, so
    /// behind every pod's slow nodes: the last nodes started are then
    /// quick ones, and `up` does not end with a router's boot after the
    /// engine's work is done.
    async fn nodes(
        &self,
        actions: &[Action],
        mut networks_made: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<Result<()>> {
        let (quick, slow): (Vec<&Action>, Vec<&Action>) = actions
            .iter()
            .filter(|a| NODE_PHASES.contains(&phase(a)))
            .partition(|a| ready_at_once(a));
        let slow = futures_util::future::join_all(slow.into_iter().map(|a| self.action(a)));
        let quick = async {
            if !quick.is_empty() {
                // Closed only if every sender is gone, which ends the run.
                let _ = networks_made.wait_for(|made| *made).await;
            }
            futures_util::future::join_all(quick.into_iter().map(|a| self.action(a))).await
        };
        let (mut results, quick) = futures_util::future::join(slow, quick).await;
        results.extend(quick);
        results
    }

    /// Runs one pod's actions of these phases, phase after phase, the
    /// actions of a phase at once; stops at the first phase with a failure.
    async fn phases(&self, actions: &[Action], phases: std::ops::RangeInclusive<u8>) -> PodOutcome {
        let mut outcome = PodOutcome::default();
        for p in phases {
            let batch = actions.iter().filter(|a| phase(a) == p);
            for r in futures_util::future::join_all(batch.map(|a| self.action(a))).await {
                outcome.record(r);
            }
            // Creating on top of a failed removal would only add confusion.
            if outcome.failed() {
                break;
            }
        }
        outcome
    }

    /// Records a step that began at `from`, when a timeline is kept.
    fn mark(&self, step: Step, from: std::time::Instant) {
        if let Some(t) = self.timeline {
            t.record(step, from);
        }
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
            prepare(self.engine, a, self.secrets, self.stop, self.timeline).await?
        };
        let Some(node) = prepared else {
            return Ok(());
        };
        let waited_from = std::time::Instant::now();
        let _booting = if ready_at_once(a) {
            None
        } else {
            let place = self.booting.acquire().await;
            self.mark(Step::WaitBooting, waited_from);
            Some(place)
        };
        let booted_from = std::time::Instant::now();
        if !node.running {
            let _slot = self.slots.acquire().await;
            self.stop.check()?;
            let from = std::time::Instant::now();
            self.engine.start(&node.name).await?;
            self.mark(Step::Start, from);
        }
        if !self.limits.wait_ready {
            return Ok(());
        }
        self.stop
            .abandon_on(wait_ready(self.engine, &node.name, node.fresh))
            .await?;
        self.mark(Step::Boot, booted_from);
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
        .networks(Scope::Lab(lab))
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
        .networks(Scope::Lab(lab))
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
    timeline: Option<&Timeline>,
) -> Result<Option<Started>> {
    let from = std::time::Instant::now();
    let mark = |step| {
        if let Some(t) = timeline {
            t.record(step, from);
        }
    };
    match action {
        Action::RemoveContainer { name, .. } => {
            engine.remove_container(name).await?;
            mark(Step::RemoveContainer);
            Ok(None)
        }
        Action::RemoveNetwork { name, .. } => {
            engine.remove_network(name).await?;
            mark(Step::RemoveNetwork);
            Ok(None)
        }
        Action::CreateNetwork { spec, .. } => {
            create_network(engine, spec, stop).await?;
            mark(Step::CreateNetwork);
            Ok(None)
        }
        Action::CreateContainer { spec, .. } => {
            create_container(engine, spec, secrets, stop, timeline).await?;
            Ok(Some(Started {
                name: spec.name.clone(),
                fresh: true,
                running: false,
            }))
        }
        Action::StartContainer { name, .. } => Ok(Some(Started {
            name: name.clone(),
            fresh: false,
            running: false,
        })),
        Action::WaitReady { name, .. } => Ok(Some(Started {
            name: name.clone(),
            fresh: false,
            running: true,
        })),
    }
}

/// Creates a planned network, or takes the one of its name that this lab
/// planned; replaces one this lab left from another plan.
async fn create_network<E: Engine>(engine: &E, spec: &NetworkSpec, stop: &Stop) -> Result<()> {
    match engine.create_network(spec).await? {
        Created::New => Ok(()),
        Created::Existed if planned_network_exists(engine, spec).await? => Ok(()),
        // An interrupted `up` of this lab finished creating it after we
        // looked, from another plan (another block): it is stale, and
        // ours to replace.
        Created::Existed if remove_stale_network(engine, spec).await? => {
            stop.check()?;
            match engine.create_network(spec).await? {
                Created::New => Ok(()),
                Created::Existed if planned_network_exists(engine, spec).await? => Ok(()),
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
    }
}

/// Creates a container, attaches it to its links and copies its files (and
/// its secrets) in. Stopped between two of these calls, a container is left
/// created but not started: the next `up` replaces it (see `diff`).
async fn create_container<E: Engine>(
    engine: &E,
    spec: &crate::plan::ContainerSpec,
    secrets: &Secrets,
    stop: &Stop,
    timeline: Option<&Timeline>,
) -> Result<()> {
    let from = std::time::Instant::now();
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
    let files_from = std::time::Instant::now();
    if let Some(t) = timeline {
        t.record(Step::Create, from);
    }
    match secrets.get(&spec.name) {
        Some(extra) => {
            let mut files = spec.files.clone();
            files.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            engine.upload(&spec.name, &files).await?;
        }
        None => engine.upload(&spec.name, &spec.files).await?,
    }
    if let Some(t) = timeline {
        t.record(Step::Files, files_from);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::reconcile::diff::{diff, recreate_pod, Diff};
    use crate::reconcile::testing::{observed, plan, quiet, run, run_with, NO_WAIT};

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
        // Pod 1's two networks were done (a pod's nodes follow its own
        // networks); its router's create was in flight.
        assert_eq!(
            format!("{err}"),
            format!("stopped after 2 of {total} steps (the engine calls in flight finished first)")
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
        let mut seen = run_with(&engine, actions, wait).await.expect("executes");
        seen.sort();
        assert_eq!(
            seen,
            ["lab-p01-h1", "lab-p01-r1", "lab-p02-h1", "lab-p02-r1"]
        );

        let mut actions = Vec::new();
        recreate_pod(&observed(&engine).await, &p.pod_plans[&2], &mut actions);
        let seen = run_with(&engine, actions, NO_WAIT).await.expect("executes");
        assert!(seen.is_empty(), "not waited for: {seen:?}");
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
        run_with(&engine, actions, limits).await.expect("executes");
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
        assert_eq!(creates.len(), 6, "{creates:?}");
        let (routers, hosts) = creates.split_at(3);
        assert!(routers.iter().all(|c| c.ends_with("-r1")), "{creates:?}");
        assert!(hosts.iter().all(|c| c.ends_with("-h1")), "{creates:?}");
    }

    #[tokio::test]
    async fn a_pods_nodes_follow_its_networks_and_networks_done_follows_the_last_network() {
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
        assert_eq!(
            before
                .iter()
                .filter(|c| c.starts_with("create network"))
                .count(),
            5,
            "every other network before networks_done: {calls:?}"
        );
        assert!(
            after.iter().all(|c| !c.starts_with("create network")),
            "{after:?}"
        );
        // Pod 1's router was on its way while pod 3 still made networks.
        let at = |call: &str| calls.iter().position(|c| c == call).expect(call);
        assert!(
            at("create container lab-p01-r1") < at("create network lab-p03-l1"),
            "{calls:?}"
        );
        // Hosts wait for every network, behind every pod's routers.
        assert!(before.iter().all(|c| !c.contains("-h1")), "{before:?}");
        assert!(
            calls.iter().all(|c| !c.contains("container lab-p02-")),
            "{calls:?}"
        );
        for pod in ["p01", "p03"] {
            for node in ["h1", "r1"] {
                assert!(
                    calls.contains(&format!("start lab-{pod}-{node}")),
                    "{calls:?}"
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
