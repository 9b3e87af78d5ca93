//! The command line: clap types only.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "noglab",
    version,
    about = "Identical, isolated network lab pods for every workshop participant"
)]
pub struct Cli {
    /// Print only results and errors, no progress.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// The Docker engines to drive, from an engines file; without one,
    /// the engine the docker CLI would use.
    #[arg(long, global = true, env = "NOGLAB_ENGINES", value_name = "FILE")]
    pub engines: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The `[LAB] NODE` of `exec` or `connect` (`command`) as the words
/// typed, `[LAB, NODE]` or `[NODE]`: clap hands a lone word over as the
/// lab, and it is the node.
pub fn node_target(
    command: &str,
    lab: Option<String>,
    node: Option<String>,
) -> Result<Vec<String>, clap::Error> {
    match (lab, node) {
        (Some(lab), Some(node)) => Ok(vec![lab, node]),
        (Some(node), None) | (None, Some(node)) => Ok(vec![node]),
        (None, None) => {
            let mut cli = Cli::command();
            cli.build();
            let mut sub = cli
                .find_subcommand_mut(command)
                .map_or_else(Cli::command, |c| c.clone());
            Err(sub.error(
                ErrorKind::MissingRequiredArgument,
                "the following required arguments were not provided:\n  <NODE>",
            ))
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PlanFormat {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz: `dot -Tpng`.
    Dot,
    /// Mermaid, which GitHub draws in Markdown.
    Mermaid,
    /// A picture, laid out by Graphviz or by noglab (see --layout).
    Svg,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SvgLayout {
    Auto,
    Builtin,
    Graphviz,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a topology without touching Docker.
    Validate {
        /// Topology file, or a lab folder holding topology.yml.
        file: PathBuf,
        /// Check for this many pods instead of the topology's `pods`.
        #[arg(long)]
        pods: Option<u32>,
        /// Text for people, or for scripts one JSON document, valid or not:
        /// `{file, valid, lab, problems: [{file, line, col, message}]}`.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Print the expanded plan of every pod, or of one pod, node or file,
    /// without touching Docker.
    Plan {
        /// Topology file or lab folder, or the name of a lab brought up
        /// before (the plan it runs, as saved at its last `up`).
        #[arg(value_name = "FILE|LAB")]
        target: PathBuf,
        /// Plan this many pods instead of the topology's `pods` (a file only).
        #[arg(long)]
        pods: Option<u32>,
        /// The solved lab: every node's `solution` applied.
        #[arg(long)]
        solution: bool,
        /// How to print the plan.
        #[arg(long, value_enum, default_value_t = PlanFormat::Yaml)]
        format: PlanFormat,
        /// Only this pod: its number, or `shared` for the lab-wide nodes.
        #[arg(long)]
        pod: Option<String>,
        /// Only this node of --pod: its container's rendered spec.
        #[arg(long, requires = "pod")]
        node: Option<String>,
        /// Only this file of --node, raw, exactly as it goes into the node:
        /// its path there (`/etc/frr/frr.conf`, a `files:` destination).
        #[arg(long, value_name = "PATH", requires = "node")]
        file: Option<String>,
    },
    /// Draw one pod and the shared nodes, with interfaces and addresses, without Docker.
    Graph {
        /// Topology file or lab folder, or the name of a lab brought up before.
        target: PathBuf,
        /// What to draw: a Graphviz source, a Mermaid chart or a picture.
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// The pod to draw.
        #[arg(long, default_value_t = 1)]
        pod: u32,
        /// How to lay out SVG: Graphviz's `dot` when installed (auto), or noglab's own.
        #[arg(long, value_enum, default_value_t = SvgLayout::Auto)]
        layout: SvgLayout,
    },
    /// Print the JSON Schema of topology files, for editors.
    Schema,
    /// Print a shell completion script: `noglab completions bash > /etc/bash_completion.d/noglab`
    /// (bash's also completes running labs, pod numbers and node names).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// What the shell may complete a word with: running labs, pods and
    /// nodes (called by the scripts `completions` prints).
    #[command(name = "__complete", hide = true)]
    Complete {
        /// The index in WORDS of the word being completed.
        cword: usize,
        /// The command line as the shell split it, the program first.
        #[arg(last = true)]
        words: Vec<String>,
    },
    /// Print the manual page (`noglab man | man -l -`), or write one page per command.
    Man {
        /// Write noglab.1 and noglab-COMMAND.1 for every command into this folder.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Create or complete a lab; safe to run again.
    Up(UpArgs),
    /// One row per node: lab, pod, node, kind, state, health, uptime.
    Status {
        /// Only this lab (default: every lab).
        lab: Option<String>,
        /// A table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Bring pods (or one node) back to their initial state.
    Reset {
        /// The lab; it may be left out when only one lab is running.
        lab: Option<String>,
        /// Pods: `3`, `1-5`, `1,4,7-9` or `all`.
        #[arg(long, required_unless_present = "shared", conflicts_with = "shared")]
        pod: Option<String>,
        /// Reset the lab-wide shared nodes instead (pods keep running).
        #[arg(long)]
        shared: bool,
        /// Only this node of the pods.
        #[arg(long)]
        node: Option<String>,
    },
    /// Save participants' work (each node's configs, zones, keys) into a snapshot.
    Save {
        /// The lab; it may be left out when only one lab is running.
        lab: Option<String>,
        /// Pods: `3`, `1-5`, `1,4,7-9`, `shared` or `all` (with the shared nodes).
        #[arg(long, default_value = "all")]
        pod: String,
        /// Only this node of the pods.
        #[arg(long)]
        node: Option<String>,
        /// A new folder, or a FILE.tar.gz; without it, the state directory
        /// (the newest snapshots of each pod are kept there).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Recreate nodes from the plan and put a snapshot's state back.
    Restore {
        /// The lab; it may be left out when only one lab is running.
        lab: Option<String>,
        /// Pods: `3`, `1-5`, `1,4,7-9`, `all` or `shared`.
        #[arg(long)]
        pod: String,
        /// Only this node of the pods.
        #[arg(long)]
        node: Option<String>,
        /// A snapshot folder or .tar.gz written by `noglab save`.
        #[arg(long, required_unless_present = "last", conflicts_with = "last")]
        from: Option<PathBuf>,
        /// The newest snapshot of each pod in the state directory (`save`'s,
        /// or the one taken before a reset, down or up).
        #[arg(long)]
        last: bool,
        /// Restore a snapshot of another lab, or taken under another plan
        /// of its nodes (kinds and paths are checked all the same).
        #[arg(long)]
        force: bool,
    },
    /// Run a command in a node and exit with its exit code; or in the node
    /// of several pods, each line of output prefixed `pN: `, exiting with
    /// the worst (highest) exit code.
    // clap cannot skip an optional positional before a required one when
    // a `--` list follows (or a flag comes between them), so LAB and NODE
    // are both optional to clap and `node_target` sorts them out; the
    // usage line says how it is called.
    #[command(
        override_usage = "noglab exec [OPTIONS] --pod <N|SPEC> [LAB] <NODE> -- <COMMAND>..."
    )]
    Exec {
        /// The pod number, or `shared` for a lab-wide node; or several
        /// pods: `1,3,5-8` or `all` (run a few at a time, as many as CPUs,
        /// with standard input closed: one input cannot go to several).
        #[arg(long, value_name = "N|SPEC")]
        pod: String,
        /// The lab; it may be left out when only one lab is running.
        #[arg(value_name = "LAB")]
        lab: Option<String>,
        /// The node, by its name in the topology (required).
        #[arg(value_name = "NODE")]
        node: Option<String>,
        /// Leave the command's standard input closed even when noglab's is
        /// piped (in a `while read` loop, so that the loop keeps its input).
        #[arg(long, short = 'n')]
        no_stdin: bool,
        /// The command, after `--`; in one pod, it reads what is piped to noglab.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Open an interactive shell in a node (vtysh for FRR).
    // As exec's: `LAB --pod N NODE` must parse too.
    #[command(override_usage = "noglab connect [OPTIONS] --pod <N> [LAB] <NODE>")]
    Connect {
        /// The pod number, or `shared` for a lab-wide node.
        #[arg(long, value_name = "N")]
        pod: String,
        /// The lab; it may be left out when only one lab is running.
        #[arg(value_name = "LAB")]
        lab: Option<String>,
        /// The node, by its name in the topology (required).
        #[arg(value_name = "NODE")]
        node: Option<String>,
    },
    /// Stream a node's packets on one link as pcap, to Wireshark or a file;
    /// Ctrl-C ends it.
    Capture {
        /// The pod number, or `shared` for a lab-wide node.
        #[arg(long)]
        pod: String,
        /// `[LAB] NODE IFACE`: the interface as the plan names it (eth1...).
        #[arg(required = true, num_args = 1..=3, value_names = ["LAB", "NODE", "IFACE"])]
        target: Vec<String>,
        /// Write the pcap to this file instead of standard output.
        #[arg(long, short = 'w', value_name = "FILE")]
        write: Option<PathBuf>,
        /// A tcpdump filter, after `--`: `-- tcp port 179`.
        #[arg(last = true)]
        filter: Vec<String>,
    },
    /// Break a link for a resilience exercise (down, up, netem, clear), or
    /// without an action, show each link end and what impairs it.
    #[command(subcommand_precedence_over_arg = true)]
    Link {
        /// `[LAB] [NODE:IFACE]`
        #[arg(num_args = 0..=2, value_names = ["LAB", "NODE:IFACE"])]
        target: Vec<String>,
        /// Pods: `3`, `1-5`, `1,4,7-9`, `all` or `shared`.
        #[arg(long, default_value = "all")]
        pod: String,
        /// A table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[command(subcommand)]
        action: Option<LinkAction>,
    },
    /// Remove every container, network and volume of a lab.
    Down {
        /// The lab; it may be left out when only one lab is running.
        lab: Option<String>,
        /// Remove every noglab lab on the engine.
        #[arg(long, conflicts_with = "lab")]
        all: bool,
    },
    /// The scoreboard: the lab's checks in every pod, pods as rows; or,
    /// with --lint, whether each check of a lab can fail and can pass.
    Check {
        /// A lab name, or its topology file (with --lint: a lab folder or
        /// topology file).
        lab: Option<String>,
        /// Only these pods: `3`, `1-5`, `1,4,7-9` or `all`.
        #[arg(long)]
        pod: Option<String>,
        /// Only the checks of this step.
        #[arg(long)]
        step: Option<u32>,
        /// Prove the checks of a lab folder: bring it up under a name of its
        /// own, run every check, bring its pods up solved, run them again,
        /// remove it; a table of each check's verdict. Exit 1 when a check
        /// never fails on the initial lab or never passes on the solved one
        /// (step 0 must pass both times).
        #[arg(long, conflicts_with_all = ["pod", "step", "watch", "no_wait"])]
        lint: bool,
        /// With --lint: this many pods (default: the topology's `pods`).
        #[arg(long, requires = "lint")]
        pods: Option<u32>,
        /// A table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Refresh every few seconds, for a projector.
        #[arg(long)]
        watch: bool,
        /// One try per check, without waiting for convergence: the room's
        /// state right now (what `--watch` shows on each refresh).
        #[arg(long)]
        no_wait: bool,
        /// Execs in flight across the room (default: 2 per CPU), so that
        /// the board does not starve the routers it measures.
        #[arg(long, value_name = "N")]
        parallel: Option<usize>,
    },
    /// Each container's capabilities, namespaces, limits, mounts and published ports.
    Audit {
        /// The lab; it may be left out when only one lab is running.
        lab: Option<String>,
        /// A table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Participants' credentials.
    Credentials {
        #[command(subcommand)]
        command: CredentialsCommand,
    },
    /// One entry per pod for participants: where to connect, user, password, nodes.
    Handout {
        /// The lab; it may be left out when only one lab is running.
        lab: Option<String>,
        /// Markdown, CSV (one row per pod) or a printable HTML page.
        #[arg(long, value_enum, default_value_t = HandoutFormat::Md)]
        format: HandoutFormat,
        /// The host name or address participants connect to (default: this machine's name).
        #[arg(long)]
        host: Option<String>,
        /// Only these pods: `3`, `1-5`, `1,4,7-9` or `all`.
        #[arg(long)]
        pod: Option<String>,
        /// The classroom portal (`noglab serve`) as participants reach it:
        /// each entry links it with its lab and pod filled in. Alone,
        /// `https://HOST:8443/`; it replaces the lab's own browser terminal.
        #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
        portal: Option<String>,
    },
    /// Build, list and check node images.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Make a noglab lab folder from another tool's topology.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// The classroom portal over HTTPS: each participant's pod in the
    /// browser, the room board for the instructor.
    Serve {
        /// The labs to serve, by name, or by folder to serve their guide
        /// too (default: every lab running).
        #[arg(value_name = "LAB|FOLDER")]
        labs: Vec<String>,
        /// Address and port to listen on.
        #[arg(long, default_value = "0.0.0.0:8443")]
        listen: std::net::SocketAddr,
        /// The instructor's own certificate (PEM chain), instead of the
        /// self-signed one noglab makes once.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Check this machine for a lab (or for every kind): engine, images,
    /// kernel features, address overlaps, memory and disk.
    Doctor {
        /// Topology file or lab folder; without it, every kind is checked.
        file: Option<PathBuf>,
        /// Check for this many pods instead of the topology's `pods`.
        #[arg(long)]
        pods: Option<u32>,
        /// Lines for people, or for scripts one JSON document:
        /// `{ok, checks: [{level, check, message}]}`, level `ok`, `fail` or `skip`.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Check the engines file (`--engines`, `NOGLAB_ENGINES`) without
    /// connecting and list the engines noglab drives.
    Engines {
        /// A table, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Topology file, or a lab folder holding topology.yml.
    pub file: PathBuf,
    /// Number of pods (default: the topology's `pods`).
    #[arg(long)]
    pub pods: Option<u32>,
    /// Remove pods beyond --pods (after saving them).
    #[arg(long)]
    pub prune: bool,
    /// Recreate running nodes whose plan changed, after saving their state
    /// (without it, `up` lists them and changes nothing).
    #[arg(long)]
    pub recreate: bool,
    /// Where only a running node's own files changed, copy them in and
    /// reload its daemon instead of recreating it.
    #[arg(long)]
    pub apply_files: bool,
    /// Engine operations at once, across all pods (waiting for nodes to be
    /// ready takes none).
    #[arg(long, default_value_t = crate::reconcile::DEFAULT_PARALLEL)]
    pub parallel: usize,
    /// Nodes booting at once, across all pods: started and not yet ready
    /// (default: 4 per CPU; hosts do not count).
    #[arg(long, value_name = "N")]
    pub booting: Option<usize>,
    /// Bring the lab up solved: every node's `solution` applied (`reset`
    /// then restores the solved state, until `up` without it).
    #[arg(long)]
    pub solution: bool,
    /// After the work, print where its time went: per step (networks,
    /// creates, files, starts, boots), how many, when the first began and
    /// the last ended, the median and longest; the first and last node
    /// seen ready.
    #[arg(long)]
    pub timings: bool,
    /// With an engines file: when an engine does not answer, bring up the
    /// pods of the engines that do and leave its pods as they are (without
    /// it, `up` stops before creating anything and names the engine)
    #[arg(long)]
    pub skip_unreachable: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum HandoutFormat {
    Md,
    Csv,
    Html,
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// New passwords for pods (all by default); running access points take them at once.
    Rotate {
        /// The lab; it may be left out when only one lab is running.
        lab: Option<String>,
        /// Pods: `3`, `1-5`, `1,4,7-9` or `all`.
        #[arg(long, default_value = "all")]
        pod: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A containerlab topology: its FRR, BIRD and Linux host nodes, their
    /// bound configs as templates, its links with the addresses the
    /// configs set; what is not converted is listed (exit 1).
    Containerlab {
        /// The containerlab topology file (`*.clab.yml`).
        file: PathBuf,
        /// The lab folder to write (default: the lab's name, here); it
        /// must not hold a topology yet.
        #[arg(long, short, value_name = "DIR")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Build the images of the given kinds (default: all but `krill` and
    /// `irr`) that are missing.
    Build {
        /// Kinds (`frr`, `bird`, ...), as `noglab images list` names them;
        /// without any, every kind but `krill` and `irr`, built only when
        /// named (Krill compiles for about half an hour, IRRd fetches its
        /// Python packages).
        kinds: Vec<String>,
        /// Build even when the image exists.
        #[arg(long)]
        rebuild: bool,
        /// Build the Debian base with debootstrap instead of pulling it.
        #[arg(long)]
        bootstrap_base: bool,
    },
    /// Each kind's image, present or not, and its size.
    List {
        /// A table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Write the images of the given kinds (default: all) to one bundle
    /// for a server with no registry; gzip-compressed when FILE ends in .gz.
    Save {
        /// The bundle to write.
        #[arg(long, short)]
        output: PathBuf,
        /// Kinds (`frr`, `bird`, ...), as `noglab images list` names them.
        kinds: Vec<String>,
        /// Instead of kinds: every image this topology's nodes use.
        #[arg(long, conflicts_with = "kinds")]
        lab: Option<PathBuf>,
        /// With --lab: the pods the class will run (default: the
        /// topology's `pods`), for labs whose kind differs by pod.
        #[arg(long, requires = "lab")]
        pods: Option<u32>,
    },
    /// Load a bundle written by `images save` (or `docker save`).
    Load {
        /// The bundle (.tar, or gzip-compressed .tar.gz).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum LinkAction {
    /// Set the interface down, as a cut cable looks from the node.
    Down,
    /// Set it up again, with the plan's addresses back on both ends
    /// (Linux drops IPv6 ones on down).
    Up,
    /// Delay, lose or slow the packets the node sends on it (tc netem; on
    /// a host kernel without it, iptables, a delayer in the node and tbf).
    Netem(NetemArgs),
    /// Remove what netem added.
    Clear,
}

#[derive(Debug, Clone, Args)]
pub struct NetemArgs {
    /// Added to every packet: `100ms`, `1s`, `500us`.
    #[arg(long)]
    pub delay: Option<crate::commands::link::Duration>,
    /// Varies the delay by up to this much, either way.
    #[arg(long)]
    pub jitter: Option<crate::commands::link::Duration>,
    /// Packets dropped: `5%`.
    #[arg(long)]
    pub loss: Option<crate::commands::link::Percent>,
    /// The most the link carries: `10mbit`, `512kbit`.
    #[arg(long)]
    pub rate: Option<crate::commands::link::Rate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of `command` and its subcommands, at any depth,
    /// that `--help` and the manual would show with no words beside it.
    fn undocumented(command: &clap::Command, path: &str, found: &mut Vec<String>) {
        let path = format!("{path} {}", command.get_name()).trim().to_string();
        if command.get_about().is_none() {
            found.push(format!("{path} (the command itself)"));
        }
        for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                found.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            undocumented(sub, &path, found);
        }
    }

    #[test]
    fn every_argument_and_command_has_help() {
        let mut command = Cli::command();
        command.build();
        let mut found = Vec::new();
        undocumented(&command, "", &mut found);
        assert!(found.is_empty(), "without help text: {found:#?}");
        // The walk does reach arguments: a nested one is seen.
        let netem = command
            .find_subcommand("link")
            .and_then(|c| c.find_subcommand("netem"))
            .expect("link netem");
        assert!(netem.get_arguments().any(|a| a.get_id() == "delay"));
    }

    fn usage(name: &str) -> String {
        let mut command = Cli::command();
        command.build();
        let sub = command.find_subcommand_mut(name).expect("a command");
        sub.render_usage().to_string()
    }

    #[test]
    fn exec_and_connect_usage_is_how_they_are_called() {
        assert!(
            usage("exec").ends_with("--pod <N|SPEC> [LAB] <NODE> -- <COMMAND>..."),
            "{}",
            usage("exec")
        );
        assert!(
            usage("connect").ends_with("--pod <N> [LAB] <NODE>"),
            "{}",
            usage("connect")
        );
    }

    fn exec_words(args: &[&str]) -> Result<(Vec<String>, Vec<String>), clap::Error> {
        let cli = Cli::try_parse_from(["noglab", "exec"].iter().chain(args))?;
        let Command::Exec {
            lab, node, command, ..
        } = cli.command
        else {
            panic!("not exec");
        };
        Ok((node_target("exec", lab, node)?, command))
    }

    #[test]
    fn exec_takes_an_optional_lab_then_the_node() {
        let (target, command) =
            exec_words(&["--pod", "1", "r1", "--", "ip", "-br", "a"]).expect("node alone");
        assert_eq!((target, command.len()), (vec!["r1".to_string()], 3));
        let (target, _) = exec_words(&["--pod", "all", "bgp", "r1", "--", "true"]).expect("both");
        assert_eq!(target, ["bgp", "r1"]);
        let (target, _) = exec_words(&["bgp", "r1", "--pod", "2", "--", "true"]).expect("pod last");
        assert_eq!(target, ["bgp", "r1"]);
        let err = exec_words(&["--pod", "1", "--", "true"]).expect_err("no node");
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let text = err.to_string();
        assert!(
            text.contains("<NODE>") && text.contains("[LAB] <NODE> --"),
            "{text}"
        );
        let err = exec_words(&["--pod", "1", "r1"]).expect_err("no command");
        assert!(err.to_string().contains("[LAB] <NODE> --"), "{err}");
        let err = exec_words(&["--pod", "1", "a", "b", "c", "--", "true"]).expect_err("3 words");
        assert!(err.to_string().contains("[LAB] <NODE> --"), "{err}");
    }

    #[test]
    fn connect_takes_an_optional_lab_then_the_node() {
        let parse = |args: &[&str]| -> Result<Vec<String>, clap::Error> {
            let cli = Cli::try_parse_from(["noglab", "connect"].iter().chain(args))?;
            match cli.command {
                Command::Connect { lab, node, .. } => node_target("connect", lab, node),
                _ => panic!("not connect"),
            }
        };
        assert_eq!(parse(&["--pod", "1", "r1"]).expect("node alone"), ["r1"]);
        assert_eq!(
            parse(&["bgp", "r1", "--pod", "1"]).expect("both"),
            ["bgp", "r1"]
        );
        // The lab, the pod, then the node, as the contract writes it.
        assert_eq!(
            parse(&["bgp", "--pod", "1", "r1"]).expect("split"),
            ["bgp", "r1"]
        );
        let err = parse(&["--pod", "1"]).expect_err("no node");
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let text = err.to_string();
        assert!(
            text.contains("<NODE>") && text.contains("--pod <N> [LAB] <NODE>"),
            "{text}"
        );
    }
}
