//! Which Docker engine to talk to, decided as the docker CLI decides it:
//! `DOCKER_HOST`, else the context named by `DOCKER_CONTEXT` or by the CLI's
//! `config.json` (`docker context use`), else the local socket.
//!
//! Pure parsing over an environment and a file reader, so every case is
//! tested without an engine; `docker.rs` connects to what comes out.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The local engine's socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// The docker CLI's port for `tcp://host` without one (2376 is for TLS,
/// which noglab does not speak).
pub const DEFAULT_TCP_PORT: u16 = 2375;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// Plain HTTP over TCP; `host` keeps IPv6 brackets.
    Tcp {
        host: String,
        port: u16,
    },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

/// The endpoint and where it was chosen, for messages: "DOCKER_HOST",
/// "docker context remote", or "the local socket".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub endpoint: Endpoint,
    pub from: String,
}

/// Parses a `DOCKER_HOST` value: `unix:///path`, `tcp://host[:port]`
/// (also `http://`, and a bare `host:port` as the docker CLI takes it).
pub fn parse(value: &str) -> Result<Endpoint, String> {
    let value = value.trim();
    let (scheme, rest) = value.split_once("://").unwrap_or(("tcp", value));
    match scheme {
        "unix" => {
            let path = if rest.is_empty() { DEFAULT_SOCKET } else { rest };
            if !path.starts_with('/') {
                return Err(format!(
                    "`{value}`: a unix socket needs an absolute path, as in unix:///var/run/docker.sock"
                ));
            }
            Ok(Endpoint::Unix(PathBuf::from(path)))
        }
        "tcp" | "http" => {
            let rest = rest.strip_suffix('/').unwrap_or(rest);
            if rest.contains('/') {
                return Err(format!(
                    "`{value}`: noglab takes tcp://HOST[:PORT] without a path"
                ));
            }
            let (host, port) = split_host_port(rest)
                .ok_or_else(|| format!("`{value}` is not tcp://HOST[:PORT]"))?;
            let host = if host.is_empty() { "localhost" } else { host };
            let port = match port {
                None => DEFAULT_TCP_PORT,
                Some(p) => p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("`{value}`: `{p}` is not a port"))?,
            };
            Ok(Endpoint::Tcp {
                host: host.to_string(),
                port,
            })
        }
        "https" => Err(format!(
            "`{value}`: noglab speaks to the engine over a unix socket or plain tcp://, not TLS; use the engine's unix socket, or forward it (ssh -L)"
        )),
        "ssh" => Err(format!(
            "`{value}`: noglab does not speak ssh:// to the engine; forward its socket instead: `ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock HOST` and DOCKER_HOST=unix:///tmp/docker.sock"
        )),
        other => Err(format!(
            "`{value}`: unsupported scheme `{other}://`; use unix:///path or tcp://HOST[:PORT]"
        )),
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; `None` when malformed.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(inner) = s.strip_prefix('[') {
        let (addr, after) = inner.split_once(']')?;
        let host = &s[..addr.len() + 2];
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?))),
        };
    }
    match s.split_once(':') {
        None => Some((s, None)),
        Some((_, p)) if p.contains(':') => None,
        Some((h, p)) => Some((h, Some(p))),
    }
}

