//! Every object of a schema that a migration can create and a `DROP` can
//! name, read with one catalog query.
//!
//! Two kinds of objects are left out on purpose. Members of an extension
//! (`pg_depend.deptype = 'e'`) belong to the extension, not to the
//! migrations. Objects that depend internally on another (`deptype = 'i'`:
//! a range's constructor functions and its multirange type, array types, a
//! table's row type, an identity column's sequence) cannot be dropped on
//! their own and go with their owner. Objects that always go with a table of
//! the schema (triggers, policies, rules, partitions, owned sequences) are
//! read, with that table in `part_of`.

use std::fmt;

use crate::database::executor::{ExecError, Executor, Row};
use crate::database::sql::literal;

/// What an object is, with what tells it apart from others of its name.
/// Argument and type lists are SQL text as the server formats them, types
/// qualified where the session's search path does not find them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ObjectKind {
    /// Plain and partitioned tables, partitions included.
    Table,
    ForeignTable,
    View,
    MaterializedView,
    Sequence,
    Function {
        arguments: String,
    },
    Procedure {
        arguments: String,
    },
    /// `arguments` is empty for an aggregate over `*`.
    Aggregate {
        arguments: String,
    },
    /// `None` for the missing operand of a prefix operator.
    Operator {
        left: Option<String>,
        right: Option<String>,
    },
    OperatorClass {
        method: String,
    },
    OperatorFamily {
        method: String,
    },
    /// Enum, composite, range, base and shell types.
    Type,
    Domain,
    Collation,
    Conversion,
    Statistics,
    TextSearchConfiguration,
    TextSearchDictionary,
    TextSearchParser,
    TextSearchTemplate,
    Trigger,
    Policy,
    Rule,
}

impl ObjectKind {
    /// The kind as SQL names it (`DROP <keyword> …`, `COMMENT ON <keyword> …`).
    pub fn keyword(&self) -> &'static str {
        match self {
            Self::Table => "TABLE",
            Self::ForeignTable => "FOREIGN TABLE",
            Self::View => "VIEW",
            Self::MaterializedView => "MATERIALIZED VIEW",
            Self::Sequence => "SEQUENCE",
            Self::Function { .. } => "FUNCTION",
            Self::Procedure { .. } => "PROCEDURE",
            Self::Aggregate { .. } => "AGGREGATE",
            Self::Operator { .. } => "OPERATOR",
            Self::OperatorClass { .. } => "OPERATOR CLASS",
            Self::OperatorFamily { .. } => "OPERATOR FAMILY",
            Self::Type => "TYPE",
            Self::Domain => "DOMAIN",
            Self::Collation => "COLLATION",
            Self::Conversion => "CONVERSION",
            Self::Statistics => "STATISTICS",
            Self::TextSearchConfiguration => "TEXT SEARCH CONFIGURATION",
            Self::TextSearchDictionary => "TEXT SEARCH DICTIONARY",
            Self::TextSearchParser => "TEXT SEARCH PARSER",
            Self::TextSearchTemplate => "TEXT SEARCH TEMPLATE",
            Self::Trigger => "TRIGGER",
            Self::Policy => "POLICY",
            Self::Rule => "RULE",
        }
    }

    /// The kind from its keyword and the row's two detail columns.
    fn from_row(keyword: &str, detail: Option<String>, detail2: Option<String>) -> Option<Self> {
        let text = |detail: Option<String>| detail.unwrap_or_default();
        Some(match keyword {
            "TABLE" => Self::Table,
            "FOREIGN TABLE" => Self::ForeignTable,
            "VIEW" => Self::View,
            "MATERIALIZED VIEW" => Self::MaterializedView,
            "SEQUENCE" => Self::Sequence,
            "FUNCTION" => Self::Function {
                arguments: text(detail),
            },
            "PROCEDURE" => Self::Procedure {
                arguments: text(detail),
            },
            "AGGREGATE" => Self::Aggregate {
                arguments: text(detail),
            },
            "OPERATOR" => Self::Operator {
                left: detail,
                right: detail2,
            },
            "OPERATOR CLASS" => Self::OperatorClass { method: detail? },
            "OPERATOR FAMILY" => Self::OperatorFamily { method: detail? },
            "TYPE" => Self::Type,
            "DOMAIN" => Self::Domain,
            "COLLATION" => Self::Collation,
            "CONVERSION" => Self::Conversion,
            "STATISTICS" => Self::Statistics,
            "TEXT SEARCH CONFIGURATION" => Self::TextSearchConfiguration,
            "TEXT SEARCH DICTIONARY" => Self::TextSearchDictionary,
            "TEXT SEARCH PARSER" => Self::TextSearchParser,
            "TEXT SEARCH TEMPLATE" => Self::TextSearchTemplate,
            "TRIGGER" => Self::Trigger,
            "POLICY" => Self::Policy,
            "RULE" => Self::Rule,
            _ => return None,
        })
    }
}

