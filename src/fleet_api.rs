//! The fleet as the API shows it: the options that turn `migrate`, `status`
//! and `plan` into a run over many targets, and their per-target results.

use napi::Status;
use napi::bindgen_prelude::Unknown;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde::Serialize;
use stratum_core::fleet::{Outcome, Policy, Standing, groups};

use crate::database::migrator::StatusReport;
use crate::error::{Error, Result};
use crate::fleet::{self, Command, Fleet, FleetReport, TargetReport, TargetSource, Work};
use crate::{LintDiagnostic, Migration, PendingMigration, saturating_u32};

/// The options that run `migrate`, `status` or `plan` over many databases
/// (or schemas) instead of one. `fresh` and `reset` take none of them.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct FleetOptions {
    /// Connection URLs, one per target database.
    pub targets: Option<Vec<String>>,
    /// Run on the configured connection; each row is a database name on
    /// that server, or a full connection URL.
    pub targets_query: Option<String>,
    /// Run on the configured connection; each row is a schema of that
    /// database holding a tenant, with its own tracking table in it; the
    /// migrations run with `search_path` set to that schema, then `public`.
    pub schemas_query: Option<String>,
    /// At most this many connections open at once, each closed as its
    /// target ends. Default 4.
    pub concurrency: Option<f64>,
    /// At most this many of them on any one server (`host:port`). Default:
    /// no cap but `concurrency`.
    pub per_server: Option<f64>,
    /// The first this many targets run alone; if any fails, no other target
    /// is touched. Default 1.
    pub canary: Option<f64>,
    /// Run every target whatever fails. Default `false`: after a failure no
    /// new target starts, and the running ones finish.
    pub continue_on_error: Option<bool>,
    /// Called as each target ends, skipped ones included, with its entry of
    /// the result.
    #[napi(ts_type = "(target: FleetTarget) => void")]
    pub on_target: Option<TargetCallback>,
}

pub type TargetCallback = ThreadsafeFunction<
    crate::Parsed<serde_json::Value>,
    Unknown<'static>,
    crate::Parsed<serde_json::Value>,
    Status,
    false,
>;

/// The fleet a call asks for, or `None` for a call on one database.
pub struct Requested {
    fleet: Fleet,
    on_target: Option<TargetCallback>,
}

/// The fleet `given` asks for; `None` when it names no targets.
pub fn requested(given: FleetOptions) -> Result<Option<Requested>> {
    let sources = [
        given.targets.is_some(),
        given.targets_query.is_some(),
        given.schemas_query.is_some(),
    ];
    let source = match (given.targets, given.targets_query, given.schemas_query) {
        _ if sources.iter().filter(|given| **given).count() > 1 => {
            return Err(Error::Config(
                "give one of targets, targetsQuery and schemasQuery, not several".into(),
            ));
        }
        (Some(urls), _, _) => TargetSource::Urls(urls),
        (_, Some(sql), _) => TargetSource::DatabasesQuery(sql),
        (_, _, Some(sql)) => TargetSource::SchemasQuery(sql),
        (None, None, None) => {
            let policy_only = given.concurrency.is_some()
                || given.per_server.is_some()
                || given.canary.is_some()
                || given.continue_on_error.is_some();
            if policy_only {
                return Err(Error::Config(
                    "concurrency, perServer, canary and continueOnError go with targets, \
                     targetsQuery or schemasQuery"
                        .into(),
                ));
            }
            return Ok(None);
        }
    };
    let count = |value: Option<f64>, name: &str, least: f64| -> Result<Option<usize>> {
        match value {
            None => Ok(None),
            Some(n) if n >= least && n.fract() == 0.0 && n <= 100_000.0 => Ok(Some(n as usize)),
            Some(n) => Err(Error::Config(format!(
                "{name} takes a whole number of at least {least}, not {n}"
            ))),
        }
    };
    let policy = Policy {
        concurrency: count(given.concurrency, "concurrency", 1.0)?
            .unwrap_or(fleet::DEFAULT_CONCURRENCY),
        per_server: count(given.per_server, "perServer", 1.0)?,
        canary: count(given.canary, "canary", 0.0)?.unwrap_or(fleet::DEFAULT_CANARY),
        continue_on_error: given.continue_on_error.unwrap_or(false),
    };
    Ok(Some(Requested {
        fleet: Fleet { source, policy },
        on_target: given.on_target,
    }))
}

