//! `noglab up FILE`: create what the plan has and the engine lacks.
//! Idempotent: run again after an interruption, it completes the lab.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::changes;
use crate::cli::UpArgs;
use crate::diag::input_error;
use crate::engine::{Connector, Engine};
use crate::plan::{self as planning, labels, ContainerSpec, FileSpec, Plan};
use crate::progress::Progress;
use crate::reconcile::{self, Action, Limits, Observed, Timeline};
use crate::stop::{is_interrupted, Interrupted, Stop};
use crate::{images, state, topology};

/// How long the engine calls in flight get to finish after Ctrl-C before
/// noglab quits without them.
const GRACE: Duration = Duration::from_secs(30);

pub async fn run<C: Connector>(engines: &C, args: UpArgs, quiet: bool) -> Result<()> {
    let stop = Stop::on_ctrl_c(GRACE);
    let loaded = topology::load(&args.file)?;
    let done = bring_up(engines, &loaded, &args, quiet, &stop).await?;
    println!("{done}");
    Ok(())
}

/// `up` of a loaded topology (`args.file` only names it in messages),
/// stopping on `stop`; what it did, in one line.
pub async fn bring_up<C: Connector>(
    engines: &C,
    loaded: &topology::Loaded,
    args: &UpArgs,
    quiet: bool,
    stop: &Stop,
) -> Result<String> {
    let started = Instant::now();
    let pods = args.pods.unwrap_or(loaded.topology.pods);
    super::check_pods(pods)?;
    // Bad input stops here, before anything is created.
    let draft = super::expand_in(loaded, pods, None, args.solution)?;
    let lab = loaded.topology.name.clone();
    let again = format!("`noglab up {}`", args.file.display());

    // Until the actions start, only reads, the guard and the saved plan:
    // a Ctrl-C drops them where they stand.
    let (waited, prepared) = stop
        .abandon_on(prepare(engines, args, loaded, draft, pods))
        .await
        .map_err(|e| {
            if is_interrupted(&e) {
                anyhow::Error::new(Interrupted)
                    .context(format!("lab {lab} was not changed; {again} brings it up"))
            } else {
                e
            }
        })?;
    let Some(Prepared {
        engine,
        plan,
        actions,
        _lock,
        allocation,
    }) = prepared
    else {
        return Ok(format!(
            "lab {lab}: {pods} pods up to date ({:.1}s{})",
            started.elapsed().as_secs_f64(),
            of_it_waiting(waited)
        ));
    };
    let summary = summarize(&actions);
    let progress = Progress::new(quiet);
    let solved = if plan.solution { " (solved)" } else { "" };
    progress.step(format!("lab {lab}{solved}: {summary}"));
    let limits = Limits {
        parallel: args.parallel.max(1),
        booting: args
            .booting
            .unwrap_or_else(reconcile::default_booting)
            .max(1),
        ..Limits::default()
    };
    let secrets = super::secrets(&plan)?;
    // Other new labs may choose their blocks once this one's networks hold
    // its block, not only when its nodes are up.
    let release_allocation = move || drop(allocation);
    // Nodes to be started are unready until seen ready, on disk first: an
    // `up` that does not get to the end leaves them to the next one.
    let starting: Vec<String> = actions.iter().filter_map(started_node).collect();
    state::update_unready(&lab, &starting, &[])?;
    let timeline = args.timings.then(|| Timeline::from(started));
    let engine_work_from = started.elapsed();
    let (result, seen_ready) = reconcile::execute_seeing(
        engine,
        actions,
        limits,
        &secrets,
        &progress,
        stop,
        release_allocation,
        timeline.as_ref(),
    )
    .await;
    progress.finish();
    if let Some(t) = &timeline {
        for line in t.report(engine_work_from, started.elapsed()) {
            eprintln!("{line}");
        }
    }
    state::mark_ready(&lab, &seen_ready, state::now())?;
    state::update_unready(&lab, &[], &seen_ready)?;
    result.map_err(|e| {
        if is_interrupted(&e) {
            anyhow::Error::new(Interrupted).context(format!(
                "lab {lab} {e}; run {again} to complete it, or `noglab down {lab}` to remove it"
            ))
        } else {
            anyhow!("lab {lab} is not complete; run `noglab up` again once fixed:\n{e:#}")
        }
    })?;
    Ok(format!(
        "lab {lab}: {pods} pods up ({summary}) in {:.1}s{}",
        started.elapsed().as_secs_f64(),
        of_it_waiting(waited)
    ))
}

