//! Snapshots of participants' work: what a node's kind calls its state
//! (FRR's configuration, BIND's zones and keys, ...), per node, with a
//! manifest, as a folder or a `.tar.gz`.
//!
//! This module owns the format and, above all, reading one back: a
//! snapshot is untrusted input (participants download theirs and may hand
//! one back), so `read` accepts only the layout below, regular files and
//! folders, bounded sizes, paths that stay inside the node's state paths,
//! and files whose size and SHA-256 match the manifest. It touches no
//! engine; the commands fetch files from nodes and put them back.
//!
//! Layout (a folder, or the same inside a gzip'd tar):
//!
//! ```text
//! snapshot.json                  lab, when, noglab's version, the nodes
//! pod03/r1/manifest.json         lab, pod, node, kind, spec hash, files
//! pod03/r1/files/etc/frr/frr.conf
//! shared/rs/manifest.json        the lab-wide nodes
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format written by this noglab; `read` refuses others.
pub const FORMAT: u32 = 1;
/// Largest file a snapshot may hold.
pub const MAX_FILE: u64 = 32 << 20;
/// Largest snapshot, all files together (uncompressed).
pub const MAX_TOTAL: u64 = 512 << 20;
/// Most entries (files and folders) a snapshot may hold.
pub const MAX_ENTRIES: usize = 100_000;

/// A file of a node, by its absolute path in the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub mode: u32,
    pub content: Vec<u8>,
}

/// What one node's snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// The pod, `None` for a lab-wide (shared) node.
    pub pod: Option<u32>,
    pub node: String,
    pub kind: String,
    /// The spec hash of the container the state was taken from: a node
    /// planned differently since is another node.
    pub spec_hash: String,
    pub files: BTreeMap<String, File>,
}

/// A snapshot: some nodes of one lab at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub lab: String,
    /// Unix seconds.
    pub created: u64,
    pub nodes: Vec<NodeState>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Index {
    format: u32,
    lab: String,
    created: u64,
    noglab: String,
    /// `pod03/r1`, `shared/rs`, ...
    nodes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    lab: String,
    pod: Option<u32>,
    node: String,
    kind: String,
    spec_hash: String,
    created: u64,
    files: BTreeMap<String, FileEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    size: u64,
    sha256: String,
    mode: u32,
}

