//! End-to-end tests of the node kinds (issue 3) on a real engine: every
//! kind comes up, gets ready and does one real thing with another kind,
//! offline; image bundles survive `docker rmi`; `up` names a missing image;
//! `doctor` passes and fails as it should. Each test brings up its own lab
//! from `tests/labs/<name>` under a unique name and removes it by label.
//!
//! Start-to-ready (Docker's StartedAt to the moment the node's readiness
//! probe first passed, from /run/noglab/ready.at) is printed per node:
//! `cargo test kinds -- --nocapture` shows the figures.

use std::process::Command;
use std::time::Duration;

use crate::docker::{docker, images_exclusive, skip, wait_for, Lab};
use crate::support::{noglab, root};

fn test_lab(name: &str, tag: &str) -> Lab {
    Lab::copy_of(&root().join("tests/labs").join(name), tag)
}

fn container(lab: &Lab, pod: u32, node: &str) -> String {
    format!("{}-p{pod:02}-{node}", lab.name)
}

/// Waits until the node's init has seen it ready and run its exec lines
/// (exec.rc is 0); returns the seconds from container start to ready.
fn ready(lab: &Lab, pod: u32, node: &str, timeout: Duration) -> f64 {
    let waited = wait_for(timeout, || {
        let rc = lab.exec(pod, node, &["cat", "/run/noglab/exec.rc"]);
        match rc.stdout.trim() {
            "0" => Ok(()),
            "" => Err("not ready yet".to_string()),
            code => Err(format!("exec.rc is {code}")),
        }
    });
    if let Err(e) = waited {
        let log = lab.exec(pod, node, &["cat", "/run/noglab/exec.log"]);
        let logs = Command::new("docker")
            .args(["logs", "--tail", "30", &container(lab, pod, node)])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr)
            })
            .unwrap_or_default();
        panic!(
            "{node} of pod {pod} not ready: {e}\nexec.log:\n{}\ndocker logs:\n{logs}",
            log.stdout
        );
    }
    let at = lab.exec(pod, node, &["cat", "/run/noglab/ready.at"]);
    let ready_at: f64 = at.stdout.trim().parse().expect("ready.at holds a time");
    let started = docker(&[
        "inspect",
        "-f",
        "{{.State.StartedAt}}",
        &container(lab, pod, node),
    ]);
    let out = Command::new("date")
        .args(["-d", started.trim(), "+%s.%N"])
        .output()
        .expect("date runs");
    let started_at: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("date prints seconds");
    let seconds = ready_at - started_at;
    let kind = docker(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"noglab.kind\"}}",
        &container(lab, pod, node),
    ]);
    eprintln!(
        "start-to-ready: kind {:<8} node {node:<9} {seconds:.2}s",
        kind.trim()
    );
    seconds
}

fn frr_rpki_state(lab: &Lab, node: &str, prefix: &str) -> Result<String, String> {
    let out = lab.exec(
        1,
        node,
        &[
            "vtysh",
            "-c",
            &format!("show bgp ipv4 unicast {prefix} json"),
        ],
    );
    let json: serde_json::Value =
        serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))?;
    json["paths"][0]["rpkiValidationState"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("{node}: no RPKI state for {prefix}: {}", out.stdout))
}

fn expect_frr_rpki(lab: &Lab, node: &str, prefix: &str, state: &str) {
    expect_frr_rpki_within(lab, node, prefix, state, Duration::from_secs(60));
}