/// What `up` has decided to do, and the locks it holds while doing it.
struct Prepared<'a, E> {
    engine: &'a E,
    plan: Plan,
    actions: Vec<Action>,
    _lock: state::LabLock,
    /// Held by a new lab until its networks hold its block.
    allocation: Option<state::LabLock>,
}

/// Takes the lab's lock, looks at the engine, chooses the lab's block,
/// checks images and ports, starts the guard and saves the plan; `None`
/// when the lab is already as planned. With how long it waited for other
/// noglab commands' locks.
/// Lab-wide networks that span engines ride on each engine's `parent`:
/// a lab with some stops before anything is created when an engine it
/// would use has none.
fn refuse_split_shared_networks<E: Engine>(
    engine: &E,
    lab: &str,
    plan: &Plan,
    placed: &crate::engine::placement::Placement,
) -> Result<()> {
    let Some(shared) = plan.shared.as_ref().filter(|s| !s.networks.is_empty()) else {
        return Ok(());
    };
    let used: std::collections::BTreeSet<&String> = placed.values().collect();
    if used.len() < 2 {
        return Ok(());
    }
    let lacking: Vec<&str> = used
        .iter()
        .filter(|e| engine.parents_of(e).is_empty())
        .map(|e| e.as_str())
        .collect();
    if lacking.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = shared.networks.iter().map(|n| n.name.as_str()).collect();
    Err(input_error(format!(
        "lab {lab} has lab-wide networks ({}) that its pods on several engines share, and engine {} has no `parent`: name in the engines file the interface that joins each engine to the others at layer 2",
        names.join(", "),
        lacking.join(", ")
    )))
}

/// The plan and what was observed without the pods placed on engines
/// that do not answer (said on stderr); the lab-wide nodes' engine must
/// answer.
fn leave_out_unreachable<E: Engine>(
    engine: &E,
    lab: &str,
    mut plan: Plan,
    mut observed: super::Observed,
    placed: &crate::engine::placement::Placement,
) -> Result<(Plan, super::Observed)> {
    let out: std::collections::BTreeSet<u32> = placed
        .iter()
        .filter(|(_, e)| !engine.answers(e))
        .map(|(p, _)| *p)
        .collect();
    if out.is_empty() {
        return Ok((plan, observed));
    }
    if out.contains(&planning::SHARED_POD) && plan.shared.is_some() {
        bail!(
            "{}\nlab {lab} was not changed: its lab-wide nodes run on that engine, and every pod needs them",
            engine.unreachable().join("\n")
        );
    }
    let pods: Vec<u32> = out
        .iter()
        .copied()
        .filter(|p| *p != planning::SHARED_POD)
        .collect();
    eprintln!(
        "lab {lab}: {} left as they are: {}",
        planning::describe_pods(&pods),
        engine.unreachable().join("; ")
    );
    plan.pod_plans.retain(|p, _| !out.contains(p));
    observed.containers.retain(|c| {
        c.label(crate::plan::labels::POD)
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| !out.contains(&p))
    });
    observed.networks.retain(|n| {
        n.label(crate::plan::labels::POD)
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| !out.contains(&p))
    });
    Ok((plan, observed))
}

