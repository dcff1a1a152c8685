//! `renaming-column` (warning, squawk's name): the application still
//! running the old code breaks the moment the column gets its new name.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule};

pub(crate) const ID: &str = "renaming-column";
pub(crate) const RULE: Rule = Rule { id: ID, check };

fn check(check: &Check, _: &SyntaxNode, out: &mut Vec<Finding>) {
    for action in check.live_actions {
        if action.kind() == SyntaxKind::RENAME_COLUMN {
            out.push(Finding::at(
                action,
                "renaming a column breaks every query that still uses the old name",
                "add the new column, deploy code that writes both and reads the new one, \
                 then drop the old column in a later migration",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::fires;

    const ID: &str = super::ID;

    #[test]
    fn a_column_rename_fires() {
        assert!(fires(ID, "ALTER TABLE t RENAME COLUMN a TO b;"));
        assert!(fires(ID, "ALTER TABLE t RENAME a TO b;"));
    }

    #[test]
    fn table_renames_new_tables_and_mentions_do_not_fire() {
        for sql in [
            "ALTER TABLE t RENAME TO u;",
            "CREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t RENAME COLUMN a TO b;",
            "SELECT 'ALTER TABLE t RENAME COLUMN a TO b';",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }
}
