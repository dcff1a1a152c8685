//! The lint on real migration files of public PostgreSQL projects (see
//! `corpus/SOURCES.md`): every finding was checked by hand, and
//! `corpus/findings.txt` pins them, so a rule that starts firing where a
//! re-run would be safe, or stops firing where it would fail, shows here.
//! After a deliberate change, `STRATUM_UPDATE_CORPUS=1 cargo test --test
//! lint_corpus` rewrites the file, to be checked again by hand.

use std::path::{Path, PathBuf};

use stratum_core::lint::{LintContext, lint};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// One line per finding: `project/file:line:column severity rule`.
fn findings() -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("the corpus folder")
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.is_dir())
        .flat_map(|project| {
            std::fs::read_dir(project)
                .expect("a project folder")
                .filter_map(|entry| Some(entry.ok()?.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
                .collect::<Vec<_>>()
        })
        .collect();
    files.sort();
    let mut out = String::new();
    for path in files {
        let sql = std::fs::read_to_string(&path).expect("a UTF-8 file");
        let name = path
            .strip_prefix(corpus())
            .expect("inside the corpus")
            .display()
            .to_string();
        for found in lint(&name, &sql, &LintContext::default()) {
            out.push_str(&format!(
                "{}:{}:{} {} {}\n",
                found.file,
                found.line,
                found.column,
                found.severity.as_str(),
                found.rule
            ));
        }
    }
    out
}

#[test]
fn the_corpus_findings_are_the_pinned_ones() {
    let pinned = corpus().join("findings.txt");
    let found = findings();
    if std::env::var_os("STRATUM_UPDATE_CORPUS").is_some() {
        std::fs::write(&pinned, &found).expect("writing findings.txt");
        return;
    }
    let expected = std::fs::read_to_string(&pinned).expect("corpus/findings.txt");
    assert!(
        found == expected,
        "the lint findings on the corpus changed; diff them against corpus/findings.txt:\n{found}"
    );
}
