//! `noglab link --pod SPEC NODE:IFACE down|up|netem|clear`: break a link
//! for a resilience exercise, in the node itself (`ip link`, `tc netem`;
//! nodes hold NET_ADMIN), and `noglab link --pod SPEC` to see what is
//! broken.
//!
//! What is impaired is read from the nodes every time, never remembered by
//! noglab: a node that `reset` recreated, or that restarted, has a fresh
//! network namespace and nothing impaired, and the view says so without
//! anyone having to forget anything. Owns the plan's link interfaces of a
//! node, which `capture` checks names against too.

use std::fmt;

use anyhow::{anyhow, Context, Result};
use futures_util::StreamExt;
use serde::Serialize;

use super::link_fallback;
use crate::cli::{LinkAction, ListFormat, NetemArgs};
use crate::diag::input_error;
use crate::engine::{Connector, Engine, ObservedContainer, Scope};
use crate::plan::{labels, Attachment, Plan, SHARED_POD};
use crate::state;
use crate::topology::names::MGMT_INTERFACE;

/// Nodes asked at once, across pods.
const PARALLEL: usize = 8;

pub async fn run<C: Connector>(
    engines: &C,
    target: &[String],
    pods: &str,
    action: Option<LinkAction>,
    format: ListFormat,
) -> Result<()> {
    let (lab, endpoint) = split(target)?;
    let engine = engines.engine().await?;
    let lab = super::resolve_lab(engine, lab).await?;
    let plan = saved_plan(&lab)?;
    let pods = select_pods(&plan, pods)?;
    match (endpoint, action) {
        (Some((node, iface)), Some(action)) => {
            for pod in &pods {
                check_interface(&plan, *pod, &node, &iface)?;
            }
            act(engine, &plan, &pods, &node, &iface, &action).await?;
            let rows = view(engine, &plan, &pods, Some((&node, &iface))).await?;
            print(&rows, format)
        }
        (endpoint, None) => {
            if let Some((node, iface)) = &endpoint {
                for pod in &pods {
                    check_interface(&plan, *pod, node, iface)?;
                }
            }
            let only = endpoint.as_ref().map(|(n, i)| (n.as_str(), i.as_str()));
            let rows = view(engine, &plan, &pods, only).await?;
            print(&rows, format)
        }
        (None, Some(_)) => Err(input_error(
            "say which link end: NODE:IFACE before the action, e.g. `noglab link --pod 1 r1:eth1 down`",
        )),
    }
}

/// The plan a lab was brought up with, which names its interfaces.
pub(super) fn saved_plan(lab: &str) -> Result<Plan> {
    state::load_plan(lab)?.ok_or_else(|| {
        anyhow!("noglab has no saved plan for lab {lab} (it was brought up by another user or machine); run `noglab up FILE` for it first")
    })
}

/// A link end: node and interface.
type End = (String, String);

/// `[LAB] [NODE:IFACE]`: a word with a colon is a link end.
fn split(target: &[String]) -> Result<(Option<String>, Option<End>)> {
    let endpoint = |word: &str| -> Result<End> {
        match word.split_once(':') {
            Some((node, iface)) if !node.is_empty() && !iface.is_empty() => {
                Ok((node.to_string(), iface.to_string()))
            }
            _ => Err(input_error(format!(
                "`{word}` is not a link end: write NODE:IFACE, e.g. r1:eth1"
            ))),
        }
    };
    match target {
        [] => Ok((None, None)),
        [one] if one.contains(':') => Ok((None, Some(endpoint(one)?))),
        [lab] => Ok((Some(lab.clone()), None)),
        [lab, end] => Ok((Some(lab.clone()), Some(endpoint(end)?))),
        _ => Err(input_error("give at most a lab and one NODE:IFACE")),
    }
}

/// `--pod SPEC` against the plan's pods; `shared` for the lab-wide nodes.
fn select_pods(plan: &Plan, spec: &str) -> Result<Vec<u32>> {
    if spec == crate::plan::SHARED_LABEL {
        return match plan.shared {
            Some(_) => Ok(vec![SHARED_POD]),
            None => Err(input_error(format!("lab {} has no shared nodes", plan.lab))),
        };
    }
    let existing = plan.pod_plans.keys().copied().collect();
    Ok(super::parse_pods(spec, &existing)?.into_iter().collect())
}

