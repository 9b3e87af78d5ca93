//! noglab's state directory: the plan each lab was brought up with (so
//! `reset` recreates pods exactly, even if the topology file changed or is
//! elsewhere) and a lock per lab so two commands never work on one lab at once.
//!
//! Nothing else is written outside this directory. Lab names are checked
//! before they become paths.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::diag::input_error;
use crate::plan::Plan;

/// `NOGLAB_STATE_DIR`, else `$XDG_STATE_HOME/noglab`, else `~/.local/state/noglab`.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NOGLAB_STATE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(d).join("noglab");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".local/state/noglab")
}

/// Checks a lab name from the command line before it is used anywhere,
/// by the same rule as a topology's `name:`.
pub fn check_lab_name(lab: &str) -> Result<()> {
    crate::topology::names::check(lab, crate::topology::MAX_LAB_NAME)
        .map_err(|why| input_error(format!("`{lab}` is not a lab name: {why}")))
}

fn lab_dir(lab: &str) -> Result<PathBuf> {
    check_lab_name(lab)?;
    Ok(dir().join("labs").join(lab))
}

fn ensure(path: &PathBuf) -> Result<()> {
    fs::create_dir_all(path)
        .with_context(|| format!("failed to create state directory {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(dir(), fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Saves the plan a lab was brought up with (written whole, then renamed).
pub fn save_plan(plan: &Plan) -> Result<()> {
    let d = lab_dir(&plan.lab)?;
    ensure(&d)?;
    let tmp = d.join("plan.json.tmp");
    let data = serde_json::to_vec(plan).context("failed to serialize the plan")?;
    fs::write(&tmp, data).with_context(|| format!("failed to write {}", tmp.display()))?;
    fs::rename(&tmp, d.join("plan.json"))
        .with_context(|| format!("failed to save the plan in {}", d.display()))
}

/// Saves which engine each pod of a lab runs on (see `engine::placement`).
pub fn save_placement(lab: &str, placement: &BTreeMap<u32, String>) -> Result<()> {
    let d = lab_dir(lab)?;
    ensure(&d)?;
    let tmp = d.join("engines.json.tmp");
    let data = serde_json::to_vec(placement).context("failed to serialize the placement")?;
    fs::write(&tmp, data).with_context(|| format!("failed to write {}", tmp.display()))?;
    fs::rename(&tmp, d.join("engines.json"))
        .with_context(|| format!("failed to save the placement in {}", d.display()))
}

/// The labs this state directory holds a placement for (placed on the
/// engines of an engines file), by name.
pub fn recorded_labs() -> Result<Vec<String>> {
    let root = dir().join("labs");
    let entries = match fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("failed to read {}", root.display())),
    };
    let mut labs: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("engines.json").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| check_lab_name(name).is_ok())
        .collect();
    labs.sort();
    Ok(labs)
}

