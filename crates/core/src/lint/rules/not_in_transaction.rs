//! `not-in-transaction`: a statement PostgreSQL refuses inside a transaction
//! block ("… cannot run inside a transaction block"), in a file that runs in
//! one. Found here, before the first statement of the run is sent.
//!
//! `ALTER TYPE … ADD VALUE` is allowed in a transaction since PostgreSQL 12
//! and is not reported. In a `-- stratum:no-transaction` file these
//! statements are fine; `no-transaction-idempotent` looks at that file.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule, alter_table_actions, child, has_child, has_descendant};

pub(crate) const ID: &str = "not-in-transaction";
pub(crate) const RULE: Rule = Rule { id: ID, check };

fn check(check: &Check, node: &SyntaxNode, out: &mut Vec<Finding>) {
    if !check.in_transaction() {
        return;
    }
    if let Some(what) = refused_in_transaction(node) {
        out.push(Finding::at(
            node,
            format!("{what} cannot run inside a transaction block, and this file runs in one"),
            "put it in its own file whose first line is `-- stratum:no-transaction`",
        ));
    }
}

/// What PostgreSQL calls the statement when it refuses it in a transaction.
pub(crate) fn refused_in_transaction(node: &SyntaxNode) -> Option<&'static str> {
    let concurrently = || has_child(node, SyntaxKind::CONCURRENTLY_KW);
    match node.kind() {
        SyntaxKind::VACUUM => Some("VACUUM"),
        SyntaxKind::CREATE_INDEX if concurrently() => Some("CREATE INDEX CONCURRENTLY"),
        SyntaxKind::DROP_INDEX if concurrently() => Some("DROP INDEX CONCURRENTLY"),
        SyntaxKind::REINDEX => reindex(node),
        SyntaxKind::CREATE_DATABASE => Some("CREATE DATABASE"),
        SyntaxKind::DROP_DATABASE => Some("DROP DATABASE"),
        SyntaxKind::ALTER_DATABASE if has_child(node, SyntaxKind::SET_TABLESPACE) => {
            Some("ALTER DATABASE … SET TABLESPACE")
        }
        SyntaxKind::CREATE_TABLESPACE => Some("CREATE TABLESPACE"),
        SyntaxKind::DROP_TABLESPACE => Some("DROP TABLESPACE"),
        SyntaxKind::ALTER_SYSTEM => Some("ALTER SYSTEM"),
        // Without a table, CLUSTER runs one transaction per table itself.
        SyntaxKind::CLUSTER
            if !has_child(node, SyntaxKind::TABLE_NAME_REF)
                && !has_child(node, SyntaxKind::CLUSTER_LEGACY) =>
        {
            Some("CLUSTER without a table")
        }
        SyntaxKind::DISCARD if has_descendant(node, SyntaxKind::DISCARD_ALL) => Some("DISCARD ALL"),
        SyntaxKind::CREATE_SUBSCRIPTION
            if !option_is_false(node, "create_slot") && !option_is_false(node, "connect") =>
        {
            Some("CREATE SUBSCRIPTION that creates a replication slot")
        }
        SyntaxKind::ALTER_SUBSCRIPTION => alter_subscription(node),
        SyntaxKind::DROP_SUBSCRIPTION => Some("DROP SUBSCRIPTION of a subscription with a slot"),
        SyntaxKind::ALTER_TABLE
            if alter_table_actions(node).any(|action| {
                action.kind() == SyntaxKind::DETACH_PARTITION
                    && has_descendant(&action, SyntaxKind::DETACH_CONCURRENTLY)
            }) =>
        {
            Some("ALTER TABLE … DETACH PARTITION … CONCURRENTLY")
        }
        _ => None,
    }
}

fn reindex(node: &SyntaxNode) -> Option<&'static str> {
    // `REINDEX TABLE CONCURRENTLY t` and `REINDEX (CONCURRENTLY) TABLE t`.
    let concurrently = node.descendants_with_tokens().any(|element| {
        element.kind() == SyntaxKind::CONCURRENTLY_KW
            || element
                .as_token()
                .is_some_and(|token| token.text().eq_ignore_ascii_case("concurrently"))
    });
    if concurrently {
        return Some("REINDEX CONCURRENTLY");
    }
    node.children().find_map(|target| match target.kind() {
        SyntaxKind::REINDEX_TARGET_DATABASE => Some("REINDEX DATABASE"),
        SyntaxKind::REINDEX_TARGET_SCHEMA => Some("REINDEX SCHEMA"),
        SyntaxKind::REINDEX_TARGET_SYSTEM => Some("REINDEX SYSTEM"),
        _ => None,
    })
}

