//! `create-if-not-exists`: a CREATE that fails when its object exists.
//!
//! Migrations are meant to run against databases that may already hold some
//! of their objects (a database restored from a dump, or one that an earlier
//! tool set up), so every CREATE says what to do when the object is there:
//! IF NOT EXISTS, or OR REPLACE where that is PostgreSQL's form. `CREATE
//! TYPE` and `CREATE DOMAIN` have neither and are always reported.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule, alter_table_actions, child, has_child, name_under, normalize};

pub(crate) const ID: &str = "create-if-not-exists";
pub(crate) const RULE: Rule = Rule { id: ID, check };

/// Statements whose guard is IF NOT EXISTS, with how they are written.
const IF_NOT_EXISTS: &[(SyntaxKind, &str)] = &[
    (SyntaxKind::CREATE_TABLE, "CREATE TABLE"),
    (SyntaxKind::CREATE_TABLE_AS, "CREATE TABLE … AS"),
    (SyntaxKind::CREATE_FOREIGN_TABLE, "CREATE FOREIGN TABLE"),
    (SyntaxKind::CREATE_INDEX, "CREATE INDEX"),
    (SyntaxKind::CREATE_SEQUENCE, "CREATE SEQUENCE"),
    (SyntaxKind::CREATE_SCHEMA, "CREATE SCHEMA"),
    (SyntaxKind::CREATE_EXTENSION, "CREATE EXTENSION"),
    (
        SyntaxKind::CREATE_MATERIALIZED_VIEW,
        "CREATE MATERIALIZED VIEW",
    ),
    (SyntaxKind::CREATE_STATISTICS, "CREATE STATISTICS"),
    (SyntaxKind::CREATE_COLLATION, "CREATE COLLATION"),
    (SyntaxKind::CREATE_SERVER, "CREATE SERVER"),
    (SyntaxKind::CREATE_USER_MAPPING, "CREATE USER MAPPING"),
];

/// Statements whose guard is OR REPLACE.
const OR_REPLACE: &[(SyntaxKind, &str)] = &[
    (SyntaxKind::CREATE_VIEW, "CREATE VIEW"),
    (SyntaxKind::CREATE_FUNCTION, "CREATE FUNCTION"),
    (SyntaxKind::CREATE_PROCEDURE, "CREATE PROCEDURE"),
    (SyntaxKind::CREATE_TRIGGER, "CREATE TRIGGER"),
    (SyntaxKind::CREATE_RULE, "CREATE RULE"),
    (SyntaxKind::CREATE_AGGREGATE, "CREATE AGGREGATE"),
    (SyntaxKind::CREATE_LANGUAGE, "CREATE LANGUAGE"),
    (SyntaxKind::CREATE_TRANSFORM, "CREATE TRANSFORM"),
];

/// Whether this rule speaks about `node` at all (flagged or not), so that
/// `no-transaction-idempotent` leaves those statements to it.
pub(crate) fn covers(node: &SyntaxNode) -> bool {
    let kind = node.kind();
    IF_NOT_EXISTS.iter().any(|(k, _)| *k == kind)
        || OR_REPLACE.iter().any(|(k, _)| *k == kind)
        || matches!(kind, SyntaxKind::CREATE_TYPE | SyntaxKind::CREATE_DOMAIN)
        || alter_table_actions(node).any(|action| action.kind() == SyntaxKind::ADD_COLUMN)
}

