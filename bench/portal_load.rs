//! noglab-portal-load: a room's participants on the portal at once, with
//! figures. It serves a running lab (`noglab serve`), logs in N
//! participants with their handout's credentials (two per pod by default,
//! each on a node of its own), opens each one's terminal over the
//! portal's WebSocket as the page does, and has each type a command a
//! character at a time every few seconds, as people do. Meanwhile the
//! instructor's board listens for its live refreshes.
//!
//! It prints the keystroke-to-echo latency (from a character sent to the
//! first output that comes back: readline's echo), the command's round
//! trip (Enter to the prompt back), the portal's memory (VmRSS sampled
//! every second, and VmHWM at the end) and the board's refresh times
//! (`seconds` of every board the events carried).
//!
//! It trusts the portal's own self-signed certificate (the file `serve`
//! names), nothing else. Run it as root beside the lab, on a machine with
//! nothing else running; it stops the portal it started when it ends.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
#[command(
    name = "noglab-portal-load",
    about = "Participants' terminals and the instructor's board on the portal at once, with figures"
)]
struct Args {
    /// The running lab to serve (by name, as `noglab status` shows it).
    lab: String,
    /// Participants logged in at once, each with a terminal open.
    #[arg(long, default_value_t = 60)]
    sessions: usize,
    /// The nodes the participants of a pod open, in turn: the first
    /// participant of each pod the first node, and so on.
    #[arg(long, value_delimiter = ',', default_value = "border,core")]
    nodes: Vec<String>,
    /// What each participant types, a character at a time.
    #[arg(long, default_value = "show bgp summary")]
    command: String,
    /// Seconds between two commands of one participant.
    #[arg(long, default_value_t = 4.0)]
    every: f64,
    /// Milliseconds between two keystrokes (a fast typist: 80).
    #[arg(long, default_value_t = 80)]
    keystroke_ms: u64,
    /// Seconds the participants type for, once every terminal is open.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Print what the first participant's first command showed, to see
    /// that the terminal runs what it should.
    #[arg(long)]
    show: bool,
    /// The noglab binary (default: `noglab` beside this one).
    #[arg(long)]
    noglab: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the runtime")?;
    runtime.block_on(run(args))
}

/// A running `noglab serve`, stopped on drop.
struct Server {
    child: Child,
    pid: u32,
    host: String,
    port: u16,
    cert: PathBuf,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(noglab: &PathBuf, lab: &str) -> Result<Server> {
    let mut child = Command::new(noglab)
        .args(["serve", lab, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("failed to run {}", noglab.display()))?;
    let pid = child.id();
    let out = child.stdout.take().context("serve's output")?;
    let mut lines = BufReader::new(out).lines();
    let (mut at, mut cert, mut token) = (String::new(), None, String::new());
    for line in lines.by_ref() {
        let line = line?;
        if let Some((_, a)) = line.split_once(" at https://") {
            at = a.trim_end_matches('/').to_string();
        }
        if let Some(c) = line.strip_prefix("certificate: ") {
            cert = Some(PathBuf::from(c));
        }
        if let Some(t) = line.strip_prefix("instructor token: ") {
            token = t.to_string();
            break;
        }
    }
    // The rest of its output is read too: a closed pipe would end it.
    std::thread::spawn(move || lines.for_each(drop));
    let (host, port) = at
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("serve printed no address"))?;
    let server = Server {
        child,
        pid,
        host: host.to_string(),
        port: port.parse().context("serve's port")?,
        cert: cert.ok_or_else(|| anyhow!("serve printed no certificate"))?,
        token,
    };
    if server.token.is_empty() {
        bail!("serve printed no instructor token");
    }
    Ok(server)
}

/// What it takes to reach the portal over TLS, trusting its certificate.
#[derive(Clone)]
struct Portal {
    host: String,
    port: u16,
    tls: TlsConnector,
}

impl Portal {
    fn new(server: &Server) -> Result<Portal> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&server.cert)? {
            roots.add(cert?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Portal {
            host: server.host.clone(),
            port: server.port,
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    async fn connect(&self) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(self.host.clone())?;
        Ok(self.tls.connect(name, tcp).await?)
    }

    /// One request on a connection of its own: the status, the
    /// response's head and body.
    async fn request(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<&str>,
    ) -> Result<(u16, String, String)> {
        let mut tls = self.connect().await?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n",
            self.host, self.port
        );
        if let Some(c) = cookie {
            req.push_str(&format!("Cookie: noglab_session={c}\r\n"));
        }
        let body = body.unwrap_or_default();
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        tls.write_all(req.as_bytes()).await?;
        let mut text = Vec::new();
        // The server closes after its answer; a TLS close that is not
        // clean still leaves the whole answer read.
        let _ = tls.read_to_end(&mut text).await;
        let text = String::from_utf8_lossy(&text).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok((code, head.to_string(), body.to_string()))
    }

    /// Logs in with `body`: the session cookie's value.
    async fn login(&self, body: &str) -> Result<String> {
        let (code, head, text) = self
            .request("POST", "/api/v1/login", None, Some(body))
            .await?;
        if code != 200 {
            bail!("login: {code} {text}");
        }
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| {
                v.trim()
                    .strip_prefix("noglab_session=")
                    .and_then(|v| v.split(';').next())
                    .map(str::to_string)
            })
            .ok_or_else(|| anyhow!("login set no cookie"))
    }
}

