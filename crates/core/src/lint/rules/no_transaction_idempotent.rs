//! `no-transaction-idempotent`: a statement in a `-- stratum:no-transaction`
//! file that fails when the file runs again.
//!
//! Without a transaction, a failure halfway leaves the first statements
//! applied and the file unrecorded; the fix is to run the file again, so
//! every statement must pass over what it already did: IF NOT EXISTS,
//! IF EXISTS, ON CONFLICT. CREATEs that `create-if-not-exists` reports are
//! left to it.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{
    Check, Finding, Rule, alter_table_actions, create_if_not_exists, first_keyword, has_child,
    has_descendant,
};

pub(crate) const ID: &str = "no-transaction-idempotent";
pub(crate) const RULE: Rule = Rule { id: ID, check };

const AGAIN: &str = "fails when the file runs again after a partial failure, and a \
                     `-- stratum:no-transaction` file has no transaction to undo the rest";

fn check(check: &Check, node: &SyntaxNode, out: &mut Vec<Finding>) {
    if check.in_transaction() || create_if_not_exists::covers(node) {
        return;
    }
    let mut report = |at: &SyntaxNode, what: &str, help: &str| {
        out.push(Finding::at(at, format!("{what} {AGAIN}"), help));
    };
    let kind = node.kind();
    match first_keyword(node) {
        Some(SyntaxKind::DROP_KW)
            if kind != SyntaxKind::DROP_OWNED && !has_descendant(node, SyntaxKind::IF_EXISTS) =>
        {
            report(node, "DROP without IF EXISTS", "write DROP … IF EXISTS");
        }
        Some(SyntaxKind::CREATE_KW)
            if !has_child(node, SyntaxKind::IF_NOT_EXISTS)
                && !has_child(node, SyntaxKind::OR_REPLACE) =>
        {
            report(
                node,
                "this CREATE has no IF NOT EXISTS and",
                "PostgreSQL has no IF NOT EXISTS for it: move it to a file that runs in a \
                 transaction, or guard it with a DO block that checks the catalog first",
            );
        }
        _ => {}
    }
    if kind == SyntaxKind::INSERT && !super::insert_on_conflict::is_idempotent_insert(node) {
        report(
            node,
            "INSERT without ON CONFLICT",
            "add ON CONFLICT DO NOTHING (or DO UPDATE)",
        );
    }
    if kind == SyntaxKind::ALTER_TYPE {
        for add in node
            .children()
            .filter(|c| c.kind() == SyntaxKind::ADD_VALUE)
        {
            if !has_child(&add, SyntaxKind::IF_NOT_EXISTS) {
                report(
                    &add,
                    "ADD VALUE without IF NOT EXISTS",
                    "write ADD VALUE IF NOT EXISTS …",
                );
            }
        }
    }
    for action in alter_table_actions(node) {
        match action.kind() {
            SyntaxKind::DROP_COLUMN | SyntaxKind::DROP_CONSTRAINT
                if !has_child(&action, SyntaxKind::IF_EXISTS) =>
            {
                report(&action, "DROP without IF EXISTS", "write DROP … IF EXISTS");
            }
            SyntaxKind::ADD_CONSTRAINT => report(
                &action,
                "ADD CONSTRAINT",
                "PostgreSQL has no IF NOT EXISTS for constraints: move it to a file that runs \
                 in a transaction",
            ),
            _ if first_keyword(&action) == Some(SyntaxKind::RENAME_KW) => report(
                &action,
                "RENAME",
                "move it to a file that runs in a transaction",
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::{fires, of};

    const ID: &str = super::ID;

    fn no_tx(sql: &str) -> String {
        format!("-- stratum:no-transaction\n{sql}")
    }

    #[test]
    fn statements_that_fail_a_second_time_fire() {
        for sql in [
            "DROP INDEX CONCURRENTLY i;",
            "DROP TABLE t;",
            "INSERT INTO t VALUES (1);",
            "ALTER TABLE t DROP COLUMN a;",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;",
            "ALTER TABLE t RENAME COLUMN a TO b;",
            "ALTER TYPE mood ADD VALUE 'happy';",
            "CREATE DATABASE d;",
        ] {
            assert!(fires(ID, &no_tx(sql)), "{sql}");
        }
    }

    #[test]
    fn idempotent_statements_and_transactional_files_do_not_fire() {
        for sql in [
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);",
            "DROP INDEX CONCURRENTLY IF EXISTS i;",
            "REINDEX INDEX CONCURRENTLY i;",
            "VACUUM ANALYZE t;",
            "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy';",
            "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING;",
            "UPDATE t SET a = 1 WHERE a IS NULL;",
            "ALTER TABLE t DROP COLUMN IF EXISTS a;",
            "CREATE OR REPLACE VIEW v AS SELECT 1;",
        ] {
            assert!(!fires(ID, &no_tx(sql)), "{sql}");
        }
        assert!(!fires(ID, "DROP TABLE t;"));
    }

    #[test]
    fn creates_are_left_to_create_if_not_exists() {
        let found = crate::lint::rules::test_support::diagnostics(&no_tx(
            "CREATE INDEX CONCURRENTLY i ON t (a);",
        ));
        let rules: Vec<&str> = found.iter().map(|d| d.rule).collect();
        assert!(rules.contains(&"create-if-not-exists"));
        assert!(!rules.contains(&ID));
    }

    #[test]
    fn help_gives_the_guard() {
        let found = of(ID, &no_tx("DROP INDEX CONCURRENTLY i;"));
        assert_eq!(
            (found[0].line, found[0].help.as_str()),
            (2, "write DROP … IF EXISTS")
        );
    }
}
