//! What `fresh` and `reset` drop: every table, view, materialized view,
//! sequence, routine and type of the target schema, except what belongs to an
//! extension.

use super::executor::Row;
use super::sql::literal;

/// One row per object: its kind and its qualified, quoted name (routines
/// with their argument types, since DROP FUNCTION needs them).
pub fn catalog_sql(schema: &str) -> String {
    let schema = literal(schema);
    format!(
        "WITH target AS (SELECT oid FROM pg_namespace WHERE nspname = {schema}),
         extension_member AS (SELECT objid FROM pg_depend WHERE deptype = 'e')
         SELECT CASE c.relkind
                  WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'v' THEN 'VIEW'
                  WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                format('%I.%I', n.nspname, c.relname)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relnamespace IN (SELECT oid FROM target)
            AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
            AND NOT c.relispartition
            AND c.oid NOT IN (SELECT objid FROM extension_member)
         UNION ALL
         SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
                format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE p.pronamespace IN (SELECT oid FROM target)
            AND p.oid NOT IN (SELECT objid FROM extension_member)
         UNION ALL
         SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
                format('%I.%I', n.nspname, t.typname)
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
          WHERE t.typnamespace IN (SELECT oid FROM target)
            AND t.oid NOT IN (SELECT objid FROM extension_member)
            AND (t.typtype IN ('e', 'd', 'r')
                 OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))"
    )
}

/// Kinds in the order they are dropped: dependents first, so that CASCADE
/// has as little as possible to do behind the count's back.
const ORDER: &[&str] = &[
    "MATERIALIZED VIEW",
    "VIEW",
    "FOREIGN TABLE",
    "TABLE",
    "SEQUENCE",
    "AGGREGATE",
    "PROCEDURE",
    "FUNCTION",
    "DOMAIN",
    "TYPE",
];

/// One batch of DROP … IF EXISTS … CASCADE statements, and how many objects
/// it names; `None` when the schema holds nothing.
pub fn drop_everything_sql(catalog: &[Row]) -> Option<(String, usize)> {
    let mut sql = String::new();
    let mut count = 0;
    for kind in ORDER {
        let names: Vec<&str> = catalog
            .iter()
            .filter(|row| row.first().and_then(Option::as_deref) == Some(*kind))
            .filter_map(|row| row.get(1).and_then(Option::as_deref))
            .collect();
        if names.is_empty() {
            continue;
        }
        count += names.len();
        sql.push_str(&format!(
            "DROP {kind} IF EXISTS {} CASCADE;\n",
            names.join(", ")
        ));
    }
    (count > 0).then_some((sql, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, name: &str) -> Row {
        vec![Some(kind.into()), Some(name.into())]
    }

    #[test]
    fn nothing_to_drop_gives_no_batch() {
        assert_eq!(drop_everything_sql(&[]), None);
    }

    #[test]
    fn views_go_before_tables_and_types_last() {
        let (sql, count) = drop_everything_sql(&[
            row("TYPE", "public.mood"),
            row("TABLE", "public.a"),
            row("TABLE", "public.b"),
            row("VIEW", "public.v"),
        ])
        .unwrap();
        assert_eq!(count, 4);
        assert_eq!(
            sql,
            "DROP VIEW IF EXISTS public.v CASCADE;\n\
             DROP TABLE IF EXISTS public.a, public.b CASCADE;\n\
             DROP TYPE IF EXISTS public.mood CASCADE;\n"
        );
    }
}