/// One object of the schema, its names unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaObject {
    pub kind: ObjectKind,
    pub schema: String,
    pub name: String,
    /// The relation of the same schema this object is dropped with: a
    /// trigger's, policy's or rule's table, a partition's parent, the table
    /// owning a sequence.
    pub part_of: Option<String>,
}

/// Reading the catalog failed, or it answered a row this module did not ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogError {
    Exec(ExecError),
    UnexpectedRow(Row),
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exec(error) => f.write_str(&error.message),
            Self::UnexpectedRow(row) => write!(f, "the catalog answered an unexpected row {row:?}"),
        }
    }
}

/// The objects of `schema`, sorted by kind and name.
pub async fn read_objects<E: Executor>(
    executor: &mut E,
    schema: &str,
) -> Result<Vec<SchemaObject>, CatalogError> {
    let rows = executor
        .query(&objects_sql(schema))
        .await
        .map_err(CatalogError::Exec)?;
    objects_from_rows(schema, rows)
}

/// Catalogs whose objects have a name and nothing else to tell them apart:
/// (keyword, catalog, name column, namespace column).
const NAMED: &[(&str, &str, &str, &str)] = &[
    ("COLLATION", "pg_collation", "collname", "collnamespace"),
    ("CONVERSION", "pg_conversion", "conname", "connamespace"),
    ("STATISTICS", "pg_statistic_ext", "stxname", "stxnamespace"),
    (
        "TEXT SEARCH CONFIGURATION",
        "pg_ts_config",
        "cfgname",
        "cfgnamespace",
    ),
    (
        "TEXT SEARCH DICTIONARY",
        "pg_ts_dict",
        "dictname",
        "dictnamespace",
    ),
    (
        "TEXT SEARCH PARSER",
        "pg_ts_parser",
        "prsname",
        "prsnamespace",
    ),
    (
        "TEXT SEARCH TEMPLATE",
        "pg_ts_template",
        "tmplname",
        "tmplnamespace",
    ),
];

/// Keeps the rows of `catalog` whose `oid` is neither an extension's member
/// nor an internal part of another object. Only the object as a whole
/// counts: a partition key column is internal to its table (`objsubid` > 0)
/// while the table is not.
fn standalone(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass \
         AND d.objid = {oid} AND d.objsubid = 0 AND d.deptype IN ('e', 'i'))"
    )
}

