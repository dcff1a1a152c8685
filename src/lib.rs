//! The Node face of stratum: options in, typed results out, errors as JS
//! `Error`s with a stable `code`. The work lives in the modules below; no
//! panic crosses into Node.

pub mod commands;
pub mod database;
#[cfg(not(target_family = "wasm"))]
pub mod drift;
pub mod drift_api;
pub mod error;
pub mod fleet;
pub mod fleet_api;
pub mod git;
pub mod js_transport;
pub mod options;
pub mod request;
pub mod source;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use futures_util::FutureExt;
use napi::bindgen_prelude::{
    Function, JsObjectValue, JsValue, Object, PromiseRaw, ToNapiValue, Unknown,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;
use serde::Serialize;

use crate::database::migrator::{self, Progress};
use crate::fleet_api::OneOrFleet;
use crate::request::Request;

/// Options of every command; all optional.
#[napi(object, object_to_js = false)]
pub struct Options {
    /// PostgreSQL URL (`postgres://user:password@host:port/database`). Default:
    /// `DATABASE_URL`, else libpq's `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
    /// `PGDATABASE`, `PGSSLMODE` with libpq's defaults.
    pub database_url: Option<String>,
    /// The migrations directory. Default: `MIGRATIONS_DIR`, else
    /// `"stratum": { "dir": … }` in the nearest package.json, else `./migrations`.
    pub dir: Option<String>,
    /// Schema of the tracking table, and the schema `fresh` and `reset` empty. Default `public`.
    pub schema: Option<String>,
    /// Name of the tracking table. Default `migrations`.
    pub table: Option<String>,
    /// How long to wait for another run's migration lock, in milliseconds. Default 60000.
    pub lock_timeout_ms: Option<f64>,
    /// How long to keep retrying a server that is not up yet (a container
    /// that starts the app before the database), in milliseconds. Default 0:
    /// fail at once.
    pub wait_ms: Option<f64>,
    /// How long a migration's statement may wait for a table lock held by
    /// the app's own traffic before it gives up (`SET LOCAL lock_timeout`),
    /// in milliseconds; 0 waits forever. Default 5000.
    pub table_lock_timeout_ms: Option<f64>,
    /// How many times a migration that gave up on a table lock is rolled
    /// back and sent again, each after a jittered backoff. Default 3.
    pub table_lock_retries: Option<f64>,
    /// How concurrent runs exclude each other. `session` (default): one
    /// advisory lock for the whole run, on a direct connection. `transaction`:
    /// a lock inside each migration's transaction, for connections through
    /// PgBouncer in transaction pooling mode.
    #[napi(ts_type = "'session' | 'transaction'")]
    pub lock_mode: Option<String>,
    /// Lets `fresh` and `reset` run with `NODE_ENV=production`.
    pub force: Option<bool>,
    /// The folder `dir` and package.json are resolved against. Default: the
    /// process's working directory.
    pub cwd: Option<String>,
    /// Lint level by rule id, over `"stratum": { "rules": … }` of package.json:
    /// `off`, `warning` or `error`. An unknown id is an `E_CONFIG` error that
    /// lists the valid ones.
    #[napi(ts_type = "Record<string, 'off' | 'warning' | 'error'>")]
    pub rules: Option<std::collections::HashMap<String, String>>,
    /// Files numbered at or below it were written before the rules: `migrate`,
    /// `plan` and `lint` report their findings as warnings at most. Default:
    /// `"stratum": { "baseline": … }` of package.json, else none.
    pub baseline: Option<f64>,
    /// Creates the configured database first when it does not exist, from
    /// the maintenance database `postgres` of the same server, as `createdb`
    /// does; never with `NODE_ENV=production`. Default `false`.
    pub create_database: Option<bool>,
    /// `lint` only: a git commit, branch or tag (`origin/main`). A migration
    /// file that exists there and was modified, deleted or renumbered since
    /// is an `immutable-migration` error. Runs the `git` on the PATH.
    pub since: Option<String>,
    /// Called as each migration starts and ends, and as one is sent again.
    #[napi(ts_type = "(event: ProgressEvent) => void")]
    pub on_progress:
        Option<ThreadsafeFunction<ProgressEvent, Unknown<'static>, ProgressEvent, Status, false>>,
    /// Called only as a migration that gave up on a table lock is sent
    /// again (the `retry` events of `onProgress`): for a caller that wants
    /// those without an event per migration.
    #[napi(ts_type = "(event: ProgressEvent) => void")]
    pub on_retry:
        Option<ThreadsafeFunction<ProgressEvent, Unknown<'static>, ProgressEvent, Status, false>>,
    /// The app's own connection instead of one stratum opens: a connected
    /// `pg.Client` (or anything with its `query`), or a `pg.Pool` (anything
    /// with `connect()`, `totalCount` and `idleCount`), from which one client
    /// is checked out for the whole run, so a transaction never spans two
    /// sessions, and released after it; after a failure the pool destroys it.
    /// Useful behind poolers, and how the WebAssembly build reaches the database.
    #[napi(ts_type = "{ query: (...args: any[]) => any }")]
    pub client: Option<Unknown<'static>>,
    /// The transport stratum drives `client` through: `query(sql)` resolving
    /// to the rows as text, or to PostgreSQL's error. Set by the package's
    /// entry point from `client`; rarely written by hand.
    #[napi(ts_type = "(sql: string) => Promise<QueryOutcome>")]
    pub query: Option<js_transport::QueryCallback>,
}

/// A migration starting, ending, or sent again.
#[napi(object)]
#[derive(Clone)]
pub struct ProgressEvent {
    /// `start` as the migration is sent to the server, `end` once it
    /// committed, `retry` when it gave up on a table lock held by other
    /// sessions, was rolled back, and will be sent again after `waitMs`.
    #[napi(ts_type = "'start' | 'end' | 'retry'")]
    pub event: String,
    /// The number the file name starts with.
    pub version: i64,
    /// The file name without `.sql`.
    pub name: String,
    /// Set on `end`.
    pub duration_ms: Option<f64>,
    /// Set on `retry`: 1 for the first retry.
    pub attempt: Option<u32>,
    /// Set on `retry`: the backoff before the migration is sent again.
    pub wait_ms: Option<f64>,
    /// Set on `retry`: what PostgreSQL said when the migration gave up.
    pub reason: Option<String>,
}

/// A migration applied by this run.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Migration {
    /// The number the file name starts with.
    pub version: i64,
    /// The file name without `.sql`, e.g. `001_initial_schema`.
    pub name: String,
    /// SHA-256 of the file, BOM stripped and CRLF normalised to LF.
    pub checksum: String,
    /// How long it took, as the client saw it, in milliseconds.
    pub duration_ms: f64,
}

