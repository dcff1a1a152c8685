//! The expected schema of drift: the applied migrations replayed into a
//! template database kept per set of files (`stratum_drift_<hash>`), built
//! once by the migrator and then only read, so the next check with the same
//! files costs a catalog read, not a replay.
//!
//! A template is built under a name of its own and renamed into place when
//! complete, so a run that dies half way leaves no template that lies, and
//! two runs that build the same one at once both end up reading one.

use std::time::{Duration, Instant};

use stratum_core::Migration;
use stratum_core::drift::Snapshot;

use super::catalog::read_snapshot;
use super::connection::ConnectionSettings;
use super::executor::{AnyExecutor, ExecError, ExecErrorKind, Executor};
use super::migrator::Migrator;
use super::postgres::PostgresExecutor;
use super::sql::{ident, literal};
use super::tracking::{Detail, Tracking};
use crate::error::{Error, Result, SqlFailure};
use crate::options::{LockMode, Settings};

/// The prefix of every template drift keeps.
pub const TEMPLATE_PREFIX: &str = "stratum_drift_";
/// SQLSTATE 42P04: the database exists.
const DUPLICATE_DATABASE: &str = "42P04";
/// SQLSTATE 55006: a database is in use (a session that just closed can
/// linger on the server for a moment).
const OBJECT_IN_USE: &str = "55006";
const IN_USE_RETRY: Duration = Duration::from_secs(30);

/// The template's name for these files in this schema: any change to a
/// file, its name, the schema or the tracking table makes another.
pub fn template_name(settings: &Settings, applied: &[Migration]) -> String {
    let mut key = format!(
        "{}\0{}\0",
        settings.tracking.schema, settings.tracking.table
    );
    for file in applied {
        key.push_str(&format!("{}\0{}\0", file.file_name, file.checksum));
    }
    let hash = stratum_core::checksum::checksum(&key);
    format!("{TEMPLATE_PREFIX}{}", &hash[..16.min(hash.len())])
}

/// Where the expected schema was read, for the report.
pub struct Expected {
    pub snapshot: Snapshot,
    pub template: String,
    /// Whether this run replayed the files (no template was there yet).
    pub built: bool,
}

/// The schema the applied migrations build, read from their template on the
/// server `server` connects to (any database of it), built there first when
/// missing. The server must run `target_major`.
pub async fn expected_schema(
    server: &ConnectionSettings,
    settings: &Settings,
    applied: &[Migration],
    target: &Target,
) -> Result<Expected> {
    let target_major = target.major;
    let template = template_name(settings, applied);
    let database = server.with_database(&template);
    // The common case, the template already there, costs one connection;
    // any failure to open it is looked into over the server's own.
    let (client, built) = match database.connect(settings.wait).await {
        Ok(client) => (client, false),
        Err(_) => {
            let mut admin =
                AnyExecutor::Postgres(PostgresExecutor::new(server.connect(settings.wait).await?));
            same_major(&mut admin, server, target_major).await?;
            let exists = admin
                .query(&format!(
                    "SELECT 1 FROM pg_database WHERE datname = {}",
                    literal(&template)
                ))
                .await
                .map_err(sql_error)?;
            if !exists.is_empty() {
                // It is there, so the failure was not its absence: say what it was.
                database.connect(settings.wait).await?;
            }
            let tag = format!(
                "stratum drift: the applied migrations of {}, schema {}, table {}",
                target.database, settings.tracking.schema, settings.tracking.table
            );
            build(&mut admin, server, settings, applied, &template, &tag).await?;
            drop(admin);
            (database.connect(settings.wait).await?, true)
        }
    };
    let mut reader = AnyExecutor::Postgres(PostgresExecutor::new(client));
    same_major(&mut reader, server, target_major).await?;
    let snapshot = read_snapshot(&mut reader, &settings.tracking)
        .await
        .map_err(sql_error)?;
    Ok(Expected {
        snapshot,
        template,
        built,
    })
}

/// Refuses a scratch server of another major version than the target's.
async fn same_major(
    executor: &mut AnyExecutor,
    server: &ConnectionSettings,
    target_major: u32,
) -> Result<()> {
    let major = server_major(executor).await?;
    if major == target_major {
        return Ok(());
    }
    Err(Error::Config(format!(
        "the scratch server {} runs PostgreSQL {major} and the database PostgreSQL \
         {target_major}: the expected schema must come from the same major version, or the \
         server's decompiled definitions differ; pass scratchUrl (--scratch-url) for a \
         PostgreSQL {target_major} server you may create databases on",
        server.label
    )))
}

