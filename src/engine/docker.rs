//! The Docker engine through bollard: the only file that imports it.
//!
//! Speaks whatever API version the engine offers (>= 1.41, Docker 20.10),
//! turns 404 and 409 into typed outcomes, and names the resource in every
//! failure: "failed to create network bgp-p03-l1: ...".

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointIpamConfig, EndpointSettings,
    HealthConfig, HostConfig, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    DownloadFromContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;
use ipnet::Ipv4Net;
use tokio::io::{AsyncRead, AsyncWriteExt};

use super::config::{EngineEntry, Tls};
use super::spread::Spread;
use super::{
    disk_full, Connector, Created, Engine, EngineFacts, EngineNetwork, Exposure, Interactive,
    LogFollow, ObservedContainer, ObservedNetwork, ObservedVolume, RunState, Scope, GUARD_LABEL,
    GUARD_NAME,
};
use crate::plan::{labels, Attachment, ContainerSpec, FileSpec, NetworkSpec};

/// The network option that names a bridge network's Linux bridge.
const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

/// The oldest engine API noglab supports (Docker 20.10).
const MIN_API: (u32, u32) = (1, 41);

/// The paths the engine makes read-only in every unprivileged container
/// (moby's `oci.DefaultSpec`; what `docker inspect` shows on Docker 20.10):
/// a container created with its own `ReadonlyPaths` gets only those, so
/// noglab's list starts with these.
const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// How often Docker runs a node's readiness probe for `status`. Each run is
/// an exec (dockerd, containerd, a shim and runc, then the probe itself,
/// vtysh on FRR): every 15 s, 120 nodes cost a good part of a 2-core
/// machine all day, and `up` of 30 pods of 4 nodes took 93-102 s against
/// 69-78 s with no probes at all, alternated on one machine. `up` and
/// `reset` wait for readiness themselves and `status` says what they saw
/// until the first probe (see `commands::status`).
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(60);

/// How long one probe may take: FRR's probe runs frr-reload.py when a
/// daemon restarted, which takes seconds on a loaded machine (the probe
/// itself gives up after 25 s and says why).
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

/// Failed probes in a row before Docker calls a node unhealthy: a broken
/// node shows within about two minutes.
const HEALTH_RETRIES: i64 = 2;

#[derive(Clone)]
pub struct DockerEngine {
    docker: Docker,
}

/// The engine `main` hands to commands: the one of the engines file when
/// one is named, else the one the docker CLI would use; connected when a
/// command first asks for it, and once.
#[derive(Default)]
pub struct DockerConnector {
    engine: tokio::sync::OnceCell<Spread>,
    /// The engines file (`--engines`, `NOGLAB_ENGINES`), read when a
    /// command first asks for an engine.
    file: Option<std::path::PathBuf>,
}

impl DockerConnector {
    pub fn new(file: Option<std::path::PathBuf>) -> Self {
        DockerConnector {
            engine: Default::default(),
            file: file.filter(|f| !f.as_os_str().is_empty()),
        }
    }
}

impl Connector for DockerConnector {
    type Engine = Spread;

    async fn engine(&self) -> Result<&Spread> {
        self.engine
            .get_or_try_init(|| async {
                if let Some(engines) = super::config::from_flag(self.file.as_deref())? {
                    return Spread::connect(engines).await;
                }
                let chosen = super::host::from_env().map_err(crate::diag::input_error)?;
                let engine = DockerEngine::connect_to(&chosen.endpoint, None, &chosen.from).await?;
                let entry = EngineEntry {
                    name: super::config::LOCAL.to_string(),
                    endpoint: chosen.endpoint,
                    tls: None,
                    address: None,
                    share: super::config::Share::Weight(1),
                    parents: Vec::new(),
                };
                Ok(Spread::single(engine, entry))
            })
            .await
    }
}

