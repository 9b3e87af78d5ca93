//! Progress for long operations: one overall bar and the current step on a
//! terminal, plain lines otherwise, nothing with `--quiet`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
    plain: bool,
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let terminal =
            std::io::stderr().is_terminal() && std::env::var_os("NOGLAB_PLAIN").is_none();
        let bars = (!quiet && terminal).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(
                ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            let step = multi.add(ProgressBar::new_spinner());
            step.set_style(
                ProgressStyle::with_template("     {spinner} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            step.enable_steady_tick(Duration::from_millis(120));
            (multi, overall, step)
        });
        Progress {
            bars,
            plain: !quiet && !terminal,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }

    /// Adds work to the overall count.
    pub fn add(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
        if let Some((_, overall, _)) = &self.bars {
            overall.inc_length(n);
        }
    }

    /// Says what is happening now.
    pub fn step(&self, message: impl Into<String>) {
        let message = message.into();
        if let Some((_, _, step)) = &self.bars {
            step.set_message(message);
        } else if self.plain {
            eprintln!("{message}");
        }
    }

    /// One unit of work finished.
    pub fn inc(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Some((_, overall, _)) = &self.bars {
            overall.inc(1);
        }
    }

    /// A line that stays, above the bars.
    pub fn println(&self, message: impl AsRef<str>) {
        match &self.bars {
            Some((multi, _, _)) => {
                let _ = multi.println(message.as_ref());
            }
            None if self.plain => eprintln!("{}", message.as_ref()),
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some((_, overall, step)) = &self.bars {
            step.finish_and_clear();
            overall.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
