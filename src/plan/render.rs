//! Rendering of tera templates, sandboxed and bounded.
//!
//! A pod must come out the same every time from the topology and the pod
//! number alone, and a template must not be able to hang or exhaust noglab.
//! So every render:
//!
//! - has no access to the environment, the clock, randomness or other files
//!   (`get_env`, `now`, `get_random`, `include`, `import`, `extends` fail);
//! - runs at most [`MAX_ITERATIONS`] loop iterations in all, `range` included;
//! - produces at most [`MAX_PRODUCED`] bytes through `{{ }}`, `set` and text
//!   repeated by loops, no single value larger than [`MAX_OUTPUT`], and a
//!   result of at most [`MAX_OUTPUT`].
//!
//! tera has no fuel of its own, so the bounds are put into the parsed
//! template: each loop's container and each `{{ }}`/`set` value goes through
//! a counting filter, and loop bodies' text becomes counted literals.
//! Before parsing, nesting and operators per tag are limited (see
//! [`MAX_NESTING`]), since tera recurses over both. What is only bounded
//! loosely is one expression joining a large value with itself
//! (`s ~ s ~ s ...`): at most [`MAX_OPERATORS`] + 1 values of at most
//! [`MAX_OUTPUT`] each, held briefly before its result is refused.
//!
//! Errors carry tera's whole cause chain: its top-level error only says
//! which template failed, the cause says why.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use sha2::Digest;
use tera::ast::{Expr, ExprVal, FunctionCall, Node, WS};

/// The largest template source and rendered text: 1 MiB.
pub const MAX_OUTPUT: usize = 1 << 20;
/// Loop iterations per render, over all loops.
pub const MAX_ITERATIONS: u64 = 100_000;
/// Bytes produced per render by `{{ }}`, `set` and text repeated by loops.
pub const MAX_PRODUCED: u64 = 16 << 20;
/// How deep blocks (`if`, `for`, ...) and brackets inside one tag may nest,
/// how many operators one tag may hold and how long it may be. tera's
/// parser and renderer recurse, over operators too: past these, a few
/// kilobytes of template overflow the stack and abort noglab.
pub const MAX_NESTING: usize = 64;
pub const MAX_OPERATORS: usize = 256;
pub const MAX_TAG: usize = 8 << 10;

/// The name tera knows the template by; never shown.
const NAME: &str = "__noglab";
const LOOP_FILTER: &str = "__noglab_loop";
const VALUE_FILTER: &str = "__noglab_value";

/// Why a template did not render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// Line and column inside the template, for syntax errors.
    pub at: Option<(usize, usize)>,
    pub message: String,
    /// The variable tera's message names (`vars.asn` in "variable
    /// `vars.asn` not found"), so that a caller can tell which value a
    /// failure is about without reading the message.
    pub variable: Option<String>,
}

impl RenderError {
    fn new(message: impl Into<String>) -> Self {
        RenderError {
            at: None,
            message: message.into(),
            variable: None,
        }
    }

    /// The message for a template written inline in the topology.
    pub fn inline(&self) -> String {
        match self.at {
            Some((1, col)) => format!("template error at column {col}: {}", self.message),
            Some((line, col)) => format!(
                "template error at line {line}, column {col}: {}",
                self.message
            ),
            None => format!("template error: {}", self.message),
        }
    }

    /// For an error of tera's that has no place (a variable missing while
    /// rendering), the place in `template` where the variable it names is
    /// first used in a tag, so that a file's error names its own line.
    pub fn placed_in(mut self, template: &str) -> Self {
        if self.at.is_none() {
            self.at = self
                .variable
                .as_deref()
                .and_then(|v| first_use(template, v));
        }
        self
    }

    /// The message for a template file, named as the topology names it,
    /// rendered for `node`.
    pub fn in_file(&self, rel: &str, node: &str) -> String {
        match self.at {
            Some((line, col)) => format!(
                "template error in {rel}:{line}:{col} (node `{node}`): {}",
                self.message
            ),
            None => format!("template error in {rel} (node `{node}`): {}", self.message),
        }
    }
}

/// `e` placed in `value` when the value is one template (a string), as
/// [`RenderError::placed_in`] does.
pub fn placed(e: RenderError, value: &serde_yaml::Value) -> RenderError {
    match value.as_str() {
        Some(template) => e.placed_in(template),
        None => e,
    }
}

/// Line and column (from 1) of the first use of `variable` inside a
/// `{{ }}` or `{% %}` tag of `template`, as a whole name (`vars.asn`, not
/// `vars.asn2` or `x.vars.asn`).
fn first_use(template: &str, variable: &str) -> Option<(usize, usize)> {
    let name_char = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    template.match_indices(variable).find_map(|(i, _)| {
        let before = &template[..i];
        let after = &template[i + variable.len()..];
        let whole = !before.ends_with(name_char) && !after.starts_with(name_char);
        let opened = [before.rfind("{{"), before.rfind("{%")]
            .into_iter()
            .flatten()
            .max();
        let closed = [before.rfind("}}"), before.rfind("%}")]
            .into_iter()
            .flatten()
            .max();
        let in_tag = opened.is_some_and(|o| closed.is_none_or(|c| c < o));
        (whole && in_tag).then(|| {
            let line_start = before.rfind('\n').map_or(0, |n| n + 1);
            (
                before.matches('\n').count() + 1,
                before[line_start..].chars().count() + 1,
            )
        })
    })
}

