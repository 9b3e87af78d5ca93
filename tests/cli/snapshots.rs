//! Participants' work as data, end to end on a real engine: `save`,
//! `restore`, the snapshots `reset`, `down` and `up` take before they
//! destroy, the safe `up`, and hostile snapshots refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::docker::{skip, wait_for, Lab};
use crate::support::{noglab, state_dir};

/// two-routers with a BIND node serving `podN.test` from /var/lib/bind.
fn lab_with_dns(tag: &str) -> Lab {
    let lab = Lab::edited("two-routers", tag, |t| {
        t.replace(
            "  h1:\n    kind: host",
            "  ns:\n    kind: bind\n    config: named.conf\n    files:\n      /var/lib/bind/db.test: test.zone\n  h1:\n    kind: host",
        )
    });
    std::fs::write(
        lab.dir.join("named.conf"),
        "options {\n    directory \"/var/cache/bind\";\n    listen-on { any; };\n    recursion no;\n    allow-query { any; };\n};\nzone \"pod{{ pod }}.test\" {\n    type primary;\n    file \"/var/lib/bind/db.test\";\n};\n",
    )
    .expect("named.conf");
    std::fs::write(
        lab.dir.join("test.zone"),
        "$TTL 300\n@    IN SOA ns.pod{{ pod }}.test. hostmaster.pod{{ pod }}.test. ( 1 3600 600 86400 300 )\n     IN NS  ns.pod{{ pod }}.test.\nns   IN A   192.0.2.53\n",
    )
    .expect("zone");
    lab
}

