//! Participants' credentials, per pod: a password to log in to the pod's
//! access point, the key the access point uses to reach the pod's nodes,
//! and the access point's host key (stable, so laptops do not warn after a
//! reset). Generated once, kept 0600 in noglab's state directory, never
//! printed except by `handout`; only `credentials rotate` changes passwords.
//!
//! They never enter the plan: the plan is printed and hashed, credentials
//! are placed in containers beside it.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use ssh_key::{Algorithm, LineEnding, PrivateKey};

use crate::plan::{FileSpec, Plan, ACCESS_NODE};

/// The login name on access points and nodes.
pub const USER: &str = "lab";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PodCredentials {
    pub password: String,
    pub client_key: String,
    pub client_pub: String,
    pub host_key: String,
    pub host_pub: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LabCredentials {
    pub pods: BTreeMap<u32, PodCredentials>,
}

fn path(lab: &str) -> Result<PathBuf> {
    crate::state::check_lab_name(lab)?;
    Ok(crate::state::dir()
        .join("labs")
        .join(lab)
        .join("credentials.json"))
}

/// Letters and digits that cannot be mistaken for one another on paper.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Three groups of four: about 59 bits, easy to type from a handout.
pub fn new_password() -> String {
    let mut out = String::new();
    for group in 0..3 {
        if group > 0 {
            out.push('-');
        }
        for _ in 0..4 {
            // Rejection sampling keeps every character equally likely.
            let c = loop {
                let b = (OsRng.next_u32() & 0xff) as usize;
                if b < ALPHABET.len() * (256 / ALPHABET.len()) {
                    break ALPHABET[b % ALPHABET.len()];
                }
            };
            out.push(c as char);
        }
    }
    out
}

fn keypair(comment: &str) -> Result<(String, String)> {
    let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
        .context("failed to generate an SSH key")?;
    key.set_comment(comment);
    let private = key
        .to_openssh(LineEnding::LF)
        .context("failed to encode an SSH key")?
        .to_string();
    let public = key
        .public_key()
        .to_openssh()
        .context("failed to encode an SSH key")?;
    Ok((private, public))
}

fn generate(lab: &str, pod: u32) -> Result<PodCredentials> {
    let (client_key, client_pub) = keypair(&format!("{lab} pod {pod}"))?;
    let (host_key, host_pub) = keypair(&format!("{lab} pod {pod} access"))?;
    Ok(PodCredentials {
        password: new_password(),
        client_key,
        client_pub,
        host_key,
        host_pub,
    })
}

pub fn load(lab: &str) -> Result<LabCredentials> {
    let p = path(lab)?;
    match fs::read(&p) {
        Ok(data) => serde_json::from_slice(&data)
            .with_context(|| format!("failed to read credentials {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LabCredentials::default()),
        Err(e) => Err(e).with_context(|| format!("failed to read credentials {}", p.display())),
    }
}

fn save(lab: &str, creds: &LabCredentials) -> Result<()> {
    let p = path(lab)?;
    let dir = p.parent().map(PathBuf::from).unwrap_or_default();
    fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let tmp = p.with_extension("json.tmp");
    let data = serde_json::to_vec_pretty(creds).context("failed to encode credentials")?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("failed to write {}", tmp.display()))?;
        f.write_all(&data)
            .with_context(|| format!("failed to write {}", tmp.display()))?;
    }
    fs::rename(&tmp, &p).with_context(|| format!("failed to save {}", p.display()))
}

/// The lab's credentials, with any pod in `pods` that has none generated now.
pub fn ensure(lab: &str, pods: impl IntoIterator<Item = u32>) -> Result<LabCredentials> {
    let mut creds = load(lab)?;
    let mut changed = false;
    for pod in pods {
        if let std::collections::btree_map::Entry::Vacant(e) = creds.pods.entry(pod) {
            e.insert(generate(lab, pod)?);
            changed = true;
        }
    }
    if changed {
        save(lab, &creds)?;
    }
    Ok(creds)
}

/// New passwords for `pods` (keys stay).
pub fn rotate(lab: &str, pods: impl IntoIterator<Item = u32>) -> Result<LabCredentials> {
    let mut creds = load(lab)?;
    for pod in pods {
        match creds.pods.get_mut(&pod) {
            Some(c) => c.password = new_password(),
            None => {
                creds.pods.insert(pod, generate(lab, pod)?);
            }
        }
    }
    save(lab, &creds)?;
    Ok(creds)
}

fn secret(mode: u32, content: impl Into<String>) -> FileSpec {
    FileSpec {
        mode,
        content: content.into(),
    }
}

/// The password file the access point reads (`chpasswd` format).
pub fn password_file(c: &PodCredentials) -> BTreeMap<String, FileSpec> {
    BTreeMap::from([(
        "/etc/noglab/access/password".to_string(),
        secret(0o600, format!("{USER}:{}\n", c.password)),
    )])
}

/// Files to place in each container of a plan beside its spec's files.
pub fn files(plan: &Plan, creds: &LabCredentials) -> BTreeMap<String, BTreeMap<String, FileSpec>> {
    let mut out = BTreeMap::new();
    if plan.access_base_port.is_none() {
        return out;
    }
    for pod in plan.pod_plans.values() {
        let Some(c) = creds.pods.get(&pod.pod) else {
            continue;
        };
        for spec in &pod.containers {
            let mut files = BTreeMap::new();
            if spec.node == ACCESS_NODE {
                files.extend(password_file(c));
                files.insert(
                    "/etc/noglab/access/id_ed25519".into(),
                    secret(0o600, c.client_key.clone()),
                );
                files.insert(
                    "/etc/noglab/access/id_ed25519.pub".into(),
                    secret(0o644, format!("{}\n", c.client_pub)),
                );
                files.insert(
                    "/etc/noglab/access/ssh_host_ed25519_key".into(),
                    secret(0o600, c.host_key.clone()),
                );
                files.insert(
                    "/etc/noglab/access/ssh_host_ed25519_key.pub".into(),
                    secret(0o644, format!("{}\n", c.host_pub)),
                );
            } else {
                files.insert(
                    "/etc/noglab/authorized_keys".into(),
                    secret(0o644, format!("{}\n", c.client_pub)),
                );
            }
            out.insert(spec.name.clone(), files);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_random_and_readable() {
        let a = new_password();
        let b = new_password();
        assert_ne!(a, b);
        assert_eq!(a.len(), 14);
        assert!(
            a.chars().all(|c| c == '-' || ALPHABET.contains(&(c as u8))),
            "{a}"
        );
    }

    #[test]
    fn keys_are_openssh() {
        let (private, public) = keypair("test").expect("keys");
        assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(public.starts_with("ssh-ed25519 "));
    }
}