fn status(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The engine's message without bollard's "Docker responded with status code" prefix.
fn reason(e: &BollardError) -> String {
    match e {
        BollardError::DockerResponseServerError { message, .. } => message.trim().to_string(),
        other => other.to_string(),
    }
}

fn fail(what: String, e: BollardError) -> anyhow::Error {
    anyhow!("failed to {what}: {}", reason(&e))
}

fn map_labels(l: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    l.unwrap_or_default().into_iter().collect()
}

fn label_filter(scope: Scope<'_>) -> HashMap<String, Vec<String>> {
    let value = match scope {
        Scope::Lab(lab) => format!("{}={lab}", labels::LAB),
        Scope::All => labels::LAB.to_string(),
    };
    HashMap::from([("label".to_string(), vec![value])])
}
impl DockerEngine {
    /// Whether a network of this name exists, or appears within seconds:
    /// Docker reserves a network's address pool before the network shows
    /// under its name, so a create still in flight refuses ours (403,
    /// "Pool overlaps") a moment before it can be seen.
    async fn network_appears(&self, name: &str) -> bool {
        for _ in 0..40 {
            if self.docker.inspect_network(name, None).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        false
    }

    /// Connects as the docker CLI would (`DOCKER_HOST`, the docker context,
    /// or the local socket; see `host`) and agrees on an API version the
    /// engine speaks.
    pub async fn connect() -> Result<DockerEngine> {
        let chosen = super::host::from_env().map_err(crate::diag::input_error)?;
        Self::connect_to(&chosen.endpoint, None, &chosen.from).await
    }

    /// Connects to one engine of an engines file.
    pub async fn connect_entry(entry: &EngineEntry) -> Result<DockerEngine> {
        Self::connect_to(
            &entry.endpoint,
            entry.tls.as_ref(),
            &format!("engine {}", entry.name),
        )
        .await
    }

    /// Connects to `endpoint` (over TLS with `tls`'s files) and agrees on
    /// an API version; `from` says where the endpoint was chosen.
    pub(crate) async fn connect_to(
        endpoint: &super::host::Endpoint,
        tls: Option<&Tls>,
        from: &str,
    ) -> Result<DockerEngine> {
        let host = endpoint.to_string();
        let docker = match (endpoint, tls) {
            (super::host::Endpoint::Unix(path), _) => Docker::connect_with_unix(
                &path.to_string_lossy(),
                300,
                bollard::API_DEFAULT_VERSION,
            ),
            (super::host::Endpoint::Tcp { .. }, None) => {
                Docker::connect_with_http(&host, 300, bollard::API_DEFAULT_VERSION)
            }
            (super::host::Endpoint::Tcp { .. }, Some(tls)) => Docker::connect_with_ssl(
                &host,
                &tls.key,
                &tls.cert,
                &tls.ca,
                300,
                bollard::API_DEFAULT_VERSION,
            ),
        }
        .map_err(|e| {
            anyhow!(
                "cannot reach the Docker engine at {host} (from {from}): {e}; is dockerd running? (scripts/setup-engine.sh installs and starts it)"
            )
        })?
        .with_timeout(Duration::from_secs(300));
        let docker = docker.negotiate_version().await.map_err(|e| {
            anyhow!(
                "cannot reach the Docker engine at {host} (from {from}): {}; is dockerd running? (scripts/setup-engine.sh installs and starts it)",
                reason(&e)
            )
        })?;
        let v = docker.client_version();
        let (major, minor): (u32, u32) = (
            v.major_version.try_into().unwrap_or(0),
            v.minor_version.try_into().unwrap_or(0),
        );
        if (major, minor) < MIN_API {
            bail!(
                "the Docker engine at {host} speaks API {major}.{minor}; noglab needs {}.{} (Docker 20.10) or newer",
                MIN_API.0,
                MIN_API.1
            );
        }
        Ok(DockerEngine { docker })
    }

    /// Creates a lab-wide network that spans engines: Docker's macvlan
    /// over `parent`, the interface joining this engine's host to the
    /// others' at layer 2, with the planned subnet (the same on every
    /// engine; the plan gives each container its own address). Addresses
    /// set inside the containers, IPv6 and multicast cross it, which
    /// Docker's overlay networks do not carry.
    pub async fn create_macvlan(&self, spec: &NetworkSpec, parent: &str) -> Result<Created> {
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("macvlan".into()),
            internal: Some(false),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(spec.subnet.to_string()),
                    gateway: Some(spec.gateway.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            options: Some(HashMap::from([
                ("parent".into(), parent.to_string()),
                ("macvlan_mode".into(), "bridge".into()),
            ])),
            labels: Some(spec.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(Created::New),
            Err(e) if status(&e) == Some(409) => Ok(Created::Existed),
            Err(e) if status(&e) == Some(403) && self.network_appears(&spec.name).await => {
                Ok(Created::Existed)
            }
            Err(e) => Err(fail(
                format!("create network {} over {parent}", spec.name),
                e,
            )),
        }
    }

    /// Starts `doctor`'s layer-2 probe on this engine: a macvlan network
    /// `name` over `parent` with `subnet`, and a container `name` of
    /// `image` on it at `address` (sleeping; the checks run by exec).
    /// Both carry the `noglab.doctor` label; [`Self::layer2_probe_stop`]
    /// removes them.
    pub async fn layer2_probe_start(
        &self,
        name: &str,
        image: &str,
        parent: &str,
        subnet: Ipv4Net,
        address: std::net::Ipv4Addr,
    ) -> Result<()> {
        let label = HashMap::from([("noglab.doctor".to_string(), "1".to_string())]);
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("macvlan".into()),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            options: Some(HashMap::from([
                ("parent".into(), parent.to_string()),
                ("macvlan_mode".into(), "bridge".into()),
            ])),
            labels: Some(label.clone()),
            ..Default::default()
        };
        self.docker
            .create_network(request)
            .await
            .map_err(|e| fail(format!("create the probe network {name} over {parent}"), e))?;
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec!["sleep".into(), "600".into()]),
            cmd: Some(Vec::new()),
            labels: Some(label),
            host_config: Some(HostConfig {
                cap_add: Some(vec!["NET_RAW".into()]),
                sysctls: Some(HashMap::from([(
                    "net.ipv6.conf.all.disable_ipv6".to_string(),
                    "0".to_string(),
                )])),
                network_mode: Some(name.to_string()),
                memory: Some(32 << 20),
                pids_limit: Some(32),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    name.to_string(),
                    EndpointSettings {
                        ipam_config: Some(EndpointIpamConfig {
                            ipv4_address: Some(address.to_string()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| fail(format!("create the probe container {name}"), e))?;
        Engine::start(self, name).await
    }

    /// Removes what [`Self::layer2_probe_start`] made (what is there).
    pub async fn layer2_probe_stop(&self, name: &str) -> Result<()> {
        Engine::remove_container(self, name).await?;
        Engine::remove_network(self, name).await
    }

    /// The API version agreed on with the engine.
    fn api_version(&self) -> String {
        let v = self.docker.client_version();
        format!("{}.{}", v.major_version, v.minor_version)
    }

    /// Builds an image from a tar context; `log` gets each line of output.
    /// (`Engine::build`; callable on a `DockerEngine` without the trait.)
    pub async fn build(
        &self,
        reference: &str,
        dockerfile: &str,
        context: Vec<u8>,
        mut log: impl FnMut(&str),
    ) -> Result<()> {
        let options = BuildImageOptionsBuilder::default()
            .dockerfile(dockerfile)
            .t(reference)
            .rm(true)
            .forcerm(true)
            .build();
        let docker = self.docker.clone().with_timeout(Duration::from_secs(3600));
        let mut stream = docker.build_image(
            options,
            None,
            Some(bollard::body_full(Bytes::from(context))),
        );
        let mut output = BuildOutput::default();
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(e) => {
                    output.finish(&mut log);
                    return Err(self
                        .build_failure(reference, &reason(&e), &output.step)
                        .await);
                }
            };
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                output.finish(&mut log);
                return Err(self.build_failure(reference, &err, &output.step).await);
            }
            if let Some(text) = info.stream {
                output.push(&text, &mut log);
            }
        }
        output.finish(&mut log);
        Ok(())
    }

    /// The error of a failed build: the engine's message, or, when the
    /// disk ran full, that and what to do.
    async fn build_failure(
        &self,
        reference: &str,
        message: &str,
        step: &[String],
    ) -> anyhow::Error {
        let Some(evidence) = disk_full(message, step) else {
            return anyhow!("failed to build image {reference}: {message}");
        };
        anyhow!(
            "failed to build image {reference}: {}",
            disk_full_advice(&evidence, self.data_root().await.as_deref())
        )
    }

    /// Where the engine keeps images and containers, when it says.
    async fn data_root(&self) -> Option<String> {
        self.docker
            .info()
            .await
            .ok()
            .and_then(|i| i.docker_root_dir)
            .filter(|d| !d.is_empty())
    }

    /// Image size in bytes, or None when the engine does not have it.
    /// (`Engine::image_size`; callable on a `DockerEngine` without the trait.)
    pub async fn image_size(&self, reference: &str) -> Result<Option<i64>> {
        match self.docker.inspect_image(reference).await {
            Ok(i) => Ok(Some(i.size.unwrap_or(0))),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(fail(format!("inspect image {reference}"), e)),
        }
    }

    async fn run_probe(&self, name: &str) -> Result<(i64, String)> {
        self.start(name).await?;
        let mut wait = self.docker.wait_container(
            name,
            None::<bollard::query_parameters::WaitContainerOptions>,
        );
        let mut code = 0;
        while let Some(item) = wait.next().await {
            match item {
                Ok(r) => code = r.status_code,
                // A non-zero exit comes back as an error carrying the code.
                Err(BollardError::DockerContainerWaitError { code: c, .. }) => code = c,
                Err(e) => return Err(fail(format!("wait for {name}"), e)),
            }
        }
        let options = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = self.docker.logs(name, Some(options));
        let mut text = String::new();
        while let Some(item) = logs.next().await {
            let out = item.map_err(|e| fail(format!("read the output of {name}"), e))?;
            text.push_str(&String::from_utf8_lossy(&out.into_bytes()));
        }
        Ok((code, text))
    }

    /// What the engine knows of a container.
    /// Runs a command without a terminal, its standard input fed from
    /// `input` when there is one, its output to `sink` as it comes (the
    /// engine's multiplexed stream keeps bytes as they are). Feeding stops
    /// when the command ends, whether or not `input` has.
    async fn run_exec(
        &self,
        container: &str,
        cmd: &[String],
        input: Option<impl AsyncRead + Send + Unpin>,
        mut sink: impl FnMut(bool, &[u8]),
    ) -> Result<i64> {
        let what = || format!("run `{}` in {container}", cmd.join(" "));
        let exec = self
            .docker
            .create_exec(
                container,
                bollard::models::ExecConfig {
                    attach_stdin: Some(input.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(cmd.to_vec()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| fail(what(), e))?;
        let started = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| fail(what(), e))?;
        if let bollard::exec::StartExecResults::Attached {
            mut output,
            input: mut stdin,
        } = started
        {
            // Copies the input, then half-closes the connection: the
            // engine closes the command's standard input when it sees the
            // end of the stream. Never completes, so that only the output
            // ends the loop below.
            let feed = async {
                if let Some(mut input) = input {
                    let _ = tokio::io::copy(&mut input, &mut stdin).await;
                    let _ = stdin.shutdown().await;
                }
                std::future::pending::<()>().await
            };
            tokio::pin!(feed);
            loop {
                tokio::select! {
                    item = output.next() => match item {
                        Some(item) => match item.map_err(|e| fail(format!("read output of {container}"), e))? {
                            bollard::container::LogOutput::StdErr { message } => sink(true, &message),
                            other => sink(false, &other.into_bytes()),
                        },
                        None => break,
                    },
                    () = &mut feed => {}
                }
            }
        }
        self.exec_exit_code(&exec.id).await
    }

    async fn inspect(&self, container: &str) -> Result<ContainerInspectResponse> {
        self.docker
            .inspect_container(
                container,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map_err(|e| fail(format!("inspect container {container}"), e))
    }

    /// One try at a running, current guard with its rules applied.
    async fn guard_attempt(&self, image: &str, range: &str) -> Result<()> {
        let wanted = format!("{image} {range}");
        let filters = HashMap::from([("label".to_string(), vec![GUARD_LABEL.to_string()])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| fail("list containers".into(), e))?;
        let current = found.iter().any(|c| {
            c.labels
                .as_ref()
                .and_then(|l| l.get(GUARD_LABEL))
                .map(String::as_str)
                == Some(wanted.as_str())
                && c.state.map(|s| s.to_string()).as_deref() == Some("running")
        });
        if current {
            return Ok(());
        }
        let stale = found.iter().any(|c| {
            c.labels
                .as_ref()
                .and_then(|l| l.get(GUARD_LABEL))
                .map(String::as_str)
                != Some(wanted.as_str())
        });
        if stale {
            self.remove_guard().await?;
        }
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec!["/usr/local/sbin/noglab-guard".into()]),
            cmd: Some(Vec::new()),
            labels: Some(HashMap::from([(GUARD_LABEL.to_string(), wanted.clone())])),
            env: Some(vec![format!("NOGLAB_PLUMBING_RANGE={range}")]),
            host_config: Some(HostConfig {
                // The guard edits the host's firewall: the host's network
                // namespace and NET_ADMIN, nothing more.
                network_mode: Some("host".into()),
                cap_drop: Some(vec!["ALL".into()]),
                cap_add: Some(vec!["NET_ADMIN".into(), "NET_RAW".into()]),
                init: Some(true),
                memory: Some(64 << 20),
                pids_limit: Some(64),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(GUARD_NAME)
            .build();
        match self.docker.create_container(Some(options), body).await {
            Ok(_) => {}
            // Someone else made it a moment ago.
            Err(e) if status(&e) == Some(409) => {}
            Err(e) => return Err(fail(format!("create the host guard {GUARD_NAME}"), e)),
        }
        self.start(GUARD_NAME).await?;
        // Apply once now, so pods never start before the rules exist.
        let once = vec![
            "/usr/local/sbin/noglab-guard".to_string(),
            "--once".to_string(),
        ];
        let out = self.exec(GUARD_NAME, &once).await?;
        if out.code != 0 {
            bail!(
                "failed to install the host guard's firewall rules (exit {}): {}{}",
                out.code,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

/// The cause (in the words everyone searches for) and the fixes.
fn disk_full_advice(evidence: &str, data_root: Option<&str>) -> String {
    let place = match data_root {
        Some(d) => format!("the disk holding Docker's data-root {d}"),
        None => "the disk holding Docker's data-root".to_string(),
    };
    format!(
        "{place} is full (no space left on device: `{evidence}`); free space there, e.g. with `docker system prune` (stopped containers, unused networks, dangling images) or by removing old noglab images (`docker image ls 'noglab/*'`), or point Docker's data-root at a larger disk (`\"data-root\"` in /etc/docker/daemon.json, then restart dockerd), and run the command again"
    )
}

/// A build's output as whole lines, and those of the step being built: a
/// RUN step that fails for a full disk says so only there (the error is
/// its exit code). The engine sends output as it comes, one line split
/// over several messages when the step writes it in pieces.
#[derive(Default)]
struct BuildOutput {
    partial: String,
    step: Vec<String>,
}

impl BuildOutput {
    fn push(&mut self, text: &str, log: &mut impl FnMut(&str)) {
        self.partial.push_str(text);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.line(line.trim_end(), log);
        }
    }

    /// The last line, when the output did not end with one.
    fn finish(&mut self, log: &mut impl FnMut(&str)) {
        let rest = std::mem::take(&mut self.partial);
        self.line(rest.trim_end(), log);
    }

    fn line(&mut self, line: &str, log: &mut impl FnMut(&str)) {
        // The colour codes wrap pieces, not lines: a line may start with
        // the end of the last one's.
        let line = super::strip_colours(line);
        let line = line.as_str();
        if line.trim().is_empty() {
            return;
        }
        if line.starts_with("Step ") {
            self.step.clear();
        }
        if self.step.len() < 500 {
            self.step.push(line.to_string());
        }
        log(line);
    }
}

fn tar_of(files: &BTreeMap<String, FileSpec>) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, file) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.content.len() as u64);
        header.set_mode(file.mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        builder.append_data(
            &mut header,
            path.trim_start_matches('/'),
            file.content.as_bytes(),
        )?;
    }
    builder.into_inner()
}

/// A tar of files put back into a running node: stamped now, since
/// daemons (BIND) read again only files newer than what they loaded.
fn tar_of_bytes(files: &BTreeMap<String, (u32, Vec<u8>)>) -> std::io::Result<Vec<u8>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut builder = tar::Builder::new(Vec::new());
    for (path, (mode, content)) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(now);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        builder.append_data(
            &mut header,
            path.trim_start_matches('/'),
            content.as_slice(),
        )?;
    }
    builder.into_inner()
}

impl Engine for DockerEngine {
    async fn containers(&self, scope: Scope<'_>) -> Result<Vec<ObservedContainer>> {
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&label_filter(scope))
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| fail("list containers".into(), e))?;
        Ok(list
            .into_iter()
            .map(|c| ObservedContainer {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                labels: map_labels(c.labels),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                status: c.status.unwrap_or_default(),
                created: c.created.unwrap_or_default(),
            })
            .collect())
    }

    async fn networks(&self, scope: Scope<'_>) -> Result<Vec<ObservedNetwork>> {
        let options = ListNetworksOptionsBuilder::default()
            .filters(&label_filter(scope))
            .build();
        let list = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| fail("list networks".into(), e))?;
        Ok(list
            .into_iter()
            .map(|n| ObservedNetwork {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_default(),
                subnets: subnets_of(n.ipam.as_ref()),
                labels: map_labels(n.labels),
            })
            .collect())
    }

    async fn volumes(&self, scope: Scope<'_>) -> Result<Vec<ObservedVolume>> {
        let options = ListVolumesOptionsBuilder::default()
            .filters(&label_filter(scope))
            .build();
        let list = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(|e| fail("list volumes".into(), e))?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| ObservedVolume {
                name: v.name,
                labels: v.labels.into_iter().collect(),
            })
            .collect())
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<Created> {
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("bridge".into()),
            // Not `internal`: Docker's internal networks drop routed lab
            // traffic. The host gets no address on the bridge and does no NAT.
            internal: Some(false),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(spec.subnet.to_string()),
                    gateway: Some(spec.gateway.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            options: Some(if spec.host_facing {
                // An access network: the host holds the gateway so it can
                // forward the published port; no NAT, no traffic between
                // containers.
                HashMap::from([
                    (BRIDGE_NAME_OPTION.into(), spec.bridge.clone()),
                    (
                        "com.docker.network.bridge.enable_icc".into(),
                        "false".into(),
                    ),
                    (
                        "com.docker.network.bridge.enable_ip_masquerade".into(),
                        "false".into(),
                    ),
                ])
            } else {
                HashMap::from([
                    (BRIDGE_NAME_OPTION.into(), spec.bridge.clone()),
                    (
                        "com.docker.network.bridge.inhibit_ipv4".into(),
                        "true".into(),
                    ),
                    (
                        "com.docker.network.bridge.enable_ip_masquerade".into(),
                        "false".into(),
                    ),
                ])
            }),
            labels: Some(spec.labels.clone().into_iter().collect()),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(Created::New),
            Err(e) if status(&e) == Some(409) => Ok(Created::Existed),
            // Docker 20.10 (API 1.41) takes a second network of one name
            // and refuses it for its bridge name or its pool (403), not
            // with 409: an interrupted `up`'s create that Docker finished
            // after this `up` looked.
            Err(e) if status(&e) == Some(403) && self.network_appears(&spec.name).await => {
                Ok(Created::Existed)
            }
            Err(e) => Err(fail(format!("create network {}", spec.name), e)),
        }
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(fail(format!("remove network {name}"), e)),
        }
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        let options = RemoveVolumeOptionsBuilder::default().force(true).build();
        match self.docker.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(fail(format!("remove volume {name}"), e)),
        }
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<Created> {
        let ns = |d: Duration| Some(d.as_nanos() as i64);
        let exposed: Vec<String> = spec.ports.iter().map(|(c, _)| format!("{c}/tcp")).collect();
        let bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
            .ports
            .iter()
            .map(|(c, h)| {
                (
                    format!("{c}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some("0.0.0.0".into()),
                        host_port: Some(h.to_string()),
                    }]),
                )
            })
            .collect();
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            hostname: Some(spec.hostname.clone()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            healthcheck: Some(HealthConfig {
                test: Some(vec!["CMD".into(), "/usr/local/sbin/noglab-health".into()]),
                interval: ns(HEALTH_INTERVAL),
                timeout: ns(HEALTH_TIMEOUT),
                retries: Some(HEALTH_RETRIES),
                start_period: ns(Duration::from_secs(60)),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                cap_add: Some(spec.capabilities.clone()),
                sysctls: Some(spec.sysctls.clone().into_iter().collect()),
                init: Some(true),
                memory: Some(spec.memory),
                pids_limit: Some(spec.pids),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                network_mode: Some(spec.mgmt.network.clone()),
                port_bindings: (!bindings.is_empty()).then_some(bindings),
                // Setting these replaces the engine's own list: keep it.
                readonly_paths: (!spec.read_only.is_empty()).then(|| {
                    DEFAULT_READONLY_PATHS
                        .iter()
                        .map(|p| p.to_string())
                        .chain(spec.read_only.iter().cloned())
                        .collect()
                }),
                // No search domain either: the host's would show inside.
                dns: (!spec.dns.is_empty()).then(|| spec.dns.clone()),
                dns_search: (!spec.dns.is_empty()).then(|| vec![".".to_string()]),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    spec.mgmt.network.clone(),
                    endpoint(&spec.mgmt, vec![spec.node.clone()]),
                )])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        match self.docker.create_container(Some(options), body).await {
            Ok(_) => Ok(Created::New),
            Err(e) if status(&e) == Some(409) => Ok(Created::Existed),
            Err(e) if status(&e) == Some(404) => Err(anyhow!(
                "failed to create container {}: image {} is missing; run `noglab images build`",
                spec.name,
                spec.image
            )),
            Err(e) => Err(fail(format!("create container {}", spec.name), e)),
        }
    }

    async fn connect(&self, container: &str, a: &Attachment) -> Result<()> {
        let request = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(endpoint(a, Vec::new())),
        };
        self.docker
            .connect_network(&a.network, request)
            .await
            .map_err(|e| fail(format!("connect {container} to network {}", a.network), e))
    }

    async fn upload(&self, container: &str, files: &BTreeMap<String, FileSpec>) -> Result<()> {
        let tar = tar_of(files).with_context(|| format!("failed to pack files for {container}"))?;
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        self.docker
            .upload_to_container(
                container,
                Some(options),
                bollard::body_full(Bytes::from(tar)),
            )
            .await
            .map_err(|e| fail(format!("copy files into {container}"), e))
    }

    async fn put_files(
        &self,
        container: &str,
        files: &BTreeMap<String, (u32, Vec<u8>)>,
    ) -> Result<()> {
        let tar =
            tar_of_bytes(files).with_context(|| format!("failed to pack files for {container}"))?;
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        self.docker
            .upload_to_container(
                container,
                Some(options),
                bollard::body_full(Bytes::from(tar)),
            )
            .await
            .map_err(|e| fail(format!("copy files into {container}"), e))
    }

    async fn download(&self, container: &str, path: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self
            .docker
            .download_from_container(container, Some(options));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    out.extend_from_slice(&bytes);
                    if out.len() as u64 > limit {
                        bail!("{path} in {container} is more than {limit} bytes");
                    }
                }
                Err(e) if status(&e) == Some(404) => return Ok(None),
                Err(e) => return Err(fail(format!("copy {path} out of {container}"), e)),
            }
        }
        Ok(Some(out))
    }

    async fn start(&self, container: &str) -> Result<()> {
        match self
            .docker
            .start_container(
                container,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(304) => Ok(()),
            Err(e) => Err(fail(format!("start container {container}"), e)),
        }
    }

    async fn remove_container(&self, name: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(fail(format!("remove container {name}"), e)),
        }
    }

    async fn ensure_guard(&self, image: &str, range: &str) -> Result<()> {
        // Other noglab commands may create or remove the guard at the same
        // moment (a `down` of the last lab, another lab's `up`): try again.
        let mut last = None;
        for _ in 0..5 {
            match self.guard_attempt(image, range).await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        Err(last.unwrap_or_else(|| anyhow!("failed to start the host guard")))
    }

    async fn remove_guard(&self) -> Result<()> {
        self.remove_container(GUARD_NAME).await
    }

    async fn first_log_line(
        &self,
        container: &str,
        prefixes: &[&str],
        timeout: Duration,
    ) -> Result<LogFollow> {
        let options = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .tail("all")
            .build();
        let mut stream = self.docker.logs(container, Some(options));
        let find = async {
            // A frame is a line in practice; a partial one waits for the rest.
            let mut pending = Vec::new();
            while let Some(item) = stream.next().await {
                let item = item.map_err(|e| fail(format!("read the log of {container}"), e))?;
                pending.extend_from_slice(&item.into_bytes());
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&line);
                    if prefixes.iter().any(|p| line.starts_with(p)) {
                        return Ok(LogFollow::Line(line.into_owned()));
                    }
                }
            }
            Ok(LogFollow::Ended)
        };
        tokio::time::timeout(timeout, find)
            .await
            .unwrap_or(Ok(LogFollow::TimedOut))
    }

    async fn run_state(&self, container: &str) -> Result<RunState> {
        let state = self.inspect(container).await?;
        let restarts = state.restart_count.unwrap_or(0);
        let state = state.state.unwrap_or_default();
        Ok(RunState {
            status: state
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".into()),
            restarts,
            exit_code: state.exit_code.unwrap_or(0),
        })
    }

    async fn log_tail(&self, container: &str, lines: usize) -> Result<Vec<String>> {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.docker.logs(container, Some(options));
        let mut text = Vec::new();
        while let Some(item) = stream.next().await {
            let item = item.map_err(|e| fail(format!("read the log of {container}"), e))?;
            text.extend_from_slice(&item.into_bytes());
        }
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .map(String::from)
            .collect())
    }

    async fn health_report(&self, container: &str) -> Result<Option<String>> {
        let info = self.inspect(container).await?;
        let last = info
            .state
            .and_then(|s| s.health)
            .and_then(|h| h.log)
            .and_then(|log| log.into_iter().last());
        Ok(last
            .filter(|l| l.exit_code.is_some_and(|c| c != 0))
            .map(|l| l.output.unwrap_or_default().trim().to_string()))
    }

    async fn all_networks(&self) -> Result<Vec<EngineNetwork>> {
        let list = self
            .docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(|e| fail("list networks".into(), e))?;
        Ok(list
            .into_iter()
            .map(|n| EngineNetwork {
                bridge: n
                    .options
                    .as_ref()
                    .and_then(|o| o.get(BRIDGE_NAME_OPTION))
                    .cloned(),
                labels: n.labels.clone().unwrap_or_default().into_iter().collect(),
                subnets: n
                    .ipam
                    .and_then(|i| i.config)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|c| c.subnet)
                    .collect(),
                name: n.name.unwrap_or_default(),
            })
            .collect())
    }

    /// The engine's version and the host facts `doctor` checks.
    async fn describe(&self) -> Result<EngineFacts> {
        let version = self
            .docker
            .version()
            .await
            .map_err(|e| fail("ask the engine for its version".into(), e))?;
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| fail("ask the engine for its facts".into(), e))?;
        Ok(EngineFacts {
            version: version.version.unwrap_or_default(),
            api: version.api_version.unwrap_or_default(),
            speaks: self.api_version(),
            root_dir: info.docker_root_dir.unwrap_or_default(),
            memory: info.mem_total.unwrap_or(0),
            cpus: info.ncpu.unwrap_or(0),
        })
    }

    async fn image_size(&self, reference: &str) -> Result<Option<i64>> {
        DockerEngine::image_size(self, reference).await
    }

    /// Pulls an image; the caller falls back to building it when this fails.
    async fn pull(&self, reference: &str) -> Result<()> {
        let (image, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .tag(tag)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| fail(format!("pull {reference}"), e))?;
        }
        Ok(())
    }

    async fn build(
        &self,
        reference: &str,
        dockerfile: &str,
        context: Vec<u8>,
        log: impl FnMut(&str),
    ) -> Result<()> {
        DockerEngine::build(self, reference, dockerfile, context, log).await
    }

    /// Writes the images to `out` as one `docker save` archive (layers that
    /// images share are stored once); `progress` gets the bytes so far.
    async fn save_images(
        &self,
        references: &[String],
        out: &mut impl std::io::Write,
        mut progress: impl FnMut(u64),
    ) -> Result<u64> {
        let names: Vec<&str> = references.iter().map(String::as_str).collect();
        let docker = self.docker.clone().with_timeout(Duration::from_secs(3600));
        let mut stream = docker.export_images(&names);
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| fail(format!("save {}", references.join(", ")), e))?;
            out.write_all(&chunk)
                .context("failed to write the bundle")?;
            written += chunk.len() as u64;
            progress(written);
        }
        Ok(written)
    }

    /// Loads a `docker save` archive, plain or compressed (the engine
    /// detects gzip, bzip2 and xz); returns the references it loaded.
    async fn load_images(&self, file: &Path) -> Result<Vec<String>> {
        let handle = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("failed to open {}", file.display()))?;
        let chunks = futures_util::stream::unfold(handle, |mut f| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 1 << 20];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), f))
                }
                Err(e) => Some((Err(e), f)),
            }
        });
        let options = bollard::query_parameters::ImportImageOptionsBuilder::default()
            .quiet(true)
            .build();
        let docker = self.docker.clone().with_timeout(Duration::from_secs(3600));
        let mut stream = docker.import_image_stream(options, chunks, None);
        let mut loaded = Vec::new();
        let what = format!("load {}", file.display());
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| fail(what.clone(), e))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                if let Some(evidence) = disk_full(&err, &[]) {
                    bail!(
                        "failed to {what}: {}",
                        disk_full_advice(&evidence, self.data_root().await.as_deref())
                    );
                }
                bail!("failed to {what}: {err}");
            }
            for line in info.stream.iter().flat_map(|s| s.lines()) {
                if let Some(r) = line.trim().strip_prefix("Loaded image: ") {
                    loaded.push(r.to_string());
                }
            }
        }
        Ok(loaded)
    }

    /// Runs a command and streams its output as it comes.
    async fn exec_streaming(
        &self,
        container: &str,
        cmd: &[String],
        sink: impl FnMut(bool, &[u8]),
    ) -> Result<i64> {
        self.run_exec(container, cmd, None::<tokio::io::Empty>, sink)
            .await
    }

    async fn exec_with_input(
        &self,
        container: &str,
        cmd: &[String],
        input: impl AsyncRead + Send + Unpin,
        sink: impl FnMut(bool, &[u8]),
    ) -> Result<i64> {
        self.run_exec(container, cmd, Some(input), sink).await
    }

    /// Starts an interactive command with a TTY of the given size.
    async fn exec_interactive(
        &self,
        container: &str,
        cmd: &[String],
        size: (u16, u16),
    ) -> Result<Interactive> {
        let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
        self.interactive(container, None, vec![format!("TERM={term}")], cmd, size)
            .await
    }

    async fn exec_interactive_as(
        &self,
        container: &str,
        user: &str,
        cmd: &[String],
        size: (u16, u16),
    ) -> Result<Interactive> {
        // What a login sets: the browser's terminal is xterm.js.
        let env = vec![
            "TERM=xterm-256color".to_string(),
            format!("HOME=/home/{user}"),
            format!("USER={user}"),
            format!("LOGNAME={user}"),
        ];
        self.interactive(container, Some(user), env, cmd, size)
            .await
    }

    async fn resize(&self, exec_id: &str, (cols, rows): (u16, u16)) -> Result<()> {
        self.docker
            .resize_exec(
                exec_id,
                bollard::exec::ResizeExecOptions {
                    height: rows,
                    width: cols,
                },
            )
            .await
            .map_err(|e| fail("resize the terminal".into(), e))
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Result<i64> {
        let info = self
            .docker
            .inspect_exec(exec_id)
            .await
            .map_err(|e| fail("read the command's exit code".into(), e))?;
        Ok(info.exit_code.unwrap_or(0))
    }

    /// Runs `cmd` in a throwaway container of `image` with no network and
    /// the given capabilities and sysctls; returns its exit code and output.
    /// The container carries the label `noglab.doctor` and is removed.
    async fn probe(
        &self,
        image: &str,
        capabilities: &[String],
        sysctls: &BTreeMap<String, String>,
        cmd: &[&str],
    ) -> Result<(i64, String)> {
        let name = format!("noglab-doctor-{}", std::process::id());
        let _ = self.remove_container(&name).await;
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(cmd.iter().map(|s| s.to_string()).collect()),
            cmd: Some(Vec::new()),
            labels: Some(HashMap::from([(
                "noglab.doctor".to_string(),
                "1".to_string(),
            )])),
            host_config: Some(HostConfig {
                cap_add: Some(capabilities.to_vec()),
                sysctls: Some(sysctls.clone().into_iter().collect()),
                network_mode: Some("none".into()),
                memory: Some(64 << 20),
                pids_limit: Some(64),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| fail(format!("create the probe container {name}"), e))?;
        let result = self.run_probe(&name).await;
        let _ = self.remove_container(&name).await;
        result
    }

    /// Reads a container's exposure for `noglab audit`.
    async fn exposure(&self, container: &str) -> Result<Exposure> {
        let info = self.inspect(container).await?;
        let host = info.host_config.unwrap_or_default();
        let mounts: Vec<String> = info
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                format!(
                    "{} -> {} ({})",
                    m.source.or(m.name).unwrap_or_default(),
                    m.destination.unwrap_or_default(),
                    if m.rw.unwrap_or(true) { "rw" } else { "ro" }
                )
            })
            .collect();
        let mut published: Vec<String> = host
            .port_bindings
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(port, bindings)| {
                bindings.unwrap_or_default().into_iter().map(move |b| {
                    format!(
                        "{}:{} -> {port}",
                        b.host_ip
                            .filter(|h| !h.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".into()),
                        b.host_port.unwrap_or_default()
                    )
                })
            })
            .collect();
        published.sort();
        Ok(Exposure {
            container: container.to_string(),
            privileged: host.privileged.unwrap_or(false),
            capabilities_added: host.cap_add.unwrap_or_default(),
            capabilities_dropped: host.cap_drop.unwrap_or_default(),
            network_mode: host.network_mode.unwrap_or_default(),
            pid_mode: host
                .pid_mode
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "private".into()),
            memory_limit: host.memory.unwrap_or(0),
            pids_limit: host.pids_limit.unwrap_or(0),
            docker_socket: mounts.iter().any(|m| m.contains("docker.sock")),
            mounts,
            read_only: host
                .readonly_rootfs
                .unwrap_or(false)
                .then(|| "/".to_string())
                .into_iter()
                .chain(
                    host.readonly_paths
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|p| !DEFAULT_READONLY_PATHS.contains(&p.as_str())),
                )
                .collect(),
            published,
            dns: host.dns.unwrap_or_default(),
            logins_sys_admin: None,
        })
    }
}

