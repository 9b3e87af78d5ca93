//! Embeds every file under `images/` (build contexts of the node images) so
//! the binary can build them from any folder, and so a new file in an image
//! folder can never be forgotten in a hand-kept list.

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
