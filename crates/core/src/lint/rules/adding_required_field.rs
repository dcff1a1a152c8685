//! `adding-required-field` (warning, squawk's name): ADD COLUMN … NOT NULL
//! without a DEFAULT fails on a table that has rows, so it passes in
//! development and fails in production.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule, child, has_child};

pub(crate) const ID: &str = "adding-required-field";
pub(crate) const RULE: Rule = Rule { id: ID, check };

/// Types whose columns fill themselves from a sequence.
const SERIAL: &[&str] = &[
    "serial",
    "bigserial",
    "smallserial",
    "serial2",
    "serial4",
    "serial8",
];

fn check(check: &Check, _: &SyntaxNode, out: &mut Vec<Finding>) {
    for action in check.live_actions {
        if action.kind() != SyntaxKind::ADD_COLUMN {
            continue;
        }
        let required = has_child(action, SyntaxKind::NOT_NULL_CONSTRAINT)
            || has_child(action, SyntaxKind::PRIMARY_KEY_CONSTRAINT);
        let filled = has_child(action, SyntaxKind::DEFAULT_CONSTRAINT)
            || has_child(action, SyntaxKind::GENERATED_CONSTRAINT)
            || child(action, SyntaxKind::PATH_TYPE).is_some_and(|ty| {
                let name = ty.text().to_string();
                SERIAL
                    .iter()
                    .any(|serial| name.trim().eq_ignore_ascii_case(serial))
            });
        if required && !filled {
            out.push(Finding::at(
                action,
                "adding a NOT NULL column without a DEFAULT fails on a table that has rows",
                "give it a DEFAULT, or add it as NULL, fill it, and SET NOT NULL in a later \
                 migration",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::fires;

    const ID: &str = super::ID;

    #[test]
    fn a_required_column_without_default_fires() {
        assert!(fires(
            ID,
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int NOT NULL;"
        ));
        assert!(fires(
            ID,
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS id int PRIMARY KEY;"
        ));
    }

    #[test]
    fn defaults_generated_columns_and_new_tables_do_not_fire() {
        for sql in [
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int NOT NULL DEFAULT 0;",
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int;",
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS b bigserial NOT NULL;",
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int NOT NULL GENERATED ALWAYS AS IDENTITY;",
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int NOT NULL GENERATED ALWAYS AS (a * 2) STORED;",
            "CREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t ADD COLUMN IF NOT EXISTS b int NOT NULL;",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }
}
