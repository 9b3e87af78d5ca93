//! Embeds every file under `images/` (build contexts of the node images) so
//! the binary can build them from any folder, and so a new file in an image
//! folder can never be forgotten in a hand-kept list. Embeds the portal's
//! pages (`portal/`) and the front-end packages npm installed for it
//! (`node_modules/`, from package-lock.json), so `noglab serve` needs
//! nothing at run time.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new("images");
    println!("cargo:rerun-if-changed=images");
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    let mut out = String::from("/// Every file under images/, by its path there.\npub static EMBEDDED: &[(&str, &str)] = &[\n");
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .unwrap_or(f)
            .to_string_lossy()
            .replace('\\', "/");
        let abs = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        println!("cargo:rerun-if-changed={}", f.display());
        let _ = writeln!(
            out,
            "    ({rel:?}, include_str!({:?})),",
            abs.to_string_lossy()
        );
    }
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("images.rs");
    std::fs::write(dest, out)
        .unwrap_or_else(|e| panic!("cannot write the embedded image list: {e}"));
    portal();
}

/// The files the portal serves, by the path it serves them at: its own
/// pages, then the npm packages' files it uses (never copied into the
/// repository).
fn portal() {
    println!("cargo:rerun-if-changed=portal");
    println!("cargo:rerun-if-changed=package-lock.json");
    let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
    let mut own = Vec::new();
    collect(Path::new("portal"), &mut own);
    for f in own {
        let rel = f
            .strip_prefix("portal")
            .unwrap_or(&f)
            .to_string_lossy()
            .replace('\\', "/");
        files.push((rel, f));
    }
    for (served, installed) in [
        ("vendor/xterm.js", "node_modules/@xterm/xterm/lib/xterm.js"),
        (
            "vendor/xterm.css",
            "node_modules/@xterm/xterm/css/xterm.css",
        ),
        (
            "vendor/addon-fit.js",
            "node_modules/@xterm/addon-fit/lib/addon-fit.js",
        ),
    ] {
        let path = Path::new(installed);
        println!("cargo:rerun-if-changed={installed}");
        if !path.is_file() {
            panic!(
                "{installed} is missing: the portal embeds it. Install the front-end packages first with `npm ci` in the repository (see README.md, Set-up)"
            );
        }
        files.push((served.to_string(), path.to_path_buf()));
    }
    files.sort();
    let mut out = String::from(
        "/// The portal's files, by the path served.\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, f) in &files {
        let abs = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        println!("cargo:rerun-if-changed={}", f.display());
        let _ = writeln!(
            out,
            "    ({rel:?}, include_bytes!({:?})),",
            abs.to_string_lossy()
        );
    }
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("portal.rs");
    std::fs::write(dest, out)
        .unwrap_or_else(|e| panic!("cannot write the embedded portal files: {e}"));
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
