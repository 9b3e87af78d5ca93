//! `noglab doctor [FILE]`: the check an instructor runs the evening before.
//! One `ok`/`FAIL` line per check: the engine and its version, the images
//! (of the lab, or of every kind), what the kinds need from the kernel
//! (their capabilities and sysctls, IPv6 inside a container: tried in a
//! throwaway container), the lab's subnets against the host's routes and
//! Docker's networks, and free memory and disk against the lab's needs.
//! Exit 1 when a check fails.
//!
//! Reads the host's routes from /proc and free disk with `df`: the engine is
//! assumed to be on this machine, as everywhere in noglab.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use anyhow::Result;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;

use crate::cli::ListFormat;
use crate::diag::ExitCode;
use crate::engine::{Connector, Engine};
use crate::images;
use crate::kinds::{self, Kind};
use crate::plan::Plan;
use crate::topology;

/// Every node's writable layer and logs, in MiB, on top of its image.
const DISK_PER_NODE_MIB: u64 = 16;
/// What an image noglab would still have to build or load takes, in MiB.
const DISK_PER_MISSING_IMAGE_MIB: u64 = 200;
/// The host guard's memory, in MiB.
const GUARD_MEMORY_MIB: u64 = 16;
/// Memory each container costs the machine beyond the container's own
/// accounting, in MiB: its containerd shim and the kernel's share. At 30
/// pods the machine's available memory fell 3.7-4.2 MiB per container more
/// than the containers' own figures (docs/sizing.md); rounded up.
const ENGINE_MEMORY_PER_NODE_MIB: u64 = 8;
/// CPU each container costs the machine at rest beyond its own, in
/// thousandths of one CPU: its health check, its shim, the engine. At 30
/// pods the machine's CPUs at rest were 1.1-2.1 per mille per container
/// busier than the kinds' own figures (docs/sizing.md).
const ENGINE_REST_CPU_PER_NODE_PERMILLE: u64 = 2;

/// The report, one line per check as it is made; or with `--format json`,
/// the lines kept for one document at the end.
struct Report<'a> {
    out: &'a mut dyn Write,
    failed: bool,
    /// `Some` for `--format json`.
    kept: Option<Vec<Line>>,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Fail,
    /// An optional feature missing: said, not a failure.
    Warn,
    Skip,
}

/// One check's line: what `doctor --format json` lists.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub level: Level,
    pub check: String,
    pub message: String,
}

/// What `doctor --format json` prints: `ok` is false when a check failed
/// (and noglab exits 1).
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    pub ok: bool,
    pub checks: &'a [Line],
}

impl<'a> Report<'a> {
    fn new(out: &'a mut dyn Write, format: ListFormat) -> Self {
        Report {
            out,
            failed: false,
            kept: (format == ListFormat::Json).then(Vec::new),
        }
    }
    fn line(&mut self, level: Level, check: &str, message: &str) {
        match &mut self.kept {
            Some(lines) => lines.push(Line {
                level,
                check: check.to_string(),
                message: message.to_string(),
            }),
            None => {
                let verdict = match level {
                    Level::Ok => "ok",
                    Level::Fail => "FAIL",
                    Level::Warn => "warn",
                    Level::Skip => "skip",
                };
                let _ = writeln!(self.out, "{verdict:<6}{check}: {message}");
            }
        }
    }
    fn ok(&mut self, check: &str, message: impl AsRef<str>) {
        self.line(Level::Ok, check, message.as_ref());
    }
    fn fail(&mut self, check: &str, message: impl AsRef<str>) {
        self.failed = true;
        self.line(Level::Fail, check, message.as_ref());
    }
    fn skip(&mut self, check: &str, message: impl AsRef<str>) {
        self.line(Level::Skip, check, message.as_ref());
    }
    /// Something an optional feature lacks: said, not a failure.
    fn warn(&mut self, check: &str, message: impl AsRef<str>) {
        self.line(Level::Warn, check, message.as_ref());
    }
    /// With `--format json`, the document of every line kept.
    fn finish(self) -> Result<()> {
        if let Some(lines) = &self.kept {
            let document = Document {
                ok: !self.failed,
                checks: lines,
            };
            let text = serde_json::to_string_pretty(&document)?;
            writeln!(self.out, "{text}")?;
        }
        Ok(())
    }
}

/// What `doctor` reads from this machine itself (the engine is assumed to
/// be on it).
struct Host {
    /// Routes a lab subnet could clash with.
    routes: Vec<(IpNet, String)>,
    /// MemAvailable, in MiB.
    memory: Option<u64>,
    /// Free space in a folder, in MiB.
    disk_free: fn(&str) -> Option<u64>,
}

impl Host {
    fn this_machine() -> Host {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Host {
            routes: host_routes(),
            memory: meminfo_available_mib(&meminfo),
            disk_free: |folder| {
                std::process::Command::new("df")
                    .args(["-Pk", folder])
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .and_then(|o| df_available_mib(&String::from_utf8_lossy(&o.stdout)))
            },
        }
    }
}

/// The lab a doctor run is about: its topology name and plan.
struct Lab {
    name: String,
    plan: Plan,
    topology: crate::topology::Topology,
    pods: u32,
}