/// `pod03/r1` or `shared/rs`: where a node's state lies in a snapshot.
pub fn node_dir(pod: Option<u32>, node: &str) -> String {
    match pod {
        Some(p) => format!("pod{p:02}/{node}"),
        None => format!("shared/{node}"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every entry of a snapshot, by its path inside it.
fn entries(snapshot: &Snapshot) -> Result<BTreeMap<String, (u32, Vec<u8>)>> {
    let mut out = BTreeMap::new();
    let mut dirs = Vec::new();
    for n in &snapshot.nodes {
        let dir = node_dir(n.pod, &n.node);
        let mut files = BTreeMap::new();
        for (path, f) in &n.files {
            let rel = node_path(path)
                .ok_or_else(|| anyhow!("{dir}: `{path}` is not an absolute path in the node"))?;
            files.insert(
                path.clone(),
                FileEntry {
                    size: f.content.len() as u64,
                    sha256: sha256_hex(&f.content),
                    mode: f.mode & 0o7777,
                },
            );
            out.insert(
                format!("{dir}/files/{rel}"),
                (f.mode & 0o7777, f.content.clone()),
            );
        }
        let manifest = Manifest {
            lab: snapshot.lab.clone(),
            pod: n.pod,
            node: n.node.clone(),
            kind: n.kind.clone(),
            spec_hash: n.spec_hash.clone(),
            created: snapshot.created,
            files,
        };
        out.insert(
            format!("{dir}/manifest.json"),
            (0o644, serde_json::to_vec_pretty(&manifest)?),
        );
        dirs.push(dir);
    }
    let index = Index {
        format: FORMAT,
        lab: snapshot.lab.clone(),
        created: snapshot.created,
        noglab: env!("CARGO_PKG_VERSION").to_string(),
        nodes: dirs,
    };
    out.insert(
        "snapshot.json".into(),
        (0o644, serde_json::to_vec_pretty(&index)?),
    );
    Ok(out)
}

/// `etc/frr/frr.conf` for `/etc/frr/frr.conf`; `None` for anything that
/// is not a clean absolute path (no `..`, no `.`, not `/` alone).
fn node_path(path: &str) -> Option<String> {
    let p = Path::new(path);
    let mut parts = Vec::new();
    for (i, c) in p.components().enumerate() {
        match c {
            Component::RootDir if i == 0 => {}
            Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            _ => return None,
        }
    }
    (!parts.is_empty() && p.is_absolute()).then(|| parts.join("/"))
}

/// Writes the snapshot as a gzip'd tar.
pub fn write_tar_gz(snapshot: &Snapshot, out: impl Write) -> Result<()> {
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, (mode, content)) in entries(snapshot)? {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_mtime(snapshot.created);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &path, content.as_slice())
            .with_context(|| format!("failed to write {path} into the snapshot"))?;
    }
    tar.into_inner()?.finish()?;
    Ok(())
}

/// Writes the snapshot into `dir` (created; it must not hold a snapshot).
pub fn write_dir(snapshot: &Snapshot, dir: &Path) -> Result<()> {
    if dir.join("snapshot.json").exists() {
        bail!("{} already holds a snapshot", dir.display());
    }
    // Files are kept 0600 on the instructor's disk, never executable or
    // set-id there; the node's mode is in the manifest.
    for (path, (_mode, content)) in entries(snapshot)? {
        let dest = dir.join(&path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create {}", parent.display()))?;
        }
        std::fs::write(&dest, &content)
            .with_context(|| format!("failed to write {}", dest.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Reads a snapshot from a folder or a `.tar.gz`/`.tgz` file, checking
/// everything (see the module's notes). Errors say what is wrong and
/// where, for an instructor who was handed a bad file.
pub fn read(path: &Path) -> Result<Snapshot> {
    let raw = if path.is_dir() {
        read_dir_entries(path)?
    } else {
        let f = std::fs::File::open(path)
            .with_context(|| format!("cannot open snapshot {}", path.display()))?;
        read_tar_entries(flate2::read::GzDecoder::new(f))
            .with_context(|| format!("{} is not a noglab snapshot", path.display()))?
    };
    parse(raw).with_context(|| format!("{} is not a usable noglab snapshot", path.display()))
}

/// The regular files of a gzip'd tar, by path; anything else refused.
fn read_tar_entries(input: impl Read) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut archive = tar::Archive::new(input);
    let mut out = BTreeMap::new();
    let mut total = 0u64;
    for (n, entry) in archive.entries()?.enumerate() {
        if n >= MAX_ENTRIES {
            bail!("more than {MAX_ENTRIES} entries");
        }
        let mut entry = entry.context("the archive is damaged or cut short")?;
        let raw_path = entry.path()?.into_owned();
        if !clean_relative(&raw_path) {
            bail!(
                "`{}` leads outside the snapshot: refused",
                raw_path.display()
            );
        }
        let path = raw_path.to_string_lossy().trim_end_matches('/').to_string();
        match entry.header().entry_type() {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            other => bail!("`{path}` is a {other:?}, not a regular file: refused"),
        }
        let size = entry.header().size()?;
        if size > MAX_FILE {
            bail!("`{path}` is {size} bytes, more than the {MAX_FILE} a snapshot file may be");
        }
        total += size;
        if total > MAX_TOTAL {
            bail!("more than {MAX_TOTAL} bytes in all");
        }
        let mut content = Vec::with_capacity(size as usize);
        entry
            .by_ref()
            .take(MAX_FILE + 1)
            .read_to_end(&mut content)
            .with_context(|| format!("`{path}` is cut short"))?;
        if out.insert(path.clone(), content).is_some() {
            bail!("`{path}` is in the archive twice");
        }
    }
    Ok(out)
}

fn read_dir_entries(root: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let e = e?;
            let meta = std::fs::symlink_metadata(e.path())?;
            let rel = e
                .path()
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                if meta.len() > MAX_FILE {
                    bail!(
                        "`{rel}` is {} bytes, more than the {MAX_FILE} a snapshot file may be",
                        meta.len()
                    );
                }
                total += meta.len();
                if total > MAX_TOTAL || out.len() >= MAX_ENTRIES {
                    bail!("the snapshot is larger than noglab accepts");
                }
                out.insert(rel, std::fs::read(e.path())?);
            } else {
                bail!("`{rel}` is not a regular file (a link or a device): refused");
            }
        }
    }
    Ok(out)
}

/// A relative path of plain names only (a leading `./` allowed): no `..`,
/// no root, nothing that could point elsewhere once joined to a folder.
fn clean_relative(p: &Path) -> bool {
    let mut any = false;
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(_) => any = true,
            _ => return false,
        }
    }
    any
}

