//! The apply loop, written once over the executor trait: read the tracking
//! table, plan, lock, apply each pending migration in its own transaction
//! together with its tracking row, and drop everything for fresh and reset.

use std::hash::{BuildHasher, RandomState};
use std::ops::Range;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use stratum_core::batch::{Batch, Origin, Purpose};
use stratum_core::indexes::IndexedRows;
use stratum_core::lint::{Checked, Diagnostic, Severity, TransactionMode, check, each_file};
use stratum_core::position::{line_column_at_byte, line_text};
use stratum_core::statements::containing;
use stratum_core::transaction::{TransactionLock, TransactionSettings};
use stratum_core::{Migration, Plan, PlanError, State};

use super::drop::drop_everything;
use super::executor::{ExecError, ExecErrorKind, Executor};
use super::indexes::BuiltIndexes;
use super::lock::{LockError, MigrationLock};
use super::privileges::{self, Facts, Intent};
use super::tracking::{Detail, Tracking, TrackingState};
use crate::error::{Error, Result, SqlFailure};
use crate::options::{LockMode, Settings};

/// A migration as it starts and ends, for progress callbacks.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress<'a> {
    Start {
        migration: &'a Migration,
    },
    End {
        migration: &'a Migration,
        duration: Duration,
    },
    /// The migration gave up on a table lock, was rolled back, and is sent
    /// again after `wait`.
    Retry {
        migration: &'a Migration,
        retry: &'a TableLockRetry,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub name: String,
    pub checksum: String,
    pub duration: Duration,
}

/// A pending file as `plan` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingFile {
    pub version: i64,
    pub name: String,
    pub file: String,
    pub statements: usize,
    pub transaction: TransactionMode,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DryRun {
    pub pending: Vec<PendingFile>,
    pub already_applied: usize,
    /// The newest applied migration: version and name.
    pub newest_applied: Option<(i64, String)>,
    pub diagnostics: Vec<Diagnostic>,
}

/// A migration sent again after it gave up waiting for a table lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLockRetry {
    pub version: i64,
    pub name: String,
    /// 1 for the first retry.
    pub attempt: u32,
    /// The backoff before it was sent again.
    pub wait: Duration,
    /// What PostgreSQL said when it gave up.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MigrateReport {
    pub applied: Vec<AppliedMigration>,
    /// Migrations that gave up on a table lock and were sent again.
    pub retries: Vec<TableLockRetry>,
    pub already_applied: usize,
    /// Rows of the earlier runner that took their file's checksum in this run.
    pub adopted: Vec<String>,
    /// Lint warnings of the files this run applied, and an `invalid-index`
    /// warning for each INVALID index dropped before its file built it again.
    pub warnings: Vec<Diagnostic>,
    /// The embedded server's data folder, when it was used.
    pub embedded: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusEntry {
    pub version: i64,
    pub name: String,
    pub state: State,
    pub applied_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusReport {
    pub entries: Vec<StatusEntry>,
    pub pending: usize,
    pub applied: usize,
    /// The embedded server's data folder, when it was used.
    pub embedded: Option<String>,
}

/// Whether a migration's commit waits for its WAL to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    Flush,
    Deferred,
}

/// Whether the migrations of a run each get their own transaction, or all
/// share the caller's (as in `fresh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrapping {
    Own,
    Outer,
}

impl MigrateReport {
    fn record(
        &mut self,
        migration: &Migration,
        duration: Duration,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) {
        progress(Progress::End {
            migration,
            duration,
        });
        self.applied.push(AppliedMigration {
            version: migration.version,
            name: migration.name.clone(),
            checksum: migration.checksum.clone(),
            duration,
        });
    }
}

/// The transaction one migration runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transaction {
    Own(Durability),
    Outer,
}

/// How a file checked before a run must run, and where its statements are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shape {
    mode: TransactionMode,
    statements: Vec<Range<usize>>,
}

/// Each file checked before a run, by file name.
type Shapes<'m> = std::collections::HashMap<&'m str, Shape>;

/// Why a group of migrations stopped: the index in the group of the one
/// that failed, and whether it gave up on a table lock (and may be retried).
struct Stopped {
    at: usize,
    error: Error,
    table_lock: bool,
}

pub struct Migrator<'a> {
    settings: &'a Settings,
    migrations: &'a [Migration],
    tracking: Tracking,
    lock: MigrationLock,
    /// The connected role, learnt by the preflight, for the hints of
    /// permission errors.
    role: OnceLock<String>,
    /// Whether the database is a Citus coordinator, learnt by the preflight.
    citus: OnceLock<bool>,
    /// The files' lint, shared by every target of a fleet.
    shared_lint: Option<&'a SharedLint>,
}

/// Each file's lint, worked out once at the first need and shared by the
/// migrators of a fleet's targets, which all run the same files.
#[derive(Default)]
pub struct SharedLint {
    by_file: OnceLock<std::collections::HashMap<String, Checked>>,
}

impl<'a> Migrator<'a> {
    pub fn new(settings: &'a Settings, migrations: &'a [Migration]) -> Self {
        Self {
            settings,
            migrations,
            tracking: Tracking::new(&settings.tracking),
            lock: MigrationLock::new(&settings.tracking),
            role: OnceLock::new(),
            citus: OnceLock::new(),
            shared_lint: None,
        }
    }

    /// Lints through `shared`, where each file is linted once for all
    /// the migrators that share it.
    pub fn sharing_lint(self, shared: &'a SharedLint) -> Self {
        Self {
            shared_lint: Some(shared),
            ..self
        }
    }

