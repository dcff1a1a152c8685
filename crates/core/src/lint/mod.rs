//! Lint for migration files: what would fail, repeat badly or lock a live
//! table, found before anything runs.
//!
//! Errors stop `migrate` before it touches the database; warnings are
//! printed. Every rule reads squawk's syntax tree, so words in strings,
//! comments and dollar-quoted bodies never trigger one. A rule can be
//! silenced on one statement with `-- stratum:allow <rule-id>` on the line
//! before it, or on a whole file with `-- stratum:allow-file <rule-id>` in
//! its leading comments (see [`crate::directives`]); a project sets a rule's
//! level with [`RuleLevels`], and marks files written before the rules as
//! baselined (their findings are warnings at most).

pub mod config;
pub mod immutable;
pub mod many;
pub(crate) mod rules;

use std::fmt;

use serde::Serialize;
use squawk_syntax::SyntaxKind;

use crate::directives::{self, Directives, ProblemKind};
use crate::statements::{LineIndex, Parsed, Refusal, Span};
pub use config::{DEFAULT_LEVELS, Level, RuleLevels};
pub use many::each_file;
use rules::{Check, CreatedTables, Finding};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

/// One finding, at a 1-based line and column (counted in characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub severity: Severity,
    pub rule: &'static str,
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// The file is at or below the project's baseline: written before the
    /// rules, so its findings are warnings at most.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub baselined: bool,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}[{}]: {}\n  help: {}",
            self.file,
            self.line,
            self.column,
            self.severity.as_str(),
            self.rule,
            self.message,
            self.help
        )
    }
}

/// Where the engine keeps its tracking table, which migrations must not
/// write, and how the project tunes the rules for the file at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LintContext<'a> {
    pub tracking_table: &'a str,
    pub tracking_schema: &'a str,
    pub levels: &'a RuleLevels,
    /// The file is at or below the baseline: errors become warnings.
    pub baselined: bool,
}

impl Default for LintContext<'static> {
    fn default() -> Self {
        Self {
            tracking_table: "migrations",
            tracking_schema: "public",
            levels: &DEFAULT_LEVELS,
            baselined: false,
        }
    }
}

/// How the engine must run a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionMode {
    /// In one transaction that the engine opens and commits.
    Wrapped,
    /// The file is one `BEGIN … COMMIT` of its own: run it as it is, with no
    /// `BEGIN`/`COMMIT` from the engine, and insert the tracking row just
    /// before the final `COMMIT`, which starts at byte `commit_start`. Its
    /// body, without the wrapper, starts at byte `body_start`.
    AlreadyWrapped {
        body_start: usize,
        commit_start: usize,
    },
    /// `-- stratum:no-transaction`: statement by statement, each committed
    /// on its own.
    NoTransaction,
}

/// Every rule id and its severity, for validating allow comments and for
/// the docs.
pub const RULES: &[(&str, Severity)] = &[
    (rules::syntax_error::ID, Severity::Error),
    (NESTING_TOO_DEEP, Severity::Error),
    (UNKNOWN_RULE, Severity::Error),
    (UNKNOWN_DIRECTIVE, Severity::Error),
    (MISPLACED_DIRECTIVE, Severity::Error),
    (EMPTY_MIGRATION, Severity::Error),
    (rules::create_if_not_exists::ID, Severity::Error),
    (rules::no_tracking_insert::ID, Severity::Error),
    (rules::not_in_transaction::ID, Severity::Error),
    (rules::no_transaction_idempotent::ID, Severity::Error),
    (rules::transaction_control::ID, Severity::Error),
    (immutable::ID, Severity::Error),
    (rules::insert_on_conflict::ID, Severity::Warning),
    (rules::drop_if_exists::ID, Severity::Warning),
    (
        rules::require_concurrent_index_creation::ID,
        Severity::Warning,
    ),
    (rules::adding_required_field::ID, Severity::Warning),
    (rules::changing_column_type::ID, Severity::Warning),
    (rules::adding_not_nullable_field::ID, Severity::Warning),
    (rules::constraint_missing_not_valid::ID, Severity::Warning),
    (rules::renaming_column::ID, Severity::Warning),
    (rules::renaming_table::ID, Severity::Warning),
];

