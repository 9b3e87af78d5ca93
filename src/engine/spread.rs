//! One lab over several Docker engines, behind the one [`Engine`] trait.
//!
//! Each pod runs whole on the engine [`placement`](super::placement)
//! chose for it (recorded in the state directory and in its containers'
//! `noglab.engine` label); the lab-wide nodes and networks run on the
//! engines file's `shared` engine. A container operation goes to the
//! engine that holds the container, lists are the union of the engines',
//! and an interactive session's id says its engine (`N/ID`). Images are
//! made present on every engine: what one engine has is copied to the
//! others with save and load, through the API.
//!
//! A lab-wide network is a bridge on the shared engine while every pod
//! runs there, and a macvlan over each engine's `parent` (one subnet on
//! every engine) once pods run elsewhere.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::future::join_all;
use ipnet::Ipv4Net;
use tokio::io::AsyncRead;

use super::config::{EngineEntry, Engines};
use super::docker::DockerEngine;
use super::placement::{self, Placement};
use super::{
    Created, Engine, EngineFacts, EngineNetwork, ExecOutput, Exposure, Interactive, Layer2,
    LogFollow, ObservedContainer, ObservedNetwork, ObservedVolume, RunState, Scope, UNREACHABLE,
};
use crate::plan::names::{pod_label, MGMT_NETWORK, SHARED_LABEL, SHARED_POD};
use crate::plan::{labels, Attachment, ContainerSpec, FileSpec, NetworkSpec};
use crate::state;

/// How long an engine of an engines file has to answer noglab's first
/// call before it is taken for out (its pods then show as unreachable).
pub const CONNECT_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The label that says which engine of the engines file holds a container.
pub const ENGINE_LABEL: &str = "noglab.engine";

/// The engines of an engines file, or the one local engine, as one.
#[derive(Clone)]
pub struct Spread {
    config: Arc<Engines>,
    /// Each engine of the file, or why it did not answer.
    engines: Vec<std::result::Result<DockerEngine, String>>,
    /// Each lab's pods' engines (indexes into `engines`), once placed or read.
    placed: Arc<Mutex<HashMap<String, BTreeMap<u32, usize>>>>,
    /// Where each container was last seen or made.
    holds: Arc<Mutex<HashMap<String, usize>>>,
}

impl Spread {
    /// Connects to every engine of the file, at once, each within
    /// [`CONNECT_WITHIN`]. One that does not answer is left out (see
    /// [`Engine::unreachable`]) unless none answers.
    pub async fn connect(config: Engines) -> Result<Spread> {
        let tries = join_all(config.engines.iter().map(|entry| async move {
            match tokio::time::timeout(CONNECT_WITHIN, DockerEngine::connect_entry(entry)).await {
                Ok(answer) => answer,
                Err(_) => Err(anyhow!(
                    "engine {} at {} did not answer within {} s",
                    entry.name,
                    entry.endpoint,
                    CONNECT_WITHIN.as_secs()
                )),
            }
        }))
        .await;
        if tries.iter().all(Result::is_err) {
            let why: Vec<String> = tries
                .into_iter()
                .filter_map(|t| t.err().map(|e| format!("{e:#}")))
                .collect();
            bail!("no engine of the engines file answers:\n{}", why.join("\n"));
        }
        let engines = tries
            .into_iter()
            .map(|t| t.map_err(|e| format!("{e:#}")))
            .collect();
        Ok(Self::of(config, engines))
    }

    /// The one engine noglab drives without an engines file, as it is.
    pub fn single(engine: DockerEngine, entry: EngineEntry) -> Spread {
        let config = Engines {
            file: None,
            engines: vec![entry],
            shared: 0,
        };
        Self::of(config, vec![Ok(engine)])
    }

    fn of(config: Engines, engines: Vec<std::result::Result<DockerEngine, String>>) -> Spread {
        Spread {
            config: Arc::new(config),
            engines,
            placed: Arc::default(),
            holds: Arc::default(),
        }
    }

    fn one(&self) -> bool {
        self.engines.len() == 1
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.config.engines.iter().position(|e| e.name == name)
    }

    fn name(&self, i: usize) -> &str {
        &self.config.engines[i].name
    }

