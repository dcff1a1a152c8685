//! Errors in a set of migration files, found before anything runs.

use std::fmt;

use crate::migration::NameProblem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// `.sql` files whose names break the `NNN_name.sql` pattern.
    BadNames(Vec<(String, NameProblem)>),
    /// Two or more files share one version number.
    DuplicateVersion { version: i64, files: Vec<String> },
    /// A file is not valid UTF-8; `line` is where the first bad byte sits.
    NotUtf8 { file: String, line: u32 },
    /// A file holds a NUL character, which PostgreSQL cannot take in a query.
    NulCharacter { file: String, line: u32 },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadNames(names) => {
                write!(
                    f,
                    "migration file names must look like 001_create_users.sql:"
                )?;
                for (file, problem) in names {
                    write!(f, "\n  {file}: {}", problem.describe())?;
                }
                Ok(())
            }
            Self::DuplicateVersion { version, files } => write!(
                f,
                "version {version} is used by more than one file: {}; \
                 renumber the newer file to the next free number (the files of \
                 two branches that were merged usually cause this)",
                files.join(", ")
            ),
            Self::NulCharacter { file, line } => write!(
                f,
                "{file}:{line}: the file holds a NUL character, which PostgreSQL \
                 cannot take; remove it (the file may be binary or UTF-16)"
            ),
            Self::NotUtf8 { file, line } => write!(
                f,
                "{file}:{line}: the file is not valid UTF-8; save it as UTF-8"
            ),
        }
    }
}

impl std::error::Error for SourceError {}
