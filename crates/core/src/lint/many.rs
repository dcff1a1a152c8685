//! Linting a folder's files side by side, one file per core at a time.
//!
//! A project's migrations are mostly many small files, each far below the
//! size that is parsed in parts, so without this a lint uses one core. The
//! workers take the next file from a shared counter, which keeps them busy
//! however the sizes fall; the results come back in the files' order.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many bytes in all (about 200 ms of lint on one core) the files
/// are linted on the calling thread: a worker thread's malloc arena added
/// 2.7 MiB to the resident memory of a run over 10,000 small files
/// (1.1 MB), to save a few tens of milliseconds.
const MIN_PARALLEL: usize = 2 * 1024 * 1024;

/// squawk's parser recurses; the nesting limit is measured for less.
const STACK: usize = 8 * 1024 * 1024;

/// `lint_one` of every file, handed to `take` on the calling thread in the
/// order given; `len` tells a file's size in bytes. Nothing is collected
/// when the files are linted one by one, so a run over thousands of small
/// files holds no list of their results besides what `take` keeps.
pub fn each_file<'t, T: Sync, R: Send>(
    files: &'t [T],
    len: impl Fn(&T) -> usize,
    lint_one: impl Fn(&T) -> R + Sync,
    mut take: impl FnMut(&'t T, R),
) {
    let total: usize = files.iter().map(len).sum();
    let workers = if cfg!(target_family = "wasm") || total < MIN_PARALLEL {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |cores| cores.get())
            .min(files.len())
    };
    if workers <= 1 {
        for file in files {
            take(file, lint_one(file));
        }
        return;
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(file) = files.get(index) else {
                return done;
            };
            done.push((index, lint_one(file)));
        }
    };
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        // The calling thread is one of the workers; a thread that cannot be
        // had leaves its share to the others.
        let helpers: Vec<_> = (1..workers)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("stratum-lint".into())
                    .stack_size(STACK)
                    .spawn_scoped(scope, work)
                    .ok()
            })
            .collect();
        let mut done = work();
        for helper in helpers {
            done.extend(
                helper
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        done
    });
    // Every index once, so in index order they pair with the files.
    done.sort_unstable_by_key(|(index, _)| *index);
    for (file, (_, result)) in files.iter().zip(done) {
        take(file, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::{Checked, LintContext, check};

    /// Files enough to pass [`MIN_PARALLEL`], each with a finding that names
    /// its own table, so that a result in the wrong place shows.
    fn project() -> Vec<(String, String)> {
        (0..200)
            .map(|i| {
                let padding = "-- a comment that only makes the file larger\n".repeat(250);
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
        assert!(project.iter().map(|(_, sql)| sql.len()).sum::<usize>() >= MIN_PARALLEL);
        let lint_one = |(name, sql): &(String, String)| check(name, sql, &LintContext::default());
        let mut together: Vec<Checked> = Vec::new();
        each_file(
            &project,
            |(_, sql)| sql.len(),
            lint_one,
            |_, checked| together.push(checked),
        );
        let alone: Vec<Checked> = project.iter().map(lint_one).collect();
        assert_eq!(together, alone);
        for (checked, (name, _)) in together.iter().zip(&project) {
            assert_eq!(checked.diagnostics.len(), 1);
            assert_eq!(&checked.diagnostics[0].file, name);
        }
    }

    #[test]
    fn no_files_no_results() {
        let none: [&str; 0] = [];
        let mut taken = 0;
        each_file(&none, |sql| sql.len(), |sql| sql.len(), |_, _| taken += 1);
        assert_eq!(taken, 0);
    }
}
