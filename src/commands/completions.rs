//! `noglab completions SHELL`: generated from the clap definitions in
//! `cli`, so they can never disagree with the commands.

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::progress::write_stdout;

pub fn run(shell: clap_complete::Shell) -> Result<()> {
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "noglab", &mut text);
    write_stdout(&text).context("failed to print the completions")
}
