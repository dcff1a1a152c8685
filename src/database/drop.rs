//! What `fresh` and `reset` drop: every object of the target schema that a
//! migration can create (tables, partitioned ones with their partitions,
//! foreign tables, views, materialized views, sequences, functions,
//! procedures, aggregates, operators and their classes and families, types,
//! domains, collations, conversions, extended statistics, text search
//! configurations, dictionaries, parsers and templates), the tracking table
//! included. What belongs to an extension stays. Triggers, policies, rules,
//! partitions, owned sequences and internal parts such as a range's
//! constructors go with their owner rather than on their own.
//!
//! One `DROP … IF EXISTS … CASCADE` per object, dependents first, all sent
//! as one batch inside the caller's transaction: a failure drops nothing,
//! and the count of statements that completed names the object that failed.

use super::catalog::{CatalogError, ObjectKind, SchemaObject, read_objects};
use super::executor::{ExecError, ExecErrorKind, Executor};
use super::sql::ident;
use crate::error::{Error, SqlFailure};

/// One object's DROP statement, and the object as a message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropStatement {
    pub sql: String,
    /// e.g. `type public.mood`, `aggregate public.tally(*)`.
    pub object: String,
}

/// Drops every object of `schema` (see the module comment) and returns how
/// many DROP statements ran: the objects dropped on their own, not those
/// that went with them.
pub async fn drop_everything<E: Executor>(executor: &mut E, schema: &str) -> Result<usize, Error> {
    let objects = read_objects(executor, schema)
        .await
        .map_err(|error| read_failed(schema, error))?;
    let statements = drop_statements(&objects);
    if statements.is_empty() {
        return Ok(0);
    }
    let batch: Vec<&str> = statements.iter().map(|drop| drop.sql.as_str()).collect();
    executor
        .execute(&batch.join(";\n"))
        .await
        .map_err(|error| {
            let object = statements
                .get(error.statements_completed)
                .map_or("an object", |drop| drop.object.as_str());
            drop_failed(schema, object, error)
        })?;
    Ok(statements.len())
}

/// The statements that drop `objects`, dependents first. Objects that go
/// with another are left out.
pub fn drop_statements(objects: &[SchemaObject]) -> Vec<DropStatement> {
    let mut alone: Vec<&SchemaObject> = objects
        .iter()
        .filter(|object| object.part_of.is_none() && rank(&object.kind).is_some())
        .collect();
    // Stable: within a kind, the order the objects came in.
    alone.sort_by_key(|object| rank(&object.kind));
    alone
        .into_iter()
        .map(|object| DropStatement {
            sql: format!(
                "DROP {} IF EXISTS {} CASCADE",
                object.kind.keyword(),
                identity(object, &ident)
            ),
            object: format!(
                "{} {}",
                object.kind.keyword().to_lowercase(),
                identity(object, &readable)
            ),
        })
        .collect()
}

/// Where a kind comes in the drop order, dependents before what they use:
/// views before the tables they read, tables before the sequences and types
/// of their columns, aggregates and operators before their functions,
/// collations last. CASCADE takes care of what this order cannot see (a
/// view on a view); IF EXISTS then skips what already went. `None` for
/// kinds that only exist on a relation and go with it.
fn rank(kind: &ObjectKind) -> Option<u8> {
    Some(match kind {
        ObjectKind::Trigger | ObjectKind::Policy | ObjectKind::Rule => return None,
        ObjectKind::MaterializedView => 0,
        ObjectKind::View => 1,
        ObjectKind::Statistics => 2,
        ObjectKind::ForeignTable => 3,
        ObjectKind::Table => 4,
        ObjectKind::Sequence => 5,
        ObjectKind::TextSearchConfiguration => 6,
        ObjectKind::TextSearchDictionary => 7,
        ObjectKind::TextSearchTemplate => 8,
        ObjectKind::TextSearchParser => 9,
        ObjectKind::Conversion => 10,
        ObjectKind::OperatorClass { .. } => 11,
        ObjectKind::OperatorFamily { .. } => 12,
        ObjectKind::Operator { .. } => 13,
        ObjectKind::Aggregate { .. } => 14,
        ObjectKind::Procedure { .. } => 15,
        ObjectKind::Function { .. } => 16,
        ObjectKind::Domain => 17,
        ObjectKind::Type => 18,
        ObjectKind::Collation => 19,
    })
}

/// The object's name as DROP takes it, each name passed through `quote`;
/// argument and type lists are the server's own SQL text.
fn identity(object: &SchemaObject, quote: &dyn Fn(&str) -> String) -> String {
    let qualified = format!("{}.{}", quote(&object.schema), quote(&object.name));
    match &object.kind {
        ObjectKind::Function { arguments } | ObjectKind::Procedure { arguments } => {
            format!("{qualified}({arguments})")
        }
        // `DROP AGGREGATE x()` is a syntax error: no arguments is `*`.
        ObjectKind::Aggregate { arguments } if arguments.is_empty() => format!("{qualified}(*)"),
        ObjectKind::Aggregate { arguments } => format!("{qualified}({arguments})"),
        // An operator's name is made of symbols, never quoted.
        ObjectKind::Operator { left, right } => format!(
            "{}.{} ({}, {})",
            quote(&object.schema),
            object.name,
            left.as_deref().unwrap_or("NONE"),
            right.as_deref().unwrap_or("NONE")
        ),
        ObjectKind::OperatorClass { method } | ObjectKind::OperatorFamily { method } => {
            format!("{qualified} USING {}", quote(method))
        }
        _ => qualified,
    }
}

