//! Exercise checks rendered for one pod: the command to run in which
//! container, and what must hold of its result. The built-ins (`ping`,
//! `bgp`, `route`, `dns`) become commands and expectations here, per kind,
//! so lab authors write no fragile shell.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::check_fields as field;
use super::problems::Problems;
use super::render::{self, RenderError};
use crate::kinds::{Kind, Router};
use crate::topology::{BgpCheck, Check, DnsCheck, Expect, JsonExpect, RouteCheck, Seg};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckSpec {
    pub id: String,
    pub title: String,
    pub step: u32,
    pub node: String,
    pub container: String,
    pub command: Vec<String>,
    pub expect: ExpectSpec,
    /// Seconds to retry until it holds.
    pub timeout: u32,
}

/// What must hold; every part given must.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExpectSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<JsonExpect>,
    /// BIRD's `show protocols all`: the session to this neighbor is in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bird_bgp: Option<(String, String)>,
    /// FRR's `show bgp ... PREFIX json`: the best path's RPKI validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frr_validity: Option<(String, String)>,
    /// [`BIRD_VALIDITY`]'s report: the primary route's RPKI validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bird_validity: Option<(String, String)>,
    /// dig's answer: status, and the AD flag when said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dig: Option<(String, Option<bool>)>,
    /// What must hold of the output before [`WITNESS_MARK`] (the witness
    /// route's query) for the rest to be judged at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<Box<ExpectSpec>>,
}

/// The line a route check with a `witness` prints between the witness's
/// query and its own.
pub const WITNESS_MARK: &str = "@@noglab-witness";

/// A route's RPKI validity in BIRD, for the prefix in `$1`: the primary
/// route (`show route PREFIX primary all`), its origin AS, and for each
/// routing table that `roa_check` accepts (the ROA tables) its answer and
/// how many ROAs it holds. [`evaluate`] reads the report.
pub const BIRD_VALIDITY: &str = r#"p=$1
out=$(birdc show route "$p" primary all)
printf '%s\n' "$out"
origin=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*BGP\.as_path:[[:space:]]*//p' | head -n 1 | tr -d '{}' | awk '{ print $NF }')
echo "origin: ${origin:-none}"
[ -n "$origin" ] || exit 0
for t in $(birdc show symbols table | awk '$2 == "routing" { print $1 }'); do
    v=$(birdc "eval roa_check($t, $p, $origin)" | tail -n 1)
    case $v in
        "(enum "*) echo "roa table $t: $v; $(birdc show route table "$t" count | tail -n 1)" ;;
    esac
done"#;

fn at(ci: usize, segs: &[&str]) -> crate::topology::spans::Path {
    let mut p = path!["checks", ci];
    p.extend(segs.iter().map(|s| Seg::Key(s.to_string())));
    p
}

/// A check's strings rendered with its node's context. Every failure is
/// reported, at the string's place; any failure drops the check.
struct Strings<'a> {
    ctx: &'a Json,
    ci: usize,
    problems: &'a mut Problems,
    failed: bool,
}

