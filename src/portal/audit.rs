//! The portal's audit log: who did what, when, from where. One JSON object
//! per line in `audit.log` of the portal's state folder (readable by its
//! owner only), appended as each action ends: logins (refused ones too),
//! logouts, terminals opened, pod resets and handouts downloaded (they
//! hold every pod's password). An assistant's reset of the
//! wrong pod, or a participant who tried someone else's password, is
//! then a `grep` away.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use super::auth::Role;

/// One line of the log.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    /// Unix seconds.
    pub at: u64,
    /// `instructor`, `LAB/pod N`, or, for a refused login, who it claimed
    /// to be.
    pub who: String,
    /// The client's address.
    pub from: String,
    /// `login`, `login refused`, `logout`, `terminal`, `reset`, `handout`.
    pub what: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<&'a str>,
    /// `ok`, or why not.
    pub result: String,
}

/// Who a role is, as the log writes it.
pub fn who(role: &Role) -> String {
    match role {
        Role::Instructor => "instructor".into(),
        Role::Participant { lab, pod } => format!("{lab}/pod {pod}"),
    }
}

/// The log, open for appending.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl AuditLog {
    /// Opens (creating, 0600) `audit.log` in `dir`. A log that cannot be
    /// opened is reported once here and the portal runs without it.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join("audit.log");
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(&path)?;
        Ok(AuditLog {
            path,
            file: Mutex::new(Some(file)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as one line. A failed write is said on standard
    /// error; it never fails the action it records.
    pub fn write(&self, entry: &Entry<'_>) {
        let Ok(mut line) = serde_json::to_string(entry) else {
            return;
        };
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = file.as_mut() {
            if let Err(e) = f.write_all(line.as_bytes()) {
                eprintln!(
                    "noglab serve: cannot write the audit log {}: {e}",
                    self.path.display()
                );
            }
        }
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_is_one_json_line_only_the_owner_reads() {
        let dir = std::env::temp_dir().join(format!("noglab-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let _ = std::fs::remove_file(dir.join("audit.log"));
        let log = AuditLog::open(&dir).expect("open");
        log.write(&Entry {
            at: 1,
            who: who(&Role::Participant {
                lab: "bgp".into(),
                pod: 7,
            }),
            from: "192.0.2.7".into(),
            what: "terminal",
            lab: Some("bgp"),
            pod: Some(7),
            node: Some("r1"),
            result: "ok".into(),
        });
        log.write(&Entry {
            at: 2,
            who: who(&Role::Instructor),
            from: "192.0.2.1".into(),
            what: "reset",
            lab: Some("bgp"),
            pod: Some(7),
            node: None,
            result: "ok".into(),
        });
        let text = std::fs::read_to_string(log.path()).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["who"], "bgp/pod 7");
        assert_eq!(lines[0]["node"], "r1");
        assert_eq!(lines[1]["who"], "instructor");
        assert!(lines[1].get("node").is_none(), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(log.path())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
