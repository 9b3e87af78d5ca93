//! noglab-bench: in one run, for labs of P pods x 4 nodes x 4 links, times
//! the engine floor (a minimal bollard client), noglab's verbs and a
//! docker-compose script, and prints seconds, ratios and noglab's peak RSS.
//!
//! Every resource it creates carries `noglab.lab=bench-...-<pid>` and is
//! removed by that label when a step ends, fails or is interrupted by an
//! error. Numbers are only comparable within one run: the engine is shared.

mod compose;
mod floor;
mod lab;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use ipnet::Ipv4Net;
use noglab::engine::docker::DockerEngine;
use noglab::engine::{Engine, Scope};
use noglab::plan::{labels, plumbing, Plan, Plumbing};

#[derive(Debug, Parser)]
#[command(
    name = "noglab-bench",
    about = "Times noglab against the engine floor and docker-compose"
)]
struct Args {
    /// Lab sizes to run, in pods of 4 nodes and 4 links.
    #[arg(long, value_delimiter = ',', default_value = "10,30")]
    pods: Vec<u32>,
    /// Parallelism values the floor is run with; the fastest is the floor.
    #[arg(long, value_delimiter = ',', default_value = "8")]
    floor_parallel: Vec<usize>,
    /// Values of `noglab up --parallel` to run (default: noglab's default).
    #[arg(long, value_delimiter = ',')]
    parallel: Vec<usize>,
    /// Runs of every step; the table shows medians.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Leave out docker-compose.
    #[arg(long)]
    no_compose: bool,
    /// Leave out the floor.
    #[arg(long, conflicts_with = "floor_only")]
    no_floor: bool,
    /// Leave out the floor that also copies each node's files in before
    /// its start (the cost of configuring the nodes, which the floor
    /// leaves out and noglab pays).
    #[arg(long)]
    no_floor_files: bool,
    /// Run only the floor (to find the engine's best parallelism).
    #[arg(long)]
    floor_only: bool,
    /// The noglab binary (default: `noglab` beside this one).
    #[arg(long)]
    noglab: Option<PathBuf>,
    /// Where labs, compose projects and noglab's state are written.
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
}

/// One measurement of a step.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    seconds: f64,
    /// CPU seconds dockerd and containerd spent meanwhile (their children
    /// included, so dockerd's archive helpers count; runc and the shims,
    /// reparented away, do not).
    engine_cpu: Option<f64>,
    /// The machine's 1-minute load average when the step ended: on a
    /// shared machine, how much else was running.
    load: Option<f64>,
    rss_kb: Option<u64>,
    /// Seconds noglab said it waited for another noglab command's lock
    /// (other people's labs on a shared engine): not this lab's time.
    waiting: f64,
    /// For `up`: seconds from the last node's start to `up` returning,
    /// the wait for the last nodes to be ready.
    ready_tail: Option<f64>,
}

/// The samples of every step, in the order steps first ran.
#[derive(Default)]
struct Results {
    steps: Vec<(String, Vec<Sample>)>,
    notes: BTreeMap<String, String>,
}

impl Results {
    fn add(&mut self, step: &str, sample: Sample) {
        match self.steps.iter_mut().find(|(s, _)| s == step) {
            Some((_, v)) => v.push(sample),
            None => self.steps.push((step.to_string(), vec![sample])),
        }
    }

    /// The median without the time spent waiting for other commands.
    fn median_own(&self, step: &str) -> Option<f64> {
        let (_, v) = self.steps.iter().find(|(s, _)| s == step)?;
        median(v.iter().map(|s| s.seconds - s.waiting))
    }

    /// The fastest median, without waiting for other commands, among the
    /// variants of a step: `name` itself and `name (parallel N)`.
    fn best(&self, name: &str) -> Option<f64> {
        self.steps
            .iter()
            .filter(|(s, _)| variant_of(s, name))
            .filter_map(|(s, _)| self.median_own(s))
            .min_by(f64::total_cmp)
    }
}

