//! The container engine as noglab sees it: a trait in noglab's own types
//! with every operation a command needs. `docker.rs` is the only
//! implementation that talks to a real engine (and the only file that
//! imports bollard); `fake.rs` records calls, for tests of the reconciler
//! and of the commands. Commands are handed a [`Connector`] and never
//! build an engine client themselves.

#![allow(async_fn_in_trait)]

pub mod config;
pub mod docker;
pub mod fake;
pub mod host;
pub mod placement;
pub mod spread;

use std::collections::BTreeMap;
use std::path::Path;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use ipnet::Ipv4Net;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::plan::{Attachment, ContainerSpec, FileSpec, NetworkSpec};

/// One finding of `doctor`'s check that the engines of an engines file
/// see each other at layer 2: `Some(true)` held, `Some(false)` failed,
/// `None` not checked (said why).
#[derive(Debug, Clone, PartialEq)]
pub struct Layer2 {
    pub held: Option<bool>,
    pub message: String,
}

/// The state of a container on an engine that did not answer: noglab
/// knows it from the saved plan, not from the engine.
pub const UNREACHABLE: &str = "unreachable";

/// A container noglab found on the engine, by its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Docker's state: created, running, exited, paused, restarting, dead.
    pub state: String,
    /// Docker's human status: `Up 3 minutes (healthy)`.
    pub status: String,
    pub created: i64,
}

impl ObservedContainer {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// The health Docker last saw, from the status text.
    pub fn health(&self) -> &'static str {
        if self.state != "running" {
            return "-";
        }
        if self.status.contains("(healthy)") {
            "healthy"
        } else if self.status.contains("(unhealthy)") {
            "unhealthy"
        } else if self.status.contains("starting") {
            "starting"
        } else {
            "unknown"
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedNetwork {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub subnets: Vec<Ipv4Net>,
}

impl ObservedNetwork {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservedVolume {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// Whether a create made something new or found it already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    Existed,
}

/// What following a container's log came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFollow {
    /// The first line that starts with one of the prefixes asked for.
    Line(String),
    /// The output ended (the container stopped) without one.
    Ended,
    /// The time allowed passed without one.
    TimedOut,
}

/// Where a container's main process stands, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunState {
    /// Docker's state: created, running, restarting, exited, paused, dead.
    pub status: String,
    /// How often the engine restarted it since it was last started.
    pub restarts: i64,
    /// Its main process's last exit code.
    pub exit_code: i64,
}

/// What a command run in a node printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    pub code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Where a lab's resources are looked for: one lab, or every noglab lab.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Lab(&'a str),
    All,
}

/// A network on the engine, noglab's or not, with its subnets (IPv4 and
/// IPv6) as the engine writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineNetwork {
    pub name: String,
    pub subnets: Vec<String>,
    /// Its labels: noglab's carry `noglab.lab`.
    pub labels: BTreeMap<String, String>,
    /// The Linux bridge on the host, when the network names it.
    pub bridge: Option<String>,
}

/// What `doctor` reports about the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineFacts {
    pub version: String,
    /// The newest API the engine offers.
    pub api: String,
    /// The API noglab agreed on with it.
    pub speaks: String,
    /// Where the engine keeps images and containers.
    pub root_dir: String,
    /// The memory the engine sees, in bytes.
    pub memory: i64,
    /// The CPUs the engine sees.
    pub cpus: i64,
}

/// What a container may do and reach, as the engine reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Exposure {
    pub container: String,
    pub privileged: bool,
    pub capabilities_added: Vec<String>,
    pub capabilities_dropped: Vec<String>,
    pub network_mode: String,
    pub pid_mode: String,
    pub memory_limit: i64,
    pub pids_limit: i64,
    /// Host paths or volumes mounted, with `ro` or `rw`.
    pub mounts: Vec<String>,
    /// Paths read-only inside beyond the engine's defaults (`/` when the
    /// whole root filesystem is), for root in the container too.
    pub read_only: Vec<String>,
    /// `host_ip:host_port -> container_port`.
    pub published: Vec<String>,
    /// Whether the Docker socket is reachable inside.
    pub docker_socket: bool,
    /// Where the engine's resolver in the container sends names it does
    /// not know; empty: the host's resolvers.
    pub dns: Vec<String>,
    /// For a container holding SYS_ADMIN: whether the participants'
    /// logins (its sshd) hold it too; `None` when not looked at or it runs
    /// no sshd. Filled by `audit`, from inside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logins_sys_admin: Option<bool>,
}