/// The interfaces of `node` in `pod` that the plan links to other nodes,
/// in order (the management interface is noglab's, not the lab's).
pub(super) fn link_interfaces(plan: &Plan, pod: u32, node: &str) -> Result<Vec<String>> {
    let pod_plan = if pod == SHARED_POD {
        plan.shared.as_ref()
    } else {
        plan.pod_plans.get(&pod)
    };
    let pod_plan = pod_plan.ok_or_else(|| {
        input_error(format!(
            "lab {} has no pod {}",
            plan.lab,
            crate::plan::pod_label(pod)
        ))
    })?;
    let Some(container) = pod_plan.containers.iter().find(|c| c.node == node) else {
        let nodes: Vec<&str> = pod_plan
            .containers
            .iter()
            .map(|c| c.node.as_str())
            .collect();
        return Err(input_error(format!(
            "pod {} of lab {} has no node `{node}`; nodes: {}",
            crate::plan::pod_label(pod),
            plan.lab,
            nodes.join(", ")
        )));
    };
    Ok(container
        .links
        .iter()
        .map(|a| a.interface.clone())
        .collect())
}

/// Refuses an interface the plan does not give the node, listing those it
/// does.
pub(super) fn check_interface(plan: &Plan, pod: u32, node: &str, iface: &str) -> Result<()> {
    let ifaces = link_interfaces(plan, pod, node)?;
    if ifaces.iter().any(|i| i == iface) {
        return Ok(());
    }
    let listed = if ifaces.is_empty() {
        "it has no links".to_string()
    } else {
        format!("its interfaces: {}", ifaces.join(", "))
    };
    let mgmt = if iface == MGMT_INTERFACE {
        format!(" ({MGMT_INTERFACE} is noglab's management network, not a link of the lab)")
    } else {
        String::new()
    };
    Err(input_error(format!(
        "node {node} of pod {} has no link interface `{iface}`{mgmt}; {listed}",
        crate::plan::pod_label(pod)
    )))
}

/// The commands that carry out an action on one interface, in order.
fn commands(action: &LinkAction, iface: &str, netem_now: bool) -> Vec<Vec<String>> {
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match action {
        LinkAction::Down => vec![words(&["ip", "link", "set", "dev", iface, "down"])],
        LinkAction::Up => vec![words(&["ip", "link", "set", "dev", iface, "up"])],
        LinkAction::Netem(args) => vec![netem_command(iface, args)],
        // Deleting a root qdisc that is not there is an error to tc: only
        // delete what is.
        LinkAction::Clear if netem_now => {
            vec![words(&["tc", "qdisc", "del", "dev", iface, "root"])]
        }
        LinkAction::Clear => Vec::new(),
    }
}

/// The tc command that puts netem's queue with `args` on `iface`.
fn netem_command(iface: &str, args: &NetemArgs) -> Vec<String> {
    let mut cmd: Vec<String> = ["tc", "qdisc", "replace", "dev", iface, "root", "netem"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    cmd.extend(netem_words(args));
    cmd
}

/// netem's parameters, as tc takes them.
pub(super) fn netem_words(args: &NetemArgs) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(delay) = args.delay {
        out.push("delay".into());
        out.push(delay.to_string());
        if let Some(jitter) = args.jitter {
            out.push(jitter.to_string());
        }
    }
    if let Some(loss) = args.loss {
        out.push("loss".into());
        out.push(loss.to_string());
    }
    if let Some(rate) = args.rate {
        out.push("rate".into());
        out.push(rate.to_string());
    }
    out
}

/// Checks that `netem` was given something to do and that jitter comes
/// with a delay.
fn check_netem(args: &NetemArgs) -> Result<()> {
    if args.delay.is_none() && args.loss.is_none() && args.rate.is_none() {
        return Err(input_error(
            "netem needs at least one of --delay, --loss, --rate (`clear` removes them)",
        ));
    }
    if args.jitter.is_some() && args.delay.is_none() {
        return Err(input_error("--jitter varies a delay: give --delay too"));
    }
    Ok(())
}

/// Carries out the action on the interface in each pod, a few pods at once.
async fn act<E: Engine>(
    engine: &E,
    plan: &Plan,
    pods: &[u32],
    node: &str,
    iface: &str,
    action: &LinkAction,
) -> Result<()> {
    if let LinkAction::Netem(args) = action {
        check_netem(args)?;
    }
    let mut containers = Vec::new();
    for pod in pods {
        let c = super::find_node(engine, &plan.lab, *pod, node).await?;
        super::require_running(&c, *pod)?;
        containers.push((*pod, c));
    }
    let results: Vec<Result<()>> = futures_util::stream::iter(containers.iter())
        .map(|(pod, c)| async move {
            act_in(engine, c, iface, action).await?;
            if matches!(action, LinkAction::Up) {
                readdress_link(engine, plan, *pod, c, node, iface).await?;
            }
            Ok(())
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("{}", failures.join("\n")))
    }
}

