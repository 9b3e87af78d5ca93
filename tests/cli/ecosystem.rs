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

/// Every field of the format is explained in the writer's reference.
#[test]
fn issue10_every_schema_field_is_in_writing_a_lab() {
    use std::collections::BTreeSet;
    fn fields(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    out.extend(props.keys().cloned());
                }
                map.values().for_each(|x| fields(x, out));
            }
            Value::Array(items) => items.iter().for_each(|x| fields(x, out)),
            _ => {}
        }
    }
    let mut all = BTreeSet::new();
    fields(&shipped_schema(), &mut all);
    assert!(all.len() > 30, "{all:?}");
    let doc = std::fs::read_to_string(root().join("docs/writing-a-lab.md"))
        .expect("docs/writing-a-lab.md");
    let missing: Vec<&String> = all
        .iter()
        .filter(|f| !doc.contains(&format!("`{f}`")) && !doc.contains(&format!("`{f}:")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/writing-a-lab.md does not explain these fields (as `name`): {missing:?}"
    );
    // And the kinds it may name.
    for kind in shipped_schema()["definitions"]["Node"]["properties"]["kind"]["anyOf"][0]["enum"]
        .as_array()
        .expect("kinds")
    {
        let kind = kind.as_str().expect("a name");
        assert!(
            doc.contains(&format!("`{kind}`")),
            "docs/writing-a-lab.md does not list kind `{kind}`"
        );
    }
}

#[test]
fn issue10_readme_links_every_doc() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    for doc in std::fs::read_dir(root().join("docs")).expect("docs/") {
        let name = doc.expect("entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".md") {
            assert!(
                readme.contains(&format!("(docs/{name})")),
                "README.md does not link docs/{name}"
            );
        }
    }
}

fn graph(args: &[&str]) -> String {
    let mut all = vec!["graph"];
    all.extend_from_slice(args);
    noglab(&all)
        .env("NOGLAB_PLUMBING_RANGE", "198.18.0.0/15")
        .ok()
        .stdout
}

#[test]
fn issue10_graph_golden_dot_and_mermaid() {
    support::golden(
        &root().join("tests/golden/two-routers.graph.dot"),
        &graph(&["examples/two-routers", "--format", "dot"]),
    );
    support::golden(
        &root().join("tests/golden/two-routers.graph.mermaid"),
        &graph(&["examples/two-routers", "--format", "mermaid"]),
    );
}

#[test]
fn issue10_graph_shows_the_pod_asked_for_and_the_shared_nodes() {
    let two = graph(&["examples/two-routers", "--pod", "2", "--format", "mermaid"]);
    assert!(two.contains("title: tworouters, pod 2"), "{two}");
    assert!(two.contains("r1 eth1 100.64.2.0/31"), "{two}");
    assert!(
        !two.contains("100.64.1."),
        "pod 1's addresses in pod 2: {two}"
    );
    // Beyond the topology's `pods`, the pod is planned all the same.
    let five = graph(&["examples/two-routers", "--pod", "5"]);
    assert!(five.contains("100.64.5.0/31"), "{five}");

    let ixp = graph(&["examples/ixp", "--format", "dot"]);
    for want in [
        "cluster_shared",
        "\"n_rs\"",
        "\"s_ixp\" [label=\"ixp\\n198.51.100.0/24\\n2001:db8:ffff::/64\"",
        "\"n_r1\" -- \"s_ixp\" [label=\"r1 eth2 198.51.100.11/24 2001:db8:ffff::11/64\"]",
    ] {
        assert!(ixp.contains(want), "no {want} in\n{ixp}");
    }
    // The access point and management networks are plumbing, not lab.
    assert!(!ixp.contains("access") && !ixp.contains("mgmt"), "{ixp}");
}