/// Decides the endpoint from the environment (`env`) and the docker CLI's
/// files (`read`), in the docker CLI's order.
pub fn choose(
    env: impl Fn(&str) -> Option<String>,
    read: impl Fn(&Path) -> Option<String>,
) -> Result<Chosen, String> {
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(host) = set("DOCKER_HOST") {
        let endpoint = parse(&host).map_err(|e| format!("DOCKER_HOST {e}"))?;
        tls_refused(&endpoint, set("DOCKER_TLS_VERIFY").is_some())?;
        return Ok(Chosen {
            endpoint,
            from: "DOCKER_HOST".into(),
        });
    }
    let config_dir = set("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| set("HOME").map(|h| Path::new(&h).join(".docker")));
    let context = set("DOCKER_CONTEXT").or_else(|| {
        let config = read(&config_dir.as_ref()?.join("config.json"))?;
        let json: serde_json::Value = serde_json::from_str(&config).ok()?;
        json["currentContext"].as_str().map(String::from)
    });
    let local = || Chosen {
        endpoint: Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET)),
        from: "the local socket".into(),
    };
    let Some(context) = context.filter(|c| !c.is_empty() && c != "default") else {
        return Ok(local());
    };
    // The CLI keeps each context under the SHA-256 of its name.
    let digest: String = Sha256::digest(context.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let meta = config_dir
        .as_ref()
        .map(|d| d.join("contexts/meta").join(&digest).join("meta.json"))
        .and_then(|p| read(&p))
        .ok_or_else(|| {
            format!(
                "docker context `{context}` is selected but noglab cannot find it; `docker context use default`, or set DOCKER_HOST"
            )
        })?;
    let json: serde_json::Value = serde_json::from_str(&meta)
        .map_err(|e| format!("cannot read docker context `{context}`: {e}"))?;
    let host = json["Endpoints"]["docker"]["Host"]
        .as_str()
        .ok_or_else(|| format!("docker context `{context}` names no engine"))?;
    let endpoint = parse(host).map_err(|e| format!("docker context `{context}`: {e}"))?;
    // A context with TLS keeps its certificates beside its metadata.
    let tls = config_dir.is_some_and(|d| {
        let tls = d.join("contexts/tls").join(&digest).join("docker");
        ["ca.pem", "cert.pem"]
            .iter()
            .any(|f| read(&tls.join(f)).is_some())
    });
    tls_refused(&endpoint, tls)?;
    Ok(Chosen {
        endpoint,
        from: format!("docker context {context}"),
    })
}

fn tls_refused(endpoint: &Endpoint, tls: bool) -> Result<(), String> {
    match endpoint {
        Endpoint::Tcp { .. } if tls => Err(format!(
            "{endpoint} asks for TLS (DOCKER_TLS_VERIFY), which noglab does not speak; use the engine's unix socket, or forward it (ssh -L)"
        )),
        _ => Ok(()),
    }
}

