//! `noglab down [LAB]`: remove every container, network and volume of a lab
//! (found by its labels), and nothing else.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use futures_util::stream::{self, StreamExt};

use crate::engine::{Connector, Engine, ObservedContainer, Scope};
use crate::plan::Plan;
use crate::state;

pub async fn run<C: Connector>(engines: &C, lab: Option<String>, all: bool) -> Result<()> {
    let engine = engines.engine().await?;
    let labs: Vec<String> = if all {
        super::labs(engine).await?.into_iter().collect()
    } else {
        vec![super::resolve_lab(engine, lab).await?]
    };
    if labs.is_empty() {
        println!("no lab is running");
    }
    for lab in labs {
        let _lock = state::lock(&lab)?;
        // Participants' work is kept first: `restore --from` brings it
        // back into the lab brought up again.
        let observed = engine.containers(Scope::Lab(&lab)).await?;
        super::refuse_unreachable(
            &observed,
            |_| true,
            &lab,
            "nothing was removed: start the engine and run `noglab down` again",
        )?;
        let plan = state::load_plan(&lab)?;
        let store = super::save::store_dir();
        let saved_and_removed =
            save_and_remove(engine, &lab, &observed, plan.as_ref(), &store).await?;
        let (containers, networks, volumes) = remove_lab(engine, &lab).await?;
        let containers = containers + saved_and_removed;
        state::forget(&lab)?;
        println!(
            "lab {lab} removed: {containers} containers, {networks} networks, {volumes} volumes"
        );
    }
    // The guard stays while any lab runs; with none left, it goes too.
    if super::labs(engine).await?.is_empty() {
        engine.remove_guard().await?;
    }
    Ok(())
}

