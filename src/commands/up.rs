//! `noglab up FILE`: create what the plan has and the engine lacks.
//! Idempotent: run again after an interruption, it completes the lab.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::cli::UpArgs;
use crate::diag::input_error;
use crate::engine::{Connector, Engine};
use crate::plan::{self as planning, Plan};
use crate::progress::Progress;
use crate::reconcile::{self, Action, Limits, Observed};
use crate::stop::{is_interrupted, Interrupted, Stop};
use crate::{images, state, topology};

/// How long the engine calls in flight get to finish after Ctrl-C before
/// noglab quits without them.
const GRACE: Duration = Duration::from_secs(30);

pub async fn run<C: Connector>(engines: &C, args: UpArgs, quiet: bool) -> Result<()> {
    let stop = Stop::on_ctrl_c(GRACE);
    let started = Instant::now();
    let loaded = topology::load(&args.file)?;
    let pods = args.pods.unwrap_or(loaded.topology.pods);
    super::check_pods(pods)?;
    // Bad input stops here, before anything is created.
    let draft = super::expand_in(&loaded, pods, None, args.solution)?;
    let lab = loaded.topology.name.clone();
    let again = format!("`noglab up {}`", args.file.display());

    // Until the actions start, only reads, the guard and the saved plan:
    // a Ctrl-C drops them where they stand.
    let (waited, prepared) = stop
        .abandon_on(prepare(engines, &args, &loaded, draft, pods))
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
        println!(
            "lab {lab}: {pods} pods up to date ({:.1}s{})",
            started.elapsed().as_secs_f64(),
            of_it_waiting(waited)
        );
        return Ok(());
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
    let (result, seen_ready) = reconcile::execute_seeing(
        engine,
        actions,
        limits,
        &secrets,
        &progress,
        &stop,
        release_allocation,
    )
    .await;
    progress.finish();
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
    println!(
        "lab {lab}: {pods} pods up ({summary}) in {:.1}s{}",
        started.elapsed().as_secs_f64(),
        of_it_waiting(waited)
    );
    Ok(())
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
    super::preflight::check_images(engine, &plan).await?;

    let guard = images::lookup("host")
        .map(|d| d.reference())
        .unwrap_or_default();
    let range = planning::plumbing::range().map_err(input_error)?;
    engine.ensure_guard(&guard, &range.to_string()).await?;

    let mut diff = reconcile::diff(&observed, &plan, args.prune);
    reconcile::finish_waits(&observed, &state::load_unready(lab)?, &mut diff.actions);
    if !diff.extra_pods.is_empty() {
        return Err(input_error(format!(
            "lab {lab} has {} beyond --pods {pods}; `noglab up {} --pods {pods} --prune` removes them",
            planning::describe_pods(&diff.extra_pods),
            args.file.display()
        )));
    }
    check_ports(&diff.actions, &observed)?;
    state::save_plan(&plan)?;
    if diff.actions.is_empty() {
        return Ok((waited, None));
    }
    let prepared = Prepared {
        engine,
        plan,
        actions: diff.actions,
        _lock: lock,
        allocation,
    };
    Ok((waited, Some(prepared)))
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
            "host ports already in use: {}; free them or set `access: {{ base_port: N }}` (or `web_base_port`) to another range",
            busy.join(", ")
        )))
    }
}
