//! Reads the migrations directory from disk and hands the files to the core.
//! Planning only needs checksums, so a file the file system reports
//! unchanged since it was last read is not opened again (see
//! `ChecksumCache`); applying always reads every file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
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
    // The cache is read while the directory is listed.
    let (cache_text, files) = both(
        || std::fs::read_to_string(cache_path).unwrap_or_default(),
        || list_sql_files(dir),
    );
    let cache = ChecksumCache::parse(&cache_text);
    // Each file is looked up on the thread that asked for its stamp.
    let looked_up = on_all_cores(files?.into_iter().enumerate().collect(), |(at, file)| {
        let stamp = file.metadata().and_then(|meta| Stamp::of(&meta));
        let line = stamp.and_then(|stamp| cache.line(at, &file.file_name, stamp));
        Ok((file, stamp, line))
    })?;
    // A cache out of the directory's order is written again in it.
    let unchanged = !cache.out_of_order() && looked_up.iter().all(|(_, _, line)| line.is_some());
    if unchanged {
        let contents = looked_up.into_iter().filter_map(|(file, _, line)| {
            let checksum = line?.checksum.to_owned();
            Some((file.file_name, FileContent::Checksum(checksum)))
        });
        return Ok(migrations_from_contents(contents)?);
    }
    let mut contents = Vec::with_capacity(looked_up.len());
    let mut to_read = Vec::new();
    // The cache as it will be written, in the directory's order: the lines
    // that still hold, and the files read now.
    let mut next_cache = Vec::with_capacity(looked_up.len());
    for (file, stamp, line) in looked_up {
        match line {
            Some(line) => {
                next_cache.push(NextLine::Kept(line.text));
                contents.push((
                    file.file_name,
                    FileContent::Checksum(line.checksum.to_owned()),
                ));
            }
            None => {
                next_cache.push(NextLine::Read(file.file_name.clone(), stamp));
                to_read.push(file);
            }
        }
    }
    let read = read_all(to_read)?;
    contents.extend(
        read.into_iter()
            .map(|(file_name, bytes)| (file_name, FileContent::Bytes(bytes))),
    );
    let migrations = migrations_from_contents(contents)?;
    ChecksumCache::save(cache_path, &next_cache, &migrations);
    Ok(migrations)
}

/// A line of the cache as it will be written.
enum NextLine<'t> {
    /// A line that still holds, as it was.
    Kept(&'t str),
    /// A file read in this run, and its stamp before it was read.
    Read(String, Option<Stamp>),
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

    /// A file written again within the clock's tick could keep its stamp,
    /// so only files whose last change was well before they were read are
    /// remembered: any later write gives them a newer change time.
    fn settled(&self) -> bool {
        let now_ns = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as i128);
        self.changed_ns + SETTLED.as_nanos() as i128 <= now_ns
    }
}

/// Checksums of files read before, each trusted only while the file's stamp
/// is the same: a text file of one line per file, with the name, the stamp
/// and the checksum separated by tabs. Its lines are in the order the
/// directory lists its files, which stays the same while the directory does,
/// so a file's line is found where the file itself was listed, and only a
/// changed directory needs an index of the names. A line is parsed only when
/// its file asks for it.
struct ChecksumCache<'t> {
    /// Each line's file name and the whole line.
    lines: Vec<(&'t str, &'t str)>,
    /// Where each name's line is, made at the first file not found in place.
    by_name: OnceLock<HashMap<&'t str, usize>>,
}

struct CachedLine<'t> {
    checksum: &'t str,
    /// The whole line, written again as it is while it holds.
    text: &'t str,
}

const CACHE_HEADER: &str = "stratum checksums 2";
/// How long before a read a file must have last changed to be remembered.
const SETTLED: Duration = Duration::from_secs(2);

impl<'t> ChecksumCache<'t> {
    /// The cache in `text`; empty when it is not one.
    fn parse(text: &'t str) -> Self {
        let mut lines = text.lines();
        let lines = if lines.next() == Some(CACHE_HEADER) {
            lines
                .filter_map(|line| Some((line.split_once('\t')?.0, line)))
                .collect()
        } else {
            Vec::new()
        };
        Self {
            lines,
            by_name: OnceLock::new(),
        }
    }

