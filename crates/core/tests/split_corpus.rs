//! The statement splitter on the SQL that defeats naive splitters: quotes
//! and escapes, dollar quotes, nested comments, quoted identifiers, and
//! bodies that contain `;`, BEGIN, COMMIT and VACUUM.

use stratum_core::lint::{LintContext, TransactionMode, lint, transaction_mode};
use stratum_core::statements::split;

fn texts(sql: &str) -> Vec<&str> {
    split(sql)
        .into_iter()
        .map(|statement| statement.text)
        .collect()
}

#[test]
fn escaped_quotes_and_semicolons_in_strings() {
    let sql = r"SELECT E'it\'s; \\'; SELECT 'a''b;c', 'back\'; SELECT U&'d\0061t;';";
    assert_eq!(
        texts(sql),
        [
            r"SELECT E'it\'s; \\';",
            // standard_conforming_strings: a backslash ends nothing in ''.
            r"SELECT 'a''b;c', 'back\';",
            r"SELECT U&'d\0061t;';",
        ]
    );
}

#[test]
fn dollar_quoted_bodies_with_tags() {
    let sql = "SELECT $$ ; VACUUM; $$;\n\
               SELECT $fn$ a; $$ still inside; $fn$;\n\
               SELECT $a$ $b$ ; $b$ $a$;";
    assert_eq!(
        texts(sql),
        [
            "SELECT $$ ; VACUUM; $$;",
            "SELECT $fn$ a; $$ still inside; $fn$;",
            "SELECT $a$ $b$ ; $b$ $a$;"
        ]
    );
}

#[test]
fn quoted_identifiers_with_semicolons_and_quotes() {
    let sql = "CREATE TABLE IF NOT EXISTS \"a;b\" (\"c\"\";\" int);\nSELECT 1;";
    assert_eq!(
        texts(sql),
        [
            "CREATE TABLE IF NOT EXISTS \"a;b\" (\"c\"\";\" int);",
            "SELECT 1;"
        ]
    );
}

#[test]
fn line_and_nested_block_comments() {
    let sql = "-- a; b\nSELECT 1 -- c; d\n;\n/* x /* y; */ z; */ SELECT /* ; */ 2;";
    assert_eq!(texts(sql), ["SELECT 1 -- c; d\n;", "SELECT /* ; */ 2;"]);
    let statements = split(sql);
    assert_eq!(statements[0].position.line, 2);
    assert_eq!(statements[1].position.column, 21);
}

#[test]
fn do_blocks_and_function_bodies() {
    let sql = "DO $$\nBEGIN\n  EXECUTE 'VACUUM'; COMMIT;\nEND\n$$;\n\
               CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $body$\n\
               BEGIN\n  NEW.a := ';'; RETURN NEW;\nEND;\n$body$;\n\
               CREATE OR REPLACE FUNCTION g(a int) RETURNS int LANGUAGE sql\n\
               BEGIN ATOMIC\n  SELECT a; SELECT a + 1;\nEND;\n\
               CREATE OR REPLACE FUNCTION h() RETURNS int LANGUAGE sql AS 'SELECT 1; SELECT 2';";
    let statements = texts(sql);
    assert_eq!(statements.len(), 4);
    assert!(statements[0].starts_with("DO $$") && statements[0].ends_with("$$;"));
    assert!(statements[2].contains("SELECT a + 1;\nEND;"));
    // Nothing in the bodies is a transaction-control or VACUUM statement.
    let found = lint("001_x.sql", sql, &LintContext::default());
    assert!(found.is_empty(), "{found:#?}");
    assert_eq!(transaction_mode(sql), TransactionMode::Wrapped);
}

#[test]
fn a_rule_with_several_actions() {
    let sql = "CREATE OR REPLACE RULE r AS ON INSERT TO t DO ALSO (NOTIFY a; NOTIFY b);\nSELECT 1;";
    assert_eq!(texts(sql).len(), 2);
}

#[test]
fn crlf_bom_and_a_missing_final_semicolon() {
    let sql = "\u{feff}SELECT 1;\r\n-- done\r\nSELECT 2\r\n";
    let statements = split(sql);
    assert_eq!(texts(sql), ["SELECT 1;", "SELECT 2"]);
    assert_eq!(statements[1].position.line, 3);
}

#[test]
fn the_text_between_statements_is_only_trivia() {
    let sql = "  ; -- a\n;/* b */SELECT 1;;  SELECT 2 ; \n";
    let statements = split(sql);
    assert_eq!(&sql[..statements[0].start], "  ; -- a\n;/* b */");
    assert_eq!(&sql[statements[0].end..statements[1].start], ";  ");
    assert_eq!(&sql[statements[1].end..], " \n");
}
