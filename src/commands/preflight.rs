//! What `up` makes sure of before it creates anything, and `doctor` checks
//! the evening before: the lab's share of noglab's address range (its
//! block), and the images its nodes need.

use std::collections::BTreeSet;

use anyhow::{anyhow, Result};
use ipnet::Ipv4Net;

use crate::diag::input_error;
use crate::engine::{Engine, Scope};
use crate::images;
use crate::plan::{self as planning, labels, Plan, Plumbing};
use crate::reconcile::Observed;
use crate::topology::Topology;

/// Whether the lab's networks already hold its block.
pub fn has_block(observed: &Observed) -> bool {
    observed
        .networks
        .iter()
        .any(|n| n.label(labels::BLOCK).is_some())
}

/// The lab's share of noglab's address range: the one its networks carry,
/// or the first free block big enough.
pub async fn lab_block<E: Engine>(
    engine: &E,
    lab: &str,
    observed: &Observed,
    topology: &Topology,
    pods: u32,
) -> Result<Ipv4Net> {
    let existing: BTreeSet<Ipv4Net> = observed
        .networks
        .iter()
        .filter_map(|n| n.label(labels::BLOCK)?.parse().ok())
        .collect();
    if let Some(block) = existing.iter().next() {
        Plumbing::for_block(topology, *block)
            .check_block(*block, pods)
            .map_err(input_error)?;
        return Ok(*block);
    }
    let mut taken = engine.used_subnets().await?;
    for n in engine.networks(Scope::All).await? {
        if n.label(labels::LAB) != Some(lab) {
            taken.extend(
                n.label(labels::BLOCK)
                    .and_then(|b| b.parse::<Ipv4Net>().ok()),
            );
        }
    }
    let (range, block) = first_free_block(topology, pods, &taken)?;
    block.ok_or_else(|| {
        anyhow!(
            "noglab's address range {range} has no free block for lab {lab}; remove a lab with `noglab down`, or set NOGLAB_PLUMBING_RANGE to a larger range"
        )
    })
}

/// The first block of noglab's address range clear of `taken` and large
/// enough for the lab in `pods` pods, if any, with the range.
pub fn first_free_block(
    topology: &Topology,
    pods: u32,
    taken: &[Ipv4Net],
) -> Result<(Ipv4Net, Option<Ipv4Net>)> {
    let range = planning::plumbing::range().map_err(input_error)?;
    let prefix = Plumbing::for_pods(topology, pods).block_prefix();
    Ok((range, planning::plumbing::allocate(range, prefix, taken)))
}

/// Every image the plan uses must be on the engine: `up` never pulls.
pub async fn check_images<E: Engine>(engine: &E, plan: &Plan) -> Result<()> {
    let missing = missing_images(engine, plan).await?;
    if missing.is_empty() {
        return Ok(());
    }
    Err(anyhow!("{}", describe_missing(&missing)))
}

/// An image the plan needs and the engine lacks, and the kind whose own
/// image it is (None for an image a node names with `image:`).
pub struct Missing {
    pub image: String,
    pub kind: Option<String>,
}

/// The images of the plan's nodes, and the host image the guard runs from,
/// that the engine does not have.
pub async fn missing_images<E: Engine>(engine: &E, plan: &Plan) -> Result<Vec<Missing>> {
    let mut wanted: Vec<(String, String)> = plan
        .containers()
        .map(|(_, c)| (c.image.clone(), c.kind.clone()))
        .collect();
    if let Some(host) = images::lookup("host") {
        wanted.push((host.reference(), "host".into()));
    }
    wanted.sort_unstable();
    wanted.dedup_by(|a, b| a.0 == b.0);
    let mut missing = Vec::new();
    for (image, kind) in wanted {
        if engine.image_exists(&image).await? {
            continue;
        }
        let own = crate::kinds::lookup(&kind)
            .and_then(|k| images::lookup(k.image))
            .is_some_and(|d| d.reference() == image);
        missing.push(Missing {
            image,
            kind: own.then_some(kind),
        });
    }
    Ok(missing)
}

