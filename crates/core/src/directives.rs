//! Comments that steer stratum.
//!
//! - `-- stratum:no-transaction`, before the first statement: the file runs
//!   outside a transaction, one statement at a time.
//! - `-- stratum:allow <rule-id>[, <rule-id>…]`: silences those lint rules
//!   on the statement that follows the comment (or on the statement the
//!   comment sits in, or ends the line of).
//! - `-- stratum:allow-file <rule-id>[, <rule-id>…]`, before the first
//!   statement: silences those rules on the whole file.
//!
//! Only `--` comments count, found by squawk's lexer, so the same words in
//! a string or a dollar-quoted body are not directives. A directive that is
//! misspelt, misplaced or names an unknown rule is reported, never ignored:
//! a silently ignored `no-transaction` would run the file in a transaction.

use crate::lint::RULES;
use crate::statements::Parsed;

/// The directives of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    pub no_transaction: bool,
    /// Rules silenced on statements, ordered by statement; `statement`
    /// indexes the statements that [`crate::statements::split`] returns.
    pub allows: Vec<Allow>,
    /// Rules silenced on the whole file.
    pub allow_file: Vec<&'static str>,
    pub problems: Vec<DirectiveProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    pub statement: usize,
    pub rule: &'static str,
}

/// A directive comment that does not do what it seems to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveProblem {
    /// Byte offset of the comment.
    pub offset: usize,
    pub kind: ProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// `-- stratum:allow` with an id that is not a rule, or with none.
    UnknownRule(String),
    /// `-- stratum:<word>` where `<word>` is not a directive.
    UnknownDirective(String),
    /// `-- stratum:no-transaction` after the first statement.
    NoTransactionAfterStatement,
    /// `-- stratum:allow` with no statement after it.
    AllowWithoutStatement,
    /// `-- stratum:allow-file` after the first statement.
    AllowFileAfterStatement,
}

impl Directives {
    /// True when `rule` is silenced on the statement with index `statement`.
    pub fn is_allowed(&self, statement: usize, rule: &str) -> bool {
        // Asked for every rule on every statement, so not a linear scan.
        let first = self
            .allows
            .partition_point(|allow| allow.statement < statement);
        self.allows[first..]
            .iter()
            .take_while(|allow| allow.statement == statement)
            .any(|allow| allow.rule == rule)
    }
}

/// The directives of `sql`.
pub fn directives(sql: &str) -> Directives {
    from_parsed(&Parsed::new(sql))
}

pub(crate) fn from_parsed(parsed: &Parsed) -> Directives {
    let sql = parsed.sql;
    let mut found = Directives::default();
    let first_statement = parsed.spans.first().map_or(usize::MAX, |span| span.start);
    for comment in parsed.comments.iter().filter(|comment| comment.line) {
        let text = &sql[comment.start..comment.end];
        let Some(directive) = directive_text(text) else {
            continue;
        };
        let offset = comment.start;
        let mut problem = |kind| found.problems.push(DirectiveProblem { offset, kind });
        let (word, rest) = directive
            .split_once(char::is_whitespace)
            .unwrap_or((directive, ""));
        match word {
            "no-transaction" if rest.trim().is_empty() => {
                if comment.start < first_statement {
                    found.no_transaction = true;
                } else {
                    problem(ProblemKind::NoTransactionAfterStatement);
                }
            }
            "allow" => {
                let ids = allowed_ids(rest);
                if ids.is_empty() {
                    problem(ProblemKind::UnknownRule(String::new()));
                    continue;
                }
                let Some(statement) = statement_for(parsed, comment.start) else {
                    problem(ProblemKind::AllowWithoutStatement);
                    continue;
                };
                for id in ids {
                    match RULES.iter().find(|(rule, _)| *rule == id) {
                        Some((rule, _)) => found.allows.push(Allow { statement, rule }),
                        None => problem(ProblemKind::UnknownRule(id.to_owned())),
                    }
                }
            }
            "allow-file" => {
                let ids = allowed_ids(rest);
                if ids.is_empty() {
                    problem(ProblemKind::UnknownRule(String::new()));
                    continue;
                }
                if comment.start >= first_statement {
                    problem(ProblemKind::AllowFileAfterStatement);
                    continue;
                }
                for id in ids {
                    match RULES.iter().find(|(rule, _)| *rule == id) {
                        Some((rule, _)) => found.allow_file.push(rule),
                        None => problem(ProblemKind::UnknownRule(id.to_owned())),
                    }
                }
            }
            _ => problem(ProblemKind::UnknownDirective(directive.to_owned())),
        }
    }
    // Comments come in file order, so this is already sorted; `is_allowed`
    // depends on it.
    found.allows.sort_by_key(|allow| allow.statement);
    found
}

/// What follows `-- stratum:` in a line comment, trimmed.
fn directive_text(comment: &str) -> Option<&str> {
    let body = comment.strip_prefix("--")?.trim_start();
    Some(body.strip_prefix("stratum:")?.trim())
}

/// The rule ids of an allow directive: separated by commas or spaces, up to
/// an optional `--` that starts an explanation.
fn allowed_ids(list: &str) -> Vec<&str> {
    let list = list.split_once("--").map_or(list, |(ids, _)| ids);
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|id| !id.is_empty())
        .collect()
}

