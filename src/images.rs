//! The images noglab builds, embedded in the binary so `noglab images build`
//! works from any folder. An image's tag is a hash of its build context and
//! noglab's version: a changed Dockerfile gives a new tag (and a rebuild),
//! an unchanged one reuses what the engine has.

use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/images.rs"));

/// One image's build context: its own folder under `images/` plus `common/`.
#[derive(Debug)]
pub struct ImageDef {
    pub name: &'static str,
    pub dockerfile: &'static str,
    /// Software that is not in Debian, compiled on this machine with
    /// `cargo install` and added to the context (text-only embedding cannot
    /// carry binaries, and a build inside the engine may have no trusted
    /// path to crates.io).
    pub crate_build: Option<CrateBuild>,
    /// Python packages from PyPI that the image installs with pip, fetched
    /// on this machine first (see `Wheels`).
    pub wheels: Option<Wheels>,
    /// Built only when asked for by name: its build is too long to happen
    /// as a side effect of `images build` with no kinds.
    pub on_request: bool,
}

/// Python packages fetched once into noglab's cache with this machine's
/// pip (`pip download`: its trusted path to PyPI, which a build inside the
/// engine may lack, as `crate_build` has for crates.io) and added to the
/// context as `<image>/wheels/`, from which the Dockerfile installs them
/// with pip, offline: wheels for the image's Python and the machine's
/// architecture, and the source of packages that have no wheel.
#[derive(Debug)]
pub struct Wheels {
    /// The requirements file in the image's folder: every package, each
    /// pinned to one version (`pip download --no-deps` takes them as
    /// they are).
    pub requirements: &'static str,
    /// The image's Python, `MAJOR.MINOR` (bookworm's: 3.11).
    pub python: &'static str,
    /// The newest glibc of the image's manylinux wheels (bookworm's: 2.36).
    pub glibc_minor: u32,
}

/// A crate `cargo install`ed once into noglab's cache; its binaries go into
/// the context as `<image>/bin/<binary>`.
#[derive(Debug)]
pub struct CrateBuild {
    pub krate: &'static str,
    pub version: &'static str,
    pub args: &'static [&'static str],
    pub binaries: &'static [&'static str],
}

impl CrateBuild {
    /// `krill-0.16.1`: the cache folder's name.
    pub fn slug(&self) -> String {
        format!("{}-{}", self.krate, self.version)
    }
}

pub static IMAGES: &[ImageDef] = &[
    ImageDef {
        name: "frr",
        dockerfile: "frr/Dockerfile",
        crate_build: None,
        wheels: None,
        on_request: false,
    },
    ImageDef {
        name: "host",
        dockerfile: "host/Dockerfile",
        crate_build: None,
        wheels: None,
        on_request: false,
    },
    ImageDef {
        name: "bird",
        dockerfile: "bird/Dockerfile",
        crate_build: None,
        wheels: None,
        on_request: false,
    },
    ImageDef {
        name: "unbound",
        dockerfile: "unbound/Dockerfile",
        crate_build: None,
        wheels: None,
        on_request: false,
    },
    ImageDef {
        name: "bind",
        dockerfile: "bind/Dockerfile",
        crate_build: None,
        wheels: None,
        on_request: false,
    },
    ImageDef {
        name: "knot",
        dockerfile: "knot/Dockerfile",
        crate_build: None,
        wheels: None,
        on_request: false,
    },
    ImageDef {
        name: "rtr",
        dockerfile: "rtr/Dockerfile",
        crate_build: None,
        wheels: None,
        on_request: false,
    },
    ImageDef {
        name: "rpki",
        dockerfile: "rpki/Dockerfile",
        crate_build: None,
        wheels: None,
        on_request: false,
    },
    ImageDef {
        name: "krill",
        dockerfile: "krill/Dockerfile",
        crate_build: Some(CrateBuild {
            krate: "krill",
            version: "0.16.1",
            // Without OpenID Connect and HSM support: a lab's CA signs with
            // keys on disk and is driven with krillc.
            args: &["--locked", "--no-default-features"],
            binaries: &["krill", "krillc"],
        }),
        wheels: None,
        on_request: true,
    },
    ImageDef {
        name: "irr",
        dockerfile: "irr/Dockerfile",
        crate_build: None,
        // IRRd 4 and its packages, pinned; bookworm's Python 3.11.
        wheels: Some(Wheels {
            requirements: "irr/requirements.txt",
            python: "3.11",
            glibc_minor: 36,
        }),
        // Fetching and compiling the packages takes minutes, and needs pip.
        on_request: true,
    },
    ImageDef {
        name: "access",
        dockerfile: "access/Dockerfile",
        crate_build: None,
        wheels: None,
        on_request: false,
    },
];

