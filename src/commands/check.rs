//! `noglab check`: the instructor's scoreboard. Runs the lab's checks in
//! every selected pod, in parallel, retrying what converges, and prints
//! pods as rows and checks as columns; `--watch` keeps it on the projector.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::cli::ListFormat;
use crate::diag::{input_error, ExitCode};
use crate::engine::{Connector, Engine, Scope};
use crate::plan::checks::{evaluate, CheckSpec};
use crate::plan::labels;
use crate::{state, topology};

/// Execs in flight across the whole room, per CPU, by default. Each is a
/// node's checks (a first try) or one check (a retry): the engine, the
/// node's daemons and the checks' commands share the machine with the
/// routers under test, so the board must not starve them. Measured on 2
/// CPUs, labs/bgp at 30 pods (docs/sizing.md): 16 in flight took the
/// load average to 55-80 during the board, 2 per CPU to about a fifth of
/// that, for about the same time.
pub const PARALLEL_PER_CPU: usize = 2;

/// The default number of execs in flight for a board.
pub fn default_parallel() -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    (cpus * PARALLEL_PER_CPU).max(2)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub pod: u32,
    pub id: String,
    pub status: Status,
    /// What did not hold, or why the check could not run.
    pub detail: String,
    /// The end of the command's output, for failures.
    pub output: String,
    pub seconds: f64,
}

/// Whether a `check` target is a topology file or folder, not a lab name.
pub(crate) fn is_file_target(t: &str) -> bool {
    t.contains('/') || t.ends_with(".yml") || t.ends_with(".yaml") || Path::new(t).is_dir()
}

/// The lab a `check` target names: a lab name, or a topology file whose lab
/// must be running.
async fn lab_of<E: Engine>(engine: &E, target: Option<String>) -> Result<String> {
    match target {
        Some(t) if is_file_target(&t) => {
            let loaded = topology::load(Path::new(&t))?;
            let lab = loaded.topology.name;
            if super::labs(engine).await?.contains(&lab) {
                Ok(lab)
            } else {
                Err(input_error(format!(
                    "lab {lab} (from {t}) is not running; start it with `noglab up {t}`"
                )))
            }
        }
        other => super::resolve_lab(engine, other).await,
    }
}

/// How a board runs, from `noglab check`'s flags.
pub struct Board<'a> {
    pub pods: Option<&'a str>,
    pub step: Option<u32>,
    pub format: ListFormat,
    /// One try per check (`--no-wait`, `--watch`).
    pub once: bool,
    pub watch: bool,
    pub parallel: Option<usize>,
}