    /// The line of `file_name`, listed at `at`, when its stamp is still `stamp`.
    fn line(&self, at: usize, file_name: &str, stamp: Stamp) -> Option<CachedLine<'t>> {
        let text = match self.lines.get(at) {
            Some((name, text)) if *name == file_name => *text,
            _ => {
                let by_name = self.by_name.get_or_init(|| {
                    let mut by_name = HashMap::with_capacity(self.lines.len());
                    // The first line wins, as it does in place.
                    for (at, (name, _)) in self.lines.iter().enumerate().rev() {
                        by_name.insert(*name, at);
                    }
                    by_name
                });
                self.lines[*by_name.get(file_name)?].1
            }
        };
        let mut fields = text.split('\t').skip(1);
        let recorded = Stamp {
            size: fields.next()?.parse().ok()?,
            modified_ns: fields.next()?.parse().ok()?,
            changed_ns: fields.next()?.parse().ok()?,
            inode: fields.next()?.parse().ok()?,
        };
        let checksum = fields.next()?;
        (recorded == stamp && fields.next().is_none()).then_some(CachedLine { checksum, text })
    }

    /// Whether a file was not found where it was listed.
    fn out_of_order(&self) -> bool {
        self.by_name.get().is_some()
    }

    /// Writes `lines` with the checksums of the files just read, those
    /// settled, through a temporary file and a rename, so a reader never
    /// sees half of it; files that are gone drop out. A cache that cannot be
    /// written is no error.
    fn save(path: &Path, lines: &[NextLine<'_>], migrations: &[Migration]) {
        let checksums: HashMap<&str, &str> = migrations
            .iter()
            .filter(|migration| migration.has_text)
            .map(|migration| (migration.file_name.as_str(), migration.checksum.as_str()))
            .collect();
        let mut text = format!("{CACHE_HEADER}\n");
        for line in lines {
            match line {
                NextLine::Kept(line) => {
                    text.push_str(line);
                    text.push('\n');
                }
                NextLine::Read(name, Some(stamp)) => {
                    let Some(checksum) = checksums.get(name.as_str()) else {
                        continue;
                    };
                    if stamp.settled() && !name.contains(['\t', '\n']) {
                        text.push_str(&format!(
                            "{name}\t{}\t{}\t{}\t{}\t{checksum}\n",
                            stamp.size, stamp.modified_ns, stamp.changed_ns, stamp.inode
                        ));
                    }
                }
                NextLine::Read(_, None) => {}
            }
        }
        let Some(folder) = path.parent() else {
            return;
        };
        // Named by the clock, not the process id, which WebAssembly lacks;
        // a name another writer holds already is left to that writer.
        let nonce = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let temporary = path.with_extension(format!("{nonce}.tmp"));
        let created = std::fs::create_dir_all(folder).and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temporary)
        });
        if let Ok(mut file) = created {
            let written = std::io::Write::write_all(&mut file, text.as_bytes())
                .and_then(|()| std::fs::rename(&temporary, path));
            if written.is_err() {
                let _ = std::fs::remove_file(&temporary);
            }
        }
    }
}

/// A `.sql` file of the migrations directory.
struct SqlFile {
    file_name: String,
    entry: std::fs::DirEntry,
}

impl SqlFile {
    /// What the file system says of the file a link points to, or of the
    /// file itself, found from the open directory without walking its path.
    fn metadata(&self) -> Option<std::fs::Metadata> {
        match self.entry.file_type() {
            Ok(kind) if !kind.is_symlink() => self.entry.metadata().ok(),
            _ => std::fs::metadata(self.entry.path()).ok(),
        }
    }
}

/// The `.sql` files of `dir`.
fn list_sql_files(dir: &Path) -> Result<Vec<SqlFile>> {
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
        let extension = file_name
            .len()
            .checked_sub(4)
            .map(|at| &file_name.as_bytes()[at..]);
        if extension.is_some_and(|extension| extension.eq_ignore_ascii_case(b".sql")) {
            files.push(SqlFile { file_name, entry });
        }
    }
    Ok(files)
}

