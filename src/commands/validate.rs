//! `noglab validate FILE`: every problem of a topology, for every pod, without Docker.

use std::path::Path;

use anyhow::Result;

pub fn run(file: &Path, pods: Option<u32>) -> Result<()> {
    let (loaded, plan) = super::load_plan(file, pods, false)?;
    // The solved lab must render too: its templates are only read there.
    let t = &loaded.topology;
    let solved = t.nodes.values().chain(t.shared.nodes.values());
    let with_solution = solved.filter(|n| n.solution.is_some()).count();
    if with_solution > 0 {
        super::expand_in(&loaded, plan.pods, Some(plan.block), true)?;
    }
    let solution = match with_solution {
        0 => String::new(),
        n => format!(", solution for {n} nodes"),
    };
    println!(
        "{}: lab {} is valid ({} pods, {} nodes, {} links{solution})",
        loaded.file.display(),
        plan.lab,
        plan.pods,
        t.nodes.len(),
        t.links.len()
    );
    Ok(())
}