/// Renders one template string against a JSON context (an object).
pub fn render(template: &str, context: &Value) -> Result<String, RenderError> {
    if template.len() > MAX_OUTPUT {
        return Err(RenderError::new(format!(
            "the template has {} bytes; noglab renders templates of at most {}",
            template.len(),
            human(MAX_OUTPUT as u64)
        )));
    }
    let ctx =
        tera::Context::from_value(context.clone()).map_err(|e| RenderError::new(e.to_string()))?;
    nesting(template)?;
    // Parsed alone first, so a template reaching for other files is told
    // so rather than that they are missing.
    let parsed = tera::Template::new(NAME, None, template)
        .map_err(|e| at_the_end(explain(&e, context), template))?;
    forbid(&parsed.ast)?;
    let budget = Arc::new(Budget::default());
    let mut tera = sandbox(&budget);
    tera.add_raw_template(NAME, template)
        .map_err(|e| explain(&e, context))?;
    // `templates` is public though hidden in tera 1.x's docs; Cargo.lock
    // pins the version and the tests below fail if bounding stops working.
    let parsed = tera
        .templates
        .get_mut(NAME)
        .ok_or_else(|| RenderError::new("the template vanished after parsing"))?;
    instrument(&mut parsed.ast, false);
    let out = tera.render(NAME, &ctx).map_err(|e| explain(&e, context))?;
    if out.len() > MAX_OUTPUT {
        return Err(RenderError::new(format!(
            "the rendered text has {} bytes; noglab allows at most {}",
            out.len(),
            human(MAX_OUTPUT as u64)
        )));
    }
    Ok(out)
}

/// Renders every string inside a YAML value (maps and lists included).
pub fn render_value(value: &serde_yaml::Value, context: &Value) -> Result<Value, RenderError> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::String(s) => Value::String(render(s, context)?),
        Y::Sequence(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(v, context))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .map_err(|e| RenderError::new(e.to_string()))?
                        .trim()
                        .to_string(),
                };
                out.insert(key, render_value(v, context)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => render_value(&t.value, context)?,
        other => serde_json::to_value(other).map_err(|e| RenderError::new(e.to_string()))?,
    })
}

/// What one render has used so far.
#[derive(Default)]
struct Budget {
    iterations: AtomicU64,
    produced: AtomicU64,
}

/// A tera with nothing that reads the world, and bounded growth.
fn sandbox(budget: &Arc<Budget>) -> tera::Tera {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    for name in ["now", "get_random", "get_env"] {
        tera.register_function(name, move |_: &HashMap<String, Value>| {
            Err(tera::Error::msg(format!(
                "`{name}()` is not available: a pod must come out the same from the topology and the pod number alone"
            )))
        });
    }
    tera.register_function("range", bounded_range);
    // A stable digest: a lab derives per-pod secrets (TSIG keys) from a
    // seed and the pod number, so they differ between pods yet the plan
    // stays a function of the topology alone.
    tera.register_filter("sha256", |v: &Value, _: &HashMap<String, Value>| {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Ok(Value::String(format!(
            "{:x}",
            sha2::Sha256::digest(text.as_bytes())
        )))
    });
    count_filters(&mut tera, budget);
    guard_growth(&mut tera);
    tera
}

/// The counting filters [`instrument`] puts into a template: loop
/// iterations, and bytes produced.
fn count_filters(tera: &mut tera::Tera, budget: &Arc<Budget>) {
    let b = Arc::clone(budget);
    tera.register_filter(
        LOOP_FILTER,
        move |v: &Value, _: &HashMap<String, Value>| {
            let n = match v {
                Value::Array(a) => a.len() as u64,
                Value::Object(o) => o.len() as u64,
                Value::String(s) => s.chars().count() as u64,
                _ => 0,
            };
            let total = b.iterations.fetch_add(n, Ordering::Relaxed) + n;
            if total > MAX_ITERATIONS {
                return Err(tera::Error::msg(format!(
                    "loops would run more than {MAX_ITERATIONS} times in this template; noglab stops there"
                )));
            }
            Ok(v.clone())
        },
    );
    let b = Arc::clone(budget);
    tera.register_filter(
        VALUE_FILTER,
        move |v: &Value, _: &HashMap<String, Value>| {
            let n = size(v);
            if n > MAX_OUTPUT {
                return Err(tera::Error::msg(format!(
                    "a value of {} is larger than the {} noglab allows",
                    human(n as u64),
                    human(MAX_OUTPUT as u64)
                )));
            }
            let total = b.produced.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            if total > MAX_PRODUCED {
                return Err(tera::Error::msg(format!(
                    "the template produced more than {} while rendering; noglab stops there",
                    human(MAX_PRODUCED)
                )));
            }
            Ok(v.clone())
        },
    );
}