async fn act_in<E: Engine>(
    engine: &E,
    c: &ObservedContainer,
    iface: &str,
    action: &LinkAction,
) -> Result<()> {
    if let LinkAction::Netem(args) = action {
        return netem_in(engine, c, iface, args).await;
    }
    let now = match action {
        LinkAction::Clear => Some(read_node(engine, c).await?),
        _ => None,
    };
    let netem_now = now.as_ref().is_some_and(|n| n.netem.contains_key(iface));
    for cmd in commands(action, iface, netem_now) {
        run_in(engine, &c.name, &cmd).await?;
    }
    if now.is_some_and(|n| n.fallback.contains_key(iface)) {
        run_in(engine, &c.name, &link_fallback::clear(iface)).await?;
    }
    Ok(())
}

/// netem's queue on the interface; on a kernel without it, the same
/// impairments from iptables, a delayer in the node and tbf
/// ([`link_fallback`]).
async fn netem_in<E: Engine>(
    engine: &E,
    c: &ObservedContainer,
    iface: &str,
    args: &NetemArgs,
) -> Result<()> {
    let cmd = netem_command(iface, args);
    let out = engine.exec(&c.name, &cmd).await?;
    if out.code == 0 {
        return Ok(());
    }
    if link_fallback::kernel_lacks_netem(&String::from_utf8_lossy(&out.stderr)) {
        return run_in(engine, &c.name, &link_fallback::apply(iface, args)).await;
    }
    Err(failure(&c.name, &cmd, &out.stderr))
}

/// Runs one command in a container; a failure says what ran, where, and
/// what the command said.
async fn run_in<E: Engine>(engine: &E, container: &str, cmd: &[String]) -> Result<()> {
    let out = engine.exec(container, cmd).await?;
    if out.code == 0 {
        return Ok(());
    }
    Err(failure(container, cmd, &out.stderr))
}

fn failure(container: &str, cmd: &[String], stderr: &[u8]) -> anyhow::Error {
    let said = String::from_utf8_lossy(stderr);
    let said = said.trim();
    // A script's words are not worth printing: name the program.
    let shown = match cmd {
        [sh, flag, _, name, ..] if sh == "sh" && flag == "-c" => name.clone(),
        _ => cmd.join(" "),
    };
    anyhow!("failed to run `{shown}` in {container}: {said}")
}

/// Every end, in `pod`, of the link that `node:iface` is on: the plan's
/// attachments to the same network, this end first. A lab-wide network's
/// ends in other pods are not this pod's, and are left out.
fn link_ends(plan: &Plan, pod: u32, node: &str, iface: &str) -> Vec<(String, Attachment)> {
    let pod_plan = if pod == SHARED_POD {
        plan.shared.as_ref()
    } else {
        plan.pod_plans.get(&pod)
    };
    let Some(pod_plan) = pod_plan else {
        return Vec::new();
    };
    let attachments = || {
        pod_plan
            .containers
            .iter()
            .flat_map(|c| c.links.iter().map(move |a| (c.node.as_str(), a)))
    };
    let Some((_, this)) = attachments().find(|(n, a)| *n == node && a.interface == iface) else {
        return Vec::new();
    };
    let mut ends = vec![(node.to_string(), this.clone())];
    ends.extend(
        attachments()
            .filter(|(n, a)| a.network == this.network && !(*n == node && a.interface == iface))
            .map(|(n, a)| (n.to_string(), a.clone())),
    );
    ends
}

/// The commands that give a link end its planned addresses again. Linux
/// drops an interface's IPv6 addresses when it is set down, and nothing in
/// a node puts them back; IPv4 ones stay, and `replace` leaves them as
/// they are. IPv6 without duplicate address detection, as the node's init
/// first set them, so that they serve at once.
fn readdress(end: &Attachment) -> Vec<Vec<String>> {
    let words = |text: String| text.split(' ').map(String::from).collect::<Vec<_>>();
    let iface = &end.interface;
    let v4 = end
        .ipv4
        .map(|net| words(format!("ip -4 addr replace {net} dev {iface}")));
    let v6 = end
        .ipv6
        .map(|net| words(format!("ip -6 addr replace {net} dev {iface} nodad")));
    v4.into_iter().chain(v6).collect()
}

/// After `up`: the planned addresses back on every end of the link in
/// `pod`, this end (in `this`, the container of `node`) and the other ones
/// (which lost theirs too if they were set down before). An other end whose
/// node is not running is left to its init, which addresses it when it
/// starts.
async fn readdress_link<E: Engine>(
    engine: &E,
    plan: &Plan,
    pod: u32,
    this: &ObservedContainer,
    node: &str,
    iface: &str,
) -> Result<()> {
    let ends = link_ends(plan, pod, node, iface);
    let running: Vec<ObservedContainer> = if ends.len() > 1 {
        let pod_s = crate::plan::pod_label(pod);
        engine
            .containers(Scope::Lab(&plan.lab))
            .await?
            .into_iter()
            .filter(|c| c.label(labels::POD) == Some(pod_s.as_str()) && c.state == "running")
            .collect()
    } else {
        Vec::new()
    };
    for (i, (end_node, end)) in ends.iter().enumerate() {
        let container = if i == 0 {
            this
        } else {
            match running
                .iter()
                .find(|c| c.label(labels::NODE) == Some(end_node.as_str()))
            {
                Some(c) => c,
                None => continue,
            }
        };
        for cmd in readdress(end) {
            run_in(engine, &container.name, &cmd).await?;
        }
    }
    Ok(())
}

