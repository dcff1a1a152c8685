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