impl DockerEngine {
    /// An exec with a TTY, attached: as `user` when given, else as the
    /// image's user.
    async fn interactive(
        &self,
        container: &str,
        user: Option<&str>,
        env: Vec<String>,
        cmd: &[String],
        size: (u16, u16),
    ) -> Result<Interactive> {
        let exec = self
            .docker
            .create_exec(
                container,
                bollard::models::ExecConfig {
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(true),
                    cmd: Some(cmd.to_vec()),
                    env: Some(env),
                    user: user.map(String::from),
                    working_dir: user.map(|u| format!("/home/{u}")),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| fail(format!("start `{}` in {container}", cmd.join(" ")), e))?;
        let started = self
            .docker
            .start_exec(
                &exec.id,
                Some(bollard::exec::StartExecOptions {
                    detach: false,
                    tty: true,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(|e| fail(format!("attach to {container}"), e))?;
        let bollard::exec::StartExecResults::Attached { output, input } = started else {
            bail!("failed to attach to {container}: the engine detached the command");
        };
        let _ = self.resize(&exec.id, size).await;
        let output = output.map(|item| match item {
            Ok(o) => Ok(o.into_bytes()),
            Err(e) => Err(anyhow!("lost the connection to the node: {}", reason(&e))),
        });
        Ok(Interactive {
            exec_id: exec.id,
            output: Box::pin(output),
            input,
        })
    }
}

fn endpoint(a: &Attachment, aliases: Vec<String>) -> EndpointSettings {
    EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(a.docker_ip.to_string()),
            ..Default::default()
        }),
        aliases: (!aliases.is_empty()).then_some(aliases),
        ..Default::default()
    }
}

fn subnets_of(ipam: Option<&Ipam>) -> Vec<Ipv4Net> {
    ipam.and_then(|i| i.config.as_ref())
        .map(|configs| {
            configs
                .iter()
                .filter_map(|c| c.subnet.as_ref()?.parse::<Ipv4Net>().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Docker 20.10 sent it one time in a few (captured from its
    /// build API): dd's error in pieces, each in its own colour codes.
    #[test]
    fn a_line_split_over_messages_is_one_line() {
        let mut out = BuildOutput::default();
        let mut logged = Vec::new();
        let mut log = |l: &str| logged.push(l.to_string());
        for text in [
            "Step 2/2 : RUN dd if=/dev/zero of=/dev/shm/fill bs=1M count=80",
            "\n",
            " ---> Running in 58e7b07fd6e4\n",
            "\u{1b}[91mdd: \u{1b}[0m",
            "\u{1b}[91merror writing '/dev/shm/fill'\u{1b}[0m",
            "\u{1b}[91m: No space left on device\u{1b}[0m",
            "\u{1b}[91m\n\u{1b}[0m",
            "\u{1b}[91m65+0 records in\n64+0 records out\n\u{1b}[0m",
            "\u{1b}[91m67108864 bytes (67 MB, 64 MiB) copied, 0.044085 s, 1.5 GB/s\u{1b}[0m",
            "\u{1b}[91m\n\u{1b}[0m",
            "Removing intermediate container 58e7b07fd6e4\n",
        ] {
            out.push(text, &mut log);
        }
        out.finish(&mut log);
        assert_eq!(out.step.len(), 7, "{:?}", out.step);
        assert_eq!(
            out.step[2],
            "dd: error writing '/dev/shm/fill': No space left on device"
        );
        assert_eq!(out.step[6], "Removing intermediate container 58e7b07fd6e4");
        assert_eq!(logged, out.step);
        assert_eq!(
            disk_full("returned a non-zero code: 1", &out.step).as_deref(),
            Some("dd: error writing '/dev/shm/fill': No space left on device")
        );
    }

    #[test]
    fn the_advice_names_the_cause_and_the_fixes() {
        let text = disk_full_advice(
            "dd: error writing '/x': No space left on device",
            Some("/var/lib/docker"),
        );
        for part in [
            "/var/lib/docker is full",
            "no space left on device",
            "docker system prune",
            "data-root",
            "larger disk",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
    }
}
