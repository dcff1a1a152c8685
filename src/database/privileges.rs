//! What the connected role may do to the tracking table and its schema,
//! read from the catalog in one query before a command writes anything: a
//! missing privilege is reported as the GRANT that fixes it, instead of as
//! a failure after some migrations ran.
//!
//! The catalog query itself needs no privilege on the schema or the table,
//! so it answers for a role that may not even see them.

use stratum_core::grants::{permission_hint, quote};

use super::executor::{ExecError, ExecErrorKind, Executor, Row};
use super::sql::literal;
use super::tracking::TrackingState;
use crate::error::{Error, MissingPrivilege, SqlFailure};
use crate::options::TrackingTable;

/// What a command is about to do with the tracking table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// `status`, `plan`: read the rows.
    Read,
    /// `migrate`: create the table (and schema) when absent, and write rows.
    Migrate {
        /// A legacy table gains its columns: only its owner may.
        upgrade: bool,
        /// Rows are updated, not only inserted (adoption, or the
        /// transaction lock mode's duration).
        update: bool,
    },
    /// Drop everything in the schema, the tracking table too, and create it again.
    Fresh,
    /// Drop everything in the schema.
    Reset,
}

impl Intent {
    /// What `migrate` does with a table found in `state`.
    pub fn migrate(state: &TrackingState, transaction_lock: bool) -> Self {
        let legacy = matches!(state, TrackingState::Legacy(_));
        let adopts = state.rows().iter().any(|row| row.checksum.is_none());
        Self::Migrate {
            upgrade: legacy,
            update: legacy || adopts || transaction_lock,
        }
    }
}

/// What the catalog says about the tracking table, its schema and the
/// connected role's privileges on them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub role: String,
    pub database: String,
    pub schema_exists: bool,
    pub table_exists: bool,
    /// Asked only when the schema is missing.
    pub database_create: bool,
    pub schema_usage: bool,
    pub schema_create: bool,
    pub table_select: bool,
    pub table_insert: bool,
    pub table_update: bool,
    /// The role owns the table, or has its owner's privileges.
    pub owns_table: bool,
    /// The sequence behind a `SERIAL` id, which every INSERT draws from.
    pub sequence: Option<String>,
    pub sequence_usage: bool,
    /// The `citus` extension is installed: this is a Citus coordinator.
    pub citus: bool,
}

/// One row of facts. `has_*_privilege` on a NULL object is NULL, so what
/// does not exist is not asked about.
fn facts_sql(table: &TrackingTable) -> String {
    format!(
        "SELECT current_user, current_database(), n.oid IS NOT NULL, c.oid IS NOT NULL,
                CASE WHEN n.oid IS NULL THEN has_database_privilege(current_database(), 'CREATE') END,
                has_schema_privilege(n.oid, 'USAGE'), has_schema_privilege(n.oid, 'CREATE'),
                has_table_privilege(c.oid, 'SELECT'), has_table_privilege(c.oid, 'INSERT'),
                has_table_privilege(c.oid, 'UPDATE'), pg_has_role(c.relowner, 'USAGE'),
                s.name, has_sequence_privilege(s.oid, 'USAGE') OR has_sequence_privilege(s.oid, 'UPDATE'),
                EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')
           FROM (SELECT) AS one
           LEFT JOIN pg_namespace n ON n.nspname = {schema}
           LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = {table}
                               AND c.relkind IN ('r', 'p')
           LEFT JOIN LATERAL (
                SELECT q.oid, format('%I.%I', qn.nspname, q.relname) AS name
                  FROM pg_depend d
                  JOIN pg_class q ON q.oid = d.objid AND q.relkind = 'S'
                  JOIN pg_namespace qn ON qn.oid = q.relnamespace
                 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                   AND d.refobjid = c.oid AND d.deptype = 'a'
                 LIMIT 1) AS s ON true",
        schema = literal(&table.schema),
        table = literal(&table.table),
    )
}

impl Facts {
    fn from_row(row: &Row) -> Self {
        let text = |index: usize| row.get(index).cloned().flatten();
        let flag = |index: usize| text(index).as_deref() == Some("t");
        Self {
            role: text(0).unwrap_or_default(),
            database: text(1).unwrap_or_default(),
            schema_exists: flag(2),
            table_exists: flag(3),
            database_create: flag(4),
            schema_usage: flag(5),
            schema_create: flag(6),
            table_select: flag(7),
            table_insert: flag(8),
            table_update: flag(9),
            owns_table: flag(10),
            sequence: text(11),
            sequence_usage: flag(12),
            citus: flag(13),
        }
    }

