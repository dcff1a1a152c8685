//! The lexer's pass over a file before it is parsed: its comments, how
//! deeply it nests, and statement spans from tokens alone, for a file too
//! deep to give to the parser.

use squawk_lexer::{LiteralKind, TokenKind};

use super::{Comment, Span};

/// How much nesting the parser is trusted with. Each open bracket or `CASE`
/// costs [`LEVEL_COST`], each operator in a chain (`a + b + …`, `NOT NOT …`,
/// `… UNION …`, `a.b.c`) costs 1, summed over the open levels. Measured on
/// squawk 2.68 in a release build, the deepest text within budget (a chain
/// of 1000 NOTs) parses and lints in less than 384 KiB of stack; parentheses,
/// CASE, calls and subqueries within budget need far less. No hand-written
/// migration comes near the budget.
const BUDGET: usize = 1024;
const LEVEL_COST: usize = 8;

/// Literals shorter than this cannot hold enough brackets or operators to
/// pass [`BUDGET`], so only longer function bodies are measured.
const SHORTEST_DEEP_BODY: usize = BUDGET / LEVEL_COST;

pub(super) struct Scan {
    pub comments: Vec<Comment>,
    pub too_deep_at: Option<usize>,
    /// Statements split at `;` outside brackets: used only when the file is
    /// too deep to parse, since it knows nothing of `BEGIN ATOMIC` bodies.
    pub spans: Vec<Span>,
}

/// One pass of squawk's lexer: comments, nesting, and token-level spans.
pub(super) fn scan(sql: &str) -> Scan {
    let mut comments = Vec::new();
    let mut spans = Vec::new();
    let mut nesting = Nesting::default();
    let mut open: Option<(usize, usize)> = None;
    let mut brackets = 0usize;
    let mut after_as = false;
    let mut offset = 0usize;
    for token in squawk_lexer::tokenize(sql) {
        let start = offset;
        offset += token.len as usize;
        let text = sql.get(start..offset).unwrap_or_default();
        match token.kind {
            TokenKind::Whitespace => continue,
            TokenKind::LineComment | TokenKind::BlockComment { .. } => {
                comments.push(Comment {
                    start,
                    end: offset,
                    line: matches!(token.kind, TokenKind::LineComment),
                });
                continue;
            }
            _ => {}
        }
        nesting.token(token.kind, text, start);
        // A function body given as a string is parsed by squawk as well
        // (`LANGUAGE sql`), so a long one is measured like the file.
        if after_as && is_string(token.kind) && text.len() >= SHORTEST_DEEP_BODY {
            let (inner_start, inner) = string_contents(text);
            if let Some(at) = nesting_overflow(inner) {
                nesting.exceeded(start + inner_start + at);
            }
        }
        after_as = token.kind == TokenKind::Ident && text.eq_ignore_ascii_case("as");
        match token.kind {
            TokenKind::OpenParen | TokenKind::OpenBracket => brackets += 1,
            TokenKind::CloseParen | TokenKind::CloseBracket => {
                brackets = brackets.saturating_sub(1)
            }
            _ => {}
        }
        if token.kind == TokenKind::Semi && brackets == 0 {
            if let Some((first, _)) = open.take() {
                spans.push(Span {
                    start: first,
                    end: offset,
                    base: 0,
                    nodes: Vec::new(),
                });
            }
        } else {
            let first = open.map_or(start, |(first, _)| first);
            open = Some((first, offset));
        }
    }
    spans.extend(open.map(|(start, end)| Span {
        start,
        end,
        base: 0,
        nodes: Vec::new(),
    }));
    Scan {
        comments,
        too_deep_at: nesting.exceeded_at,
        spans,
    }
}

/// Where nesting in `sql` passes the budget, if it does.
fn nesting_overflow(sql: &str) -> Option<usize> {
    let mut nesting = Nesting::default();
    let mut offset = 0usize;
    for token in squawk_lexer::tokenize(sql) {
        let start = offset;
        offset += token.len as usize;
        let text = sql.get(start..offset).unwrap_or_default();
        nesting.token(token.kind, text, start);
        if nesting.exceeded_at.is_some() {
            break;
        }
    }
    nesting.exceeded_at
}

fn is_string(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Literal {
            kind: LiteralKind::Str { .. }
                | LiteralKind::EscStr { .. }
                | LiteralKind::UnicodeEscStr { .. }
                | LiteralKind::DollarQuotedString { .. }
        }
    )
}

