//! An in-memory engine that records every call, for testing the reconciler
//! and the commands without Docker. It keeps just enough state to answer
//! lists the way the real engine would, and answers the rest (images,
//! command output, a terminal session) from what a test sets in its state.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use futures_util::StreamExt;

use super::{
    Connector, Created, Engine, EngineFacts, EngineNetwork, ExecOutput, Exposure, Interactive,
    LogFollow, ObservedContainer, ObservedNetwork, ObservedVolume, RunState, Scope,
};
use crate::plan::{labels, Attachment, ContainerSpec, FileSpec, NetworkSpec, NOGLAB_DIR};

#[derive(Debug, Default)]
pub struct FakeEngine {
    pub state: Mutex<FakeState>,
}

/// The first line of what the fake's `save_images` writes; its
/// `load_images` reads the references that follow.
pub const ARCHIVE_HEADER: &str = "fake docker save archive";

#[derive(Debug)]
pub struct FakeState {
    pub calls: Vec<String>,
    pub containers: BTreeMap<String, ObservedContainer>,
    pub networks: BTreeMap<String, ObservedNetwork>,
    /// Container name -> networks it is attached to.
    pub attached: BTreeMap<String, Vec<String>>,
    pub next_id: u64,
    /// A call (e.g. `start tworouters-p02-r1`) that fails once, to test
    /// recovery.
    pub fail_on: Option<String>,
    /// A call during which Ctrl-C comes: the stop is requested as the
    /// call is made, and the call itself completes, as one in flight does.
    pub stop_on: Option<(String, crate::stop::Stop)>,
    /// What every container's log shows when followed.
    pub log: Vec<String>,
    /// Following a log without a line asked for times out (else it ends,
    /// as a stopped container's does).
    pub log_times_out: bool,
    /// Container name -> how often the engine restarted it.
    pub restarts: BTreeMap<String, i64>,
    /// Container name -> what its last failed health probe printed.
    pub health_reports: BTreeMap<String, String>,
    /// Why connecting fails, when it does (the engine is down).
    pub unreachable: Option<String>,
    pub facts: EngineFacts,
    /// Networks on the engine that are not noglab's.
    pub foreign_networks: Vec<EngineNetwork>,
    /// Network name -> the bridge it was created with.
    pub bridges: BTreeMap<String, String>,
    /// Images the engine lacks; it has every other, of `IMAGE_SIZE` bytes.
    pub missing_images: BTreeSet<String>,
    /// Container name -> what a command run there prints and exits with.
    pub exec_outputs: BTreeMap<String, ExecOutput>,
    /// Every command run in a container, whole.
    pub executed: Vec<(String, Vec<String>)>,
    /// Container name -> what was fed to a command's standard input there.
    pub fed: Vec<(String, Vec<u8>)>,
    /// What a probe container prints, and its exit code.
    pub probe_output: (i64, String),
    /// Container name -> its exposure (else a container with nothing
    /// added and noglab's folder read-only).
    pub exposures: BTreeMap<String, Exposure>,
    /// What an interactive session prints before it waits for its input
    /// to end, and its exit code then.
    pub session_output: Vec<String>,
    pub session_code: i64,
    /// What was typed into interactive sessions.
    pub typed: Arc<Mutex<Vec<u8>>>,
    /// Container name -> the files copied into it (planned or put), by
    /// absolute path, with their modes: what `download` finds there.
    pub files: BTreeMap<String, BTreeMap<String, (u32, Vec<u8>)>>,
}

/// The size of every image the fake has.
pub const IMAGE_SIZE: i64 = 123_400_000;

