//! `noglab restore [LAB] --pod SPEC [--node NAME] (--from SNAPSHOT|--last)`:
//! recreate nodes from the lab's plan, put their saved state back, have
//! their daemons read it and wait until they are ready.
//!
//! A snapshot is untrusted input: everything is checked (the format in
//! `snapshot::read`, then here the lab, each node's kind, plan and paths)
//! before anything in a pod changes. A refusal touches nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::diag::input_error;
use crate::engine::{Connector, Engine};
use crate::plan::{labels, ContainerSpec, Plan, PodPlan, SHARED_LABEL, SHARED_POD};
use crate::progress::Progress;
use crate::reconcile::{self, Limits};
use crate::snapshot::{self, NodeState, Snapshot};
use crate::state;

/// What the snapshot a restore takes first is named after.
const BEFORE: &str = "restore";

/// How long a restored node's daemons get to be ready again.
const READY_AGAIN: Duration = Duration::from_secs(90);

/// Where the state comes from.
pub enum Source<'a> {
    /// A snapshot folder or `.tar.gz`.
    From(&'a Path),
    /// The newest snapshot of each pod in the state directory.
    Last,
}

pub struct Request<'a> {
    pub pods: &'a str,
    pub node: Option<&'a str>,
    pub source: Source<'a>,
    /// Restore a snapshot of another lab, or taken under another plan.
    pub force: bool,
    pub quiet: bool,
}

pub async fn run<C: Connector>(engines: &C, lab: Option<String>, req: Request<'_>) -> Result<()> {
    let started = Instant::now();
    let engine = engines.engine().await?;
    let lab = super::resolve_lab(engine, lab).await?;
    let _lock = state::lock(&lab)?;
    let plan = state::load_plan(&lab)?.ok_or_else(|| {
        anyhow!("noglab has no saved plan for lab {lab} (it was brought up by another user or machine); run `noglab up FILE` for it first")
    })?;
    let (what, seen) = restore(engine, &plan, &req, &super::save::store_dir()).await?;
    state::mark_ready(&lab, &seen, state::now())?;
    println!(
        "lab {lab}: restored {what} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One node to restore: its plan and its saved state.
struct Target<'a> {
    pod: &'a PodPlan,
    spec: &'a ContainerSpec,
    state: NodeState,
}

/// Checks, saves what is there, recreates, puts back, reloads, waits;
/// says what it restored, with the containers seen ready.
async fn restore<E: Engine>(
    engine: &E,
    plan: &Plan,
    req: &Request<'_>,
    store: &Path,
) -> Result<(String, Vec<String>)> {
    let lab = &plan.lab;
    let pods = select(plan, req.pods)?;
    let (targets, sources) = targets(plan, &pods, req, store)?;

    // Checked: from here on, the pods change. What the nodes hold now is
    // kept first; only the nodes the snapshot restores are recreated.
    let observed = super::observe(engine, lab).await?;
    let is_target = |pod: &str, node: Option<&str>| {
        targets
            .iter()
            .any(|t| crate::plan::pod_label(t.pod.pod) == pod && Some(t.spec.node.as_str()) == node)
    };
    let replaced: Vec<_> = observed
        .containers
        .iter()
        .filter(|c| {
            is_target(
                c.label(labels::POD).unwrap_or_default(),
                c.label(labels::NODE),
            )
        })
        .cloned()
        .collect();
    super::save::before(engine, lab, &replaced, Some(plan), BEFORE, store).await?;
    let mut actions = Vec::new();
    for t in &targets {
        reconcile::recreate_containers(&observed, t.pod, Some(&t.spec.node), &mut actions);
    }

    let what = describe(&pods, req.node, &sources);
    let progress = Progress::new(req.quiet);
    progress.step(format!("restoring {what}"));
    let secrets = super::secrets(plan)?;
    let seen = reconcile::execute(
        engine,
        actions,
        Limits::default(),
        &secrets,
        &progress,
        &crate::stop::Stop::never(),
    )
    .await;
    progress.finish();
    let seen = seen.map_err(|e| anyhow!("restore of {what} of lab {lab} failed:\n{e:#}"))?;

    let mut failures = Vec::new();
    for t in &targets {
        if let Err(e) = put_back(engine, t).await {
            failures.push(format!("{e:#}"));
        }
    }
    if !failures.is_empty() {
        return Err(anyhow!(
            "restore of {what} of lab {lab} is not complete:\n{}",
            failures.join("\n")
        ));
    }
    Ok((what, seen))
}

/// Every node to restore, read and checked, with the snapshots they come
/// from; nothing is changed yet.
fn targets<'a>(
    plan: &'a Plan,
    pods: &[&'a PodPlan],
    req: &Request<'_>,
    store: &Path,
) -> Result<(Vec<Target<'a>>, Vec<PathBuf>)> {
    let from = match req.source {
        Source::From(p) => Some((p.to_path_buf(), read(p)?)),
        Source::Last => None,
    };
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for pod in pods {
        let (path, snap) = match &from {
            Some((p, s)) => (p.clone(), s.clone()),
            None => {
                let path = last(store, &plan.lab, pod.pod)?;
                let snap = read(&path)?;
                (path, snap)
            }
        };
        targets.extend(check(plan, pod, req.node, &snap, &path, req.force)?);
        if !sources.contains(&path) {
            sources.push(path);
        }
    }
    Ok((targets, sources))
}

/// A snapshot that cannot be read is bad input (exit 2).
fn read(path: &Path) -> Result<Snapshot> {
    snapshot::read(path).map_err(|e| input_error(format!("{e:#}")))
}

/// The newest stored snapshot of a pod.
fn last(store: &Path, lab: &str, pod: u32) -> Result<PathBuf> {
    let pod_opt = (pod != SHARED_POD).then_some(pod);
    // The snapshot a restore takes of what it replaces is for `--from`:
    // a restore tried again takes the same snapshot as the first.
    let before = format!("-{BEFORE}");
    snapshot::stored(store, lab, pod_opt)?
        .into_iter()
        .rfind(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&before))
        })
        .ok_or_else(|| {
            input_error(format!(
                "there is no snapshot of {} of lab {lab} in {}; `noglab save {lab}` takes one",
                which(pod),
                store.display()
            ))
        })
}