/// Whether `step` is `name` or `name` at some parallelism.
fn variant_of(step: &str, name: &str) -> bool {
    step.strip_prefix(name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(" ("))
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let noglab_bin = match &args.noglab {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("noglab"))
            .context("no folder for the noglab binary")?,
    };
    if !noglab_bin.exists() {
        bail!(
            "{} is missing; build it with `cargo build --release` (bench/run does)",
            noglab_bin.display()
        );
    }
    let compose = !args.no_compose && !args.floor_only && compose::available();
    if !args.no_compose && !args.floor_only && !compose {
        eprintln!(
            "docker-compose is not installed (apt-get install docker-compose): leaving it out"
        );
    }
    std::fs::create_dir_all(&args.work)?;
    let work = std::fs::canonicalize(&args.work)?;
    let engine = DockerEngine::connect().await?;
    let docker = floor::connect().await?;
    let version = docker.version().await?;
    let speaks = engine.describe().await?.speaks;
    let tag = std::process::id() % 100_000;
    let ctx = Ctx {
        engine,
        docker,
        timer: Timer::new(&noglab_bin, &work.join("state")),
        cpu: EngineCpu::new(),
        work,
    };

    println!(
        "noglab-bench: Docker {} (API {}), {} CPUs, load {}, noglab {}",
        version.version.unwrap_or_default(),
        speaks,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        noglab_bin.display()
    );
    if ctx.cpu.is_none() {
        eprintln!("dockerd not found in /proc: no engine CPU column");
    }
    for &pods in &args.pods {
        let labs = Labs {
            floor: format!("bench-f{pods}-{tag}"),
            noglab: format!("bench-n{pods}-{tag}"),
            compose: format!("bench-c{pods}-{tag}"),
        };
        let mut results = Results::default();
        let mut outcome = Ok(());
        for round in 1..=args.repeat.max(1) {
            eprintln!(
                "== {pods} pods: {} containers, {} networks (round {round})",
                pods * lab::NODES,
                pods * (lab::LINKS + 1)
            );
            outcome = one_round(&args, &ctx, &labs, pods, compose, &mut results).await;
            // Whatever a failed step left goes by label.
            for lab in [&labs.floor, &labs.noglab, &labs.compose] {
                if let Err(e) = noglab::commands::down::remove_lab(&ctx.engine, lab).await {
                    eprintln!("cleanup of {lab}: {e:#}");
                }
            }
            if outcome.is_err() {
                break;
            }
        }
        print_table(pods, &results);
        outcome?;
    }
    Ok(())
}

struct Ctx {
    engine: DockerEngine,
    docker: bollard::Docker,
    timer: Timer,
    cpu: Option<EngineCpu>,
    work: PathBuf,
}

impl Ctx {
    fn engine_cpu(&self) -> Option<f64> {
        self.cpu.as_ref().map(EngineCpu::seconds)
    }
}

struct Labs {
    floor: String,
    noglab: String,
    compose: String,
}

/// Step names; ratios are taken between them.
const FLOOR_UP: &str = "floor up";
const FLOOR_DOWN: &str = "floor down";
const FLOOR_FILES_UP: &str = "floor + files up";
const FLOOR_ARCHIVE_UP: &str = "floor + archive up";
const NOGLAB_UP: &str = "noglab up";
const NOGLAB_DOWN: &str = "noglab down";
const COMPOSE_UP: &str = "compose up -d, pod by pod";
const COMPOSE_DOWN: &str = "compose down, pod by pod";

