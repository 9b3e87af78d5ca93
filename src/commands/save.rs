//! `noglab save [LAB] [--pod SPEC] [--node NAME] [-o DIR|FILE.tar.gz]`:
//! participants' work (what each node's kind calls its state) into a
//! snapshot; and the automatic snapshot every command takes before it
//! destroys a node. Reads nodes only: nothing in a pod changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use futures_util::stream::{self, StreamExt};

use crate::diag::input_error;
use crate::engine::{Connector, Engine, ObservedContainer, Scope};
use crate::plan::{labels, Plan, SHARED_LABEL, SHARED_POD};
use crate::snapshot::{self, NodeState, Snapshot};
use crate::state;

pub async fn run<C: Connector>(
    engines: &C,
    lab: Option<String>,
    pods: Option<&str>,
    node: Option<&str>,
    output: Option<&Path>,
) -> Result<()> {
    let started = std::time::Instant::now();
    let engine = engines.engine().await?;
    let lab = super::resolve_lab(engine, lab).await?;
    let _lock = state::lock(&lab)?;
    let containers = engine.containers(Scope::Lab(&lab)).await?;
    let chosen = select(&lab, &containers, pods.unwrap_or("all"), node)?;
    let plan = state::load_plan(&lab)?;
    let (snap, warnings) = take(engine, &lab, &chosen, plan.as_ref()).await?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let files: usize = snap.nodes.iter().map(|n| n.files.len()).sum();
    match output {
        None => {
            for (_, path) in snapshot::store(&snap, &store_dir(), "save")? {
                println!("{}", path.display());
            }
        }
        Some(out) => {
            write_to(&snap, out)?;
            println!("{}", out.display());
        }
    }
    eprintln!(
        "lab {lab}: saved {} nodes, {files} files in {:.1}s",
        snap.nodes.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Where snapshots are kept without `-o`: beside the labs' plans.
pub fn store_dir() -> PathBuf {
    state::dir().join("snapshots")
}

/// Writes a snapshot to a `.tar.gz`/`.tgz` file (written whole, then
/// renamed) or into a new folder.
fn write_to(snap: &Snapshot, out: &Path) -> Result<()> {
    let name = out.to_string_lossy();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        let tmp = out.with_extension("part");
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("failed to create {}", tmp.display()))?;
        snapshot::write_tar_gz(snap, std::io::BufWriter::new(file))?;
        std::fs::rename(&tmp, out).with_context(|| format!("failed to write {}", out.display()))
    } else {
        snapshot::write_dir(snap, out)
    }
}

/// The containers `--pod SPEC` and `--node NAME` name: `all` takes the
/// shared nodes too, `shared` only them.
fn select(
    lab: &str,
    containers: &[ObservedContainer],
    spec: &str,
    node: Option<&str>,
) -> Result<Vec<ObservedContainer>> {
    let existing: BTreeSet<u32> = containers
        .iter()
        .filter_map(|c| c.label(labels::POD)?.parse().ok())
        .collect();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    if spec.trim() == SHARED_LABEL || spec.trim() == "all" {
        wanted.insert(SHARED_LABEL.to_string());
    }
    if spec.trim() != SHARED_LABEL {
        wanted.extend(
            super::parse_pods(spec, &existing)?
                .into_iter()
                .map(|p| p.to_string()),
        );
    }
    let chosen: Vec<ObservedContainer> = containers
        .iter()
        .filter(|c| c.label(labels::POD).is_some_and(|p| wanted.contains(p)))
        .filter(|c| node.is_none_or(|n| c.label(labels::NODE) == Some(n)))
        .cloned()
        .collect();
    super::refuse_unreachable(
        &chosen,
        |_| true,
        lab,
        "nothing was saved: name the pods of the engines that answer with --pod",
    )?;
    if chosen.is_empty() {
        return Err(input_error(match node {
            Some(n) => format!("lab {lab} has no node `{n}` in pods `{spec}`"),
            None => format!("lab {lab} has no nodes in pods `{spec}`"),
        }));
    }
    Ok(chosen)
}

/// A snapshot's pod in words: `pod 3`, or the shared nodes.
pub fn pod_name(pod: Option<u32>) -> String {
    pod.map_or("the shared nodes".to_string(), |p| format!("pod {p}"))
}

/// A node's place in a snapshot: its pod (`None` for the shared nodes).
pub fn pod_of(c: &ObservedContainer) -> Option<u32> {
    match c.label(labels::POD) {
        Some(SHARED_LABEL) | None => None,
        Some(p) => p.parse().ok(),
    }
}

