//! Looking at packets and breaking links on the real engine: `capture`,
//! `link`, and `exec` fed from standard input.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::docker::{bgp_established, docker, skip, wait_for, Lab};
use crate::support::{noglab, state_dir};

/// `noglab ARGS...` started in the background, its output to `stdout`.
fn spawn(args: &[&str], stdout: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_noglab"))
        .args(args)
        .env("NOGLAB_STATE_DIR", state_dir())
        .env("NOGLAB_PLAIN", "1")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("noglab starts")
}

/// Ctrl-C, as a terminal sends it.
fn interrupt(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "SIGINT delivered");
}

/// The BGP OPEN messages tshark finds in a pcap, as `src->dst` lines.
fn bgp_opens(pcap: &std::path::Path) -> Vec<String> {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(pcap)
        .args([
            "-Y",
            "bgp.type == 1",
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
        ])
        .output()
        .expect("tshark runs (the Debian package `tshark`; scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "tshark read {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.replace('\t', "->"))
        .collect()
}

/// What runs in a node besides its daemons: tcpdump, the capture's
/// watcher, and the engine's exec sessions in flight.
fn leftovers(container: &str) -> (String, String) {
    let procs = docker(&["exec", container, "ps", "-eo", "args"]);
    let ours: Vec<&str> = procs
        .lines()
        .filter(|l| l.starts_with("tcpdump") || l.contains("noglab-capture") || *l == "cat")
        .collect();
    (
        ours.join("\n"),
        docker(&["inspect", "-f", "{{.ExecIDs}}", container])
            .trim()
            .to_string(),
    )
}

#[test]
fn capture_of_r1s_link_while_bgp_comes_up_holds_bgp_opens_and_ctrl_c_leaves_nothing() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "hcap");
    lab.up(1);
    let r1 = format!("{}-p01-r1", lab.name);

    // A wrong interface is refused with the node's own.
    let wrong = noglab(&[
        "capture",
        &lab.name,
        "--pod",
        "1",
        "r1",
        "eth7",
        "-w",
        "/dev/null",
    ])
    .code(2);
    assert!(
        wrong
            .stderr
            .contains("node r1 of pod 1 has no link interface `eth7`; its interfaces: eth1"),
        "{}",
        wrong.stderr
    );

    // Two captures side by side: one to standard output (as into
    // Wireshark), one to a file.
    let dir = lab.dir.clone();
    let piped = dir.join("piped.pcap");
    let written = dir.join("written.pcap");
    let to_stdout = spawn(
        &["capture", &lab.name, "--pod", "1", "r1", "eth1"],
        Stdio::from(std::fs::File::create(&piped).expect("create")),
    );
    let to_file = spawn(
        &[
            "capture",
            &lab.name,
            "--pod",
            "1",
            "r1",
            "eth1",
            "-w",
            written.to_str().expect("utf-8"),
            "--",
            "tcp",
            "port",
            "179",
        ],
        Stdio::null(),
    );
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    // r2 recreated: its BGP comes up again with r1, OPEN first.
    noglab(&["reset", &lab.name, "--pod", "1", "--node", "r2"]).ok();
    wait_for(Duration::from_secs(60), || bgp_established(&lab, 1, "r1")).expect("BGP back up");
    if let Some(rest) = Duration::from_secs(5).checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
    for child in [&to_stdout, &to_file] {
        interrupt(child);
    }
    for (name, child) in [("stdout", to_stdout), ("-w", to_file)] {
        let out = child.wait_with_output().expect("capture ends");
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "capture to {name}: {said}");
        assert!(said.contains("packets captured"), "tcpdump's count: {said}");
    }
    for pcap in [&piped, &written] {
        let opens = bgp_opens(pcap);
        // r1 (100.64.1.0) and r2 (100.64.1.1) each send one.
        assert!(
            opens.iter().any(|o| o == "100.64.1.1->100.64.1.0")
                && opens.iter().any(|o| o == "100.64.1.0->100.64.1.1"),
            "{}: {opens:?}",
            pcap.display()
        );
    }
    // Nothing of the captures is left in the node.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (procs, execs) = leftovers(&r1);
        if procs.is_empty() && execs == "[]" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left in r1: {procs:?}, execs {execs}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // noglab killed outright: tcpdump still stops, its input having ended.
    let mut killed = spawn(
        &["capture", &lab.name, "--pod", "1", "r1", "eth1"],
        Stdio::null(),
    );
    wait_for(Duration::from_secs(10), || {
        match leftovers(&r1).0.contains("tcpdump") {
            true => Ok(()),
            false => Err("tcpdump not started".into()),
        }
    })
    .expect("tcpdump runs");
    killed.kill().expect("SIGKILL");
    let _ = killed.wait();
    wait_for(Duration::from_secs(10), || match leftovers(&r1) {
        (p, e) if p.is_empty() && e == "[]" => Ok(()),
        other => Err(format!("left in r1: {other:?}")),
    })
    .expect("nothing left after noglab was killed");
}