pub async fn run<C: Connector>(
    engines: &C,
    target: Option<String>,
    board: Board<'_>,
) -> Result<()> {
    let Board {
        pods,
        step,
        format,
        once,
        watch,
        parallel,
    } = board;
    let parallel = parallel.unwrap_or_else(default_parallel).max(1);
    let engine = engines.engine().await?;
    let file = target.clone().filter(|t| is_file_target(t));
    let lab = lab_of(engine, target).await?;
    let plan = state::load_plan(&lab)?.ok_or_else(|| {
        anyhow!("noglab has no saved plan for lab {lab}; run `noglab up FILE` for it first")
    })?;
    // Checked by its file, a lab runs the checks written there now, so that
    // a lab author can edit checks and try them without `up` in between.
    let plan = match file {
        Some(f) => {
            let loaded = topology::load(Path::new(&f))?;
            super::expand_in(&loaded, plan.pods, Some(plan.block), plan.solution)?
        }
        None => plan,
    };
    let existing: BTreeSet<u32> = plan.pod_plans.keys().copied().collect();
    let selected = super::parse_pods(pods.unwrap_or("all"), &existing)?;
    let work: Vec<(u32, CheckSpec)> = selected
        .iter()
        .flat_map(|p| {
            plan.pod_plans[p]
                .checks
                .iter()
                .map(move |c| (*p, c.clone()))
        })
        .filter(|(_, c)| step.is_none_or(|s| c.step == s))
        .collect();
    if work.is_empty() {
        return Err(input_error(match step {
            Some(s) => format!("lab {lab} has no checks for step {s}"),
            None => format!("lab {lab} has no checks; add `checks:` to its topology"),
        }));
    }
    // Pods on an engine that does not answer are not tried: their checks
    // are errors that say so, at once.
    let cut_off: BTreeMap<u32, String> = if engine.unreachable().is_empty() {
        BTreeMap::new()
    } else {
        engine
            .containers(Scope::Lab(&lab))
            .await?
            .into_iter()
            .filter(|c| c.state == crate::engine::UNREACHABLE)
            .filter_map(|c| Some((c.label(labels::POD)?.parse().ok()?, c.status)))
            .collect()
    };
    let (work, unreachable): (Vec<_>, Vec<_>) = work
        .into_iter()
        .partition(|(p, _)| !cut_off.contains_key(p));
    let mut columns: Vec<(String, String, u32)> = Vec::new();
    for (_, c) in work.iter().chain(&unreachable) {
        if !columns.iter().any(|(id, _, _)| id == &c.id) {
            columns.push((c.id.clone(), c.title.clone(), c.step));
        }
    }
    loop {
        let started = Instant::now();
        // On the projector a board refreshes quickly: one try per check.
        let mut outcomes = run_all(engine, &work, !once, parallel).await;
        outcomes.extend(
            unreachable.iter().map(|(p, c)| {
                outcome(*p, c, Status::Error, cut_off[p].clone(), String::new(), 0.0)
            }),
        );
        let elapsed = started.elapsed().as_secs_f64();
        // Redraw in place on a terminal; a pipe gets one board after another.
        if watch && std::io::stdout().is_terminal() {
            print!("\x1b[2J\x1b[H");
        }
        match format {
            ListFormat::Json => print_json(&lab, &columns, &outcomes, elapsed)?,
            ListFormat::Table => print_board(&lab, &columns, &selected, &outcomes, elapsed, !watch),
        }
        if !watch {
            if outcomes.iter().all(|o| o.status == Status::Pass) {
                return Ok(());
            }
            return Err(ExitCode(1).into());
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

pub async fn run_all<E: Engine>(
    engine: &E,
    work: &[(u32, CheckSpec)],
    retry: bool,
    parallel: usize,
) -> Vec<Outcome> {
    let started = Instant::now();
    let first = first_tries(engine, work, parallel).await;
    let seconds = started.elapsed().as_secs_f64();
    // What the first pass settled is done; the rest is tried on its own,
    // again until its timeout when converging is allowed.
    let mut out = Vec::new();
    // By index into `work`: a stream of borrowed items makes a future the
    // compiler cannot prove `Send`, and the portal runs boards in tasks.
    let mut again: Vec<usize> = Vec::new();
    for (i, ((pod, c), result)) in work.iter().zip(first).enumerate() {
        let verdict = result.map(|(code, text)| (evaluate(&c.expect, code, &text), text));
        match verdict {
            Some((Ok(()), _)) => out.push(outcome(
                *pod,
                c,
                Status::Pass,
                String::new(),
                String::new(),
                seconds,
            )),
            Some((Err(why), text)) if !retry => {
                out.push(outcome(*pod, c, Status::Fail, why, tail(&text, 6), seconds))
            }
            _ => again.push(i),
        }
    }
    let rest: Vec<Outcome> = stream::iter(again)
        .map(|i: usize| run_one(engine, work[i].0, &work[i].1, retry))
        .buffer_unordered(parallel)
        .collect()
        .await;
    out.extend(rest);
    out.sort_by(|a, b| (a.pod, &a.id).cmp(&(b.pod, &b.id)));
    out
}

fn outcome(
    pod: u32,
    c: &CheckSpec,
    status: Status,
    detail: String,
    output: String,
    seconds: f64,
) -> Outcome {
    Outcome {
        pod,
        id: c.id.clone(),
        status,
        detail,
        output,
        seconds,
    }
}

/// A check's exit code and output (stdout, then stderr), or `None` when it
/// did not run.
pub(crate) type Tried = Option<(i64, String)>;

/// The first try of every check, one exec per node: a room of 30 pods with
/// 37 checks on 4 nodes each is 120 execs, not 1110. `None` where the
/// batch could not run (that check is then tried on its own); a check
/// the shared vtysh did not reach gets a second batch of its node.
pub(crate) async fn first_tries<E: Engine>(
    engine: &E,
    work: &[(u32, CheckSpec)],
    parallel: usize,
) -> Vec<Tried> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, c)) in work.iter().enumerate() {
        groups.entry(c.container.as_str()).or_default().push(i);
    }
    // Owned items, for the same reason as in `run_all`.
    let done: Vec<Vec<(usize, Tried)>> = stream::iter(groups.into_values())
        .map(|items: Vec<usize>| async move {
            let container = work[items[0]].1.container.as_str();
            // FRR's one-line commands go through one vtysh: its start
            // costs more CPU than most commands (about 25 ms), and a
            // router has a score of them.
            let lines: Vec<Option<String>> = items
                .iter()
                .map(|&i| vtysh_line(&work[i].1.command))
                .collect();
            let share = lines.iter().flatten().count() >= 2;
            let (mut merged, mut merged_lines, mut alone) = (Vec::new(), Vec::new(), Vec::new());
            for (&i, line) in items.iter().zip(lines) {
                match line {
                    Some(line) if share => {
                        merged.push(i);
                        merged_lines.push(line);
                    }
                    _ => alone.push(i),
                }
            }
            let mut commands: Vec<&[String]> = alone
                .iter()
                .map(|&i| work[i].1.command.as_slice())
                .collect();
            let vtysh: Vec<String> = ["vtysh", "-E"]
                .into_iter()
                .map(String::from)
                .chain(
                    merged_lines
                        .iter()
                        .flat_map(|l| ["-c".to_string(), l.clone()]),
                )
                .collect();
            if share {
                commands.push(&vtysh);
            }
            let mut parsed = run_batch(engine, container, &commands).await;
            let split = match share.then(|| parsed.pop().flatten()) {
                Some(Some((code, text))) => {
                    let mut split = split_vtysh(&text, code, &merged_lines);
                    // vtysh stops at a command that fails (a BFD peer not
                    // configured yet): those after it run in a batch of
                    // their own, so that every caller gets their result,
                    // the lint's rounds as well as the board.
                    let unreached: Vec<usize> =
                        (0..split.len()).filter(|&k| split[k].is_none()).collect();
                    if !unreached.is_empty() {
                        let commands: Vec<&[String]> = unreached
                            .iter()
                            .map(|&k| work[merged[k]].1.command.as_slice())
                            .collect();
                        let again = run_batch(engine, container, &commands).await;
                        for (k, tried) in unreached.into_iter().zip(again) {
                            split[k] = tried;
                        }
                    }
                    split
                }
                _ => vec![None; merged_lines.len()],
            };
            merged
                .into_iter()
                .zip(split)
                .chain(alone.into_iter().zip(parsed))
                .collect()
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    let mut out = vec![None; work.len()];
    for (i, r) in done.into_iter().flatten() {
        out[i] = r;
    }
    out
}

/// One exec of `commands` side by side in `container` (`batch_script`):
/// each one's code and output, or `None` where the exec could not run.
async fn run_batch<E: Engine>(engine: &E, container: &str, commands: &[&[String]]) -> Vec<Tried> {
    let cmd = ["sh".to_string(), "-c".to_string(), batch_script(commands)];
    match engine.exec(container, &cmd).await {
        Ok(res) => parse_batch(&res.stdout, commands.len()),
        Err(_) => vec![None; commands.len()],
    }
}

/// The vtysh command line of a check that runs exactly one through vtysh
/// (`vtysh -c LINE`, or `sh -c "vtysh -c 'LINE'"` as labs write it), so
/// that several can share one vtysh.
fn vtysh_line(argv: &[String]) -> Option<String> {
    let line = match argv {
        [vtysh, c, line] if vtysh == "vtysh" && c == "-c" => line.clone(),
        [sh, c, script] if sh == "sh" && c == "-c" => {
            let inner = script
                .trim()
                .strip_prefix("vtysh -c '")?
                .strip_suffix('\'')?;
            if inner.contains('\'') {
                return None;
            }
            inner.to_string()
        }
        _ => return None,
    };
    let simple = !line.is_empty() && !line.contains('\n') && line.trim() == line;
    simple.then_some(line)
}

/// Each command's share of what one `vtysh -E -c L1 -c L2 ...` printed:
/// vtysh echoes every line after its prompt (`router# L1`) before its
/// output, and stops at the first command that fails, exiting non-zero.
/// A command before the last one echoed succeeded; the last one gets
/// vtysh's exit code; one never echoed did not run (`None`: it then runs
/// in a batch of its own).
fn split_vtysh(text: &str, code: i64, lines: &[String]) -> Vec<Tried> {
    let mut out: Vec<Tried> = vec![None; lines.len()];
    let mut segments: Vec<String> = Vec::new();
    let mut next = 0;
    for row in text.split_inclusive('\n') {
        let bare = row.trim_end_matches('\n');
        let echo = lines.get(next).and_then(|l| bare.strip_suffix(l.as_str()));
        if echo.is_some_and(|prompt| prompt.ends_with("# ")) {
            segments.push(String::new());
            next += 1;
        } else if let Some(current) = segments.last_mut() {
            current.push_str(row);
        }
    }
    let echoed = segments.len();
    for (k, segment) in segments.into_iter().enumerate() {
        let last = k + 1 == echoed;
        if last && code != 0 {
            out[k] = Some((code, segment));
        } else if !last || echoed == lines.len() {
            out[k] = Some((0, segment));
        }
    }
    out
}

fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', "'\\''"))
}

/// A script that runs the commands side by side (a slow ping does not hold
/// up the rest) and then prints, for each, a header `@@noglab-check INDEX
/// CODE OUT_BYTES ERR_BYTES` followed by its stdout and stderr, byte for byte.
fn batch_script(commands: &[&[String]]) -> String {
    let mut s = String::from("d=$(mktemp -d) || exit 97\n");
    for (i, argv) in commands.iter().enumerate() {
        let line: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        s.push_str(&format!(
            "{{ {} </dev/null >\"$d/{i}.o\" 2>\"$d/{i}.e\"; echo $? >\"$d/{i}.rc\"; }} &\n",
            line.join(" ")
        ));
    }
    s.push_str("wait\n");
    for i in 0..commands.len() {
        s.push_str(&format!(
            "printf '@@noglab-check {i} %d %d %d\\n' \"$(cat \"$d/{i}.rc\")\" \"$(wc -c <\"$d/{i}.o\")\" \"$(wc -c <\"$d/{i}.e\")\"\ncat \"$d/{i}.o\" \"$d/{i}.e\"\n"
        ));
    }
    s.push_str("rm -rf \"$d\"\n");
    s
}

/// Reads what `batch_script` printed: per command, its exit code and its
/// stdout followed by its stderr.
fn parse_batch(out: &[u8], n: usize) -> Vec<Tried> {
    let mut results = vec![None; n];
    let mut rest = out;
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
        let fields: Vec<&str> = header.split_whitespace().collect();
        let parsed = match fields.as_slice() {
            ["@@noglab-check", i, code, o, e] => (|| {
                Some((
                    i.parse::<usize>().ok()?,
                    code.parse::<i64>().ok()?,
                    o.parse::<usize>().ok()?,
                    e.parse::<usize>().ok()?,
                ))
            })(),
            _ => None,
        };
        let Some((i, code, o, e)) = parsed else {
            break;
        };
        let body = &rest[nl + 1..];
        if i >= n || body.len() < o + e {
            break;
        }
        let text = String::from_utf8_lossy(&body[..o]).into_owned()
            + &String::from_utf8_lossy(&body[o..o + e]);
        results[i] = Some((code, text));
        rest = &body[o + e..];
    }
    results
}

