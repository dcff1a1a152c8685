//! `insert-on-conflict` (warning): an INSERT that fails with a duplicate key
//! when its rows are already there, as in a database that got them some
//! other way. In a no-transaction file `no-transaction-idempotent` reports
//! it as an error instead.
//!
//! `INSERT … SELECT … WHERE NOT EXISTS (SELECT … FROM <the same table>
//! WHERE <an inserted column> …)`, or `WHERE x NOT IN (SELECT <an inserted
//! column> FROM <the same table>)`, inserts nothing once its rows are there,
//! so it is as safe to run again as `ON CONFLICT DO NOTHING`.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, QualifiedName, Rule, child, has_child, name_under, normalize};

pub(crate) const ID: &str = "insert-on-conflict";
pub(crate) const RULE: Rule = Rule { id: ID, check };

fn check(check: &Check, node: &SyntaxNode, out: &mut Vec<Finding>) {
    if check.in_transaction() && node.kind() == SyntaxKind::INSERT && !is_idempotent_insert(node) {
        out.push(Finding::at(
            node,
            "INSERT without ON CONFLICT fails on rows that are already there",
            "add ON CONFLICT DO NOTHING (or DO UPDATE) so a re-run does not fail with a \
             duplicate key",
        ));
    }
}

/// An INSERT that a re-run leaves alone: `ON CONFLICT`, or a
/// `WHERE NOT EXISTS` guard on the inserted table and key.
pub(crate) fn is_idempotent_insert(insert: &SyntaxNode) -> bool {
    has_child(insert, SyntaxKind::ON_CONFLICT_CLAUSE) || guarded_by_not_exists(insert)
}

fn guarded_by_not_exists(insert: &SyntaxNode) -> bool {
    let Some(target) = child(insert, SyntaxKind::RELATION_NAME_REF).and_then(|n| name_under(&n))
    else {
        return false;
    };
    let columns: Vec<String> = child(insert, SyntaxKind::COLUMN_TARGET_LIST)
        .map(|list| {
            list.children()
                .filter(|column| column.kind() == SyntaxKind::COLUMN_TARGET)
                .map(|column| normalize(&column))
                .collect()
        })
        .unwrap_or_default();
    let Some(filter) = child(insert, SyntaxKind::SELECT)
        .and_then(|select| child(&select, SyntaxKind::WHERE_CLAUSE))
    else {
        return false;
    };
    filter
        .descendants()
        .filter(|node| directly_under(node, &filter))
        .filter_map(|node| match node.kind() {
            // NOT EXISTS (SELECT … WHERE <key> …)
            SyntaxKind::PREFIX_EXPR if has_child(&node, SyntaxKind::NOT_KW) => {
                let exists = child(&node, SyntaxKind::CALL_EXPR)?
                    .children()
                    .find(|n| n.kind() == SyntaxKind::EXISTS_FN)?;
                Some((
                    child(&exists, SyntaxKind::SELECT)?,
                    SyntaxKind::WHERE_CLAUSE,
                ))
            }
            // x NOT IN (SELECT <key> FROM …)
            SyntaxKind::BIN_EXPR if has_child(&node, SyntaxKind::NOT_IN) => {
                let list = child(&node, SyntaxKind::PAREN_EXPR)?;
                Some((child(&list, SyntaxKind::SELECT)?, SyntaxKind::SELECT_CLAUSE))
            }
            _ => None,
        })
        .any(|(probe, keyed_by)| probes(&probe, &target, &columns, keyed_by))
}

/// Whether `node` belongs to the WHERE clause `filter` itself, not to a
/// subquery inside it.
fn directly_under(node: &SyntaxNode, filter: &SyntaxNode) -> bool {
    node.ancestors()
        .take_while(|ancestor| ancestor != filter)
        .all(|ancestor| ancestor.kind() != SyntaxKind::SELECT)
}

