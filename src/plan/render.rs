//! Rendering of tera templates with the whole error chain in the message:
//! tera's top-level error only says which template failed, the cause says why.

use std::error::Error as _;

/// Renders one template string against a JSON context.
pub fn render(template: &str, context: &serde_json::Value) -> Result<String, String> {
    let ctx = tera::Context::from_value(context.clone()).map_err(|e| e.to_string())?;
    tera::Tera::one_off(template, &ctx, false).map_err(|e| chain(&e))
}

/// Renders every string inside a YAML value (maps and lists included).
pub fn render_value(
    value: &serde_yaml::Value,
    context: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::String(s) => serde_json::Value::String(render(s, context)?),
        Y::Sequence(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|v| render_value(v, context))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .map_err(|e| e.to_string())?
                        .trim()
                        .to_string(),
                };
                out.insert(key, render_value(v, context)?);
            }
            serde_json::Value::Object(out)
        }
        Y::Tagged(t) => render_value(&t.value, context)?,
        other => serde_json::to_value(other).map_err(|e| e.to_string())?,
    })
}

fn chain(e: &tera::Error) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = e.source();
    while let Some(err) = cur {
        parts.push(err.to_string());
        cur = err.source();
    }
    let top = e.to_string();
    if parts.is_empty() {
        return format!("template error: {top}");
    }
    // The top error names tera's internal one-off template; the causes say what broke.
    format!("template error: {}", parts.join(": "))
        .replace(" in '__tera_one_off'", "")
        .replace(" while rendering '__tera_one_off'", "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_arithmetic_on_the_pod() {
        let out = render("{{ 65000 + pod }}", &json!({"pod": 3})).expect("renders");
        assert_eq!(out, "65003");
    }

    #[test]
    fn missing_variable_names_it() {
        let e = render("{{ vars.nope }}", &json!({"vars": {}})).expect_err("fails");
        assert!(e.contains("vars.nope"), "{e}");
        assert!(!e.contains("__tera_one_off"), "{e}");
    }

    #[test]
    fn includes_cannot_read_files() {
        assert!(render("{% include \"/etc/passwd\" %}", &json!({})).is_err());
    }
}
