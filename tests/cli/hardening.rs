//! A whole workshop day without surprises (issue 20): what a node may
//! reach, and what `up` does with nodes and networks that do not go as
//! planned, on the real engine.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::docker::{docker, skip, Lab};
use crate::support::noglab;

/// A packet capture in a container of the host image, on the network
/// namespace `net` (`container:NAME` or `host`), until dropped.
struct Capture {
    name: String,
}

impl Capture {
    fn start(image: &str, net: &str, tag: &str) -> Capture {
        let name = format!(
            "{}-cap-{tag}-{}",
            crate::docker::lab_prefix(),
            std::process::id()
        );
        let _ = docker(&["rm", "-f", &name]);
        let out = Command::new("docker")
            .args([
                "run",
                "-d",
                "--name",
                &name,
                "--label",
                "noglab.test=capture",
                "--network",
                net,
                "--cap-add",
                "NET_RAW",
                "--cap-add",
                "NET_ADMIN",
                "--entrypoint",
                "tcpdump",
                image,
                "-l",
                "-n",
                "-i",
                "any",
                "udp or tcp or icmp or icmp6",
            ])
            .output()
            .expect("docker runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let capture = Capture { name };
        let started = Instant::now();
        while !capture.log().contains("listening on") {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "tcpdump never listened: {}",
                capture.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        capture
    }

    /// What tcpdump printed so far, stdout and stderr.
    fn log(&self) -> String {
        let out = Command::new("docker")
            .args(["logs", &self.name])
            .output()
            .expect("docker runs");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// The lines that mention `what`, once tcpdump has had a moment.
    fn lines_with(&self, what: &str) -> Vec<String> {
        std::thread::sleep(Duration::from_secs(1));
        self.log()
            .lines()
            .filter(|l| l.contains(what))
            .map(String::from)
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
    }
}

/// Every node's embedded resolver forwards names it does not know to the
/// node's own loopback: the engine says so, `audit` shows it, and a name
/// from outside asked in a node (one with a default route into the lab,
/// one without) is seen on the node's `lo` only, never on the node's
/// links nor anywhere on the host, bridges included.
#[test]
fn issue20_names_from_outside_never_leave_the_node() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "dns");
    lab.up(1);
    let containers = lab.containers();
    assert_eq!(containers.len(), 3, "{containers:?}");
    // What the engine was told, for every node, before any name is asked:
    // were it the host's resolvers, no query may be sent.
    for name in containers.keys() {
        let dns = docker(&[
            "inspect",
            "-f",
            "{{json .HostConfig.Dns}} {{json .HostConfig.DnsSearch}}",
            name,
        ]);
        assert_eq!(dns.trim(), r#"["127.0.0.1"] ["."]"#, "{name}");
        let resolv = docker(&["exec", name, "cat", "/etc/resolv.conf"]);
        let servers: Vec<&str> = resolv
            .lines()
            .filter(|l| l.starts_with("nameserver"))
            .collect();
        assert_eq!(servers, ["nameserver 127.0.0.11"], "{name}: {resolv}");
        assert!(!resolv.contains("search"), "{name}: {resolv}");
    }
    let audit = noglab(&["audit", &lab.name, "--format", "json"]).ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&audit.stdout).expect("json");
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r["dns"], serde_json::json!(["127.0.0.1"]), "{r}");
    }
    let table = noglab(&["audit", &lab.name]).ok();
    assert!(!table.stdout.contains("WARNING"), "{}", table.stdout);

    let h1 = format!("{}-p01-h1", lab.name);
    let r1 = format!("{}-p01-r1", lab.name);
    let image = docker(&["inspect", "-f", "{{.Config.Image}}", &h1])
        .trim()
        .to_string();
    let on_host = Capture::start(&image, "host", "host");
    let in_h1 = Capture::start(&image, &format!("container:{h1}"), "h1");
    let in_r1 = Capture::start(&image, &format!("container:{r1}"), "r1");

    // Names of reserved domains, unique to this run.
    let tag = format!("{}{}", crate::docker::lab_prefix(), std::process::id());
    let from_h1 = format!("h1{tag}.noglab-test.example");
    let from_r1 = format!("r1{tag}.noglab-test.example");
    let control = format!("ctl{tag}.noglab-test.example");
    // h1 has a default route into the lab (through r2), r1 none.
    assert!(lab
        .exec(1, "h1", &["ip", "route", "show", "default"])
        .stdout
        .contains("via"));
    lab.exec(1, "h1", &["dig", "+time=2", "+tries=1", &from_h1]);
    lab.exec(1, "r1", &["timeout", "5", "getent", "hosts", &from_r1]);
    // Control: a query sent on purpose to r2's address on h1's link is
    // seen in h1 and on the host's bridge (nothing answers it).
    let r2 = lab
        .exec(
            1,
            "r2",
            &[
                "sh",
                "-c",
                "ip -4 -o addr show eth2 | awk '{print $4}' | cut -d/ -f1",
            ],
        )
        .stdout
        .trim()
        .to_string();
    lab.exec(
        1,
        "h1",
        &["dig", "+time=1", "+tries=1", &format!("@{r2}"), &control],
    );

    for (capture, name, node) in [(&in_h1, &from_h1, "h1"), (&in_r1, &from_r1, "r1")] {
        let lines = capture.lines_with(name);
        eprintln!("{node}: {lines:#?}");
        assert!(
            !lines.is_empty(),
            "{node}: the forwarded query was not seen:\n{}",
            capture.log()
        );
        for l in &lines {
            assert!(
                l.starts_with(|c: char| c.is_ascii_digit())
                    && l.contains(" lo ")
                    && l.contains(" > 127.0.0.1.53: "),
                "{node}: a query for {name} went elsewhere than the node's loopback: {l}"
            );
        }
    }
    let control_in_h1 = in_h1.lines_with(&control);
    assert!(
        control_in_h1.iter().any(|l| l.contains(" eth1 ")),
        "{control_in_h1:?}"
    );
    let host = on_host.lines_with(&tag);
    eprintln!("host: {host:#?}");
    assert!(
        host.iter().all(|l| l.contains(&control)),
        "a name asked in a node was seen on the host:\n{}",
        host.join("\n")
    );
    assert!(
        !host.is_empty(),
        "the host's capture saw no lab traffic, not even the control:\n{}",
        on_host.log()
    );
}

