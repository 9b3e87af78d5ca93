//! `noglab down [LAB]`: remove every container, network and volume of a lab
//! (found by its labels), and nothing else.

use anyhow::{bail, Result};
use futures_util::stream::{self, StreamExt};

use crate::engine::{Connector, Engine, Scope};
use crate::state;

pub async fn run<C: Connector>(engines: &C, lab: Option<String>, all: bool) -> Result<()> {
    let engine = engines.engine().await?;
    let labs: Vec<String> = if all {
        super::labs(engine).await?.into_iter().collect()
    } else {
        vec![super::resolve_lab(engine, lab).await?]
    };
    if labs.is_empty() {
        println!("no lab is running");
    }
    for lab in labs {
        let _lock = state::lock(&lab)?;
        // Participants' work is kept first: `restore --from` brings it
        // back into the lab brought up again.
        let observed = engine.containers(Scope::Lab(&lab)).await?;
        super::refuse_unreachable(
            &observed,
            |_| true,
            &lab,
            "nothing was removed: start the engine and run `noglab down` again",
        )?;
        let plan = state::load_plan(&lab)?;
        super::save::before(
            engine,
            &lab,
            &observed,
            plan.as_ref(),
            "down",
            &super::save::store_dir(),
        )
        .await?;
        let (containers, networks, volumes) = remove_lab(engine, &lab).await?;
        state::forget(&lab)?;
        println!(
            "lab {lab} removed: {containers} containers, {networks} networks, {volumes} volumes"
        );
    }
    // The guard stays while any lab runs; with none left, it goes too.
    if super::labs(engine).await?.is_empty() {
        engine.remove_guard().await?;
    }
    Ok(())
}

/// Removes a lab's resources by label: containers first (they hold the
/// networks), then networks and volumes. Returns how many of each.
pub async fn remove_lab<E: Engine>(engine: &E, lab: &str) -> Result<(usize, usize, usize)> {
    let containers = engine.containers(Scope::Lab(lab)).await?;
    let errors = remove_all(containers.iter().map(|c| engine.remove_container(&c.name))).await;
    let networks = engine.networks(Scope::Lab(lab)).await?;
    // By id: an old engine may hold two networks of one name.
    let errors = errors + &remove_all(networks.iter().map(|n| engine.remove_network(&n.id))).await;
    let volumes = engine.volumes(Scope::Lab(lab)).await?;
    let errors = errors + &remove_all(volumes.iter().map(|v| engine.remove_volume(&v.name))).await;
    if !errors.is_empty() {
        bail!("lab {lab} was not removed completely:\n{errors}");
    }
    Ok((containers.len(), networks.len(), volumes.len()))
}

async fn remove_all<F: std::future::Future<Output = Result<()>>>(
    futures: impl Iterator<Item = F>,
) -> String {
    let results: Vec<Result<()>> = stream::iter(futures)
        .buffer_unordered(crate::reconcile::DEFAULT_PARALLEL)
        .collect()
        .await;
    results
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}\n")))
        .collect()
}
