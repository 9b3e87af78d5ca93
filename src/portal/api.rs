//! The portal's routes: its pages, and the JSON API under `/api/v1` that
//! the pages use and instructors may script, documented by the OpenAPI
//! document generated here from the handlers.
//!
//! Every route that names a pod checks, on the server, that the session
//! reaches it: a participant asking for another pod gets 404, as for a
//! pod that does not exist, never its data.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::auth::{self, Limiter, Role, Session, Sessions};
use super::{assets, Peer, Shared};
use crate::commands::check::{self as board, Status};
use crate::engine::spread::Spread;
use crate::engine::{Engine, Scope};
use crate::plan::{labels, pod_label, Plan, ACCESS_NODE};

/// The session cookie's name.
pub const COOKIE: &str = "noglab_session";
/// The header a page sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The largest request body the API takes: a login is a few hundred bytes.
pub const MAX_BODY: usize = 16 * 1024;
/// A pod's checks run at most once in this time, however often asked.
pub const CHECKS_EVERY: Duration = Duration::from_secs(5);

/// Held while an action on one pod runs.
type PodSlot = Arc<tokio::sync::Mutex<()>>;

/// What the portal serves and remembers.
pub struct Portal {
    pub engine: Spread,
    /// The labs served, with the plan each was brought up with.
    pub plans: BTreeMap<String, Arc<Plan>>,
    /// The folder of each lab served by its folder: its guide is there.
    pub guides: BTreeMap<String, std::path::PathBuf>,
    /// Each lab's latest board, kept fresh by `board::refresh`.
    pub boards: BTreeMap<String, super::board::Latest>,
    token: String,
    sessions: Mutex<Sessions>,
    by_source: Mutex<Limiter>,
    by_pod: Mutex<Limiter>,
    checks_ran: Mutex<HashMap<(String, u32), Instant>>,
    /// One action at a time per pod, whoever asks.
    pod_actions: Mutex<HashMap<(String, u32), PodSlot>>,
    /// Execs in flight for a board.
    pub parallel: usize,
    /// Who did what (see `portal::audit`).
    pub audit: super::audit::AuditLog,
}

impl Portal {
    pub fn new(
        engine: Spread,
        plans: BTreeMap<String, Arc<Plan>>,
        guides: BTreeMap<String, std::path::PathBuf>,
        token: String,
        audit: super::audit::AuditLog,
    ) -> Self {
        let boards = plans
            .keys()
            .map(|lab| (lab.clone(), tokio::sync::watch::Sender::new(None)))
            .collect();
        Portal {
            engine,
            plans,
            guides,
            boards,
            token,
            sessions: Mutex::default(),
            by_source: Mutex::new(Limiter::new(auth::MAX_FAILURES_PER_SOURCE)),
            by_pod: Mutex::new(Limiter::new(auth::MAX_FAILURES_PER_POD)),
            checks_ran: Mutex::default(),
            pod_actions: Mutex::default(),
            parallel: board::default_parallel(),
            audit,
        }
    }
}

impl Portal {
    /// Writes one line of the audit log.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        who: String,
        from: std::net::IpAddr,
        what: &str,
        lab: Option<&str>,
        pod: Option<u32>,
        node: Option<&str>,
        result: &ApiResult<impl Sized>,
    ) {
        self.audit.write(&super::audit::Entry {
            at: super::audit::now(),
            who,
            from: from.to_string(),
            what,
            lab,
            pod,
            node,
            result: match result {
                Ok(_) => "ok".into(),
                Err(ApiError(status, message)) => format!("{} {message}", status.as_u16()),
            },
        });
    }
}

/// Locks a portal table; one poisoned by a panic elsewhere is still usable
/// (each holds plain data, never half-updated across an await).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An API error: its status and a message for the page.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

