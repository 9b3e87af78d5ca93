//! `noglab schema`: the JSON Schema of topology files, for editors and
//! other tools (the same text as `schema/topology.schema.json`).

use anyhow::Result;

pub fn run() -> Result<()> {
    print!("{}", crate::schema::text());
    Ok(())
}