/// Checks the layout, the manifests and every file against them.
fn parse(mut raw: BTreeMap<String, Vec<u8>>) -> Result<Snapshot> {
    let index: Index = serde_json::from_slice(
        &raw.remove("snapshot.json")
            .ok_or_else(|| anyhow!("it has no snapshot.json"))?,
    )
    .context("snapshot.json is not a snapshot index")?;
    if index.format != FORMAT {
        bail!(
            "it is in format {} and this noglab reads format {FORMAT}",
            index.format
        );
    }
    let mut nodes = Vec::new();
    for dir in &index.nodes {
        let manifest_path = format!("{dir}/manifest.json");
        let manifest: Manifest = serde_json::from_slice(
            &raw.remove(&manifest_path)
                .ok_or_else(|| anyhow!("{manifest_path} is missing"))?,
        )
        .with_context(|| format!("{manifest_path} is not a node manifest"))?;
        if node_dir(manifest.pod, &manifest.node) != *dir || manifest.lab != index.lab {
            bail!("{manifest_path} describes another node or lab than its place says");
        }
        let mut files = BTreeMap::new();
        for (path, entry) in &manifest.files {
            let rel = node_path(path)
                .ok_or_else(|| anyhow!("{manifest_path}: `{path}` is not a clean absolute path"))?;
            let at = format!("{dir}/files/{rel}");
            let content = raw
                .remove(&at)
                .ok_or_else(|| anyhow!("{at} is listed in its manifest but missing"))?;
            if content.len() as u64 != entry.size || sha256_hex(&content) != entry.sha256 {
                bail!("{at} does not match its manifest (changed or damaged)");
            }
            files.insert(
                path.clone(),
                File {
                    mode: entry.mode & 0o777,
                    content,
                },
            );
        }
        nodes.push(NodeState {
            pod: manifest.pod,
            node: manifest.node,
            kind: manifest.kind,
            spec_hash: manifest.spec_hash,
            files,
        });
    }
    if let Some(extra) = raw.keys().next() {
        bail!("`{extra}` is in no manifest");
    }
    Ok(Snapshot {
        lab: index.lab,
        created: index.created,
        nodes,
    })
}

/// Whether `path` lies inside one of `roots` (absolute folders or files in
/// the node), component by component: `/etc/frr2` is not inside `/etc/frr`.
pub fn inside(path: &str, roots: &[&str]) -> bool {
    let Some(p) = node_path(path) else {
        return false;
    };
    roots
        .iter()
        .any(|r| node_path(r).is_some_and(|r| p == r || p.starts_with(&format!("{r}/"))))
}

/// Refuses a node's state holding files outside its kind's state paths:
/// a snapshot may only put back what `save` takes.
pub fn check_paths(state: &NodeState, roots: &[&str]) -> Result<()> {
    let where_ = node_dir(state.pod, &state.node);
    for path in state.files.keys() {
        if !inside(path, roots) {
            bail!(
                "{where_}: `{path}` is outside what a {} node's snapshot holds ({})",
                state.kind,
                roots.join(", ")
            );
        }
    }
    Ok(())
}

