//! A schema read once into the plain values drift compares: one catalog
//! query per kind of object, all inside one read-only transaction (one
//! consistent view) with the search path pinned to the schema, so the
//! server's decompiled text (defaults, checks, index and view definitions)
//! is spelled the same way in every database read this way.
//!
//! Left out: the tracking table, objects that belong to an extension, and
//! objects that exist only as a part of another (an identity column's
//! sequence, a partition's inherited columns, constraints, indexes and
//! triggers, indexes that back a constraint).

use stratum_core::drift::{Column, CommentOn, Object, Policy, Sequence, Shape, Snapshot, Table};

use crate::database::executor::{ExecError, Executor, Row};
use crate::database::sql::{ident, literal};
use crate::options::TrackingTable;

use super::{flag, text};

/// The schema of `tracking`, as drift compares it.
pub async fn read_snapshot<E: Executor>(
    executor: &mut E,
    tracking: &TrackingTable,
) -> Result<Snapshot, ExecError> {
    executor
        .execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL search_path = {}",
            ident(&tracking.schema)
        ))
        .await?;
    let read = read_all(executor, tracking).await;
    // Nothing was written; the transaction only held the view and the path.
    let ended = executor.execute("ROLLBACK").await;
    let snapshot = read?;
    ended?;
    Ok(snapshot)
}

async fn read_all<E: Executor>(
    executor: &mut E,
    tracking: &TrackingTable,
) -> Result<Snapshot, ExecError> {
    let mut objects = Vec::new();
    for (sql, decode) in queries(tracking) {
        let rows = executor.query(&sql).await?;
        objects.extend(rows.iter().map(decode));
    }
    Ok(Snapshot { objects })
}

type Decode = fn(&Row) -> Object;

/// Not a member of an extension (`class` is the object's catalog).
fn not_member(class: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{class}'::regclass \
         AND e.objid = {oid} AND e.deptype = 'e')"
    )
}

/// Neither a member of an extension nor a part of another object (a range
/// type's constructors, an identity column's sequence), which goes with its
/// owner. Only for functions and sequences: a partitioned table, for one,
/// depends internally on its own partition key.
fn not_member_nor_part(class: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{class}'::regclass \
         AND e.objid = {oid} AND e.deptype IN ('e', 'i'))"
    )
}

