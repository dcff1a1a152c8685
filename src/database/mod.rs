//! The PostgreSQL shell around the core: connection settings, the executor
//! trait and its tokio-postgres transport, the tracking table, the lock, and
//! the apply loop.

pub mod catalog;
#[cfg(not(target_family = "wasm"))]
pub mod connection;
pub mod drop;
pub mod embedded;
pub mod executor;
pub mod indexes;
pub mod lock;
pub mod migrator;
#[cfg(not(target_family = "wasm"))]
pub mod postgres;
pub mod privileges;
#[cfg(not(target_family = "wasm"))]
pub mod scratch;
pub mod sql;
#[cfg(not(target_family = "wasm"))]
pub mod tls;
pub mod tracking;