/// A broken house rule, at a file, line and column.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LintDiagnostic {
    /// The file's path, e.g. `migrations/006_add_index.sql`.
    pub file: String,
    /// 1-based.
    pub line: u32,
    /// Counted in characters.
    pub column: u32,
    /// Errors stop `migrate` before anything runs; warnings are printed.
    #[napi(ts_type = "'error' | 'warning'")]
    pub severity: String,
    /// The rule's stable id, e.g. `create-if-not-exists`; silence it on one
    /// statement with `-- stratum:allow <rule>` on the line before.
    pub rule: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// Set when the file is at or below the baseline: written before the
    /// rules, so its findings are warnings at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baselined: Option<bool>,
}

/// Every file's findings, as `stratum lint` shows them.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LintReport {
    /// In file order, then by position.
    pub diagnostics: Vec<LintDiagnostic>,
    /// How many findings would stop `migrate`.
    pub errors: u32,
    /// How many findings are only printed.
    pub warnings: u32,
}

/// A file `migrate` would apply.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingMigration {
    /// The number the file name starts with.
    pub version: i64,
    /// The file name without `.sql`.
    pub name: String,
    /// The file's path as given, e.g. `migrations/003_add_index.sql`.
    pub file: String,
    /// How many statements the file holds.
    pub statements: u32,
    /// `wrapped`: in a transaction stratum opens; `already-wrapped`: the
    /// file's own BEGIN … COMMIT; `none`: `-- stratum:no-transaction`.
    #[napi(ts_type = "'wrapped' | 'already-wrapped' | 'none'")]
    pub transaction: String,
}

