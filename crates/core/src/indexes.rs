//! The indexes a migration file builds, and the rows a unique build found
//! duplicated, read from squawk's syntax tree.
//!
//! A `CREATE INDEX CONCURRENTLY` that fails leaves an INVALID index behind,
//! and the `IF NOT EXISTS` every no-transaction statement carries would skip
//! it on the next run; the apply loop uses [`index_builds`] to look those
//! indexes up in the catalog around such a file. Names are folded as
//! PostgreSQL folds them, so the lookup finds what the server created.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use crate::lint::rules::{QualifiedName, child, has_child, name_under, table_name};
use crate::statements::Parsed;

/// The longest identifier PostgreSQL keeps (`NAMEDATALEN - 1` bytes); a
/// longer one is cut, and the index is created under the cut name.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// A table as PostgreSQL resolves it: unquoted parts lower-cased, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// Absent when the statement leaves it to the session's `search_path`.
    pub schema: Option<String>,
    pub name: String,
}

/// One `CREATE INDEX` of a file that names its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexBuild {
    /// The statement that builds it, counted as [`crate::statements::split`] counts.
    pub statement: usize,
    /// The index's name as the catalog holds it. An index always lives in
    /// its table's schema, so it has no schema of its own.
    pub name: String,
    pub table: TableName,
    pub unique: bool,
    pub concurrently: bool,
}

/// The named `CREATE INDEX` statements of `sql`, in file order. Left out:
/// an unnamed index (PostgreSQL picks a fresh name, so a rerun never skips
/// it) and `ON ONLY` a partitioned table (invalid by design until every
/// partition's index is attached). A file too deep or too large to parse
/// gives nothing; the lint refuses it anyway.
pub fn index_builds(sql: &str) -> Vec<IndexBuild> {
    let parsed = Parsed::new(sql);
    let mut builds = Vec::new();
    for (statement, span) in parsed.spans.iter().enumerate() {
        for node in &span.nodes {
            if let Some(build) = index_build(statement, node) {
                builds.push(build);
            }
        }
    }
    builds
}

fn index_build(statement: usize, node: &SyntaxNode) -> Option<IndexBuild> {
    if node.kind() != SyntaxKind::CREATE_INDEX {
        return None;
    }
    let relation = child(node, SyntaxKind::TABLE_RELATION_NAME)?;
    if has_child(&relation, SyntaxKind::ONLY_KW) {
        return None;
    }
    // PostgreSQL refuses a qualified index name, so only its last part counts.
    let name = name_under(&child(node, SyntaxKind::INDEX)?)?.name;
    let QualifiedName {
        schema,
        name: table,
    } = table_name(node, SyntaxKind::TABLE_RELATION_NAME)?;
    Some(IndexBuild {
        statement,
        name: truncate_identifier(name),
        table: TableName {
            schema: schema.map(truncate_identifier),
            name: truncate_identifier(table),
        },
        unique: has_child(node, SyntaxKind::UNIQUE_KW),
        concurrently: has_child(node, SyntaxKind::CONCURRENTLY_KW),
    })
}

