//! `renaming-table` (warning, squawk's name): the application still running
//! the old code breaks the moment the table gets its new name.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule};

pub(crate) const ID: &str = "renaming-table";
pub(crate) const RULE: Rule = Rule { id: ID, check };

fn check(check: &Check, _: &SyntaxNode, out: &mut Vec<Finding>) {
    for action in check.live_actions {
        if action.kind() == SyntaxKind::TABLE_RENAME_TO {
            out.push(Finding::at(
                action,
                "renaming a table breaks every query that still uses the old name",
                "rename it and create a view with the old name in the same migration, then \
                 drop the view once no code uses it",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::fires;

    const ID: &str = super::ID;

    #[test]
    fn a_table_rename_fires() {
        assert!(fires(ID, "ALTER TABLE t RENAME TO u;"));
        assert!(fires(ID, "ALTER TABLE IF EXISTS public.t RENAME TO u;"));
    }

    #[test]
    fn column_renames_and_new_tables_do_not_fire() {
        for sql in [
            "ALTER TABLE t RENAME COLUMN a TO b;",
            "CREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t RENAME TO u;",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }
}