impl Default for FakeState {
    fn default() -> Self {
        FakeState {
            calls: Vec::new(),
            containers: BTreeMap::new(),
            networks: BTreeMap::new(),
            attached: BTreeMap::new(),
            next_id: 0,
            fail_on: None,
            stop_on: None,
            log: Vec::new(),
            log_times_out: false,
            restarts: BTreeMap::new(),
            health_reports: BTreeMap::new(),
            unreachable: None,
            facts: EngineFacts {
                version: "20.10.24".into(),
                api: "1.41".into(),
                speaks: "1.41".into(),
                root_dir: "/var/lib/docker".into(),
                memory: 24 << 30,
                cpus: 2,
            },
            foreign_networks: Vec::new(),
            bridges: BTreeMap::new(),
            missing_images: BTreeSet::new(),
            exec_outputs: BTreeMap::new(),
            executed: Vec::new(),
            fed: Vec::new(),
            probe_output: (0, String::new()),
            exposures: BTreeMap::new(),
            session_output: Vec::new(),
            session_code: 0,
            typed: Arc::default(),
            files: BTreeMap::new(),
        }
    }
}

impl FakeEngine {
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What was typed into interactive sessions, as text.
    pub fn typed(&self) -> String {
        let typed = self.lock().typed.clone();
        let bytes = typed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn record(&self, call: String) -> Result<()> {
        let mut s = self.lock();
        if s.fail_on.as_deref() == Some(call.as_str()) {
            s.fail_on = None;
            bail!("failed to {call}: injected failure");
        }
        if s.stop_on.as_ref().is_some_and(|(c, _)| *c == call) {
            if let Some((_, stop)) = s.stop_on.take() {
                stop.request();
            }
        }
        s.calls.push(call);
        Ok(())
    }
}

fn in_scope(labels_: &BTreeMap<String, String>, scope: Scope<'_>) -> bool {
    match scope {
        Scope::All => labels_.contains_key(labels::LAB),
        Scope::Lab(lab) => labels_.get(labels::LAB).map(String::as_str) == Some(lab),
    }
}

impl Engine for FakeEngine {
    async fn containers(&self, scope: Scope<'_>) -> Result<Vec<ObservedContainer>> {
        Ok(self
            .lock()
            .containers
            .values()
            .filter(|c| in_scope(&c.labels, scope))
            .cloned()
            .collect())
    }

    async fn networks(&self, scope: Scope<'_>) -> Result<Vec<ObservedNetwork>> {
        Ok(self
            .lock()
            .networks
            .values()
            .filter(|n| in_scope(&n.labels, scope))
            .cloned()
            .collect())
    }

    async fn volumes(&self, _scope: Scope<'_>) -> Result<Vec<ObservedVolume>> {
        Ok(Vec::new())
    }

    async fn all_networks(&self) -> Result<Vec<EngineNetwork>> {
        let s = self.lock();
        let own = s.networks.values().map(|n| EngineNetwork {
            name: n.name.clone(),
            subnets: n.subnets.iter().map(ToString::to_string).collect(),
            labels: n.labels.clone(),
            bridge: s.bridges.get(&n.name).cloned(),
        });
        Ok(own.chain(s.foreign_networks.iter().cloned()).collect())
    }

    async fn describe(&self) -> Result<EngineFacts> {
        self.record("describe".into())?;
        Ok(self.lock().facts.clone())
    }

    async fn image_size(&self, reference: &str) -> Result<Option<i64>> {
        self.record(format!("inspect image {reference}"))?;
        Ok((!self.lock().missing_images.contains(reference)).then_some(IMAGE_SIZE))
    }

    async fn pull(&self, reference: &str) -> Result<()> {
        self.record(format!("pull {reference}"))?;
        self.lock().missing_images.remove(reference);
        Ok(())
    }

    async fn build(
        &self,
        reference: &str,
        dockerfile: &str,
        _context: Vec<u8>,
        mut log: impl FnMut(&str),
    ) -> Result<()> {
        self.record(format!("build {reference} from {dockerfile}"))?;
        log("Step 1/1 : FROM debian:bookworm-slim");
        self.lock().missing_images.remove(reference);
        Ok(())
    }

    async fn save_images(
        &self,
        references: &[String],
        out: &mut impl std::io::Write,
        mut progress: impl FnMut(u64),
    ) -> Result<u64> {
        self.record(format!("save {}", references.join(" ")))?;
        let archive = format!("{ARCHIVE_HEADER}\n{}\n", references.join("\n"));
        out.write_all(archive.as_bytes())?;
        progress(archive.len() as u64);
        Ok(archive.len() as u64)
    }