/// The statement an allow comment at `offset` speaks of: the one it sits
/// in; else the one whose line it ends (`DROP TABLE t; -- stratum:allow …`);
/// else the next one.
fn statement_for(parsed: &Parsed, offset: usize) -> Option<usize> {
    if let Some(index) = parsed.statement_at(offset) {
        return Some(index);
    }
    let next = parsed.spans.partition_point(|span| span.end <= offset);
    if let Some(previous) = next.checked_sub(1) {
        let between = &parsed.sql[parsed.spans[previous].end..offset];
        if !between.contains('\n') {
            return Some(previous);
        }
    }
    (next < parsed.spans.len()).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(sql: &str) -> Vec<(usize, &'static str)> {
        directives(sql)
            .allows
            .into_iter()
            .map(|allow| (allow.statement, allow.rule))
            .collect()
    }

    fn problems(sql: &str) -> Vec<ProblemKind> {
        directives(sql)
            .problems
            .into_iter()
            .map(|p| p.kind)
            .collect()
    }

    #[test]
    fn no_transaction_before_the_first_statement() {
        let sql = "-- create the index without locking writes\n\
                   --stratum:no-transaction\n\
                   CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);";
        let found = directives(sql);
        assert!(found.no_transaction);
        assert!(found.problems.is_empty());
    }

    #[test]
    fn no_transaction_after_a_statement_is_refused_not_ignored() {
        let found = directives("SELECT 1;\n-- stratum:no-transaction\nVACUUM;");
        assert!(!found.no_transaction);
        assert_eq!(
            found.problems,
            [DirectiveProblem {
                offset: 10,
                kind: ProblemKind::NoTransactionAfterStatement
            }]
        );
    }

    #[test]
    fn directives_in_strings_and_block_comments_do_not_count() {
        let sql = "SELECT '-- stratum:no-transaction';\n\
                   /* -- stratum:allow bogus */\n\
                   DO $$ BEGIN -- stratum:allow bogus\n END $$;";
        assert_eq!(directives(sql), Directives::default());
    }

    #[test]
    fn allow_speaks_of_the_next_statement() {
        let sql = "SELECT 1;\n-- stratum:allow drop-if-exists\n\nDROP TABLE t;";
        assert_eq!(allows(sql), [(1, "drop-if-exists")]);
        assert!(directives(sql).is_allowed(1, "drop-if-exists"));
        assert!(!directives(sql).is_allowed(0, "drop-if-exists"));
    }

    #[test]
    fn allow_at_the_end_of_a_line_speaks_of_that_line() {
        let sql = "DROP TABLE t; -- stratum:allow drop-if-exists\nDROP TABLE u;";
        assert_eq!(allows(sql), [(0, "drop-if-exists")]);
    }

    #[test]
    fn allow_inside_a_statement_speaks_of_it() {
        let sql = "ALTER TABLE t\n  -- stratum:allow renaming-column\n  RENAME COLUMN a TO b;";
        assert_eq!(allows(sql), [(0, "renaming-column")]);
    }

    #[test]
    fn several_ids_and_an_explanation() {
        let sql =
            "-- stratum:allow drop-if-exists, renaming-table -- gone since 2021\nDROP TABLE t;";
        assert_eq!(allows(sql), [(0, "drop-if-exists"), (0, "renaming-table")]);
    }

    #[test]
    fn unknown_ids_and_directives_are_problems() {
        assert_eq!(
            problems("-- stratum:allow drop-if-exist\nDROP TABLE t;"),
            [ProblemKind::UnknownRule("drop-if-exist".into())]
        );
        assert_eq!(
            problems("-- stratum:allow\nDROP TABLE t;"),
            [ProblemKind::UnknownRule(String::new())]
        );
        assert_eq!(
            problems("-- stratum:no-transactions\nVACUUM;"),
            [ProblemKind::UnknownDirective("no-transactions".into())]
        );
        assert_eq!(
            problems("SELECT 1;\n-- stratum:allow drop-if-exists\n"),
            [ProblemKind::AllowWithoutStatement]
        );
    }

    #[test]
    fn allow_file_in_the_leading_comments_silences_the_whole_file() {
        let sql = "-- Migration 007\n-- stratum:allow-file insert-on-conflict, drop-if-exists\n\
                   INSERT INTO t VALUES (1);\nDROP TABLE u;\nCREATE TABLE v (a int);";
        let found = directives(sql);
        assert_eq!(found.allow_file, ["insert-on-conflict", "drop-if-exists"]);
        assert!(found.problems.is_empty());
        let rules: Vec<&str> = crate::lint::lint("007_x.sql", sql, &Default::default())
            .into_iter()
            .map(|d| d.rule)
            .collect();
        assert_eq!(rules, ["create-if-not-exists"]);
    }

    #[test]
    fn allow_file_after_a_statement_or_naming_nothing_is_a_problem() {
        let late = directives("SELECT 1;\n-- stratum:allow-file drop-if-exists\nDROP TABLE t;");
        assert!(late.allow_file.is_empty());
        assert_eq!(
            problems("SELECT 1;\n-- stratum:allow-file drop-if-exists\nDROP TABLE t;"),
            [ProblemKind::AllowFileAfterStatement]
        );
        assert_eq!(
            problems("-- stratum:allow-file drop-if-exist\nDROP TABLE t;"),
            [ProblemKind::UnknownRule("drop-if-exist".into())]
        );
    }

    #[test]
    fn ordinary_comments_are_not_directives() {
        assert_eq!(
            directives("-- stratum makes this idempotent\n-- allow: nothing\nSELECT 1;"),
            Directives::default()
        );
    }
}
