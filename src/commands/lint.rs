//! `noglab check --lint FILE`: proves that a lab's checks can fail and can
//! pass. It brings the lab up under a name of its own, as participants
//! get it, runs every check; then brings the pods up solved and runs every
//! check again; removes all it created; and says for each check whether
//! it failed on the initial lab and passed on the solved one.
//!
//! Step 0 is what holds from the start (the topology contract): its checks
//! must pass both times. Owns the two phases, their teardown and the
//! verdicts; the checks run as the board runs them (`check`), the lab
//! comes up as `up` brings it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use super::check::{first_tries, Outcome, Status};
use crate::cli::{ListFormat, UpArgs};
use crate::diag::{input_error, ExitCode};
use crate::engine::{Connector, Engine, Scope};
use crate::plan::checks::{evaluate, CheckSpec};
use crate::plan::labels;
use crate::stop::{is_interrupted, Interrupted, Stop};
use crate::{state, topology};

/// After the first Ctrl-C, how long lint gets to stop what runs and
/// remove its lab before it quits without doing so.
const GRACE: Duration = Duration::from_secs(120);

/// Between two rounds of the checks that still wait for their verdict.
const ROUND: Duration = Duration::from_secs(2);

/// How `check --lint` runs, from its flags.
pub struct Lint {
    pub pods: Option<u32>,
    pub format: ListFormat,
    pub parallel: Option<usize>,
    pub quiet: bool,
}

/// One check's verdict across the pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub id: String,
    pub step: u32,
    pub title: String,
    /// It failed in at least one pod of the initial lab.
    pub fails_initially: bool,
    /// It passed in every pod of the initial lab (what step 0 must).
    pub passes_initially: bool,
    /// It passed in every pod of the solved lab.
    pub passes_solved: bool,
    pub sound: bool,
    pub verdict: &'static str,
}

pub async fn run<C: Connector>(engines: &C, target: Option<String>, lint: Lint) -> Result<()> {
    let file = match target {
        Some(t) if super::check::is_file_target(&t) => PathBuf::from(t),
        _ => {
            return Err(input_error(
                "--lint takes a lab's folder or topology file (`noglab check --lint labs/bgp`): it brings up a lab of its own",
            ))
        }
    };
    let started = Instant::now();
    let mut loaded = topology::load(&file)?;
    let pods = lint.pods.unwrap_or(loaded.topology.pods);
    super::check_pods(pods)?;
    // Bad input stops here, before anything is created.
    if loaded.topology.checks.is_empty() {
        return Err(input_error(format!(
            "{} has no checks to lint; add `checks:` to its topology",
            file.display()
        )));
    }
    for solution in [false, true] {
        super::expand_in(&loaded, pods, None, solution)?;
    }
    let name = loaded.topology.name.clone();
    let lab = throwaway_name(&name);
    loaded.topology.name = lab.clone();
    if let Some(access) = loaded.topology.access.as_mut() {
        access.base_port = free_ports(pods)?;
    }
    let stop = Stop::on_ctrl_c_saying(
        GRACE,
        "interrupted again: quit before removing the lab: `noglab down LAB` removes it (its name ends in -lint-...)",
    );
    let say = |line: String| {
        if !lint.quiet {
            eprintln!("{line}");
        }
    };
    say(format!(
        "lint {}: {pods} pods as lab {lab}, initial then solved",
        file.display()
    ));
    let parallel = lint
        .parallel
        .unwrap_or_else(super::check::default_parallel)
        .max(1);
    let phases = Phases {
        file: &file,
        loaded: &loaded,
        pods,
        parallel,
        quiet: lint.quiet,
        stop: &stop,
    };
    let result = phases.run(engines, &say).await;
    say(format!("lint: removing lab {lab}"));
    let removed = teardown(engines, &lab).await;
    let (columns, initial, solved) = match (result, removed) {
        (Ok(r), Ok(())) => r,
        (Err(e), Ok(())) if is_interrupted(&e) => {
            return Err(anyhow::Error::new(Interrupted).context(format!(
                "lint of {} stopped; lab {lab} removed",
                file.display()
            )))
        }
        (Err(e), Ok(())) => {
            return Err(e.context(format!(
                "lint of {} did not finish; lab {lab} removed",
                file.display()
            )))
        }
        (Ok(_), Err(e)) => {
            return Err(e.context(format!(
                "lab {lab} could not be removed: `noglab down {lab}` removes it"
            )))
        }
        (Err(e), Err(_)) => {
            return Err(e.context(format!(
                "lint of {} did not finish, nor could it remove lab {lab}: `noglab down {lab}` removes it",
                file.display()
            )))
        }
    };
    let verdicts = verdicts(&columns, &initial, &solved);
    let seconds = started.elapsed().as_secs_f64();
    match lint.format {
        ListFormat::Json => print_json(&name, pods, &verdicts, &initial, &solved, seconds)?,
        ListFormat::Table => print_table(&name, pods, &verdicts, &initial, &solved, seconds),
    }
    conclude(&verdicts)
}