fn expect_frr_rpki_within(lab: &Lab, node: &str, prefix: &str, state: &str, timeout: Duration) {
    wait_for(timeout, || {
        let got = frr_rpki_state(lab, node, prefix)?;
        if got == state {
            Ok(())
        } else {
            Err(format!("{node}: {prefix} is {got}, not {state}"))
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
}

fn birdc(lab: &Lab, node: &str, command: &str) -> String {
    let out = lab.exec(1, node, &["birdc", "-s", "/run/bird/bird.ctl", command]);
    out.stdout
}

#[test]
fn issue3_frr_and_bird_peer_and_mark_invalid_with_vrps_from_stayrtr() {
    if skip() {
        return;
    }
    let lab = test_lab("bgp-rtr", "bgprtr");
    lab.up(1);
    let long = Duration::from_secs(90);
    for node in ["r1", "r2", "rtr"] {
        ready(&lab, 1, node, long);
    }

    // FRR and BIRD: eBGP between them.
    wait_for(Duration::from_secs(60), || {
        let frr = lab.exec(1, "r1", &["vtysh", "-c", "show bgp summary json"]);
        let json: serde_json::Value =
            serde_json::from_str(&frr.stdout).map_err(|e| e.to_string())?;
        let state = &json["ipv4Unicast"]["peers"]["100.64.1.1"]["state"];
        let bird = birdc(&lab, "r2", "show protocols r1");
        if state == "Established" && bird.contains("Established") {
            Ok(())
        } else {
            Err(format!("FRR sees {state}; BIRD: {bird}"))
        }
    })
    .expect("BGP between FRR and BIRD");

    // Both have StayRTR's VRPs; each marks the other's prefix that has a ROA
    // for another AS invalid, and the one with a matching ROA valid.
    expect_frr_rpki(&lab, "r1", "198.51.100.0/25", "valid");
    expect_frr_rpki(&lab, "r1", "198.51.100.128/25", "invalid");
    wait_for(Duration::from_secs(60), || {
        let invalid = birdc(
            &lab,
            "r2",
            "show route protocol r1 where roa_check(rpki4, net, bgp_path.last) = ROA_INVALID",
        );
        let valid = birdc(
            &lab,
            "r2",
            "show route protocol r1 where roa_check(rpki4, net, bgp_path.last) = ROA_VALID",
        );
        if invalid.contains("192.0.2.128/25")
            && !invalid.contains("192.0.2.0/25")
            && valid.contains("192.0.2.0/25")
        {
            Ok(())
        } else {
            Err(format!("invalid: {invalid}\nvalid: {valid}"))
        }
    })
    .expect("BIRD marks 192.0.2.128/25 invalid");
    assert!(
        birdc(&lab, "r2", "show protocols stayrtr").contains("Established"),
        "BIRD's RTR session"
    );

    // connect opens birdc on BIRD.
    let text = lab.connect_session(1, "r2", &["show protocols", "quit"]);
    assert!(
        text.contains("BIRD 2") && text.contains("stayrtr"),
        "no birdc session in: {text}"
    );
}

fn dig(lab: &Lab, args: &[&str]) -> String {
    let mut cmd = vec!["dig"];
    cmd.extend_from_slice(args);
    lab.exec(1, "h1", &cmd).stdout
}

#[test]
fn issue3_unbound_validates_zones_signed_by_bind_and_knot() {
    if skip() {
        return;
    }
    let lab = test_lab("dnssec", "dnssec");
    lab.up(1);
    // The resolver's exec lines wait for both zones to be signed.
    for node in ["ns1", "ns2", "h1"] {
        ready(&lab, 1, node, Duration::from_secs(90));
    }
    ready(&lab, 1, "resolver", Duration::from_secs(150));

    let resolver = "@100.64.1.1";
    for (name, answer) in [
        ("www.bind.example", "192.0.2.1"),
        ("www.knot.example", "198.51.100.1"),
    ] {
        let out = dig(&lab, &[resolver, name, "A", "+dnssec"]);
        assert!(out.contains("status: NOERROR"), "{out}");
        assert!(out.contains("flags: qr rd ra ad;"), "no AD flag: {out}");
        assert!(out.contains(answer) && out.contains("RRSIG"), "{out}");
    }
    // Over IPv6 too.
    let out = dig(
        &lab,
        &["@2001:db8:1:53::1", "www.knot.example", "AAAA", "+dnssec"],
    );
    assert!(
        out.contains("flags: qr rd ra ad;") && out.contains("2001:db8:1::443"),
        "{out}"
    );
    // The tools each image brings answer too: kdig on Knot, delv on BIND.
    let kdig = lab.exec(
        1,
        "ns2",
        &["kdig", "@127.0.0.1", "knot.example", "DNSKEY", "+dnssec"],
    );
    assert!(kdig.stdout.contains("DNSKEY"), "{}", kdig.stdout);
    let rndc = lab.exec(1, "ns1", &["rndc", "zonestatus", "bind.example"]);
    assert!(
        rndc.stdout.contains("secure: yes"),
        "{}{}",
        rndc.stdout,
        rndc.stderr
    );

    // Validation is real: with a wrong anchor for bind.example (Knot's key),
    // Unbound refuses the answer.
    let swap = lab.exec(
        1,
        "resolver",
        &[
            "sh",
            "-c",
            "f=/etc/unbound/lab-anchors.conf; grep knot.example $f | sed s/knot.example/bind.example/ >/tmp/a && grep knot.example $f >>/tmp/a && cp /tmp/a $f && unbound-control reload",
        ],
    );
    assert_eq!(swap.code, 0, "{}", swap.stderr);
    let out = dig(&lab, &[resolver, "www.bind.example", "A", "+dnssec"]);
    assert!(out.contains("status: SERVFAIL"), "bogus not refused: {out}");
    let out = dig(&lab, &[resolver, "www.knot.example", "A", "+dnssec"]);
    assert!(out.contains("flags: qr rd ra ad;"), "{out}");
}

#[test]
fn issue3_fort_validates_an_offline_repository_and_feeds_frr() {
    if skip() {
        return;
    }
    let lab = test_lab("rpki", "rpki");
    lab.up(1);
    ready(&lab, 1, "rp", Duration::from_secs(90));
    ready(&lab, 1, "r1", Duration::from_secs(90));

    // FORT validated both ROAs and serves them over RTR to FRR, which
    // marks its own two prefixes accordingly.
    expect_frr_rpki(&lab, "r1", "192.0.2.0/24", "valid");
    expect_frr_rpki(&lab, "r1", "198.51.100.0/24", "invalid");
    let table = lab.exec(1, "r1", &["vtysh", "-c", "show rpki prefix-table"]);
    assert!(
        table.stdout.contains("Number of IPv4 Prefixes: 2"),
        "{}",
        table.stdout
    );

    // rpki-client, on the same objects, finds the same two VRPs.
    let rc = lab.exec(1, "rp", &["rpki-client-lab", "/tmp/out"]);
    assert_eq!(rc.code, 0, "{}{}", rc.stdout, rc.stderr);
    let json = lab.exec(1, "rp", &["cat", "/tmp/out/json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("rpki-client json");
    let roas: Vec<String> = json["roas"]
        .as_array()
        .expect("roas")
        .iter()
        .map(|r| format!("{} {}", r["asn"], r["prefix"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(roas.len(), 2, "{roas:?}");
    assert!(
        roas.contains(&"64511 198.51.100.0/24".to_string()),
        "{roas:?}"
    );
}

#[test]
fn issue3_images_save_then_rmi_then_load_brings_a_lab_up() {
    if skip() {
        return;
    }
    // Every other test lab runs from these images: wait until none is
    // left, and keep new ones from starting until this test ends.
    let _images = images_exclusive();
    let lab = Lab::copy_of_exclusive(&root().join("tests/labs/bundle"), "bundle");
    let bundle = lab.dir.join("images.tar.gz");
    let saved = noglab(&[
        "images",
        "save",
        "-o",
        &bundle.to_string_lossy(),
        "bird",
        "rtr",
    ])
    .ok();
    let refs: Vec<String> = saved
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .map(String::from)
        .collect();
    assert_eq!(refs.len(), 3, "bird, rtr and host: {}", saved.stdout);
    assert!(bundle.is_file());

    // Remove the kinds' images; the host image stays when the host guard
    // runs from it (docker refuses), which the lab needs anyway.
    for r in refs.iter().filter(|r| !r.starts_with("noglab/host:")) {
        // Every other test lab is gone (the lock): a container still on
        // the image is one a lab left behind, named here.
        let users = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("ancestor={r}"),
            "--format",
            "{{.Names}} lab={{.Label \"noglab.lab\"}} {{.Status}}",
        ]);
        assert!(users.trim().is_empty(), "{r} is still in use by:\n{users}");
        let out = Command::new("docker")
            .args(["rmi", r])
            .output()
            .expect("docker rmi runs");
        assert!(out.status.success(), "docker rmi {r}: {out:?}");
    }
    let missing = noglab(&["up", &lab.file()]).code(1);
    assert!(
        missing.stderr.contains("noglab/bird:") && missing.stderr.contains("noglab images load"),
        "{}",
        missing.stderr
    );

    let loaded = noglab(&["images", "load", &bundle.to_string_lossy()]).ok();
    for r in &refs {
        assert!(loaded.stdout.contains(r.as_str()), "{r}: {}", loaded.stdout);
    }
    lab.up(1);
    ready(&lab, 1, "r1", Duration::from_secs(60));
    ready(&lab, 1, "rtr", Duration::from_secs(60));
    wait_for(Duration::from_secs(30), || {
        let out = birdc(&lab, "r1", "show protocols stayrtr");
        if out.contains("Established") {
            Ok(())
        } else {
            Err(out)
        }
    })
    .expect("BIRD gets VRPs from StayRTR after the load");
}

#[test]
fn issue3_a_node_may_name_any_present_image_and_up_names_a_missing_one() {
    if skip() {
        return;
    }
    let lab = test_lab("custom-image", "custom");
    let topology = lab.dir.join("topology.yml");
    let text = std::fs::read_to_string(&topology).expect("topology");

    // An image no engine has: up stops before creating anything, naming it
    // and saying how to get it; it never tries a registry.
    let absent = format!("noglab-test/absent:{}", std::process::id());
    std::fs::write(
        &topology,
        text.replace("noglab-test/custom-host:latest", &absent),
    )
    .expect("write");
    let out = noglab(&["up", &lab.file()]).code(1);
    assert!(
        out.stderr.contains(&absent) && out.stderr.contains("docker pull"),
        "{}",
        out.stderr
    );
    assert!(lab.containers().is_empty(), "up created containers");

    // A present image under any name is used as it is.
    let host = noglab(&["images", "list", "--format", "json"]).ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&host.stdout).expect("json");
    let host_ref = rows
        .iter()
        .find(|r| r["kind"] == "host")
        .and_then(|r| r["image"].as_str())
        .expect("host image")
        .to_string();
    let custom = format!("noglab-test/custom-host:{}", std::process::id());
    docker(&["tag", &host_ref, &custom]);
    std::fs::write(
        &topology,
        text.replace("noglab-test/custom-host:latest", &custom),
    )
    .expect("write");
    lab.up(1);
    let image = docker(&[
        "inspect",
        "-f",
        "{{.Config.Image}}",
        &container(&lab, 1, "h1"),
    ]);
    let ping = lab.exec(1, "h1", &["ping", "-c", "1", "-W", "2", "100.64.1.1"]);
    noglab(&["down", &lab.name, "--quiet"]).ok();
    docker(&["rmi", &custom]);
    assert_eq!(image.trim(), custom);
    assert_eq!(ping.code, 0, "{}", ping.stdout);
}

#[test]
fn issue3_doctor_passes_here_and_names_both_sides_of_an_overlap() {
    if skip() {
        return;
    }
    crate::docker::images();
    let good = noglab(&["doctor", "tests/labs/dnssec"]).run();
    assert_eq!(good.code, 0, "{}{}", good.stdout, good.stderr);
    for check in ["engine", "images", "capabilities", "ipv6", "memory", "disk"] {
        assert!(
            good.stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(check)),
            "no ok line for {check}:\n{}",
            good.stdout
        );
    }
    assert!(!good.stdout.contains("FAIL"), "{}", good.stdout);

    // A Docker network of someone else's on the lab's subnet.
    let network = format!("noglab-test-overlap-{}", std::process::id());
    docker(&[
        "network",
        "create",
        "--label",
        "noglab.test=doctor",
        "--subnet",
        "100.127.254.0/24",
        &network,
    ]);
    let bad = noglab(&["doctor", "tests/labs/overlap"]).run();
    docker(&["network", "rm", &network]);
    assert_eq!(bad.code, 1, "{}{}", bad.stdout, bad.stderr);
    assert!(
        bad.stdout.lines().any(|l| l.starts_with("FAIL")
            && l.contains("100.127.254.0/29")
            && l.contains(&network)),
        "{}",
        bad.stdout
    );
}

/// `doctor LAB --pods N` on this machine: a room it can hold passes, a
/// room too large for its memory fails and one too large for its CPUs is
/// a warning that says how many pods fit (docs/sizing.md). The machine's
/// own size decides which of the two the largest room exceeds.
#[test]
fn issue22_doctor_warns_when_the_machine_cannot_hold_the_room() {
    if skip() {
        return;
    }
    crate::docker::images();
    let cpus: u64 = docker(&["info", "--format", "{{.NCPU}}"])
        .trim()
        .parse()
        .expect("the engine's CPUs");
    let available_mib: u64 = std::fs::read_to_string("/proc/meminfo")
        .expect("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .expect("MemAvailable")
        / 1024;
    // The number a doctor line gives right after `words`.
    let number_after = |line: &str, words: &str| -> u64 {
        line.split(words)
            .nth(1)
            .and_then(|r| r.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no number after {words:?}: {line}"))
    };
    let line = |out: &str, check: &str| -> String {
        out.lines()
            .find(|l| l.contains(&format!(" {check}: ")))
            .unwrap_or_else(|| panic!("no {check} line:\n{out}"))
            .to_string()
    };

    // Two pods of a five-router ring: any machine that runs the tests.
    let small = noglab(&["doctor", "topologies/ospf-ring", "--pods", "2"]).run();
    assert!(
        line(&small.stdout, "memory").starts_with("ok    memory: "),
        "{}",
        small.stdout
    );
    assert!(
        line(&small.stdout, "cpu").starts_with("ok    cpu: "),
        "{}",
        small.stdout
    );

    // 250 pods: 1750 containers.
    let big = noglab(&["doctor", "topologies/ospf-ring", "--pods", "250"]).run();
    let memory = line(&big.stdout, "memory");
    let need = number_after(&memory, "needs about ");
    assert!(
        need > 250 * 100,
        "at least 100 MiB a pod of five FRR routers and two hosts: {memory}"
    );
    if need > available_mib {
        assert!(
            memory.starts_with("FAIL  memory: ")
                && memory.ends_with("use fewer pods (`--pods`) or a larger machine"),
            "{memory}"
        );
        assert_eq!(big.code, 1, "{}{}", big.stdout, big.stderr);
    }
    let cpu = line(&big.stdout, "cpu");
    let busy = number_after(&cpu, "keeps about ");
    if busy > 50 {
        assert!(cpu.starts_with("warn  cpu: "), "{cpu}");
        let most = number_after(&cpu, "at most ");
        assert!(most < 250 && most > 0, "{cpu}");
        // The room it says fits does not warn.
        let fits = noglab(&[
            "doctor",
            "topologies/ospf-ring",
            "--pods",
            &most.to_string(),
        ])
        .run();
        assert!(
            line(&fits.stdout, "cpu").starts_with("ok    cpu: "),
            "{most} pods: {}",
            fits.stdout
        );
    }
    // This machine (2 CPUs, 24 GiB) and CI's are too small for 250 pods
    // in both ways; a test that asserted neither would prove nothing.
    assert!(
        need > available_mib || busy > 50,
        "{cpus} CPUs and {available_mib} MiB hold 250 pods: pick a larger room"
    );
}

#[test]
fn issue3_every_kind_is_ready_with_its_image_defaults_and_its_registry_commands_work() {
    if skip() {
        return;
    }
    let lab = test_lab("defaults", "dflt");
    lab.up(1);
    for kind in noglab::kinds::KINDS {
        // rpki: no TAL, nothing to serve (see the topology); krill: built
        // on request only, its own test covers it; irr: serves the lab's
        // RPSL and is not ready without one (labs_manrs covers it).
        if kind.name == "rpki" || kind.name == "krill" || kind.name == "irr" {
            continue;
        }
        // Nodes are named after their kind in this lab.
        let node = kind.name;
        ready(&lab, 1, node, Duration::from_secs(90));
        let probe = lab.exec(1, node, &["sh", "-c", kind.readiness]);
        assert_eq!(probe.code, 0, "{node}: readiness: {}", probe.stdout);
        if let Some(reload) = kind.reload {
            let out = lab.exec(1, node, &["sh", "-c", reload]);
            assert_eq!(
                out.code, 0,
                "{node}: `{reload}`: {}{}",
                out.stdout, out.stderr
            );
            let again = lab.exec(1, node, &["sh", "-c", kind.readiness]);
            assert_eq!(again.code, 0, "{node}: not ready after reload");
        }
        let shell = lab.exec(
            1,
            node,
            &["sh", "-c", &format!("command -v {}", kind.shell[0])],
        );
        assert_eq!(shell.code, 0, "{node}: no {} for connect", kind.shell[0]);
    }
}

/// Whether the Krill image is on the engine: it is built only on request
/// (`noglab images build krill` compiles Krill, about half an hour), so
/// the Krill test runs where someone built it and says so elsewhere.
fn krill_image() -> bool {
    let list = noglab(&["images", "list", "--format", "json"]).ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).expect("json");
    rows.iter()
        .any(|r| r["kind"] == "krill" && r["present"] == true)
}

#[test]
fn issue3_krill_ca_publishes_roas_that_fort_validates_for_frr() {
    if skip() {
        return;
    }
    if !krill_image() {
        eprintln!(
            "skipped: no Krill image; `noglab images build krill` builds it (about half an hour)"
        );
        return;
    }
    let lab = test_lab("krill", "krill");
    lab.up(1);
    // The CA's exec lines make the pod's CA and its ROAs once Krill is up.
    ready(&lab, 1, "ca", Duration::from_secs(120));
    ready(&lab, 1, "r1", Duration::from_secs(60));
    // FORT comes up once it has Krill's TAL and a first validation.
    ready(&lab, 1, "rp", Duration::from_secs(120));
    let list = lab.exec(1, "ca", &["krillc", "roas", "list", "--ca", "pod1"]);
    assert!(
        list.stdout.contains("192.0.2.0/24"),
        "{}{}",
        list.stdout,
        list.stderr
    );

    // FORT fetched the repository over rsync, validated Krill's ROAs and
    // serves them to FRR.
    expect_frr_rpki_within(
        &lab,
        "r1",
        "192.0.2.0/24",
        "valid",
        Duration::from_secs(120),
    );
    expect_frr_rpki_within(
        &lab,
        "r1",
        "198.51.100.0/24",
        "invalid",
        Duration::from_secs(30),
    );
}