async fn one_round(
    args: &Args,
    ctx: &Ctx,
    labs: &Labs,
    pods: u32,
    compose: bool,
    results: &mut Results,
) -> Result<()> {
    // 1. The floor, at each parallelism asked for.
    if !args.no_floor {
        let dir = lab::write(&ctx.work, &labs.floor)?;
        for &parallel in &args.floor_parallel {
            let parallel = parallel.max(1);
            let plan = plan_in_free_block(&ctx.engine, &dir, pods).await?;
            eprintln!("floor up, parallel {parallel}");
            let cpu = ctx.engine_cpu();
            let up = floor::up(&ctx.docker, &plan, parallel, floor::Files::None).await?;
            let up = sample(ctx, up.as_secs_f64(), cpu, None);
            eprintln!("floor down, parallel {parallel}");
            let cpu = ctx.engine_cpu();
            let down = floor::down(&ctx.docker, &plan, parallel).await?;
            let down = sample(ctx, down.as_secs_f64(), cpu, None);
            results.add(&format!("{FLOOR_UP} (parallel {parallel})"), up);
            results.add(&format!("{FLOOR_DOWN} (parallel {parallel})"), down);
        }
        if !args.no_floor_files && !args.floor_only {
            // Where the time between the floor and noglab goes: the same
            // client, also copying each node's files in before its start.
            let parallel = args.floor_parallel.first().copied().unwrap_or(4).max(1);
            // Split in two: the engine copying the archive (parked where
            // nothing reads it), and the nodes booting configured.
            for (files, step, what) in [
                (floor::Files::Parked, FLOOR_ARCHIVE_UP, "the files parked"),
                (floor::Files::Placed, FLOOR_FILES_UP, "files"),
            ] {
                let plan = plan_in_free_block(&ctx.engine, &dir, pods).await?;
                eprintln!("floor up with {what}, parallel {parallel}");
                let cpu = ctx.engine_cpu();
                let up = floor::up(&ctx.docker, &plan, parallel, files).await?;
                results.add(
                    &format!("{step} (parallel {parallel})"),
                    sample(ctx, up.as_secs_f64(), cpu, None),
                );
                floor::down(&ctx.docker, &plan, parallel).await?;
            }
        }
    }
    if args.floor_only {
        return Ok(());
    }

    // 2. noglab, at each --parallel asked for.
    let dir = lab::write(&ctx.work, &labs.noglab)?;
    let parallels: Vec<Option<usize>> = if args.parallel.is_empty() {
        vec![None]
    } else {
        args.parallel.iter().map(|p| Some(*p)).collect()
    };
    for parallel in parallels {
        let suffix = parallel.map_or(String::new(), |p| format!(" (--parallel {p})"));
        let dir_s = dir.display().to_string();
        let pods_s = pods.to_string();
        let parallel_s = parallel.map(|p| p.to_string());
        let mut up_args = vec!["up", dir_s.as_str(), "--pods", pods_s.as_str(), "--timings"];
        if let Some(p) = &parallel_s {
            up_args.extend(["--parallel", p.as_str()]);
        }
        let mut up = noglab_step(ctx, "up", &up_args)?;
        let up_ended = unix_now();
        let again = noglab_step(ctx, "up again", &up_args)?;
        let status = noglab_step(ctx, "status", &["status", &labs.noglab])?;
        let pod = pods.div_ceil(2);
        let before = snapshot(&ctx.docker, &labs.noglab).await?;
        // Neither the no-op up nor status starts a node.
        up.ready_tail = before
            .values()
            .filter_map(|(_, started)| unix_seconds(started))
            .max_by(f64::total_cmp)
            .map(|last_start| up_ended - last_start);
        results.add(&format!("{NOGLAB_UP}{suffix}"), up);
        results.add(&format!("noglab up again (no-op){suffix}"), again);
        results.add(&format!("noglab status{suffix}"), status);
        let step = format!("noglab reset --pod {pod}{suffix}");
        results.add(
            &step,
            noglab_step(
                ctx,
                "reset",
                &["reset", &labs.noglab, "--pod", &pod.to_string()],
            )?,
        );
        let after = snapshot(&ctx.docker, &labs.noglab).await?;
        results.notes.insert(step, untouched(&before, &after, pod)?);
        results.add(
            &format!("{NOGLAB_DOWN}{suffix}"),
            noglab_step(ctx, "down", &["down", &labs.noglab])?,
        );
    }

    // 3. docker-compose, one project per pod, one after the other.
    if compose {
        let dir = lab::write(&ctx.work, &labs.compose)?;
        let plan = plan_in_free_block(&ctx.engine, &dir, pods).await?;
        let root = ctx.work.join(format!("{}-compose", labs.compose));
        let projects = compose::write(&root, &plan)?;
        eprintln!("docker-compose up -d, pod by pod");
        let cpu = ctx.engine_cpu();
        let up = compose::each(&projects, &["up", "-d"])?.as_secs_f64();
        results.add(COMPOSE_UP, sample(ctx, up, cpu, None));
        eprintln!("docker-compose down, pod by pod");
        let cpu = ctx.engine_cpu();
        let down = compose::each(&projects, &["down"])?.as_secs_f64();
        results.add(COMPOSE_DOWN, sample(ctx, down, cpu, None));
    }
    Ok(())
}