async fn run_one<E: Engine>(engine: &E, pod: u32, c: &CheckSpec, retry: bool) -> Outcome {
    let started = Instant::now();
    let deadline = Duration::from_secs(if retry { u64::from(c.timeout) } else { 0 });
    loop {
        let (status, detail, output) = match engine.exec(&c.container, &c.command).await {
            Err(e) => (Status::Error, format!("{e:#}"), String::new()),
            Ok(res) => {
                let text = String::from_utf8_lossy(&res.stdout).into_owned()
                    + &String::from_utf8_lossy(&res.stderr);
                match evaluate(&c.expect, res.code, &text) {
                    Ok(()) => (Status::Pass, String::new(), String::new()),
                    Err(why) => (Status::Fail, why, tail(&text, 6)),
                }
            }
        };
        if status == Status::Pass || started.elapsed() >= deadline {
            return Outcome {
                pod,
                id: c.id.clone(),
                status,
                detail,
                output,
                seconds: started.elapsed().as_secs_f64(),
            };
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn print_json(
    lab: &str,
    columns: &[(String, String, u32)],
    outcomes: &[Outcome],
    seconds: f64,
) -> Result<()> {
    #[derive(Serialize)]
    struct Column<'a> {
        id: &'a str,
        title: &'a str,
        step: u32,
    }
    #[derive(Serialize)]
    struct Board<'a> {
        lab: &'a str,
        checks: Vec<Column<'a>>,
        results: &'a [Outcome],
        passed: usize,
        failed: usize,
        seconds: f64,
    }
    let passed = outcomes.iter().filter(|o| o.status == Status::Pass).count();
    let board = Board {
        lab,
        checks: columns
            .iter()
            .map(|(id, title, step)| Column {
                id,
                title,
                step: *step,
            })
            .collect(),
        results: outcomes,
        passed,
        failed: outcomes.len() - passed,
        seconds: (seconds * 100.0).round() / 100.0,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&board).context("failed to print the board")?
    );
    Ok(())
}

