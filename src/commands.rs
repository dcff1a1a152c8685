//! The four commands, end to end: resolve the settings, read the files,
//! connect, run the migrator, and mask the password in whatever fails.

use std::path::PathBuf;

use stratum_core::lint::{Diagnostic, LintContext, Severity};

use crate::database::catalog::read_schema;
use crate::database::connection::ConnectionSettings;
use crate::database::migrator::{DryRun, MigrateReport, Migrator, Progress, StatusReport};
use crate::database::postgres::PostgresExecutor;
use crate::error::{Error, Result, SqlFailure};
use crate::options::{Options, ProcessEnvironment, Settings};
use crate::source::read_migrations;

/// A progress callback that ignores every event.
pub fn no_progress(_: Progress<'_>) {}

pub async fn migrate(
    options: Options,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<MigrateReport> {
    let context = Context::new(options)?;
    let migrations = read_migrations(&context.settings.dir)?;
    let outcome = async {
        let mut executor = context.connect().await?;
        Migrator::new(&context.settings, &migrations)
            .migrate(&mut executor, progress)
            .await
    }
    .await;
    context.finish(outcome)
}

pub async fn status(options: Options) -> Result<StatusReport> {
    let context = Context::new(options)?;
    let migrations = read_migrations(&context.settings.dir)?;
    let outcome = async {
        let mut executor = context.connect().await?;
        Migrator::new(&context.settings, &migrations)
            .status(&mut executor)
            .await
    }
    .await;
    context.finish(outcome)
}

pub async fn fresh(
    options: Options,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<MigrateReport> {
    let context = Context::new(options)?;
    context.settings.guard_destructive("fresh")?;
    // The files are checked before anything is dropped.
    let migrations = read_migrations(&context.settings.dir)?;
    let outcome = async {
        let mut executor = context.connect().await?;
        Migrator::new(&context.settings, &migrations)
            .fresh(&mut executor, progress)
            .await
    }
    .await;
    context.finish(outcome)
}

pub async fn reset(options: Options) -> Result<usize> {
    let context = Context::new(options)?;
    context.settings.guard_destructive("reset")?;
    let outcome = async {
        let mut executor = context.connect().await?;
        Migrator::new(&context.settings, &[])
            .reset(&mut executor)
            .await
    }
    .await;
    context.finish(outcome)
}

/// What `migrate` would do; takes no lock and writes nothing.
pub async fn plan(options: Options) -> Result<DryRun> {
    let context = Context::new(options)?;
    let migrations = read_migrations(&context.settings.dir)?;
    let outcome = async {
        let mut executor = context.connect().await?;
        Migrator::new(&context.settings, &migrations)
            .dry_run(&mut executor)
            .await
    }
    .await;
    context.finish(outcome)
}

/// The schema as a Mermaid ER diagram, read from the catalog.
pub async fn diagram(options: Options) -> Result<String> {
    let context = Context::new(options)?;
    let outcome = async {
        let mut executor = context.connect().await?;
        let (tables, keys) = read_schema(&mut executor, &context.settings.tracking)
            .await
            .map_err(|error| {
                Error::Sql(Box::new(SqlFailure {
                    message: error.message,
                    pg_code: error.sqlstate,
                    ..SqlFailure::default()
                }))
            })?;
        Ok(stratum_core::diagram::render(&tables, &keys))
    }
    .await;
    context.finish(outcome)
}

/// Every file's lint findings; no database needed.
pub struct LintReport {
    pub diagnostics: Vec<Diagnostic>,
    pub errors: usize,
    pub warnings: usize,
}

pub async fn lint(options: Options) -> Result<LintReport> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let settings = Settings::resolve(options, &ProcessEnvironment, &cwd)?;
    let migrations = read_migrations(&settings.dir)?;
    let context = LintContext {
        tracking_table: &settings.tracking.table,
        tracking_schema: &settings.tracking.schema,
    };
    let diagnostics: Vec<Diagnostic> = migrations
        .iter()
        .flat_map(|file| {
            stratum_core::lint::lint(&settings.display_path(&file.file_name), &file.sql, &context)
        })
        .collect();
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
    connection: ConnectionSettings,
}

impl Context {
    fn new(options: Options) -> Result<Self> {
        let secret = options
            .database_url
            .as_deref()
            .and_then(password_in_url)
            .map(str::to_owned);
        let resolve = || {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let settings = Settings::resolve(options, &ProcessEnvironment, &cwd)?;
            let connection =
                ConnectionSettings::resolve(settings.database_url.as_deref(), &ProcessEnvironment)?;
            Ok(Self {
                settings,
                connection,
            })
        };
        resolve().map_err(|error: Error| error.redact(secret.as_deref()))
    }

    async fn connect(&self) -> Result<PostgresExecutor> {
        Ok(PostgresExecutor::new(
            self.connection.connect(self.settings.wait).await?,
        ))
    }

    fn finish<T>(&self, outcome: Result<T>) -> Result<T> {
        outcome.map_err(|error| error.redact(self.connection.password.as_deref()))
    }
}

/// The password of a `postgres://user:password@host` URL, found without
/// parsing, so it can be masked even in the error of a URL that does not parse.
fn password_in_url(url: &str) -> Option<&str> {
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
