//! Where each key and value of a YAML document stands in its file.
//!
//! serde reports no positions for values it accepted, yet validation must
//! point at the offending line. This pass walks the document's events once
//! and records, for every path (`nodes` / `r1` / `kind`), the position of the
//! key and of the value. It also catches duplicate keys, which a plain map
//! would silently merge.

use std::collections::{BTreeMap, HashMap};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::diag::Diagnostic;

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Self {
        Seg::Key(s.to_string())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

pub type Path = Vec<Seg>;

/// Builds a path from a mix of keys and indexes: `path!["links", 0, "ipv4"]`.
#[macro_export]
macro_rules! path {
    ($($seg:expr),* $(,)?) => {
        vec![$($crate::topology::spans::Seg::from($seg)),*]
    };
}

/// A line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        Pos {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// A problem with one place of the topology: the value at a path, or the
/// key that names it (a node's name, a file's destination). Validation and
/// the plan both speak in these; [`Spans::locate`] turns one into a
/// `FILE:LINE:COL` diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: Path,
    /// Point at the key that names `path` rather than at its value.
    pub at_key: bool,
    pub message: String,
}

impl Problem {
    /// A problem with the value at `path`.
    pub fn value(path: Path, message: impl Into<String>) -> Problem {
        Problem {
            path,
            at_key: false,
            message: message.into(),
        }
    }

    /// A problem with the key that names `path`.
    pub fn key(path: Path, message: impl Into<String>) -> Problem {
        Problem {
            path,
            at_key: true,
            message: message.into(),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Entry {
    key: Option<Pos>,
    value: Option<Pos>,
}

/// Positions of every key and value, by path.
#[derive(Debug, Default, Clone)]
pub struct Spans {
    entries: BTreeMap<Path, Entry>,
    /// The source's lines, to say how a value was written.
    lines: Vec<String>,
}

impl Spans {
    /// Reads positions from `source`. A syntax error comes back as one
    /// diagnostic; duplicate keys come back as a list.
    pub fn parse(source: &str) -> Result<(Spans, Vec<Diagnostic>), Diagnostic> {
        let mut recv = Receiver::default();
        let mut parser = Parser::new_from_str(source);
        parser.load(&mut recv, false).map_err(|e| {
            let mut pos = Pos::from(*e.marker());
            let mut message = format!("invalid YAML: {}", e.info());
            // At the end of the file there is no line to show: point just
            // after the last thing written instead.
            let lines: Vec<&str> = source.lines().collect();
            if pos.line > lines.len() || lines.get(pos.line - 1).is_none_or(|l| l.trim().is_empty())
            {
                if let Some((i, last)) = lines
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(_, l)| !l.trim().is_empty())
                    .filter(|(i, _)| *i + 1 < pos.line)
                {
                    pos = Pos {
                        line: i + 1,
                        col: last.chars().count() + 1,
                    };
                    message.push_str(", but the file ends");
                }
            }
            let tag = lines
                .get(pos.line.saturating_sub(1))
                .and_then(|l| unquoted_tag(l));
            if let Some((col, value)) = tag {
                // Whatever YAML says then, the template is the cause.
                pos.col = col;
                message = format!(
                    "{message}; a value that starts with `{{{{` or `{{%` must be in quotes, or YAML reads `{{` as the start of a mapping"
                );
                if !value.contains('"') {
                    message.push_str(&format!(": `\"{value}\"`"));
                }
            } else if let Some((at, said)) = Some(e.info())
                .filter(|i| i.contains("mapping values are not allowed"))
                .and_then(|_| over_indented(&lines, pos.line))
            {
                pos = at;
                message = format!("invalid YAML: {said}");
            } else if let Some(hint) = syntax_hint(e.info()) {
                message = format!("{message}; {hint}");
            }
            Diagnostic {
                line: pos.line,
                col: pos.col,
                message,
            }
        })?;
        let mut spans = recv.spans;
        spans.lines = source.lines().map(str::to_string).collect();
        Ok((spans, recv.duplicates))
    }

    /// The value at exactly `path` as written: the rest of its first line,
    /// without a trailing comment.
    pub fn written(&self, path: &[Seg]) -> Option<&str> {
        let pos = self.entries.get(path)?.value?;
        written_from(self.lines.get(pos.line.checked_sub(1)?)?, pos.col)
    }

    /// Every value written as an unquoted template (`asn: {{ 65000 + pod }}`),
    /// which YAML reads as a mapping, with its path and position.
    pub fn unquoted_templates(&self) -> Vec<(&Path, Pos, &str)> {
        self.entries
            .iter()
            .filter_map(|(path, e)| {
                let pos = e.value?;
                let text = written_from(self.lines.get(pos.line.checked_sub(1)?)?, pos.col)?;
                text.starts_with("{{").then_some((path, pos, text))
            })
            .collect()
    }

    /// The position of the value at `path`, or of the nearest ancestor that
    /// has one, so every message has a place.
    pub fn value(&self, path: &[Seg]) -> Pos {
        self.find(path, |e| e.value)
    }

    /// The position of the key that names `path` (falls back to the value).
    pub fn key(&self, path: &[Seg]) -> Pos {
        self.find(path, |e| e.key.or(e.value))
    }

    /// Where a problem points: its key's or its value's position.
    pub fn locate(&self, problem: Problem) -> Diagnostic {
        let pos = if problem.at_key {
            self.key(&problem.path)
        } else {
            self.value(&problem.path)
        };
        Diagnostic {
            line: pos.line,
            col: pos.col,
            message: problem.message,
        }
    }

    fn find(&self, path: &[Seg], pick: impl Fn(&Entry) -> Option<Pos>) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.entries.get(p).and_then(&pick) {
                return pos;
            }
            match p.split_last() {
                Some((_, rest)) => p = rest,
                None => return Pos { line: 1, col: 1 },
            }
        }
    }
}