fn print_board(
    lab: &str,
    columns: &[(String, String, u32)],
    pods: &BTreeSet<u32>,
    outcomes: &[Outcome],
    seconds: f64,
    details: bool,
) {
    let color = crate::progress::color_stdout();
    let mark = |s: Status| -> (&'static str, &'static str) {
        match s {
            Status::Pass => ("ok", "\x1b[32m"),
            Status::Fail => ("FAIL", "\x1b[31;1m"),
            Status::Error => ("ERR", "\x1b[33m"),
        }
    };
    let by: BTreeMap<(u32, &str), &Outcome> = outcomes
        .iter()
        .map(|o| ((o.pod, o.id.as_str()), o))
        .collect();
    let width: Vec<usize> = columns.iter().map(|(id, _, _)| id.len().max(4)).collect();
    let mut header = format!("{:<5}", "POD");
    for ((id, _, _), w) in columns.iter().zip(&width) {
        header.push_str(&format!("  {id:<w$}"));
    }
    println!("{}", header.trim_end());
    for pod in pods {
        let mut line = format!("{pod:<5}");
        for ((id, _, _), w) in columns.iter().zip(&width) {
            let cell = by.get(&(*pod, id.as_str())).map(|o| mark(o.status));
            let (text, code) = cell.unwrap_or(("-", ""));
            if color && !code.is_empty() {
                line.push_str(&format!("  {code}{text:<w$}\x1b[0m"));
            } else {
                line.push_str(&format!("  {text:<w$}"));
            }
        }
        println!("{}", line.trim_end());
    }
    let passed = outcomes.iter().filter(|o| o.status == Status::Pass).count();
    println!(
        "\n{lab}: {passed} of {} checks pass in {} pod{} ({seconds:.1}s){}",
        outcomes.len(),
        pods.len(),
        if pods.len() == 1 { "" } else { "s" },
        if details {
            ""
        } else {
            "; refreshing every 5s, Ctrl-C to stop"
        }
    );
    if details {
        for (id, title, step) in columns {
            println!("  {id}: {title} (step {step})");
        }
        for o in outcomes.iter().filter(|o| o.status != Status::Pass) {
            println!("\npod {} {}: {}", o.pod, o.id, o.detail);
            for l in o.output.lines() {
                println!("    | {l}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn frr_one_liners_share_one_vtysh_and_the_rest_run_alone() {
        assert_eq!(
            vtysh_line(&argv(&["vtysh", "-c", "show bgp neighbors 192.0.2.1 json"])).as_deref(),
            Some("show bgp neighbors 192.0.2.1 json")
        );
        assert_eq!(
            vtysh_line(&argv(&[
                "sh",
                "-c",
                "vtysh -c 'show ip ospf neighbor json'"
            ]))
            .as_deref(),
            Some("show ip ospf neighbor json")
        );
        for other in [
            argv(&["sh", "-c", "vtysh -c 'show ip route' | grep 192.0.2.0"]),
            argv(&["sh", "-c", "vtysh -c 'show ip route' -c 'show ipv6 route'"]),
            argv(&["vtysh", "-c", "show version\nshow ip route"]),
            argv(&["vtysh", "-c", "show version", "-c", "show ip route"]),
            argv(&["ping", "-4", "-c", "2", "192.0.2.1"]),
            argv(&["birdc", "show route"]),
        ] {
            assert_eq!(vtysh_line(&other), None, "{other:?}");
        }
    }

    #[test]
    fn one_vtysh_is_split_back_into_each_commands_output_and_code() {
        let lines = argv(&["show a json", "show b", "show c json"]);
        let text = "r1# show a json\n{\n  \"x\":1\n}\nr1# show b\n% No such neighbor\n\nr1# show c json\n{\n}\n";
        assert_eq!(
            split_vtysh(text, 0, &lines),
            vec![
                Some((0, "{\n  \"x\":1\n}\n".to_string())),
                Some((0, "% No such neighbor\n\n".to_string())),
                Some((0, "{\n}\n".to_string())),
            ]
        );
        // vtysh stops at an unknown command: the ones before it passed,
        // it failed with vtysh's code, the rest never ran.
        let text = "r1# show a json\n{}\nr1# show b\n% Unknown command: show b\n";
        assert_eq!(
            split_vtysh(text, 1, &lines),
            vec![
                Some((0, "{}\n".to_string())),
                Some((1, "% Unknown command: show b\n".to_string())),
                None,
            ]
        );
        // Cut short with a zero code (the batch lost its end): what was
        // not echoed did not run, and the last one echoed may be cut.
        assert_eq!(
            split_vtysh("r1# show a json\n{}\nr1# show b\n% No", 0, &lines),
            vec![Some((0, "{}\n".to_string())), None, None]
        );
        assert_eq!(split_vtysh("", 0, &lines), vec![None, None, None]);
    }

    #[test]
    fn a_batch_gives_each_command_its_own_code_and_output() {
        let commands = [
            argv(&[
                "sh",
                "-c",
                "printf 'no newline'; echo ' and stderr' >&2; exit 3",
            ]),
            argv(&[
                "printf",
                "%s\\n",
                "it's \"quoted\" $HOME `x`",
                "@@noglab-check 9 9 9 9",
            ]),
            argv(&["sh", "-c", "sleep 0.2; head -c 3000 /dev/zero | tr '\\0' x"]),
            argv(&["false"]),
        ];
        let refs: Vec<&[String]> = commands.iter().map(Vec::as_slice).collect();
        let out = std::process::Command::new("sh")
            .args(["-c", &batch_script(&refs)])
            .output()
            .expect("sh runs");
        let got = parse_batch(&out.stdout, 4);
        assert_eq!(got[0], Some((3, "no newline and stderr\n".to_string())));
        assert_eq!(
            got[1],
            Some((
                0,
                "it's \"quoted\" $HOME `x`\n@@noglab-check 9 9 9 9\n".to_string()
            ))
        );
        assert_eq!(got[2], Some((0, "x".repeat(3000))));
        assert_eq!(got[3], Some((1, String::new())));
        // Cut short, what was complete still counts.
        let cut = &out.stdout[..out.stdout.len() - 10];
        let partial = parse_batch(cut, 4);
        assert!(partial[0].is_some() && partial[3].is_none());
    }
}
