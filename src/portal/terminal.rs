//! A terminal to a node in the browser: a WebSocket carried to an exec
//! with a TTY, opened as the participant's login user (`lab`) in the
//! shell the pod's SSH access point gives it (vtysh on FRR, the node's
//! `login_shell`), never as root.
//!
//! The page sends keystrokes as binary messages and its terminal's size
//! as a text message `{"cols":C,"rows":R}`; the node's output comes back
//! as binary messages. The exec ends when the WebSocket does.

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::credentials::USER;
use crate::engine::spread::Spread;
use crate::engine::{Engine, Interactive};

/// The largest message a page may send: a paste of a few pages of
/// configuration, not a file upload.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// What runs in the node: the login user's own shell, as its passwd
/// entry names it (what sshd runs for it), so the portal and the access
/// point can never disagree. `id` marks the session's processes, so that
/// [`hang_up_command`] finds them.
pub fn login_command(id: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "export {MARK}={id}; cd \"$HOME\" 2>/dev/null; exec \"$(getent passwd {USER} | cut -d: -f7)\""
        ),
    ]
}

/// The variable that marks a terminal's processes.
const MARK: &str = "NOGLAB_TERMINAL";

/// Hangs up the terminal marked `id`, as a closed SSH connection does:
/// the engine keeps an exec running when its client goes, so the portal
/// sends its processes SIGHUP itself. Run as the login user: it can
/// signal nothing but that user's own processes.
pub fn hang_up_command(id: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "for p in /proc/[0-9]*; do grep -qxz '{MARK}={id}' \"$p/environ\" 2>/dev/null && kill -HUP \"${{p#/proc/}}\"; done; true"
        ),
    ]
}

#[derive(Debug, Deserialize)]
struct Size {
    cols: u16,
    rows: u16,
}

/// A terminal's size from the page, within what a screen can show.
fn size_of(text: &str) -> Option<(u16, u16)> {
    let s: Size = serde_json::from_str(text).ok()?;
    ((1..=1000).contains(&s.cols) && (1..=500).contains(&s.rows)).then_some((s.cols, s.rows))
}

/// Carries a session between the page and the node until either ends;
/// then ends the other: the page's WebSocket is closed, the node's shell
/// hung up.
pub async fn relay(
    engine: &Spread,
    mut ws: WebSocket,
    session: Interactive,
    container: &str,
    id: &str,
) {
    let Interactive {
        exec_id,
        mut output,
        mut input,
    } = session;
    loop {
        tokio::select! {
            msg = ws.recv() => match msg {
                Some(Ok(Message::Binary(keys))) => {
                    if input.write_all(&keys).await.is_err() || input.flush().await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    if let Some(size) = size_of(text.as_str()) {
                        let _ = engine.resize(&exec_id, size).await;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                // Closed, broken or gone: the shell goes with it.
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            chunk = output.next() => match chunk {
                Some(Ok(bytes)) => {
                    if ws.send(Message::Binary(bytes)).await.is_err() {
                        break;
                    }
                }
                Some(Err(_)) | None => {
                    let _ = ws.send(Message::Close(None)).await;
                    break;
                }
            },
        }
    }
    let _ = input.shutdown().await;
    drop(output);
    hang_up(engine, container, id).await;
}

/// Sends the terminal's processes SIGHUP and waits (a little) for that
/// to be done.
async fn hang_up(engine: &Spread, container: &str, id: &str) {
    let run = async {
        let Ok(s) = engine
            .exec_interactive_as(container, USER, &hang_up_command(id), (80, 24))
            .await
        else {
            return;
        };
        let mut out = s.output;
        while let Some(Ok(_)) = out.next().await {}
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), run).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_come_from_the_page_within_bounds() {
        assert_eq!(size_of(r#"{"cols":120,"rows":40}"#), Some((120, 40)));
        assert_eq!(size_of(r#"{"cols":0,"rows":40}"#), None);
        assert_eq!(size_of(r#"{"cols":120,"rows":9999}"#), None);
        assert_eq!(size_of("show bgp summary"), None);
    }

    #[test]
    fn the_shell_is_the_login_users_own_and_hangs_up_by_its_mark() {
        let cmd = login_command("abc123");
        assert_eq!(cmd[..2], ["sh".to_string(), "-c".to_string()]);
        assert!(cmd[2].contains("getent passwd lab"), "{}", cmd[2]);
        assert!(
            cmd[2].starts_with("export NOGLAB_TERMINAL=abc123;"),
            "{}",
            cmd[2]
        );
        let hup = hang_up_command("abc123");
        assert!(hup[2].contains("'NOGLAB_TERMINAL=abc123'"), "{}", hup[2]);
        assert!(hup[2].contains("kill -HUP"), "{}", hup[2]);
    }
}