async fn prepare<'a, C: Connector>(
    engines: &'a C,
    args: &UpArgs,
    loaded: &topology::Loaded,
    draft: Plan,
    pods: u32,
) -> Result<(Duration, Option<Prepared<'a, C::Engine>>)> {
    let lab = loaded.topology.name.clone();
    let lock = waiting(move || state::lock(&lab)).await?;
    let mut waited = lock.waited();
    let lab = &loaded.topology.name;
    let engine = engines.engine().await?;
    let unreachable = engine.unreachable();
    if !unreachable.is_empty() && !args.skip_unreachable {
        bail!(
            "{}\nlab {lab} was not changed: start the engine and run `noglab up` again, or add --skip-unreachable to bring up the pods of the engines that answer",
            unreachable.join("\n")
        );
    }
    let mut observed = super::observe(engine, lab).await?;
    // A new lab chooses its block while no other new lab does, and keeps
    // the lock until its networks hold the block.
    let allocation = if super::preflight::has_block(&observed) {
        None
    } else {
        let lock = waiting(state::lock_allocation).await?;
        waited += lock.waited();
        observed = super::observe(engine, lab).await?;
        Some(lock)
    };
    let block = super::preflight::lab_block(engine, lab, &observed, &loaded.topology, pods).await?;
    let plan = if block == draft.block {
        draft
    } else {
        super::expand_in(loaded, pods, Some(block), args.solution)?
    };
    // Which engine each pod runs on, before anything is created there.
    let numbers: Vec<u32> = plan.pod_plans.keys().copied().collect();
    let placed = engine.place(lab, &numbers).await?;
    refuse_split_shared_networks(engine, lab, &plan, &placed)?;
    // With --skip-unreachable: the pods of an engine that does not answer
    // stay as they are, out of this run's plan (the saved plan keeps them).
    let whole = plan.clone();
    let (plan, mut observed) = leave_out_unreachable(engine, lab, plan, observed, &placed)?;
    super::preflight::check_images(engine, &plan).await?;

    // Containers whose new files `--apply-files` put in are as planned.
    let applied = state::load_applied(lab)?;
    relabel(&mut observed, &applied);
    let mut diff = reconcile::diff(&observed, &plan, args.prune);
    reconcile::finish_waits(&observed, &state::load_unready(lab)?, &mut diff.actions);
    if !diff.extra_pods.is_empty() {
        return Err(input_error(format!(
            "lab {lab} has {} beyond --pods {pods}; `noglab up {} --pods {pods} --prune` removes them",
            planning::describe_pods(&diff.extra_pods),
            args.file.display()
        )));
    }
    let mut actions = diff.actions;
    check_ports(&actions, &observed)?;
    let old_plan = state::load_plan(lab)?;
    let recreated = recreated(&observed, &plan, old_plan.as_ref(), &actions);
    let (by_files, rest): (Vec<_>, Vec<_>) = recreated
        .into_iter()
        .partition(|r| args.apply_files && r.files_only);
    if !rest.is_empty() && !args.recreate {
        return Err(input_error(refusal(lab, &args.file, &rest, &by_files)));
    }

    let guard = images::lookup("host")
        .map(|d| d.reference())
        .unwrap_or_default();
    let range = planning::plumbing::range().map_err(input_error)?;
    engine.ensure_guard(&guard, &range.to_string()).await?;

    // Nothing participants did goes without a snapshot first (new files
    // replace a running config too).
    let doomed: Vec<_> = observed
        .containers
        .iter()
        .filter(|c| !matches!(c.state.as_str(), "created" | "dead" | "removing"))
        .filter(|c| {
            by_files.iter().any(|r| r.container == c.name)
                || actions
                    .iter()
                    .any(|a| matches!(a, Action::RemoveContainer { name, .. } if *name == c.name))
        })
        .cloned()
        .collect();
    if !doomed.is_empty() {
        super::save::before(
            engine,
            lab,
            &doomed,
            old_plan.as_ref(),
            "up",
            &super::save::store_dir(),
        )
        .await?;
    }
    if !by_files.is_empty() {
        apply_files(engine, lab, &by_files, applied, &mut actions).await?;
    }
    state::save_plan(&whole)?;
    if actions.is_empty() {
        return Ok((waited, None));
    }
    let prepared = Prepared {
        engine,
        plan,
        actions,
        _lock: lock,
        allocation,
    };
    Ok((waited, Some(prepared)))
}

/// A node that holds participants' work and that `up` would recreate.
#[derive(Debug)]
struct Recreated {
    pod: u32,
    node: String,
    container: String,
    /// The hash on the container and the planned one.
    hashes: (String, String),
    changes: Vec<changes::Change>,
    /// Copying files in applies the changes (and the pod's networks stay).
    files_only: bool,
    /// The planned files that changed or came.
    files: BTreeMap<String, FileSpec>,
    kind: String,
}