fn check(_: &Check, node: &SyntaxNode, out: &mut Vec<Finding>) {
    let kind = node.kind();
    let named = |label: &str| match object_name(node) {
        Some(name) => format!("{label} {name}"),
        None => label.to_owned(),
    };
    if let Some((_, label)) = IF_NOT_EXISTS.iter().find(|(k, _)| *k == kind) {
        if kind == SyntaxKind::CREATE_INDEX && child(node, SyntaxKind::INDEX).is_none() {
            out.push(Finding::at(
                node,
                "CREATE INDEX without a name creates another index (t_a_idx1, t_a_idx2, …) \
                 every time it runs",
                "name the index and write CREATE INDEX IF NOT EXISTS name ON …",
            ));
        } else if !has_child(node, SyntaxKind::IF_NOT_EXISTS) {
            let label = written(node, label);
            out.push(Finding::at(
                node,
                format!("{} fails when it already exists", named(&label)),
                format!("write {} IF NOT EXISTS …", label.trim_end_matches(" … AS")),
            ));
        }
    } else if let Some((_, label)) = OR_REPLACE.iter().find(|(k, _)| *k == kind) {
        if has_child(node, SyntaxKind::OR_REPLACE) {
            return;
        }
        let help = if has_child(node, SyntaxKind::CONSTRAINT_KW) {
            "PostgreSQL has no OR REPLACE for constraint triggers: put \
             DROP TRIGGER IF EXISTS name ON table; before it"
                .to_owned()
        } else {
            format!(
                "write {} …",
                label.replacen("CREATE", "CREATE OR REPLACE", 1)
            )
        };
        out.push(Finding::at(
            node,
            format!("{} fails when it already exists", named(label)),
            help,
        ));
    } else if matches!(kind, SyntaxKind::CREATE_TYPE | SyntaxKind::CREATE_DOMAIN) {
        let (label, what) = if kind == SyntaxKind::CREATE_TYPE {
            ("CREATE TYPE", "TYPE")
        } else {
            ("CREATE DOMAIN", "DOMAIN")
        };
        out.push(Finding::at(
            node,
            format!(
                "{} fails when it already exists, and PostgreSQL has no IF NOT EXISTS for it",
                named(label)
            ),
            format!(
                "wrap it in DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = \
                 '…') THEN CREATE {what} …; END IF; END $$; or prefer a CHECK constraint"
            ),
        ));
    }
    for action in alter_table_actions(node) {
        if action.kind() == SyntaxKind::ADD_COLUMN && !has_child(&action, SyntaxKind::IF_NOT_EXISTS)
        {
            let column = child(&action, SyntaxKind::COLUMN_NAME)
                .map(|name| format!(" {}", normalize(&name)))
                .unwrap_or_default();
            out.push(Finding::at(
                &action,
                format!("ADD COLUMN{column} fails when the column already exists"),
                "write ADD COLUMN IF NOT EXISTS …",
            ));
        }
    }
}

/// The statement's opening words as written: `CREATE UNIQUE INDEX
/// CONCURRENTLY` rather than `CREATE INDEX`, so the help can be copied.
fn written(node: &SyntaxNode, label: &str) -> String {
    if node.kind() != SyntaxKind::CREATE_INDEX {
        return label.to_owned();
    }
    let mut words = String::from("CREATE");
    if has_child(node, SyntaxKind::UNIQUE_KW) {
        words.push_str(" UNIQUE");
    }
    words.push_str(" INDEX");
    if has_child(node, SyntaxKind::CONCURRENTLY_KW) {
        words.push_str(" CONCURRENTLY");
    }
    words
}

/// The children that hold the name of what a CREATE creates.
const NAME_HOLDERS: &[SyntaxKind] = &[
    SyntaxKind::TABLE_NAME,
    SyntaxKind::INDEX,
    SyntaxKind::SEQUENCE,
    SyntaxKind::NAMED_SCHEMA,
    SyntaxKind::EXTENSION,
    SyntaxKind::VIEW,
    SyntaxKind::FUNCTION_NAME,
    SyntaxKind::PROCEDURE_NAME,
    SyntaxKind::TRIGGER,
    SyntaxKind::RULE,
    SyntaxKind::AGGREGATE_NAME,
    SyntaxKind::STATISTICS,
    SyntaxKind::COLLATION,
    SyntaxKind::SERVER,
    SyntaxKind::TYPE_NAME,
    SyntaxKind::DOMAIN,
];

