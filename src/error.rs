//! Every way an operation can fail, each with the stable code that Node sees
//! and the context (file, line, SQLSTATE…) that says what to do about it.

use std::fmt;

use stratum_core::lint::{Diagnostic, Severity};

use crate::database::migrator::AppliedMigration;
use stratum_core::{PlanError, SourceError};

/// A PostgreSQL error raised while applying a migration, mapped to its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqlFailure {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub pg_code: Option<String>,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// The source line and a caret under the column, when the position is known.
    pub excerpt: Option<String>,
}

/// A privilege the connected role lacks, and the statement that grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPrivilege {
    /// What is lacking and on what: `INSERT on table app.migrations`.
    pub missing: String,
    /// The statement an owner or a superuser runs to give it:
    /// `GRANT SELECT, INSERT, UPDATE ON app.migrations TO app_deploy`.
    pub fix: String,
}

/// An index a no-transaction file builds that is missing or INVALID after
/// the file's last statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexFailure {
    pub file: String,
    /// Where the statement that builds it starts.
    pub line: u32,
    pub column: u32,
    /// Schema-qualified when the catalog holds it.
    pub index: String,
    /// What is wrong and what to do.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Bad options or environment.
    Config(String),
    /// The migrations directory or a file in it could not be read.
    Io { path: String, message: String },
    /// Migration files with bad names, duplicate versions or bad encoding.
    Source(SourceError),
    /// The files and the tracking table disagree in a way `migrate` refuses.
    Plan(PlanError),
    /// The server could not be reached or refused the connection.
    Connect(String),
    /// The connection was lost in the middle of the work.
    ConnectionLost(String),
    /// PostgreSQL refused a statement.
    Sql(Box<SqlFailure>),
    /// Files that break the house rules; nothing ran. Warnings ride along.
    Lint(Vec<Diagnostic>),
    /// A no-transaction file ran, but an index it builds is missing or
    /// INVALID, so its tracking row was not written.
    InvalidIndex(Box<IndexFailure>),
    /// Another run held the migration lock for longer than allowed.
    LockTimeout { waited_ms: u64 },
    /// `fresh` or `reset` in production without `force`.
    Production { command: &'static str },
    /// The connected role lacks what the command needs of the tracking
    /// table or its schema; found before anything was written.
    Privilege {
        role: String,
        missing: Vec<MissingPrivilege>,
    },
    /// `baseline` refused: the database already tracks migrations, or no
    /// file has the version asked for.
    Baseline(String),
    /// A bug: a panic or an impossible state, caught before it reached Node.
    Internal(String),
    /// A failure after migrations of the same run committed: they stay
    /// applied, and the caller hears which.
    AfterApplied {
        applied: Vec<AppliedMigration>,
        error: Box<Error>,
    },
}