/// What `migrate` would do now.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanResult {
    /// The files `migrate` would apply, in order.
    pub pending: Vec<PendingMigration>,
    /// How many are applied already.
    pub already_applied: u32,
    /// Lint findings of the pending files.
    pub diagnostics: Vec<LintDiagnostic>,
    /// Lint errors among them: `migrate` would refuse to run.
    pub errors: u32,
    /// Lint warnings among them.
    pub warnings: u32,
}

/// What `migrate` and `fresh` did.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateResult {
    /// The migrations this run applied, in order.
    pub applied: Vec<Migration>,
    /// How many were applied before this run.
    pub already_applied: u32,
    /// Rows written by the earlier JavaScript runner that took their file's
    /// checksum in this run; changes to those files are caught from now on.
    pub adopted: Vec<String>,
    /// Lint warnings of the files this run applied, and an `invalid-index`
    /// warning for each INVALID index dropped before its file built it again.
    pub warnings: Vec<LintDiagnostic>,
    /// Migrations that gave up on a table lock held by other sessions and
    /// were rolled back and sent again (`tableLockRetries`), in order.
    pub retries: Vec<TableLockRetry>,
    /// Set when no database was configured and the embedded PostgreSQL was
    /// used: its data folder, e.g. `.stratum/pgdata`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded: Option<String>,
}

/// A migration sent again after it gave up waiting for a table lock.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableLockRetry {
    /// The number the file name starts with.
    pub version: i64,
    /// The file name without `.sql`.
    pub name: String,
    /// 1 for the first retry.
    pub attempt: u32,
    /// The jittered backoff before it was sent again, in milliseconds.
    pub wait_ms: f64,
    /// What PostgreSQL said when it gave up.
    pub reason: String,
}

/// One migration as `status` sees it.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationStatus {
    /// The number the file name starts with.
    pub version: i64,
    /// The file name without `.sql`.
    pub name: String,
    /// `changed`: applied, but the file's checksum differs from the recorded
    /// one; `missing`: applied, but the file is gone.
    #[napi(ts_type = "'applied' | 'pending' | 'changed' | 'missing'")]
    pub state: String,
    /// When it was applied: ISO 8601, UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    /// How long it took on the server, in milliseconds (absent for rows of
    /// the earlier runner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// The recorded checksum when applied, else the file's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// Applied, pending, changed and missing migrations.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// One entry per version known from the files or the tracking table, in version order.
    pub migrations: Vec<MigrationStatus>,
    /// How many files are not applied yet.
    pub pending: u32,
    /// How many are applied (changed ones included).
    pub applied: u32,
    /// Set when the embedded PostgreSQL was used: its data folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded: Option<String>,
}

/// What `reset` dropped.
#[napi(object)]
pub struct ResetResult {
    /// How many objects of the schema were dropped, not counting those that
    /// went with them (a table's triggers, a partition).
    pub dropped: u32,
}

/// Applies every pending migration in version order, each in its own
/// transaction. With `targets`, `targetsQuery` or `schemasQuery`, does so on
/// every target and resolves to a `FleetResult`.
#[napi(
    ts_generic_types = "O extends Options & FleetOptions = Options",
    ts_args_type = "options?: O",
    ts_return_type = "Promise<O extends FleetSelection ? MigrateFleetResult : MigrateResult>"
)]
pub fn migrate<'env>(
    env: &'env Env,
    options: Unknown<'env>,
) -> napi::Result<PromiseRaw<'env, Parsed<OneOrFleet<MigrateResult>>>> {
    run(env, &options, |mut request| async move {
        if let Some(fleet) = request.fleet()? {
            let report = fleet_api::run(request.options, fleet, fleet::Command::Migrate).await?;
            return Ok(Parsed(OneOrFleet::Fleet(report)));
        }
        let progress = progress_reporter(request.on_progress.as_ref(), request.on_retry.as_ref());
        commands::migrate(request.options, request.js, &progress)
            .await
            .map(|report| Parsed(OneOrFleet::One(MigrateResult::from(report))))
    })
}

