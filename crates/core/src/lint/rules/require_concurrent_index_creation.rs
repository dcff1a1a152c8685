//! `require-concurrent-index-creation` (warning, squawk's name): CREATE
//! INDEX without CONCURRENTLY blocks writes to the table until the index is
//! built, which on a large live table is minutes of failed requests. A
//! table created in the same file has no users yet and is left alone.

use squawk_syntax::{SyntaxKind, SyntaxNode};

use super::{Check, Finding, Rule, has_child, table_name};

pub(crate) const ID: &str = "require-concurrent-index-creation";
pub(crate) const RULE: Rule = Rule { id: ID, check };

fn check(check: &Check, node: &SyntaxNode, out: &mut Vec<Finding>) {
    if node.kind() != SyntaxKind::CREATE_INDEX || has_child(node, SyntaxKind::CONCURRENTLY_KW) {
        return;
    }
    let Some(table) = table_name(node, SyntaxKind::TABLE_RELATION_NAME) else {
        return;
    };
    if check.is_new_table(&table) {
        return;
    }
    out.push(Finding::at(
        node,
        format!(
            "CREATE INDEX on {} blocks writes to the table until the index is built",
            table.name
        ),
        "use CREATE INDEX CONCURRENTLY IF NOT EXISTS, in its own file whose first line is \
         `-- stratum:no-transaction`",
    ));
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::{fires, of};

    const ID: &str = super::ID;

    #[test]
    fn an_index_on_an_existing_table_fires() {
        assert!(fires(ID, "CREATE INDEX IF NOT EXISTS i ON users (email);"));
        assert!(fires(
            ID,
            "CREATE TABLE IF NOT EXISTS a (x int);\nCREATE INDEX IF NOT EXISTS i ON b (x);"
        ));
        let found = of(
            ID,
            "CREATE UNIQUE INDEX IF NOT EXISTS i ON public.users (email);",
        );
        assert!(found[0].help.contains("CONCURRENTLY"));
    }

    #[test]
    fn concurrent_indexes_and_new_tables_do_not_fire() {
        for sql in [
            "-- stratum:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON users (email);",
            "CREATE TABLE IF NOT EXISTS users (email text);\nCREATE INDEX IF NOT EXISTS i ON users (email);",
            "CREATE TABLE public.users (email text);\nCREATE INDEX IF NOT EXISTS i ON users (email);",
            "SELECT 'CREATE INDEX i ON users (email)';",
        ] {
            assert!(!fires(ID, sql), "{sql}");
        }
    }
}
