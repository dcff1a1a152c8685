//! The hints for PostgreSQL's permission errors, from plain messages and statements.

use super::*;

/// Each case: PostgreSQL's message, the statement, and the hint after
/// `role app_deploy `.
fn check(cases: &[(&str, &str, &str)]) {
    for (message, statement, expected) in cases {
        assert_eq!(
            permission_hint(message, Some(statement), "app_deploy"),
            Some(format!("role app_deploy {expected}")),
            "{message} / {statement}"
        );
    }
}

#[test]
fn names_are_quoted_only_when_they_must_be() {
    for bare in ["migrations", "_a1$", "wit"] {
        assert_eq!(quote(bare), bare);
    }
    for (name, quoted) in [
        ("user", "\"user\""),
        ("all", "\"all\""),
        ("with", "\"with\""),
        ("Users", "\"Users\""),
        ("my table", "\"my table\""),
        ("1st", "\"1st\""),
        ("a\"b", "\"a\"\"b\""),
        ("", "\"\""),
        ("café", "\"café\""),
    ] {
        assert_eq!(quote(name), quoted);
    }
}

#[test]
fn a_write_to_a_table_asks_for_that_privilege() {
    check(&[
        (
            "permission denied for table settings",
            "INSERT INTO app.settings (key) VALUES ('a')",
            "lacks INSERT on table settings: GRANT INSERT ON settings TO app_deploy",
        ),
        (
            "permission denied for table settings",
            "UPDATE ONLY settings SET value = 'x' WHERE key = 'a'",
            "lacks SELECT, UPDATE on table settings: \
             GRANT SELECT, UPDATE ON settings TO app_deploy",
        ),
        (
            "permission denied for table t",
            "delete from t",
            "lacks DELETE on table t: GRANT DELETE ON t TO app_deploy",
        ),
        (
            "permission denied for table t",
            "TRUNCATE TABLE ONLY s.t",
            "lacks TRUNCATE on table t: GRANT TRUNCATE ON t TO app_deploy",
        ),
        (
            "permission denied for table t",
            "INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET v = excluded.v",
            "lacks INSERT, UPDATE on table t: GRANT INSERT, UPDATE ON t TO app_deploy",
        ),
    ]);
}

#[test]
fn a_table_the_statement_only_reads_asks_for_select() {
    check(&[
        (
            "permission denied for table source",
            "INSERT INTO target SELECT * FROM source",
            "lacks SELECT on table source: GRANT SELECT ON source TO app_deploy",
        ),
        (
            "permission denied for view v",
            "SELECT * FROM v",
            "lacks SELECT on view v: GRANT SELECT ON v TO app_deploy",
        ),
    ]);
}

#[test]
fn quoted_and_mixed_case_names_are_matched_as_postgresql_folds_them() {
    check(&[
        (
            "permission denied for table My Table",
            "INSERT INTO \"My Table\" VALUES (1)",
            "lacks INSERT on table My Table: GRANT INSERT ON \"My Table\" TO app_deploy",
        ),
        (
            "permission denied for table users",
            "insert into PUBLIC.Users values (1)",
            "lacks INSERT on table users: GRANT INSERT ON users TO app_deploy",
        ),
    ]);
}

#[test]
fn references_and_triggers_ask_for_their_privileges() {
    check(&[
        (
            "permission denied for table accounts",
            "CREATE TABLE orders (account_id INT REFERENCES accounts (id))",
            "lacks REFERENCES on table accounts: GRANT REFERENCES ON accounts TO app_deploy",
        ),
        (
            "permission denied for table accounts",
            "CREATE OR REPLACE TRIGGER audit AFTER INSERT ON accounts \
             FOR EACH ROW EXECUTE FUNCTION audit()",
            "lacks TRIGGER on table accounts: GRANT TRIGGER ON accounts TO app_deploy",
        ),
    ]);
}

#[test]
fn other_kinds_ask_for_their_usual_privilege() {
    check(&[
        (
            "permission denied for schema app",
            "CREATE TABLE app.x (a INT)",
            "lacks USAGE, CREATE on schema app: GRANT USAGE, CREATE ON SCHEMA app TO app_deploy",
        ),
        (
            "permission denied for schema app",
            "SELECT * FROM app.x",
            "lacks USAGE on schema app: GRANT USAGE ON SCHEMA app TO app_deploy",
        ),
        (
            "permission denied for sequence ids",
            "SELECT nextval('ids')",
            "lacks USAGE on sequence ids: GRANT USAGE ON SEQUENCE ids TO app_deploy",
        ),
        (
            "permission denied for sequence ids",
            "SELECT setval('ids', 10)",
            "lacks UPDATE on sequence ids: GRANT UPDATE ON SEQUENCE ids TO app_deploy",
        ),
        (
            "permission denied for function f",
            "SELECT f()",
            "lacks EXECUTE on function f: GRANT EXECUTE ON FUNCTION f TO app_deploy",
        ),
        (
            "permission denied for database shop",
            "CREATE SCHEMA extra",
            "lacks CREATE on database shop: GRANT CREATE ON DATABASE shop TO app_deploy",
        ),
        (
            "permission denied for database shop",
            "CREATE TEMP TABLE t (a INT)",
            "lacks TEMPORARY on database shop: \
             GRANT TEMPORARY ON DATABASE shop TO app_deploy",
        ),
        (
            "permission denied for type mood",
            "CREATE TABLE t (m mood)",
            "lacks USAGE on type mood: GRANT USAGE ON TYPE mood TO app_deploy",
        ),
    ]);
}

#[test]
fn an_object_that_must_be_owned_asks_for_a_change_of_owner() {
    let member = "or make app_deploy a member of the owner's role";
    check(&[
        (
            "must be owner of table settings",
            "ALTER TABLE settings ADD COLUMN note TEXT",
            &format!(
                "does not own table settings: ALTER TABLE settings OWNER TO app_deploy, \
                 {member}"
            ),
        ),
        (
            "must be owner of materialized view totals",
            "REFRESH MATERIALIZED VIEW totals",
            &format!(
                "does not own materialized view totals: \
                 ALTER MATERIALIZED VIEW totals OWNER TO app_deploy, {member}"
            ),
        ),
        (
            "must be owner of index i",
            "DROP INDEX i",
            "does not own index i: make it the owner of the index's table \
             (ALTER TABLE … OWNER TO app_deploy), or run this migration as that owner",
        ),
        (
            "must be owner of extension citext",
            "ALTER EXTENSION citext UPDATE",
            &format!("does not own extension citext: run this migration as its owner, {member}"),
        ),
    ]);
}

#[test]
fn the_role_is_quoted_when_it_must_be() {
    assert_eq!(
        permission_hint(
            "permission denied for table t",
            Some("SELECT * FROM t"),
            "Deploy"
        )
        .as_deref(),
        Some("role \"Deploy\" lacks SELECT on table t: GRANT SELECT ON t TO \"Deploy\"")
    );
}

#[test]
fn messages_of_other_forms_give_no_hint() {
    for message in [
        "permission denied to create role",
        "permission denied for large object 16384",
        "permission denied for table ",
        "must be superuser to create a base type",
        "relation \"t\" does not exist",
    ] {
        assert_eq!(
            permission_hint(message, Some("SELECT 1"), "r"),
            None,
            "{message}"
        );
    }
    assert_eq!(
        permission_hint("permission denied for table t", None, "r").as_deref(),
        Some("role r lacks SELECT on table t: GRANT SELECT ON t TO r")
    );
}
