//! noglab's one integration-test binary. Modules by what they need:
//! `plan_golden`, `errors` and `examples` run without Docker; `docker`,
//! `kinds` and `topologies` drive a real engine (each test on its own lab,
//! removed by label even when the test fails).

#[path = "cli/support.rs"]
mod support;

#[path = "cli/errors.rs"]
mod errors;
#[path = "cli/examples.rs"]
mod examples;
#[path = "cli/plan_golden.rs"]
mod plan_golden;

#[path = "cli/docker.rs"]
mod docker;

#[path = "cli/engines.rs"]
mod engines;

#[path = "cli/access.rs"]
mod access;

#[path = "cli/portal.rs"]
mod portal;

#[path = "cli/checks.rs"]
mod checks;

#[path = "cli/faults.rs"]
mod faults;

#[path = "cli/links.rs"]
mod links;

#[path = "cli/kinds.rs"]
mod kinds;

#[path = "cli/ecosystem.rs"]
mod ecosystem;

#[path = "cli/labs_ipv6.rs"]
mod labs_ipv6;

#[path = "cli/labs_bgp.rs"]
mod labs_bgp;

#[path = "cli/labs_dnssec.rs"]
mod labs_dnssec;

#[path = "cli/labs_rpki.rs"]
mod labs_rpki;

#[path = "cli/labs_manrs.rs"]
mod labs_manrs;

#[path = "cli/labs_resilience.rs"]
mod labs_resilience;

#[path = "cli/readiness.rs"]
mod readiness;

#[path = "cli/topologies.rs"]
mod topologies;

#[path = "cli/hardening.rs"]
mod hardening;
#[path = "cli/import.rs"]
mod import;
#[path = "cli/snapshots.rs"]
mod snapshots;