fn which(pod: u32) -> String {
    if pod == SHARED_POD {
        "the shared nodes".into()
    } else {
        format!("pod {pod}")
    }
}

/// The pods `--pod SPEC` names (`shared` for the lab-wide nodes).
fn select<'a>(plan: &'a Plan, spec: &str) -> Result<Vec<&'a PodPlan>> {
    if spec.trim() == SHARED_LABEL {
        return Ok(vec![plan.shared.as_ref().ok_or_else(|| {
            input_error(format!("lab {} has no shared nodes", plan.lab))
        })?]);
    }
    let existing = plan.pod_plans.keys().copied().collect();
    Ok(super::parse_pods(spec, &existing)?
        .iter()
        .map(|p| &plan.pod_plans[p])
        .collect())
}

/// The nodes of `pod` (or only `node`) in `snap`, each checked against the
/// plan: same lab, a node the plan has, the same kind, files only inside
/// the kind's state paths, and (unless `force`) the same plan.
fn check<'a>(
    plan: &'a Plan,
    pod: &'a PodPlan,
    node: Option<&str>,
    snap: &Snapshot,
    path: &Path,
    force: bool,
) -> Result<Vec<Target<'a>>> {
    let from = path.display();
    let refuse = |why: String| Err(input_error(format!("refused {from}: {why}")));
    if snap.lab != plan.lab && !force {
        return refuse(format!(
            "it is a snapshot of lab {}, not of lab {} (--force restores it anyway)",
            snap.lab, plan.lab
        ));
    }
    let pod_opt = (pod.pod != SHARED_POD).then_some(pod.pod);
    let nodes: Vec<&NodeState> = snap
        .nodes
        .iter()
        .filter(|n| n.pod == pod_opt && node.is_none_or(|x| n.node == x))
        .collect();
    if nodes.is_empty() {
        let held: Vec<String> = snap
            .nodes
            .iter()
            .map(|n| snapshot::node_dir(n.pod, &n.node))
            .collect();
        return refuse(format!(
            "it holds no {}{} (it holds {})",
            node.map(|n| format!("node {n} of ")).unwrap_or_default(),
            which(pod.pod),
            if held.is_empty() {
                "no nodes".to_string()
            } else {
                held.join(", ")
            }
        ));
    }
    let mut out = Vec::new();
    for n in nodes {
        let at = snapshot::node_dir(n.pod, &n.node);
        let Some(spec) = pod.containers.iter().find(|c| c.node == n.node) else {
            return refuse(format!("{at}: lab {} has no node {}", plan.lab, n.node));
        };
        if spec.kind != n.kind {
            return refuse(format!(
                "{at} is the state of a {} node and {} is a {} node now",
                n.kind, n.node, spec.kind
            ));
        }
        let kind = crate::kinds::lookup_any(&spec.kind)
            .ok_or_else(|| anyhow!("{} is of unknown kind {}", spec.name, spec.kind))?;
        snapshot::check_paths(n, kind.state.paths)
            .map_err(|e| input_error(format!("refused {from}: {e}")))?;
        if n.spec_hash != snapshot::plan_hash(spec) && !force {
            return refuse(format!(
                "{at} was saved under another plan of node {} (its topology, config or addresses changed since); --force puts its files back anyway",
                n.node
            ));
        }
        out.push(Target {
            pod,
            spec,
            state: n.clone(),
        });
    }
    Ok(out)
}

