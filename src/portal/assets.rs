//! The portal's pages, scripts and styles, embedded at build time from
//! `portal/` and from the npm packages of package-lock.json.

include!(concat!(env!("OUT_DIR"), "/portal.rs"));

/// An embedded file and its media type, by the path it is served at.
pub fn get(path: &str) -> Option<(&'static [u8], &'static str)> {
    let (_, data) = FILES.iter().find(|(p, _)| *p == path)?;
    Some((data, media_type(path)))
}

fn media_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_and_the_terminal_are_in_the_binary() {
        for path in [
            "index.html",
            "app.js",
            "style.css",
            "vendor/xterm.js",
            "vendor/xterm.css",
            "vendor/addon-fit.js",
        ] {
            let (data, _) = get(path).unwrap_or_else(|| panic!("{path} is not embedded"));
            assert!(!data.is_empty(), "{path}");
        }
        assert_eq!(
            get("app.js").map(|(_, t)| t),
            Some("text/javascript; charset=utf-8")
        );
        assert!(get("../Cargo.toml").is_none());
    }
}