pub async fn run<C: Connector>(
    engines: &C,
    file: Option<&Path>,
    pods: Option<u32>,
    format: ListFormat,
) -> Result<()> {
    // Bad input is reported as such (exit 2) before any check.
    let lab = match file {
        Some(file) => {
            let loaded = topology::load(file)?;
            let pods = pods.unwrap_or(loaded.topology.pods);
            super::check_pods(pods)?;
            let plan = super::expand_in(&loaded, pods, None, false)?;
            Some(Lab {
                name: loaded.topology.name.clone(),
                topology: loaded.topology.clone(),
                plan,
                pods,
            })
        }
        None => None,
    };
    let mut out = std::io::stdout();
    let mut report = Report::new(&mut out, format);
    let result = examine(engines, lab.as_ref(), &Host::this_machine(), &mut report).await;
    report.finish()?;
    result
}

/// Every check, in order; exit 1 when one failed.
async fn examine<C: Connector>(
    engines: &C,
    lab: Option<&Lab>,
    host: &Host,
    report: &mut Report<'_>,
) -> Result<()> {
    let engine = match engines.engine().await {
        Ok(engine) => engine,
        Err(e) => {
            report.fail("engine", format!("{e:#}"));
            return Err(ExitCode(1).into());
        }
    };
    let facts = engine.describe().await;
    match &facts {
        Ok(f) => report.ok(
            "engine",
            format!(
                "Docker {} (API {}, noglab speaks {})",
                f.version, f.api, f.speaks
            ),
        ),
        Err(e) => report.fail("engine", format!("{e:#}")),
    }

    for line in engine.unreachable() {
        report.fail("engines", line);
    }

    let kinds = kinds_of(lab);
    let missing = check_images(engine, lab, &kinds, report).await?;
    check_kernel(engine, &kinds, report).await;
    check_layer2(engine, report).await;
    match lab {
        Some(lab) => check_subnets(engine, lab, &host.routes, report).await?,
        None => report.skip(
            "subnets",
            "no lab given; `noglab doctor FILE` checks a lab's",
        ),
    }
    check_memory(lab, &kinds, host.memory, report);
    check_cpu(lab, &kinds, facts.as_ref().map_or(0, |f| f.cpus), report);
    match &facts {
        Ok(f) => {
            let free = (host.disk_free)(&f.root_dir);
            check_disk(&f.root_dir, free, lab, &kinds, missing, report)
        }
        Err(_) => report.skip("disk", "the engine did not say where it keeps its data"),
    }
    if report.failed {
        return Err(ExitCode(1).into());
    }
    Ok(())
}

/// With several engines: whether they see each other at layer 2 over
/// their `parent`s, as lab-wide networks that span them need (a probe
/// container of the host image on each). Nothing with one engine.
async fn check_layer2<E: Engine>(engine: &E, report: &mut Report<'_>) {
    let image = crate::images::lookup("host")
        .map(|d| d.reference())
        .unwrap_or_default();
    match engine.layer2(&image).await {
        Ok(None) => {}
        Ok(Some(found)) => {
            for f in found {
                match f.held {
                    Some(true) => report.ok("layer 2", f.message),
                    Some(false) => report.fail("layer 2", f.message),
                    None => report.warn("layer 2", f.message),
                }
            }
        }
        Err(e) => report.fail("layer 2", format!("{e:#}")),
    }
}

/// The kinds the lab uses, or every kind.
fn kinds_of(lab: Option<&Lab>) -> Vec<&'static Kind> {
    match lab {
        Some(lab) => {
            let names: BTreeSet<&str> = lab
                .plan
                .containers()
                .map(|(_, c)| c.kind.as_str())
                .collect();
            names.into_iter().filter_map(kinds::lookup).collect()
        }
        None => kinds::KINDS.iter().collect(),
    }
}