/// One link interface of a pod as the node has it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub pod: String,
    pub node: String,
    pub interface: String,
    /// `up` or `down` (set down by hand), `missing` when the node does
    /// not have it, `-` when the node is not running.
    pub state: String,
    /// netem's parameters as tc reports them, or none.
    pub netem: Option<String>,
}

impl Row {
    fn impaired(&self) -> bool {
        self.state == "down" || self.netem.is_some()
    }
}

/// What one node's interfaces are now.
#[derive(Debug, Default, PartialEq)]
struct NodeLinks {
    /// Interface -> administratively up.
    up: std::collections::BTreeMap<String, bool>,
    /// Interface -> netem's parameters.
    netem: std::collections::BTreeMap<String, String>,
    /// Interface -> the parameters of a netem without the kernel's qdisc.
    fallback: std::collections::BTreeMap<String, String>,
}

async fn read_node<E: Engine>(engine: &E, c: &ObservedContainer) -> Result<NodeLinks> {
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (show_links, show_qdiscs) = (
        words(&["ip", "-o", "link", "show"]),
        words(&[
            "sh",
            "-c",
            &format!("tc qdisc show; {}", link_fallback::SHOW),
        ]),
    );
    let (links, qdiscs) = futures_util::try_join!(
        engine.exec(&c.name, &show_links),
        engine.exec(&c.name, &show_qdiscs),
    )
    .with_context(|| format!("failed to read the interfaces of {}", c.name))?;
    let qdiscs = String::from_utf8_lossy(&qdiscs.stdout);
    Ok(NodeLinks {
        up: parse_links(&String::from_utf8_lossy(&links.stdout)),
        netem: parse_qdiscs(&qdiscs),
        fallback: link_fallback::parse(&qdiscs),
    })
}

/// `ip -o link show`: each interface's name and whether it is set up
/// (`2: eth1@if31: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 ...`).
fn parse_links(text: &str) -> std::collections::BTreeMap<String, bool> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            fields.next()?;
            let name = fields.next()?.trim_end_matches(':');
            let name = name.split('@').next()?;
            let flags = fields.next()?.trim_start_matches('<').trim_end_matches('>');
            Some((name.to_string(), flags.split(',').any(|f| f == "UP")))
        })
        .collect()
}

/// `tc qdisc show`: the parameters of each interface's netem
/// (`qdisc netem 8001: dev eth1 root refcnt 2 limit 1000 delay 200ms loss 5%`).
fn parse_qdiscs(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("qdisc netem ")?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            let dev = words.iter().position(|w| *w == "dev")?;
            let iface = words.get(dev + 1)?;
            // Parameters follow the queue's `limit N`.
            let params = match words.iter().position(|w| *w == "limit") {
                Some(l) => words.get(l + 2..).unwrap_or_default().join(" "),
                None => String::new(),
            };
            Some((iface.to_string(), params))
        })
        .collect()
}

/// The link interfaces of the pods (only `only`'s when given), as the
/// nodes have them now.
async fn view<E: Engine>(
    engine: &E,
    plan: &Plan,
    pods: &[u32],
    only: Option<(&str, &str)>,
) -> Result<Vec<Row>> {
    let observed = engine
        .containers(crate::engine::Scope::Lab(&plan.lab))
        .await?;
    let mut wanted = Vec::new();
    for pod in pods {
        let pod_label = crate::plan::pod_label(*pod);
        let pod_plan = if *pod == SHARED_POD {
            plan.shared.as_ref()
        } else {
            plan.pod_plans.get(pod)
        };
        for spec in pod_plan
            .map(|p| p.containers.as_slice())
            .unwrap_or_default()
        {
            if only.is_some_and(|(n, _)| n != spec.node) || spec.links.is_empty() {
                continue;
            }
            let ifaces: Vec<String> = spec
                .links
                .iter()
                .map(|a| a.interface.clone())
                .filter(|i| only.is_none_or(|(_, want)| want == i))
                .collect();
            let container = observed.iter().find(|c| {
                c.label(labels::POD) == Some(pod_label.as_str())
                    && c.label(labels::NODE) == Some(spec.node.as_str())
            });
            wanted.push((pod_label.clone(), spec.node.clone(), ifaces, container));
        }
    }
    let read: Vec<Result<Vec<Row>>> = futures_util::stream::iter(wanted)
        .map(|(pod, node, ifaces, container)| async move {
            let now = match container {
                Some(c) if c.state == "running" => Some(read_node(engine, c).await?),
                _ => None,
            };
            Ok(ifaces
                .into_iter()
                .map(|iface| row(&pod, &node, iface, now.as_ref()))
                .collect())
        })
        .buffered(PARALLEL)
        .collect()
        .await;
    let mut rows = Vec::new();
    for r in read {
        rows.extend(r?);
    }
    Ok(rows)
}

