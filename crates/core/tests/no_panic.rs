//! Property tests: `split`, `lint`, `directives` and `transaction_mode`
//! never panic, on arbitrary text and on SQL-ish fragments glued together
//! at random, and the statement spans always tile the file: in order, not
//! overlapping, on character boundaries, with only whitespace, comments and
//! `;` between them.

use proptest::prelude::*;
use squawk_lexer::TokenKind;
use stratum_core::directives::directives;
use stratum_core::lint::{LintContext, lint, transaction_mode};
use stratum_core::position::line_column_at_byte;
use stratum_core::statements::split;

/// Pieces that open and close strings, comments, dollar quotes, brackets
/// and bodies, in any order.
const FRAGMENTS: &[&str] = &[
    ";",
    " ",
    "\n",
    "\r\n",
    "'",
    "''",
    "\"",
    "E'",
    "\\'",
    "\\",
    "$$",
    "$fn$",
    "$1",
    "/*",
    "*/",
    "--",
    "-- stratum:no-transaction\n",
    "-- stratum:allow drop-if-exists\n",
    "-- stratum:allow nope\n",
    "-- stratum:",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "::",
    "é",
    "日本",
    "\u{feff}",
    "SELECT 1",
    "SELECT",
    "FROM t",
    "BEGIN",
    "BEGIN;",
    "COMMIT;",
    "END",
    "ATOMIC",
    "CASE WHEN",
    "THEN",
    "ELSE",
    "VACUUM",
    "CONCURRENTLY",
    "CREATE TABLE t (a int)",
    "CREATE TABLE IF NOT EXISTS",
    "CREATE INDEX i ON t (a)",
    "CREATE OR REPLACE FUNCTION f()",
    "RETURNS int LANGUAGE sql",
    "AS",
    "DO",
    "INSERT INTO migrations VALUES (1)",
    "ALTER TABLE t",
    "ADD COLUMN b int NOT NULL",
    "RENAME TO u",
    "DROP TABLE",
    "IF EXISTS",
    "NOT",
    "AND",
    "OR",
    "+",
    "-",
    "U&'",
    "X'",
    "B'",
    "\"\"",
    "\t",
    "\u{0}",
];

fn sqlish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..60).prop_map(|parts| parts.concat())
}

fn check(sql: &str) {
    let statements = split(sql);
    let mut previous_end = 0;
    for statement in &statements {
        assert!(previous_end <= statement.start, "out of order: {sql:?}");
        assert!(statement.start < statement.end, "empty statement: {sql:?}");
        assert!(sql.is_char_boundary(statement.start) && sql.is_char_boundary(statement.end));
        assert_eq!(statement.text, &sql[statement.start..statement.end]);
        assert_eq!(
            statement.position,
            line_column_at_byte(sql, statement.start)
        );
        assert_only_trivia(&sql[previous_end..statement.start], sql);
        previous_end = statement.end;
    }
    assert_only_trivia(&sql[previous_end..], sql);

    let found = lint("001_fuzz.sql", sql, &LintContext::default());
    for pair in found.windows(2) {
        assert!((pair[0].line, pair[0].column) <= (pair[1].line, pair[1].column));
    }
    assert!(found.iter().all(|d| d.line >= 1 && d.column >= 1));
    let _ = directives(sql);
    let _ = transaction_mode(sql);
}

/// Text outside statements lexes to whitespace, comments and `;` only.
fn assert_only_trivia(between: &str, sql: &str) {
    let mut offset = 0;
    for token in squawk_lexer::tokenize(between) {
        let text = &between[offset..offset + token.len as usize];
        offset += token.len as usize;
        assert!(
            matches!(
                token.kind,
                TokenKind::Whitespace
                    | TokenKind::LineComment
                    | TokenKind::BlockComment { .. }
                    | TokenKind::Semi
            ),
            "{text:?} between statements of {sql:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text(sql in "(?s).{0,400}") {
        check(&sql);
    }

    #[test]
    fn sql_fragments(sql in sqlish()) {
        check(&sql);
    }
}

#[test]
fn pathological_nesting_is_refused_not_a_crash() {
    for sql in [
        format!("SELECT {}1{};", "(".repeat(100_000), ")".repeat(100_000)),
        format!("SELECT {}1;", "1 + ".repeat(100_000)),
        format!("SELECT {}true;", "NOT ".repeat(100_000)),
        format!(
            "SELECT {}1{};",
            "CASE WHEN true THEN ".repeat(20_000),
            " END".repeat(20_000)
        ),
        format!("SELECT {}1{};", "ARRAY[".repeat(50_000), "]".repeat(50_000)),
        format!("SELECT {}b;", "a.".repeat(100_000)),
        format!("{}SELECT 1;", "SELECT 1 UNION ALL ".repeat(50_000)),
        format!(
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT {}1{} $$;",
            "f(".repeat(50_000),
            ")".repeat(50_000)
        ),
    ] {
        check(&sql);
        let found = lint("001_deep.sql", &sql, &LintContext::default());
        assert!(
            found.iter().any(|d| d.rule == "nesting-too-deep"),
            "{}",
            &sql[..40]
        );
    }
}

/// The deepest text the budget lets through still fits a modest stack.
/// A release build needs under 384 KiB; this debug build gets 4 MiB. If a
/// squawk upgrade recurses more, this aborts the test run.
#[test]
fn nesting_within_the_budget_fits_the_stack() {
    let cases = [
        format!("SELECT {}true;", "NOT ".repeat(1000)),
        format!("SELECT {}1;", "1 + ".repeat(1000)),
        format!("SELECT {}1{};", "(".repeat(120), ")".repeat(120)),
        format!("SELECT {}1{};", "f(".repeat(120), ")".repeat(120)),
        format!("SELECT {}1{};", "(SELECT ".repeat(120), ")".repeat(120)),
        format!(
            "SELECT {}1{};",
            "CASE WHEN true THEN ".repeat(120),
            " END".repeat(120)
        ),
    ];
    let handle = std::thread::Builder::new()
        .stack_size(4 << 20)
        .spawn(move || {
            for sql in &cases {
                let found = lint("001_deep.sql", sql, &LintContext::default());
                assert!(
                    !found.iter().any(|d| d.rule == "nesting-too-deep"),
                    "{}",
                    &sql[..30]
                );
                assert_eq!(split(sql).len(), 1);
            }
        })
        .unwrap();
    handle.join().unwrap();
}