/// A participant's credentials from the handout.
#[derive(Debug, Clone)]
struct Login {
    pod: u32,
    user: String,
    password: String,
}

fn handout(noglab: &PathBuf, lab: &str) -> Result<Vec<Login>> {
    let out = Command::new(noglab)
        .args(["handout", lab, "--format", "csv"])
        .output()?;
    if !out.status.success() {
        bail!(
            "noglab handout: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8(out.stdout)?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| {
        head.iter()
            .position(|h| *h == name)
            .ok_or_else(|| anyhow!("the handout has no column {name}"))
    };
    let (pod, user, password) = (col("pod")?, col("user")?, col("password")?);
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Ok(Login {
                pod: f.get(pod).context("pod")?.parse()?,
                user: f.get(user).context("user")?.to_string(),
                password: f.get(password).context("password")?.to_string(),
            })
        })
        .collect()
}

/// What one participant measured.
#[derive(Debug, Default)]
struct Typed {
    echoes: Vec<Duration>,
    commands: Vec<Duration>,
    /// Keystrokes whose echo never came (within 5 s).
    lost: usize,
}

/// Waits for output until none has come for `quiet`, or `limit` passed.
async fn drain<S>(ws: &mut S, quiet: Duration, limit: Duration) -> Result<String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let end = Instant::now() + limit;
    let mut seen = String::new();
    while Instant::now() < end {
        match tokio::time::timeout(quiet, ws.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Binary(b)))) => seen.push_str(&String::from_utf8_lossy(&b)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => bail!("the terminal closed"),
        }
    }
    Ok(seen)
}

/// Waits for output ending in a prompt (`# ` or `> `, vtysh's and a
/// shell's): what came.
async fn prompt<S>(ws: &mut S, limit: Duration) -> Result<String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let end = Instant::now() + limit;
    let mut seen = String::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => bail!("no prompt within {limit:?}: {:?}", tail(&seen)),
            Ok(Some(Ok(Message::Binary(b)))) => {
                seen.push_str(&String::from_utf8_lossy(&b));
                let t = seen.trim_end_matches(['\r', '\n']);
                if t.ends_with("# ") || t.ends_with("> ") {
                    return Ok(seen);
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => bail!("the terminal closed"),
        }
    }
}