/// `name` cut to the bytes PostgreSQL keeps, never inside a character.
fn truncate_identifier(mut name: String) -> String {
    if name.len() > MAX_IDENTIFIER_BYTES {
        let mut end = MAX_IDENTIFIER_BYTES;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

/// The rows a statement checks for uniqueness when it builds (or rebuilds)
/// a unique index: a duplicate key (SQLSTATE 23505) raised by it is in the
/// data already there, never in rows it inserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedRows {
    /// The table as the statement writes it, ready to paste into a query.
    pub table: String,
    /// A partial index's predicate, as written.
    pub filter: Option<String>,
}

impl IndexedRows {
    /// The table behind a `CREATE INDEX` or an `ALTER TABLE` (whose unique
    /// and primary key constraints, and column type changes, build unique
    /// indexes over the existing rows); `None` for any other statement.
    pub fn of(statement: &str) -> Option<Self> {
        let parsed = Parsed::new(statement);
        let node = parsed.spans.first()?.nodes.first()?.clone();
        match node.kind() {
            SyntaxKind::CREATE_INDEX | SyntaxKind::ALTER_TABLE => {}
            _ => return None,
        }
        let relation = child(&node, SyntaxKind::TABLE_RELATION_NAME)?;
        let path = relation
            .children()
            .find(|part| part.kind() != SyntaxKind::ONLY_KW)?;
        let filter = child(&node, SyntaxKind::WHERE_CLAUSE)
            .and_then(|clause| clause.children().next())
            .map(|condition| condition.text().to_string());
        Some(Self {
            table: path.text().to_string(),
            filter,
        })
    }

    /// A query that lists the duplicated keys, from PostgreSQL's detail
    /// `Key (a, b)=(1, 2) is duplicated.`; `None` when the detail does not
    /// show the key (a role that may not read every key column gets
    /// `Duplicate keys exist.`, and another `lc_messages` other words).
    pub fn duplicates_query(&self, detail: &str) -> Option<String> {
        let key = duplicated_key(detail)?;
        let filter = self
            .filter
            .as_deref()
            .map(|filter| format!(" WHERE {filter}"))
            .unwrap_or_default();
        Some(format!(
            "SELECT {key}, count(*) FROM {}{filter} GROUP BY {key} HAVING count(*) > 1",
            self.table
        ))
    }
}

/// The key columns (or expressions) of a duplicate-key detail.
fn duplicated_key(detail: &str) -> Option<&str> {
    let rest = detail.strip_prefix("Key (")?;
    let end = rest.find(")=(")?;
    Some(&rest[..end]).filter(|key| !key.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: Option<&str>, name: &str) -> TableName {
        TableName {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    fn names(sql: &str) -> Vec<(usize, String, TableName)> {
        index_builds(sql)
            .into_iter()
            .map(|build| (build.statement, build.name, build.table))
            .collect()
    }

    #[test]
    fn a_concurrent_unique_build_is_listed_with_its_table() {
        let builds = index_builds(
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);",
        );
        assert_eq!(
            builds,
            vec![IndexBuild {
                statement: 0,
                name: "users_email".into(),
                table: table(None, "users"),
                unique: true,
                concurrently: true,
            }]
        );
    }

    #[test]
    fn names_are_folded_unless_quoted() {
        assert_eq!(
            names("CREATE INDEX Users_Email ON Public.\"Users\" (email);"),
            vec![(0, "users_email".into(), table(Some("public"), "Users"))]
        );
        assert_eq!(
            names("CREATE INDEX \"Mixed\"\"Case\" ON \"App\".t (a);"),
            vec![(0, "Mixed\"Case".into(), table(Some("App"), "t"))]
        );
    }

    #[test]
    fn an_unnamed_index_and_an_index_on_only_the_parent_give_nothing() {
        assert_eq!(names("CREATE INDEX CONCURRENTLY ON users (email);"), vec![]);
        assert_eq!(
            names("CREATE INDEX IF NOT EXISTS p_a ON ONLY p (a);"),
            vec![]
        );
    }

    #[test]
    fn a_semicolon_inside_a_quoted_name_does_not_split_the_statement() {
        let sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"a;b\" ON \"t;1\" (x);\n\
                   CREATE INDEX CONCURRENTLY IF NOT EXISTS c ON t (y);";
        assert_eq!(
            names(sql),
            vec![
                (0, "a;b".into(), table(None, "t;1")),
                (1, "c".into(), table(None, "t")),
            ]
        );
    }

    #[test]
    fn statements_are_counted_around_other_statements_and_strings() {
        let sql = "-- stratum:no-transaction\n\
                   SELECT 'CREATE INDEX x ON t (a);';\n\
                   VACUUM t;\n\
                   CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);";
        let builds = index_builds(sql);
        assert_eq!(builds.len(), 1);
        assert_eq!((builds[0].statement, builds[0].unique), (2, false));
    }

    #[test]
    fn other_statements_build_nothing() {
        for sql in [
            "REINDEX INDEX CONCURRENTLY i;",
            "DROP INDEX CONCURRENTLY IF EXISTS i;",
            "ALTER TABLE t ADD CONSTRAINT u UNIQUE (a);",
            "CREATE TABLE t (a int UNIQUE);",
        ] {
            assert_eq!(names(sql), vec![], "{sql}");
        }
    }

    #[test]
    fn long_names_are_cut_as_postgresql_cuts_them() {
        let long = "a".repeat(70);
        let built = names(&format!("CREATE INDEX {long} ON t (a);"));
        assert_eq!(built[0].1, "a".repeat(63));
        // 31 two-byte characters fill 62 bytes; the 32nd would pass 63.
        let wide = "é".repeat(40);
        let built = names(&format!("CREATE INDEX \"{wide}\" ON t (a);"));
        assert_eq!(built[0].1, "é".repeat(31));
    }

    #[test]
    fn the_rows_of_a_unique_build_are_found_in_its_statement() {
        let rows = IndexedRows::of(
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON ONLY app.\"Users\" \
             (lower(email)) WHERE deleted_at IS NULL;",
        );
        assert_eq!(
            rows,
            Some(IndexedRows {
                table: "app.\"Users\"".into(),
                filter: Some("deleted_at IS NULL".into()),
            })
        );
        let altered = IndexedRows::of("ALTER TABLE users ADD CONSTRAINT u UNIQUE (email);");
        assert_eq!(
            altered.map(|rows| (rows.table, rows.filter)),
            Some(("users".into(), None))
        );
        assert_eq!(IndexedRows::of("INSERT INTO users VALUES (1);"), None);
    }

    #[test]
    fn the_duplicates_query_groups_by_the_key_postgresql_names() {
        let rows = IndexedRows {
            table: "users".into(),
            filter: Some("deleted_at IS NULL".into()),
        };
        assert_eq!(
            rows.duplicates_query("Key (lower(email), org)=(a@b.c, 1) is duplicated.")
                .as_deref(),
            Some(
                "SELECT lower(email), org, count(*) FROM users WHERE deleted_at IS NULL \
                 GROUP BY lower(email), org HAVING count(*) > 1"
            )
        );
        assert_eq!(rows.duplicates_query("Duplicate keys exist."), None);
        assert_eq!(rows.duplicates_query("Key ()=() is duplicated."), None);
    }
}