    async fn load_images(&self, file: &Path) -> Result<Vec<String>> {
        self.record(format!("load {}", file.display()))?;
        let text = std::fs::read_to_string(file)?;
        let mut lines = text.lines();
        if lines.next() != Some(ARCHIVE_HEADER) {
            bail!("failed to load {}: not an archive", file.display());
        }
        let loaded: Vec<String> = lines.map(String::from).collect();
        let mut s = self.lock();
        for r in &loaded {
            s.missing_images.remove(r);
        }
        Ok(loaded)
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<Created> {
        self.record(format!("create network {}", spec.name))?;
        let mut s = self.lock();
        if s.networks.contains_key(&spec.name) {
            return Ok(Created::Existed);
        }
        s.next_id += 1;
        let id = format!("n{}", s.next_id);
        s.networks.insert(
            spec.name.clone(),
            ObservedNetwork {
                id,
                name: spec.name.clone(),
                labels: spec.labels.clone(),
                subnets: vec![spec.subnet],
            },
        );
        s.bridges.insert(spec.name.clone(), spec.bridge.clone());
        Ok(Created::New)
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        self.record(format!("remove network {name}"))?;
        let mut s = self.lock();
        if s.attached
            .values()
            .any(|nets| nets.iter().any(|n| n == name))
        {
            bail!("failed to remove network {name}: it has active endpoints");
        }
        s.networks.remove(name);
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        self.record(format!("remove volume {name}"))
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<Created> {
        self.record(format!("create container {}", spec.name))?;
        let mut s = self.lock();
        if s.containers.contains_key(&spec.name) {
            return Ok(Created::Existed);
        }
        if !s.networks.contains_key(&spec.mgmt.network) {
            bail!(
                "failed to create container {}: network {} not found",
                spec.name,
                spec.mgmt.network
            );
        }
        s.next_id += 1;
        let id = format!("c{}", s.next_id);
        let created = s.next_id as i64;
        s.containers.insert(
            spec.name.clone(),
            ObservedContainer {
                id,
                name: spec.name.clone(),
                labels: spec.labels.clone(),
                state: "created".into(),
                status: "Created".into(),
                created,
            },
        );
        s.attached
            .insert(spec.name.clone(), vec![spec.mgmt.network.clone()]);
        Ok(Created::New)
    }

    async fn connect(&self, container: &str, a: &Attachment) -> Result<()> {
        self.record(format!("connect {container} {}", a.network))?;
        let mut s = self.lock();
        if !s.networks.contains_key(&a.network) {
            bail!(
                "failed to connect {container}: network {} not found",
                a.network
            );
        }
        s.attached
            .entry(container.to_string())
            .or_default()
            .push(a.network.clone());
        Ok(())
    }

    async fn upload(&self, container: &str, files: &BTreeMap<String, FileSpec>) -> Result<()> {
        self.record(format!("upload {container} {}", files.len()))?;
        let mut s = self.lock();
        let held = s.files.entry(container.to_string()).or_default();
        for (path, f) in files {
            held.insert(path.clone(), (f.mode, f.content.as_bytes().to_vec()));
        }
        Ok(())
    }

    async fn put_files(
        &self,
        container: &str,
        files: &BTreeMap<String, (u32, Vec<u8>)>,
    ) -> Result<()> {
        self.record(format!("put files {container} {}", files.len()))?;
        let mut s = self.lock();
        s.files
            .entry(container.to_string())
            .or_default()
            .extend(files.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }

    async fn download(&self, container: &str, path: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        self.record(format!("download {container} {path}"))?;
        let s = self.lock();
        if !s.containers.contains_key(container) {
            bail!("failed to copy {path} out of {container}: no such container");
        }
        let base = path.trim_end_matches('/');
        // Entries are named from the path's last component, as Docker's are.
        let parent = base.rsplit_once('/').map_or("", |(p, _)| p);
        let mut builder = tar::Builder::new(Vec::new());
        let mut any = false;
        for (p, (mode, content)) in s.files.get(container).into_iter().flatten() {
            if p == base || p.starts_with(&format!("{base}/")) {
                any = true;
                let mut h = tar::Header::new_gnu();
                h.set_size(content.len() as u64);
                h.set_mode(*mode);
                h.set_cksum();
                builder.append_data(&mut h, &p[parent.len() + 1..], content.as_slice())?;
            }
        }
        let out = builder.into_inner()?;
        if out.len() as u64 > limit {
            bail!("{path} in {container} is more than {limit} bytes");
        }
        Ok(any.then_some(out))
    }

    async fn start(&self, container: &str) -> Result<()> {
        self.record(format!("start {container}"))?;
        // A real start takes a while: other work goes on meanwhile.
        tokio::task::yield_now().await;
        let mut s = self.lock();
        match s.containers.get_mut(container) {
            Some(c) => {
                c.state = "running".into();
                c.status = "Up 1 second (healthy)".into();
                Ok(())
            }
            None => bail!("failed to start container {container}: no such container"),
        }
    }

    async fn remove_container(&self, name: &str) -> Result<()> {
        self.record(format!("remove container {name}"))?;
        let mut s = self.lock();
        s.containers.remove(name);
        s.attached.remove(name);
        s.files.remove(name);
        Ok(())
    }

    async fn ensure_guard(&self, image: &str, _range: &str) -> Result<()> {
        self.record(format!("ensure guard {image}"))
    }

    async fn remove_guard(&self) -> Result<()> {
        self.record("remove guard".into())
    }

    async fn first_log_line(
        &self,
        container: &str,
        prefixes: &[&str],
        _timeout: std::time::Duration,
    ) -> Result<LogFollow> {
        self.record(format!("follow log {container}"))?;
        let s = self.lock();
        Ok(
            match s
                .log
                .iter()
                .find(|l| prefixes.iter().any(|p| l.starts_with(p)))
            {
                Some(line) => LogFollow::Line(line.clone()),
                None if s.log_times_out => LogFollow::TimedOut,
                None => LogFollow::Ended,
            },
        )
    }

    async fn run_state(&self, container: &str) -> Result<RunState> {
        self.record(format!("state {container}"))?;
        let s = self.lock();
        let c = s
            .containers
            .get(container)
            .ok_or_else(|| anyhow!("failed to inspect container {container}: no such container"))?;
        Ok(RunState {
            status: c.state.clone(),
            restarts: s.restarts.get(container).copied().unwrap_or(0),
            exit_code: 0,
        })
    }

    async fn log_tail(&self, container: &str, lines: usize) -> Result<Vec<String>> {
        self.record(format!("log tail {container}"))?;
        let s = self.lock();
        Ok(s.log[s.log.len().saturating_sub(lines)..].to_vec())
    }

    async fn health_report(&self, container: &str) -> Result<Option<String>> {
        self.record(format!("health_report {container}"))?;
        Ok(self.lock().health_reports.get(container).cloned())
    }

    async fn exec_streaming(
        &self,
        container: &str,
        cmd: &[String],
        mut sink: impl FnMut(bool, &[u8]),
    ) -> Result<i64> {
        self.record(format!(
            "exec {container} {}",
            cmd.first().map(String::as_str).unwrap_or("")
        ))?;
        let out = {
            let mut s = self.lock();
            s.executed.push((container.to_string(), cmd.to_vec()));
            s.exec_outputs.get(container).cloned().unwrap_or_default()
        };
        if !out.stdout.is_empty() {
            sink(false, &out.stdout);
        }
        if !out.stderr.is_empty() {
            sink(true, &out.stderr);
        }
        Ok(out.code)
    }

    /// Reads the input to its end, as a command that reads it all does
    /// (or until it gives nothing for a tenth of a second: an input that
    /// only ends when told), then answers as `exec_streaming`.
    async fn exec_with_input(
        &self,
        container: &str,
        cmd: &[String],
        mut input: impl tokio::io::AsyncRead + Send + Unpin,
        sink: impl FnMut(bool, &[u8]),
    ) -> Result<i64> {
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(read) = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            tokio::io::AsyncReadExt::read(&mut input, &mut chunk),
        )
        .await
        {
            match read? {
                0 => break,
                n => bytes.extend_from_slice(&chunk[..n]),
            }
        }
        self.lock().fed.push((container.to_string(), bytes));
        self.exec_streaming(container, cmd, sink).await
    }

    async fn exec_interactive(
        &self,
        container: &str,
        cmd: &[String],
        (cols, rows): (u16, u16),
    ) -> Result<Interactive> {
        self.record(format!(
            "exec_interactive {container} {} {cols}x{rows}",
            cmd.join(" ")
        ))?;
        let s = self.lock();
        let (ended, end) = tokio::sync::oneshot::channel();
        let printed = s
            .session_output
            .iter()
            .map(|chunk| Ok(Bytes::from(chunk.clone())))
            .collect::<Vec<_>>();
        // As a shell does, the session ends once its input has.
        let until_input_ends =
            futures_util::stream::once(end).filter_map(|_| async { None::<Result<Bytes>> });
        Ok(Interactive {
            exec_id: format!("session-{container}"),
            output: Box::pin(futures_util::stream::iter(printed).chain(until_input_ends)),
            input: Box::pin(Keyboard {
                typed: s.typed.clone(),
                ended: Some(ended),
            }),
        })
    }

    async fn exec_interactive_as(
        &self,
        container: &str,
        user: &str,
        cmd: &[String],
        size: (u16, u16),
    ) -> Result<Interactive> {
        self.exec_interactive(&format!("{user}@{container}"), cmd, size)
            .await
    }

    async fn resize(&self, exec_id: &str, (cols, rows): (u16, u16)) -> Result<()> {
        self.record(format!("resize {exec_id} {cols}x{rows}"))
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Result<i64> {
        self.record(format!("exit code {exec_id}"))?;
        Ok(self.lock().session_code)
    }

    async fn probe(
        &self,
        image: &str,
        capabilities: &[String],
        sysctls: &BTreeMap<String, String>,
        _cmd: &[&str],
    ) -> Result<(i64, String)> {
        self.record(format!(
            "probe {image} caps={} sysctls={}",
            capabilities.join(","),
            sysctls.len()
        ))?;
        Ok(self.lock().probe_output.clone())
    }

    async fn exposure(&self, container: &str) -> Result<Exposure> {
        self.record(format!("exposure {container}"))?;
        let s = self.lock();
        if !s.containers.contains_key(container) {
            return Err(anyhow!(
                "failed to inspect container {container}: no such container"
            ));
        }
        Ok(s.exposures
            .get(container)
            .cloned()
            .unwrap_or_else(|| Exposure {
                container: container.to_string(),
                privileged: false,
                capabilities_added: Vec::new(),
                capabilities_dropped: Vec::new(),
                network_mode: "lab-mgmt".into(),
                pid_mode: "private".into(),
                memory_limit: 256 << 20,
                pids_limit: 512,
                mounts: Vec::new(),
                read_only: vec![NOGLAB_DIR.to_string()],
                published: Vec::new(),
                docker_socket: false,
                dns: crate::plan::DNS.iter().map(|d| d.to_string()).collect(),
                logins_sys_admin: None,
            }))
    }
}

/// The fake is its own connector; with `unreachable` set, connecting fails.
impl Connector for FakeEngine {
    type Engine = FakeEngine;

    async fn engine(&self) -> Result<&FakeEngine> {
        match self.lock().unreachable.clone() {
            Some(why) => Err(anyhow!("{why}")),
            None => Ok(self),
        }
    }
}

/// An interactive session's input: keeps what is typed, and ends the
/// session when it is shut.
struct Keyboard {
    typed: Arc<Mutex<Vec<u8>>>,
    ended: Option<tokio::sync::oneshot::Sender<()>>,
}

impl tokio::io::AsyncWrite for Keyboard {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.typed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if let Some(ended) = self.ended.take() {
            let _ = ended.send(());
        }
        Poll::Ready(Ok(()))
    }
}
