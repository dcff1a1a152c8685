//! The tokio-postgres transport of the executor trait, over the simple query
//! protocol: a whole migration goes to the server as one message.

use std::collections::VecDeque;

use futures_util::{StreamExt, pin_mut};
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::connection::{OpenConnection, describe};
use super::executor::{ExecError, ExecErrorKind, Executor, Row};

/// How many migrations may be on the wire at once: enough to keep the
/// server busy, few enough to bound the memory of large files.
const PIPELINE_DEPTH: usize = 16;

pub struct PostgresExecutor {
    client: Client,
    /// The task driving the connection, when this executor owns it.
    driver: Option<tokio::task::JoinHandle<()>>,
}

impl PostgresExecutor {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            driver: None,
        }
    }

    /// An executor that owns its connection and can close it.
    pub fn owning(open: OpenConnection) -> Self {
        let (client, driver) = open.into_parts();
        Self {
            client,
            driver: Some(driver),
        }
    }

    /// Closes the connection and returns once its socket is closed, so a
    /// caller that bounds its connections can count this one as gone.
    pub async fn close(self) {
        drop(self.client);
        if let Some(driver) = self.driver {
            let _ = driver.await;
        }
    }
}

impl Executor for PostgresExecutor {
    async fn execute(&mut self, sql: &str) -> Result<(), ExecError> {
        // The stream tells each completed statement apart, so a failure can
        // be pinned to its statement even when PostgreSQL gives no position.
        let stream = self
            .client
            .simple_query_raw(sql)
            .await
            .map_err(|error| exec_error(&error, 0))?;
        pin_mut!(stream);
        let mut completed = 0;
        while let Some(message) = stream.next().await {
            match message {
                Ok(SimpleQueryMessage::CommandComplete(_)) => completed += 1,
                Ok(_) => {}
                Err(error) => return Err(exec_error(&error, completed)),
            }
        }
        Ok(())
    }

    /// Keeps up to `PIPELINE_DEPTH` messages on the wire: the server runs
    /// them back to back instead of waiting a round trip for each. A failed
    /// message leaves its transaction aborted, so every later one fails at
    /// its first statement and nothing after a failure runs.
    async fn execute_pipelined(
        &mut self,
        batches: &[&str],
        on_answer: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(), (usize, ExecError)> {
        let mut in_flight = VecDeque::with_capacity(PIPELINE_DEPTH);
        let mut next = 0;
        loop {
            while in_flight.len() < PIPELINE_DEPTH && next < batches.len() {
                // Awaiting the stream sends the message; its answer is read later.
                let stream = self
                    .client
                    .simple_query_raw(batches[next])
                    .await
                    .map_err(|error| (next, exec_error(&error, 0)))?;
                in_flight.push_back((next, Box::pin(stream)));
                next += 1;
            }
            let Some((index, mut stream)) = in_flight.pop_front() else {
                return Ok(());
            };
            let mut completed = 0;
            while let Some(message) = stream.next().await {
                match message {
                    Ok(SimpleQueryMessage::CommandComplete(_)) => completed += 1,
                    Ok(_) => {}
                    Err(error) => return Err((index, exec_error(&error, completed))),
                }
            }
            on_answer(index);
        }
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<Row>, ExecError> {
        let messages = self
            .client
            .simple_query(sql)
            .await
            .map_err(|error| exec_error(&error, 0))?;
        Ok(messages
            .into_iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|index| row.get(index).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }
}

fn exec_error(error: &tokio_postgres::Error, completed: usize) -> ExecError {
    match error.as_db_error() {
        Some(db) => ExecError {
            kind: if db.code().code().starts_with("57P") {
                // admin_shutdown, crash_shutdown, cannot_connect_now: the
                // server ended this session.
                ExecErrorKind::ConnectionLost
            } else {
                ExecErrorKind::Database
            },
            message: db.message().to_owned(),
            sqlstate: Some(db.code().code().to_owned()),
            detail: db.detail().map(str::to_owned),
            hint: db.hint().map(str::to_owned),
            position: match db.position() {
                Some(ErrorPosition::Original(position)) => Some(*position),
                _ => None,
            },
            statements_completed: completed,
        },
        None => ExecError {
            // The driver's error kinds are private; its I/O kind is told by
            // its text.
            kind: if error.is_closed() || error.to_string() == "error communicating with the server"
            {
                ExecErrorKind::ConnectionLost
            } else {
                ExecErrorKind::Transport
            },
            statements_completed: completed,
            ..ExecError::transport(describe(error))
        },
    }
}
