//! The statements of a migration file: where each one starts and ends.
//!
//! Boundaries come from squawk's syntax tree, never from looking for `;` in
//! the text, so a `;` inside a string (`E'\';'`, `'a'';'`), a dollar-quoted
//! body, a quoted identifier, a comment, a rule's action list or a
//! `BEGIN ATOMIC … END` body does not end a statement. A statement ends at
//! the `;` that the parser puts at its top level, or at the end of the file.
//!
//! squawk's recursive-descent parser uses the call stack, so a statement
//! nested a few thousand levels deep would overflow it and abort the whole
//! process (Node included). Before parsing, squawk's lexer measures how deep
//! the text nests; a file past the limit is split by its tokens alone (`;`
//! outside brackets) and the lint refuses it.
//!
//! A large file is parsed in parts, one per core, when the parts give the
//! same statements and errors as one parse of the whole (see `parts`).

mod parts;
mod scan;

use std::cell::Cell;

use squawk_syntax::{SyntaxElement, SyntaxKind, SyntaxNode, SyntaxToken};

use crate::green;
use crate::position::LineColumn;

/// One statement of a migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// From the statement's first token through its `;` (or its last token
    /// when the file ends without one); leading comments are not included.
    pub text: &'a str,
    /// Byte offset of the first token.
    pub start: usize,
    /// Byte offset just past the statement, exclusive.
    pub end: usize,
    /// Line and column of `start`.
    pub position: LineColumn,
}

/// The statements of `sql`, in order. Never panics: text that does not
/// parse still gives statements, split at the `;` that end them. The text
/// between statements is only whitespace, comments and stray `;`.
pub fn split(sql: &str) -> Vec<Statement<'_>> {
    let parsed = Parsed::new(sql);
    let lines = LineIndex::new(sql);
    parsed
        .spans
        .iter()
        .map(|span| Statement {
            text: &sql[span.start..span.end],
            start: span.start,
            end: span.end,
            position: lines.position(span.start),
        })
        .collect()
}

/// The statement of `sql` that holds byte `offset`, if any.
pub fn containing(sql: &str, offset: usize) -> Option<Statement<'_>> {
    split(sql)
        .into_iter()
        .find(|statement| statement.start <= offset && offset < statement.end)
}

/// A file parsed once, for splitting, directives and lint rules alike.
pub(crate) struct Parsed<'a> {
    pub sql: &'a str,
    pub spans: Vec<Span>,
    /// Every comment of the file, from the lexer, in order.
    pub comments: Vec<Comment>,
    pub refusal: Option<Refusal>,
    /// squawk's syntax errors, sorted by position; only when asked for
    /// ([`Parsed::with_errors`]), since finding them costs about as much as
    /// the parse.
    pub errors: Vec<SyntaxProblem>,
    /// The trees behind `spans`, freed off the caller's thread when large.
    trees: parts::Trees,
}

impl Drop for Parsed<'_> {
    fn drop(&mut self) {
        // The nodes in `spans` point into the trees: they go first, so that
        // what is left of each tree is the part `trees` owns alone.
        self.spans.clear();
        std::mem::take(&mut self.trees).release();
    }
}

/// Why a file was split by tokens instead of being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Nesting passed the limit at this byte offset.
    TooDeep { at: usize },
    /// squawk's tree counts offsets in `u32`.
    TooLarge,
}

/// What squawk's parser or its validation found wrong, at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxProblem {
    pub offset: usize,
    pub message: String,
}

/// A statement's byte span and, when parsed, the top-level nodes in it:
/// usually one, several when the parser recovered from an error.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    /// Where the tree holding `nodes` starts in the file: a large file is
    /// parsed in parts, and a node counts its offsets from its part's start.
    pub base: usize,
    pub nodes: Vec<SyntaxNode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Comment {
    pub start: usize,
    pub end: usize,
    /// `-- …` rather than `/* … */`.
    pub line: bool,
}

impl<'a> Parsed<'a> {
    pub fn new(sql: &'a str) -> Self {
        Self::in_parts(sql, false, parts::parts_for(sql.len()))
    }

    /// Also squawk's syntax errors, for the lint.
    pub fn with_errors(sql: &'a str) -> Self {
        Self::in_parts(sql, true, parts::parts_for(sql.len()))
    }

