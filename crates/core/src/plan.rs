//! The plan: migration files set against the rows of the tracking table.
//!
//! Each version known from either side gets one entry and a state; `check`
//! says whether `migrate` may go on, and what to do when it may not.

use std::collections::HashMap;
use std::fmt;

use crate::migration::{Migration, MigrationName};

/// A row of the tracking table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    pub name: String,
    /// Absent in rows written before the table had a version column.
    pub version: Option<i64>,
    /// Absent in rows written by the earlier JavaScript runner.
    pub checksum: Option<String>,
    pub applied_at: Option<String>,
    pub duration_ms: Option<i64>,
}

impl Applied {
    pub fn effective_version(&self) -> Option<i64> {
        self.version
            .or_else(|| MigrationName::version_of(&self.name))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Applied,
    Pending,
    /// Applied, but the file's checksum differs from the recorded one.
    Changed,
    /// Applied, but the file is gone.
    Missing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Pending => "pending",
            Self::Changed => "changed",
            Self::Missing => "missing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry<'a> {
    pub version: i64,
    pub name: &'a str,
    pub state: State,
    pub file: Option<&'a Migration>,
    pub applied: Option<&'a Applied>,
}

impl PlanEntry<'_> {
    /// An applied row without a checksum that takes its file's checksum now.
    pub fn needs_adoption(&self) -> bool {
        self.state == State::Applied
            && self.file.is_some()
            && self.applied.is_some_and(|row| row.checksum.is_none())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'a> {
    pub entries: Vec<PlanEntry<'a>>,
}

/// Why `migrate` refuses to apply anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    Changed {
        files: Vec<String>,
    },
    Missing {
        names: Vec<String>,
    },
    OutOfOrder {
        file: String,
        newest_applied: String,
        next_free: i64,
    },
}

impl PlanError {
    /// The file the error is about, when it is about one file.
    pub fn file(&self) -> Option<&str> {
        match self {
            Self::Changed { files } => files.first().map(String::as_str),
            Self::Missing { .. } => None,
            Self::OutOfOrder { file, .. } => Some(file),
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Changed { files } => write!(
                f,
                "{} changed after {} applied: restore the applied content \
                 (git checkout) and put the change in a new migration",
                files.join(", "),
                if files.len() == 1 {
                    "it was"
                } else {
                    "they were"
                }
            ),
            Self::Missing { names } => write!(
                f,
                "{} applied but the file is gone: restore {} from version control",
                names.join(", "),
                if names.len() == 1 { "it" } else { "them" }
            ),
            Self::OutOfOrder {
                file,
                newest_applied,
                next_free,
            } => write!(
                f,
                "{file} is pending but {newest_applied} is already applied, so it \
                 would run out of order: renumber it to {next_free:03} (or higher)"
            ),
        }
    }
}

impl std::error::Error for PlanError {}

impl<'a> Plan<'a> {
    pub fn new(files: &'a [Migration], applied: &'a [Applied]) -> Self {
        let mut rows: HashMap<&str, &Applied> =
            applied.iter().map(|row| (row.name.as_str(), row)).collect();
        let mut entries: Vec<PlanEntry<'a>> = files
            .iter()
            .map(|file| {
                let row = rows.remove(file.name.as_str());
                let state = match row {
                    None => State::Pending,
                    Some(row) => match &row.checksum {
                        Some(recorded) if *recorded != file.checksum => State::Changed,
                        _ => State::Applied,
                    },
                };
                PlanEntry {
                    version: file.version,
                    name: &file.name,
                    state,
                    file: Some(file),
                    applied: row,
                }
            })
            .collect();
        // What is left was applied from a file that is gone.
        entries.extend(
            applied
                .iter()
                .filter(|row| rows.contains_key(row.name.as_str()))
                .map(|row| PlanEntry {
                    version: row.effective_version().unwrap_or(i64::MIN),
                    name: &row.name,
                    state: State::Missing,
                    file: None,
                    applied: Some(row),
                }),
        );
        // Files come in order already, so this mostly merges in the missing rows.
        entries.sort_by(|a, b| (a.version, a.name).cmp(&(b.version, b.name)));
        Self { entries }
    }

    pub fn count(&self, state: State) -> usize {
        self.entries
            .iter()
            .filter(|entry| entry.state == state)
            .count()
    }

    pub fn pending(&self) -> impl Iterator<Item = &'a Migration> + '_ {
        self.entries
            .iter()
            .filter(|entry| entry.state == State::Pending)
            .filter_map(|entry| entry.file)
    }

    /// True when `migrate` has nothing to write: nothing pending, nothing to adopt.
    pub fn is_up_to_date(&self) -> bool {
        self.entries
            .iter()
            .all(|entry| entry.state != State::Pending && !entry.needs_adoption())
    }

