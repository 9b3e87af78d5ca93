//! The usual alternative: one docker-compose project per pod, written from
//! the same plan (same names, images, options, networks and addresses; the
//! rendered files bind-mounted, as an instructor would), brought up with
//! `docker-compose up -d` pod after pod and removed with `down` the same way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use noglab::plan::{Plan, PodPlan};
use serde_json::{json, Map, Value};

pub struct Project {
    pub name: String,
    pub file: PathBuf,
}

/// Writes one project per pod under `root`; returns them in pod order.
pub fn write(root: &Path, plan: &Plan) -> Result<Vec<Project>> {
    let mut out = Vec::new();
    for pod in plan.pod_plans.values() {
        let dir = root.join(format!("p{:02}", pod.pod));
        let doc = project(&dir, pod)?;
        let file = dir.join("docker-compose.yml");
        // JSON is YAML: docker-compose reads it as it is.
        let text = serde_json::to_string_pretty(&doc).context("failed to write a compose file")?;
        std::fs::write(&file, text)
            .with_context(|| format!("failed to write {}", file.display()))?;
        out.push(Project {
            name: format!("{}p{:02}", plan.lab.replace('-', ""), pod.pod),
            file,
        });
    }
    Ok(out)
}

fn project(dir: &Path, pod: &PodPlan) -> Result<Value> {
    let role = |name: &str| name.rsplit('-').next().unwrap_or(name).to_string();
    let mut networks = Map::new();
    for n in &pod.networks {
        networks.insert(
            role(&n.name),
            json!({
                "name": n.name,
                "driver": "bridge",
                "driver_opts": {
                    "com.docker.network.bridge.name": n.bridge,
                    "com.docker.network.bridge.inhibit_ipv4": "true",
                    "com.docker.network.bridge.enable_ip_masquerade": "false",
                },
                "ipam": {"driver": "default", "config": [{"subnet": n.subnet.to_string(), "gateway": n.gateway.to_string()}]},
                "labels": n.labels,
            }),
        );
    }
    let mut services = Map::new();
    for c in &pod.containers {
        let mut volumes = Vec::new();
        for (path, file) in &c.files {
            let local = dir.join(&c.node).join(path.trim_start_matches('/'));
            if let Some(parent) = local.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("failed to create {}", parent.display()))?;
            }
            std::fs::write(&local, &file.content)
                .with_context(|| format!("failed to write {}", local.display()))?;
            set_mode(&local, file.mode)?;
            volumes.push(format!("{}:{path}", local.display()));
        }
        let mut nets = Map::new();
        for a in std::iter::once(&c.mgmt).chain(&c.links) {
            nets.insert(
                role(&a.network),
                json!({"ipv4_address": a.docker_ip.to_string()}),
            );
        }
        services.insert(
            c.node.clone(),
            json!({
                "image": c.image,
                "container_name": c.name,
                "hostname": c.hostname,
                "labels": c.labels,
                "init": true,
                "cap_add": c.capabilities,
                "sysctls": c.sysctls,
                "mem_limit": c.memory,
                "pids_limit": c.pids,
                "restart": "unless-stopped",
                "healthcheck": {
                    "test": ["CMD", "/usr/local/sbin/noglab-health"],
                    "interval": "15s", "timeout": "10s", "retries": 3, "start_period": "60s",
                },
                "volumes": volumes,
                "networks": nets,
            }),
        );
    }
    Ok(json!({"version": "2.4", "services": services, "networks": networks}))
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("failed to set the mode of {}", path.display()))
}

/// Runs `docker-compose ARGS` for each project in turn; the total time.
pub fn each(projects: &[Project], args: &[&str]) -> Result<Duration> {
    let started = Instant::now();
    for p in projects {
        let out = Command::new("docker-compose")
            .arg("--project-name")
            .arg(&p.name)
            .arg("--file")
            .arg(&p.file)
            .args(args)
            .output()
            .context("failed to run docker-compose")?;
        if !out.status.success() {
            bail!(
                "docker-compose {} of {} failed: {}",
                args.join(" "),
                p.name,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(started.elapsed())
}

pub fn available() -> bool {
    Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}
