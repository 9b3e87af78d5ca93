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
    /// Passed to `noglab up --parallel` (default: noglab's own default).
    #[arg(long)]
    parallel: Option<usize>,
    /// Leave out docker-compose.
    #[arg(long)]
    no_compose: bool,
    /// Leave out the floor.
    #[arg(long, conflicts_with = "floor_only")]
    no_floor: bool,
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

/// One line of the table.
struct Row {
    what: String,
    seconds: f64,
    /// (ratio, what it is relative to)
    ratio: Option<(f64, &'static str)>,
    rss_kb: Option<u64>,
    note: String,
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
    let compose = !args.no_compose && compose::available();
    if !args.no_compose && !compose {
        eprintln!(
            "docker-compose is not installed (apt-get install docker-compose): leaving it out"
        );
    }
    std::fs::create_dir_all(&args.work)?;
    let work = std::fs::canonicalize(&args.work)?;
    let engine = DockerEngine::connect().await?;
    let docker = floor::connect().await?;
    let version = docker.version().await?;
    let tag = std::process::id() % 100_000;
    let timer = Timer::new(&noglab_bin, &work.join("state"));

    println!(
        "noglab-bench: Docker {} (API {}), {} CPUs, noglab {}",
        version.version.unwrap_or_default(),
        engine.api_version(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        noglab_bin.display()
    );
    for &pods in &args.pods {
        let labs = Labs {
            floor: format!("bench-f{pods}-{tag}"),
            noglab: format!("bench-n{pods}-{tag}"),
            compose: format!("bench-c{pods}-{tag}"),
        };
        let result = one_size(&args, &engine, &docker, &timer, &work, &labs, pods, compose).await;
        // Whatever a failed step left goes by label.
        for lab in [&labs.floor, &labs.noglab, &labs.compose] {
            if let Err(e) = noglab::commands::down::remove_lab(&engine, lab).await {
                eprintln!("cleanup of {lab}: {e:#}");
            }
        }
        let rows = result?;
        print_table(pods, &rows);
    }
    Ok(())
}

struct Labs {
    floor: String,
    noglab: String,
    compose: String,
}

#[allow(clippy::too_many_arguments)]
async fn one_size(
    args: &Args,
    engine: &DockerEngine,
    docker: &bollard::Docker,
    timer: &Timer,
    work: &Path,
    labs: &Labs,
    pods: u32,
    compose: bool,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let containers = pods * lab::NODES;
    eprintln!(
        "== {pods} pods: {containers} containers, {} networks",
        pods * (lab::LINKS + 1)
    );

    // 1. The floor, at each parallelism asked for.
    let mut floor_up: Option<f64> = None;
    let mut floor_down: Option<f64> = None;
    if !args.no_floor {
        let dir = lab::write(work, &labs.floor)?;
        for &parallel in &args.floor_parallel {
            let plan = plan_in_free_block(engine, &dir, pods).await?;
            eprintln!("floor up, parallel {parallel}");
            let up = floor::up(docker, &plan, parallel.max(1))
                .await?
                .as_secs_f64();
            eprintln!("floor down, parallel {parallel}");
            let down = floor::down(docker, &plan, parallel.max(1))
                .await?
                .as_secs_f64();
            rows.push(row(format!("floor up (parallel {parallel})"), up));
            rows.push(row(format!("floor down (parallel {parallel})"), down));
            floor_up = Some(floor_up.map_or(up, |f| f.min(up)));
            floor_down = Some(floor_down.map_or(down, |f| f.min(down)));
        }
    }

    if args.floor_only {
        return Ok(rows);
    }

    // 2. noglab.
    let dir = lab::write(work, &labs.noglab)?;
    let dir_s = dir.display().to_string();
    let pods_s = pods.to_string();
    let mut up_args = vec!["up", dir_s.as_str(), "--pods", pods_s.as_str()];
    let parallel_s = args.parallel.map(|p| p.to_string());
    if let Some(p) = &parallel_s {
        up_args.extend(["--parallel", p.as_str()]);
    }
    eprintln!("noglab up");
    let (up, rss) = timer.run(&up_args)?;
    rows.push(Row {
        ratio: floor_up.map(|f| (up / f, "floor")),
        rss_kb: rss,
        ..row("noglab up (every node ready)".into(), up)
    });
    eprintln!("noglab up, no-op");
    let (again, rss) = timer.run(&up_args)?;
    rows.push(Row {
        rss_kb: rss,
        ..row("noglab up again (no-op)".into(), again)
    });
    eprintln!("noglab status");
    let (status, rss) = timer.run(&["status", &labs.noglab])?;
    rows.push(Row {
        rss_kb: rss,
        ..row(format!("noglab status ({containers} nodes)"), status)
    });
    let pod = pods.div_ceil(2);
    let before = snapshot(docker, &labs.noglab).await?;
    eprintln!("noglab reset --pod {pod}");
    let (reset, rss) = timer.run(&["reset", &labs.noglab, "--pod", &pod.to_string()])?;
    let after = snapshot(docker, &labs.noglab).await?;
    rows.push(Row {
        rss_kb: rss,
        note: untouched(&before, &after, pod)?,
        ..row(
            format!("noglab reset --pod {pod} (4 nodes, every one ready)"),
            reset,
        )
    });
    eprintln!("noglab down");
    let (down, rss) = timer.run(&["down", &labs.noglab])?;
    rows.push(Row {
        ratio: floor_down.map(|f| (down / f, "floor")),
        rss_kb: rss,
        ..row("noglab down".into(), down)
    });

    // 3. docker-compose, one project per pod, one after the other.
    if compose {
        let dir = lab::write(work, &labs.compose)?;
        let plan = plan_in_free_block(engine, &dir, pods).await?;
        let root = work.join(format!("{}-compose", labs.compose));
        let projects = compose::write(&root, &plan)?;
        eprintln!("docker-compose up -d, pod by pod");
        let c_up = compose::each(&projects, &["up", "-d"])?.as_secs_f64();
        eprintln!("docker-compose down, pod by pod");
        let c_down = compose::each(&projects, &["down"])?.as_secs_f64();
        let vs_floor = |x: f64, floor: Option<f64>| {
            floor.map_or(String::new(), |f| format!("{:.2}x floor", x / f))
        };
        rows.push(Row {
            ratio: Some((c_up / up, "noglab up")),
            note: vs_floor(c_up, floor_up),
            ..row("compose up -d, pod by pod".into(), c_up)
        });
        rows.push(Row {
            ratio: Some((c_down / down, "noglab down")),
            note: vs_floor(c_down, floor_down),
            ..row("compose down, pod by pod".into(), c_down)
        });
    }
    Ok(rows)
}

fn row(what: String, seconds: f64) -> Row {
    Row {
        what,
        seconds,
        ratio: None,
        rss_kb: None,
        note: String::new(),
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

    /// Seconds and peak RSS in KiB.
    fn run(&self, args: &[&str]) -> Result<(f64, Option<u64>)> {
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
        Ok((elapsed, rss))
    }
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

fn print_table(pods: u32, rows: &[Row]) {
    println!();
    println!(
        "{pods} pods x {} nodes x {} links: {} containers, {} networks",
        lab::NODES,
        lab::LINKS,
        pods * lab::NODES,
        pods * (lab::LINKS + 1)
    );
    let width = rows.iter().map(|r| r.what.len()).max().unwrap_or(0);
    println!(
        "{:<width$}  {:>8}  {:>20}  {:>9}  note",
        "step", "seconds", "ratio", "peak RSS"
    );
    for r in rows {
        let ratio = r
            .ratio
            .map(|(x, of)| format!("{x:.2}x {of}"))
            .unwrap_or_default();
        let rss = r
            .rss_kb
            .map(|k| format!("{:.1} MB", k as f64 / 1024.0))
            .unwrap_or_default();
        println!(
            "{:<width$}  {:>8.2}  {:>20}  {:>9}  {}",
            r.what, r.seconds, ratio, rss, r.note
        );
    }
}
