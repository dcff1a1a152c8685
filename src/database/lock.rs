//! The migration lock: a session advisory lock keyed on the tracking table,
//! taken by polling `pg_try_advisory_lock` with jittered backoff.
//!
//! Never a blocking `pg_advisory_lock`: a session waiting in it holds a
//! snapshot, and the lock holder's `CREATE INDEX CONCURRENTLY` waits for
//! every such snapshot, so the two would deadlock.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use stratum_core::checksum::checksum;

use super::executor::{ExecError, Executor};
use crate::options::TrackingTable;

const FIRST_WAIT: Duration = Duration::from_millis(10);
const LONGEST_WAIT: Duration = Duration::from_millis(500);

pub struct MigrationLock {
    key: i64,
}

pub enum LockError {
    TimedOut { waited: Duration },
    Exec(ExecError),
}

impl MigrationLock {
    /// Advisory locks are per database already, so the key only needs the
    /// schema and table: two tracking tables never block each other.
    pub fn new(table: &TrackingTable) -> Self {
        let digest = checksum(&format!(
            "stratum migration lock {}.{}",
            table.schema, table.table
        ));
        let key = u64::from_str_radix(&digest[..16], 16).unwrap_or(0);
        Self {
            key: i64::from_ne_bytes(key.to_ne_bytes()),
        }
    }

    pub async fn acquire<E: Executor>(
        &self,
        executor: &mut E,
        timeout: Duration,
    ) -> Result<(), LockError> {
        let started = Instant::now();
        let jitter = RandomState::new();
        let try_lock = format!("SELECT pg_try_advisory_lock({})", self.key);
        let mut wait = FIRST_WAIT;
        let mut attempt: u64 = 0;
        loop {
            let rows = executor.query(&try_lock).await.map_err(LockError::Exec)?;
            if rows
                .first()
                .and_then(|row| row.first())
                .and_then(Option::as_deref)
                == Some("t")
            {
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(LockError::TimedOut { waited });
            }
            // Up to half of the wait again, so racing waiters spread out.
            let spread = jitter.hash_one(attempt) % (wait.as_millis() as u64 / 2 + 1);
            let pause = (wait + Duration::from_millis(spread)).min(timeout - waited);
            tokio::time::sleep(pause).await;
            wait = (wait * 2).min(LONGEST_WAIT);
            attempt = attempt.wrapping_add(1);
        }
    }

    /// The same lock, scoped to the current transaction; a blocking wait is
    /// safe there, bounded by the transaction's `lock_timeout`.
    pub fn transaction_sql(&self) -> String {
        format!("SELECT pg_advisory_xact_lock({})", self.key)
    }

    pub async fn release<E: Executor>(&self, executor: &mut E) -> Result<(), ExecError> {
        executor
            .execute(&format!("SELECT pg_advisory_unlock({})", self.key))
            .await
    }
}
