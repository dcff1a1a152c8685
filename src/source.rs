//! Reads the migrations directory from disk and hands the files to the core.
//! Planning only needs checksums, so a file the file system reports
//! unchanged since it was last read is not opened again (see
//! `ChecksumCache`); applying always reads every file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use stratum_core::Migration;
use stratum_core::source::{FileContent, migrations_from_contents, migrations_from_files};

use crate::error::{Error, Result};

/// Every migration in `dir`, checked, in version order, with its text.
pub fn read_migrations(dir: &Path) -> Result<Vec<Migration>> {
    Ok(migrations_from_files(read_all(list_sql_files(dir)?)?)?)
}

/// Every migration in `dir`, checked and in version order, enough to plan:
/// files unchanged since a previous read come with their checksum only.
pub fn read_checksums(dir: &Path, cache: Option<&Path>) -> Result<Vec<Migration>> {
    let Some(cache_path) = cache else {
        return read_migrations(dir);
    };
    let mut cache = ChecksumCache::load(cache_path);
    let mut contents = Vec::new();
    let mut to_read = Vec::new();
    let mut stamps = HashMap::new();
    let stamped = on_all_cores(list_sql_files(dir)?, |(file_name, path)| {
        let stamp = std::fs::metadata(&path)
            .ok()
            .and_then(|meta| Stamp::of(&meta));
        Ok((file_name, path, stamp))
    })?;
    for (file_name, path, stamp) in stamped {
        match stamp.and_then(|stamp| cache.checksum(&file_name, stamp)) {
            Some(checksum) => contents.push((file_name, FileContent::Checksum(checksum))),
            None => {
                if let Some(stamp) = stamp {
                    stamps.insert(file_name.clone(), stamp);
                }
                to_read.push((file_name, path));
            }
        }
    }
    let read_any = !to_read.is_empty();
    contents.extend(
        read_all(to_read)?
            .into_iter()
            .map(|(file_name, bytes)| (file_name, FileContent::Bytes(bytes))),
    );
    let migrations = migrations_from_contents(contents)?;
    if read_any {
        for migration in migrations.iter().filter(|migration| migration.has_text) {
            if let Some(stamp) = stamps.get(&migration.file_name) {
                cache.remember(&migration.file_name, *stamp, &migration.checksum);
            }
        }
        cache.save();
    }
    Ok(migrations)
}

/// Where the checksums of `dir` are kept between runs: beside the nearest
/// `node_modules`, as Node tools keep their caches; none without one.
pub fn cache_path(cwd: &Path, dir: &Path) -> Option<PathBuf> {
    let modules = cwd
        .ancestors()
        .map(|folder| folder.join("node_modules"))
        .find(|modules| modules.is_dir())?;
    let key = stratum_core::checksum::checksum(&dir.display().to_string());
    Some(
        modules
            .join(".cache")
            .join("stratum")
            .join(format!("checksums-{}", &key[..16])),
    )
}

/// What the file system says of a file: any write changes its ctime, which
/// no tool can set back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified_ns: i128,
    changed_ns: i128,
    inode: u64,
}

impl Stamp {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        Some(Self {
            size: meta.size(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            changed_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
            inode: meta.ino(),
        })
    }

    /// Without a change time that tools cannot forge, nothing is cached.
    #[cfg(not(unix))]
    fn of(_meta: &std::fs::Metadata) -> Option<Self> {
        None
    }
}

/// Checksums of files read before, each trusted only while the file's stamp
/// is the same. A file written again within the clock's tick could keep its
/// stamp, so only files whose last change was well before they were read
/// are remembered: any later write gives them a newer change time.
struct ChecksumCache {
    path: PathBuf,
    entries: HashMap<String, (Stamp, String)>,
    changed: bool,
}

const CACHE_HEADER: &str = "stratum checksums 1";
/// How long before a read a file must have last changed to be remembered.
const SETTLED: Duration = Duration::from_secs(2);