/// Where a line's key starts (0-based, past any `- `) and the key, for a
/// line that is `key:` or `key: value` with a plain key.
fn key_of(line: &str) -> Option<(usize, &str)> {
    let mut start = line.len() - line.trim_start().len();
    while line[start..].starts_with("- ") {
        start += 2;
        start += line[start..].len() - line[start..].trim_start().len();
    }
    let rest = &line[start..];
    let end = rest
        .find(": ")
        .or_else(|| rest.ends_with(':').then(|| rest.len() - 1))?;
    let key = &rest[..end];
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    plain.then_some((start, key))
}

/// A "mapping values are not allowed" error at `line` (from 1) that comes
/// from a key indented more than the `key: value` line above it, which
/// YAML then reads as more of that value: where the key is, and what to
/// say.
fn over_indented(lines: &[&str], line: usize) -> Option<(Pos, String)> {
    let meaningful = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let i = line.checked_sub(1)?;
    let text = lines.get(i).copied().filter(|l| meaningful(l))?;
    let (col, key) = key_of(text)?;
    let j = (0..i).rev().find(|&j| meaningful(lines[j]))?;
    let above = lines[j];
    let (above_col, above_key) = key_of(above)?;
    let value = above[above_col + above_key.len() + 1..].trim();
    let scalar = !value.is_empty() && !value.starts_with(['|', '>', '#', '&', '!']);
    (scalar && col > above_col).then(|| {
        (
            Pos {
                line,
                col: text[..col].chars().count() + 1,
            },
            format!(
                "`{key}` is indented more than `{above_key}` on line {}, so YAML reads it as more of `{above_key}`'s value; line `{key}` up with `{above_key}` (column {}), or put a value that contains `: ` in quotes",
                j + 1,
                above[..above_col].chars().count() + 1
            ),
        )
    })
}

/// A value on `line` that starts with `{{` or `{%` unquoted: its column
/// (from 1) and its text.
fn unquoted_tag(line: &str) -> Option<(usize, &str)> {
    let value = match key_of(line) {
        Some((col, key)) => &line[col + key.len() + 1..],
        None => line.trim_start().trim_start_matches("- "),
    }
    .trim_start();
    let col = line[..line.len() - value.len()].chars().count() + 1;
    let value = value
        .find(" #")
        .map_or(value, |end| &value[..end])
        .trim_end();
    (value.starts_with("{{") || value.starts_with("{%")).then_some((col, value))
}