const NESTING_TOO_DEEP: &str = "nesting-too-deep";
const UNKNOWN_RULE: &str = "unknown-rule";
const UNKNOWN_DIRECTIVE: &str = "unknown-directive";
const MISPLACED_DIRECTIVE: &str = "misplaced-directive";
const EMPTY_MIGRATION: &str = "empty-migration";

/// The severity of a rule id, if it is one.
pub fn severity_of(rule: &str) -> Option<Severity> {
    RULES
        .iter()
        .find(|(id, _)| *id == rule)
        .map(|(_, severity)| *severity)
}

/// How the engine must run `sql`.
pub fn transaction_mode(sql: &str) -> TransactionMode {
    let parsed = Parsed::new(sql);
    mode_of(&parsed, &directives::from_parsed(&parsed))
}

fn mode_of(parsed: &Parsed, directives: &Directives) -> TransactionMode {
    if directives.no_transaction {
        return TransactionMode::NoTransaction;
    }
    let kinds: Vec<Option<SyntaxKind>> = parsed.spans.iter().map(first_kind).collect();
    let opens = kinds.first().copied().flatten() == Some(SyntaxKind::BEGIN);
    let closes = kinds.last().copied().flatten() == Some(SyntaxKind::COMMIT_TRANSACTION);
    let inner = kinds
        .get(1..kinds.len().saturating_sub(1))
        .unwrap_or_default();
    let clean = !inner
        .iter()
        .any(|kind| kind.is_some_and(rules::transaction_control::is_transaction_control));
    match (parsed.spans.first(), parsed.spans.last()) {
        (Some(begin), Some(commit)) if opens && closes && clean && kinds.len() >= 2 => {
            TransactionMode::AlreadyWrapped {
                body_start: begin.end.min(commit.start),
                commit_start: commit.start,
            }
        }
        _ => TransactionMode::Wrapped,
    }
}

fn first_kind(span: &Span) -> Option<SyntaxKind> {
    span.nodes.first().map(|node| node.kind())
}

/// A file's findings and how the engine must run it, from one parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    pub mode: TransactionMode,
    /// Where each of the file's statements starts and ends, in bytes.
    pub statements: Vec<std::ops::Range<usize>>,
}

/// The diagnostics for one migration file, sorted by position.
pub fn lint(file_name: &str, sql: &str, ctx: &LintContext) -> Vec<Diagnostic> {
    check(file_name, sql, ctx).diagnostics
}

/// Lints one migration file and tells how it must run.
pub fn check(file_name: &str, sql: &str, ctx: &LintContext) -> Checked {
    checked(file_name, &Parsed::with_errors(sql), ctx)
}

