//! The indexes a `-- stratum:no-transaction` file builds, looked up in the
//! catalog around it.
//!
//! A `CREATE INDEX CONCURRENTLY` that fails (a duplicate key, a cancel, a
//! deadlock) leaves an INVALID index behind: it slows every write and
//! enforces nothing. The file's `IF NOT EXISTS` would skip it on the next
//! run, so before the file runs an invalid one is dropped for the file to
//! build it again, and after its last statement every index it builds must
//! be there and valid before its tracking row is written.

use stratum_core::indexes::{IndexBuild, index_builds};
use stratum_core::lint::{Diagnostic, Severity};
use stratum_core::statements::split;

use super::executor::{ExecError, ExecErrorKind, Executor, Row};
use super::sql::{ident, literal};
use crate::error::{Error, IndexFailure, SqlFailure};

/// The rule name the warnings about a dropped index carry.
const RULE: &str = "invalid-index";

/// The indexes one file builds, and where in the file each is built.
pub struct BuiltIndexes<'a> {
    file: &'a str,
    sql: &'a str,
    builds: Vec<IndexBuild>,
}

/// What the catalog holds under an index's name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Health {
    Valid,
    Missing,
    /// Another kind of relation holds the name (its `relkind`).
    NotAnIndex(String),
    /// An index of that name belongs to another table.
    OtherTable(String),
    Invalid {
        partitioned: bool,
        /// The backend building it right now, when the catalog shows one.
        building: Option<String>,
    },
}

struct Found<'b> {
    build: &'b IndexBuild,
    /// Schema-qualified and quoted, when a relation holds the name.
    qualified: Option<String>,
    health: Health,
    /// Whether it is an index on the very table the statement names (which
    /// must exist for the answer to be yes).
    on_its_table: bool,
}

impl Found<'_> {
    fn name(&self) -> &str {
        self.qualified.as_deref().unwrap_or(&self.build.name)
    }

    /// An INVALID plain index on the table the file builds it on, that no
    /// one is building: what a failed CONCURRENTLY build leaves behind.
    fn left_by_failed_build(&self) -> bool {
        self.on_its_table
            && matches!(
                self.health,
                Health::Invalid {
                    partitioned: false,
                    building: None
                }
            )
    }
}

impl<'a> BuiltIndexes<'a> {
    /// `file` is the path as the user knows it, for messages.
    pub fn new(file: &'a str, sql: &'a str) -> Self {
        Self {
            file,
            sql,
            builds: index_builds(sql),
        }
    }

    /// Before the file runs: drops each INVALID index it builds, so that its
    /// `IF NOT EXISTS` does not skip it; one warning per index dropped.
    pub async fn drop_invalid<E: Executor>(
        &self,
        executor: &mut E,
    ) -> Result<Vec<Diagnostic>, Error> {
        let mut warnings = Vec::new();
        for found in self.look_up(executor, &self.builds).await? {
            if !found.left_by_failed_build() {
                continue;
            }
            let name = found.name().to_owned();
            executor.execute(&drop_sql(&name)).await.map_err(|error| {
                self.catalog_error(error, &format!("dropping the invalid index {name}"))
            })?;
            let (line, column) = self.position(found.build);
            warnings.push(Diagnostic {
                file: self.file.to_owned(),
                line,
                column,
                severity: Severity::Warning,
                rule: RULE,
                message: format!(
                    "index {name} was INVALID (a CREATE INDEX CONCURRENTLY that failed leaves one \
                     behind), and IF NOT EXISTS would have skipped it: it was dropped, and this \
                     file built it again"
                ),
                help: "nothing to do; if the build failed for a reason that remains, the file \
                       fails again and names it"
                    .into(),
                baselined: false,
            });
        }
        Ok(warnings)
    }