/// The stored snapshots of a pod of a lab, oldest first.
fn stored(lab: &Lab, pod: u32) -> Vec<PathBuf> {
    let dir = PathBuf::from(state_dir())
        .join("snapshots")
        .join(&lab.name)
        .join(format!("pod{pod:02}"));
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Container name -> id of one pod.
fn ids(lab: &Lab, pod: u32) -> Vec<(String, String)> {
    lab.containers()
        .into_iter()
        .filter(|(name, _)| name.contains(&format!("-p{pod:02}-")))
        .map(|(name, (id, _, _))| (name, id))
        .collect()
}

/// r1's participant change: a loopback address, announced in BGP.
fn change_r1(lab: &Lab) {
    let done = lab.exec(
        1,
        "r1",
        &[
            "vtysh",
            "-c",
            "conf t",
            "-c",
            "interface lo",
            "-c",
            "ip address 100.66.1.100/32",
            "-c",
            "exit",
            "-c",
            "router bgp 65101",
            "-c",
            "address-family ipv4 unicast",
            "-c",
            "network 100.66.1.100/32",
        ],
    );
    assert_eq!(done.code, 0, "{}{}", done.stdout, done.stderr);
}

/// Whether r1 runs the change and r2 learned its prefix by BGP.
fn r1_change_is_there(lab: &Lab) -> Result<(), String> {
    let run = lab.exec(1, "r1", &["vtysh", "-c", "show running-config"]);
    if !run.stdout.contains("ip address 100.66.1.100/32")
        || !run.stdout.contains("network 100.66.1.100/32")
    {
        return Err(format!("r1 runs without the change:\n{}", run.stdout));
    }
    let route = lab.exec(
        1,
        "r2",
        &["vtysh", "-c", "show ip route 100.66.1.100/32 json"],
    );
    if !route.stdout.contains("\"protocol\":\"bgp\"") {
        return Err(format!("r2 has no BGP route to it: {}", route.stdout));
    }
    Ok(())
}

fn zone_answers(lab: &Lab) -> String {
    lab.exec(1, "ns", &["dig", "+short", "@127.0.0.1", "added.pod1.test"])
        .stdout
        .trim()
        .to_string()
}

#[test]
fn issue15_save_reset_restore_last_brings_a_pods_work_back() {
    if skip() {
        return;
    }
    let lab = lab_with_dns("snap");
    lab.up(2);
    let pod2 = ids(&lab, 2);
    assert_eq!(pod2.len(), 4, "{pod2:?}");

    change_r1(&lab);
    let zone = lab.exec(
        1,
        "ns",
        &[
            "sh",
            "-c",
            "echo 'added IN A 192.0.2.99' >>/var/lib/bind/db.test && sed -i 's/( 1 /( 2 /' /var/lib/bind/db.test && rndc reload pod1.test",
        ],
    );
    assert_eq!(zone.code, 0, "{}{}", zone.stdout, zone.stderr);
    wait_for(Duration::from_secs(30), || r1_change_is_there(&lab)).expect("changed");
    assert_eq!(zone_answers(&lab), "192.0.2.99");

    let saved = noglab(&["save", &lab.name, "--pod", "1"]).ok();
    let path = saved.stdout.trim();
    assert!(Path::new(path).join("snapshot.json").is_file(), "{path}");

    let reset = noglab(&["reset", &lab.name, "--pod", "1", "--quiet"]).ok();
    assert!(
        reset.stderr.contains("saved pod 1 before reset: "),
        "{}",
        reset.stderr
    );
    assert!(
        r1_change_is_there(&lab).is_err(),
        "the reset kept r1's change"
    );
    assert_eq!(zone_answers(&lab), "", "the reset kept the zone's change");

    noglab(&["restore", &lab.name, "--pod", "1", "--last", "--quiet"]).ok();
    wait_for(Duration::from_secs(60), || r1_change_is_there(&lab)).expect("r1's work is back");
    assert_eq!(zone_answers(&lab), "192.0.2.99");
    assert_eq!(ids(&lab, 2), pod2, "pod 2's containers changed");
}

#[test]
fn issue15_a_template_edit_needs_recreate_and_a_snapshot_outlives_down() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "snapup");
    lab.up(1);
    change_r1(&lab);
    wait_for(Duration::from_secs(30), || r1_change_is_there(&lab)).expect("changed");
    let before = ids(&lab, 1);

    let conf = lab.dir.join("r2.frr.conf");
    let text = std::fs::read_to_string(&conf).expect("r2's template");
    std::fs::write(&conf, text.replace("hostname r2", "hostname r2\n! edited")).expect("edit");
    let refused = noglab(&["up", &lab.file(), "--pods", "1", "--quiet"]).code(2);
    assert!(
        refused
            .stderr
            .contains("pod 1: r2 (/etc/frr/frr.conf changed)"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("nothing was changed"),
        "{}",
        refused.stderr
    );
    assert_eq!(ids(&lab, 1), before, "a refused up recreated nodes");
    assert!(stored(&lab, 1).is_empty(), "{:?}", stored(&lab, 1));

    let up = noglab(&["up", &lab.file(), "--pods", "1", "--recreate", "--quiet"]).ok();
    assert!(
        up.stderr.contains("saved pod 1 before up: "),
        "{}",
        up.stderr
    );
    let after = ids(&lab, 1);
    let changed: Vec<&String> = after
        .iter()
        .filter(|c| !before.contains(c))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(changed, [&format!("{}-p01-r2", lab.name)]);
    assert_eq!(stored(&lab, 1).len(), 1);

    // The server is rebuilt overnight: down, up, and yesterday's work back.
    let down = noglab(&["down", &lab.name]).ok();
    assert!(
        down.stderr.contains("saved pod 1 before down: "),
        "{}",
        down.stderr
    );
    let snapshot = stored(&lab, 1).pop().expect("the snapshot down took");
    assert!(
        snapshot.to_string_lossy().ends_with("-down"),
        "{snapshot:?}"
    );
    lab.up(1);
    assert!(r1_change_is_there(&lab).is_err());
    noglab(&[
        "restore",
        &lab.name,
        "--pod",
        "1",
        "--from",
        &snapshot.to_string_lossy(),
        "--quiet",
    ])
    .ok();
    wait_for(Duration::from_secs(60), || r1_change_is_there(&lab)).expect("r1's work is back");
}

