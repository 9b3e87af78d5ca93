//! `noglab __complete CWORD -- WORDS...`: what the shell may complete the
//! word at CWORD with, from what runs on the engine: lab names, pod numbers
//! and node names, one a line. The scripts `noglab completions` prints call
//! it, and fall back to the commands' and flags' static completion when it
//! prints nothing.
//!
//! Owns only the reading of a half-typed command line; which arguments a
//! command has comes from `cli`, what runs from the engine's labels. Never
//! fails loudly: a shell completing a word must not print errors.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;

use crate::cli::Cli;
use crate::engine::{Connector, Engine, Scope};
use crate::plan::labels;

/// What runs: lab, then pod label (`3`, `shared`), then node names.
pub type Running = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Commands whose first word may be a lab and whose next is a node.
const NODE_COMMANDS: &[&str] = &["exec", "connect", "capture"];

pub async fn run<C: Connector>(engines: &C, cword: usize, words: &[String]) -> anyhow::Result<()> {
    let Ok(engine) = engines.engine().await else {
        return Ok(());
    };
    let Ok(running) = running(engine).await else {
        return Ok(());
    };
    for word in candidates(words, cword, &running) {
        println!("{word}");
    }
    Ok(())
}

/// Every noglab container's lab, pod and node, by their labels.
pub async fn running<E: Engine>(engine: &E) -> anyhow::Result<Running> {
    let mut out = Running::new();
    for c in engine.containers(Scope::All).await? {
        let (Some(lab), Some(pod), Some(node)) = (
            c.label(labels::LAB),
            c.label(labels::POD),
            c.label(labels::NODE),
        ) else {
            continue;
        };
        out.entry(lab.to_string())
            .or_default()
            .entry(pod.to_string())
            .or_default()
            .insert(node.to_string());
    }
    Ok(out)
}

/// The words the shell may put at `words[cword]` (`words[0]` is the
/// program), before the shell keeps those that start with what is typed.
/// Empty when noglab has nothing of its own to offer there.
pub fn candidates(words: &[String], cword: usize, running: &Running) -> Vec<String> {
    let mut root = Cli::command();
    root.build();
    let typed = &words[..cword.min(words.len())];
    // The command, and the words after it up to the one completed.
    let Some((at, sub)) = typed.iter().enumerate().skip(1).find_map(|(i, w)| {
        root.get_subcommands()
            .find(|s| s.get_name() == w)
            .map(|s| (i, s))
    }) else {
        return Vec::new();
    };
    let (mut command, mut rest) = (sub, &typed[at + 1..]);
    // `credentials rotate`, `images ...`, `link down`: the inner command.
    if let Some((i, inner)) = rest.iter().enumerate().find_map(|(i, w)| {
        command
            .get_subcommands()
            .find(|s| s.get_name() == w)
            .map(|s| (i, s))
    }) {
        command = inner;
        rest = &rest[i + 1..];
    }
    if rest.iter().any(|w| w == "--") {
        return Vec::new();
    }
    // The positional words, and the flag whose value is being typed.
    let mut positionals = Vec::new();
    let mut pending: Option<&str> = None;
    for w in rest {
        if pending.take().is_some() {
            continue;
        }
        match option(command, w) {
            Some(takes_value) => pending = takes_value.then_some(w.as_str()),
            None => positionals.push(w.as_str()),
        }
    }
    // Which lab the command is about: a word naming one, else the only one.
    let lab = positionals
        .iter()
        .find(|w| running.contains_key(**w))
        .map(|w| w.to_string())
        .or_else(|| {
            (running.len() == 1)
                .then(|| running.keys().next().cloned())
                .flatten()
        });
    let pods = |lab: &Option<String>| -> Vec<String> {
        let Some(pods) = lab.as_ref().and_then(|l| running.get(l)) else {
            return Vec::new();
        };
        let mut numbers: Vec<(u32, String)> = pods
            .keys()
            .filter_map(|p| p.parse().ok().map(|n| (n, p.clone())))
            .collect();
        numbers.sort();
        let mut out: Vec<String> = numbers.into_iter().map(|(_, p)| p).collect();
        out.extend(pods.keys().filter(|p| p.parse::<u32>().is_err()).cloned());
        out
    };
    let nodes = |lab: &Option<String>| -> Vec<String> {
        let Some(pods) = lab.as_ref().and_then(|l| running.get(l)) else {
            return Vec::new();
        };
        let all: BTreeSet<&String> = pods.values().flatten().collect();
        all.into_iter().cloned().collect()
    };
    match pending {
        Some("--pod") => return pods(&lab),
        Some("--node") => return nodes(&lab),
        Some(_) => return Vec::new(),
        None => {}
    }
    let current = words.get(cword).map_or("", String::as_str);
    if current.starts_with('-') {
        return Vec::new();
    }
    let takes_lab = command
        .get_arguments()
        .any(|a| a.is_positional() && a.get_id() == "lab");
    if NODE_COMMANDS.contains(&command.get_name()) {
        return match positionals.as_slice() {
            [] => running.keys().cloned().chain(nodes(&lab)).collect(),
            [first] if running.contains_key(*first) => nodes(&lab),
            _ => Vec::new(),
        };
    }
    if takes_lab && positionals.is_empty() {
        return running.keys().cloned().collect();
    }
    Vec::new()
}