fn err(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

/// A request that says it is larger than the server takes is refused
/// before any of its body is read: a client that asked first (`Expect:
/// 100-continue`) never sends it. The body limit above still holds for a
/// body that does not say its length.
async fn refuse_declared_too_large(
    req: axum::extract::Request,
) -> Result<axum::extract::Request, ApiError> {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > MAX_BODY as u64 => Err(err(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a request may carry {MAX_BODY} bytes at most"),
        )),
        _ => Ok(req),
    }
}

fn not_found() -> ApiError {
    err(StatusCode::NOT_FOUND, "no such pod")
}

fn engine_error(e: anyhow::Error) -> ApiError {
    err(StatusCode::BAD_GATEWAY, format!("{e:#}"))
}

type ApiResult<T> = Result<T, ApiError>;

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

impl Portal {
    fn session(&self, headers: &HeaderMap) -> ApiResult<Session> {
        let id =
            cookie_value(headers).ok_or_else(|| err(StatusCode::UNAUTHORIZED, "log in first"))?;
        let session = lock(&self.sessions)
            .get(id, Instant::now())
            .ok_or_else(|| {
                err(
                    StatusCode::UNAUTHORIZED,
                    "your session has ended: log in again",
                )
            })?;
        // A pod whose password was rotated (it leaked) keeps no session
        // opened with the old one.
        if let Role::Participant { lab, pod } = &session.role {
            let current = crate::credentials::load(lab)
                .ok()
                .and_then(|c| c.pods.get(pod).map(|p| p.password.clone()));
            if !current.is_some_and(|p| auth::same_secret(&p, &session.password)) {
                lock(&self.sessions).close(id);
                return Err(err(
                    StatusCode::UNAUTHORIZED,
                    "your pod's password was changed: log in with the new one",
                ));
            }
        }
        Ok(session)
    }

    /// The session, when it reaches pod `pod` of `lab` and that pod exists.
    fn pod_session(
        &self,
        headers: &HeaderMap,
        lab: &str,
        pod: u32,
    ) -> ApiResult<(Session, Arc<Plan>)> {
        let session = self.session(headers)?;
        if !session.reaches(lab, pod) {
            return Err(not_found());
        }
        let plan = self.plans.get(lab).ok_or_else(not_found)?;
        if !plan.pod_plans.contains_key(&pod) {
            return Err(not_found());
        }
        Ok((session, plan.clone()))
    }

    fn instructor(&self, headers: &HeaderMap, lab: &str) -> ApiResult<(Session, Arc<Plan>)> {
        let session = self.session(headers)?;
        if !session.is_instructor() {
            return Err(err(StatusCode::FORBIDDEN, "for the instructor only"));
        }
        let plan = self
            .plans
            .get(lab)
            .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such lab"))?;
        Ok((session, plan.clone()))
    }
}

/// Refuses a state change whose page did not send the session's CSRF token.
fn require_csrf(session: &Session, headers: &HeaderMap) -> ApiResult<()> {
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth::same_secret(sent, &session.csrf) {
        Ok(())
    } else {
        Err(err(
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token: reload the page",
        ))
    }
}

/// A login: a participant's lab, pod, user and password (from the
/// handout), or the instructor's token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub lab: Option<String>,
    pub pod: Option<u32>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
}

/// Who is logged in, and the token to send in `X-CSRF-Token` with every
/// state change.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// `participant` or `instructor`.
    pub role: String,
    pub lab: Option<String>,
    pub pod: Option<u32>,
    /// The labs this session may open.
    pub labs: Vec<String>,
    pub csrf: String,
}

impl Portal {
    fn view(&self, s: &Session) -> SessionView {
        match &s.role {
            Role::Participant { lab, pod } => SessionView {
                role: "participant".into(),
                lab: Some(lab.clone()),
                pod: Some(*pod),
                labs: vec![lab.clone()],
                csrf: s.csrf.clone(),
            },
            Role::Instructor => SessionView {
                role: "instructor".into(),
                lab: None,
                pod: None,
                labs: self.plans.keys().cloned().collect(),
                csrf: s.csrf.clone(),
            },
        }
    }