/// The running (or stopped) nodes of planned pods that `actions` remove,
/// with what changed since the plan `old` they were created from.
fn recreated(
    observed: &Observed,
    plan: &Plan,
    old: Option<&Plan>,
    actions: &[Action],
) -> Vec<Recreated> {
    let find = |p: &Plan, pod: u32, node: &str| -> Option<ContainerSpec> {
        p.all_pods()
            .find(|pp| pp.pod == pod)?
            .containers
            .iter()
            .find(|c| c.node == node)
            .cloned()
    };
    let mut out = Vec::new();
    for a in actions {
        let Action::RemoveContainer { pod, name } = a else {
            continue;
        };
        if !plan.all_pods().any(|p| p.pod == *pod) {
            continue;
        }
        let Some(c) = observed.containers.iter().find(|c| c.name == *name) else {
            continue;
        };
        if matches!(c.state.as_str(), "created" | "dead" | "removing") {
            continue;
        }
        let node = c.label(labels::NODE).unwrap_or_default().to_string();
        let label = c.label(labels::HASH).unwrap_or_default().to_string();
        let Some(new) = find(plan, *pod, &node) else {
            continue;
        };
        let was = old
            .and_then(|o| find(o, *pod, &node))
            .filter(|s| s.labels.get(labels::HASH) == Some(&label));
        let changes = match &was {
            Some(w) => changes::between(w, &new),
            None => Vec::new(),
        };
        let networks_stay = !actions.iter().any(|a| {
            a.pod() == *pod
                && matches!(
                    a,
                    Action::CreateNetwork { .. } | Action::RemoveNetwork { .. }
                )
        });
        let files = changes
            .iter()
            .filter_map(|ch| match ch {
                changes::Change::File { path, how } if *how != "removed" => {
                    Some((path.clone(), new.files.get(path)?.clone()))
                }
                _ => None,
            })
            .collect();
        out.push(Recreated {
            pod: *pod,
            node,
            container: c.name.clone(),
            hashes: (
                label,
                new.labels.get(labels::HASH).cloned().unwrap_or_default(),
            ),
            files_only: networks_stay && changes::files_only(&changes),
            changes,
            files,
            kind: new.kind.clone(),
        });
    }
    out
}

/// What `up` says when it would recreate nodes participants worked in.
fn refusal(
    lab: &str,
    file: &std::path::Path,
    rest: &[Recreated],
    by_files: &[Recreated],
) -> String {
    let mut by_pod: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for r in rest {
        let why = if r.changes.is_empty() {
            "created from a plan noglab no longer has".to_string()
        } else {
            r.changes
                .iter()
                .map(changes::Change::describe)
                .collect::<Vec<_>>()
                .join(", ")
        };
        by_pod
            .entry(r.pod)
            .or_default()
            .push(format!("{} ({why})", r.node));
    }
    let mut out = format!(
        "lab {lab} is running and its plan changed: `up` would recreate these nodes and lose what participants configured in them:\n"
    );
    for (pod, nodes) in &by_pod {
        let which = if *pod == planning::SHARED_POD {
            "shared".to_string()
        } else {
            format!("pod {pod}")
        };
        out.push_str(&format!("  {which}: {}\n", nodes.join("; ")));
    }
    out.push_str(&format!(
        "nothing was changed; `noglab up {} --recreate` recreates them after saving their state (`noglab restore --last` brings it back)",
        file.display()
    ));
    let files_only = rest.iter().filter(|r| r.files_only).count();
    if files_only > 0 || !by_files.is_empty() {
        out.push_str(&format!(
            "; {files_only} of them only have new files: `--apply-files` copies those in and reloads their daemon"
        ));
    }
    out
}