/// `Some(takes a value)` when `word` is one of `command`'s flags (with
/// its value joined by `=`, it takes none after it); `None` for a
/// positional word.
fn option(command: &clap::Command, word: &str) -> Option<bool> {
    if !word.starts_with('-') || word == "-" {
        return None;
    }
    if word.contains('=') {
        return Some(false);
    }
    let arg = if let Some(long) = word.strip_prefix("--") {
        command.get_arguments().find(|a| a.get_long() == Some(long))
    } else {
        let short = word.chars().nth(1);
        command
            .get_arguments()
            .find(|a| short.is_some() && a.get_short() == short)
    };
    Some(arg.is_some_and(|a| {
        a.get_num_args().is_some_and(|n| n.takes_values())
            || matches!(
                a.get_action(),
                clap::ArgAction::Set | clap::ArgAction::Append
            )
    }))
}

/// What `noglab completions bash` adds to clap's script: ask noglab for
/// the running labs, pods and nodes first.
pub const BASH: &str = r#"
# Running labs, pod numbers and node names, from the engine.
# (IFS is left alone: clap's function, called when there is nothing
# running to offer, splits its word lists with it.)
_noglab_running() {
    local cur="${COMP_WORDS[COMP_CWORD]}" found
    found=$("${COMP_WORDS[0]}" __complete "$COMP_CWORD" -- "${COMP_WORDS[@]}" 2>/dev/null)
    if [[ -n "$found" ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$found" -- "$cur")
        return 0
    fi
    _noglab "$@"
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _noglab_running -o nosort -o bashdefault -o default noglab
else
    complete -F _noglab_running -o bashdefault -o default noglab
fi
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> Running {
        let mut running = Running::new();
        for (lab, pods, nodes) in [
            (
                "bgp",
                &["1", "2", "10", "shared"][..],
                &["border", "core", "host"][..],
            ),
            ("dns", &["1"][..], &["resolver"][..]),
        ] {
            for pod in pods {
                let set = nodes.iter().map(|n| n.to_string()).collect();
                running
                    .entry(lab.to_string())
                    .or_default()
                    .insert(pod.to_string(), set);
            }
        }
        running
    }

    /// Completes the last word of `line` (an empty one when it ends in a space).
    fn complete(line: &str, running: &Running) -> Vec<String> {
        let mut words: Vec<String> = line.split_whitespace().map(String::from).collect();
        if line.ends_with(' ') {
            words.push(String::new());
        }
        candidates(&words, words.len() - 1, running)
    }

    #[test]
    fn labs_then_nodes_then_pods() {
        let room = room();
        assert_eq!(
            complete("noglab exec ", &room),
            ["bgp", "dns"],
            "two labs: no node is offered before the lab"
        );
        assert_eq!(
            complete("noglab exec bgp ", &room),
            ["border", "core", "host"]
        );
        assert_eq!(
            complete("noglab exec bgp --pod ", &room),
            ["1", "2", "10", "shared"]
        );
        assert_eq!(complete("noglab exec --pod 2 dns ", &room), ["resolver"]);
        assert_eq!(complete("noglab connect dns --pod ", &room), ["1"]);
        assert!(complete("noglab exec bgp core ", &room).is_empty());
        assert!(complete("noglab exec bgp core -- ", &room).is_empty());
        assert_eq!(complete("noglab status ", &room), ["bgp", "dns"]);
        assert_eq!(
            complete("noglab reset bgp --node ", &room),
            ["border", "core", "host"]
        );
        assert_eq!(
            complete("noglab credentials rotate ", &room),
            ["bgp", "dns"]
        );
        assert!(complete("noglab status --format ", &room).is_empty());
        assert!(complete("noglab status bgp ", &room).is_empty());
        assert!(complete("noglab ", &room).is_empty(), "commands are clap's");
    }

    #[test]
    fn one_lab_running_is_the_lab_meant() {
        let mut room = room();
        room.remove("dns");
        assert_eq!(
            complete("noglab exec ", &room),
            ["bgp", "border", "core", "host"]
        );
        assert_eq!(
            complete("noglab exec -q --pod ", &room),
            ["1", "2", "10", "shared"]
        );
        assert_eq!(
            complete("noglab -q connect --pod=1 ", &room),
            ["bgp", "border", "core", "host"]
        );
        assert!(complete("noglab exec ", &Running::new()).is_empty());
    }
}
