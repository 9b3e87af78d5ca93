//! A node is ready only when its daemons run its configuration (issue 23):
//! a configuration cut short while it applies is applied again before
//! `up` calls the node ready, one that cannot apply is reported by name,
//! and a daemon that comes back later without its configuration makes the
//! node unhealthy. Each fault is made on purpose, on the real engine.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::docker::{docker, skip, wait_for, Lab};
use crate::support::{noglab, root};

/// Prefix-list entries in the router's configuration: enough that
/// applying it takes a few seconds (FRR takes about 4 s for 600 on an idle
/// machine, and the time grows faster than the list), a window wide
/// enough to cut it short from outside.
const ENTRIES: u32 = 600;

/// A lab of one FRR router whose configuration is `extra` followed by a
/// BGP instance and `entries` prefix-list lines.
fn lab_with(tag: &str, extra: &str, entries: u32) -> Lab {
    let src: PathBuf = root().join("target/test-labs/src").join(tag);
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(
        src.join("topology.yml"),
        "name: x\nnodes:\n  r1:\n    kind: frr\n    config: r1.frr.conf\n",
    )
    .expect("write topology");
    let mut conf = String::from("frr defaults traditional\nhostname r1\n!\n");
    conf.push_str(extra);
    conf.push_str("router bgp 65001\n bgp router-id 192.0.2.1\n!\n");
    for i in 1..=entries {
        conf.push_str(&format!(
            "ip prefix-list BIG seq {} permit 100.{}.{}.0/24\n",
            i * 5,
            64 + i / 256,
            i % 256
        ));
    }
    conf.push_str("!\n");
    std::fs::write(src.join("r1.frr.conf"), conf).expect("write config");
    Lab::copy_of(&src, tag)
}

fn last_entry() -> String {
    format!(
        "ip prefix-list BIG seq {} permit 100.{}.{}.0/24",
        ENTRIES * 5,
        64 + ENTRIES / 256,
        ENTRIES % 256
    )
}

