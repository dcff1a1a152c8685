//! The tracking table: its shape, and the SQL that reads, creates, adopts
//! and writes it. The shape is the one the app's databases already have
//! (`id`, `name`, `executed_at`) plus `version`, `checksum` and `duration_ms`.

use stratum_core::{Applied, Migration, MigrationName};

use super::executor::{ExecError, ExecErrorKind, Executor, Row};
use super::privileges;
use super::sql::{ident, literal};
use crate::error::{Error, SqlFailure};
use crate::options::TrackingTable;

/// SQLSTATEs that mean "there is no tracking table yet".
const UNDEFINED_TABLE: &str = "42P01";
const INVALID_SCHEMA: &str = "3F000";
/// The table exists but lacks the columns stratum adds: a legacy table.
const UNDEFINED_COLUMN: &str = "42703";
/// The role may not read the table or see into its schema.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// Seconds since 1970 as a float: the server prints it many times faster
/// than a formatted date, and it does not depend on the session's DateStyle
/// or TimeZone.
const APPLIED_AT: &str = "date_part('epoch', executed_at::timestamptz)";

/// What the tracking table holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackingState {
    Absent,
    /// Written by the earlier runner: no version, checksum or duration columns.
    Legacy(Vec<Applied>),
    Current(Vec<Applied>),
}

impl TrackingState {
    pub fn rows(&self) -> &[Applied] {
        match self {
            Self::Absent => &[],
            Self::Legacy(rows) | Self::Current(rows) => rows,
        }
    }
}

/// How much of each tracking row to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Everything, for `status`.
    Full,
    /// Only what the plan compares: name, version, checksum.
    Plan,
}

pub struct Tracking {
    qualified: String,
    schema: String,
    table: TrackingTable,
}

impl Tracking {
    pub fn new(table: &TrackingTable) -> Self {
        Self {
            qualified: format!("{}.{}", ident(&table.schema), ident(&table.table)),
            schema: ident(&table.schema),
            table: table.clone(),
        }
    }

    pub fn qualified(&self) -> &str {
        &self.qualified
    }

    /// Reads every row in one round trip when the table is current; a legacy
    /// or absent table is told apart by the error the first read gets.
    /// `Detail::Plan` leaves out when and how long, which only `status`
    /// shows: formatting thousands of timestamps is most of the read. Rows
    /// come in no order: the plan puts them in version order.
    async fn read<E: Executor>(
        &self,
        executor: &mut E,
        detail: Detail,
    ) -> Result<TrackingState, ExecError> {
        let current = match detail {
            Detail::Full => format!(
                "SELECT name, version, checksum, {APPLIED_AT}, duration_ms FROM {}",
                self.qualified
            ),
            // The version is the name's own number in every row stratum
            // writes or adopts.
            Detail::Plan => format!("SELECT name, NULL, checksum FROM {}", self.qualified),
        };
        match executor.query(&current).await {
            Ok(rows) => Ok(TrackingState::Current(
                rows.into_iter().map(applied).collect(),
            )),
            Err(error) => match error.sqlstate.as_deref() {
                Some(UNDEFINED_TABLE | INVALID_SCHEMA) => Ok(TrackingState::Absent),
                Some(UNDEFINED_COLUMN) => {
                    let legacy = format!(
                        "SELECT name, NULL, NULL, {APPLIED_AT}, NULL FROM {}",
                        self.qualified
                    );
                    let rows = executor.query(&legacy).await?;
                    Ok(TrackingState::Legacy(
                        rows.into_iter().map(applied).collect(),
                    ))
                }
                _ => Err(error),
            },
        }
    }

    /// `read`, its failure told as stratum's own; a refusal names the
    /// privilege the role lacks and the GRANT that gives it.
    pub async fn read_state<E: Executor>(
        &self,
        executor: &mut E,
        detail: Detail,
    ) -> Result<TrackingState, Error> {
        match self.read(executor, detail).await {
            Ok(state) => Ok(state),
            Err(error) if error.sqlstate.as_deref() == Some(INSUFFICIENT_PRIVILEGE) => {
                Err(privileges::diagnose_read(executor, &self.table)
                    .await
                    .unwrap_or_else(|| self.error(error)))
            }
            Err(error) => Err(self.error(error)),
        }
    }

    /// A failure of stratum's own SQL on this table, not of a migration file.
    pub fn error(&self, error: ExecError) -> Error {
        if error.kind == ExecErrorKind::ConnectionLost {
            return Error::ConnectionLost(error.message);
        }
        Error::Sql(Box::new(SqlFailure {
            message: format!(
                "{} (on the tracking table {})",
                error.message, self.qualified
            ),
            pg_code: error.sqlstate,
            detail: error.detail,
            hint: error.hint,
            ..SqlFailure::default()
        }))
    }

