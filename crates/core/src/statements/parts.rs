//! A large file parsed in parts, side by side on the machine's cores.
//!
//! The file is cut after a top-level `;` near each share of its length, and
//! each part is parsed as a file of its own. That gives the trees and errors
//! of one parse of the whole file only when squawk's parser, parsing the
//! whole, also ends a statement at each cut; it does not always: a
//! `BEGIN ATOMIC` body or `CREATE SCHEMA`'s element list goes on past a `;`.
//! So each cut is checked: the part's last statement is parsed again
//! together with the statements after the cut, and must come out the same
//! and end at the cut. When a cut fails, the file is parsed whole.
//!
//! The check leans on how far squawk's parser looks ahead: never more than
//! [`LOOKAHEAD`] tokens past the one it is at, and never past a `;` when
//! scanning brackets or dotted names. The tests compare the parts against
//! the whole on the corpus and on generated files.

use std::ops::Range;

use rowan::{GreenNode, GreenNodeData, NodeOrToken};
use squawk_syntax::ast::SourceFile;
use squawk_syntax::syntax_error::SyntaxError;
use squawk_syntax::{Parse, SyntaxKind, SyntaxNode};

use super::Span;
use crate::green;

/// One parsed part of a file.
pub(super) struct Tree {
    /// Where the part starts in the file; the tree counts from there.
    pub base: usize,
    pub root: SyntaxNode,
    /// squawk's errors in the part, sorted, when they were asked for.
    pub errors: Vec<SyntaxError>,
}

/// The green trees of a parsed file, owned until the file's [`super::Parsed`]
/// is dropped. Freeing a large file's trees takes millions of `free` calls,
/// a tenth of its lint; a thread of its own does that while the caller goes
/// on with the findings.
#[derive(Default)]
pub(super) struct Trees {
    greens: Vec<GreenNode>,
    len: usize,
}

impl Trees {
    pub fn keep(&mut self, root: &SyntaxNode) {
        let green = root.green().into_owned();
        self.len += usize::from(green.text_len());
        self.greens.push(green);
    }

    /// Frees the trees, on a thread of their own when they are large enough
    /// to be parsed in parts (never in WebAssembly). The caller must hold no
    /// node of them any more, or the freeing happens with its last node.
    pub fn release(self) {
        if parts_for(self.len) < 2 {
            return;
        }
        let greens = self.greens;
        // Without a thread, they are freed here as usual.
        let _ = std::thread::Builder::new()
            .name("stratum-free".into())
            .spawn(move || drop(greens));
    }
}

/// A part is worth a thread from this size on; smaller files, nearly all
/// migrations, are parsed whole on the calling thread.
const MIN_PART: usize = 128 * 1024;

/// More parts than this gain little and cost a seam check each.
const MAX_PARTS: usize = 8;

/// Tokens the parser may look past the one it is at: `nth(3)`.
const LOOKAHEAD: usize = 4;

/// A seam whose statements span more than this is not checked; the file
/// is parsed whole instead.
const MAX_WINDOW: usize = 1024 * 1024;

/// How many spans past each share of the file to look for a clean cut.
const CANDIDATES: usize = 16;

/// The parser recurses; within the nesting budget it needs far less.
const STACK: usize = 8 * 1024 * 1024;