#[test]
fn issue10_graph_svg_without_graphviz() {
    let svg = graph(&[
        "examples/two-routers",
        "--format",
        "svg",
        "--layout",
        "builtin",
    ]);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    for want in [
        ">r1</text>",
        ">h1</text>",
        ">eth2</tspan>",
        ">100.65.1.1/29</tspan>",
    ] {
        assert!(svg.contains(want), "no {want} in\n{svg}");
    }
    // Auto uses Graphviz when installed and noglab's layout otherwise:
    // SVG comes out either way.
    let auto = graph(&["examples/ixp", "--format", "svg"]);
    assert!(auto.contains("<svg"), "{auto}");
}

#[test]
fn issue10_graph_of_an_unknown_lab_or_pod_is_bad_input() {
    let out = noglab(&["graph", "nosuchlab"]).code(2);
    assert!(
        out.stderr
            .contains("`nosuchlab` is neither a topology file nor a lab"),
        "{}",
        out.stderr
    );
    let out = noglab(&["graph", "examples/two-routers", "--pod", "0"]).code(2);
    assert!(out.stderr.contains("pods count from 1"), "{}", out.stderr);
}

/// An example's or a library topology's README embeds its picture; it
/// must be the current one.
#[test]
fn issue10_example_readmes_show_the_current_picture() {
    let mut checked = 0;
    let folders = ["examples", "topologies"].map(|f| root().join(f));
    for entry in folders
        .iter()
        .flat_map(|f| std::fs::read_dir(f).expect("a folder"))
    {
        let dir = entry.expect("entry").path();
        let Ok(readme) = std::fs::read_to_string(dir.join("README.md")) else {
            continue;
        };
        let Some((_, rest)) = readme.split_once("```mermaid\n") else {
            continue;
        };
        let block = rest.split_once("```").expect("a closed block").0;
        let rel = relative(&dir);
        let now = graph(&[&rel, "--format", "mermaid"]);
        assert_eq!(
            block, now,
            "{rel}/README.md shows an old picture; paste `noglab graph {rel} --format mermaid`"
        );
        checked += 1;
    }
    assert!(checked > 0, "no example README embeds its picture");
}

#[test]
fn issue10_completions_for_every_shell_name_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = noglab(&["completions", shell]).ok().stdout;
        for cmd in ["validate", "up", "down", "graph", "schema", "completions"] {
            assert!(
                out.contains(cmd),
                "{shell} completions do not mention {cmd}"
            );
        }
    }
    noglab(&["completions", "tcsh"]).code(2);
}

#[test]
fn issue10_man_page_and_one_page_per_command() {
    let page = noglab(&["man"]).ok().stdout;
    assert!(page.contains(".TH noglab 1"), "{page}");
    for cmd in ["validate", "up", "status", "graph", "down"] {
        assert!(page.contains(cmd), "the man page does not mention {cmd}");
    }
    let dir = root().join("target/test-man");
    let _ = std::fs::remove_dir_all(&dir);
    noglab(&["man", "--out-dir", dir.to_str().expect("utf-8")]).ok();
    let up = std::fs::read_to_string(dir.join("noglab-up.1")).expect("noglab-up.1");
    assert!(up.contains("\\-\\-pods"), "{up}");
    assert!(dir.join("noglab.1").is_file());
}

