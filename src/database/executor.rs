//! The narrow seam between the apply loop and a connection: run a batch of
//! SQL, query rows. The loop, the lock and the tracking logic are written
//! once against this trait; each transport implements only these two calls.

use std::future::Future;

#[cfg(not(target_family = "wasm"))]
use super::postgres::PostgresExecutor;
use crate::js_transport::JsExecutor;

/// A row of a simple query: every value as PostgreSQL's text, NULL as `None`.
pub type Row = Vec<Option<String>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecErrorKind {
    /// The server refused a statement; the connection is still usable.
    Database,
    /// The connection is gone.
    ConnectionLost,
    /// Anything else the transport could not do.
    Transport,
}

/// A failed batch, with what PostgreSQL said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecError {
    pub kind: ExecErrorKind,
    pub message: String,
    pub sqlstate: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// PostgreSQL's 1-based character position in the batch, when it gave one.
    pub position: Option<u32>,
    /// How many statements of the batch completed before the failing one.
    pub statements_completed: usize,
}

impl ExecError {
    pub fn transport(message: impl Into<String>) -> Self {
        Self {
            kind: ExecErrorKind::Transport,
            message: message.into(),
            sqlstate: None,
            detail: None,
            hint: None,
            position: None,
            statements_completed: 0,
        }
    }
}

pub trait Executor: Send {
    /// Runs `sql`, one or more statements, as one message to the server.
    fn execute(&mut self, sql: &str) -> impl Future<Output = Result<(), ExecError>> + Send;

    /// Runs `batches` in order, each as one message, calling `on_answer(i)`
    /// as batch `i` succeeds; stops at the first failure and returns its
    /// index. A transport that can send a message before the previous one's
    /// answer arrives (pipelining) does so; this default waits for each.
    fn execute_pipelined(
        &mut self,
        batches: &[&str],
        on_answer: &mut (dyn FnMut(usize) + Send),
    ) -> impl Future<Output = Result<(), (usize, ExecError)>> + Send {
        async move {
            for (index, batch) in batches.iter().enumerate() {
                self.execute(batch).await.map_err(|error| (index, error))?;
                on_answer(index);
            }
            Ok(())
        }
    }

    /// Runs one query and returns its rows as text.
    fn query(&mut self, sql: &str) -> impl Future<Output = Result<Vec<Row>, ExecError>> + Send;
}

/// The transport of a run: one type for every caller, so the apply loop and
/// the tracking reads are compiled once, not once per transport.
pub enum AnyExecutor {
    #[cfg(not(target_family = "wasm"))]
    Postgres(PostgresExecutor),
    Js(JsExecutor),
}

#[cfg(not(target_family = "wasm"))]
impl AnyExecutor {
    /// Closes the connection when this executor owns it (see `PostgresExecutor::close`).
    pub async fn close(self) {
        if let Self::Postgres(executor) = self {
            executor.close().await;
        }
    }
}

impl Executor for AnyExecutor {
    async fn execute(&mut self, sql: &str) -> Result<(), ExecError> {
        match self {
            #[cfg(not(target_family = "wasm"))]
            Self::Postgres(executor) => executor.execute(sql).await,
            Self::Js(executor) => executor.execute(sql).await,
        }
    }

    async fn execute_pipelined(
        &mut self,
        batches: &[&str],
        on_answer: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(), (usize, ExecError)> {
        match self {
            #[cfg(not(target_family = "wasm"))]
            Self::Postgres(executor) => executor.execute_pipelined(batches, on_answer).await,
            Self::Js(executor) => executor.execute_pipelined(batches, on_answer).await,
        }
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<Row>, ExecError> {
        match self {
            #[cfg(not(target_family = "wasm"))]
            Self::Postgres(executor) => executor.query(sql).await,
            Self::Js(executor) => executor.query(sql).await,
        }
    }
}