/// How many parts to parse `len` bytes in: one per core, each at least
/// [`MIN_PART`]. Always one in WebAssembly.
pub(super) fn parts_for(len: usize) -> usize {
    if cfg!(target_family = "wasm") || len < 2 * MIN_PART {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    cores.min(MAX_PARTS).min(len / MIN_PART).max(1)
}

/// squawk's trees for `sql`, in file order: one per part, or one for the
/// whole file. `token_spans` are the lexer's statement spans.
pub(super) fn parse(sql: &str, token_spans: &[Span], with_errors: bool, parts: usize) -> Vec<Tree> {
    let cuts = cuts(sql, token_spans, parts);
    if cuts.is_empty() {
        return vec![whole(sql, with_errors)];
    }
    let ranges: Vec<Range<usize>> = std::iter::once(0)
        .chain(cuts.iter().copied())
        .zip(cuts.iter().copied().chain(std::iter::once(sql.len())))
        .map(|(start, end)| start..end)
        .collect();
    let trees: Vec<Tree> = parse_all(sql, &ranges, with_errors)
        .into_iter()
        .zip(&ranges)
        .map(|((parse, errors), range)| Tree {
            base: range.start,
            root: parse.syntax_node(),
            errors,
        })
        .collect();
    let seams_hold = trees
        .iter()
        .take(trees.len() - 1)
        .all(|before| seam_holds(sql, token_spans, before, with_errors));
    if seams_hold {
        trees
    } else {
        vec![whole(sql, with_errors)]
    }
}

fn whole(sql: &str, with_errors: bool) -> Tree {
    let (parse, errors) = parse_text(sql, with_errors);
    Tree {
        base: 0,
        root: parse.syntax_node(),
        errors,
    }
}

fn parse_text(text: &str, with_errors: bool) -> (Parse<SourceFile>, Vec<SyntaxError>) {
    let parse = SourceFile::parse(text);
    // The validation behind `errors()` walks the whole tree again, so it
    // runs here, on the part's own thread.
    let errors = if with_errors {
        parse.errors()
    } else {
        Vec::new()
    };
    (parse, errors)
}

/// Parses the first range here and the others on threads of their own (a
/// range whose thread cannot be had is parsed here too).
fn parse_all(
    sql: &str,
    ranges: &[Range<usize>],
    with_errors: bool,
) -> Vec<(Parse<SourceFile>, Vec<SyntaxError>)> {
    let Some((first, rest)) = ranges.split_first() else {
        return Vec::new();
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = rest
            .iter()
            .map(|range| {
                let text = &sql[range.clone()];
                std::thread::Builder::new()
                    .name("stratum-parse".into())
                    .stack_size(STACK)
                    .spawn_scoped(scope, move || parse_text(text, with_errors))
            })
            .collect();
        let mut parsed = vec![parse_text(&sql[first.clone()], with_errors)];
        for (worker, range) in workers.into_iter().zip(rest) {
            parsed.push(match worker {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => parse_text(&sql[range.clone()], with_errors),
            });
        }
        parsed
    })
}

/// Byte offsets just past a top-level `;`, near each share of the file,
/// ascending; empty when the file is parsed whole.
fn cuts(sql: &str, token_spans: &[Span], parts: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = Vec::new();
    for share in 1..parts {
        let target = sql.len() / parts * share;
        let first = token_spans.partition_point(|span| span.end < target);
        let cut = token_spans
            .iter()
            .skip(first)
            .take(CANDIDATES)
            .map(|span| span.end)
            .find(|&end| {
                cuts.last().is_none_or(|&last| last < end) && clean_cut(sql.as_bytes(), end)
            });
        cuts.extend(cut);
    }
    cuts
}

/// Just past a `;` with whitespace after it: no token of the next part is
/// glued to it, and something follows.
fn clean_cut(sql: &[u8], at: usize) -> bool {
    at > 0
        && sql.get(at - 1) == Some(&b';')
        && sql.get(at).is_some_and(|byte| byte.is_ascii_whitespace())
}

/// Whether the parse of the whole file would end a statement at the end of
/// `before`, with the same tree and errors for that statement.
fn seam_holds(sql: &str, token_spans: &[Span], before: &Tree, with_errors: bool) -> bool {
    let root = before.root.green();
    let part_len = usize::from(root.text_len());
    let cut = before.base + part_len;
    let Some(NodeOrToken::Node(last)) = root.children().next_back() else {
        return false;
    };
    if green::last_significant(last).map(|(_, kind)| kind) != Some(SyntaxKind::SEMICOLON) {
        return false;
    }
    let last_start = part_len - usize::from(last.text_len());
    // An error at the cut could sort differently against the next part's.
    if before
        .errors
        .iter()
        .any(|error| usize::from(error.range().start()) >= part_len)
    {
        return false;
    }
    // The window opens at a statement far enough before the cut that no
    // decision before it looked past the cut, and closes far enough after.
    let start = before.base + window_start(root.as_ref(), part_len);
    let after = token_spans.partition_point(|span| span.start < cut);
    let end = token_spans
        .get(after + 1)
        .or(token_spans.get(after))
        .map_or(sql.len(), |span| span.end);
    if end - start > MAX_WINDOW {
        return false;
    }
    let (window, window_errors) = parse_text(&sql[start..end], with_errors);
    let window_root = window.syntax_node();
    let window_green = window_root.green();
    let relative_start = before.base + last_start - start;
    let relative_cut = cut - start;
    let mut offset = 0usize;
    let mut same = false;
    for child in window_green.children() {
        let child_start = offset;
        offset += usize::from(child.text_len());
        if offset < relative_cut {
            continue;
        }
        same = offset == relative_cut
            && child_start == relative_start
            && child.as_node().is_some_and(|node| *node == last);
        break;
    }
    if !same || !with_errors {
        return same;
    }
    let ours = before
        .errors
        .iter()
        .filter(|error| usize::from(error.range().start()) >= last_start)
        .map(|error| (before.base + usize::from(error.range().start()), error));
    let theirs = window_errors
        .iter()
        .filter(|error| {
            let at = usize::from(error.range().start());
            relative_start <= at && at < relative_cut
        })
        .map(|error| (start + usize::from(error.range().start()), error));
    ours.map(|(at, error)| (at, error.message(), error.range().len()))
        .eq(theirs.map(|(at, error)| (at, error.message(), error.range().len())))
}