/// Applied, pending, changed and missing migrations; takes no lock and
/// writes nothing. With `targets`, `targetsQuery` or `schemasQuery`, on
/// every target, grouped by their newest applied migration.
#[napi(
    ts_generic_types = "O extends Options & FleetOptions = Options",
    ts_args_type = "options?: O",
    ts_return_type = "Promise<O extends FleetSelection ? StatusFleetResult : StatusReport>"
)]
pub fn status<'env>(
    env: &'env Env,
    options: Unknown<'env>,
) -> napi::Result<PromiseRaw<'env, Parsed<OneOrFleet<StatusReport>>>> {
    run(env, &options, |mut request| async move {
        if let Some(fleet) = request.fleet()? {
            let report = fleet_api::run(request.options, fleet, fleet::Command::Status).await?;
            return Ok(Parsed(OneOrFleet::Fleet(report)));
        }
        commands::status(request.options, request.js)
            .await
            .map(|report| Parsed(OneOrFleet::One(StatusReport::from(report))))
    })
}

/// Drops every object of the schema, the tracking table included, then migrates from scratch.
#[napi(
    ts_args_type = "options?: Options",
    ts_return_type = "Promise<MigrateResult>"
)]
pub fn fresh<'env>(
    env: &'env Env,
    options: Unknown<'env>,
) -> napi::Result<PromiseRaw<'env, Parsed<MigrateResult>>> {
    run(env, &options, |mut request| async move {
        request.single("fresh")?;
        let progress = progress_reporter(request.on_progress.as_ref(), request.on_retry.as_ref());
        commands::fresh(request.options, request.js, &progress)
            .await
            .map(|report| Parsed(MigrateResult::from(report)))
    })
}

/// What `migrate` would run: the pending files, their statements and lint
/// findings. Takes no lock and writes nothing, not even the tracking table.
/// With `targets`, `targetsQuery` or `schemasQuery`, on every target.
#[napi(
    ts_generic_types = "O extends Options & FleetOptions = Options",
    ts_args_type = "options?: O",
    ts_return_type = "Promise<O extends FleetSelection ? PlanFleetResult : PlanResult>"
)]
pub fn plan<'env>(
    env: &'env Env,
    options: Unknown<'env>,
) -> napi::Result<PromiseRaw<'env, Parsed<OneOrFleet<PlanResult>>>> {
    run(env, &options, |mut request| async move {
        if let Some(fleet) = request.fleet()? {
            let report = fleet_api::run(request.options, fleet, fleet::Command::Plan).await?;
            return Ok(Parsed(OneOrFleet::Fleet(report)));
        }
        commands::plan(request.options, request.js)
            .await
            .map(|report| Parsed(OneOrFleet::One(PlanResult::from(report))))
    })
}

/// A file `baseline` recorded as applied without running it.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaselinedMigration {
    /// The number the file name starts with.
    pub version: i64,
    /// The file name without `.sql`.
    pub name: String,
    /// SHA-256 of the file, as `migrate` records it.
    pub checksum: String,
}

/// What `baseline` recorded.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaselineResult {
    /// The files numbered up to the version, in order.
    pub recorded: Vec<BaselinedMigration>,
}

/// For a database whose schema exists but is not tracked yet: records the
/// files numbered up to `version` as applied, with their checksums, without
/// running them, in one transaction under the lock. Rejects with
/// `E_BASELINE` when the tracking table already holds rows, or when no file
/// is numbered `version`.
#[napi(
    ts_args_type = "version: number, options?: Options",
    ts_return_type = "Promise<BaselineResult>"
)]
pub fn baseline<'env>(
    env: &'env Env,
    version: f64,
    options: Unknown<'env>,
) -> napi::Result<PromiseRaw<'env, Parsed<BaselineResult>>> {
    run(env, &options, move |mut request| async move {
        request.single("baseline")?;
        if version < 0.0 || version.fract() != 0.0 || version > 9_007_199_254_740_991.0 {
            return Err(error::Error::Config(format!(
                "baseline takes a migration number (a whole number, 0 or more), not {version}"
            )));
        }
        let recorded = commands::baseline(request.options, request.js, version as i64).await?;
        Ok(Parsed(BaselineResult {
            recorded: recorded
                .into_iter()
                .map(|file| BaselinedMigration {
                    version: file.version,
                    name: file.name,
                    checksum: file.checksum,
                })
                .collect(),
        }))
    })
}

