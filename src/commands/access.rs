//! Participants' side of a lab: `credentials rotate` and `handout`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::{anyhow, Result};

use crate::cli::HandoutFormat;
use crate::credentials::{self, USER};
use crate::diag::input_error;
use crate::engine::{Connector, Engine, Scope};
use crate::kinds;
use crate::plan::{labels, Plan, ACCESS_NODE};
use crate::state;

fn plan_with_access(lab: &str) -> Result<Plan> {
    let plan = state::load_plan(lab)?.ok_or_else(|| {
        anyhow!("noglab has no saved plan for lab {lab}; run `noglab up FILE` for it first")
    })?;
    require_access(lab, &plan)?;
    Ok(plan)
}

/// Refuses a lab brought up without access points: it has no handout and
/// no passwords to rotate.
fn require_access(lab: &str, plan: &Plan) -> Result<()> {
    if plan.access_base_port.is_none() {
        return Err(input_error(format!(
            "lab {lab} has no access points; add `access: {{}}` to its topology and run `noglab up` again"
        )));
    }
    Ok(())
}

/// New passwords; running access points take them at once.
pub async fn rotate<C: Connector>(engines: &C, lab: Option<String>, pods: &str) -> Result<()> {
    let engine = engines.engine().await?;
    let lab = super::resolve_lab(engine, lab).await?;
    let _lock = state::lock(&lab)?;
    let plan = plan_with_access(&lab)?;
    let existing: BTreeSet<u32> = plan.pod_plans.keys().copied().collect();
    let selected = super::parse_pods(pods, &existing)?;
    let containers = engine.containers(Scope::Lab(&lab)).await?;
    super::refuse_unreachable(
        &containers,
        |p| selected.contains(&p),
        &lab,
        "no credentials were rotated",
    )?;
    let creds = credentials::rotate(&lab, selected.iter().copied())?;
    let mut applied = 0;
    for pod in &selected {
        let pod_s = pod.to_string();
        let access = containers.iter().find(|c| {
            c.label(labels::POD) == Some(pod_s.as_str())
                && c.label(labels::NODE) == Some(ACCESS_NODE)
                && c.state == "running"
        });
        let (Some(access), Some(c)) = (access, creds.pods.get(pod)) else {
            continue;
        };
        engine
            .upload(&access.name, &credentials::password_file(c))
            .await?;
        let cmd = ["sh", "-c", "chpasswd < /etc/noglab/access/password"].map(String::from);
        let out = engine.exec(&access.name, &cmd).await?;
        if out.code != 0 {
            return Err(anyhow!(
                "failed to set the new password of pod {pod}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        applied += 1;
    }
    println!(
        "lab {lab}: new passwords for {} ({applied} access points updated); print them with `noglab handout {lab}`",
        crate::plan::describe_pods(&selected.iter().copied().collect::<Vec<_>>())
    );
    Ok(())
}

struct Entry {
    pod: u32,
    /// Where the pod's access point is reached: its engine's address.
    host: String,
    port: u16,
    /// Where the pod is in a browser: the portal (`--portal`).
    web: Option<String>,
    password: String,
    /// (node, kind, what `ssh node` opens)
    nodes: Vec<(String, String, String)>,
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

pub async fn handout<C: Connector>(
    engines: &C,
    lab: Option<String>,
    format: HandoutFormat,
    host: Option<String>,
    pods: Option<&str>,
    portal: Option<String>,
) -> Result<()> {
    let host = host.unwrap_or_else(this_host);
    let portal = portal.map(|url| portal_url(&host, &url)).transpose()?;
    let engine = engines.engine().await?;
    let lab = super::resolve_lab(engine, lab).await?;
    let plan = plan_with_access(&lab)?;
    // Pods spread over engines are reached at their engine's address.
    let mut hosts = BTreeMap::new();
    for pod in plan.pod_plans.keys() {
        if let Some(address) = engine.address_of(&lab, *pod).await? {
            hosts.insert(*pod, address);
        }
    }
    let text = handout_text(&lab, &plan, format, &host, &hosts, pods, portal.as_deref())?;
    print!("{text}");
    Ok(())
}

/// The handout of a lab brought up with `plan`, for participants who
/// reach the server as `host` (a pod in `hosts` at its own), pods `pods`
/// (all by default), with each pod's link to the portal at `portal` when
/// given.
pub fn handout_text(
    lab: &str,
    plan: &Plan,
    format: HandoutFormat,
    host: &str,
    hosts: &BTreeMap<u32, String>,
    pods: Option<&str>,
    portal: Option<&str>,
) -> Result<String> {
    require_access(lab, plan)?;
    let existing: BTreeSet<u32> = plan.pod_plans.keys().copied().collect();
    let selected = super::parse_pods(pods.unwrap_or("all"), &existing)?;
    let creds = credentials::load(lab)?;
    let base = plan.access_base_port.unwrap_or_default();
    let mut entries = Vec::new();
    for pod in selected {
        let c = creds.pods.get(&pod).ok_or_else(|| {
            anyhow!("pod {pod} of lab {lab} has no credentials yet; run `noglab up` for it")
        })?;
        let nodes = plan.pod_plans[&pod]
            .containers
            .iter()
            .filter(|s| s.node != ACCESS_NODE)
            .map(|s| {
                let opens = crate::plan::login_shell(s)
                    .map(String::from)
                    .or_else(|| kinds::lookup(&s.kind).map(|k| k.shell.join(" ")))
                    .unwrap_or_else(|| "bash".into());
                (s.node.clone(), s.kind.clone(), opens)
            })
            .collect();
        let host = hosts.get(&pod).map_or(host, String::as_str);
        entries.push(Entry {
            pod,
            host: host.to_string(),
            port: base.saturating_add(pod as u16),
            web: portal.map(|url| format!("{url}?lab={lab}&pod={pod}")),
            password: c.password.clone(),
            nodes,
        });
    }
    Ok(match format {
        HandoutFormat::Md => markdown(lab, &entries),
        HandoutFormat::Csv => csv(&entries),
        HandoutFormat::Html => html(lab, &entries),
    })
}

fn markdown(lab: &str, entries: &[Entry]) -> String {
    let mut s = format!("# {lab}: pod access\n");
    for e in entries {
        let browser = e
            .web
            .as_ref()
            .map(|w| format!("| or in a browser | <{w}> |\n"))
            .unwrap_or_default();
        let _ = write!(
            s,
            "\n## Pod {}\n\n| | |\n|---|---|\n| connect | `ssh -p {} {USER}@{}` |\n{browser}| password | `{}` |\n| nodes | {} |\n",
            e.pod,
            e.port,
            e.host,
            e.password,
            e.nodes.iter().map(|(n, k, o)| format!("`ssh {n}` ({k}, {o})")).collect::<Vec<_>>().join(", ")
        );
    }
    s
}

fn csv(entries: &[Entry]) -> String {
    let mut s = String::from("pod,host,port,user,password,nodes,web\n");
    for e in entries {
        let nodes: Vec<&str> = e.nodes.iter().map(|(n, _, _)| n.as_str()).collect();
        let web = e.web.clone().unwrap_or_default();
        let _ = writeln!(
            s,
            "{},{},{},{USER},{},{},{}",
            e.pod,
            csv_field(&e.host),
            e.port,
            e.password,
            nodes.join(" "),
            csv_field(&web)
        );
    }
    s
}

/// An HTTPS address of `host`.
fn web_url(host: &str, port: u16) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("https://{host}:{port}/")
}

/// The port `noglab serve` listens on unless told otherwise.
const PORTAL_PORT: u16 = 8443;

/// The portal's address as the handout prints it: `https://HOST:8443/`
/// when none was given, else the instructor's, which must be an http(s)
/// address without a query or fragment (the handout adds the pod's).
pub fn portal_url(host: &str, given: &str) -> Result<String> {
    if given.is_empty() {
        return Ok(web_url(host, PORTAL_PORT));
    }
    let ok_scheme = given.starts_with("https://") || given.starts_with("http://");
    if !ok_scheme || given.contains(['?', '#', ' ', '"', '<', '>']) {
        return Err(crate::diag::input_error(format!(
            "--portal {given:?}: give the portal's address as participants reach it, e.g. https://lab.example.org:8443/ (no query, no spaces)"
        )));
    }
    let rest = given.split_once("://").map_or("", |(_, r)| r);
    if rest.is_empty() || rest.starts_with('/') {
        return Err(crate::diag::input_error(format!(
            "--portal {given:?}: the address has no host, e.g. https://lab.example.org:8443/"
        )));
    }
    Ok(if given.ends_with('/') {
        given.to_string()
    } else {
        format!("{given}/")
    })
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

fn esc(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A printable page: one card per pod, to cut and hand out.
fn html(lab: &str, entries: &[Entry]) -> String {
    let mut s = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{lab}: pod access</title>
<style>
  body {{ font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 12mm; color: #111; }}
  h1 {{ font-size: 14pt; margin: 0 0 6mm; }}
  .cards {{ display: grid; grid-template-columns: repeat(2, 1fr); gap: 6mm; }}
  .card {{ border: 1px dashed #555; border-radius: 3mm; padding: 5mm 6mm; break-inside: avoid; page-break-inside: avoid; }}
  .pod {{ font-size: 20pt; font-weight: bold; margin-bottom: 2mm; }}
  .lab {{ font-size: 9pt; color: #555; float: right; }}
  table {{ border-collapse: collapse; width: 100%; font-size: 10.5pt; }}
  td {{ padding: 1mm 0; vertical-align: top; }}
  td.k {{ color: #555; width: 22mm; }}
  code {{ font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 10.5pt; background: #f1f1f1; padding: 0 1mm; border-radius: 1mm; }}
  .pw code {{ font-size: 13pt; letter-spacing: 0.5pt; }}
  .nodes code {{ margin-right: 1mm; }}
  .opens {{ color: #555; font-size: 9pt; }}
  .hint {{ font-size: 9pt; color: #555; margin: -4mm 0 6mm; }}
  @media print {{ body {{ margin: 8mm; }} .card {{ border-color: #999; }} }}
</style></head><body>
<h1>{lab} &mdash; your pod</h1>
<p class="hint">Connect with any SSH client{browser} and the password on your card; from there, <code>ssh</code> to each node of your pod by its name.</p>
<div class="cards">
"#,
        lab = esc(lab),
        browser = if entries.iter().any(|e| e.web.is_some()) {
            " (or, without one, a web browser)"
        } else {
            ""
        }
    );
    for e in entries {
        let browser = e
            .web
            .as_ref()
            .map(|w| {
                format!(
                    "<tr><td class=\"k\">or browser</td><td><code>{}</code></td></tr>\n",
                    esc(w)
                )
            })
            .unwrap_or_default();
        let nodes: Vec<String> = e
            .nodes
            .iter()
            .map(|(n, k, o)| {
                format!(
                    "<code>ssh {}</code> {} <span class=\"opens\">({})</span>",
                    esc(n),
                    esc(k),
                    esc(o)
                )
            })
            .collect();
        let _ = write!(
            s,
            r#"<div class="card"><div class="lab">{lab}</div><div class="pod">Pod {pod}</div>
<table>
<tr><td class="k">connect</td><td><code>ssh -p {port} {user}@{host}</code></td></tr>
{browser}<tr class="pw"><td class="k">password</td><td><code>{pw}</code></td></tr>
<tr class="nodes"><td class="k">then</td><td>{nodes}</td></tr>
</table></div>
"#,
            lab = esc(lab),
            pod = e.pod,
            port = e.port,
            user = USER,
            host = esc(&e.host),
            pw = esc(&e.password),
            nodes = nodes.join("<br>")
        );
    }
    s.push_str("</div>\n</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: u32, host: &str) -> Vec<Entry> {
        (1..=n)
            .map(|pod| Entry {
                pod,
                host: host.to_string(),
                port: 2200 + pod as u16,
                web: (pod % 2 == 0).then(|| format!("{}?lab=bgp&pod={pod}", web_url(host, 8443))),
                password: credentials::new_password(),
                nodes: vec![
                    ("r1".into(), "frr".into(), "vtysh".into()),
                    ("h1".into(), "host".into(), "bash".into()),
                ],
            })
            .collect()
    }

    #[test]
    fn a_room_of_thirty_gets_thirty_cards() {
        let e = entries(30, "lab.example.net");
        let page = html("bgp", &e);
        assert_eq!(page.matches(r#"<div class="card">"#).count(), 30);
        assert!(page.contains("ssh -p 2230 lab@lab.example.net"));
        assert!(
            page.contains("https://lab.example.net:8443/?lab=bgp&amp;pod=30"),
            "{page}"
        );
        assert!(!page.contains("pod=29\""));
        for entry in &e {
            assert!(page.contains(&entry.password));
        }
        let e = entries(30, "h");
        let md = markdown("bgp", &e);
        assert_eq!(md.matches("\n## Pod ").count(), 30);
        let csv = csv(&e);
        assert_eq!(csv.lines().count(), 31);
        assert!(csv.contains(",https://h:8443/?lab=bgp&pod=2\n") && csv.contains(",r1 h1,\n"));
        assert_eq!(web_url("2001:db8::1", 4201), "https://[2001:db8::1]:4201/");
    }

    /// Pods spread over engines are each reached at their engine's address.
    #[test]
    fn each_pod_is_handed_its_own_host() {
        let mut e = entries(2, "a.example.net");
        e[1].host = "b.example.net".into();
        let md = markdown("bgp", &e);
        assert!(
            md.contains("@a.example.net`") && md.contains("@b.example.net`"),
            "{md}"
        );
        let csv = csv(&e);
        assert!(
            csv.contains("\n1,a.example.net,") && csv.contains("\n2,b.example.net,"),
            "{csv}"
        );
    }

    #[test]
    fn hostile_host_names_are_escaped() {
        let page = html("bgp", &entries(1, "<script>x</script>"));
        assert!(!page.contains("<script>"));
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }

    #[test]
    fn the_portal_is_given_as_participants_reach_it() {
        assert_eq!(
            portal_url("lab.example.net", "").expect("a good address"),
            "https://lab.example.net:8443/"
        );
        assert_eq!(
            portal_url("h", "https://portal.example.org").expect("a good address"),
            "https://portal.example.org/"
        );
        assert_eq!(
            portal_url("h", "http://192.0.2.10:8080/room/").expect("a good address"),
            "http://192.0.2.10:8080/room/"
        );
        for bad in [
            "portal.example.org",
            "ftp://portal.example.org/",
            "https://",
            "https:///x",
            "https://p.example.org/?lab=x",
            "https://p.example.org/<b>",
        ] {
            let err = portal_url("h", bad).expect_err(bad);
            assert!(
                err.downcast_ref::<crate::diag::InputError>().is_some(),
                "{bad}: {err:#}"
            );
            assert!(format!("{err:#}").starts_with("--portal "), "{err:#}");
        }
    }
}