/// Takes the state of `containers` (those of kinds that have one), with
/// what could not be taken as warnings. `plan` is the plan the containers
/// were created from, when noglab has it: the snapshot's hashes are that
/// plan's.
pub async fn take<E: Engine>(
    engine: &E,
    lab: &str,
    containers: &[ObservedContainer],
    plan: Option<&Plan>,
) -> Result<(Snapshot, Vec<String>)> {
    let with_state: Vec<&ObservedContainer> = containers
        .iter()
        .filter(|c| {
            c.label(labels::KIND)
                .and_then(crate::kinds::lookup_any)
                .is_some_and(|k| !k.state.paths.is_empty())
        })
        .collect();
    // By index, not by reference: a stream of borrowed items makes a
    // future the portal cannot send between threads.
    let with_state = &with_state;
    let results: Vec<Result<(NodeState, Vec<String>)>> = stream::iter(0..with_state.len())
        .map(|i| node_state(engine, with_state[i], plan))
        .buffer_unordered(crate::reconcile::DEFAULT_PARALLEL)
        .collect()
        .await;
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    for r in results {
        let (n, w) = r?;
        nodes.push(n);
        warnings.extend(w);
    }
    nodes.sort_by(|a, b| (a.pod, &a.node).cmp(&(b.pod, &b.node)));
    Ok((
        Snapshot {
            lab: lab.to_string(),
            created: state::now(),
            nodes,
        },
        warnings,
    ))
}

/// One node's state: its kind's paths, copied out, then its generated
/// files. Links and anything but regular files are left out (a
/// participant's link in /etc/bind is theirs, not data); so is a file
/// larger than a snapshot may hold, with a warning.
async fn node_state<E: Engine>(
    engine: &E,
    c: &ObservedContainer,
    plan: Option<&Plan>,
) -> Result<(NodeState, Vec<String>)> {
    let kind_name = c.label(labels::KIND).unwrap_or_default();
    let kind = crate::kinds::lookup_any(kind_name)
        .ok_or_else(|| anyhow::anyhow!("{} is of unknown kind {kind_name}", c.name))?;
    let node = c.label(labels::NODE).unwrap_or_default().to_string();
    let pod = pod_of(c);
    let mut warnings = Vec::new();
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    for root in kind.state.paths {
        let Some(tar) = engine
            .download(&c.name, root, snapshot::MAX_TOTAL)
            .await
            .with_context(|| format!("failed to save {}", c.name))?
        else {
            continue;
        };
        let parent = root.rsplit_once('/').map_or("", |(p, _)| p);
        let mut archive = tar::Archive::new(tar.as_slice());
        for entry in archive
            .entries()
            .with_context(|| format!("failed to read {root} of {}", c.name))?
        {
            let mut entry =
                entry.with_context(|| format!("failed to read {root} of {}", c.name))?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let rel = entry.path()?.to_string_lossy().into_owned();
            let path = format!("{parent}/{}", rel.trim_start_matches("./"));
            if !snapshot::inside(&path, kind.state.paths)
                || snapshot::inside(&path, kind.state.except)
            {
                continue;
            }
            let size = entry.header().size()?;
            if size > snapshot::MAX_FILE || total + size > snapshot::MAX_TOTAL {
                warnings.push(format!(
                    "{}: {path} left out: {size} bytes is more than a snapshot holds",
                    c.name
                ));
                continue;
            }
            total += size;
            let mode = entry.header().mode()? & 0o777;
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut content)?;
            files.insert(path, snapshot::File { mode, content });
        }
    }
    for (path, cmd) in kind.state.generated {
        let out = if c.state == "running" {
            engine
                .exec(&c.name, &["sh".into(), "-c".into(), (*cmd).into()])
                .await
                .ok()
        } else {
            None
        };
        match out {
            Some(o) if o.code == 0 && !o.stdout.is_empty() => {
                let mode = files.get(*path).map_or(0o644, |f: &snapshot::File| f.mode);
                files.insert(
                    (*path).to_string(),
                    snapshot::File {
                        mode,
                        content: o.stdout,
                    },
                );
            }
            _ => warnings.push(format!(
                "{}: {path} is the file on disk: `{cmd}` did not answer{}",
                c.name,
                if c.state == "running" {
                    ""
                } else {
                    " (the node is not running)"
                }
            )),
        }
    }
    let label_hash = c.label(labels::HASH).unwrap_or_default();
    let spec_hash = plan
        .and_then(|p| {
            let pod_n = pod.unwrap_or(SHARED_POD);
            p.all_pods()
                .find(|pp| pp.pod == pod_n)?
                .containers
                .iter()
                .find(|s| s.node == node)
        })
        .filter(|s| s.labels.get(labels::HASH).map(String::as_str) == Some(label_hash))
        .map(snapshot::plan_hash)
        .unwrap_or_else(|| format!("container-{label_hash}"));
    Ok((
        NodeState {
            pod,
            node,
            kind: kind_name.to_string(),
            spec_hash,
            files,
        },
        warnings,
    ))
}

