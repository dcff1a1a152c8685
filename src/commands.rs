//! The commands, end to end: resolve the settings, read the files,
//! connect, run the migrator, and mask the password in whatever fails.

use std::path::PathBuf;

use stratum_core::lint::{Diagnostic, Severity};
use stratum_core::migration::new_migration_file;
use stratum_core::{Migration, SourceError};

use crate::database::catalog::read_schema;
#[cfg(not(target_family = "wasm"))]
use crate::database::connection::ConnectionSettings;
#[cfg(not(target_family = "wasm"))]
use crate::database::embedded::nothing_configured;
use crate::database::embedded::{EmbeddedServer, ServerState};
use crate::database::executor::AnyExecutor;
use crate::database::migrator::{DryRun, MigrateReport, Migrator, Progress, StatusReport};
#[cfg(not(target_family = "wasm"))]
use crate::database::postgres::PostgresExecutor;
use crate::database::tracking::{Detail, Tracking, TrackingState};
use crate::error::{Error, Result, SqlFailure};
use crate::js_transport::JsExecutor;
use crate::options::{Options, ProcessEnvironment, Settings};
use crate::source::{cache_path, read_checksums, read_migrations};

pub async fn migrate(
    options: Options,
    js: Option<JsExecutor>,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<MigrateReport> {
    // Most runs find nothing to do, and that needs only checksums; the
    // files are read in full only when something is pending.
    let (report, embedded) = run(
        options,
        js,
        Needs::CHECKSUMS,
        tracking_rows,
        async |migrator, executor, state| {
            if let Some(report) = migrator.up_to_date(state)? {
                return Ok(report);
            }
            if migrator.migrations().iter().all(|file| file.has_text) {
                return migrator.migrate(executor, state, progress).await;
            }
            let migrations = read_migrations(&migrator.settings().dir)?;
            Migrator::new(migrator.settings(), &migrations)
                .migrate(executor, state, progress)
                .await
        },
    )
    .await?;
    Ok(MigrateReport { embedded, ..report })
}

pub async fn status(options: Options, js: Option<JsExecutor>) -> Result<StatusReport> {
    let (report, embedded) = run(
        options,
        js,
        Needs::CHECKSUMS,
        tracking_rows_in_full,
        async |migrator, _, state| Ok(migrator.status(state)),
    )
    .await?;
    Ok(StatusReport { embedded, ..report })
}

pub async fn fresh(
    options: Options,
    js: Option<JsExecutor>,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<MigrateReport> {
    let needs = Needs {
        destructive: Some("fresh"),
        ..Needs::FILES
    };
    let (report, embedded) = run(
        options,
        js,
        needs,
        nothing,
        async |migrator, executor, _| migrator.fresh(executor, progress).await,
    )
    .await?;
    Ok(MigrateReport { embedded, ..report })
}

pub async fn reset(options: Options, js: Option<JsExecutor>) -> Result<usize> {
    let needs = Needs {
        destructive: Some("reset"),
        files: Files::None,
    };
    let (dropped, _) = run(
        options,
        js,
        needs,
        nothing,
        async |migrator, executor, _| migrator.reset(executor).await,
    )
    .await?;
    Ok(dropped)
}

/// A file `baseline` recorded as applied.
pub struct Baselined {
    pub version: i64,
    pub name: String,
    pub checksum: String,
}

/// Records the files up to `version` as applied without running them.
pub async fn baseline(
    options: Options,
    js: Option<JsExecutor>,
    version: i64,
) -> Result<Vec<Baselined>> {
    let (recorded, _) = run(
        options,
        js,
        Needs::CHECKSUMS,
        nothing,
        async |migrator, executor, _| {
            let files = migrator.baseline(executor, version).await?;
            Ok(files
                .into_iter()
                .map(|file| Baselined {
                    version: file.version,
                    name: file.name.clone(),
                    checksum: file.checksum.clone(),
                })
                .collect())
        },
    )
    .await?;
    Ok(recorded)
}

/// What `migrate` would do; takes no lock and writes nothing.
pub async fn plan(options: Options, js: Option<JsExecutor>) -> Result<DryRun> {
    let (dry_run, _) = run(
        options,
        js,
        Needs::FILES,
        tracking_rows,
        async |migrator, _, state| migrator.dry_run(state),
    )
    .await?;
    Ok(dry_run)
}

/// The schema as a Mermaid ER diagram, read from the catalog.
pub async fn diagram(options: Options, js: Option<JsExecutor>) -> Result<String> {
    let needs = Needs {
        destructive: None,
        files: Files::None,
    };
    let (text, _) = run(
        options,
        js,
        needs,
        nothing,
        async |migrator, executor, _| {
            let (tables, keys) = read_schema(executor, &migrator.settings().tracking)
                .await
                .map_err(|error| {
                    Error::Sql(Box::new(SqlFailure {
                        message: error.message,
                        pg_code: error.sqlstate,
                        ..SqlFailure::default()
                    }))
                })?;
            Ok(stratum_core::diagram::render(&tables, &keys))
        },
    )
    .await?;
    Ok(text)
}

/// What a command needs before it connects.
#[derive(Clone, Copy)]
struct Needs {
    /// The command's name when it drops data: refused in production unless forced.
    destructive: Option<&'static str>,
    /// What it reads of the migration files (checked before anything else).
    files: Files,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Files {
    None,
    /// Their text, to apply or lint them.
    Text,
    /// Their checksums, to plan: unchanged files are not opened again.
    Checksums,
}

impl Files {
    /// What reads the files this command needs, on any thread.
    fn reader(
        self,
        settings: &Settings,
    ) -> impl FnOnce() -> Result<Vec<Migration>> + Send + 'static {
        let dir = settings.dir.clone();
        let cache = (self == Self::Checksums)
            .then(|| cache_path(&settings.cwd, &settings.dir))
            .flatten();
        move || match self {
            Self::None => Ok(Vec::new()),
            Self::Text => read_migrations(&dir),
            Self::Checksums => read_checksums(&dir, cache.as_deref()),
        }
    }
}

impl Needs {
    const FILES: Self = Self {
        destructive: None,
        files: Files::Text,
    };
    const CHECKSUMS: Self = Self {
        destructive: None,
        files: Files::Checksums,
    };
}

/// Resolves the settings, then reads the files while it connects and runs
/// `first` (what the command asks of the database before it plans), then
/// runs `work` over both; the password is masked in whatever fails. Also
/// returns the embedded server's data folder when that server was used.
async fn run<P: Send + 'static, T>(
    options: Options,
    js: Option<JsExecutor>,
    needs: Needs,
    first: impl AsyncFnOnce(&mut AnyExecutor, &Tracking) -> Result<P>,
    work: impl AsyncFnOnce(&Migrator<'_>, &mut AnyExecutor, &P) -> Result<T>,
) -> Result<(T, Option<String>)> {
    let mut context = Context::new(options, js)?;
    if let Some(command) = needs.destructive {
        context.settings.guard_destructive(command)?;
    }
    let read = needs.files.reader(&context.settings);
    let tracking = Tracking::new(&context.settings.tracking);
    let outcome = async {
        let (migrations, (mut executor, asked)) = files_alongside(read, async {
            let mut executor = context.connect().await?;
            let asked = first(&mut executor, &tracking).await?;
            Ok((executor, asked))
        })
        .await?;
        let outcome = work(
            &Migrator::new(&context.settings, &migrations),
            &mut executor,
            &asked,
        )
        .await;
        drop_later((migrations, asked));
        outcome
    }
    .await;
    context
        .finish(outcome)
        .map(|value| (value, context.embedded_data_dir()))
}

/// Frees `value` off the caller's path: the entries of thousands of files
/// take milliseconds to free, which no caller needs to wait for.
fn drop_later<T: Send + 'static>(value: T) {
    #[cfg(not(target_family = "wasm"))]
    tokio::task::spawn_blocking(move || drop(value));
    #[cfg(target_family = "wasm")]
    drop(value);
}

/// A `first` step that asks nothing.
async fn nothing(_: &mut AnyExecutor, _: &Tracking) -> Result<()> {
    Ok(())
}

/// A `first` step: the tracking rows, enough to plan.
async fn tracking_rows(executor: &mut AnyExecutor, tracking: &Tracking) -> Result<TrackingState> {
    tracking.read_state(executor, Detail::Plan).await
}

/// A `first` step: the tracking rows with when and how long, for `status`.
async fn tracking_rows_in_full(
    executor: &mut AnyExecutor,
    tracking: &Tracking,
) -> Result<TrackingState> {
    tracking.read_state(executor, Detail::Full).await
}

/// Runs `read` on a thread of its own while `database` goes on: with
/// thousands of files, the file system and the server's round trips
/// overlap. A problem in the files is the one reported, and ends the
/// database work at once: the files are checked before anything else.
async fn files_alongside<A>(
    read: impl FnOnce() -> Result<Vec<Migration>> + Send + 'static,
    database: impl Future<Output = Result<A>>,
) -> Result<(Vec<Migration>, A)> {
    // WebAssembly has no blocking pool to lend, and there the connection
    // is the app's, already open.
    #[cfg(target_family = "wasm")]
    let files = std::future::ready(read());
    #[cfg(not(target_family = "wasm"))]
    let files = async {
        tokio::task::spawn_blocking(read)
            .await
            .map_err(|error| Error::Internal(format!("reading the migration files: {error}")))?
    };
    let database = async { Ok::<_, Error>(database.await) };
    let (migrations, database) = futures_util::future::try_join(files, database).await?;
    Ok((migrations, database?))
}

/// The migrations directory the options resolve to.
pub fn migrations_dir(options: Options) -> Result<PathBuf> {
    let cwd = options.working_dir();
    Ok(Settings::resolve(options, &ProcessEnvironment, &cwd)?.dir)
}

/// A migration file written by `new`.
pub struct NewMigration {
    pub path: String,
    pub version: i64,
    pub name: String,
}

/// Writes the next numbered migration file, with its header; never
/// overwrites a file.
pub async fn new_migration(options: Options, name: &str) -> Result<NewMigration> {
    write_new_migration(options, name, "")
}

/// The next numbered migration file, its header followed by `body`.
fn write_new_migration(options: Options, name: &str, body: &str) -> Result<NewMigration> {
    let cwd = options.working_dir();
    let settings = Settings::resolve(options, &ProcessEnvironment, &cwd)?;
    let io = |path: &std::path::Path, error: std::io::Error| Error::Io {
        path: path.display().to_string(),
        message: error.to_string(),
    };
    std::fs::create_dir_all(&settings.dir).map_err(|error| io(&settings.dir, error))?;
    let existing: Vec<String> = std::fs::read_dir(&settings.dir)
        .map_err(|error| io(&settings.dir, error))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    let existing: Vec<&str> = existing.iter().map(String::as_str).collect();
    let (parsed, file_name, header) = new_migration_file(&existing, name).map_err(|problem| {
        let suggestion: String = name
            .to_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|word| !word.is_empty())
            .collect::<Vec<_>>()
            .join("_");
        Error::Source(SourceError::BadNames(vec![(
            format!(
                "{name:?}{}",
                if suggestion.is_empty() {
                    String::new()
                } else {
                    format!(" (try {suggestion})")
                }
            ),
            problem,
        )]))
    })?;
    let path = settings.dir.join(&file_name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|error| io(&path, error))?;
    std::io::Write::write_all(&mut file, format!("{header}{body}").as_bytes())
        .map_err(|error| io(&path, error))?;
    Ok(NewMigration {
        path: settings.display_path(&file_name),
        version: parsed.version,
        name: parsed.name,
    })
}

