//! `adding-not-nullable-field` (warning, squawk's name): SET NOT NULL scans
//! the whole table under an ACCESS EXCLUSIVE lock to check for nulls.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule, has_child};

pub(crate) const ID: &str = "adding-not-nullable-field";
pub(crate) const RULE: Rule = Rule { id: ID, check };

fn check(check: &Check, _: &SyntaxNode, out: &mut Vec<Finding>) {
    for action in check.live_actions {
        if action.kind() == SyntaxKind::ALTER_COLUMN && has_child(action, SyntaxKind::SET_NOT_NULL)
        {
            out.push(Finding::at(
                action,
                "SET NOT NULL scans the whole table while blocking reads and writes",
                "add CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later \
                 migration, then SET NOT NULL (PostgreSQL 12+ uses the valid constraint and \
                 skips the scan)",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::fires;

    const ID: &str = super::ID;

    #[test]
    fn set_not_null_fires() {
        assert!(fires(ID, "ALTER TABLE t ALTER COLUMN a SET NOT NULL;"));
    }

    #[test]
    fn drop_not_null_and_new_tables_do_not_fire() {
        for sql in [
            "ALTER TABLE t ALTER COLUMN a DROP NOT NULL;",
            "CREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t ALTER COLUMN a SET NOT NULL;",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }
}