fn alter_subscription(node: &SyntaxNode) -> Option<&'static str> {
    let action = node.children().find(|child| {
        matches!(
            child.kind(),
            SyntaxKind::REFRESH_PUBLICATION
                | SyntaxKind::SET_PUBLICATION
                | SyntaxKind::ADD_PUBLICATION
                | SyntaxKind::DROP_PUBLICATION
        )
    })?;
    if action.kind() == SyntaxKind::REFRESH_PUBLICATION {
        return Some("ALTER SUBSCRIPTION … REFRESH PUBLICATION");
    }
    // SET / ADD / DROP PUBLICATION refresh unless told not to.
    (!option_is_false(&action, "refresh"))
        .then_some("ALTER SUBSCRIPTION … PUBLICATION with refresh")
}

/// Whether a `WITH (name = false)` option below `node` turns `name` off.
fn option_is_false(node: &SyntaxNode, name: &str) -> bool {
    node.descendants()
        .filter(|option| option.kind() == SyntaxKind::ATTRIBUTE_OPTION)
        .any(|option| {
            let named = child(&option, SyntaxKind::ATTRIBUTE_NAME)
                .is_some_and(|n| n.text().to_string().trim().eq_ignore_ascii_case(name));
            let value = child(&option, SyntaxKind::ATTRIBUTE_VALUE).map(|v| {
                v.text()
                    .to_string()
                    .trim()
                    .trim_matches('\'')
                    .to_ascii_lowercase()
            });
            named && matches!(value.as_deref(), Some("false" | "off" | "0" | "no"))
        })
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::{fires, of};

    const ID: &str = super::ID;

    #[test]
    fn statements_refused_in_a_transaction_fire() {
        for sql in [
            "VACUUM;",
            "VACUUM (ANALYZE) t;",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);",
            "DROP INDEX CONCURRENTLY IF EXISTS i;",
            "REINDEX INDEX CONCURRENTLY i;",
            "REINDEX (CONCURRENTLY) TABLE t;",
            "REINDEX DATABASE d;",
            "REINDEX SCHEMA s;",
            "CREATE DATABASE d;",
            "DROP DATABASE IF EXISTS d;",
            "ALTER DATABASE d SET TABLESPACE x;",
            "CREATE TABLESPACE x LOCATION '/x';",
            "DROP TABLESPACE IF EXISTS x;",
            "ALTER SYSTEM SET work_mem = '64MB';",
            "CLUSTER;",
            "DISCARD ALL;",
            "CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p;",
            "ALTER SUBSCRIPTION s REFRESH PUBLICATION;",
            "ALTER TABLE t DETACH PARTITION p CONCURRENTLY;",
        ] {
            assert!(fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn statements_fine_in_a_transaction_do_not_fire() {
        for sql in [
            "ANALYZE t;",
            "CREATE INDEX IF NOT EXISTS i ON t (a);",
            "REINDEX TABLE t;",
            "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy';",
            "CLUSTER t USING i;",
            "DISCARD PLANS;",
            "CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p WITH (create_slot = false);",
            "ALTER SUBSCRIPTION s SET PUBLICATION p WITH (refresh = false);",
            "ALTER TABLE t DETACH PARTITION p;",
            "SELECT 'VACUUM';",
            "-- VACUUM;\nSELECT 1;",
            "DO $$ BEGIN EXECUTE 'VACUUM'; END $$;",
            "CREATE OR REPLACE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $fn$ BEGIN \
             PERFORM 1; END $fn$; -- not VACUUM",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn a_no_transaction_file_may_use_them() {
        let sql = "-- stratum:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);\nVACUUM t;";
        assert!(!fires(ID, sql));
    }

    #[test]
    fn a_wrapped_file_is_still_a_transaction() {
        assert!(fires(ID, "BEGIN;\nVACUUM;\nCOMMIT;"));
    }

    #[test]
    fn help_says_how_to_move_it() {
        let found = of(ID, "SELECT 1;\nVACUUM t;");
        assert_eq!((found[0].line, found[0].column), (2, 1));
        assert!(
            found[0]
                .message
                .starts_with("VACUUM cannot run inside a transaction block")
        );
        assert_eq!(
            found[0].help,
            "put it in its own file whose first line is `-- stratum:no-transaction`"
        );
    }
}
