//! The PostgreSQL shell around the core: connection settings, the executor
//! trait and its tokio-postgres transport, the tracking table, the lock, and
//! the apply loop.

pub mod catalog;
pub mod connection;
pub mod drop;
pub mod embedded;
pub mod executor;
pub mod lock;
pub mod migrator;
pub mod postgres;
pub mod sql;
pub mod tls;
pub mod tracking;
