//! The fleet: one `migrate`, `status` or `plan` over many databases (or
//! schemas). The files are read, checksummed and linted once for all of
//! them; each target then gets its own connection, tracking table, lock and
//! guarantees, exactly as a single run; at most `concurrency` connections
//! are open at any moment (and at most `per_server` on one server), each
//! closed as its target ends. The order of starts, the canary and what a
//! failure stops are the core's schedule.

#[cfg(not(target_family = "wasm"))]
mod run;
#[cfg(not(target_family = "wasm"))]
pub mod targets;

use stratum_core::fleet::{Outcome, Policy};

use crate::database::migrator::{DryRun, MigrateReport, StatusReport};
use crate::error::Result;
use crate::options::Options;

/// Where the fleet's targets come from.
#[derive(Debug, Clone)]
pub enum TargetSource {
    /// Connection URLs.
    Urls(Vec<String>),
    /// A query on the configured connection; each row a database name on
    /// that server, or a full URL.
    DatabasesQuery(String),
    /// A query on the configured connection; each row a schema of that
    /// database with a tenant of its own.
    SchemasQuery(String),
}

/// The default bound on connections open at once.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// By default the first target runs alone before the rest.
pub const DEFAULT_CANARY: usize = 1;

/// What the fleet runs on each target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Migrate,
    Status,
    Plan,
}

/// How the fleet runs: its targets and its policy.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub source: TargetSource,
    pub policy: Policy,
}

/// What one target did.
#[derive(Debug)]
pub enum Work {
    Migrated(MigrateReport),
    Status(StatusReport),
    Planned(DryRun),
}

/// One target's end: what it did, why it failed, or that it never started.
#[derive(Debug)]
pub struct TargetReport {
    /// `host:port/database`, with ` (schema s)` for a schema target.
    pub name: String,
    pub database: String,
    pub schema: Option<String>,
    pub outcome: Outcome,
    /// `None` when skipped.
    pub result: Option<Result<Work>>,
}

/// Every target's report, in the order the targets were given.
#[derive(Debug, Default)]
pub struct FleetReport {
    pub targets: Vec<TargetReport>,
}

impl FleetReport {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.targets
            .iter()
            .filter(|target| target.outcome == outcome)
            .count()
    }
}

/// Runs `command` on every target of `fleet`; `on_target` hears of each
/// target as it ends (skipped ones at the end). A problem shared by all
/// targets (the settings, the files, the targets query) fails the whole
/// call; a target's own failure is in its report.
pub async fn run(
    options: Options,
    fleet: Fleet,
    command: Command,
    on_target: &(dyn Fn(&TargetReport) + Sync),
) -> Result<FleetReport> {
    #[cfg(not(target_family = "wasm"))]
    return run::run(options, fleet, command, on_target).await;
    #[cfg(target_family = "wasm")]
    {
        let _ = (options, fleet, command, on_target);
        Err(crate::error::Error::Config(
            "a fleet needs connections of its own, which this build of stratum \
             (WebAssembly) cannot open: run it with the native package"
                .into(),
        ))
    }
}
