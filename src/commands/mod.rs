//! One file per verb, gluing load, plan, reconcile and progress. Helpers
//! shared by several verbs live here.

pub mod access;
pub mod audit;
pub mod capture;
pub mod check;
pub mod complete;
pub mod completions;
pub mod connect;
pub mod doctor;
pub mod down;
pub mod engines;
pub mod exec;
pub mod graph;
pub mod images;
pub mod import;
pub mod link;
mod link_fallback;
pub mod lint;
pub mod manual;
pub mod plan;
pub mod preflight;
pub mod reset;
pub mod restore;
pub mod save;
pub mod schema;
pub mod serve;
pub mod status;
pub mod up;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use ipnet::Ipv4Net;

use crate::diag::input_error;
use crate::engine::{Engine, ObservedContainer, Scope};
use crate::plan::{self as planning, labels, Plan};
use crate::reconcile::Observed;
use crate::topology::{self, Loaded, MAX_PODS};

/// Loads a topology and expands it for `pods` pods in `block` (or, with
/// none, in the block a new lab would get on an empty engine).
pub fn load_plan(file: &Path, pods: Option<u32>, solution: bool) -> Result<(Loaded, Plan)> {
    let loaded = topology::load(file)?;
    let pods = pods.unwrap_or(loaded.topology.pods);
    check_pods(pods)?;
    let plan = expand_in(&loaded, pods, None, solution)?;
    Ok((loaded, plan))
}

pub fn check_pods(pods: u32) -> Result<()> {
    if pods == 0 || pods > MAX_PODS {
        return Err(input_error(format!(
            "--pods must be between 1 and {MAX_PODS}, not {pods}"
        )));
    }
    Ok(())
}

/// Expands in `block`, or in the first block of noglab's range; solved
/// with `solution`.
pub fn expand_in(
    loaded: &Loaded,
    pods: u32,
    block: Option<Ipv4Net>,
    solution: bool,
) -> Result<Plan> {
    let block = match block {
        Some(b) => b,
        None => {
            let (range, block) = preflight::first_free_block(&loaded.topology, pods, &[])?;
            block.ok_or_else(|| {
                input_error(format!(
                    "a lab this size does not fit noglab's address range {range}"
                ))
            })?
        }
    };
    Ok(planning::expand_as(loaded, pods, block, solution)?)
}

/// The lab a command's target names when it is no path that exists but a
/// lab's name: `graph` and `plan` take either.
pub fn lab_name_target(target: &Path) -> Option<&str> {
    target
        .to_str()
        .filter(|t| !target.exists() && crate::state::check_lab_name(t).is_ok())
}

/// The plan lab `lab` was last brought up with, as noglab saved it.
pub fn saved_plan(lab: &str) -> Result<Plan> {
    crate::state::load_plan(lab)?.ok_or_else(|| {
        input_error(format!(
            "`{lab}` is neither a topology file nor a lab noglab has brought up"
        ))
    })
}

/// Everything of one lab on the engine.
pub async fn observe<E: Engine>(engine: &E, lab: &str) -> Result<Observed> {
    let (containers, networks) = futures_util::try_join!(
        engine.containers(Scope::Lab(lab)),
        engine.networks(Scope::Lab(lab))
    )?;
    Ok(Observed {
        containers,
        networks,
    })
}

/// Labs present on the engine, from every noglab resource's labels.
pub async fn labs<E: Engine>(engine: &E) -> Result<BTreeSet<String>> {
    let (containers, networks, volumes) = futures_util::try_join!(
        engine.containers(Scope::All),
        engine.networks(Scope::All),
        engine.volumes(Scope::All)
    )?;
    let mut out = BTreeSet::new();
    out.extend(
        containers
            .iter()
            .filter_map(|c| c.label(labels::LAB))
            .map(String::from),
    );
    out.extend(
        networks
            .iter()
            .filter_map(|n| n.label(labels::LAB))
            .map(String::from),
    );
    out.extend(
        volumes
            .iter()
            .filter_map(|v| v.labels.get(labels::LAB))
            .cloned(),
    );
    Ok(out)
}