    /// Parsed in up to `parts` parts side by side; the result is the same
    /// for any number.
    pub fn in_parts(sql: &'a str, with_errors: bool, parts: usize) -> Self {
        if u32::try_from(sql.len()).is_err() {
            return Self::too_large(sql);
        }
        let scan = scan::scan(sql);
        if let Some(at) = scan.too_deep_at {
            return Self {
                sql,
                spans: scan.spans,
                comments: scan.comments,
                refusal: Some(Refusal::TooDeep { at }),
                errors: Vec::new(),
                trees: parts::Trees::default(),
            };
        }
        let mut spans = Vec::new();
        let mut errors = Vec::new();
        let mut trees = parts::Trees::default();
        for tree in parts::parse(sql, &scan.spans, with_errors, parts) {
            trees.keep(&tree.root);
            spans.extend(tree_spans(&tree.root, tree.base));
            errors.extend(tree.errors.into_iter().map(|error| SyntaxProblem {
                offset: tree.base + usize::from(error.range().start()),
                message: error.message().to_owned(),
            }));
        }
        Self {
            sql,
            spans,
            comments: scan.comments,
            refusal: None,
            errors,
            trees,
        }
    }

    /// Beyond 4 GiB neither squawk's lexer nor its tree can count offsets,
    /// so the file is one statement and the lint refuses it.
    fn too_large(sql: &'a str) -> Self {
        let start = sql.len() - sql.trim_start().len();
        let end = sql.trim_end().len().max(start);
        let spans = if start < end {
            vec![Span {
                start,
                end,
                base: 0,
                nodes: Vec::new(),
            }]
        } else {
            Vec::new()
        };
        Self {
            sql,
            spans,
            comments: Vec::new(),
            refusal: Some(Refusal::TooLarge),
            errors: Vec::new(),
            trees: parts::Trees::default(),
        }
    }

    /// The index of the statement whose span holds `offset`, if any.
    pub fn statement_at(&self, offset: usize) -> Option<usize> {
        let index = self.spans.partition_point(|span| span.end <= offset);
        self.spans
            .get(index)
            .filter(|span| span.start <= offset)
            .map(|_| index)
    }
}

/// Statement spans from the children of the file's root: a statement opens
/// at the first token of a top-level node and closes at the top-level `;`
/// that ends a node (or at the end of the file). The root's part of the
/// file starts at byte `base`.
fn tree_spans(root: &SyntaxNode, base: usize) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut open: Option<Span> = None;
    for element in root.children_with_tokens() {
        match element {
            SyntaxElement::Token(token) => {
                if token.kind().is_trivia() {
                    continue;
                }
                let (start, end) = token_range(&token);
                let (start, end) = (base + start, base + end);
                let closes = token.kind() == SyntaxKind::SEMICOLON;
                match open.as_mut() {
                    Some(span) => span.end = end,
                    // A stray `;` between statements belongs to no statement.
                    None if closes => continue,
                    None => {
                        open = Some(Span {
                            start,
                            end,
                            base,
                            nodes: Vec::new(),
                        })
                    }
                }
                if closes {
                    spans.extend(open.take());
                }
            }
            SyntaxElement::Node(node) => {
                let Some(tokens) = green::significant(&node) else {
                    continue;
                };
                let closes = tokens.last == SyntaxKind::SEMICOLON;
                if open.is_none() && closes && tokens.single {
                    // An empty statement: just `;`.
                    continue;
                }
                let span = open.get_or_insert_with(|| Span {
                    start: base + tokens.start,
                    end: 0,
                    base,
                    nodes: Vec::new(),
                });
                span.end = base + tokens.end;
                span.nodes.push(node);
                if closes {
                    spans.extend(open.take());
                }
            }
        }
    }
    spans.extend(open);
    spans
}

pub(crate) fn token_range(token: &SyntaxToken) -> (usize, usize) {
    let range = token.text_range();
    (usize::from(range.start()), usize::from(range.end()))
}