/// Each link end's row of `noglab link --format json`.
fn link_rows(lab: &Lab, pod: &str) -> Vec<serde_json::Value> {
    let out = noglab(&["link", &lab.name, "--pod", pod, "--format", "json"]).ok();
    serde_json::from_str(&out.stdout).expect("json")
}

fn row<'a>(
    rows: &'a [serde_json::Value],
    pod: &str,
    node: &str,
    iface: &str,
) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["pod"] == pod && r["node"] == node && r["interface"] == iface)
        .unwrap_or_else(|| panic!("no row for pod {pod} {node}:{iface}: {rows:?}"))
}

#[test]
fn link_down_drops_bgp_link_up_brings_it_back_and_reset_clears_it() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "hlnk");
    lab.up(2);
    for pod in [1, 2] {
        wait_for(Duration::from_secs(60), || bgp_established(&lab, pod, "r1")).expect("BGP up");
    }
    let wrong = noglab(&["link", &lab.name, "--pod", "1", "r1:eth0", "down"]).code(2);
    assert!(
        wrong.stderr.contains("management network"),
        "{}",
        wrong.stderr
    );

    let down = noglab(&["link", &lab.name, "--pod", "1", "r1:eth1", "down"]).ok();
    assert!(
        down.stdout.contains("1 link end impaired"),
        "{}",
        down.stdout
    );
    wait_for(Duration::from_secs(30), || {
        match bgp_established(&lab, 1, "r1") {
            Ok(()) => Err("still established".into()),
            Err(_) => Ok(()),
        }
    })
    .expect("pod 1's session drops");
    bgp_established(&lab, 2, "r1").expect("pod 2 untouched");
    let rows = link_rows(&lab, "all");
    assert_eq!(row(&rows, "1", "r1", "eth1")["state"], "down");
    assert_eq!(row(&rows, "2", "r1", "eth1")["state"], "up");
    assert_eq!(row(&rows, "1", "r2", "eth1")["state"], "up");

    noglab(&["link", &lab.name, "--pod", "1", "r1:eth1", "up"]).ok();
    wait_for(Duration::from_secs(60), || bgp_established(&lab, 1, "r1"))
        .expect("the session comes back");
    assert_eq!(row(&link_rows(&lab, "1"), "1", "r1", "eth1")["state"], "up");

    // Broken in both pods, then one pod reset: a recreated node has
    // nothing impaired, and the view says so.
    noglab(&["link", &lab.name, "--pod", "1-2", "r1:eth1", "down"]).ok();
    noglab(&["reset", &lab.name, "--pod", "1", "--node", "r1"]).ok();
    let rows = link_rows(&lab, "all");
    assert_eq!(row(&rows, "1", "r1", "eth1")["state"], "up");
    assert_eq!(row(&rows, "2", "r1", "eth1")["state"], "down");
    wait_for(Duration::from_secs(60), || bgp_established(&lab, 1, "r1"))
        .expect("the reset pod works");
}

