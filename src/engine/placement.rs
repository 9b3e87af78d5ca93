//! Which engine each pod of a lab runs on: pure, deterministic, and stable
//! (a pod placed before keeps its engine; new pods go where there is most
//! room for the lab's size). A pod lives whole on one engine, so its links
//! stay local bridges.

use std::collections::BTreeMap;

use super::config::EngineEntry;

/// Each pod's engine, by name.
pub type Placement = BTreeMap<u32, String>;

/// Places `pods` on `engines`. `kept` says where pods already run (found
/// on an engine, or recorded); they stay. The others fill, in pod order
/// and in the file's order of the engines, each engine's room towards
/// its share of all the lab's pods (by weight or capacity, never beyond
/// `pods:`), so that a first `up` gives each engine a run of consecutive
/// pods. `Err` says why they do not fit.
pub fn place(
    engines: &[EngineEntry],
    pods: &[u32],
    kept: &BTreeMap<u32, String>,
) -> Result<Placement, String> {
    let mut placed = Placement::new();
    let mut load = vec![0u32; engines.len()];
    for &pod in pods {
        if let Some(name) = kept.get(&pod) {
            let Some(i) = engines.iter().position(|e| &e.name == name) else {
                return Err(format!(
                    "pod {pod} runs on engine `{name}`, which the engines file does not name; put it back, or take the pod down first"
                ));
            };
            load[i] += 1;
            placed.insert(pod, name.clone());
        }
    }
    let total = u32::try_from(pods.len()).unwrap_or(u32::MAX);
    let target = shares(engines, total);
    let mut i = 0;
    let new: Vec<u32> = pods
        .iter()
        .copied()
        .filter(|p| !placed.contains_key(p))
        .collect();
    for pod in new {
        while i < engines.len() && load[i] >= target[i] {
            i += 1;
        }
        let chosen = if i < engines.len() {
            i
        } else {
            // The shares are full (pods kept beyond theirs elsewhere):
            // the engine with the most room left by weight.
            let room: Vec<usize> = (0..engines.len())
                .filter(|&j| engines[j].share.capacity().is_none_or(|c| load[j] < c))
                .collect();
            let Some(&j) = room.iter().min_by(|&&a, &&b| {
                let (wa, wb) = (
                    u64::from(engines[a].share.weight()),
                    u64::from(engines[b].share.weight()),
                );
                (u64::from(load[a]) * wb)
                    .cmp(&(u64::from(load[b]) * wa))
                    .then(a.cmp(&b))
            }) else {
                let room: u32 = engines.iter().filter_map(|e| e.share.capacity()).sum();
                return Err(format!(
                    "{total} pods do not fit: the engines take at most {room}; raise an engine's `pods`, or add an engine"
                ));
            };
            j
        };
        load[chosen] += 1;
        placed.insert(pod, engines[chosen].name.clone());
    }
    Ok(placed)
}