/// The hash a node's saved state is matched against: what participants'
/// work depends on in the node's plan (its kind, its own files, its
/// links' names and addresses), and not what the engine gives it (names,
/// management addresses, the image's build), so that a lab brought up
/// again elsewhere, or in another address block, takes its snapshots.
pub fn plan_hash(spec: &crate::plan::ContainerSpec) -> String {
    let files: BTreeMap<&String, (&u32, &String)> = spec
        .files
        .iter()
        .filter(|(p, _)| !p.starts_with(&format!("{}/", crate::plan::NOGLAB_DIR)))
        .map(|(p, f)| (p, (&f.mode, &f.content)))
        .collect();
    let links: Vec<(&String, String, String)> = spec
        .links
        .iter()
        .map(|a| {
            (
                &a.interface,
                a.ipv4.map(|n| n.to_string()).unwrap_or_default(),
                a.ipv6.map(|n| n.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    let text = serde_json::json!({
        "kind": spec.kind,
        "node": spec.node,
        "files": files,
        "links": links,
    })
    .to_string();
    sha256_hex(text.as_bytes())[..16].to_string()
}

/// Snapshots kept per pod (and for the shared nodes) in the state
/// directory: writing one more removes the oldest beyond this.
pub const KEEP_PER_POD: usize = 10;

/// `pod03` or `shared`: a pod's folder in the state directory's store.
fn pod_folder(pod: Option<u32>) -> String {
    match pod {
        Some(p) => format!("pod{p:02}"),
        None => "shared".into(),
    }
}

/// `20261203-134500` (UTC) for Unix seconds: names that sort by time.
pub fn stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Writes each pod of `snapshot` as a snapshot of its own under
/// `store/LAB/podNN/STAMP-REASON`, keeps the newest [`KEEP_PER_POD`] of
/// each pod, and returns the folders written, by pod.
pub fn store(
    snapshot: &Snapshot,
    store: &Path,
    reason: &str,
) -> Result<Vec<(Option<u32>, std::path::PathBuf)>> {
    let mut by_pod: BTreeMap<Option<u32>, Vec<NodeState>> = BTreeMap::new();
    for n in &snapshot.nodes {
        by_pod.entry(n.pod).or_default().push(n.clone());
    }
    let mut out = Vec::new();
    for (pod, nodes) in by_pod {
        let dir = store.join(&snapshot.lab).join(pod_folder(pod));
        let base = format!("{}-{reason}", stamp(snapshot.created));
        let mut at = dir.join(&base);
        let mut n = 2;
        while at.exists() {
            at = dir.join(format!("{base}-{n}"));
            n += 1;
        }
        let one = Snapshot {
            lab: snapshot.lab.clone(),
            created: snapshot.created,
            nodes,
        };
        write_dir(&one, &at)?;
        prune(&dir, KEEP_PER_POD)?;
        out.push((pod, at));
    }
    Ok(out)
}

/// A pod's stored snapshots, oldest first.
pub fn stored(store: &Path, lab: &str, pod: Option<u32>) -> Result<Vec<std::path::PathBuf>> {
    let dir = store.join(lab).join(pod_folder(pod));
    let mut out: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join("snapshot.json").is_file())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    out.sort();
    Ok(out)
}

fn prune(dir: &Path, keep: usize) -> Result<()> {
    let mut all: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    all.sort();
    let extra = all.len().saturating_sub(keep);
    for old in &all[..extra] {
        std::fs::remove_dir_all(old)
            .with_context(|| format!("failed to remove the old snapshot {}", old.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        let mut files = BTreeMap::new();
        files.insert(
            "/etc/frr/frr.conf".to_string(),
            File {
                mode: 0o640,
                content: b"router bgp 65001\n".to_vec(),
            },
        );
        Snapshot {
            lab: "bgp".into(),
            created: 1_700_000_000,
            nodes: vec![NodeState {
                pod: Some(3),
                node: "r1".into(),
                kind: "frr".into(),
                spec_hash: "abc123".into(),
                files,
            }],
        }
    }

    fn tar_gz(snapshot: &Snapshot) -> Vec<u8> {
        let mut out = Vec::new();
        write_tar_gz(snapshot, &mut out).expect("writes");
        out
    }

    fn read_bytes(bytes: &[u8]) -> Result<Snapshot> {
        let dir = std::env::temp_dir().join(format!(
            "noglab-snap-{}-{}",
            std::process::id(),
            sha256_hex(bytes)
        ));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let f = dir.join("s.tar.gz");
        std::fs::write(&f, bytes).expect("write");
        let r = read(&f);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    /// A gzip'd tar made entry by entry, to craft hostile archives.
    fn crafted(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (path, kind, content, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            if let Some(l) = link {
                h.set_link_name(l).expect("link name");
            }
            // Paths set raw, so that `..` gets in as a hostile tool would.
            let name = path.as_bytes();
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            h.set_cksum();
            tar.append(&h, *content).expect("append");
        }
        tar.into_inner().expect("tar").finish().expect("gz")
    }

    #[test]
    fn a_snapshot_comes_back_as_it_was_from_a_tar_and_from_a_folder() {
        let s = sample();
        assert_eq!(read_bytes(&tar_gz(&s)).expect("reads"), s);
        let dir = std::env::temp_dir().join(format!("noglab-snapdir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_dir(&s, &dir).expect("writes");
        assert_eq!(read(&dir).expect("reads"), s);
        assert!(
            write_dir(&s, &dir).is_err(),
            "a second snapshot over the first"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damaged_truncated_and_changed_snapshots_are_refused() {
        let good = tar_gz(&sample());
        let cut = &good[..good.len() / 2];
        let e = format!("{:#}", read_bytes(cut).expect_err("truncated"));
        assert!(e.contains("not a noglab snapshot"), "{e}");
        let e = format!(
            "{:#}",
            read_bytes(b"not a snapshot at all").expect_err("junk")
        );
        assert!(e.contains("not a noglab snapshot"), "{e}");

        // A file changed after the manifest was written.
        let mut s = sample();
        let mut raw = entries(&s).expect("entries");
        raw.insert(
            "pod03/r1/files/etc/frr/frr.conf".into(),
            (0o644, b"router bgp 666\n".to_vec()),
        );
        let e = format!(
            "{:#}",
            parse(raw.into_iter().map(|(k, (_, v))| (k, v)).collect()).expect_err("changed")
        );
        assert!(e.contains("does not match its manifest"), "{e}");

        // A file no manifest lists.
        s.lab = "bgp".into();
        let mut raw: BTreeMap<String, Vec<u8>> = entries(&s)
            .expect("entries")
            .into_iter()
            .map(|(k, (_, v))| (k, v))
            .collect();
        raw.insert("pod03/r1/files/etc/shadow".into(), b"x".to_vec());
        let e = format!("{:#}", parse(raw).expect_err("extra"));
        assert!(e.contains("is in no manifest"), "{e}");
    }

    #[test]
    fn links_devices_and_paths_leading_out_are_refused() {
        let e = format!(
            "{:#}",
            read_bytes(&crafted(&[(
                "pod01/r1/files/etc/frr/frr.conf",
                tar::EntryType::Symlink,
                b"",
                Some("/etc/shadow")
            )]))
            .expect_err("symlink")
        );
        assert!(e.contains("not a regular file"), "{e}");
        let index = serde_json::to_vec(&Index {
            format: FORMAT,
            lab: "bgp".into(),
            created: 0,
            noglab: "0".into(),
            nodes: vec![],
        })
        .expect("json");
        let e = format!(
            "{:#}",
            read_bytes(&crafted(&[
                ("snapshot.json", tar::EntryType::Regular, &index, None),
                ("../../../../tmp/x", tar::EntryType::Regular, b"x", None)
            ]))
            .expect_err("dot-dot")
        );
        assert!(
            e.contains("`../../../../tmp/x` leads outside the snapshot"),
            "{e}"
        );
        // The same index alone is a (useless) valid snapshot: the refusal
        // above is the path's.
        assert!(read_bytes(&crafted(&[(
            "snapshot.json",
            tar::EntryType::Regular,
            &index,
            None
        )]))
        .is_ok());

        // A manifest naming a path that climbs out of the node's root.
        let mut s = sample();
        s.nodes[0].files.insert(
            "/etc/frr/../../root/.ssh/authorized_keys".into(),
            File {
                mode: 0o600,
                content: b"key".to_vec(),
            },
        );
        assert!(entries(&s).is_err(), "written");
    }

    #[test]
    fn stamps_are_utc_dates_that_sort_by_time() {
        assert_eq!(stamp(0), "19700101-000000");
        assert_eq!(stamp(951_782_400), "20000229-000000");
        assert_eq!(stamp(1_796_305_468), "20261203-134428");
    }

    #[test]
    fn the_store_keeps_the_newest_of_each_pod() {
        let root = std::env::temp_dir().join(format!("noglab-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut s = sample();
        let mut shared = s.nodes[0].clone();
        shared.pod = None;
        s.nodes.push(shared);
        for i in 0..(KEEP_PER_POD as u64 + 2) {
            s.created = 1_700_000_000 + i;
            let written = store(&s, &root, "save").expect("stored");
            assert_eq!(written.len(), 2, "one per pod");
            assert_eq!(read(&written[0].1).expect("reads").nodes.len(), 1);
        }
        // The same second twice gets a second name.
        let again = store(&s, &root, "save").expect("stored");
        assert!(
            again[0].1.to_string_lossy().ends_with("-save-2"),
            "{again:?}"
        );
        let kept = stored(&root, "bgp", Some(3)).expect("listed");
        assert_eq!(kept.len(), KEEP_PER_POD);
        assert!(kept
            .last()
            .expect("newest")
            .ends_with(format!("{}-save-2", stamp(s.created))));
        assert_eq!(
            stored(&root, "bgp", None).expect("listed").len(),
            KEEP_PER_POD
        );
        assert!(stored(&root, "bgp", Some(4)).expect("listed").is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn state_paths_are_matched_by_component() {
        let roots = ["/etc/frr", "/var/lib/bind"];
        assert!(inside("/etc/frr/frr.conf", &roots));
        assert!(inside("/etc/frr", &roots));
        assert!(!inside("/etc/frr2/x", &roots));
        assert!(!inside("/etc/passwd", &roots));
        assert!(!inside("etc/frr/frr.conf", &roots));
        assert!(!inside("/etc/frr/../passwd", &roots));
        let mut s = sample();
        assert!(check_paths(&s.nodes[0], &["/etc/frr"]).is_ok());
        s.nodes[0].files.insert(
            "/etc/passwd".into(),
            File {
                mode: 0o644,
                content: b"root::0:0::/:/bin/sh\n".to_vec(),
            },
        );
        let e = check_paths(&s.nodes[0], &["/etc/frr"]).expect_err("outside");
        assert!(e.to_string().contains("`/etc/passwd` is outside"), "{e}");
    }
}
