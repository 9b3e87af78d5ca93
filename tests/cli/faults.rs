//! Faults and hostile participants (issue 9): what goes wrong in a room,
//! on the real engine.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::docker::{access_ports, docker, pings, skip, wait_for, Lab};
use crate::support::noglab;

#[test]
fn issue9_removed_and_killed_nodes_show_in_status_and_reset_heals_only_them() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "flt");
    lab.up(2);
    let before = lab.containers();
    docker(&["rm", "-f", &format!("{}-p02-r1", lab.name)]);
    docker(&["kill", &format!("{}-p02-h1", lab.name)]);

    let status = noglab(&["status", &lab.name, "--format", "json"]).ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&status.stdout).expect("json");
    let state = |pod: &str, node: &str| {
        rows.iter()
            .find(|r| r["pod"] == pod && r["node"] == node)
            .map(|r| r["state"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert_eq!(state("2", "r1"), "missing", "{rows:?}");
    assert_eq!(state("2", "h1"), "exited", "{rows:?}");
    assert_eq!(state("1", "r1"), "running");

    noglab(&["reset", &lab.name, "--pod", "2", "--node", "r1"]).ok();
    noglab(&["reset", &lab.name, "--pod", "2", "--node", "h1"]).ok();
    let after = lab.containers();
    for (name, info) in &before {
        if name.ends_with("-p02-r1") || name.ends_with("-p02-h1") {
            assert_eq!(after[name].2, "running", "{name} not healed");
        } else {
            assert_eq!(&after[name], info, "{name} was touched");
        }
    }
    wait_for(Duration::from_secs(60), || {
        crate::docker::bgp_established(&lab, 2, "r1")
    })
    .expect("pod 2 works again");
}

#[test]
fn issue9_two_commands_on_one_lab_take_turns() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "lck");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_noglab"))
            .args(["up", &lab.file(), "--pods", "2"])
            .env("NOGLAB_STATE_DIR", crate::support::state_dir())
            .env("NOGLAB_PLAIN", "1")
            .output()
            .expect("noglab runs")
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().expect("a"), b.join().expect("b"))
    });
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let stderr =
        String::from_utf8_lossy(&a.stderr).into_owned() + &String::from_utf8_lossy(&b.stderr);
    assert!(
        stderr.contains("waiting for another noglab command"),
        "one of them waited: {stderr}"
    );
    assert_eq!(lab.containers().len(), 6, "no duplicates");
    assert_eq!(lab.networks().len(), 6);
}

#[test]
fn issue9_engine_errors_are_clear() {
    // No engine at all: exit 1, a message that names the cause and the fix.
    let out = noglab(&["status"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("dockerd"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn issue9_audit_shows_no_dangerous_exposure() {
    if skip() {
        return;
    }
    let default = 40000 + (std::process::id() % 2000) as u16 * 4;
    let (base, web) = access_ports(0, (default, default - 20000));
    let lab = Lab::edited("ixp", "aud", |t| {
        t.replace("base_port: 2200 ", &format!("base_port: {base} "))
            .replace("web_base_port: 4200 ", &format!("web_base_port: {web} "))
    });
    noglab(&["up", &lab.file(), "--pods", "1"]).ok();
    let out = noglab(&["audit", &lab.name, "--format", "json"]).ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(
        rows.len(),
        4,
        "access, h1, r1 and the route server: {rows:?}"
    );
    for r in &rows {
        assert_eq!(r["privileged"], false, "{r}");
        assert_ne!(r["network_mode"], "host", "{r}");
        assert_eq!(r["pid_mode"], "private", "{r}");
        assert_eq!(r["docker_socket"], false, "{r}");
        assert!(r["pids_limit"].as_i64().unwrap_or(0) > 0, "{r}");
        assert!(r["memory_limit"].as_i64().unwrap_or(0) > 0, "{r}");
        let caps: Vec<&str> = r["capabilities_added"]
            .as_array()
            .expect("caps")
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        assert!(
            caps.iter()
                .all(|c| ["NET_ADMIN", "NET_RAW", "SYS_ADMIN"].contains(c)),
            "{r}"
        );
    }
    let published: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| !r["published"].as_array().expect("list").is_empty())
        .collect();
    assert_eq!(published.len(), 1, "only the access point publishes ports");
    let ports = published[0]["published"].to_string();
    for port in [base + 1, web + 1] {
        assert!(ports.contains(&port.to_string()), "{port} not in {ports}");
    }
    assert_eq!(
        published[0]["published"].as_array().map(Vec::len),
        Some(2),
        "{ports}"
    );
}

/// A fork bomb in pod 2 leaves pod 3 responsive. Run alone (`--ignored`):
/// it loads the machine.
#[test]
#[ignore = "loads the machine; .ci/run runs it on its own"]
fn issue9_fork_bomb_in_one_pod_leaves_the_others_responsive() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "bmb");
    lab.up(3);
    wait_for(Duration::from_secs(60), || {
        crate::docker::bgp_established(&lab, 3, "r1")
    })
    .expect("pod 3 up");
    let bomb = Command::new(env!("CARGO_BIN_EXE_noglab"))
        .args([
            "exec",
            &lab.name,
            "--pod",
            "2",
            "h1",
            "--",
            "sh",
            "-c",
            "b() { b | b & }; b; sleep 20",
        ])
        .env("NOGLAB_STATE_DIR", crate::support::state_dir())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_secs(5));
    // The bomb hit its pod's process limit...
    let pids = docker(&[
        "exec",
        &format!("{}-p02-h1", lab.name),
        "sh",
        "-c",
        "ls /proc | grep -c '^[0-9]'",
    ]);
    let started = Instant::now();
    // ...while pod 3 still answers, and its routing still works.
    assert!(
        lab.exec(3, "h1", &["true"]).code == 0,
        "pod 3 does not answer"
    );
    assert!(
        pings(&lab, 3, "h1", "100.66.3.1"),
        "pod 3's host lost its route"
    );
    crate::docker::bgp_established(&lab, 3, "r1").expect("pod 3's BGP session held");
    eprintln!(
        "pod 2 processes: {}; pod 3 answered in {:?}",
        pids.trim(),
        started.elapsed()
    );
    noglab(&["reset", &lab.name, "--pod", "2"]).ok();
    let mut bomb = bomb;
    let _ = bomb.kill();
    let _ = bomb.wait();
    wait_for(Duration::from_secs(60), || {
        crate::docker::bgp_established(&lab, 2, "r1")
    })
    .expect("pod 2 back after reset");
}