impl Error {
    /// The stable code Node sees as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "E_CONFIG",
            Self::Io { .. } => "E_IO",
            Self::Source(SourceError::BadNames(_)) => "E_FILENAME",
            Self::Source(SourceError::DuplicateVersion { .. }) => "E_DUPLICATE_VERSION",
            Self::Source(SourceError::NotUtf8 { .. } | SourceError::NulCharacter { .. }) => {
                "E_ENCODING"
            }
            Self::Plan(PlanError::Changed { .. }) => "E_CHANGED",
            Self::Plan(PlanError::Missing { .. }) => "E_MISSING",
            Self::Plan(PlanError::OutOfOrder { .. }) => "E_OUT_OF_ORDER",
            Self::Connect(_) => "E_CONNECT",
            Self::ConnectionLost(_) => "E_CONNECTION_LOST",
            Self::Sql(_) => "E_SQL",
            Self::Lint(_) => "E_LINT",
            Self::InvalidIndex(_) => "E_INVALID_INDEX",
            Self::LockTimeout { .. } => "E_LOCK_TIMEOUT",
            Self::Production { .. } => "E_PRODUCTION",
            Self::Privilege { .. } => "E_PRIVILEGE",
            Self::Baseline(_) => "E_BASELINE",
            Self::Internal(_) => "E_INTERNAL",
            Self::AfterApplied { error, .. } => error.code(),
        }
    }

    /// The file the error is about, when there is one.
    pub fn file(&self) -> Option<&str> {
        match self {
            Self::Io { path, .. } => Some(path),
            Self::Source(
                SourceError::NotUtf8 { file, .. } | SourceError::NulCharacter { file, .. },
            ) => Some(file),
            Self::Source(SourceError::DuplicateVersion { files, .. }) => {
                files.first().map(String::as_str)
            }
            Self::Source(SourceError::BadNames(names)) => {
                names.first().map(|(file, _)| file.as_str())
            }
            Self::Plan(plan) => plan.file(),
            Self::Sql(failure) => failure.file.as_deref(),
            Self::InvalidIndex(failure) => Some(&failure.file),
            Self::Lint(diagnostics) => first_error(diagnostics).map(|found| found.file.as_str()),
            Self::AfterApplied { error, .. } => error.file(),
            _ => None,
        }
    }

    pub fn line(&self) -> Option<u32> {
        match self {
            Self::Source(
                SourceError::NotUtf8 { line, .. } | SourceError::NulCharacter { line, .. },
            ) => Some(*line),
            Self::Sql(failure) => failure.line,
            Self::InvalidIndex(failure) => Some(failure.line),
            Self::Lint(diagnostics) => first_error(diagnostics).map(|found| found.line),
            Self::AfterApplied { error, .. } => error.line(),
            _ => None,
        }
    }

    pub fn column(&self) -> Option<u32> {
        match self {
            Self::Sql(failure) => failure.column,
            Self::InvalidIndex(failure) => Some(failure.column),
            Self::Lint(diagnostics) => first_error(diagnostics).map(|found| found.column),
            Self::AfterApplied { error, .. } => error.column(),
            _ => None,
        }
    }

    pub fn sql(&self) -> Option<&SqlFailure> {
        match self {
            Self::Sql(failure) => Some(failure),
            Self::AfterApplied { error, .. } => error.sql(),
            _ => None,
        }
    }

    /// The migrations of this run that committed before the failure.
    pub fn applied_before(&self) -> &[AppliedMigration] {
        match self {
            Self::AfterApplied { applied, .. } => applied,
            _ => &[],
        }
    }

    pub fn is_connection_lost(&self) -> bool {
        match self {
            Self::ConnectionLost(_) => true,
            Self::AfterApplied { error, .. } => error.is_connection_lost(),
            _ => false,
        }
    }

    /// This error, carrying `applied` when the run committed any.
    pub fn after(self, applied: Vec<AppliedMigration>) -> Self {
        match self {
            _ if applied.is_empty() => self,
            Self::AfterApplied { error, .. } => Self::AfterApplied { applied, error },
            error => Self::AfterApplied {
                applied,
                error: Box::new(error),
            },
        }
    }

    /// The same error with every occurrence of `secret` masked, so that a
    /// password never reaches a message, a log line or Node.
    pub fn redact(self, secret: Option<&str>) -> Self {
        let Some(secret) = secret.filter(|secret| !secret.is_empty()) else {
            return self;
        };
        let mask = |text: String| text.replace(secret, "****");
        let mask_opt = |text: Option<String>| text.map(mask);
        match self {
            Self::Config(message) => Self::Config(mask(message)),
            Self::Connect(message) => Self::Connect(mask(message)),
            Self::ConnectionLost(message) => Self::ConnectionLost(mask(message)),
            Self::Internal(message) => Self::Internal(mask(message)),
            Self::Sql(failure) => Self::Sql(Box::new(SqlFailure {
                message: mask(failure.message),
                detail: mask_opt(failure.detail),
                hint: mask_opt(failure.hint),
                excerpt: mask_opt(failure.excerpt),
                ..*failure
            })),
            Self::AfterApplied { applied, error } => Self::AfterApplied {
                applied,
                error: Box::new(error.redact(Some(secret))),
            },
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(message) | Self::Baseline(message) | Self::Internal(message) => {
                f.write_str(message)
            }
            Self::Io { path, message } => write!(f, "{path}: {message}"),
            Self::Source(error) => error.fmt(f),
            Self::Plan(error) => error.fmt(f),
            Self::Connect(message) => write!(f, "cannot connect to PostgreSQL: {message}"),
            Self::ConnectionLost(message) => write!(
                f,
                "the connection to PostgreSQL was lost: {message}; the migration \
                 that was running was rolled back by the server, run again to finish"
            ),
            Self::Sql(failure) => {
                if let Some(file) = &failure.file {
                    write!(f, "{file}")?;
                    if let (Some(line), Some(column)) = (failure.line, failure.column) {
                        write!(f, ":{line}:{column}")?;
                    }
                    f.write_str(": ")?;
                }
                f.write_str(&failure.message)?;
                if let Some(code) = &failure.pg_code {
                    write!(f, " (SQLSTATE {code})")?;
                }
                Ok(())
            }
            Self::Lint(diagnostics) => {
                let errors: Vec<&Diagnostic> = diagnostics
                    .iter()
                    .filter(|found| found.severity == Severity::Error)
                    .collect();
                write!(
                    f,
                    "{} lint error{} (nothing was applied): ",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                )?;
                for (index, found) in errors.iter().enumerate() {
                    if index > 0 {
                        f.write_str("; ")?;
                    }
                    write!(
                        f,
                        "{}:{}:{}: {}[{}]: {}",
                        found.file,
                        found.line,
                        found.column,
                        found.severity.as_str(),
                        found.rule,
                        found.message
                    )?;
                }
                Ok(())
            }
            Self::InvalidIndex(failure) => write!(
                f,
                "{}:{}:{}: {}",
                failure.file, failure.line, failure.column, failure.message
            ),
            Self::LockTimeout { waited_ms } => write!(
                f,
                "another migration run held the migration lock for {waited_ms} ms; \
                 wait for it to finish, or raise lockTimeoutMs"
            ),
            Self::AfterApplied { error, .. } => error.fmt(f),
            Self::Production { command } => write!(
                f,
                "refusing to run `{command}` with NODE_ENV=production: it drops every \
                 table; pass --force (or force: true) if you really mean it"
            ),
            Self::Privilege { role, missing } => {
                let role = stratum_core::grants::quote(role);
                for (index, lack) in missing.iter().enumerate() {
                    if index > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "role {role} lacks {}: {}", lack.missing, lack.fix)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<SourceError> for Error {
    fn from(error: SourceError) -> Self {
        Self::Source(error)
    }
}

impl From<PlanError> for Error {
    fn from(error: PlanError) -> Self {
        Self::Plan(error)
    }
}

fn first_error(diagnostics: &[Diagnostic]) -> Option<&Diagnostic> {
    diagnostics
        .iter()
        .find(|found| found.severity == Severity::Error)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_masks_the_password_everywhere() {
        let error = Error::Sql(Box::new(SqlFailure {
            message: "password hunter2 rejected".into(),
            detail: Some("hunter2".into()),
            ..SqlFailure::default()
        }))
        .redact(Some("hunter2"));
        let failure = error.sql().unwrap();
        assert!(!failure.message.contains("hunter2"));
        assert_eq!(failure.detail.as_deref(), Some("****"));
    }

    #[test]
    fn an_empty_secret_masks_nothing() {
        let error = Error::Connect("refused".into()).redact(Some(""));
        assert_eq!(error.to_string(), "cannot connect to PostgreSQL: refused");
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(Error::LockTimeout { waited_ms: 1 }.code(), "E_LOCK_TIMEOUT");
        let index = Error::InvalidIndex(Box::new(IndexFailure {
            file: "migrations/002_index.sql".into(),
            line: 2,
            column: 1,
            index: "public.users_email".into(),
            message: "index public.users_email is INVALID".into(),
        }));
        assert_eq!(index.code(), "E_INVALID_INDEX");
        assert_eq!(index.file(), Some("migrations/002_index.sql"));
        assert_eq!(
            Error::Production { command: "fresh" }.code(),
            "E_PRODUCTION"
        );
    }

    #[test]
    fn a_missing_privilege_names_it_and_its_grant() {
        let error = Error::Privilege {
            role: "app_deploy".into(),
            missing: vec![
                MissingPrivilege {
                    missing: "INSERT on table app.migrations".into(),
                    fix: "GRANT SELECT, INSERT, UPDATE ON app.migrations TO app_deploy".into(),
                },
                MissingPrivilege {
                    missing: "USAGE on sequence app.migrations_id_seq".into(),
                    fix: "GRANT USAGE ON SEQUENCE app.migrations_id_seq TO app_deploy".into(),
                },
            ],
        };
        assert_eq!(error.code(), "E_PRIVILEGE");
        assert_eq!(
            error.to_string(),
            "role app_deploy lacks INSERT on table app.migrations: \
             GRANT SELECT, INSERT, UPDATE ON app.migrations TO app_deploy; \
             role app_deploy lacks USAGE on sequence app.migrations_id_seq: \
             GRANT USAGE ON SEQUENCE app.migrations_id_seq TO app_deploy"
        );
    }
}
