//! `noglab audit [LAB]`: what each container of a lab may do and reach —
//! capabilities, privileged or not, namespaces, limits, mounts, what is
//! read-only inside, published ports — so an instructor sees the exposure
//! before the room arrives.

use anyhow::{Context, Result};
use futures_util::stream::{self, StreamExt};

use crate::cli::ListFormat;
use crate::engine::{Connector, Engine, Exposure, Scope};
use crate::plan::NOGLAB_DIR;

pub async fn run<C: Connector>(engines: &C, lab: Option<String>, format: ListFormat) -> Result<()> {
    let engine = engines.engine().await?;
    let lab = super::resolve_lab(engine, lab).await?;
    let mut names: Vec<String> = engine
        .containers(Scope::Lab(&lab))
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort();
    let results: Vec<Result<Exposure>> = stream::iter(&names)
        .map(|n| engine.exposure(n))
        .buffered(8)
        .collect()
        .await;
    let rows: Vec<Exposure> = results.into_iter().collect::<Result<_>>()?;
    match format {
        ListFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&rows).context("failed to print the audit")?
        ),
        ListFormat::Table => {
            println!(
                "{:<28} {:<4} {:<28} {:<5} {:<7} {:>6} {:>5}  PUBLISHED / MOUNTS / READ-ONLY",
                "CONTAINER", "PRIV", "CAPABILITIES ADDED", "NET", "PID", "MEM", "PIDS"
            );
            for r in &rows {
                let net = if r.network_mode == "host" {
                    "HOST"
                } else {
                    "own"
                };
                let mut extra: Vec<String> = r.published.clone();
                extra.extend(r.mounts.iter().cloned());
                extra.extend(r.read_only.iter().map(|p| format!("ro {p}")));
                println!(
                    "{:<28} {:<4} {:<28} {:<5} {:<7} {:>5}M {:>5}  {}",
                    r.container,
                    if r.privileged { "YES" } else { "no" },
                    r.capabilities_added.join(","),
                    net,
                    r.pid_mode,
                    r.memory_limit >> 20,
                    r.pids_limit,
                    if extra.is_empty() {
                        "-".into()
                    } else {
                        extra.join(", ")
                    }
                );
            }
            let risky: Vec<&Exposure> = rows
                .iter()
                .filter(|r| {
                    r.privileged
                        || r.network_mode == "host"
                        || r.pid_mode == "host"
                        || r.docker_socket
                })
                .collect();
            if risky.is_empty() {
                println!("\nlab {lab}: no container is privileged, shares the host's network or PID namespace, or sees the Docker socket");
            } else {
                for r in risky {
                    println!("\nWARNING: {} is privileged, on the host's namespaces or sees the Docker socket", r.container);
                }
            }
            for r in rows
                .iter()
                .filter(|r| !r.read_only.iter().any(|p| p == NOGLAB_DIR))
            {
                println!("WARNING: {NOGLAB_DIR} can be changed inside {} (created by an older noglab); `noglab up` recreates it with {NOGLAB_DIR} read-only", r.container);
            }
        }
    }
    Ok(())
}