/// h1's global IPv6 addresses on eth1, as `ip -6 -o addr` lists them.
fn h1_ipv6(lab: &Lab) -> String {
    let out = lab.exec(
        1,
        "h1",
        &[
            "ip", "-6", "-o", "addr", "show", "dev", "eth1", "scope", "global",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
}

/// Linux drops an interface's IPv6 addresses when it is set down;
/// `noglab link ... up` puts the planned ones back, on both ends, usable at
/// once (no duplicate address detection), and IPv6 works across the link
/// again. h1 is a host: nothing in it would put them back otherwise.
#[test]
fn link_up_puts_back_the_ipv6_addresses_the_kernel_dropped_on_down() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "hl6");
    lab.up(1);
    // r2 eth2 and h1 eth1 share 2001:db8:1:2::/64: r2 ::1, h1 ::2.
    let (r2, h1) = ("2001:db8:1:2::1", "2001:db8:1:2::2/64");
    let ping6 = || -> Result<(), String> {
        let out = lab.exec(1, "h1", &["ping", "-6", "-c", "1", "-W", "1", r2]);
        match out.code {
            0 => Ok(()),
            _ => Err(format!("h1 cannot ping {r2}: {}{}", out.stdout, out.stderr)),
        }
    };
    wait_for(Duration::from_secs(30), ping6).expect("IPv6 across the link at first");
    assert!(h1_ipv6(&lab).contains(h1), "{}", h1_ipv6(&lab));

    noglab(&["link", &lab.name, "--pod", "1", "h1:eth1", "down"]).ok();
    let gone = h1_ipv6(&lab);
    assert!(
        !gone.contains("2001:db8:1:2::"),
        "the kernel kept the address on down, so this test proves nothing: {gone}"
    );

    noglab(&["link", &lab.name, "--pod", "1", "h1:eth1", "up"]).ok();
    let back = h1_ipv6(&lab);
    assert!(back.contains(h1), "not put back: {back}");
    assert!(!back.contains("tentative"), "waiting for DAD: {back}");
    let ipv4 = lab.exec(1, "h1", &["ip", "-4", "-o", "addr", "show", "dev", "eth1"]);
    assert!(ipv4.stdout.contains("100.65.1.2/29"), "{}", ipv4.stdout);
    let r2_addrs = lab.exec(1, "r2", &["ip", "-6", "-o", "addr", "show", "dev", "eth2"]);
    assert!(
        r2_addrs.stdout.contains("2001:db8:1:2::1/64"),
        "{}",
        r2_addrs.stdout
    );
    wait_for(Duration::from_secs(10), ping6).expect("IPv6 across the link again");
}

/// The average round trip of `count` pings from r1 to r2 over their link,
/// in milliseconds.
fn ping_ms(lab: &Lab, count: u32) -> f64 {
    let count = count.to_string();
    let out = lab.exec(1, "r1", &["ping", "-c", &count, "-i", "0.2", "100.64.1.1"]);
    let summary = out
        .stdout
        .lines()
        .find(|l| l.starts_with("rtt"))
        .unwrap_or_else(|| panic!("no rtt line: {}{}", out.stdout, out.stderr));
    // rtt min/avg/max/mdev = 200.1/200.3/200.6/0.2 ms
    summary
        .split('=')
        .nth(1)
        .and_then(|v| v.trim().split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no average in {summary}"))
}

#[test]
fn netem_delay_shows_in_ping_times_and_clear_removes_it() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "hnem");
    lab.up(1);
    let bad = noglab(&[
        "link", &lab.name, "--pod", "1", "r1:eth1", "netem", "--loss", "120%",
    ])
    .code(2);
    assert!(bad.stderr.contains("out of range"), "{}", bad.stderr);
    assert!(ping_ms(&lab, 3) < 50.0);

    // With the kernel's netem queue, or on a kernel without it (noglab
    // then delays in the node itself), the delay shows the same way.
    noglab(&[
        "link", &lab.name, "--pod", "1", "r1:eth1", "netem", "--delay", "200ms",
    ])
    .ok();
    // What the view shows on r1:eth1 of pod 1, and every row.
    let netem_shown = || {
        let rows = link_rows(&lab, "1");
        let shown = row(&rows, "1", "r1", "eth1")["netem"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (shown, rows)
    };
    let (shown, rows) = netem_shown();
    assert!(shown.starts_with("delay 200ms"), "{rows:?}");
    assert!(!shown.contains("not running"), "{shown}");
    let delayed = ping_ms(&lab, 5);
    assert!((195.0..400.0).contains(&delayed), "{delayed} ms");

    // Set again, it replaces: every packet lost now, none delayed.
    noglab(&[
        "link", &lab.name, "--pod", "1", "r1:eth1", "netem", "--loss", "100%",
    ])
    .ok();
    let lost = lab.exec(
        1,
        "r1",
        &["ping", "-c", "3", "-i", "0.2", "-W", "1", "100.64.1.1"],
    );
    assert!(lost.stdout.contains("100% packet loss"), "{}", lost.stdout);
    let (shown, rows) = netem_shown();
    assert!(shown.starts_with("loss 100%"), "{rows:?}");

    noglab(&["link", &lab.name, "--pod", "1", "r1:eth1", "clear"]).ok();
    assert!(row(&link_rows(&lab, "1"), "1", "r1", "eth1")["netem"].is_null());
    let cleared = ping_ms(&lab, 5);
    assert!(cleared < 50.0, "{cleared} ms after clear");
}