/// What `drift` found, and the migration it wrote when asked.
pub struct DriftReport {
    pub differences: Vec<stratum_core::drift::Difference>,
    /// The template database the expected schema was read from.
    pub template: String,
    /// Whether this run built it (replayed the applied files).
    pub built_template: bool,
    pub written: Option<NewMigration>,
}

/// How the live schema differs from what its applied migrations build;
/// with `write`, the next migration capturing it.
#[cfg(not(target_family = "wasm"))]
pub async fn drift(
    options: Options,
    js: Option<JsExecutor>,
    scratch_url: Option<String>,
    write: Option<String>,
) -> Result<DriftReport> {
    let scratch_secret = scratch_url
        .as_deref()
        .and_then(password_in_url)
        .map(str::to_owned);
    let for_write = options.clone();
    let through_app = js.is_some();
    let (found, _) = run(
        options,
        js,
        Needs::FILES,
        tracking_rows,
        async |migrator, executor, state| {
            crate::drift::check(
                migrator,
                executor,
                state,
                through_app,
                scratch_url.as_deref(),
            )
            .await
        },
    )
    .await
    .map_err(|error| error.redact(scratch_secret.as_deref()))?;
    // Nothing to capture writes no file: an empty migration helps no one.
    let written = match (write, &found.migration) {
        (Some(name), Some(body)) => Some(write_new_migration(for_write, &name, body)?),
        _ => None,
    };
    Ok(DriftReport {
        differences: found.differences,
        template: found.template,
        built_template: found.built,
        written,
    })
}

