//! `noglab audit [LAB]`: what each container of a lab may do and reach —
//! capabilities, privileged or not, namespaces, limits, mounts, what is
//! read-only inside, published ports, where the names it does not know
//! are resolved — so an instructor sees the exposure before the room
//! arrives.

use std::io::Write;

use anyhow::{Context, Result};
use futures_util::stream::{self, StreamExt};

use crate::cli::ListFormat;
use crate::engine::{Connector, Engine, Exposure, Scope};
use crate::plan::NOGLAB_DIR;

pub async fn run<C: Connector>(engines: &C, lab: Option<String>, format: ListFormat) -> Result<()> {
    let engine = engines.engine().await?;
    audit(engine, lab, format, &mut std::io::stdout()).await
}

/// Every container's exposure, printed to `out` in `format`.
async fn audit<E: Engine>(
    engine: &E,
    lab: Option<String>,
    format: ListFormat,
    out: &mut impl Write,
) -> Result<()> {
    let lab = super::resolve_lab(engine, lab).await?;
    let rows = exposures(engine, &lab).await?;
    let text = match format {
        ListFormat::Json => {
            serde_json::to_string_pretty(&rows).context("failed to print the audit")? + "\n"
        }
        ListFormat::Table => table(&lab, &rows),
    };
    out.write_all(text.as_bytes())
        .context("failed to print the audit")
}

