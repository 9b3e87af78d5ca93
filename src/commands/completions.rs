//! `noglab completions SHELL`: generated from the clap definitions in
//! `cli`, so they can never disagree with the commands; bash's asks
//! `noglab __complete` for running labs, pods and nodes (`complete`).

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::progress::write_stdout;

pub fn run(shell: clap_complete::Shell) -> Result<()> {
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "noglab", &mut text);
    if shell == clap_complete::Shell::Bash {
        // clap lists the hidden `__complete` among the commands it offers.
        let script = String::from_utf8_lossy(&text).replace(" __complete ", " ");
        text = script.into_bytes();
        text.extend_from_slice(super::complete::BASH.as_bytes());
    }
    write_stdout(&text).context("failed to print the completions")
}
