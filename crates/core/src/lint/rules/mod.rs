//! The lint rules, one per module, and the helpers they share for reading
//! squawk's tree: a rule looks at one top-level statement node at a time.

pub(crate) mod adding_not_nullable_field;
pub(crate) mod adding_required_field;
pub(crate) mod changing_column_type;
pub(crate) mod constraint_missing_not_valid;
pub(crate) mod create_if_not_exists;
pub(crate) mod drop_if_exists;
pub(crate) mod insert_on_conflict;
pub(crate) mod no_tracking_insert;
pub(crate) mod no_transaction_idempotent;
pub(crate) mod not_in_transaction;
pub(crate) mod renaming_column;
pub(crate) mod renaming_table;
pub(crate) mod require_concurrent_index_creation;
pub(crate) mod syntax_error;
pub(crate) mod transaction_control;

use std::collections::HashMap;

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{LintContext, TransactionMode};
use crate::green;

/// A statement-level rule.
pub(crate) struct Rule {
    /// Its severity is the one [`crate::lint::RULES`] lists.
    pub id: &'static str,
    pub check: fn(&Check, &SyntaxNode, &mut Vec<Finding>),
}

/// Every statement-level rule; `syntax-error` and the directive checks
/// look at the whole file instead.
pub(crate) const ALL: &[Rule] = &[
    create_if_not_exists::RULE,
    no_tracking_insert::RULE,
    not_in_transaction::RULE,
    no_transaction_idempotent::RULE,
    transaction_control::RULE,
    insert_on_conflict::RULE,
    drop_if_exists::RULE,
    require_concurrent_index_creation::RULE,
    adding_required_field::RULE,
    changing_column_type::RULE,
    adding_not_nullable_field::RULE,
    constraint_missing_not_valid::RULE,
    renaming_column::RULE,
    renaming_table::RULE,
];

/// What a rule knows besides the statement node.
pub(crate) struct Check<'a> {
    pub ctx: &'a LintContext<'a>,
    pub mode: TransactionMode,
    /// The statement's index in the file, and the last index.
    pub index: usize,
    pub last: usize,
    /// Tables created by earlier statements of the same file.
    pub created: &'a CreatedTables,
    /// The statement's [`live_table_actions`], found once for every rule.
    pub live_actions: &'a [SyntaxNode],
}

impl Check<'_> {
    /// A table this file created cannot be in use yet, so locking it or
    /// rewriting it harms no one.
    pub fn is_new_table(&self, table: &QualifiedName) -> bool {
        self.created.contains(table)
    }

    pub fn in_transaction(&self) -> bool {
        self.mode != TransactionMode::NoTransaction
    }
}

pub(crate) struct Finding {
    /// Byte offset the diagnostic points at.
    pub offset: usize,
    pub message: String,
    pub help: String,
}

impl Finding {
    pub fn at(node: &SyntaxNode, message: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            offset: start(node),
            message: message.into(),
            help: help.into(),
        }
    }
}

/// A relation name as PostgreSQL resolves it: unquoted parts folded to
/// lower case, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QualifiedName {
    pub schema: Option<String>,
    pub name: String,
}

