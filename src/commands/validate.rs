//! `noglab validate FILE`: every problem of a topology, for every pod, without Docker.

use std::path::Path;

use anyhow::Result;

pub fn run(file: &Path, pods: Option<u32>) -> Result<()> {
    let (loaded, plan) = super::load_plan(file, pods)?;
    println!(
        "{}: lab {} is valid ({} pods, {} nodes, {} links)",
        loaded.file.display(),
        plan.lab,
        plan.pods,
        loaded.topology.nodes.len(),
        loaded.topology.links.len()
    );
    Ok(())
}