fn row(pod: &str, node: &str, interface: String, now: Option<&NodeLinks>) -> Row {
    let (state, netem) = match now {
        None => ("-".to_string(), None),
        Some(now) => match now.up.get(&interface) {
            None => ("missing".to_string(), None),
            Some(up) => (
                if *up { "up" } else { "down" }.to_string(),
                now.netem
                    .get(&interface)
                    .or_else(|| now.fallback.get(&interface))
                    .cloned(),
            ),
        },
    };
    Row {
        pod: pod.to_string(),
        node: node.to_string(),
        interface,
        state,
        netem,
    }
}

fn print(rows: &[Row], format: ListFormat) -> Result<()> {
    match format {
        ListFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(rows).context("failed to print the links")?
        ),
        ListFormat::Table => print!("{}", Table(rows)),
    }
    Ok(())
}

struct Table<'a>(&'a [Row]);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self.0;
        let w = |get: fn(&Row) -> &str, head: &str| {
            rows.iter()
                .map(|r| get(r).len())
                .max()
                .unwrap_or(0)
                .max(head.len())
        };
        let (wp, wn, wi) = (
            w(|r| &r.pod, "POD"),
            w(|r| &r.node, "NODE"),
            w(|r| &r.interface, "INTERFACE"),
        );
        writeln!(
            f,
            "{:wp$}  {:wn$}  {:wi$}  {:7}  NETEM",
            "POD", "NODE", "INTERFACE", "STATE"
        )?;
        for r in rows {
            writeln!(
                f,
                "{:wp$}  {:wn$}  {:wi$}  {:7}  {}",
                r.pod,
                r.node,
                r.interface,
                r.state,
                r.netem.as_deref().unwrap_or("-")
            )?;
        }
        let impaired = rows.iter().filter(|r| r.impaired()).count();
        match impaired {
            0 => writeln!(f, "no link impaired"),
            1 => writeln!(f, "1 link end impaired"),
            n => writeln!(f, "{n} link ends impaired"),
        }
    }
}

/// A duration tc takes: a number and `us`, `ms` or `s`, above zero and at
/// most a minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Duration {
    micros: u64,
}

impl std::str::FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{text}` needs a unit: us, ms or s (e.g. 100ms)"))?;
        let (number, unit) = t.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration (e.g. 100ms)"))?;
        let scale = match unit {
            "us" => 1.0,
            "ms" => 1e3,
            "s" => 1e6,
            _ => {
                return Err(format!(
                    "`{unit}` is not a unit: use us, ms or s (e.g. 100ms)"
                ))
            }
        };
        let micros = (number * scale).round();
        if !(1.0..=60e6).contains(&micros) {
            return Err(format!("`{text}` is out of range: from 1us to 60s"));
        }
        Ok(Duration {
            micros: micros as u64,
        })
    }
}

impl Duration {
    pub fn micros(&self) -> u64 {
        self.micros
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.micros.is_multiple_of(1000) {
            write!(f, "{}ms", self.micros / 1000)
        } else {
            write!(f, "{}us", self.micros)
        }
    }
}

/// A share of packets lost: `5%` or `5`, above 0 and at most 100.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percent(f64);

impl std::str::FromStr for Percent {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let t = text.trim();
        let n: f64 = t
            .strip_suffix('%')
            .unwrap_or(t)
            .parse()
            .map_err(|_| format!("`{text}` is not a percentage (e.g. 5%)"))?;
        if !(n > 0.0 && n <= 100.0) {
            return Err(format!(
                "`{text}` is out of range: above 0% and at most 100%"
            ));
        }
        Ok(Percent(n))
    }
}

impl Percent {
    /// The share as a fraction of 1 (5% is 0.05).
    pub fn fraction(&self) -> f64 {
        self.0 / 100.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// A rate: a whole number and `kbit`, `mbit` or `gbit` (bits per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    kbit: u64,
}

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        let split = t
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{text}` needs a unit: kbit, mbit or gbit (e.g. 10mbit)"))?;
        let (number, unit) = t.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a rate (e.g. 10mbit)"))?;
        let scale = match unit {
            "kbit" => 1,
            "mbit" => 1_000,
            "gbit" => 1_000_000,
            _ => {
                return Err(format!(
                    "`{unit}` is not a unit: use kbit, mbit or gbit (bits per second, e.g. 10mbit)"
                ))
            }
        };
        let kbit = n.saturating_mul(scale);
        if !(8..=100_000_000).contains(&kbit) {
            return Err(format!("`{text}` is out of range: from 8kbit to 100gbit"));
        }
        Ok(Rate { kbit })
    }
}