/// Line and column lookups for many offsets of one text, without counting
/// from the start of the file each time: a 20 MB file has 100 000 statements.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
    /// The last lookup, `(offset, column)`: a later offset on the same line
    /// counts characters from there, so one very long line stays linear.
    last: Cell<(usize, u32)>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Self {
            text,
            starts,
            last: Cell::new((0, 1)),
        }
    }

    /// The same answer as [`crate::position::line_column_at_byte`].
    pub fn position(&self, offset: usize) -> LineColumn {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset);
        let line_start = self.starts.get(line.wrapping_sub(1)).copied().unwrap_or(0);
        let (last_offset, last_column) = self.last.get();
        let (from, column) = if line_start <= last_offset && last_offset <= offset {
            (last_offset, last_column)
        } else {
            (line_start, 1)
        };
        let counted = self.text[from..offset].chars().count();
        let column = column.saturating_add(u32::try_from(counted).unwrap_or(u32::MAX));
        self.last.set((offset, column));
        LineColumn {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_containing_an_offset_is_the_one_that_holds_it() {
        let sql = "CREATE TABLE a (x INT);\n-- seed\nINSERT INTO a VALUES (1);\n";
        let insert = sql.find("INSERT").unwrap_or_default();
        let text = |offset| containing(sql, offset).map(|statement| statement.text);
        assert_eq!(text(3), Some("CREATE TABLE a (x INT);"));
        assert_eq!(text(insert + 7), Some("INSERT INTO a VALUES (1);"));
        assert_eq!(text(sql.find("seed").unwrap_or_default()), None);
        assert_eq!(text(sql.len()), None);
    }
    use crate::position::line_column_at_byte;

    fn texts(sql: &str) -> Vec<&str> {
        split(sql).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_at_semicolons_and_skips_leading_comments() {
        let sql = "-- first\nSELECT 1;\n\n/* two */ SELECT 2 ;;\nSELECT 3";
        assert_eq!(texts(sql), ["SELECT 1;", "SELECT 2 ;", "SELECT 3"]);
        let statements = split(sql);
        assert_eq!(
            statements[1].position,
            LineColumn {
                line: 4,
                column: 11
            }
        );
        assert_eq!(&sql[statements[1].start..statements[1].end], "SELECT 2 ;");
    }

    #[test]
    fn empty_and_comment_only_files_have_no_statements() {
        assert!(split("").is_empty());
        assert!(split("  -- nothing\n/* at all */ ;\n").is_empty());
    }

    #[test]
    fn semicolons_inside_literals_bodies_and_comments_do_not_split() {
        let sql = "SELECT E'it\\'s; here', 'a'';b', \"we;ird\" FROM t;\n\
                   /* a /* nested ; */ still ; */ SELECT $fn$ ; $fn$;\n\
                   CREATE FUNCTION f() RETURNS int LANGUAGE sql\n\
                   BEGIN ATOMIC SELECT 1; SELECT 2; END;\n\
                   CREATE RULE r AS ON INSERT TO t DO ALSO (NOTIFY a; NOTIFY b);";
        assert_eq!(split(sql).len(), 4);
    }

    #[test]
    fn a_broken_statement_still_ends_at_its_semicolon() {
        let sql = "SELEC broken here;\nSELECT 1;";
        assert_eq!(texts(sql), ["SELEC broken here;", "SELECT 1;"]);
    }

    #[test]
    fn two_statements_without_a_semicolon_between_are_one() {
        // PostgreSQL would receive them as one string, so they are one here.
        assert_eq!(texts("SELECT 1 SELECT 2;"), ["SELECT 1 SELECT 2;"]);
    }

    #[test]
    fn a_file_too_deep_to_parse_is_split_by_tokens() {
        let deep = format!("SELECT {}1{};", "(".repeat(5000), ")".repeat(5000));
        let sql = format!("SELECT 1;\n{deep}\nSELECT ';';");
        let parsed = Parsed::new(&sql);
        assert!(matches!(parsed.refusal, Some(Refusal::TooDeep { .. })));
        assert_eq!(texts(&sql), ["SELECT 1;", deep.as_str(), "SELECT ';';"]);
    }

    #[test]
    fn nesting_within_the_budget_is_parsed() {
        let sql = format!("SELECT {}1{};", "(".repeat(100), ")".repeat(100));
        assert!(Parsed::new(&sql).refusal.is_none());
        let chain = format!("SELECT 1{};", " + 1".repeat(900));
        assert!(Parsed::new(&chain).refusal.is_none());
        let list = format!("SELECT 1 WHERE a IN ({}1);", "1, ".repeat(100_000));
        assert!(Parsed::new(&list).refusal.is_none());
    }

    #[test]
    fn long_chains_and_deep_function_bodies_are_refused() {
        let chain = format!("SELECT {}true;", "NOT ".repeat(2000));
        assert!(Parsed::new(&chain).refusal.is_some());
        let unions = format!("{}SELECT 1, 2;", "SELECT 1, 2 UNION ALL ".repeat(2000));
        assert!(Parsed::new(&unions).refusal.is_some());
        let body = format!(
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT {}1{} $$;",
            "(".repeat(3000),
            ")".repeat(3000)
        );
        let parsed = Parsed::new(&body);
        let Some(Refusal::TooDeep { at }) = parsed.refusal else {
            panic!("not refused");
        };
        assert!(body[at..].starts_with('('));
        // The same text as data, not as a body, is harmless.
        let data = body.replace("AS $$", "COMMENT $$");
        assert!(Parsed::new(&data).refusal.is_none());
    }

    #[test]
    fn line_index_agrees_with_line_column_at_byte() {
        let text = "ab\né€x\r\n\nlast line ü";
        let index = LineIndex::new(text);
        for offset in (0..=text.len() + 2).chain((0..=text.len()).rev()) {
            assert_eq!(
                index.position(offset),
                line_column_at_byte(text, offset),
                "offset {offset}"
            );
        }
    }
}