/// The schema's tables, key columns and foreign keys as a Mermaid ER diagram.
#[napi(ts_args_type = "options?: Options", ts_return_type = "Promise<string>")]
pub fn diagram<'env>(
    env: &'env Env,
    options: Unknown<'env>,
) -> napi::Result<PromiseRaw<'env, String>> {
    run(env, &options, |mut request| async move {
        request.single("diagram")?;
        commands::diagram(request.options, request.js).await
    })
}

/// The migrations directory the options resolve to: `dir`, else
/// `MIGRATIONS_DIR`, else `"stratum": { "dir" }` of the nearest package.json,
/// else `./migrations`.
#[napi(ts_args_type = "options?: Options")]
pub fn migrations_dir(env: &Env, options: Unknown<'_>) -> napi::Result<String> {
    Request::read(&options)
        .and_then(|request| commands::migrations_dir(request.options))
        .map(|dir| dir.display().to_string())
        .map_err(|error| js_error(env, &error))
}

/// A migration file written by `newMigration`.
#[napi(object)]
pub struct NewMigration {
    /// As the user knows it, e.g. `migrations/010_add_user_preferences.sql`.
    pub path: String,
    /// Its number: one past the highest in the directory.
    pub version: i64,
    /// The file name without `.sql`.
    pub name: String,
}

/// Writes the next numbered migration file (`010_<name>.sql`, zero-padded
/// to the width in use) with its header; never overwrites a file.
#[napi(
    ts_args_type = "name: string, options?: Options",
    ts_return_type = "Promise<NewMigration>"
)]
pub fn new_migration<'env>(
    env: &'env Env,
    name: String,
    options: Unknown<'env>,
) -> napi::Result<PromiseRaw<'env, NewMigration>> {
    run(env, &options, |request| async move {
        let created = commands::new_migration(request.options, &name).await?;
        Ok(NewMigration {
            path: created.path,
            version: created.version,
            name: created.name,
        })
    })
}

/// The embedded PostgreSQL of the project in the working directory.
#[napi(object)]
pub struct EmbeddedDatabase {
    /// Whether it accepts connections now.
    pub running: bool,
    /// Where its data lives, `./.stratum/pgdata`.
    pub data_dir: String,
    /// Its connection URL (a unix socket; no password), for the app to use.
    pub url: String,
}

/// Starts the embedded PostgreSQL (creating it the first time) and leaves it running.
#[napi(ts_return_type = "Promise<EmbeddedDatabase>")]
pub fn db_start(env: &Env) -> napi::Result<PromiseRaw<'_, EmbeddedDatabase>> {
    spawn(env, async {
        commands::db_start().await.map(EmbeddedDatabase::from)
    })
}

/// Stops the embedded PostgreSQL; resolves to `false` when it was not running.
#[napi(ts_return_type = "Promise<boolean>")]
pub fn db_stop(env: &Env) -> napi::Result<PromiseRaw<'_, bool>> {
    spawn(env, commands::db_stop())
}

/// Whether the embedded PostgreSQL runs, where its data is, and its URL.
#[napi(ts_return_type = "Promise<EmbeddedDatabase>")]
pub fn db_status(env: &Env) -> napi::Result<PromiseRaw<'_, EmbeddedDatabase>> {
    spawn(env, async {
        commands::db_status().await.map(EmbeddedDatabase::from)
    })
}

/// Where Node found the embedded PostgreSQL's package from pg-stratum's own
/// folder; the package's entry calls it when it loads.
#[napi(js_name = "__setEmbeddedPackage", skip_typescript)]
pub fn set_embedded_package(dir: String) {
    database::embedded::set_resolved_package(dir.into());
}

/// Checks every migration file against the house rules; needs no database.
#[napi(
    ts_args_type = "options?: Options",
    ts_return_type = "Promise<LintReport>"
)]
pub fn lint<'env>(
    env: &'env Env,
    options: Unknown<'env>,
) -> napi::Result<PromiseRaw<'env, Parsed<LintReport>>> {
    run(env, &options, |request| async move {
        commands::lint(request.options)
            .await
            .map(|report| Parsed(LintReport::from(report)))
    })
}

