//! What noglab offers the tools around it (issue 10): the topology schema
//! for editors, pictures of a pod, shell completions and the manual page,
//! the docs kept in step with the format, and `DOCKER_HOST`. None of these
//! needs Docker, except the walkthrough test at the end.

use std::path::Path;

use serde_json::Value;

use crate::examples::{relative, topologies};
use crate::support::{self, noglab, root};

fn shipped_schema() -> Value {
    let text = std::fs::read_to_string(root().join("schema/topology.schema.json"))
        .expect("schema/topology.schema.json is shipped");
    serde_json::from_str(&text).expect("the shipped schema is JSON")
}

fn yaml_as_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    serde_json::to_value(yaml).expect("YAML that JSON can hold")
}

/// Every problem the schema finds in `instance`, as `path: message`.
fn schema_errors(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("a usable schema");
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn issue10_shipped_schema_is_what_noglab_schema_prints() {
    let printed = noglab(&["schema"]).ok().stdout;
    // NOGLAB_BLESS=1 rewrites the shipped file from `noglab schema`.
    support::golden(&root().join("schema/topology.schema.json"), &printed);
}

#[test]
fn issue10_schema_is_a_valid_draft7_schema() {
    let schema = shipped_schema();
    assert_eq!(
        schema["$schema"], "http://json-schema.org/draft-07/schema#",
        "editors' YAML language servers all know draft-07"
    );
    if let Err(e) = jsonschema::meta::validate(&schema) {
        panic!("the schema does not follow its meta-schema: {e}");
    }
}

#[test]
fn issue10_every_shipped_topology_validates_against_the_schema_and_names_it() {
    let schema = shipped_schema();
    let found = topologies();
    assert!(!found.is_empty());
    let mut failed = Vec::new();
    for path in &found {
        let rel = relative(path);
        let errors = schema_errors(&schema, &yaml_as_json(path));
        if !errors.is_empty() {
            failed.push(format!("{rel}:\n  {}", errors.join("\n  ")));
        }
        // The editor finds the schema through the first line, relative to the file.
        let depth = Path::new(&rel).components().count() - 1;
        let want = format!(
            "# yaml-language-server: $schema={}schema/topology.schema.json",
            "../".repeat(depth)
        );
        let text = std::fs::read_to_string(path).expect("readable");
        if text.lines().next() != Some(want.as_str()) {
            failed.push(format!("{rel}: the first line must be `{want}`"));
        }
        let target = path
            .parent()
            .expect("a folder")
            .join(want.split_once("$schema=").expect("a path").1);
        if !target.is_file() {
            failed.push(format!("{rel}: {} does not exist", target.display()));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// The schema is no rubber stamp: mistakes an editor should underline are
/// refused, each for the reason given.
#[test]
fn issue10_schema_refuses_what_validate_refuses_by_shape() {
    let schema = shipped_schema();
    let cases = [
        "unknown-field-top",
        "unknown-field-node",
        "unknown-field-link",
        "unknown-kind",
        "missing-kind",
        "missing-name",
        "lab-name-uppercase",
        "lab-name-trailing-dash",
        "lab-name-too-long",
        "nodes-empty",
        "pods-zero",
        "pods-huge",
        "interface-eth0",
        "link-one-endpoint",
        "type-exec-a-string",
        "type-pods-not-a-number",
    ];
    let mut accepted = Vec::new();
    for case in cases {
        let path = root().join("tests/errors").join(format!("{case}.yml"));
        if schema_errors(&schema, &yaml_as_json(&path)).is_empty() {
            accepted.push(case);
        }
    }
    assert!(
        accepted.is_empty(),
        "the schema accepts broken topologies: {accepted:?}"
    );
}
