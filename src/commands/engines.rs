//! `noglab engines`: the engines file checked, without connecting, and the
//! engines noglab drives listed: each one's endpoint, the address
//! participants reach its pods at, its share of the pods, and the
//! interface its shared networks ride on.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::cli::ListFormat;
use crate::engine::config::{self, Engines, Share, LOCAL};
use crate::engine::host;

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    endpoint: String,
    tls: bool,
    address: Option<String>,
    /// The most pods it takes, when bounded.
    pods: Option<u32>,
    /// Its share of the pods among the engines.
    weight: u32,
    /// The first of `parents` (what a file with one interface names).
    parent: Option<String>,
    /// The interfaces lab-wide networks ride on, in order.
    parents: Vec<String>,
    /// Whether the lab-wide nodes run there.
    shared: bool,
}

pub fn run(file: Option<&Path>, format: ListFormat) -> Result<()> {
    let rows = match config::from_flag(file)? {
        Some(engines) => rows(&engines),
        None => {
            let chosen = host::from_env().map_err(crate::diag::input_error)?;
            vec![Row {
                name: LOCAL.into(),
                endpoint: chosen.endpoint.to_string(),
                tls: false,
                address: None,
                pods: None,
                weight: 1,
                parent: None,
                parents: Vec::new(),
                shared: true,
            }]
        }
    };
    match format {
        ListFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        ListFormat::Table => print!("{}", table(&rows)),
    }
    Ok(())
}

fn rows(engines: &Engines) -> Vec<Row> {
    engines
        .engines
        .iter()
        .enumerate()
        .map(|(i, e)| Row {
            name: e.name.clone(),
            endpoint: e.endpoint.to_string(),
            tls: e.tls.is_some(),
            address: e.address.clone(),
            pods: e.share.capacity(),
            weight: match e.share {
                Share::Weight(w) => w,
                Share::Pods(n) => n,
            },
            parent: e.parents.first().cloned(),
            parents: e.parents.clone(),
            shared: i == engines.shared,
        })
        .collect()
}

fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                format!("{}{}", r.name, if r.shared { " *" } else { "" }),
                format!("{}{}", r.endpoint, if r.tls { " (tls)" } else { "" }),
                r.address.clone().unwrap_or_else(|| "-".into()),
                match r.pods {
                    Some(n) => format!("at most {n}"),
                    None => format!("weight {}", r.weight),
                },
                if r.parents.is_empty() {
                    "-".into()
                } else {
                    r.parents.join(",")
                },
            ]
        })
        .collect();
    let head = ["ENGINE", "ENDPOINT", "ADDRESS", "PODS", "PARENT"];
    let mut width = head.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(head.map(String::from)).chain(cells) {
        let line: Vec<String> = row
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str("* runs the lab-wide nodes\n");
    out
}
