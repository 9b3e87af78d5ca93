//! The engine floor: the least a client can do to get noglab's containers
//! and networks on the engine, straight through bollard. Same images, same
//! container options, same networks with the same options and subnets, same
//! attachments at the same addresses; no files copied in, no guard, no
//! listing, no waiting for the nodes. Everything runs `parallel` calls at a
//! time across the whole lab: networks first, then each container's create,
//! connects and start as one task.
//!
//! The options mirror `src/engine/docker.rs` on purpose, written out again
//! so that the floor measures the engine and not noglab's code.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig, Ipam,
    IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use bollard::Docker;
use futures_util::stream::{self, StreamExt};
use noglab::plan::{Attachment, ContainerSpec, NetworkSpec, Plan};

pub async fn connect() -> Result<Docker> {
    let docker = Docker::connect_with_defaults()?.with_timeout(Duration::from_secs(600));
    Ok(docker.negotiate_version().await?)
}

/// What the floor copies into each container before its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Nothing: the engine floor.
    None,
    /// The node's files, as noglab copies them, under a folder no one
    /// reads (`/tmp/parked`): the engine's cost of the copy alone, the
    /// nodes boot unconfigured.
    Parked,
    /// The node's files in place: the copy and the nodes booting with
    /// their configs (daemons, adjacencies, readiness probes).
    Placed,
}

/// Creates every network, then every container; returns the time taken.
/// With `files`, each container also gets its node's files before it
/// starts (see [`Files`]).
pub async fn up(docker: &Docker, plan: &Plan, parallel: usize, files: Files) -> Result<Duration> {
    let networks: Vec<&NetworkSpec> = plan.pod_plans.values().flat_map(|p| &p.networks).collect();
    let containers: Vec<&ContainerSpec> = plan.containers().map(|(_, c)| c).collect();
    let started = Instant::now();
    all(
        stream::iter(networks).map(|n| create_network(docker, n)),
        parallel,
    )
    .await?;
    all(
        stream::iter(containers).map(|c| create_container(docker, c, files)),
        parallel,
    )
    .await?;
    Ok(started.elapsed())
}

/// Removes every container, then every network; returns the time taken.
pub async fn down(docker: &Docker, plan: &Plan, parallel: usize) -> Result<Duration> {
    let started = Instant::now();
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    let containers = plan.containers().map(|(_, c)| {
        let options = options.clone();
        async move {
            docker
                .remove_container(&c.name, Some(options))
                .await
                .map_err(|e| anyhow!("floor: remove container {}: {e}", c.name))
        }
    });
    all(stream::iter(containers), parallel).await?;
    let networks = plan
        .pod_plans
        .values()
        .flat_map(|p| &p.networks)
        .map(|n| async move {
            docker
                .remove_network(&n.name)
                .await
                .map_err(|e| anyhow!("floor: remove network {}: {e}", n.name))
        });
    all(stream::iter(networks), parallel).await?;
    Ok(started.elapsed())
}

/// Runs every operation, `parallel` at a time, and only then reports the
/// first failure: an operation dropped midway would still complete in
/// dockerd, after the clean-up.
async fn all(
    ops: impl futures_util::Stream<Item = impl std::future::Future<Output = Result<()>>>,
    parallel: usize,
) -> Result<()> {
    let results: Vec<Result<()>> = ops.buffer_unordered(parallel).collect().await;
    results.into_iter().collect()
}

async fn create_network(docker: &Docker, spec: &NetworkSpec) -> Result<()> {
    let request = NetworkCreateRequest {
        name: spec.name.clone(),
        driver: Some("bridge".into()),
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
            ("com.docker.network.bridge.name".into(), spec.bridge.clone()),
            (
                "com.docker.network.bridge.inhibit_ipv4".into(),
                "true".into(),
            ),
            (
                "com.docker.network.bridge.enable_ip_masquerade".into(),
                "false".into(),
            ),
        ])),
        labels: Some(spec.labels.clone().into_iter().collect()),
        ..Default::default()
    };
    docker
        .create_network(request)
        .await
        .map_err(|e| anyhow!("floor: create network {}: {e}", spec.name))?;
    Ok(())
}

async fn create_container(docker: &Docker, spec: &ContainerSpec, files: Files) -> Result<()> {
    let ns = |d: Duration| Some(d.as_nanos() as i64);
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        hostname: Some(spec.hostname.clone()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        healthcheck: Some(HealthConfig {
            test: Some(vec!["CMD".into(), "/usr/local/sbin/noglab-health".into()]),
            interval: ns(Duration::from_secs(60)),
            timeout: ns(Duration::from_secs(30)),
            retries: Some(2),
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
    docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| anyhow!("floor: create container {}: {e}", spec.name))?;
    for a in &spec.links {
        let request = NetworkConnectRequest {
            container: spec.name.clone(),
            endpoint_config: Some(endpoint(a, Vec::new())),
        };
        docker
            .connect_network(&a.network, request)
            .await
            .map_err(|e| anyhow!("floor: connect {} to {}: {e}", spec.name, a.network))?;
    }
    if files != Files::None {
        let options = bollard::query_parameters::UploadToContainerOptionsBuilder::default()
            .path("/")
            .build();
        docker
            .upload_to_container(
                &spec.name,
                Some(options),
                bollard::body_full(tar_of(spec, files == Files::Parked)?),
            )
            .await
            .map_err(|e| anyhow!("floor: copy files into {}: {e}", spec.name))?;
    }
    docker
        .start_container(
            &spec.name,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .map_err(|e| anyhow!("floor: start container {}: {e}", spec.name))?;
    Ok(())
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

/// The node's files as an archive rooted at `/`, as noglab uploads them,
/// or all under `/tmp/parked`.
fn tar_of(spec: &ContainerSpec, parked: bool) -> Result<bytes::Bytes> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, file) in &spec.files {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.content.len() as u64);
        header.set_mode(file.mode);
        header.set_mtime(0);
        header.set_cksum();
        let path = path.trim_start_matches('/');
        let path = if parked {
            format!("tmp/parked/{path}")
        } else {
            path.to_string()
        };
        builder.append_data(&mut header, path, file.content.as_bytes())?;
    }
    Ok(bytes::Bytes::from(builder.into_inner()?))
}