/// Filters whose output can be far larger than their input are checked
/// before they run.
fn guard_growth(tera: &mut tera::Tera) {
    guard(tera, "replace", |v, args| {
        let s = v.as_str().unwrap_or_default();
        let from = args.get("from").and_then(Value::as_str).unwrap_or("x");
        let to = args.get("to").and_then(Value::as_str).unwrap_or_default();
        s.len() + s.matches(from).count() * to.len()
    });
    guard(tera, "indent", |v, args| {
        let s = v.as_str().unwrap_or_default();
        let prefix = args
            .get("prefix")
            .and_then(Value::as_str)
            .map_or(4, str::len);
        s.len() + (s.lines().count() + 1) * prefix
    });
    guard(tera, "join", |v, args| {
        let items = v.as_array().map_or(0, Vec::len);
        let sep = args.get("sep").and_then(Value::as_str).map_or(0, str::len);
        size(v) + items * sep
    });
}

type Estimate = fn(&Value, &HashMap<String, Value>) -> usize;

struct Guarded {
    name: &'static str,
    inner: Arc<dyn tera::Filter>,
    estimate: Estimate,
}

impl tera::Filter for Guarded {
    fn filter(&self, value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
        let n = (self.estimate)(value, args);
        if n > MAX_OUTPUT {
            return Err(tera::Error::msg(format!(
                "`{}` would produce {}, more than the {} noglab allows",
                self.name,
                human(n as u64),
                human(MAX_OUTPUT as u64)
            )));
        }
        self.inner.filter(value, args)
    }
}

fn guard(tera: &mut tera::Tera, name: &'static str, estimate: Estimate) {
    if let Some(inner) = tera.filters.get(name).cloned() {
        tera.register_filter(
            name,
            Guarded {
                name,
                inner,
                estimate,
            },
        );
    }
}

/// tera's `range`, refusing to build a list longer than a render may loop.
fn bounded_range(args: &HashMap<String, Value>) -> tera::Result<Value> {
    let arg = |name: &str, default: Option<u64>| -> tera::Result<u64> {
        match args.get(name) {
            Some(v) => v.as_u64().ok_or_else(|| {
                tera::Error::msg(format!(
                    "`range` needs a whole number >= 0 for `{name}`, not {v}"
                ))
            }),
            None => default
                .ok_or_else(|| tera::Error::msg(format!("`range` needs an `{name}` argument"))),
        }
    };
    let start = arg("start", Some(0))?;
    let end = arg("end", None)?;
    let step = arg("step_by", Some(1))?;
    if step == 0 {
        return Err(tera::Error::msg("`range` needs a `step_by` of at least 1"));
    }
    if start > end {
        return Err(tera::Error::msg(format!(
            "`range` needs `start` <= `end`, not {start} > {end}"
        )));
    }
    let items = (end - start).div_ceil(step);
    if items > MAX_ITERATIONS {
        return Err(tera::Error::msg(format!(
            "`range` of {items} items is longer than the {MAX_ITERATIONS} loop iterations noglab allows"
        )));
    }
    Ok(Value::Array(
        (start..end)
            .step_by(step as usize)
            .map(Value::from)
            .collect(),
    ))
}

/// Checks, before tera parses anything, that blocks and brackets do not
/// nest deeper than [`MAX_NESTING`] and no tag is longer than [`MAX_TAG`].
fn nesting(template: &str) -> Result<(), RenderError> {
    let b = template.as_bytes();
    let fail = |i: usize, message: String| {
        Err(RenderError {
            at: Some(line_col(template, i)),
            message,
            variable: None,
        })
    };
    let mut blocks = 0usize;
    let mut i = 0;
    while i + 1 < b.len() {
        let close: &[u8] = match &b[i..i + 2] {
            b"{{" => b"}}",
            b"{%" => b"%}",
            b"{#" => b"#}",
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i + 2;
        let mut j = match tag_end(b, start, close) {
            Ok(j) => j,
            Err((at, message)) => return fail(at, message),
        };
        if j - start > MAX_TAG && close != b"#}" {
            return fail(
                i,
                format!(
                    "a tag of {} bytes is longer than the {MAX_TAG} noglab allows",
                    j - start
                ),
            );
        }
        if close == b"%}" {
            let inner = template[start..j.min(b.len())]
                .trim_start_matches('-')
                .trim_start();
            let word = inner
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .next();
            match word.unwrap_or_default() {
                "if" | "for" | "filter" | "macro" | "block" => {
                    blocks += 1;
                    if blocks > MAX_NESTING {
                        return fail(i, format!("blocks nest more than {MAX_NESTING} deep"));
                    }
                }
                "endif" | "endfor" | "endfilter" | "endmacro" | "endblock" => {
                    blocks = blocks.saturating_sub(1)
                }
                "raw" => {
                    // Whatever a raw block holds is text.
                    j = template[j..].find("endraw").map_or(b.len(), |n| j + n);
                }
                _ => {}
            }
        }
        i = j + 2;
    }
    Ok(())
}

/// Line and column of byte `i` of a template, both from 1.
fn line_col(template: &str, i: usize) -> (usize, usize) {
    let before = &template[..i];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |n| before.len() - n - 1)
        + 1;
    (line, col)
}

