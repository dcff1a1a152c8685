//! A set of migrations from plain file names and contents: names checked,
//! text decoded, versions ordered and checked for duplicates.

use crate::error::SourceError;
use crate::migration::{Migration, MigrationName, NameProblem};
use crate::position::line_column_at_byte;

/// What is known of a file: its bytes, or, for a file known unchanged since
/// it was last read, only its checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    Bytes(Vec<u8>),
    Checksum(String),
}

/// Migrations in version order from `(file name, contents)` pairs, in any
/// order. Files that are not `.sql` are ignored; every broken name is reported
/// at once, so one run shows all there is to fix.
pub fn migrations_from_files(
    files: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> Result<Vec<Migration>, SourceError> {
    migrations_from_contents(
        files
            .into_iter()
            .map(|(file_name, bytes)| (file_name, FileContent::Bytes(bytes))),
    )
}

/// As `migrations_from_files`; a file given by its checksum alone becomes a
/// migration without its text, enough to plan but not to apply.
pub fn migrations_from_contents(
    files: impl IntoIterator<Item = (String, FileContent)>,
) -> Result<Vec<Migration>, SourceError> {
    let files = files.into_iter();
    let mut bad_names = Vec::new();
    let mut named = Vec::with_capacity(files.size_hint().0);
    for (file_name, bytes) in files {
        match MigrationName::parse(&file_name) {
            Ok(Some(name)) => named.push((name, file_name, bytes)),
            Ok(None) => {}
            Err(problem) => bad_names.push((file_name, problem)),
        }
    }
    in_order(named, bad_names)
}

/// The rest of `migrations_from_contents`, apart from the loop over the
/// iterator so that it is compiled once, not once per kind of iterator.
fn in_order(
    named: Vec<(MigrationName, String, FileContent)>,
    mut bad_names: Vec<(String, NameProblem)>,
) -> Result<Vec<Migration>, SourceError> {
    if !bad_names.is_empty() {
        bad_names.sort_by(|a, b| a.0.cmp(&b.0));
        return Err(SourceError::BadNames(bad_names));
    }
    // Version, then file name: a total order. Only the small keys are
    // sorted; the entries move once, into place.
    let mut order: Vec<(i64, usize)> = named
        .iter()
        .enumerate()
        .map(|(at, (name, _, _))| (name.version, at))
        .collect();
    order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| named[a.1].1.cmp(&named[b.1].1)));
    if let Some(pair) = order.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        let version = pair[0].0;
        let files = order
            .iter()
            .filter(|(same, _)| *same == version)
            .map(|(_, at)| named[*at].1.clone())
            .collect();
        return Err(SourceError::DuplicateVersion { version, files });
    }
    let mut slots: Vec<_> = named.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|(_, at)| slots[*at].take())
        .map(|(name, file_name, content)| {
            let bytes = match content {
                FileContent::Checksum(checksum) => {
                    return Ok(Migration::known(name, file_name, checksum));
                }
                FileContent::Bytes(bytes) => bytes,
            };
            let text = String::from_utf8(bytes).map_err(|error| {
                let valid = error.utf8_error().valid_up_to();
                let bytes = error.as_bytes();
                // Only the valid prefix is text; the line is counted there.
                let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
                SourceError::NotUtf8 {
                    file: file_name.clone(),
                    line: line_column_at_byte(prefix, valid).line,
                }
            })?;
            if let Some(at) = text.find('\0') {
                return Err(SourceError::NulCharacter {
                    line: line_column_at_byte(&text, at).line,
                    file: file_name,
                });
            }
            Ok(Migration::new(name, file_name, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::NameProblem;

    fn file(name: &str, sql: &str) -> (String, Vec<u8>) {
        (name.to_owned(), sql.as_bytes().to_vec())
    }

    #[test]
    fn a_known_checksum_gives_a_migration_without_text() {
        let migrations = migrations_from_contents([
            ("2_b.sql".to_owned(), FileContent::Checksum("ab".repeat(32))),
            (
                "1_a.sql".to_owned(),
                FileContent::Bytes(b"SELECT 1;".to_vec()),
            ),
        ])
        .unwrap();
        assert!(migrations[0].has_text);
        assert!(!migrations[1].has_text);
        assert_eq!(migrations[1].checksum, "ab".repeat(32));
        assert_eq!(migrations[1].sql, "");
    }

    #[test]
    fn orders_by_number_not_by_text() {
        let migrations = migrations_from_files([
            file("1000_late.sql", "SELECT 3;"),
            file("999_early.sql", "SELECT 2;"),
            file("10_first.sql", "SELECT 1;"),
            file("README.md", "not a migration"),
        ])
        .unwrap();
        let versions: Vec<i64> = migrations.iter().map(|m| m.version).collect();
        assert_eq!(versions, [10, 999, 1000]);
        assert_eq!(migrations[2].name, "1000_late");
    }

    #[test]
    fn reports_every_bad_name() {
        let error = migrations_from_files([
            file("006-x.sql", ""),
            file("_x.sql", ""),
            file("001_ok.sql", ""),
        ])
        .unwrap_err();
        assert_eq!(
            error,
            SourceError::BadNames(vec![
                ("006-x.sql".into(), NameProblem::NoUnderscore),
                ("_x.sql".into(), NameProblem::NoVersion),
            ])
        );
        assert!(error.to_string().contains("006-x.sql"));
    }

    #[test]
    fn duplicate_versions_name_both_files_and_how_to_renumber() {
        let error = migrations_from_files([
            file("006_a.sql", ""),
            file("6_b.sql", ""),
            file("005_c.sql", ""),
        ])
        .unwrap_err();
        assert_eq!(
            error,
            SourceError::DuplicateVersion {
                version: 6,
                files: vec!["006_a.sql".into(), "6_b.sql".into()]
            }
        );
        assert!(error.to_string().contains("renumber"));
    }

    #[test]
    fn a_nul_character_names_the_file_and_line() {
        let error =
            migrations_from_files([file("001_a.sql", "SELECT 1;\n\nSELECT '\0';")]).unwrap_err();
        assert_eq!(
            error,
            SourceError::NulCharacter {
                file: "001_a.sql".into(),
                line: 3
            }
        );
    }

    #[test]
    fn invalid_utf8_names_the_file_and_line() {
        let error = migrations_from_files([(
            "001_a.sql".to_owned(),
            b"SELECT 1;\nSELECT '\xff';".to_vec(),
        )])
        .unwrap_err();
        assert_eq!(
            error,
            SourceError::NotUtf8 {
                file: "001_a.sql".into(),
                line: 2
            }
        );
    }
}
