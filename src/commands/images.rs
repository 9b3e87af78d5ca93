//! `noglab images build|list|save|load`: the node images, built locally
//! from the Dockerfiles embedded in noglab, on `debian:bookworm-slim` pulled
//! or, when no registry answers, bootstrapped from Debian's packages; and
//! bundles of them for a classroom server with no registry.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use crate::cli::ListFormat;
use crate::diag::input_error;
use crate::engine::{Connector, Engine};
use crate::images::{self, ImageDef, BASE_IMAGE};
use crate::kinds;
use crate::progress::Progress;

/// The images of the named kinds; with none, every image but those built
/// only on request.
fn selected(kind_names: &[String]) -> Result<Vec<&'static ImageDef>> {
    if kind_names.is_empty() {
        return Ok(images::IMAGES.iter().filter(|d| !d.on_request).collect());
    }
    let mut out = Vec::new();
    for name in kind_names {
        let kind = kinds::lookup(name).ok_or_else(|| {
            input_error(format!(
                "unknown kind `{name}`; valid kinds: {}",
                kinds::names().join(", ")
            ))
        })?;
        let def = images::lookup(kind.image)
            .ok_or_else(|| anyhow!("kind {name} has no image noglab can build"))?;
        if !out.iter().any(|d: &&ImageDef| d.name == def.name) {
            out.push(def);
        }
    }
    Ok(out)
}

pub async fn build<C: Connector>(
    engines: &C,
    kind_names: &[String],
    rebuild: bool,
    bootstrap: bool,
    quiet: bool,
) -> Result<()> {
    let defs = selected(kind_names)?;
    let engine = engines.engine().await?;
    let progress = Progress::new(quiet);
    build_images(engine, &defs, rebuild, bootstrap, &progress).await?;
    progress.finish();
    if quiet {
        return Ok(());
    }
    println!("images ready");
    if kind_names.is_empty() {
        println!("{}", left_out());
    }
    Ok(())
}

/// What `images build` without kinds does not build, and how to.
fn left_out() -> String {
    let names: Vec<&str> = images::IMAGES
        .iter()
        .filter(|d| d.on_request)
        .map(|d| d.name)
        .collect();
    format!(
        "not built, as they are only built when named (long builds that fetch or compile software on this machine): {}; `noglab images build {}` builds them",
        names.join(", "),
        names.join(" ")
    )
}

