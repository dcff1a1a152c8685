//! The messages stratum sends to apply a migration. A batch is one message
//! to the server: stratum's own statements and a file's text, each statement
//! with where it came from, so that PostgreSQL's answer (how many statements
//! completed, the character position of an error) maps back to the statement
//! that failed: one of stratum's own, by its purpose, or the file's, by its
//! byte offset in the file.
//!
//! Nothing here counts `;`: stratum's own statements are added one at a time,
//! and the file's are known from its parse, so a `;` inside a quoted name or
//! a string never shifts the count.

use std::ops::Range;

use crate::position::byte_offset_of_char;

/// What one of stratum's own statements is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Fails unless the migration sent ahead of this one committed.
    PreviousCommitted,
    Begin,
    /// A `SET LOCAL` (or `SET`) of the settings the migration runs with.
    Setting,
    /// Waits for the migration lock inside the transaction (transaction lock mode).
    Lock,
    /// Claims the tracking row before the file runs (transaction lock mode).
    Claim,
    /// Writes the tracking row, or its duration, after the file's statements.
    Record,
    Commit,
}

/// Where a statement of a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Own(Purpose),
    /// The file's statement number `index` (0-based, counted over the whole
    /// file), which starts at byte `start` of the file.
    File {
        index: usize,
        start: usize,
    },
}

/// Where an error position of PostgreSQL's falls in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    pub origin: Origin,
    /// The byte offset in the file, when the position is in the file's text.
    pub file_offset: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Own {
        purpose: Purpose,
        /// Byte and character offsets of the statement in the message.
        bytes_at: usize,
        chars_at: usize,
    },
    File {
        /// Byte offset in the message where the file's text starts.
        bytes_at: usize,
        chars_at: usize,
        /// Byte offset in the file of the text's first byte.
        base: usize,
        /// The index in the file of the first statement in the text.
        first: usize,
        /// Where each statement in the text starts, as bytes of the file.
        starts: Vec<usize>,
    },
}

impl Part {
    fn statements(&self) -> usize {
        match self {
            Self::Own { .. } => 1,
            Self::File { starts, .. } => starts.len(),
        }
    }

    fn chars_at(&self) -> usize {
        match self {
            Self::Own { chars_at, .. } | Self::File { chars_at, .. } => *chars_at,
        }
    }

    fn bytes_at(&self) -> usize {
        match self {
            Self::Own { bytes_at, .. } | Self::File { bytes_at, .. } => *bytes_at,
        }
    }
}