fn sample(ctx: &Ctx, seconds: f64, cpu_before: Option<f64>, rss_kb: Option<u64>) -> Sample {
    Sample {
        seconds,
        engine_cpu: cpu_before.zip(ctx.engine_cpu()).map(|(a, b)| b - a),
        load: load_average(),
        rss_kb,
        ..Sample::default()
    }
}

/// The 1-minute load average, from /proc.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn noglab_step(ctx: &Ctx, what: &str, args: &[&str]) -> Result<Sample> {
    eprintln!("noglab {what}");
    let cpu = ctx.engine_cpu();
    let (seconds, rss, stdout) = ctx.timer.run(args)?;
    // `up --timings`' table (on standard error, kept with the output):
    // where this run's time went.
    for line in stdout
        .lines()
        .skip_while(|l| !l.starts_with("timings ("))
        .take_while(|l| l.starts_with("timings (") || l.starts_with("  "))
    {
        eprintln!("    {line}");
    }
    Ok(Sample {
        waiting: waited(&stdout),
        ..sample(ctx, seconds, cpu, rss)
    })
}

/// What noglab's summary line says it waited for other noglab commands
/// (", 12.3s of it waiting for another noglab command", in parentheses
/// when up had nothing to do), else 0.
fn waited(stdout: &str) -> f64 {
    stdout
        .lines()
        .flat_map(|l| l.split(", "))
        .find_map(|part| {
            part.trim_end_matches(')')
                .strip_suffix(" of it waiting for another noglab command")?
                .strip_suffix('s')?
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// CPU time of the engine's daemons, from /proc.
struct EngineCpu {
    pids: Vec<u32>,
    ticks_per_second: f64,
}

impl EngineCpu {
    fn new() -> Option<EngineCpu> {
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if matches!(comm.trim(), "dockerd" | "containerd") {
                pids.push(pid);
            }
        }
        let ticks = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0);
        (!pids.is_empty()).then_some(EngineCpu {
            pids,
            ticks_per_second: ticks,
        })
    }

    /// utime + stime + cutime + cstime of every daemon, in seconds.
    fn seconds(&self) -> f64 {
        let mut ticks = 0u64;
        for pid in &self.pids {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the command, which may hold spaces, in parentheses.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime is field 14 of stat, the 12th after the command.
            for i in 11..15 {
                ticks += fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0);
            }
        }
        ticks as f64 / self.ticks_per_second
    }
}

/// Expands the lab in a block of noglab's range that nothing on the engine
/// uses now. From the top of the range down: `noglab up`, here and in other
/// people's runs on the same engine, takes blocks from the bottom up.
async fn plan_in_free_block(engine: &DockerEngine, dir: &Path, pods: u32) -> Result<Plan> {
    let loaded = noglab::topology::load(dir)?;
    let prefix = Plumbing::for_pods(&loaded.topology, pods).block_prefix();
    let mut taken = engine.used_subnets().await?;
    for n in engine.networks(Scope::All).await? {
        taken.extend(
            n.label(labels::BLOCK)
                .and_then(|b| b.parse::<Ipv4Net>().ok()),
        );
    }
    let range = plumbing::range().map_err(anyhow::Error::msg)?;
    let block = range
        .subnets(prefix)?
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|b| {
            !taken
                .iter()
                .any(|t| t.contains(&b.network()) || b.contains(&t.network()))
        })
        .context("noglab's address range has no free block for the benchmark")?;
    noglab::commands::expand_in(&loaded, pods, Some(block), false)
}

/// Runs noglab, timed, with its peak RSS from GNU time when installed.
struct Timer {
    noglab: PathBuf,
    state: PathBuf,
    gnu_time: bool,
}

impl Timer {
    fn new(noglab: &Path, state: &Path) -> Timer {
        Timer {
            noglab: noglab.to_path_buf(),
            state: state.to_path_buf(),
            gnu_time: Path::new("/usr/bin/time").exists(),
        }
    }

