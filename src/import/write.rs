//! The lab folder's files: `topology.yml`, written by hand so that it
//! carries its comments, and each node's templates, where every fixed
//! address is marked with a tera comment (`{# ... #}`, which renders to
//! nothing) saying which template value gives it per pod.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;

use super::addresses::Link;
use super::nodes::Node;
use super::read::Clab;
use crate::plan::addressing::nth;

/// What a fixed address is in the lab: (node, interface) for an end's
/// address, and the links' subnets.
struct Known {
    addresses: BTreeMap<IpAddr, (String, String)>,
    subnets: BTreeSet<IpNet>,
    /// (node, interface) -> the other end.
    peers: BTreeMap<(String, String), (String, String)>,
}

fn known(links: &[Link]) -> Known {
    let mut k = Known {
        addresses: BTreeMap::new(),
        subnets: BTreeSet::new(),
        peers: BTreeMap::new(),
    };
    for l in links {
        if let [a, b] = &l.ends[..] {
            k.peers.insert(a.clone(), b.clone());
            k.peers.insert(b.clone(), a.clone());
        }
        for net in [l.ipv4, l.ipv6].into_iter().flatten() {
            k.subnets.insert(net);
            for (i, end) in l.ends.iter().enumerate() {
                let addr: Option<IpAddr> = match net {
                    IpNet::V4(n) => nth(n, i as u32).map(Into::into),
                    IpNet::V6(n) => nth(n, i as u32).map(Into::into),
                };
                if let Some(a) = addr {
                    k.addresses.insert(a, end.clone());
                }
            }
        }
    }
    k
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A line as literal text inside a template.
fn literal(line: &str) -> String {
    if line.contains("{{") || line.contains("{%") || line.contains("{#") {
        format!("{{% raw %}}{line}{{% endraw %}}")
    } else {
        line.to_string()
    }
}

/// The address literals of a line (not `0.0.0.0`, `::` or a default route).
fn literals(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in line.split(|c: char| c.is_whitespace() || ";,{}()\"'[]".contains(c)) {
        let fixed = match (word.parse::<IpAddr>(), word.parse::<IpNet>()) {
            (Ok(a), _) => !a.is_unspecified(),
            (_, Ok(n)) => !n.addr().is_unspecified(),
            _ => false,
        };
        if fixed && !out.contains(&word.to_string()) {
            out.push(word.to_string());
        }
    }
    out
}

/// The template value that gives `word` per pod on `node`, when the lab
/// knows it.
fn value_for(word: &str, node: &str, known: &Known) -> Option<String> {
    if let Ok(a) = word.parse::<IpAddr>() {
        let fam = if a.is_ipv6() { "ipv6" } else { "ipv4" };
        let (n, f) = known.addresses.get(&a)?;
        if n == node {
            return Some(format!("interfaces.{f}.{fam}_address"));
        }
        let via = known
            .peers
            .iter()
            .find(|(me, peer)| me.0 == node && peer.0 == *n && peer.1 == *f)
            .map(|(me, _)| me.1.clone());
        return Some(match via {
            Some(g) => format!("interfaces.{g}.peer_{fam}_address"),
            None => format!("nodes.{n}.interfaces.{f}.{fam}_address"),
        });
    }
    let net: IpNet = word.parse().ok()?;
    if !known.subnets.contains(&net) {
        return None;
    }
    let fam = if net.addr().is_ipv6() { "ipv6" } else { "ipv4" };
    let on = known
        .addresses
        .iter()
        .find_map(|(a, (n, f))| (n == node && net.contains(a)).then(|| f.clone()))?;
    Some(format!("interfaces.{on}.{fam}_network"))
}

/// A bound config as a noglab template: adopted addresses handed to the
/// plan, every other fixed address marked.
fn template(node: &Node, text: &str, dest: &str, adopted: bool, known: &Known) -> String {
    let mut out = String::new();
    let adopted_here: BTreeMap<usize, String> = if adopted {
        node.adopted_lines.clone()
    } else {
        BTreeMap::new()
    };
    for (i, line) in text.lines().enumerate() {
        let line = &node.renamed_in(line);
        let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
        let body = line.trim();
        if let Some(iface) = adopted_here.get(&i) {
            let fam = if body.starts_with("ipv6") {
                "ipv6"
            } else {
                "ipv4"
            };
            let _ = writeln!(
                out,
                "{indent}{{# {body}: the link's address now, which noglab sets on {iface} (interfaces.{iface}.{fam}) #}}"
            );
            continue;
        }
        let comment = body.starts_with('!') || body.starts_with('#');
        let words = if comment { Vec::new() } else { literals(body) };
        if !words.is_empty() {
            let said: Vec<String> = words
                .iter()
                .map(|w| match value_for(w, &node.name, known) {
                    Some(v) => format!("{w} (per pod: {v})"),
                    None => w.clone(),
                })
                .collect();
            let _ = writeln!(
                out,
                "{indent}{{# fixed in every pod: {} #}}",
                said.join(", ")
            );
        }
        let _ = writeln!(out, "{}", literal(line));
    }
    if out.contains("{#") {
        out.insert_str(
            0,
            &format!(
                "{{# {}'s {dest}, imported from containerlab. Addresses are as it had them, the same in every pod (pods never meet, so the lab works as it is); each line with one is marked \"fixed\", with the template value that makes it per pod where the lab has one. #}}\n",
                node.name
            ),
        );
    }
    out
}

/// A file name in the lab folder for `dest` of `node`, not yet taken.
fn file_name(node: &str, dest: &str, taken: &mut BTreeSet<String>) -> String {
    let base = dest.rsplit('/').next().unwrap_or("file");
    let mut name = format!("{node}.{base}");
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{node}.{n}.{base}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

pub(crate) fn files(
    clab: &Clab,
    nodes: &[Node],
    links: &[Link],
    source_name: &str,
) -> BTreeMap<String, String> {
    let known = known(links);
    let mut files = BTreeMap::new();
    let mut taken = BTreeSet::from(["topology.yml".to_string()]);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Imported from containerlab's {source_name} by `noglab import containerlab`.\n\
         # Addresses are as containerlab's configs set them, the same in every pod:\n\
         # pods never meet, so the lab works as it is. In the templates, each fixed\n\
         # address is marked with the value that makes it per pod.\n\
         name: {}\n\
         pods: 1  # `noglab up --pods N` gives a room N pods\n\
         nodes:",
        clab.lab
    );
    for node in nodes {
        let _ = write!(t, "  {}:", node.name);
        if node.name != node.clab {
            let _ = write!(t, "  # containerlab's `{}`", node.clab);
        }
        let _ = writeln!(t, "\n    kind: {}", node.kind);
        if let Some(config) = &node.config {
            let name = file_name(&node.name, &config.dest, &mut taken);
            let text = template(node, &config.text, &config.dest, true, &known);
            let _ = writeln!(t, "    config: {}", quote(&name));
            files.insert(name, text);
        }
        if !node.daemons.is_empty() {
            let _ = writeln!(t, "    daemons: [{}]", node.daemons.join(", "));
        }
        if !node.files.is_empty() {
            let _ = writeln!(t, "    files:");
            for (dest, bound) in &node.files {
                let name = file_name(&node.name, dest, &mut taken);
                let _ = writeln!(t, "      {}: {}", quote(dest), quote(&name));
                files.insert(name, template(node, &bound.text, dest, false, &known));
            }
        }
        let exec: Vec<String> = node
            .exec
            .iter()
            .enumerate()
            .filter(|(i, _)| !node.adopted_exec.contains(i))
            .map(|(_, e)| node.renamed_in(&e.text))
            .collect();
        if !exec.is_empty() {
            let _ = writeln!(t, "    exec:");
            for line in exec {
                let _ = writeln!(t, "      - {}", quote(&literal(&line)));
            }
        }
    }
    if !links.is_empty() {
        let _ = writeln!(t, "links:");
    }
    for l in links {
        let ends: Vec<String> = l
            .ends
            .iter()
            .map(|(n, i)| quote(&format!("{n}:{i}")))
            .collect();
        let _ = writeln!(t, "  - endpoints: [{}]", ends.join(", "));
        if l.ipv4.is_some() || l.ipv6.is_some() {
            let _ = writeln!(
                t,
                "    # from {}; fixed in every pod, a template of `pod` makes it per pod",
                l.from.join(" and ")
            );
        }
        for (field, net) in [("ipv4", l.ipv4), ("ipv6", l.ipv6)] {
            if let Some(net) = net {
                let _ = writeln!(t, "    {field}: {}", quote(&net.to_string()));
            }
        }
    }
    files.insert("topology.yml".to_string(), t);
    files
}
