//! A small builder for running the noglab binary in tests, and a guard that
//! removes a test lab by label however the test ends.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root, where `examples/` and `tests/` live.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The state directory tests use: `NOGLAB_STATE_DIR` when set (CI sets
/// one), else one under `target/`.
pub fn state_dir() -> std::ffi::OsString {
    std::env::var_os("NOGLAB_STATE_DIR").unwrap_or_else(|| root().join("target/test-state").into())
}

pub struct Run {
    cmd: Command,
}

/// `noglab ARGS...` with its own state directory.
pub fn noglab(args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_noglab"));
    cmd.args(args).current_dir(root()).env("NOGLAB_PLAIN", "1");
    // Only the tests that spread a lab over several engines name a file.
    cmd.env_remove("NOGLAB_ENGINES");
    cmd.env("NOGLAB_STATE_DIR", state_dir());
    Run { cmd }
}

pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn dir(mut self, dir: &Path) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    pub fn run(mut self) -> Done {
        let out: Output = self.cmd.output().expect("noglab runs");
        Done {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and insists on exit code 0.
    pub fn ok(self) -> Done {
        let d = self.run();
        assert_eq!(
            d.code, 0,
            "noglab failed\nstdout:\n{}\nstderr:\n{}",
            d.stdout, d.stderr
        );
        d
    }

    /// Runs and insists on the given exit code.
    pub fn code(self, code: i32) -> Done {
        let d = self.run();
        assert_eq!(
            d.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            d.stdout, d.stderr
        );
        d
    }
}

/// Compares `actual` with the golden file, or rewrites it when
/// `NOGLAB_BLESS=1`: review the diff, then commit it.
pub fn golden(path: &Path, actual: &str) {
    if std::env::var_os("NOGLAB_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; run with NOGLAB_BLESS=1",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "{} differs from the output (rerun with NOGLAB_BLESS=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}