/// Builds the base image with debootstrap when it cannot be pulled.
pub const BOOTSTRAP_SCRIPT: &str = include_str!("../images/base/bootstrap.sh");

/// The base every Dockerfile starts from.
pub const BASE_IMAGE: &str = "debian:bookworm-slim";

pub fn lookup(name: &str) -> Option<&'static ImageDef> {
    IMAGES.iter().find(|i| i.name == name)
}

impl ImageDef {
    /// All files of the build context, common ones included, in a stable order.
    pub fn context_files(&self) -> Vec<(&'static str, &'static str)> {
        let own = format!("{}/", self.name);
        EMBEDDED
            .iter()
            .filter(|(p, _)| p.starts_with("common/") || p.starts_with(&own))
            .copied()
            .collect()
    }

    /// `noglab/frr:0.1.0-1a2b3c4d5e6f`.
    pub fn reference(&self) -> String {
        // Hashing every context file is a tenth of planning a lab when
        // done per node: once per image and process.
        static REFERENCES: std::sync::LazyLock<
            std::sync::Mutex<std::collections::HashMap<&'static str, String>>,
        > = std::sync::LazyLock::new(Default::default);
        let mut known = REFERENCES.lock().unwrap_or_else(|e| e.into_inner());
        known
            .entry(self.name)
            .or_insert_with(|| self.reference_uncached())
            .clone()
    }

    fn reference_uncached(&self) -> String {
        let mut h = Sha256::new();
        h.update(env!("CARGO_PKG_VERSION"));
        if let Some(c) = &self.crate_build {
            h.update(c.slug().as_bytes());
            h.update([0]);
            for a in c.args {
                h.update(a.as_bytes());
                h.update([0]);
            }
        }
        if let Some(w) = &self.wheels {
            // The requirements are in the context files below.
            h.update(w.python.as_bytes());
            h.update([0]);
            h.update(w.glibc_minor.to_le_bytes());
        }
        for (path, text) in self.context_files() {
            h.update(path.as_bytes());
            h.update([0]);
            h.update(text.as_bytes());
            h.update([0]);
        }
        let digest = h.finalize();
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("noglab/{}:{}-{}", self.name, env!("CARGO_PKG_VERSION"), hex)
    }

    /// The build context as an uncompressed tar, with `binaries` (path in
    /// the context, content) added as executables.
    pub fn context_tar(&self, binaries: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in binaries {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o755);
            header.set_mtime(0);
            header.set_cksum();
            builder.append_data(&mut header, path, content.as_slice())?;
        }
        for (path, text) in self.context_files() {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            // Scripts have no extension; Dockerfiles and data files
            // (`knot.conf`, `vrps.json`) are not executable.
            let file = path.rsplit('/').next().unwrap_or(path);
            let executable = file != "Dockerfile" && !file.contains('.');
            header.set_mode(if executable { 0o755 } else { 0o644 });
            header.set_mtime(0);
            header.set_cksum();
            builder.append_data(&mut header, path, text.as_bytes())?;
        }
        builder.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_stable_and_distinct() {
        let frr = lookup("frr").expect("frr image");
        let host = lookup("host").expect("host image");
        assert_eq!(frr.reference(), frr.reference());
        assert_ne!(frr.reference(), host.reference());
        assert!(frr.reference().starts_with("noglab/frr:"));
    }

    #[test]
    fn dockerfiles_start_from_the_base() {
        for image in IMAGES {
            let files = image.context_files();
            let (_, text) = files
                .iter()
                .find(|(p, _)| *p == image.dockerfile)
                .expect("dockerfile in context");
            assert!(
                text.contains(&format!("FROM {BASE_IMAGE}")),
                "{}",
                image.name
            );
        }
    }
}