#[cfg(target_family = "wasm")]
pub async fn drift(
    _: Options,
    _: Option<JsExecutor>,
    _: Option<String>,
    _: Option<String>,
) -> Result<DriftReport> {
    Err(Error::Config(
        "drift replays the migrations on a scratch server, which this build of stratum \
         (WebAssembly) cannot reach: run it with the native package"
            .into(),
    ))
}

/// Every file's lint findings; no database needed.
pub struct LintReport {
    pub diagnostics: Vec<Diagnostic>,
    pub errors: usize,
    pub warnings: usize,
}

pub async fn lint(options: Options) -> Result<LintReport> {
    let cwd = options.working_dir();
    let since = options.since.clone();
    let settings = Settings::resolve(options, &ProcessEnvironment, &cwd)?;
    let migrations = read_migrations(&settings.dir)?;
    // Rule 1 first: an edited applied file matters more than its style.
    let mut diagnostics: Vec<Diagnostic> = match since {
        Some(reference) => {
            let before = crate::git::migrations_at(&settings.dir, &reference)?;
            let changes = stratum_core::lint::immutable::changes(&before, &migrations);
            let display = |file: &str| settings.display_path(file);
            stratum_core::lint::immutable::diagnostics(
                &changes,
                &reference,
                &display,
                &settings.rules,
            )
        }
        None => Vec::new(),
    };
    stratum_core::lint::each_file(
        &migrations,
        |file| file.sql.len(),
        |file| {
            stratum_core::lint::lint(
                &settings.display_path(&file.file_name),
                &file.sql,
                &settings.lint_context(file.version),
            )
        },
        |_, found| diagnostics.extend(found),
    );
    let errors = diagnostics
        .iter()
        .filter(|found| found.severity == Severity::Error)
        .count();
    Ok(LintReport {
        errors,
        warnings: diagnostics.len() - errors,
        diagnostics,
    })
}

