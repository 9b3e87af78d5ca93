//! `noglab capture --pod N NODE IFACE [-w FILE] [-- FILTER]`: a node's
//! packets on one of its links, as a pcap stream to standard output (for
//! `| wireshark -k -i -`) or to a file.
//!
//! tcpdump runs in the node, through the engine's exec: every image of a
//! kind with links has it, it sees the interface under the plan's name,
//! and nothing but the engine's API is needed, so a capture works on a
//! remote engine as on the local one. (A capture on the link's bridge
//! would need the host's own namespace, which a remote engine does not
//! give, and would see the bridge's names, not the plan's.)
//!
//! Ending: tcpdump writes each packet as it comes (`-U`), so the pcap is
//! whole up to the last packet whatever happens to noglab. The exec's
//! standard input is tcpdump's lifeline: a shell in the node stops tcpdump
//! (SIGTERM: it flushes and exits) when that input ends, and it ends when
//! noglab ends it (Ctrl-C, SIGTERM, SIGHUP, the reader going away) or when
//! noglab is gone for any reason (killed, its connection lost: the engine
//! closes the input of an exec whose client has gone, as measured on
//! Docker 20.10). The exec then ends with tcpdump, so nothing is left
//! running in the node; no second command, no process id to remember.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;

use crate::diag::{input_error, ExitCode};
use crate::engine::{Connector, Engine};

/// How long tcpdump has to end once its input has.
const GRACE: Duration = Duration::from_secs(5);

pub async fn run<C: Connector>(
    engines: &C,
    pod: &str,
    target: &[String],
    write: Option<&Path>,
    filter: &[String],
) -> Result<()> {
    let (lab, node, iface) = match target {
        [lab, node, iface] => (Some(lab.clone()), node.clone(), iface.clone()),
        [node, iface] => (None, node.clone(), iface.clone()),
        _ => {
            return Err(input_error(
                "say what to capture: [LAB] NODE IFACE, e.g. `r1 eth1`",
            ))
        }
    };
    if write.is_none() && std::io::stdout().is_terminal() {
        return Err(input_error(
            "a capture is binary pcap, not for a terminal: pipe it (`| wireshark -k -i -`, `| tshark -r -`) or write it with -w FILE",
        ));
    }
    let engine = engines.engine().await?;
    let lab = super::resolve_lab(engine, lab).await?;
    let pod = super::parse_pod(pod)?;
    let container = super::find_node(engine, &lab, pod, &node).await?;
    let plan = super::link::saved_plan(&lab)?;
    super::link::check_interface(&plan, pod, &node, &iface)?;
    super::require_running(&container, pod)?;

    let mut out: Box<dyn Write + Send> = match write {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("failed to create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    // Registered before tcpdump starts: from now on Ctrl-C is noglab's.
    let stop = stop_signals().context("failed to watch for Ctrl-C")?;
    let ended = capture(
        engine,
        &container.name,
        &iface,
        filter,
        &mut out,
        &mut std::io::stderr(),
        stop,
    )
    .await?;
    match ended {
        Ended::Stopped | Ended::ReaderGone => Ok(()),
        Ended::Exited(0) => Ok(()),
        // The shell's "not found": an image without tcpdump (the access
        // point's).
        Ended::Exited(127) => Err(input_error(format!(
            "node {node} has no tcpdump; capture at the other end of the link"
        ))),
        Ended::Exited(code) => Err(ExitCode(code as i32).into()),
    }
}

/// Resolves at the first Ctrl-C, SIGTERM or SIGHUP; a second Ctrl-C a
/// moment later ends noglab at once (tcpdump still stops: its input ends
/// with noglab). A signal sent twice at once, as `timeout` sends it to its
/// child and again to the group, counts once.
fn stop_signals() -> Result<impl std::future::Future<Output = ()> + Send> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        let first = std::time::Instant::now();
        tokio::spawn(async move {
            while int.recv().await.is_some() {
                if first.elapsed() > Duration::from_millis(500) {
                    eprintln!("interrupted: quit without waiting for the capture's last packets");
                    std::process::exit(i32::from(crate::stop::EXIT_CODE));
                }
            }
        });
    })
}

/// How a capture ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Stopped by noglab (Ctrl-C or a signal): the usual end.
    Stopped,
    /// Whoever read the pcap went away (Wireshark closed).
    ReaderGone,
    /// tcpdump ended by itself (a bad filter, the interface gone) with
    /// this code.
    Exited(i64),
}

/// Runs tcpdump on `iface` of `container` until `stop` resolves or it
/// ends by itself; the pcap to `out` as it comes, tcpdump's own words to
/// `said`.
async fn capture<E: Engine>(
    engine: &E,
    container: &str,
    iface: &str,
    filter: &[String],
    out: &mut (impl Write + ?Sized),
    said: &mut impl Write,
    stop: impl std::future::Future<Output = ()> + Send,
) -> Result<Ended> {
    let reader_gone = Notify::new();
    let asked = Notify::new();
    let stopped = AtomicBool::new(false);
    let mut write_error: Option<std::io::Error> = None;
    let sink = |is_err: bool, bytes: &[u8]| {
        if is_err {
            let _ = said.write_all(bytes);
        } else if write_error.is_none() {
            if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
                write_error = Some(e);
                reader_gone.notify_one();
            }
        }
    };
    let lifeline = EndsWhen(Box::pin(async {
        tokio::select! {
            () = stop => {}
            () = reader_gone.notified() => {}
        }
        stopped.store(true, Ordering::SeqCst);
        asked.notify_one();
    }));
    let command = tcpdump_command(iface, filter);
    let code = tokio::select! {
        code = engine.exec_with_input(container, &command, lifeline, sink) => code?,
        () = async {
            asked.notified().await;
            tokio::time::sleep(GRACE).await;
        } => {
            bail!("tcpdump in {container} did not stop within {}s of its input ending", GRACE.as_secs())
        }
    };
    match write_error {
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Ended::ReaderGone),
        Some(e) => Err(e).context("failed to write the capture"),
        None if stopped.load(Ordering::SeqCst) => Ok(Ended::Stopped),
        None => Ok(Ended::Exited(code)),
    }
}