/// A target's failure, as `--json` shows errors.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetError {
    /// The stable code, e.g. `E_SQL`, `E_CONNECT`, `E_LOCK_TIMEOUT`.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Set for `E_LINT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<LintDiagnostic>>,
}

impl From<&Error> for FleetError {
    fn from(error: &Error) -> Self {
        let sql = error.sql();
        Self {
            code: error.code().to_owned(),
            message: error.to_string(),
            file: error.file().map(str::to_owned),
            line: error.line(),
            column: error.column(),
            pg_code: sql.and_then(|failure| failure.pg_code.clone()),
            detail: sql.and_then(|failure| failure.detail.clone()),
            hint: sql.and_then(|failure| failure.hint.clone()),
            diagnostics: match error {
                Error::Lint(found) => {
                    Some(found.iter().cloned().map(LintDiagnostic::from).collect())
                }
                _ => None,
            },
        }
    }
}

/// A migration, by number and name.
#[napi(object)]
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct FleetMigrationName {
    pub version: i64,
    pub name: String,
}

/// One target of a fleet, as `onTarget` hears of it and the result lists it.
/// The fields after `error` depend on the command.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetTarget {
    /// `host:port/database`, with ` (schema s)` for a schema target; never a password.
    pub target: String,
    pub database: String,
    /// Set for a tenant kept in a schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// `skipped`: never started, because the canary or an earlier target failed.
    #[napi(ts_type = "'ok' | 'failed' | 'skipped'")]
    pub outcome: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FleetError>,
    /// `migrate`: the migrations applied there by this run (on a failure,
    /// those committed before it). `status`: how many are applied there.
    #[napi(ts_type = "Migration[] | number")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<serde_json::Value>,
    /// `migrate` and `plan`: how many were applied there before this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_applied: Option<u32>,
    /// `status` and `plan`: the newest applied migration there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest: Option<FleetMigrationName>,
    /// `status`: how many files are pending there. `plan`: the files
    /// `migrate` would apply there.
    #[napi(ts_type = "number | PendingMigration[]")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<serde_json::Value>,
    /// `status`: applied files whose checksum changed since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<Vec<String>>,
    /// `status`: applied files that are gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
}

/// Targets that stand at the same newest migration.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetGroup {
    /// `null` for targets with nothing applied.
    pub newest: Option<FleetMigrationName>,
    /// How many files are pending on each of them.
    pub pending: u32,
    /// The targets, as named in `targets`.
    pub targets: Vec<String>,
}

/// What a fleet's `migrate`, `status` or `plan` did on each target.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetResult {
    /// In the order the targets were given.
    pub targets: Vec<FleetTarget>,
    /// How many targets ended well.
    pub ok: u32,
    /// How many failed.
    pub failed: u32,
    /// How many were never started.
    pub skipped: u32,
    /// `status` and `plan`: the targets that answered, grouped by their
    /// newest applied migration, the largest group first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<FleetGroup>>,
    /// `plan`: the lint findings of the files pending anywhere, once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<LintDiagnostic>>,
}

/// Runs `command` over the requested fleet.
pub async fn run(
    options: crate::options::Options,
    requested: Requested,
    command: Command,
) -> Result<FleetResult> {
    let Requested { fleet, on_target } = requested;
    let tell = |report: &TargetReport| {
        let Some(callback) = &on_target else { return };
        let Ok(value) = serde_json::to_value(target_entry(report)) else {
            return;
        };
        // A callback that throws must not stop the fleet: its error is dropped.
        callback.call_with_return_value(
            crate::Parsed(value),
            ThreadsafeFunctionCallMode::NonBlocking,
            |_, _| Ok(()),
        );
    };
    let report = fleet::run(options, fleet, command, &tell).await?;
    Ok(result(&report, command))
}

