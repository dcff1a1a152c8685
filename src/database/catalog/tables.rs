//! The diagram's view of a schema: its tables, key columns and foreign keys.

use stratum_core::diagram::{Column, ForeignKey, Table};

use crate::database::executor::{ExecError, Executor, Row};
use crate::database::sql::literal;
use crate::options::TrackingTable;

use super::{flag, text};

/// The tables of the tracking table's schema, the tracking table left out.
pub async fn read_schema<E: Executor>(
    executor: &mut E,
    tracking: &TrackingTable,
) -> Result<(Vec<Table>, Vec<ForeignKey>), ExecError> {
    let schema = literal(&tracking.schema);
    let table = literal(&tracking.table);
    let columns = executor
        .query(&format!(
            "SELECT c.relname, a.attname, t.typname,
                    EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid
                            AND k.contype = 'p' AND a.attnum = ANY (k.conkey)),
                    EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid
                            AND k.contype = 'f' AND a.attnum = ANY (k.conkey)),
                    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique
                            AND NOT i.indisprimary AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum
                            AND i.indpred IS NULL)
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               JOIN pg_type t ON t.oid = a.atttypid
              WHERE n.nspname = {schema} AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                AND c.relname <> {table}
              ORDER BY c.relname, a.attnum"
        ))
        .await?;
    let keys = executor
        .query(&format!(
            "SELECT src.relname, dst.relname,
                    (SELECT string_agg(a.attname, ', ' ORDER BY k.ord)
                       FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
                    (SELECT bool_or(NOT a.attnotnull)
                       FROM unnest(c.conkey) AS k(attnum)
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum)
               FROM pg_constraint c
               JOIN pg_class src ON src.oid = c.conrelid
               JOIN pg_namespace n ON n.oid = src.relnamespace
               JOIN pg_class dst ON dst.oid = c.confrelid
              WHERE c.contype = 'f' AND n.nspname = {schema} AND src.relname <> {table}"
        ))
        .await?;
    Ok((tables(columns), keys.into_iter().map(foreign_key).collect()))
}

fn tables(rows: Vec<Row>) -> Vec<Table> {
    let mut tables: Vec<Table> = Vec::new();
    for row in rows {
        let column = Column {
            name: text(&row, 1),
            type_name: text(&row, 2),
            primary_key: flag(&row, 3),
            foreign_key: flag(&row, 4),
            unique: flag(&row, 5),
        };
        let name = text(&row, 0);
        match tables.last_mut() {
            Some(table) if table.name == name => table.columns.push(column),
            _ => tables.push(Table {
                name,
                columns: vec![column],
            }),
        }
    }
    tables
}

fn foreign_key(row: Row) -> ForeignKey {
    ForeignKey {
        table: text(&row, 0),
        references: text(&row, 1),
        columns: vec![text(&row, 2)],
        optional: flag(&row, 3),
    }
}