    /// Engine `i`, or why it is out.
    fn live(&self, i: usize) -> Result<&DockerEngine> {
        self.engines[i]
            .as_ref()
            .map_err(|why| anyhow!("engine {} does not answer: {why}", self.name(i)))
    }

    /// The first engine that answers: where images are built and saved.
    fn first_live(&self) -> Result<usize> {
        (0..self.engines.len())
            .find(|i| self.engines[*i].is_ok())
            .ok_or_else(|| anyhow!("no engine answers"))
    }

    /// The containers of `lab` on the engines that did not answer, as
    /// the saved plan has them, in the state [`UNREACHABLE`]: so that
    /// commands list them, and say where they are, rather than take them
    /// for gone.
    fn unreachable_containers(&self, lab: &str) -> Result<Vec<ObservedContainer>> {
        if self.engines.iter().all(Result::is_ok) {
            return Ok(Vec::new());
        }
        let Some(plan) = state::load_plan(lab)? else {
            return Ok(Vec::new());
        };
        let placed = self.placement_of(lab)?;
        let mut out = Vec::new();
        for pod in plan.all_pods() {
            let i = if pod.pod == SHARED_POD {
                self.config.shared
            } else {
                match placed.get(&pod.pod) {
                    Some(i) => *i,
                    None => continue,
                }
            };
            let Err(why) = &self.engines[i] else {
                continue;
            };
            for c in &pod.containers {
                let mut labels = c.labels.clone();
                labels.insert(ENGINE_LABEL.to_string(), self.name(i).to_string());
                self.lock_holds().insert(c.name.clone(), i);
                out.push(ObservedContainer {
                    id: c.name.clone(),
                    name: c.name.clone(),
                    labels,
                    state: UNREACHABLE.to_string(),
                    status: format!("engine {} does not answer: {why}", self.name(i)),
                    created: 0,
                });
            }
        }
        Ok(out)
    }

    /// The engine of a pod (`shared` for the lab-wide one) of a lab.
    fn pod_engine(&self, labels: &BTreeMap<String, String>) -> Result<usize> {
        if self.one() {
            return Ok(0);
        }
        let (Some(lab), Some(pod)) = (labels.get(labels::LAB), labels.get(labels::POD)) else {
            return Ok(self.config.shared);
        };
        if pod == SHARED_LABEL {
            return Ok(self.config.shared);
        }
        let pod: u32 = pod
            .parse()
            .map_err(|_| anyhow!("`{pod}` is not a pod number"))?;
        self.placement_of(lab)?.get(&pod).copied().ok_or_else(|| {
            anyhow!("pod {pod} of lab {lab} has no engine yet; `noglab up` places it")
        })
    }

    /// A lab's pods' engines: as placed by this run, else as recorded.
    fn placement_of(&self, lab: &str) -> Result<BTreeMap<u32, usize>> {
        if let Some(p) = self.lock_placed().get(lab) {
            return Ok(p.clone());
        }
        let known: BTreeMap<u32, usize> = state::load_placement(lab)?
            .iter()
            .filter_map(|(p, name)| Some((*p, self.index(name)?)))
            .collect();
        self.lock_placed().insert(lab.to_string(), known.clone());
        Ok(known)
    }