/// Where the tag whose text starts at `start` ends (at its `close`, or
/// the template's end), outside quotes; `Err` with a place and why when
/// its brackets nest too deep or it holds too many operators.
fn tag_end(b: &[u8], start: usize, close: &[u8]) -> Result<usize, (usize, String)> {
    let mut j = start;
    let mut depth = 0usize;
    let mut operators = 0usize;
    let mut quote: Option<u8> = None;
    while j + 1 < b.len() && !(quote.is_none() && &b[j..j + 2] == close) {
        let c = b[j];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if close == b"#}" => {}
            None if c == b'"' || c == b'\'' || c == b'`' => quote = Some(c),
            None if c == b'(' || c == b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err((j, format!("brackets nest more than {MAX_NESTING} deep")));
                }
            }
            None if c == b')' || c == b']' => depth = depth.saturating_sub(1),
            None if is_operator(b, j) => {
                operators += 1;
                if operators > MAX_OPERATORS {
                    return Err((
                        j,
                        format!("more than {MAX_OPERATORS} operators in one tag; split the expression with `set`"),
                    ));
                }
            }
            None => {}
        }
        j += 1;
    }
    Ok(j)
}

/// Whether an operator starts at `b[j]`: symbols count once per run
/// (`<=` is one), words once.
fn is_operator(b: &[u8], j: usize) -> bool {
    const SYMBOLS: &[u8] = b"+-*/%~<>=!";
    let starts_symbol = SYMBOLS.contains(&b[j]) && !SYMBOLS.contains(&b[j - 1]);
    let word = [&b"and"[..], b"or", b"in", b"is", b"not"].iter().any(|w| {
        b[j..].starts_with(w)
            && !b[j - 1].is_ascii_alphanumeric()
            && b.get(j + w.len())
                .is_none_or(|n| !n.is_ascii_alphanumeric() && *n != b'_')
    });
    starts_symbol || word
}

/// Template features that reach for other files. A template is one file:
/// there is nothing else for it to include.
fn forbid(nodes: &[Node]) -> Result<(), RenderError> {
    for node in nodes {
        let what = match node {
            Node::Include(_, names, _) => Some(format!(
                "`{{% include \"{}\" %}}`",
                names.first().map(String::as_str).unwrap_or_default()
            )),
            Node::Extends(_, name) => Some(format!("`{{% extends \"{name}\" %}}`")),
            Node::ImportMacro(_, name, _) => Some(format!("`{{% import \"{name}\" %}}`")),
            Node::MacroDefinition(..) => Some("`{% macro %}`".to_string()),
            Node::Block(..) => Some("`{% block %}`".to_string()),
            _ => None,
        };
        if let Some(what) = what {
            return Err(RenderError::new(format!(
                "{what} is not available: a noglab template is a single file and cannot read others"
            )));
        }
        for body in children(node) {
            forbid(body)?;
        }
    }
    Ok(())
}

fn children(node: &Node) -> Vec<&Vec<Node>> {
    match node {
        Node::Forloop(_, f, _) => {
            let mut v = vec![&f.body];
            v.extend(f.empty_body.as_ref());
            v
        }
        Node::If(i, _) => {
            let mut v: Vec<&Vec<Node>> = i.conditions.iter().map(|c| &c.2).collect();
            v.extend(i.otherwise.as_ref().map(|o| &o.1));
            v
        }
        Node::FilterSection(_, s, _) => vec![&s.body],
        Node::Block(_, b, _) => vec![&b.body],
        Node::MacroDefinition(_, m, _) => vec![&m.body],
        _ => Vec::new(),
    }
}

/// Puts the counting filters into a parsed template (see the module docs).
fn instrument(nodes: &mut [Node], in_loop: bool) {
    for node in nodes.iter_mut() {
        match node {
            Node::VariableBlock(_, expr) => count(expr, VALUE_FILTER),
            Node::Set(_, set) => count(&mut set.value, VALUE_FILTER),
            Node::Text(text) | Node::Raw(_, text, _) if in_loop => {
                let mut expr = Expr::new(ExprVal::String(std::mem::take(text)));
                count(&mut expr, VALUE_FILTER);
                *node = Node::VariableBlock(WS::default(), expr);
            }
            Node::Forloop(_, f, _) => {
                count(&mut f.container, LOOP_FILTER);
                instrument(&mut f.body, true);
                if let Some(body) = f.empty_body.as_mut() {
                    instrument(body, true);
                }
            }
            Node::If(i, _) => {
                for c in i.conditions.iter_mut() {
                    instrument(&mut c.2, in_loop);
                }
                if let Some(o) = i.otherwise.as_mut() {
                    instrument(&mut o.1, in_loop);
                }
            }
            Node::FilterSection(_, s, _) => instrument(&mut s.body, in_loop),
            _ => {}
        }
    }
}