/// Drops every object of the schema, the tracking table included.
#[napi(
    ts_args_type = "options?: Options",
    ts_return_type = "Promise<ResetResult>"
)]
pub fn reset<'env>(
    env: &'env Env,
    options: Unknown<'env>,
) -> napi::Result<PromiseRaw<'env, ResetResult>> {
    run(env, &options, |mut request| async move {
        request.single("reset")?;
        commands::reset(request.options, request.js)
            .await
            .map(|dropped| ResetResult {
                dropped: saturating_u32(dropped),
            })
    })
}

pub(crate) type ProgressCallback =
    ThreadsafeFunction<ProgressEvent, Unknown<'static>, ProgressEvent, Status, false>;

fn progress_reporter<'a>(
    on_progress: Option<&'a ProgressCallback>,
    on_retry: Option<&'a ProgressCallback>,
) -> impl Fn(Progress<'_>) + Sync + 'a {
    move |progress| {
        let retry_callback = on_retry.filter(|_| matches!(progress, Progress::Retry { .. }));
        if on_progress.is_none() && retry_callback.is_none() {
            return;
        }
        let event = match progress {
            Progress::Start { migration } => ProgressEvent {
                event: "start".into(),
                version: migration.version,
                name: migration.name.clone(),
                duration_ms: None,
                attempt: None,
                wait_ms: None,
                reason: None,
            },
            Progress::Retry { migration, retry } => ProgressEvent {
                event: "retry".into(),
                version: migration.version,
                name: migration.name.clone(),
                duration_ms: None,
                attempt: Some(retry.attempt),
                wait_ms: Some(retry.wait.as_secs_f64() * 1000.0),
                reason: Some(retry.reason.clone()),
            },
            Progress::End {
                migration,
                duration,
            } => ProgressEvent {
                event: "end".into(),
                version: migration.version,
                name: migration.name.clone(),
                duration_ms: Some(duration.as_secs_f64() * 1000.0),
                attempt: None,
                wait_ms: None,
                reason: None,
            },
        };
        // A callback that throws must not take the process down: its error
        // arrives here and is dropped.
        let call = |callback: &ProgressCallback, event: ProgressEvent| {
            callback.call_with_return_value(
                event,
                ThreadsafeFunctionCallMode::NonBlocking,
                |_, _| Ok(()),
            );
        };
        if let Some(callback) = retry_callback {
            call(callback, event.clone());
        }
        if let Some(callback) = on_progress {
            call(callback, event);
        }
    }
}

/// A result that crosses into JS as one JSON text read by `JSON.parse`: V8
/// builds thousands of objects from it several times faster than Node-API
/// sets their properties one by one. Its fields are those the type declares.
pub struct Parsed<V>(V);

impl<V: Serialize> ToNapiValue for Parsed<V> {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        value: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        let text = serde_json::to_string(&value.0)
            .map_err(|error| napi::Error::from_reason(error.to_string()))?;
        let env = Env::from_raw(env);
        let json: Object = env.get_global()?.get_named_property("JSON")?;
        let parse: Function<String, Unknown> = json.get_named_property("parse")?;
        Ok(parse.call(text)?.raw())
    }
}

/// Reads the options, then runs `work` with them on the addon's runtime; a
/// wrong option rejects the promise with `E_CONFIG` like any other failure.
fn run<'env, T, V, F>(
    env: &'env Env,
    options: &Unknown<'env>,
    work: impl FnOnce(Request) -> F + Send + 'static,
) -> napi::Result<PromiseRaw<'env, V>>
where
    F: Future<Output = error::Result<T>> + Send + 'static,
    T: Into<V> + Send + 'static,
    V: ToNapiValue + 'static,
{
    let request = Request::read(options);
    spawn(env, async move { work(request?).await })
}

/// Runs `work` on the addon's runtime; a failure or a panic rejects the
/// promise with a JS `Error` carrying a stable `code`.
fn spawn<T, V>(
    env: &Env,
    work: impl Future<Output = error::Result<T>> + Send + 'static,
) -> napi::Result<PromiseRaw<'_, V>>
where
    T: Into<V> + Send + 'static,
    V: ToNapiValue + 'static,
{
    let work = Box::pin(async move {
        let value = work.await?;
        // SAFETY: napi calls it on the JS thread with the env of the call.
        let settle: Settle = Box::new(move |env| unsafe { V::to_napi_value(env, value.into()) });
        Ok(settle)
    });
    let promise = spawn_boxed(env, work)?;
    Ok(PromiseRaw::new(env.raw(), promise))
}