    fn lock_placed(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<u32, usize>>> {
        self.placed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_holds(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.holds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The engine that holds a container: as seen last, else by asking
    /// every engine; one that none holds goes to the shared engine (whose
    /// answer, "no such container", is then the right one).
    async fn holder(&self, container: &str) -> usize {
        if self.one() {
            return 0;
        }
        if let Some(i) = self.lock_holds().get(container) {
            return *i;
        }
        let found = join_all(self.engines.iter().map(|e| async move {
            match e {
                Ok(e) => e.run_state(container).await.is_ok(),
                Err(_) => false,
            }
        }))
        .await;
        let i = found.iter().position(|f| *f).unwrap_or(self.config.shared);
        self.lock_holds().insert(container.to_string(), i);
        i
    }

    async fn on(&self, container: &str) -> Result<&DockerEngine> {
        self.live(self.holder(container).await)
    }

    /// Copies an image from the engine `from` to the engine `to` (a
    /// `docker save` archive through a temporary file).
    async fn copy_image(&self, reference: &str, from: usize, to: usize) -> Result<()> {
        let dir = std::env::temp_dir().join(format!("noglab-copy-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let file = dir.join(format!("{}-{to}.tar", reference.replace(['/', ':'], "_")));
        let result = async {
            let mut out = std::io::BufWriter::new(
                std::fs::File::create(&file)
                    .with_context(|| format!("failed to create {}", file.display()))?,
            );
            self.live(from)?
                .save_images(&[reference.to_string()], &mut out, |_| {})
                .await?;
            std::io::Write::flush(&mut out)?;
            drop(out);
            self.live(to)?.load_images(&file).await.map(|_| ())
        }
        .await
        .with_context(|| {
            format!(
                "failed to copy image {reference} from engine {} to engine {}",
                self.name(from),
                self.name(to)
            )
        });
        let _ = std::fs::remove_file(&file);
        result
    }

    /// Copies an image to every engine lacking it from one that has it;
    /// `false` when none has it.
    async fn spread_image(&self, reference: &str) -> Result<bool> {
        let sizes = self.each_indexed(|e| e.image_size(reference)).await?;
        let Some(from) = sizes.iter().find(|(_, s)| s.is_some()).map(|(i, _)| *i) else {
            return Ok(false);
        };
        for (to, size) in &sizes {
            if size.is_none() {
                self.copy_image(reference, from, *to).await?;
            }
        }
        Ok(true)
    }

    /// Every answering engine's answer to the same call, in the file's
    /// order (those that did not answer are out: see `unreachable`).
    async fn each<'a, T, F>(&'a self, call: impl Fn(&'a DockerEngine) -> F) -> Result<Vec<T>>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        Ok(self
            .each_indexed(call)
            .await?
            .into_iter()
            .map(|(_, t)| t)
            .collect())
    }

    /// Like `each`, with each answer's engine index.
    async fn each_indexed<'a, T, F>(
        &'a self,
        call: impl Fn(&'a DockerEngine) -> F,
    ) -> Result<Vec<(usize, T)>>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        let live: Vec<(usize, &DockerEngine)> = self
            .engines
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i, e.as_ref().ok()?)))
            .collect();
        let answers = join_all(live.iter().map(|(_, e)| call(e))).await;
        live.iter()
            .zip(answers)
            .map(|((i, _), a)| {
                a.map(|t| (*i, t))
                    .with_context(|| format!("engine {}", self.name(*i)))
            })
            .collect()
    }