/// Appends a counting filter; last, so `default` stays the first filter
/// (tera treats a leading `default` specially).
fn count(expr: &mut Expr, filter: &str) {
    expr.filters.push(FunctionCall {
        name: filter.to_string(),
        args: HashMap::new(),
    });
}

/// Roughly how many bytes a value takes when printed.
fn size(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(|x| size(x) + 1).sum(),
        Value::Object(o) => o.iter().map(|(k, x)| k.len() + size(x) + 1).sum(),
        _ => 8,
    }
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Turns tera's error chain into one message that says what broke and,
/// for an unknown variable, what there is instead.
fn explain(e: &tera::Error, context: &Value) -> RenderError {
    let mut parts: Vec<String> = Vec::new();
    let mut at = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let next = err.source();
        let text = err.to_string();
        let wrapper = match err.downcast_ref::<tera::Error>().map(|t| &t.kind) {
            // "Failed to render/parse 'name'": the cause says more.
            Some(tera::ErrorKind::Msg(m)) => {
                m.starts_with("Failed to render") || m.starts_with("Failed to parse")
            }
            // "Filter call 'x' failed": the cause names the filter too,
            // and our own counting filters are no business of the reader.
            Some(tera::ErrorKind::CallFilter(_)) | Some(tera::ErrorKind::CallFunction(_)) => true,
            _ => false,
        };
        if !(wrapper && next.is_some()) {
            if let Some((pos, message)) = pest_error(&text) {
                at = Some(pos);
                parts.push(message);
            } else {
                parts.push(text);
            }
        }
        cur = next;
    }
    let mut message = parts
        .join(": ")
        .replace(&format!(" while rendering '{NAME}'"), "")
        .replace(&format!(" in '{NAME}'"), "");
    if let Some(first) = message.chars().next() {
        message = first.to_lowercase().collect::<String>() + &message[first.len_utf8()..];
    }
    let variable = named_variable(&message);
    if let Some(hint) = undefined_hint(&message, context) {
        message = format!("{message}; {hint}");
    }
    RenderError {
        at,
        message,
        variable,
    }
}

/// The variable a message of tera's is about: what stands between the
/// backticks of its first "variable `...`".
fn named_variable(message: &str) -> Option<String> {
    const BEFORE: &str = "variable `";
    let rest = &message[message.find(BEFORE)? + BEFORE.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

/// A syntax error where the template ends is nearly always a block left
/// open; tera only says it expected more.
fn at_the_end(mut e: RenderError, template: &str) -> RenderError {
    let Some((line, col)) = e.at else { return e };
    let lines: Vec<&str> = template.lines().collect();
    let past_end = line > lines.len()
        || line == lines.len()
            && col > lines.last().map_or(0, |l| l.chars().count())
            && !template.ends_with('\n');
    // An unclosed `{{` or `{%` says so itself; only an unclosed block
    // leaves tera wanting "tag or some content".
    if past_end && e.message.contains("expected tag or some content") {
        e.message.push_str(
            "; the template ends inside a block: is an `{% if %}` or `{% for %}` missing its `{% endif %}` or `{% endfor %}`?",
        );
    }
    e
}

/// Reads tera's pest-style syntax error (` --> 5:1`, the line, a caret and
/// `= expected ...`) into a place and one line of text.
fn pest_error(text: &str) -> Option<((usize, usize), String)> {
    let arrow = text.lines().find_map(|l| l.trim().strip_prefix("--> "))?;
    let (line, col) = arrow.trim().split_once(':')?;
    let pos = (line.parse().ok()?, col.parse().ok()?);
    let message = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("= "))
        .unwrap_or("syntax error")
        .to_string();
    Some((pos, message))
}

/// For "variable `a.b.c` not found", says what the deepest part that does
/// exist holds.
fn undefined_hint(message: &str, context: &Value) -> Option<String> {
    let rest = message.strip_prefix("variable `")?;
    let name = &rest[..rest.find('`')?];
    if !rest[name.len()..].starts_with("` not found") {
        return None;
    }
    let segs: Vec<&str> = name.split('.').collect();
    let mut cur = context;
    let mut known = Vec::new();
    for seg in &segs {
        match cur.get(seg) {
            Some(next) => {
                known.push(*seg);
                cur = next;
            }
            None => break,
        }
    }
    let keys = |v: &Value| -> String {
        let names: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if names.len() > 12 {
            format!("{}, ...", names[..12].join(", "))
        } else {
            names.join(", ")
        }
    };
    if known.is_empty() {
        let mut hint = format!("templates see: {}", keys(context));
        if let Some(peer) = loop_peer_hint(&segs, context) {
            hint = format!("{hint}; {peer}");
        }
        return Some(hint);
    }
    let prefix = known.join(".");
    let missing = segs.get(known.len()).copied().unwrap_or_default();
    let mut hint = match cur {
        Value::Object(o) if o.is_empty() => format!("`{prefix}` is empty"),
        Value::Object(_) => format!("`{prefix}` has: {}", keys(cur)),
        _ => format!("`{prefix}` is not a map"),
    };
    if let Some(peer) = interface_peer_hint(&known, missing, cur, context) {
        hint = format!("{hint}; {peer}");
    } else if missing.starts_with("peer") {
        hint.push_str(" (peer keys exist only on links with exactly two endpoints)");
    }
    if let Some(shared) = shared_node_vars_hint(&segs, context) {
        hint = format!("{hint}; {shared}");
    }
    Some(hint)
}

/// The keys an interface has only at one end of a link of two.
const PEER_KEYS: [&str; 4] = [
    "peer",
    "peer_interface",
    "peer_ipv4_address",
    "peer_ipv6_address",
];

/// What kind of attachment an interface (as templates see it) is, when it
/// has no peer keys: on a shared network, or on a LAN.
fn without_peer(interface: &Value) -> Option<String> {
    if interface.get("peer").is_some() {
        return None;
    }
    Some(match interface.get("network").and_then(Value::as_str) {
        Some(net) => format!("on shared network `{net}`"),
        None => "on a LAN (a link of more than two endpoints)".to_string(),
    })
}

/// Where another node's address on that interface's network is, for a
/// template that wanted a peer's.
fn instead_of_peer(interface: &Value, context: &Value) -> &'static str {
    match (
        interface.get("network").is_some(),
        context.get("all_pods").is_some(),
    ) {
        (false, _) => "another node's address on it is `nodes.NAME.interfaces.IFACE.ipv4_address`",
        (true, false) => {
            "a shared node's address on it is `shared.nodes.NAME.interfaces.IFACE.ipv4_address`"
        }
        (true, true) => "each pod's nodes' addresses on it are under `all_pods[].nodes`",
    }
}