/// CAP_SYS_ADMIN's bit in a capability set, from a `Cap*:` line of
/// /proc/PID/status.
fn holds_sys_admin(status_line: &str) -> bool {
    let hex = status_line.split_whitespace().last().unwrap_or_default();
    let set = u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{status_line}: {e}"));
    set & (1 << 21) != 0
}

/// FRR still needs SYS_ADMIN (its daemons exit without it), so the FRR
/// node holds it; the participants' sshd there does not, nor can anything
/// under it get it back or mount; participants still log in, and `audit`
/// says all this.
#[test]
fn issue20_participants_logins_on_frr_never_hold_sys_admin() {
    if skip() {
        return;
    }
    let default = 46000 + (std::process::id() % 2000) as u16 * 4;
    let base = crate::docker::access_ports(7, default);
    let lab = Lab::edited("ixp", "cap", |t| crate::docker::with_access_ports(t, base));
    noglab(&["up", &lab.file(), "--pods", "1"]).ok();

    let status = |cmd: &str| {
        let out = lab.exec(1, "r1", &["sh", "-c", cmd]);
        assert_eq!(out.code, 0, "{cmd}: {}", out.stderr);
        out.stdout.trim().to_string()
    };
    // The engine's own commands (this exec) and FRR's daemons hold it...
    assert!(holds_sys_admin(&status("grep ^CapBnd: /proc/self/status")));
    assert!(holds_sys_admin(&status(
        "grep ^CapBnd: /proc/$(pidof zebra)/status"
    )));
    // ...the participants' sshd, whose bounding set every login inherits
    // (it can only shrink), does not.
    let sshd = status("grep ^CapBnd: /proc/$(cat /run/sshd.pid)/status");
    assert!(!holds_sys_admin(&sshd), "sshd: {sshd}");
    // Root under that bounding set cannot make noglab's folder writable.
    let remount = lab.exec(
        1,
        "r1",
        &[
            "setpriv",
            "--bounding-set",
            "-sys_admin",
            "--",
            "mount",
            "-o",
            "remount,rw",
            "/etc/noglab",
        ],
    );
    assert_ne!(remount.code, 0, "{}", remount.stdout);
    assert!(
        remount.stderr.contains("permission denied"),
        "{}",
        remount.stderr
    );

    // Participants still log in to the router, in vtysh.
    let password = &crate::access::passwords(&lab)[0].1;
    let (code, text) = crate::access::ssh(base + 1, password, "ssh r1 'show version'");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("FRRouting"), "{text}");

    let audit = noglab(&["audit", &lab.name]).ok();
    assert!(
        audit.stdout.contains(&format!(
            "\n{}-p01-r1 holds SYS_ADMIN (its daemons need it); the participants' logins do not\n",
            lab.name
        )),
        "{}",
        audit.stdout
    );
    assert!(!audit.stdout.contains("WARNING"), "{}", audit.stdout);
    let json = noglab(&["audit", &lab.name, "--format", "json"]).ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).expect("json");
    for r in &rows {
        let sys_admin = r["capabilities_added"]
            .as_array()
            .expect("caps")
            .iter()
            .any(|c| c == "SYS_ADMIN");
        let frr = r["container"].as_str().unwrap_or_default().ends_with("-r1");
        assert_eq!(sys_admin, frr, "only FRR holds SYS_ADMIN: {r}");
        if frr {
            assert_eq!(r["logins_sys_admin"], false, "{r}");
        }
    }
}

