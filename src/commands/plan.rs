//! `noglab plan`: the expanded plan, the instructor's dry run; or one part
//! of it: a pod's plan, a node's rendered spec, or one file exactly as it
//! goes into the node (`--file`), to show a group its own solution. Reads
//! a topology file, or the plan a lab was brought up with. No Docker.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::PlanFormat;
use crate::diag::input_error;
use crate::plan::{describe_pods, ContainerSpec, FileSpec, Plan, PodPlan, SHARED_POD};

/// What `noglab plan` prints, from its flags.
pub struct Request<'a> {
    pub target: &'a Path,
    pub pods: Option<u32>,
    pub solution: bool,
    pub format: PlanFormat,
    /// `--pod`: a number, or `shared`.
    pub pod: Option<&'a str>,
    pub node: Option<&'a str>,
    /// `--file`: a path in the node.
    pub file: Option<&'a str>,
}

pub fn run(req: Request) -> Result<()> {
    let pod = req.pod.map(super::parse_pod).transpose()?;
    let plan = plan_for(&req, pod)?;
    match select(&plan, pod, req.node, req.file)? {
        Part::File(f) => print!("{}", f.content),
        Part::Node(c) => print!("{}", text(c, req.format)?),
        Part::Pod(p) => print!("{}", text(p, req.format)?),
        Part::All(p) => print!("{}", text(p, req.format)?),
    }
    Ok(())
}

fn text(value: &impl Serialize, format: PlanFormat) -> Result<String> {
    Ok(match format {
        PlanFormat::Yaml => serde_yaml::to_string(value).context("failed to print the plan")?,
        PlanFormat::Json => {
            serde_json::to_string_pretty(value).context("failed to print the plan")? + "\n"
        }
    })
}

/// The plan of a topology file (for its pods, or enough to hold `pod`),
/// or of a lab by name as it was brought up.
fn plan_for(req: &Request, pod: Option<u32>) -> Result<Plan> {
    if let Some(lab) = super::lab_name_target(req.target) {
        if req.pods.is_some() {
            return Err(input_error(format!(
                "--pods goes with a topology file: lab {lab} has the pods it was brought up with"
            )));
        }
        let plan = super::saved_plan(lab)?;
        if req.solution && !plan.solution {
            return Err(input_error(format!(
                "lab {lab} runs its initial state, so its saved plan holds no solution: give its topology, `noglab plan FILE --solution`"
            )));
        }
        return Ok(plan);
    }
    let loaded = crate::topology::load(req.target)?;
    // A pod beyond the topology's is planned too (a room runs `up --pods
    // N`); beyond what noglab runs, it is a pod that does not exist.
    let wanted = pod.filter(|p| *p <= crate::topology::MAX_PODS).unwrap_or(0);
    let pods = req.pods.unwrap_or_else(|| loaded.topology.pods.max(wanted));
    super::check_pods(pods)?;
    super::expand_in(&loaded, pods, None, req.solution)
}

