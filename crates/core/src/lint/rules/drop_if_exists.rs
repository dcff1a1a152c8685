//! `drop-if-exists` (warning): a DROP that fails when the object is already
//! gone. In a no-transaction file `no-transaction-idempotent` reports it as
//! an error instead.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule, alter_table_actions, first_keyword, has_child, has_descendant};

pub(crate) const ID: &str = "drop-if-exists";
pub(crate) const RULE: Rule = Rule { id: ID, check };

const HELP: &str = "write DROP … IF EXISTS so a database without it does not stop the run";

fn check(check: &Check, node: &SyntaxNode, out: &mut Vec<Finding>) {
    if !check.in_transaction() {
        return;
    }
    // DROP OWNED has no IF EXISTS: it drops what a role owns, if anything.
    if first_keyword(node) == Some(SyntaxKind::DROP_KW)
        && node.kind() != SyntaxKind::DROP_OWNED
        && !has_descendant(node, SyntaxKind::IF_EXISTS)
    {
        out.push(Finding::at(
            node,
            "DROP without IF EXISTS fails when the object is already gone",
            HELP,
        ));
    }
    for action in alter_table_actions(node) {
        if matches!(
            action.kind(),
            SyntaxKind::DROP_COLUMN | SyntaxKind::DROP_CONSTRAINT
        ) && !has_child(&action, SyntaxKind::IF_EXISTS)
        {
            out.push(Finding::at(
                &action,
                "DROP without IF EXISTS fails when it is already gone",
                HELP,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::{fires, of};

    const ID: &str = super::ID;

    #[test]
    fn drops_without_a_guard_fire() {
        for sql in [
            "DROP TABLE t;",
            "DROP INDEX i;",
            "DROP VIEW v;",
            "DROP MATERIALIZED VIEW v;",
            "DROP FUNCTION f();",
            "DROP TYPE mood;",
            "DROP SCHEMA s CASCADE;",
            "DROP TRIGGER tr ON t;",
            "ALTER TABLE t DROP COLUMN a;",
            "ALTER TABLE t DROP a;",
            "ALTER TABLE t DROP CONSTRAINT c;",
        ] {
            assert!(fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn guarded_drops_and_mentions_do_not_fire() {
        for sql in [
            "DROP TABLE IF EXISTS t;",
            "DROP INDEX IF EXISTS i;",
            "DROP TRIGGER IF EXISTS tr ON t;",
            "DROP OWNED BY someone;",
            "ALTER TABLE t DROP COLUMN IF EXISTS a;",
            "ALTER TABLE t DROP CONSTRAINT IF EXISTS c;",
            "SELECT 'DROP TABLE t';",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn the_column_drop_points_at_its_action() {
        let found = of(ID, "ALTER TABLE t\n  DROP COLUMN a;");
        assert_eq!((found[0].line, found[0].column), (2, 3));
        assert!(found[0].help.contains("IF EXISTS"));
    }
}