impl Rate {
    pub fn kbit(&self) -> u64 {
        self.kbit
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}kbit", self.kbit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::engine::ExecOutput;
    use crate::reconcile::testing;

    fn words(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    fn netem(delay: Option<&str>, jitter: Option<&str>, loss: Option<&str>) -> NetemArgs {
        NetemArgs {
            delay: delay.map(|d| d.parse().expect("delay")),
            jitter: jitter.map(|d| d.parse().expect("jitter")),
            loss: loss.map(|d| d.parse().expect("loss")),
            rate: None,
        }
    }

    #[test]
    fn values_are_checked_and_written_as_tc_takes_them() {
        assert_eq!(
            "100ms".parse::<Duration>().map(|d| d.to_string()),
            Ok("100ms".into())
        );
        assert_eq!(
            "1.5s".parse::<Duration>().map(|d| d.to_string()),
            Ok("1500ms".into())
        );
        assert_eq!(
            "250us".parse::<Duration>().map(|d| d.to_string()),
            Ok("250us".into())
        );
        assert_eq!(
            "100".parse::<Duration>(),
            Err("`100` needs a unit: us, ms or s (e.g. 100ms)".into())
        );
        assert_eq!(
            "100m".parse::<Duration>(),
            Err("`m` is not a unit: use us, ms or s (e.g. 100ms)".into())
        );
        assert_eq!(
            "0ms".parse::<Duration>(),
            Err("`0ms` is out of range: from 1us to 60s".into())
        );
        assert!("2min".parse::<Duration>().is_err());
        assert!("61s".parse::<Duration>().is_err());
        assert_eq!(
            "5%".parse::<Percent>().map(|p| p.to_string()),
            Ok("5%".into())
        );
        assert_eq!(
            "0.5".parse::<Percent>().map(|p| p.to_string()),
            Ok("0.5%".into())
        );
        assert_eq!(
            "101%".parse::<Percent>(),
            Err("`101%` is out of range: above 0% and at most 100%".into())
        );
        assert!("0%".parse::<Percent>().is_err());
        assert!("-3%".parse::<Percent>().is_err());
        assert!("lots".parse::<Percent>().is_err());
        assert_eq!(
            "10mbit".parse::<Rate>().map(|r| r.to_string()),
            Ok("10000kbit".into())
        );
        assert_eq!(
            "512Kbit".parse::<Rate>().map(|r| r.to_string()),
            Ok("512kbit".into())
        );
        assert!("10mbps".parse::<Rate>().is_err());
        assert!("1kbit".parse::<Rate>().is_err());
    }

    #[test]
    fn each_action_is_the_commands_that_carry_it_out() {
        let args = netem(Some("200ms"), Some("20ms"), Some("5%"));
        check_netem(&args).expect("valid");
        assert_eq!(
            commands(&LinkAction::Netem(args), "eth1", false),
            [words(&[
                "tc", "qdisc", "replace", "dev", "eth1", "root", "netem", "delay", "200ms", "20ms",
                "loss", "5%"
            ])]
        );
        assert_eq!(
            commands(&LinkAction::Down, "eth2", false),
            [words(&["ip", "link", "set", "dev", "eth2", "down"])]
        );
        assert_eq!(
            commands(&LinkAction::Clear, "eth1", true),
            [words(&["tc", "qdisc", "del", "dev", "eth1", "root"])]
        );
        assert!(commands(&LinkAction::Clear, "eth1", false).is_empty());
        let e = check_netem(&netem(None, Some("5ms"), Some("1%"))).expect_err("jitter alone");
        assert_eq!(format!("{e}"), "--jitter varies a delay: give --delay too");
        assert!(check_netem(&netem(None, None, None)).is_err());
    }

    #[test]
    fn the_nodes_own_words_say_what_is_down_and_delayed() {
        let links = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n\
2: eth1@if412: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN mode DEFAULT group default \\    link/ether 02:42:64:40:01:00 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n\
3: eth0@if410: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc netem state UP mode DEFAULT group default \\    link/ether 02:42:c6:12:00:02 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n";
        let up = parse_links(links);
        assert_eq!(up.get("eth1"), Some(&false));
        assert_eq!(up.get("eth0"), Some(&true));
        assert_eq!(up.get("lo"), Some(&true));
        let qdiscs = "qdisc noqueue 0: dev lo root refcnt 2 \n\
qdisc netem 8001: dev eth1 root refcnt 2 limit 1000 delay 200ms  20ms loss 5%\n\
qdisc noqueue 0: dev eth0 root refcnt 2 \n";
        let netem = parse_qdiscs(qdiscs);
        assert_eq!(netem.len(), 1);
        assert_eq!(
            netem.get("eth1").map(String::as_str),
            Some("delay 200ms 20ms loss 5%")
        );
    }

    #[test]
    fn interface_names_are_the_plans_and_a_wrong_one_lists_them() {
        let plan = testing::plan(2);
        assert_eq!(link_interfaces(&plan, 1, "r1").expect("r1"), ["eth1"]);
        check_interface(&plan, 2, "h1", "eth1").expect("h1 has eth1");
        for (node, iface, message) in [
            ("r1", "eth7", "node r1 of pod 1 has no link interface `eth7`; its interfaces: eth1"),
            (
                "r1",
                "eth0",
                "node r1 of pod 1 has no link interface `eth0` (eth0 is noglab's management network, not a link of the lab); its interfaces: eth1",
            ),
            ("r9", "eth1", "pod 1 of lab lab has no node `r9`; nodes: h1, r1"),
        ] {
            let e = check_interface(&plan, 1, node, iface).expect_err(message);
            assert_eq!(format!("{e}"), message);
            assert!(e.is::<crate::diag::InputError>(), "exit 2: {e}");
        }
        assert_eq!(
            split(&words(&["bgp", "r1:eth1"])).expect("both"),
            (Some("bgp".into()), Some(("r1".into(), "eth1".into())))
        );
        assert_eq!(
            split(&words(&["bgp"])).expect("lab"),
            (Some("bgp".into()), None)
        );
        assert!(split(&words(&["r1:"])).is_err());
    }

    #[tokio::test]
    async fn an_action_runs_in_every_pod_asked_and_the_view_reads_the_nodes() {
        let engine = FakeEngine::default();
        let plan = testing::plan(3);
        testing::up(&engine, &plan).await;
        let args = netem(Some("100ms"), None, Some("5%"));
        act(
            &engine,
            &plan,
            &[1, 3],
            "r1",
            "eth1",
            &LinkAction::Netem(args),
        )
        .await
        .expect("runs");
        let executed = engine.lock().executed.clone();
        let tc = words(&[
            "tc", "qdisc", "replace", "dev", "eth1", "root", "netem", "delay", "100ms", "loss",
            "5%",
        ]);
        let mut got: Vec<&str> = executed
            .iter()
            .filter(|(_, cmd)| *cmd == tc)
            .map(|(c, _)| c.as_str())
            .collect();
        got.sort_unstable();
        assert_eq!(got, ["lab-p01-r1", "lab-p03-r1"]);

        // The fake's nodes all answer the same: eth1 down and delayed.
        engine.lock().exec_outputs.insert(
            "lab-p02-r1".into(),
            ExecOutput {
                code: 0,
                stdout: b"2: eth1@if9: <BROADCAST,MULTICAST> mtu 1500 qdisc netem state DOWN\nqdisc netem 8001: dev eth1 root refcnt 2 limit 1000 delay 100ms\n".to_vec(),
                stderr: Vec::new(),
            },
        );
        let rows = view(&engine, &plan, &[2], None).await.expect("view");
        assert_eq!(
            rows,
            [
                Row {
                    pod: "2".into(),
                    node: "h1".into(),
                    interface: "eth1".into(),
                    state: "missing".into(),
                    netem: None,
                },
                Row {
                    pod: "2".into(),
                    node: "r1".into(),
                    interface: "eth1".into(),
                    state: "down".into(),
                    netem: Some("delay 100ms".into()),
                },
            ]
        );
    }

    /// A kernel without netem refuses the qdisc: the same impairments are
    /// then set without it; any other failure of tc is the answer.
    #[tokio::test]
    async fn a_kernel_without_netem_gets_the_fallback_and_other_errors_do_not() {
        let engine = FakeEngine::default();
        let plan = testing::plan(2);
        testing::up(&engine, &plan).await;
        let refuse = |said: &str| ExecOutput {
            code: 2,
            stdout: Vec::new(),
            stderr: said.as_bytes().to_vec(),
        };
        let args = netem(Some("200ms"), None, None);
        engine.lock().exec_outputs.insert(
            "lab-p01-r1".into(),
            refuse("Error: Specified qdisc kind is unknown.\n"),
        );
        engine
            .lock()
            .exec_outputs
            .insert("lab-p02-r1".into(), refuse("Cannot find device \"eth1\"\n"));
        let netem_action = LinkAction::Netem(args.clone());
        // The fake answers every command alike, so the fallback fails too:
        // what matters here is what ran.
        assert!(act(&engine, &plan, &[1], "r1", "eth1", &netem_action)
            .await
            .is_err());
        assert!(act(&engine, &plan, &[2], "r1", "eth1", &netem_action)
            .await
            .is_err());
        let executed = engine.lock().executed.clone();
        let ran = |container: &str| -> Vec<Vec<String>> {
            executed
                .iter()
                .filter(|(c, _)| c == container)
                .map(|(_, cmd)| cmd.clone())
                .collect()
        };
        let tc = words(&[
            "tc", "qdisc", "replace", "dev", "eth1", "root", "netem", "delay", "200ms",
        ]);
        assert_eq!(
            ran("lab-p01-r1"),
            [tc.clone(), link_fallback::apply("eth1", &args)]
        );
        assert_eq!(ran("lab-p02-r1"), [tc]);
    }

    /// `up` puts the planned addresses back on both ends of the link, after
    /// setting the link up: the kernel dropped the IPv6 ones on `down`.
    /// `down` runs only `ip link`; an end whose node is stopped is skipped.
    #[tokio::test]
    async fn up_puts_back_the_planned_addresses_of_both_ends() {
        let engine = FakeEngine::default();
        let plan = testing::plan_of(
            &testing::TOPOLOGY.replace(
                "ipv4: \"100.64.{{ pod }}.0/31\"\n",
                "ipv4: \"100.64.{{ pod }}.0/31\"\n    ipv6: \"2001:db8:{{ pod }}::/127\"\n",
            ),
            2,
        );
        testing::up(&engine, &plan).await;
        let take = || std::mem::take(&mut engine.lock().executed);
        take();

        act(&engine, &plan, &[2], "h1", "eth1", &LinkAction::Down)
            .await
            .expect("down");
        assert_eq!(
            take(),
            [(
                "lab-p02-h1".to_string(),
                words(&["ip", "link", "set", "dev", "eth1", "down"])
            )]
        );

        act(&engine, &plan, &[2], "h1", "eth1", &LinkAction::Up)
            .await
            .expect("up");
        let ran = |c: &str, cmd: &str| (c.to_string(), words(&cmd.split(' ').collect::<Vec<_>>()));
        assert_eq!(
            take(),
            [
                ran("lab-p02-h1", "ip link set dev eth1 up"),
                ran("lab-p02-h1", "ip -4 addr replace 100.64.2.1/31 dev eth1"),
                ran(
                    "lab-p02-h1",
                    "ip -6 addr replace 2001:db8:2::1/127 dev eth1 nodad"
                ),
                ran("lab-p02-r1", "ip -4 addr replace 100.64.2.0/31 dev eth1"),
                ran(
                    "lab-p02-r1",
                    "ip -6 addr replace 2001:db8:2::/127 dev eth1 nodad"
                ),
            ]
        );

        // The other end stopped: it gets its addresses when it starts.
        engine
            .lock()
            .containers
            .get_mut("lab-p01-h1")
            .expect("h1")
            .state = "exited".into();
        act(&engine, &plan, &[1], "r1", "eth1", &LinkAction::Up)
            .await
            .expect("up");
        let ran_in: Vec<String> = take().into_iter().map(|(c, _)| c).collect();
        assert_eq!(ran_in, ["lab-p01-r1"; 3]);

        // A failing command is named, with what it said.
        engine.lock().exec_outputs.insert(
            "lab-p01-r1".into(),
            ExecOutput {
                code: 2,
                stdout: Vec::new(),
                stderr: b"RTNETLINK answers: Operation not permitted\n".to_vec(),
            },
        );
        let e = act(&engine, &plan, &[1], "r1", "eth1", &LinkAction::Up)
            .await
            .expect_err("fails");
        assert_eq!(
            format!("{e:#}"),
            "failed to run `ip link set dev eth1 up` in lab-p01-r1: RTNETLINK answers: Operation not permitted"
        );
    }

    #[tokio::test]
    async fn a_stopped_node_is_refused_before_anything_runs() {
        let engine = FakeEngine::default();
        let plan = testing::plan(2);
        testing::up(&engine, &plan).await;
        engine
            .lock()
            .containers
            .get_mut("lab-p02-r1")
            .expect("r1")
            .state = "exited".into();
        engine.clear_calls();
        let e = act(&engine, &plan, &[1, 2], "r1", "eth1", &LinkAction::Down)
            .await
            .expect_err("stopped");
        assert!(format!("{e}").contains("is not running (exited)"), "{e}");
        assert!(engine.lock().executed.is_empty());
    }
}