/// Saves and removes the lab's containers pod by pod (the shared nodes
/// first): a pod's containers go once its snapshot is stored, while the
/// next pods are saved. Saving runs commands in the nodes and keeps the
/// CPUs busy; removing is dockerd's work, one container at a time with
/// the CPUs mostly idle: at 30 pods of 4 nodes, saving everything first
/// added 6.7 s (14 %) to `down`. A pod whose snapshot fails is kept, with
/// every pod after it, and `down` stops there saying so; the pods saved
/// before it are removed (their snapshots bring them back). Returns how
/// many containers went.
async fn save_and_remove<E: Engine>(
    engine: &E,
    lab: &str,
    observed: &[ObservedContainer],
    plan: Option<&Plan>,
    store: &std::path::Path,
) -> Result<usize> {
    let mut by_pod: BTreeMap<Option<u32>, Vec<&ObservedContainer>> = BTreeMap::new();
    for c in observed {
        by_pod.entry(super::save::pod_of(c)).or_default().push(c);
    }
    let pods: Vec<Option<u32>> = by_pod.keys().copied().collect();
    let (saved_tx, saved_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<&ObservedContainer>>();
    let saving = async move {
        for (pod, containers) in by_pod {
            let owned: Vec<ObservedContainer> = containers.iter().map(|c| (*c).clone()).collect();
            super::save::save_printing(engine, lab, &owned, plan, "down", store)
                .await
                .map_err(|e| (pod, e))?;
            // The receiver lives until every send is done.
            let _ = saved_tx.send(containers);
        }
        Ok::<(), (Option<u32>, anyhow::Error)>(())
    };
    let removing = async {
        let saved = stream::unfold(saved_rx, |mut rx| async move {
            rx.recv().await.map(|pod| (stream::iter(pod), rx))
        })
        .flatten();
        remove_all(saved.map(|c| engine.remove_container(&c.name))).await
    };
    let (saved, (removed, errors)) = futures_util::future::join(saving, removing).await;
    if let Err((pod, e)) = saved {
        let at = pods.iter().position(|p| *p == pod).unwrap_or(0);
        let kept = if at + 1 < pods.len() {
            format!("it and the {} after it are still up", pods.len() - at - 1)
        } else {
            "it is still up".to_string()
        };
        let gone = if at == 0 {
            "nothing was removed".to_string()
        } else {
            format!(
                "{} saved and removed before it",
                pods[..at]
                    .iter()
                    .map(|p| super::save::pod_name(*p))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut message = format!(
            "lab {lab}: the snapshot of {} before down failed: {kept}; {gone}",
            super::save::pod_name(pod)
        );
        if !errors.is_empty() {
            message.push_str(&format!("; and removing failed:\n{errors}"));
        }
        return Err(e.context(message));
    }
    if !errors.is_empty() {
        bail!("lab {lab} was not removed completely:\n{errors}");
    }
    Ok(removed)
}

/// Removes a lab's resources by label: containers first (they hold the
/// networks), then networks and volumes. Returns how many of each.
pub async fn remove_lab<E: Engine>(engine: &E, lab: &str) -> Result<(usize, usize, usize)> {
    let containers = engine.containers(Scope::Lab(lab)).await?;
    let (_, errors) = remove_all(stream::iter(
        containers.iter().map(|c| engine.remove_container(&c.name)),
    ))
    .await;
    let networks = engine.networks(Scope::Lab(lab)).await?;
    // By id: an old engine may hold two networks of one name.
    let (_, more) = remove_all(stream::iter(
        networks.iter().map(|n| engine.remove_network(&n.id)),
    ))
    .await;
    let errors = errors + &more;
    let volumes = engine.volumes(Scope::Lab(lab)).await?;
    let (_, more) = remove_all(stream::iter(
        volumes.iter().map(|v| engine.remove_volume(&v.name)),
    ))
    .await;
    let errors = errors + &more;
    if !errors.is_empty() {
        bail!("lab {lab} was not removed completely:\n{errors}");
    }
    Ok((containers.len(), networks.len(), volumes.len()))
}

/// Runs the removals, a few at a time; how many succeeded, and the
/// failures one per line.
async fn remove_all<F: std::future::Future<Output = Result<()>>>(
    removals: impl futures_util::Stream<Item = F>,
) -> (usize, String) {
    let results: Vec<Result<()>> = removals
        .buffer_unordered(crate::reconcile::DEFAULT_PARALLEL)
        .collect()
        .await;
    let removed = results.iter().filter(|r| r.is_ok()).count();
    let errors = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}\n")))
        .collect();
    (removed, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::reconcile::testing;
    use crate::snapshot;

    /// A fresh folder of this test's own, removed when dropped.
    struct Store(std::path::PathBuf);

    impl Store {
        fn new(test: &str) -> Store {
            let dir =
                std::env::temp_dir().join(format!("noglab-down-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("mkdir");
            Store(dir)
        }

        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Store {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test]
    async fn every_pod_is_saved_before_its_containers_go() {
        let engine = FakeEngine::default();
        let plan = testing::plan(3);
        testing::up(&engine, &plan).await;
        let store = Store::new("saved");
        let observed = engine.containers(Scope::Lab("lab")).await.expect("list");
        let removed = save_and_remove(&engine, "lab", &observed, Some(&plan), store.path())
            .await
            .expect("saved and removed");
        assert_eq!(removed, 6);
        let calls = engine.calls();
        let at = |call: &str| calls.iter().position(|c| c == call).expect(call);
        for pod in ["p01", "p02", "p03"] {
            assert!(
                at(&format!("download lab-{pod}-r1 /etc/frr"))
                    < at(&format!("remove container lab-{pod}-r1")),
                "{calls:?}"
            );
            let pod_n: u32 = pod[1..].parse().expect("pod");
            assert_eq!(
                snapshot::stored(store.path(), "lab", Some(pod_n))
                    .expect("stored")
                    .len(),
                1
            );
        }
        assert!(engine
            .containers(Scope::Lab("lab"))
            .await
            .expect("list")
            .is_empty());
    }

    #[tokio::test]
    async fn a_pod_whose_snapshot_fails_stays_with_the_pods_after_it() {
        let engine = FakeEngine::default();
        let plan = testing::plan(3);
        testing::up(&engine, &plan).await;
        engine.lock().fail_on = Some("download lab-p02-r1 /etc/frr".into());
        let store = Store::new("fails");
        let observed = engine.containers(Scope::Lab("lab")).await.expect("list");
        let err = save_and_remove(&engine, "lab", &observed, Some(&plan), store.path())
            .await
            .expect_err("pod 2 cannot be saved");
        let text = format!("{err:#}");
        assert!(
            text.starts_with(
                "lab lab: the snapshot of pod 2 before down failed: it and the 1 after it are still up; pod 1 saved and removed before it"
            ),
            "{text}"
        );
        let left: Vec<String> = engine
            .containers(Scope::Lab("lab"))
            .await
            .expect("list")
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            left,
            ["lab-p02-h1", "lab-p02-r1", "lab-p03-h1", "lab-p03-r1"],
            "pod 1 went, pods 2 and 3 stay"
        );
        assert_eq!(
            snapshot::stored(store.path(), "lab", Some(1))
                .expect("stored")
                .len(),
            1
        );
        assert!(snapshot::stored(store.path(), "lab", Some(2))
            .expect("stored")
            .is_empty());
        // The networks stay for the pods that do.
        assert!(!engine
            .networks(Scope::Lab("lab"))
            .await
            .expect("list")
            .is_empty());
    }
}
