//! noglab's entry point: parse the command line, run the verb, print the
//! whole error chain and map it to the contract's exit codes.

use std::process::ExitCode;

use clap::Parser;
use noglab::cli::{Cli, Command, CredentialsCommand, ImagesCommand, ImportCommand};
use noglab::commands;
use noglab::diag::{self, Diagnostics, InputError};
use noglab::engine::docker::DockerConnector;

fn main() -> ExitCode {
    noglab::progress::quiet_broken_pipe();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: failed to start: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    // `connect` may leave a thread blocked reading the terminal: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let quiet = cli.quiet;
    // The one place noglab connects to an engine: when a command first
    // asks for it.
    let engines = &DockerConnector::new(cli.engines.clone());
    match cli.command {
        Command::Validate { file, pods, format } => commands::validate::run(&file, pods, format),
        Command::Plan {
            target,
            pods,
            solution,
            format,
            pod,
            node,
            file,
        } => commands::plan::run(commands::plan::Request {
            target: &target,
            pods,
            solution,
            format,
            pod: pod.as_deref(),
            node: node.as_deref(),
            file: file.as_deref(),
        }),
        Command::Graph {
            target,
            format,
            pod,
            layout,
        } => commands::graph::run(&target, format, pod, layout),
        Command::Schema => commands::schema::run(),
        Command::Completions { shell } => commands::completions::run(shell),
        Command::Complete { cword, words } => commands::complete::run(engines, cword, &words).await,
        Command::Man { out_dir } => commands::manual::run(out_dir.as_deref()),
        Command::Up(args) => commands::up::run(engines, args, quiet).await,
        Command::Status { lab, format } => commands::status::run(engines, lab, format).await,
        Command::Reset {
            lab,
            pod,
            shared,
            node,
        } => commands::reset::run(engines, lab, pod.as_deref(), shared, node, quiet).await,
        Command::Save {
            lab,
            pod,
            node,
            output,
        } => {
            commands::save::run(engines, lab, Some(&pod), node.as_deref(), output.as_deref()).await
        }
        Command::Restore {
            lab,
            pod,
            node,
            from,
            last,
            force,
        } => {
            // clap makes them exclusive, and one of them required.
            let source = match (&from, last) {
                (Some(f), _) => commands::restore::Source::From(f),
                (None, _) => commands::restore::Source::Last,
            };
            let req = commands::restore::Request {
                pods: &pod,
                node: node.as_deref(),
                source,
                force,
                quiet,
            };
            commands::restore::run(engines, lab, req).await
        }
        Command::Credentials {
            command: CredentialsCommand::Rotate { lab, pod },
        } => commands::access::rotate(engines, lab, &pod).await,
        Command::Check {
            lab,
            lint: true,
            pods,
            format,
            parallel,
            ..
        } => {
            let lint = commands::lint::Lint {
                pods,
                format,
                parallel,
                quiet,
            };
            commands::lint::run(engines, lab, lint).await
        }
        Command::Check {
            lab,
            pod,
            step,
            format,
            watch,
            no_wait,
            parallel,
            ..
        } => {
            let board = commands::check::Board {
                pods: pod.as_deref(),
                step,
                format,
                once: watch || no_wait,
                watch,
                parallel,
            };
            commands::check::run(engines, lab, board).await
        }
        Command::Audit { lab, format } => commands::audit::run(engines, lab, format).await,
        Command::Handout {
            lab,
            format,
            host,
            pod,
            portal,
        } => commands::access::handout(engines, lab, format, host, pod.as_deref(), portal).await,
        Command::Exec {
            pod,
            lab,
            node,
            no_stdin,
            command,
        } => {
            let target = noglab::cli::node_target("exec", lab, node).unwrap_or_else(|e| e.exit());
            commands::exec::run(engines, &pod, &target, &command, no_stdin).await
        }
        Command::Capture {
            pod,
            target,
            write,
            filter,
        } => commands::capture::run(engines, &pod, &target, write.as_deref(), &filter).await,
        Command::Link {
            target,
            pod,
            format,
            action,
        } => commands::link::run(engines, &target, &pod, action, format).await,
        Command::Connect { pod, lab, node } => {
            let target =
                noglab::cli::node_target("connect", lab, node).unwrap_or_else(|e| e.exit());
            commands::connect::run(engines, &pod, &target).await
        }
        Command::Down { lab, all } => commands::down::run(engines, lab, all).await,
        Command::Images { command } => match command {
            ImagesCommand::Build {
                kinds,
                rebuild,
                bootstrap_base,
            } => commands::images::build(engines, &kinds, rebuild, bootstrap_base, quiet).await,
            ImagesCommand::List { format } => commands::images::list(engines, format).await,
            ImagesCommand::Save {
                output,
                kinds,
                lab,
                pods,
            } => {
                commands::images::save(engines, &output, &kinds, lab.as_deref(), pods, quiet).await
            }
            ImagesCommand::Load { file } => commands::images::load(engines, &file, quiet).await,
        },
        Command::Import {
            command: ImportCommand::Containerlab { file, output },
        } => commands::import::containerlab(&file, output.as_deref()),
        Command::Serve {
            labs,
            listen,
            tls_cert,
            tls_key,
        } => {
            let serve = commands::serve::Serve {
                labs,
                listen,
                tls_cert,
                tls_key,
            };
            commands::serve::run(engines, serve).await
        }
        Command::Engines { format } => commands::engines::run(cli.engines.as_deref(), format),
        Command::Doctor { file, pods, format } => {
            commands::doctor::run(engines, file.as_deref(), pods, format).await
        }
    }
}

fn report(err: &anyhow::Error) -> ExitCode {
    if let Some(code) = err.downcast_ref::<diag::ExitCode>() {
        return ExitCode::from(code.0.clamp(1, 255) as u8);
    }
    if noglab::stop::is_interrupted(err) {
        // Not an error of noglab's or the engine's: what stopped, and how
        // to go on.
        eprintln!("interrupted: {err}");
        return ExitCode::from(noglab::stop::EXIT_CODE);
    }
    if let Some(d) = err.downcast_ref::<Diagnostics>() {
        eprintln!("{d}");
        return ExitCode::from(2);
    }
    eprintln!("error: {err:#}");
    if err.chain().any(|e| e.is::<InputError>()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}
