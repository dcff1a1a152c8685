//! What fixes a permission error: from PostgreSQL's `permission denied for
//! …` or `must be owner of …` (SQLSTATE 42501) and the statement that got
//! it, the `GRANT` (or `ALTER … OWNER`) that gives the role what it was
//! refused, as the text of a hint.
//!
//! PostgreSQL names the object but not the privilege, so the privilege on a
//! table is read from what the statement does to that table: an `INSERT
//! INTO t` needs INSERT on `t`, a `REFERENCES t` needs REFERENCES, a table
//! the statement only reads needs SELECT.

use std::borrow::Cow;

use squawk_lexer::TokenKind;

/// `name` as SQL writes it: bare when PostgreSQL would read it back
/// unchanged, else double-quoted with inner quotes doubled.
pub fn quote(name: &str) -> Cow<'_, str> {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain && !RESERVED.split(' ').any(|word| word == name) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("\"{}\"", name.replace('"', "\"\"")))
    }
}

/// The hint for a 42501 `message` that `role` got running `statement`;
/// `None` when the message is not one of the forms this knows.
pub fn permission_hint(message: &str, statement: Option<&str>, role: &str) -> Option<String> {
    let statement = statement.unwrap_or_default();
    let role = quote(role);
    if let Some((kind, name)) = refused(message, "permission denied for ") {
        let (privileges, on) = grant_for(kind, name, statement)?;
        let object = quote(name);
        return Some(format!(
            "role {role} lacks {privileges} on {kind} {name}: \
             GRANT {privileges} ON {on}{object} TO {role}"
        ));
    }
    let (kind, name) = refused(message, "must be owner of ")?;
    let object = quote(name);
    let alter = match kind {
        // An index belongs to its table's owner; PostgreSQL names the
        // index, not the table.
        "index" => {
            return Some(format!(
                "role {role} does not own index {name}: make it the owner of the index's table \
             (ALTER TABLE … OWNER TO {role}), or run this migration as that owner"
            ));
        }
        "relation" => "TABLE".to_owned(),
        "table"
        | "view"
        | "materialized view"
        | "sequence"
        | "foreign table"
        | "function"
        | "procedure"
        | "schema"
        | "type"
        | "domain"
        | "collation"
        | "conversion"
        | "text search configuration"
        | "text search dictionary" => kind.to_uppercase(),
        "statistics object" => "STATISTICS".to_owned(),
        _ => {
            return Some(format!(
                "role {role} does not own {kind} {name}: run this migration as its owner, \
                 or make {role} a member of the owner's role"
            ));
        }
    };
    Some(format!(
        "role {role} does not own {kind} {name}: ALTER {alter} {object} OWNER TO {role}, \
         or make {role} a member of the owner's role"
    ))
}

/// Object kinds as PostgreSQL's messages spell them; a kind that begins
/// another (`operator`, `operator class`) comes after it.
const KINDS: &[&str] = &[
    "operator family",
    "operator class",
    "operator",
    "event trigger",
    "publication",
    "subscription",
    "extension",
    "policy",
    "text search configuration",
    "text search dictionary",
    "foreign-data wrapper",
    "materialized view",
    "statistics object",
    "foreign server",
    "foreign table",
    "large object",
    "tablespace",
    "conversion",
    "aggregate",
    "collation",
    "procedure",
    "database",
    "function",
    "language",
    "relation",
    "sequence",
    "routine",
    "domain",
    "schema",
    "index",
    "table",
    "type",
    "view",
];

/// The kind and name after `prefix` in `message`.
fn refused<'m>(message: &'m str, prefix: &str) -> Option<(&'static str, &'m str)> {
    let rest = message.strip_prefix(prefix)?;
    KINDS.iter().find_map(|kind| {
        let name = rest.strip_prefix(kind)?.strip_prefix(' ')?;
        (!name.is_empty()).then_some((*kind, name))
    })
}

/// The privileges to grant on `kind` `name`, and the GRANT's object keyword.
fn grant_for(kind: &str, name: &str, statement: &str) -> Option<(Cow<'static, str>, &'static str)> {
    let words = words(statement);
    let first = |keyword: &str| words.first().is_some_and(|word| word.is(keyword));
    let mentions = |keyword: &str| words.iter().any(|word| word.is(keyword));
    let fixed = |privileges: &'static str, on: &'static str| Some((Cow::Borrowed(privileges), on));
    match kind {
        "table" | "view" | "materialized view" | "foreign table" | "relation" => {
            Some((Cow::Owned(table_privileges(&words, name)), ""))
        }
        "sequence" if mentions("setval") => fixed("UPDATE", "SEQUENCE "),
        "sequence" => fixed("USAGE", "SEQUENCE "),
        // Creating an object needs CREATE; naming one inside needs USAGE.
        "schema" if first("create") => fixed("USAGE, CREATE", "SCHEMA "),
        "schema" => fixed("USAGE", "SCHEMA "),
        "database" if first("create") && (mentions("temp") || mentions("temporary")) => {
            fixed("TEMPORARY", "DATABASE ")
        }
        "database" => fixed("CREATE", "DATABASE "),
        "function" => fixed("EXECUTE", "FUNCTION "),
        "procedure" => fixed("EXECUTE", "PROCEDURE "),
        "routine" | "aggregate" => fixed("EXECUTE", "ROUTINE "),
        "type" => fixed("USAGE", "TYPE "),
        "domain" => fixed("USAGE", "DOMAIN "),
        "language" => fixed("USAGE", "LANGUAGE "),
        "foreign-data wrapper" => fixed("USAGE", "FOREIGN DATA WRAPPER "),
        "foreign server" => fixed("USAGE", "FOREIGN SERVER "),
        "tablespace" => fixed("CREATE", "TABLESPACE "),
        _ => None,
    }
}

