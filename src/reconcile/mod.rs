//! From what the engine has to what the plan wants, in three parts:
//!
//! - `diff` (pure): compares the resources observed on the engine (found by
//!   their labels) with the plan, by spec hash, and returns the actions that
//!   close the gap; `up`, `reset` and `down --prune`'s pods are all a diff.
//! - `execute` (async, bounded): runs the actions against an [`Engine`]: the
//!   shared pod first, then every pod's removals and networks, then every
//!   pod's containers (nodes slow to be ready before hosts), all pods at
//!   once, with at most `Limits::parallel` engine operations in flight and
//!   `Limits::booting` nodes booting across the lab.
//! - `ready`: the readiness protocol with the init inside each node: the
//!   lines it logs, the files it leaves, and how long noglab waits for it.
//!   Waiting holds no engine slot: it follows the node's log.
//!
//! [`Engine`]: crate::engine::Engine

mod diff;
mod execute;
mod ready;
mod timeline;

pub use diff::{
    diff, finish_waits, recreate_containers, recreate_pod, remove_pod, Action, Diff, Observed,
};
pub use execute::{
    default_booting, execute, execute_seeing, execute_then, Limits, Secrets, BOOTING_PER_CPU,
    DEFAULT_PARALLEL,
};
pub use ready::wait_ready;
pub use timeline::{Step, Timeline};

/// What the tests of the reconciler and of the commands share: a small
/// lab, planned, and brought up on the fake engine.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::engine::fake::FakeEngine;
    use crate::engine::{Engine, Scope};
    use crate::plan::Plan;
    use crate::progress::Progress;
    use crate::stop::Stop;
    use crate::topology::load_str;

    /// A router and a host on one /31, in lab `lab`.
    pub const TOPOLOGY: &str = "name: lab\nnodes:\n  r1: {kind: frr}\n  h1: {kind: host}\nlinks:\n  - endpoints: [r1, h1]\n    ipv4: \"100.64.{{ pod }}.0/31\"\n";

    pub fn plan(pods: u32) -> Plan {
        plan_of(TOPOLOGY, pods)
    }

    pub fn plan_of(source: &str, pods: u32) -> Plan {
        let loaded = load_str(std::path::Path::new("t.yml"), source.to_string(), |_| {
            Err("no files".into())
        })
        .expect("valid topology");
        crate::plan::expand(&loaded, pods, "198.18.0.0/18".parse().expect("block")).expect("plans")
    }

    pub async fn observed(engine: &FakeEngine) -> Observed {
        Observed {
            containers: engine.containers(Scope::Lab("lab")).await.expect("list"),
            networks: engine.networks(Scope::Lab("lab")).await.expect("list"),
        }
    }

    pub fn quiet() -> Progress {
        Progress::new(true)
    }

    pub const NO_WAIT: Limits = Limits {
        parallel: 2,
        booting: 8,
        wait_ready: false,
    };

    /// Executes actions without waiting for readiness or credentials.
    pub async fn run(engine: &FakeEngine, actions: Vec<Action>) -> anyhow::Result<()> {
        run_with(engine, actions, NO_WAIT).await.map(|_| ())
    }

    /// Executes actions within `limits`, without credentials or Ctrl-C;
    /// the nodes seen ready.
    pub async fn run_with(
        engine: &FakeEngine,
        actions: Vec<Action>,
        limits: Limits,
    ) -> anyhow::Result<Vec<String>> {
        execute(
            engine,
            actions,
            limits,
            &Secrets::new(),
            &quiet(),
            &Stop::never(),
        )
        .await
    }

    /// The plan's lab, brought up on the fake as `up` would, with the
    /// calls that took cleared.
    pub async fn up(engine: &FakeEngine, plan: &Plan) {
        let actions = diff(&observed(engine).await, plan, false).actions;
        run(engine, actions).await.expect("the lab comes up");
        engine.clear_calls();
    }
}