    /// Refuses a plan that `migrate` must not carry out.
    pub fn check(&self) -> Result<(), PlanError> {
        let changed: Vec<String> = self
            .with_state(State::Changed)
            .filter_map(|entry| entry.file.map(|file| file.file_name.clone()))
            .collect();
        if !changed.is_empty() {
            return Err(PlanError::Changed { files: changed });
        }
        let missing: Vec<String> = self
            .with_state(State::Missing)
            .map(|entry| entry.name.to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(PlanError::Missing { names: missing });
        }
        let newest_applied = self
            .entries
            .iter()
            .filter(|entry| entry.state == State::Applied)
            .max_by_key(|entry| entry.version);
        if let Some(newest) = newest_applied {
            let highest = self.entries.iter().map(|entry| entry.version).max();
            if let Some(early) = self.pending().find(|file| file.version < newest.version) {
                return Err(PlanError::OutOfOrder {
                    file: early.file_name.clone(),
                    newest_applied: newest.name.to_owned(),
                    next_free: highest.unwrap_or(newest.version).saturating_add(1),
                });
            }
        }
        Ok(())
    }

    fn with_state(&self, state: State) -> impl Iterator<Item = &PlanEntry<'a>> {
        self.entries
            .iter()
            .filter(move |entry| entry.state == state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::migrations_from_files;

    fn files(names: &[(&str, &str)]) -> Vec<Migration> {
        migrations_from_files(
            names
                .iter()
                .map(|(name, sql)| ((*name).to_owned(), sql.as_bytes().to_vec())),
        )
        .unwrap()
    }

    fn applied(file: &Migration) -> Applied {
        Applied {
            name: file.name.clone(),
            version: Some(file.version),
            checksum: Some(file.checksum.clone()),
            ..Applied::default()
        }
    }

    fn states(plan: &Plan) -> Vec<(i64, State)> {
        plan.entries.iter().map(|e| (e.version, e.state)).collect()
    }

    #[test]
    fn nothing_applied_means_everything_pending_in_order() {
        let files = files(&[("2_b.sql", "B"), ("1_a.sql", "A")]);
        let plan = Plan::new(&files, &[]);
        assert_eq!(states(&plan), [(1, State::Pending), (2, State::Pending)]);
        assert_eq!(
            plan.pending().map(|f| f.version).collect::<Vec<_>>(),
            [1, 2]
        );
        assert!(plan.check().is_ok());
        assert!(!plan.is_up_to_date());
    }

    #[test]
    fn every_state_is_told() {
        let files = files(&[("1_a.sql", "A"), ("2_b.sql", "B"), ("4_d.sql", "D")]);
        let mut rows = vec![applied(&files[0]), applied(&files[1])];
        rows[1].checksum = Some("0".repeat(64));
        rows.push(Applied {
            name: "3_c".into(),
            version: Some(3),
            checksum: Some("1".repeat(64)),
            ..Applied::default()
        });
        let plan = Plan::new(&files, &rows);
        assert_eq!(
            states(&plan),
            [
                (1, State::Applied),
                (2, State::Changed),
                (3, State::Missing),
                (4, State::Pending)
            ]
        );
    }

    #[test]
    fn a_changed_file_is_refused_and_named() {
        let files = files(&[("1_a.sql", "A")]);
        let mut row = applied(&files[0]);
        row.checksum = Some("f".repeat(64));
        let rows = [row];
        let error = Plan::new(&files, &rows).check().unwrap_err();
        assert_eq!(
            error,
            PlanError::Changed {
                files: vec!["1_a.sql".into()]
            }
        );
    }

    #[test]
    fn a_missing_file_is_refused() {
        let rows = [Applied {
            name: "7_gone".into(),
            ..Applied::default()
        }];
        let plan = Plan::new(&[], &rows);
        assert_eq!(plan.entries[0].version, 7);
        assert_eq!(
            plan.check().unwrap_err(),
            PlanError::Missing {
                names: vec!["7_gone".into()]
            }
        );
    }

    #[test]
    fn a_pending_file_below_the_newest_applied_is_out_of_order() {
        let files = files(&[("1_a.sql", "A"), ("2_b.sql", "B"), ("3_c.sql", "C")]);
        let rows = [applied(&files[0]), applied(&files[2])];
        let error = Plan::new(&files, &rows).check().unwrap_err();
        assert_eq!(
            error,
            PlanError::OutOfOrder {
                file: "2_b.sql".into(),
                newest_applied: "3_c".into(),
                next_free: 4
            }
        );
        assert!(error.to_string().contains("renumber it to 004"));
    }

    #[test]
    fn legacy_rows_without_checksum_are_adopted_not_changed() {
        let files = files(&[("1_a.sql", "A")]);
        let rows = [Applied {
            name: "1_a".into(),
            ..Applied::default()
        }];
        let plan = Plan::new(&files, &rows);
        assert_eq!(plan.entries[0].state, State::Applied);
        assert!(plan.entries[0].needs_adoption());
        assert!(!plan.is_up_to_date());
        assert!(plan.check().is_ok());
    }

    #[test]
    fn all_applied_is_up_to_date() {
        let files = files(&[("1_a.sql", "A"), ("2_b.sql", "B")]);
        let rows: Vec<Applied> = files.iter().map(applied).collect();
        let plan = Plan::new(&files, &rows);
        assert!(plan.is_up_to_date());
        assert_eq!(plan.count(State::Applied), 2);
        assert!(plan.check().is_ok());
    }
}
