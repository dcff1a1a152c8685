//! `changing-column-type` (warning, squawk's name): ALTER COLUMN … TYPE
//! usually rewrites the whole table and its indexes under an ACCESS
//! EXCLUSIVE lock, blocking reads and writes until it is done.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule, has_child};

pub(crate) const ID: &str = "changing-column-type";
pub(crate) const RULE: Rule = Rule { id: ID, check };

fn check(check: &Check, _: &SyntaxNode, out: &mut Vec<Finding>) {
    for action in check.live_actions {
        if action.kind() == SyntaxKind::ALTER_COLUMN && has_child(action, SyntaxKind::SET_TYPE) {
            out.push(Finding::at(
                action,
                "changing a column's type rewrites the table and blocks reads and writes \
                 until it is done",
                "add a new column of the new type, fill it in batches, switch the application \
                 to it, then drop the old one",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::fires;

    const ID: &str = super::ID;

    #[test]
    fn a_type_change_fires() {
        assert!(fires(ID, "ALTER TABLE t ALTER COLUMN a TYPE bigint;"));
        assert!(fires(
            ID,
            "ALTER TABLE t ALTER a SET DATA TYPE text USING a::text;"
        ));
    }

    #[test]
    fn other_column_changes_and_new_tables_do_not_fire() {
        for sql in [
            "ALTER TABLE t ALTER COLUMN a SET DEFAULT 0;",
            "CREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t ALTER COLUMN a TYPE bigint;",
            "SELECT 'ALTER TABLE t ALTER COLUMN a TYPE bigint';",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }
}