    /// Seconds, peak RSS in KiB, and what noglab printed (its standard
    /// output, then its standard error).
    fn run(&self, args: &[&str]) -> Result<(f64, Option<u64>, String)> {
        let rss_file = self
            .state
            .with_extension(format!("rss-{}", std::process::id()));
        let mut cmd = if self.gnu_time {
            let mut c = Command::new("/usr/bin/time");
            c.arg("-f")
                .arg("%M")
                .arg("-o")
                .arg(&rss_file)
                .arg(&self.noglab);
            c
        } else {
            Command::new(&self.noglab)
        };
        cmd.arg("--quiet")
            .args(args)
            .env("NOGLAB_STATE_DIR", &self.state);
        let started = Instant::now();
        let out = cmd.output().context("failed to run noglab")?;
        let elapsed = started.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "noglab {} failed:\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let rss = std::fs::read_to_string(&rss_file)
            .ok()
            .and_then(|t| t.lines().last()?.trim().parse().ok());
        let _ = std::fs::remove_file(&rss_file);
        Ok((
            elapsed,
            rss,
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ))
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds since the epoch of an engine time stamp in UTC
/// (`2026-11-27T13:01:11.123456789Z`).
fn unix_seconds(ts: &str) -> Option<f64> {
    let (date, time) = ts.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.splitn(3, ':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    // Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
    // days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + sec)
}

/// Each container of a lab: name -> (id, started at).
async fn snapshot(
    docker: &bollard::Docker,
    lab: &str,
) -> Result<BTreeMap<String, (String, String)>> {
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec![format!("{}={lab}", labels::LAB)],
    )]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let mut out = BTreeMap::new();
    for c in docker.list_containers(Some(options)).await? {
        let id = c.id.unwrap_or_default();
        let info = docker
            .inspect_container(
                &id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await?;
        let started = info.state.and_then(|s| s.started_at).unwrap_or_default();
        let name = info
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string();
        out.insert(name, (id, started));
    }
    Ok(out)
}

/// Checks that reset replaced the pod's containers and touched no other.
fn untouched(
    before: &BTreeMap<String, (String, String)>,
    after: &BTreeMap<String, (String, String)>,
    pod: u32,
) -> Result<String> {
    let marker = format!("-p{pod:02}-");
    let mut others = 0;
    for (name, was) in before {
        let now = after.get(name);
        if name.contains(&marker) {
            if now.is_some_and(|n| n.0 == was.0) {
                bail!("reset kept container {name} of pod {pod}");
            }
        } else {
            if now != Some(was) {
                bail!("reset touched {name}, which is not in pod {pod}");
            }
            others += 1;
        }
    }
    if after.len() != before.len() {
        bail!(
            "reset left {} containers where there were {}",
            after.len(),
            before.len()
        );
    }
    Ok(format!("{others} other containers untouched"))
}

fn print_table(pods: u32, results: &Results) {
    println!();
    println!(
        "{pods} pods x {} nodes x {} links: {} containers, {} networks; median of {} run(s)",
        lab::NODES,
        lab::LINKS,
        pods * lab::NODES,
        pods * (lab::LINKS + 1),
        results.steps.first().map_or(0, |(_, v)| v.len())
    );
    let floor_up = results.best(FLOOR_UP);
    let floor_down = results.best(FLOOR_DOWN);
    let floor_files_up = results.best(FLOOR_FILES_UP);
    let noglab_up = results.median_own(NOGLAB_UP).or(results.best(NOGLAB_UP));
    let noglab_down = results
        .median_own(NOGLAB_DOWN)
        .or(results.best(NOGLAB_DOWN));
    let ratio = |x: f64, of: Option<f64>, name: &str| of.map(|o| format!("{:.2}x {name}", x / o));
    let width = results
        .steps
        .iter()
        .map(|(s, _)| s.len())
        .max()
        .unwrap_or(0);
    println!(
        "{:<width$}  {:>7}  {:>10}  {:>5}  {:>17}  {:>17}  {:>8}  note",
        "step", "seconds", "engine CPU", "load", "vs floor", "vs noglab", "peak RSS"
    );
    for (step, samples) in &results.steps {
        let Some(seconds) = median(samples.iter().map(|s| s.seconds)) else {
            continue;
        };
        let cpu = median(samples.iter().filter_map(|s| s.engine_cpu))
            .map_or(String::new(), |c| format!("{c:.1} s"));
        let load = median(samples.iter().filter_map(|s| s.load))
            .map_or(String::new(), |l| format!("{l:.1}"));
        // Time spent waiting for other people's noglab commands is theirs.
        let own = median(samples.iter().map(|s| s.seconds - s.waiting)).unwrap_or(seconds);
        let (vs_floor, vs_noglab) =
            if variant_of(step, FLOOR_ARCHIVE_UP) || variant_of(step, FLOOR_FILES_UP) {
                (ratio(seconds, floor_up, "floor"), None)
            } else if variant_of(step, NOGLAB_UP) {
                (ratio(own, floor_up, "floor"), None)
            } else if variant_of(step, NOGLAB_DOWN) {
                (ratio(own, floor_down, "floor"), None)
            } else if step == COMPOSE_UP {
                (
                    ratio(seconds, floor_up, "floor"),
                    ratio(seconds, noglab_up, "noglab"),
                )
            } else if step == COMPOSE_DOWN {
                (
                    ratio(seconds, floor_down, "floor"),
                    ratio(seconds, noglab_down, "noglab"),
                )
            } else {
                (None, None)
            };
        let rss = samples
            .iter()
            .filter_map(|s| s.rss_kb)
            .max()
            .map_or(String::new(), |k| format!("{:.1} MB", k as f64 / 1024.0));
        let mut notes: Vec<String> = results.notes.get(step).cloned().into_iter().collect();
        if let Some(files) = floor_files_up.filter(|_| variant_of(step, NOGLAB_UP)) {
            notes.push(format!("{:.2}x floor + files", own / files));
        }
        if let Some(tail) = median(samples.iter().filter_map(|s| s.ready_tail)) {
            notes.push(format!(
                "the last node started {tail:.1} s before up returned"
            ));
        }
        let waiting = samples.iter().map(|s| s.waiting).fold(0.0, f64::max);
        if waiting > 0.0 {
            notes.push(format!(
                "up to {waiting:.1} s of it waiting for another noglab command, left out of the ratio"
            ));
        }
        println!(
            "{:<width$}  {:>7.2}  {:>10}  {:>5}  {:>17}  {:>17}  {:>8}  {}",
            step,
            seconds,
            cpu,
            load,
            vs_floor.unwrap_or_default(),
            vs_noglab.unwrap_or_default(),
            rss,
            notes.join("; ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noglab_says_how_long_it_waited_for_another_command() {
        let line = "lab bench-n10-1: 10 pods up (40 containers created, 50 networks created) in 171.2s, 130.1s of it waiting for another noglab command\n";
        assert_eq!(waited(line), 130.1);
        assert_eq!(
            waited("lab x: 10 pods up (40 containers created) in 51.9s\n"),
            0.0
        );
        assert_eq!(
            waited(
                "lab x: 10 pods up to date (0.2s, 3.0s of it waiting for another noglab command)\n"
            ),
            3.0
        );
    }

    #[test]
    fn engine_time_stamps_are_read_in_utc() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(unix_seconds("2000-03-01T00:00:01.5Z"), Some(951_868_801.5));
        let t = unix_seconds("2026-11-27T13:01:11.123456789Z").expect("parses");
        assert!((t - 1_795_784_471.123_456_8).abs() < 1e-3, "{t}");
        assert_eq!(unix_seconds("0001-01-01T00:00:00"), None, "no zone");
    }

    #[test]
    fn a_step_s_variants_are_its_parallelisms_only() {
        assert!(variant_of("noglab up", NOGLAB_UP));
        assert!(variant_of("noglab up (--parallel 8)", NOGLAB_UP));
        assert!(!variant_of("noglab up again (no-op)", NOGLAB_UP));
        assert!(variant_of("floor up (parallel 4)", FLOOR_UP));
        assert!(!variant_of("floor + files up (parallel 4)", FLOOR_UP));
        assert!(variant_of("floor + files up (parallel 4)", FLOOR_FILES_UP));
    }
}