impl ChecksumCache {
    /// The cache at `path`; empty when it is missing or unreadable.
    fn load(path: &Path) -> Self {
        let mut entries = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path)
            && text.lines().next() == Some(CACHE_HEADER)
        {
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split('\t').collect();
                let [name, size, modified, changed, inode, checksum] = fields[..] else {
                    continue;
                };
                let stamp = (|| {
                    Some(Stamp {
                        size: size.parse().ok()?,
                        modified_ns: modified.parse().ok()?,
                        changed_ns: changed.parse().ok()?,
                        inode: inode.parse().ok()?,
                    })
                })();
                if let Some(stamp) = stamp {
                    entries.insert(name.to_owned(), (stamp, checksum.to_owned()));
                }
            }
        }
        Self {
            path: path.to_path_buf(),
            entries,
            changed: false,
        }
    }

    fn checksum(&self, file_name: &str, stamp: Stamp) -> Option<String> {
        self.entries
            .get(file_name)
            .filter(|(known, _)| *known == stamp)
            .map(|(_, checksum)| checksum.clone())
    }

    fn remember(&mut self, file_name: &str, stamp: Stamp, checksum: &str) {
        let now_ns = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as i128);
        let settled = stamp.changed_ns + SETTLED.as_nanos() as i128 <= now_ns;
        if settled && !file_name.contains(['\t', '\n']) {
            self.entries
                .insert(file_name.to_owned(), (stamp, checksum.to_owned()));
            self.changed = true;
        }
    }

    /// Writes the cache through a temporary file and a rename, so a reader
    /// never sees half of it; a cache that cannot be written is no error.
    fn save(&self) {
        if !self.changed {
            return;
        }
        let mut text = format!("{CACHE_HEADER}\n");
        for (name, (stamp, checksum)) in &self.entries {
            text.push_str(&format!(
                "{name}\t{}\t{}\t{}\t{}\t{checksum}\n",
                stamp.size, stamp.modified_ns, stamp.changed_ns, stamp.inode
            ));
        }
        let Some(folder) = self.path.parent() else {
            return;
        };
        let temporary = self
            .path
            .with_extension(format!("{}.tmp", std::process::id()));
        let _ = std::fs::create_dir_all(folder)
            .and_then(|()| std::fs::write(&temporary, text))
            .and_then(|()| std::fs::rename(&temporary, &self.path));
        let _ = std::fs::remove_file(&temporary);
    }
}

/// The `.sql` files of `dir`, by name and path.
fn list_sql_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
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
    Ok(paths)
}

/// The contents of `paths`, read on as many threads as there are cores:
/// with thousands of small files the time goes to system calls, not bytes.
fn read_all(paths: Vec<(String, PathBuf)>) -> Result<Vec<(String, Vec<u8>)>> {
    on_all_cores(paths, |(file_name, path)| {
        std::fs::read(&path)
            .map(|bytes| (file_name, bytes))
            .map_err(|error| Error::Io {
                path: path.display().to_string(),
                message: error.to_string(),
            })
    })
}

/// `work` over `items`, in order, split across the cores once there are
/// enough items to pay for the threads.
fn on_all_cores<I: Send, O: Send>(
    items: Vec<I>,
    work: impl Fn(I) -> Result<O> + Sync,
) -> Result<Vec<O>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    if items.len() < PARALLEL_FROM || threads < 2 {
        return items.into_iter().map(work).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut chunks = Vec::new();
    let mut rest = items;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || chunk.into_iter().map(work).collect::<Result<Vec<_>>>())
            })
            .collect();
        let mut results = Vec::new();
        for worker in workers {
            let done = worker
                .join()
                .map_err(|_| Error::Internal("a thread reading migration files panicked".into()))?;
            results.extend(done?);
        }
        Ok(results)
    })
}

/// Below this many files one thread is quicker than starting more.
const PARALLEL_FROM: usize = 256;
