//! Ctrl-C during `up`: stop cleanly instead of dying between two engine
//! calls.
//!
//! The first Ctrl-C asks the work to stop: no new engine call starts, the
//! calls in flight finish (so nothing the engine was creating appears after
//! noglab has gone), and the command ends with [`Interrupted`], which
//! `main` turns into a short message and exit code 130, as a shell reports
//! a process stopped by SIGINT. A second Ctrl-C, or calls still in flight
//! after a grace period, quits at once. The lab's lock is a file lock:
//! the kernel releases it however noglab ends.
//!
//! Owns only the signal and the flag; what "stop" means for each piece of
//! work is the caller's (`reconcile::execute`, `commands::up`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The exit code of a command stopped by Ctrl-C (128 + SIGINT).
pub const EXIT_CODE: u8 = 130;

/// A request to stop, shared by everything one command runs.
#[derive(Clone)]
pub struct Stop {
    flag: Arc<watch::Sender<bool>>,
}

impl fmt::Debug for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stop")
            .field("requested", &self.requested())
            .finish()
    }
}

impl Default for Stop {
    fn default() -> Self {
        Stop::never()
    }
}

impl Stop {
    /// A stop nobody requests unless [`Stop::request`] is called (tests,
    /// commands that keep the default Ctrl-C).
    pub fn never() -> Stop {
        Stop {
            flag: Arc::new(watch::channel(false).0),
        }
    }

    /// A stop that Ctrl-C (SIGINT) requests; from now on Ctrl-C no longer
    /// kills the process outright. A second Ctrl-C, or `grace` after the
    /// first without the command having ended, ends the process with
    /// [`EXIT_CODE`] and says what may be left. Needs a Tokio runtime.
    pub fn on_ctrl_c(grace: Duration) -> Stop {
        Stop::on_ctrl_c_saying(
            grace,
            "interrupted: quit without waiting for the engine calls in flight; what they create may appear in a moment: run the same `noglab up` again to complete the lab, or `noglab down` to remove it",
        )
    }

    /// As [`Stop::on_ctrl_c`], with what the process says when it quits
    /// before the command has ended.
    pub fn on_ctrl_c_saying(grace: Duration, quitting: &'static str) -> Stop {
        let stop = Stop::never();
        // Registered here, before any work starts, not when a task is
        // first polled: a Ctrl-C from now on is ours.
        let Ok(mut signals) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        else {
            // Without a handler Ctrl-C keeps its default: noglab dies, as an
            // interrupted `up` always could; the next `up` completes the lab.
            return stop;
        };
        let s = stop.clone();
        tokio::spawn(async move {
            if signals.recv().await.is_none() {
                return;
            }
            s.request();
            tokio::select! {
                _ = signals.recv() => {}
                () = tokio::time::sleep(grace) => {}
            }
            eprintln!("{quitting}");
            std::process::exit(i32::from(EXIT_CODE));
        });
        stop
    }

    pub fn request(&self) {
        self.flag.send_replace(true);
    }

    pub fn requested(&self) -> bool {
        *self.flag.borrow()
    }

    /// Resolves once a stop is requested (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.flag.subscribe();
        // The sender lives in `self`, so the channel cannot close.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// `Err(Interrupted)` once a stop is requested: call before each step
    /// that should not start any more.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.requested() {
            Err(anyhow::Error::new(Interrupted))
        } else {
            Ok(())
        }
    }

    /// Runs `work` unless a stop comes first; then `work` is dropped where
    /// it stands (for work that only reads, or that the next run redoes
    /// whole) and the result is `Err(Interrupted)`.
    pub async fn abandon_on<T>(
        &self,
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        tokio::select! {
            r = work => r,
            () = self.wait() => Err(anyhow::Error::new(Interrupted)),
        }
    }
}

/// The work stopped because Ctrl-C asked it to.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Whether an error (or its cause) is an interruption.
pub fn is_interrupted(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.is::<Interrupted>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_requested_stop_ends_waiting_and_checks() {
        let stop = Stop::never();
        assert!(stop.check().is_ok());
        let waiting = tokio::spawn({
            let s = stop.clone();
            async move { s.wait().await }
        });
        stop.request();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("wait ends")
            .expect("task");
        assert!(is_interrupted(&stop.check().expect_err("stopped")));
        // Already requested: resolves at once.
        stop.wait().await;
    }

    #[tokio::test]
    async fn abandon_on_drops_work_that_outlives_the_stop() {
        let stop = Stop::never();
        let s = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            s.request();
        });
        let r: anyhow::Result<()> = stop
            .abandon_on(async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
            .await;
        assert!(is_interrupted(&r.expect_err("abandoned")));
        // Work that ends first keeps its result.
        let fresh = Stop::never();
        assert_eq!(fresh.abandon_on(async { Ok(7) }).await.expect("ok"), 7);
    }
}