/// An interactive command in a node: its output, its input, and the
/// engine's handle on it, which `resize` and `exec_exit_code` take.
pub struct Interactive {
    pub exec_id: String,
    pub output: Pin<Box<dyn Stream<Item = anyhow::Result<Bytes>> + Send>>,
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
}

/// Every engine operation a command needs, in noglab's own types.
///
/// Names, not handles, go in and out (containers and networks by name,
/// images by reference, a session by the id it came with), so that an
/// engine spread over several Docker hosts can implement this trait too:
/// lists are the union of its hosts', an operation on a container goes to
/// the host that holds it, and an id it hands out says which host it is
/// from.
pub trait Engine: Sync {
    /// Decides which engine each of a lab's pods runs on before `up`
    /// creates them (pods placed before keep theirs), and says it, with
    /// the lab-wide nodes' engine as pod 0; one engine holds them all.
    async fn place(&self, _lab: &str, pods: &[u32]) -> anyhow::Result<placement::Placement> {
        Ok(pods
            .iter()
            .chain([&crate::plan::SHARED_POD])
            .map(|p| (*p, config::LOCAL.to_string()))
            .collect())
    }
    /// The interfaces an engine's lab-wide networks ride on when they
    /// span engines (the engines file's `parent`), in order; empty when
    /// it has none.
    fn parents_of(&self, _engine: &str) -> Vec<String> {
        Vec::new()
    }
    /// The engines that did not answer when noglab connected, one line
    /// each: which, where, and what went wrong. Their pods' containers are
    /// listed from the saved plan with the state [`UNREACHABLE`], and
    /// every operation on them fails at once with that line.
    fn unreachable(&self) -> Vec<String> {
        Vec::new()
    }
    /// `doctor`'s check that the engines see each other at layer 2 over
    /// their `parent`s (a probe container of `image` on each); None with
    /// one engine.
    async fn layer2(&self, _image: &str) -> anyhow::Result<Option<Vec<Layer2>>> {
        Ok(None)
    }
    /// Whether the engine named `engine` answered.
    fn answers(&self, _engine: &str) -> bool {
        true
    }
    /// The address participants reach a pod's engine at, when the engines
    /// file says one.
    async fn address_of(&self, _lab: &str, _pod: u32) -> anyhow::Result<Option<String>> {
        Ok(None)
    }
    /// Containers with noglab's labels, in one list call.
    async fn containers(&self, scope: Scope<'_>) -> anyhow::Result<Vec<ObservedContainer>>;
    /// Networks with noglab's labels.
    async fn networks(&self, scope: Scope<'_>) -> anyhow::Result<Vec<ObservedNetwork>>;
    /// Volumes with noglab's labels.
    async fn volumes(&self, scope: Scope<'_>) -> anyhow::Result<Vec<ObservedVolume>>;
    /// Every network on the engine, noglab's or not.
    async fn all_networks(&self) -> anyhow::Result<Vec<EngineNetwork>>;
    /// Every IPv4 subnet any network on the engine uses, noglab's or not.
    async fn used_subnets(&self) -> anyhow::Result<Vec<Ipv4Net>> {
        Ok(self
            .all_networks()
            .await?
            .into_iter()
            .flat_map(|n| n.subnets)
            .filter_map(|s| s.parse::<Ipv4Net>().ok())
            .collect())
    }
    /// The engine's version and the host facts `doctor` checks.
    async fn describe(&self) -> anyhow::Result<EngineFacts>;

    /// Image size in bytes, or None when the engine does not have it.
    async fn image_size(&self, reference: &str) -> anyhow::Result<Option<i64>>;
    async fn image_exists(&self, reference: &str) -> anyhow::Result<bool> {
        Ok(self.image_size(reference).await?.is_some())
    }
    /// Pulls an image; the caller falls back to building it when this fails.
    async fn pull(&self, reference: &str) -> anyhow::Result<()>;
    /// Builds an image from a tar context; `log` gets each line of output.
    async fn build(
        &self,
        reference: &str,
        dockerfile: &str,
        context: Vec<u8>,
        log: impl FnMut(&str),
    ) -> anyhow::Result<()>;
    /// Writes the images to `out` as one `docker save` archive (layers that
    /// images share are stored once); `progress` gets the bytes so far.
    async fn save_images(
        &self,
        references: &[String],
        out: &mut impl std::io::Write,
        progress: impl FnMut(u64),
    ) -> anyhow::Result<u64>;
    /// Loads a `docker save` archive, plain or compressed; returns the
    /// references it loaded.
    async fn load_images(&self, file: &Path) -> anyhow::Result<Vec<String>>;

    async fn create_network(&self, spec: &NetworkSpec) -> anyhow::Result<Created>;
    /// Removes a network; one already gone is fine.
    async fn remove_network(&self, name: &str) -> anyhow::Result<()>;
    async fn remove_volume(&self, name: &str) -> anyhow::Result<()>;

    /// Creates a container attached to its management network only.
    async fn create_container(&self, spec: &ContainerSpec) -> anyhow::Result<Created>;
    async fn connect(&self, container: &str, attachment: &Attachment) -> anyhow::Result<()>;
    async fn upload(
        &self,
        container: &str,
        files: &BTreeMap<String, FileSpec>,
    ) -> anyhow::Result<()>;
    /// Copies files of any content into a container, by absolute path,
    /// with their modes, owned by root.
    async fn put_files(
        &self,
        container: &str,
        files: &BTreeMap<String, (u32, Vec<u8>)>,
    ) -> anyhow::Result<()>;
    /// What lies at `path` in a container (running or not), as the
    /// engine's tar archive, its entries named from `path`'s last
    /// component; `None` when nothing is there. More than `limit` bytes
    /// is an error.
    async fn download(
        &self,
        container: &str,
        path: &str,
        limit: u64,
    ) -> anyhow::Result<Option<Vec<u8>>>;
    async fn start(&self, container: &str) -> anyhow::Result<()>;
    /// Removes a container with its anonymous volumes; one already gone is fine.
    async fn remove_container(&self, name: &str) -> anyhow::Result<()>;

    /// Follows a container's output from its start to the first line that
    /// starts with one of `prefixes`, the end of the output, or `timeout`.
    async fn first_log_line(
        &self,
        container: &str,
        prefixes: &[&str],
        timeout: std::time::Duration,
    ) -> anyhow::Result<LogFollow>;

    /// Where the container's main process stands.
    async fn run_state(&self, container: &str) -> anyhow::Result<RunState>;
    /// The last `lines` lines of the container's output, oldest first.
    async fn log_tail(&self, container: &str, lines: usize) -> anyhow::Result<Vec<String>>;

    /// Runs a command in a container and hands its output to `sink` as it
    /// comes (`true` for standard error); returns its exit code.
    async fn exec_streaming(
        &self,
        container: &str,
        cmd: &[String],
        sink: impl FnMut(bool, &[u8]),
    ) -> anyhow::Result<i64>;

    /// Runs a command in a container with `input` as its standard input,
    /// byte for byte, closed when `input` ends (a command that reads to
    /// the end, `tee` or `vtysh -f /dev/stdin`, then finishes). Output goes
    /// to `sink` as [`Engine::exec_streaming`]'s does; input left unread
    /// when the command ends is dropped.
    async fn exec_with_input(
        &self,
        container: &str,
        cmd: &[String],
        input: impl AsyncRead + Send + Unpin,
        sink: impl FnMut(bool, &[u8]),
    ) -> anyhow::Result<i64>;

    /// Runs a command in a container and collects its output.
    async fn exec(&self, container: &str, cmd: &[String]) -> anyhow::Result<ExecOutput> {
        let mut out = ExecOutput::default();
        out.code = self
            .exec_streaming(container, cmd, |is_err, bytes| {
                if is_err {
                    out.stderr.extend_from_slice(bytes)
                } else {
                    out.stdout.extend_from_slice(bytes)
                }
            })
            .await?;
        Ok(out)
    }

    /// Starts an interactive command with a terminal of `size` (columns,
    /// rows).
    async fn exec_interactive(
        &self,
        container: &str,
        cmd: &[String],
        size: (u16, u16),
    ) -> anyhow::Result<Interactive>;
    /// Starts an interactive command as `user`, in its home, with a
    /// terminal of `size`: a participant's session, with only the rights
    /// that user's login has.
    async fn exec_interactive_as(
        &self,
        container: &str,
        user: &str,
        cmd: &[String],
        size: (u16, u16),
    ) -> anyhow::Result<Interactive>;
    /// Gives an interactive command's terminal a new size.
    async fn resize(&self, exec_id: &str, size: (u16, u16)) -> anyhow::Result<()>;
    /// The exit code of a command started with `exec_interactive`.
    async fn exec_exit_code(&self, exec_id: &str) -> anyhow::Result<i64>;

    /// Runs `cmd` in a throwaway container of `image` with no network and
    /// the given capabilities and sysctls; returns its exit code and output.
    async fn probe(
        &self,
        image: &str,
        capabilities: &[String],
        sysctls: &BTreeMap<String, String>,
        cmd: &[&str],
    ) -> anyhow::Result<(i64, String)>;

    /// What a container may do and reach, for `noglab audit`.
    async fn exposure(&self, container: &str) -> anyhow::Result<Exposure>;

    /// What the container's last health probe printed, when it failed:
    /// the reason an `unhealthy` node gives. `None` when the last probe
    /// passed or none ran.
    async fn health_report(&self, container: &str) -> anyhow::Result<Option<String>>;

    /// Makes sure the host guard runs from `image` and its rules are in
    /// place, with noglab's address `range` kept on this machine.
    async fn ensure_guard(&self, image: &str, range: &str) -> anyhow::Result<()>;
    /// Removes the host guard (its rules stay until the host reboots).
    async fn remove_guard(&self) -> anyhow::Result<()>;
}

/// How a command gets its engine: handed to it by `main`, which connects
/// once, when a command first asks (commands that need no engine, or that
/// find bad input first, never connect).
pub trait Connector {
    type Engine: Engine;
    async fn engine(&self) -> anyhow::Result<&Self::Engine>;
}

/// What tools say when a disk is full: ENOSPC's text (Go, C and Rust
/// libraries alike), apt's check before it downloads, and a quota (the
/// same fix).
const DISK_FULL: &[&str] = &[
    "no space left on device",
    "enospc",
    "enough free space",
    "disk quota exceeded",
];

/// The first line of an error, or of the output that came with it (a
/// build step's, a compiler's), that says a disk is full; without
/// terminal colours.
pub fn disk_full(message: &str, output: &[String]) -> Option<String> {
    std::iter::once(message)
        .chain(output.iter().map(String::as_str))
        .flat_map(str::lines)
        .map(strip_colours)
        .find(|l| {
            let l = l.to_ascii_lowercase();
            DISK_FULL.iter().any(|p| l.contains(p))
        })
        .map(|l| l.trim().to_string())
}

/// A build's output line without the ANSI colour codes the engine wraps
/// a step's standard error in.
pub(crate) fn strip_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-byte
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The container that keeps pods away from the host; see `images/common/noglab-guard`.
pub const GUARD_NAME: &str = "noglab-guard";
/// Its label, whose value is the image it runs.
pub const GUARD_LABEL: &str = "noglab.guard";

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    /// A RUN step that fills a disk: the error is only its exit code, the
    /// cause is in its output (Docker 20.10's legacy builder, as captured
    /// from `dd` on a full tmpfs; the step's stderr comes in colour).
    #[test]
    fn a_full_disk_is_found_in_the_failing_steps_output() {
        let step = lines(
            "Step 3/3 : RUN dd if=/dev/zero of=/dev/shm/fill bs=1M count=100\n ---> Running in b1083b77132d\n\u{1b}[91mdd: error writing '/dev/shm/fill': No space left on device\n5+0 records in\n\u{1b}[0m\nRemoving intermediate container b1083b77132d",
        );
        let message = "The command '/bin/sh -c dd if=/dev/zero of=/dev/shm/fill bs=1M count=100' returned a non-zero code: 1";
        assert_eq!(
            disk_full(message, &step).as_deref(),
            Some("dd: error writing '/dev/shm/fill': No space left on device")
        );
    }

    #[test]
    fn a_full_disk_is_found_in_the_engines_own_errors() {
        // Receiving the context, committing a layer, apt's own check.
        for (text, evidence) in [
            (
                "write /var/lib/docker/tmp/docker-builder412/frr/Dockerfile: no space left on device",
                "write /var/lib/docker/tmp/docker-builder412/frr/Dockerfile: no space left on device",
            ),
            (
                "failed to register layer: Error processing tar file(exit status 1): write /usr/lib/x86_64-linux-gnu/libfrr.so.0: no space left on device",
                "failed to register layer: Error processing tar file(exit status 1): write /usr/lib/x86_64-linux-gnu/libfrr.so.0: no space left on device",
            ),
            (
                "E: You don't have enough free space in /var/cache/apt/archives/.",
                "E: You don't have enough free space in /var/cache/apt/archives/.",
            ),
        ] {
            assert_eq!(disk_full(text, &[]).as_deref(), Some(evidence), "{text}");
        }
    }

    #[test]
    fn other_build_failures_are_not_a_full_disk() {
        let step = lines(
            "Step 2/9 : RUN apt-get update\n\u{1b}[91mE: Unable to locate package frr-nope\n\u{1b}[0m",
        );
        assert_eq!(
            disk_full(
                "The command '/bin/sh -c apt-get update' returned a non-zero code: 100",
                &step
            ),
            None
        );
        assert_eq!(
            disk_full(
                "dial unix /var/run/docker.sock: connect: permission denied",
                &[]
            ),
            None
        );
    }
}