    /// After statement `statement` failed: drops the INVALID index its
    /// `CREATE INDEX CONCURRENTLY` left, best effort, and says so for the
    /// error's hint. `None` when the statement builds no such index.
    pub async fn clean_up_failed<E: Executor>(
        &self,
        executor: &mut E,
        statement: usize,
    ) -> Option<String> {
        let builds: Vec<IndexBuild> = self
            .builds
            .iter()
            .filter(|build| build.statement == statement && build.concurrently)
            .cloned()
            .collect();
        if builds.is_empty() {
            return None;
        }
        let found = match self.look_up(executor, &builds).await {
            Ok(found) => found,
            Err(_) => return Some(left_for_next_run(&builds[0].name)),
        };
        let mut notes = Vec::new();
        for found in found.iter().filter(|found| found.left_by_failed_build()) {
            let name = found.name();
            notes.push(match executor.execute(&drop_sql(name)).await {
                Ok(()) => format!(
                    "the INVALID index {name} this build left behind was dropped: the next run \
                     builds it again"
                ),
                Err(_) => left_for_next_run(name),
            });
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    /// After the file's last statement: every index it builds must be there,
    /// on its table, and valid; else the tracking row must not be written.
    pub async fn check<E: Executor>(&self, executor: &mut E) -> Result<(), Error> {
        let found = self.look_up(executor, &self.builds).await?;
        let Some(bad) = found.iter().find(|found| found.health != Health::Valid) else {
            return Ok(());
        };
        let name = bad.name();
        let table = &bad.build.table.name;
        let message = match &bad.health {
            Health::Valid => return Ok(()),
            Health::Missing => format!(
                "index {name} that this file builds does not exist after its last statement \
                 (a later statement dropped or renamed it?): the file was not recorded as \
                 applied. Make the file leave the index it builds, then run again"
            ),
            Health::NotAnIndex(kind) => format!(
                "CREATE INDEX … IF NOT EXISTS {name} skipped the build: a relation of that name \
                 that is not an index (relkind {kind}) exists, so the file was not recorded as \
                 applied. Give the index another name, then run again"
            ),
            Health::OtherTable(other) => format!(
                "CREATE INDEX … IF NOT EXISTS {name} skipped the build: an index of that name \
                 already exists on {other}, not on {table}, so the file was not recorded as \
                 applied. Give the index another name, then run again"
            ),
            Health::Invalid {
                building: Some(pid),
                ..
            } => format!(
                "index {name} is INVALID: backend {pid} is building it right now, so the file \
                 was not recorded as applied. Run again when that build is done"
            ),
            Health::Invalid {
                partitioned: true, ..
            } => format!(
                "partitioned index {name} is INVALID: it becomes valid once every partition has \
                 its index attached (ALTER INDEX {name} ATTACH PARTITION …), so the file was not \
                 recorded as applied. Attach them, then run again"
            ),
            Health::Invalid { .. } => format!(
                "index {name} is INVALID after the file's last statement: it enforces nothing \
                 and queries do not use it, so the file was not recorded as applied. Run again: \
                 an invalid index the file builds is dropped before the file runs, and built \
                 again by it"
            ),
        };
        let (line, column) = self.position(bad.build);
        Err(Error::InvalidIndex(Box::new(IndexFailure {
            file: self.file.to_owned(),
            line,
            column,
            index: name.to_owned(),
            message,
        })))
    }

    /// What the catalog holds for each of `builds`, in their order. An
    /// unqualified table is resolved as the file's statements resolve it,
    /// by the session's `search_path`; the index lives in the table's
    /// schema. A table that is gone leaves the index name to the search path.
    async fn look_up<'b, E: Executor>(
        &self,
        executor: &mut E,
        builds: &'b [IndexBuild],
    ) -> Result<Vec<Found<'b>>, Error> {
        if builds.is_empty() {
            return Ok(Vec::new());
        }
        let rows = executor
            .query(&look_up_sql(builds))
            .await
            .map_err(|error| self.catalog_error(error, "checking the indexes it builds"))?;
        let mut found = Vec::with_capacity(builds.len());
        for row in &rows {
            let index = text(row, 0)
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| builds.get(n).map(|build| (n, build)));
            let Some((_, build)) = index else {
                return Err(Error::Internal(
                    "the index look-up answered a row it was not asked for".into(),
                ));
            };
            found.push(Found {
                build,
                qualified: text(row, 1).map(str::to_owned),
                health: health(row),
                on_its_table: text(row, 4) == Some("t"),
            });
        }
        if found.len() != builds.len() {
            return Err(Error::Internal(
                "the index look-up did not answer every index".into(),
            ));
        }
        Ok(found)
    }

    fn position(&self, build: &IndexBuild) -> (u32, u32) {
        split(self.sql)
            .get(build.statement)
            .map_or((1, 1), |statement| {
                (statement.position.line, statement.position.column)
            })
    }

    fn catalog_error(&self, error: ExecError, doing: &str) -> Error {
        if error.kind == ExecErrorKind::ConnectionLost {
            return Error::ConnectionLost(format!(
                "{} while {doing} for {}",
                error.message, self.file
            ));
        }
        Error::Sql(Box::new(SqlFailure {
            file: Some(self.file.to_owned()),
            message: format!("{} (while {doing})", error.message),
            pg_code: error.sqlstate,
            detail: error.detail,
            hint: error.hint,
            ..SqlFailure::default()
        }))
    }
}