/// The automatic snapshot before `what` destroys `containers`: stored in
/// the state directory, its paths printed. Nothing to save (no node with
/// state) is fine; failing to save stops the command before it destroys.
pub async fn before<E: Engine>(
    engine: &E,
    lab: &str,
    containers: &[ObservedContainer],
    plan: Option<&Plan>,
    what: &str,
    store: &Path,
) -> Result<Vec<PathBuf>> {
    save_printing(engine, lab, containers, plan, what, store)
        .await
        .with_context(|| format!("nothing was changed: the snapshot before {what} failed"))
}

/// `before` without its "nothing was changed": for a command that saves
/// and destroys part by part, and says itself what it changed.
pub async fn save_printing<E: Engine>(
    engine: &E,
    lab: &str,
    containers: &[ObservedContainer],
    plan: Option<&Plan>,
    what: &str,
    store: &Path,
) -> Result<Vec<PathBuf>> {
    let (snap, warnings) = take(engine, lab, containers, plan).await?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if snap.nodes.is_empty() {
        return Ok(Vec::new());
    }
    let written = snapshot::store(&snap, store, what)?;
    let mut out = Vec::new();
    for (pod, path) in written {
        let which = pod_name(pod);
        eprintln!("saved {which} before {what}: {}", path.display());
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::engine::ExecOutput;
    use crate::reconcile::testing;

    #[tokio::test]
    async fn a_routers_files_and_running_config_are_saved_and_a_hosts_routes() {
        let engine = FakeEngine::default();
        let plan = testing::plan(2);
        testing::up(&engine, &plan).await;
        {
            let mut s = engine.lock();
            s.files.get_mut("lab-p01-r1").expect("r1").insert(
                "/etc/frr/vtysh.conf".into(),
                (0o640, b"service integrated-vtysh-config\n".to_vec()),
            );
            s.exec_outputs.insert(
                "lab-p01-r1".into(),
                ExecOutput {
                    code: 0,
                    stdout: b"frr version 10\nrouter bgp 65001\n".to_vec(),
                    stderr: Vec::new(),
                },
            );
        }
        // h1's command prints nothing yet: a warning, and no file.
        let containers = engine.containers(Scope::Lab("lab")).await.expect("list");
        let h1 = select("lab", &containers, "1", Some("h1")).expect("h1");
        let (snap, warnings) = take(&engine, "lab", &h1, Some(&plan)).await.expect("taken");
        assert!(snap.nodes[0].files.is_empty(), "{snap:?}");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("did not answer"), "{warnings:?}");
        engine.lock().exec_outputs.insert(
            "lab-p01-h1".into(),
            ExecOutput {
                code: 0,
                stdout: b"ip -4 route replace default via 100.64.1.0\n".to_vec(),
                stderr: Vec::new(),
            },
        );
        engine.clear_calls();
        let containers = engine.containers(Scope::Lab("lab")).await.expect("list");
        let chosen = select("lab", &containers, "1", None).expect("pod 1");
        assert_eq!(chosen.len(), 2);
        let (snap, warnings) = take(&engine, "lab", &chosen, Some(&plan))
            .await
            .expect("taken");
        assert_eq!(snap.nodes.len(), 2, "{snap:?}");
        let r1 = snap.nodes.iter().find(|n| n.node == "r1").expect("r1");
        assert_eq!(
            r1.files.keys().collect::<Vec<_>>(),
            ["/etc/frr/frr.conf", "/etc/frr/vtysh.conf"]
        );
        // The running configuration, not the file planned.
        assert_eq!(
            r1.files["/etc/frr/frr.conf"].content,
            b"frr version 10\nrouter bgp 65001\n"
        );
        let planned = plan.pod_plans[&1]
            .containers
            .iter()
            .find(|c| c.node == "r1")
            .expect("r1 planned");
        assert_eq!(r1.spec_hash, snapshot::plan_hash(planned));
        let h1 = snap.nodes.iter().find(|n| n.node == "h1").expect("h1");
        assert!(h1.files.contains_key(crate::kinds::HOST_STATE), "{h1:?}");
        assert!(warnings.is_empty(), "{warnings:?}");
        // Nothing but reads.
        let calls = engine.calls();
        assert!(
            calls
                .iter()
                .all(|c| c.starts_with("download ") || c.starts_with("exec ")),
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn asking_for_what_is_not_there_is_bad_input() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(2)).await;
        let containers = engine.containers(Scope::Lab("lab")).await.expect("list");
        for (spec, node, message) in [
            (
                "3",
                None,
                "bad pod list `3`: pod 3 does not exist; the lab has pods 1-2",
            ),
            ("1", Some("r9"), "lab lab has no node `r9` in pods `1`"),
            ("shared", None, "lab lab has no nodes in pods `shared`"),
        ] {
            let e = select("lab", &containers, spec, node).expect_err(message);
            assert_eq!(e.to_string(), message);
            assert!(e.is::<crate::diag::InputError>(), "{e}");
        }
        assert_eq!(
            select("lab", &containers, "all", None).expect("all").len(),
            4
        );
    }
}