/// `doctor` on a running lab with access points: the host routes Docker
/// adds for its access networks, and every noglab lab's networks, are
/// noglab's own and no overlap.
#[test]
fn issue20_doctor_sets_running_labs_own_networks_apart() {
    if skip() {
        return;
    }
    let default = 47000 + (std::process::id() % 2000) as u16 * 4;
    let base = crate::docker::access_ports(8, default);
    let lab = Lab::edited("ixp", "doc", |t| crate::docker::with_access_ports(t, base));
    noglab(&["up", &lab.file(), "--pods", "1"]).ok();
    // The host has a route to the lab's access network, inside its block:
    // what `doctor` used to call an overlap.
    let access = format!("{}-p01-access", lab.name);
    let bridge = docker(&[
        "network",
        "inspect",
        "-f",
        r#"{{index .Options "com.docker.network.bridge.name"}}"#,
        &access,
    ]);
    let routes = Command::new("ip")
        .args(["route"])
        .output()
        .expect("ip runs");
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(
        routes
            .lines()
            .any(|l| l.contains(&format!("dev {}", bridge.trim()))),
        "no host route to {access} ({bridge}):\n{routes}"
    );

    let out = noglab(&["doctor", &lab.file(), "--pods", "1"]).run();
    let subnets: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("subnets:"))
        .collect();
    assert_eq!(subnets.len(), 1, "{}", out.stdout);
    assert!(subnets[0].starts_with("ok    subnets: "), "{}", out.stdout);
    assert!(
        subnets[0].contains("of noglab's labs' own set aside"),
        "{}",
        out.stdout
    );
}

/// A node that dies at start (a BIRD file with a syntax error): `up`
/// names it, shows BIRD's own error with its line, stops waiting once the
/// engine keeps restarting it, and prints none of noglab's own commands.
#[test]
fn issue20_a_node_that_dies_at_start_is_named_with_its_log() {
    if skip() {
        return;
    }
    let lab = Lab::copy_of(
        &crate::support::root().join("tests/labs/bird-broken"),
        "brk",
    );
    let started = Instant::now();
    let out = noglab(&["up", &lab.file()])
        .env("NOGLAB_PLAIN", "1")
        .code(1);
    let took = started.elapsed();
    eprintln!("{}", out.stderr);
    let node = format!("{}-p01-b1", lab.name);
    assert!(
        out.stderr.contains(&format!(
            "pod 1: {node} did not come up: its main process keeps exiting (restarted "
        )) && out.stderr.contains(" times); the last lines of its log:\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("\n    bird: /etc/bird/bird.conf:6:3 syntax error"),
        "{}",
        out.stderr
    );
    for internal in ["sh -c", "exec.rc", "/run/noglab", "noglab-init: eth"] {
        assert!(!out.stderr.contains(internal), "{internal}: {}", out.stderr);
    }
    // The init's own limit is 120 s; a node that keeps stopping is given
    // up on long before.
    assert!(took < Duration::from_secs(60), "{took:?}");
    // The other node is up.
    let containers = lab.containers();
    assert_eq!(containers[&format!("{}-p01-h1", lab.name)].2, "running");
}

/// Ctrl-C while `up` waits for booting nodes: the next `up` does not take
/// the lab for up to date, but waits for the nodes left booting, and ends
/// once they are ready.
#[test]
fn issue20_ctrl_c_while_nodes_boot_leaves_them_to_the_next_up() {
    use std::process::Stdio;
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "int");
    let child = Command::new(env!("CARGO_BIN_EXE_noglab"))
        .args(["up", &lab.file(), "--pods", "1"])
        .env("NOGLAB_STATE_DIR", crate::support::state_dir())
        .env("NOGLAB_PLAIN", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id().to_string();
    let r1 = format!("{}-p01-r1", lab.name);
    // Once r1 runs and its init has not said it is ready, `up` waits for it.
    let booting = crate::docker::wait_for(Duration::from_secs(60), || {
        let status = docker(&["inspect", "-f", "{{.State.Status}}", &r1]);
        if status.trim() != "running" {
            return Err(format!("r1 is {status:?}"));
        }
        let log = Command::new("docker")
            .args(["logs", &r1])
            .output()
            .expect("docker");
        if String::from_utf8_lossy(&log.stderr).contains("noglab-init: ready after") {
            return Err("r1 was ready before it was seen booting".into());
        }
        Ok(())
    });
    let caught = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        })
        .unwrap_or(0);
    assert!(caught & 0b10 != 0, "up does not catch SIGINT");
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill")
            .success(),
        "up ended before the Ctrl-C"
    );
    let out = child.wait_with_output().expect("up ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    booting.unwrap_or_else(|e| panic!("r1 never seen booting: {e}\n{stderr}"));
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: lab "), "{stderr}");

    // Whatever r1 did since, the next `up` waits for it and the others left
    // booting, and ends with them ready.
    let again = lab.up(1);
    eprintln!("{}", again.stdout);
    assert!(!again.stdout.contains("up to date"), "{}", again.stdout);
    assert!(
        again.stdout.contains("left booting waited for"),
        "{}",
        again.stdout
    );
    for node in ["r1", "r2", "h1"] {
        let rc = lab.exec(1, node, &["cat", "/run/noglab/exec.rc"]);
        assert_eq!(rc.stdout.trim(), "0", "{node}: {}", rc.stderr);
    }
    // Now it is.
    let third = lab.up(1);
    assert!(third.stdout.contains("up to date"), "{}", third.stdout);
}