/// An input that gives nothing and ends when its future resolves.
struct EndsWhen<F>(Pin<Box<F>>);

impl<F: std::future::Future<Output = ()>> AsyncRead for EndsWhen<F> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        // Ready with nothing read is the end of the input.
        self.0.as_mut().poll(cx).map(Ok)
    }
}

/// tcpdump on `iface`, numeric, each packet written as it comes, as pcap
/// to standard output, stopped when the exec's input ends; the shell's
/// exit code is tcpdump's. The filter is tcpdump's own words, passed as
/// arguments (never through a shell).
fn tcpdump_command(iface: &str, filter: &[String]) -> Vec<String> {
    let mut cmd: Vec<String> = ["sh", "-c", LIFELINE, "noglab-capture", iface]
        .iter()
        .map(|s| s.to_string())
        .collect();
    cmd.extend(filter.iter().cloned());
    cmd
}

/// The shell that runs tcpdump in the node; its input is the lifeline,
/// kept as fd 3 (a background job's standard input is /dev/null). tcpdump
/// runs in the background, where SIGINT is ignored: it gets SIGTERM, on
/// which it writes what it holds and exits. The watcher holds only the
/// lifeline, so the exec's output ends with tcpdump.
const LIFELINE: &str = r#"iface=$1; shift
exec 3<&0 </dev/null
tcpdump -i "$iface" -n -U -w - -- "$@" 3<&- &
t=$!
{ cat <&3; kill -TERM "$t"; } >/dev/null 2>&1 &
exec 3<&-
wait "$t""#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::engine::ExecOutput;
    use crate::reconcile::testing;

    /// A pcap's first bytes and a packet with every byte value.
    fn pcap() -> Vec<u8> {
        let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00];
        bytes.extend(0..=255u8);
        bytes
    }

    #[tokio::test]
    async fn the_pcap_comes_through_byte_for_byte_and_tcpdump_is_cleaned_up_after() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(1)).await;
        engine.lock().exec_outputs.insert(
            "lab-p01-r1".into(),
            ExecOutput {
                code: 0,
                stdout: pcap(),
                stderr: b"listening on eth1, link-type EN10MB (Ethernet)\n".to_vec(),
            },
        );
        let (mut out, mut said) = (Vec::new(), Vec::new());
        let filter = ["tcp".to_string(), "port".into(), "179".into()];
        let ended = capture(
            &engine,
            "lab-p01-r1",
            "eth1",
            &filter,
            &mut out,
            &mut said,
            std::future::pending(),
        )
        .await
        .expect("captures");
        assert_eq!(ended, Ended::Exited(0));
        assert_eq!(out, pcap());
        assert_eq!(
            String::from_utf8_lossy(&said),
            "listening on eth1, link-type EN10MB (Ethernet)\n"
        );
        let executed = engine.lock().executed.clone();
        let [(container, tcpdump)] = &executed[..] else {
            panic!("one command: {executed:?}");
        };
        assert_eq!(container, "lab-p01-r1");
        assert_eq!(tcpdump[..3], ["sh", "-c", LIFELINE]);
        assert_eq!(
            tcpdump[3..],
            ["noglab-capture", "eth1", "tcp", "port", "179"]
        );
    }

    #[tokio::test]
    async fn a_stop_ends_the_lifeline_and_the_capture_ends_as_stopped() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(1)).await;
        let ended = capture(
            &engine,
            "lab-p01-r1",
            "eth1",
            &[],
            &mut Vec::new(),
            &mut Vec::new(),
            std::future::ready(()),
        )
        .await
        .expect("ends");
        assert_eq!(ended, Ended::Stopped);
        // The lifeline gave nothing and ended.
        assert_eq!(engine.lock().fed, [("lab-p01-r1".to_string(), Vec::new())]);
    }

    /// A reader that has gone, as a closed Wireshark's pipe.
    struct Gone;

    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_reader_that_goes_away_ends_the_capture_quietly() {
        let engine = FakeEngine::default();
        testing::up(&engine, &testing::plan(1)).await;
        engine.lock().exec_outputs.insert(
            "lab-p01-r1".into(),
            ExecOutput {
                code: 0,
                stdout: pcap(),
                stderr: Vec::new(),
            },
        );
        let ended = capture(
            &engine,
            "lab-p01-r1",
            "eth1",
            &[],
            &mut Gone,
            &mut Vec::new(),
            std::future::pending(),
        )
        .await
        .expect("ends");
        assert_eq!(ended, Ended::ReaderGone);
    }
}
