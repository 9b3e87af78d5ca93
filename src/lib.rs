//! noglab: identical, isolated per-participant network lab pods on Docker.
//!
//! The core (`topology`, `kinds`, `plan`, `reconcile`) is plain synchronous
//! code; only `engine` talks to Docker, and `commands` glue the two.

#[macro_use]
pub mod topology;
pub mod changes;
pub mod cli;
pub mod commands;
pub mod credentials;
pub mod diag;
pub mod engine;
pub mod graph;
pub mod images;
pub mod import;
pub mod kinds;
pub mod plan;
pub mod portal;
pub mod progress;
pub mod reconcile;
pub mod schema;
pub mod snapshot;
pub mod state;
pub mod stop;
