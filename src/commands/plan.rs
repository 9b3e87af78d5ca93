//! `noglab plan FILE`: the expanded plan, the instructor's dry run.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::PlanFormat;

pub fn run(file: &Path, pods: Option<u32>, solution: bool, format: PlanFormat) -> Result<()> {
    let (_, plan) = super::load_plan(file, pods, solution)?;
    let text = match format {
        PlanFormat::Yaml => serde_yaml::to_string(&plan).context("failed to print the plan")?,
        PlanFormat::Json => {
            serde_json::to_string_pretty(&plan).context("failed to print the plan")? + "\n"
        }
    };
    print!("{text}");
    Ok(())
}