/// Exit 0 when every check is sound, 1 otherwise.
pub fn conclude(verdicts: &[Verdict]) -> Result<()> {
    if verdicts.iter().all(|v| v.sound) {
        Ok(())
    } else {
        Err(ExitCode(1).into())
    }
}

/// `NAME-lint-XXXX`, at most a lab name long: never a running lab's name,
/// and still starting as the lab's own does.
fn throwaway_name(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tag = (nanos ^ std::process::id().rotate_left(16)) & 0xffff;
    let keep = topology::MAX_LAB_NAME - "-lint-xxxx".len();
    let head: String = name.chars().take(keep).collect();
    format!("{head}-lint-{tag:04x}")
}

/// Host ports for the lint lab's access points that nothing listens on:
/// the lab's own may be taken by the lab itself, running for a class.
fn free_ports(pods: u32) -> Result<u16> {
    let free = |base: u32| {
        (1..=pods).all(|n| std::net::TcpListener::bind(("0.0.0.0", (base + n) as u16)).is_ok())
    };
    let seed = std::process::id() % 200;
    for attempt in 0..200 {
        let base = 30000 + ((seed + attempt * 37) % 200) * 150;
        if free(base) {
            return Ok(base as u16);
        }
    }
    Err(anyhow::anyhow!(
        "found no {pods} free host ports for the lint lab's access points"
    ))
}

/// The two phases, on one lab.
struct Phases<'a> {
    file: &'a Path,
    loaded: &'a topology::Loaded,
    pods: u32,
    parallel: usize,
    quiet: bool,
    stop: &'a Stop,
}

type Columns = Vec<(String, String, u32)>;