/// The lab's containers' exposures, by container name.
async fn exposures<E: Engine>(engine: &E, lab: &str) -> Result<Vec<Exposure>> {
    let mut names: Vec<String> = engine
        .containers(Scope::Lab(lab))
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort();
    let results: Vec<Result<Exposure>> = stream::iter(&names)
        .map(|n| async move {
            let mut e = engine.exposure(n).await?;
            if e.capabilities_added.iter().any(|c| c == SYS_ADMIN) {
                e.logins_sys_admin = logins_sys_admin(engine, n).await;
            }
            Ok(e)
        })
        .buffered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

const SYS_ADMIN: &str = "SYS_ADMIN";
/// CAP_SYS_ADMIN's bit in a capability set.
const SYS_ADMIN_BIT: u32 = 21;

/// Whether the participants' sshd in the container (whose bounding set
/// every login inherits) may hold SYS_ADMIN; `None` when it runs none or
/// the container cannot be asked.
async fn logins_sys_admin<E: Engine>(engine: &E, container: &str) -> Option<bool> {
    let cmd = [
        "sh",
        "-c",
        "p=$(cat /run/sshd.pid 2>/dev/null) && sed -n 's/^CapBnd:[[:space:]]*//p' /proc/$p/status",
    ]
    .map(String::from);
    let out = engine.exec(container, &cmd).await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let set = u64::from_str_radix(text.trim(), 16).ok()?;
    (out.code == 0).then_some(set & (1 << SYS_ADMIN_BIT) != 0)
}

/// One line per container, then what deserves a warning.
fn table(lab: &str, rows: &[Exposure]) -> String {
    let mut s = format!(
        "{:<28} {:<4} {:<28} {:<5} {:<7} {:>6} {:>5} {:<10} PUBLISHED / MOUNTS / READ-ONLY\n",
        "CONTAINER", "PRIV", "CAPABILITIES ADDED", "NET", "PID", "MEM", "PIDS", "DNS"
    );
    for r in rows {
        let net = if r.network_mode == "host" {
            "HOST"
        } else {
            "own"
        };
        let mut extra: Vec<String> = r.published.clone();
        extra.extend(r.mounts.iter().cloned());
        extra.extend(r.read_only.iter().map(|p| format!("ro {p}")));
        s += &format!(
            "{:<28} {:<4} {:<28} {:<5} {:<7} {:>5}M {:>5} {:<10} {}\n",
            r.container,
            if r.privileged { "YES" } else { "no" },
            r.capabilities_added.join(","),
            net,
            r.pid_mode,
            r.memory_limit >> 20,
            r.pids_limit,
            if r.dns.is_empty() {
                "HOST".to_string()
            } else {
                r.dns.join(",")
            },
            if extra.is_empty() {
                "-".into()
            } else {
                extra.join(", ")
            }
        );
    }
    let risky: Vec<&Exposure> = rows
        .iter()
        .filter(|r| {
            r.privileged || r.network_mode == "host" || r.pid_mode == "host" || r.docker_socket
        })
        .collect();
    if risky.is_empty() {
        s += &format!("\nlab {lab}: no container is privileged, shares the host's network or PID namespace, or sees the Docker socket\n");
    } else {
        for r in risky {
            s += &format!(
                "\nWARNING: {} is privileged, on the host's namespaces or sees the Docker socket\n",
                r.container
            );
        }
    }
    for r in rows
        .iter()
        .filter(|r| !r.read_only.iter().any(|p| p == NOGLAB_DIR))
    {
        s += &format!("WARNING: {NOGLAB_DIR} can be changed inside {} (created by an older noglab); `noglab up` recreates it with {NOGLAB_DIR} read-only\n", r.container);
    }
    for r in rows {
        match r.logins_sys_admin {
            Some(true) => s += &format!("WARNING: {} holds {SYS_ADMIN}, and so do the participants' logins (an older image); `noglab up` with the current images recreates it\n", r.container),
            Some(false) => s += &format!("{} holds {SYS_ADMIN} (its daemons need it); the participants' logins do not\n", r.container),
            None if r.capabilities_added.iter().any(|c| c == SYS_ADMIN) => s += &format!("{} holds {SYS_ADMIN} (its daemons need it); no participants' sshd found there\n", r.container),
            None => {}
        }
    }
    for r in rows.iter().filter(|r| !dns_contained(r)) {
        s += &format!("WARNING: names {} does not know go to {} (created by an older noglab); `noglab up` recreates it so that they stay in the node\n", r.container, if r.dns.is_empty() { "the host's resolvers".to_string() } else { r.dns.join(", ") });
    }
    s
}

/// Whether the names the container's embedded resolver does not know stay
/// in the node (its loopback), as noglab plans.
fn dns_contained(r: &Exposure) -> bool {
    !r.dns.is_empty() && r.dns.iter().all(|d| crate::plan::DNS.contains(&d.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::reconcile::testing;

    async fn printed(engine: &FakeEngine, format: ListFormat) -> String {
        let mut out = Vec::new();
        audit(engine, Some("lab".into()), format, &mut out)
            .await
            .expect("audits");
        String::from_utf8(out).expect("text")
    }

    #[tokio::test]
    async fn every_container_is_inspected_and_a_safe_lab_says_so() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(2)).await;
        let text = printed(&engine, ListFormat::Table).await;
        let mut calls = engine.calls();
        calls.sort();
        assert_eq!(
            calls,
            [
                "exposure lab-p01-h1",
                "exposure lab-p01-r1",
                "exposure lab-p02-h1",
                "exposure lab-p02-r1"
            ]
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("CONTAINER "), "{text}");
        assert!(lines[1].starts_with("lab-p01-h1 "), "{text}");
        assert!(
            lines[1].ends_with("own   private   256M   512 127.0.0.1  ro /etc/noglab"),
            "{text}"
        );
        assert_eq!(lines.len(), 7, "{text}");
        assert_eq!(
            lines[6],
            "lab lab: no container is privileged, shares the host's network or PID namespace, or sees the Docker socket"
        );
    }

    #[tokio::test]
    async fn exposure_and_a_writable_noglab_folder_are_warned_about() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(1)).await;
        let exposure = |name: &str| Exposure {
            container: name.into(),
            privileged: false,
            capabilities_added: vec!["NET_ADMIN".into()],
            capabilities_dropped: Vec::new(),
            network_mode: "host".into(),
            pid_mode: "private".into(),
            memory_limit: 64 << 20,
            pids_limit: 64,
            mounts: vec!["/var/run/docker.sock -> /var/run/docker.sock (rw)".into()],
            read_only: Vec::new(),
            published: vec!["0.0.0.0:2201 -> 22/tcp".into()],
            docker_socket: true,
            dns: Vec::new(),
            logins_sys_admin: None,
        };
        engine
            .lock()
            .exposures
            .insert("lab-p01-r1".into(), exposure("lab-p01-r1"));
        let text = printed(&engine, ListFormat::Table).await;
        assert!(
            text.contains("\nWARNING: lab-p01-r1 is privileged, on the host's namespaces or sees the Docker socket\n"),
            "{text}"
        );
        assert!(
            text.contains("WARNING: /etc/noglab can be changed inside lab-p01-r1 (created by an older noglab)"),
            "{text}"
        );
        assert!(!text.contains("inside lab-p01-h1"), "{text}");
        assert!(
            text.contains("WARNING: names lab-p01-r1 does not know go to the host's resolvers (created by an older noglab)"),
            "{text}"
        );
        assert!(!text.contains("names lab-p01-h1"), "{text}");
        assert!(
            text.contains("HOST  private    64M    64 HOST       0.0.0.0:2201 -> 22/tcp, /var/run/docker.sock -> /var/run/docker.sock (rw)\n"),
            "{text}"
        );

        let json: Vec<serde_json::Value> =
            serde_json::from_str(&printed(&engine, ListFormat::Json).await).expect("json");
        assert_eq!(json.len(), 2);
        assert_eq!(json[1]["container"], "lab-p01-r1");
        assert_eq!(json[1]["docker_socket"], true);
        assert_eq!(json[0]["read_only"][0], "/etc/noglab");
        assert_eq!(json[0]["dns"][0], "127.0.0.1");
        assert_eq!(json[1]["dns"].as_array().map(Vec::len), Some(0));
    }

    #[tokio::test]
    async fn where_a_node_holds_sys_admin_its_logins_are_looked_at() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(1)).await;
        let mut r1 = engine.exposure("lab-p01-r1").await.expect("fake");
        r1.capabilities_added = vec!["NET_ADMIN".into(), "SYS_ADMIN".into()];
        engine.lock().exposures.insert("lab-p01-r1".into(), r1);
        // sshd's bounding set: Docker's defaults and NET_ADMIN, without
        // SYS_ADMIN (bit 21), as the init starts it.
        let capbnd = |set: &str| crate::engine::ExecOutput {
            code: 0,
            stdout: format!("{set}\n").into_bytes(),
            stderr: Vec::new(),
        };
        engine
            .lock()
            .exec_outputs
            .insert("lab-p01-r1".into(), capbnd("00000000a80435fb"));
        let text = printed(&engine, ListFormat::Table).await;
        assert!(
            text.contains("\nlab-p01-r1 holds SYS_ADMIN (its daemons need it); the participants' logins do not\n"),
            "{text}"
        );
        assert!(!text.contains("lab-p01-h1 holds"), "{text}");
        assert!(!text.contains("WARNING"), "{text}");
        let execs: Vec<String> = engine
            .calls()
            .into_iter()
            .filter(|c| c.starts_with("exec "))
            .collect();
        assert_eq!(
            execs,
            ["exec lab-p01-r1 sh"],
            "only where SYS_ADMIN is held"
        );

        // An sshd that holds it: a warning.
        engine
            .lock()
            .exec_outputs
            .insert("lab-p01-r1".into(), capbnd("00000000a82435fb"));
        let text = printed(&engine, ListFormat::Table).await;
        assert!(
            text.contains(
                "WARNING: lab-p01-r1 holds SYS_ADMIN, and so do the participants' logins"
            ),
            "{text}"
        );
        let json: Vec<serde_json::Value> =
            serde_json::from_str(&printed(&engine, ListFormat::Json).await).expect("json");
        assert_eq!(json[1]["logins_sys_admin"], true);
        assert!(json[0].get("logins_sys_admin").is_none(), "{}", json[0]);
    }

    #[tokio::test]
    async fn an_unknown_lab_inspects_nothing() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(1)).await;
        let err = audit(
            &engine,
            Some("other".into()),
            ListFormat::Table,
            &mut Vec::new(),
        )
        .await
        .expect_err("unknown");
        assert_eq!(format!("{err}"), "unknown lab `other`: running labs: lab");
        assert!(engine.calls().is_empty());
    }
}