/// The text inside a string literal's quotes or dollar tags, and where it
/// starts in the literal.
fn string_contents(literal: &str) -> (usize, &str) {
    if let Some(after_dollar) = literal.strip_prefix('$') {
        let tag_len = after_dollar.find('$').map_or(literal.len(), |at| at + 2);
        let tag = &literal[..tag_len];
        let rest = &literal[tag_len..];
        return (tag_len, rest.strip_suffix(tag).unwrap_or(rest));
    }
    let Some(open) = literal.find('\'') else {
        return (0, literal);
    };
    let rest = &literal[open + 1..];
    (open + 1, rest.strip_suffix('\'').unwrap_or(rest))
}

#[derive(Default)]
struct Nesting {
    /// The open levels above the file's own: whether each is a `CASE`, and
    /// its operator count.
    levels: Vec<Level>,
    /// The operator count at the top level.
    base: Level,
    cost: usize,
    exceeded_at: Option<usize>,
}

#[derive(Default, Clone, Copy)]
struct Level {
    case: bool,
    /// Operators since the last `,` or `;`.
    chain: usize,
    /// `UNION` / `INTERSECT` / `EXCEPT`, which chain across commas.
    set_ops: usize,
}

impl Level {
    fn cost(&self) -> usize {
        self.chain + self.set_ops
    }
}

impl Nesting {
    fn token(&mut self, kind: TokenKind, text: &str, start: usize) {
        match kind {
            TokenKind::OpenParen | TokenKind::OpenBracket => self.open(false),
            TokenKind::CloseParen | TokenKind::CloseBracket => {
                // A `CASE` left open inside the brackets closes with them.
                while let Some(level) = self.levels.pop() {
                    self.cost = self.cost.saturating_sub(LEVEL_COST + level.cost());
                    if !level.case {
                        break;
                    }
                }
            }
            TokenKind::Comma => {
                let top = self.top();
                let dropped = top.chain;
                top.chain = 0;
                self.cost = self.cost.saturating_sub(dropped);
            }
            TokenKind::Semi => {
                let top = self.top();
                let dropped = top.cost();
                top.chain = 0;
                top.set_ops = 0;
                self.cost = self.cost.saturating_sub(dropped);
            }
            TokenKind::Ident if text.len() <= 9 => match keyword(text) {
                Keyword::Case => self.open(true),
                Keyword::End => {
                    if self.levels.last().is_some_and(|level| level.case)
                        && let Some(level) = self.levels.pop()
                    {
                        self.cost = self.cost.saturating_sub(LEVEL_COST + level.cost());
                    }
                }
                Keyword::Operator => {
                    self.top().chain += 1;
                    self.cost += 1;
                }
                Keyword::SetOperator => {
                    self.top().set_ops += 1;
                    self.cost += 1;
                }
                Keyword::Other => {}
            },
            TokenKind::Minus
            | TokenKind::Plus
            | TokenKind::Star
            | TokenKind::Slash
            | TokenKind::Percent
            | TokenKind::Caret
            | TokenKind::Eq
            | TokenKind::Lt
            | TokenKind::Gt
            | TokenKind::Bang
            | TokenKind::Tilde
            | TokenKind::Pound
            | TokenKind::Question
            | TokenKind::Or
            | TokenKind::And
            | TokenKind::At
            | TokenKind::Dot
            | TokenKind::Colon => {
                self.top().chain += 1;
                self.cost += 1;
            }
            _ => {}
        }
        if self.cost > BUDGET {
            self.exceeded(start);
        }
    }

    fn open(&mut self, case: bool) {
        self.levels.push(Level {
            case,
            ..Level::default()
        });
        self.cost += LEVEL_COST;
    }

    fn top(&mut self) -> &mut Level {
        self.levels.last_mut().unwrap_or(&mut self.base)
    }

    fn exceeded(&mut self, at: usize) {
        self.exceeded_at.get_or_insert(at);
    }
}

enum Keyword {
    Case,
    End,
    Operator,
    SetOperator,
    Other,
}

fn keyword(text: &str) -> Keyword {
    const OPERATORS: [&str; 9] = [
        "and", "or", "not", "is", "like", "ilike", "similar", "between", "join",
    ];
    const SET_OPERATORS: [&str; 3] = ["union", "intersect", "except"];
    if text.eq_ignore_ascii_case("case") {
        Keyword::Case
    } else if text.eq_ignore_ascii_case("end") {
        Keyword::End
    } else if OPERATORS.iter().any(|op| text.eq_ignore_ascii_case(op)) {
        Keyword::Operator
    } else if SET_OPERATORS.iter().any(|op| text.eq_ignore_ascii_case(op)) {
        Keyword::SetOperator
    } else {
        Keyword::Other
    }
}