/// two-routers with a Knot node serving `podN.test` and an Unbound
/// resolver, both on the host's LAN. Unbound answers `test.` from its own
/// data only (a static local zone): it never asks anyone else.
fn lab_with_knot_and_unbound(tag: &str) -> Lab {
    let lab = Lab::edited("two-routers", tag, |t| {
        t.replace(
            "  h1:\n    kind: host",
            "  ns:\n    kind: knot\n    config: knot.conf\n    files:\n      /var/lib/knot/test.zone: test.zone\n  res:\n    kind: unbound\n    config: unbound.conf\n  h1:\n    kind: host",
        )
        .replace("[\"r2:eth2\", h1]", "[\"r2:eth2\", h1, ns, res]")
    });
    std::fs::write(
        lab.dir.join("knot.conf"),
        "server:\n    rundir: \"/run/knot\"\n    user: knot:knot\n    listen: [ 0.0.0.0@53, ::@53 ]\ndatabase:\n    storage: \"/var/lib/knot\"\ntemplate:\n  - id: default\n    storage: \"/var/lib/knot\"\nzone:\n  - domain: pod{{ pod }}.test\n    file: \"/var/lib/knot/test.zone\"\n",
    )
    .expect("knot.conf");
    std::fs::write(
        lab.dir.join("test.zone"),
        "$TTL 300\n@    IN SOA ns.pod{{ pod }}.test. hostmaster.pod{{ pod }}.test. ( 1 3600 600 86400 300 )\n     IN NS  ns.pod{{ pod }}.test.\nns   IN A   192.0.2.53\n",
    )
    .expect("zone");
    std::fs::write(
        lab.dir.join("unbound.conf"),
        "server:\n    interface: 0.0.0.0\n    access-control: 0.0.0.0/0 allow\n    local-zone: \"test.\" static\n    do-daemonize: no\n    use-syslog: no\n    logfile: \"\"\nremote-control:\n    control-enable: yes\n    control-interface: /run/unbound.ctl\n",
    )
    .expect("unbound.conf");
    lab
}

/// What Knot answers for `added.pod1.test` and Unbound for
/// `local.pod1.test`: the participant's two changes.
fn dns_changes(lab: &Lab) -> (String, String) {
    let ask = |node: &str, name: &str| {
        let tool = if node == "ns" { "kdig" } else { "dig" };
        lab.exec(1, node, &[tool, "+short", "@127.0.0.1", name])
            .stdout
            .trim()
            .to_string()
    };
    (ask("ns", "added.pod1.test"), ask("res", "local.pod1.test"))
}