/// Copies the changed files into the running nodes, has their daemons
/// read them, and records that those containers now match the plan; their
/// actions are dropped.
async fn apply_files<E: Engine>(
    engine: &E,
    lab: &str,
    nodes: &[Recreated],
    mut applied: state::Applied,
    actions: &mut Vec<Action>,
) -> Result<()> {
    for r in nodes {
        engine.upload(&r.container, &r.files).await?;
        if let Some(reload) = crate::kinds::lookup_any(&r.kind).and_then(|k| k.reload) {
            let out = engine
                .exec(&r.container, &["sh".into(), "-c".into(), reload.into()])
                .await?;
            if out.code != 0 {
                return Err(anyhow!(
                    "{}'s new files are in, and `{reload}` exited {}: {}",
                    r.container,
                    out.code,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        eprintln!(
            "pod {} {}: applied {}",
            r.pod,
            r.node,
            r.files.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        applied.insert(r.container.clone(), r.hashes.clone());
        actions.retain(|a| match a {
            Action::RemoveContainer { name, .. } => *name != r.container,
            Action::CreateContainer { spec, .. } => spec.name != r.container,
            _ => true,
        });
    }
    state::save_applied(lab, &applied)
}

/// Containers that took their new files are taken as the plan they match.
fn relabel(observed: &mut Observed, applied: &state::Applied) {
    for c in &mut observed.containers {
        if let Some((from, to)) = applied.get(&c.name) {
            if c.label(labels::HASH) == Some(from.as_str()) {
                c.labels.insert(labels::HASH.to_string(), to.clone());
            }
        }
    }
}

/// Takes a lock on a blocking thread, so that a Ctrl-C while another
/// command holds it is heard at once.
async fn waiting(
    take: impl FnOnce() -> Result<state::LabLock> + Send + 'static,
) -> Result<state::LabLock> {
    tokio::task::spawn_blocking(take)
        .await
        .map_err(|e| anyhow!("failed to wait for a lock: {e}"))?
}

/// ", 12.3s of it waiting for another noglab command" when it did: that
/// time is another command's, not this lab's.
fn of_it_waiting(waited: Duration) -> String {
    if waited.as_secs_f64() < 0.05 {
        return String::new();
    }
    format!(
        ", {:.1}s of it waiting for another noglab command",
        waited.as_secs_f64()
    )
}

/// The node an action starts (or waits for), which is unready until seen.
fn started_node(a: &Action) -> Option<String> {
    match a {
        Action::CreateContainer { spec, .. } => Some(spec.name.clone()),
        Action::StartContainer { name, .. } | Action::WaitReady { name, .. } => Some(name.clone()),
        _ => None,
    }
}

fn summarize(actions: &[Action]) -> String {
    let count = |f: fn(&Action) -> bool| actions.iter().filter(|a| f(a)).count();
    let mut parts = Vec::new();
    let created = count(|a| matches!(a, Action::CreateContainer { .. }));
    let started = count(|a| matches!(a, Action::StartContainer { .. }));
    let removed = count(|a| matches!(a, Action::RemoveContainer { .. }));
    let nets = count(|a| matches!(a, Action::CreateNetwork { .. }));
    let waited = count(|a| matches!(a, Action::WaitReady { .. }));
    if created > 0 {
        parts.push(format!("{created} containers created"));
    }
    if started > 0 {
        parts.push(format!("{started} started"));
    }
    if removed > 0 {
        parts.push(format!("{removed} removed"));
    }
    if nets > 0 {
        parts.push(format!("{nets} networks created"));
    }
    if waited > 0 {
        parts.push(format!("{waited} left booting waited for"));
    }
    parts.join(", ")
}

/// Host ports the new access points will publish must be free, or `up`
/// would stop half way: say which and stop before creating anything.
/// (Only on a local engine, where noglab can try them.)
fn check_ports(actions: &[Action], observed: &Observed) -> Result<()> {
    let remote = std::env::var("DOCKER_HOST").is_ok_and(|h| !h.starts_with("unix://"));
    if remote {
        return Ok(());
    }
    let mut busy = Vec::new();
    for a in actions {
        let Action::CreateContainer { spec, .. } = a else {
            continue;
        };
        // A container being replaced holds its own port until it goes.
        if observed.containers.iter().any(|c| c.name == spec.name) {
            continue;
        }
        for (_, host) in &spec.ports {
            if std::net::TcpListener::bind(("0.0.0.0", *host)).is_err() {
                busy.push(format!("{host} (for {})", spec.name));
            }
        }
    }
    if busy.is_empty() {
        Ok(())
    } else {
        Err(input_error(format!(
            "host ports already in use: {}; free them or set `access: {{ base_port: N }}` to another range",
            busy.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::reconcile::testing::{self, observed, TOPOLOGY};

    /// The small lab with r1's config `config` and h1's exec line `exec`.
    fn plan(config: &str, exec: &str) -> Plan {
        let source = TOPOLOGY
            .replace("r1: {kind: frr}", "r1: {kind: frr, config: r1.conf}")
            .replace(
                "h1: {kind: host}",
                &format!("h1: {{kind: host, exec: [\"{exec}\"]}}"),
            );
        let config = config.to_string();
        let loaded = crate::topology::load_str(std::path::Path::new("t.yml"), source, move |_| {
            Ok(config.clone())
        })
        .expect("valid topology");
        planning::expand(&loaded, 2, "198.18.0.0/18".parse().expect("block")).expect("plans")
    }

    #[tokio::test]
    async fn running_nodes_a_plan_changed_are_listed_with_why_and_files_only_ones_apart() {
        let engine = FakeEngine::default();
        let old = plan("hostname r1\n", "true");
        testing::up(&engine, &old).await;
        let new = plan("hostname r1\n! edited\n", "true");
        let seen = observed(&engine).await;
        let actions = reconcile::diff(&seen, &new, false).actions;
        let r = recreated(&seen, &new, Some(&old), &actions);
        assert_eq!(
            r.iter()
                .map(|r| (r.pod, r.node.as_str()))
                .collect::<Vec<_>>(),
            [(1, "r1"), (2, "r1")]
        );
        assert!(r.iter().all(|r| r.files_only), "{r:?}");
        assert_eq!(r[0].files.keys().collect::<Vec<_>>(), ["/etc/frr/frr.conf"]);
        let message = refusal("lab", std::path::Path::new("t.yml"), &r, &[]);
        assert!(
            message.contains("  pod 1: r1 (/etc/frr/frr.conf changed)\n  pod 2: r1 (/etc/frr/frr.conf changed)\nnothing was changed; `noglab up t.yml --recreate`"),
            "{message}"
        );
        assert!(message.ends_with("2 of them only have new files: `--apply-files` copies those in and reloads their daemon"), "{message}");

        // An exec line is read at the node's start: a new container, and
        // without the old plan, a reason all the same.
        let new = plan("hostname r1\n", "echo hi");
        let actions = reconcile::diff(&seen, &new, false).actions;
        let r = recreated(&seen, &new, Some(&old), &actions);
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|r| r.node == "h1" && !r.files_only), "{r:?}");
        let r = recreated(&seen, &new, None, &actions);
        let message = refusal("lab", std::path::Path::new("t.yml"), &r, &[]);
        assert!(
            message.contains("pod 2: h1 (created from a plan noglab no longer has)"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_node_whose_files_were_applied_is_up_to_date() {
        let engine = FakeEngine::default();
        let old = plan("hostname r1\n", "true");
        testing::up(&engine, &old).await;
        let new = plan("hostname r1\n! edited\n", "true");
        let mut seen = observed(&engine).await;
        let mut actions = reconcile::diff(&seen, &new, false).actions;
        let r = recreated(&seen, &new, Some(&old), &actions);
        let mut applied = state::Applied::new();
        for r in &r {
            applied.insert(r.container.clone(), r.hashes.clone());
            actions.retain(|a| match a {
                Action::RemoveContainer { name, .. } => *name != r.container,
                Action::CreateContainer { spec, .. } => spec.name != r.container,
                _ => true,
            });
        }
        assert!(actions.is_empty(), "{actions:?}");
        relabel(&mut seen, &applied);
        assert!(reconcile::diff(&seen, &new, false).actions.is_empty());
        // A container recreated since (its hash is the plan's) is left alone.
        let mut again = observed(&engine).await;
        again.containers[0]
            .labels
            .insert(labels::HASH.into(), "other".into());
        let before = again.containers[0].labels.clone();
        relabel(&mut again, &applied);
        assert_eq!(again.containers[0].labels, before);
    }
}