/// Turns a command's result into its JS value, on the JS thread.
type Settle = Box<dyn FnOnce(napi::sys::napi_env) -> napi::Result<napi::sys::napi_value> + Send>;

/// `spawn` for one future type: the runtime's task and promise code is then
/// compiled once, not once per command and scheduler.
fn spawn_boxed(
    env: &Env,
    work: Pin<Box<dyn Future<Output = error::Result<Settle>> + Send>>,
) -> napi::Result<napi::sys::napi_value> {
    let guarded = async move {
        Ok(AssertUnwindSafe(work)
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(error::Error::Internal(panic_message(panic.as_ref())))))
    };
    let promise = env.spawn_future_with_callback(guarded, |env, outcome| match outcome {
        Ok(settle) => settle(env.raw()).map(Settled),
        Err(error) => Err(js_error(env, &error)),
    })?;
    Ok(promise.raw())
}

/// A JS value made already.
struct Settled(napi::sys::napi_value);

impl ToNapiValue for Settled {
    unsafe fn to_napi_value(
        _env: napi::sys::napi_env,
        value: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        Ok(value.0)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal error: {text}; please report it")
}

/// In WebAssembly a rejection keeps only its message, so the fields travel
/// in it as JSON after this marker, and the package's entry point
/// (lib/entry.js) makes the `Error` from them.
#[cfg(target_family = "wasm")]
const WASM_ERROR_MARKER: &str = "\u{1}stratum-error:";

#[cfg(target_family = "wasm")]
fn js_error(_env: &Env, error: &error::Error) -> napi::Error {
    let mut fields = serde_json::json!({
        "code": error.code(),
        "message": error.to_string(),
        "file": error.file(),
        "line": error.line(),
        "column": error.column(),
    });
    if let Some(failure) = error.sql() {
        fields["pgCode"] = serde_json::json!(failure.pg_code);
        fields["detail"] = serde_json::json!(failure.detail);
        fields["hint"] = serde_json::json!(failure.hint);
        fields["excerpt"] = serde_json::json!(failure.excerpt);
    }
    if let error::Error::Lint(diagnostics) = error {
        fields["diagnostics"] = serde_json::json!(diagnostics);
    }
    if !error.applied_before().is_empty() {
        fields["applied"] = serde_json::json!(applied_before(error));
    }
    napi::Error::new(
        Status::GenericFailure,
        format!("{WASM_ERROR_MARKER}{fields}"),
    )
}

/// A JS `Error` with `code`, and `file`, `line`, `column`, `pgCode`,
/// `detail`, `hint`, `excerpt` where they apply.
#[cfg(not(target_family = "wasm"))]
fn js_error(env: &Env, error: &error::Error) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let mut object =
            env.create_error(napi::Error::new(Status::GenericFailure, error.to_string()))?;
        object.set_named_property("code", error.code())?;
        if let Some(file) = error.file() {
            object.set_named_property("file", file)?;
        }
        if let Some(line) = error.line() {
            object.set_named_property("line", line)?;
        }
        if let Some(column) = error.column() {
            object.set_named_property("column", column)?;
        }
        if let error::Error::Lint(diagnostics) = error {
            let list: Vec<LintDiagnostic> = diagnostics
                .iter()
                .cloned()
                .map(LintDiagnostic::from)
                .collect();
            object.set_named_property("diagnostics", list)?;
        }
        if !error.applied_before().is_empty() {
            object.set_named_property("applied", applied_before(error))?;
        }
        if let Some(failure) = error.sql() {
            let fields = [
                ("pgCode", &failure.pg_code),
                ("detail", &failure.detail),
                ("hint", &failure.hint),
                ("excerpt", &failure.excerpt),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    object.set_named_property(name, value.as_str())?;
                }
            }
        }
        Ok(napi::Error::from(object.to_unknown()))
    };
    build().unwrap_or_else(|failure| failure)
}