/// Every query with its row decoder; `$S` is the schema, `$T` the tracking table.
fn queries(tracking: &TrackingTable) -> Vec<(String, Decode)> {
    let schema = literal(&tracking.schema);
    let table = literal(&tracking.table);
    // The relations drift reads from: the schema's own tables, never the tracking table.
    let relation = |alias: &str| {
        format!(
            "{alias}.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = {schema}) \
             AND {alias}.relname <> {table} AND {}",
            not_member("pg_class", &format!("{alias}.oid"))
        )
    };
    let namespace = format!("(SELECT oid FROM pg_namespace WHERE nspname = {schema})");
    vec![
        (
            format!(
                "SELECT c.relname, c.relpersistence = 'u', c.relrowsecurity, c.relforcerowsecurity,
                        CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
                        (SELECT p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                          WHERE i.inhrelid = c.oid AND c.relispartition),
                        CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END
                   FROM pg_class c WHERE c.relkind IN ('r', 'p') AND {}",
                relation("c")
            ),
            table_row,
        ),
        (
            format!(
                "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                        CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
                        NULLIF(a.attidentity, ''),
                        CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END,
                        CASE WHEN a.attcollation <> t.typcollation THEN
                          (SELECT quote_ident(l.collname) FROM pg_collation l WHERE l.oid = a.attcollation) END
                   FROM pg_class c
                   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   JOIN pg_type t ON t.oid = a.atttypid
                   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                  WHERE c.relkind IN ('r', 'p') AND a.attislocal AND {}",
                relation("c")
            ),
            column_row,
        ),
        (
            format!(
                "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
                   FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                  WHERE k.contype IN ('p', 'u', 'f', 'c', 'x') AND k.conislocal AND {}",
                relation("c")
            ),
            constraint_row,
        ),
        (
            format!(
                "SELECT c.relname, x.relname, pg_get_indexdef(i.indexrelid), i.indisvalid
                   FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
                   JOIN pg_class c ON c.oid = i.indrelid
                  WHERE NOT x.relispartition
                    AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                                    AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
                    AND {}",
                relation("c")
            ),
            index_row,
        ),
        (
            format!(
                "SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                        s.seqmin, s.seqmax, s.seqcache, s.seqcycle, o.relname, a.attname
                   FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
                   LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                        AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'
                   LEFT JOIN pg_class o ON o.oid = d.refobjid
                   LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                  WHERE (o.relname IS NULL OR o.relname <> {table}) AND {} AND {}",
                relation("c"),
                not_member_nor_part("pg_class", "c.oid")
            ),
            sequence_row,
        ),
        (
            format!(
                "SELECT c.relname, c.relkind = 'm', pg_get_viewdef(c.oid)
                   FROM pg_class c WHERE c.relkind IN ('v', 'm') AND {}",
                relation("c")
            ),
            view_row,
        ),
        (
            format!(
                "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                        pg_get_functiondef(p.oid)
                   FROM pg_proc p
                  WHERE p.pronamespace = {namespace} AND p.prokind IN ('f', 'p') AND {}",
                not_member_nor_part("pg_proc", "p.oid")
            ),
            function_row,
        ),
        (
            format!(
                "SELECT c.relname, g.tgname, pg_get_triggerdef(g.oid), g.tgenabled <> 'D'
                   FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
                  WHERE NOT g.tgisinternal AND g.tgparentid = 0 AND {}",
                relation("c")
            ),
            trigger_row,
        ),
        (
            format!(
                "SELECT t.typname, t.typtype,
                        CASE t.typtype
                        WHEN 'e' THEN (SELECT string_agg(e.enumlabel, E'\\n' ORDER BY e.enumsortorder)
                                         FROM pg_enum e WHERE e.enumtypid = t.oid)
                        WHEN 'd' THEN 'AS ' || format_type(t.typbasetype, t.typtypmod)
                             || CASE WHEN t.typcollation <> b.typcollation THEN
                                  ' COLLATE ' || (SELECT quote_ident(l.collname) FROM pg_collation l
                                                   WHERE l.oid = t.typcollation) ELSE '' END
                             || COALESCE(' DEFAULT ' || t.typdefault, '')
                             || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                             || COALESCE((SELECT string_agg(' CONSTRAINT ' || quote_ident(k.conname)
                                                 || ' ' || pg_get_constraintdef(k.oid), '' ORDER BY k.conname)
                                            FROM pg_constraint k WHERE k.contypid = t.oid), '')
                        WHEN 'c' THEN 'AS (' || (SELECT string_agg(quote_ident(a.attname) || ' '
                                                   || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                                                   FROM pg_attribute a WHERE a.attrelid = t.typrelid
                                                    AND a.attnum > 0 AND NOT a.attisdropped) || ')'
                        WHEN 'r' THEN (SELECT 'AS RANGE (SUBTYPE = ' || format_type(r.rngsubtype, NULL)
                                         || CASE WHEN r.rngsubdiff <> 0
                                            THEN ', SUBTYPE_DIFF = ' || r.rngsubdiff::regproc::text ELSE '' END
                                         || ')' FROM pg_range r WHERE r.rngtypid = t.oid)
                        END
                   FROM pg_type t LEFT JOIN pg_type b ON b.oid = t.typbasetype
                  WHERE t.typnamespace = {namespace}
                    AND (t.typtype IN ('e', 'd', 'r')
                         OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
                    AND {}",
                not_member("pg_type", "t.oid")
            ),
            type_row,
        ),
        (
            format!(
                "SELECT x.extname, x.extversion FROM pg_extension x WHERE x.extnamespace = {namespace}"
            ),
            extension_row,
        ),
        (
            format!(
                "SELECT c.relname, p.polname, p.polpermissive,
                        CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                      WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                        CASE WHEN p.polroles = '{{0}}' THEN 'PUBLIC' ELSE
                          (SELECT string_agg(quote_ident(r.rolname), ', ' ORDER BY r.rolname)
                             FROM pg_roles r WHERE r.oid = ANY (p.polroles)) END,
                        pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
                   FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE {}",
                relation("c")
            ),
            policy_row,
        ),
        (comments_sql(&relation("c"), &namespace), comment_row),
    ]
}

/// Comments on relations, columns, constraints, functions and types:
/// (keyword, object, parent, arguments, owning table, text).
fn comments_sql(relation: &str, namespace: &str) -> String {
    format!(
        "SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                    WHEN 'S' THEN 'SEQUENCE' WHEN 'i' THEN 'INDEX' WHEN 'I' THEN 'INDEX' ELSE 'TABLE' END,
                c.relname, NULL, NULL,
                COALESCE((SELECT o.relname FROM pg_index i JOIN pg_class o ON o.oid = i.indrelid
                           WHERE i.indexrelid = c.oid), c.relname),
                d.description
           FROM pg_description d JOIN pg_class c ON c.oid = d.objoid
          WHERE d.classoid = 'pg_class'::regclass AND d.objsubid = 0 AND {relation}
         UNION ALL
         SELECT 'COLUMN', a.attname, c.relname, NULL, c.relname, d.description
           FROM pg_description d JOIN pg_class c ON c.oid = d.objoid
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
          WHERE d.classoid = 'pg_class'::regclass AND d.objsubid > 0 AND {relation}
         UNION ALL
         SELECT 'CONSTRAINT', k.conname, c.relname, NULL, c.relname, d.description
           FROM pg_description d JOIN pg_constraint k ON k.oid = d.objoid
           JOIN pg_class c ON c.oid = k.conrelid
          WHERE d.classoid = 'pg_constraint'::regclass AND {relation}
         UNION ALL
         SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.proname, NULL,
                pg_get_function_identity_arguments(p.oid), NULL, d.description
           FROM pg_description d JOIN pg_proc p ON p.oid = d.objoid
          WHERE d.classoid = 'pg_proc'::regclass AND p.pronamespace = {namespace}
            AND p.prokind IN ('f', 'p') AND {}
         UNION ALL
         SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.typname, NULL, NULL, NULL,
                d.description
           FROM pg_description d JOIN pg_type t ON t.oid = d.objoid
          WHERE d.classoid = 'pg_type'::regclass AND t.typnamespace = {namespace} AND {}",
        not_member("pg_proc", "p.oid"),
        not_member("pg_type", "t.oid"),
    )
}

fn optional(row: &Row, index: usize) -> Option<String> {
    row.get(index).cloned().flatten()
}

/// An object that lives on table `table`, named `table.name`.
fn on_table(row: &Row, shape: Shape) -> Object {
    let table = text(row, 0);
    Object {
        name: format!("{table}.{}", text(row, 1)),
        table: Some(table),
        shape,
    }
}

fn table_row(row: &Row) -> Object {
    let name = text(row, 0);
    Object {
        name: name.clone(),
        table: Some(name),
        shape: Shape::Table(Table {
            unlogged: flag(row, 1),
            row_security: flag(row, 2),
            force_row_security: flag(row, 3),
            partition_key: optional(row, 4),
            partition_of: optional(row, 5).map(|parent| (parent, text(row, 6))),
        }),
    }
}

fn column_row(row: &Row) -> Object {
    on_table(
        row,
        Shape::Column(Column {
            type_name: text(row, 2),
            not_null: flag(row, 3),
            default: optional(row, 4),
            identity: optional(row, 5).and_then(|kind| kind.chars().next()),
            generated: optional(row, 6),
            collation: optional(row, 7),
        }),
    )
}

fn constraint_row(row: &Row) -> Object {
    on_table(
        row,
        Shape::Constraint {
            definition: text(row, 2),
        },
    )
}

fn index_row(row: &Row) -> Object {
    on_table(
        row,
        Shape::Index {
            definition: text(row, 2),
            valid: flag(row, 3),
        },
    )
}

fn sequence_row(row: &Row) -> Object {
    let owned_by = optional(row, 8).map(|table| (table, text(row, 9)));
    Object {
        name: text(row, 0),
        table: owned_by.as_ref().map(|(table, _)| table.clone()),
        shape: Shape::Sequence(Sequence {
            type_name: text(row, 1),
            start: text(row, 2),
            increment: text(row, 3),
            min: text(row, 4),
            max: text(row, 5),
            cache: text(row, 6),
            cycle: flag(row, 7),
            owned_by,
        }),
    }
}

fn view_row(row: &Row) -> Object {
    let name = text(row, 0);
    Object {
        name: name.clone(),
        table: Some(name),
        shape: Shape::View {
            materialized: flag(row, 1),
            query: text(row, 2).trim().trim_end_matches(';').to_owned(),
        },
    }
}

fn function_row(row: &Row) -> Object {
    Object {
        name: text(row, 0),
        table: None,
        shape: Shape::Function {
            definition: text(row, 1),
        },
    }
}

fn trigger_row(row: &Row) -> Object {
    on_table(
        row,
        Shape::Trigger {
            definition: text(row, 2),
            enabled: flag(row, 3),
        },
    )
}

fn type_row(row: &Row) -> Object {
    let shape = match text(row, 1).as_str() {
        "e" => Shape::Enum {
            labels: optional(row, 2)
                .map(|labels| labels.split('\n').map(str::to_owned).collect())
                .unwrap_or_default(),
        },
        "d" => Shape::OtherType {
            keyword: "DOMAIN".into(),
            body: text(row, 2),
        },
        _ => Shape::OtherType {
            keyword: "TYPE".into(),
            body: text(row, 2),
        },
    };
    Object {
        name: text(row, 0),
        table: None,
        shape,
    }
}

fn extension_row(row: &Row) -> Object {
    Object {
        name: text(row, 0),
        table: None,
        shape: Shape::Extension {
            version: text(row, 1),
        },
    }
}

fn policy_row(row: &Row) -> Object {
    on_table(
        row,
        Shape::Policy(Policy {
            permissive: flag(row, 2),
            command: text(row, 3),
            roles: text(row, 4),
            using: optional(row, 5),
            check: optional(row, 6),
        }),
    )
}

fn comment_row(row: &Row) -> Object {
    let on = CommentOn {
        keyword: text(row, 0),
        object: text(row, 1),
        parent: optional(row, 2),
        arguments: optional(row, 3),
    };
    let target = match (&on.parent, &on.arguments) {
        (Some(parent), _) => format!("{parent}.{}", on.object),
        (None, Some(arguments)) => format!("{}({arguments})", on.object),
        (None, None) => on.object.clone(),
    };
    Object {
        name: format!("{} {target}", on.keyword.to_lowercase()),
        table: optional(row, 4),
        shape: Shape::Comment {
            on,
            text: text(row, 5),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[Option<&str>]) -> Row {
        values
            .iter()
            .map(|value| value.map(str::to_owned))
            .collect()
    }

    #[test]
    fn every_query_leaves_out_the_tracking_table_and_extension_members() {
        let tracking = TrackingTable {
            schema: "app's".into(),
            table: "migrations".into(),
        };
        for (sql, _) in queries(&tracking) {
            assert!(sql.contains("'app''s'"), "{sql}");
            if sql.contains("relname") && !sql.contains("pg_extension") {
                assert!(sql.contains("<> 'migrations'"), "{sql}");
            }
            if !sql.contains("pg_extension") {
                assert!(sql.contains("e.deptype"), "{sql}");
            }
        }
    }

    #[test]
    fn rows_decode_into_objects() {
        let column = column_row(&row(&[
            Some("vouchers"),
            Some("code"),
            Some("character varying(50)"),
            Some("t"),
            Some("'x'::character varying"),
            None,
            None,
            None,
        ]));
        assert_eq!(column.name, "vouchers.code");
        assert_eq!(
            column.shape.definition(),
            "character varying(50) DEFAULT 'x'::character varying NOT NULL"
        );
        let labels = type_row(&row(&[Some("mood"), Some("e"), Some("sad\nhappy")]));
        assert_eq!(labels.shape.definition(), "ENUM ('sad', 'happy')");
        let comment = comment_row(&row(&[
            Some("COLUMN"),
            Some("password"),
            Some("vouchers"),
            None,
            Some("vouchers"),
            Some("plain"),
        ]));
        assert_eq!(comment.name, "column vouchers.password");
        assert_eq!(comment.table.as_deref(), Some("vouchers"));
    }
}