/// One query, one row per object: keyword, name, two details (arguments;
/// operand types; access method) and the relation it is part of.
pub fn objects_sql(schema: &str) -> String {
    let mut selects = vec![
        // A partition goes with its parent and a sequence owned by a column
        // with that column's table, when those are in the schema too.
        format!(
            "SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                        WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                    c.relname, NULL, NULL, COALESCE(parent.relname, owner.relname)
               FROM pg_class c
               LEFT JOIN pg_inherits i ON c.relispartition AND i.inhrelid = c.oid
               LEFT JOIN pg_class parent
                      ON parent.oid = i.inhparent AND parent.relnamespace = c.relnamespace
               LEFT JOIN pg_depend o
                      ON c.relkind = 'S' AND o.classid = 'pg_class'::regclass AND o.objid = c.oid
                     AND o.refclassid = 'pg_class'::regclass AND o.refobjsubid > 0
                     AND o.deptype = 'a'
               LEFT JOIN pg_class owner
                      ON owner.oid = o.refobjid AND owner.relnamespace = c.relnamespace
              WHERE c.relnamespace = (SELECT oid FROM target)
                AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND {}",
            standalone("pg_class", "c.oid")
        ),
        format!(
            "SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE'
                        ELSE 'FUNCTION' END,
                    p.proname, pg_get_function_identity_arguments(p.oid), NULL, NULL
               FROM pg_proc p
              WHERE p.pronamespace = (SELECT oid FROM target) AND {}",
            standalone("pg_proc", "p.oid")
        ),
        // A table's row type is internal to the table, but a composite
        // type's relation is internal to the type: the type is read here.
        format!(
            "SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
                    t.typname, NULL, NULL, NULL
               FROM pg_type t
              WHERE t.typnamespace = (SELECT oid FROM target) AND {}",
            standalone("pg_type", "t.oid")
        ),
        format!(
            "SELECT 'OPERATOR', o.oprname,
                    CASE WHEN o.oprleft <> 0 THEN format_type(o.oprleft, NULL) END,
                    CASE WHEN o.oprright <> 0 THEN format_type(o.oprright, NULL) END, NULL
               FROM pg_operator o
              WHERE o.oprnamespace = (SELECT oid FROM target) AND {}",
            standalone("pg_operator", "o.oid")
        ),
        format!(
            "SELECT 'OPERATOR CLASS', x.opcname, am.amname, NULL, NULL
               FROM pg_opclass x JOIN pg_am am ON am.oid = x.opcmethod
              WHERE x.opcnamespace = (SELECT oid FROM target) AND {}",
            standalone("pg_opclass", "x.oid")
        ),
        format!(
            "SELECT 'OPERATOR FAMILY', x.opfname, am.amname, NULL, NULL
               FROM pg_opfamily x JOIN pg_am am ON am.oid = x.opfmethod
              WHERE x.opfnamespace = (SELECT oid FROM target) AND {}",
            standalone("pg_opfamily", "x.oid")
        ),
    ];
    for (keyword, catalog, name, namespace) in NAMED {
        selects.push(format!(
            "SELECT '{keyword}', x.{name}, NULL, NULL, NULL
               FROM {catalog} x
              WHERE x.{namespace} = (SELECT oid FROM target) AND {}",
            standalone(catalog, "x.oid")
        ));
    }
    // These have no namespace of their own: they live on a relation.
    selects.push(
        "SELECT 'TRIGGER', g.tgname, NULL, NULL, c.relname
           FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
          WHERE c.relnamespace = (SELECT oid FROM target) AND NOT g.tgisinternal"
            .into(),
    );
    selects.push(
        "SELECT 'POLICY', y.polname, NULL, NULL, c.relname
           FROM pg_policy y JOIN pg_class c ON c.oid = y.polrelid
          WHERE c.relnamespace = (SELECT oid FROM target)"
            .into(),
    );
    // `_RETURN` is the body of a view, not a rule anyone created.
    selects.push(
        "SELECT 'RULE', r.rulename, NULL, NULL, c.relname
           FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
          WHERE c.relnamespace = (SELECT oid FROM target) AND r.rulename <> '_RETURN'"
            .into(),
    );
    format!(
        "WITH target AS (SELECT oid FROM pg_namespace WHERE nspname = {})\n{}",
        literal(schema),
        selects.join("\nUNION ALL\n")
    )
}