/// The base image, then each image that is missing (or every one, with
/// `rebuild`).
async fn build_images<E: Engine>(
    engine: &E,
    defs: &[&'static ImageDef],
    rebuild: bool,
    bootstrap: bool,
    progress: &Progress,
) -> Result<()> {
    progress.add(defs.len() as u64 + 1);
    ensure_base(engine, bootstrap, progress).await?;
    progress.inc();
    for def in defs {
        let reference = def.reference();
        if !rebuild && engine.image_exists(&reference).await? {
            progress.println(format!("{reference}: present"));
            progress.inc();
            continue;
        }
        let started = std::time::Instant::now();
        let mut binaries = match &def.crate_build {
            Some(c) => crate_binaries(def.name, c, progress).await?,
            None => Vec::new(),
        };
        if let Some(w) = &def.wheels {
            binaries.extend(wheel_files(def, w, progress).await?);
        }
        progress.step(format!("building {reference}"));
        let context = def
            .context_tar(&binaries)
            .context("failed to pack the build context")?;
        engine
            .build(&reference, def.dockerfile, context, |line| {
                if line.starts_with("Step ") {
                    progress.step(format!("{}: {line}", def.name));
                }
            })
            .await?;
        progress.println(format!(
            "{reference}: built in {:.0}s",
            started.elapsed().as_secs_f64()
        ));
        progress.inc();
    }
    Ok(())
}

/// Where noglab keeps what it compiles: `$NOGLAB_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/noglab`, else `~/.cache/noglab`.
fn cache_dir() -> Result<std::path::PathBuf> {
    if let Some(d) = std::env::var_os("NOGLAB_CACHE_DIR") {
        return Ok(d.into());
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Ok(std::path::PathBuf::from(d).join("noglab"));
    }
    match std::env::var_os("HOME") {
        Some(h) => Ok(std::path::PathBuf::from(h).join(".cache/noglab")),
        None => bail!("cannot tell where to cache compiled software: set NOGLAB_CACHE_DIR"),
    }
}

/// The crate's binaries, compiled with `cargo install` into the cache the
/// first time (Krill: about half an hour on two cores), as context entries.
async fn crate_binaries(
    image: &str,
    c: &images::CrateBuild,
    progress: &Progress,
) -> Result<Vec<(String, Vec<u8>)>> {
    let root = cache_dir()?.join("crates").join(c.slug());
    let missing = |root: &Path| {
        c.binaries
            .iter()
            .any(|b| !root.join("bin").join(b).is_file())
    };
    if missing(&root) {
        progress.step(format!(
            "compiling {} {} with cargo into {} (once; Krill takes about half an hour on two cores)",
            c.krate,
            c.version,
            root.display()
        ));
        let build_dir = cache_dir()?
            .join("crates")
            .join(format!("{}.build", c.slug()));
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.arg("install")
            .arg(c.krate)
            .arg("--version")
            .arg(c.version)
            .args(c.args)
            .arg("--root")
            .arg(&root)
            .arg("--target-dir")
            .arg(&build_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .context("the cargo task failed")?
            .map_err(|e| {
            anyhow!(
                "failed to run cargo to compile {} for the {image} image ({e}); install Rust (rustup) on this machine, or load a bundle that has the image (`noglab images load`)",
                c.krate
            )
        })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<String> = err.lines().map(String::from).collect();
            if let Some(evidence) = crate::engine::disk_full("", &lines) {
                // The partial build stays: cargo resumes it once there is room.
                bail!(
                    "failed to compile {} {} for the {image} image: {} is on a full disk (no space left on device: `{evidence}`); free space there (the partial build resumes on the next try), or set NOGLAB_CACHE_DIR to a folder on a disk with a few GB free (the compiled objects are removed once the binaries are built), and run `noglab images build {image}` again",
                    c.krate,
                    c.version,
                    build_dir.display()
                );
            }
            let tail: Vec<&str> = err.lines().rev().take(20).collect();
            bail!(
                "failed to compile {} {} for the {image} image with `cargo install`:\n{}",
                c.krate,
                c.version,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        // The compiled objects are gigabytes and no longer needed.
        let _ = std::fs::remove_dir_all(&build_dir);
    }
    c.binaries
        .iter()
        .map(|b| {
            let path = root.join("bin").join(b);
            let bytes = std::fs::read(&path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            Ok((format!("{image}/bin/{b}"), bytes))
        })
        .collect()
}

/// The Python packages of `w`, fetched with this machine's pip into the
/// cache the first time (IRRd's: a minute or two), as context entries
/// `<image>/wheels/<file>`.
async fn wheel_files(
    def: &ImageDef,
    w: &images::Wheels,
    progress: &Progress,
) -> Result<Vec<(String, Vec<u8>)>> {
    let image = def.name;
    let requirements = def
        .context_files()
        .into_iter()
        .find(|(p, _)| *p == w.requirements)
        .map(|(_, text)| text)
        .ok_or_else(|| anyhow!("the {image} image has no {}", w.requirements))?;
    let arch = std::env::consts::ARCH;
    let dir = cache_dir()?
        .join("wheels")
        .join(wheel_cache_name(image, requirements, w, arch));
    let done = dir.join(".complete");
    if !done.is_file() {
        progress.step(format!(
            "fetching the {image} image's Python packages with pip into {} (once)",
            dir.display()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let list = dir.join("requirements.txt");
        std::fs::write(&list, requirements)
            .with_context(|| format!("failed to write {}", list.display()))?;
        let mut cmd = Command::new("python3");
        cmd.args(pip_download_args(w, arch))
            .arg("--dest")
            .arg(&dir)
            .arg("-r")
            .arg(&list)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .context("the pip task failed")?
            .map_err(|e| {
                anyhow!(
                    "failed to run python3 to fetch the {image} image's Python packages ({e}); install Python's pip on this machine (Debian: `apt-get install python3-pip`), or load a bundle that has the image (`noglab images load`)"
                )
            })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(15).collect();
            bail!(
                "failed to fetch the {image} image's Python packages with `python3 -m pip download` (needs pip and a way to PyPI; Debian: `apt-get install python3-pip`):\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::fs::remove_file(&list).ok();
        std::fs::write(&done, "").with_context(|| format!("failed to write {}", done.display()))?;
    }
    let mut files = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("failed to read {}", dir.display()))?
    {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with('.') {
            continue;
        }
        let bytes =
            std::fs::read(&path).with_context(|| format!("failed to read {}", path.display()))?;
        files.push((format!("{image}/wheels/{name}"), bytes));
    }
    files.sort();
    Ok(files)
}

/// The cache folder of an image's packages: a new one whenever the
/// requirements, the Python or the architecture change.
fn wheel_cache_name(image: &str, requirements: &str, w: &images::Wheels, arch: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [requirements, w.python, arch] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(w.glibc_minor.to_le_bytes());
    let hex: String = h
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{image}-py{}-{arch}-{hex}", w.python)
}

/// `python3 -m pip download`'s arguments for the image's Python and the
/// machine's architecture: manylinux wheels up to the image's glibc (pip
/// takes a platform tag only as given, so each is named), abi3 and pure
/// ones; with `--no-deps` (every package is in the list), pip falls back
/// to a package's source when it has no such wheel.
fn pip_download_args(w: &images::Wheels, arch: &str) -> Vec<String> {
    let mut args: Vec<String> = ["-m", "pip", "download", "--quiet", "--no-deps"]
        .map(String::from)
        .to_vec();
    let python = w.python.replace('.', "");
    args.extend([
        "--python-version".into(),
        w.python.into(),
        "--implementation".into(),
        "cp".into(),
    ]);
    for abi in [format!("cp{python}"), "abi3".into(), "none".into()] {
        args.extend(["--abi".into(), abi]);
    }
    let mut platforms: Vec<String> = (5..=w.glibc_minor)
        .rev()
        .map(|minor| format!("manylinux_2_{minor}_{arch}"))
        .collect();
    platforms
        .extend(["manylinux2014", "manylinux2010", "manylinux1"].map(|p| format!("{p}_{arch}")));
    for p in platforms {
        args.extend(["--platform".into(), p]);
    }
    args
}

/// The base image: present, else pulled, else bootstrapped with debootstrap.
async fn ensure_base<E: Engine>(engine: &E, bootstrap: bool, progress: &Progress) -> Result<()> {
    if !bootstrap && engine.image_exists(BASE_IMAGE).await? {
        return Ok(());
    }
    if !bootstrap {
        progress.step(format!("pulling {BASE_IMAGE}"));
        match engine.pull(BASE_IMAGE).await {
            Ok(()) => return Ok(()),
            Err(e) => progress.println(format!(
                "cannot pull {BASE_IMAGE} ({e:#}); building it with debootstrap"
            )),
        }
    }
    progress.step(format!(
        "building {BASE_IMAGE} with debootstrap (about a minute)"
    ));
    let script = images::BOOTSTRAP_SCRIPT.to_string();
    let output = tokio::task::spawn_blocking(move || -> std::io::Result<std::process::Output> {
        let mut child = Command::new("bash")
            .arg("-s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes())?;
        }
        child.wait_with_output()
    })
    .await
    .context("the bootstrap task failed")?
    .context("failed to run bash for the debootstrap build")?;
    if !output.status.success() {
        bail!(
            "failed to build {BASE_IMAGE} with debootstrap (it needs root, debootstrap and a Debian mirror; set NOGLAB_DEBIAN_MIRROR to use another):\n{}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct ImageRow {
    kind: String,
    image: String,
    present: bool,
    size_mb: Option<f64>,
}

pub async fn list<C: Connector>(engines: &C, format: ListFormat) -> Result<()> {
    let engine = engines.engine().await?;
    let text = list_text(engine, format).await?;
    print!("{text}");
    Ok(())
}

/// Every kind's image, whether the engine has it and its size.
async fn list_text<E: Engine>(engine: &E, format: ListFormat) -> Result<String> {
    let mut rows = Vec::new();
    for kind in kinds::KINDS {
        let Some(def) = images::lookup(kind.image) else {
            continue;
        };
        let image = def.reference();
        let size = engine.image_size(&image).await?;
        rows.push(ImageRow {
            kind: kind.name.to_string(),
            image,
            present: size.is_some(),
            size_mb: size.map(|s| (s as f64 / 1e6 * 10.0).round() / 10.0),
        });
    }
    Ok(match format {
        ListFormat::Json => {
            serde_json::to_string_pretty(&rows).context("failed to print images")? + "\n"
        }
        ListFormat::Table => {
            let mut s = format!("{:<8} {:<40} {:<8} SIZE\n", "KIND", "IMAGE", "PRESENT");
            for r in rows {
                let size = r
                    .size_mb
                    .map(|s| format!("{s} MB"))
                    .unwrap_or_else(|| "-".into());
                s += &format!(
                    "{:<8} {:<40} {:<8} {size}\n",
                    r.kind,
                    r.image,
                    if r.present { "yes" } else { "no" }
                );
            }
            s
        }
    })
}

/// The images a bundle holds: those of the kinds (or of the lab's nodes in
/// `pods` pods, initial and solved: a node's kind may differ by pod), plus
/// the host image, which `up` also runs as the host guard.
fn bundle_images(
    kind_names: &[String],
    lab: Option<&Path>,
    pods: Option<u32>,
) -> Result<Vec<String>> {
    let mut refs: Vec<String> = match lab {
        Some(file) => {
            let (loaded, plan) = super::load_plan(file, pods, false)?;
            let solved = super::expand_in(&loaded, plan.pods, None, true)?;
            plan.containers()
                .chain(solved.containers())
                .map(|(_, c)| c.image.clone())
                .collect()
        }
        None => selected(kind_names)?
            .into_iter()
            .map(ImageDef::reference)
            .collect(),
    };
    if let Some(host) = images::lookup("host") {
        refs.push(host.reference());
    }
    refs.sort();
    refs.dedup();
    Ok(refs)
}

pub async fn save<C: Connector>(
    engines: &C,
    output: &Path,
    kind_names: &[String],
    lab: Option<&Path>,
    pods: Option<u32>,
    quiet: bool,
) -> Result<()> {
    let refs = bundle_images(kind_names, lab, pods)?;
    let engine = engines.engine().await?;
    let text = save_bundle(engine, output, &refs, quiet).await?;
    print!("{text}");
    Ok(())
}

/// Writes the images to `output`; what was saved, for the instructor.
async fn save_bundle<E: Engine>(
    engine: &E,
    output: &Path,
    refs: &[String],
    quiet: bool,
) -> Result<String> {
    require_present(engine, refs).await?;
    let gzip = output.extension().is_some_and(|e| e == "gz" || e == "tgz");
    // Written beside the target and renamed at the end, so an interrupted
    // save never leaves a bundle that looks complete.
    let partial = output.with_extension(format!(
        "{}.partial",
        output
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("failed to create {}", partial.display()))?;
    let file = std::io::BufWriter::with_capacity(1 << 20, file);
    let progress = Progress::new(quiet);
    progress.step(format!(
        "saving {} images to {}",
        refs.len(),
        output.display()
    ));
    let started = std::time::Instant::now();
    let result = write_bundle(engine, file, refs, gzip, &progress).await;
    progress.finish();
    let raw = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context(format!("failed to save {}", output.display())));
        }
    };
    std::fs::rename(&partial, output).with_context(|| {
        format!(
            "failed to rename {} to {}",
            partial.display(),
            output.display()
        )
    })?;
    let size = std::fs::metadata(output).map(|m| m.len()).unwrap_or(raw);
    let mut text = format!(
        "saved {} images to {} ({} MB{}) in {:.0}s; on the classroom server: `noglab images load {}`\n",
        refs.len(),
        output.display(),
        size / 1_000_000,
        if gzip {
            format!(", {} MB uncompressed", raw / 1_000_000)
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64(),
        output.display()
    );
    for r in refs {
        text += &format!("  {r}\n");
    }
    Ok(text)
}

/// Refuses to save when the engine lacks one of the images.
async fn require_present<E: Engine>(engine: &E, refs: &[String]) -> Result<()> {
    let mut missing = Vec::new();
    for r in refs {
        if !engine.image_exists(r).await? {
            missing.push(r.as_str());
        }
    }
    if !missing.is_empty() {
        let names: Vec<&str> = images::IMAGES
            .iter()
            .filter(|d| missing.contains(&d.reference().as_str()))
            .map(|d| d.name)
            .collect();
        bail!(
            "cannot save images the engine does not have: {}; build them first with `noglab images build {}`",
            missing.join(", "),
            names.join(" ")
        );
    }
    Ok(())
}

/// The engine's archive of the images into `file`, gzipped or not; the
/// bytes of the archive.
async fn write_bundle<E: Engine>(
    engine: &E,
    file: std::io::BufWriter<std::fs::File>,
    refs: &[String],
    gzip: bool,
    progress: &Progress,
) -> Result<u64> {
    let report = |n: u64| progress.step(format!("saving: {} MB", n / 1_000_000));
    if gzip {
        let mut out = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let n = engine.save_images(refs, &mut out, report).await?;
        out.finish()
            .and_then(|mut f| f.flush())
            .map(|()| n)
            .context("failed to write the bundle")
    } else {
        let mut out = file;
        let n = engine.save_images(refs, &mut out, report).await?;
        out.flush()
            .map(|()| n)
            .context("failed to write the bundle")
    }
}

pub async fn load<C: Connector>(engines: &C, file: &Path, quiet: bool) -> Result<()> {
    if !file.is_file() {
        return Err(input_error(format!(
            "no bundle at {}; write one with `noglab images save -o FILE`",
            file.display()
        )));
    }
    let engine = engines.engine().await?;
    let text = load_bundle(engine, file, quiet).await?;
    print!("{text}");
    Ok(())
}

/// Loads a bundle into the engine; what it loaded, for the instructor.
async fn load_bundle<E: Engine>(engine: &E, file: &Path, quiet: bool) -> Result<String> {
    let progress = Progress::new(quiet);
    progress.step(format!("loading {}", file.display()));
    let started = std::time::Instant::now();
    let loaded = engine.load_images(file).await;
    progress.finish();
    let loaded = loaded?;
    let mut text = format!(
        "loaded {} images from {} in {:.0}s\n",
        loaded.len(),
        file.display(),
        started.elapsed().as_secs_f64()
    );
    for r in &loaded {
        text += &format!("  {r}\n");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::{FakeEngine, ARCHIVE_HEADER};

    fn reference(name: &str) -> String {
        images::lookup(name).expect("an image").reference()
    }

    /// What a build asked of the engine.
    async fn build_calls(engine: &FakeEngine, kinds: &[&str], rebuild: bool) -> Vec<String> {
        let names: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let defs = selected(&names).expect("kinds");
        engine.clear_calls();
        build_images(engine, &defs, rebuild, false, &Progress::new(true))
            .await
            .expect("builds");
        engine.calls()
    }

    #[tokio::test]
    async fn only_missing_images_are_built_and_a_missing_base_is_pulled_first() {
        let engine = FakeEngine::default();
        let (frr, host) = (reference("frr"), reference("host"));
        assert_eq!(
            build_calls(&engine, &["frr", "host"], false).await,
            [
                format!("inspect image {BASE_IMAGE}"),
                format!("inspect image {frr}"),
                format!("inspect image {host}"),
            ]
        );

        {
            let mut s = engine.lock();
            s.missing_images.insert(BASE_IMAGE.to_string());
            s.missing_images.insert(frr.clone());
        }
        assert_eq!(
            build_calls(&engine, &["frr", "host"], false).await,
            [
                format!("inspect image {BASE_IMAGE}"),
                format!("pull {BASE_IMAGE}"),
                format!("inspect image {frr}"),
                format!("build {frr} from frr/Dockerfile"),
                format!("inspect image {host}"),
            ]
        );
        assert!(engine.lock().missing_images.is_empty());

        // --rebuild builds what is there too.
        assert_eq!(
            build_calls(&engine, &["host"], true).await,
            [
                format!("inspect image {BASE_IMAGE}"),
                format!("build {host} from host/Dockerfile"),
            ]
        );
    }

    #[tokio::test]
    async fn the_list_has_every_kind_present_or_not() {
        let engine = FakeEngine::default();
        let frr = reference("frr");
        engine.lock().missing_images.insert(frr.clone());
        let table = list_text(&engine, ListFormat::Table).await.expect("lists");
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            format!("{:<8} {:<40} {:<8} SIZE", "KIND", "IMAGE", "PRESENT")
        );
        assert_eq!(lines.len(), 1 + kinds::KINDS.len(), "{table}");
        assert!(
            table.contains(&format!("{:<8} {frr:<40} no       -\n", "frr")),
            "{table}"
        );
        let host = reference("host");
        assert!(
            table.contains(&format!("{:<8} {host:<40} yes      123.4 MB\n", "host")),
            "{table}"
        );
        assert_eq!(engine.calls().len(), kinds::KINDS.len());

        let json: Vec<serde_json::Value> =
            serde_json::from_str(&list_text(&engine, ListFormat::Json).await.expect("lists"))
                .expect("json");
        let row = json.iter().find(|r| r["kind"] == "frr").expect("frr");
        assert_eq!(row["present"], false);
        assert!(row["size_mb"].is_null());
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("noglab-images-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[tokio::test]
    async fn a_bundle_is_saved_whole_and_loads_back() {
        let dir = scratch("round-trip");
        let engine = FakeEngine::default();
        let refs = vec![reference("frr"), reference("host")];
        let output = dir.join("bundle.tar");
        let said = save_bundle(&engine, &output, &refs, true)
            .await
            .expect("saves");
        assert!(
            said.starts_with(&format!("saved 2 images to {} (0 MB)", output.display())),
            "{said}"
        );
        assert!(
            said.ends_with(&format!("\n  {}\n  {}\n", refs[0], refs[1])),
            "{said}"
        );
        let written = std::fs::read_to_string(&output).expect("the bundle");
        assert_eq!(
            written,
            format!("{ARCHIVE_HEADER}\n{}\n{}\n", refs[0], refs[1])
        );
        assert!(!dir.join("bundle.tar.partial").exists());

        // On the classroom server, without them.
        let server = FakeEngine::default();
        server.lock().missing_images.extend(refs.iter().cloned());
        let said = load_bundle(&server, &output, true).await.expect("loads");
        assert!(
            said.starts_with(&format!("loaded 2 images from {}", output.display())),
            "{said}"
        );
        assert!(server.lock().missing_images.is_empty());
        assert_eq!(server.calls(), [format!("load {}", output.display())]);

        // Compressed when the name says so.
        let gz = dir.join("bundle.tar.gz");
        let said = save_bundle(&engine, &gz, &refs, true).await.expect("saves");
        assert!(said.contains(" MB uncompressed) in "), "{said}");
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&gz).expect("gz")),
            &mut text,
        )
        .expect("gzip");
        assert_eq!(text, written);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_bundle_of_images_the_engine_lacks_is_not_started() {
        let dir = scratch("missing");
        let engine = FakeEngine::default();
        let krill = reference("krill");
        engine.lock().missing_images.insert(krill.clone());
        let output = dir.join("bundle.tar");
        let err = save_bundle(&engine, &output, &[reference("host"), krill.clone()], true)
            .await
            .expect_err("krill is missing");
        assert_eq!(
            format!("{err}"),
            format!("cannot save images the engine does not have: {krill}; build them first with `noglab images build krill`")
        );
        assert!(!output.exists() && !dir.join("bundle.tar.partial").exists());
        assert!(engine
            .calls()
            .iter()
            .all(|c| c.starts_with("inspect image")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn images_built_on_request_only_when_named() {
        let all: Vec<&str> = selected(&[]).expect("all").iter().map(|d| d.name).collect();
        assert!(!all.contains(&"krill"), "{all:?}");
        assert!(all.contains(&"frr") && all.contains(&"rpki"), "{all:?}");
        let named = selected(&["krill".to_string()]).expect("krill");
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].name, "krill");
        assert!(selected(&["nope".to_string()]).is_err());
    }

    /// What `images build` leaves out is said after the build and in its
    /// help, by the same names it selects.
    #[test]
    fn images_left_out_by_default_are_named_with_how_to_build_them() {
        let built: Vec<&str> = selected(&[]).expect("all").iter().map(|d| d.name).collect();
        let skipped: Vec<&str> = images::IMAGES
            .iter()
            .map(|d| d.name)
            .filter(|n| !built.contains(n))
            .collect();
        assert!(skipped.contains(&"krill"), "{skipped:?}");
        let note = left_out();
        assert!(
            note.ends_with(&format!(
                "`noglab images build {}` builds them",
                skipped.join(" ")
            )),
            "{note}"
        );
        let mut cli = <crate::cli::Cli as clap::CommandFactory>::command();
        cli.build();
        let build = cli
            .find_subcommand("images")
            .and_then(|c| c.find_subcommand("build"))
            .expect("images build");
        let help = build
            .get_arguments()
            .find(|a| a.get_id() == "kinds")
            .and_then(|a| a.get_help())
            .expect("help on kinds")
            .to_string();
        for name in &skipped {
            assert!(help.contains(&format!("`{name}`")), "{help}");
        }
    }

    #[test]
    fn a_lab_bundle_has_the_images_of_every_pod_asked_for() {
        let dir = std::env::temp_dir().join(format!("noglab-bundle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("topology.yml");
        // BIRD from pod 3 on only; Unbound only when solved.
        std::fs::write(
            &file,
            "name: lab\npods: 2\nvars:\n  k: \"{% if pod <= 2 %}frr{% else %}bird{% endif %}\"\n  dns: \"{% if solution %}unbound{% else %}host{% endif %}\"\nnodes:\n  r1: {kind: \"{{ vars.k }}\"}\n  d1: {kind: \"{{ vars.dns }}\"}\nlinks:\n  - endpoints: [r1, d1]\n",
        )
        .expect("write");
        let names = |pods| {
            bundle_images(&[], Some(&file), pods)
                .expect("plans")
                .iter()
                .map(|r| r.split(':').next().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(None), ["noglab/frr", "noglab/host", "noglab/unbound"]);
        assert_eq!(
            names(Some(3)),
            ["noglab/bird", "noglab/frr", "noglab/host", "noglab/unbound"]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