fn describe(pods: &[&PodPlan], node: Option<&str>, sources: &[PathBuf]) -> String {
    let pods_text = if pods.iter().any(|p| p.pod == SHARED_POD) {
        "the shared nodes".to_string()
    } else {
        crate::plan::describe_pods(&pods.iter().map(|p| p.pod).collect::<Vec<_>>())
    };
    let what = match node {
        Some(n) => format!("node {n} of {pods_text}"),
        None => pods_text,
    };
    let from: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
    format!("{what} from {}", from.join(", "))
}

/// Puts a node's files back, has its daemon read them, and waits until
/// its readiness passes again.
async fn put_back<E: Engine>(engine: &E, t: &Target<'_>) -> Result<()> {
    let name = &t.spec.name;
    let kind = crate::kinds::lookup_any(&t.spec.kind)
        .ok_or_else(|| anyhow!("{name} is of unknown kind {}", t.spec.kind))?;
    let files: BTreeMap<String, (u32, Vec<u8>)> = t
        .state
        .files
        .iter()
        .filter(|(p, _)| !snapshot::inside(p, kind.state.except))
        .map(|(p, f)| (p.clone(), (f.mode & 0o777, f.content.clone())))
        .collect();
    if !files.is_empty() {
        engine.put_files(name, &files).await?;
    }
    if let Some(cmd) = kind.state.restore {
        let out = engine
            .exec(name, &["sh".into(), "-c".into(), cmd.into()])
            .await?;
        if out.code != 0 {
            return Err(anyhow!(
                "{name}: `{cmd}` exited {}: {}",
                out.code,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    let started = Instant::now();
    loop {
        let out = engine
            .exec(name, &["sh".into(), "-c".into(), kind.readiness.into()])
            .await?;
        if out.code == 0 {
            return Ok(());
        }
        if started.elapsed() > READY_AGAIN {
            return Err(anyhow!(
                "{name} is not ready {}s after its state came back: {}",
                READY_AGAIN.as_secs(),
                String::from_utf8_lossy(&out.stdout).trim()
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::engine::{ExecOutput, Scope};
    use crate::reconcile::testing;

    fn store(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("noglab-restore-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn request<'a>(pods: &'a str, source: Source<'a>) -> Request<'a> {
        Request {
            pods,
            node: None,
            source,
            force: false,
            quiet: true,
        }
    }

    async fn save_pod(engine: &FakeEngine, plan: &Plan, pod: &str, at: &Path) -> PathBuf {
        let containers = engine.containers(Scope::Lab("lab")).await.expect("list");
        let chosen: Vec<_> = containers
            .into_iter()
            .filter(|c| c.label(labels::POD) == Some(pod))
            .collect();
        super::super::save::before(engine, "lab", &chosen, Some(plan), "save", at)
            .await
            .expect("saved")
            .pop()
            .expect("a snapshot")
    }

    #[tokio::test]
    async fn the_last_snapshot_comes_back_into_new_containers_and_other_pods_stay() {
        let engine = FakeEngine::default();
        let plan = testing::plan(2);
        testing::up(&engine, &plan).await;
        let at = store("last");
        engine.lock().exec_outputs.insert(
            "lab-p01-r1".into(),
            ExecOutput {
                code: 0,
                stdout: b"router bgp 65001\n network 10.9.9.0/24\n".to_vec(),
                stderr: Vec::new(),
            },
        );
        let saved = save_pod(&engine, &plan, "1", &at).await;
        let pod2_before = engine.lock().containers["lab-p02-r1"].id.clone();
        engine.clear_calls();
        let (what, _) = restore(&engine, &plan, &request("1", Source::Last), &at)
            .await
            .expect("restored");
        assert!(what.starts_with("pod 1 from "), "{what}");
        let s = engine.lock();
        assert_eq!(
            s.files["lab-p01-r1"]["/etc/frr/frr.conf"].1,
            b"router bgp 65001\n network 10.9.9.0/24\n"
        );
        assert_eq!(s.containers["lab-p02-r1"].id, pod2_before);
        assert!(
            s.calls.iter().all(|c| !c.contains("-p02-")),
            "{:?}",
            s.calls
        );
        assert!(s.calls.contains(&"remove container lab-p01-r1".to_string()));
        assert!(
            s.calls.contains(&"put files lab-p01-r1 1".to_string()),
            "{:?}",
            s.calls
        );
        let reload = s
            .executed
            .iter()
            .any(|(c, cmd)| c == "lab-p01-r1" && cmd.join(" ").contains("frr-reload.py --reload"));
        assert!(reload, "{:?}", s.executed);
        drop(s);
        // What was there before the restore was kept first, and a second
        // `--last` takes the same snapshot as the first.
        let stored = snapshot::stored(&at, "lab", Some(1)).expect("list");
        assert_eq!(stored.len(), 2);
        assert_eq!(last(&at, "lab", 1).expect("last"), saved);
        let _ = std::fs::remove_dir_all(&at);
    }

    #[tokio::test]
    async fn foreign_changed_and_escaping_snapshots_are_refused_and_nothing_changes() {
        let engine = FakeEngine::default();
        let plan = testing::plan(2);
        testing::up(&engine, &plan).await;
        let at = store("refused");
        let good = save_pod(&engine, &plan, "1", &at).await;
        let snap = snapshot::read(&good).expect("reads");
        let write = |name: &str, s: &Snapshot| {
            let p = at.join(name);
            snapshot::write_dir(s, &p).expect("written");
            p
        };
        let mut foreign = snap.clone();
        foreign.lab = "other".into();
        let mut changed = snap.clone();
        changed.nodes[1].spec_hash = "0123".into();
        let mut kind = snap.clone();
        kind.nodes[1].kind = "bird".into();
        let mut outside = snap.clone();
        outside.nodes[1].files.insert(
            "/etc/shadow".into(),
            snapshot::File {
                mode: 0o600,
                content: b"root::0:0\n".to_vec(),
            },
        );
        let cases = [
            (
                write("foreign", &foreign),
                "it is a snapshot of lab other, not of lab lab",
            ),
            (
                write("changed", &changed),
                "pod01/r1 was saved under another plan",
            ),
            (
                write("kind", &kind),
                "pod01/r1 is the state of a bird node and r1 is a frr node now",
            ),
            (
                write("outside", &outside),
                "`/etc/shadow` is outside what a frr node's snapshot holds",
            ),
        ];
        engine.clear_calls();
        for (path, message) in &cases {
            let e = restore(&engine, &plan, &request("1", Source::From(path)), &at)
                .await
                .expect_err(message);
            assert!(e.to_string().contains(message), "{e}");
            assert!(e.is::<crate::diag::InputError>(), "exit 2: {e}");
        }
        let e = restore(&engine, &plan, &request("2", Source::From(&good)), &at)
            .await
            .expect_err("pod 2");
        assert!(
            e.to_string()
                .contains("it holds no pod 2 (it holds pod01/h1, pod01/r1)"),
            "{e}"
        );
        assert!(engine.calls().is_empty(), "{:?}", engine.calls());
        assert_eq!(
            snapshot::stored(&at, "lab", Some(1)).expect("list").len(),
            1
        );

        // A changed plan with --force: the files go back.
        let mut req = request("1", Source::From(&cases[1].0));
        req.force = true;
        restore(&engine, &plan, &req, &at).await.expect("forced");
        let _ = std::fs::remove_dir_all(&at);
    }
}