/// A peer key missing from an interface reached by name
/// (`interfaces.eth1.peer`, `nodes.r2.interfaces.eth1.peer`): which node's
/// interface it is and why it has none, a LAN or a shared network; or,
/// on a link of two, which address family the link lacks.
fn interface_peer_hint(
    known: &[&str],
    missing: &str,
    cur: &Value,
    context: &Value,
) -> Option<String> {
    if !PEER_KEYS.contains(&missing) {
        return None;
    }
    let [owner @ .., "interfaces", iface] = known else {
        return None;
    };
    let this = context.get("node").and_then(Value::as_str);
    let shared_template = context.get("all_pods").is_some();
    let node = match (owner, this) {
        ([], None) => String::new(),
        ([], Some(this)) if shared_template => format!(" of shared node `{this}`"),
        ([], Some(this)) => format!(" of `{this}`"),
        (["shared", "nodes", name], _) => format!(" of shared node `{name}`"),
        (["nodes", name], _) if shared_template => format!(" of shared node `{name}`"),
        (["nodes", name], _) => format!(" of `{name}`"),
        _ => return None,
    };
    let Some(what) = without_peer(cur) else {
        // A link of two, without the family's subnet.
        let family = if missing.ends_with("ipv6_address") {
            "ipv6"
        } else {
            "ipv4"
        };
        return Some(format!(
            "{iface}{node} is on a link with no `{family}` subnet, so it has no `{missing}`; give the link an `{family}` subnet"
        ));
    };
    Some(format!(
        "{iface}{node} is {what}, which has no `{missing}`: peer keys exist only on links with exactly two endpoints; {}",
        instead_of_peer(cur, context)
    ))
}

/// A peer key of a name templates do not have (`i.peer`, `i` a loop
/// variable over `interfaces`): which of this node's interfaces have no
/// peer, and why.
fn loop_peer_hint(segs: &[&str], context: &Value) -> Option<String> {
    let [var, key] = segs else { return None };
    if !PEER_KEYS.contains(key) {
        return None;
    }
    let this = context.get("node").and_then(Value::as_str)?;
    let lacking: Vec<String> = context
        .get("interfaces")?
        .as_object()?
        .iter()
        .filter_map(|(name, i)| without_peer(i).map(|what| format!("{name} is {what}")))
        .collect();
    if lacking.is_empty() {
        return None;
    }
    Some(format!(
        "if `{var}` is one of `{this}`'s interfaces: {}, with no `{key}`: peer keys exist only on links with exactly two endpoints; test for it with `{{% if {var}.{key} %}}`",
        lacking.join(", ")
    ))
}

