//! What goes wrong while planning, and where: one [`Problem`] type (the
//! topology's, a message at a place of the file) and a collector.
//!
//! A var whose template fails is reported once, where it is written. The
//! collector remembers it by name, and a later template that fails only
//! because it uses that var is not reported again: the renderer says which
//! variable was missing ([`RenderError::variable`]), never this module's
//! reading of tera's message.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::names::describe_pods;
use super::render::{self, RenderError};
use crate::topology::spans::Path;

pub use crate::topology::Problem;

/// The problems one stage found, and the vars that failed before it.
#[derive(Debug, Default)]
pub struct Problems {
    found: Vec<Problem>,
    failed_vars: BTreeSet<String>,
}

impl Problems {
    /// A problem with the value at `path`.
    pub fn push(&mut self, path: Path, message: impl Into<String>) {
        self.found.push(Problem::value(path, message));
    }

    pub fn extend(&mut self, problems: impl IntoIterator<Item = Problem>) {
        self.found.extend(problems);
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Whether a problem was found at `path` already.
    pub fn has_at(&self, path: &Path) -> bool {
        self.found.iter().any(|p| &p.path == path)
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.found
    }

    /// Remembers that the template of var `name` failed (and was reported).
    pub fn var_failed(&mut self, name: &str) {
        self.failed_vars.insert(name.to_string());
    }

    /// A collector for a part of this stage (one node): it knows the vars
    /// that failed so far; [`Problems::absorb`] takes its problems back.
    pub fn nested(&self) -> Problems {
        Problems {
            found: Vec::new(),
            failed_vars: self.failed_vars.clone(),
        }
    }

    /// A nested collector that also knows the vars in `more` failed (a
    /// node's own, for the checks run with its context).
    pub fn nested_with(&self, more: &BTreeSet<String>) -> Problems {
        let mut nested = self.nested();
        nested.failed_vars.extend(more.iter().cloned());
        nested
    }

    /// The vars known to have failed.
    pub fn failed_vars(&self) -> &BTreeSet<String> {
        &self.failed_vars
    }

    /// Takes a nested collector's problems (its failed vars stay its own).
    pub fn absorb(&mut self, nested: Problems) {
        self.found.extend(nested.found);
    }

    /// Whether `e` comes only from using a var whose own template failed.
    pub fn uses_failed_var(&self, e: &RenderError) -> bool {
        let Some(rest) = e.variable.as_deref().and_then(|v| v.strip_prefix("vars.")) else {
            return false;
        };
        self.failed_vars.iter().any(|f| {
            rest.strip_prefix(f.as_str())
                .is_some_and(|after| after.is_empty() || after.starts_with('.'))
        })
    }

    /// Reports a failed render at `path`, said by `say`, unless it comes
    /// from a failed var.
    pub fn render_failed(
        &mut self,
        path: Path,
        e: &RenderError,
        say: impl FnOnce(&RenderError) -> String,
    ) {
        if !self.uses_failed_var(e) {
            self.push(path, say(e));
        }
    }

    /// Renders an inline template; a failure is reported at `path` (see
    /// [`Problems::render_failed`]), with its place inside the template,
    /// and gives `None`.
    pub fn render(&mut self, template: &str, context: &Json, path: Path) -> Option<String> {
        render::render(template, context)
            .map_err(|e| self.render_failed(path, &e.placed_in(template), RenderError::inline))
            .ok()
    }
}

/// Problems of every pod, merged so that a template that fails in several
/// pods, each time with its own values, is reported once with the pods it
/// fails in.
#[derive(Debug, Default)]
pub struct PodProblems {
    found: BTreeMap<(Path, String), Vec<u32>>,
}

impl PodProblems {
    pub fn record(&mut self, pod: u32, problems: Problems) {
        for p in problems.into_vec() {
            self.found.entry((p.path, p.message)).or_default().push(pod);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// One problem per place, of a lab of `pods` pods: the message of the
    /// lowest pod speaks for the others.
    pub fn merged(self, pods: u32) -> Vec<Problem> {
        let mut by_path: BTreeMap<Path, Vec<(String, Vec<u32>)>> = BTreeMap::new();
        for ((path, message), in_pods) in self.found {
            by_path.entry(path).or_default().push((message, in_pods));
        }
        by_path
            .into_iter()
            .map(|(path, found)| Problem::value(path, merge_messages(found, pods)))
            .collect()
    }
}

/// The message of the lowest pod, and in which pods it and the others hold.
fn merge_messages(mut found: Vec<(String, Vec<u32>)>, pods: u32) -> String {
    found.sort_by_key(|(_, in_pods)| in_pods.first().copied());
    let first_pods = found[0].1.clone();
    let mut others: Vec<u32> = found[1..]
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .filter(|p| !first_pods.contains(p))
        .collect();
    others.sort_unstable();
    others.dedup();
    let every = first_pods.len() + others.len() == pods as usize;
    let suffix = match (others.is_empty(), every) {
        (true, true) => String::new(),
        (true, false) => format!(" (in {})", describe_pods(&first_pods)),
        (false, true) => format!(
            " (in {}; likewise, with other values, in every other pod)",
            describe_pods(&first_pods)
        ),
        (false, false) => format!(
            " (in {}; likewise, with other values, in {})",
            describe_pods(&first_pods),
            describe_pods(&others)
        ),
    };
    let message = std::mem::take(&mut found[0].0);
    format!("{message}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(found: &[(&str, u32)], pods: u32) -> Vec<String> {
        let mut all = PodProblems::default();
        for (message, pod) in found {
            let mut p = Problems::default();
            p.push(path!["links", 0, "ipv4"], *message);
            all.record(*pod, p);
        }
        all.merged(pods).into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn a_problem_with_other_values_in_other_pods_is_said_once() {
        let found = [("`b` is bad", 5), ("`a` is bad", 4), ("`c` is bad", 6)];
        assert_eq!(
            merged(&found, 6),
            ["`a` is bad (in pod 4; likewise, with other values, in pods 5-6)"]
        );
        assert_eq!(
            merged(&found, 3),
            ["`a` is bad (in pod 4; likewise, with other values, in every other pod)"]
        );
        let same = [("bad", 1), ("bad", 2), ("bad", 3)];
        assert_eq!(merged(&same, 3), ["bad"]);
        assert_eq!(merged(&same, 5), ["bad (in pods 1-3)"]);
    }

    #[test]
    fn uses_of_a_failed_var_are_recognised_by_its_name() {
        let mut p = Problems::default();
        p.var_failed("asn");
        let missing = |name: &str| RenderError {
            at: None,
            message: String::new(),
            variable: Some(name.to_string()),
        };
        assert!(p.uses_failed_var(&missing("vars.asn")));
        assert!(p.uses_failed_var(&missing("vars.asn.x")));
        assert!(!p.uses_failed_var(&missing("vars.asn2")));
        assert!(!p.uses_failed_var(&missing("vars.id")));
        assert!(!p.uses_failed_var(&missing("asn")));
        assert!(!p.uses_failed_var(&missing("vars.asn[0]")));
        // What a template says of a failed var it uses, as rendered.
        let e = render::render("{{ vars.asn }}", &serde_json::json!({"vars": {}}))
            .expect_err("asn is missing");
        assert!(p.uses_failed_var(&e));
        let nested = p.nested();
        assert!(nested.uses_failed_var(&e));
    }
}