/// Which engine each pod of a lab was placed on; empty when none was.
pub fn load_placement(lab: &str) -> Result<BTreeMap<u32, String>> {
    let path = lab_dir(lab)?.join("engines.json");
    match fs::read(&path) {
        Ok(data) => serde_json::from_slice(&data)
            .with_context(|| format!("failed to read the placement {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("failed to read {}", path.display())),
    }
}

pub fn load_plan(lab: &str) -> Result<Option<Plan>> {
    let path = lab_dir(lab)?.join("plan.json");
    match fs::read(&path) {
        Ok(data) => Ok(Some(serde_json::from_slice(&data).with_context(|| {
            format!("failed to read the saved plan {}", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("failed to read {}", path.display())),
    }
}

/// When noglab last saw each node of a lab ready (its init done, exec
/// lines run), by container name, in seconds since the epoch: `up` and
/// `reset` wait for the nodes they start, so until Docker's own health
/// check first runs, `status` can say what they saw (see `seen_ready`).
pub type ReadySeen = BTreeMap<String, u64>;

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Adds the nodes `up` or `reset` just saw ready, at `at`.
pub fn mark_ready(lab: &str, names: &[String], at: u64) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let mut seen = load_ready(lab)?;
    seen.extend(names.iter().map(|n| (n.clone(), at)));
    save_json(lab, "ready.json", &seen, "the ready nodes")
}

/// A JSON file of the lab's state folder; the default when absent or
/// unreadable (these files are hints noglab rebuilds).
fn load_json<T: serde::de::DeserializeOwned + Default>(lab: &str, name: &str) -> Result<T> {
    let path = lab_dir(lab)?.join(name);
    Ok(fs::read(&path)
        .ok()
        .and_then(|data| serde_json::from_slice(&data).ok())
        .unwrap_or_default())
}

/// Writes a JSON file of the lab's state folder whole or not at all.
fn save_json<T: serde::Serialize>(lab: &str, name: &str, value: &T, what: &str) -> Result<()> {
    let d = lab_dir(lab)?;
    ensure(&d)?;
    let tmp = d.join(format!("{name}.tmp"));
    let data = serde_json::to_vec(value).with_context(|| format!("failed to serialize {what}"))?;
    fs::write(&tmp, data).with_context(|| format!("failed to write {}", tmp.display()))?;
    fs::rename(&tmp, d.join(name))
        .with_context(|| format!("failed to save {what} in {}", d.display()))
}

/// What `mark_ready` saved; nothing when absent or unreadable (it is only
/// a hint for `status`).
pub fn load_ready(lab: &str) -> Result<ReadySeen> {
    load_json(lab, "ready.json")
}

/// Containers whose planned files `up --apply-files` copied in: by name,
/// the spec hash on the container's label and the one of the plan it now
/// matches. `up` takes such a container as the latter.
pub type Applied = BTreeMap<String, (String, String)>;

pub fn load_applied(lab: &str) -> Result<Applied> {
    load_json(lab, "applied.json")
}

/// The nodes `up` started and has not yet seen ready, by container name:
/// written before it starts them, so that an `up` interrupted (Ctrl-C, or
/// killed) while they boot leaves them for the next `up` to wait for.
pub fn load_unready(lab: &str) -> Result<BTreeSet<String>> {
    load_json(lab, "unready.json")
}

pub fn save_applied(lab: &str, applied: &Applied) -> Result<()> {
    save_json(lab, "applied.json", applied, "the applied files")
}

/// Adds `started` to the lab's unready nodes and removes `seen_ready`.
pub fn update_unready(lab: &str, started: &[String], seen_ready: &[String]) -> Result<()> {
    let mut unready = load_unready(lab)?;
    if started.is_empty() && !seen_ready.iter().any(|n| unready.contains(n)) {
        return Ok(());
    }
    unready.extend(started.iter().cloned());
    for n in seen_ready {
        unready.remove(n);
    }
    save_json(lab, "unready.json", &unready, "the unready nodes")
}

pub fn forget(lab: &str) -> Result<()> {
    let d = lab_dir(lab)?;
    let _ = fs::remove_file(d.join("ready.json"));
    let _ = fs::remove_file(d.join("applied.json"));
    let _ = fs::remove_file(d.join("unready.json"));
    let _ = fs::remove_file(d.join("engines.json"));
    match fs::remove_file(d.join("plan.json")) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("failed to remove the saved plan of {lab}")),
    }
}

/// An exclusive lock on one lab, held until dropped.
pub struct LabLock {
    _file: File,
    waited: std::time::Duration,
}

impl LabLock {
    /// How long taking it waited for another noglab command.
    pub fn waited(&self) -> std::time::Duration {
        self.waited
    }
}

/// Takes the lab's lock, waiting (and saying so) while another noglab
/// command holds it.
pub fn lock(lab: &str) -> Result<LabLock> {
    let d = lab_dir(lab)?;
    ensure(&d)?;
    lock_file(d.join("lock"), &format!("lab {lab}"))
}

/// Serializes the choice of address blocks between labs brought up at once:
/// held by a new lab's `up` until its networks exist.
///
/// The lock lives in the system's temporary folder, not the state
/// directory, so that noglab commands with different state directories
/// (two users, tests) on one engine still take turns.
pub fn lock_allocation() -> Result<LabLock> {
    let path = std::env::temp_dir().join("noglab-allocation.lock");
    let lock = lock_file(path.clone(), "address allocation")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o666));
    }
    Ok(lock)
}

fn lock_file(path: PathBuf, what: &str) -> Result<LabLock> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("failed to open lock {}", path.display()))?;
    let started = std::time::Instant::now();
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            eprintln!("waiting for another noglab command ({what}) to finish...");
            file.lock()
                .with_context(|| format!("failed to lock {}", path.display()))?;
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("failed to lock {}", path.display()));
        }
    }
    Ok(LabLock {
        _file: file,
        waited: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lab name on the command line follows the topology's rule, which
    /// refuses a trailing `-` (the state folder once took it).
    #[test]
    fn issue21_lab_names_follow_the_topologys_rule() {
        for ok in ["bgp", "bgp-lab", "l1"] {
            assert!(check_lab_name(ok).is_ok(), "{ok}");
        }
        for bad in ["lab-", "", "1lab", "Lab", "a/b", "..", &"a".repeat(25)] {
            assert!(check_lab_name(bad).is_err(), "{bad}");
        }
        let e = check_lab_name("lab-").expect_err("trailing dash");
        assert_eq!(
            e.to_string(),
            "`lab-` is not a lab name: it must not end with `-`"
        );
    }
}
