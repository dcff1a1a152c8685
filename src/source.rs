//! Reads the migrations directory from disk and hands the files to the core.

use std::path::Path;

use stratum_core::Migration;
use stratum_core::source::migrations_from_files;

use crate::error::{Error, Result};

/// Every migration in `dir`, checked and in version order.
pub fn read_migrations(dir: &Path) -> Result<Vec<Migration>> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => Error::Config(format!(
            "the migrations directory {shown} does not exist: create it, or point \
             dir / MIGRATIONS_DIR / package.json \"stratum\".\"dir\" at the right one"
        )),
        std::io::ErrorKind::NotADirectory => {
            Error::Config(format!("{shown} is a file, not a migrations directory"))
        }
        _ => Error::Io {
            path: shown.clone(),
            message: error.to_string(),
        },
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| Error::Io {
            path: shown.clone(),
            message: error.to_string(),
        })?;
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        if !file_name.to_ascii_lowercase().ends_with(".sql") {
            continue;
        }
        let path = entry.path();
        let bytes = std::fs::read(&path).map_err(|error| Error::Io {
            path: path.display().to_string(),
            message: error.to_string(),
        })?;
        files.push((file_name, bytes));
    }
    Ok(migrations_from_files(files)?)
}