/// `DOCKER_HOST` is read as the docker CLI reads it; what noglab cannot
/// use is refused as bad input, an engine that does not answer is named.
#[test]
fn issue10_docker_host_is_honoured() {
    let out = noglab(&["status"])
        .env("DOCKER_HOST", "ssh://admin@engine")
        .code(2);
    assert!(
        out.stderr.contains("DOCKER_HOST `ssh://admin@engine`")
            && out.stderr.contains("ssh -nNT -L"),
        "{}",
        out.stderr
    );
    // Nothing listens on port 1 of the loopback: the message names the engine.
    let out = noglab(&["status"])
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .code(1);
    assert!(
        out.stderr
            .contains("cannot reach the Docker engine at tcp://127.0.0.1:1"),
        "{}",
        out.stderr
    );
    let out = noglab(&["images", "list"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .code(1);
    assert!(
        out.stderr.contains("unix:///nonexistent/docker.sock"),
        "{}",
        out.stderr
    );
}

/// A reader that stops early (`noglab plan ... | head -1`) ends noglab
/// quietly, as it ends any Unix tool: no panic, no backtrace.
#[test]
fn issue10_a_closed_pipe_ends_noglab_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_noglab"))
        .args(["plan", "examples/two-routers", "--pods", "60"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("noglab runs");
    let mut first = [0u8; 16];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("some output");
    // The read end is dropped here, while noglab still has lines to write.
    let out = child.wait_with_output().expect("noglab ends");
    assert_eq!(out.status.code(), Some(141));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A lab author edits a check and tries it at once: `check FILE` runs the
/// checks written in the file now, `check LAB` those saved at `up`.
#[test]
fn issue10_check_file_runs_the_checks_written_now() {
    if crate::docker::skip() {
        return;
    }
    let lab = crate::docker::Lab::new("two-routers", "chkf");
    lab.up(1);
    let text = std::fs::read_to_string(lab.file()).expect("topology");
    let added = format!(
        "{text}  - id: h1-has-a-route\n    step: 3\n    node: h1\n    run: ip route show default\n    expect: {{ contains: via }}\n"
    );
    std::fs::write(lab.file(), added).expect("write");
    let ids = |target: &str| -> Vec<String> {
        let out = noglab(&["check", target, "--step", "3", "--format", "json"]).run();
        let board: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
        board["checks"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|c| c["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(ids(&lab.file()), vec!["h1-has-a-route".to_string()]);
    let saved = noglab(&["check", &lab.name, "--step", "3"]).code(2);
    assert!(
        saved.stderr.contains("has no checks for step 3"),
        "{}",
        saved.stderr
    );
}

/// The languages of the lab guides, in the order every guide lists them:
/// the file name's suffix (`README.es.md`) and the language's own name.
/// The instructor's notes exist in the first two.
const GUIDE_LANGUAGES: [(&str, &str); 3] =
    [("", "English"), (".es", "Español"), (".pt", "Português")];
const INSTRUCTOR_LANGUAGES: usize = 2;

/// The placeholders a participant replaces (`ssh -p PORT lab@SERVER`) may
/// be written in the guide's language: (suffix, translated, English).
const PLACEHOLDERS: [(&str, &str, &str); 4] = [
    (".es", "PUERTO", "PORT"),
    (".es", "SERVIDOR", "SERVER"),
    (".pt", "PORTA", "PORT"),
    (".pt", "SERVIDOR", "SERVER"),
];

/// The labs: every folder under labs/ with a topology.
fn labs() -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(root().join("labs"))
        .expect("labs/")
        .map(|e| e.expect("entry").path())
        .filter(|dir| dir.join("topology.yml").is_file())
        .collect();
    found.sort();
    found
}

/// The line under a page's title that links its other languages: every
/// language in the same order, the page's own in bold, the others linked.
fn language_line(stem: &str, languages: &[(&str, &str)], own: usize) -> String {
    let names: Vec<String> = languages
        .iter()
        .enumerate()
        .map(|(i, (suffix, name))| {
            if i == own {
                format!("**{name}**")
            } else {
                format!("[{name}]({stem}{suffix}.md)")
            }
        })
        .collect();
    names.join(" · ")
}

/// A fenced code block: the line its fence opens on (1-based), its info
/// string (`sh`, `mermaid`, empty) and its lines, right-trimmed.
struct Block {
    line: usize,
    info: String,
    lines: Vec<String>,
}

/// The fenced blocks of a Markdown page, and the lines outside them.
fn split_fences(text: &str) -> (Vec<Block>, Vec<(usize, &str)>) {
    let mut blocks = Vec::new();
    let mut prose = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                open = Some(Block {
                    line: i + 1,
                    info: info.trim().to_string(),
                    lines: Vec::new(),
                })
            }
            (None, None) => prose.push((i + 1, line)),
            (Some(_), Some(rest)) if rest.trim().is_empty() => blocks.extend(open.take()),
            (Some(block), _) => block.lines.push(line.trim_end().to_string()),
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    (blocks, prose)
}

/// Replaces whole words, e.g. `lab@SERVIDOR` -> `lab@SERVER`.
fn replace_words(line: &str, words: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for c in line.chars().map(Some).chain([None]) {
        match c {
            Some(c) if c.is_alphanumeric() || c == '_' => word.push(c),
            _ => {
                let to = words.iter().find(|(from, _)| *from == word);
                out.push_str(to.map_or(word.as_str(), |(_, to)| to));
                word.clear();
                out.extend(c);
            }
        }
    }
    out
}

/// What of a code block's line must be the same in every language:
/// - in a `sh` block, the command: a comment, from a `#` that begins the
///   line or follows a blank to the end of the line, may be translated,
///   and so may the placeholders in `PLACEHOLDERS`;
/// - in a `mermaid` picture, all but the quoted labels, and of each label
///   the words that hold a digit (addresses, AS numbers, interfaces), in
///   order: the other words may be translated;
/// - in any other block (router sessions, outputs, configuration files),
///   the whole line.
fn invariant(info: &str, line: &str, placeholders: &[(&str, &str)]) -> String {
    match info {
        "sh" => {
            let comment = line
                .char_indices()
                .find(|&(i, c)| c == '#' && (i == 0 || line[..i].ends_with(char::is_whitespace)))
                .map_or(line.len(), |(i, _)| i);
            replace_words(line[..comment].trim_end(), placeholders)
        }
        "mermaid" => {
            let mut out = String::new();
            for (i, part) in line.split('"').enumerate() {
                if i % 2 == 0 {
                    out.push_str(part);
                } else {
                    let label = part.replace("<br/>", " ");
                    let kept: Vec<&str> = label
                        .split_whitespace()
                        .filter(|w| w.contains(|c: char| c.is_ascii_digit()))
                        .collect();
                    out.push('"');
                    out.push_str(&kept.join(" "));
                    out.push('"');
                }
            }
            out
        }
        _ => line.to_string(),
    }
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, blanks
/// turned into dashes (accented letters stay).
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The problems of one page: its language line, its in-page links and its
/// links to files beside it.
fn page_problems(dir: &Path, name: &str, want_languages: &str) -> Vec<String> {
    let rel = format!("{}/{name}", relative(dir));
    let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
        return vec![format!("{rel} is missing")];
    };
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    if !(lines.first().is_some_and(|l| l.starts_with("# "))
        && lines.get(1) == Some(&"")
        && lines.get(2) == Some(&want_languages))
    {
        problems.push(format!(
            "{rel}: the title, a blank line, then the languages: `{want_languages}`"
        ));
    }
    let (_, prose) = split_fences(&text);
    let anchors: Vec<String> = prose
        .iter()
        .filter(|(_, l)| l.starts_with('#'))
        .map(|(_, l)| anchor(l.trim_start_matches('#').trim()))
        .collect();
    for (n, line) in &prose {
        for (_, rest) in line.match_indices("](").map(|(i, _)| line.split_at(i + 2)) {
            let target = rest.split(')').next().unwrap_or_default();
            if target.contains("://") {
                continue;
            }
            if let Some(fragment) = target.strip_prefix('#') {
                if !anchors.iter().any(|a| a == fragment) {
                    problems.push(format!(
                        "{rel}:{n}: no heading here has the anchor #{fragment}"
                    ));
                }
            } else if !dir
                .join(target.split('#').next().unwrap_or_default())
                .exists()
            {
                problems.push(format!("{rel}:{n}: links {target}, which does not exist"));
            }
        }
    }
    problems
}

/// The problems of a translation against the English: the same headings,
/// at the same levels, and the same code blocks, as `invariant` says.
fn translation_problems(dir: &Path, english: &str, name: &str, suffix: &str) -> Vec<String> {
    let rel = format!("{}/{name}", relative(dir));
    let (Ok(en), Ok(other)) = (
        std::fs::read_to_string(dir.join(english)),
        std::fs::read_to_string(dir.join(name)),
    ) else {
        return Vec::new(); // page_problems reports the missing file
    };
    let (en_blocks, en_prose) = split_fences(&en);
    let (blocks, prose) = split_fences(&other);
    let levels = |prose: &[(usize, &str)]| -> Vec<usize> {
        prose
            .iter()
            .filter(|(_, l)| l.starts_with('#'))
            .map(|(_, l)| l.len() - l.trim_start_matches('#').len())
            .collect()
    };
    let mut problems = Vec::new();
    if levels(&en_prose) != levels(&prose) {
        problems.push(format!(
            "{rel}: the headings' levels are {:?}, {english}'s {:?}",
            levels(&prose),
            levels(&en_prose)
        ));
    }
    if en_blocks.len() != blocks.len() {
        problems.push(format!(
            "{rel} has {} code blocks, {english} {}",
            blocks.len(),
            en_blocks.len()
        ));
    }
    let placeholders: Vec<(&str, &str)> = PLACEHOLDERS
        .iter()
        .filter(|(s, _, _)| *s == suffix)
        .map(|(_, from, to)| (*from, *to))
        .collect();
    for (want, got) in en_blocks.iter().zip(&blocks) {
        let here = format!("{rel}:{} (the block of {english}:{})", got.line, want.line);
        if want.info != got.info {
            problems.push(format!(
                "{here}: ```{} where English has ```{}",
                got.info, want.info
            ));
            continue;
        }
        let same = |a: &String, b: &String| {
            invariant(&want.info, a, &[]) == invariant(&got.info, b, &placeholders)
        };
        if want.lines.len() != got.lines.len()
            || !want.lines.iter().zip(&got.lines).all(|(a, b)| same(a, b))
        {
            let first = want.lines.iter().zip(&got.lines).find(|(a, b)| !same(a, b));
            problems.push(match first {
                Some((a, b)) => format!("{here}: `{b}` where English has `{a}`"),
                None => format!(
                    "{here}: {} lines, English {}",
                    got.lines.len(),
                    want.lines.len()
                ),
            });
        }
    }
    problems
}

/// Each lab's guide is in English, Spanish and Portuguese, and its
/// instructor's notes in English and Spanish. Every page links its other
/// languages in one line under its title, the same in every lab; its
/// in-page and file links lead somewhere. A translation has the English
/// headings' levels and the English code blocks: the commands, addresses,
/// configurations and outputs a participant types and compares, word for
/// word (only what `invariant` allows may be translated).
#[test]
fn issue19_lab_guides_in_every_language_link_each_other_and_show_the_same_commands() {
    let found = labs();
    assert!(found.len() >= 4, "labs/ has its labs: {found:?}");
    let mut problems = Vec::new();
    for dir in &found {
        for (stem, languages) in [
            ("README", &GUIDE_LANGUAGES[..]),
            ("INSTRUCTOR", &GUIDE_LANGUAGES[..INSTRUCTOR_LANGUAGES]),
        ] {
            for (own, (suffix, _)) in languages.iter().enumerate() {
                let name = format!("{stem}{suffix}.md");
                problems.extend(page_problems(
                    dir,
                    &name,
                    &language_line(stem, languages, own),
                ));
                if own > 0 {
                    problems.extend(translation_problems(
                        dir,
                        &format!("{stem}.md"),
                        &name,
                        suffix,
                    ));
                }
            }
        }
        // The instructor's notes lead to the participants' guide in every language.
        for (suffix, _) in &GUIDE_LANGUAGES[..INSTRUCTOR_LANGUAGES] {
            let notes = std::fs::read_to_string(dir.join(format!("INSTRUCTOR{suffix}.md")))
                .unwrap_or_default();
            for (guide, _) in &GUIDE_LANGUAGES {
                if !notes.contains(&format!("(README{guide}.md)")) {
                    problems.push(format!(
                        "{}/INSTRUCTOR{suffix}.md does not link README{guide}.md",
                        relative(dir)
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The comparison above is no rubber stamp: a changed address, a changed
/// command or a translated word outside a comment or label is caught;
/// translated comments, labels and placeholders pass.
#[test]
fn issue19_guide_comparison_allows_only_comments_labels_and_placeholders() {
    let es = [("PUERTO", "PORT")];
    let same =
        |info: &str, en: &str, other: &str| invariant(info, en, &[]) == invariant(info, other, &es);
    assert!(same(
        "sh",
        "ping -c 3 192.0.2.1   # works",
        "ping -c 3 192.0.2.1 # funciona"
    ));
    assert!(same("sh", "ssh -p PORT lab@HOST", "ssh -p PUERTO lab@HOST"));
    assert!(!same("sh", "ping -c 3 192.0.2.1", "ping -c 3 192.0.2.2"));
    assert!(!same("sh", "krillc roas list", "krillc roas lista"));
    assert!(!same("sh", "ssh -p PORT lab@HOST", "ssh -p PORTO lab@HOST"));
    assert!(same(
        "mermaid",
        r#"  h1["h1 (host)<br/>IPv6 by SLAAC"]"#,
        r#"  h1["h1 (host)<br/>IPv6 por SLAAC"]"#
    ));
    assert!(!same(
        "mermaid",
        r#"  r1 ---|"r1 eth1 100.64.X.8/31"| r2"#,
        r#"  r1 ---|"r1 eth1 100.64.X.9/31"| r2"#
    ));
    assert!(!same("mermaid", r#"  r1 --- r2"#, r#"  r1 --- r3"#));
    // In a router session `#` ends the prompt, and nothing is a comment.
    assert!(!same("", "r1# show ip route", "r1# mostrar ip route"));
    assert!(!same(
        "",
        "eth1            up      default         100.64.1.8/31",
        "eth1            up      default         100.64.1.9/31"
    ));
    assert_eq!(
        anchor("Step 1: plan the /48 and address the routers"),
        "step-1-plan-the-48-and-address-the-routers"
    );
    assert_eq!(
        anchor("Passo 4: eBGP sobre IPv6 com o upstream"),
        "passo-4-ebgp-sobre-ipv6-com-o-upstream"
    );
    assert_eq!(anchor("Sobre o `krillc` aqui"), "sobre-o-krillc-aqui");
    assert_eq!(
        language_line("README", &GUIDE_LANGUAGES, 1),
        "[English](README.md) · **Español** · [Português](README.pt.md)"
    );
}

/// The issue's walkthrough on the real engine: the OSPF triangle a new
/// user writes comes up in two pods, converges, and its checks pass; its
/// picture comes from the saved plan too; `status --format json` lists it.
#[test]
fn issue10_ospf_triangle_comes_up_in_two_pods_and_passes_its_checks() {
    if crate::docker::skip() {
        return;
    }
    let lab = crate::docker::Lab::new("ospf-triangle", "ospf");
    lab.up(2);
    let out = noglab(&["check", &lab.name, "--format", "json"]).run();
    let board: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    assert_eq!(out.code, 0, "{board:#}");
    assert_eq!(board["passed"], 16, "{board:#}");
    assert_eq!(board["failed"], 0, "{board:#}");

    let status = noglab(&["status", &lab.name, "--format", "json"]).ok();
    let rows: Value = serde_json::from_str(&status.stdout).expect("JSON");
    let rows = rows.as_array().expect("a list");
    assert_eq!(rows.len(), 6, "{rows:#?}");
    for row in rows {
        for field in [
            "lab",
            "pod",
            "node",
            "kind",
            "state",
            "health",
            "uptime",
            "container",
        ] {
            assert!(row[field].is_string(), "{field} in {row}");
        }
        assert_eq!(row["state"], "running", "{row}");
    }

    // The running lab's picture, by its name, shows pod 2's own addresses.
    let picture = noglab(&["graph", &lab.name, "--pod", "2", "--format", "mermaid"]).ok();
    assert!(
        picture.stdout.contains("r1 eth1 100.70.2.0/31"),
        "{}",
        picture.stdout
    );
}

/// What bash offers for `line` (completing its last word), by running the
/// script `noglab completions bash` prints in a real bash: the function it
/// registers for noglab, called as bash's programmable completion calls
/// it, with the noglab under test as the command word.
fn bash_completes(script: &Path, line: &str) -> Vec<String> {
    let program = env!("CARGO_BIN_EXE_noglab");
    let line = line.replacen("noglab", program, 1);
    let driver = format!(
        r#"source {script}
COMP_LINE={line:?}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_POINT=${{#COMP_LINE}}
fn=$(complete -p noglab | sed -E 's/.*-F ([^ ]+).*/\1/')
"$fn" "${{COMP_WORDS[0]}}" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        script = script.display()
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &driver])
        .env("NOGLAB_STATE_DIR", support::state_dir())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Bash completes running labs, their pods and their nodes, asking the
/// engine, and still completes commands and flags from clap's script.
#[test]
fn completions_in_bash_name_running_labs_pods_and_nodes() {
    if crate::docker::skip() {
        return;
    }
    let lab = crate::docker::Lab::new("two-routers", "cmpl");
    lab.up(1);
    let script = root().join(format!("target/{}-completion.bash", lab.name));
    let text = noglab(&["completions", "bash"]).ok().stdout;
    std::fs::write(&script, text).expect("write the script");
    let name = lab.name.as_str();
    let typed = &name[..name.len() - 2];
    let labs = bash_completes(&script, &format!("noglab status {typed}"));
    assert!(labs.contains(&lab.name), "{labs:?}");
    assert!(labs.iter().all(|l| l.starts_with(typed)), "{labs:?}");
    assert_eq!(
        bash_completes(&script, &format!("noglab exec {name} ")),
        ["h1", "r1", "r2"]
    );
    assert_eq!(
        bash_completes(&script, &format!("noglab exec {name} r")),
        ["r1", "r2"]
    );
    assert_eq!(
        bash_completes(&script, &format!("noglab connect {name} --pod ")),
        ["1"]
    );
    assert_eq!(
        bash_completes(&script, &format!("noglab reset {name} --pod 1 --node h")),
        ["h1"]
    );
    // Commands and flags are still clap's.
    let commands = bash_completes(&script, "noglab sta");
    assert_eq!(commands, ["status"]);
    assert!(
        bash_completes(&script, "noglab __").is_empty(),
        "a hidden command is offered"
    );
    let flags = bash_completes(&script, &format!("noglab exec {name} --no-"));
    assert_eq!(flags, ["--no-stdin"]);
    let _ = std::fs::remove_file(&script);
}

/// A box in an SVG picture.
#[derive(Debug, Clone, Copy)]
struct Area {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Area {
    fn overlaps(&self, o: &Area) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
    fn contains(&self, p: (f64, f64)) -> bool {
        (self.x0..=self.x1).contains(&p.0) && (self.y0..=self.y1).contains(&p.1)
    }
}

/// What noglab's own SVG layout draws, read back from the picture.
struct Drawn {
    /// The interface labels' boxes, with their text.
    labels: Vec<(Area, String)>,
    /// The vertices' boxes.
    boxes: Vec<Area>,
    /// Points along every edge.
    points: Vec<(f64, f64)>,
}

/// Reads a picture back. A glyph of a 10 px font is taken 6 px wide, a
/// line 12 px high; text sits on its baseline with 3 px below it.
fn svg_parts(svg: &str) -> Drawn {
    let num = r"(-?[0-9.]+)";
    let path = regex::Regex::new(&format!(
        r#"<path d="M {num} {num} Q {num} {num} {num} {num}""#
    ))
    .expect("regex");
    let rect = regex::Regex::new(&format!(
        r#"<rect x="{num}" y="{num}" width="{num}" height="{num}""#
    ))
    .expect("regex");
    let text = regex::Regex::new(&format!(
        r#"<text x="{num}" y="{num}" font-size="10" text-anchor="(\w+)"[^>]*stroke="white"[^>]*>(.*?)</text>"#
    ))
    .expect("regex");
    let tspan = regex::Regex::new(r"<tspan[^>]*>(.*?)</tspan>").expect("regex");
    let f = |s: &str| s.parse::<f64>().expect("a number");
    let mut points = Vec::new();
    for c in path.captures_iter(svg) {
        let v: Vec<f64> = (1..=6).map(|i| f(&c[i])).collect();
        for i in 0..=400 {
            let t = i as f64 / 400.0;
            let u = 1.0 - t;
            points.push((
                u * u * v[0] + 2.0 * u * t * v[2] + t * t * v[4],
                u * u * v[1] + 2.0 * u * t * v[3] + t * t * v[5],
            ));
        }
    }
    let boxes = rect
        .captures_iter(svg)
        .map(|c| {
            let (x, y) = (f(&c[1]), f(&c[2]));
            Area {
                x0: x,
                y0: y,
                x1: x + f(&c[3]),
                y1: y + f(&c[4]),
            }
        })
        .collect();
    let mut labels = Vec::new();
    for c in text.captures_iter(svg) {
        let (x, y) = (f(&c[1]), f(&c[2]));
        let lines: Vec<String> = tspan
            .captures_iter(&c[4])
            .map(|t| {
                t[1].replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&amp;", "&")
            })
            .collect();
        let w = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * 6.0;
        let x0 = match &c[3] {
            "start" => x,
            "end" => x - w,
            _ => x - w / 2.0,
        };
        let area = Area {
            x0,
            y0: y - 10.0,
            x1: x0 + w,
            y1: y + (lines.len().max(1) - 1) as f64 * 12.0 + 3.0,
        };
        labels.push((area, lines.join(" ")));
    }
    Drawn {
        labels,
        boxes,
        points,
    }
}

/// noglab's own SVG layout, for every shipped lab and topology: no
/// interface label overlaps another, a vertex, or any edge.
#[test]
fn graph_svg_labels_overlap_nothing_in_any_lab() {
    let files: Vec<_> = topologies()
        .into_iter()
        .filter(|p| {
            let rel = relative(p);
            rel.starts_with("labs/") || rel.starts_with("topologies/")
        })
        .collect();
    let rels: Vec<String> = files.iter().map(|p| relative(p)).collect();
    assert!(
        rels.iter().any(|r| r.starts_with("labs/bgp/")),
        "labs/bgp is among them: {rels:?}"
    );
    let mut problems = Vec::new();
    let mut labels_seen = 0;
    for rel in &rels {
        let svg = noglab(&["graph", rel, "--format", "svg", "--layout", "builtin"])
            .ok()
            .stdout;
        let Drawn {
            labels,
            boxes,
            points,
        } = svg_parts(&svg);
        assert!(!points.is_empty() && !boxes.is_empty(), "{rel}: {svg}");
        labels_seen += labels.len();
        for (i, (a, text)) in labels.iter().enumerate() {
            for (b, other) in &labels[i + 1..] {
                if a.overlaps(b) {
                    problems.push(format!("{rel}: `{text}` overlaps `{other}`"));
                }
            }
            if boxes.iter().any(|b| a.overlaps(b)) {
                problems.push(format!("{rel}: `{text}` overlaps a node or network"));
            }
            if let Some(p) = points.iter().find(|&&p| a.contains(p)) {
                problems.push(format!("{rel}: `{text}` lies on an edge at {p:?}"));
            }
        }
    }
    assert!(labels_seen > 50, "only {labels_seen} labels read back");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
