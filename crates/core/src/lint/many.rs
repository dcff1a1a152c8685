//! Linting a folder's files side by side, one file per core at a time.
//!
//! A project's migrations are mostly many small files, each far below the
//! size that is parsed in parts, so without this a lint uses one core. The
//! workers take the next file from a shared counter, which keeps them busy
//! however the sizes fall; the results come back in the files' order.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Checked, LintContext, check};

/// One file to lint: the name its findings carry, its text, and how the
/// project holds it to the rules.
#[derive(Debug, Clone, Copy)]
pub struct FileToLint<'a> {
    pub name: &'a str,
    pub sql: &'a str,
    pub ctx: LintContext<'a>,
}

/// Below this many bytes in all, the files are linted on the calling thread:
/// a few small files take less time than starting a thread.
const MIN_PARALLEL: usize = 64 * 1024;

/// squawk's parser recurses; the nesting limit is measured for less.
const STACK: usize = 8 * 1024 * 1024;

/// [`check`] of every file, in the order given.
pub fn check_all(files: &[FileToLint<'_>]) -> Vec<Checked> {
    let total: usize = files.iter().map(|file| file.sql.len()).sum();
    let workers = if cfg!(target_family = "wasm") || total < MIN_PARALLEL {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |cores| cores.get())
            .min(files.len())
    };
    if workers <= 1 {
        return files.iter().map(check_one).collect();
    }
    let next = AtomicUsize::new(0);
    let take = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(file) = files.get(index) else {
                return done;
            };
            done.push((index, check_one(file)));
        }
    };
    let mut done: Vec<(usize, Checked)> = std::thread::scope(|scope| {
        // The calling thread is one of the workers; a thread that cannot be
        // had leaves its share to the others.
        let helpers: Vec<_> = (1..workers)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("stratum-lint".into())
                    .stack_size(STACK)
                    .spawn_scoped(scope, take)
                    .ok()
            })
            .collect();
        let mut done = take();
        for helper in helpers {
            done.extend(
                helper
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        done
    });
    done.sort_unstable_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, checked)| checked).collect()
}

fn check_one(file: &FileToLint<'_>) -> Checked {
    check(file.name, file.sql, &file.ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files enough to pass [`MIN_PARALLEL`], each with a finding that names
    /// its own table, so that a result in the wrong place shows.
    fn project() -> Vec<(String, String)> {
        (0..200)
            .map(|i| {
                let padding = "-- a comment that only makes the file larger\n".repeat(10);
                (
                    format!("{:04}_t{i}.sql", i + 1),
                    format!("{padding}CREATE TABLE t{i} (id bigint);\n"),
                )
            })
            .collect()
    }

    #[test]
    fn results_come_back_in_order_and_equal_one_by_one() {
        let project = project();
        let files: Vec<FileToLint> = project
            .iter()
            .map(|(name, sql)| FileToLint {
                name,
                sql,
                ctx: LintContext::default(),
            })
            .collect();
        assert!(files.iter().map(|file| file.sql.len()).sum::<usize>() >= MIN_PARALLEL);
        let together = check_all(&files);
        let alone: Vec<Checked> = files.iter().map(check_one).collect();
        assert_eq!(together, alone);
        for (checked, (name, _)) in together.iter().zip(&project) {
            assert_eq!(checked.diagnostics.len(), 1);
            assert_eq!(&checked.diagnostics[0].file, name);
        }
    }

    #[test]
    fn no_files_no_results() {
        assert!(check_all(&[]).is_empty());
    }
}