    /// Who the login is for, when its secret is right; failures count
    /// against the source and the pod.
    fn check_login(&self, req: &LoginRequest, source: &str) -> ApiResult<Role> {
        let now = Instant::now();
        let pod_key = match (&req.lab, req.pod) {
            (Some(lab), Some(pod)) => Some(format!("{lab}/{pod}")),
            _ => None,
        };
        let locked = lock(&self.by_source).locked(source, now).or_else(|| {
            pod_key
                .as_deref()
                .and_then(|k| lock(&self.by_pod).locked(k, now))
        });
        if let Some(left) = locked {
            return Err(err(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed logins: try again in {} minutes",
                    left.as_secs().div_ceil(60)
                ),
            ));
        }
        let role = self.verify(req);
        if role.is_none() {
            lock(&self.by_source).fail(source, now);
            if let Some(k) = &pod_key {
                lock(&self.by_pod).fail(k, now);
            }
        }
        role.ok_or_else(|| err(StatusCode::UNAUTHORIZED, "wrong lab, pod, user or password"))
    }

    fn verify(&self, req: &LoginRequest) -> Option<Role> {
        if let Some(token) = &req.token {
            return auth::same_secret(token, &self.token).then_some(Role::Instructor);
        }
        let (lab, pod) = (req.lab.as_deref()?, req.pod?);
        let plan = self.plans.get(lab)?;
        plan.pod_plans.get(&pod)?;
        // Read at each login: `credentials rotate` takes effect at once,
        // here as on the access point.
        let creds = crate::credentials::load(lab).ok()?;
        let password = &creds.pods.get(&pod)?.password;
        let user_ok = auth::same_secret(req.user.as_deref()?, crate::credentials::USER);
        let password_ok = auth::same_secret(req.password.as_deref()?, password);
        (user_ok && password_ok).then(|| Role::Participant {
            lab: lab.to_string(),
            pod,
        })
    }
}

fn session_cookie(id: &str, max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("noglab_session=; Path=/; Max-Age=0"))
}

/// Log in: sets the session cookie.
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = SessionView),
        (status = 401, description = "Wrong credentials", body = ErrorBody),
        (status = 413, description = "Request too large"),
        (status = 429, description = "Too many failed logins from this source or for this pod", body = ErrorBody),
    ))]
async fn login(
    State(portal): State<Shared>,
    Extension(Peer(peer)): Extension<Peer>,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let checked = portal.check_login(&req, &peer.ip().to_string());
    let (who, what) = match &checked {
        Ok(role) => (super::audit::who(role), "login"),
        Err(_) => (claimed(&req), "login refused"),
    };
    portal.record(
        who,
        peer.ip(),
        what,
        req.lab.as_deref(),
        req.pod,
        None,
        &checked,
    );
    let role = checked?;
    let password = match role {
        Role::Participant { .. } => req.password.as_deref().unwrap_or_default(),
        Role::Instructor => "",
    };
    let (id, session) = lock(&portal.sessions).open(role, password, Instant::now());
    let mut resp = Json(portal.view(&session)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&id, auth::SESSION_LIFETIME.as_secs()),
    );
    Ok(resp)
}

/// Who a login said it was: the instructor when it gave a token, else
/// the lab and pod it named (bounded: it is the client's text).
fn claimed(req: &LoginRequest) -> String {
    if req.token.is_some() {
        return "instructor?".into();
    }
    let lab: String = req.lab.as_deref().unwrap_or("?").chars().take(64).collect();
    match req.pod {
        Some(pod) => format!("{lab:?}/pod {pod}?"),
        None => format!("{lab:?}?"),
    }
}

/// The session of this cookie.
#[utoipa::path(get, path = "/api/v1/session",
    responses((status = 200, body = SessionView), (status = 401, body = ErrorBody)))]
async fn session(State(portal): State<Shared>, headers: HeaderMap) -> ApiResult<Json<SessionView>> {
    let s = portal.session(&headers)?;
    Ok(Json(portal.view(&s)))
}

