//! A migration: a numbered SQL file, its name and its checksum.
//!
//! File names are `NNN_name.sql`: at least one digit, an underscore, then a
//! name of lower-case letters, digits and underscores. Versions order as
//! numbers, so `1000_x` follows `999_x`.

use crate::checksum::checksum;

/// The version and name parsed from a file name such as `001_initial_schema.sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationName {
    pub version: i64,
    /// The file name without `.sql`, as the tracking table stores it.
    pub name: String,
}

/// Why a `.sql` file name does not fit the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameProblem {
    NoVersion,
    NoUnderscore,
    EmptyName,
    BadCharacter(char),
    UpperCaseExtension,
    VersionTooLarge,
}

impl NameProblem {
    pub fn describe(&self) -> String {
        match self {
            Self::NoVersion => "it must start with a version number".into(),
            Self::NoUnderscore => "the version must be followed by an underscore".into(),
            Self::EmptyName => "the name after the underscore is empty".into(),
            Self::BadCharacter(found) => {
                format!("{found:?} is not allowed: use lower-case letters, digits and underscores")
            }
            Self::UpperCaseExtension => "the extension must be a lower-case .sql".into(),
            Self::VersionTooLarge => "the version does not fit in a 64-bit integer".into(),
        }
    }
}

impl MigrationName {
    /// `Ok(None)` for a file that is not a migration at all (a README),
    /// `Err` for a `.sql` file whose name breaks the pattern: such a file is
    /// never silently skipped.
    pub fn parse(file_name: &str) -> Result<Option<Self>, NameProblem> {
        let Some(stem_len) = file_name.len().checked_sub(".sql".len()) else {
            return Ok(None);
        };
        // Compared as bytes: the cut may fall inside a character.
        let extension = &file_name.as_bytes()[stem_len..];
        if !extension.eq_ignore_ascii_case(b".sql") {
            return Ok(None);
        }
        if extension != b".sql" {
            return Err(NameProblem::UpperCaseExtension);
        }
        let stem = &file_name[..stem_len];
        let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(NameProblem::NoVersion);
        }
        let Some(rest) = stem[digits..].strip_prefix('_') else {
            return Err(NameProblem::NoUnderscore);
        };
        if rest.is_empty() {
            return Err(NameProblem::EmptyName);
        }
        if let Some(bad) = rest
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            return Err(NameProblem::BadCharacter(bad));
        }
        let version = stem[..digits]
            .parse::<i64>()
            .map_err(|_| NameProblem::VersionTooLarge)?;
        Ok(Some(Self {
            version,
            name: stem.to_owned(),
        }))
    }

    /// The version given by a tracking row's name, for rows written before
    /// the tracking table had a version column.
    pub fn version_of(name: &str) -> Option<i64> {
        let digits = name.bytes().take_while(u8::is_ascii_digit).count();
        name[..digits].parse().ok()
    }
}

/// The file name and header of a new migration called `name`, numbered one
/// past the highest version among `existing` file names and zero-padded to
/// that file's width (at least three digits), so `0042_x.sql` is followed by
/// `0043_name.sql`.
pub fn new_migration_file(
    existing: &[&str],
    name: &str,
) -> Result<(MigrationName, String, String), NameProblem> {
    const MIN_WIDTH: usize = 3;
    let (highest, width) = existing
        .iter()
        .filter_map(|file| {
            let parsed = MigrationName::parse(file).ok()??;
            let digits = file.bytes().take_while(u8::is_ascii_digit).count();
            Some((parsed.version, digits))
        })
        .max()
        .unwrap_or((0, MIN_WIDTH));
    let version = highest.checked_add(1).ok_or(NameProblem::VersionTooLarge)?;
    let file_name = format!("{version:0width$}_{name}.sql", width = width.max(MIN_WIDTH));
    let parsed = MigrationName::parse(&file_name)?.ok_or(NameProblem::EmptyName)?;
    let title: Vec<String> = name
        .split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        })
        .collect();
    let header = format!(
        "-- Migration {}: {}\n-- Description: \n\n",
        &file_name[..file_name.find('_').unwrap_or(0)],
        title.join(" ")
    );
    Ok((parsed, file_name, header))
}

