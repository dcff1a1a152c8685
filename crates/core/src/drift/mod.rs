//! Drift: how a live schema differs from the one its applied migrations
//! build. Both schemas arrive as plain snapshots (read from the catalog by
//! the shell, in the server's own decompiled text), so the comparison and
//! the migration that captures the difference are pure functions.
//!
//! Differences are per object: a table or view that only one side has is
//! one difference, and what belongs to it (columns, constraints, indexes,
//! triggers, policies, comments, owned sequences) is not listed again.
//! Columns are matched by name, so their order is never a difference.

mod write;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use write::write_migration;

/// What an object is, as a difference names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    // In the order a migration creates them.
    Extension,
    Type,
    Sequence,
    Function,
    Table,
    Column,
    Constraint,
    Index,
    View,
    Trigger,
    Policy,
    Comment,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Extension => "extension",
            Self::Type => "type",
            Self::Sequence => "sequence",
            Self::Function => "function",
            Self::Table => "table",
            Self::Column => "column",
            Self::Constraint => "constraint",
            Self::Index => "index",
            Self::View => "view",
            Self::Trigger => "trigger",
            Self::Policy => "policy",
            Self::Comment => "comment",
        }
    }
}

/// One object of a schema. `name` is unique within its kind: the object's
/// own name, prefixed with its table's (`vouchers.password`) for what lives
/// on a table; a function's carries its argument types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub name: String,
    /// The table or view it belongs to, for grouping and folding.
    pub table: Option<String>,
    pub shape: Shape,
}

/// What is compared of an object, in the server's decompiled text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    Table(Table),
    Column(Column),
    /// `pg_get_constraintdef`.
    Constraint {
        definition: String,
    },
    /// `pg_get_indexdef`, and whether the index is valid.
    Index {
        definition: String,
        valid: bool,
    },
    Sequence(Sequence),
    View {
        materialized: bool,
        query: String,
    },
    /// `pg_get_functiondef`: a complete `CREATE OR REPLACE` statement.
    Function {
        definition: String,
    },
    /// `pg_get_triggerdef`, and whether the trigger fires.
    Trigger {
        definition: String,
        enabled: bool,
    },
    Enum {
        labels: Vec<String>,
    },
    /// A domain, composite or range type: the keyword (`DOMAIN`, `TYPE`)
    /// and the text after the name (`AS integer CHECK (…)`).
    OtherType {
        keyword: String,
        body: String,
    },
    Extension {
        version: String,
    },
    Policy(Policy),
    Comment {
        on: CommentOn,
        text: String,
    },
}

impl Shape {
    pub fn kind(&self) -> Kind {
        match self {
            Self::Table(_) => Kind::Table,
            Self::Column(_) => Kind::Column,
            Self::Constraint { .. } => Kind::Constraint,
            Self::Index { .. } => Kind::Index,
            Self::Sequence(_) => Kind::Sequence,
            Self::View { .. } => Kind::View,
            Self::Function { .. } => Kind::Function,
            Self::Trigger { .. } => Kind::Trigger,
            Self::Enum { .. } | Self::OtherType { .. } => Kind::Type,
            Self::Extension { .. } => Kind::Extension,
            Self::Policy(_) => Kind::Policy,
            Self::Comment { .. } => Kind::Comment,
        }
    }