/// Replays `applied` into a new database and renames it `template`.
async fn build(
    admin: &mut AnyExecutor,
    server: &ConnectionSettings,
    settings: &Settings,
    applied: &[Migration],
    template: &str,
    tag: &str,
) -> Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    let building = format!("{template}_b{}_{nanos}", std::process::id());
    admin
        .execute(&format!("CREATE DATABASE {}", ident(&building)))
        .await
        .map_err(sql_error)?;
    if let Err(error) = replay(server, settings, applied, &building).await {
        discard(admin, &building).await;
        return Err(error);
    }
    let statement = format!(
        "ALTER DATABASE {} RENAME TO {}",
        ident(&building),
        ident(template)
    );
    // What the template stands for, so the next one for the same database
    // can retire it.
    let tagged = admin
        .execute(&format!(
            "COMMENT ON DATABASE {} IS {}",
            ident(&building),
            literal(tag)
        ))
        .await;
    match tagged.and(rename(admin, &statement).await) {
        Ok(()) => {
            retire(admin, tag, template).await;
            Ok(())
        }
        // Another run built the same template first: its copy is as good.
        Err(error) if error.sqlstate.as_deref() == Some(DUPLICATE_DATABASE) => {
            discard(admin, &building).await;
            Ok(())
        }
        Err(error) => {
            discard(admin, &building).await;
            Err(sql_error(error))
        }
    }
}

/// Drops the earlier templates of the same database, schema and tracking
/// table: one per deploy would pile up on the server. One still being read
/// (or owned by another role) stays, for a later run to retire.
async fn retire(admin: &mut AnyExecutor, tag: &str, template: &str) {
    let Ok(rows) = admin
        .query(&format!(
            "SELECT d.datname FROM pg_database d
               JOIN pg_shdescription s ON s.objoid = d.oid AND s.classoid = 'pg_database'::regclass
              WHERE s.description = {} AND d.datname <> {} AND d.datname LIKE {}",
            literal(tag),
            literal(template),
            literal(&format!("{}%", TEMPLATE_PREFIX.replace('_', "\\_")))
        ))
        .await
    else {
        return;
    };
    for name in rows
        .into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
    {
        let _ = admin
            .execute(&format!("DROP DATABASE IF EXISTS {}", ident(&name)))
            .await;
    }
}

/// What the expected schema is compared with: the target's major version
/// and its database's name (which tags its templates).
pub struct Target {
    pub major: u32,
    pub database: String,
}

/// The target's major version and database name.
pub async fn target<E: Executor>(executor: &mut E) -> Result<Target> {
    let major = server_major(executor).await?;
    let rows = executor
        .query("SELECT current_database()")
        .await
        .map_err(sql_error)?;
    let database = rows
        .into_iter()
        .next()
        .and_then(|row| row.into_iter().next().flatten())
        .unwrap_or_default();
    Ok(Target { major, database })
}

/// Runs the migrator over a fresh database: the same engine, rules and
/// transactions as `migrate`, so the template is what `migrate` builds.
async fn replay(
    server: &ConnectionSettings,
    settings: &Settings,
    applied: &[Migration],
    database: &str,
) -> Result<()> {
    let mut executor = AnyExecutor::Postgres(PostgresExecutor::new(
        server
            .with_database(database)
            .connect(settings.wait)
            .await?,
    ));
    // A scratch database has no other runs to exclude; the session lock
    // also runs the files that opt out of a transaction.
    let scratch = Settings {
        lock_mode: LockMode::Session,
        ..settings.clone()
    };
    let state = Tracking::new(&scratch.tracking)
        .read_state(&mut executor, Detail::Plan)
        .await?;
    Migrator::new(&scratch, applied)
        .migrate(&mut executor, &state, &|_| {})
        .await?;
    Ok(())
}

/// Renames the finished database, retrying while its last session lingers.
async fn rename(admin: &mut AnyExecutor, statement: &str) -> std::result::Result<(), ExecError> {
    let deadline = Instant::now() + IN_USE_RETRY;
    let mut pause = Duration::from_millis(50);
    loop {
        match admin.execute(statement).await {
            Ok(()) => return Ok(()),
            Err(error)
                if error.sqlstate.as_deref() == Some(OBJECT_IN_USE)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Drops a half-built database; a failure here leaves only a database
/// named `…_b<pid>_<n>` that no check ever reads.
async fn discard(admin: &mut AnyExecutor, database: &str) {
    let _ = admin
        .execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(database)
        ))
        .await;
}

/// The server's major version (`15` of 15.4).
pub async fn server_major<E: Executor>(executor: &mut E) -> Result<u32> {
    let rows = executor
        .query("SELECT current_setting('server_version_num')")
        .await
        .map_err(sql_error)?;
    let number: u32 = rows
        .first()
        .and_then(|row| row.first().cloned().flatten())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Error::Internal("the server did not give its version".into()))?;
    Ok(number / 10000)
}

/// Whether the connected role may create databases.
pub async fn may_create_databases<E: Executor>(executor: &mut E) -> Result<bool> {
    let rows = executor
        .query("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
        .await
        .map_err(sql_error)?;
    Ok(rows
        .first()
        .and_then(|row| row.first().cloned().flatten())
        .is_some_and(|value| value == "t"))
}

/// A failed catalog statement as the error the caller sees.
pub fn sql_error(error: ExecError) -> Error {
    match error.kind {
        ExecErrorKind::ConnectionLost => Error::ConnectionLost(error.message),
        _ => Error::Sql(Box::new(SqlFailure {
            message: error.message,
            pg_code: error.sqlstate,
            detail: error.detail,
            hint: error.hint,
            ..SqlFailure::default()
        })),
    }
}