    /// One round of the layer-2 check: a probe on each engine of `on`
    /// over its interface there, each pinging the others; `named` adds
    /// the interfaces to each line (when an engine has several).
    async fn layer2_over(
        &self,
        image: &str,
        on: &[(usize, String)],
        named: bool,
    ) -> Result<Vec<Layer2>> {
        let used = self.used_subnets().await?;
        let subnet = (0..=255u32)
            .rev()
            .filter_map(|n| {
                Ipv4Net::new(std::net::Ipv4Addr::from(0x647f_0000u32 | (n << 8)), 24).ok()
            })
            .find(|s| !used.iter().any(|u| u.contains(s) || s.contains(u)))
            .ok_or_else(|| anyhow!("no free /24 in 100.127.0.0/16 for the probe"))?;
        let name = format!("noglab-l2probe-{}", std::process::id());
        let address =
            |k: usize| std::net::Ipv4Addr::from(u32::from(subnet.network()) + 10 + k as u32);
        let over = |k: usize, l: usize| {
            if named {
                format!(" ({} and {})", on[k].1, on[l].1)
            } else {
                String::new()
            }
        };
        let result = async {
            for (k, (i, parent)) in on.iter().enumerate() {
                self.live(*i)?
                    .layer2_probe_start(&name, image, parent, subnet, address(k))
                    .await
                    .with_context(|| format!("engine {}", self.name(*i)))?;
            }
            let run = |i: usize, cmd: &'static str| {
                let name = name.clone();
                async move {
                    let cmd: Vec<String> = ["sh", "-c", cmd].iter().map(|s| s.to_string()).collect();
                    let out = self.live(i)?.exec(&name, &cmd).await?;
                    Ok::<_, anyhow::Error>((out.code, String::from_utf8_lossy(&out.stdout).into_owned()))
                }
            };
            let mut link_local = Vec::new();
            for (i, _) in on {
                let (_, text) = run(*i, "ip -6 -o addr show dev eth0 scope link").await?;
                let ll = text
                    .split_whitespace()
                    .find(|w| w.starts_with("fe80:"))
                    .map(|w| w.split('/').next().unwrap_or(w).to_string())
                    .ok_or_else(|| anyhow!("the probe on engine {} has no IPv6 link-local address", self.name(*i)))?;
                link_local.push(ll);
            }
            let mut found = Vec::new();
            for (k, (i, _)) in on.iter().enumerate() {
                for (l, (j, _)) in on.iter().enumerate().filter(|(l, _)| *l != k) {
                    let target = address(l);
                    let cmd: Vec<String> = ["ping", "-c", "2", "-W", "2", "-q", &target.to_string()]
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                    let out = self.live(*i)?.exec(&name, &cmd).await?;
                    found.push(Layer2 {
                        held: Some(out.code == 0),
                        message: format!(
                            "IPv4 from engine {} to engine {} over their parents{}{}",
                            self.name(*i),
                            self.name(*j),
                            over(k, l),
                            if out.code == 0 { "" } else { ": no answer" }
                        ),
                    });
                }
                let (_, text) = run(*i, "ping -6 -c 3 -w 4 ff02::1%eth0 2>&1").await?;
                for (l, (j, _)) in on.iter().enumerate().filter(|(l, _)| *l != k) {
                    let ll = &link_local[l];
                    let heard = text.contains(&format!("from {ll}%"))
                        || text.contains(&format!("from {ll}:"));
                    found.push(Layer2 {
                        held: Some(heard),
                        message: format!(
                            "IPv6 multicast and link-local from engine {} to engine {}{}{}",
                            self.name(*i),
                            self.name(*j),
                            over(k, l),
                            if heard { "" } else { ": no answer to ff02::1 (a parent that carries no multicast, or not the same segment)" }
                        ),
                    });
                }
            }
            Ok::<_, anyhow::Error>(found)
        }
        .await;
        for (i, _) in on {
            if let Ok(e) = self.live(*i) {
                let _ = e.layer2_probe_stop(&name).await;
            }
        }
        result
    }

    fn split_exec<'a>(&self, id: &'a str) -> Result<(&DockerEngine, &'a str)> {
        let (i, rest) = id
            .split_once('/')
            .ok_or_else(|| anyhow!("`{id}` is not a session of this noglab"))?;
        let i: usize = i
            .parse()
            .map_err(|_| anyhow!("`{id}` is not a session of this noglab"))?;
        if i >= self.engines.len() {
            bail!("`{id}` is not a session of this noglab");
        }
        Ok((self.live(i)?, rest))
    }
}

/// The VLAN a lab-wide network rides on over the engines' `parent`: one
/// parent carries one macvlan network, so each network gets its own
/// 802.1Q sub-interface (Docker makes `parent.N`). Taken from its subnet,
/// which noglab's plumbing makes unique among the labs on the engines,
/// so that every engine derives the same number.
fn vlan(subnet: Ipv4Net) -> u32 {
    let n = u32::from(subnet.network()) >> (32 - u32::from(subnet.prefix_len()).min(31));
    n % 4093 + 2
}

/// The interface the `k`th of a lab's `spanning` lab-wide networks rides
/// on, on each engine it spans (`parents`: each one's `parent` list, none
/// empty). A lab with one rides on the first interface itself; with
/// several, on one interface each when every engine has that many, the
/// same order everywhere; otherwise on a VLAN each of the first
/// interface (which needs the hosts' 802.1Q support).
fn segments(parents: &[&[String]], spanning: usize, k: usize, subnet: Ipv4Net) -> Vec<String> {
    let own = spanning > 1 && parents.iter().all(|p| p.len() >= spanning);
    parents
        .iter()
        .map(|p| match spanning {
            0 | 1 => p[0].clone(),
            _ if own => p[k.min(p.len() - 1)].clone(),
            _ => format!("{}.{}", p[0], vlan(subnet)),
        })
        .collect()
}

