//! `noglab man`: the manual pages, generated from the clap definitions in
//! `cli` so they can never disagree with the commands, and, on noglab(1),
//! what clap cannot know: exit status, environment, files and examples.
//! Owns those sections' words; the exit codes and the state directory's
//! layout they describe belong to `main`, `stop` and `state`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::progress::write_stdout;

/// The page of `noglab`, or with `out_dir` one page per command written there.
pub fn run(out_dir: Option<&Path>) -> Result<()> {
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
            write_pages(dir)
                .with_context(|| format!("failed to write manual pages to {}", dir.display()))?;
            println!("manual pages written to {}", dir.display());
            Ok(())
        }
        None => write_stdout(main_page().as_bytes()).context("failed to print the manual page"),
    }
}

/// noglab(1): clap's sections, then ours before VERSION.
pub fn main_page() -> String {
    let mut page = Vec::new();
    // Rendering into memory cannot fail.
    let _ = clap_mangen::Man::new(Cli::command()).render(&mut page);
    let page = String::from_utf8_lossy(&page).into_owned();
    let ours = sections();
    match page.find("\n.SH VERSION") {
        Some(at) => format!("{}\n{}{}", &page[..at], ours, &page[at + 1..]),
        None => page + &ours,
    }
}

/// noglab.1 with our sections, and noglab-COMMAND.1 for every command.
fn write_pages(dir: &Path) -> std::io::Result<()> {
    fn each(command: clap::Command, dir: &Path) -> std::io::Result<()> {
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            each(sub.clone(), dir)?;
            clap_mangen::Man::new(sub.clone()).generate_to(dir)?;
        }
        Ok(())
    }
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    each(command, dir)?;
    std::fs::write(dir.join("noglab.1"), main_page())
}

/// What each exit status means (the contract's codes).
fn exit_status() -> Vec<(String, &'static str)> {
    vec![
        ("0".into(), "Success."),
        (
            "1".into(),
            "The operation failed: the engine refused or did not answer, a check failed (`check`, `doctor`), or a command in a node exited non-zero (`exec`, `connect`, `capture` then exit with the command's own code; `exec` in several pods with the worst).",
        ),
        (
            "2".into(),
            "Bad input: an unreadable or invalid topology, an unknown lab, pod or node, bad flags or arguments.",
        ),
        (
            crate::stop::EXIT_CODE.to_string(),
            "Stopped by Ctrl-C (128 + SIGINT); nothing in flight was left half made, and running the command again goes on from there.",
        ),
    ]
}

/// Every environment variable noglab reads, with what it changes.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "NOGLAB_STATE_DIR",
        "The state directory (see FILES). Default: $XDG_STATE_HOME/noglab, else ~/.local/state/noglab.",
    ),
    (
        "NOGLAB_CACHE_DIR",
        "Where `images build` keeps software it compiles (Krill), so a second build reuses it. Default: $XDG_CACHE_HOME/noglab, else ~/.cache/noglab.",
    ),
    (
        "NOGLAB_PLUMBING_RANGE",
        "The IPv4 range noglab takes its management networks from, one block per lab (default 198.18.0.0/15); set it when that range is used on the machine already.",
    ),
    (
        "NOGLAB_ENGINES",
        "The engines file: the Docker engines a lab's pods are spread over (as `--engines FILE`). Default: the one engine the docker CLI would use (DOCKER_HOST, else the local socket).",
    ),
    (
        "NOGLAB_PLAIN",
        "When set, progress is printed as plain lines, never as bars, even on a terminal.",
    ),
    (
        "NOGLAB_DEBIAN_MIRROR",
        "With `images build --bootstrap-base`: the Debian mirror debootstrap uses (default http://deb.debian.org/debian).",
    ),
    (
        "NOGLAB_BLESS",
        "For noglab's own test suite: rewrite the golden files and generated docs instead of comparing with them.",
    ),
    (
        "DOCKER_HOST",
        "The engine, as the docker CLI reads it: unix:///path or tcp://host:port. Without it, the docker context (DOCKER_CONTEXT, else the one `docker context use` chose), else the local socket /var/run/docker.sock.",
    ),
    (
        "NO_COLOR",
        "When set, no colour, even on a terminal.",
    ),
    (
        "TERM",
        "`dumb` turns progress bars and colour off; `connect` gives the node's shell the same TERM (default xterm).",
    ),
    (
        "XDG_STATE_HOME, XDG_CACHE_HOME, HOME",
        "Where the state and cache directories are, when the variables above are not set.",
    ),
];

/// What lies in the state directory.
const FILES: &[(&str, &str)] = &[
    (
        "$NOGLAB_STATE_DIR",
        "noglab's state directory, default ~/.local/state/noglab; nothing else of noglab's is kept on the machine (images are in the engine).",
    ),
    (
        "labs/LAB/plan.json",
        "The plan of the lab as of its last `up`: what `plan LAB`, `graph LAB`, `reset`, `check` and the portal work from.",
    ),
    (
        "labs/LAB/ready.json, unready.json, applied.json",
        "Which nodes have been seen ready, which were started and not yet, and the files `up --apply-files` copied in.",
    ),
    (
        "labs/LAB/credentials.json",
        "Participants' passwords, for labs with `access:` (`handout`, `credentials rotate`).",
    ),
    (
        "labs/LAB/lock",
        "Held while a command changes the lab, so that two never do at once.",
    ),
    (
        "snapshots/LAB/podNN/",
        "Snapshots of each pod's work: taken by `save`, and before `reset`, `down` or an `up` that removes nodes; `restore --last` reads the newest.",
    ),
    (
        "portal/",
        "The portal's self-signed certificate and key, its instructor token and its audit log (`serve`).",
    ),
];