/// Where, in a part of `len` bytes, the window before its end opens: at a
/// top-level statement with at least [`LOOKAHEAD`] tokens from it to the
/// end and a whole statement (or nothing) before it, or at the part's start.
fn window_start(root: &GreenNodeData, len: usize) -> usize {
    let mut tokens = 0;
    let mut end = len;
    let mut children = root.children().rev();
    while let Some(child) = children.next() {
        end -= usize::from(child.text_len());
        let NodeOrToken::Node(node) = child else {
            tokens += usize::from(!is_trivia(child.kind()));
            continue;
        };
        tokens += count_significant(node, LOOKAHEAD.saturating_sub(tokens));
        // A token of no statement just before would say the parser was
        // somewhere other than between statements.
        let after_statement = children
            .clone()
            .find(|before| !is_trivia(before.kind()))
            .is_none_or(|before| before.as_node().is_some());
        if tokens >= LOOKAHEAD && after_statement {
            return end;
        }
    }
    0
}

/// The tokens of `node` that are not whitespace or comments, counted up to
/// `enough`.
fn count_significant(node: &GreenNodeData, enough: usize) -> usize {
    let mut count = 0;
    for child in node.children() {
        if count >= enough {
            break;
        }
        count += match child {
            NodeOrToken::Node(inner) => count_significant(inner, enough - count),
            NodeOrToken::Token(token) => usize::from(!is_trivia(token.kind())),
        };
    }
    count
}

