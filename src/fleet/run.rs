//! The fleet's run: targets resolved, the files read and linted once, then
//! each target on a connection of its own as the core's schedule allows.

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use stratum_core::Migration;
use stratum_core::fleet::{Outcome, Schedule};

use super::targets::{self, Target};
use super::{Command, Fleet, FleetReport, TargetReport, Work};
use crate::database::executor::{AnyExecutor, Executor};
use crate::database::migrator::{Migrator, SharedLint};
use crate::database::postgres::PostgresExecutor;
use crate::database::sql::ident;
use crate::database::tracking::{Detail, Tracking};
use crate::error::{Error, Result};
use crate::options::{Options, ProcessEnvironment, Settings};
use crate::source::read_migrations;

/// The fleet over connections of its own; see [`super::run`].
pub async fn run(
    options: Options,
    fleet: Fleet,
    command: Command,
    on_target: &(dyn Fn(&TargetReport) + Sync),
) -> Result<FleetReport> {
    let cwd = options.working_dir();
    let settings = Settings::resolve(options, &ProcessEnvironment, &cwd)?;
    let dir = settings.dir.clone();
    let read = tokio::task::spawn_blocking(move || read_migrations(&dir));
    let targets = targets::resolve(&fleet.source, &settings, &ProcessEnvironment).await;
    let migrations = read
        .await
        .map_err(|error| Error::Internal(format!("reading the migration files: {error}")))??;
    let targets = targets?;
    let lint = SharedLint::default();
    let servers: Vec<String> = targets
        .iter()
        .map(|target| target.connection.server())
        .collect();
    let mut schedule = Schedule::new(&servers, fleet.policy);
    let mut ended: Vec<Option<TargetReport>> = (0..targets.len()).map(|_| None).collect();
    let mut running = FuturesUnordered::new();
    loop {
        while let Some(index) = schedule.start_next() {
            let target = &targets[index];
            let (settings, migrations, lint) = (&settings, &migrations, &lint);
            running.push(async move {
                let result = run_target(target, settings, migrations, lint, command).await;
                (index, result)
            });
        }
        let Some((index, result)) = running.next().await else {
            break;
        };
        schedule.finished(index, result.is_ok());
        let target = &targets[index];
        let report = TargetReport {
            name: target.name(),
            database: target.connection.database().to_owned(),
            schema: target.schema.clone(),
            outcome: if result.is_ok() {
                Outcome::Ok
            } else {
                Outcome::Failed
            },
            result: Some(result),
        };
        on_target(&report);
        ended[index] = Some(report);
    }
    let targets = ended
        .into_iter()
        .zip(&targets)
        .map(|(report, target)| {
            report.unwrap_or_else(|| {
                let skipped = TargetReport {
                    name: target.name(),
                    database: target.connection.database().to_owned(),
                    schema: target.schema.clone(),
                    outcome: Outcome::Skipped,
                    result: None,
                };
                on_target(&skipped);
                skipped
            })
        })
        .collect();
    Ok(FleetReport { targets })
}

/// One target, over a connection of its own that is closed before this returns.
async fn run_target(
    target: &Target,
    shared: &Settings,
    migrations: &[Migration],
    lint: &SharedLint,
    command: Command,
) -> Result<Work> {
    let settings = target.settings(shared);
    let creating = settings.create_database.then_some(settings.production);
    let outcome = async {
        let open = target.connection.open(settings.wait, creating).await?;
        let mut executor = AnyExecutor::Postgres(PostgresExecutor::owning(open));
        let work = on_connection(&mut executor, target, &settings, migrations, lint, command).await;
        executor.close().await;
        work
    }
    .await;
    outcome.map_err(|error| error.redact(target.connection.password.as_deref()))
}

async fn on_connection(
    executor: &mut AnyExecutor,
    target: &Target,
    settings: &Settings,
    migrations: &[Migration],
    lint: &SharedLint,
    command: Command,
) -> Result<Work> {
    if let Some(schema) = &target.schema {
        // The tenant's objects go to its schema; `public` stays visible for
        // the functions of extensions installed there.
        executor
            .execute(&format!("SET search_path TO {}, public", ident(schema)))
            .await
            .map_err(|error| {
                Error::Connect(format!("setting the search_path: {}", error.message))
            })?;
    }
    let migrator = Migrator::new(settings, migrations).sharing_lint(lint);
    let tracking = Tracking::new(&settings.tracking);
    match command {
        Command::Migrate => {
            // With nothing pending this returns at once: no lock, no write.
            let state = tracking.read_state(executor, Detail::Plan).await?;
            let report = migrator.migrate(executor, &state, &|_| {}).await?;
            Ok(Work::Migrated(report))
        }
        Command::Status => {
            let state = tracking.read_state(executor, Detail::Full).await?;
            Ok(Work::Status(migrator.status(&state)))
        }
        Command::Plan => {
            let state = tracking.read_state(executor, Detail::Plan).await?;
            Ok(Work::Planned(migrator.dry_run(&state)?))
        }
    }
}