/// The rows of [`objects_sql`] as objects of `schema`, sorted by kind and name.
pub fn objects_from_rows(schema: &str, rows: Vec<Row>) -> Result<Vec<SchemaObject>, CatalogError> {
    let mut objects = Vec::with_capacity(rows.len());
    for row in rows {
        let column = |index: usize| row.get(index).cloned().flatten();
        let kind =
            column(0).and_then(|keyword| ObjectKind::from_row(&keyword, column(2), column(3)));
        let (Some(kind), Some(name)) = (kind, column(1)) else {
            return Err(CatalogError::UnexpectedRow(row));
        };
        objects.push(SchemaObject {
            kind,
            schema: schema.to_owned(),
            name,
            part_of: column(4),
        });
    }
    objects.sort_by(|a, b| {
        (a.kind.keyword(), &a.name, &a.kind).cmp(&(b.kind.keyword(), &b.name, &b.kind))
    });
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(columns: [Option<&str>; 5]) -> Row {
        columns
            .iter()
            .map(|column| column.map(str::to_owned))
            .collect()
    }

    #[test]
    fn rows_become_objects_sorted_by_kind_and_name() {
        let objects = objects_from_rows(
            "app",
            vec![
                row([Some("TYPE"), Some("mood"), None, None, None]),
                row([Some("AGGREGATE"), Some("tally"), Some(""), None, None]),
                row([Some("SEQUENCE"), Some("t_id_seq"), None, None, Some("t")]),
                row([Some("OPERATOR"), Some("!!"), None, Some("integer"), None]),
                row([
                    Some("OPERATOR CLASS"),
                    Some("ops"),
                    Some("hash"),
                    None,
                    None,
                ]),
                row([Some("TABLE"), Some("b"), None, None, None]),
                row([Some("TABLE"), Some("a"), None, None, None]),
            ],
        )
        .unwrap();
        let names: Vec<(&str, &str)> = objects
            .iter()
            .map(|object| (object.kind.keyword(), object.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("AGGREGATE", "tally"),
                ("OPERATOR", "!!"),
                ("OPERATOR CLASS", "ops"),
                ("SEQUENCE", "t_id_seq"),
                ("TABLE", "a"),
                ("TABLE", "b"),
                ("TYPE", "mood"),
            ]
        );
        assert_eq!(
            objects[0].kind,
            ObjectKind::Aggregate {
                arguments: String::new()
            }
        );
        assert_eq!(
            objects[1].kind,
            ObjectKind::Operator {
                left: None,
                right: Some("integer".into())
            }
        );
        assert_eq!(objects[3].part_of.as_deref(), Some("t"));
        assert!(objects.iter().all(|object| object.schema == "app"));
    }

    #[test]
    fn every_keyword_read_back_is_the_kind_it_names() {
        for keyword in [
            "TABLE",
            "FOREIGN TABLE",
            "VIEW",
            "MATERIALIZED VIEW",
            "SEQUENCE",
            "FUNCTION",
            "PROCEDURE",
            "AGGREGATE",
            "OPERATOR",
            "OPERATOR CLASS",
            "OPERATOR FAMILY",
            "TYPE",
            "DOMAIN",
            "COLLATION",
            "CONVERSION",
            "STATISTICS",
            "TEXT SEARCH CONFIGURATION",
            "TEXT SEARCH DICTIONARY",
            "TEXT SEARCH PARSER",
            "TEXT SEARCH TEMPLATE",
            "TRIGGER",
            "POLICY",
            "RULE",
        ] {
            let kind = ObjectKind::from_row(keyword, Some("btree".into()), None).unwrap();
            assert_eq!(kind.keyword(), keyword);
            assert!(
                objects_sql("public").contains(&format!("'{keyword}'")),
                "{keyword}"
            );
        }
    }

    #[test]
    fn a_row_nobody_asked_for_is_an_error() {
        let unknown = row([Some("INDEX"), Some("i"), None, None, None]);
        assert_eq!(
            objects_from_rows("public", vec![unknown.clone()]),
            Err(CatalogError::UnexpectedRow(unknown))
        );
        let nameless = row([Some("TABLE"), None, None, None, None]);
        assert!(objects_from_rows("public", vec![nameless]).is_err());
        // An operator class without its access method cannot be named.
        let methodless = row([Some("OPERATOR CLASS"), Some("ops"), None, None, None]);
        assert!(objects_from_rows("public", vec![methodless]).is_err());
    }

    #[test]
    fn the_query_quotes_the_schema_and_skips_extension_and_internal_members() {
        let sql = objects_sql("it's");
        assert!(sql.contains("nspname = 'it''s'"));
        // Every catalog with a namespace of its own filters on pg_depend.
        let catalogs = sql.matches("(SELECT oid FROM target)").count();
        let filtered = sql
            .matches("d.objsubid = 0 AND d.deptype IN ('e', 'i')")
            .count();
        let on_relations = 3; // triggers, policies, rules
        assert_eq!(filtered, catalogs - on_relations);
        assert_eq!(filtered, 6 + NAMED.len());
    }
}
