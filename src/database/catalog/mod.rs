//! Reads what a schema holds from pg_catalog into plain values: the tables
//! and keys the diagram draws, and every object a migration can create, as
//! `fresh` and `reset` drop them, and the snapshot of a schema that drift
//! compares. The SQL is built and the rows are decoded
//! by plain functions, so both are tested without a server.

mod objects;
mod snapshot;
mod tables;

pub use objects::read_objects;
pub use objects::{CatalogError, ObjectKind, SchemaObject, objects_from_rows, objects_sql};
pub use snapshot::read_snapshot;
pub use tables::read_schema;

use crate::database::executor::Row;

/// A column of a catalog row as text; NULL reads as empty.
fn text(row: &Row, index: usize) -> String {
    row.get(index).cloned().flatten().unwrap_or_default()
}

/// A boolean column of a catalog row, as PostgreSQL prints it (`t`).
fn flag(row: &Row, index: usize) -> bool {
    text(row, index) == "t"
}