/// Kills, in `container`, the first process whose command line matches
/// `pattern` once it shows (within `within`); true when one was killed.
fn kill_when_seen(container: &str, pattern: &str, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        let killed = Command::new("docker")
            .args(["exec", container, "pkill", "-9", "-f", pattern])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if killed {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn running_config(lab: &Lab) -> String {
    lab.exec(1, "r1", &["vtysh", "-c", "show running-config"])
        .stdout
}

fn health(lab: &Lab) -> String {
    let status = noglab(&["status", &lab.name, "--format", "json"]).ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&status.stdout).expect("json");
    rows.iter()
        .find(|r| r["node"] == "r1")
        .and_then(|r| r["health"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn logs(container: &str) -> String {
    let out = Command::new("docker")
        .args(["logs", container])
        .output()
        .expect("docker logs");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn issue23_a_configuration_cut_short_is_applied_again_and_a_daemon_back_without_it_is_unhealthy() {
    if skip() {
        return;
    }
    let lab = lab_with("rdy", "", ENTRIES);
    let container = format!("{}-p01-r1", lab.name);

    // At boot: the one `vtysh -b` that applies the file is killed half-way,
    // as FRR's own start did to it under load. `up` must still end with
    // the whole configuration running.
    let up = Command::new(env!("CARGO_BIN_EXE_noglab"))
        .args(["up", &lab.file(), "--pods", "1"])
        .env("NOGLAB_STATE_DIR", crate::support::state_dir())
        .env("NOGLAB_PLAIN", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn up");
    let cut = kill_when_seen(&container, "vtysh -b", Duration::from_secs(60));
    let up = up.wait_with_output().expect("up ends");
    assert!(
        cut,
        "the test could not catch `vtysh -b` applying the configuration"
    );
    assert_eq!(
        up.status.code(),
        Some(0),
        "up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let log = logs(&container);
    assert!(
        log.contains("noglab-init: frr-ready: configuration not applied")
            && log.contains("re-applying (1 of 3)"),
        "the node's log does not say the configuration was applied again:\n{log}"
    );
    let running = running_config(&lab);
    assert!(
        running.contains("router bgp 65001") && running.contains(&last_entry()),
        "r1 runs without part of its configuration:\n{}",
        &running[running.len().saturating_sub(2000)..]
    );
    assert_eq!(health(&lab), "healthy");

    // A participant's unsaved change is theirs: the node stays healthy.
    lab.exec(
        1,
        "r1",
        &[
            "vtysh",
            "-c",
            "configure terminal",
            "-c",
            "ip prefix-list MINE seq 5 permit 198.51.100.0/24",
        ],
    );
    let probe = lab.exec(1, "r1", &["/usr/local/sbin/noglab-health"]);
    assert_eq!(
        probe.code, 0,
        "health after a participant's change: {}",
        probe.stdout
    );

    // Later: bgpd dies, and watchfrr's restart of it is cut short while it
    // gives bgpd its configuration. The node must not stay healthy.
    docker(&["exec", &container, "pkill", "-9", "-x", "bgpd"]);
    assert!(
        kill_when_seen(&container, "vtysh -b -d bgpd", Duration::from_secs(60)),
        "the test could not catch watchfrr applying bgpd's configuration"
    );
    wait_for(Duration::from_secs(60), || {
        let probe = lab.exec(1, "r1", &["/usr/local/sbin/noglab-health"]);
        if probe.code != 0
            && probe.stdout.contains("restarted since configured: bgpd")
            && probe.stdout.contains("lacks")
        {
            Ok(())
        } else {
            Err(format!(
                "health probe: exit {}: {}",
                probe.code, probe.stdout
            ))
        }
    })
    .expect("the health probe names bgpd and what it lacks");
    // Docker's probe runs every minute and wants two failures in a row.
    wait_for(Duration::from_secs(240), || match health(&lab).as_str() {
        "unhealthy" => Ok(()),
        other => Err(format!("status says {other}")),
    })
    .expect("status shows the node unhealthy");
}

/// `up` of a one-router lab whose configuration holds `extra`: it must
/// fail within a minute (broken for good is said at once, not after the
/// readiness timeout of 120 s), naming the node and every one of `says`,
/// and the node must not be healthy.
fn reported(tag: &str, extra: &str, says: &[&str]) {
    let lab = lab_with(tag, &format!("{extra}\n!\n"), 10);
    let container = format!("{}-p01-r1", lab.name);
    let started = Instant::now();
    let up = noglab(&["up", &lab.file(), "--pods", "1"]).code(1);
    assert!(
        up.stderr.contains(&container) && says.iter().all(|s| up.stderr.contains(s)),
        "up does not name the node and {says:?}:\n{}",
        up.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "up took {:?} to give up",
        started.elapsed()
    );
    assert_ne!(health(&lab), "healthy");
}

#[test]
fn issue23_a_configuration_that_cannot_apply_is_reported_by_node_and_line() {
    if skip() {
        return;
    }
    // FRR takes the line when it reads the file, and refuses it when it
    // applies it: a prefix-list whose `le` is shorter than its prefix.
    let bad = "ip prefix-list BAD seq 5 permit 10.0.0.0/8 le 4";
    reported(
        "rdybad",
        bad,
        &["FRR refuses line(s) of /etc/frr/frr.conf", bad],
    );
    // A command this FRR does not know: nothing of the file could be
    // compared, so it is refused before anything else.
    reported(
        "rdyunk",
        "router bgp 65001\n no bgp enforce-first-as",
        &[
            "FRR does not accept /etc/frr/frr.conf",
            "Unknown command",
            "no bgp enforce-first-as",
        ],
    );
}

#[test]
fn issue23_lines_frr_takes_without_showing_them_count_as_applied() {
    if skip() {
        return;
    }
    // Suppressing router advertisements is FRR's default on an Ethernet
    // interface: it takes the line and never shows it.
    let lab = lab_with("rdydef", "interface eth0\n ipv6 nd suppress-ra\n!\n", 10);
    noglab(&["up", &lab.file(), "--pods", "1"]).ok();
    let log = logs(&format!("{}-p01-r1", lab.name));
    assert!(
        log.contains("FRR takes these lines without showing them")
            && log.contains("ipv6 nd suppress-ra"),
        "{log}"
    );
    assert_eq!(health(&lab), "healthy");
    // Docker's probe too, which reads what readiness found.
    let probe = lab.exec(1, "r1", &["/usr/local/sbin/noglab-health"]);
    assert_eq!(probe.code, 0, "{}", probe.stdout);
}

#[test]
fn issue23_a_zone_that_cannot_load_is_reported_by_node_and_zone() {
    if skip() {
        return;
    }
    let src: PathBuf = root().join("target/test-labs/src/rdyzone");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(
        src.join("topology.yml"),
        "name: x\nnodes:\n  ns:\n    kind: bind\n    config: named.conf\n    files:\n      /var/lib/bind/db.good: good.zone\n      /var/lib/bind/db.bad: bad.zone\n",
    )
    .expect("write topology");
    std::fs::write(
        src.join("named.conf"),
        "options { directory \"/var/cache/bind\"; };\nzone \"good.test\" { type primary; file \"/var/lib/bind/db.good\"; };\nzone \"bad.test\" { type primary; file \"/var/lib/bind/db.bad\"; };\n",
    )
    .expect("write named.conf");
    let zone = "$TTL 300\n@ SOA ns hostmaster 1 60 60 600 60\n@ NS ns\nns A 192.0.2.53\n";
    std::fs::write(src.join("good.zone"), zone).expect("write zone");
    // A record without its data: named refuses the whole zone.
    std::fs::write(src.join("bad.zone"), format!("{zone}www A\n")).expect("write zone");
    let lab = Lab::copy_of(&src, "rdyzone");
    let started = Instant::now();
    let up = noglab(&["up", &lab.file(), "--pods", "1"]).code(1);
    assert!(
        up.stderr.contains(&format!("{}-p01-ns", lab.name))
            && up.stderr.contains("zones not loaded: bad.test")
            && !up.stderr.contains("good.test ("),
        "up does not name the node and the zone:\n{}",
        up.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "up took {:?} to give up",
        started.elapsed()
    );
}
