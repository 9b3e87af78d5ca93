//! A lab's guide for the participant's page: `README.md` and its
//! translations `README.<lang>.md` from the lab's folder, rendered from
//! Markdown to HTML on the server. Raw HTML in the Markdown is shown as
//! text, never run; links between the guide's languages become the
//! page's language switch.

use std::path::Path;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

/// The languages a lab folder has a guide in: `en` for `README.md`,
/// then each `README.<lang>.md`, sorted.
pub fn languages(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(lang) = language_of(&name) {
            out.push(lang);
        }
    }
    out.sort_by_key(|l| (l != "en", l.clone()));
    out
}

/// `README.md` -> `en`, `README.pt.md` -> `pt`; other names: none.
fn language_of(file: &str) -> Option<String> {
    if file == "README.md" {
        return Some("en".into());
    }
    let lang = file.strip_prefix("README.")?.strip_suffix(".md")?;
    (!lang.is_empty()
        && lang.len() <= 8
        && lang.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
    .then(|| lang.to_string())
}

/// The guide in `lang`, as HTML; `None` when the lab has none in it.
pub fn render(dir: &Path, lang: &str) -> Option<String> {
    if !languages(dir).iter().any(|l| l == lang) {
        return None;
    }
    let file = if lang == "en" {
        "README.md".to_string()
    } else {
        format!("README.{lang}.md")
    };
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    Some(to_html(&text))
}

/// Markdown to HTML, with raw HTML as text and links checked.
pub fn to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_link(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image { dest_url, .. }) => {
            // Images would be fetched from the lab folder, which the
            // portal does not serve: their address is shown instead.
            Event::Text(dest_url)
        }
        Event::End(pulldown_cmark::TagEnd::Image) => Event::Text("".into()),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// A link to another language of the guide becomes `#guide-LANG`; a link
/// with a scheme other than http(s) or mailto goes nowhere.
fn safe_link(dest: CowStr<'_>) -> CowStr<'_> {
    if let Some(lang) = language_of(&dest) {
        return format!("#guide-{lang}").into();
    }
    let lower = dest.to_ascii_lowercase();
    match lower.split_once(':') {
        Some((scheme, _))
            if !scheme.contains('/') && !["http", "https", "mailto"].contains(&scheme) =>
        {
            "#".into()
        }
        _ => dest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_shown_never_run() {
        let html = to_html("Hi <script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn links_switch_language_or_stay_harmless() {
        let html = to_html(
            "[Português](README.pt.md) [x](javascript:alert(1)) [rfc](https://www.rfc-editor.org/)",
        );
        assert!(html.contains(r##"href="#guide-pt""##), "{html}");
        assert!(!html.contains("javascript"), "{html}");
        assert!(html.contains("https://www.rfc-editor.org/"), "{html}");
    }

    #[test]
    fn the_bgp_lab_has_its_guide_in_three_languages() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/bgp");
        assert_eq!(languages(&dir), ["en", "es", "pt"]);
        let pt = render(&dir, "pt").expect("pt");
        assert!(pt.contains("<h1>BGP para provedores"), "{}", &pt[..200]);
        assert!(render(&dir, "de").is_none());
        assert!(render(&dir, "../../etc/passwd").is_none());
    }
}
