//! Shared lab infrastructure and participants' access, end to end on the
//! real engine (issue 4): a route server on an IXP LAN shared by every pod,
//! and each pod's SSH access point used with a stock OpenSSH client.

use std::process::Command;
use std::time::Duration;

use crate::docker::{
    access_ports, docker, host_ipv4, pings, skip, wait_for, with_access_ports, Lab,
};
use crate::support::noglab;

/// Runs `ssh -p PORT lab@127.0.0.1 CMD` with a password, as a participant's
/// laptop would (sshpass types the password).
pub(crate) fn ssh(port: u16, password: &str, cmd: &str) -> (i32, String) {
    let out = Command::new("timeout")
        .args(["30", "sshpass", "-p", password, "ssh"])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ])
        .args(["-o", "PubkeyAuthentication=no", "-o", "ConnectTimeout=10"])
        .args(["-p", &port.to_string(), "lab@127.0.0.1", cmd])
        .output()
        .expect("sshpass and ssh are installed");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// pod -> password, from the CSV handout.
pub(crate) fn passwords(lab: &Lab) -> Vec<(u32, String)> {
    let csv = noglab(&[
        "handout",
        &lab.name,
        "--format",
        "csv",
        "--host",
        "127.0.0.1",
    ])
    .ok();
    csv.stdout
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().expect("pod"), f[4].to_string())
        })
        .collect()
}

/// The BIRD route server's sessions: every pod's border router Established.
pub(crate) fn rs_established(lab: &Lab, pods: usize) -> Result<(), String> {
    let out = noglab(&[
        "exec",
        &lab.name,
        "--pod",
        "shared",
        "rs",
        "--",
        "birdc",
        "show protocols",
    ])
    .run();
    let up: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains(" BGP ") && l.trim_end().ends_with("Established"))
        .collect();
    if up.len() == pods {
        Ok(())
    } else {
        Err(format!(
            "{} of {pods} sessions established:\n{}",
            up.len(),
            out.stdout
        ))
    }
}

/// Whether `prefix` is a BGP route in pod `pod`'s r1.
fn learned(lab: &Lab, pod: u32, prefix: &str) -> Result<(), String> {
    let r = lab.exec(
        pod,
        "r1",
        &["vtysh", "-c", &format!("show ip route {prefix} json")],
    );
    if r.stdout.contains("\"protocol\":\"bgp\"") {
        Ok(())
    } else {
        Err(r.stdout)
    }
}