/// `noglab exec` with `input` piped to it.
fn exec_fed(lab: &Lab, node: &str, cmd: &[&str], input: &[u8]) -> (i32, Vec<u8>) {
    let mut args = vec!["exec", &lab.name, "--pod", "1", node, "--"];
    args.extend_from_slice(cmd);
    let mut child = Command::new(env!("CARGO_BIN_EXE_noglab"))
        .args(&args)
        .env("NOGLAB_STATE_DIR", state_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("noglab starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("exec ends");
    feeder.join().expect("fed");
    (out.status.code().unwrap_or(-1), out.stdout)
}

#[test]
fn exec_passes_standard_input_byte_for_byte() {
    if skip() {
        return;
    }
    let lab = Lab::new("two-routers", "hstd");
    lab.up(1);
    // Every byte value, several times over, through tee into a file.
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i % 256) as u8).collect();
    let local = dir_file(&lab, "bytes.bin", &bytes);
    let expected = sha256(&local);
    let (code, echoed) = exec_fed(&lab, "h1", &["tee", "/tmp/bytes.bin"], &bytes);
    assert_eq!(code, 0);
    assert_eq!(echoed, bytes, "tee's output is the input");
    let inside = lab.exec(1, "h1", &["sha256sum", "/tmp/bytes.bin"]);
    assert_eq!(
        inside.stdout.split_whitespace().next(),
        Some(expected.as_str())
    );

    // A config read from standard input by vtysh.
    let conf = b"interface lo\n ip address 192.0.2.77/32\n";
    let (code, _) = exec_fed(&lab, "r1", &["vtysh", "-f", "/dev/stdin"], conf);
    assert_eq!(code, 0);
    let run = lab.exec(1, "r1", &["vtysh", "-c", "show running-config"]);
    assert!(
        run.stdout.contains("ip address 192.0.2.77/32"),
        "{}",
        run.stdout
    );

    // --no-stdin leaves the input to the caller: `cat` sees none.
    let mut args = vec![
        "exec",
        &lab.name,
        "--pod",
        "1",
        "--no-stdin",
        "h1",
        "--",
        "cat",
    ];
    let (code, out) = {
        let mut child = Command::new(env!("CARGO_BIN_EXE_noglab"))
            .args(args.drain(..))
            .env("NOGLAB_STATE_DIR", state_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starts");
        // Kept open and unread: a `while read` loop's input.
        let _held = child.stdin.take();
        let out = child
            .wait_with_output()
            .expect("ends without its input ending");
        (out.status.code(), out.stdout)
    };
    assert_eq!((code, out), (Some(0), Vec::new()));
}

fn dir_file(lab: &Lab, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = lab.dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

fn sha256(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