/// A name as a message shows it: quoted only when it has to be.
fn readable(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain { name.to_owned() } else { ident(name) }
}

fn read_failed(schema: &str, error: CatalogError) -> Error {
    match error {
        CatalogError::Exec(error) => sql_error(
            format!(
                "cannot read the objects of schema {} to drop them",
                readable(schema)
            ),
            error,
        ),
        unexpected @ CatalogError::UnexpectedRow(_) => Error::Internal(format!(
            "cannot read the objects of schema {}: {unexpected}",
            readable(schema)
        )),
    }
}

fn drop_failed(schema: &str, object: &str, error: ExecError) -> Error {
    sql_error(
        format!(
            "cannot drop {object} (while dropping the objects of schema {})",
            readable(schema)
        ),
        error,
    )
}

fn sql_error(context: String, error: ExecError) -> Error {
    if error.kind == ExecErrorKind::ConnectionLost {
        return Error::ConnectionLost(error.message);
    }
    Error::Sql(Box::new(SqlFailure {
        message: format!("{context}: {}", error.message),
        pg_code: error.sqlstate,
        detail: error.detail,
        hint: error.hint,
        ..SqlFailure::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: ObjectKind, name: &str) -> SchemaObject {
        SchemaObject {
            kind,
            schema: "public".into(),
            name: name.into(),
            part_of: None,
        }
    }

    fn sql(objects: &[SchemaObject]) -> Vec<String> {
        drop_statements(objects)
            .into_iter()
            .map(|drop| drop.sql)
            .collect()
    }

    #[test]
    fn nothing_to_drop_gives_no_statement() {
        assert_eq!(drop_statements(&[]), vec![]);
    }

    #[test]
    fn dependents_go_first_and_collations_last() {
        let objects = [
            object(ObjectKind::Collation, "nocase"),
            object(ObjectKind::Type, "mood"),
            object(
                ObjectKind::Function {
                    arguments: "i integer".into(),
                },
                "add_one",
            ),
            object(ObjectKind::Table, "a"),
            object(ObjectKind::Sequence, "invoice_no"),
            object(ObjectKind::View, "v"),
            object(ObjectKind::Domain, "positive"),
            object(
                ObjectKind::Aggregate {
                    arguments: "integer".into(),
                },
                "total",
            ),
            object(ObjectKind::Table, "b"),
            object(ObjectKind::MaterializedView, "m"),
        ];
        assert_eq!(
            sql(&objects),
            [
                "DROP MATERIALIZED VIEW IF EXISTS \"public\".\"m\" CASCADE",
                "DROP VIEW IF EXISTS \"public\".\"v\" CASCADE",
                "DROP TABLE IF EXISTS \"public\".\"a\" CASCADE",
                "DROP TABLE IF EXISTS \"public\".\"b\" CASCADE",
                "DROP SEQUENCE IF EXISTS \"public\".\"invoice_no\" CASCADE",
                "DROP AGGREGATE IF EXISTS \"public\".\"total\"(integer) CASCADE",
                "DROP FUNCTION IF EXISTS \"public\".\"add_one\"(i integer) CASCADE",
                "DROP DOMAIN IF EXISTS \"public\".\"positive\" CASCADE",
                "DROP TYPE IF EXISTS \"public\".\"mood\" CASCADE",
                "DROP COLLATION IF EXISTS \"public\".\"nocase\" CASCADE",
            ]
        );
    }

    #[test]
    fn an_aggregate_without_arguments_is_dropped_over_star() {
        let tally = object(
            ObjectKind::Aggregate {
                arguments: String::new(),
            },
            "tally",
        );
        let drops = drop_statements(&[tally]);
        assert_eq!(
            drops[0].sql,
            "DROP AGGREGATE IF EXISTS \"public\".\"tally\"(*) CASCADE"
        );
        assert_eq!(drops[0].object, "aggregate public.tally(*)");
        let ordered = object(
            ObjectKind::Aggregate {
                arguments: "double precision ORDER BY double precision".into(),
            },
            "median_of",
        );
        assert_eq!(
            sql(&[ordered]),
            [
                "DROP AGGREGATE IF EXISTS \"public\".\"median_of\"(double precision ORDER BY double precision) CASCADE"
            ]
        );
    }

    #[test]
    fn odd_names_are_quoted_and_identity_arguments_kept() {
        let mut weird = object(
            ObjectKind::Function {
                arguments: "\"a;b\" mood, VARIADIC rest integer[]".into(),
            },
            "we;ird",
        );
        weird.schema = "my \"app\"".into();
        let drops = drop_statements(&[weird]);
        assert_eq!(
            drops[0].sql,
            "DROP FUNCTION IF EXISTS \"my \"\"app\"\"\".\"we;ird\"(\"a;b\" mood, VARIADIC rest integer[]) CASCADE"
        );
        assert_eq!(
            drops[0].object,
            "function \"my \"\"app\"\"\".\"we;ird\"(\"a;b\" mood, VARIADIC rest integer[])"
        );
        let procedure = object(
            ObjectKind::Procedure {
                arguments: "INOUT n integer, OUT m integer".into(),
            },
            "Touch",
        );
        assert_eq!(
            sql(&[procedure]),
            [
                "DROP PROCEDURE IF EXISTS \"public\".\"Touch\"(INOUT n integer, OUT m integer) CASCADE"
            ]
        );
    }

    #[test]
    fn operators_name_their_operands_and_classes_their_method() {
        let drops = drop_statements(&[
            object(
                ObjectKind::Operator {
                    left: None,
                    right: Some("integer".into()),
                },
                "!!",
            ),
            object(
                ObjectKind::Operator {
                    left: Some("integer".into()),
                    right: Some("public.mood".into()),
                },
                "===",
            ),
            object(
                ObjectKind::OperatorFamily {
                    method: "hash".into(),
                },
                "int_family",
            ),
            object(
                ObjectKind::OperatorClass {
                    method: "hash".into(),
                },
                "int_hash_ops",
            ),
        ]);
        let sql: Vec<&str> = drops.iter().map(|drop| drop.sql.as_str()).collect();
        assert_eq!(
            sql,
            [
                "DROP OPERATOR CLASS IF EXISTS \"public\".\"int_hash_ops\" USING \"hash\" CASCADE",
                "DROP OPERATOR FAMILY IF EXISTS \"public\".\"int_family\" USING \"hash\" CASCADE",
                "DROP OPERATOR IF EXISTS \"public\".!! (NONE, integer) CASCADE",
                "DROP OPERATOR IF EXISTS \"public\".=== (integer, public.mood) CASCADE",
            ]
        );
        assert_eq!(
            drops[0].object,
            "operator class public.int_hash_ops USING hash"
        );
        assert_eq!(drops[2].object, "operator public.!! (NONE, integer)");
    }

    #[test]
    fn what_goes_with_a_table_is_not_dropped_on_its_own() {
        let part = |kind, name: &str| SchemaObject {
            part_of: Some("accounts".into()),
            ..object(kind, name)
        };
        let drops = drop_statements(&[
            object(ObjectKind::Table, "accounts"),
            part(ObjectKind::Sequence, "accounts_id_seq"),
            part(ObjectKind::Table, "accounts_2024"),
            part(ObjectKind::Trigger, "accounts_stamp"),
            part(ObjectKind::Policy, "accounts_all"),
            part(ObjectKind::Rule, "accounts_no_delete"),
        ]);
        assert_eq!(drops.len(), 1);
        assert_eq!(drops[0].object, "table public.accounts");
    }

    #[test]
    fn text_search_and_the_rest_come_in_dependency_order() {
        let kinds = [
            ObjectKind::TextSearchParser,
            ObjectKind::Conversion,
            ObjectKind::TextSearchTemplate,
            ObjectKind::Statistics,
            ObjectKind::TextSearchDictionary,
            ObjectKind::ForeignTable,
            ObjectKind::TextSearchConfiguration,
        ];
        let objects: Vec<SchemaObject> = kinds.into_iter().map(|kind| object(kind, "x")).collect();
        let order: Vec<String> = drop_statements(&objects)
            .into_iter()
            .map(|drop| drop.object)
            .collect();
        assert_eq!(
            order,
            [
                "statistics public.x",
                "foreign table public.x",
                "text search configuration public.x",
                "text search dictionary public.x",
                "text search template public.x",
                "text search parser public.x",
                "conversion public.x",
            ]
        );
    }

    #[test]
    fn a_failure_names_the_object_and_keeps_what_postgres_said() {
        let error = drop_failed(
            "public",
            "type public.mood",
            ExecError {
                kind: ExecErrorKind::Database,
                message: "must be owner of type mood".into(),
                sqlstate: Some("42501".into()),
                detail: None,
                hint: None,
                position: None,
                statements_completed: 3,
            },
        );
        assert_eq!(error.code(), "E_SQL");
        assert_eq!(
            error.to_string(),
            "cannot drop type public.mood (while dropping the objects of schema public): \
             must be owner of type mood (SQLSTATE 42501)"
        );
        let lost = drop_failed(
            "public",
            "type public.mood",
            ExecError {
                kind: ExecErrorKind::ConnectionLost,
                ..ExecError::transport("gone")
            },
        );
        assert_eq!(lost.code(), "E_CONNECTION_LOST");
    }

    #[test]
    fn names_are_quoted_in_messages_only_when_they_must_be() {
        assert_eq!(readable("accounts_2024"), "accounts_2024");
        assert_eq!(readable("Accounts"), "\"Accounts\"");
        assert_eq!(readable("we;ird"), "\"we;ird\"");
        assert_eq!(readable("1st"), "\"1st\"");
        assert_eq!(readable(""), "\"\"");
    }
}