    /// Each of `files` linted, handed to `take` in order; side by side on
    /// the machine's cores when there is enough to lint, and from the
    /// shared lint when there is one.
    fn lint_files<'m>(
        &self,
        files: &[&'m Migration],
        mut take: impl FnMut(&'m Migration, Checked),
    ) {
        let Some(shared) = self.shared_lint else {
            self.lint_all(files, &mut take);
            return;
        };
        let by_file = shared.by_file.get_or_init(|| {
            let with_text: Vec<&Migration> = self
                .migrations
                .iter()
                .filter(|file| file.has_text)
                .collect();
            let mut by_file = std::collections::HashMap::new();
            self.lint_all(&with_text, &mut |file, checked| {
                by_file.insert(file.file_name.clone(), checked);
            });
            by_file
        });
        for file in files {
            match by_file.get(&file.file_name) {
                Some(checked) => take(file, checked.clone()),
                None => take(file, self.lint_one(file)),
            }
        }
    }

    /// Takes `take` as a trait object, so that the workers' code is built
    /// once rather than once for each caller.
    fn lint_all<'m>(&self, files: &[&'m Migration], take: &mut dyn FnMut(&'m Migration, Checked)) {
        each_file(
            files,
            |file| file.sql.len(),
            |file| self.lint_one(file),
            |file, checked| take(file, checked),
        );
    }

    fn lint_one(&self, file: &Migration) -> Checked {
        check(
            &self.settings.display_path(&file.file_name),
            &file.sql,
            &self.settings.lint_context(file.version),
        )
    }

    pub fn settings(&self) -> &Settings {
        self.settings
    }

    pub fn migrations(&self) -> &[Migration] {
        self.migrations
    }

    /// The files against `state` (read with `Detail::Full`): no lock and no
    /// write, not even the tracking table's creation.
    pub fn status(&self, state: &TrackingState) -> StatusReport {
        let plan = Plan::new(self.migrations, state.rows());
        let entries = plan
            .entries
            .iter()
            .map(|entry| StatusEntry {
                version: entry.version,
                name: entry.name.to_owned(),
                state: entry.state,
                applied_at: entry.applied.and_then(|row| row.applied_at.clone()),
                duration_ms: entry.applied.and_then(|row| row.duration_ms),
                checksum: entry
                    .applied
                    .and_then(|row| row.checksum.clone())
                    .or_else(|| entry.file.map(|file| file.checksum.clone())),
            })
            .collect();
        StatusReport {
            entries,
            pending: plan.count(State::Pending),
            applied: plan.count(State::Applied) + plan.count(State::Changed),
            embedded: None,
        }
    }

    /// Applies every pending migration; `state` is what the tracking table
    /// held before the run. With nothing to do it returns at once: no lock,
    /// no write.
    pub async fn migrate<E: Executor>(
        &self,
        executor: &mut E,
        state: &TrackingState,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<MigrateReport> {
        let plan = Plan::new(self.migrations, state.rows());
        self.check(&plan)?;
        if plan.is_up_to_date() {
            return Ok(MigrateReport {
                already_applied: plan.count(State::Applied),
                ..MigrateReport::default()
            });
        }
        if plan.pending().any(|file| !file.has_text) {
            return Err(Error::Internal(
                "a pending migration was planned without its text".into(),
            ));
        }
        // The house rules are checked before anything runs.
        let (modes, warnings) = self.check_files(plan.pending())?;
        self.refuse_unlockable(plan.pending(), &modes)?;
        let report = self
            .with_lock(executor, async |executor: &mut E| {
                self.migrate_locked(executor, &modes, progress).await
            })
            .await?;
        // The lint's warnings first, then what the run itself found.
        let warnings = warnings.into_iter().chain(report.warnings).collect();
        Ok(MigrateReport { warnings, ..report })
    }

    /// The report of a run with nothing to do, or `None` when something is
    /// pending. It needs only the files' checksums and the tracking rows.
    pub fn up_to_date(&self, state: &TrackingState) -> Result<Option<MigrateReport>> {
        let plan = Plan::new(self.migrations, state.rows());
        self.check(&plan)?;
        Ok(plan.is_up_to_date().then(|| MigrateReport {
            already_applied: plan.count(State::Applied),
            ..MigrateReport::default()
        }))
    }

    /// What `migrate` would do, without a lock and without writing anything:
    /// the pending files in order, and their lint findings.
    pub fn dry_run(&self, state: &TrackingState) -> Result<DryRun> {
        let plan = Plan::new(self.migrations, state.rows());
        self.check(&plan)?;
        let mut report = DryRun {
            already_applied: plan.count(State::Applied),
            newest_applied: plan
                .entries
                .iter()
                .rev()
                .find(|entry| entry.state != State::Pending)
                .map(|entry| (entry.version, entry.name.to_owned())),
            ..DryRun::default()
        };
        let pending: Vec<&Migration> = plan.pending().collect();
        self.lint_files(&pending, |file, checked| {
            report.pending.push(PendingFile {
                version: file.version,
                name: file.name.clone(),
                file: self.settings.display_path(&file.file_name),
                statements: checked.statements.len(),
                transaction: checked.mode,
            });
            report.diagnostics.extend(checked.diagnostics);
        });
        Ok(report)
    }

    /// A no-transaction file cannot hold a transaction lock across its
    /// statements, so the transaction lock mode cannot run one safely.
    fn refuse_unlockable<'m>(
        &self,
        mut files: impl Iterator<Item = &'m Migration>,
        shapes: &Shapes<'_>,
    ) -> Result<()> {
        if self.settings.lock_mode != LockMode::Transaction {
            return Ok(());
        }
        let unlockable = files.find(|file| {
            shapes
                .get(file.file_name.as_str())
                .is_some_and(|shape| shape.mode == TransactionMode::NoTransaction)
        });
        match unlockable {
            Some(file) => Err(Error::Config(format!(
                "{} runs without a transaction, which lockMode \"transaction\" cannot protect: \
                 apply it once over a direct connection with lockMode \"session\"",
                self.settings.display_path(&file.file_name)
            ))),
            None => Ok(()),
        }
    }