fn object_name(node: &SyntaxNode) -> Option<String> {
    let holder = node
        .children()
        .find(|child| NAME_HOLDERS.contains(&child.kind()))?;
    match name_under(&holder) {
        Some(name) => Some(name.name),
        None => Some(normalize(&holder)).filter(|name| !name.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::{fires, of};

    const ID: &str = super::ID;

    #[test]
    fn creates_without_a_guard_fire() {
        for sql in [
            "CREATE TABLE t (a int);",
            "CREATE UNLOGGED TABLE t (a int);",
            "CREATE TABLE t AS SELECT 1;",
            "CREATE INDEX i ON t (a);",
            "CREATE UNIQUE INDEX CONCURRENTLY i ON t (a);",
            "CREATE SEQUENCE s;",
            "CREATE SCHEMA s;",
            "CREATE EXTENSION pgcrypto;",
            "CREATE MATERIALIZED VIEW v AS SELECT 1;",
            "CREATE VIEW v AS SELECT 1;",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
            "CREATE PROCEDURE p() LANGUAGE sql AS 'SELECT 1';",
            "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();",
            "CREATE TYPE mood AS ENUM ('sad', 'ok');",
            "CREATE DOMAIN posint AS int CHECK (VALUE > 0);",
            "ALTER TABLE t ADD COLUMN b int;",
            "ALTER TABLE t ADD b int;",
        ] {
            assert!(fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn guarded_creates_do_not_fire() {
        for sql in [
            "CREATE TABLE IF NOT EXISTS t (a int);",
            "CREATE TABLE IF NOT EXISTS t AS SELECT 1;",
            "CREATE INDEX IF NOT EXISTS i ON t (a);",
            "CREATE SEQUENCE IF NOT EXISTS s;",
            "CREATE SCHEMA IF NOT EXISTS s;",
            "CREATE EXTENSION IF NOT EXISTS pgcrypto;",
            "CREATE MATERIALIZED VIEW IF NOT EXISTS v AS SELECT 1;",
            "CREATE OR REPLACE VIEW v AS SELECT 1;",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
            "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql AS 'SELECT 1';",
            "CREATE OR REPLACE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();",
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int;",
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN \
             CREATE TYPE mood AS ENUM ('sad'); END IF; END $$;",
            "SELECT 'CREATE TABLE t (a int)';",
            "-- CREATE TABLE t (a int);\nSELECT 1;",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }

    #[test]
    fn messages_name_the_object_and_help_shows_the_guard() {
        let found = of(ID, "CREATE TABLE Billing.Invoices (a int);");
        assert_eq!(
            found[0].message,
            "CREATE TABLE invoices fails when it already exists"
        );
        assert_eq!(found[0].help, "write CREATE TABLE IF NOT EXISTS …");
        let view = of(ID, "CREATE VIEW v AS SELECT 1;");
        assert_eq!(view[0].help, "write CREATE OR REPLACE VIEW …");
        for (sql, message) in [
            (
                "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();",
                "CREATE TRIGGER tr fails when it already exists",
            ),
            (
                "CREATE SCHEMA billing;",
                "CREATE SCHEMA billing fails when it already exists",
            ),
            (
                "CREATE EXTENSION \"uuid-ossp\";",
                "CREATE EXTENSION uuid-ossp fails when it already exists",
            ),
            (
                "CREATE INDEX i ON t (a);",
                "CREATE INDEX i fails when it already exists",
            ),
        ] {
            assert_eq!(of(ID, sql)[0].message, message, "{sql}");
        }
        let ty = of(ID, "CREATE TYPE mood AS ENUM ('sad');");
        assert!(ty[0].help.contains("pg_type") && ty[0].help.contains("CHECK"));
    }

    #[test]
    fn an_unnamed_index_is_told_to_get_a_name() {
        let found = of(ID, "CREATE INDEX ON t (a);");
        assert!(found[0].help.contains("name the index"));
        let found = of(ID, "CREATE UNIQUE INDEX CONCURRENTLY i ON t (a);");
        assert_eq!(
            found[0].help,
            "write CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS …"
        );
    }

    #[test]
    fn a_constraint_trigger_is_told_to_drop_first() {
        let sql =
            "CREATE CONSTRAINT TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();";
        assert!(of(ID, sql)[0].help.contains("DROP TRIGGER IF EXISTS"));
    }

    #[test]
    fn add_column_points_at_the_action() {
        let found = of(
            ID,
            "ALTER TABLE t\n  ADD COLUMN IF NOT EXISTS a int,\n  ADD COLUMN b int;",
        );
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (3, 3));
        assert_eq!(
            found[0].message,
            "ADD COLUMN b fails when the column already exists"
        );
    }
}