/// One message, built part by part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    sql: String,
    chars: usize,
    parts: Vec<Part>,
    /// The last part was file text that may not end with a `;`.
    open: bool,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    /// The message's text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn into_sql(self) -> String {
        self.sql
    }

    /// How many statements PostgreSQL will count in the message.
    pub fn statement_count(&self) -> usize {
        self.parts.iter().map(Part::statements).sum()
    }

    /// Appends one statement of stratum's own. `sql` is exactly one
    /// statement; its `;` is added when missing.
    pub fn own(&mut self, purpose: Purpose, sql: &str) -> &mut Self {
        self.close();
        self.parts.push(Part::Own {
            purpose,
            bytes_at: self.sql.len(),
            chars_at: self.chars,
        });
        let sql = sql.trim_end();
        self.push_text(sql);
        if !sql.ends_with(';') {
            self.push_text(";");
        }
        self.push_text("\n");
        self
    }

    /// Appends `file[range]` verbatim. `statements` are the file's statement
    /// spans in order (from its parse); those that start inside `range` are
    /// the ones this text holds.
    pub fn file(
        &mut self,
        file: &str,
        range: Range<usize>,
        statements: &[Range<usize>],
    ) -> &mut Self {
        self.close();
        let first = statements.partition_point(|span| span.start < range.start);
        let starts: Vec<usize> = statements[first..]
            .iter()
            .take_while(|span| span.start < range.end)
            .map(|span| span.start)
            .collect();
        self.parts.push(Part::File {
            bytes_at: self.sql.len(),
            chars_at: self.chars,
            base: range.start,
            first,
            starts,
        });
        self.push_text(&file[range]);
        self.open = true;
        self
    }

    /// The statement PostgreSQL was running when it failed, told by how many
    /// statements of the message completed before it.
    pub fn failed_statement(&self, completed: usize) -> Option<Origin> {
        let mut before = 0;
        for part in &self.parts {
            let count = part.statements();
            if completed < before + count {
                return Some(match part {
                    Part::Own { purpose, .. } => Origin::Own(*purpose),
                    Part::File { first, starts, .. } => {
                        let at = completed - before;
                        Origin::File {
                            index: first + at,
                            start: starts[at],
                        }
                    }
                });
            }
            before += count;
        }
        None
    }

    /// Where PostgreSQL's error position (1-based, in characters of the
    /// whole message) falls.
    pub fn locate(&self, position: usize) -> Option<Located> {
        let chars = position.checked_sub(1)?;
        if chars >= self.chars {
            return None;
        }
        let index = self.parts.partition_point(|part| part.chars_at() <= chars);
        let part = self.parts.get(index.checked_sub(1)?)?;
        Some(match part {
            Part::Own { purpose, .. } => Located {
                origin: Origin::Own(*purpose),
                file_offset: None,
            },
            Part::File {
                bytes_at,
                chars_at,
                base,
                first,
                starts,
            } => {
                let end = self.parts.get(index).map_or(self.sql.len(), Part::bytes_at);
                let text = &self.sql[*bytes_at..end];
                let offset = base + byte_offset_of_char(text, chars - chars_at);
                // The statement the offset is in: the last one starting at or before it.
                let at = starts.partition_point(|start| *start <= offset);
                let origin = match at.checked_sub(1) {
                    Some(at) => Origin::File {
                        index: first + at,
                        start: starts[at],
                    },
                    // Before the text's first statement: a comment, or the
                    // tail of a statement that began in an earlier part.
                    None => Origin::File {
                        index: first.saturating_sub(1),
                        start: *base,
                    },
                };
                Located {
                    origin,
                    file_offset: Some(offset),
                }
            }
        })
    }

    /// Ends file text that may lack its final `;`, so that what follows is a
    /// statement of its own. An empty statement adds nothing to the count.
    fn close(&mut self) {
        if std::mem::take(&mut self.open) {
            self.push_text("\n;\n");
        }
    }

    fn push_text(&mut self, text: &str) {
        self.sql.push_str(text);
        self.chars += text.chars().count();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statements::split;

    fn spans(sql: &str) -> Vec<Range<usize>> {
        split(sql).iter().map(|s| s.start..s.end).collect()
    }

    fn wrapped(file: &str) -> Batch {
        let statements = spans(file);
        let mut batch = Batch::new();
        batch
            .own(Purpose::Begin, "BEGIN")
            .own(Purpose::Setting, "SET LOCAL lock_timeout = 5000")
            .file(file, 0..file.len(), &statements)
            .own(
                Purpose::Record,
                "INSERT INTO \"a;b\".\"m;\" (name) VALUES ('x;y')",
            )
            .own(Purpose::Commit, "COMMIT");
        batch
    }

    #[test]
    fn statements_are_counted_by_origin_not_by_semicolons() {
        let file = "CREATE TABLE \"we;ird\" (id int);\nINSERT INTO \"we;ird\" VALUES (1);\n";
        let batch = wrapped(file);
        assert_eq!(batch.statement_count(), 6);
        assert_eq!(batch.failed_statement(0), Some(Origin::Own(Purpose::Begin)));
        assert_eq!(
            batch.failed_statement(1),
            Some(Origin::Own(Purpose::Setting))
        );
        assert_eq!(
            batch.failed_statement(2),
            Some(Origin::File { index: 0, start: 0 })
        );
        let second = file.find("INSERT").unwrap();
        assert_eq!(
            batch.failed_statement(3),
            Some(Origin::File {
                index: 1,
                start: second
            })
        );
        assert_eq!(
            batch.failed_statement(4),
            Some(Origin::Own(Purpose::Record))
        );
        assert_eq!(
            batch.failed_statement(5),
            Some(Origin::Own(Purpose::Commit))
        );
        assert_eq!(batch.failed_statement(6), None);
    }

    #[test]
    fn a_file_without_a_final_semicolon_is_closed_before_the_next_statement() {
        let file = "SELECT 1 -- no semicolon";
        let batch = wrapped(file);
        assert!(batch.sql().contains("SELECT 1 -- no semicolon\n;\nINSERT"));
        assert_eq!(batch.statement_count(), 5);
    }

    #[test]
    fn positions_map_to_the_file_in_characters() {
        // Multi-byte characters before the error, in our SQL and the file's.
        let file = "-- héllo\nSELECT 'é';\nSELEC broken;\n";
        let statements = spans(file);
        let mut batch = Batch::new();
        batch
            .own(Purpose::Setting, "SET LOCAL application_name = 'ünïcode'")
            .file(file, 0..file.len(), &statements);
        let broken = file.find("SELEC broken").unwrap();
        let chars_before = batch.sql()[..batch.sql().find("SELEC broken").unwrap()]
            .chars()
            .count();
        let located = batch.locate(chars_before + 1).unwrap();
        assert_eq!(located.file_offset, Some(broken));
        assert_eq!(
            located.origin,
            Origin::File {
                index: 1,
                start: broken
            }
        );
        // A position in stratum's own statement names it.
        assert_eq!(
            batch.locate(3).map(|at| at.origin),
            Some(Origin::Own(Purpose::Setting))
        );
        assert_eq!(batch.locate(0), None);
        assert_eq!(batch.locate(10_000), None);
    }

    #[test]
    fn a_file_split_around_stratum_statements_keeps_its_offsets() {
        // A file in its own BEGIN … COMMIT: the row goes just before COMMIT.
        let file = "BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n";
        let statements = spans(file);
        let body = file.find("CREATE").unwrap();
        let commit = file.find("COMMIT").unwrap();
        let mut batch = Batch::new();
        batch
            .file(file, 0..body, &statements)
            .own(Purpose::Setting, "SET LOCAL lock_timeout = 1")
            .file(file, body..commit, &statements)
            .own(Purpose::Record, "INSERT INTO m VALUES (1)")
            .file(file, commit..file.len(), &statements);
        assert_eq!(batch.statement_count(), 5);
        assert_eq!(
            batch.failed_statement(0),
            Some(Origin::File { index: 0, start: 0 })
        );
        assert_eq!(
            batch.failed_statement(1),
            Some(Origin::Own(Purpose::Setting))
        );
        assert_eq!(
            batch.failed_statement(2),
            Some(Origin::File {
                index: 1,
                start: body
            })
        );
        assert_eq!(
            batch.failed_statement(3),
            Some(Origin::Own(Purpose::Record))
        );
        assert_eq!(
            batch.failed_statement(4),
            Some(Origin::File {
                index: 2,
                start: commit
            })
        );
        let at = batch.sql().find("TABLE").unwrap();
        let located = batch.locate(batch.sql()[..at].chars().count() + 1).unwrap();
        assert_eq!(located.file_offset, Some(file.find("TABLE").unwrap()));
    }

    #[test]
    fn the_lock_is_told_apart_from_the_settings_around_it() {
        let mut batch = Batch::new();
        batch
            .own(
                Purpose::PreviousCommitted,
                "SELECT 1 / count(*) FROM \"x;\".m",
            )
            .own(Purpose::Begin, "BEGIN")
            .own(Purpose::Setting, "SET LOCAL lock_timeout = 10")
            .own(Purpose::Lock, "SELECT pg_advisory_xact_lock(1)")
            .own(Purpose::Setting, "SET LOCAL lock_timeout = 0")
            .own(Purpose::Setting, "SET LOCAL synchronous_commit = off")
            .own(Purpose::Claim, "INSERT INTO \"x;\".m VALUES ('a;')");
        assert_eq!(batch.failed_statement(3), Some(Origin::Own(Purpose::Lock)));
        assert_eq!(batch.failed_statement(6), Some(Origin::Own(Purpose::Claim)));
    }
}