impl Phases<'_> {
    async fn run<C: Connector>(
        &self,
        engines: &C,
        say: &impl Fn(String),
    ) -> Result<(Columns, Vec<Outcome>, Vec<Outcome>)> {
        let lab = &self.loaded.topology.name;
        let done = self.up(engines, false).await?;
        say(done);
        let (columns, work) = self.work()?;
        say(format!("lint: {} checks on the initial lab", work.len()));
        let engine = engines.engine().await?;
        let initial = self
            .stop
            .abandon_on(rounds(engine, &work, self.parallel))
            .await?;
        say(format!(
            "lint: initial lab: {} of {} pass",
            passed(&initial),
            initial.len()
        ));
        // The pods' nodes go and come back solved; the shared nodes stay,
        // as in a room where the groups solve their pods.
        let nodes = engine.containers(Scope::Lab(lab)).await?;
        for c in nodes
            .iter()
            .filter(|c| c.label(labels::POD) != Some(crate::plan::SHARED_LABEL))
        {
            self.stop.check()?;
            engine.remove_container(&c.name).await?;
        }
        let done = self.up(engines, true).await?;
        say(done);
        let (_, work) = self.work()?;
        let solved = self
            .stop
            .abandon_on(rounds(engine, &work, self.parallel))
            .await?;
        say(format!(
            "lint: solved lab: {} of {} pass",
            passed(&solved),
            solved.len()
        ));
        Ok((columns, initial, solved))
    }

    async fn up<C: Connector>(&self, engines: &C, solution: bool) -> Result<String> {
        let args = UpArgs {
            file: self.file.to_path_buf(),
            pods: Some(self.pods),
            prune: false,
            recreate: true,
            apply_files: false,
            parallel: crate::reconcile::DEFAULT_PARALLEL,
            booting: None,
            solution,
            timings: false,
            skip_unreachable: false,
        };
        super::up::bring_up(engines, self.loaded, &args, self.quiet, self.stop).await
    }

    /// Every check of every pod, as the plan `up` saved has them, and the
    /// board's columns.
    fn work(&self) -> Result<(Columns, Vec<(u32, CheckSpec)>)> {
        let lab = &self.loaded.topology.name;
        let plan = state::load_plan(lab)?
            .with_context(|| format!("lab {lab} was brought up without a saved plan"))?;
        let work: Vec<(u32, CheckSpec)> = plan
            .pod_plans
            .iter()
            .flat_map(|(p, pp)| pp.checks.iter().map(move |c| (*p, c.clone())))
            .collect();
        let mut columns: Columns = Vec::new();
        for (_, c) in &work {
            if !columns.iter().any(|(id, _, _)| id == &c.id) {
                columns.push((c.id.clone(), c.title.clone(), c.step));
            }
        }
        if work.is_empty() {
            return Err(input_error(format!(
                "{} has no checks; add `checks:` to its topology",
                self.file.display()
            )));
        }
        Ok((columns, work))
    }
}

fn passed(outcomes: &[Outcome]) -> usize {
    outcomes.iter().filter(|o| o.status == Status::Pass).count()
}

/// Runs every check in rounds, one exec per node a round, as the board's
/// first try does; a check is done when it passes or when its timeout,
/// counted from the first round, has gone by. So each check gets the time
/// the board gives it to converge, and the checks that fail wait out their
/// timeouts side by side rather than a few at a time.
async fn rounds<E: Engine>(
    engine: &E,
    work: &[(u32, CheckSpec)],
    parallel: usize,
) -> Result<Vec<Outcome>> {
    let started = Instant::now();
    let mut done: Vec<Option<Outcome>> = vec![None; work.len()];
    loop {
        let pending: Vec<usize> = (0..work.len()).filter(|&i| done[i].is_none()).collect();
        if pending.is_empty() {
            break;
        }
        let batch: Vec<(u32, CheckSpec)> = pending.iter().map(|&i| work[i].clone()).collect();
        let tries = first_tries(engine, &batch, parallel).await;
        let elapsed = started.elapsed();
        for (&i, tried) in pending.iter().zip(tries) {
            let (pod, c) = &work[i];
            let (status, detail, output) = match tried {
                Some((code, text)) => match evaluate(&c.expect, code, &text) {
                    Ok(()) => (Status::Pass, String::new(), String::new()),
                    Err(why) => (Status::Fail, why, super::check::tail(&text, 6)),
                },
                None => (
                    Status::Error,
                    format!("the check could not run in {}", c.container),
                    String::new(),
                ),
            };
            if status == Status::Pass || elapsed >= Duration::from_secs(u64::from(c.timeout)) {
                done[i] = Some(Outcome {
                    pod: *pod,
                    id: c.id.clone(),
                    status,
                    detail,
                    output,
                    seconds: elapsed.as_secs_f64(),
                });
            }
        }
        if done.iter().any(Option::is_none) {
            tokio::time::sleep(ROUND).await;
        }
    }
    let mut out: Vec<Outcome> = done.into_iter().flatten().collect();
    out.sort_by(|a, b| (a.pod, &a.id).cmp(&(b.pod, &b.id)));
    Ok(out)
}

