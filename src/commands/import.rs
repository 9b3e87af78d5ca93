//! `noglab import containerlab FILE [-o DIR]`: reads the containerlab
//! topology and the files it binds, writes the lab folder `import` made,
//! and lists on stderr what was changed and what was left out (exit 1
//! when anything was).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::diag::{input_error, ExitCode};
use crate::import::{self, Files};

/// Files relative to the containerlab topology's folder.
struct Disk {
    dir: PathBuf,
}

impl Disk {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

impl Files for Disk {
    fn read(&self, path: &str) -> Result<String, String> {
        let bytes = std::fs::read(self.path(path)).map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|_| "it is not text (UTF-8)".to_string())
    }

    fn list(&self, path: &str) -> Option<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(path))
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Some(names)
    }
}

pub fn containerlab(file: &Path, output: Option<&Path>) -> Result<()> {
    let source = std::fs::read_to_string(file)
        .map_err(|e| input_error(format!("cannot read {}: {e}", file.display())))?;
    let disk = Disk {
        dir: file.parent().unwrap_or(Path::new(".")).to_path_buf(),
    };
    let imported = import::containerlab(file, &source, &disk)?;
    let dir = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(&imported.lab));
    let topology = dir.join("topology.yml");
    if topology.exists() {
        return Err(input_error(format!(
            "{} exists already; name another folder with -o, or remove it",
            topology.display()
        )));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    for (name, text) in &imported.files {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    let dropped = imported.notes.iter().filter(|n| n.dropped).count();
    for note in &imported.notes {
        let what = if note.dropped { "" } else { "note: " };
        eprintln!(
            "{}:{}:{}: {what}{}",
            file.display(),
            note.pos.line,
            note.pos.col,
            note.message
        );
    }
    println!(
        "{}: lab {} written from {} ({} files); check it with `noglab validate {}`",
        dir.display(),
        imported.lab,
        file.display(),
        imported.files.len(),
        dir.display()
    );
    if dropped > 0 {
        eprintln!(
            "{dropped} thing{} of {} not converted (listed above); the lab was written without {}",
            if dropped == 1 { "" } else { "s" },
            file.display(),
            if dropped == 1 { "it" } else { "them" }
        );
        return Err(ExitCode(1).into());
    }
    Ok(())
}