/// Each engine's share of `total` pods: in proportion to the weights
/// (largest remainders, ties to the earlier engine), an engine whose
/// share passes its `pods:` held there and the rest shared among the
/// others.
fn shares(engines: &[EngineEntry], total: u32) -> Vec<u32> {
    let mut share = vec![0u32; engines.len()];
    let mut open: Vec<usize> = (0..engines.len()).collect();
    let mut left = total;
    loop {
        let weight: u64 = open
            .iter()
            .map(|&i| u64::from(engines[i].share.weight()))
            .sum();
        if open.is_empty() || weight == 0 {
            return share;
        }
        let exact: Vec<(usize, u64, u64)> = open
            .iter()
            .map(|&i| {
                let n = u64::from(left) * u64::from(engines[i].share.weight());
                (i, n / weight, n % weight)
            })
            .collect();
        let capped: Vec<usize> = exact
            .iter()
            .filter(|(i, q, _)| {
                engines[*i]
                    .share
                    .capacity()
                    .is_some_and(|c| *q > u64::from(c))
            })
            .map(|(i, _, _)| *i)
            .collect();
        if capped.is_empty() {
            let mut given: u32 = 0;
            for &(i, q, _) in &exact {
                share[i] = u32::try_from(q).unwrap_or(u32::MAX);
                given += share[i];
            }
            let mut order = exact.clone();
            order.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
            for (i, _, _) in order {
                if given >= left {
                    break;
                }
                if engines[i].share.capacity().is_none_or(|c| share[i] < c) {
                    share[i] += 1;
                    given += 1;
                }
            }
            return share;
        }
        for i in capped {
            let c = engines[i].share.capacity().unwrap_or(0);
            share[i] = c;
            left = left.saturating_sub(c);
            open.retain(|&j| j != i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::Share;
    use crate::engine::host::Endpoint;

    fn engine(name: &str, share: Share) -> EngineEntry {
        EngineEntry {
            name: name.into(),
            endpoint: Endpoint::Unix(format!("/run/{name}.sock").into()),
            tls: None,
            address: None,
            share,
            parents: Vec::new(),
        }
    }

    fn on(p: &Placement, engine: &str) -> Vec<u32> {
        p.iter()
            .filter(|(_, e)| e.as_str() == engine)
            .map(|(pod, _)| *pod)
            .collect()
    }

    #[test]
    fn a_first_up_gives_each_engine_consecutive_pods_by_capacity() {
        let two = [engine("a", Share::Pods(10)), engine("b", Share::Pods(10))];
        let p = place(&two, &[1, 2, 3, 4], &BTreeMap::new()).expect("accepted");
        assert_eq!(on(&p, "a"), [1, 2]);
        assert_eq!(on(&p, "b"), [3, 4]);
        // Odd counts: the earlier engine takes the extra pod.
        let p = place(&two, &[1, 2, 3], &BTreeMap::new()).expect("accepted");
        assert_eq!(on(&p, "a"), [1, 2]);
        // Weights split in proportion.
        let weighted = [engine("a", Share::Weight(1)), engine("b", Share::Weight(3))];
        let p = place(&weighted, &(1..=8).collect::<Vec<_>>(), &BTreeMap::new()).expect("accepted");
        assert_eq!(on(&p, "a"), [1, 2]);
        assert_eq!(on(&p, "b"), [3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn a_small_engine_is_filled_and_the_rest_goes_elsewhere() {
        let e = [engine("a", Share::Pods(1)), engine("b", Share::Weight(1))];
        let p = place(&e, &[1, 2, 3, 4], &BTreeMap::new()).expect("accepted");
        assert_eq!(on(&p, "a"), [1]);
        assert_eq!(on(&p, "b"), [2, 3, 4]);
        let full = [engine("a", Share::Pods(1)), engine("b", Share::Pods(2))];
        let err = place(&full, &[1, 2, 3, 4], &BTreeMap::new()).expect_err("refused");
        assert!(
            err.starts_with("4 pods do not fit: the engines take at most 3"),
            "{err}"
        );
    }

    #[test]
    fn pods_placed_before_never_move_when_the_lab_grows_or_an_engine_comes() {
        let two = [engine("a", Share::Pods(10)), engine("b", Share::Pods(10))];
        let first = place(&two, &[1, 2, 3, 4], &BTreeMap::new()).expect("accepted");
        let grown = place(&two, &[1, 2, 3, 4, 5, 6], &first).expect("accepted");
        for (pod, e) in &first {
            assert_eq!(grown.get(pod), Some(e), "pod {pod} moved");
        }
        assert_eq!(on(&grown, "a"), [1, 2, 5]);
        assert_eq!(on(&grown, "b"), [3, 4, 6]);
        let three = [
            engine("a", Share::Pods(10)),
            engine("b", Share::Pods(10)),
            engine("c", Share::Pods(10)),
        ];
        let more = place(&three, &(1..=9).collect::<Vec<_>>(), &grown).expect("accepted");
        for (pod, e) in &grown {
            assert_eq!(more.get(pod), Some(e), "pod {pod} moved");
        }
        assert_eq!(on(&more, "c"), [7, 8, 9]);
        // The same input, the same answer.
        assert_eq!(
            more,
            place(&three, &(1..=9).collect::<Vec<_>>(), &grown).expect("accepted")
        );
    }

    #[test]
    fn a_pod_on_an_engine_the_file_lost_is_said() {
        let one = [engine("a", Share::Weight(1))];
        let kept = BTreeMap::from([(2, "b".to_string())]);
        let err = place(&one, &[1, 2], &kept).expect_err("refused");
        assert!(err.starts_with("pod 2 runs on engine `b`"), "{err}");
    }
}