#[test]
fn issue15_knot_and_unbound_work_comes_back_after_a_reset() {
    if skip() {
        return;
    }
    let lab = lab_with_knot_and_unbound("snapdns");
    lab.up(1);
    // The participant adds a record through Knot's control interface and
    // a local answer to Unbound's configuration, each reloaded.
    let knot = lab.exec(
        1,
        "ns",
        &[
            "sh",
            "-c",
            "knotc zone-begin pod1.test && knotc zone-set pod1.test added 300 A 192.0.2.98 && knotc zone-commit pod1.test",
        ],
    );
    assert_eq!(knot.code, 0, "{}{}", knot.stdout, knot.stderr);
    let unbound = lab.exec(
        1,
        "res",
        &[
            "sh",
            "-c",
            "sed -i '/^server:/a\\    local-data: \"local.pod1.test. 300 IN A 192.0.2.97\"' /etc/unbound/unbound.conf && unbound-control reload",
        ],
    );
    assert_eq!(unbound.code, 0, "{}{}", unbound.stdout, unbound.stderr);
    let changed = ("192.0.2.98".to_string(), "192.0.2.97".to_string());
    assert_eq!(dns_changes(&lab), changed);

    noglab(&["reset", &lab.name, "--pod", "1", "--quiet"]).ok();
    assert_eq!(
        dns_changes(&lab),
        (String::new(), String::new()),
        "the reset kept a change"
    );

    noglab(&["restore", &lab.name, "--pod", "1", "--last", "--quiet"]).ok();
    wait_for(Duration::from_secs(30), || {
        let now = dns_changes(&lab);
        if now == changed {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .expect("Knot's and Unbound's work is back");
}

/// A gzip'd tar of raw entries, as a hostile tool would write one.
fn crafted(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, kind, content, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = link {
            h.set_link_name(l).expect("link name");
        }
        let name = path.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        tar.append(&h, *content).expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gz")
}

#[test]
fn issue15_damaged_foreign_and_escaping_snapshots_are_refused_and_change_nothing() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "snapbad");
    lab.up(1);
    let work = lab.dir.join("snapshots");
    std::fs::create_dir_all(&work).expect("mkdir");
    let good = work.join("good.tar.gz");
    noglab(&["save", &lab.name, "-o", &good.to_string_lossy()]).ok();
    let bytes = std::fs::read(&good).expect("saved");

    let truncated = work.join("truncated.tar.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let corrupt = work.join("corrupt.tar.gz");
    let mut flipped = bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0xff;
    std::fs::write(&corrupt, flipped).expect("write");
    // Another lab's snapshot: the same, but named for another lab.
    let foreign = work.join("foreign");
    let unpacked = work.join("unpacked");
    let _ = std::fs::remove_dir_all(&unpacked);
    tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()))
        .unpack(&unpacked)
        .expect("unpack");
    let retitle = |dir: &Path, to: &Path| {
        let _ = std::fs::remove_dir_all(to);
        std::fs::create_dir_all(to).expect("mkdir");
        let status = std::process::Command::new("cp")
            .args(["-a", &format!("{}/.", dir.display()), &to.to_string_lossy()])
            .status()
            .expect("cp");
        assert!(status.success());
        for f in [
            "snapshot.json",
            "pod01/r1/manifest.json",
            "pod01/r2/manifest.json",
            "pod01/h1/manifest.json",
        ] {
            let p = to.join(f);
            let text = std::fs::read_to_string(&p).expect("manifest");
            std::fs::write(
                &p,
                text.replace(&format!("\"{}\"", lab.name), "\"elsewhere\""),
            )
            .expect("write");
        }
    };
    retitle(&unpacked, &foreign);
    let index = std::fs::read(unpacked.join("snapshot.json")).expect("index");
    let dotdot = work.join("dotdot.tar.gz");
    std::fs::write(
        &dotdot,
        crafted(&[
            ("snapshot.json", tar::EntryType::Regular, &index, None),
            (
                "../../../../tmp/noglab-escaped",
                tar::EntryType::Regular,
                b"x",
                None,
            ),
        ]),
    )
    .expect("write");
    let symlink = work.join("symlink.tar.gz");
    std::fs::write(
        &symlink,
        crafted(&[
            ("snapshot.json", tar::EntryType::Regular, &index, None),
            (
                "pod01/r1/files/etc/frr/frr.conf",
                tar::EntryType::Symlink,
                b"",
                Some("/etc/shadow"),
            ),
        ]),
    )
    .expect("write");
    // A folder whose manifest lists a file outside FRR's state paths.
    let outside = work.join("outside");
    retitle(&unpacked, &outside);
    let manifest = outside.join("pod01/r1/manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).expect("read")).expect("json");
    m["lab"] = serde_json::Value::String(lab.name.clone());
    m["files"]["/root/.ssh/authorized_keys"] = serde_json::json!({
        "size": 1, "sha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881", "mode": 384
    });
    std::fs::write(&manifest, serde_json::to_vec(&m).expect("json")).expect("write");
    let key = outside.join("pod01/r1/files/root/.ssh/authorized_keys");
    std::fs::create_dir_all(key.parent().expect("parent")).expect("mkdir");
    std::fs::write(&key, "x").expect("write");
    for f in [
        "snapshot.json",
        "pod01/r2/manifest.json",
        "pod01/h1/manifest.json",
    ] {
        let p = outside.join(f);
        let text = std::fs::read_to_string(&p).expect("read");
        std::fs::write(
            &p,
            text.replace("\"elsewhere\"", &format!("\"{}\"", lab.name)),
        )
        .expect("write");
    }

    let before = ids(&lab, 1);
    let snapshots_before = stored(&lab, 1);
    for (path, why) in [
        (&truncated, "is not a noglab snapshot"),
        (&corrupt, "noglab snapshot"),
        (&foreign, "it is a snapshot of lab elsewhere"),
        (
            &dotdot,
            "`../../../../tmp/noglab-escaped` leads outside the snapshot",
        ),
        (&symlink, "not a regular file"),
        (
            &outside,
            "`/root/.ssh/authorized_keys` is outside what a frr node's snapshot holds",
        ),
    ] {
        let refused = noglab(&[
            "restore",
            &lab.name,
            "--pod",
            "1",
            "--from",
            &path.to_string_lossy(),
        ])
        .code(2);
        assert!(
            refused.stderr.contains(why),
            "{}: {}",
            path.display(),
            refused.stderr
        );
    }
    assert!(!Path::new("/tmp/noglab-escaped").exists());
    assert_eq!(ids(&lab, 1), before, "a refused restore changed the pod");
    assert_eq!(
        stored(&lab, 1),
        snapshots_before,
        "a refused restore saved the pod"
    );
    // The good one is taken.
    noglab(&[
        "restore",
        &lab.name,
        "--pod",
        "1",
        "--from",
        &good.to_string_lossy(),
        "--quiet",
    ])
    .ok();
}
