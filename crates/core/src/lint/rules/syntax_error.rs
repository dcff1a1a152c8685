//! `syntax-error`: what squawk's parser could not read, so that `stratum
//! lint` finds a broken file before PostgreSQL does, with line and column.

use super::Finding;
use crate::statements::Parsed;

pub(crate) const ID: &str = "syntax-error";

/// The first error of each statement: after one, squawk recovers token by
/// token and reports most of the rest of the statement again, which says
/// nothing new.
pub(crate) fn findings(parsed: &Parsed) -> Vec<Finding> {
    let mut findings: Vec<Finding> = Vec::new();
    let mut last_statement = None;
    for error in &parsed.errors {
        let offset = error.offset;
        let statement = parsed.statement_at(offset);
        if findings.last().is_some_and(|last| last.offset == offset)
            || (statement.is_some() && statement == last_statement)
        {
            continue;
        }
        last_statement = statement;
        findings.push(Finding {
            offset,
            message: error.message.clone(),
            help: "fix the statement here; if PostgreSQL accepts it as written, put \
                   `-- stratum:allow syntax-error` on the line before it"
                .into(),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::test_support::{diagnostics, fires, of};

    #[test]
    fn a_misspelt_command_is_reported_once_at_its_position() {
        let found = of("syntax-error", "SELECT 1;\n  SELEC 2 3 4;\nSELECT (;");
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].line, found[0].column), (2, 3));
        assert!(found[0].message.contains("expected command"));
        assert_eq!(found[1].line, 3);
    }

    #[test]
    fn errors_inside_a_sql_function_body_point_into_the_body() {
        let sql =
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql\nAS $$ SELECT FROM WHERE $$;";
        let found = of("syntax-error", sql);
        assert!(!found.is_empty());
        assert_eq!(found[0].line, 2);
    }

    #[test]
    fn valid_sql_with_tricky_literals_has_none() {
        let sql = "SELECT E'a\\'b;', $x$ ; VACUUM $x$, \"a;b\" FROM t; -- ; BEGIN\n";
        assert!(!fires("syntax-error", sql));
        assert!(diagnostics(sql).is_empty());
    }

    #[test]
    fn it_can_be_allowed_when_squawk_is_wrong() {
        let sql = "-- stratum:allow syntax-error\nSELEC 1;";
        assert!(!fires("syntax-error", sql));
    }
}