    /// Lints `files`: any error refuses the run; their shapes and the
    /// warnings are returned. Each file is parsed once.
    fn check_files<'m>(
        &self,
        files: impl Iterator<Item = &'m Migration>,
    ) -> Result<(Shapes<'m>, Vec<Diagnostic>)> {
        let files: Vec<&'m Migration> = files.collect();
        let mut shapes = Shapes::new();
        let mut diagnostics = Vec::new();
        self.lint_files(&files, |file, checked| {
            shapes.insert(
                &file.file_name,
                Shape {
                    mode: checked.mode,
                    statements: checked.statements,
                },
            );
            diagnostics.extend(checked.diagnostics);
        });
        if diagnostics
            .iter()
            .any(|found| found.severity == Severity::Error)
        {
            return Err(Error::Lint(diagnostics));
        }
        Ok((shapes, diagnostics))
    }

    async fn migrate_locked<E: Executor>(
        &self,
        executor: &mut E,
        shapes: &Shapes<'_>,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<MigrateReport> {
        // Another run may have finished while this one waited for the lock.
        let plan_state = self.prepare_tracking(executor).await?;
        let plan = Plan::new(self.migrations, plan_state.rows());
        self.check(&plan)?;

        let adopt: Vec<&Migration> = plan
            .entries
            .iter()
            .filter(|entry| entry.needs_adoption())
            .filter_map(|entry| entry.file)
            .collect();
        if !adopt.is_empty() {
            let sql: String = adopt
                .iter()
                .map(|file| self.tracking.adopt_sql(file))
                .collect();
            self.in_transaction(executor, async |executor: &mut E| {
                self.run_own(executor, &sql).await
            })
            .await?;
        }
        let pending: Vec<&Migration> = plan.pending().collect();
        let run = self
            .apply_all(executor, &pending, shapes, Wrapping::Own, progress)
            .await?;
        Ok(MigrateReport {
            already_applied: plan.count(State::Applied) + run.already_applied,
            adopted: adopt.iter().map(|file| file.name.clone()).collect(),
            ..run
        })
    }

    /// Reads the tracking table, creating or upgrading it first when needed.
    async fn prepare_tracking<E: Executor>(&self, executor: &mut E) -> Result<TrackingState> {
        let state = self.read_tracking(executor).await?;
        let transaction_lock = self.settings.lock_mode == LockMode::Transaction;
        let facts = self
            .preflight(executor, Intent::migrate(&state, transaction_lock))
            .await?;
        let Some(sql) = self.tracking.ensure_sql(&state, facts.schema_exists) else {
            return Ok(state);
        };
        self.in_transaction(executor, async |executor: &mut E| {
            self.run_own(executor, &sql).await
        })
        .await?;
        self.read_tracking(executor).await
    }

    /// Applies `pending` in order. In their own transactions, only the last
    /// commit of the run waits for its WAL flush, which makes every earlier
    /// commit durable too. Runs of transactional files are pipelined: each
    /// message is sent before the previous one's answer arrives, and a
    /// failure stops every later one (see `batch`). A migration that gave up
    /// on a table lock is rolled back and sent again, up to
    /// `tableLockRetries` times.
    async fn apply_all<E: Executor>(
        &self,
        executor: &mut E,
        pending: &[&Migration],
        checked: &Shapes<'_>,
        wrapping: Wrapping,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<MigrateReport> {
        // Every file was checked before the run; a file that was not would
        // be a bug, and is refused rather than run the wrong way.
        let shapes = pending
            .iter()
            .map(|file| {
                checked.get(file.file_name.as_str()).ok_or_else(|| {
                    Error::Internal(format!("{} was not checked before the run", file.file_name))
                })
            })
            .collect::<Result<Vec<&Shape>>>()?;
        let transaction_of = |index: usize| match wrapping {
            Wrapping::Outer => Transaction::Outer,
            Wrapping::Own if index + 1 == pending.len() => Transaction::Own(Durability::Flush),
            Wrapping::Own => Transaction::Own(Durability::Deferred),
        };
        // The transaction lock mode learns from each answer whether another
        // run got there first, so it waits for every answer.
        let pipelined = self.settings.lock_mode == LockMode::Session;
        let no_transaction = |index: usize| shapes[index].mode == TransactionMode::NoTransaction;
        let mut report = MigrateReport::default();
        let mut index = 0;
        // The file being retried, and how often it was.
        let mut retried = (usize::MAX, 0);
        while index < pending.len() {
            let group_end = if pipelined && !no_transaction(index) {
                (index..pending.len())
                    .find(|at| no_transaction(*at))
                    .unwrap_or(pending.len())
            } else {
                index + 1
            };
            let group = &pending[index..group_end];
            let outcome = if no_transaction(index) {
                progress(Progress::Start {
                    migration: group[0],
                });
                let started = Instant::now();
                self.apply_statements(executor, group[0], &shapes[index].statements)
                    .await
                    .map(|dropped| {
                        report.warnings.extend(dropped);
                        report.record(group[0], started.elapsed(), progress);
                    })
            } else {
                let batches: Vec<Batch> = group
                    .iter()
                    .enumerate()
                    .map(|(offset, file)| {
                        let previous =
                            (offset > 0 && wrapping == Wrapping::Own).then(|| group[offset - 1]);
                        self.batch(
                            file,
                            shapes[index + offset],
                            transaction_of(index + offset),
                            previous,
                        )
                    })
                    .collect();
                self.apply_batches(
                    executor,
                    group,
                    &batches,
                    transaction_of(index),
                    progress,
                    &mut report,
                )
                .await
            };
            let Err(stopped) = outcome else {
                index = group_end;
                continue;
            };
            let failed = index + stopped.at;
            let mut error = stopped.error;
            if stopped.table_lock && wrapping == Wrapping::Own {
                if retried.0 != failed {
                    retried = (failed, 0);
                }
                if retried.1 < self.settings.table_lock_retries {
                    retried.1 += 1;
                    let retry = TableLockRetry {
                        version: pending[failed].version,
                        name: pending[failed].name.clone(),
                        attempt: retried.1,
                        wait: table_lock_backoff(retried.1),
                        reason: error.to_string(),
                    };
                    progress(Progress::Retry {
                        migration: pending[failed],
                        retry: &retry,
                    });
                    tokio::time::sleep(retry.wait).await;
                    report.retries.push(retry);
                    index = failed;
                    continue;
                }
                self.name_lock_holders(executor, &mut error).await;
            }
            if wrapping == Wrapping::Outer {
                // The caller's transaction rolls back: nothing stays applied.
                return Err(error);
            }
            if let Some(last) = report.applied.last() {
                self.flush(executor, &last.name).await;
            }
            return Err(error.after(report.applied));
        }
        Ok(report)
    }

    /// Sends `batches` (one per file of `group`) pipelined and records each
    /// as its answer arrives.
    async fn apply_batches<E: Executor>(
        &self,
        executor: &mut E,
        group: &[&Migration],
        batches: &[Batch],
        transaction: Transaction,
        progress: &(dyn Fn(Progress<'_>) + Sync),
        report: &mut MigrateReport,
    ) -> Result<(), Stopped> {
        let sqls: Vec<&str> = batches.iter().map(Batch::sql).collect();
        progress(Progress::Start {
            migration: group[0],
        });
        let mut started = Instant::now();
        let mut on_answer = |done: usize| {
            report.record(group[done], started.elapsed(), progress);
            started = Instant::now();
            if let Some(next) = group.get(done + 1) {
                progress(Progress::Start { migration: next });
            }
        };
        let Err((failed, error)) = executor.execute_pipelined(&sqls, &mut on_answer).await else {
            return Ok(());
        };
        if error.kind == ExecErrorKind::Database && transaction != Transaction::Outer {
            // The failed statement left the transaction aborted; end it.
            let _ = executor.execute("ROLLBACK").await;
        }
        let origin = batches[failed].failed_statement(error.statements_completed);
        // In the transaction lock mode a claim that failed on the unique
        // name means another run applied the file: not a failure.
        let claim_taken = self.settings.lock_mode == LockMode::Transaction
            && error.sqlstate.as_deref() == Some(UNIQUE_VIOLATION)
            && origin == Some(Origin::Own(Purpose::Claim));
        if claim_taken {
            report.already_applied += 1;
            return Ok(());
        }
        let lock_wait = error.sqlstate.as_deref() == Some(LOCK_NOT_AVAILABLE);
        // A wait for another run's lock that ran out (transaction lock mode).
        if lock_wait && origin == Some(Origin::Own(Purpose::Lock)) {
            return Err(Stopped {
                at: failed,
                error: self.lock_timeout(),
                table_lock: false,
            });
        }
        Err(Stopped {
            at: failed,
            table_lock: lock_wait && matches!(origin, Some(Origin::File { .. })),
            error: self.migration_error(error, group[failed], &batches[failed], None),
        })
    }

    /// The message of one file: its transaction, its text and its tracking
    /// row, so the row is written if and only if the file's work is. When
    /// the previous file's message was sent ahead of its answer, this one
    /// first checks that the previous one committed: should that one have
    /// failed at its COMMIT (a deferred constraint), this one fails too.
    fn batch(
        &self,
        migration: &Migration,
        shape: &Shape,
        transaction: Transaction,
        previous: Option<&Migration>,
    ) -> Batch {
        let sql = migration.sql.as_str();
        let spans = &shape.statements;
        let mut batch = Batch::new();
        if let (Some(previous), Transaction::Own(_)) = (previous, transaction) {
            batch.own(
                Purpose::PreviousCommitted,
                &self.tracking.committed_sql(previous),
            );
        }
        let insert = self.tracking.insert_sql(migration);
        match (shape.mode, transaction) {
            // Through a transaction pooler: lock, then claim the tracking row
            // before the file runs; a claim that fails means another run
            // applied it while this one waited.
            (mode, Transaction::Own(durability))
                if self.settings.lock_mode == LockMode::Transaction =>
            {
                let body = match mode {
                    TransactionMode::AlreadyWrapped {
                        body_start,
                        commit_start,
                    } => body_start..commit_start,
                    _ => 0..sql.len(),
                };
                self.begin(&mut batch, durability);
                batch
                    .own(Purpose::Claim, &self.tracking.claim_sql(migration))
                    .file(sql, body, spans)
                    .own(
                        Purpose::Record,
                        &self.tracking.record_duration_sql(migration),
                    )
                    .own(Purpose::Commit, "COMMIT");
            }
            (
                TransactionMode::Wrapped | TransactionMode::NoTransaction,
                Transaction::Own(durability),
            ) => {
                self.begin(&mut batch, durability);
                batch
                    .file(sql, 0..sql.len(), spans)
                    .own(Purpose::Record, &insert)
                    .own(Purpose::Commit, "COMMIT");
            }
            (TransactionMode::Wrapped | TransactionMode::NoTransaction, Transaction::Outer) => {
                batch
                    .file(sql, 0..sql.len(), spans)
                    .own(Purpose::Record, &insert);
            }
            // The file's own BEGIN … COMMIT is honoured, not doubled: the
            // settings go in just after its BEGIN, the tracking row just
            // before its COMMIT.
            (
                TransactionMode::AlreadyWrapped {
                    body_start,
                    commit_start,
                },
                Transaction::Own(durability),
            ) => {
                batch.file(sql, 0..body_start, spans);
                self.settings_sql(&mut batch, durability);
                batch
                    .file(sql, body_start..commit_start, spans)
                    .own(Purpose::Record, &insert)
                    .file(sql, commit_start..sql.len(), spans);
            }
            // Inside fresh's transaction the wrapper itself is left out.
            (
                TransactionMode::AlreadyWrapped {
                    body_start,
                    commit_start,
                },
                Transaction::Outer,
            ) => {
                batch
                    .file(sql, body_start..commit_start, spans)
                    .own(Purpose::Record, &insert);
            }
        }
        batch
    }

    /// A `-- stratum:no-transaction` file: each statement on its own (VACUUM
    /// and CONCURRENTLY refuse even a multi-statement message), then the
    /// tracking row once the last one succeeded and every index the file
    /// builds is valid (see `indexes`). With no transaction to set it in,
    /// the table-lock bound is the session's for the file's length. Returns
    /// warnings about invalid indexes it dropped before the file ran.
    async fn apply_statements<E: Executor>(
        &self,
        executor: &mut E,
        migration: &Migration,
        statements: &[Range<usize>],
    ) -> Result<Vec<Diagnostic>, Stopped> {
        let stopped = |error: Error, table_lock: bool| Stopped {
            at: 0,
            error,
            table_lock,
        };
        let file = self.settings.display_path(&migration.file_name);
        let indexes = BuiltIndexes::new(&file, &migration.sql);
        let warnings = indexes
            .drop_invalid(executor)
            .await
            .map_err(|error| stopped(error, false))?;
        let restore = self
            .bound_session_lock_wait(executor)
            .await
            .map_err(|error| stopped(error, false))?;
        let mut outcome = Ok(());
        for (index, span) in statements.iter().enumerate() {
            let mut batch = Batch::new();
            batch.file(&migration.sql, span.clone(), statements);
            let Err(error) = executor.execute(batch.sql()).await else {
                continue;
            };
            let usable = error.kind == ExecErrorKind::Database;
            let table_lock = error.sqlstate.as_deref() == Some(LOCK_NOT_AVAILABLE);
            let note = format!(
                "statement {} of {}; the {index} before it are committed: this file runs \
                 without a transaction. Its statements are idempotent, so fix this one and \
                 run again",
                index + 1,
                statements.len()
            );
            let mut failure = self.migration_error(error, migration, &batch, Some(&note));
            let cleaned = if usable {
                indexes.clean_up_failed(executor, index).await
            } else {
                None
            };
            if let (Error::Sql(failure), Some(cleaned)) = (&mut failure, cleaned) {
                failure.hint = Some(match failure.hint.take() {
                    Some(hint) => format!("{hint}. Also, {cleaned}"),
                    None => cleaned,
                });
            }
            outcome = Err(stopped(failure, table_lock));
            break;
        }
        if let Some(restore) = restore {
            let restored = self.run_own(executor, &restore).await;
            if outcome.is_ok() {
                outcome = restored.map_err(|error| stopped(error, false));
            }
        }
        outcome?;
        indexes
            .check(executor)
            .await
            .map_err(|error| stopped(error, false))?;
        self.run_own(executor, &self.tracking.insert_sql(migration))
            .await
            .map_err(|error| stopped(error, false))?;
        Ok(warnings)
    }

    /// Sets the session's `lock_timeout` to the table-lock bound and returns
    /// the statement that puts the earlier value back; `None` when unbounded.
    async fn bound_session_lock_wait<E: Executor>(
        &self,
        executor: &mut E,
    ) -> Result<Option<String>> {
        let wait = self.settings.table_lock_timeout.as_millis();
        if wait == 0 {
            return Ok(None);
        }
        let rows = executor
            .query(&format!(
                "SELECT current_setting('lock_timeout'), set_config('lock_timeout', '{wait}', false)"
            ))
            .await
            .map_err(|error| self.tracking.error(error))?;
        let earlier = rows
            .first()
            .and_then(|row| row.first().cloned().flatten())
            .unwrap_or_else(|| "0".into());
        Ok(Some(format!(
            "SELECT set_config('lock_timeout', {}, false)",
            super::sql::literal(&earlier)
        )))
    }

    /// What each migration's transaction runs with.
    fn transaction_settings(&self) -> TransactionSettings {
        TransactionSettings {
            table_lock_timeout_ms: self.settings.table_lock_timeout.as_millis(),
            transaction_lock: (self.settings.lock_mode == LockMode::Transaction).then(|| {
                TransactionLock {
                    wait_ms: self.settings.lock_timeout.as_millis(),
                    sql: self.lock.transaction_sql(),
                }
            }),
            citus: self.citus.get().copied().unwrap_or(false),
        }
    }

    /// BEGIN, the migration lock in the transaction lock mode, and the
    /// settings the migration runs with.
    fn begin(&self, batch: &mut Batch, durability: Durability) {
        self.transaction_settings()
            .begin(batch, durability == Durability::Deferred);
    }

    /// The settings alone, for a file with its own BEGIN.
    fn settings_sql(&self, batch: &mut Batch, durability: Durability) {
        self.transaction_settings()
            .settings(batch, durability == Durability::Deferred);
    }

    /// Adds to a lock-timeout failure who holds table locks right now, so the
    /// message names the blocking session instead of leaving a guess.
    async fn name_lock_holders<E: Executor>(&self, executor: &mut E, failure: &mut Error) {
        let Error::Sql(failure) = failure else { return };
        let Ok(holders) = executor.query(LOCK_HOLDERS_SQL).await else {
            return;
        };
        let described: Vec<String> = holders
            .iter()
            .map(|row| {
                let field = |index: usize| row.get(index).cloned().flatten().unwrap_or_default();
                format!(
                    "pid {} ({}, {}) holds {} on {}: {}",
                    field(0),
                    field(1),
                    field(2),
                    field(3),
                    field(4),
                    field(5)
                )
            })
            .collect();
        if !described.is_empty() {
            failure.detail = Some(format!(
                "table locks held by other sessions:\n{}",
                described.join("\n")
            ));
        }
        failure.hint = Some(format!(
            "a table this migration alters is locked by the app's own traffic; it waited {} ms \
             (tableLockTimeoutMs) rather than queue every other query behind itself. Run it \
             again when that session is done, or raise tableLockTimeoutMs",
            self.settings.table_lock_timeout.as_millis()
        ));
    }

    /// Makes the run's deferred commits durable before it reports a failure:
    /// a synchronous commit that wrote WAL waits for the flush of all WAL
    /// before it. It must write some: a transaction that only takes an XID
    /// commits asynchronously, so it rewrites the last applied row as it is.
    async fn flush<E: Executor>(&self, executor: &mut E, last_applied: &str) {
        // Best effort: if this fails the connection is gone, and the server
        // flushes deferred commits within a few hundred milliseconds anyway.
        let _ = executor
            .execute(&format!(
                "BEGIN; SET LOCAL synchronous_commit = on; {} COMMIT;",
                self.tracking.rewrite_sql(last_applied)
            ))
            .await;
    }

    /// Records the files numbered up to `version` as applied, with their
    /// checksums, without running them: for a database whose schema was
    /// built before any tracking. One transaction under the lock; refused
    /// when the tracking table already holds a row, or when no file is
    /// numbered `version`.
    pub async fn baseline<E: Executor>(
        &self,
        executor: &mut E,
        version: i64,
    ) -> Result<Vec<&'a Migration>> {
        if !self.migrations.iter().any(|file| file.version == version) {
            let numbers = match (self.migrations.first(), self.migrations.last()) {
                (Some(first), Some(last)) => {
                    format!(
                        "the files are numbered {} to {}",
                        first.version, last.version
                    )
                }
                _ => format!(
                    "{} holds no migration files",
                    self.settings.display_dir.display()
                ),
            };
            return Err(Error::Baseline(format!(
                "no migration file is numbered {version}, so there is nothing to baseline up to; \
                 {numbers}"
            )));
        }
        let files: Vec<&'a Migration> = self
            .migrations
            .iter()
            .filter(|file| file.version <= version)
            .collect();
        let refuse = |state: &TrackingState| match state.rows().len() {
            0 => Ok(()),
            count => Err(Error::Baseline(format!(
                "{}.{} already records {count} migration(s): baseline is only for a database \
                 that tracks none yet; run `stratum migrate` instead",
                self.settings.tracking.schema, self.settings.tracking.table
            ))),
        };
        // Refused before anything is written, the tracking table included.
        refuse(&self.read_tracking(executor).await?)?;
        self.with_lock(executor, async |executor: &mut E| {
            self.prepare_tracking(executor).await?;
            self.in_transaction(executor, async |executor: &mut E| {
                // Another run may have got there while this one waited.
                refuse(&self.read_tracking(executor).await?)?;
                let sql: String = files
                    .iter()
                    .map(|file| self.tracking.claim_sql(file))
                    .collect();
                self.run_own(executor, &sql).await
            })
            .await
        })
        .await?;
        Ok(files)
    }

    /// Drops every object in the schema, the tracking table included, in one
    /// transaction under the lock: a failure drops nothing. Returns how many
    /// objects were dropped.
    pub async fn reset<E: Executor>(&self, executor: &mut E) -> Result<usize> {
        self.with_lock(executor, async |executor: &mut E| {
            self.preflight(executor, Intent::Reset).await?;
            self.in_transaction(executor, async |executor: &mut E| {
                self.drop_everything(executor).await
            })
            .await
        })
        .await
    }

    /// Drops everything and applies every migration in one transaction under
    /// the lock: a failure, or a kill half-way, leaves the database as it was.
    pub async fn fresh<E: Executor>(
        &self,
        executor: &mut E,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<MigrateReport> {
        let (modes, warnings) = self.check_files(self.migrations.iter())?;
        self.refuse_unlockable(self.migrations.iter(), &modes)?;
        let all: Vec<&Migration> = self.migrations.iter().collect();
        // A no-transaction file cannot join the one transaction; then only
        // the drop is atomic, and the files apply as `migrate` applies them.
        let atomic = modes
            .values()
            .all(|shape| shape.mode != TransactionMode::NoTransaction);
        let report = self
            .with_lock(executor, async |executor: &mut E| {
                let facts = self.preflight(executor, Intent::Fresh).await?;
                let applied_inside = self
                    .in_transaction(executor, async |executor: &mut E| {
                        self.drop_everything(executor).await?;
                        // Read nothing here: a failed read would abort the transaction.
                        let absent = TrackingState::Absent;
                        if let Some(sql) = self.tracking.ensure_sql(&absent, facts.schema_exists) {
                            self.run_own(executor, &sql).await?;
                        }
                        if atomic {
                            self.apply_all(executor, &all, &modes, Wrapping::Outer, progress)
                                .await
                        } else {
                            Ok(MigrateReport::default())
                        }
                    })
                    .await?;
                if atomic {
                    return Ok(applied_inside);
                }
                self.apply_all(executor, &all, &modes, Wrapping::Own, progress)
                    .await
            })
            .await?;
        // The lint's warnings first, then what the run itself found.
        let warnings = warnings.into_iter().chain(report.warnings).collect();
        Ok(MigrateReport { warnings, ..report })
    }

    async fn drop_everything<E: Executor>(&self, executor: &mut E) -> Result<usize> {
        drop_everything(executor, &self.settings.tracking.schema).await
    }

    /// Runs `work` between BEGIN and COMMIT, rolling back when it fails.
    async fn in_transaction<E: Executor, T>(
        &self,
        executor: &mut E,
        work: impl AsyncFnOnce(&mut E) -> Result<T>,
    ) -> Result<T> {
        let mut begin = Batch::new();
        self.begin(&mut begin, Durability::Flush);
        if let Err(error) = executor.execute(begin.sql()).await {
            let _ = executor.execute("ROLLBACK").await;
            return Err(self.own_failure(error, &begin));
        }
        match work(executor).await {
            Ok(value) => {
                self.run_own(executor, "COMMIT").await?;
                Ok(value)
            }
            Err(error) => {
                if !error.is_connection_lost() {
                    let _ = executor.execute("ROLLBACK").await;
                }
                Err(error)
            }
        }
    }

    /// A failure of a message of stratum's own: a wait for another run's
    /// lock that ran out (transaction lock mode), or an error on the table.
    fn own_failure(&self, error: ExecError, batch: &Batch) -> Error {
        let origin = batch.failed_statement(error.statements_completed);
        if error.sqlstate.as_deref() == Some(LOCK_NOT_AVAILABLE)
            && origin == Some(Origin::Own(Purpose::Lock))
        {
            return self.lock_timeout();
        }
        self.tracking.error(error)
    }

    fn lock_timeout(&self) -> Error {
        Error::LockTimeout {
            waited_ms: u64::try_from(self.settings.lock_timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Runs stratum's own SQL (not a migration's).
    async fn run_own<E: Executor>(&self, executor: &mut E, sql: &str) -> Result<()> {
        executor.execute(sql).await.map_err(|error| {
            let role = self.role.get().map(String::as_str);
            self.tracking.error(privileges::with_hint(error, role))
        })
    }

    /// Refuses `intent` before anything is written when the role lacks a
    /// privilege it needs of the tracking table or its schema.
    async fn preflight<E: Executor>(&self, executor: &mut E, intent: Intent) -> Result<Facts> {
        let facts = privileges::preflight(executor, &self.settings.tracking, intent).await?;
        let _ = self.role.set(facts.role.clone());
        let _ = self.citus.set(facts.citus);
        Ok(facts)
    }

    async fn with_lock<E: Executor, T>(
        &self,
        executor: &mut E,
        work: impl AsyncFnOnce(&mut E) -> Result<T>,
    ) -> Result<T> {
        if self.settings.lock_mode == LockMode::Transaction {
            // Each transaction takes the lock itself (see begin_sql).
            return work(executor).await;
        }
        self.lock
            .acquire(executor, self.settings.lock_timeout)
            .await
            .map_err(|error| match error {
                LockError::TimedOut { waited } => Error::LockTimeout {
                    waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                },
                LockError::Exec(error) => self.tracking.error(error),
            })?;
        let outcome = work(executor).await;
        if !outcome.as_ref().is_err_and(Error::is_connection_lost) {
            // Closing the connection releases the lock too, so a failed
            // unlock changes nothing the caller needs to hear about.
            let _ = self.lock.release(executor).await;
        }
        outcome
    }

    /// The plan's verdict, with files named as the user knows them.
    fn check(&self, plan: &Plan<'_>) -> Result<()> {
        plan.check().map_err(|error| {
            Error::Plan(match error {
                PlanError::Changed { files } => PlanError::Changed {
                    files: files
                        .iter()
                        .map(|file| self.settings.display_path(file))
                        .collect(),
                },
                PlanError::OutOfOrder {
                    file,
                    newest_applied,
                    next_free,
                } => PlanError::OutOfOrder {
                    file: self.settings.display_path(&file),
                    newest_applied,
                    next_free,
                },
                missing @ PlanError::Missing { .. } => missing,
            })
        })
    }

    async fn read_tracking<E: Executor>(&self, executor: &mut E) -> Result<TrackingState> {
        self.tracking.read_state(executor, Detail::Plan).await
    }

    /// A failure inside a migration's message, pinned to its file, line and
    /// column when a statement of the file failed, or to the statement of
    /// stratum's own that did. `note` is added to the message.
    fn migration_error(
        &self,
        error: ExecError,
        migration: &Migration,
        batch: &Batch,
        note: Option<&str>,
    ) -> Error {
        let file = self.settings.display_path(&migration.file_name);
        if error.kind == ExecErrorKind::ConnectionLost {
            return Error::ConnectionLost(format!("{} while applying {file}", error.message));
        }
        // PostgreSQL's position when it gives one; else the start of the
        // statement that failed, told by how many statements completed.
        let located = error
            .position
            .and_then(|position| usize::try_from(position).ok())
            .and_then(|position| batch.locate(position));
        let origin = located
            .map(|located| located.origin)
            .or_else(|| batch.failed_statement(error.statements_completed));
        let offset = located
            .and_then(|located| located.file_offset)
            .or(match origin {
                Some(Origin::File { start, .. }) => Some(start),
                _ => None,
            })
            .filter(|offset| *offset < migration.sql.len());
        let at = offset.map(|offset| line_column_at_byte(&migration.sql, offset));
        let excerpt = at.map(|at| {
            let source = line_text(&migration.sql, at.line);
            let pad = " ".repeat(usize::try_from(at.column.saturating_sub(1)).unwrap_or(0));
            format!("{source}\n{pad}^")
        });
        let statement = offset
            .and_then(|offset| containing(&migration.sql, offset))
            .map(|statement| statement.text);
        let hint = error.hint.or_else(|| {
            common_hint(
                error.sqlstate.as_deref()?,
                error.detail.as_deref(),
                statement,
            )
        });
        let hint = hint.or_else(|| {
            let role = self.role.get().map(String::as_str);
            privileges::hint(error.sqlstate.as_deref(), &error.message, statement, role)
        });
        let mut message = error.message;
        if let Some(Origin::Own(purpose)) = origin {
            message = format!("{message} ({})", self.own_statement(purpose));
        }
        if let Some(note) = note {
            message = format!("{message} ({note})");
        }
        Error::Sql(Box::new(SqlFailure {
            file: Some(file),
            line: at.map(|at| at.line),
            column: at.map(|at| at.column),
            pg_code: error.sqlstate,
            message,
            detail: error.detail,
            hint,
            excerpt,
        }))
    }

    /// Where a failure in one of stratum's own statements happened, as the
    /// user can act on it.
    fn own_statement(&self, purpose: Purpose) -> String {
        let table = self.tracking.qualified();
        match purpose {
            Purpose::Record | Purpose::Claim => {
                format!("while recording the migration in the tracking table {table}")
            }
            Purpose::Commit => "at COMMIT: a deferred constraint or trigger of the file".into(),
            Purpose::PreviousCommitted => {
                format!("while checking that the migration before it is in {table}")
            }
            Purpose::Begin | Purpose::Setting | Purpose::Lock => {
                "while opening the migration's transaction".into()
            }
        }
    }
}

/// The backoff before the `attempt`-th retry of a migration that gave up on
/// a table lock: 250 ms doubling, plus up to half again of jitter, so racing
/// deploys spread out.
fn table_lock_backoff(attempt: u32) -> Duration {
    let base = 250u64 << attempt.saturating_sub(1).min(6);
    let jitter = RandomState::new().hash_one(attempt) % (base / 2 + 1);
    Duration::from_millis(base + jitter)
}

/// SQLSTATE of a duplicate key.
const UNIQUE_VIOLATION: &str = "23505";

/// SQLSTATE of a statement that gave up waiting for a lock (`lock_timeout`).
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Sessions holding locks on user tables of this database, oldest transaction first.
const LOCK_HOLDERS_SQL: &str = "SELECT a.pid, coalesce(a.usename, ''), coalesce(a.state, ''), l.mode,
        l.relation::regclass::text, left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 120)
   FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_backend_pid()
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND l.relation >= 16384
  ORDER BY a.xact_start NULLS LAST, a.pid
  LIMIT 5";

/// What to do about the failures the migration guide's troubleshooting
/// lists; `statement` is the failing statement, when it is known.
fn common_hint(sqlstate: &str, detail: Option<&str>, statement: Option<&str>) -> Option<String> {
    if sqlstate == UNIQUE_VIOLATION
        && let Some(rows) = statement.and_then(IndexedRows::of)
    {
        return Some(duplicated_rows_hint(&rows, detail));
    }
    match sqlstate {
        "23505" => Some(
            "the data is already there: make the INSERT idempotent with ON CONFLICT DO NOTHING",
        ),
        "42P01" => Some(
            "the relation does not exist: check that an earlier migration creates it, \
             and that its number is lower than this file's",
        ),
        "42P07" | "42710" => Some("it already exists: use CREATE … IF NOT EXISTS"),
        "25001" => Some(
            "this statement cannot run inside a transaction block: move it to its own \
             file whose first line is `-- stratum:no-transaction`",
        ),
        _ => None,
    }
    .map(str::to_owned)
}

/// A unique index built over rows already in the table (CREATE UNIQUE
/// INDEX, or ALTER TABLE … ADD UNIQUE / PRIMARY KEY) fails on rows that
/// share its key: the fix is in those rows, not in an INSERT.
fn duplicated_rows_hint(rows: &IndexedRows, detail: Option<&str>) -> String {
    let find = match detail.and_then(|detail| rows.duplicates_query(detail)) {
        Some(query) => format!("find them with `{query}`"),
        None => format!(
            "find them by grouping the rows of {} by the key, with GROUP BY … HAVING count(*) > 1",
            rows.table
        ),
    };
    format!(
        "rows already in {} share the key of this unique index, so it cannot be built: {find}, \
         then delete or merge the duplicates (or change the key) and run again",
        rows.table
    )
}