fn tail(s: &str) -> String {
    s.chars()
        .rev()
        .take(80)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

/// One participant: logs in, opens its node's terminal, and types until
/// `until`, starting at `offset` into each period.
async fn participant(
    portal: Portal,
    lab: String,
    login: Login,
    node: String,
    args: Arc<Args>,
    opened: Arc<tokio::sync::Barrier>,
    offset: Duration,
) -> Result<Typed> {
    let body = serde_json::json!({
        "lab": lab, "pod": login.pod, "user": login.user, "password": login.password,
    })
    .to_string();
    let opening = async {
        let cookie = portal.login(&body).await?;
        let tls = portal.connect().await?;
        let url = format!(
            "wss://{}:{}/api/v1/labs/{lab}/pods/{}/nodes/{node}/terminal",
            portal.host, portal.port, login.pod
        );
        let mut req = url.into_client_request()?;
        req.headers_mut()
            .insert("Cookie", format!("noglab_session={cookie}").parse()?);
        req.headers_mut().insert(
            "Origin",
            format!("https://{}:{}", portal.host, portal.port).parse()?,
        );
        let (ws, _) = tokio_tungstenite::client_async(req, tls)
            .await
            .with_context(|| format!("pod {} node {node}: the terminal", login.pod))?;
        let (mut tx, mut rx) = ws.split();
        tx.send(Message::text(r#"{"cols":120,"rows":40}"#)).await?;
        // The shell's banner and prompt; Enter once for a fresh prompt.
        drain(&mut rx, Duration::from_millis(800), Duration::from_secs(20)).await?;
        tx.send(Message::binary(b"\r".to_vec())).await?;
        prompt(&mut rx, Duration::from_secs(20))
            .await
            .with_context(|| format!("pod {} node {node}", login.pod))?;
        Ok::<_, anyhow::Error>((tx, rx))
    };
    let opened_now = opening.await;
    // Every participant waits for the others, opened or not, so that the
    // typing starts together.
    opened.wait().await;
    let (mut tx, mut rx) = opened_now?;
    let until = Instant::now() + Duration::from_secs(args.duration);
    let mut typed = Typed::default();
    // The first participant is the one at no offset.
    let show = args.show && offset.is_zero();
    tokio::time::sleep(offset).await;
    let every = Duration::from_secs_f64(args.every);
    while Instant::now() < until {
        let started = Instant::now();
        for c in args.command.bytes() {
            let sent = Instant::now();
            tx.send(Message::binary(vec![c])).await?;
            match tokio::time::timeout(Duration::from_secs(5), rx.next()).await {
                Ok(Some(Ok(Message::Binary(_)))) => typed.echoes.push(sent.elapsed()),
                Ok(Some(Ok(_))) => typed.echoes.push(sent.elapsed()),
                Ok(Some(Err(e))) => return Err(e.into()),
                Ok(None) => bail!("pod {} node {node}: the terminal closed", login.pod),
                Err(_) => typed.lost += 1,
            }
            tokio::time::sleep(Duration::from_millis(args.keystroke_ms)).await;
        }
        // What is left of the echoes (a keystroke may echo in two
        // messages) goes before Enter is timed.
        drain(&mut rx, Duration::from_millis(20), Duration::from_secs(1)).await?;
        let enter = Instant::now();
        tx.send(Message::binary(b"\r".to_vec())).await?;
        let shown = prompt(&mut rx, Duration::from_secs(30))
            .await
            .with_context(|| format!("pod {} node {node}: the command", login.pod))?;
        typed.commands.push(enter.elapsed());
        if show && typed.commands.len() == 1 {
            eprintln!("pod {} node {node} showed:\n{shown}", login.pod);
        }
        let next = started + every;
        tokio::time::sleep(next.saturating_duration_since(Instant::now())).await;
    }
    let _ = tx.send(Message::Close(None)).await;
    Ok(typed)
}

/// The instructor's board events: the `seconds` of every board until
/// `stop` is set.
async fn board(
    portal: Portal,
    lab: String,
    token: String,
    stop: Arc<tokio::sync::Notify>,
) -> Result<Vec<f64>> {
    let cookie = portal
        .login(&serde_json::json!({ "token": token }).to_string())
        .await?;
    let mut tls = portal.connect().await?;
    let req = format!(
        "GET /api/v1/labs/{lab}/board/events HTTP/1.1\r\nHost: {}:{}\r\nCookie: noglab_session={cookie}\r\nAccept: text/event-stream\r\n\r\n",
        portal.host, portal.port
    );
    tls.write_all(req.as_bytes()).await?;
    let mut seconds = Vec::new();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let read = async {
        loop {
            let n = tls.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<_, anyhow::Error>(());
            }
            buf.extend_from_slice(&chunk[..n]);
            // Each board is one `data:` line of JSON; chunked encoding
            // splits lines at most between reads, so whole lines only.
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                if let Some(json) = line.trim().strip_prefix("data:") {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(json.trim()) {
                        if let Some(s) = v["seconds"].as_f64() {
                            eprintln!("board refreshed in {s:.2} s");
                            seconds.push(s);
                        }
                    }
                }
            }
        }
    };
    tokio::select! {
        r = read => r?,
        _ = stop.notified() => {}
    }
    Ok(seconds)
}

/// VmRSS and VmHWM of a process, in KiB.
fn memory_kb(pid: u32) -> (Option<u64>, Option<u64>) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn run(args: Args) -> Result<()> {
    let noglab = match &args.noglab {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("noglab"))
            .context("no folder for the noglab binary")?,
    };
    if args.nodes.is_empty() || args.sessions == 0 {
        bail!("--sessions and --nodes must name at least one");
    }
    let logins = handout(&noglab, &args.lab)?;
    if logins.is_empty() {
        bail!("the handout of {} lists no pod", args.lab);
    }
    let server = start_server(&noglab, &args.lab)?;
    let portal = Portal::new(&server)?;
    let args = Arc::new(args);
    eprintln!(
        "portal at https://{}:{} (pid {}), {} pods in the handout",
        server.host,
        server.port,
        server.pid,
        logins.len()
    );

    let stop_board = Arc::new(tokio::sync::Notify::new());
    let board_task = tokio::spawn(board(
        portal.clone(),
        args.lab.clone(),
        server.token.clone(),
        stop_board.clone(),
    ));

    // Memory, every second, for as long as the run lasts.
    let pid = server.pid;
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut rss = Vec::new();
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                if let (Some(r), _) = memory_kb(pid) {
                    rss.push(r);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            rss
        })
    };

    let opened = Arc::new(tokio::sync::Barrier::new(args.sessions + 1));
    let open_start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.sessions {
        let login = logins[i % logins.len()].clone();
        let node = args.nodes[(i / logins.len()) % args.nodes.len()].clone();
        // Spread over the period, so that not everyone types at once.
        let offset = Duration::from_secs_f64(args.every * i as f64 / args.sessions as f64);
        tasks.push(tokio::spawn(participant(
            portal.clone(),
            args.lab.clone(),
            login,
            node,
            args.clone(),
            opened.clone(),
            offset,
        )));
    }
    opened.wait().await;
    let opened_in = open_start.elapsed();
    eprintln!(
        "{} terminals opened in {:.1} s; typing for {} s",
        args.sessions,
        opened_in.as_secs_f64(),
        args.duration
    );
    let (_, hwm_open) = memory_kb(pid);

    let mut echoes = Vec::new();
    let mut commands = Vec::new();
    let (mut lost, mut failed) = (0, Vec::new());
    for t in tasks {
        match t.await? {
            Ok(typed) => {
                echoes.extend(typed.echoes);
                commands.extend(typed.commands);
                lost += typed.lost;
            }
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    stop_board.notify_one();
    let boards = board_task.await??;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let rss = sampler.await?;
    let (rss_end, hwm) = memory_kb(pid);
    drop(server);

    echoes.sort();
    commands.sort();
    let mb = |kb: u64| kb as f64 / 1024.0;
    println!(
        "portal load: lab {}, {} participants ({} pods, nodes {}), typing {:?} every {} s for {} s",
        args.lab,
        args.sessions,
        logins.len().min(args.sessions),
        args.nodes.join(","),
        args.command,
        args.every,
        args.duration
    );
    println!(
        "terminals opened (logins and WebSockets): {:.1} s",
        opened_in.as_secs_f64()
    );
    println!(
        "keystroke to echo: {} keystrokes, median {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} without echo",
        echoes.len(),
        percentile(&echoes, 0.5),
        percentile(&echoes, 0.99),
        percentile(&echoes, 1.0),
        lost
    );
    println!(
        "command (Enter to prompt): {} commands, median {:.1} ms, p99 {:.1} ms",
        commands.len(),
        percentile(&commands, 0.5),
        percentile(&commands, 0.99)
    );
    println!(
        "portal memory: VmRSS peak sampled {:.1} MB, at the end {:.1} MB; VmHWM {:.1} MB (after opening {:.1} MB)",
        rss.iter().copied().max().map_or(f64::NAN, mb),
        rss_end.map_or(f64::NAN, mb),
        hwm.map_or(f64::NAN, mb),
        hwm_open.map_or(f64::NAN, mb)
    );
    let mut sorted = boards.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "board refreshes during the run: {} ({}), max {:.2} s",
        boards.len(),
        boards
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(" "),
        sorted.last().copied().unwrap_or(f64::NAN)
    );
    if !failed.is_empty() {
        for f in &failed {
            eprintln!("participant failed: {f}");
        }
        bail!("{} of {} participants failed", failed.len(), args.sessions);
    }
    Ok(())
}