struct Context {
    settings: Settings,
    /// The app's own connection, when it passed one as a `query` callback.
    js: Option<JsExecutor>,
    #[cfg(not(target_family = "wasm"))]
    native: Option<Native>,
    /// Masked in every message.
    password: Option<String>,
}

/// A connection stratum opens itself.
#[cfg(not(target_family = "wasm"))]
struct Native {
    connection: ConnectionSettings,
    /// Set when nothing configures a database and the embedded one is used.
    embedded: Option<EmbeddedServer>,
}

impl Context {
    fn new(options: Options, js: Option<JsExecutor>) -> Result<Self> {
        let secret = options
            .database_url
            .as_deref()
            .and_then(password_in_url)
            .map(str::to_owned);
        let resolve = || {
            let cwd = options.working_dir();
            let settings = Settings::resolve(options, &ProcessEnvironment, &cwd)?;
            #[cfg(not(target_family = "wasm"))]
            let native = match js {
                Some(_) => None,
                None => {
                    let embedded = embedded_server(&settings, &cwd)?;
                    let url = embedded.as_ref().map(EmbeddedServer::url);
                    let connection = ConnectionSettings::resolve(
                        url.as_deref().or(settings.database_url.as_deref()),
                        &ProcessEnvironment,
                    )?;
                    Some(Native {
                        connection,
                        embedded,
                    })
                }
            };
            #[cfg(not(target_family = "wasm"))]
            let password = native
                .as_ref()
                .and_then(|native| native.connection.password.clone())
                .or_else(|| secret.clone());
            #[cfg(target_family = "wasm")]
            let password = secret.clone();
            Ok(Self {
                settings,
                js,
                #[cfg(not(target_family = "wasm"))]
                native,
                password,
            })
        };
        resolve().map_err(|error: Error| error.redact(secret.as_deref()))
    }