impl Engine for Spread {
    async fn place(&self, lab: &str, pods: &[u32]) -> Result<Placement> {
        if self.one() {
            let name = self.name(0).to_string();
            return Ok(pods
                .iter()
                .chain([&SHARED_POD])
                .map(|p| (*p, name.clone()))
                .collect());
        }
        let found = self.containers(Scope::Lab(lab)).await?;
        let mut kept: BTreeMap<u32, String> = state::load_placement(lab)?;
        for c in &found {
            let (Some(pod), Some(i)) = (
                c.label(labels::POD).and_then(|p| p.parse::<u32>().ok()),
                self.lock_holds().get(&c.name).copied(),
            ) else {
                continue;
            };
            kept.insert(pod, self.name(i).to_string());
        }
        let placed = placement::place(&self.config.engines, pods, &kept)
            .map_err(|e| crate::diag::input_error(format!("lab {lab}: {e}")))?;
        let mut record = kept;
        record.extend(placed.clone());
        state::save_placement(lab, &record)?;
        let indexes = record
            .iter()
            .filter_map(|(p, name)| Some((*p, self.index(name)?)))
            .collect();
        self.lock_placed().insert(lab.to_string(), indexes);
        let mut placed = placed;
        placed.insert(SHARED_POD, self.name(self.config.shared).to_string());
        Ok(placed)
    }

    fn parents_of(&self, engine: &str) -> Vec<String> {
        self.config
            .by_name(engine)
            .map(|e| e.parents.clone())
            .unwrap_or_default()
    }

    async fn address_of(&self, lab: &str, pod: u32) -> Result<Option<String>> {
        let labels = BTreeMap::from([
            (labels::LAB.to_string(), lab.to_string()),
            (labels::POD.to_string(), pod_label(pod)),
        ]);
        let i = self.pod_engine(&labels)?;
        Ok(self.config.engines[i].address.clone())
    }

    async fn containers(&self, scope: Scope<'_>) -> Result<Vec<ObservedContainer>> {
        let lists = self.each_indexed(|e| e.containers(scope)).await?;
        let mut all = Vec::new();
        {
            let mut holds = self.lock_holds();
            for (i, list) in lists {
                for c in list {
                    holds.insert(c.name.clone(), i);
                    all.push(c);
                }
            }
        }
        if self.engines.iter().any(Result::is_err) {
            let labs = match scope {
                Scope::Lab(lab) => vec![lab.to_string()],
                Scope::All => state::recorded_labs()?,
            };
            for lab in labs {
                all.extend(self.unreachable_containers(&lab)?);
            }
        }
        Ok(all)
    }