/// The part of a plan `noglab plan` prints.
#[derive(Debug)]
enum Part<'a> {
    All(&'a Plan),
    Pod(&'a PodPlan),
    Node(&'a ContainerSpec),
    File(&'a FileSpec),
}

/// The pod, node and file asked for; what does not exist is bad input
/// that names what does.
fn select<'a>(
    plan: &'a Plan,
    pod: Option<u32>,
    node: Option<&str>,
    file: Option<&str>,
) -> Result<Part<'a>> {
    let Some(pod) = pod else {
        return Ok(Part::All(plan));
    };
    let lab = &plan.lab;
    let pod_plan = match pod {
        SHARED_POD => plan
            .shared
            .as_ref()
            .ok_or_else(|| input_error(format!("lab {lab} has no shared nodes")))?,
        n => plan.pod_plans.get(&n).ok_or_else(|| {
            let pods: Vec<u32> = plan.pod_plans.keys().copied().collect();
            input_error(format!(
                "lab {lab} has no pod {n}; it has {}",
                describe_pods(&pods)
            ))
        })?,
    };
    let Some(node) = node else {
        return Ok(Part::Pod(pod_plan));
    };
    let names = |what: &str| match pod {
        SHARED_POD => format!("shared {what} of lab {lab}"),
        n => format!("{what} of pod {n} of lab {lab}"),
    };
    let spec = pod_plan
        .containers
        .iter()
        .find(|c| c.node == node)
        .ok_or_else(|| {
            let nodes: Vec<&str> = pod_plan
                .containers
                .iter()
                .map(|c| c.node.as_str())
                .collect();
            let (no, list) = match pod {
                SHARED_POD => (format!("lab {lab} has no shared node"), "shared nodes"),
                n => (format!("pod {n} of lab {lab} has no node"), "nodes"),
            };
            input_error(format!("{no} `{node}`; {list}: {}", nodes.join(", ")))
        })?;
    let Some(path) = file else {
        return Ok(Part::Node(spec));
    };
    spec.files.get(path).map(Part::File).ok_or_else(|| {
        let files: Vec<&str> = spec.files.keys().map(String::as_str).collect();
        input_error(format!(
            "{} has no file `{path}`; its files: {}",
            names(&format!("node {node}")),
            files.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::testing;

    fn message(e: anyhow::Error) -> String {
        assert!(
            e.chain().any(|c| c.is::<crate::diag::InputError>()),
            "exit 2: {e}"
        );
        format!("{e}")
    }

    #[test]
    fn one_pod_one_node_or_one_file_raw() {
        let plan = testing::plan(2);
        assert!(matches!(select(&plan, None, None, None), Ok(Part::All(_))));
        match select(&plan, Some(2), None, None) {
            Ok(Part::Pod(p)) => assert_eq!(p.pod, 2),
            other => panic!("pod 2: {other:?}"),
        }
        let r1 = plan.pod_plans[&2]
            .containers
            .iter()
            .find(|c| c.node == "r1")
            .expect("r1 in pod 2");
        match select(&plan, Some(2), Some("r1"), None) {
            Ok(Part::Node(c)) => assert_eq!(c, r1),
            other => panic!("r1: {other:?}"),
        }
        let (path, want) = r1.files.iter().next().expect("r1 has files");
        match select(&plan, Some(2), Some("r1"), Some(path)) {
            Ok(Part::File(f)) => assert_eq!(f.content, want.content),
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn what_does_not_exist_is_bad_input_naming_what_does() {
        let plan = testing::plan(2);
        let lab = &plan.lab;
        let e = select(&plan, Some(3), None, None).expect_err("no pod 3");
        assert_eq!(
            message(e),
            format!("lab {lab} has no pod 3; it has pods 1-2")
        );
        let nodes: Vec<&str> = plan.pod_plans[&1]
            .containers
            .iter()
            .map(|c| c.node.as_str())
            .collect();
        assert_eq!(nodes.len(), 2, "{nodes:?}");
        let e = select(&plan, Some(1), Some("r7"), None).expect_err("no r7");
        assert_eq!(
            message(e),
            format!(
                "pod 1 of lab {lab} has no node `r7`; nodes: {}",
                nodes.join(", ")
            )
        );
        let e = select(&plan, Some(1), Some("r1"), Some("/etc/nothing")).expect_err("no file");
        let r1 = plan.pod_plans[&1]
            .containers
            .iter()
            .find(|c| c.node == "r1");
        let files: Vec<&str> = r1.expect("r1").files.keys().map(String::as_str).collect();
        assert_eq!(
            message(e),
            format!(
                "node r1 of pod 1 of lab {lab} has no file `/etc/nothing`; its files: {}",
                files.join(", ")
            )
        );
        let e = select(&plan, Some(SHARED_POD), None, None).expect_err("no shared");
        assert_eq!(message(e), format!("lab {lab} has no shared nodes"));
    }
}