/// A line from a column (counted from 1) on, without a trailing comment.
fn written_from(line: &str, col: usize) -> Option<&str> {
    let start = line.char_indices().nth(col - 1).map(|(i, _)| i)?;
    let rest = &line[start..];
    let end = rest.find(" #").unwrap_or(rest.len());
    Some(rest[..end].trim_end())
}

/// What to do about the syntax errors people make most.
fn syntax_hint(info: &str) -> Option<&'static str> {
    if info.contains("tabs disallowed") {
        Some("indent with spaces")
    } else if info.contains("did not find expected key")
        || info.contains("invalid indentation")
        || info.contains("did not find expected '-'")
    {
        Some("check the indentation, and that every quote is closed")
    } else if info.contains("mapping values are not allowed") {
        Some("put values that contain `: ` in quotes")
    } else {
        None
    }
}

enum Frame {
    Map {
        path: Path,
        key: Option<(String, Pos)>,
        seen: HashMap<String, Pos>,
    },
    Seq {
        path: Path,
        next: usize,
    },
}

#[derive(Default)]
struct Receiver {
    spans: Spans,
    stack: Vec<Frame>,
    duplicates: Vec<Diagnostic>,
}

impl Receiver {
    /// The path a value starting now takes, given the frame it lands in.
    fn child_path(&self) -> Path {
        match self.stack.last() {
            None => Vec::new(),
            Some(Frame::Map { path, key, .. }) => {
                let mut p = path.clone();
                p.push(Seg::Key(
                    key.as_ref().map(|k| k.0.clone()).unwrap_or_default(),
                ));
                p
            }
            Some(Frame::Seq { path, next }) => {
                let mut p = path.clone();
                p.push(Seg::Index(*next));
                p
            }
        }
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn record_value(&mut self, pos: Pos) -> Path {
        let path = self.child_path();
        let key = match self.stack.last() {
            Some(Frame::Map {
                key: Some((_, k)), ..
            }) => Some(*k),
            _ => None,
        };
        let entry = self.spans.entries.entry(path.clone()).or_default();
        entry.value = Some(pos);
        entry.key = key;
        path
    }

    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { next, .. }) => *next += 1,
            None => {}
        }
    }

    fn take_key(&mut self, name: String, pos: Pos) {
        if let Some(Frame::Map { path, seen, .. }) = self.stack.last() {
            // yaml-rust2 marks a block mapping where its first `:` stands;
            // the mapping starts at its first key.
            if seen.is_empty() {
                if let Some(entry) = self.spans.entries.get_mut(path) {
                    if entry
                        .value
                        .is_some_and(|v| (pos.line, pos.col) < (v.line, v.col))
                    {
                        entry.value = Some(pos);
                    }
                }
            }
        }
        if let Some(Frame::Map { key, seen, .. }) = self.stack.last_mut() {
            if let Some(first) = seen.get(&name) {
                self.duplicates.push(Diagnostic {
                    line: pos.line,
                    col: pos.col,
                    message: format!(
                        "duplicate key `{name}` (first defined at line {})",
                        first.line
                    ),
                });
            } else {
                seen.insert(name.clone(), pos);
            }
            *key = Some((name, pos));
        }
    }
}