/// Whether the subquery `probe` reads `target` and, when the INSERT names
/// its columns, its clause `keyed_by` (the WHERE of an EXISTS, the select
/// list of an IN) names one of them: then a row it inserted is a row the
/// probe finds.
fn probes(
    probe: &SyntaxNode,
    target: &QualifiedName,
    columns: &[String],
    keyed_by: SyntaxKind,
) -> bool {
    let Some(from) = child(probe, SyntaxKind::FROM_CLAUSE) else {
        return false;
    };
    let reads_target = from
        .children()
        .filter(|item| item.kind() == SyntaxKind::RELATION_FROM_ITEM)
        .filter_map(|item| name_under(&item))
        .any(|name| name.name == target.name && super::same_schema(&name.schema, &target.schema));
    if !reads_target {
        return false;
    }
    let Some(key) = child(probe, keyed_by) else {
        // NOT EXISTS over the whole table: any row at all stops the insert.
        return keyed_by == SyntaxKind::WHERE_CLAUSE;
    };
    columns.is_empty()
        || key
            .descendants()
            .filter(|node| node.kind() == SyntaxKind::NAME_REF)
            .any(|name| columns.contains(&normalize(&name)))
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::{fires, of};

    const ID: &str = super::ID;

    #[test]
    fn a_plain_insert_fires() {
        assert!(fires(ID, "INSERT INTO t (a) VALUES (1);"));
        assert!(fires(ID, "INSERT INTO t SELECT * FROM u;"));
        let found = of(ID, "INSERT INTO t VALUES (1);");
        assert_eq!(found[0].severity, crate::lint::Severity::Warning);
    }

    #[test]
    fn on_conflict_and_mentions_do_not_fire() {
        for sql in [
            "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING;",
            "INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = excluded.b;",
            "SELECT 'INSERT INTO t VALUES (1)';",
            "-- stratum:no-transaction\nINSERT INTO t VALUES (1);",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn where_not_exists_on_the_inserted_key_does_not_fire() {
        for sql in [
            "INSERT INTO roles (name) SELECT 'admin' WHERE NOT EXISTS \
             (SELECT 1 FROM roles WHERE name = 'admin');",
            "INSERT INTO public.roles (name) SELECT 'admin' WHERE NOT EXISTS \
             (SELECT 1 FROM roles r WHERE r.name = 'admin');",
            "INSERT INTO settings (key, value) SELECT s.key, s.value FROM defaults s \
             WHERE s.enabled AND NOT EXISTS (SELECT 1 FROM settings t WHERE t.key = s.key);",
            "INSERT INTO t SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM t);",
            "INSERT INTO repository (name, project_id) SELECT DISTINCT repository_name, \
             project_id FROM artifact WHERE repository_id < 0 AND repository_name NOT IN \
             (SELECT name FROM repository);",
            "INSERT INTO \"Roles\" (\"Name\") SELECT 'a' WHERE NOT EXISTS \
             (SELECT 1 FROM \"Roles\" WHERE \"Name\" = 'a');",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn a_guard_on_another_table_or_column_still_fires() {
        for sql in [
            // Another table.
            "INSERT INTO roles (name) SELECT 'admin' WHERE NOT EXISTS \
             (SELECT 1 FROM users WHERE name = 'admin');",
            // Another schema.
            "INSERT INTO app.roles (name) SELECT 'admin' WHERE NOT EXISTS \
             (SELECT 1 FROM old.roles WHERE name = 'admin');",
            // Not on an inserted column.
            "INSERT INTO roles (name) SELECT 'admin' WHERE NOT EXISTS \
             (SELECT 1 FROM roles WHERE id = 7);",
            // NOT IN over another column.
            "INSERT INTO repository (name) SELECT n FROM a WHERE n NOT IN \
             (SELECT label FROM repository);",
            // EXISTS, not NOT EXISTS.
            "INSERT INTO roles (name) SELECT 'admin' WHERE EXISTS \
             (SELECT 1 FROM roles WHERE name = 'admin');",
            // The guard sits in a subquery of its own, not on the insert.
            "INSERT INTO roles (name) SELECT 'admin' WHERE 1 IN (SELECT 1 FROM u WHERE NOT EXISTS \
             (SELECT 1 FROM roles WHERE name = 'admin'));",
        ] {
            assert!(fires(ID, sql), "{sql}");
        }
    }
}