fn checked(file_name: &str, parsed: &Parsed, ctx: &LintContext) -> Checked {
    let sql = parsed.sql;
    let directives = directives::from_parsed(parsed);
    let mode = mode_of(parsed, &directives);
    // (offset, rule, message, help)
    let mut found: Vec<(usize, &'static str, String, String)> = Vec::new();

    for problem in &directives.problems {
        let (rule, message, help) = directive_problem(&problem.kind);
        found.push((problem.offset, rule, message, help));
    }
    // Applied empty, a file that is filled in later is refused as changed.
    if parsed.spans.is_empty() && parsed.refusal.is_none() {
        found.push((
            0,
            EMPTY_MIGRATION,
            "the file has no statements".into(),
            "write its SQL before running migrate, or delete the file".into(),
        ));
    }

    match parsed.refusal {
        Some(Refusal::TooDeep { at }) => found.push((
            at,
            NESTING_TOO_DEEP,
            "this statement nests too deeply for stratum to check it safely".into(),
            "split the expression (a CTE, a helper function, or an IN list instead of a \
             chain of ORs) so that it nests less than about a hundred levels"
                .into(),
        )),
        // Never seen in practice; the nearest rule id is good enough.
        Some(Refusal::TooLarge) => found.push((
            0,
            NESTING_TOO_DEEP,
            "the file is larger than 4 GiB, too large to check".into(),
            "split it into several migrations".into(),
        )),
        None => {
            for finding in rules::syntax_error::findings(parsed) {
                let allowed = parsed
                    .statement_at(finding.offset)
                    .is_some_and(|index| directives.is_allowed(index, rules::syntax_error::ID));
                if !allowed {
                    found.push((
                        finding.offset,
                        rules::syntax_error::ID,
                        finding.message,
                        finding.help,
                    ));
                }
            }
            check_statements(parsed, &directives, mode, ctx, &mut found);
        }
    }

    let mut found: Vec<(usize, Severity, &'static str, String, String)> = found
        .into_iter()
        .filter(|(_, rule, _, _)| !directives.allow_file.contains(rule))
        .filter_map(|(offset, rule, message, help)| {
            let severity = match ctx.levels.severity(rule)? {
                _ if ctx.baselined => Severity::Warning,
                severity => severity,
            };
            Some((offset, severity, rule, message, help))
        })
        .collect();
    // By position; at one position errors first, then by rule id.
    found.sort_by_key(|(offset, severity, rule, _, _)| {
        (*offset, *severity == Severity::Warning, *rule)
    });
    let lines = LineIndex::new(sql);
    let diagnostics = found
        .into_iter()
        .map(|(offset, severity, rule, message, help)| {
            let position = lines.position(offset);
            Diagnostic {
                file: file_name.to_owned(),
                line: position.line,
                column: position.column,
                severity,
                rule,
                message,
                help,
                baselined: ctx.baselined,
            }
        })
        .collect();
    Checked {
        diagnostics,
        mode,
        statements: parsed
            .spans
            .iter()
            .map(|span| span.start..span.end)
            .collect(),
    }
}

fn check_statements(
    parsed: &Parsed,
    directives: &Directives,
    mode: TransactionMode,
    ctx: &LintContext,
    found: &mut Vec<(usize, &'static str, String, String)>,
) {
    let mut created = CreatedTables::default();
    let mut findings: Vec<Finding> = Vec::new();
    let last = parsed.spans.len().saturating_sub(1);
    for (index, span) in parsed.spans.iter().enumerate() {
        for node in &span.nodes {
            let live_actions = rules::live_table_actions(&created, node);
            let check = Check {
                ctx,
                mode,
                index,
                last,
                created: &created,
                live_actions: &live_actions,
            };
            for rule in rules::ALL {
                if directives.is_allowed(index, rule.id) {
                    continue;
                }
                findings.clear();
                (rule.check)(&check, node, &mut findings);
                // A node counts from the start of its part of the file.
                found.extend(findings.drain(..).map(|finding| {
                    (
                        span.base + finding.offset,
                        rule.id,
                        finding.message,
                        finding.help,
                    )
                }));
            }
        }
        // Only later statements may count on a table created here.
        for table in span.nodes.iter().filter_map(rules::created_table) {
            created.add(table);
        }
    }
}

fn directive_problem(kind: &ProblemKind) -> (&'static str, String, String) {
    let known = || {
        RULES
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match kind {
        ProblemKind::UnknownRule(id) if id.is_empty() => (
            UNKNOWN_RULE,
            "`-- stratum:allow` names no rule".into(),
            format!("name the rule to silence, one of: {}", known()),
        ),
        ProblemKind::UnknownRule(id) => (
            UNKNOWN_RULE,
            format!("`{id}` is not a stratum rule, so this allow silences nothing"),
            format!("use one of: {}", known()),
        ),
        ProblemKind::UnknownDirective(text) => (
            UNKNOWN_DIRECTIVE,
            format!("`-- stratum:{text}` is not a stratum directive"),
            "the directives are `-- stratum:no-transaction`, `-- stratum:allow <rule-id>` and \
             `-- stratum:allow-file <rule-id>`; to write a plain comment, drop the `stratum:`"
                .into(),
        ),
        ProblemKind::AllowFileAfterStatement => (
            MISPLACED_DIRECTIVE,
            "`-- stratum:allow-file` after the first statement silences nothing".into(),
            "move it to the file's leading comments, before the first statement".into(),
        ),
        ProblemKind::NoTransactionAfterStatement => (
            MISPLACED_DIRECTIVE,
            "`-- stratum:no-transaction` after the first statement is ignored, so the file \
             would run in a transaction"
                .into(),
            "move it to the top of the file, before the first statement".into(),
        ),
        ProblemKind::AllowWithoutStatement => (
            MISPLACED_DIRECTIVE,
            "`-- stratum:allow` with no statement after it silences nothing".into(),
            "put it on the line just before the statement it is about".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(sql: &str) -> Vec<&'static str> {
        lint("001_x.sql", sql, &LintContext::default())
            .into_iter()
            .map(|d| d.rule)
            .collect()
    }

    #[test]
    fn a_clean_file_has_no_diagnostics() {
        let sql = "CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, email text NOT NULL);\n\
                   CREATE INDEX IF NOT EXISTS users_email ON users (email);\n\
                   INSERT INTO users VALUES (1, 'a') ON CONFLICT DO NOTHING;";
        assert_eq!(ids(sql), Vec::<&str>::new());
    }

    #[test]
    fn diagnostics_carry_position_severity_and_help_in_order() {
        let sql = "INSERT INTO t VALUES (1);\nCREATE TABLE t (a int);";
        let found = lint("002_y.sql", sql, &LintContext::default());
        assert_eq!(found.len(), 2);
        assert_eq!(
            (
                found[0].line,
                found[0].column,
                found[0].rule,
                found[0].severity
            ),
            (1, 1, "insert-on-conflict", Severity::Warning)
        );
        assert_eq!(
            (
                found[1].line,
                found[1].column,
                found[1].rule,
                found[1].severity
            ),
            (2, 1, "create-if-not-exists", Severity::Error)
        );
        assert_eq!(found[1].file, "002_y.sql");
        assert!(found[0].help.contains("ON CONFLICT DO NOTHING"));
        assert!(
            found[1]
                .to_string()
                .starts_with("002_y.sql:2:1: error[create-if-not-exists]: ")
        );
    }

    #[test]
    fn diagnostics_serialize_with_lower_case_severity() {
        let found = lint("001_x.sql", "DROP TABLE t;", &LintContext::default());
        let json = serde_json::to_value(&found[0]).unwrap();
        assert_eq!(json["severity"], "warning");
        assert_eq!(json["rule"], "drop-if-exists");
        assert_eq!(json["line"], 1);
        assert_eq!(serde_json::to_value(Severity::Error).unwrap(), "error");
    }

    #[test]
    fn every_rule_is_listed_once() {
        for rule in rules::ALL {
            assert!(severity_of(rule.id).is_some(), "{}", rule.id);
        }
        for (index, (id, _)) in RULES.iter().enumerate() {
            assert!(!RULES[..index].iter().any(|(other, _)| other == id), "{id}");
        }
    }

    #[test]
    fn findings_are_the_same_when_the_file_is_parsed_in_parts() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
        let mut all = String::new();
        for project in ["harbor", "umami"] {
            let mut files: Vec<_> = std::fs::read_dir(corpus.join(project))
                .expect("a corpus project")
                .map(|entry| entry.expect("a corpus file").path())
                .collect();
            files.sort();
            for path in files {
                all.push_str(&std::fs::read_to_string(path).expect("a UTF-8 file"));
                all.push('\n');
            }
        }
        let ctx = LintContext::default();
        let whole = checked("all.sql", &Parsed::in_parts(&all, true, 1), &ctx);
        assert!(whole.diagnostics.len() > 100);
        for parts in [2, 3, 8] {
            let parsed = Parsed::in_parts(&all, true, parts);
            let mut bases: Vec<usize> = parsed.spans.iter().map(|span| span.base).collect();
            bases.dedup();
            assert!(bases.len() > 1, "the file was parsed whole");
            assert!(checked("all.sql", &parsed, &ctx) == whole, "{parts} parts");
        }
    }

    #[test]
    fn an_empty_or_comment_only_file_is_an_error() {
        for sql in [
            "",
            "\n\n",
            "-- Migration 006: Add X\n-- Description: \n\n",
            "/* nothing */ ;",
        ] {
            let found = lint("006_x.sql", sql, &LintContext::default());
            assert_eq!(found.len(), 1, "{sql:?}");
            assert_eq!(found[0].rule, "empty-migration");
            assert_eq!(found[0].severity, Severity::Error);
        }
        assert!(lint("006_x.sql", "SELECT 1;", &LintContext::default()).is_empty());
    }
}
