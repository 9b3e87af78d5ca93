//! The JSON Schema of the topology format, generated from the serde types in
//! `topology` (their doc comments become its descriptions), so that editors
//! with a YAML language server complete and check topologies as they are
//! typed. `noglab schema` prints it; `schema/topology.schema.json` is the same
//! text, shipped for editors, and a test keeps the two equal.
//!
//! The schema checks shape only: names, kinds, types, patterns. What needs
//! the whole file or a pod (references between nodes, addresses, templates)
//! stays with `noglab validate`, which says where and why.

use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::topology::describe::{COMMAND_PATTERN, FILE_PATTERN};
use crate::topology::names::{ENDPOINT_PATTERN, INTERFACE_PATTERN, NAME_PATTERN};
use crate::topology::Topology;

/// Where the schema is shipped, relative to the repository root.
pub const SHIPPED: &str = "schema/topology.schema.json";

/// The schema as a JSON value (draft-07, which every YAML language server
/// and editor understands).
pub fn topology() -> Value {
    let generator = SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<Topology>();
    let mut value = schema.to_value();
    drop_null_defaults(&mut value);
    explain_patterns(&mut value);
    value
}

/// What each pattern means, in words: editors show `patternErrorMessage`
/// (a keyword of VS Code's and the YAML language server's) instead of the
/// regular expression; validators ignore it.
fn explain_patterns(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let said = match map.get("pattern").and_then(Value::as_str) {
                Some(NAME_PATTERN) => Some("lowercase letters, digits and `-`, starting with a letter, not ending with `-`"),
                Some(ENDPOINT_PATTERN) => Some("`node` or `node:ethN`, N from 1 to 64 (eth0 is noglab's management interface)"),
                Some(INTERFACE_PATTERN) => Some("eth1 to eth64 (eth0 is noglab's management interface)"),
                Some(FILE_PATTERN) => Some("an absolute path of a file in the node, like /etc/motd"),
                Some(COMMAND_PATTERN) => Some("an empty command; remove the line or write the command"),
                _ => None,
            };
            if let Some(said) = said {
                map.insert("patternErrorMessage".into(), Value::String(said.into()));
            }
            map.values_mut().for_each(explain_patterns);
        }
        Value::Array(items) => items.iter_mut().for_each(explain_patterns),
        _ => {}
    }
}

/// The schema as shipped: pretty JSON and a final newline.
pub fn text() -> String {
    let mut s = serde_json::to_string_pretty(&topology()).unwrap_or_default();
    s.push('\n');
    s
}

/// `default: null` says nothing a reader needs, and editors would complete
/// `config: null` from it; likewise the null fields of a default mapping.
fn drop_null_defaults(v: &mut Value) {
    match v {
        Value::Object(map) => {
            match map.get_mut("default") {
                Some(Value::Null) => {
                    map.remove("default");
                }
                Some(Value::Object(fields)) => fields.retain(|_, f| !f.is_null()),
                _ => {}
            }
            map.values_mut().for_each(drop_null_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds;
    use serde_json::json;

    #[test]
    fn a_check_may_belong_to_step_zero() {
        // Labs grade their infrastructure as step 0, which `validate` takes.
        let schema = topology();
        let step = &schema["definitions"]["Check"]["properties"]["step"];
        assert_eq!(step["minimum"], json!(0), "{step:#}");
        assert_eq!(step["default"], json!(1), "{step:#}");
    }

    #[test]
    fn every_kind_is_offered() {
        let schema = topology();
        let kind = &schema["definitions"]["Node"]["properties"]["kind"];
        assert_eq!(
            kind["anyOf"][0]["enum"],
            json!(kinds::names()),
            "{schema:#}"
        );
        // A template, rendered per pod, is offered too.
        let re = regex::Regex::new(kind["anyOf"][1]["pattern"].as_str().expect("pattern"))
            .expect("regex");
        assert!(re.is_match("{{ vars.router_kind }}"));
        assert!(re.is_match("{% if pod is odd %}frr{% else %}bird{% endif %}"));
        assert!(!re.is_match("frrr"));
    }
}
