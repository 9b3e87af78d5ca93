//! `noglab completions SHELL` and `noglab man`: generated from the clap
//! definitions in `cli`, so they can never disagree with the commands.

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::progress::write_stdout;

pub fn run(shell: clap_complete::Shell) -> Result<()> {
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "noglab", &mut text);
    write_stdout(&text).context("failed to print the completions")
}

/// The page of `noglab`, or with `out_dir` one page per command written there.
pub fn man(out_dir: Option<&Path>) -> Result<()> {
    let command = Cli::command();
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("failed to write manual pages to {}", dir.display()))?;
            println!("manual pages written to {}", dir.display());
            Ok(())
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .and_then(|()| write_stdout(&page))
                .context("failed to print the manual page")
        }
    }
}
