//! Questions about squawk's syntax tree answered from its green nodes, the
//! immutable data under the cursors: a cursor walk allocates a handle for
//! every node and token it visits, which over a large file costs more than
//! the questions themselves.

use rowan::{GreenNodeData, NodeOrToken};
use squawk_syntax::{SyntaxKind, SyntaxNode};

/// The first and last tokens of a node that are not whitespace or
/// comments, as offsets in the node's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Significant {
    /// Where the first such token starts, and its kind.
    pub start: usize,
    pub first: SyntaxKind,
    /// Where the last such token ends, and its kind.
    pub end: usize,
    pub last: SyntaxKind,
    /// The first token is also the last.
    pub single: bool,
}

pub(crate) fn significant(node: &SyntaxNode) -> Option<Significant> {
    let green = node.green();
    let (first_at, first, first_len) = first_significant(&green)?;
    let (last_from_end, last) = last_significant(&green)?;
    let range = node.text_range();
    let start = usize::from(range.start()) + first_at;
    let end = usize::from(range.end()) - last_from_end;
    Some(Significant {
        start,
        first,
        end,
        last,
        single: end - start == first_len,
    })
}

/// Whether `node` has a direct child node or token of `kind`.
pub(crate) fn has_child(node: &SyntaxNode, kind: SyntaxKind) -> bool {
    let raw = raw(kind);
    node.green().children().any(|child| child.kind() == raw)
}

/// Whether `node`, or a node or token below it, is of `kind`.
pub(crate) fn has_descendant(node: &SyntaxNode, kind: SyntaxKind) -> bool {
    let raw = raw(kind);
    let green = node.green();
    green.kind() == raw || contains(&green, &|found| found == raw)
}

/// Whether a node strictly below `node` is of one of `kinds`.
pub(crate) fn has_node_below(node: &SyntaxNode, kinds: &[SyntaxKind]) -> bool {
    fn below(node: &GreenNodeData, kinds: &[rowan::SyntaxKind]) -> bool {
        node.children().any(|child| match child {
            NodeOrToken::Node(inner) => kinds.contains(&inner.kind()) || below(inner, kinds),
            NodeOrToken::Token(_) => false,
        })
    }
    let raw: Vec<rowan::SyntaxKind> = kinds.iter().map(|&kind| raw(kind)).collect();
    below(&node.green(), &raw)
}

fn contains(node: &GreenNodeData, wanted: &dyn Fn(rowan::SyntaxKind) -> bool) -> bool {
    node.children().any(|child| {
        wanted(child.kind())
            || match child {
                NodeOrToken::Node(inner) => contains(inner, wanted),
                NodeOrToken::Token(_) => false,
            }
    })
}

/// The offset in `node` of its first token that is not trivia, its kind
/// and its length.
fn first_significant(node: &GreenNodeData) -> Option<(usize, SyntaxKind, usize)> {
    let mut offset = 0;
    for child in node.children() {
        match child {
            NodeOrToken::Node(inner) => {
                if let Some((at, kind, len)) = first_significant(inner) {
                    return Some((offset + at, kind, len));
                }
            }
            NodeOrToken::Token(token) => {
                let kind = kind(token.kind());
                if !kind.is_trivia() {
                    return Some((offset, kind, usize::from(token.text_len())));
                }
            }
        }
        offset += usize::from(child.text_len());
    }
    None
}

/// How far before the end of `node` its last token that is not trivia
/// ends, and its kind.
pub(crate) fn last_significant(node: &GreenNodeData) -> Option<(usize, SyntaxKind)> {
    let mut from_end = 0;
    for child in node.children().rev() {
        match child {
            NodeOrToken::Node(inner) => {
                if let Some((at, kind)) = last_significant(inner) {
                    return Some((from_end + at, kind));
                }
            }
            NodeOrToken::Token(token) => {
                let kind = kind(token.kind());
                if !kind.is_trivia() {
                    return Some((from_end, kind));
                }
            }
        }
        from_end += usize::from(child.text_len());
    }
    None
}

fn raw(kind: SyntaxKind) -> rowan::SyntaxKind {
    rowan::SyntaxKind(kind.into())
}

pub(crate) fn kind(raw: rowan::SyntaxKind) -> SyntaxKind {
    SyntaxKind::from(raw.0)
}
