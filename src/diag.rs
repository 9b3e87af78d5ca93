//! Diagnostics that point into a topology file: `FILE:LINE:COL: message`,
//! followed by the offending line and a caret under the column.
//!
//! Owns only formatting and the error types that `main` maps to exit codes;
//! it never decides what is wrong with a topology.

use std::fmt;
use std::path::PathBuf;

/// One problem at a place in a file. Lines and columns count from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Every problem found in one file, reported together.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub file: PathBuf,
    pub source: String,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(file: PathBuf, source: String, mut items: Vec<Diagnostic>) -> Self {
        items.sort_by(|a, b| (a.line, a.col, &a.message).cmp(&(b.line, b.col, &b.message)));
        items.dedup();
        Diagnostics {
            file,
            source,
            items,
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<&str> = self.source.lines().collect();
        for (n, d) in self.items.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            writeln!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                d.line,
                d.col,
                d.message
            )?;
            if let Some(text) = d.line.checked_sub(1).and_then(|i| lines.get(i)) {
                let gutter = d.line.to_string();
                writeln!(f, "{gutter} | {text}")?;
                // Columns count characters; tabs are kept so the caret lines up.
                let pad: String = text
                    .chars()
                    .take(d.col.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "{} | {pad}^", " ".repeat(gutter.len()))?;
            }
        }
        let count = self.items.len();
        write!(
            f,
            "\n{} problem{} in {}",
            count,
            if count == 1 { "" } else { "s" },
            self.file.display()
        )
    }
}

impl std::error::Error for Diagnostics {}

/// Bad input that has no place in a file: an unknown lab, pod or node, a bad
/// flag value. `main` maps it to exit code 2.
#[derive(Debug)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Shorthand for returning an [`InputError`] inside `anyhow`.
pub fn input_error(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InputError(message.into()))
}

/// A command run in a node exited non-zero: `main` exits with the same code.
#[derive(Debug)]
pub struct ExitCode(pub i32);

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "command exited with code {}", self.0)
    }
}

impl std::error::Error for ExitCode {}