/// Log out: ends the session.
#[utoipa::path(post, path = "/api/v1/logout",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn logout(
    State(portal): State<Shared>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = portal.session(&headers)?;
    require_csrf(&s, &headers)?;
    portal.record(
        super::audit::who(&s.role),
        peer.ip(),
        "logout",
        None,
        None,
        None,
        &Ok(()),
    );
    if let Some(id) = cookie_value(&headers) {
        lock(&portal.sessions).close(id);
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    Ok(resp)
}

/// A node of a pod as the engine sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    pub node: String,
    pub kind: String,
    /// Docker's state: running, exited, ...
    pub state: String,
    /// healthy, unhealthy, starting, unknown, or `-` when not running.
    pub health: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PodView {
    pub lab: String,
    pub pod: u32,
    pub nodes: Vec<NodeView>,
}

/// A pod's nodes, from the engine, without its access point (plumbing).
pub async fn pod_nodes(engine: &Spread, lab: &str, pod: u32) -> anyhow::Result<Vec<NodeView>> {
    let pod_s = pod_label(pod);
    let mut nodes: Vec<NodeView> = engine
        .containers(Scope::Lab(lab))
        .await?
        .into_iter()
        .filter(|c| c.label(labels::POD) == Some(pod_s.as_str()))
        .filter(|c| c.label(labels::NODE).is_some_and(|n| n != ACCESS_NODE))
        .map(|c| NodeView {
            node: c.label(labels::NODE).unwrap_or_default().to_string(),
            kind: c.label(labels::KIND).unwrap_or_default().to_string(),
            health: c.health().to_string(),
            state: c.state,
        })
        .collect();
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(nodes)
}