impl Strings<'_> {
    fn get(&mut self, template: &str, segs: &[&str]) -> String {
        match render::render(template, self.ctx) {
            Ok(t) => t.trim().to_string(),
            Err(e) => {
                self.failed = true;
                // One that fails only by using a failed var says nothing.
                self.problems.render_failed(
                    at(self.ci, segs),
                    &e.placed_in(template),
                    RenderError::inline,
                );
                String::new()
            }
        }
    }

    /// Renders a field and holds it to `rule` (see `check_fields`): a
    /// field that breaks it is reported at its place and drops the check.
    fn valid(
        &mut self,
        template: &str,
        segs: &[&str],
        rule: impl FnOnce(&str) -> Result<(), String>,
    ) -> String {
        let failed_before = self.failed;
        self.failed = false;
        let text = self.get(template, segs);
        if !self.failed {
            if let Err(message) = rule(&text) {
                self.failed = true;
                self.problems.push(at(self.ci, segs), message);
            }
        }
        self.failed |= failed_before;
        text
    }

    /// The names of the node's interfaces, as its templates see them.
    fn interfaces(&self) -> Vec<String> {
        self.ctx
            .get("interfaces")
            .and_then(Json::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Renders check `ci` for a node of kind `kind` with the node's context.
pub(crate) fn render_check(
    check: &Check,
    ci: usize,
    kind: &Kind,
    ctx: &Json,
    container: &str,
    problems: &mut Problems,
) -> Option<CheckSpec> {
    // A kind rendered per pod meets the checks on its node here, per pod
    // (a kind written as it is was checked on loading).
    if let Some((what, message)) = crate::topology::check_kind_problem(check, kind.name) {
        problems.push(at(ci, &[what]), message);
        return None;
    }
    let mut s = Strings {
        ctx,
        ci,
        problems,
        failed: false,
    };
    let (command, expect) = if let Some(run) = &check.run {
        run_check(run, &check.expect, &mut s)
    } else if let Some(target) = &check.ping {
        ping_check(target, &mut s)
    } else if let Some(bgp) = &check.bgp {
        bgp_check(bgp, kind, &mut s)
    } else if let Some(route) = &check.route {
        route_check(route, kind, &mut s)?
    } else if let Some(dns) = &check.dns {
        dns_check(dns, &mut s)
    } else {
        return None;
    };
    if s.failed {
        return None;
    }
    Some(CheckSpec {
        id: check.id.clone(),
        title: check.title.clone().unwrap_or_else(|| check.id.clone()),
        step: check.step,
        node: check.node.clone(),
        container: container.to_string(),
        command,
        expect,
        timeout: check.timeout,
    })
}

type Rendered = (Vec<String>, ExpectSpec);

fn words(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// `run`: the lab author's command with `sh -c`, and their expectations
/// (exit 0 when they say none).
fn run_check(run: &str, e: &Expect, s: &mut Strings) -> Rendered {
    let mut text = |t: &Option<String>, segs: &[&str]| t.as_ref().map(|t| s.get(t, segs));
    let mut expect = ExpectSpec {
        exit: e.exit,
        contains: text(&e.contains, &["expect", "contains"]),
        not_contains: text(&e.not_contains, &["expect", "not_contains"]),
        ..Default::default()
    };
    // A regular expression written as it is was compiled on loading.
    expect.matches = e.matches.as_ref().map(|t| {
        let segs = ["expect", "matches"];
        if crate::topology::is_template(t) {
            s.valid(t, &segs, field::regex)
        } else {
            s.get(t, &segs)
        }
    });
    expect.json = e.json.as_ref().map(|j| JsonExpect {
        pointer: s.valid(
            &j.pointer,
            &["expect", "json", "pointer"],
            field::json_pointer,
        ),
        equals: j
            .equals
            .as_ref()
            .map(|t| s.get(t, &["expect", "json", "equals"])),
        not_equals: j
            .not_equals
            .as_ref()
            .map(|t| s.get(t, &["expect", "json", "not_equals"])),
        exists: j.exists,
        at_least: j.at_least,
    });
    if expect == ExpectSpec::default() {
        expect.exit = Some(0);
    }
    let mut command = words(&["sh", "-c"]);
    command.push(s.get(run, &["run"]));
    (command, expect)
}

/// `ping`: two pings of the target, in its family, 0.2 s apart (the least
/// ping allows a user that is not root): at ping's own second, a node's
/// checks took at least a second, and a board of 30 pods a second per
/// node over the execs it runs at once.
fn ping_check(target: &str, s: &mut Strings) -> Rendered {
    let target = s.valid(target, &["ping"], |t| field::host("ping target", t));
    let family = if target.contains(':') { "-6" } else { "-4" };
    let mut command = words(&["ping", family, "-c", "2", "-i", "0.2", "-W", "1"]);
    command.push(target);
    let expect = ExpectSpec {
        exit: Some(0),
        ..Default::default()
    };
    (command, expect)
}

/// A JSON pointer's segment for a key that may hold `/` or `~` (RFC 6901).
fn pointer_key(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// `bgp`: the session's state, as the router's own CLI says it.
fn bgp_check(bgp: &BgpCheck, kind: &Kind, s: &mut Strings) -> Rendered {
    let frr = kind.router != Some(Router::Bird);
    let interfaces = s.interfaces();
    let neighbor = s.valid(&bgp.neighbor, &["bgp", "neighbor"], |n| {
        field::bgp_neighbor(n, frr, &interfaces)
    });
    let state = s.valid(&bgp.state, &["bgp", "state"], field::bgp_state);
    match kind.router {
        Some(Router::Bird) => (
            words(&["birdc", "show", "protocols", "all"]),
            ExpectSpec {
                bird_bgp: Some((neighbor, state)),
                ..Default::default()
            },
        ),
        _ => (
            vec![
                "vtysh".into(),
                "-c".into(),
                format!("show bgp neighbors {neighbor} json"),
            ],
            ExpectSpec {
                json: Some(JsonExpect {
                    pointer: format!("/{}/bgpState", pointer_key(&neighbor)),
                    equals: Some(state),
                    not_equals: None,
                    exists: None,
                    at_least: None,
                }),
                ..Default::default()
            },
        ),
    }
}

/// `route`: a prefix in the routing table (or not), or its RPKI validity.
fn route_check(route: &RouteCheck, kind: &Kind, s: &mut Strings) -> Option<Rendered> {
    let prefix = s.valid(&route.prefix, &["route", "prefix"], field::route_prefix);
    if let Some(validity) = route.validity {
        // Validity is BGP's, per path: FRR's BGP table says it, the
        // RIB does not, and an absent route has none.
        if !route.present {
            let path = at(s.ci, &["route", "validity"]);
            s.problems.push(path, "validity needs the route present");
            return None;
        }
        return Some(route_validity(prefix, validity.as_str().to_string(), kind));
    }
    let witness = match &route.witness {
        None => None,
        Some(_) if route.present => {
            let path = at(s.ci, &["route", "witness"]);
            s.problems.push(
                path,
                "witness goes with `present: false`: it is the route that must be there for the absence to count",
            );
            return None;
        }
        Some(w) => Some(s.valid(w, &["route", "witness"], field::route_prefix)),
    };
    let (command, expect) = route_query(prefix, route.present, kind);
    let Some(witness) = witness else {
        return Some((command, expect));
    };
    // The witness's query, the mark, then the check's own: one exec, and
    // the absence is judged only on a table the witness shows has arrived.
    let (w_command, w_expect) = route_query(witness, true, kind);
    let script = format!(
        "{}\necho {WITNESS_MARK}\n{}",
        quoted(&w_command),
        quoted(&command)
    );
    Some((
        vec!["sh".into(), "-c".into(), script],
        ExpectSpec {
            witness: Some(Box::new(w_expect)),
            ..expect
        },
    ))
}

fn quoted(argv: &[String]) -> String {
    argv.iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The router's query for one prefix, and what says it is there (or not).
fn route_query(prefix: String, present: bool, kind: &Kind) -> Rendered {
    let v6 = prefix.contains(':');
    match kind.router {
        Some(Router::Bird) => {
            let (contains, not_contains) = if present {
                (Some(prefix.clone()), None)
            } else {
                (None, Some(prefix.clone()))
            };
            let expect = ExpectSpec {
                contains,
                not_contains,
                ..Default::default()
            };
            let mut command = words(&["birdc", "show", "route", "for"]);
            command.push(prefix);
            (command, expect)
        }
        _ => {
            let family = if v6 { "ipv6" } else { "ip" };
            // The prefix's first route, not just its key: zebra answers
            // `{"::/0": []}` for a default route it does not have.
            (
                vec![
                    "vtysh".into(),
                    "-c".into(),
                    format!("show {family} route {prefix} json"),
                ],
                ExpectSpec {
                    json: Some(JsonExpect {
                        pointer: format!("/{}/0", pointer_key(&prefix)),
                        equals: None,
                        not_equals: None,
                        exists: Some(present),
                        at_least: None,
                    }),
                    ..Default::default()
                },
            )
        }
    }
}

/// A route's RPKI validity, as the router can tell it.
fn route_validity(prefix: String, want: String, kind: &Kind) -> Rendered {
    match kind.router {
        // BIRD keeps no validity per route: its primary route's origin
        // (the AS path's last AS) goes through `roa_check` against each
        // ROA table. The prefix goes in as an argument, never as shell
        // text.
        Some(Router::Bird) => {
            let mut command = words(&["sh", "-c", BIRD_VALIDITY, "bird-validity"]);
            command.push(prefix.clone());
            let expect = ExpectSpec {
                bird_validity: Some((prefix, want)),
                ..Default::default()
            };
            (command, expect)
        }
        _ => {
            let family = if prefix.contains(':') { "ipv6" } else { "ipv4" };
            let command = vec![
                "vtysh".into(),
                "-c".into(),
                format!("show bgp {family} unicast {prefix} json"),
            ];
            let expect = ExpectSpec {
                frr_validity: Some((prefix, want)),
                ..Default::default()
            };
            (command, expect)
        }
    }
}

/// `dns`: dig's answer, with DNSSEC, from the node's resolver or a server.
fn dns_check(dns: &DnsCheck, s: &mut Strings) -> Rendered {
    let name = s.valid(&dns.name, &["dns", "name"], field::dns_name);
    let rtype = s.valid(&dns.rtype, &["dns", "type"], field::dns_type);
    let rcode = s.valid(&dns.rcode, &["dns", "rcode"], field::dns_rcode);
    let mut command = words(&["dig", "+dnssec", "+time=2", "+tries=1"]);
    if let Some(server) = &dns.server {
        let server = s.valid(server, &["dns", "server"], |t| field::host("dns server", t));
        command.push(format!("@{server}"));
    }
    command.extend([name, rtype]);
    let expect = ExpectSpec {
        dig: Some((rcode.to_uppercase(), dns.ad)),
        ..Default::default()
    };
    (command, expect)
}

/// Whether a result satisfies an expectation; `Err` says what did not hold.
pub fn evaluate(expect: &ExpectSpec, code: i64, output: &str) -> Result<(), String> {
    let output = match &expect.witness {
        None => output,
        Some(witness) => {
            let mark = format!("{WITNESS_MARK}\n");
            let (seen, rest) = output
                .split_once(&mark)
                .ok_or_else(|| "the witness route's query did not run".to_string())?;
            evaluate(witness, 0, seen).map_err(|why| {
                format!("not yet conclusive: the witness route is not in the table ({why})")
            })?;
            rest
        }
    };
    if let Some(want) = expect.exit {
        if code != want {
            return Err(format!("exit code {code}, expected {want}"));
        }
    }
    text_holds(expect, output)?;
    if let Some(j) = &expect.json {
        json_holds(j, output)?;
    }
    if let Some((neighbor, state)) = &expect.bird_bgp {
        bird_session_holds(neighbor, state, output)?;
    }
    if let Some((prefix, want)) = &expect.frr_validity {
        frr_validity_holds(prefix, want, output)?;
    }
    if let Some((prefix, want)) = &expect.bird_validity {
        let got = bird_validity(prefix, output)?;
        if got != want {
            return Err(format!("{prefix} is {got}, expected {want}"));
        }
    }
    if let Some((rcode, ad)) = &expect.dig {
        dig_holds(rcode, *ad, output)?;
    }
    Ok(())
}

/// The output contains, lacks or matches what the expectation says.
fn text_holds(expect: &ExpectSpec, output: &str) -> Result<(), String> {
    if let Some(s) = &expect.contains {
        if !output.contains(s.as_str()) {
            return Err(format!("output lacks `{s}`"));
        }
    }
    if let Some(s) = &expect.not_contains {
        if output.contains(s.as_str()) {
            return Err(format!("output has `{s}`"));
        }
    }
    if let Some(re) = &expect.matches {
        let re = regex::Regex::new(re).map_err(|e| format!("bad regular expression: {e}"))?;
        if !re.is_match(output) {
            return Err(format!("output does not match `{re}`"));
        }
    }
    Ok(())
}

/// The value at the pointer of the output read as JSON.
fn json_holds(j: &JsonExpect, output: &str) -> Result<(), String> {
    let doc: Json =
        serde_json::from_str(output).map_err(|e| format!("output is not JSON ({e})"))?;
    let found = doc.pointer(&j.pointer);
    if let Some(exists) = j.exists {
        if found.is_some() != exists {
            return Err(if exists {
                format!("{} is absent", j.pointer)
            } else {
                format!("{} is present", j.pointer)
            });
        }
    }
    let text = found.map(|v| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    });
    if let Some(want) = &j.equals {
        if text.as_deref() != Some(want.as_str()) {
            return Err(format!(
                "{} is {}, expected {want}",
                j.pointer,
                text.as_deref().unwrap_or("absent")
            ));
        }
    }
    if let Some(unwanted) = &j.not_equals {
        if text.as_deref() == Some(unwanted.as_str()) {
            return Err(format!("{} is {unwanted}", j.pointer));
        }
    }
    if let Some(min) = j.at_least {
        let n = found.and_then(Json::as_f64);
        if n.is_none_or(|n| n < min) {
            return Err(format!(
                "{} is {}, expected at least {min}",
                j.pointer,
                text.as_deref().unwrap_or("absent")
            ));
        }
    }
    Ok(())
}

/// BIRD's `show protocols all` lists each protocol as a block; the one
/// whose neighbor address is ours must be in `state`.
fn bird_session_holds(neighbor: &str, state: &str, output: &str) -> Result<(), String> {
    let block = output.split("\n\n").find(|b| {
        b.lines().any(|l| {
            l.trim()
                .strip_prefix("Neighbor address:")
                .is_some_and(|a| a.trim() == neighbor)
        })
    });
    let Some(block) = block else {
        return Err(format!("no BGP session with {neighbor}"));
    };
    let got = block
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("BGP state:")
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    if got != state {
        return Err(format!(
            "session with {neighbor} is {got}, expected {state}"
        ));
    }
    Ok(())
}

/// FRR's `show bgp ... PREFIX json`: the best path's RPKI validity.
fn frr_validity_holds(prefix: &str, want: &str, output: &str) -> Result<(), String> {
    let doc: Json =
        serde_json::from_str(output).map_err(|e| format!("output is not JSON ({e})"))?;
    let paths = doc
        .get("paths")
        .and_then(Json::as_array)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("{prefix} is not in the BGP table"))?;
    let best = paths
        .iter()
        .find(|p| p.pointer("/bestpath/overall") == Some(&Json::Bool(true)))
        .unwrap_or(&paths[0]);
    let got = best
        .get("rpkiValidationState")
        .and_then(Json::as_str)
        .ok_or_else(|| format!("{prefix} has no RPKI validity (no RTR cache?)"))?;
    // FRR writes "not found".
    let got = got.replace(' ', "");
    if got != want {
        return Err(format!("{prefix} is {got}, expected {want}"));
    }
    Ok(())
}

/// dig's answer: its status, and the AD flag when said.
fn dig_holds(rcode: &str, ad: Option<bool>, output: &str) -> Result<(), String> {
    let status = output
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .map(str::trim)
        .unwrap_or("no answer");
    if status != rcode {
        return Err(format!("status {status}, expected {rcode}"));
    }
    if let Some(ad) = ad {
        let flags = output
            .split(";; flags:")
            .nth(1)
            .and_then(|s| s.split(';').next())
            .unwrap_or("");
        let has_ad = flags.split_whitespace().any(|f| f == "ad");
        if has_ad != ad {
            return Err(if ad {
                "the AD flag is not set".into()
            } else {
                "the AD flag is set".into()
            });
        }
    }
    Ok(())
}

/// Reads [`BIRD_VALIDITY`]'s report: `valid` when a ROA table says so,
/// else `invalid` when one does, else `notfound`; ROA tables holding no
/// ROA (no RTR data yet) say nothing.
fn bird_validity(prefix: &str, output: &str) -> Result<&'static str, String> {
    let route = output.lines().any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|first| first == prefix)
    });
    if !route {
        return Err(format!("{prefix} is not in BIRD's table"));
    }
    if output.lines().any(|l| l == "origin: none") {
        return Err(format!(
            "{prefix} has no AS path here: this router originates it"
        ));
    }
    let mut states = Vec::new();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix("roa table ") else {
            continue;
        };
        let (answer, count) = rest.split_once("; ").unwrap_or((rest, ""));
        let roas: u64 = count
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let state = answer.rsplit(')').next().map(str::trim);
        if roas > 0 {
            states.push(state.unwrap_or_default().to_string());
        }
    }
    if states.is_empty() {
        return Err(format!(
            "{prefix} has no RPKI validity: BIRD has no ROA table with ROAs in it (no RTR data?)"
        ));
    }
    // BIRD's ROA_UNKNOWN, ROA_VALID, ROA_INVALID are 0, 1, 2.
    Ok(if states.iter().any(|s| s == "1") {
        "valid"
    } else if states.iter().any(|s| s == "2") {
        "invalid"
    } else {
        "notfound"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pointer_with_addresses() {
        let e = ExpectSpec {
            json: Some(JsonExpect {
                pointer: "/100.64.1.1/bgpState".into(),
                equals: Some("Established".into()),
                not_equals: None,
                exists: None,
                at_least: None,
            }),
            ..Default::default()
        };
        assert!(evaluate(&e, 0, r#"{"100.64.1.1": {"bgpState": "Established"}}"#).is_ok());
        let err = evaluate(&e, 0, r#"{"100.64.1.1": {"bgpState": "Active"}}"#).expect_err("active");
        assert!(err.contains("Active"), "{err}");
        assert!(evaluate(&e, 0, "not json").is_err());
    }

    #[test]
    fn bird_sessions_are_found_by_neighbor() {
        let out = "BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\npod1       BGP        ---        up     10:00:00.000  Established\n  BGP state:          Established\n    Neighbor address: 198.51.100.11\n\npod2       BGP        ---        start  10:00:00.000  Active\n  BGP state:          Active\n    Neighbor address: 198.51.100.12\n";
        let e = |n: &str| ExpectSpec {
            bird_bgp: Some((n.into(), "Established".into())),
            ..Default::default()
        };
        assert!(evaluate(&e("198.51.100.11"), 0, out).is_ok());
        assert!(evaluate(&e("198.51.100.12"), 0, out)
            .expect_err("active")
            .contains("Active"));
        assert!(evaluate(&e("198.51.100.13"), 0, out).is_err());
    }

    #[test]
    fn dig_status_and_ad_flag() {
        let out = ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n;; flags: qr rd ra ad; QUERY: 1, ANSWER: 2\n";
        let e = |rc: &str, ad| ExpectSpec {
            dig: Some((rc.into(), ad)),
            ..Default::default()
        };
        assert!(evaluate(&e("NOERROR", Some(true)), 0, out).is_ok());
        assert!(evaluate(&e("NOERROR", Some(false)), 0, out).is_err());
        assert!(evaluate(&e("SERVFAIL", None), 0, out)
            .expect_err("status")
            .contains("NOERROR"));
    }

    fn frr_route_check(prefix: &str, present: bool) -> CheckSpec {
        let check: Check = serde_yaml::from_str(&format!(
            "{{id: r, node: r1, route: {{prefix: '{prefix}', present: {present}}}}}"
        ))
        .expect("a route check");
        let mut problems = Problems::default();
        let frr = crate::kinds::lookup("frr").expect("frr");
        let spec = render_check(&check, 0, frr, &serde_json::json!({}), "c", &mut problems)
            .expect("renders");
        assert!(problems.is_empty(), "{problems:?}");
        spec
    }

    #[test]
    fn frr_default_route_absent_is_not_present() {
        // What zebra prints for a default route it has and one it has not.
        let absent = r#"{"::/0": []}"#;
        let present = r#"{"::/0": [{"prefix": "::/0", "protocol": "bgp", "selected": true}]}"#;
        let want = frr_route_check("::/0", true);
        assert_eq!(want.command[2], "show ipv6 route ::/0 json");
        assert!(evaluate(&want.expect, 0, present).is_ok());
        assert!(evaluate(&want.expect, 0, absent).is_err());
        assert!(evaluate(&want.expect, 0, "{}").is_err());
        let keep_out = frr_route_check("::/0", false);
        assert!(evaluate(&keep_out.expect, 0, absent).is_ok());
        assert!(evaluate(&keep_out.expect, 0, "{}").is_ok());
        assert!(evaluate(&keep_out.expect, 0, present).is_err());
        let v4 = frr_route_check("100.64.1.0/24", true);
        assert_eq!(v4.command[2], "show ip route 100.64.1.0/24 json");
        assert!(evaluate(&v4.expect, 0, r#"{"100.64.1.0/24": [{"selected": true}]}"#).is_ok());
    }

    fn route_check_with(route: &str, kind: &str) -> (Option<CheckSpec>, Problems) {
        let check: Check =
            serde_yaml::from_str(&format!("{{id: r, node: r1, route: {route}}}")).expect("a check");
        let mut problems = Problems::default();
        let kind = crate::kinds::lookup(kind).expect("kind");
        let spec = render_check(&check, 0, kind, &serde_json::json!({}), "c", &mut problems);
        (spec, problems)
    }

    /// Runs a rendered check's command with a stand-in `vtysh` on PATH that
    /// answers each `show ip route PREFIX json` from `table` (prefix to
    /// route JSON), as zebra does: `{}` for a prefix it has not.
    fn run_with_fake_vtysh(command: &[String], table: &[(&str, &str)]) -> String {
        let dir = std::env::temp_dir().join(format!(
            "noglab-witness-{}-{}",
            std::process::id(),
            table.len()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut script = String::from("#!/bin/sh\ncase \"$2\" in\n");
        for (prefix, json) in table {
            script.push_str(&format!("  *' {prefix} '*) echo '{json}' ;;\n"));
        }
        script.push_str("  *) echo '{}' ;;\nesac\n");
        let vtysh = dir.join("vtysh");
        std::fs::write(&vtysh, script).expect("write");
        std::fs::set_permissions(&vtysh, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new(&command[0])
            .args(&command[1..])
            .env("PATH", path)
            .output()
            .expect("sh runs");
        let _ = std::fs::remove_dir_all(&dir);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn an_absence_counts_only_while_the_witness_route_is_there() {
        let (spec, problems) = route_check_with(
            "{prefix: 203.0.113.0/24, present: false, witness: 203.0.113.128/25}",
            "frr",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let spec = spec.expect("renders");
        assert_eq!(spec.command[..2], ["sh".to_string(), "-c".to_string()]);
        let route = r#"{"P": [{"selected": true}]}"#;
        let witness = route.replace('P', "203.0.113.128/25");
        let invalid = route.replace('P', "203.0.113.0/24");
        // Right after `up`: an empty table is not yet a pass.
        let empty = run_with_fake_vtysh(&spec.command, &[]);
        let why = evaluate(&spec.expect, 0, &empty).expect_err("empty table");
        assert!(why.contains("not yet conclusive"), "{why}");
        // The feed arrived and the filter let the invalid route in.
        let leaked = run_with_fake_vtysh(
            &spec.command,
            &[("203.0.113.128/25", &witness), ("203.0.113.0/24", &invalid)],
        );
        let why = evaluate(&spec.expect, 0, &leaked).expect_err("leaked");
        assert!(why.contains("is present"), "{why}");
        // The feed arrived and the filter dropped it.
        let dropped = run_with_fake_vtysh(&spec.command, &[("203.0.113.128/25", &witness)]);
        assert_eq!(evaluate(&spec.expect, 0, &dropped), Ok(()), "{dropped}");
        // The mark missing (the command did not run as rendered).
        assert!(evaluate(&spec.expect, 0, &witness).is_err());
    }

    #[test]
    fn a_bird_absence_waits_for_its_witness_too() {
        let (spec, problems) = route_check_with(
            "{prefix: 198.51.100.128/25, present: false, witness: 198.51.100.0/24}",
            "bird",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let spec = spec.expect("renders");
        assert!(spec.command[2].contains("'birdc' 'show' 'route' 'for' '198.51.100.0/24'"));
        let w =
            "Table master4:\n198.51.100.0/24      unicast [upstream 10:00] * (100) [AS64500i]\n";
        let none = "Table master4:\n";
        let mark = WITNESS_MARK;
        assert!(evaluate(&spec.expect, 0, &format!("{none}{mark}\n{none}")).is_err());
        assert!(evaluate(&spec.expect, 0, &format!("{w}{mark}\n{none}")).is_ok());
        let leaked = "198.51.100.128/25    unicast [upstream 10:00] * (100) [AS64500i]\n";
        assert!(evaluate(&spec.expect, 0, &format!("{w}{mark}\n{leaked}")).is_err());
    }

    #[test]
    fn a_witness_is_refused_on_a_check_that_wants_the_route_present_or_a_bad_prefix() {
        let (spec, problems) =
            route_check_with("{prefix: 192.0.2.0/24, witness: 198.51.100.0/24}", "frr");
        assert!(spec.is_none());
        let text = format!("{problems:?}");
        assert!(text.contains("present: false"), "{text}");
        let (spec, problems) = route_check_with(
            "{prefix: 192.0.2.0/24, present: false, witness: 198.51.100.1/24}",
            "frr",
        );
        assert!(spec.is_none());
        let text = format!("{problems:?}");
        assert!(text.contains("host bits set"), "{text}");
    }

    #[test]
    fn frr_validity_is_the_best_paths() {
        let e = |v: &str| ExpectSpec {
            frr_validity: Some(("100.68.1.0/24".into(), v.into())),
            ..Default::default()
        };
        let out = r#"{"prefix":"100.68.1.0/24","paths":[
            {"rpkiValidationState":"invalid","bestpath":{"overall":false}},
            {"rpkiValidationState":"not found","bestpath":{"overall":true}}]}"#;
        assert!(evaluate(&e("notfound"), 0, out).is_ok());
        let err = evaluate(&e("valid"), 0, out).expect_err("not found");
        assert_eq!(err, "100.68.1.0/24 is notfound, expected valid");
        let single = r#"{"paths":[{"rpkiValidationState":"valid"}]}"#;
        assert!(evaluate(&e("valid"), 0, single).is_ok());
        let absent = evaluate(&e("valid"), 0, "{}").expect_err("absent");
        assert!(absent.contains("not in the BGP table"), "{absent}");
        let no_rpki = r#"{"paths":[{"valid":true}]}"#;
        let err = evaluate(&e("valid"), 0, no_rpki).expect_err("no rpki");
        assert!(err.contains("no RPKI validity"), "{err}");
    }

    #[test]
    fn bird_validity_is_the_primary_routes_against_roa_tables_with_roas() {
        let e = |v: &str| ExpectSpec {
            bird_validity: Some(("100.68.1.0/24".into(), v.into())),
            ..Default::default()
        };
        let route = "BIRD 2.0.12 ready.\nTable master4:\n100.68.1.0/24        unicast [upstream 10:00:00.000] * (100) [AS65001i]\n\tvia 100.64.0.1 on eth2\n\tType: BGP univ\n\tBGP.origin: IGP\n\tBGP.as_path: 64500 65001\n\tBGP.next_hop: 100.64.0.1\norigin: 65001\n";
        let report = |r4: &str, r6: &str| {
            format!("{route}roa table r4: (enum 35){r4}; 5 of 5 routes for 5 networks in table r4\nroa table r6: (enum 35){r6}; 0 of 0 routes for 0 networks in table r6\n")
        };
        assert!(evaluate(&e("valid"), 0, &report("1", "0")).is_ok());
        assert!(evaluate(&e("invalid"), 0, &report("2", "0")).is_ok());
        assert!(evaluate(&e("notfound"), 0, &report("0", "0")).is_ok());
        // Any ROA table that says valid wins over one that says invalid.
        let two = format!("{route}roa table a: (enum 35)2; 3 of 3 routes for 3 networks in table a\nroa table b: (enum 35)1; 2 of 2 routes for 2 networks in table b\n");
        assert!(evaluate(&e("valid"), 0, &two).is_ok());
        // An empty ROA table says nothing, even valid.
        assert!(evaluate(&e("valid"), 0, &report("0", "1")).is_err());
        let err = evaluate(&e("valid"), 0, &report("2", "0")).expect_err("invalid");
        assert_eq!(err, "100.68.1.0/24 is invalid, expected valid");
        let empty =
            format!("{route}roa table r4: (enum 35)0; 0 of 0 routes for 0 networks in table r4\n");
        let err = evaluate(&e("notfound"), 0, &empty).expect_err("no roas");
        assert!(err.contains("no ROA table with ROAs"), "{err}");
        let err = evaluate(&e("notfound"), 0, route).expect_err("no roa table");
        assert!(err.contains("no ROA table with ROAs"), "{err}");
        let absent = "BIRD 2.0.12 ready.\nNetwork not found\norigin: none\n";
        let err = evaluate(&e("valid"), 0, absent).expect_err("absent");
        assert!(err.contains("not in BIRD's table"), "{err}");
        let local = "Table master4:\n100.68.1.0/24        blackhole [static1 10:00:00.000] * (200)\norigin: none\n";
        let err = evaluate(&e("valid"), 0, local).expect_err("own");
        assert!(err.contains("originates it"), "{err}");
    }

    #[test]
    fn exit_and_text() {
        let e = ExpectSpec {
            exit: Some(0),
            contains: Some("x".into()),
            ..Default::default()
        };
        assert!(evaluate(&e, 0, "axb").is_ok());
        assert!(evaluate(&e, 1, "axb").is_err());
        assert!(evaluate(&e, 0, "ab").is_err());
    }
}