fn left_for_next_run(name: &str) -> String {
    format!(
        "the INVALID index {name} this build may have left behind could not be dropped now: the \
         next run drops it before the file runs, and builds it again"
    )
}

/// `DROP INDEX CONCURRENTLY` takes no lock that blocks the table's traffic.
fn drop_sql(qualified: &str) -> String {
    format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified}")
}

fn text(row: &Row, column: usize) -> Option<&str> {
    row.get(column).and_then(Option::as_deref)
}

fn health(row: &Row) -> Health {
    let Some(kind) = text(row, 2) else {
        return Health::Missing;
    };
    if kind != "i" && kind != "I" {
        return Health::NotAnIndex(kind.to_owned());
    }
    if text(row, 4) == Some("f") {
        return Health::OtherTable(text(row, 5).unwrap_or_default().to_owned());
    }
    if text(row, 3) == Some("t") {
        return Health::Valid;
    }
    Health::Invalid {
        partitioned: kind == "I",
        building: text(row, 6).map(str::to_owned),
    }
}

/// One row per build, numbered by its place in `builds`: the relation that
/// holds the index's name, its kind, validity, whether it is on the table
/// the statement names (NULL when either is missing), the table it is on,
/// and a backend building it now.
fn look_up_sql(builds: &[IndexBuild]) -> String {
    let values: Vec<String> = builds
        .iter()
        .enumerate()
        .map(|(n, build)| {
            let schema = build
                .table
                .schema
                .as_deref()
                .map_or_else(|| "NULL::text".to_owned(), literal);
            let table = match &build.table.schema {
                Some(schema) => format!("{}.{}", ident(schema), ident(&build.table.name)),
                None => ident(&build.table.name),
            };
            format!(
                "({n}, {schema}, {}, {})",
                literal(&build.name),
                literal(&table)
            )
        })
        .collect();
    format!(
        "SELECT v.n, CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', ns.nspname, c.relname) END,
                c.relkind, x.indisvalid,
                x.indrelid = t.oid,
                x.indrelid::regclass::text,
                (SELECT p.pid FROM pg_stat_progress_create_index p
                  WHERE p.index_relid = c.oid AND p.pid <> pg_backend_pid() LIMIT 1)
           FROM (VALUES {}) AS v(n, schema, name, tbl)
           LEFT JOIN pg_class t ON t.oid = to_regclass(v.tbl)
           LEFT JOIN pg_class c ON c.oid = coalesce(
                (SELECT k.oid FROM pg_class k
                  WHERE k.relname = v.name
                    AND k.relnamespace = coalesce(t.relnamespace,
                        (SELECT s.oid FROM pg_namespace s WHERE s.nspname = v.schema))),
                CASE WHEN t.oid IS NULL AND v.schema IS NULL
                     THEN to_regclass(format('%I', v.name)) END)
           LEFT JOIN pg_namespace ns ON ns.oid = c.relnamespace
           LEFT JOIN pg_index x ON x.indexrelid = c.oid
          ORDER BY v.n",
        values.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[Option<&str>]) -> Row {
        values
            .iter()
            .map(|value| value.map(str::to_owned))
            .collect()
    }

    #[test]
    fn health_reads_the_catalog_row() {
        let at = |kind, valid, on_table, building| {
            health(&row(&[
                Some("0"),
                Some("public.i"),
                kind,
                valid,
                on_table,
                Some("t"),
                building,
            ]))
        };
        assert_eq!(at(None, None, Some("t"), None), Health::Missing);
        assert_eq!(
            at(Some("r"), None, Some("t"), None),
            Health::NotAnIndex("r".into())
        );
        assert_eq!(
            at(Some("i"), Some("t"), Some("f"), None),
            Health::OtherTable("t".into())
        );
        assert_eq!(at(Some("i"), Some("t"), Some("t"), None), Health::Valid);
        assert_eq!(
            at(Some("i"), Some("f"), Some("t"), Some("42")),
            Health::Invalid {
                partitioned: false,
                building: Some("42".into())
            }
        );
        assert_eq!(
            at(Some("I"), Some("f"), Some("t"), None),
            Health::Invalid {
                partitioned: true,
                building: None
            }
        );
    }

    #[test]
    fn names_reach_the_query_only_as_literals() {
        let builds = index_builds(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"it's\" ON \"we\"\"ird\".\"t;x\" (a);",
        );
        let sql = look_up_sql(&builds);
        assert!(
            sql.contains("(0, 'we\"ird', 'it''s', '\"we\"\"ird\".\"t;x\"')"),
            "{sql}"
        );
    }
}
