//! `transaction-control`: BEGIN, COMMIT, ROLLBACK, SAVEPOINT and the like
//! inside a migration.
//!
//! The engine runs a file in its own transaction and records it there; a
//! COMMIT in the middle would make the first half permanent even if the
//! second half fails. One shape is accepted: a file that is wholly one
//! `BEGIN; … COMMIT;` (nothing of the kind in between), which the engine
//! runs as it is.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule, brief};
use crate::lint::TransactionMode;

pub(crate) const ID: &str = "transaction-control";
pub(crate) const RULE: Rule = Rule { id: ID, check };

pub(crate) fn is_transaction_control(kind: SyntaxKind) -> bool {
    matches!(
        kind,
        SyntaxKind::BEGIN
            | SyntaxKind::COMMIT_TRANSACTION
            | SyntaxKind::COMMIT_PREPARED
            | SyntaxKind::ROLLBACK_TRANSACTION
            | SyntaxKind::ROLLBACK_TO_SAVEPOINT
            | SyntaxKind::ROLLBACK_PREPARED
            | SyntaxKind::SAVEPOINT_CREATE
            | SyntaxKind::RELEASE_SAVEPOINT
            | SyntaxKind::PREPARE_TRANSACTION
    )
}

fn check(check: &Check, node: &SyntaxNode, out: &mut Vec<Finding>) {
    if !is_transaction_control(node.kind()) {
        return;
    }
    let wrapping = matches!(check.mode, TransactionMode::AlreadyWrapped { .. })
        && (check.index == 0 || check.index == check.last);
    if wrapping {
        return;
    }
    let help = if check.mode == TransactionMode::NoTransaction {
        "remove it: in a `-- stratum:no-transaction` file each statement commits on its own"
    } else {
        "remove it: stratum runs the whole file in one transaction (a file that is wholly \
         one BEGIN; … COMMIT; is accepted as it is), and work that must commit separately \
         goes in a file of its own"
    };
    out.push(Finding::at(
        node,
        format!(
            "`{}` controls the transaction that stratum runs the file in",
            brief(node).trim_end_matches(';')
        ),
        help,
    ));
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::{fires, of};
    use crate::lint::{TransactionMode, transaction_mode};

    const ID: &str = super::ID;

    #[test]
    fn transaction_control_in_a_file_fires() {
        for sql in [
            "CREATE TABLE IF NOT EXISTS t (a int);\nCOMMIT;",
            "BEGIN;\nSELECT 1;",
            "START TRANSACTION;",
            "SELECT 1;\nEND;",
            "ROLLBACK;",
            "SAVEPOINT a;",
            "RELEASE SAVEPOINT a;",
            "ROLLBACK TO SAVEPOINT a;",
            "PREPARE TRANSACTION 'x';",
            "COMMIT PREPARED 'x';",
            "BEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;\nCOMMIT;",
            "BEGIN;\nSAVEPOINT a;\nCOMMIT;",
        ] {
            assert!(fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn a_wholly_wrapped_file_and_mere_mentions_do_not_fire() {
        for sql in [
            "BEGIN;\nCREATE TABLE IF NOT EXISTS t (a int);\nCOMMIT;",
            "-- wrapped\nSTART TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nEND;\n-- done\n",
            "DO $$ BEGIN PERFORM 1; END $$;",
            "SELECT 'COMMIT';",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn the_wrapped_file_gives_the_engine_its_commit() {
        let sql = "BEGIN;\nSELECT 1;\nCOMMIT; -- end\n";
        assert_eq!(
            transaction_mode(sql),
            TransactionMode::AlreadyWrapped {
                body_start: 6,
                commit_start: 17
            }
        );
        assert_eq!(&sql[17..23], "COMMIT");
        assert_eq!(transaction_mode("SELECT 1;"), TransactionMode::Wrapped);
        assert_eq!(
            transaction_mode("BEGIN;\nSAVEPOINT a;\nCOMMIT;"),
            TransactionMode::Wrapped
        );
        assert_eq!(transaction_mode("BEGIN;"), TransactionMode::Wrapped);
        assert_eq!(
            transaction_mode("-- stratum:no-transaction\nBEGIN;\nCOMMIT;"),
            TransactionMode::NoTransaction
        );
    }

    #[test]
    fn a_no_transaction_file_may_not_wrap_itself() {
        let sql = "-- stratum:no-transaction\nBEGIN;\nSELECT 1;\nCOMMIT;";
        let found = of(ID, sql);
        assert_eq!(found.len(), 2);
        assert!(found[0].help.contains("commits on its own"));
    }
}
