//! The executor over a JavaScript callback: `query(sql)` resolves to the
//! rows as text, or to the error PostgreSQL gave. It carries an app's own
//! `pg.Client` natively, and every connection in the WebAssembly build, where
//! Rust has no sockets. The apply loop is the same code over either transport.

use napi::Status;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

use crate::database::executor::{ExecError, ExecErrorKind, Executor, Row};

/// What the callback resolves to.
#[napi(object)]
pub struct QueryOutcome {
    /// The rows of the last statement, every value as PostgreSQL's text.
    pub rows: Option<Vec<Vec<Option<String>>>>,
    /// Set instead of `rows` when a statement failed.
    pub error: Option<QueryError>,
}

/// A failed statement, as PostgreSQL reported it.
#[napi(object)]
pub struct QueryError {
    pub message: String,
    /// The SQLSTATE.
    pub code: Option<String>,
    /// 1-based character position in the query, when PostgreSQL gave one.
    pub position: Option<u32>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// How many statements of the query completed before the failing one.
    pub completed: Option<u32>,
    /// The connection is gone, not just the statement.
    pub lost: Option<bool>,
}

/// `(sql: string) => Promise<QueryOutcome>`, callable from any thread.
pub type QueryCallback = ThreadsafeFunction<String, Promise<QueryOutcome>, String, Status, false>;

pub struct JsExecutor {
    query: QueryCallback,
}

impl JsExecutor {
    pub fn new(query: QueryCallback) -> Self {
        Self { query }
    }

    async fn call(&self, sql: &str) -> Result<Vec<Row>, ExecError> {
        let promise = self
            .query
            .call_async(sql.to_owned())
            .await
            .map_err(|error| {
                ExecError::transport(format!("the query callback failed: {}", error.reason))
            })?;
        let outcome = promise.await.map_err(|error| {
            ExecError::transport(format!("the query callback rejected: {}", error.reason))
        })?;
        match outcome.error {
            None => Ok(outcome.rows.unwrap_or_default()),
            Some(error) => Err(ExecError {
                kind: if error.lost.unwrap_or(false) {
                    ExecErrorKind::ConnectionLost
                } else if error.code.is_some() {
                    ExecErrorKind::Database
                } else {
                    ExecErrorKind::Transport
                },
                message: error.message,
                sqlstate: error.code,
                detail: error.detail,
                hint: error.hint,
                position: error.position,
                statements_completed: error.completed.map_or(0, |n| n as usize),
            }),
        }
    }
}

impl Executor for JsExecutor {
    async fn execute(&mut self, sql: &str) -> Result<(), ExecError> {
        self.call(sql).await.map(drop)
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<Row>, ExecError> {
        self.call(sql).await
    }
}