    /// The object's definition as one line of text, as a report shows it.
    pub fn definition(&self) -> String {
        match self {
            Self::Table(table) => table.definition(),
            Self::Column(column) => column.definition(),
            Self::Constraint { definition } => definition.clone(),
            Self::Index { definition, valid } => {
                format!("{definition}{}", if *valid { "" } else { " (INVALID)" })
            }
            Self::Sequence(sequence) => sequence.definition(),
            Self::View {
                materialized,
                query,
            } => format!(
                "{}AS {}",
                if *materialized { "MATERIALIZED " } else { "" },
                query.trim()
            ),
            Self::Function { definition } => definition.trim().to_owned(),
            Self::Trigger {
                definition,
                enabled,
            } => format!("{definition}{}", if *enabled { "" } else { " (DISABLED)" }),
            Self::Enum { labels } => format!("ENUM ({})", quoted_list(labels)),
            Self::OtherType { keyword, body } => format!("{keyword} {body}"),
            Self::Extension { version } => format!("VERSION {version}"),
            Self::Policy(policy) => policy.definition(),
            Self::Comment { text, .. } => text.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// `PARTITION BY …` of a partitioned table (`pg_get_partkeydef`).
    pub partition_key: Option<String>,
    /// The parent of a partition, and its bound (`FOR VALUES …`).
    pub partition_of: Option<(String, String)>,
    pub unlogged: bool,
    pub row_security: bool,
    pub force_row_security: bool,
}

impl Table {
    fn definition(&self) -> String {
        let mut parts = vec![
            if self.unlogged {
                "UNLOGGED TABLE"
            } else {
                "TABLE"
            }
            .to_owned(),
        ];
        if let Some((parent, bound)) = &self.partition_of {
            parts.push(format!("PARTITION OF {parent} {bound}"));
        }
        if let Some(key) = &self.partition_key {
            parts.push(format!("PARTITION BY {key}"));
        }
        if self.row_security {
            parts.push("ROW LEVEL SECURITY".into());
        }
        if self.force_row_security {
            parts.push("FORCE ROW LEVEL SECURITY".into());
        }
        parts.join(" ")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Column {
    /// `format_type`, e.g. `character varying(100)`.
    pub type_name: String,
    pub not_null: bool,
    pub default: Option<String>,
    /// `a` (ALWAYS) or `d` (BY DEFAULT) for an identity column.
    pub identity: Option<char>,
    /// The expression of a stored generated column.
    pub generated: Option<String>,
    /// A collation other than the type's, quoted.
    pub collation: Option<String>,
}

impl Column {
    /// The column as `CREATE TABLE` and `ADD COLUMN` spell it, after its name.
    pub fn definition(&self) -> String {
        let mut text = self.type_name.clone();
        if let Some(collation) = &self.collation {
            text.push_str(&format!(" COLLATE {collation}"));
        }
        if let Some(expression) = &self.generated {
            text.push_str(&format!(" GENERATED ALWAYS AS ({expression}) STORED"));
        }
        if let Some(default) = &self.default {
            text.push_str(&format!(" DEFAULT {default}"));
        }
        if self.not_null {
            text.push_str(" NOT NULL");
        }
        match self.identity {
            Some('a') => text.push_str(" GENERATED ALWAYS AS IDENTITY"),
            Some(_) => text.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
            None => {}
        }
        text
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sequence {
    /// `format_type` of the sequence's type, e.g. `bigint`.
    pub type_name: String,
    pub start: String,
    pub increment: String,
    pub min: String,
    pub max: String,
    pub cache: String,
    pub cycle: bool,
    /// The column that owns it, as `table.column` (quoted parts).
    pub owned_by: Option<(String, String)>,
}

impl Sequence {
    /// The options `CREATE SEQUENCE` and `ALTER SEQUENCE` both take.
    pub fn options(&self) -> String {
        format!(
            "AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}",
            self.type_name,
            self.increment,
            self.min,
            self.max,
            self.start,
            self.cache,
            if self.cycle { "CYCLE" } else { "NO CYCLE" }
        )
    }

    fn definition(&self) -> String {
        match &self.owned_by {
            Some((table, column)) => format!("{} OWNED BY {table}.{column}", self.options()),
            None => self.options(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub permissive: bool,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE` or `DELETE`.
    pub command: String,
    /// The roles, as SQL lists them (`PUBLIC`, `app_user`).
    pub roles: String,
    pub using: Option<String>,
    pub check: Option<String>,
}

impl Policy {
    /// The text after `CREATE POLICY name ON table`.
    pub fn definition(&self) -> String {
        let mut text = format!(
            "AS {} FOR {} TO {}",
            if self.permissive {
                "PERMISSIVE"
            } else {
                "RESTRICTIVE"
            },
            self.command,
            self.roles
        );
        if let Some(using) = &self.using {
            text.push_str(&format!(" USING ({using})"));
        }
        if let Some(check) = &self.check {
            text.push_str(&format!(" WITH CHECK ({check})"));
        }
        text
    }
}

/// What a comment is on, enough to write `COMMENT ON <keyword> …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentOn {
    /// `TABLE`, `VIEW`, `MATERIALIZED VIEW`, `SEQUENCE`, `INDEX`, `COLUMN`,
    /// `FUNCTION`, `PROCEDURE`, `TYPE`, `DOMAIN` or `CONSTRAINT`.
    pub keyword: String,
    /// The object's own name (a column's, a constraint's).
    pub object: String,
    /// The table of a column or constraint.
    pub parent: Option<String>,
    /// A function's identity arguments.
    pub arguments: Option<String>,
}

/// A schema, read once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub objects: Vec<Object>,
}

impl Snapshot {
    fn index(&self) -> BTreeMap<(Kind, &str), &Object> {
        self.objects
            .iter()
            .map(|object| ((object.shape.kind(), object.name.as_str()), object))
            .collect()
    }

    /// The object of `kind` named `name`.
    pub fn find(&self, kind: Kind, name: &str) -> Option<&Object> {
        self.objects
            .iter()
            .find(|object| object.shape.kind() == kind && object.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// In the database only.
    Extra,
    /// In the migrations only.
    Missing,
    /// In both, defined differently.
    Changed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub kind: Kind,
    pub name: String,
    pub change: Change,
    /// The table or view it belongs to, for a report grouped by table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The definition the migrations build; absent for `extra`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The definition in the database; absent for `missing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

/// How `actual` (the live schema) differs from `expected` (what the applied
/// migrations build), sorted by table, kind and name.
pub fn compare(expected: &Snapshot, actual: &Snapshot) -> Vec<Difference> {
    let expected_index = expected.index();
    let actual_index = actual.index();
    let owners = |from: &BTreeMap<(Kind, &str), &Object>,
                  other: &BTreeMap<(Kind, &str), &Object>| {
        from.keys()
            .filter(|(kind, _)| matches!(kind, Kind::Table | Kind::View))
            .filter(|key| !other.contains_key(*key))
            .map(|(_, name)| name.to_string())
            .collect::<BTreeSet<String>>()
    };
    let extra_owners = owners(&actual_index, &expected_index);
    let missing_owners = owners(&expected_index, &actual_index);
    // A table only one side has is one difference; what hangs off it is not
    // listed again.
    let folded = |object: &Object, owners: &BTreeSet<String>| {
        !matches!(object.shape.kind(), Kind::Table | Kind::View)
            && object
                .table
                .as_ref()
                .is_some_and(|table| owners.contains(table))
    };
    let mut differences = Vec::new();
    for (key, object) in &actual_index {
        match expected_index.get(key) {
            None if !folded(object, &extra_owners) => differences.push(Difference {
                kind: key.0,
                name: object.name.clone(),
                change: Change::Extra,
                table: object.table.clone(),
                expected: None,
                actual: Some(object.shape.definition()),
            }),
            Some(wanted) if wanted.shape != object.shape => differences.push(Difference {
                kind: key.0,
                name: object.name.clone(),
                change: Change::Changed,
                table: object.table.clone(),
                expected: Some(wanted.shape.definition()),
                actual: Some(object.shape.definition()),
            }),
            _ => {}
        }
    }
    for (key, object) in &expected_index {
        if !actual_index.contains_key(key) && !folded(object, &missing_owners) {
            differences.push(Difference {
                kind: key.0,
                name: object.name.clone(),
                change: Change::Missing,
                table: object.table.clone(),
                expected: Some(object.shape.definition()),
                actual: None,
            });
        }
    }
    // Schema-wide objects (extensions, types, functions) first, as a
    // migration creates them; then table by table.
    differences.sort_by(|a, b| (&a.table, a.kind, &a.name).cmp(&(&b.table, b.kind, &b.name)));
    differences
}

/// `'a', 'b'`: labels as SQL literals.
fn quoted_list(labels: &[String]) -> String {
    labels
        .iter()
        .map(|label| format!("'{}'", label.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