/// Names that are equal may still be different relations; schemas decide
/// when both are given, and a missing one could be any on the search path.
pub(crate) fn same_schema(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// The tables a file has created so far, by name: a generated file can
/// create thousands, and every ALTER TABLE asks.
#[derive(Debug, Default)]
pub(crate) struct CreatedTables {
    schemas_by_name: HashMap<String, Vec<Option<String>>>,
}

impl CreatedTables {
    pub fn add(&mut self, table: QualifiedName) {
        self.schemas_by_name
            .entry(table.name)
            .or_default()
            .push(table.schema);
    }

    pub fn contains(&self, table: &QualifiedName) -> bool {
        self.schemas_by_name
            .get(&table.name)
            .is_some_and(|schemas| {
                schemas
                    .iter()
                    .any(|schema| same_schema(schema, &table.schema))
            })
    }
}

/// Byte offset of the node's first token that is not trivia.
pub(crate) fn start(node: &SyntaxNode) -> usize {
    green::significant(node).map_or_else(
        || usize::from(node.text_range().start()),
        |tokens| tokens.start,
    )
}

pub(crate) fn child(node: &SyntaxNode, kind: SyntaxKind) -> Option<SyntaxNode> {
    // Most lookups find nothing, and the green tree says so without
    // making a cursor per child.
    if !green::has_child(node, kind) {
        return None;
    }
    node.children().find(|child| child.kind() == kind)
}

/// Whether `node` has a direct child node or token of `kind`.
pub(crate) fn has_child(node: &SyntaxNode, kind: SyntaxKind) -> bool {
    green::has_child(node, kind)
}

/// Whether `node` or a node or token below it is of `kind`.
pub(crate) fn has_descendant(node: &SyntaxNode, kind: SyntaxKind) -> bool {
    green::has_descendant(node, kind)
}

/// The kind of the node's first significant token: `CREATE_KW` for every
/// `CREATE …` statement, `DROP_KW` for every `DROP …`.
pub(crate) fn first_keyword(node: &SyntaxNode) -> Option<SyntaxKind> {
    green::significant(node).map(|tokens| tokens.first)
}

/// The actions of an `ALTER TABLE` statement (empty for anything else).
pub(crate) fn alter_table_actions(node: &SyntaxNode) -> impl Iterator<Item = SyntaxNode> {
    let actions = (node.kind() == SyntaxKind::ALTER_TABLE).then(|| node.children());
    actions.into_iter().flatten().filter(|child| {
        !matches!(
            child.kind(),
            SyntaxKind::TABLE_RELATION_NAME | SyntaxKind::IF_EXISTS
        )
    })
}

/// The actions of an `ALTER TABLE` on a table that this file did not
/// create (in `created`): the ones that can lock or break a table in use.
pub(crate) fn live_table_actions(created: &CreatedTables, node: &SyntaxNode) -> Vec<SyntaxNode> {
    if node.kind() != SyntaxKind::ALTER_TABLE {
        return Vec::new();
    }
    match table_name(node, SyntaxKind::TABLE_RELATION_NAME) {
        Some(table) if !created.contains(&table) => alter_table_actions(node).collect(),
        _ => Vec::new(),
    }
}

/// The table a statement works on: the first name under `holder`, a child
/// of kind `holder` of `node` (`TABLE_RELATION_NAME`, `TABLE_NAME`, …).
pub(crate) fn table_name(node: &SyntaxNode, holder: SyntaxKind) -> Option<QualifiedName> {
    name_under(&child(node, holder)?)
}

/// The first (possibly qualified) name below `node`.
pub(crate) fn name_under(node: &SyntaxNode) -> Option<QualifiedName> {
    let path = node
        .descendants()
        .find(|n| matches!(n.kind(), SyntaxKind::PATH | SyntaxKind::PATH_REF))?;
    // A path nests its qualifiers: PATH(PATH(schema) . SEGMENT(name)).
    let mut parts: Vec<String> = path
        .descendants()
        .filter(|n| {
            matches!(
                n.kind(),
                SyntaxKind::PATH_SEGMENT | SyntaxKind::PATH_SEGMENT_REF
            )
        })
        .map(|segment| normalize(&segment))
        .collect();
    let name = parts.pop()?;
    Some(QualifiedName {
        schema: parts.pop(),
        name,
    })
}

/// The first identifier below `node`, as PostgreSQL sees it.
pub(crate) fn normalize(segment: &SyntaxNode) -> String {
    let Some(token) = segment
        .descendants_with_tokens()
        .filter_map(|element| element.into_token())
        .find(|token| !token.kind().is_trivia())
    else {
        return String::new();
    };
    match token.parent() {
        Some(parent) => squawk_syntax::ast::normalize_name_node(&parent),
        None => token.text().to_ascii_lowercase(),
    }
}

/// The table a statement creates, if it creates one.
pub(crate) fn created_table(node: &SyntaxNode) -> Option<QualifiedName> {
    match node.kind() {
        SyntaxKind::CREATE_TABLE | SyntaxKind::CREATE_TABLE_AS => {
            table_name(node, SyntaxKind::TABLE_NAME)
        }
        _ => None,
    }
}

/// The text of a node with its whitespace runs collapsed, for messages.
pub(crate) fn brief(node: &SyntaxNode) -> String {
    let text = node.text().to_string();
    let mut out = String::with_capacity(text.len().min(80));
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() > 60 {
            out.push('…');
            break;
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::lint::{Diagnostic, LintContext, lint};

    pub fn diagnostics(sql: &str) -> Vec<Diagnostic> {
        lint("001_test.sql", sql, &LintContext::default())
    }

    /// The diagnostics of one rule.
    pub fn of(rule: &str, sql: &str) -> Vec<Diagnostic> {
        diagnostics(sql)
            .into_iter()
            .filter(|d| d.rule == rule)
            .collect()
    }

    pub fn fires(rule: &str, sql: &str) -> bool {
        !of(rule, sql).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use squawk_syntax::ast::{AstNode, SourceFile};

    fn first_name(sql: &str, holder: SyntaxKind) -> Option<QualifiedName> {
        let tree = SourceFile::parse(sql).tree();
        let node = tree.syntax().children().next()?;
        table_name(&node, holder)
    }

    #[test]
    fn names_fold_case_unless_quoted() {
        let name = first_name(
            "ALTER TABLE Public.\"Users\" ADD x int;",
            SyntaxKind::TABLE_RELATION_NAME,
        );
        assert_eq!(
            name,
            Some(QualifiedName {
                schema: Some("public".into()),
                name: "Users".into()
            })
        );
        let plain = first_name("CREATE TABLE USERS (a int);", SyntaxKind::TABLE_NAME);
        assert_eq!(plain.map(|n| n.name), Some("users".into()));
    }

    #[test]
    fn unqualified_names_match_any_schema() {
        let name = |schema: Option<&str>, name: &str| QualifiedName {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        };
        let mut bare = CreatedTables::default();
        bare.add(name(None, "t"));
        assert!(bare.contains(&name(Some("public"), "t")));
        assert!(!bare.contains(&name(None, "u")));
        let mut public = CreatedTables::default();
        public.add(name(Some("public"), "t"));
        assert!(public.contains(&name(None, "t")));
        assert!(!public.contains(&name(Some("other"), "t")));
    }
}