/// A shared node's templates (the only ones given `all_pods`) that reach
/// for a lab-wide var under `vars`: lab-wide vars are rendered per pod, so
/// a node that exists once sees only its own `vars`, and every pod's
/// under `all_pods[].vars`.
fn shared_node_vars_hint(segs: &[&str], context: &Value) -> Option<String> {
    let ["vars", name, ..] = segs else {
        return None;
    };
    let pods = context.get("all_pods")?.as_array()?;
    let lab_wide = pods
        .first()
        .and_then(|p| p.get("vars"))
        .is_some_and(|v| v.get(name).is_some());
    let mut hint = String::from(
        "a shared node's templates see only its own `vars`, and each pod's lab-wide vars as `all_pods[].vars`",
    );
    if lab_wide {
        hint.push_str(&format!(
            ": `{name}` is lab-wide; give the shared node its own `vars: {{ {name}: ... }}`, or read one pod's as `all_pods[0].vars.{name}`"
        ));
    }
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, Instant};

    #[test]
    fn a_missing_variable_is_placed_at_its_first_use_in_a_tag() {
        let template =
            "# vars.asn in text\n{{ vars.asn2 }}\n  as {{ x.vars.asn }} {{ vars.asn }}\n";
        assert_eq!(first_use(template, "vars.asn"), Some((3, 26)));
        let e = render(
            template,
            &json!({"vars": {"asn2": 1}, "x": {"vars": {"asn": 1}}}),
        )
        .expect_err("vars.asn is missing")
        .placed_in(template);
        assert_eq!(e.at, Some((3, 26)), "{e:?}");
        assert!(
            e.in_file("r1.conf", "r1").starts_with(
                "template error in r1.conf:3:26 (node `r1`): variable `vars.asn` not found"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn renders_arithmetic_on_the_pod() {
        let out = render("{{ 65000 + pod }}", &json!({"pod": 3})).expect("renders");
        assert_eq!(out, "65003");
    }

    #[test]
    fn sha256_gives_a_stable_digest_per_input() {
        let t = "{% set s = lab ~ '/' ~ pod %}{{ s | sha256 }}";
        let one = render(t, &json!({"lab": "dnssec", "pod": 1})).expect("renders");
        // `printf dnssec/1 | sha256sum`
        assert_eq!(
            one,
            "7c18076717584e8ddbc25c362a212fb0ef96d4baee99a564605e8ec549f0d00d"
        );
        let two = render(t, &json!({"lab": "dnssec", "pod": 2})).expect("renders");
        assert_ne!(one, two);
        assert_eq!(
            render("{{ 7 | sha256 }}", &json!({})).expect("renders"),
            render("{{ '7' | sha256 }}", &json!({})).expect("renders")
        );
    }

    #[test]
    fn missing_variable_names_it_and_what_there_is() {
        let e = render("{{ vars.nope }}", &json!({"vars": {"asn": 1}})).expect_err("fails");
        assert_eq!(
            e.message,
            "variable `vars.nope` not found in context; `vars` has: asn"
        );
        let e = render(
            "{{ interfaces.eth1.peer }}",
            &json!({"interfaces": {"eth1": {}}}),
        )
        .expect_err("fails");
        assert!(
            e.message.contains(
                "`interfaces.eth1` is empty; eth1 is on a LAN (a link of more than two endpoints), which has no `peer`: peer keys"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn issue18_a_peer_key_on_a_lan_or_shared_interface_says_which_and_why() {
        let ctx = json!({
            "node": "r1",
            "interfaces": {
                "eth1": {"ipv4": "100.64.1.1/29"},
                "eth2": {"ipv4": "198.51.100.11/24", "network": "ixp"},
                "eth3": {"peer": "r2"},
            },
            "nodes": {"r2": {"interfaces": {"eth1": {"network": "ixp"}}}},
        });
        let e = render("{{ interfaces.eth1.peer }}", &ctx).expect_err("a LAN");
        assert!(
            e.message.ends_with("`interfaces.eth1` has: ipv4; eth1 of `r1` is on a LAN (a link of more than two endpoints), which has no `peer`: peer keys exist only on links with exactly two endpoints; another node's address on it is `nodes.NAME.interfaces.IFACE.ipv4_address`"),
            "{e:?}"
        );
        let e = render("{{ nodes.r2.interfaces.eth1.peer_interface }}", &ctx).expect_err("shared");
        assert!(
            e.message
                .contains("eth1 of `r2` is on shared network `ixp`, which has no `peer_interface`"),
            "{e:?}"
        );
        let e = render("{{ interfaces.eth3.peer_ipv6_address }}", &ctx).expect_err("no IPv6");
        assert!(
            e.message.ends_with("eth3 of `r1` is on a link with no `ipv6` subnet, so it has no `peer_ipv6_address`; give the link an `ipv6` subnet"),
            "{e:?}"
        );
        let looped = "{% for n, i in interfaces %}{{ i.peer }}{% endfor %}";
        let e = render(looped, &ctx).expect_err("a loop over a LAN");
        assert!(
            e.message.ends_with("if `i` is one of `r1`'s interfaces: eth1 is on a LAN (a link of more than two endpoints), eth2 is on shared network `ixp`, with no `peer`: peer keys exist only on links with exactly two endpoints; test for it with `{% if i.peer %}`"),
            "{e:?}"
        );
        // The test the hint offers works.
        let guarded = "{% for n, i in interfaces %}{% if i.peer %}{{ n }}:{{ i.peer }}{% endif %}{% endfor %}";
        assert_eq!(render(guarded, &ctx).expect("renders"), "eth3:r2");
    }

    #[test]
    fn syntax_errors_have_a_place_inside_the_template() {
        let e = render("a\n{% if pod %}\nb", &json!({"pod": 1})).expect_err("fails");
        assert_eq!(e.at, Some((3, 2)), "{e:?}");
        assert!(!e.message.contains("-->"), "{e:?}");
    }

    #[test]
    fn a_block_left_open_is_named() {
        for t in ["a\n{% if pod %}\nb", "a\n{% for i in [1] %}\nb\n"] {
            let e = render(t, &json!({"pod": 1})).expect_err(t);
            assert!(
                e.message.contains("missing its `{% endif %}`"),
                "{t}: {e:?}"
            );
        }
        let e = render("{{ pod }\nb\n", &json!({"pod": 1})).expect_err("bad");
        assert!(!e.message.contains("endif"), "{e:?}");
    }

    #[test]
    fn includes_and_imports_cannot_read_files() {
        for t in [
            "{% include \"/etc/passwd\" %}",
            "{% import \"x.j2\" as x %}{{ x::y() }}",
            "{% extends \"base\" %}",
        ] {
            let e = render(t, &json!({})).expect_err(t);
            assert!(e.message.contains("cannot read others"), "{t}: {e:?}");
        }
    }

    #[test]
    fn the_world_is_not_visible() {
        for t in [
            "{{ now() }}",
            "{{ get_random(end=9) }}",
            "{{ get_env(name=\"HOME\") }}",
        ] {
            let e = render(t, &json!({})).expect_err(t);
            assert!(e.message.contains("is not available"), "{t}: {e:?}");
        }
    }

    /// Each of these would run for minutes or eat gigabytes unbounded.
    #[test]
    fn hostile_templates_stop_quickly() {
        let hostile = [
            "{% for i in range(end=100000000) %}x{% endfor %}",
            "{% for i in range(end=10000) %}{% for j in range(end=10000) %}{{ j }}{% endfor %}{% endfor %}",
            "{% set s = \"xxxxxxxx\" %}{% for i in range(end=64) %}{% set_global s = s ~ s %}{% endfor %}{{ s | length }}",
            "{% for i in range(end=1000) %}{% for j in range(end=90) %}0123456789abcdef0123456789abcdef{% endfor %}{% endfor %}",
            "{% set s = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\" %}{{ s | replace(from=\"x\", to=s) | replace(from=\"x\", to=s) | replace(from=\"x\", to=s) | length }}",
        ];
        for t in hostile {
            let started = Instant::now();
            let e = render(t, &json!({})).expect_err(t);
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{t} took {:?}",
                started.elapsed()
            );
            assert!(e.message.contains("noglab"), "{t}: {e:?}");
        }
    }

    /// Deep nesting overflowed the stack and aborted noglab. What the limits
    /// let through must render on a 2 MiB stack (a tokio worker's), and
    /// what they stop must stop before tera sees it.
    #[test]
    fn nesting_cannot_overflow_the_stack() {
        let n = MAX_NESTING;
        let allowed = [
            format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)),
            format!("{}x{}", "{% if true %}".repeat(n), "{% endif %}".repeat(n)),
            format!(
                "{}x{}",
                "{% for i in [1] %}".repeat(n),
                "{% endfor %}".repeat(n)
            ),
            format!("{{{{ {}1 }}}}", "1+".repeat(MAX_OPERATORS)),
            format!("{{{{ {}true }}}}", "true and ".repeat(MAX_OPERATORS)),
            format!("{{{{ {}1 }}}}", "1 <= 2 or ".repeat(MAX_OPERATORS / 2)),
            format!(
                "{{% set a = [{}] %}}{{{{ a | length }}}}",
                "\"x\", ".repeat((MAX_TAG - 30) / 5)
            ),
        ];
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                for t in &allowed {
                    render(t, &json!({})).expect("renders");
                }
            })
            .expect("thread")
            .join()
            .expect("no stack overflow");
        let n = MAX_NESTING + 1;
        let refused = [
            format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)),
            format!("{}x{}", "{% if true %}".repeat(n), "{% endif %}".repeat(n)),
            format!("{{{{ {}1 }}}}", "1+".repeat(MAX_OPERATORS + 1)),
            format!("{{{{ {}1 }}}}", "1 ".repeat(MAX_TAG)),
        ];
        for t in &refused {
            let e = render(t, &json!({})).expect_err("refused");
            assert!(
                e.message.contains("nest") || e.message.contains("tag"),
                "{e:?}"
            );
        }
        // Brackets in strings, comments and raw blocks are text.
        let text = format!(
            "{{{{ \"{}\" }}}}{{# {} #}}{{% raw %}}{}{{% endraw %}}",
            "(".repeat(200),
            "[".repeat(200),
            "{% if x %}".repeat(200)
        );
        render(&text, &json!({})).expect("renders");
    }

    #[test]
    fn ordinary_loops_and_defaults_still_work() {
        let out = render(
            "{% for i in range(start=1, end=4) %}{{ i }}{% if not loop.last %},{% endif %}{% endfor %} {{ nope | default(value=\"d\") }}",
            &json!({}),
        )
        .expect("renders");
        assert_eq!(out, "1,2,3 d");
    }
}