/// A lab-wide network renamed in the topology of a running lab: `up`
/// removes the pods' nodes attached to the old one before the network,
/// and the lab comes back whole on the new one, every pod's session to
/// the route server included.
#[test]
fn issue20_a_shared_network_renamed_on_a_running_lab_is_replaced() {
    if skip() {
        return;
    }
    let default = 48000 + (std::process::id() % 2000) as u16 * 4;
    let base = crate::docker::access_ports(9, default);
    let lab = Lab::edited("ixp", "ren", |t| crate::docker::with_access_ports(t, base));
    noglab(&["up", &lab.file(), "--pods", "2"]).ok();
    crate::docker::wait_for(Duration::from_secs(90), || {
        crate::access::rs_established(&lab, 2)
    })
    .expect("the lab works before");

    let file = lab.dir.join("topology.yml");
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(text.contains("\n    ixp:\n"), "{text}");
    std::fs::write(&file, text.replace("\n    ixp:\n", "\n    ixlan:\n")).expect("write");

    // The routers on the renamed network would be recreated: `up` says
    // which and stops, the lab untouched, until it is told to.
    let refused = noglab(&["up", &lab.file(), "--pods", "2"]).code(2);
    for pod in [1, 2] {
        let line = format!("  pod {pod}: ");
        assert!(
            refused
                .stderr
                .lines()
                .any(|l| l.starts_with(&line) && l.contains("r1 (")),
            "{}",
            refused.stderr
        );
    }
    crate::access::rs_established(&lab, 2).expect("a refused up broke the lab");

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_noglab"))
        .args(["up", &lab.file(), "--pods", "2", "--recreate"])
        .env("NOGLAB_STATE_DIR", crate::support::state_dir())
        .env("NOGLAB_PLAIN", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > Duration::from_secs(240) {
            let _ = child.kill();
            panic!("up after the rename still ran after 4 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "{stderr}");
    // The pods' routers went before the old network did.
    let step = |what: &str| {
        stderr
            .lines()
            .position(|l| l == what)
            .unwrap_or_else(|| panic!("no {what:?} in:\n{stderr}"))
    };
    let old = step(&format!("remove network {}-shared-ixp", lab.name));
    for pod in ["p01", "p02"] {
        assert!(
            step(&format!("remove container {}-{pod}-r1", lab.name)) < old,
            "{stderr}"
        );
    }

    let mut networks: Vec<String> = docker(&[
        "network",
        "ls",
        "--filter",
        &format!("label=noglab.lab={}", lab.name),
        "--format",
        "{{.Name}}",
    ])
    .split_whitespace()
    .filter(|n| n.contains("-shared-"))
    .map(String::from)
    .collect();
    networks.sort();
    assert_eq!(
        networks,
        [
            format!("{}-shared-ixlan", lab.name),
            format!("{}-shared-mgmt", lab.name)
        ]
    );
    crate::docker::wait_for(Duration::from_secs(90), || {
        crate::access::rs_established(&lab, 2)
    })
    .expect("every pod's session to the route server, on the new network");
    let again = lab.up(2);
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);
}
