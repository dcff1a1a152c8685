//! The statements that open a migration's transaction and set what it runs
//! with: BEGIN, the migration lock in the transaction lock mode, how long a
//! statement may queue behind the app's table locks, the commit's
//! durability, and Citus's shard modify mode on a Citus coordinator.

use crate::batch::{Batch, Purpose};

/// What a migration's transaction runs with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransactionSettings {
    /// How long a statement may wait for a table lock, in milliseconds; 0: no limit.
    pub table_lock_timeout_ms: u128,
    /// Set in the transaction lock mode: the lock is taken inside each transaction.
    pub transaction_lock: Option<TransactionLock>,
    /// The database is a Citus coordinator (the `citus` extension is installed).
    pub citus: bool,
}

/// The migration lock taken inside the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionLock {
    /// How long to wait for another run's lock, in milliseconds.
    pub wait_ms: u128,
    /// The statement that takes it.
    pub sql: String,
}

impl TransactionSettings {
    /// BEGIN, the lock in the transaction lock mode, then the settings.
    pub fn begin(&self, batch: &mut Batch, deferred_commit: bool) {
        batch.own(Purpose::Begin, "BEGIN");
        if let Some(lock) = &self.transaction_lock {
            // The wait for another run is bounded by its own timeout, then
            // the statements go back to the table-lock bound.
            batch
                .own(
                    Purpose::Setting,
                    &format!("SET LOCAL lock_timeout = {}", lock.wait_ms.max(1)),
                )
                .own(Purpose::Lock, &lock.sql);
        }
        self.settings(batch, deferred_commit);
    }

    /// The settings alone, for a file that opens its own transaction.
    pub fn settings(&self, batch: &mut Batch, deferred_commit: bool) {
        let wait = self.table_lock_timeout_ms;
        if wait > 0 || self.transaction_lock.is_some() {
            batch.own(
                Purpose::Setting,
                &format!("SET LOCAL lock_timeout = {wait}"),
            );
        }
        if deferred_commit {
            batch.own(Purpose::Setting, "SET LOCAL synchronous_commit = off");
        }
        if self.citus {
            // Citus refuses a transaction that creates or alters objects
            // after a statement that ran on many shards over parallel
            // connections; run multi-shard statements over one connection
            // per worker, so any mix of DDL and DML in a file can commit.
            batch.own(
                Purpose::Setting,
                "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(settings: &TransactionSettings, deferred: bool) -> String {
        let mut batch = Batch::new();
        settings.begin(&mut batch, deferred);
        batch.into_sql()
    }

    #[test]
    fn plain_postgres_gets_no_citus_setting() {
        let settings = TransactionSettings {
            table_lock_timeout_ms: 5000,
            ..TransactionSettings::default()
        };
        let sent = sql(&settings, true);
        assert!(sent.starts_with("BEGIN;"), "{sent}");
        assert!(sent.contains("SET LOCAL lock_timeout = 5000;"), "{sent}");
        assert!(
            sent.contains("SET LOCAL synchronous_commit = off;"),
            "{sent}"
        );
        assert!(!sent.contains("citus"), "{sent}");
    }

    #[test]
    fn a_citus_coordinator_runs_multi_shard_statements_sequentially() {
        let settings = TransactionSettings {
            citus: true,
            ..TransactionSettings::default()
        };
        let mut batch = Batch::new();
        settings.begin(&mut batch, false);
        assert_eq!(
            batch.sql(),
            "BEGIN;\nSET LOCAL citus.multi_shard_modify_mode TO 'sequential';\n"
        );
        assert_eq!(batch.statement_count(), 2);
    }

    #[test]
    fn a_file_with_its_own_begin_gets_the_citus_setting_too() {
        let settings = TransactionSettings {
            citus: true,
            table_lock_timeout_ms: 10,
            ..TransactionSettings::default()
        };
        let mut batch = Batch::new();
        settings.settings(&mut batch, false);
        assert_eq!(
            batch.sql(),
            "SET LOCAL lock_timeout = 10;\nSET LOCAL citus.multi_shard_modify_mode TO 'sequential';\n"
        );
    }

    #[test]
    fn the_transaction_lock_waits_for_its_own_timeout_first() {
        let settings = TransactionSettings {
            table_lock_timeout_ms: 0,
            transaction_lock: Some(TransactionLock {
                wait_ms: 60000,
                sql: "SELECT pg_advisory_xact_lock(1)".into(),
            }),
            citus: false,
        };
        assert_eq!(
            sql(&settings, false),
            "BEGIN;\nSET LOCAL lock_timeout = 60000;\nSELECT pg_advisory_xact_lock(1);\n\
             SET LOCAL lock_timeout = 0;\n"
        );
    }
}
