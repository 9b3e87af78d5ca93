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
        let terminal = std::io::stderr().is_terminal()
            && std::env::var_os("NOGLAB_PLAIN").is_none()
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
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

/// Makes a closed standard output (`noglab status | head -1`) end noglab
/// quietly, with the status a process killed by SIGPIPE has (141), as the
/// docker CLI and other Unix tools do, rather than with a panic and its
/// backtrace. `println!` panics on a broken pipe, since Rust ignores
/// SIGPIPE; noglab forbids the unsafe code that would restore it.
pub fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Writes to standard output, ending quietly like [`quiet_broken_pipe`]
/// when the reader has gone.
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
        other => other,
    }
}

/// Whether to colour what goes to standard output: only on a terminal, and
/// not when `NO_COLOR` is set to anything but an empty string (no-color.org)
/// or the terminal is `dumb`.
pub fn color_stdout() -> bool {
    color_allowed(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

fn color_allowed(
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

#[cfg(test)]
mod tests {
    use super::color_allowed;
    use std::ffi::OsStr;

    #[test]
    fn no_color_and_pipes_turn_colour_off() {
        assert!(color_allowed(true, None, Some(OsStr::new("xterm"))));
        assert!(!color_allowed(false, None, None));
        assert!(!color_allowed(true, Some(OsStr::new("1")), None));
        // An empty NO_COLOR does not count (no-color.org).
        assert!(color_allowed(true, Some(OsStr::new("")), None));
        assert!(!color_allowed(true, None, Some(OsStr::new("dumb"))));
    }
}
