//! The fleet's targets, resolved before any runs: URLs as given, or the rows
//! of a query on the configured connection (database names on that server,
//! or URLs), or the schemas of one database that each hold a tenant.

use std::borrow::Cow;

use crate::database::connection::ConnectionSettings;
use crate::database::executor::Executor;
use crate::database::postgres::PostgresExecutor;
use crate::database::tls::SharedTls;
use crate::error::{Error, Result, SqlFailure};
use crate::options::{Environment, Settings};

use super::TargetSource;

/// One database, or one schema of a database, to migrate.
#[derive(Debug, Clone)]
pub struct Target {
    pub connection: ConnectionSettings,
    /// Set for a tenant kept in a schema: its objects and its tracking table live there.
    pub schema: Option<String>,
}

impl Target {
    /// How reports name it: `host:port/database`, never with a password.
    pub fn name(&self) -> String {
        let base = format!(
            "{}/{}",
            self.connection.server(),
            self.connection.database()
        );
        match &self.schema {
            Some(schema) => format!("{base} (schema {schema})"),
            None => base,
        }
    }

    /// The settings of the whole run; a schema target's own copy of them,
    /// with the tracking table in its schema.
    pub fn settings<'a>(&self, shared: &'a Settings) -> Cow<'a, Settings> {
        match &self.schema {
            None => Cow::Borrowed(shared),
            Some(schema) => {
                let mut settings = shared.clone();
                settings.tracking.schema = schema.clone();
                Cow::Owned(settings)
            }
        }
    }
}

/// The targets `source` names, in order. Those that ask for the same TLS
/// share one connector: the root certificates are read once for the run,
/// not once per target.
pub async fn resolve(
    source: &TargetSource,
    settings: &Settings,
    env: &(dyn Environment + Sync),
) -> Result<Vec<Target>> {
    let mut targets = named(source, settings, env).await?;
    let mut shared = SharedTls::default();
    for target in &mut targets {
        target.connection.share_tls(&mut shared);
    }
    Ok(targets)
}

/// The targets, each with the TLS of its own settings.
async fn named(
    source: &TargetSource,
    settings: &Settings,
    env: &(dyn Environment + Sync),
) -> Result<Vec<Target>> {
    match source {
        TargetSource::Urls(urls) => urls.iter().map(|url| target_from_url(url, env)).collect(),
        TargetSource::DatabasesQuery(sql) => {
            let base = configured(settings, env)?;
            let rows = first_column(&base, sql, settings, "targetsQuery").await?;
            rows.iter()
                .map(|value| {
                    if looks_like_url(value) {
                        target_from_url(value, env)
                    } else {
                        Ok(Target {
                            connection: base.with_database(value),
                            schema: None,
                        })
                    }
                })
                .collect()
        }
        TargetSource::SchemasQuery(sql) => {
            let base = configured(settings, env)?;
            let rows = first_column(&base, sql, settings, "schemasQuery").await?;
            Ok(rows
                .into_iter()
                .map(|schema| Target {
                    connection: base.clone(),
                    schema: Some(schema),
                })
                .collect())
        }
    }
}

fn target_from_url(url: &str, env: &dyn Environment) -> Result<Target> {
    let connection = ConnectionSettings::resolve(Some(url), env).map_err(|error| {
        // The URL itself may hold a password; the message names the line by its place instead.
        let password = crate::commands::password_in_url(url);
        error.redact(password)
    })?;
    Ok(Target {
        connection,
        schema: None,
    })
}

/// `postgres://…` or libpq's `key=value` form, rather than a bare database name.
fn looks_like_url(value: &str) -> bool {
    value.contains("://") || value.contains('=')
}

fn configured(settings: &Settings, env: &dyn Environment) -> Result<ConnectionSettings> {
    ConnectionSettings::resolve(settings.database_url.as_deref(), env)
}

/// The first column of every row of `sql`, run on `connection` and closed
/// before any target starts, so it never counts against the fleet's bound.
async fn first_column(
    connection: &ConnectionSettings,
    sql: &str,
    settings: &Settings,
    option: &str,
) -> Result<Vec<String>> {
    let mut executor = PostgresExecutor::owning(connection.open(settings.wait, None).await?);
    let rows = executor.query(sql).await;
    executor.close().await;
    let rows = rows.map_err(|error| {
        Error::Sql(Box::new(SqlFailure {
            message: format!("{} (running {option})", error.message),
            pg_code: error.sqlstate,
            detail: error.detail,
            hint: error.hint,
            ..SqlFailure::default()
        }))
    })?;
    rows.into_iter()
        .map(|row| match row.into_iter().next() {
            Some(Some(value)) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
            _ => Err(Error::Config(format!(
                "{option} returned a row whose first column is empty or NULL: each row must \
                 name a {}",
                if option == "schemasQuery" {
                    "schema"
                } else {
                    "database (or hold a connection URL)"
                }
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_or_a_url() {
        assert!(!looks_like_url("isp_acme"));
        assert!(looks_like_url("postgres://u@h/isp_acme"));
        assert!(looks_like_url("host=h dbname=isp_acme"));
    }
}