/// The contents of `files`, read on as many threads as there are cores:
/// with thousands of small files the time goes to system calls, not bytes.
fn read_all(files: Vec<SqlFile>) -> Result<Vec<(String, Vec<u8>)>> {
    on_all_cores(files, |file| {
        let path = file.entry.path();
        std::fs::read(&path)
            .map(|bytes| (file.file_name, bytes))
            .map_err(|error| Error::Io {
                path: path.display().to_string(),
                message: error.to_string(),
            })
    })
}
/// `first` and `second` at the same time, where a thread is cheap to start;
/// in WebAssembly, whose threads come from a small pool the runtime
/// already uses, one after the other.
fn both<A: Send + Default, B>(
    first: impl FnOnce() -> A + Send,
    second: impl FnOnce() -> B,
) -> (A, B) {
    #[cfg(not(target_family = "wasm"))]
    return std::thread::scope(|scope| {
        let first = scope.spawn(first);
        let second = second();
        (first.join().unwrap_or_default(), second)
    });
    #[cfg(target_family = "wasm")]
    return (first(), second());
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
    let total = items.len();
    let chunk = total.div_ceil(threads);
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
        // The first share is this thread's own: one thread fewer to start.
        let mut chunks = chunks.into_iter();
        let own = chunks.next().unwrap_or_default();
        let workers: Vec<_> = chunks
            .map(|chunk| {
                scope.spawn(move || chunk.into_iter().map(work).collect::<Result<Vec<_>>>())
            })
            .collect();
        let mut results = Vec::with_capacity(total);
        for done in own.into_iter().map(work) {
            results.push(done?);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp {
        size: 9,
        modified_ns: 1_700_000_000_000_000_001,
        changed_ns: 1_700_000_000_000_000_002,
        inode: 42,
    };

    fn line(name: &str, stamp: Stamp, checksum: &str) -> String {
        format!(
            "{name}\t{}\t{}\t{}\t{}\t{checksum}",
            stamp.size, stamp.modified_ns, stamp.changed_ns, stamp.inode
        )
    }

    fn cache_text(lines: &[String]) -> String {
        format!("{CACHE_HEADER}\n{}\n", lines.join("\n"))
    }

    #[test]
    fn finds_a_file_where_it_was_listed() {
        let text = cache_text(&[line("1_a.sql", STAMP, "aa"), line("2_b.sql", STAMP, "bb")]);
        let cache = ChecksumCache::parse(&text);
        let found = cache.line(1, "2_b.sql", STAMP).map(|line| line.checksum);
        assert_eq!(found, Some("bb"));
        assert!(!cache.out_of_order());
    }

    #[test]
    fn finds_a_file_listed_elsewhere_and_says_the_order_changed() {
        let text = cache_text(&[line("1_a.sql", STAMP, "aa"), line("2_b.sql", STAMP, "bb")]);
        let cache = ChecksumCache::parse(&text);
        let found = cache.line(0, "2_b.sql", STAMP).map(|line| line.checksum);
        assert_eq!(found, Some("bb"));
        assert!(cache.out_of_order());
        assert!(cache.line(5, "3_c.sql", STAMP).is_none());
    }

    #[test]
    fn a_changed_stamp_is_not_trusted() {
        let text = cache_text(&[line("1_a.sql", STAMP, "aa")]);
        let cache = ChecksumCache::parse(&text);
        for changed in [
            Stamp { size: 10, ..STAMP },
            Stamp {
                modified_ns: STAMP.modified_ns + 1,
                ..STAMP
            },
            Stamp {
                changed_ns: STAMP.changed_ns + 1,
                ..STAMP
            },
            Stamp { inode: 43, ..STAMP },
        ] {
            assert!(cache.line(0, "1_a.sql", changed).is_none(), "{changed:?}");
        }
    }

    #[test]
    fn a_broken_or_foreign_cache_is_empty() {
        let broken = cache_text(&["1_a.sql\tnine\t1\t2\t3\taa".to_owned()]);
        assert!(
            ChecksumCache::parse(&broken)
                .line(0, "1_a.sql", STAMP)
                .is_none()
        );
        let extra_field = cache_text(&[format!("{}\tmore", line("1_a.sql", STAMP, "aa"))]);
        assert!(
            ChecksumCache::parse(&extra_field)
                .line(0, "1_a.sql", STAMP)
                .is_none()
        );
        let foreign = format!("stratum checksums 1\n{}\n", line("1_a.sql", STAMP, "aa"));
        assert!(
            ChecksumCache::parse(&foreign)
                .line(0, "1_a.sql", STAMP)
                .is_none()
        );
    }

    #[test]
    fn saves_in_the_order_given_and_only_settled_files() {
        let folder =
            std::env::temp_dir().join(format!("stratum-cache-test-{}", std::process::id()));
        let path = folder.join("checksums");
        let kept = line("2_b.sql", STAMP, "bb");
        let fresh = Stamp {
            changed_ns: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos() as i128),
            ..STAMP
        };
        let migrations = stratum_core::source::migrations_from_files([
            ("1_a.sql".to_owned(), b"SELECT 1;".to_vec()),
            ("3_c.sql".to_owned(), b"SELECT 3;".to_vec()),
        ])
        .unwrap();
        let lines = [
            NextLine::Read("3_c.sql".to_owned(), Some(STAMP)),
            NextLine::Kept(&kept),
            NextLine::Read("1_a.sql".to_owned(), Some(fresh)),
        ];
        ChecksumCache::save(&path, &lines, &migrations);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&folder).unwrap();
        let names: Vec<&str> = text
            .lines()
            .skip(1)
            .filter_map(|line| line.split('\t').next())
            .collect();
        // 1_a.sql changed just now: it is read again next time.
        assert_eq!(names, ["3_c.sql", "2_b.sql"]);
        let cache = ChecksumCache::parse(&text);
        let checksum = cache.line(0, "3_c.sql", STAMP).map(|line| line.checksum);
        assert_eq!(checksum, Some(migrations[1].checksum.as_str()));
    }
}