/// Commands an instructor types, each with what it does.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "noglab validate labs/bgp",
        "Check a lab's topology, every problem at once, without Docker.",
    ),
    (
        "noglab up labs/bgp --pods 3",
        "Bring up three pods of the lab; run it again to complete an interrupted start.",
    ),
    ("noglab status", "One row per node of the running labs."),
    (
        "noglab exec --pod 2 border -- vtysh -c 'show bgp summary'",
        "Run a command in pod 2's node `border` of the one running lab.",
    ),
    (
        "noglab exec bgp --pod all core -- ip -br addr",
        "The same in every pod of lab bgp, each line prefixed with its pod.",
    ),
    (
        "noglab connect --pod 2 border",
        "A shell in the node (vtysh for FRR, birdc for BIRD).",
    ),
    (
        "noglab check --watch",
        "The room's scoreboard, refreshed for a projector.",
    ),
    (
        "noglab reset --pod 2",
        "Put pod 2 back to its initial state (its work is saved first).",
    ),
    ("noglab down bgp", "Remove everything of lab bgp."),
    (
        "noglab completions bash > /etc/bash_completion.d/noglab",
        "Complete commands, lab names, pods and nodes in bash.",
    ),
];

/// Our sections, as roff.
fn sections() -> String {
    let mut roff = String::new();
    let mut tagged = |title: &str, items: &[(String, &str)], bold: bool| {
        let _ = writeln!(roff, ".SH \"{title}\"");
        for (tag, text) in items {
            let font = if bold { "\\fB" } else { "\\fI" };
            let _ = writeln!(roff, ".TP\n{font}{}\\fR\n{}", escape(tag), escape(text));
        }
    };
    let owned = |items: &[(&str, &'static str)]| -> Vec<(String, &'static str)> {
        items.iter().map(|(t, x)| (t.to_string(), *x)).collect()
    };
    tagged("EXIT STATUS", &exit_status(), true);
    tagged("ENVIRONMENT", &owned(ENVIRONMENT), true);
    tagged("FILES", &owned(FILES), false);
    tagged("EXAMPLES", &owned(EXAMPLES), true);
    roff
}

/// Text as roff shows it: backslashes and hyphens escaped, no line taken
/// for a request.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of section `title` of `page`, up to the next section.
    fn section<'a>(page: &'a str, title: &str) -> &'a str {
        let head = format!(".SH \"{title}\"\n");
        let start = page
            .find(&head)
            .unwrap_or_else(|| panic!("no {title} section in the page"))
            + head.len();
        let rest = &page[start..];
        &rest[..rest.find("\n.SH ").unwrap_or(rest.len())]
    }

    /// Every `NOGLAB_` variable the code under `dir` reads from its
    /// environment (`env::var`, `var_os`, a clap `env =`).
    fn variables_read(dir: &Path, found: &mut std::collections::BTreeSet<String>) {
        let read = regex::Regex::new(r#"(?:var(?:_os)?\(\s*|env\s*=\s*)"(NOGLAB_[A-Z0-9_]+)""#)
            .expect("a regex");
        for entry in std::fs::read_dir(dir).expect("src/ is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                variables_read(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("readable source");
                found.extend(read.captures_iter(&text).map(|c| c[1].to_string()));
            }
        }
    }

    #[test]
    fn the_page_has_exit_status_environment_files_and_examples() {
        let page = main_page();
        let status = section(&page, "EXIT STATUS");
        for code in ["0", "1", "2", "130"] {
            assert!(status.contains(&format!("\\fB{code}\\fR")), "{status}");
        }
        assert!(section(&page, "FILES").contains("labs/LAB/plan.json"));
        let examples = section(&page, "EXAMPLES");
        assert!(examples.matches(".TP").count() >= 5, "{examples}");
        // Ours come after clap's and before the version, as man pages go.
        let at = |s: &str| page.find(s).unwrap_or_else(|| panic!("no {s}"));
        assert!(at(".SH OPTIONS") < at(".SH \"EXIT STATUS\""));
        assert!(at(".SH \"EXAMPLES\"") < at(".SH VERSION"));
    }

    #[test]
    fn every_variable_the_code_reads_is_in_environment() {
        let mut read = std::collections::BTreeSet::new();
        variables_read(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut read,
        );
        // The scan does find reads: the state directory's is one.
        assert!(read.contains("NOGLAB_STATE_DIR"), "{read:?}");
        let page = main_page();
        let environment = section(&page, "ENVIRONMENT");
        let missing: Vec<_> = read
            .iter()
            .filter(|v| !environment.contains(&format!("\\fB{}\\fR", escape(v))))
            .collect();
        assert!(missing.is_empty(), "not in ENVIRONMENT: {missing:?}");
    }

    #[test]
    fn roff_requests_and_hyphens_are_escaped() {
        assert_eq!(escape("--pod"), "\\-\\-pod");
        assert_eq!(escape(".hidden"), "\\&.hidden");
        assert_eq!(escape("a\\b"), "a\\eb");
    }
}