    /// A probe container on each answering engine with a `parent`, on a
    /// macvlan over it with a subnet no engine uses; each pings the
    /// others' IPv4 address, and the all-nodes IPv6 multicast address,
    /// whose answers must come from every other probe's link-local
    /// address (neighbour discovery and multicast cross). Removed after,
    /// whatever happened.
    async fn layer2(&self, image: &str) -> Result<Option<Vec<Layer2>>> {
        if self.one() {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut probes: Vec<usize> = Vec::new();
        for (i, e) in self.config.engines.iter().enumerate() {
            match (&self.engines[i], e.parents.is_empty()) {
                (Err(_), _) => out.push(Layer2 {
                    held: Some(false),
                    message: format!("engine {} does not answer", e.name),
                }),
                (Ok(_), true) => out.push(Layer2 {
                    held: None,
                    message: format!(
                        "engine {} has no `parent`: lab-wide networks cannot span to it",
                        e.name
                    ),
                }),
                (Ok(_), false) => probes.push(i),
            }
        }
        if probes.len() < 2 {
            out.push(Layer2 {
                held: None,
                message: "fewer than two answering engines have a `parent`: nothing to check between them".into(),
            });
            return Ok(Some(out));
        }
        if !self.spread_image(image).await? {
            bail!("no engine has the image {image}; `noglab images build` makes it");
        }
        // Each interface of the lists in turn: the nth of every engine
        // that has one is a segment of its own.
        let most = probes
            .iter()
            .map(|i| self.config.engines[*i].parents.len())
            .max()
            .unwrap_or(1);
        for n in 0..most {
            let on: Vec<(usize, String)> = probes
                .iter()
                .filter_map(|i| Some((*i, self.config.engines[*i].parents.get(n)?.clone())))
                .collect();
            if on.len() < 2 {
                for (i, parent) in &on {
                    out.push(Layer2 {
                        held: None,
                        message: format!(
                            "only engine {} has a parent number {} ({parent}): nothing to check it against",
                            self.name(*i),
                            n + 1
                        ),
                    });
                }
                continue;
            }
            out.extend(self.layer2_over(image, &on, most > 1).await?);
        }
        Ok(Some(out))
    }

    fn unreachable(&self) -> Vec<String> {
        (0..self.engines.len())
            .filter_map(|i| self.live(i).err().map(|e| e.to_string()))
            .collect()
    }

    fn answers(&self, engine: &str) -> bool {
        self.index(engine).is_none_or(|i| self.engines[i].is_ok())
    }

    async fn networks(&self, scope: Scope<'_>) -> Result<Vec<ObservedNetwork>> {
        let lists = self.each(|e| e.networks(scope)).await?;
        // A network on several engines is one network of the lab, known
        // by its name: an engine's id means nothing to the others.
        if self.one() {
            return Ok(lists.into_iter().flatten().collect());
        }
        let mut seen = BTreeMap::new();
        for mut n in lists.into_iter().flatten() {
            n.id = n.name.clone();
            seen.entry(n.name.clone()).or_insert(n);
        }
        Ok(seen.into_values().collect())
    }

    async fn volumes(&self, scope: Scope<'_>) -> Result<Vec<ObservedVolume>> {
        Ok(self
            .each(|e| e.volumes(scope))
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    async fn all_networks(&self) -> Result<Vec<EngineNetwork>> {
        Ok(self
            .each(|e| e.all_networks())
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    async fn used_subnets(&self) -> Result<Vec<Ipv4Net>> {
        Ok(self
            .each(|e| e.used_subnets())
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    async fn describe(&self) -> Result<EngineFacts> {
        self.live(self.config.shared)?.describe().await
    }

    /// An image is present when one engine has it: it is copied then to
    /// the engines that lack it, so that what `up` finds present is on
    /// every engine a pod may run on.
    async fn image_size(&self, reference: &str) -> Result<Option<i64>> {
        let sizes = self.each(|e| e.image_size(reference)).await?;
        let Some(size) = sizes.iter().flatten().next().copied() else {
            return Ok(None);
        };
        if sizes.iter().any(Option::is_none) {
            self.spread_image(reference).await?;
        }
        Ok(Some(size))
    }

    /// Copies the image from an engine that has it, else pulls it on each.
    async fn pull(&self, reference: &str) -> Result<()> {
        if !self.one() && self.spread_image(reference).await? {
            return Ok(());
        }
        self.each(|e| e.pull(reference)).await.map(|_| ())
    }

    /// Builds on the first engine, then copies to the others.
    async fn build(
        &self,
        reference: &str,
        dockerfile: &str,
        context: Vec<u8>,
        log: impl FnMut(&str),
    ) -> Result<()> {
        let first = self.first_live()?;
        self.live(first)?
            .build(reference, dockerfile, context, log)
            .await?;
        for to in (first + 1)..self.engines.len() {
            if self.engines[to].is_ok() {
                self.copy_image(reference, first, to).await?;
            }
        }
        Ok(())
    }

    async fn save_images(
        &self,
        references: &[String],
        out: &mut impl std::io::Write,
        progress: impl FnMut(u64),
    ) -> Result<u64> {
        for r in references.iter().filter(|_| !self.one()) {
            self.spread_image(r).await?;
        }
        self.live(self.first_live()?)?
            .save_images(references, out, progress)
            .await
    }

    async fn load_images(&self, file: &Path) -> Result<Vec<String>> {
        let loaded = self.each(|e| e.load_images(file)).await?;
        Ok(loaded.into_iter().next().unwrap_or_default())
    }

    /// A pod's network on its engine. A lab-wide network stays a bridge
    /// on the shared engine while every pod runs there; once pods run on
    /// other engines it is a macvlan over each engine's `parent`, on the
    /// shared engine and on every engine holding pods of the lab.
    async fn create_network(&self, spec: &NetworkSpec) -> Result<Created> {
        let i = self.pod_engine(&spec.labels)?;
        let lab_wide = spec.labels.get(labels::POD).map(String::as_str) == Some(SHARED_LABEL)
            && spec.labels.get(labels::NETWORK).map(String::as_str) != Some(MGMT_NETWORK);
        let lab = spec.labels.get(labels::LAB).cloned().unwrap_or_default();
        let mut on: Vec<usize> = vec![i];
        if lab_wide && !self.one() {
            on.extend(self.placement_of(&lab)?.values().copied());
            on.sort_unstable();
            on.dedup();
        }
        if on.len() == 1 {
            return self.live(i)?.create_network(spec).await;
        }
        // One macvlan network per interface: the lab's lab-wide networks,
        // in the plan's order, each on its own interface of `parent`.
        let spanning: Vec<String> = state::load_plan(&lab)?
            .and_then(|p| p.shared)
            .map(|s| {
                s.networks
                    .into_iter()
                    .filter(|n| {
                        n.labels.get(labels::NETWORK).map(String::as_str) != Some(MGMT_NETWORK)
                    })
                    .map(|n| n.name)
                    .collect()
            })
            .unwrap_or_default();
        let k = spanning.iter().position(|n| *n == spec.name).unwrap_or(0);
        if let Some(j) = on
            .iter()
            .find(|j| self.config.engines[**j].parents.is_empty())
        {
            return Err(crate::diag::input_error(format!(
                "lab-wide network {} spans engines, and engine {} has no `parent`: name the interface that joins it to the others in the engines file",
                spec.name,
                self.name(*j)
            )));
        }
        let parents: Vec<&[String]> = on
            .iter()
            .map(|j| self.config.engines[*j].parents.as_slice())
            .collect();
        let mut created = Created::Existed;
        for (j, parent) in on
            .iter()
            .zip(segments(&parents, spanning.len(), k, spec.subnet))
        {
            if self.live(*j)?.create_macvlan(spec, &parent).await? == Created::New {
                created = Created::New;
            }
        }
        Ok(created)
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        self.each(|e| e.remove_network(name)).await.map(|_| ())
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        self.each(|e| e.remove_volume(name)).await.map(|_| ())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<Created> {
        let i = self.pod_engine(&spec.labels)?;
        if self.one() {
            return self.live(0)?.create_container(spec).await;
        }
        let mut spec = spec.clone();
        spec.labels
            .insert(ENGINE_LABEL.to_string(), self.name(i).to_string());
        let created = self.live(i)?.create_container(&spec).await?;
        self.lock_holds().insert(spec.name.clone(), i);
        Ok(created)
    }

    async fn connect(&self, container: &str, attachment: &Attachment) -> Result<()> {
        self.on(container)
            .await?
            .connect(container, attachment)
            .await
    }

    async fn upload(&self, container: &str, files: &BTreeMap<String, FileSpec>) -> Result<()> {
        self.on(container).await?.upload(container, files).await
    }

    async fn put_files(
        &self,
        container: &str,
        files: &BTreeMap<String, (u32, Vec<u8>)>,
    ) -> Result<()> {
        self.on(container).await?.put_files(container, files).await
    }

    async fn download(&self, container: &str, path: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        self.on(container)
            .await?
            .download(container, path, limit)
            .await
    }

    async fn start(&self, container: &str) -> Result<()> {
        self.on(container).await?.start(container).await
    }

    async fn remove_container(&self, name: &str) -> Result<()> {
        let i = self.holder(name).await;
        self.live(i)?.remove_container(name).await?;
        self.lock_holds().remove(name);
        Ok(())
    }

    async fn first_log_line(
        &self,
        container: &str,
        prefixes: &[&str],
        timeout: std::time::Duration,
    ) -> Result<LogFollow> {
        self.on(container)
            .await?
            .first_log_line(container, prefixes, timeout)
            .await
    }

    async fn run_state(&self, container: &str) -> Result<RunState> {
        self.on(container).await?.run_state(container).await
    }

    async fn log_tail(&self, container: &str, lines: usize) -> Result<Vec<String>> {
        self.on(container).await?.log_tail(container, lines).await
    }

    async fn exec_streaming(
        &self,
        container: &str,
        cmd: &[String],
        sink: impl FnMut(bool, &[u8]),
    ) -> Result<i64> {
        self.on(container)
            .await?
            .exec_streaming(container, cmd, sink)
            .await
    }

    async fn exec_with_input(
        &self,
        container: &str,
        cmd: &[String],
        input: impl AsyncRead + Send + Unpin,
        sink: impl FnMut(bool, &[u8]),
    ) -> Result<i64> {
        self.on(container)
            .await?
            .exec_with_input(container, cmd, input, sink)
            .await
    }

    async fn exec(&self, container: &str, cmd: &[String]) -> Result<ExecOutput> {
        self.on(container).await?.exec(container, cmd).await
    }

    async fn exec_interactive(
        &self,
        container: &str,
        cmd: &[String],
        size: (u16, u16),
    ) -> Result<Interactive> {
        let i = self.holder(container).await;
        let mut session = self.live(i)?.exec_interactive(container, cmd, size).await?;
        session.exec_id = format!("{i}/{}", session.exec_id);
        Ok(session)
    }

    async fn exec_interactive_as(
        &self,
        container: &str,
        user: &str,
        cmd: &[String],
        size: (u16, u16),
    ) -> Result<Interactive> {
        let i = self.holder(container).await;
        let mut session = self
            .live(i)?
            .exec_interactive_as(container, user, cmd, size)
            .await?;
        session.exec_id = format!("{i}/{}", session.exec_id);
        Ok(session)
    }

    async fn resize(&self, exec_id: &str, size: (u16, u16)) -> Result<()> {
        let (engine, id) = self.split_exec(exec_id)?;
        engine.resize(id, size).await
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Result<i64> {
        let (engine, id) = self.split_exec(exec_id)?;
        engine.exec_exit_code(id).await
    }

    async fn probe(
        &self,
        image: &str,
        capabilities: &[String],
        sysctls: &BTreeMap<String, String>,
        cmd: &[&str],
    ) -> Result<(i64, String)> {
        self.live(self.config.shared)?
            .probe(image, capabilities, sysctls, cmd)
            .await
    }

    async fn exposure(&self, container: &str) -> Result<Exposure> {
        self.on(container).await?.exposure(container).await
    }

    async fn health_report(&self, container: &str) -> Result<Option<String>> {
        self.on(container).await?.health_report(container).await
    }

    async fn ensure_guard(&self, image: &str, range: &str) -> Result<()> {
        if !self.one() {
            self.spread_image(image).await?;
        }
        self.each(|e| e.ensure_guard(image, range))
            .await
            .map(|_| ())
    }

    async fn remove_guard(&self) -> Result<()> {
        self.each(|e| e.remove_guard()).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lab_wide_networks_ride_on_one_interface_each_or_on_vlans_of_the_first() {
        let subnet: Ipv4Net = "198.51.100.0/24".parse().expect("subnet");
        let two = list(&["eth1", "eth2"]);
        let one = list(&["eth1"]);
        // One network: the first interface itself, whatever the lists.
        assert_eq!(segments(&[&two, &one], 1, 0, subnet), ["eth1", "eth1"]);
        // Two networks, two interfaces everywhere: the second on eth2.
        assert_eq!(segments(&[&two, &two], 2, 1, subnet), ["eth2", "eth2"]);
        assert_eq!(segments(&[&two, &two], 2, 0, subnet), ["eth1", "eth1"]);
        // One engine with a single interface: every engine uses the same
        // VLAN of its first, so they still meet.
        let vlan = format!("eth1.{}", vlan(subnet));
        assert_eq!(segments(&[&two, &one], 2, 1, subnet), [vlan.clone(), vlan]);
    }
}
