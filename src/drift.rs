//! `drift`, end to end: the applied files (refused as `migrate` refuses
//! changed or missing ones), the scratch server their template lives on,
//! both schemas read, and the core's comparison and migration.

use stratum_core::Migration;
use stratum_core::drift::{Difference, compare, write_migration};

use crate::commands::embedded_server;
use crate::database::catalog::read_snapshot;
use crate::database::connection::ConnectionSettings;
use crate::database::embedded::EmbeddedServer;
use crate::database::executor::Executor;
use crate::database::migrator::Migrator;
use crate::database::scratch::{expected_schema, may_create_databases, sql_error, target};
use crate::database::tracking::TrackingState;
use crate::error::{Error, Result};
use crate::options::{ProcessEnvironment, Settings};

pub struct Found {
    pub differences: Vec<Difference>,
    pub template: String,
    pub built: bool,
    /// The body of the migration that captures the differences, when
    /// there is a statement to write.
    pub migration: Option<String>,
}

pub async fn check<E: Executor>(
    migrator: &Migrator<'_>,
    executor: &mut E,
    state: &TrackingState,
    through_app: bool,
    scratch_url: Option<&str>,
) -> Result<Found> {
    let settings = migrator.settings();
    // Refuses changed and missing files as `migrate` would; pending files
    // are not part of the expected schema.
    let pending = migrator.dry_run(state)?.pending;
    let applied: Vec<Migration> = migrator
        .migrations()
        .iter()
        .filter(|file| !pending.iter().any(|p| p.version == file.version))
        .cloned()
        .collect();
    let target = target(executor).await?;
    let server = scratch_server(settings, executor, through_app, scratch_url).await?;
    // The two schemas are read at once, over their own connections.
    let (expected, actual) = futures_util::future::join(
        expected_schema(&server, settings, &applied, &target),
        read_snapshot(executor, &settings.tracking),
    )
    .await;
    let (expected, actual) = (expected?, actual.map_err(sql_error)?);
    let differences = compare(&expected.snapshot, &actual);
    let migration = write_migration(
        &settings.tracking.schema,
        &differences,
        &expected.snapshot,
        &actual,
    );
    Ok(Found {
        differences,
        template: expected.template,
        built: expected.built,
        migration,
    })
}

/// Where the template lives: `scratchUrl`, else the target's own server
/// when the role may create databases there, else the embedded PostgreSQL.
async fn scratch_server<E: Executor>(
    settings: &Settings,
    executor: &mut E,
    through_app: bool,
    scratch_url: Option<&str>,
) -> Result<ConnectionSettings> {
    if let Some(url) = scratch_url {
        return ConnectionSettings::resolve(Some(url), &ProcessEnvironment);
    }
    if !through_app && may_create_databases(executor).await? {
        let embedded = embedded_server(settings, &settings.cwd)?;
        let url = embedded.as_ref().map(EmbeddedServer::url);
        return ConnectionSettings::resolve(
            url.as_deref().or(settings.database_url.as_deref()),
            &ProcessEnvironment,
        );
    }
    let cwd = settings.cwd.clone();
    let started = tokio::task::spawn_blocking(move || -> Result<EmbeddedServer> {
        let server = EmbeddedServer::locate(&cwd, &ProcessEnvironment)?;
        server.ensure_running()?;
        Ok(server)
    })
    .await
    .map_err(|error| Error::Internal(format!("starting the embedded PostgreSQL: {error}")))?;
    let server = started.map_err(|error| {
        Error::Config(format!(
            "drift replays the applied migrations into a scratch database, and found nowhere \
             to make one: the role may not create databases on the target's server, no \
             scratchUrl (--scratch-url) was given, and the embedded PostgreSQL is not \
             available ({error})"
        ))
    })?;
    ConnectionSettings::resolve(Some(&server.url()), &ProcessEnvironment)
}