/// The migrations a failed run committed before its failure.
fn applied_before(error: &error::Error) -> Vec<Migration> {
    error
        .applied_before()
        .iter()
        .cloned()
        .map(Migration::from)
        .collect()
}

fn saturating_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

impl From<migrator::AppliedMigration> for Migration {
    fn from(applied: migrator::AppliedMigration) -> Self {
        Self {
            version: applied.version,
            name: applied.name,
            checksum: applied.checksum,
            duration_ms: applied.duration.as_secs_f64() * 1000.0,
        }
    }
}

impl From<stratum_core::lint::Diagnostic> for LintDiagnostic {
    fn from(found: stratum_core::lint::Diagnostic) -> Self {
        Self {
            file: found.file,
            line: found.line,
            column: found.column,
            severity: found.severity.as_str().to_owned(),
            rule: found.rule.to_owned(),
            message: found.message,
            help: found.help,
            baselined: found.baselined.then_some(true),
        }
    }
}

impl From<&migrator::PendingFile> for PendingMigration {
    fn from(file: &migrator::PendingFile) -> Self {
        Self {
            version: file.version,
            name: file.name.clone(),
            file: file.file.clone(),
            statements: saturating_u32(file.statements),
            transaction: match file.transaction {
                stratum_core::lint::TransactionMode::Wrapped => "wrapped",
                stratum_core::lint::TransactionMode::AlreadyWrapped { .. } => "already-wrapped",
                stratum_core::lint::TransactionMode::NoTransaction => "none",
            }
            .to_owned(),
        }
    }
}

impl From<migrator::DryRun> for PlanResult {
    fn from(run: migrator::DryRun) -> Self {
        let errors = run
            .diagnostics
            .iter()
            .filter(|found| found.severity == stratum_core::lint::Severity::Error)
            .count();
        Self {
            pending: run.pending.iter().map(PendingMigration::from).collect(),
            already_applied: saturating_u32(run.already_applied),
            warnings: saturating_u32(run.diagnostics.len() - errors),
            errors: saturating_u32(errors),
            diagnostics: run
                .diagnostics
                .into_iter()
                .map(LintDiagnostic::from)
                .collect(),
        }
    }
}

impl From<database::embedded::ServerState> for EmbeddedDatabase {
    fn from(state: database::embedded::ServerState) -> Self {
        Self {
            running: state.running,
            data_dir: state.data_dir,
            url: state.url,
        }
    }
}

impl From<commands::LintReport> for LintReport {
    fn from(report: commands::LintReport) -> Self {
        Self {
            diagnostics: report
                .diagnostics
                .into_iter()
                .map(LintDiagnostic::from)
                .collect(),
            errors: saturating_u32(report.errors),
            warnings: saturating_u32(report.warnings),
        }
    }
}

impl From<migrator::MigrateReport> for MigrateResult {
    fn from(report: migrator::MigrateReport) -> Self {
        Self {
            applied: report.applied.into_iter().map(Migration::from).collect(),
            already_applied: saturating_u32(report.already_applied),
            adopted: report.adopted,
            warnings: report
                .warnings
                .into_iter()
                .map(LintDiagnostic::from)
                .collect(),
            retries: report
                .retries
                .into_iter()
                .map(|retry| TableLockRetry {
                    version: retry.version,
                    name: retry.name,
                    attempt: retry.attempt,
                    wait_ms: retry.wait.as_secs_f64() * 1000.0,
                    reason: retry.reason,
                })
                .collect(),
            embedded: report.embedded,
        }
    }
}

impl From<migrator::StatusReport> for StatusReport {
    fn from(report: migrator::StatusReport) -> Self {
        Self {
            migrations: report
                .entries
                .into_iter()
                .map(|entry| MigrationStatus {
                    version: entry.version,
                    name: entry.name,
                    state: entry.state.as_str().to_owned(),
                    applied_at: entry.applied_at,
                    duration_ms: entry.duration_ms.map(|ms| ms as f64),
                    checksum: entry.checksum,
                })
                .collect(),
            pending: saturating_u32(report.pending),
            applied: saturating_u32(report.applied),
            embedded: report.embedded,
        }
    }
}
