//! Who is logged in to the portal and what they may reach: sessions (a
//! participant's pod, or the instructor), their CSRF tokens, the
//! instructor's token, and the limits on login attempts. Pure: no HTTP,
//! no engine; the clock is passed in so tests can move it.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand_core::{OsRng, RngCore};

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A participant: one pod of one lab, nothing else.
    Participant { lab: String, pod: u32 },
    /// The instructor or an assistant: every pod of the labs served.
    Instructor,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub role: Role,
    /// Sent back by the page in `X-CSRF-Token` with every state change.
    pub csrf: String,
    /// A participant's password at login: a session outlives no
    /// `credentials rotate` of its pod (empty for the instructor).
    pub password: String,
    expires: Instant,
}

impl Session {
    /// Whether this session may see and act on pod `pod` of `lab` as a
    /// participant does (the instructor may everywhere).
    pub fn reaches(&self, lab: &str, pod: u32) -> bool {
        match &self.role {
            Role::Instructor => true,
            Role::Participant { lab: l, pod: p } => l == lab && *p == pod,
        }
    }

    pub fn is_instructor(&self) -> bool {
        self.role == Role::Instructor
    }
}

/// How long a session lasts without a new login: a workshop day.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// A random token of 32 bytes, in hex: session ids, CSRF tokens, the
/// instructor's token.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets in a time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The sessions of a running portal, by session id (the cookie's value).
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: HashMap<String, Session>,
}

impl Sessions {
    /// A new session for `role`, logged in with `password`: its id and
    /// its CSRF token.
    pub fn open(&mut self, role: Role, password: &str, now: Instant) -> (String, Session) {
        self.by_id.retain(|_, s| s.expires > now);
        let id = random_token();
        let session = Session {
            role,
            csrf: random_token(),
            password: password.to_string(),
            expires: now + SESSION_LIFETIME,
        };
        self.by_id.insert(id.clone(), session.clone());
        (id, session)
    }

    pub fn get(&self, id: &str, now: Instant) -> Option<Session> {
        self.by_id.get(id).filter(|s| s.expires > now).cloned()
    }

    pub fn close(&mut self, id: &str) {
        self.by_id.remove(id);
    }
}

/// Failed logins allowed from one source, or against one pod, within
/// [`WINDOW`]; beyond them that source or pod is refused until the
/// window has passed since the first failure. A pod's handout password
/// has about 59 bits: a handful of guesses a window is nothing to it,
/// and a participant who mistypes a few times still gets in.
pub const MAX_FAILURES_PER_SOURCE: u32 = 5;
pub const MAX_FAILURES_PER_POD: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

/// Failed logins by key (a source address, a pod), forgotten a window
/// after the first.
#[derive(Debug)]
pub struct Limiter {
    max: u32,
    failures: HashMap<String, Failures>,
}

impl Limiter {
    pub fn new(max: u32) -> Self {
        Limiter {
            max,
            failures: HashMap::new(),
        }
    }

    /// Whether `key` is refused now, and for how long still.
    pub fn locked(&mut self, key: &str, now: Instant) -> Option<Duration> {
        self.failures
            .retain(|_, f| now.saturating_duration_since(f.since) < WINDOW);
        let f = self.failures.get(key)?;
        (f.count >= self.max).then(|| WINDOW.saturating_sub(now.saturating_duration_since(f.since)))
    }

    pub fn fail(&mut self, key: &str, now: Instant) {
        let f = self.failures.entry(key.to_string()).or_insert(Failures {
            count: 0,
            since: now,
        });
        f.count += 1;
    }
}

/// The instructor's token, made once and kept 0600 in `dir`.
pub fn instructor_token(dir: &Path) -> Result<String> {
    let path = dir.join("instructor-token");
    match fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("failed to read {}", path.display())),
    }
    let token = random_token();
    write_secret(&path, format!("{token}\n").as_bytes())?;
    Ok(token)
}

/// Writes a file only its owner may read, in a folder only its owner may
/// enter.
pub fn write_secret(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("failed to write {}", tmp.display()))?;
    f.write_all(data)
        .with_context(|| format!("failed to write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("failed to save {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(lab: &str, pod: u32) -> Role {
        Role::Participant {
            lab: lab.into(),
            pod,
        }
    }

    #[test]
    fn a_participant_reaches_its_own_pod_only() {
        let mut s = Sessions::default();
        let now = Instant::now();
        let (id, session) = s.open(pod("bgp", 2), "pw", now);
        let got = s.get(&id, now).expect("open");
        assert_eq!(got.csrf, session.csrf);
        assert!(got.reaches("bgp", 2));
        assert!(!got.reaches("bgp", 3));
        assert!(!got.reaches("dns", 2));
        assert!(!got.is_instructor());
        let (boss, _) = s.open(Role::Instructor, "pw", now);
        assert!(s.get(&boss, now).expect("open").reaches("dns", 7));
    }

    #[test]
    fn sessions_expire_and_close() {
        let mut s = Sessions::default();
        let now = Instant::now();
        let (a, _) = s.open(pod("bgp", 2), "pw", now);
        let (b, _) = s.open(pod("bgp", 3), "pw", now);
        let (c, _) = s.open(Role::Instructor, "pw", now);
        assert!(s.get(&a, now + SESSION_LIFETIME).is_none());
        s.close(&a);
        assert!(s.get(&a, now).is_none());
        assert!(s.get(&b, now).is_some());
        s.close(&c);
        assert!(s.get(&c, now).is_none());
        assert!(s.get("not-a-session", now).is_none());
    }

    #[test]
    fn logins_lock_after_too_many_failures_until_the_window_passes() {
        let mut l = Limiter::new(3);
        let t0 = Instant::now();
        for _ in 0..2 {
            assert!(l.locked("10.0.0.9", t0).is_none());
            l.fail("10.0.0.9", t0);
        }
        assert!(l.locked("10.0.0.9", t0).is_none());
        l.fail("10.0.0.9", t0);
        assert_eq!(
            l.locked("10.0.0.9", t0 + Duration::from_secs(60)),
            Some(WINDOW - Duration::from_secs(60))
        );
        assert!(l.locked("10.0.0.8", t0).is_none());
        assert!(l.locked("10.0.0.9", t0 + WINDOW).is_none());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        let t = random_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, random_token());
    }

    #[test]
    fn the_instructors_token_is_made_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("noglab-portal-test-{}", random_token()));
        let a = instructor_token(&dir).expect("made");
        let b = instructor_token(&dir).expect("read");
        assert_eq!(a, b);
        let mode = fs::metadata(dir.join("instructor-token"))
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = fs::remove_dir_all(&dir);
    }
}