#[test]
fn issue4_route_server_ixp_and_ssh_access() {
    if skip() {
        return;
    }
    let default = 30000 + (std::process::id() % 3000) as u16 * 4;
    let base = access_ports(1, default);
    let lab = Lab::edited("ixp", "acc", |t| with_access_ports(t, base));
    noglab(&["up", &lab.file(), "--pods", "3"]).ok();

    // Every pod's border router peers with the shared route server, and
    // routes of pod 1 reach pod 3 through it.
    wait_for(Duration::from_secs(90), || rs_established(&lab, 3)).expect("route server sessions");
    wait_for(Duration::from_secs(60), || {
        learned(&lab, 3, "100.68.1.0/29")
    })
    .expect("pod 1's prefix learned in pod 3 through the route server");

    // The route server takes from a member only the member's own space:
    // pod 2 announcing a piece of pod 3's reaches nobody, its own does.
    lab.exec(
        2,
        "r1",
        &[
            "vtysh",
            "-c",
            "conf t",
            "-c",
            "ip route 100.68.2.128/25 blackhole",
            "-c",
            "ip route 100.68.3.128/25 blackhole",
            "-c",
            "router bgp 65002",
            "-c",
            "network 100.68.2.128/25",
            "-c",
            "network 100.68.3.128/25",
        ],
    );
    wait_for(Duration::from_secs(60), || {
        learned(&lab, 1, "100.68.2.128/25")
    })
    .expect("pod 2's own more specific passes the route server");
    for pod in [1, 3] {
        assert!(
            learned(&lab, pod, "100.68.3.128/25").is_err(),
            "pod 2's announcement of pod 3's space reached pod {pod}"
        );
    }
    wait_for(Duration::from_secs(30), || {
        if pings(&lab, 3, "h1", "100.68.1.2") {
            Ok(())
        } else {
            Err("h1 of pod 3 cannot reach h1 of pod 1".into())
        }
    })
    .expect("traffic between pods across the IXP");

    // A participant of pod 2 logs in with pod 2's password and reaches r1's vtysh.
    let pw = passwords(&lab);
    assert_eq!(pw.len(), 3);
    let pod2 = &pw[1].1;
    let pod3 = &pw[2].1;
    let (code, text) = ssh(base + 2, pod2, "ssh r1 'show bgp summary'");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("route server"), "{text}");
    let (code, text) = ssh(base + 2, pod2, "ssh h1 'ip -br addr show eth1'");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("100.68.2.2/29"), "{text}");
    // The same password does not open pod 3.
    let (code, text) = ssh(base + 3, pod2, "true");
    assert_ne!(code, 0, "pod 2's password opened pod 3: {text}");
    let (code, _) = ssh(base + 3, pod3, "true");
    assert_eq!(code, 0);

    // From pod 2's access point nothing of pod 3 answers, nor the host.
    let pod3_r1 = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        &format!("{}-p03-r1", lab.name),
    ]);
    let host = host_ipv4();
    // Only addresses on this machine: noglab's own range (kept here by the
    // guard's route) and the host itself.
    let targets: Vec<String> = pod3_r1.split_whitespace().map(String::from).collect();
    assert!(
        !targets.is_empty()
            && targets
                .iter()
                .all(|t| t.starts_with("198.18.") || t.starts_with("198.19."))
    );
    for t in &targets {
        let (code, text) = ssh(base + 2, pod2, &format!("ping -c 1 -W 1 {t}"));
        assert_ne!(code, 0, "pod 2's access point reached {t}: {text}");
    }
    for port in [base + 3, 22] {
        let probe = format!(
            "timeout 3 bash -c 'echo > /dev/tcp/{host}/{port}' && echo OPEN || echo CLOSED"
        );
        let (_, text) = ssh(base + 2, pod2, &probe);
        assert!(
            text.contains("CLOSED") && !text.contains("OPEN"),
            "pod 2 reached the host's port {port}: {text}"
        );
    }

    // A reset of pod 2 keeps its credentials and leaves the route server alone.
    let rs_before = docker(&[
        "inspect",
        "-f",
        "{{.Id}} {{.State.StartedAt}}",
        &format!("{}-shared-rs", lab.name),
    ]);
    noglab(&["reset", &lab.name, "--pod", "2"]).ok();
    let (code, text) = ssh(base + 2, pod2, "ssh r1 'show version'");
    assert_eq!(code, 0, "pod 2's password after reset: {text}");
    let rs_after = docker(&[
        "inspect",
        "-f",
        "{{.Id}} {{.State.StartedAt}}",
        &format!("{}-shared-rs", lab.name),
    ]);
    assert_eq!(
        rs_before, rs_after,
        "reset --pod 2 touched the route server"
    );

    // Rotation changes pod 2's password at once, and only pod 2's.
    noglab(&["credentials", "rotate", &lab.name, "--pod", "2"]).ok();
    let (code, _) = ssh(base + 2, pod2, "true");
    assert_ne!(code, 0, "the old password still works after rotate");
    let fresh = passwords(&lab);
    assert_ne!(&fresh[1].1, pod2);
    assert_eq!(&fresh[2].1, pod3);
    let (code, text) = ssh(base + 2, &fresh[1].1, "true");
    assert_eq!(code, 0, "{text}");

    // reset --shared recreates the route server; the pods' nodes stay.
    let before = lab.containers();
    noglab(&["reset", &lab.name, "--shared"]).ok();
    let after = lab.containers();
    for (name, info) in &before {
        if name.ends_with("-shared-rs") {
            assert_ne!(after[name].0, info.0, "the route server was not recreated");
        } else {
            assert_eq!(&after[name], info, "{name} was touched by reset --shared");
        }
    }
    wait_for(Duration::from_secs(90), || rs_established(&lab, 3))
        .expect("sessions back after reset --shared");

    // The credentials file is private.
    let state = std::path::PathBuf::from(crate::support::state_dir());
    let meta = std::fs::metadata(state.join("labs").join(&lab.name).join("credentials.json"))
        .expect("credentials saved");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}