    async fn connect(&mut self) -> Result<AnyExecutor> {
        if let Some(js) = self.js.take() {
            return Ok(AnyExecutor::Js(js));
        }
        #[cfg(not(target_family = "wasm"))]
        if let Some(native) = &self.native {
            if let Some(server) = native.embedded.clone() {
                tokio::task::spawn_blocking(move || server.ensure_running())
                    .await
                    .map_err(|error| {
                        Error::Internal(format!("starting the embedded PostgreSQL: {error}"))
                    })??;
            }
            let client = if self.settings.create_database {
                native
                    .connection
                    .connect_creating(self.settings.wait, self.settings.production)
                    .await?
            } else {
                native.connection.connect(self.settings.wait).await?
            };
            return Ok(AnyExecutor::Postgres(PostgresExecutor::new(client)));
        }
        Err(Error::Config(
            "this build of stratum (WebAssembly) reaches PostgreSQL only through the app's \
             connection: pass `client` (a connected pg.Client)"
                .into(),
        ))
    }

    /// The embedded server's data folder, as the user knows it.
    fn embedded_data_dir(&self) -> Option<String> {
        #[cfg(not(target_family = "wasm"))]
        {
            let server = self.native.as_ref()?.embedded.as_ref()?;
            let data = PathBuf::from(server.data_dir());
            let cwd = self.settings.cwd.clone();
            Some(
                data.strip_prefix(&cwd)
                    .map_or(data.clone(), PathBuf::from)
                    .display()
                    .to_string(),
            )
        }
        #[cfg(target_family = "wasm")]
        None
    }

    fn finish<T>(&self, outcome: Result<T>) -> Result<T> {
        outcome.map_err(|error| error.redact(self.password.as_deref()))
    }
}

#[cfg(not(target_family = "wasm"))]
/// The embedded server when nothing at all configures a database; never in
/// production, where a missing setting is a mistake to report.
pub(crate) fn embedded_server(
    settings: &Settings,
    cwd: &std::path::Path,
) -> Result<Option<EmbeddedServer>> {
    if !nothing_configured(settings.database_url.as_deref(), &ProcessEnvironment) {
        return Ok(None);
    }
    if settings.production {
        return Err(Error::Config(
            "no database configured: set DATABASE_URL (or PGHOST, PGPORT, PGUSER, PGPASSWORD, \
             PGDATABASE); with NODE_ENV=production stratum never falls back to its embedded \
             PostgreSQL"
                .into(),
        ));
    }
    EmbeddedServer::locate(cwd, &ProcessEnvironment).map(Some)
}

/// The embedded server of the project in the working directory.
fn project_server() -> Result<EmbeddedServer> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    EmbeddedServer::locate(&cwd, &ProcessEnvironment)
}

/// Starts the embedded server (creating it the first time) and leaves it running.
pub async fn db_start() -> Result<ServerState> {
    let server = project_server()?;
    tokio::task::spawn_blocking(move || {
        server.ensure_running()?;
        server.state()
    })
    .await
    .map_err(|error| Error::Internal(format!("starting the embedded PostgreSQL: {error}")))?
}

/// Stops the embedded server; `false` when it was not running.
pub async fn db_stop() -> Result<bool> {
    let server = project_server()?;
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .map_err(|error| Error::Internal(format!("stopping the embedded PostgreSQL: {error}")))?
}

pub async fn db_status() -> Result<ServerState> {
    let server = project_server()?;
    tokio::task::spawn_blocking(move || server.state())
        .await
        .map_err(|error| Error::Internal(format!("reading the embedded PostgreSQL: {error}")))?
}

/// The password of a `postgres://user:password@host` URL, found without
/// parsing, so it can be masked even in the error of a URL that does not parse.
pub(crate) fn password_in_url(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = &rest[..rest.rfind('@')?];
    userinfo.split_once(':').map(|(_, password)| password)
}

#[cfg(test)]
mod tests {
    use super::password_in_url;

    #[test]
    fn finds_the_password_of_a_url() {
        assert_eq!(password_in_url("postgres://u:p%40ss@h/db"), Some("p%40ss"));
        assert_eq!(password_in_url("postgres://u@h/db"), None);
        assert_eq!(password_in_url("host=x password=y"), None);
    }
}
