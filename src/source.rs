//! Reads the migrations directory from disk and hands the files to the core.

use std::path::{Path, PathBuf};

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
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| Error::Io {
            path: shown.clone(),
            message: error.to_string(),
        })?;
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        if file_name.to_ascii_lowercase().ends_with(".sql") {
            paths.push((file_name, entry.path()));
        }
    }
    Ok(migrations_from_files(read_all(paths)?)?)
}

/// The contents of `paths`, read on as many threads as there are cores:
/// with thousands of small files the time goes to system calls, not bytes.
fn read_all(paths: Vec<(String, PathBuf)>) -> Result<Vec<(String, Vec<u8>)>> {
    let read = |(file_name, path): (String, PathBuf)| {
        std::fs::read(&path)
            .map(|bytes| (file_name, bytes))
            .map_err(|error| Error::Io {
                path: path.display().to_string(),
                message: error.to_string(),
            })
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    if paths.len() < PARALLEL_FROM || threads < 2 {
        return paths.into_iter().map(read).collect();
    }
    let chunk = paths.len().div_ceil(threads);
    let mut chunks = Vec::new();
    let mut rest = paths;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || chunk.into_iter().map(read).collect::<Result<Vec<_>>>())
            })
            .collect();
        let mut files = Vec::new();
        for worker in workers {
            let read = worker
                .join()
                .map_err(|_| Error::Internal("a thread reading migration files panicked".into()))?;
            files.extend(read?);
        }
        Ok(files)
    })
}

/// Below this many files one thread is quicker than starting more.
const PARALLEL_FROM: usize = 256;