fn is_trivia(kind: rowan::SyntaxKind) -> bool {
    green::kind(kind).is_trivia()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::statements::scan::scan;
    use crate::statements::{Parsed, SyntaxProblem};

    /// A statement: its span, and each top-level node's kind and text.
    type Outline = (usize, usize, Vec<(SyntaxKind, String)>);

    /// What a parse gives the rest of stratum, in the file's offsets.
    fn outline(parsed: &Parsed) -> (Vec<Outline>, Vec<SyntaxProblem>) {
        let spans = parsed
            .spans
            .iter()
            .map(|span| {
                let nodes = span
                    .nodes
                    .iter()
                    .map(|node| (node.kind(), node.text().to_string()))
                    .collect();
                (span.start, span.end, nodes)
            })
            .collect();
        (spans, parsed.errors.clone())
    }

    fn assert_same_in_parts(sql: &str) {
        let whole = outline(&Parsed::in_parts(sql, true, 1));
        let spans_only = outline(&Parsed::in_parts(sql, false, 1));
        for parts in [2, 3, 5, 8] {
            assert_eq!(
                outline(&Parsed::in_parts(sql, true, parts)),
                whole,
                "{parts} parts of {sql:?}"
            );
            assert_eq!(
                outline(&Parsed::in_parts(sql, false, parts)),
                spans_only,
                "{parts} parts of {sql:?}"
            );
        }
    }

    /// How many trees `sql` is parsed into when asked for `parts`.
    fn trees(sql: &str, parts: usize) -> usize {
        parse(sql, &scan(sql).spans, true, parts).len()
    }

    const PLAIN: &str = "CREATE TABLE IF NOT EXISTS a (id int PRIMARY KEY);\n\
                         INSERT INTO a VALUES (1) ON CONFLICT DO NOTHING;\n\
                         -- between\n\
                         ALTER TABLE a ADD COLUMN IF NOT EXISTS b text;\n\
                         DROP INDEX IF EXISTS a_b;\n";

    #[test]
    fn plain_statements_are_parsed_in_parts() {
        let sql = PLAIN.repeat(20);
        assert_eq!(trees(&sql, 2), 2);
        assert_eq!(trees(&sql, 5), 5);
        assert_same_in_parts(&sql);
    }

    #[test]
    fn a_statement_that_goes_on_past_a_semicolon_is_parsed_whole() {
        // squawk reads the second CREATE TABLE as one of the schema's
        // elements, and the atomic body's statements as the function's.
        let schema = "CREATE SCHEMA s CREATE TABLE a (x int); CREATE TABLE b (y int);\n";
        let atomic = "CREATE FUNCTION f() RETURNS int LANGUAGE sql\n\
                      BEGIN ATOMIC SELECT 1; SELECT 2; SELECT 3; SELECT 4; END;\n";
        for odd in [schema, atomic] {
            let sql = odd.repeat(30);
            assert_same_in_parts(&sql);
            let mixed = format!("{}{}{}", PLAIN.repeat(5), odd.repeat(3), PLAIN.repeat(5));
            assert_same_in_parts(&mixed);
        }
        // Cut inside the body: the part before it ends without its END.
        assert_eq!(trees(&atomic.repeat(2), 2), 1);
    }

    #[test]
    fn broken_statements_give_the_same_errors_in_parts() {
        let broken = [
            "SELEC 1;\n",
            "SELECT (;\n",
            "WITH a AS (SELECT 1); SELECT 2;\n",
            "SELECT 1);\n",
            "CREATE TABLE left (a int);\n",
            "CREATE TABLE t (a int\n",
            "ALTER TABLE t ADD;\n",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT FROM WHERE $$;\n",
            "SELECT 1 SELECT 2;\n",
            "INSERT INTO t VALUES (1),;\n",
            "SELECT 'unterminated;\n",
            ";;\n",
        ];
        for statement in broken {
            let sql = format!(
                "{}{}{}",
                PLAIN.repeat(3),
                statement.repeat(4),
                PLAIN.repeat(3)
            );
            assert_same_in_parts(&sql);
        }
        assert_same_in_parts(&broken.concat().repeat(5));
    }

    #[test]
    fn corpus_files_give_the_same_parse_in_parts() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
        let mut files = 0;
        for project in std::fs::read_dir(&corpus).expect("the corpus folder") {
            let project = project.expect("a corpus entry").path();
            if !project.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&project).expect("a project folder") {
                let path = file.expect("a file").path();
                if path.extension().is_some_and(|ext| ext == "sql") {
                    let sql = std::fs::read_to_string(&path).expect("a UTF-8 file");
                    assert_same_in_parts(&sql);
                    files += 1;
                }
            }
        }
        assert!(files > 50, "only {files} corpus files");
    }

    const STATEMENTS: &[&str] = &[
        "CREATE TABLE t (a int)",
        "CREATE SCHEMA s CREATE TABLE u (b int)",
        "CREATE SCHEMA s",
        "CREATE INDEX i ON t (a)",
        "CREATE VIEW v AS SELECT 1",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1;",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT ( $$",
        "END",
        "BEGIN",
        "COMMIT",
        "SELECT 1",
        "SELECT (1",
        ")",
        "SELECT 1 UNION",
        "WITH a AS (SELECT 1)",
        "INSERT INTO t VALUES (1)",
        "ALTER TABLE t ADD COLUMN b int",
        "CREATE RULE r AS ON INSERT TO t DO ALSO (NOTIFY a; NOTIFY b)",
        "DO $$ BEGIN END $$",
        "SELEC 1",
        "VACUUM",
        "CASE WHEN",
        "-- c\n",
        "/* c */",
        "'x",
        "",
    ];

    fn statements() -> impl Strategy<Value = String> {
        let separator = prop::sample::select(&[";\n", "; ", ";", ";;\n", "\n", " "][..]);
        prop::collection::vec((prop::sample::select(STATEMENTS), separator), 0..40).prop_map(
            |pieces| {
                pieces
                    .into_iter()
                    .map(|(statement, separator)| format!("{statement}{separator}"))
                    .collect()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn any_statements_give_the_same_parse_in_parts(sql in statements()) {
            assert_same_in_parts(&sql);
        }
    }
}