fn result(report: &FleetReport, command: Command) -> FleetResult {
    let targets: Vec<FleetTarget> = report.targets.iter().map(target_entry).collect();
    let standings: Vec<Option<Standing>> = report
        .targets
        .iter()
        .map(|target| match &target.result {
            Some(Ok(Work::Status(status))) => Some(Standing {
                newest: newest_of(status),
                pending: status.pending,
            }),
            Some(Ok(Work::Planned(plan))) => Some(Standing {
                newest: plan.newest_applied.clone(),
                pending: plan.pending.len(),
            }),
            _ => None,
        })
        .collect();
    let groups = matches!(command, Command::Status | Command::Plan).then(|| {
        groups(&standings)
            .into_iter()
            .map(|group| FleetGroup {
                newest: group
                    .newest
                    .map(|(version, name)| FleetMigrationName { version, name }),
                pending: saturating_u32(group.pending),
                targets: group
                    .targets
                    .into_iter()
                    .map(|index| targets[index].target.clone())
                    .collect(),
            })
            .collect()
    });
    let diagnostics = (command == Command::Plan).then(|| {
        // Every target lints the same files: the findings of the one with
        // the most pending cover the others'.
        report
            .targets
            .iter()
            .filter_map(|target| match &target.result {
                Some(Ok(Work::Planned(plan))) => Some(plan),
                _ => None,
            })
            .max_by_key(|plan| plan.pending.len())
            .map(|plan| {
                plan.diagnostics
                    .iter()
                    .cloned()
                    .map(LintDiagnostic::from)
                    .collect()
            })
            .unwrap_or_default()
    });
    FleetResult {
        ok: saturating_u32(report.count(Outcome::Ok)),
        failed: saturating_u32(report.count(Outcome::Failed)),
        skipped: saturating_u32(report.count(Outcome::Skipped)),
        targets,
        groups,
        diagnostics,
    }
}

fn target_entry(report: &TargetReport) -> FleetTarget {
    let mut entry = FleetTarget {
        target: report.name.clone(),
        database: report.database.clone(),
        schema: report.schema.clone(),
        outcome: match report.outcome {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
        .to_owned(),
        ok: report.outcome == Outcome::Ok,
        error: None,
        applied: None,
        already_applied: None,
        newest: None,
        pending: None,
        changed: None,
        missing: None,
    };
    let json = |value: serde_json::Result<serde_json::Value>| value.ok();
    match &report.result {
        None => {}
        Some(Err(error)) => {
            let applied: Vec<Migration> = error
                .applied_before()
                .iter()
                .cloned()
                .map(Migration::from)
                .collect();
            if !applied.is_empty() {
                entry.applied = json(serde_json::to_value(applied));
            }
            entry.error = Some(FleetError::from(error));
        }
        Some(Ok(Work::Migrated(migrated))) => {
            let applied: Vec<Migration> = migrated
                .applied
                .iter()
                .cloned()
                .map(Migration::from)
                .collect();
            entry.applied = json(serde_json::to_value(applied));
            entry.already_applied = Some(saturating_u32(migrated.already_applied));
        }
        Some(Ok(Work::Status(status))) => {
            let named = |state: stratum_core::State| -> Vec<String> {
                status
                    .entries
                    .iter()
                    .filter(|entry| entry.state == state)
                    .map(|entry| entry.name.clone())
                    .collect()
            };
            entry.newest =
                newest_of(status).map(|(version, name)| FleetMigrationName { version, name });
            entry.applied = Some(serde_json::Value::from(status.applied));
            entry.pending = Some(serde_json::Value::from(status.pending));
            entry.changed = Some(named(stratum_core::State::Changed));
            entry.missing = Some(named(stratum_core::State::Missing));
        }
        Some(Ok(Work::Planned(plan))) => {
            entry.newest = plan
                .newest_applied
                .clone()
                .map(|(version, name)| FleetMigrationName { version, name });
            let pending: Vec<PendingMigration> =
                plan.pending.iter().map(PendingMigration::from).collect();
            entry.already_applied = Some(saturating_u32(plan.already_applied));
            entry.pending = json(serde_json::to_value(pending));
        }
    }
    entry
}

/// The newest migration applied on a target: version and name.
fn newest_of(status: &StatusReport) -> Option<(i64, String)> {
    status
        .entries
        .iter()
        .rev()
        .find(|entry| entry.state != stratum_core::State::Pending)
        .map(|entry| (entry.version, entry.name.clone()))
}

/// What `migrate`, `status` and `plan` resolve to: one database's result,
/// or a fleet's.
#[derive(Serialize)]
#[serde(untagged)]
pub enum OneOrFleet<T> {
    One(T),
    Fleet(FleetResult),
}