/// Returns how many images are missing.
async fn check_images<E: Engine>(
    engine: &E,
    lab: Option<&Lab>,
    kinds: &[&'static Kind],
    report: &mut Report<'_>,
) -> Result<u64> {
    let (missing, total) = match lab {
        Some(lab) => {
            let missing = super::preflight::missing_images(engine, &lab.plan).await?;
            let mut all: BTreeSet<&str> = lab
                .plan
                .containers()
                .map(|(_, c)| c.image.as_str())
                .collect();
            let host = images::lookup("host").map(|d| d.reference());
            all.extend(host.as_deref());
            (missing, all.len())
        }
        None => {
            let mut missing = Vec::new();
            let mut skipped = 0;
            let defs: BTreeSet<&str> = kinds.iter().map(|k| k.image).collect();
            for def in defs.iter().filter_map(|d| images::lookup(d)) {
                let image = def.reference();
                if !engine.image_exists(&image).await? {
                    if def.on_request {
                        skipped += 1;
                        report.skip(
                            "images",
                            format!(
                                "{image} is built only on request (`noglab images build {}`)",
                                def.name
                            ),
                        );
                        continue;
                    }
                    missing.push(super::preflight::Missing {
                        image,
                        kind: kinds
                            .iter()
                            .find(|k| k.image == def.name)
                            .map(|k| k.name.to_string()),
                    });
                }
            }
            (missing, defs.len() - skipped)
        }
    };
    if missing.is_empty() {
        report.ok("images", format!("all {total} present"));
    } else {
        report.fail("images", super::preflight::describe_missing(&missing));
    }
    Ok(missing.len() as u64)
}

/// Starts a throwaway container with every capability and sysctl the kinds
/// ask for, and tries in it what noglab-init and the daemons do.
async fn check_kernel<E: Engine>(engine: &E, kinds: &[&'static Kind], report: &mut Report<'_>) {
    let capabilities: BTreeSet<String> = kinds
        .iter()
        .flat_map(|k| k.capabilities.iter().map(|c| c.to_string()))
        .collect();
    let sysctls: BTreeMap<String, String> = kinds
        .iter()
        .flat_map(|k| {
            k.sysctls
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let caps: Vec<String> = capabilities.into_iter().collect();
    let Some(host) = images::lookup("host").map(|d| d.reference()) else {
        return;
    };
    match engine.image_exists(&host).await {
        Ok(true) => {}
        _ => {
            report.fail(
                "capabilities",
                format!("cannot try them: the host image {host} is missing (`noglab images build host`)"),
            );
            return;
        }
    }
    // Each check prints `<name> ok` or `<name> fail <why>`.
    let script = r#"
        if ip link add ngldoc0 type veth peer name ngldoc9 2>/tmp/e && ip link set ngldoc0 name ngldoc1 2>>/tmp/e \
            && ip link set ngldoc1 up 2>>/tmp/e; then echo "net_admin ok"; else echo "net_admin fail $(tr '\n' ' ' </tmp/e)"; fi
        if ip -6 addr add 2001:db8:ffff::1/64 dev ngldoc1 nodad 2>/tmp/e && ping -6 -c 1 -W 2 ::1 >/dev/null 2>>/tmp/e; then
            echo "ipv6 ok"; else echo "ipv6 fail $(tr '\n' ' ' </tmp/e)"; fi
        if ping -c 1 -W 2 127.0.0.1 >/dev/null 2>/tmp/e; then echo "net_raw ok"; else echo "net_raw fail $(tr '\n' ' ' </tmp/e)"; fi
        if tc qdisc add dev ngldoc1 root netem delay 1ms 2>/tmp/e; then echo "netem ok"; else echo "netem fail $(tr '\n' ' ' </tmp/e)"; fi
    "#;
    let cmd = ["sh", "-c", script];
    let caps_text = caps.join(", ");
    match engine.probe(&host, &caps, &sysctls, &cmd).await {
        Err(e) => report.fail(
            "capabilities",
            format!(
                "the engine refused a container with {caps_text} and {} sysctls: {e:#}",
                sysctls.len()
            ),
        ),
        Ok((_, output)) => report_probe(&output, &caps_text, sysctls.len(), report),
    }
}

/// What the probe printed, as the capabilities and IPv6 checks.
fn report_probe(output: &str, caps_text: &str, sysctls: usize, report: &mut Report<'_>) {
    let result = |name: &str| -> Option<Result<(), String>> {
        output.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.trim();
            Some(match rest.strip_prefix("fail") {
                Some(why) => Err(why.trim().to_string()),
                None => Ok(()),
            })
        })
    };
    let mut cap_failures = Vec::new();
    for (check, what) in [
        ("net_admin", "NET_ADMIN (rename and address interfaces)"),
        ("net_raw", "NET_RAW (ping)"),
    ] {
        match result(check) {
            Some(Ok(())) => {}
            Some(Err(why)) => cap_failures.push(format!("{what}: {why}")),
            None => cap_failures.push(format!(
                "{what}: no answer from the probe: {}",
                output.trim()
            )),
        }
    }
    if cap_failures.is_empty() {
        report.ok(
                    "capabilities",
                    format!("a container with {caps_text} and the kinds' {sysctls} sysctls starts and can use them"),
                );
    } else {
        report.fail("capabilities", cap_failures.join("; "));
    }
    match result("ipv6") {
                Some(Ok(())) => report.ok("ipv6", "IPv6 works inside a container"),
                Some(Err(why)) => report.fail(
                    "ipv6",
                    format!("IPv6 does not work inside a container ({why}); is IPv6 disabled on the host kernel (ipv6.disable=1)?"),
                ),
                None => report.fail("ipv6", format!("no answer from the probe: {}", output.trim())),
            }
    // Only `link ... netem` needs it: a warning, never a failure.
    match result("netem") {
        Some(Ok(())) => report.ok("netem", "link faults can delay, lose and slow packets (tc netem)"),
        Some(Err(why)) => report.warn(
            "netem",
            format!("the host kernel has no netem qdisc ({why}): `noglab link ... netem` sets its delay, loss and rate from iptables, a delayer in the node and tbf instead, coarser under load (nodes whose image has no iptables cannot); for the kernel's own, `modprobe sch_netem` (CONFIG_NET_SCH_NETEM)"),
        ),
        None => report.warn("netem", format!("no answer from the probe: {}", output.trim())),
    }
}

/// A subnet of the lab and where it comes from.
struct LabSubnet {
    net: IpNet,
    what: String,
}

/// The lab's own addresses on its links: what the topology chose. The
/// access points' host-facing networks are noglab's plumbing, inside the
/// lab's block, which is checked as a whole.
fn lab_subnets(plan: &Plan) -> Vec<LabSubnet> {
    let plumbing: BTreeSet<&str> = plan
        .all_pods()
        .flat_map(|p| &p.networks)
        .filter(|n| n.host_facing)
        .map(|n| n.name.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (pod, c) in plan.containers() {
        for a in c
            .links
            .iter()
            .filter(|a| !plumbing.contains(a.network.as_str()))
        {
            let link = a.network.rsplit('-').next().unwrap_or_default().to_string();
            let nets = [
                a.ipv4.map(|n| IpNet::V4(n.trunc())),
                a.ipv6.map(|n| IpNet::V6(n.trunc())),
            ];
            for net in nets.into_iter().flatten() {
                if seen.insert((pod, net)) {
                    out.push(LabSubnet {
                        net,
                        what: format!("lab subnet {net} (pod {pod}, link {link})"),
                    });
                }
            }
        }
    }
    out
}

/// The engine's networks, noglab's (any lab's: their blocks are chosen
/// apart, and their link addresses are no Docker subnet) set apart from
/// the others, which a lab must not overlap.
struct DockerNetworks {
    /// Name and subnets of every network that is not noglab's.
    foreign: Vec<(String, Vec<IpNet>)>,
    /// The host bridges of noglab's networks: their routes are noglab's.
    noglab_bridges: BTreeSet<String>,
    /// How many networks are noglab's.
    noglab: usize,
}

async fn docker_networks<E: Engine>(engine: &E) -> Result<DockerNetworks> {
    let mut out = DockerNetworks {
        foreign: Vec::new(),
        noglab_bridges: BTreeSet::new(),
        noglab: 0,
    };
    for n in engine.all_networks().await? {
        if n.labels.contains_key(crate::plan::labels::LAB) {
            out.noglab += 1;
            out.noglab_bridges.extend(n.bridge);
        } else {
            let subnets = n.subnets.iter().filter_map(|s| s.parse().ok()).collect();
            out.foreign.push((n.name, subnets));
        }
    }
    Ok(out)
}

async fn check_subnets<E: Engine>(
    engine: &E,
    lab: &Lab,
    routes: &[(IpNet, String)],
    report: &mut Report<'_>,
) -> Result<()> {
    let networks = docker_networks(engine).await?;
    // Routes to noglab's own bridges (its access networks') are noglab's.
    let routes: Vec<&(IpNet, String)> = routes
        .iter()
        .filter(|(_, dev)| !networks.noglab_bridges.contains(dev))
        .collect();

    // The Docker subnets the lab has, or would get from `up` now.
    let observed = super::observe(engine, &lab.name).await?;
    let block =
        super::preflight::lab_block(engine, &lab.name, &observed, &lab.topology, lab.pods).await;
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut candidates: Vec<LabSubnet> = lab_subnets(&lab.plan);
    match block {
        Ok(block) => candidates.push(LabSubnet {
            net: IpNet::V4(block),
            what: format!("noglab's Docker block {block} for this lab"),
        }),
        Err(e) => problems.push(format!("{e:#}")),
    }
    for s in &candidates {
        checked += 1;
        for (route, dev) in &routes {
            if overlaps(s.net, *route) {
                problems.push(format!(
                    "{} overlaps the host's route {route} dev {dev}",
                    s.what
                ));
            }
        }
        // noglab's own block is chosen clear of Docker's networks.
        if s.what.starts_with("noglab's") {
            continue;
        }
        for (name, subnets) in &networks.foreign {
            for subnet in subnets {
                if overlaps(s.net, *subnet) {
                    problems.push(format!(
                        "{} overlaps Docker network {name} ({subnet})",
                        s.what
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        report.ok(
            "subnets",
            format!(
                "{checked} lab and Docker subnets overlap none of the host's {} routes and {} other Docker networks ({} of noglab's labs' own set aside)",
                routes.len(),
                networks.foreign.len(),
                networks.noglab
            ),
        );
    } else {
        for p in problems {
            report.fail("subnets", p);
        }
    }
    Ok(())
}

fn overlaps(a: IpNet, b: IpNet) -> bool {
    match (a, b) {
        (IpNet::V4(a), IpNet::V4(b)) => a.contains(&b.network()) || b.contains(&a.network()),
        (IpNet::V6(a), IpNet::V6(b)) => a.contains(&b.network()) || b.contains(&a.network()),
        _ => false,
    }
}

/// RTF_REJECT: an unreachable, prohibit or blackhole route, which keeps
/// traffic in rather than sending it anywhere.
const RTF_REJECT: u32 = 0x0200;

/// The host's routes that a lab subnet could clash with: not default
/// routes, not rejecting ones, not loopback, link-local or multicast ones.
fn host_routes() -> Vec<(IpNet, String)> {
    let v4 = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    let mut out = parse_ipv4_routes(&v4);
    out.extend(parse_ipv6_routes(&v6));
    out
}

/// /proc/net/route: `Iface Destination Gateway Flags RefCnt Use Metric Mask ...`
/// with addresses as the hex of the kernel's (little-endian) u32.
fn parse_ipv4_routes(text: &str) -> Vec<(IpNet, String)> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || f[0] == "lo" {
            continue;
        }
        let (Ok(dest), Ok(flags), Ok(mask)) = (
            u32::from_str_radix(f[1], 16),
            u32::from_str_radix(f[3], 16),
            u32::from_str_radix(f[7], 16),
        ) else {
            continue;
        };
        if flags & RTF_REJECT != 0 {
            continue;
        }
        let prefix = mask.count_ones() as u8;
        if prefix == 0 {
            continue;
        }
        if let Ok(net) = Ipv4Net::new(Ipv4Addr::from(dest.to_le_bytes()), prefix) {
            out.push((IpNet::V4(net.trunc()), f[0].to_string()));
        }
    }
    out
}

/// /proc/net/ipv6_route: `dest plen src plen nexthop metric refcnt use flags iface`.
fn parse_ipv6_routes(text: &str) -> Vec<(IpNet, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || f[9] == "lo" {
            continue;
        }
        let (Ok(dest), Ok(prefix), Ok(flags)) = (
            u128::from_str_radix(f[0], 16),
            u8::from_str_radix(f[1], 16),
            u32::from_str_radix(f[8], 16),
        ) else {
            continue;
        };
        if flags & RTF_REJECT != 0 {
            continue;
        }
        let addr = Ipv6Addr::from(dest);
        let segment = addr.segments()[0];
        let link_local = segment & 0xffc0 == 0xfe80;
        let multicast = segment & 0xff00 == 0xff00;
        if prefix == 0 || link_local || multicast {
            continue;
        }
        if let Ok(net) = Ipv6Net::new(addr, prefix) {
            out.push((IpNet::V6(net.trunc()), f[9].to_string()));
        }
    }
    out
}

/// The kind of each node the room would run: the lab's, or one node of
/// each kind without a lab.
fn room_nodes(lab: Option<&Lab>, kinds: &[&'static Kind]) -> Vec<&'static Kind> {
    match lab {
        Some(lab) => lab
            .plan
            .containers()
            .filter_map(|(_, c)| kinds::lookup(&c.kind))
            .collect(),
        None => kinds.to_vec(),
    }
}

/// The room, as the memory and CPU lines name it.
fn room_name(lab: Option<&Lab>) -> String {
    match lab {
        Some(lab) => format!("lab {} with {} pods", lab.name, lab.pods),
        None => "one node of each kind".to_string(),
    }
}

/// MiB the lab's nodes (or one node of each kind) and the guard need.
fn memory_needed(lab: Option<&Lab>, kinds: &[&'static Kind]) -> u64 {
    room_nodes(lab, kinds)
        .iter()
        .map(|k| k.memory_mib + ENGINE_MEMORY_PER_NODE_MIB)
        .sum::<u64>()
        + GUARD_MEMORY_MIB
}

fn check_memory(
    lab: Option<&Lab>,
    kinds: &[&'static Kind],
    available: Option<u64>,
    report: &mut Report<'_>,
) {
    let need = memory_needed(lab, kinds);
    let what = room_name(lab);
    let Some(available) = available else {
        report.skip("memory", "cannot read MemAvailable from /proc/meminfo");
        return;
    };
    if available >= need {
        report.ok(
            "memory",
            format!("{available} MiB available, {what} needs about {need} MiB"),
        );
    } else {
        report.fail(
            "memory",
            format!("{available} MiB available, {what} needs about {need} MiB; use fewer pods (`--pods`) or a larger machine"),
        );
    }
}

/// The share of the machine's CPUs a room may keep busy at rest before
/// `doctor` warns: above it, the board's execs and the participants'
/// shells take CPU from daemons whose timers (OSPF's dead interval, BGP's
/// hold time) then expire.
const REST_CPU_SHARE_LIMIT_PERCENT: u64 = 50;

/// The lab's nodes (or one node of each kind) on the engine's CPUs: the
/// CPU time their boot takes, hence the least `up` can take, and what they
/// keep busy at rest. A warning when they keep more than half the CPUs
/// busy at rest: the machine is too small for the room. `cpus` is 0 when
/// the engine did not say.
fn check_cpu(lab: Option<&Lab>, kinds: &[&'static Kind], cpus: i64, report: &mut Report<'_>) {
    let Some(cpus) = u64::try_from(cpus).ok().filter(|&n| n > 0) else {
        report.skip("cpu", "the engine did not say how many CPUs it has");
        return;
    };
    let nodes = room_nodes(lab, kinds);
    let boot_ms: u64 = nodes.iter().map(|k| k.boot_cpu_ms).sum();
    let rest_permille: u64 = nodes.iter().map(|k| rest_cpu_permille(k)).sum();
    let what = room_name(lab);
    let boot_s = boot_ms.div_ceil(1000);
    let floor_s = boot_ms.div_ceil(1000 * cpus);
    let rest_percent = (rest_permille * 100).div_ceil(1000 * cpus);
    let message = format!(
        "{cpus} CPUs; {what} boots in about {boot_s} CPU-seconds (`up` at least {floor_s} s) and keeps about {rest_percent} % of the CPUs busy at rest"
    );
    if rest_percent > REST_CPU_SHARE_LIMIT_PERCENT {
        let most = most_pods(lab, cpus, rest_permille);
        report.warn(
            "cpu",
            format!(
                "{message}; above {REST_CPU_SHARE_LIMIT_PERCENT} % the board and the participants' shells starve the routers' timers: {most}use more CPUs (docs/sizing.md)"
            ),
        );
    } else {
        report.ok("cpu", message);
    }
}

/// What a node of `kind` keeps busy at rest, the engine's share for its
/// container included, in thousandths of one CPU.
fn rest_cpu_permille(kind: &Kind) -> u64 {
    kind.rest_cpu_permille + ENGINE_REST_CPU_PER_NODE_PERMILLE
}

/// "at most N pods on these CPUs, or ": the largest room of the lab that
/// stays under the rest limit, when there is a lab.
fn most_pods(lab: Option<&Lab>, cpus: u64, rest_permille: u64) -> String {
    let Some(lab) = lab else {
        return String::new();
    };
    let per_pod = rest_permille.div_ceil(u64::from(lab.pods.max(1)));
    if per_pod == 0 {
        return String::new();
    }
    let most = cpus * 1000 * REST_CPU_SHARE_LIMIT_PERCENT / 100 / per_pod;
    format!("at most {most} pods of this lab on these CPUs, or ")
}

fn meminfo_available_mib(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

fn check_disk(
    root: &str,
    free: Option<u64>,
    lab: Option<&Lab>,
    kinds: &[&'static Kind],
    missing_images: u64,
    report: &mut Report<'_>,
) {
    let nodes = match lab {
        Some(lab) => lab.plan.containers().count() as u64,
        None => kinds.len() as u64,
    };
    let need = nodes * DISK_PER_NODE_MIB + missing_images * DISK_PER_MISSING_IMAGE_MIB;
    let Some(free) = free else {
        report.skip(
            "disk",
            format!("cannot read the free space of {root} with df"),
        );
        return;
    };
    if free >= need {
        report.ok(
            "disk",
            format!("{free} MiB free in {root}, about {need} MiB needed"),
        );
    } else {
        report.fail("disk", format!("{free} MiB free in {root}, about {need} MiB needed; free some space (`docker system df` shows what Docker keeps)"));
    }
}

/// The "Available" column (KiB) of `df -Pk`, in MiB.
fn df_available_mib(text: &str) -> Option<u64> {
    let line = text.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::engine::EngineNetwork;
    use crate::plan::labels;
    use crate::reconcile::testing;

    /// A machine with room to spare and the given routes.
    fn roomy(routes: &[(&str, &str)]) -> Host {
        Host {
            routes: routes
                .iter()
                .map(|(net, dev)| (net.parse().expect("net"), dev.to_string()))
                .collect(),
            memory: Some(100_000),
            disk_free: |_| Some(50_000),
        }
    }

    fn lab(pods: u32) -> Lab {
        let loaded = topology::load_str(Path::new("t.yml"), testing::TOPOLOGY.to_string(), |_| {
            Err("no files".into())
        })
        .expect("valid");
        Lab {
            name: loaded.topology.name.clone(),
            plan: super::super::expand_in(&loaded, pods, None, false).expect("plans"),
            topology: loaded.topology,
            pods,
        }
    }

    /// The report's lines and whether doctor exits 1.
    async fn doctor(engine: &FakeEngine, lab: Option<&Lab>, host: &Host) -> (Vec<String>, bool) {
        let mut out = Vec::new();
        let mut report = Report::new(&mut out, ListFormat::Table);
        let result = examine(engine, lab, host, &mut report).await;
        report.finish().expect("nothing kept");
        let failed = match result {
            Ok(()) => false,
            Err(e) => {
                assert_eq!(e.downcast_ref::<ExitCode>().map(|c| c.0), Some(1), "{e:#}");
                true
            }
        };
        let text = String::from_utf8(out).expect("text");
        (text.lines().map(String::from).collect(), failed)
    }

    const PROBE_PASSES: &str = "net_admin ok\nipv6 ok\nnet_raw ok\nnetem ok\n";

    #[tokio::test]
    async fn a_sound_engine_passes_every_check_in_order() {
        let engine = FakeEngine::default();
        engine.lock().probe_output = (0, PROBE_PASSES.into());
        let (lines, failed) = doctor(&engine, None, &roomy(&[])).await;
        assert!(!failed, "{lines:#?}");
        let checks: Vec<&str> = lines
            .iter()
            .map(|l| &l[..l.find(':').unwrap_or(0)])
            .collect();
        assert_eq!(
            checks,
            [
                "ok    engine",
                "ok    images",
                "ok    capabilities",
                "ok    ipv6",
                "ok    netem",
                "skip  subnets",
                "ok    memory",
                "ok    cpu",
                "ok    disk"
            ]
        );
        assert_eq!(
            lines[0],
            "ok    engine: Docker 20.10.24 (API 1.41, noglab speaks 1.41)"
        );
        assert!(
            lines[6].starts_with(
                "ok    memory: 100000 MiB available, one node of each kind needs about "
            ),
            "{}",
            lines[6]
        );
        assert!(
            lines[7].starts_with("ok    cpu: 2 CPUs; one node of each kind boots in about "),
            "{}",
            lines[7]
        );
        assert!(
            lines[8].starts_with("ok    disk: 50000 MiB free in /var/lib/docker, about "),
            "{}",
            lines[8]
        );
        let calls = engine.calls();
        assert_eq!(calls[0], "describe");
        let probe = calls.last().expect("a probe");
        let host = images::lookup("host").expect("host").reference();
        assert!(probe.starts_with(&format!("probe {host} caps=")), "{probe}");
        assert!(probe.contains("NET_ADMIN"), "{probe}");
    }

    #[tokio::test]
    async fn a_kernel_without_netem_is_a_warning_that_names_the_module() {
        let engine = FakeEngine::default();
        engine.lock().probe_output = (
            0,
            "net_admin ok\nipv6 ok\nnet_raw ok\nnetem fail Error: Specified qdisc kind is unknown. \n"
                .into(),
        );
        let (lines, failed) = doctor(&engine, None, &roomy(&[])).await;
        assert!(!failed, "{lines:#?}");
        let netem = lines
            .iter()
            .find(|l| l.starts_with("warn  netem: "))
            .expect("a netem warning");
        assert!(netem.contains("Specified qdisc kind is unknown"), "{netem}");
        assert!(netem.contains("modprobe sch_netem"), "{netem}");
    }

    #[tokio::test]
    async fn an_engine_that_cannot_be_reached_is_the_one_failure() {
        let engine = FakeEngine::default();
        engine.lock().unreachable =
            Some("cannot reach the Docker engine at unix:///var/run/docker.sock".into());
        let (lines, failed) = doctor(&engine, Some(&lab(2)), &roomy(&[])).await;
        assert!(failed);
        assert_eq!(
            lines,
            ["FAIL  engine: cannot reach the Docker engine at unix:///var/run/docker.sock"]
        );
        assert!(engine.calls().is_empty());
    }

    /// The JSON document doctor prints, and whether it exits 1.
    async fn doctor_json(engine: &FakeEngine, host: &Host) -> (serde_json::Value, bool) {
        let mut out = Vec::new();
        let mut report = Report::new(&mut out, ListFormat::Json);
        let failed = examine(engine, None, host, &mut report).await.is_err();
        report.finish().expect("printed");
        let text = String::from_utf8(out).expect("text");
        (
            serde_json::from_str(&text).expect("one JSON document"),
            failed,
        )
    }

    #[tokio::test]
    async fn json_is_one_document_of_the_same_checks_with_their_level() {
        let engine = FakeEngine::default();
        engine.lock().probe_output = (0, PROBE_PASSES.into());
        let (doc, failed) = doctor_json(&engine, &roomy(&[])).await;
        assert!(!failed);
        assert_eq!(doc["ok"], true, "{doc:#}");
        let checks = doc["checks"].as_array().expect("a list");
        let (lines, _) = doctor(&engine, None, &roomy(&[])).await;
        assert_eq!(checks.len(), lines.len(), "{doc:#}");
        for (check, line) in checks.iter().zip(&lines) {
            let level = check["level"].as_str().expect("a level");
            let shown = if level == "fail" { "FAIL" } else { level };
            let name = check["check"].as_str().expect("a check");
            let message = check["message"].as_str().expect("a message");
            assert_eq!(*line, format!("{shown:<6}{name}: {message}"));
        }
        assert_eq!(checks[5]["level"], "skip", "{doc:#}");

        engine.lock().unreachable = Some("cannot reach the Docker engine".into());
        let (doc, failed) = doctor_json(&engine, &roomy(&[])).await;
        assert!(failed);
        assert_eq!(
            doc,
            serde_json::json!({"ok": false, "checks": [
                {"level": "fail", "check": "engine", "message": "cannot reach the Docker engine"}
            ]})
        );
    }

    #[tokio::test]
    async fn a_lab_is_held_against_its_images_the_kernel_routes_and_networks() {
        let engine = FakeEngine::default();
        let lab = lab(2);
        let frr = images::lookup("frr").expect("frr").reference();
        {
            let mut s = engine.lock();
            s.missing_images.insert(frr.clone());
            s.probe_output = (
                0,
                "net_admin fail RTNETLINK answers: Operation not permitted\nipv6 ok\nnet_raw ok\n"
                    .into(),
            );
            s.foreign_networks.push(EngineNetwork {
                name: "office".into(),
                subnets: vec!["100.64.0.0/16".into()],
                labels: std::collections::BTreeMap::new(),
                bridge: None,
            });
        }
        let host = roomy(&[("100.64.2.0/24", "eth9"), ("10.0.0.0/8", "eth0")]);
        let (lines, failed) = doctor(&engine, Some(&lab), &host).await;
        assert!(failed, "{lines:#?}");
        let has = |line: &str| lines.iter().any(|l| l == line);
        assert!(has(&format!("FAIL  images: missing images: {frr} (kind frr); build noglab's with `noglab images build frr`, or on a machine without a registry load a bundle made by `noglab images save` with `noglab images load FILE`")), "{lines:#?}");
        assert!(has("FAIL  capabilities: NET_ADMIN (rename and address interfaces): RTNETLINK answers: Operation not permitted"), "{lines:#?}");
        assert!(
            has("ok    ipv6: IPv6 works inside a container"),
            "{lines:#?}"
        );
        assert!(has("FAIL  subnets: lab subnet 100.64.2.0/31 (pod 2, link l1) overlaps the host's route 100.64.2.0/24 dev eth9"), "{lines:#?}");
        for pod in [1, 2] {
            assert!(has(&format!("FAIL  subnets: lab subnet 100.64.{pod}.0/31 (pod {pod}, link l1) overlaps Docker network office (100.64.0.0/16)")), "{lines:#?}");
        }
        assert!(
            lines.iter().all(|l| !l.contains("10.0.0.0/8")),
            "{lines:#?}"
        );
        assert!(
            has(&format!(
                "ok    memory: 100000 MiB available, lab lab with 2 pods needs about {} MiB",
                memory_needed(Some(&lab), &kinds_of(Some(&lab)))
            )),
            "{lines:#?}"
        );
    }

    /// A running lab's own networks, and another lab's, are noglab's: not
    /// overlaps. A foreign route into the block still is.
    #[tokio::test]
    async fn noglabs_own_networks_are_no_overlap() {
        let engine = FakeEngine::default();
        let lab = lab(2);
        testing::up(&engine, &lab.plan).await;
        let other = testing::plan(1);
        let mut other_net = other.pod_plans[&1].networks[0].clone();
        other_net.name = "other-p01-access".into();
        other_net.bridge = "nga0123456789ab".into();
        other_net.labels.insert(labels::LAB.into(), "other".into());
        engine.create_network(&other_net).await.expect("fake");
        // The host routes Docker adds for bridges with an address: one of
        // this lab's, one of the other lab's, both inside this lab's block.
        let own = &lab.plan.pod_plans[&1].networks[0];
        let routes: Vec<(String, String)> = vec![
            (own.subnet.to_string(), own.bridge.clone()),
            (own.subnet.to_string(), other_net.bridge.clone()),
        ];
        let as_refs: Vec<(&str, &str)> = routes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let (lines, _) = doctor(&engine, Some(&lab), &roomy(&as_refs)).await;
        let subnets: Vec<&String> = lines.iter().filter(|l| l.contains("subnets:")).collect();
        assert_eq!(subnets.len(), 1, "{lines:#?}");
        assert!(subnets[0].starts_with("ok    subnets: "), "{lines:#?}");
        assert!(
            subnets[0].ends_with(&format!(
                " and 0 other Docker networks ({} of noglab's labs' own set aside)",
                lab.plan.all_pods().map(|p| p.networks.len()).sum::<usize>() + 1
            )),
            "{lines:#?}"
        );

        // The same route on a device that is not noglab's is a clash.
        let (lines, failed) = doctor(
            &engine,
            Some(&lab),
            &roomy(&[(routes[0].0.as_str(), "eth9")]),
        )
        .await;
        assert!(failed);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("FAIL  subnets: noglab's Docker block ")
                    && l.ends_with(&format!(
                        "overlaps the host's route {} dev eth9",
                        own.subnet
                    ))),
            "{lines:#?}"
        );
    }

    /// The CPU figures of a lab's nodes, from the kinds' own: boot
    /// CPU-seconds and what they keep busy at rest, per mille of a CPU.
    fn cpu_of(lab: &Lab) -> (u64, u64) {
        room_nodes(Some(lab), &[]).iter().fold((0, 0), |(b, r), k| {
            (b + k.boot_cpu_ms, r + rest_cpu_permille(k))
        })
    }

    fn cpu_line(lines: &[String]) -> &str {
        lines
            .iter()
            .find(|l| l.contains(" cpu: "))
            .expect("a cpu line")
    }

    #[tokio::test]
    async fn a_room_too_large_for_the_cpus_is_a_warning_that_says_how_many_pods_fit() {
        let engine = FakeEngine::default();
        engine.lock().probe_output = (0, PROBE_PASSES.into());
        let small = lab(2);
        let (boot_ms, rest) = cpu_of(&small);
        assert!(
            boot_ms > 0 && rest > 0,
            "every kind has measured CPU figures"
        );
        let (lines, failed) = doctor(&engine, Some(&small), &roomy(&[])).await;
        assert!(!failed, "{lines:#?}");
        assert_eq!(
            cpu_line(&lines),
            format!(
                "ok    cpu: 2 CPUs; lab lab with 2 pods boots in about {} CPU-seconds (`up` at least {} s) and keeps about {} % of the CPUs busy at rest",
                boot_ms.div_ceil(1000),
                boot_ms.div_ceil(2000),
                (rest * 100).div_ceil(2000)
            )
        );

        // The smallest room whose nodes keep more than half of two CPUs
        // busy at rest.
        let per_pod = rest.div_ceil(2);
        let pods = u32::try_from(1000 / per_pod + 2).expect("pods");
        let big = lab(pods);
        let (_, rest) = cpu_of(&big);
        assert!(rest * 100 > 50 * 2000, "{rest} per mille of a CPU");
        let (lines, failed) = doctor(&engine, Some(&big), &roomy(&[])).await;
        assert!(!failed, "a warning, not a failure: {lines:#?}");
        let cpu = cpu_line(&lines);
        assert!(
            cpu.starts_with(&format!(
                "warn  cpu: 2 CPUs; lab lab with {pods} pods boots in about "
            )),
            "{cpu}"
        );
        let most = 1000 / rest.div_ceil(u64::from(pods));
        assert!(
            cpu.ends_with(&format!("above 50 % the board and the participants' shells starve the routers' timers: at most {most} pods of this lab on these CPUs, or use more CPUs (docs/sizing.md)")),
            "{cpu}"
        );
        assert!(u64::from(pods) > most, "{pods} pods, {most} fit");
    }

    #[test]
    fn proc_routes_parse() {
        let v4 =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                  eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                  docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
                  *\t000012C6\t00000000\t0201\t0\t0\t0\t0000FEFF\t0\t0\t0\n";
        let got = parse_ipv4_routes(v4);
        assert_eq!(
            got,
            vec![
                ("10.0.2.0/24".parse().expect("net"), "eth0".to_string()),
                ("172.17.0.0/16".parse().expect("net"), "docker0".to_string()),
            ]
        );
        let v6 = "20010db8000000000000000000000000 20 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
                  fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
                  00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n";
        assert_eq!(
            parse_ipv6_routes(v6),
            vec![("2001:db8::/32".parse().expect("net"), "eth0".to_string())]
        );
    }

    #[test]
    fn overlap_is_containment_either_way() {
        let n = |s: &str| s.parse::<IpNet>().expect("net");
        assert!(overlaps(n("100.64.0.0/10"), n("100.64.3.0/29")));
        assert!(overlaps(n("100.64.3.0/29"), n("100.64.0.0/10")));
        assert!(!overlaps(n("100.64.3.0/29"), n("100.64.3.8/29")));
        assert!(!overlaps(n("2001:db8::/32"), n("100.64.0.0/10")));
    }

    #[test]
    fn meminfo_and_df() {
        assert_eq!(
            meminfo_available_mib("MemTotal: 100 kB\nMemAvailable:    2048000 kB\n"),
            Some(2000)
        );
        assert_eq!(
            df_available_mib("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 1000 10 5120 1% /\n"),
            Some(5)
        );
    }
}
