//! `noglab serve`: the classroom portal. One HTTPS server on noglab's own
//! runtime, everything it serves embedded in the binary: participants log
//! in with their pod's handout credentials and reach that pod only; the
//! instructor logs in with a token and reaches every pod of the labs
//! served.
//!
//! `auth` owns sessions and login limits (pure), `audit` the log of who
//! did what, `tls` the certificate,
//! `api` the routes and their OpenAPI document, `assets` the embedded
//! pages. The portal acts on labs only through the engine trait and the
//! commands' own functions (checks, reset), never by a path of its own.

pub mod api;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod board;
pub mod guide;
pub mod terminal;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

/// The address a request came from, set on each connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Time a client has for its TLS handshake and for each request's
/// headers: a connection that sends nothing does not hold a task.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` over TLS on `listener` until the task is dropped.
pub async fn serve(app: axum::Router, listener: TcpListener, tls: TlsAcceptor) -> Result<()> {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors or a connection reset before accept:
            // try again shortly rather than end the portal.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await
            else {
                return;
            };
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                let mut app = app.clone();
                async move { app.call(req).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

/// The portal's own folder in the state directory: certificate, key and
/// instructor token.
pub fn state_dir() -> std::path::PathBuf {
    crate::state::dir().join("portal")
}

pub use api::Portal;

/// Shared by the routes.
pub type Shared = Arc<Portal>;
