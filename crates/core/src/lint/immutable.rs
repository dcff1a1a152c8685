//! `immutable-migration` (error): the guide's first rule, "never modify a
//! migration file once it is committed", checked against the files as they
//! were at an earlier commit, before any database sees the change. A file
//! that exists there and was modified, deleted or renumbered since is a
//! finding; new files are not (the other rules check them).
//!
//! The files at the commit come from the caller (the shell runs git); this
//! module only compares.

use std::collections::{HashMap, HashSet};

use super::{Diagnostic, RuleLevels};
use crate::migration::Migration;

pub const ID: &str = "immutable-migration";

/// How a file that exists at the reference differs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    /// Same name, other content; `line` is the first line that differs, in
    /// the file as it is now.
    Modified { now: &'a Migration, line: u32 },
    /// Gone, with no file that took its place.
    Deleted { before: &'a Migration },
    /// Gone, and a new file has its content or its name under another number.
    Renumbered {
        before: &'a Migration,
        now: &'a Migration,
    },
}

/// What changed between `before` (the files at the reference) and `now`,
/// in the order of `before`. Contents compare by checksum, as `migrate`
/// compares them: a changed BOM or line ending is no change.
pub fn changes<'a>(before: &'a [Migration], now: &'a [Migration]) -> Vec<Change<'a>> {
    let current: HashMap<&str, &Migration> = now
        .iter()
        .map(|file| (file.file_name.as_str(), file))
        .collect();
    let earlier: HashSet<&str> = before.iter().map(|file| file.file_name.as_str()).collect();
    let added: Vec<&Migration> = now
        .iter()
        .filter(|file| !earlier.contains(file.file_name.as_str()))
        .collect();
    let mut taken: HashSet<&str> = HashSet::new();
    let mut found = Vec::new();
    for old in before {
        if let Some(new) = current.get(old.file_name.as_str()) {
            if new.checksum != old.checksum {
                found.push(Change::Modified {
                    now: new,
                    line: first_difference(&old.sql, &new.sql),
                });
            }
            continue;
        }
        let successor = added
            .iter()
            .filter(|new| !taken.contains(new.file_name.as_str()))
            .find(|new| new.checksum == old.checksum || label(&new.name) == label(&old.name));
        match successor {
            Some(new) => {
                taken.insert(new.file_name.as_str());
                found.push(Change::Renumbered {
                    before: old,
                    now: new,
                });
            }
            None => found.push(Change::Deleted { before: old }),
        }
    }
    found
}

/// The findings for `changes` since `reference`; `display` names a file
/// as the user knows it. None when the project turned the rule off.
pub fn diagnostics(
    changes: &[Change<'_>],
    reference: &str,
    display: &dyn Fn(&str) -> String,
    levels: &RuleLevels,
) -> Vec<Diagnostic> {
    let Some(severity) = levels.severity(ID) else {
        return Vec::new();
    };
    let finding = |file: &str, line: u32, message: String, help: String| Diagnostic {
        file: display(file),
        line,
        column: 1,
        severity,
        rule: ID,
        message,
        help,
        baselined: false,
    };
    changes
        .iter()
        .map(|change| match change {
            Change::Modified { now, line } => finding(
                &now.file_name,
                *line,
                format!(
                    "{} was modified since {reference}, where it already exists: a committed \
                     migration must never change (a database that applied it refuses it as \
                     E_CHANGED, and one that did not runs the new text)",
                    now.file_name
                ),
                format!(
                    "restore it (`git checkout {reference} -- {}`) and write the change as a \
                     new migration (`stratum new <name>`)",
                    display(&now.file_name)
                ),
            ),
            Change::Deleted { before } => finding(
                &before.file_name,
                1,
                format!(
                    "{} exists at {reference} but was deleted: databases that applied it report \
                     it missing (E_MISSING)",
                    before.file_name
                ),
                format!(
                    "restore it (`git checkout {reference} -- {}`); to undo what it did, write a \
                     new migration",
                    display(&before.file_name)
                ),
            ),
            Change::Renumbered { before, now } => finding(
                &now.file_name,
                1,
                format!(
                    "{} is {} renumbered since {reference}: databases that applied it know it \
                     by its old name",
                    now.file_name, before.file_name
                ),
                format!(
                    "give it back its name {}; a new migration takes the next free number",
                    before.file_name
                ),
            ),
        })
        .collect()
}

/// A migration's name without its number: `add_users` of `003_add_users`.
fn label(name: &str) -> &str {
    name.split_once('_').map_or(name, |(_, rest)| rest)
}

/// The first 1-based line of `now` that differs from `before`, at most one
/// past its last line.
fn first_difference(before: &str, now: &str) -> u32 {
    let mut old = before.lines();
    let mut line = 1u32;
    for text in now.lines() {
        if old.next().map(|old| old.trim_end_matches('\r')) != Some(text.trim_end_matches('\r')) {
            return line;
        }
        line = line.saturating_add(1);
    }
    line.saturating_sub(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::{Level, Severity};
    use crate::source::migrations_from_files;

    fn files(list: &[(&str, &str)]) -> Vec<Migration> {
        migrations_from_files(
            list.iter()
                .map(|(name, sql)| ((*name).to_owned(), sql.as_bytes().to_vec())),
        )
        .unwrap()
    }

    fn described(before: &[Migration], now: &[Migration]) -> Vec<String> {
        changes(before, now)
            .iter()
            .map(|change| match change {
                Change::Modified { now, line } => format!("modified {} at {line}", now.file_name),
                Change::Deleted { before } => format!("deleted {}", before.file_name),
                Change::Renumbered { before, now } => {
                    format!("renumbered {} to {}", before.file_name, now.file_name)
                }
            })
            .collect()
    }

    const A: &str = "CREATE TABLE IF NOT EXISTS a (id int);\nSELECT 1;\n";

    #[test]
    fn unchanged_and_new_files_are_fine() {
        let before = files(&[("001_a.sql", A)]);
        let now = files(&[("001_a.sql", A), ("002_b.sql", "SELECT 2;")]);
        assert!(described(&before, &now).is_empty());
        // A line ending or a BOM is no change, as for the checksum.
        let crlf = files(&[("001_a.sql", &format!("\u{feff}{}", A.replace('\n', "\r\n")))]);
        assert!(described(&before, &crlf).is_empty());
    }

    #[test]
    fn modified_deleted_and_renumbered_files_are_found() {
        let before = files(&[
            ("001_a.sql", A),
            ("002_gone.sql", "SELECT 2;"),
            ("003_moved.sql", "SELECT 3;"),
            ("004_renamed_content.sql", "SELECT 4;"),
        ]);
        let now = files(&[
            (
                "001_a.sql",
                "CREATE TABLE IF NOT EXISTS a (id int);\nSELECT 10;\n",
            ),
            ("005_moved.sql", "SELECT 3; -- edited too"),
            ("006_other_name.sql", "SELECT 4;"),
            ("007_new.sql", "SELECT 7;"),
        ]);
        assert_eq!(
            described(&before, &now),
            [
                "modified 001_a.sql at 2",
                "deleted 002_gone.sql",
                "renumbered 003_moved.sql to 005_moved.sql",
                "renumbered 004_renamed_content.sql to 006_other_name.sql",
            ]
        );
    }

    #[test]
    fn lines_cut_from_the_end_point_at_the_last_line() {
        let before = files(&[("001_a.sql", A)]);
        let now = files(&[("001_a.sql", "CREATE TABLE IF NOT EXISTS a (id int);\n")]);
        assert_eq!(described(&before, &now), ["modified 001_a.sql at 1"]);
    }

    #[test]
    fn findings_name_the_reference_and_follow_the_rule_level() {
        let before = files(&[("001_a.sql", A)]);
        let now = files(&[("001_a.sql", "SELECT 1;")]);
        let found = changes(&before, &now);
        let display = |file: &str| format!("migrations/{file}");
        let all = diagnostics(&found, "origin/main", &display, &RuleLevels::default());
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].severity, Severity::Error);
        assert_eq!(all[0].file, "migrations/001_a.sql");
        assert!(all[0].message.contains("since origin/main"));
        assert!(
            all[0]
                .help
                .contains("git checkout origin/main -- migrations/001_a.sql")
        );
        let mut levels = RuleLevels::default();
        levels.set(ID, "off").unwrap();
        assert!(diagnostics(&found, "origin/main", &display, &levels).is_empty());
        levels.set(ID, "warning").unwrap();
        assert_eq!(
            diagnostics(&found, "x", &display, &levels)[0].severity,
            Severity::Warning
        );
        assert_eq!(levels.level(ID), Some(Level::Warning));
    }
}
