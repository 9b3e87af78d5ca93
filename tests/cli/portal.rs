//! The classroom portal (`noglab serve`) on the real engine: what a
//! participant's session reaches, and what the server refuses, probed
//! over HTTPS with curl as a script in the room would.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::access::passwords;
use crate::docker::{access_ports, skip, wait_for, with_access_ports, Lab};
use crate::support::{noglab, root, state_dir};

/// A running `noglab serve`, stopped on drop.
pub(crate) struct Server {
    child: Child,
    pub url: String,
    pub token: String,
}

impl Server {
    /// Serves `lab` on a port the system picks (never one another test
    /// holds), read from what `serve` prints.
    pub fn start(lab: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_noglab"))
            .args(["serve", lab, "--listen", "127.0.0.1:0"])
            .current_dir(root())
            .env("NOGLAB_STATE_DIR", state_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("noglab serve starts");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let mut token = String::new();
        let mut url = String::new();
        for line in lines.by_ref() {
            let line = line.expect("serve's output");
            if let Some((_, at)) = line.split_once(" at https://") {
                url = format!("https://{}", at.trim_end_matches('/'));
            }
            if let Some(t) = line.strip_prefix("instructor token: ") {
                token = t.to_string();
                break;
            }
        }
        assert!(
            url.starts_with("https://127.0.0.1:"),
            "serve printed no address: {url}"
        );
        // The rest of its output is read too: a closed pipe would end it.
        std::thread::spawn(move || lines.for_each(drop));
        assert_eq!(token.len(), 64, "serve printed no instructor token");
        let server = Server { child, url, token };
        wait_for(Duration::from_secs(20), || {
            match server.get("/api/v1/openapi.json", None).0 {
                200 => Ok(()),
                code => Err(format!("openapi.json: {code}")),
            }
        })
        .expect("the portal answers");
        server
    }

    /// `curl` from `source` (a loopback address): status, headers, body.
    pub fn request(
        &self,
        source: &str,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        csrf: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String, String) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sk",
            "-m",
            "60",
            "-D",
            "-",
            "-X",
            method,
            "--interface",
            source,
        ]);
        if let Some(c) = cookie {
            cmd.args(["-H", &format!("Cookie: noglab_session={c}")]);
        }
        if let Some(t) = csrf {
            cmd.args(["-H", &format!("X-CSRF-Token: {t}")]);
        }
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
            // A body larger than the server takes: ask first, as a careful
            // client does, so that the refusal is read before any of the
            // body is sent. Sent whole, the server's answer races the
            // connection it closes on the unread rest (a reset may drop
            // the answer before curl reads it).
            if b.len() > 16 * 1024 {
                cmd.args(["-H", "Expect: 100-continue"]);
            }
        }
        cmd.arg(format!("{}{path}", self.url));
        let out = cmd.output().expect("curl runs");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        // An interim answer (100 Continue) comes before the real one.
        while text.starts_with("HTTP/1.1 1") {
            match text.split_once("\r\n\r\n") {
                Some((_, rest)) => text = rest.to_string(),
                None => break,
            }
        }
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, head.to_string(), body.to_string())
    }

    pub fn get(&self, path: &str, cookie: Option<&str>) -> (u16, String, String) {
        self.request("127.0.0.1", "GET", path, cookie, None, None)
    }

    /// Logs in from `source`; the session id and CSRF token, or the status.
    pub fn login(&self, source: &str, body: &str) -> Result<(String, String), u16> {
        let (code, head, text) =
            self.request(source, "POST", "/api/v1/login", None, None, Some(body));
        if code != 200 {
            return Err(code);
        }
        let cookie = head
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: noglab_session="))
            .expect("a session cookie");
        let id = cookie.split(';').next().unwrap_or_default().to_string();
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        Ok((id, json["csrf"].as_str().unwrap_or_default().to_string()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A lab of two routers and a host per pod, with access points (the
/// portal's participants log in with their credentials).
///
/// Access ports from 33000 (slot 7) or 37000 (slot 8) up, 4 per process
/// id: never those of the other tests of the same run (theirs start at
/// 30000 and 40000 with steps that cannot land here).
pub(crate) fn portal_lab(tag: &str, slot: u16) -> Lab {
    let first = if slot == 7 { 33000 } else { 37000 };
    let default = first + (std::process::id() % 1000) as u16 * 4;
    let ssh = access_ports(slot, default);
    Lab::edited("two-routers", tag, |t| {
        with_access_ports(t + "access:\n  base_port: 2200 \n", ssh)
    })
}

pub(crate) fn participant(lab: &str, pod: u32, password: &str) -> String {
    format!(r#"{{"lab":"{lab}","pod":{pod},"user":"lab","password":"{password}"}}"#)
}

#[test]
fn portal_a_participant_reaches_only_its_pod_and_the_server_refuses_what_it_must() {
    if skip() {
        return;
    }
    let lab = portal_lab("psec", 7);
    lab.up(2);
    let pw = passwords(&lab);
    let pw = |pod: u32| pw.iter().find(|(p, _)| *p == pod).expect("pod").1.clone();
    let server = Server::start(&lab.name);
    let l = &lab.name;

    // Pod 1's participant logs in; the cookie is the session's only carrier.
    let (code, head, _) = server.request(
        "127.0.0.1",
        "POST",
        "/api/v1/login",
        None,
        None,
        Some(&participant(l, 1, &pw(1))),
    );
    assert_eq!(code, 200, "{head}");
    let set_cookie = head
        .lines()
        .find(|h| h.starts_with("set-cookie:"))
        .expect("a cookie");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(set_cookie.contains(flag), "{set_cookie}");
    }
    let (me, csrf) = server
        .login("127.0.0.1", &participant(l, 1, &pw(1)))
        .expect("pod 1 logs in");

    // Its own pod: r1, r2 and h1 running, no access point.
    let (code, _, body) = server.get(&format!("/api/v1/labs/{l}/pods/1"), Some(&me));
    assert_eq!(code, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).expect("json");
    let nodes: Vec<&str> = view["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["node"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(nodes, ["h1", "r1", "r2"], "{body}");
    assert!(
        view["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["state"] == "running"),
        "{body}"
    );

    // Every participant route with another pod's or lab's ids: 404, never
    // data; the instructor's routes: 403.
    for path in [
        format!("/api/v1/labs/{l}/pods/2"),
        format!("/api/v1/labs/{l}/pods/2/checks"),
        format!("/api/v1/labs/{l}/pods/2/graph.svg"),
        format!("/api/v1/labs/{l}/pods/2/nodes/r1/terminal"),
        format!("/api/v1/labs/{l}/pods/3"),
        "/api/v1/labs/other/pods/1".to_string(),
        "/api/v1/labs/other/pods/1/checks".to_string(),
        "/api/v1/labs/other/pods/1/nodes/r1/terminal".to_string(),
        "/api/v1/labs/other/guide".to_string(),
    ] {
        let (code, _, body) = server.get(&path, Some(&me));
        assert_eq!(code, 404, "{path}: {body}");
        assert!(!body.contains("r1"), "{path}: {body}");
    }
    for path in [
        format!("/api/v1/labs/{l}/board"),
        format!("/api/v1/labs/{l}/board/events"),
        format!("/api/v1/labs/{l}/handout"),
        format!("/api/v1/labs/{l}/handout?format=csv"),
    ] {
        let (code, _, body) = server.get(&path, Some(&me));
        assert_eq!(code, 403, "{path}");
        assert!(!body.contains(&pw(2)), "{path}: {body}");
    }
    // Its own pod's picture; its own node's terminal only as a WebSocket.
    let (code, head, body) = server.get(&format!("/api/v1/labs/{l}/pods/1/graph.svg"), Some(&me));
    assert_eq!(code, 200, "{body}");
    assert!(
        head.contains("image/svg+xml") && body.contains("r1"),
        "{head}"
    );
    let (code, _, _) = server.get(
        &format!("/api/v1/labs/{l}/pods/1/nodes/r1/terminal"),
        Some(&me),
    );
    assert_eq!(code, 400);
    for pod in [1, 2] {
        let path = format!("/api/v1/labs/{l}/pods/{pod}/reset");
        let (code, _, _) = server.request("127.0.0.1", "POST", &path, Some(&me), Some(&csrf), None);
        assert_eq!(code, 403, "{path}");
    }
    // Without a session: 401 everywhere.
    let (code, _, _) = server.get(&format!("/api/v1/labs/{l}/pods/1"), None);
    assert_eq!(code, 401);
    let (code, _, _) = server.get(&format!("/api/v1/labs/{l}/pods/1"), Some("forged"));
    assert_eq!(code, 401);

    // Its checks run on request, and not again at once.
    let (code, _, body) = server.get(&format!("/api/v1/labs/{l}/pods/1/checks"), Some(&me));
    assert_eq!(code, 200, "{body}");
    let checks: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(checks["checks"].as_array().map(Vec::len), Some(6), "{body}");
    let (code, _, _) = server.get(&format!("/api/v1/labs/{l}/pods/1/checks"), Some(&me));
    assert_eq!(code, 429);

    // A state change without its CSRF token is refused, and the session
    // lives on; with it, it is done.
    let (code, _, _) = server.request("127.0.0.1", "POST", "/api/v1/logout", Some(&me), None, None);
    assert_eq!(code, 403);
    let (code, _, _) = server.request(
        "127.0.0.1",
        "POST",
        "/api/v1/logout",
        Some(&me),
        Some("0000"),
        None,
    );
    assert_eq!(code, 403);
    assert_eq!(server.get("/api/v1/session", Some(&me)).0, 200);
    let (code, _, _) = server.request(
        "127.0.0.1",
        "POST",
        "/api/v1/logout",
        Some(&me),
        Some(&csrf),
        None,
    );
    assert_eq!(code, 204);
    assert_eq!(server.get("/api/v1/session", Some(&me)).0, 401);

    // The instructor: the board of both pods; a reset needs the CSRF token.
    let (boss, boss_csrf) = server
        .login("127.0.0.70", &format!(r#"{{"token":"{}"}}"#, server.token))
        .expect("the instructor logs in");
    let (code, _, body) = server.get(&format!("/api/v1/labs/{l}/board"), Some(&boss));
    assert_eq!(code, 200, "{body}");
    let board: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(board["pods"].as_array().map(Vec::len), Some(2), "{body}");
    let reset = format!("/api/v1/labs/{l}/pods/2/reset");
    let (code, _, _) = server.request("127.0.0.1", "POST", &reset, Some(&boss), None, None);
    assert_eq!(code, 403);
    assert!(server.login("127.0.0.71", r#"{"token":"guess"}"#).is_err());
    let _ = boss_csrf;

    // The handout from the portal: the instructor's, with each pod's link
    // to the portal as this client reaches it; never a participant's.
    let handout = format!("/api/v1/labs/{l}/handout?format=csv");
    let (code, _, body) = server.get(&handout, Some(&boss));
    assert_eq!(code, 200, "{body}");
    for pod in [1, 2] {
        let line = body
            .lines()
            .find(|line| line.starts_with(&format!("{pod},")))
            .unwrap_or_else(|| panic!("no pod {pod}: {body}"));
        assert!(line.contains(&format!(",{},", pw(pod))), "{line}");
        assert!(
            line.ends_with(&format!("{}/?lab={l}&pod={pod}", server.url)),
            "{line}"
        );
    }
    let (code, _, _) = server.get(&format!("/api/v1/labs/{l}/handout?format=pdf"), Some(&boss));
    assert_eq!(code, 400);

    // An oversized request is refused before it is read.
    let big = format!(r#"{{"token":"{}"}}"#, "x".repeat(64 * 1024));
    let (code, _, _) = server.request("127.0.0.1", "POST", "/api/v1/login", None, None, Some(&big));
    assert_eq!(code, 413);

    // Lockout per source: five failures from one address, then even the
    // right password is refused from there, not from elsewhere.
    for _ in 0..5 {
        assert_eq!(
            server.login("127.0.0.30", &participant(l, 1, "wrong")),
            Err(401)
        );
    }
    assert_eq!(
        server.login("127.0.0.30", &participant(l, 1, &pw(1))),
        Err(429)
    );
    assert!(server
        .login("127.0.0.31", &participant(l, 1, &pw(1)))
        .is_ok());

    // Lockout per pod: failures from many addresses against pod 2 lock
    // pod 2, not pod 1.
    for source in ["127.0.0.40", "127.0.0.41", "127.0.0.42", "127.0.0.43"] {
        for _ in 0..3 {
            let _ = server.login(source, &participant(l, 2, "wrong"));
        }
    }
    assert_eq!(
        server.login("127.0.0.50", &participant(l, 2, &pw(2))),
        Err(429)
    );
    assert!(server
        .login("127.0.0.51", &participant(l, 1, &pw(1)))
        .is_ok());

    // The audit log holds who logged in, who was refused and why, from
    // where; the instructor's refused reset (no CSRF token) is not an
    // action, a guessed token is a refused login.
    let log = audit(l);
    let has =
        |who: &str, from: &str, what: &str, result: &str| audited(&log, who, from, what, result);
    let me1 = format!("{l}/pod 1");
    assert!(has(&me1, "127.0.0.1", "login", "ok"), "{log:#?}");
    let claimed1 = format!("{l:?}/pod 1?");
    assert!(
        has(&claimed1, "127.0.0.30", "login refused", "401 "),
        "{log:#?}"
    );
    assert!(
        has(&claimed1, "127.0.0.30", "login refused", "429 "),
        "{log:#?}"
    );
    assert!(
        has(
            &format!("{l:?}/pod 2?"),
            "127.0.0.50",
            "login refused",
            "429 "
        ),
        "{log:#?}"
    );
    // The instructor's logins name no lab: found by their own sources.
    let all = audit("");
    let any =
        |who: &str, from: &str, what: &str, result: &str| audited(&all, who, from, what, result);
    assert!(any("instructor", "127.0.0.70", "login", "ok"), "{all:#?}");
    assert!(
        any("instructor?", "127.0.0.71", "login refused", "401 "),
        "{all:#?}"
    );
    assert!(has("instructor", "127.0.0.1", "handout", "ok"), "{log:#?}");
    assert!(has(&me1, "127.0.0.1", "logout", "ok"), "{log:#?}");
    assert!(!log.iter().any(|e| e["what"] == "reset"), "{log:#?}");

    // Pod 1's password leaked: once rotated, a session opened with the old
    // one ends at its next request, the old password no longer logs in,
    // the new one does.
    let (old, _) = server
        .login("127.0.0.60", &participant(l, 1, &pw(1)))
        .expect("pod 1 logs in");
    let pod1 = format!("/api/v1/labs/{l}/pods/1");
    assert_eq!(server.get(&pod1, Some(&old)).0, 200);
    noglab(&["credentials", "rotate", l, "--pod", "1"]).ok();
    let (code, _, body) = server.get(&pod1, Some(&old));
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("password was changed"), "{body}");
    assert_eq!(server.get(&pod1, Some(&old)).0, 401);
    assert_eq!(
        server.login("127.0.0.61", &participant(l, 1, &pw(1))),
        Err(401)
    );
    let new = passwords(&lab);
    let new1 = &new.iter().find(|(p, _)| *p == 1).expect("pod 1").1;
    assert_ne!(new1, &pw(1));
    let (fresh, _) = server
        .login("127.0.0.62", &participant(l, 1, new1))
        .expect("the new password logs in");
    assert_eq!(server.get(&pod1, Some(&fresh)).0, 200);
}

/// Whether `log` has a line of `who` from `from` doing `what`, whose
/// result starts with `result`.
fn audited(log: &[serde_json::Value], who: &str, from: &str, what: &str, result: &str) -> bool {
    log.iter().any(|e| {
        e["who"] == who
            && e["from"] == from
            && e["what"] == what
            && e["result"].as_str().is_some_and(|r| r.starts_with(result))
    })
}

/// The portal's audit log, the lines about lab `lab` (the tests' portals
/// share one state directory); every line for "".
fn audit(lab: &str) -> Vec<serde_json::Value> {
    let path = std::path::Path::new(&state_dir()).join("portal/audit.log");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .filter(|e| {
            lab.is_empty() || e["lab"] == lab || e["who"].as_str().is_some_and(|w| w.contains(lab))
        })
        .collect()
}

/// A port free now, for chromedriver.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A headless Chromium driven over WebDriver, stopped on drop.
struct Browser {
    driver: Child,
    port: u16,
}

impl Browser {
    /// Starts chromedriver, or `None` when Chromium is not installed
    /// (scripts/test.sh installs it).
    fn start(port: u16) -> Option<Browser> {
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let browser = Browser { driver, port };
        wait_for(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .expect("chromedriver listens");
        Some(browser)
    }

    async fn client(&self) -> fantoccini::Client {
        let caps: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "browserName": "chrome",
                "acceptInsecureCerts": true,
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                             "--window-size=1280,1000", "--ignore-certificate-errors"]
                }
            }))
            .expect("capabilities");
        fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Saves what the browser shows as `target/portal-screenshots/NAME.png`.
async fn screenshot(c: &fantoccini::Client, name: &str) {
    let dir = root().join("target/portal-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
}

/// Polls `check` every half second until it gives a value or `secs` pass.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(e) if std::time::Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

async fn text_of(c: &fantoccini::Client, css: &str) -> Result<String, String> {
    let el = c
        .find(fantoccini::Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?;
    el.text().await.map_err(|e| e.to_string())
}

/// Whether r1's `show bgp summary` on the screen has its session with
/// `peer` up: a number of prefixes where a down session shows its state.
fn session_up(screen: &str, peer: &str) -> bool {
    screen.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.first() == Some(&peer) && f.get(9).is_some_and(|s| s.parse::<u32>().is_ok())
    })
}

/// Whether a participant's vtysh runs in r1 of `pod`.
fn vtysh_of_lab_runs(lab: &Lab, pod: u32) -> bool {
    let out = lab.exec(pod, "r1", &["ps", "-eo", "user:20,comm"]);
    out.stdout
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["lab", "vtysh"])
}

#[test]
fn portal_in_a_browser_participant_terminal_and_instructor_board() {
    if skip() {
        return;
    }
    let lab = portal_lab("pweb", 8);
    lab.up(3);
    let pw = passwords(&lab);
    let pw2 = pw.iter().find(|(p, _)| *p == 2).expect("pod 2").1.clone();
    // Served by its folder: its guide too.
    let server = Server::start(&lab.dir.to_string_lossy());
    // The handout links each pod's card to the portal, lab and pod filled in.
    let handout = noglab(&[
        "handout",
        &lab.name,
        "--format",
        "csv",
        "--portal",
        &server.url,
    ])
    .ok()
    .stdout;
    let link2 = handout
        .lines()
        .find(|l| l.starts_with("2,"))
        .and_then(|l| l.rsplit(',').next())
        .unwrap_or_else(|| panic!("no pod 2 in the handout:\n{handout}"))
        .to_string();
    assert_eq!(
        link2,
        format!(
            "{}/?lab={}&pod=2",
            server.url.trim_end_matches('/'),
            lab.name
        ),
        "{handout}"
    );
    let Some(browser) = Browser::start(free_port()) else {
        panic!("chromedriver is not installed: apt-get install chromium chromium-driver (scripts/test.sh does)");
    };
    crate::docker::wait_for(Duration::from_secs(120), || {
        crate::docker::bgp_established(&lab, 2, "r1")
    })
    .expect("pod 2's BGP sessions come up");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        use fantoccini::Locator::Css;
        let c = browser.client().await;
        let l = lab.name.as_str();

        // The participant of pod 2 logs in from the handout's link.
        c.goto(&link2).await.expect("login page");
        // The form shows once the page has asked for a session and has none.
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Css("#login:not([hidden]) #f-password"))
            .await
            .expect("the login form")
            .send_keys(&pw2)
            .await
            .expect("typed");
        c.find(Css("#f-submit")).await.expect("button").click().await.expect("clicked");

        // r1, r2 and h1, healthy (Docker's first health probe may still be
        // due: the page is reloaded until it has run).
        eventually(90, "r1, r2 and h1 healthy", || async {
            let rows = c.find_all(Css("#nodes tbody tr")).await.map_err(|e| e.to_string())?;
            let mut seen = Vec::new();
            for r in rows {
                seen.push(r.text().await.map_err(|e| e.to_string())?);
            }
            let healthy = |n: &str| seen.iter().any(|t| t.starts_with(&format!("{n} ")) && t.contains("healthy") && !t.contains("unhealthy"));
            if ["h1", "r1", "r2"].iter().all(|n| healthy(n)) && seen.len() == 3 {
                Ok(())
            } else {
                c.refresh().await.map_err(|e| e.to_string())?;
                Err(format!("{seen:?}"))
            }
        })
        .await;
        // The lab's guide, rendered from its README.
        eventually(10, "the guide", || async {
            let h = text_of(&c, "#guide h1").await?;
            if h == "Two routers" { Ok(()) } else { Err(h) }
        })
        .await;
        screenshot(&c, "participant").await;

        // r1's terminal: vtysh as the participant, where the session is up.
        c.find(Css("#nodes tr[data-node=r1] .open-terminal")).await.expect("r1").click().await.expect("opened");
        let typing = c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Css(".terminal[data-node=r1] .xterm-helper-textarea"))
            .await
            .expect("a terminal");
        eventually(20, "vtysh's prompt", || async {
            let screen = text_of(&c, ".terminal[data-node=r1] .xterm-rows").await?;
            if screen.contains("r1#") { Ok(()) } else { Err(screen) }
        })
        .await;
        typing.send_keys("show bgp summary\u{E007}").await.expect("typed");
        eventually(20, "the BGP session up on r1's screen", || async {
            let screen = text_of(&c, ".terminal[data-node=r1] .xterm-rows").await?;
            if session_up(&screen, "100.64.2.1") { Ok(()) } else { Err(screen) }
        })
        .await;
        assert!(vtysh_of_lab_runs(&lab, 2), "the terminal runs vtysh as lab");
        screenshot(&c, "terminal").await;

        // Closing the terminal ends its session in the node.
        c.find(Css(".terminal[data-node=r1] .close")).await.expect("close").click().await.expect("closed");
        eventually(20, "vtysh gone once its WebSocket closed", || async {
            if vtysh_of_lab_runs(&lab, 2) { Err("vtysh still runs".to_string()) } else { Ok(()) }
        })
        .await;

        // Pod 3 by editing the address: no page, no terminal.
        c.goto(&format!("{}/#/labs/{l}/pods/3", server.url)).await.expect("pod 3");
        eventually(10, "pod 3 refused", || async {
            let e = text_of(&c, "#error").await?;
            if e == "no such pod" { Ok(()) } else { Err(e) }
        })
        .await;
        let rows = c.find_all(Css("#nodes tbody tr")).await.expect("rows");
        assert!(rows.is_empty(), "pod 3's nodes shown");
        let opened = c
            .execute_async(
                &format!(
                    "const done = arguments[arguments.length - 1];
                     const ws = new WebSocket(`wss://${{location.host}}/api/v1/labs/{l}/pods/3/nodes/r1/terminal`);
                     ws.onopen = () => done('open');
                     ws.onerror = () => done('refused');"
                ),
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(opened, serde_json::json!("refused"));
        screenshot(&c, "pod-3-refused").await;

        // The instructor's board: pod 2's BGP cell red once a session is
        // shut there, green again after a reset from the page.
        c.delete_all_cookies().await.expect("logged out");
        c.goto(&server.url).await.expect("login page");
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Css("#login:not([hidden]) #f-token"))
            .await
            .expect("the login form")
            .send_keys(&server.token)
            .await
            .expect("typed");
        c.find(Css("#f-token-submit")).await.expect("button").click().await.expect("clicked");
        let cell = "#board tr[data-pod='2'] td[data-check=bgp-v4]";
        eventually(60, "pod 2's BGP cell green", || async {
            let t = text_of(&c, cell).await?;
            if t == "pass" { Ok(()) } else { Err(t) }
        })
        .await;
        crate::support::noglab(&[
            "exec", l, "--pod", "2", "r1", "--", "vtysh", "-c", "configure terminal",
            "-c", "router bgp 65102", "-c", "neighbor 100.64.2.1 shutdown",
        ])
        .ok();
        eventually(60, "pod 2's BGP cell red", || async {
            let t = text_of(&c, cell).await?;
            if t == "fail" { Ok(()) } else { Err(t) }
        })
        .await;
        let class = c.find(Css(cell)).await.expect("cell").attr("class").await.expect("class");
        assert_eq!(class.as_deref(), Some("fail"));
        let pod1 = text_of(&c, "#board tr[data-pod='1'] td[data-check=bgp-v4]").await.expect("pod 1");
        assert_eq!(pod1, "pass", "only pod 2 broke");
        screenshot(&c, "board-red").await;
        c.find(Css("#board tr[data-pod='2'] .reset")).await.expect("reset").click().await.expect("clicked");
        c.accept_alert().await.expect("confirmed");
        eventually(180, "pod 2's BGP cell green after the reset", || async {
            let t = text_of(&c, cell).await?;
            if t == "pass" { Ok(()) } else { Err(t) }
        })
        .await;
        screenshot(&c, "board-green").await;
        c.close().await.expect("browser closed");
    });

    // The audit log: pod 2's participant opened r1's terminal, the
    // instructor reset pod 2.
    let log = audit(&lab.name);
    let pod2 = format!("{}/pod 2", lab.name);
    assert!(
        log.iter().any(|e| e["who"] == pod2.as_str()
            && e["what"] == "terminal"
            && e["node"] == "r1"
            && e["result"] == "ok"),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|e| e["who"] == "instructor"
            && e["what"] == "reset"
            && e["pod"] == 2
            && e["result"] == "ok"),
        "{log:#?}"
    );
}