/// One migration file, read and ready to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub name: String,
    /// The file name as found, e.g. `001_initial_schema.sql`.
    pub file_name: String,
    /// The file's text with a leading BOM removed; empty when only its
    /// checksum was known (`has_text` false).
    pub sql: String,
    pub checksum: String,
    /// Whether `sql` holds the file's text: a migration planned from a known
    /// checksum alone must be read before it can run.
    pub has_text: bool,
}

impl Migration {
    pub fn new(name: MigrationName, file_name: String, mut sql: String) -> Self {
        // The BOM is dropped in place: large files are not copied.
        if sql.starts_with('\u{feff}') {
            sql.drain(..'\u{feff}'.len_utf8());
        }
        Self {
            version: name.version,
            checksum: checksum(&sql),
            name: name.name,
            file_name,
            sql,
            has_text: true,
        }
    }

    /// A migration known by its checksum alone.
    pub fn known(name: MigrationName, file_name: String, checksum: String) -> Self {
        Self {
            version: name.version,
            name: name.name,
            file_name,
            sql: String::new(),
            checksum,
            has_text: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(file_name: &str) -> Result<Option<MigrationName>, NameProblem> {
        MigrationName::parse(file_name)
    }

    #[test]
    fn accepts_the_documented_shape() {
        assert_eq!(
            parse("001_initial_schema.sql"),
            Ok(Some(MigrationName {
                version: 1,
                name: "001_initial_schema".into()
            }))
        );
        assert_eq!(parse("6_x.sql").unwrap().unwrap().version, 6);
        assert_eq!(parse("1000_a2_b.sql").unwrap().unwrap().version, 1000);
    }

    #[test]
    fn other_files_are_not_migrations() {
        assert_eq!(parse("README.md"), Ok(None));
        assert_eq!(parse("001_x.sql.bak"), Ok(None));
    }

    #[test]
    fn rejects_every_broken_sql_name() {
        assert_eq!(parse("006-x.sql"), Err(NameProblem::NoUnderscore));
        assert_eq!(parse("006_X.sql"), Err(NameProblem::BadCharacter('X')));
        assert_eq!(parse("_x.sql"), Err(NameProblem::NoVersion));
        assert_eq!(parse("006_.sql"), Err(NameProblem::EmptyName));
        assert_eq!(parse("006_x.SQL"), Err(NameProblem::UpperCaseExtension));
        assert_eq!(parse("x.sql"), Err(NameProblem::NoVersion));
        assert_eq!(parse("006.sql"), Err(NameProblem::NoUnderscore));
        assert_eq!(parse("006_a-b.sql"), Err(NameProblem::BadCharacter('-')));
        assert_eq!(
            parse("99999999999999999999_x.sql"),
            Err(NameProblem::VersionTooLarge)
        );
    }

    #[test]
    fn a_new_file_takes_the_next_number_at_the_width_in_use() {
        let (name, file, header) = new_migration_file(
            &["001_a.sql", "009_b.sql", "README.md"],
            "add_user_preferences",
        )
        .unwrap();
        assert_eq!(name.version, 10);
        assert_eq!(file, "010_add_user_preferences.sql");
        assert_eq!(
            header,
            "-- Migration 010: Add User Preferences\n-- Description: \n\n"
        );
        assert_eq!(
            new_migration_file(&["0042_x.sql"], "y").unwrap().1,
            "0043_y.sql"
        );
        assert_eq!(new_migration_file(&[], "first").unwrap().1, "001_first.sql");
        assert_eq!(
            new_migration_file(&["999_x.sql"], "y").unwrap().1,
            "1000_y.sql"
        );
    }

    #[test]
    fn a_new_file_refuses_a_name_that_breaks_the_rule() {
        assert_eq!(
            new_migration_file(&[], "Add-Users").unwrap_err(),
            NameProblem::BadCharacter('A')
        );
        assert_eq!(
            new_migration_file(&[], "").unwrap_err(),
            NameProblem::EmptyName
        );
    }

    #[test]
    fn version_of_a_tracking_name() {
        assert_eq!(MigrationName::version_of("002_add_default_data"), Some(2));
        assert_eq!(MigrationName::version_of("legacy"), None);
    }

    #[test]
    fn a_bom_is_not_part_of_the_sql() {
        let name = parse("001_a.sql").unwrap().unwrap();
        let migration = Migration::new(name, "001_a.sql".into(), "\u{feff}SELECT 1;".into());
        assert_eq!(migration.sql, "SELECT 1;");
    }
}
