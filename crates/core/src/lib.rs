//! The pure heart of stratum: migration files and their names, checksums,
//! positions in a file, and the plan that compares files with applied rows.
//!
//! Nothing here touches a socket, a file system or Node, so every function
//! can be tested with plain values and the crate compiles for wasm.

pub mod batch;
pub mod checksum;
pub mod diagram;
pub mod directives;
pub mod drift;
pub mod error;
pub mod fleet;
pub mod grants;
mod green;
pub mod indexes;
pub mod lint;
pub mod migration;
pub mod plan;
pub mod position;
pub mod source;
pub mod statements;
pub mod transaction;

pub use error::SourceError;
pub use migration::{Migration, MigrationName};
pub use plan::{Applied, Plan, PlanEntry, PlanError, State};
pub use position::LineColumn;