/// "missing images: ...; how to get each".
pub fn describe_missing(missing: &[Missing]) -> String {
    let list: Vec<String> = missing
        .iter()
        .map(|m| match &m.kind {
            Some(kind) => format!("{} (kind {kind})", m.image),
            None => format!("{} (named by `image:`)", m.image),
        })
        .collect();
    let mut kinds: Vec<&str> = missing.iter().filter_map(|m| m.kind.as_deref()).collect();
    kinds.dedup();
    let mut how = Vec::new();
    if !kinds.is_empty() {
        how.push(format!(
            "build noglab's with `noglab images build {}`, or on a machine without a registry load a bundle made by `noglab images save` with `noglab images load FILE`",
            kinds.join(" ")
        ));
    }
    let foreign: Vec<&str> = missing
        .iter()
        .filter(|m| m.kind.is_none())
        .map(|m| m.image.as_str())
        .collect();
    if !foreign.is_empty() {
        how.push(format!(
            "noglab never pulls: fetch {} yourself (`docker pull IMAGE`, or `docker load` of a saved copy)",
            foreign.join(", ")
        ));
    }
    format!("missing images: {}; {}", list.join(", "), how.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::engine::EngineNetwork;
    use crate::reconcile::testing;
    use crate::topology::load_str;

    fn topology(name: &str) -> Topology {
        let source = testing::TOPOLOGY.replace("name: lab", &format!("name: {name}"));
        load_str(std::path::Path::new("t.yml"), source, |_| {
            Err("no files".into())
        })
        .expect("valid")
        .topology
    }

    fn overlap(a: Ipv4Net, b: Ipv4Net) -> bool {
        a.contains(&b.network()) || b.contains(&a.network())
    }

    #[tokio::test]
    async fn a_lab_keeps_its_block_and_a_new_one_takes_a_free_one() {
        let engine = FakeEngine::default();
        let plan = testing::plan(1);
        testing::up(&engine, &plan).await;
        let observed = testing::observed(&engine).await;
        assert!(has_block(&observed));
        let kept = lab_block(&engine, "lab", &observed, &topology("lab"), 1)
            .await
            .expect("its block");
        assert_eq!(kept, plan.block);

        // Another lab: clear of this one's block, and of any network on
        // the engine, noglab's or not.
        let other = topology("other");
        let none = crate::reconcile::Observed::default();
        assert!(!has_block(&none));
        let first = lab_block(&engine, "other", &none, &other, 1)
            .await
            .expect("a free block");
        assert!(!overlap(first, plan.block), "{first} in {}", plan.block);
        engine.lock().foreign_networks.push(EngineNetwork {
            name: "bridge".into(),
            subnets: vec![first.to_string(), "fd00::/64".into()],
            labels: std::collections::BTreeMap::new(),
            bridge: None,
        });
        let second = lab_block(&engine, "other", &none, &other, 1)
            .await
            .expect("a free block");
        assert!(
            !overlap(second, first) && !overlap(second, plan.block),
            "{second}"
        );
    }

    #[tokio::test]
    async fn missing_images_say_how_to_get_each() {
        let engine = FakeEngine::default();
        let plan = testing::plan(2);
        let frr = plan.pod_plans[&1].containers[1].image.clone();
        assert!(frr.starts_with("noglab/frr:"), "{frr}");
        engine.lock().missing_images.insert(frr.clone());
        let missing = missing_images(&engine, &plan).await.expect("asks");
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].kind.as_deref(), Some("frr"));
        engine.clear_calls();
        let err = check_images(&engine, &plan).await.expect_err("missing");
        assert_eq!(
            format!("{err}"),
            format!("missing images: {frr} (kind frr); build noglab's with `noglab images build frr`, or on a machine without a registry load a bundle made by `noglab images save` with `noglab images load FILE`")
        );
        // One look per image: the host image (the host node's and the
        // guard's) once.
        let looked = engine.calls();
        assert_eq!(looked.len(), 2, "{looked:?}");
        assert!(
            looked.contains(&format!("inspect image {frr}")),
            "{looked:?}"
        );
        assert!(
            looked
                .iter()
                .all(|c| c.starts_with("inspect image noglab/")),
            "{looked:?}"
        );
    }
}
