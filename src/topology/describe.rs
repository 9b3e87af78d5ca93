//! How the topology's types describe themselves in the JSON Schema: the
//! patterns their `schemars` attributes name and the few schema pieces
//! written by hand (a map's key names, exactly one of some fields, the
//! kinds on offer). `crate::schema` turns the types into the shipped
//! document; it reads this module, never the other way round.

use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use super::names::NAME_PATTERN;
use crate::kinds;

pub use super::names::{ENDPOINT_PATTERN, INTERFACE_PATTERN};

/// A `files:` destination: an absolute path, not a folder.
pub const FILE_PATTERN: &str = "^/.*[^/]$";
/// An `exec:` line: not blank.
pub const COMMAND_PATTERN: &str = r"\S";
/// A value holding a tera tag.
pub const TEMPLATE_PATTERN: &str = r"\{\{|\{%";

/// The names a map's keys may take (`propertyNames`).
pub fn names(max: usize) -> Value {
    json!({ "pattern": NAME_PATTERN, "maxLength": max })
}

/// Exactly one of `fields` is given (`oneOf` of `required`).
pub fn one_of_required(fields: &[&str]) -> Value {
    Value::Array(fields.iter().map(|f| json!({ "required": [f] })).collect())
}

/// A node's `kind`: one of the registry's, or a template rendered per pod
/// (which `noglab validate` checks in every pod).
pub fn kind(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "anyOf": [
            { "enum": kinds::names() },
            {
                "pattern": TEMPLATE_PATTERN,
                "patternErrorMessage": "a kind noglab knows, or a template (`{{ vars.router_kind }}`) that renders to one in each pod",
            },
        ],
    })
}

/// Adds each kind and what it runs to the `kind` field's description.
pub fn describe_kinds(schema: &mut Schema) {
    let list: Vec<String> = kinds::KINDS
        .iter()
        .map(|k| format!("`{}`: {}", k.name, k.description))
        .collect();
    let text = match schema.get("description").and_then(Value::as_str) {
        Some(d) => format!("{d} {}.", list.join("; ")),
        None => format!("{}.", list.join("; ")),
    };
    schema.insert("description".into(), Value::String(text));
}
