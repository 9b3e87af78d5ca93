//! `noglab serve [LAB...]`: the classroom portal over HTTPS, with the
//! labs named (default: every lab running that noglab brought up here).
//! A lab named by its folder (or topology file) gets its guide served too.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};

use crate::diag::input_error;
use crate::engine::spread::Spread;
use crate::engine::Connector;
use crate::portal::{self, auth, tls, Portal};
use crate::{state, topology};

/// How `serve` runs, from its flags.
pub struct Serve {
    pub labs: Vec<String>,
    pub listen: SocketAddr,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

pub async fn run<C: Connector<Engine = Spread>>(engines: &C, args: Serve) -> Result<()> {
    let engine = engines.engine().await?.clone();
    let labs = if args.labs.is_empty() {
        super::labs(&engine).await?.into_iter().collect()
    } else {
        args.labs
    };
    let mut plans = BTreeMap::new();
    let mut guides = BTreeMap::new();
    for target in labs {
        let lab = match folder_of(&target) {
            Some(dir) => {
                let lab = topology::load(Path::new(&target))?.topology.name;
                guides.insert(lab.clone(), dir);
                lab
            }
            None => target,
        };
        state::check_lab_name(&lab)?;
        match state::load_plan(&lab)? {
            Some(plan) => {
                plans.insert(lab, Arc::new(plan));
            }
            None => {
                return Err(input_error(format!(
                "noglab has no saved plan for lab {lab}; bring it up with `noglab up FILE` first"
            )))
            }
        }
    }
    if plans.is_empty() {
        return Err(input_error(
            "no lab to serve: bring one up with `noglab up FILE` first",
        ));
    }
    let dir = portal::state_dir();
    let (cert, key) = match (args.tls_cert, args.tls_key) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => tls::ensure_self_signed(&dir, &names(args.listen))?,
        _ => return Err(input_error("give --tls-cert and --tls-key together")),
    };
    let acceptor = tls::acceptor(&cert, &key)?;
    let token = auth::instructor_token(&dir)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to listen on {}", args.listen))?;
    let shown = listener.local_addr().unwrap_or(args.listen);
    let served: Vec<String> = plans.keys().cloned().collect();
    let audit = portal::audit::AuditLog::open(&dir)
        .with_context(|| format!("failed to open the audit log in {}", dir.display()))?;
    let audit_path = audit.path().to_path_buf();
    let shared = Arc::new(Portal::new(engine, plans, guides, token.clone(), audit));
    for lab in &served {
        tokio::spawn(portal::board::refresh(shared.clone(), lab.clone()));
    }
    let app = portal::api::router(shared);
    println!(
        "noglab portal for {} at https://{}/",
        served.join(", "),
        url_host(shown)
    );
    println!("certificate: {}", cert.display());
    println!("instructor token: {token}");
    println!(
        "(also in {}; participants log in with their handout's pod, user and password)",
        dir.join("instructor-token").display()
    );
    println!("audit log: {}", audit_path.display());
    tokio::select! {
        r = portal::serve(app, listener, acceptor) => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
    .map_err(|e| anyhow!("the portal stopped: {e:#}"))
}

/// The lab folder a `serve` target names, when it is a folder or a
/// topology file rather than a lab's name.
fn folder_of(target: &str) -> Option<PathBuf> {
    let path = Path::new(target);
    if path.is_dir() {
        return Some(path.to_path_buf());
    }
    let is_file = target.contains('/') || target.ends_with(".yml") || target.ends_with(".yaml");
    is_file.then(|| {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    })
}

/// The names the self-signed certificate is made for: this machine's name,
/// localhost, and the address listened on when it is a specific one.
fn names(listen: SocketAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            names.push(h.to_string());
        }
    }
    if !listen.ip().is_unspecified() && !listen.ip().is_loopback() {
        names.push(listen.ip().to_string());
    }
    names
}

fn url_host(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        let host = if host.is_empty() {
            "localhost".into()
        } else {
            host
        };
        return format!("{host}:{}", addr.port());
    }
    addr.to_string()
}