    /// Creates the table when absent, and brings a legacy table to the
    /// current shape in place. The schema is created only when it does not
    /// exist: even with IF NOT EXISTS, CREATE SCHEMA asks for CREATE on the
    /// database first, which a role given only its schema does not have.
    pub fn ensure_sql(&self, state: &TrackingState, schema_exists: bool) -> Option<String> {
        let table = &self.qualified;
        match state {
            TrackingState::Current(_) => None,
            TrackingState::Absent => Some(format!(
                "{create_schema}
                 CREATE TABLE IF NOT EXISTS {table} (
                     id SERIAL PRIMARY KEY,
                     name VARCHAR(255) UNIQUE NOT NULL,
                     executed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                     version BIGINT,
                     checksum VARCHAR(64),
                     duration_ms BIGINT
                 );",
                create_schema = if schema_exists {
                    String::new()
                } else {
                    format!("CREATE SCHEMA IF NOT EXISTS {};", self.schema)
                }
            )),
            TrackingState::Legacy(_) => Some(format!(
                "ALTER TABLE {table}
                     ADD COLUMN IF NOT EXISTS version BIGINT,
                     ADD COLUMN IF NOT EXISTS checksum VARCHAR(64),
                     ADD COLUMN IF NOT EXISTS duration_ms BIGINT;
                 UPDATE {table} SET version = substring(name from '^[0-9]+')::bigint
                     WHERE version IS NULL AND name ~ '^[0-9]{{1,18}}_';"
            )),
        }
    }

    /// Records the current checksum of a file applied before checksums were kept.
    pub fn adopt_sql(&self, migration: &Migration) -> String {
        format!(
            "UPDATE {} SET checksum = {} WHERE name = {} AND checksum IS NULL;",
            self.qualified,
            literal(&migration.checksum),
            literal(&migration.name)
        )
    }

    /// The row that claims `migration` before it runs, for the transaction
    /// lock mode: a second claim fails on the unique name, so a run that finds
    /// it taken knows another applied it. Its duration is filled in after.
    pub fn claim_sql(&self, migration: &Migration) -> String {
        format!(
            "INSERT INTO {} (name, version, checksum) VALUES ({}, {}, {});",
            self.qualified,
            literal(&migration.name),
            migration.version,
            literal(&migration.checksum)
        )
    }

    pub fn record_duration_sql(&self, migration: &Migration) -> String {
        format!(
            "UPDATE {} SET duration_ms = \
             (extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint \
             WHERE name = {};",
            self.qualified,
            literal(&migration.name)
        )
    }

    /// Fails (division by zero) unless `migration`'s row is committed: the
    /// guard of a batch sent before the previous one's answer.
    pub fn committed_sql(&self, migration: &Migration) -> String {
        format!(
            "SELECT 1 / count(*) FROM {} WHERE name = {};",
            self.qualified,
            literal(&migration.name)
        )
    }

    /// Writes `name`'s row again as it is: a change that makes its
    /// transaction write WAL, for a commit that must flush.
    pub fn rewrite_sql(&self, name: &str) -> String {
        format!(
            "UPDATE {} SET duration_ms = duration_ms WHERE name = {};",
            self.qualified,
            literal(name)
        )
    }

    /// The row that marks `migration` applied. Its duration is the server's
    /// own time since the message arrived, so it can share that message.
    pub fn insert_sql(&self, migration: &Migration) -> String {
        format!(
            "INSERT INTO {} (name, version, checksum, duration_ms) VALUES ({}, {}, {}, \
             (extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint);",
            self.qualified,
            literal(&migration.name),
            migration.version,
            literal(&migration.checksum)
        )
    }
}

/// `2026-11-26T09:41:53.374Z` from PostgreSQL's text of epoch seconds,
/// `1795686113.374277`: the milliseconds are cut from the digits, not
/// rounded through a float. `None` outside the years 1970 to 9999.
fn iso_8601(epoch: &str) -> Option<String> {
    let (seconds, fraction) = epoch.split_once('.').unwrap_or((epoch, ""));
    let seconds: u64 = seconds.parse().ok()?;
    if seconds >= LAST_SECOND_OF_9999 || !fraction.bytes().all(|digit| digit.is_ascii_digit()) {
        return None;
    }
    let millis = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |millis, digit| millis * 10 + u32::from(digit - b'0'));
    let at = std::time::UNIX_EPOCH + std::time::Duration::new(seconds, millis * 1_000_000);
    Some(humantime::format_rfc3339_millis(at).to_string())
}

/// 9999-12-31T23:59:59Z, the last second an ISO 8601 year of four digits reaches.
const LAST_SECOND_OF_9999: u64 = 253_402_300_799;

fn applied(row: Row) -> Applied {
    let mut columns = row.into_iter();
    let mut next = || columns.next().flatten();
    let name = next().unwrap_or_default();
    let version = next()
        .and_then(|version| version.parse().ok())
        .or_else(|| MigrationName::version_of(&name));
    Applied {
        name,
        version,
        checksum: next(),
        applied_at: next().and_then(|epoch| iso_8601(&epoch)),
        duration_ms: next().and_then(|ms| ms.parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::iso_8601;

    #[test]
    fn epoch_seconds_become_iso_8601_in_milliseconds() {
        assert_eq!(
            iso_8601("1795686113.374277").as_deref(),
            Some("2026-11-26T09:41:53.374Z")
        );
        assert_eq!(
            iso_8601("1795686113.9999").as_deref(),
            Some("2026-11-26T09:41:53.999Z")
        );
        assert_eq!(
            iso_8601("1795686113.5").as_deref(),
            Some("2026-11-26T09:41:53.500Z")
        );
        assert_eq!(iso_8601("0").as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(
            iso_8601("253402300798.25").as_deref(),
            Some("9999-12-31T23:59:58.250Z")
        );
    }

    #[test]
    fn what_is_not_a_date_from_1970_to_9999_gives_none() {
        for text in [
            "-1.5",
            "Infinity",
            "-Infinity",
            "NaN",
            "1.8e+12",
            "253402300800",
            "",
            "1.2x",
        ] {
            assert_eq!(iso_8601(text), None, "{text}");
        }
    }
}
