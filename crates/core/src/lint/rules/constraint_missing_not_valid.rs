//! `constraint-missing-not-valid` (warning, squawk's name): ADD CONSTRAINT
//! … FOREIGN KEY or CHECK without NOT VALID checks every row while holding
//! a lock that blocks writes (and, for a foreign key, writes to the
//! referenced table too).

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule, has_child};

pub(crate) const ID: &str = "constraint-missing-not-valid";
pub(crate) const RULE: Rule = Rule { id: ID, check };

fn check(check: &Check, _: &SyntaxNode, out: &mut Vec<Finding>) {
    for action in check.live_actions {
        if action.kind() != SyntaxKind::ADD_CONSTRAINT {
            continue;
        }
        let checked = action.children().find(|c| {
            matches!(
                c.kind(),
                SyntaxKind::FOREIGN_KEY_CONSTRAINT | SyntaxKind::CHECK_CONSTRAINT
            )
        });
        if let Some(constraint) = checked
            && !has_child(&constraint, SyntaxKind::NOT_VALID)
        {
            out.push(Finding::at(
                action,
                "adding a FOREIGN KEY or CHECK constraint checks every row while blocking writes",
                "add it with NOT VALID, then ALTER TABLE … VALIDATE CONSTRAINT in a later \
                 migration, which takes a lighter lock",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::fires;

    const ID: &str = super::ID;

    #[test]
    fn validated_constraints_fire() {
        assert!(fires(
            ID,
            "ALTER TABLE t ADD CONSTRAINT c FOREIGN KEY (a) REFERENCES u (id);"
        ));
        assert!(fires(ID, "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);"));
    }

    #[test]
    fn not_valid_other_constraints_and_new_tables_do_not_fire() {
        for sql in [
            "ALTER TABLE t ADD CONSTRAINT c FOREIGN KEY (a) REFERENCES u (id) NOT VALID;",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;",
            "ALTER TABLE t VALIDATE CONSTRAINT c;",
            "ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX i;",
            "CREATE TABLE IF NOT EXISTS t (a int);\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }
}