/// The endpoint from this process's environment and files.
pub fn from_env() -> Result<Chosen, String> {
    choose(
        |k| std::env::var(k).ok(),
        |p| std::fs::read_to_string(p).ok(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn docker_host_values_as_the_docker_cli_reads_them() {
        let cases = [
            (
                "unix:///var/run/docker.sock",
                Endpoint::Unix("/var/run/docker.sock".into()),
            ),
            (
                "unix:///run/user/1000/docker.sock",
                Endpoint::Unix("/run/user/1000/docker.sock".into()),
            ),
            ("unix://", Endpoint::Unix(DEFAULT_SOCKET.into())),
            ("tcp://127.0.0.1:2375", tcp("127.0.0.1", 2375)),
            ("tcp://engine.example:12375/", tcp("engine.example", 12375)),
            ("tcp://engine.example", tcp("engine.example", 2375)),
            ("tcp://:2375", tcp("localhost", 2375)),
            ("tcp://[::1]:2375", tcp("[::1]", 2375)),
            ("tcp://[2001:db8::1]", tcp("[2001:db8::1]", 2375)),
            ("http://127.0.0.1:2375", tcp("127.0.0.1", 2375)),
            ("127.0.0.1:2375", tcp("127.0.0.1", 2375)),
            (" tcp://127.0.0.1:2375 ", tcp("127.0.0.1", 2375)),
        ];
        for (value, want) in cases {
            assert_eq!(parse(value), Ok(want), "{value}");
        }
        assert_eq!(tcp("[::1]", 2375).to_string(), "tcp://[::1]:2375");
    }

    #[test]
    fn what_noglab_cannot_use_is_said_plainly() {
        for (value, says) in [
            ("ssh://admin@engine", "does not speak ssh://"),
            ("https://engine:2376", "not TLS"),
            (
                "npipe:////./pipe/docker_engine",
                "unsupported scheme `npipe://`",
            ),
            ("tcp://engine:notaport", "`notaport` is not a port"),
            ("tcp://engine:0", "is not a port"),
            ("tcp://engine:2375/v1.41", "without a path"),
            ("tcp://::1:2375", "is not tcp://HOST[:PORT]"),
            ("unix://docker.sock", "absolute path"),
        ] {
            let err = parse(value).expect_err(value);
            assert!(err.contains(says), "{value}: {err}");
        }
    }

    fn with(env: &[(&str, &str)], files: &[(&str, &str)]) -> Result<Chosen, String> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let files: BTreeMap<PathBuf, String> = files
            .iter()
            .map(|(k, v)| (PathBuf::from(k), v.to_string()))
            .collect();
        choose(|k| env.get(k).cloned(), |p| files.get(p).cloned())
    }

    #[test]
    fn docker_host_comes_first_and_empty_means_unset() {
        let c = with(&[("DOCKER_HOST", "tcp://127.0.0.1:2375")], &[]).expect("valid");
        assert_eq!(c.endpoint, tcp("127.0.0.1", 2375));
        assert_eq!(c.from, "DOCKER_HOST");
        let c = with(&[("DOCKER_HOST", ""), ("HOME", "/root")], &[]).expect("valid");
        assert_eq!(c.endpoint, Endpoint::Unix(DEFAULT_SOCKET.into()));
        let e = with(&[("DOCKER_HOST", "ssh://engine")], &[]).expect_err("ssh");
        assert!(e.starts_with("DOCKER_HOST `ssh://engine`"), "{e}");
        let e = with(
            &[
                ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
                ("DOCKER_TLS_VERIFY", "1"),
            ],
            &[],
        )
        .expect_err("tls");
        assert!(e.contains("DOCKER_TLS_VERIFY"), "{e}");
    }

    #[test]
    fn a_docker_context_is_followed() {
        // sha256("lab-server"), as `docker context create lab-server` stores it.
        let digest: String = Sha256::digest(b"lab-server")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let meta = format!("/root/.docker/contexts/meta/{digest}/meta.json");
        let body = r#"{"Name":"lab-server","Endpoints":{"docker":{"Host":"tcp://127.0.0.1:12375","SkipTLSVerify":false}}}"#;
        let config = r#"{"auths":{},"currentContext":"lab-server"}"#;
        let c = with(
            &[("HOME", "/root")],
            &[("/root/.docker/config.json", config), (&meta, body)],
        )
        .expect("valid");
        assert_eq!(c.endpoint, tcp("127.0.0.1", 12375));
        assert_eq!(c.from, "docker context lab-server");
        // DOCKER_CONTEXT overrides the config; `default` is the local socket.
        let c = with(
            &[("HOME", "/root"), ("DOCKER_CONTEXT", "default")],
            &[("/root/.docker/config.json", config), (&meta, body)],
        )
        .expect("valid");
        assert_eq!(c.endpoint, Endpoint::Unix(DEFAULT_SOCKET.into()));
        // DOCKER_HOST overrides both.
        let c = with(
            &[("HOME", "/root"), ("DOCKER_HOST", "unix:///tmp/d.sock")],
            &[("/root/.docker/config.json", config), (&meta, body)],
        )
        .expect("valid");
        assert_eq!(c.endpoint, Endpoint::Unix("/tmp/d.sock".into()));
        // DOCKER_CONFIG moves the files.
        let moved = format!("/etc/dk/contexts/meta/{digest}/meta.json");
        let c = with(
            &[
                ("DOCKER_CONFIG", "/etc/dk"),
                ("DOCKER_CONTEXT", "lab-server"),
            ],
            &[(&moved, body)],
        )
        .expect("valid");
        assert_eq!(c.endpoint, tcp("127.0.0.1", 12375));
        let e = with(&[("HOME", "/root"), ("DOCKER_CONTEXT", "gone")], &[]).expect_err("gone");
        assert!(e.contains("docker context `gone`"), "{e}");
    }

    #[test]
    fn nothing_set_is_the_local_socket() {
        let c = with(&[], &[]).expect("valid");
        assert_eq!(c.endpoint, Endpoint::Unix(DEFAULT_SOCKET.into()));
        assert_eq!(c.from, "the local socket");
    }
}
