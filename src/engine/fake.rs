//! An in-memory engine that records every call, for testing the reconciler
//! without Docker. It keeps just enough state to answer lists the way the
//! real engine would.

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::{bail, Result};
use ipnet::Ipv4Net;

use super::{
    Created, Engine, ExecOutput, LogFollow, ObservedContainer, ObservedNetwork, ObservedVolume,
    Scope,
};
use crate::plan::{labels, Attachment, ContainerSpec, FileSpec, NetworkSpec};

#[derive(Debug, Default)]
pub struct FakeEngine {
    pub state: Mutex<FakeState>,
}

#[derive(Debug, Default)]
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
    /// Container name -> what its last failed health probe printed.
    pub health_reports: BTreeMap<String, String>,
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

    async fn used_subnets(&self) -> Result<Vec<Ipv4Net>> {
        Ok(self
            .lock()
            .networks
            .values()
            .flat_map(|n| n.subnets.clone())
            .collect())
    }

    async fn image_exists(&self, _reference: &str) -> Result<bool> {
        Ok(true)
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
        self.record(format!("upload {container} {}", files.len()))
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

    async fn health_report(&self, container: &str) -> Result<Option<String>> {
        self.record(format!("health_report {container}"))?;
        Ok(self.lock().health_reports.get(container).cloned())
    }

    async fn exec(&self, container: &str, cmd: &[String]) -> Result<ExecOutput> {
        self.record(format!(
            "exec {container} {}",
            cmd.first().map(String::as_str).unwrap_or("")
        ))?;
        Ok(ExecOutput::default())
    }
}