/// Table privileges in the order GRANT's documentation lists them.
const TABLE_PRIVILEGES: [&str; 7] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];

/// What `statement` (as words) does to the relation `name`: the privileges
/// that needs, SELECT when it only reads it.
fn table_privileges(words: &[Word], name: &str) -> String {
    let mut needed = [false; TABLE_PRIVILEGES.len()];
    let need = |needed: &mut [bool; TABLE_PRIVILEGES.len()], privilege: &str| {
        if let Some(index) = TABLE_PRIVILEGES.iter().position(|p| *p == privilege) {
            needed[index] = true;
        }
    };
    let is = |index: usize, keyword: &str| words.get(index).is_some_and(|word| word.is(keyword));
    let skip = |mut index: usize, optional: &[&str]| {
        while optional.iter().any(|keyword| is(index, keyword)) {
            index += 1;
        }
        index
    };
    let targets = |index: usize| relation_at(words, index) == Some(name);
    let trigger = is(0, "create") && {
        let at = skip(1, &["or", "replace", "constraint"]);
        is(at, "trigger")
    };
    let mut changes = false;
    for index in 0..words.len() {
        let Word::Bare(word) = &words[index] else {
            continue;
        };
        match word.as_str() {
            "insert" if is(index + 1, "into") && targets(index + 2) => {
                need(&mut needed, "INSERT");
                changes = true;
                if (0..words.len()).any(|at| is(at, "do") && is(at + 1, "update")) {
                    need(&mut needed, "UPDATE");
                }
            }
            "update" if targets(skip(index + 1, &["only"])) => {
                need(&mut needed, "UPDATE");
                changes = true;
            }
            "delete" if is(index + 1, "from") && targets(skip(index + 2, &["only"])) => {
                need(&mut needed, "DELETE");
                changes = true;
            }
            "truncate" if targets(skip(index + 1, &["table", "only"])) => {
                need(&mut needed, "TRUNCATE")
            }
            "references" if targets(index + 1) => need(&mut needed, "REFERENCES"),
            "on" if trigger && targets(index + 1) => need(&mut needed, "TRIGGER"),
            _ => {}
        }
    }
    // A change that also reads rows (to filter or return them) needs SELECT.
    let reads = words
        .iter()
        .any(|word| word.is("where") || word.is("returning"));
    if !needed.iter().any(|needed| *needed) || (changes && reads) {
        need(&mut needed, "SELECT");
    }
    TABLE_PRIVILEGES
        .iter()
        .zip(needed)
        .filter(|(_, needed)| *needed)
        .map(|(privilege, _)| *privilege)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The last part of the (possibly qualified) name starting at `index`.
fn relation_at(words: &[Word], mut index: usize) -> Option<&str> {
    let mut last = words.get(index)?.name()?;
    while matches!(words.get(index + 1), Some(Word::Dot)) {
        last = words.get(index + 2)?.name()?;
        index += 2;
    }
    Some(last)
}

/// A statement's tokens, as far as telling names and keywords apart needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    /// An unquoted word, folded to lower case as PostgreSQL folds it.
    Bare(String),
    /// A quoted identifier, unquoted.
    Quoted(String),
    Dot,
    Other,
}

impl Word {
    fn is(&self, keyword: &str) -> bool {
        matches!(self, Self::Bare(word) if word == keyword)
    }

    fn name(&self) -> Option<&str> {
        match self {
            Self::Bare(name) | Self::Quoted(name) => Some(name),
            Self::Dot | Self::Other => None,
        }
    }
}

fn words(statement: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut offset = 0usize;
    for token in squawk_lexer::tokenize(statement) {
        let start = offset;
        offset += token.len as usize;
        let text = statement.get(start..offset).unwrap_or_default();
        words.push(match token.kind {
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment { .. } => {
                continue;
            }
            TokenKind::Ident => Word::Bare(text.to_ascii_lowercase()),
            TokenKind::QuotedIdent {
                terminated: true,
                uescape: false,
            } => Word::Quoted(
                text.get(1..text.len() - 1)
                    .unwrap_or_default()
                    .replace("\"\"", "\""),
            ),
            TokenKind::Dot => Word::Dot,
            _ => Word::Other,
        });
    }
    words
}

/// PostgreSQL's reserved words and those reserved as type or function
/// names (`pg_get_keywords()` categories R and T): a name that is one of
/// them must be quoted.
const RESERVED: &str = "\
all analyse analyze and any array as asc asymmetric authorization binary both case cast \
check collate collation column concurrently constraint create cross current_catalog \
current_date current_role current_schema current_time current_timestamp current_user \
default deferrable desc distinct do else end except false fetch for foreign freeze from \
full grant group having ilike in initially inner intersect into is isnull join lateral \
leading left like limit localtime localtimestamp natural not notnull null offset on only \
or order outer overlaps placing primary references returning right select session_user \
similar some symmetric table tablesample then to trailing true union unique user using \
variadic verbose when where window with";

#[cfg(test)]
mod tests;
