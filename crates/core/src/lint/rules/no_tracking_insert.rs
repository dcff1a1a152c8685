//! `no-tracking-insert`: a migration that writes the tracking table.
//!
//! The engine alone records what ran; a migration that inserts, changes or
//! deletes tracking rows makes the recorded history lie, and the next run
//! skips or repeats files. Writes hidden in CTEs and `BEGIN ATOMIC` bodies
//! count too, and so do ALTER TABLE and DROP TABLE of the tracking table.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, QualifiedName, Rule, child, has_child, name_under};
use crate::green;

pub(crate) const ID: &str = "no-tracking-insert";
pub(crate) const RULE: Rule = Rule { id: ID, check };

/// The statements that write a table, or change or drop it: the kinds that
/// `check` looks at.
const WRITES: &[SyntaxKind] = &[
    SyntaxKind::INSERT,
    SyntaxKind::UPDATE,
    SyntaxKind::DELETE,
    SyntaxKind::MERGE,
    SyntaxKind::TRUNCATE,
    SyntaxKind::COPY,
    SyntaxKind::ALTER_TABLE,
    SyntaxKind::DROP_TABLE,
];

fn check(check: &Check, node: &SyntaxNode, out: &mut Vec<Finding>) {
    // The statement itself, then what it nests (in file order), which is
    // walked only when the tree holds a write below it at all.
    let nested = green::has_node_below(node, WRITES).then(|| node.descendants().skip(1));
    let statements = std::iter::once(node.clone()).chain(nested.into_iter().flatten());
    for write in statements {
        let (verb, targets) = match write.kind() {
            SyntaxKind::INSERT => ("INSERT INTO", names(&write, SyntaxKind::RELATION_NAME_REF)),
            SyntaxKind::UPDATE => ("UPDATE", names(&write, SyntaxKind::RELATION_NAME)),
            SyntaxKind::DELETE => ("DELETE FROM", names(&write, SyntaxKind::RELATION_NAME)),
            SyntaxKind::MERGE => ("MERGE INTO", names(&write, SyntaxKind::TABLE_RELATION_NAME)),
            SyntaxKind::TRUNCATE => (
                "TRUNCATE",
                child(&write, SyntaxKind::TABLE_LIST)
                    .map(|list| {
                        list.children()
                            .filter_map(|table| name_under(&table))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            SyntaxKind::COPY if has_child(&write, SyntaxKind::COPY_FROM) => {
                ("COPY … FROM", names(&write, SyntaxKind::COPY_TABLE))
            }
            // Its shape is the engine's too: a migration must not change it.
            SyntaxKind::ALTER_TABLE => (
                "ALTER TABLE",
                names(&write, SyntaxKind::TABLE_RELATION_NAME),
            ),
            SyntaxKind::DROP_TABLE => (
                "DROP TABLE",
                write
                    .children()
                    .filter_map(|table| name_under(&table))
                    .collect(),
            ),
            _ => continue,
        };
        if targets.iter().any(|target| is_tracking(check, target)) {
            out.push(Finding::at(
                &write,
                format!(
                    "{verb} {}: the tracking table is stratum's alone",
                    check.ctx.tracking_table
                ),
                "remove this statement; stratum records each migration itself, and to mark \
                 a migration as applied without running it, use the CLI rather than SQL",
            ));
        }
    }
}

fn names(node: &SyntaxNode, holder: SyntaxKind) -> Vec<QualifiedName> {
    child(node, holder)
        .and_then(|target| name_under(&target))
        .into_iter()
        .collect()
}

fn is_tracking(check: &Check, target: &QualifiedName) -> bool {
    target.name == check.ctx.tracking_table
        && target
            .schema
            .as_deref()
            .is_none_or(|schema| schema == check.ctx.tracking_schema)
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::{fires, of};
    use crate::lint::{LintContext, lint};

    const ID: &str = super::ID;

    #[test]
    fn writes_to_the_tracking_table_fire() {
        for sql in [
            "INSERT INTO migrations (name) VALUES ('x') ON CONFLICT DO NOTHING;",
            "INSERT INTO public.migrations VALUES ('x');",
            "INSERT INTO \"public\".\"migrations\" VALUES ('x');",
            "INSERT INTO MIGRATIONS VALUES ('x');",
            "UPDATE migrations SET checksum = NULL;",
            "DELETE FROM public.migrations WHERE name = 'x';",
            "TRUNCATE other, migrations;",
            "MERGE INTO migrations m USING x ON true WHEN MATCHED THEN DELETE;",
            "COPY migrations FROM STDIN;",
            "WITH gone AS (DELETE FROM migrations RETURNING 1) SELECT count(*) FROM gone;",
            "ALTER TABLE migrations ADD COLUMN IF NOT EXISTS note text;",
            "DROP TABLE IF EXISTS old, public.migrations;",
        ] {
            assert!(fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn other_tables_and_mere_mentions_do_not_fire() {
        for sql in [
            "INSERT INTO users VALUES (1) ON CONFLICT DO NOTHING;",
            "INSERT INTO other.migrations VALUES ('x') ON CONFLICT DO NOTHING;",
            "INSERT INTO \"Migrations\" VALUES ('x') ON CONFLICT DO NOTHING;",
            "SELECT * FROM migrations;",
            "COPY migrations TO STDOUT;",
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS migrations int;",
            "DROP TABLE IF EXISTS migrations_old;",
            "SELECT 'INSERT INTO migrations VALUES (1)';",
            "DO $$ BEGIN PERFORM 1; END $$; -- DELETE FROM migrations;",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn the_table_name_comes_from_the_context() {
        let ctx = LintContext {
            tracking_table: "schema_history",
            tracking_schema: "ops",
            ..LintContext::default()
        };
        let found = lint("1_x.sql", "DELETE FROM ops.schema_history;", &ctx);
        assert!(found.iter().any(|d| d.rule == ID));
        let found = lint("1_x.sql", "DELETE FROM migrations;", &ctx);
        assert!(!found.iter().any(|d| d.rule == ID));
        assert!(of(ID, "DELETE FROM migrations;")[0].help.contains("remove"));
    }
}