/// Removes the lint lab: its containers, networks and volumes, and what
/// the state directory holds of it.
async fn teardown<C: Connector>(engines: &C, lab: &str) -> Result<()> {
    let engine = engines.engine().await?;
    super::down::remove_lab(engine, lab).await?;
    let dir = state::dir();
    for d in [
        dir.join("labs").join(lab),
        super::save::store_dir().join(lab),
    ] {
        match std::fs::remove_dir_all(&d) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("failed to remove {}", d.display()))
            }
            _ => {}
        }
    }
    // The guard stays while any lab runs; with none left, it goes too.
    if super::labs(engine).await?.is_empty() {
        engine.remove_guard().await?;
    }
    Ok(())
}

/// Each check's verdict: a check of step 0 must pass in every pod both
/// times; any other must fail in some pod of the initial lab (a check of
/// one pod's software may pass in the others, `labs/dnssec`) and pass in
/// every pod of the solved one. An exec that could not run proves nothing:
/// it is neither a failure nor a pass.
pub fn verdicts(
    columns: &[(String, String, u32)],
    initial: &[Outcome],
    solved: &[Outcome],
) -> Vec<Verdict> {
    let of = |outcomes: &[Outcome], id: &str| -> Vec<Status> {
        outcomes
            .iter()
            .filter(|o| o.id == id)
            .map(|o| o.status)
            .collect()
    };
    let all_pass = |s: &[Status]| !s.is_empty() && s.iter().all(|s| *s == Status::Pass);
    columns
        .iter()
        .map(|(id, title, step)| {
            let before = of(initial, id);
            let after = of(solved, id);
            let fails_initially = before.contains(&Status::Fail);
            let passes_initially = all_pass(&before);
            let passes_solved = all_pass(&after);
            let (sound, verdict) = if *step == 0 {
                match (passes_initially, passes_solved) {
                    (true, true) => (true, "ok: holds from the start"),
                    (false, true) => (false, "STEP 0 FAILS INITIALLY"),
                    (true, false) => (false, "NEVER PASSES SOLVED"),
                    (false, false) => (false, "NEVER PASSES"),
                }
            } else {
                match (fails_initially, passes_solved) {
                    (true, true) => (true, "ok"),
                    (false, true) => (false, "NEVER FAILS"),
                    (true, false) => (false, "NEVER PASSES"),
                    (false, false) => (false, "NEVER FAILS, NEVER PASSES"),
                }
            };
            Verdict {
                id: id.clone(),
                step: *step,
                title: title.clone(),
                fails_initially,
                passes_initially,
                passes_solved,
                sound,
                verdict,
            }
        })
        .collect()
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn print_table(
    name: &str,
    pods: u32,
    verdicts: &[Verdict],
    initial: &[Outcome],
    solved: &[Outcome],
    seconds: f64,
) {
    let width = verdicts
        .iter()
        .map(|v| v.id.len())
        .max()
        .unwrap_or(0)
        .max(5);
    println!(
        "{:<4}  {:<width$}  {:<14}  {:<13}  VERDICT",
        "STEP", "CHECK", "FAILS INITIAL", "PASSES SOLVED"
    );
    for v in verdicts {
        println!(
            "{:<4}  {:<width$}  {:<14}  {:<13}  {}",
            v.step,
            v.id,
            yes(v.fails_initially),
            yes(v.passes_solved),
            v.verdict
        );
    }
    let unsound = verdicts.iter().filter(|v| !v.sound).count();
    println!(
        "\n{name}: {} of {} checks sound, {pods} pods ({seconds:.0}s)",
        verdicts.len() - unsound,
        verdicts.len()
    );
    // What each unsound check did, pod by pod.
    let by: BTreeMap<(&str, u32), (&Outcome, Option<&Outcome>)> = initial
        .iter()
        .map(|o| {
            let after = solved.iter().find(|s| s.id == o.id && s.pod == o.pod);
            ((o.id.as_str(), o.pod), (o, after))
        })
        .collect();
    for v in verdicts.iter().filter(|v| !v.sound) {
        println!("\n{}: {} (step {})", v.id, v.title, v.step);
        for ((_, pod), (before, after)) in by.range((v.id.as_str(), 0)..=(v.id.as_str(), u32::MAX))
        {
            for (phase, o) in [("initial", Some(*before)), ("solved", *after)] {
                let Some(o) = o else { continue };
                let status = match o.status {
                    Status::Pass => "pass",
                    Status::Fail => "FAIL",
                    Status::Error => "ERR",
                };
                println!("  pod {pod} {phase}: {status} {}", o.detail);
                for l in o.output.lines() {
                    println!("    | {l}");
                }
            }
        }
    }
}

fn print_json(
    name: &str,
    pods: u32,
    verdicts: &[Verdict],
    initial: &[Outcome],
    solved: &[Outcome],
    seconds: f64,
) -> Result<()> {
    #[derive(Serialize)]
    struct Report<'a> {
        lab: &'a str,
        pods: u32,
        sound: bool,
        checks: &'a [Verdict],
        initial: &'a [Outcome],
        solved: &'a [Outcome],
        seconds: f64,
    }
    let report = Report {
        lab: name,
        pods,
        sound: verdicts.iter().all(|v| v.sound),
        checks: verdicts,
        initial,
        solved,
        seconds: (seconds * 10.0).round() / 10.0,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&report).context("failed to print the lint")?
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pod: u32, id: &str, status: Status) -> Outcome {
        Outcome {
            pod,
            id: id.into(),
            status,
            detail: String::new(),
            output: String::new(),
            seconds: 0.0,
        }
    }

    fn col(id: &str, step: u32) -> (String, String, u32) {
        (id.into(), format!("{id}'s title"), step)
    }

    #[test]
    fn a_check_that_passes_on_the_initial_lab_never_fails_and_lint_exits_1() {
        use Status::*;
        let columns = [col("link", 0), col("bgp", 1), col("ospf", 1), col("zsk", 2)];
        let initial = [
            o(1, "link", Pass),
            o(2, "link", Pass),
            // Passes before any work: it cannot tell a solved pod.
            o(1, "bgp", Pass),
            o(2, "bgp", Pass),
            o(1, "ospf", Fail),
            o(2, "ospf", Fail),
            // One pod's software only: the other pod passes from the start.
            o(1, "zsk", Fail),
            o(2, "zsk", Pass),
        ];
        let solved = [
            o(1, "link", Pass),
            o(2, "link", Pass),
            o(1, "bgp", Pass),
            o(2, "bgp", Pass),
            o(1, "ospf", Pass),
            o(2, "ospf", Pass),
            o(1, "zsk", Pass),
            o(2, "zsk", Pass),
        ];
        let v = verdicts(&columns, &initial, &solved);
        let by: BTreeMap<&str, &Verdict> = v.iter().map(|v| (v.id.as_str(), v)).collect();
        assert!(by["link"].sound, "{:?}", by["link"]);
        assert!(!by["bgp"].fails_initially && by["bgp"].passes_solved);
        assert_eq!((by["bgp"].sound, by["bgp"].verdict), (false, "NEVER FAILS"));
        assert_eq!((by["ospf"].sound, by["ospf"].verdict), (true, "ok"));
        assert!(by["zsk"].sound, "{:?}", by["zsk"]);
        let err = conclude(&v).expect_err("an unsound check fails the lint");
        assert_eq!(err.downcast_ref::<ExitCode>().map(|c| c.0), Some(1));

        // Without the check that never fails, the lint passes.
        let sound: Vec<Verdict> = v.into_iter().filter(|v| v.id != "bgp").collect();
        assert!(conclude(&sound).is_ok());
    }

    #[test]
    fn step_0_must_hold_from_the_start_and_every_check_must_pass_solved() {
        use Status::*;
        let columns = [col("link", 0), col("bgp", 1), col("dns", 2)];
        let initial = [
            o(1, "link", Fail),
            o(1, "bgp", Fail),
            // An exec that could not run is no failure.
            o(1, "dns", Error),
        ];
        let solved = [o(1, "link", Pass), o(1, "bgp", Fail), o(1, "dns", Pass)];
        let v = verdicts(&columns, &initial, &solved);
        let got: Vec<(&str, bool, &str)> = v
            .iter()
            .map(|v| (v.id.as_str(), v.sound, v.verdict))
            .collect();
        assert_eq!(
            got,
            [
                ("link", false, "STEP 0 FAILS INITIALLY"),
                ("bgp", false, "NEVER PASSES"),
                ("dns", false, "NEVER FAILS"),
            ]
        );
        // A check with no result in a phase (none ran) never passes.
        let v = verdicts(&[col("x", 1)], &[o(1, "x", Fail)], &[]);
        assert_eq!((v[0].sound, v[0].verdict), (false, "NEVER PASSES"));
    }

    /// A check on `container` that holds when the output contains `up`.
    fn check(id: &str, container: &str, timeout: u32) -> (u32, CheckSpec) {
        let expect = crate::plan::checks::ExpectSpec {
            contains: Some("up".into()),
            ..Default::default()
        };
        let spec = CheckSpec {
            id: id.into(),
            title: id.into(),
            step: 1,
            node: "r1".into(),
            container: container.into(),
            command: vec!["true".into()],
            expect,
            timeout,
        };
        (1, spec)
    }

    /// What a node's batch of one check prints, the check saying `text`.
    fn said(text: &str) -> crate::engine::ExecOutput {
        crate::engine::ExecOutput {
            code: 0,
            stdout: format!("@@noglab-check 0 0 {} 0\n{text}", text.len()).into_bytes(),
            stderr: Vec::new(),
        }
    }

    #[tokio::test]
    async fn on_the_engine_a_check_up_before_the_solution_is_reported_never_failing() {
        use crate::engine::fake::FakeEngine;
        let engine = FakeEngine::default();
        let work = [
            check("bgp", "lab-p01-r1", 0),
            check("ospf", "lab-p01-r2", 1),
        ];
        let columns = [col("bgp", 1), col("ospf", 1)];
        let say = |r1: &str, r2: &str| {
            let mut s = engine.lock();
            s.exec_outputs.insert("lab-p01-r1".into(), said(r1));
            s.exec_outputs.insert("lab-p01-r2".into(), said(r2));
        };
        let execs = || engine.lock().executed.len();
        // Initially `bgp` already holds; `ospf` does not, and is tried
        // again until its timeout has gone by: one exec a node a round.
        say("up", "down");
        let initial = rounds(&engine, &work, 2).await.expect("rounds");
        assert_eq!(execs(), 3, "{:?}", engine.calls());
        say("up", "up");
        let solved = rounds(&engine, &work, 2).await.expect("rounds");
        assert_eq!(execs(), 5);
        let v = verdicts(&columns, &initial, &solved);
        assert_eq!(
            v.iter()
                .map(|v| (v.id.as_str(), v.verdict))
                .collect::<Vec<_>>(),
            [("bgp", "NEVER FAILS"), ("ospf", "ok")]
        );
        let failed = initial.iter().find(|o| o.id == "ospf").expect("ospf");
        assert_eq!(failed.status, Status::Fail);
        assert!(failed.output.contains("down"), "{failed:?}");
        let err = conclude(&v).expect_err("exit 1");
        assert_eq!(err.downcast_ref::<ExitCode>().map(|c| c.0), Some(1));
    }

    #[test]
    fn the_throwaway_name_is_a_lab_name_that_starts_as_the_labs_own() {
        for name in ["bgp", "resilience", "a-very-long-lab-name-here"] {
            let lab = throwaway_name(name);
            assert!(state::check_lab_name(&lab).is_ok(), "{lab}");
            assert!(lab.starts_with(&name[..name.len().min(14)]), "{lab}");
            assert!(lab.contains("-lint-"), "{lab}");
        }
    }
}