impl MarkedEventReceiver for Receiver {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from(mark);
        match ev {
            Event::Scalar(value, ..) => {
                if self.expecting_key() {
                    self.take_key(value, pos);
                } else {
                    self.record_value(pos);
                    self.value_done();
                }
            }
            Event::Alias(_) => {
                if self.expecting_key() {
                    self.take_key("*alias".into(), pos);
                } else {
                    self.record_value(pos);
                    self.value_done();
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if self.expecting_key() {
                    // A complex key: give it a name no real key has.
                    self.take_key("?complex".into(), pos);
                }
                let path = self.record_value(pos);
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map {
                        path,
                        key: None,
                        seen: HashMap::new(),
                    }
                } else {
                    Frame::Seq { path, next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
// `path!` builds the owned paths that diagnostics carry; here they are only
// looked up, which clippy would rather see as slices.
#[allow(clippy::useless_vec)]
mod tests {
    use super::*;

    #[test]
    fn records_keys_and_values() {
        let src = "name: lab\nnodes:\n  r1:\n    kind: frr\nlinks:\n  - endpoints: [r1, r2]\n";
        let (spans, dups) = Spans::parse(src).expect("parses");
        assert!(dups.is_empty());
        assert_eq!(spans.value(&path!["name"]), Pos { line: 1, col: 7 });
        assert_eq!(spans.key(&path!["nodes", "r1"]), Pos { line: 3, col: 3 });
        assert_eq!(
            spans.value(&path!["nodes", "r1", "kind"]),
            Pos { line: 4, col: 11 }
        );
        assert_eq!(
            spans.value(&path!["links", 0, "endpoints", 1]),
            Pos { line: 6, col: 21 }
        );
        // Unknown paths fall back to the nearest known ancestor.
        assert_eq!(
            spans.value(&path!["links", 0, "ipv4"]),
            Pos { line: 6, col: 5 }
        );
    }

    #[test]
    fn reports_duplicate_keys() {
        let src = "nodes:\n  r1: {kind: frr}\n  r1: {kind: host}\n";
        let (_, dups) = Spans::parse(src).expect("parses");
        assert_eq!(dups.len(), 1);
        assert_eq!(dups[0].line, 3);
        assert!(dups[0].message.contains("duplicate key `r1`"));
    }

    #[test]
    fn a_block_mapping_starts_at_its_first_key() {
        let (spans, _) = Spans::parse(
            "# lab
name: lab
nodes:
  r1:
    kind: frr
",
        )
        .expect("parses");
        assert_eq!(spans.value(&[]), Pos { line: 2, col: 1 });
        assert_eq!(spans.value(&path!["nodes", "r1"]), Pos { line: 5, col: 5 });
    }

    #[test]
    fn an_error_at_the_end_points_at_the_last_line() {
        let err = Spans::parse(
            "name: lab
links:
  - endpoints: [r1, r2

",
        )
        .expect_err("bad yaml");
        assert_eq!((err.line, err.col), (3, 23), "{err:?}");
        assert!(err.message.ends_with("but the file ends"), "{err:?}");
    }

    #[test]
    fn a_key_indented_too_far_is_named_at_its_start() {
        let err =
            Spans::parse("nodes:\n  r1:\n    kind: frr\n      config: a\n").expect_err("bad yaml");
        assert_eq!((err.line, err.col), (4, 7), "{err:?}");
        assert!(
            err.message
                .contains("`config` is indented more than `kind` on line 3"),
            "{err:?}"
        );
        // A colon inside a value at the right indentation keeps its hint.
        let err = Spans::parse("nodes:\n  r1:\n    kind: frr: x\n").expect_err("bad yaml");
        assert!(
            err.message
                .ends_with("put values that contain `: ` in quotes"),
            "{err:?}"
        );
    }

    #[test]
    fn unquoted_templates_are_found_where_they_start() {
        let (spans, _) = Spans::parse("vars:\n  a: {{ pod }}\n  b: \"{{ pod }}\"\n  c: {x: 1}\n")
            .expect("parses");
        let found: Vec<_> = spans
            .unquoted_templates()
            .into_iter()
            .map(|(p, pos, text)| (p.clone(), pos.line, pos.col, text.to_string()))
            .collect();
        assert_eq!(
            found,
            vec![(path!["vars", "a"], 2, 6, "{{ pod }}".to_string())]
        );
    }

    #[test]
    fn syntax_error_has_a_place() {
        let err = Spans::parse("nodes:\n  r1: [frr\n").expect_err("bad yaml");
        assert!(err.line >= 2, "{err:?}");
    }
}