/// A pod's nodes with their state and health.
#[utoipa::path(get, path = "/api/v1/labs/{lab}/pods/{pod}",
    params(("lab" = String, Path), ("pod" = u32, Path)),
    responses((status = 200, body = PodView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn pod(
    State(portal): State<Shared>,
    headers: HeaderMap,
    Path((lab, pod)): Path<(String, u32)>,
) -> ApiResult<Json<PodView>> {
    portal.pod_session(&headers, &lab, pod)?;
    let nodes = pod_nodes(&portal.engine, &lab, pod)
        .await
        .map_err(engine_error)?;
    Ok(Json(PodView { lab, pod, nodes }))
}

/// One check of a pod, as the board shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckView {
    pub id: String,
    pub title: String,
    pub step: u32,
    /// pass, fail or error.
    pub status: String,
    /// What did not hold, or why the check could not run.
    pub detail: String,
    /// The end of the command's output, for failures.
    pub output: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChecksView {
    pub lab: String,
    pub pod: u32,
    pub checks: Vec<CheckView>,
}

/// Runs the checks of `pods` once each (no waiting for convergence: the
/// pod as it is now), in the board's order.
pub async fn run_checks(
    portal: &Portal,
    plan: &Plan,
    pods: &[u32],
) -> BTreeMap<u32, Vec<CheckView>> {
    let work: Vec<(u32, crate::plan::checks::CheckSpec)> = pods
        .iter()
        .filter_map(|p| plan.pod_plans.get(p))
        .flat_map(|pp| pp.checks.iter().map(move |c| (pp.pod, c.clone())))
        .collect();
    let outcomes = board::run_all(&portal.engine, &work, false, portal.parallel).await;
    let mut out: BTreeMap<u32, Vec<CheckView>> = pods.iter().map(|p| (*p, Vec::new())).collect();
    for (pod, spec) in &work {
        let Some(o) = outcomes.iter().find(|o| o.pod == *pod && o.id == spec.id) else {
            continue;
        };
        out.entry(*pod).or_default().push(CheckView {
            id: spec.id.clone(),
            title: spec.title.clone(),
            step: spec.step,
            status: match o.status {
                Status::Pass => "pass",
                Status::Fail => "fail",
                Status::Error => "error",
            }
            .into(),
            detail: o.detail.clone(),
            output: o.output.clone(),
        });
    }
    out
}

/// A pod's checks, run now; at most once every few seconds per pod.
#[utoipa::path(get, path = "/api/v1/labs/{lab}/pods/{pod}/checks",
    params(("lab" = String, Path), ("pod" = u32, Path)),
    responses((status = 200, body = ChecksView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn checks(
    State(portal): State<Shared>,
    headers: HeaderMap,
    Path((lab, pod)): Path<(String, u32)>,
) -> ApiResult<Json<ChecksView>> {
    let (_, plan) = portal.pod_session(&headers, &lab, pod)?;
    {
        let now = Instant::now();
        let mut ran = lock(&portal.checks_ran);
        let key = (lab.clone(), pod);
        if let Some(last) = ran.get(&key) {
            let since = now.saturating_duration_since(*last);
            if since < CHECKS_EVERY {
                return Err(err(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "the checks of pod {pod} ran {}s ago: try again in a few seconds",
                        since.as_secs()
                    ),
                ));
            }
        }
        ran.insert(key, now);
    }
    let mut by_pod = run_checks(&portal, &plan, &[pod]).await;
    let checks = by_pod.remove(&pod).unwrap_or_default();
    Ok(Json(ChecksView { lab, pod, checks }))
}

/// A column of the board.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Column {
    pub id: String,
    pub title: String,
    pub step: u32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BoardRow {
    pub pod: u32,
    pub checks: Vec<CheckView>,
}

/// The room: every pod's checks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BoardView {
    pub lab: String,
    pub columns: Vec<Column>,
    pub pods: Vec<BoardRow>,
    /// How long the refresh took.
    pub seconds: f64,
}

/// Every pod's checks, run now.
pub async fn board_now(portal: &Portal, lab: &str, plan: &Plan) -> BoardView {
    let started = Instant::now();
    let pods: Vec<u32> = plan.pod_plans.keys().copied().collect();
    let mut columns: Vec<Column> = Vec::new();
    for c in plan.pod_plans.values().flat_map(|p| &p.checks) {
        if !columns.iter().any(|k| k.id == c.id) {
            columns.push(Column {
                id: c.id.clone(),
                title: c.title.clone(),
                step: c.step,
            });
        }
    }
    let results = run_checks(portal, plan, &pods).await;
    BoardView {
        lab: lab.to_string(),
        columns,
        pods: results
            .into_iter()
            .map(|(pod, checks)| BoardRow { pod, checks })
            .collect(),
        seconds: (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
    }
}

/// The room board, pods by checks: the latest refresh, or one run now.
#[utoipa::path(get, path = "/api/v1/labs/{lab}/board",
    params(("lab" = String, Path)),
    responses((status = 200, body = BoardView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn board(
    State(portal): State<Shared>,
    headers: HeaderMap,
    Path(lab): Path<String>,
) -> ApiResult<Json<BoardView>> {
    let (_, plan) = portal.instructor(&headers, &lab)?;
    let latest = portal.boards.get(&lab).and_then(|b| b.borrow().clone());
    match latest {
        Some(b) => Ok(Json((*b).clone())),
        None => Ok(Json(board_now(&portal, &lab, &plan).await)),
    }
}

/// The room board, live: an event `board` with the board's JSON at each
/// refresh (server-sent events), for as long as the page listens.
#[utoipa::path(get, path = "/api/v1/labs/{lab}/board/events",
    params(("lab" = String, Path)),
    responses((status = 200, content_type = "text/event-stream", description = "Events `board`, each a BoardView"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn board_events(
    State(portal): State<Shared>,
    headers: HeaderMap,
    Path(lab): Path<String>,
) -> ApiResult<Response> {
    portal.instructor(&headers, &lab)?;
    let latest = portal
        .boards
        .get(&lab)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such lab"))?;
    Ok(super::board::events(latest).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetView {
    pub lab: String,
    pub pod: u32,
    pub seconds: f64,
}

/// Recreates a pod from its plan, as `noglab reset --pod N` does; one
/// action at a time per pod.
#[utoipa::path(post, path = "/api/v1/labs/{lab}/pods/{pod}/reset",
    params(("lab" = String, Path), ("pod" = u32, Path)),
    responses((status = 200, body = ResetView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "An action on this pod is under way", body = ErrorBody),
        (status = 502, description = "The engine failed", body = ErrorBody)))]
async fn reset(
    State(portal): State<Shared>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Path((lab, pod)): Path<(String, u32)>,
) -> ApiResult<Json<ResetView>> {
    let (session, plan) = portal.instructor(&headers, &lab)?;
    require_csrf(&session, &headers)?;
    if !plan.pod_plans.contains_key(&pod) {
        return Err(not_found());
    }
    let done = reset_pod(&portal, &lab, pod, plan).await;
    let who = super::audit::who(&session.role);
    portal.record(who, peer.ip(), "reset", Some(&lab), Some(pod), None, &done);
    done
}

/// The reset itself, one at a time per pod.
async fn reset_pod(
    portal: &Portal,
    lab: &str,
    pod: u32,
    plan: Arc<Plan>,
) -> ApiResult<Json<ResetView>> {
    let lab = lab.to_string();
    let slot = lock(&portal.pod_actions)
        .entry((lab.clone(), pod))
        .or_default()
        .clone();
    let Ok(_busy) = slot.try_lock() else {
        return Err(err(
            StatusCode::CONFLICT,
            format!("pod {pod} is being reset already"),
        ));
    };
    let started = Instant::now();
    let lab_for_lock = lab.clone();
    // The lab's lock, as every noglab command takes it: waits for a
    // command run by hand on the same lab.
    let _lab_lock = tokio::task::spawn_blocking(move || crate::state::lock(&lab_for_lock))
        .await
        .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(engine_error)?;
    let (_, ready) = crate::commands::reset::reset(
        &portal.engine,
        &plan,
        Some(&pod.to_string()),
        false,
        None,
        true,
        &crate::commands::save::store_dir(),
    )
    .await
    .map_err(engine_error)?;
    crate::state::mark_ready(&lab, &ready, crate::state::now()).map_err(engine_error)?;
    Ok(Json(ResetView {
        lab,
        pod,
        seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    }))
}

/// A terminal to a node of the pod: a WebSocket carried to the node's
/// login shell as the participant's user (see `portal::terminal`).
#[utoipa::path(get, path = "/api/v1/labs/{lab}/pods/{pod}/nodes/{node}/terminal",
    params(("lab" = String, Path), ("pod" = u32, Path), ("node" = String, Path)),
    responses((status = 101, description = "Switched to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket request"),
        (status = 401, body = ErrorBody), (status = 403, description = "From another site", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn terminal(
    State(portal): State<Shared>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Path((lab, pod, node)): Path<(String, u32, String)>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let (session, plan) = portal.pod_session(&headers, &lab, pod)?;
    let opened = open_terminal(&portal, &headers, &plan, pod, &node, ws).await;
    let who = super::audit::who(&session.role);
    portal.record(
        who,
        peer.ip(),
        "terminal",
        Some(&lab),
        Some(pod),
        Some(&node),
        &opened,
    );
    opened
}

/// The terminal's exec and the WebSocket carrying it.
async fn open_terminal(
    portal: &Shared,
    headers: &HeaderMap,
    plan: &Plan,
    pod: u32,
    node: &str,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let portal = portal.clone();
    require_same_origin(headers)?;
    let container = plan.pod_plans[&pod]
        .containers
        .iter()
        .find(|c| c.node == node && c.node != ACCESS_NODE)
        .map(|c| c.name.clone())
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "no such node"))?;
    let ws = ws.map_err(|_| err(StatusCode::BAD_REQUEST, "a terminal opens over a WebSocket"))?;
    let id = auth::random_token();
    let session = portal
        .engine
        .exec_interactive_as(
            &container,
            crate::credentials::USER,
            &super::terminal::login_command(&id),
            (80, 24),
        )
        .await
        .map_err(engine_error)?;
    Ok(ws
        .max_message_size(super::terminal::MAX_MESSAGE)
        .max_frame_size(super::terminal::MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            super::terminal::relay(&portal.engine, socket, session, &container, &id).await;
        }))
}

/// Refuses a WebSocket opened by a page of another site (the cookie is
/// SameSite=Strict already; this holds for browsers that ignore it).
fn require_same_origin(headers: &HeaderMap) -> ApiResult<()> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.strip_prefix("https://").unwrap_or_default();
    if !host.is_empty() && origin_host == host {
        Ok(())
    } else {
        Err(err(
            StatusCode::FORBIDDEN,
            "a terminal opens from the portal's own page",
        ))
    }
}

/// The pod's picture: its nodes and links with interfaces and addresses.
#[utoipa::path(get, path = "/api/v1/labs/{lab}/pods/{pod}/graph.svg",
    params(("lab" = String, Path), ("pod" = u32, Path)),
    responses((status = 200, content_type = "image/svg+xml", body = String),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn graph(
    State(portal): State<Shared>,
    headers: HeaderMap,
    Path((lab, pod)): Path<(String, u32)>,
) -> ApiResult<Response> {
    let (_, plan) = portal.pod_session(&headers, &lab, pod)?;
    let g = crate::graph::build(&plan, pod).map_err(|e| err(StatusCode::NOT_FOUND, e))?;
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml")],
        crate::graph::svg(&g),
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GuideQuery {
    /// A language the guide is in (`en`, `es`, `pt`...); default the first.
    pub lang: Option<String>,
}

/// The lab's guide in one language, rendered from its Markdown.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuideView {
    pub lab: String,
    pub lang: String,
    pub languages: Vec<String>,
    pub html: String,
}

/// The lab's guide, with the languages it is in.
#[utoipa::path(get, path = "/api/v1/labs/{lab}/guide",
    params(("lab" = String, Path), GuideQuery),
    responses((status = 200, body = GuideView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn guide(
    State(portal): State<Shared>,
    headers: HeaderMap,
    Path(lab): Path<String>,
    Query(q): Query<GuideQuery>,
) -> ApiResult<Json<GuideView>> {
    let session = portal.session(&headers)?;
    let allowed = match &session.role {
        Role::Instructor => portal.plans.contains_key(&lab),
        Role::Participant { lab: l, .. } => *l == lab,
    };
    if !allowed {
        return Err(err(StatusCode::NOT_FOUND, "no such lab"));
    }
    let none = || {
        err(
            StatusCode::NOT_FOUND,
            "this lab has no guide here (serve it by its folder: `noglab serve labs/NAME`)",
        )
    };
    let dir = portal.guides.get(&lab).ok_or_else(none)?;
    let languages = super::guide::languages(dir);
    let lang = q
        .lang
        .or_else(|| languages.first().cloned())
        .ok_or_else(none)?;
    let html = super::guide::render(dir, &lang).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            format!("the guide is not in `{lang}`"),
        )
    })?;
    Ok(Json(GuideView {
        lab,
        lang,
        languages,
        html,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HandoutQuery {
    /// `html` (cards to print and cut, the default), `csv` or `md`.
    pub format: Option<String>,
}

/// The lab's handout, each pod's card with its link to this portal, for
/// participants who reach it as the instructor's browser does.
#[utoipa::path(get, path = "/api/v1/labs/{lab}/handout",
    params(("lab" = String, Path), HandoutQuery),
    responses((status = 200, description = "The handout", content_type = "text/html", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn handout(
    State(portal): State<Shared>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Path(lab): Path<String>,
    Query(q): Query<HandoutQuery>,
) -> ApiResult<Response> {
    use crate::cli::HandoutFormat;
    let (session, plan) = portal.instructor(&headers, &lab)?;
    let (format, content_type) = match q.format.as_deref().unwrap_or("html") {
        "html" => (HandoutFormat::Html, "text/html; charset=utf-8"),
        "csv" => (HandoutFormat::Csv, "text/csv; charset=utf-8"),
        "md" => (HandoutFormat::Md, "text/markdown; charset=utf-8"),
        _ => return Err(err(StatusCode::BAD_REQUEST, "format: html, csv or md")),
    };
    // The portal as this browser reaches it; SSH to the same host.
    let authority = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "the request names no host"))?;
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !port.contains(']') => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let text = crate::commands::access::handout_text(
        &lab,
        &plan,
        format,
        host,
        &Default::default(),
        None,
        Some(&format!("https://{authority}/")),
    )
    .map_err(|e| err(StatusCode::NOT_FOUND, format!("{e:#}")));
    let who = super::audit::who(&session.role);
    portal.record(who, peer.ip(), "handout", Some(&lab), None, None, &text);
    let mut resp = text?.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "noglab portal",
        description = "The classroom portal of `noglab serve`: participants' pods and the instructor's room."
    ),
    paths(
        login,
        session,
        logout,
        pod,
        checks,
        board,
        board_events,
        reset,
        terminal,
        graph,
        guide,
        handout
    ),
    components(schemas(
        LoginRequest,
        SessionView,
        ErrorBody,
        PodView,
        NodeView,
        ChecksView,
        CheckView,
        BoardView,
        BoardRow,
        Column,
        ResetView,
        GuideView
    ))
)]
pub struct ApiDoc;

/// The OpenAPI document of this API.
async fn openapi() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn index() -> Response {
    asset_response("index.html")
}

async fn asset(Path(path): Path<String>) -> Response {
    asset_response(&path)
}

fn asset_response(path: &str) -> Response {
    match assets::get(path) {
        Some((data, media)) => ([(header::CONTENT_TYPE, media)], data).into_response(),
        None => err(StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

async fn no_route() -> ApiError {
    err(StatusCode::NOT_FOUND, "no such page")
}

/// What every response carries: no framing by other sites, no guessing
/// of types, scripts and connections from the portal only.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub fn router(portal: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/login", post(login))
        .route("/api/v1/session", get(session))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/labs/{lab}/pods/{pod}", get(pod))
        .route("/api/v1/labs/{lab}/pods/{pod}/checks", get(checks))
        .route("/api/v1/labs/{lab}/pods/{pod}/reset", post(reset))
        .route("/api/v1/labs/{lab}/board", get(board))
        .route("/api/v1/labs/{lab}/board/events", get(board_events))
        .route(
            "/api/v1/labs/{lab}/pods/{pod}/nodes/{node}/terminal",
            get(terminal),
        )
        .route("/api/v1/labs/{lab}/pods/{pod}/graph.svg", get(graph))
        .route("/api/v1/labs/{lab}/guide", get(guide))
        .route("/api/v1/labs/{lab}/handout", get(handout))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_request(refuse_declared_too_large))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(portal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_lists_every_route() {
        let doc = ApiDoc::openapi().to_json().expect("json");
        for path in [
            "/api/v1/login",
            "/api/v1/labs/{lab}/pods/{pod}",
            "/api/v1/labs/{lab}/pods/{pod}/checks",
            "/api/v1/labs/{lab}/board",
            "/api/v1/labs/{lab}/pods/{pod}/reset",
            "/api/v1/labs/{lab}/handout",
        ] {
            assert!(doc.contains(&format!("\"{path}\"")), "{path} missing");
        }
    }

    #[test]
    fn the_session_cookie_is_http_only_secure_and_strict() {
        let c = session_cookie("abc", 60);
        assert_eq!(
            c.to_str().expect("ascii"),
            "noglab_session=abc; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=60"
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; noglab_session=xyz; b=2"),
        );
        assert_eq!(cookie_value(&h), Some("xyz"));
    }
}