/// The lab a command is about: the one named, or the only one running.
pub async fn resolve_lab<E: Engine>(engine: &E, lab: Option<String>) -> Result<String> {
    let running = labs(engine).await?;
    let list = || {
        if running.is_empty() {
            "no lab is running".to_string()
        } else {
            format!(
                "running labs: {}",
                running.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        }
    };
    match lab {
        Some(lab) => {
            crate::state::check_lab_name(&lab)?;
            if running.contains(&lab) {
                Ok(lab)
            } else {
                Err(input_error(format!("unknown lab `{lab}`: {}", list())))
            }
        }
        None => match running.len() {
            1 => Ok(running.into_iter().next().unwrap_or_default()),
            0 => Err(input_error(
                "no lab is running; start one with `noglab up FILE`",
            )),
            _ => Err(input_error(format!("name the lab: {}", list()))),
        },
    }
}

/// The pods (never the shared nodes) that a lab's containers belong to.
pub fn pods_of(containers: &[ObservedContainer]) -> BTreeSet<u32> {
    containers
        .iter()
        .filter_map(|c| c.label(labels::POD)?.parse().ok())
        .collect()
}

/// Parses `3`, `1-5`, `1,4,7-9` or `all` against the pods that exist.
pub fn parse_pods(spec: &str, existing: &BTreeSet<u32>) -> Result<BTreeSet<u32>> {
    let bad = |why: String| input_error(format!("bad pod list `{spec}`: {why}"));
    if spec.trim() == "all" {
        return Ok(existing.clone());
    }
    let mut out = BTreeSet::new();
    for part in spec.split(',') {
        let part = part.trim();
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: u32 = a
            .trim()
            .parse()
            .map_err(|_| bad(format!("`{part}` is not a pod number or range")))?;
        let b: u32 = b
            .trim()
            .parse()
            .map_err(|_| bad(format!("`{part}` is not a pod number or range")))?;
        if a == 0 || a > b {
            return Err(bad(format!(
                "`{part}` is not a range of pods (pods count from 1)"
            )));
        }
        for p in a..=b {
            if !existing.contains(&p) {
                return Err(bad(format!(
                    "pod {p} does not exist; the lab has {}",
                    planning::describe_pods(&existing.iter().copied().collect::<Vec<_>>())
                )));
            }
            out.insert(p);
        }
    }
    Ok(out)
}

/// `--pod N` or `--pod shared`.
pub fn parse_pod(text: &str) -> Result<u32> {
    if text == planning::SHARED_LABEL {
        return Ok(planning::SHARED_POD);
    }
    match text.parse::<u32>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(input_error(format!(
            "`{text}` is not a pod: give its number (from 1) or `shared`"
        ))),
    }
}

/// Finds a node's container by its labels.
pub async fn find_node<E: Engine>(
    engine: &E,
    lab: &str,
    pod: u32,
    node: &str,
) -> Result<ObservedContainer> {
    let containers = engine.containers(Scope::Lab(lab)).await?;
    let found = pick_node(&containers, lab, pod, node)?;
    if found.state == crate::engine::UNREACHABLE {
        bail!("node {node} of pod {pod} of lab {lab}: {}", found.status);
    }
    Ok(found)
}

/// The container of `node` in `pod` among a lab's containers, by labels;
/// a pod or node that is not there is bad input that names what is.
pub fn pick_node(
    containers: &[ObservedContainer],
    lab: &str,
    pod: u32,
    node: &str,
) -> Result<ObservedContainer> {
    let pod_s = planning::pod_label(pod);
    let in_pod: Vec<&ObservedContainer> = containers
        .iter()
        .filter(|c| c.label(labels::POD) == Some(pod_s.as_str()))
        .collect();
    if in_pod.is_empty() {
        let pods: Vec<u32> = pods_of(containers).into_iter().collect();
        return Err(input_error(format!(
            "lab {lab} has no pod {pod}{}",
            if pods.is_empty() {
                String::new()
            } else {
                format!("; it has {}", planning::describe_pods(&pods))
            }
        )));
    }
    match in_pod.iter().find(|c| c.label(labels::NODE) == Some(node)) {
        Some(c) => Ok((*c).clone()),
        None => {
            let mut nodes: Vec<&str> = in_pod
                .iter()
                .filter_map(|c| c.label(labels::NODE))
                .collect();
            nodes.sort_unstable();
            Err(input_error(format!(
                "pod {pod} of lab {lab} has no node `{node}`; nodes: {}",
                nodes.join(", ")
            )))
        }
    }
}

