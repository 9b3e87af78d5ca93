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
}

pub static IMAGES: &[ImageDef] = &[
    ImageDef {
        name: "frr",
        dockerfile: "frr/Dockerfile",
    },
    ImageDef {
        name: "host",
        dockerfile: "host/Dockerfile",
    },
    ImageDef {
        name: "bird",
        dockerfile: "bird/Dockerfile",
    },
    ImageDef {
        name: "unbound",
        dockerfile: "unbound/Dockerfile",
    },
    ImageDef {
        name: "bind",
        dockerfile: "bind/Dockerfile",
    },
    ImageDef {
        name: "knot",
        dockerfile: "knot/Dockerfile",
    },
    ImageDef {
        name: "rtr",
        dockerfile: "rtr/Dockerfile",
    },
    ImageDef {
        name: "rpki",
        dockerfile: "rpki/Dockerfile",
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
        let mut h = Sha256::new();
        h.update(env!("CARGO_PKG_VERSION"));
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

    /// The build context as an uncompressed tar.
    pub fn context_tar(&self) -> std::io::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
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