    /// What `intent` needs that the role lacks, each with its fix.
    pub fn lacking(&self, table: &TrackingTable, intent: Intent) -> Vec<MissingPrivilege> {
        let role = quote(&self.role);
        let schema = quote(&table.schema);
        let qualified = format!("{schema}.{}", quote(&table.table));
        let mut lacking = Vec::new();
        let mut lack = |missing: String, fix: String| {
            lacking.push(MissingPrivilege { missing, fix });
        };
        if !self.schema_exists {
            let creates = matches!(intent, Intent::Migrate { .. } | Intent::Fresh);
            if creates && !self.database_create {
                let database = quote(&self.database);
                lack(
                    format!("CREATE on database {database}, which creating schema {schema} needs"),
                    format!(
                        "CREATE SCHEMA {schema} AUTHORIZATION {role} \
                         (or GRANT CREATE ON DATABASE {database} TO {role})"
                    ),
                );
            }
            return lacking;
        }
        if !self.schema_usage {
            lack(
                format!("USAGE on schema {schema}"),
                format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
            );
        }
        let creates_table = match intent {
            Intent::Migrate { .. } => !self.table_exists,
            Intent::Fresh => true,
            Intent::Read | Intent::Reset => false,
        };
        if creates_table && !self.schema_create {
            lack(
                format!("CREATE on schema {schema}"),
                format!("GRANT CREATE ON SCHEMA {schema} TO {role}"),
            );
        }
        if !self.table_exists {
            return lacking;
        }
        let alter = || format!("ALTER TABLE {qualified} OWNER TO {role}");
        match intent {
            Intent::Read if !self.table_select => lack(
                format!("SELECT on table {qualified}"),
                format!("GRANT SELECT ON {qualified} TO {role}"),
            ),
            Intent::Read => {}
            Intent::Fresh | Intent::Reset if !self.owns_table => lack(
                format!("ownership of table {qualified}, which is dropped"),
                alter(),
            ),
            Intent::Fresh | Intent::Reset => {}
            Intent::Migrate { upgrade, update } => {
                if upgrade && !self.owns_table {
                    lack(
                        format!("ownership of table {qualified}, which gains stratum's columns"),
                        alter(),
                    );
                }
                let missing: Vec<&str> = [
                    ("SELECT", self.table_select),
                    ("INSERT", self.table_insert),
                    ("UPDATE", self.table_update || !update),
                ]
                .iter()
                .filter(|(_, held)| !held)
                .map(|(privilege, _)| *privilege)
                .collect();
                if !missing.is_empty() {
                    // Everything stratum may do to its rows, so that the next
                    // run (an adoption, the transaction lock mode) is not refused.
                    lack(
                        format!("{} on table {qualified}", missing.join(", ")),
                        format!("GRANT SELECT, INSERT, UPDATE ON {qualified} TO {role}"),
                    );
                }
                if let Some(sequence) = self.sequence.as_ref().filter(|_| !self.sequence_usage) {
                    lack(
                        format!("USAGE on sequence {sequence}"),
                        format!("GRANT USAGE ON SEQUENCE {sequence} TO {role}"),
                    );
                }
            }
        }
        lacking
    }
}

/// SQLSTATE of a refused privilege, or of a missing ownership.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// The hint for a permission error that `role` got running `statement`:
/// the GRANT or change of owner that fixes it. `None` for other errors, or
/// when the role is not known.
pub fn hint(
    sqlstate: Option<&str>,
    message: &str,
    statement: Option<&str>,
    role: Option<&str>,
) -> Option<String> {
    if sqlstate != Some(INSUFFICIENT_PRIVILEGE) {
        return None;
    }
    permission_hint(message, statement, role?)
}

/// `error` of stratum's own SQL (a drop, the tracking table), given that
/// hint when PostgreSQL gave none.
pub fn with_hint(mut error: ExecError, role: Option<&str>) -> ExecError {
    if error.hint.is_none() {
        error.hint = hint(error.sqlstate.as_deref(), &error.message, None, role);
    }
    error
}

/// Reads the facts, and refuses `intent` with `E_PRIVILEGE` when the role
/// lacks something it needs.
pub async fn preflight<E: Executor>(
    executor: &mut E,
    table: &TrackingTable,
    intent: Intent,
) -> Result<Facts, Error> {
    let rows = executor
        .query(&facts_sql(table))
        .await
        .map_err(|error| match error.kind {
            ExecErrorKind::ConnectionLost => Error::ConnectionLost(error.message),
            _ => Error::Sql(Box::new(SqlFailure {
                message: format!(
                    "{} (reading the privileges of the tracking table)",
                    error.message
                ),
                pg_code: error.sqlstate,
                detail: error.detail,
                hint: error.hint,
                ..SqlFailure::default()
            })),
        })?;
    let facts = rows
        .first()
        .map(Facts::from_row)
        .ok_or_else(|| Error::Internal("the privileges query returned no row".into()))?;
    let missing = facts.lacking(table, intent);
    if missing.is_empty() {
        Ok(facts)
    } else {
        Err(Error::Privilege {
            role: facts.role,
            missing,
        })
    }
}

/// Why a read of the tracking table was refused, as `E_PRIVILEGE`; `None`
/// when the catalog finds nothing lacking (or cannot be read).
pub async fn diagnose_read<E: Executor>(executor: &mut E, table: &TrackingTable) -> Option<Error> {
    match preflight(executor, table, Intent::Read).await {
        Err(error @ Error::Privilege { .. }) => Some(error),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