/// Credentials to place beside the plan's files (access points only),
/// generated for pods that have none yet.
pub fn secrets(plan: &Plan) -> Result<crate::reconcile::Secrets> {
    if plan.access_base_port.is_none() {
        return Ok(Default::default());
    }
    let creds = crate::credentials::ensure(&plan.lab, plan.pod_plans.keys().copied())?;
    Ok(crate::credentials::files(plan, &creds))
}

/// Splits `[LAB] NODE`.
pub fn split_target(target: &[String]) -> (Option<String>, String) {
    match target {
        [lab, node] => (Some(lab.clone()), node.clone()),
        [node] => (None, node.clone()),
        _ => (None, String::new()),
    }
}

/// Refuses to act on the pods `selected` says when some of their
/// containers are on an engine that does not answer (see
/// [`crate::engine::UNREACHABLE`]): names the pods and the engine, then
/// `then` (what was done about it).
pub fn refuse_unreachable(
    containers: &[ObservedContainer],
    selected: impl Fn(u32) -> bool,
    lab: &str,
    then: &str,
) -> Result<()> {
    let mut by_engine: BTreeMap<String, (BTreeSet<u32>, String)> = BTreeMap::new();
    for c in containers
        .iter()
        .filter(|c| c.state == crate::engine::UNREACHABLE)
    {
        let pod = match c.label(labels::POD) {
            Some(p) if p == planning::SHARED_LABEL => planning::SHARED_POD,
            Some(p) => match p.parse() {
                Ok(p) => p,
                Err(_) => continue,
            },
            None => continue,
        };
        if !selected(pod) {
            continue;
        }
        let engine = c
            .label(crate::engine::spread::ENGINE_LABEL)
            .unwrap_or("?")
            .to_string();
        let entry = by_engine.entry(engine).or_default();
        entry.0.insert(pod);
        entry.1 = c.status.clone();
    }
    if by_engine.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = by_engine
        .into_values()
        .map(|(pods, why)| {
            let shared = pods.contains(&planning::SHARED_POD);
            let pods: Vec<u32> = pods
                .into_iter()
                .filter(|p| *p != planning::SHARED_POD)
                .collect();
            let what = match (pods.is_empty(), shared) {
                (true, _) => "the lab-wide nodes".to_string(),
                (false, true) => {
                    format!("{} and the lab-wide nodes", planning::describe_pods(&pods))
                }
                (false, false) => planning::describe_pods(&pods),
            };
            format!("{what} of lab {lab}: {why}")
        })
        .collect();
    Err(anyhow!("{}\n{then}", lines.join("\n")))
}

/// Refuses to act on a node that is not running.
pub fn require_running(c: &ObservedContainer, pod: u32) -> Result<()> {
    if c.state != "running" {
        let node = c.label(labels::NODE).unwrap_or_default();
        return Err(anyhow!(
            "node {node} of pod {pod} is not running ({}); `noglab reset --pod {pod} --node {node}` brings it back",
            c.state
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_lists() {
        let existing: BTreeSet<u32> = (1..=10).collect();
        let got = parse_pods("1,4,7-9", &existing).expect("valid");
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec![1, 4, 7, 8, 9]);
        assert_eq!(parse_pods("all", &existing).expect("valid").len(), 10);
        assert!(parse_pods("11", &existing).is_err());
        assert!(parse_pods("5-3", &existing).is_err());
        assert!(parse_pods("x", &existing).is_err());
        assert!(parse_pods("0", &existing).is_err());
    }
}
