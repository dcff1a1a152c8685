//! `insert-on-conflict` (warning): an INSERT that fails with a duplicate key
//! when its rows are already there, as in a database that got them some
//! other way. In a no-transaction file `no-transaction-idempotent` reports
//! it as an error instead.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule, has_child};

pub(crate) const ID: &str = "insert-on-conflict";
pub(crate) const RULE: Rule = Rule { id: ID, check };

fn check(check: &Check, node: &SyntaxNode, out: &mut Vec<Finding>) {
    if check.in_transaction()
        && node.kind() == SyntaxKind::INSERT
        && !has_child(node, SyntaxKind::ON_CONFLICT_CLAUSE)
    {
        out.push(Finding::at(
            node,
            "INSERT without ON CONFLICT fails on rows that are already there",
            "add ON CONFLICT DO NOTHING (or DO UPDATE) so a re-run does not fail with a \
             duplicate key",
        ));
    }
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
}
