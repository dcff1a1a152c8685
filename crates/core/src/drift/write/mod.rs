//! The migration that captures drift: for every object the database has
//! and the migrations do not (or define otherwise), the DDL that makes a
//! database built from the files match the live one. Every statement can
//! run again (IF NOT EXISTS, OR REPLACE, or a catalog-guarded DO block), so
//! the file also applies cleanly to the drifted database itself. What the
//! database lacks is listed as comments: nothing is dropped silently.

use std::fmt::Write;

mod tables;

use super::{Change, Difference, Kind, Object, Shape, Snapshot};

/// The body of the migration (after its header) that turns a database
/// built from the files into `actual`, for the objects of `differences`;
/// `None` when there is no statement to write (nothing `extra` or
/// `changed`, or only what needs a person): a file of comments alone
/// captures nothing, and is an empty migration to the house rules.
pub fn write_migration(
    schema: &str,
    differences: &[Difference],
    expected: &Snapshot,
    actual: &Snapshot,
) -> Option<String> {
    let mut work: Vec<(Kind, &Object, Option<&Object>)> = Vec::new();
    let mut missing = Vec::new();
    for difference in differences {
        if difference.change == Change::Missing {
            missing.push(difference);
            continue;
        }
        let Some(object) = actual.find(difference.kind, &difference.name) else {
            continue;
        };
        let before = expected.find(difference.kind, &difference.name);
        work.push((difference.kind, object, before));
        // A new table or view brings what belongs to it.
        if difference.change == Change::Extra && matches!(difference.kind, Kind::Table | Kind::View)
        {
            for child in &actual.objects {
                let kind = child.shape.kind();
                if child.table.as_deref() == Some(difference.name.as_str())
                    // Its columns are in its CREATE TABLE.
                    && !matches!(kind, Kind::Table | Kind::View | Kind::Column)
                {
                    work.push((kind, child, None));
                }
            }
        }
    }
    work.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    let writer = Writer { schema, actual };
    let mut out = String::new();
    let mut later = String::new();
    for (_, object, before) in &work {
        writer.object(&mut out, &mut later, object, *before);
    }
    out.push_str(&later);
    if !missing.is_empty() {
        out.push_str(
            "-- In the migrations but not in the database; nothing here drops them.\n\
             -- Restore them there, or drop them in a migration of their own:\n",
        );
        for difference in missing {
            let _ = writeln!(
                out,
                "--   {} {}: {}",
                difference.kind.as_str(),
                difference.name,
                one_line(difference.expected.as_deref().unwrap_or(""))
            );
        }
    }
    let statements = out.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with("--")
    });
    statements.then_some(out)
}

struct Writer<'a> {
    schema: &'a str,
    actual: &'a Snapshot,
}

impl Writer<'_> {
    /// `"schema"."name"`.
    fn qualified(&self, name: &str) -> String {
        format!("{}.{}", ident(self.schema), ident(name))
    }

    /// What the object is called on its table (`password` of `vouchers.password`).
    fn own_name(object: &Object) -> &str {
        match &object.table {
            Some(table) if object.name.starts_with(&format!("{table}.")) => {
                &object.name[table.len() + 1..]
            }
            _ => &object.name,
        }
    }

    fn table_of(&self, object: &Object) -> String {
        self.qualified(object.table.as_deref().unwrap_or_default())
    }

    /// Writes the DDL of one object; what must wait for every table (the
    /// owner of a sequence) goes to `later`.
    fn object(
        &self,
        out: &mut String,
        later: &mut String,
        object: &Object,
        before: Option<&Object>,
    ) {
        let name = Self::own_name(object);
        let _ = match (&object.shape, before.map(|b| &b.shape)) {
            (Shape::Extension { version }, None) => writeln!(
                out,
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {} VERSION {};\n",
                ident(name),
                ident(self.schema),
                literal(version)
            ),
            (Shape::Extension { version }, Some(_)) => writeln!(
                out,
                "ALTER EXTENSION {} UPDATE TO {};\n",
                ident(name),
                literal(version)
            ),
            (Shape::Enum { labels }, None) => self.guarded_type(
                out,
                name,
                &format!(
                    "CREATE TYPE {} AS ENUM ({})",
                    self.qualified(name),
                    super::quoted_list(labels)
                ),
            ),
            (Shape::Enum { labels }, Some(Shape::Enum { labels: old })) => {
                self.enum_labels(out, name, old, labels)
            }
            (Shape::OtherType { keyword, body }, None) => self.guarded_type(
                out,
                name,
                &format!("CREATE {keyword} {} {body}", self.qualified(name)),
            ),
            (Shape::Sequence(sequence), None) => {
                if let Some((table, column)) = &sequence.owned_by {
                    let _ = writeln!(
                        later,
                        "ALTER SEQUENCE {} OWNED BY {}.{};\n",
                        self.qualified(name),
                        self.qualified(table),
                        ident(column)
                    );
                }
                writeln!(
                    out,
                    "CREATE SEQUENCE IF NOT EXISTS {} {};\n",
                    self.qualified(name),
                    sequence.options()
                )
            }
            (Shape::Sequence(sequence), Some(_)) => writeln!(
                out,
                "ALTER SEQUENCE {} {};\n",
                self.qualified(name),
                sequence.options()
            ),
            (Shape::Function { definition }, _) => {
                writeln!(out, "{};\n", definition.trim_end().trim_end_matches(';'))
            }
            (Shape::Table(table), None) => self.create_table(out, object, table),
            (Shape::Table(table), Some(Shape::Table(old))) => {
                self.alter_table(out, object, old, table)
            }
            (Shape::Column(column), None) => writeln!(
                out,
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {};\n",
                self.table_of(object),
                ident(name),
                column.definition()
            ),
            (Shape::Column(column), Some(Shape::Column(old))) => {
                self.alter_column(out, object, old, column)
            }
            (Shape::Constraint { definition }, None) => writeln!(
                out,
                "DO $stratum$\nBEGIN\n    IF NOT EXISTS (SELECT 1 FROM pg_constraint \
                 WHERE conrelid = {}::regclass AND conname = {}) THEN\n        \
                 ALTER TABLE {} ADD CONSTRAINT {} {};\n    END IF;\nEND\n$stratum$;\n",
                literal(&self.table_of(object)),
                literal(name),
                self.table_of(object),
                ident(name),
                definition
            ),
            (Shape::Constraint { definition }, Some(_)) => writeln!(
                out,
                "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name};\n\
                 ALTER TABLE {table} ADD CONSTRAINT {name} {definition};\n",
                table = self.table_of(object),
                name = ident(name),
            ),
            (Shape::Index { valid: false, .. }, _) => writeln!(
                out,
                "-- index {} is INVALID in the database (a failed CREATE INDEX \
                 CONCURRENTLY): rebuild it there with REINDEX, or drop it.\n",
                object.name
            ),
            (Shape::Index { definition, .. }, before) => {
                if before.is_some() {
                    let _ = writeln!(out, "DROP INDEX IF EXISTS {};", self.qualified(name));
                }
                writeln!(out, "{};\n", if_not_exists_index(definition))
            }
            (
                Shape::View {
                    materialized: false,
                    query,
                },
                _,
            ) => writeln!(
                out,
                "CREATE OR REPLACE VIEW {} AS\n{};\n",
                self.qualified(name),
                query.trim().trim_end_matches(';')
            ),
            (
                Shape::View {
                    materialized: true,
                    query,
                },
                before,
            ) => {
                if before.is_some() {
                    let _ = writeln!(
                        out,
                        "DROP MATERIALIZED VIEW IF EXISTS {};",
                        self.qualified(name)
                    );
                }
                writeln!(
                    out,
                    "CREATE MATERIALIZED VIEW IF NOT EXISTS {} AS\n{};\n",
                    self.qualified(name),
                    query.trim().trim_end_matches(';')
                )
            }
            (
                Shape::Trigger {
                    definition,
                    enabled,
                },
                _,
            ) => {
                match definition.strip_prefix("CREATE TRIGGER ") {
                    Some(rest) => {
                        let _ = writeln!(out, "CREATE OR REPLACE TRIGGER {rest};");
                    }
                    // A constraint trigger has no OR REPLACE form.
                    None => {
                        let _ = writeln!(
                            out,
                            "-- trigger {} cannot be replaced in place; as the database has it:\n-- {}",
                            object.name,
                            one_line(definition)
                        );
                    }
                }
                writeln!(
                    out,
                    "ALTER TABLE {} {} TRIGGER {};\n",
                    self.table_of(object),
                    if *enabled { "ENABLE" } else { "DISABLE" },
                    ident(name)
                )
            }
            (Shape::Policy(policy), before) => {
                let create = format!(
                    "CREATE POLICY {} ON {} {}",
                    ident(name),
                    self.table_of(object),
                    policy.definition()
                );
                if before.is_some() {
                    writeln!(
                        out,
                        "DROP POLICY IF EXISTS {} ON {};\n{create};\n",
                        ident(name),
                        self.table_of(object)
                    )
                } else {
                    writeln!(
                        out,
                        "DO $stratum$\nBEGIN\n    IF NOT EXISTS (SELECT 1 FROM pg_policy \
                         WHERE polrelid = {}::regclass AND polname = {}) THEN\n        \
                         {create};\n    END IF;\nEND\n$stratum$;\n",
                        literal(&self.table_of(object)),
                        literal(name)
                    )
                }
            }
            (Shape::Comment { on, text }, _) => {
                let target = match (&on.parent, &on.arguments) {
                    (Some(parent), _) if on.keyword == "CONSTRAINT" => {
                        format!("{} ON {}", ident(&on.object), self.qualified(parent))
                    }
                    (Some(parent), _) => {
                        format!("{}.{}", self.qualified(parent), ident(&on.object))
                    }
                    (None, Some(arguments)) => {
                        format!("{}({arguments})", self.qualified(&on.object))
                    }
                    (None, None) => self.qualified(&on.object),
                };
                writeln!(
                    out,
                    "COMMENT ON {} {target} IS {};\n",
                    on.keyword,
                    literal(text)
                )
            }
            (shape, _) => writeln!(
                out,
                "-- {} {} cannot be changed in place; as the database has it:\n-- {}\n",
                shape.kind().as_str(),
                object.name,
                one_line(&shape.definition())
            ),
        };
    }

    /// `CREATE TYPE`/`CREATE DOMAIN` have no IF NOT EXISTS: the catalog guards them.
    fn guarded_type(&self, out: &mut String, name: &str, create: &str) -> std::fmt::Result {
        writeln!(
            out,
            "DO $stratum$\nBEGIN\n    IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n \
             ON n.oid = t.typnamespace WHERE n.nspname = {} AND t.typname = {}) THEN\n        \
             {create};\n    END IF;\nEND\n$stratum$;\n",
            literal(self.schema),
            literal(name)
        )
    }

    /// Labels the database added, each placed where it sits there; a label
    /// it lacks cannot be removed by PostgreSQL and is only noted.
    fn enum_labels(
        &self,
        out: &mut String,
        name: &str,
        old: &[String],
        new: &[String],
    ) -> std::fmt::Result {
        for (position, label) in new.iter().enumerate() {
            if old.contains(label) {
                continue;
            }
            let place = match position.checked_sub(1).and_then(|p| new.get(p)) {
                Some(previous) => format!(" AFTER {}", literal(previous)),
                None => new
                    .get(1)
                    .map(|next| format!(" BEFORE {}", literal(next)))
                    .unwrap_or_default(),
            };
            writeln!(
                out,
                "ALTER TYPE {} ADD VALUE IF NOT EXISTS {}{place};",
                self.qualified(name),
                literal(label)
            )?;
        }
        for label in old.iter().filter(|label| !new.contains(label)) {
            writeln!(
                out,
                "-- type {name}: the database has no label {}",
                literal(label)
            )?;
        }
        writeln!(out)
    }
}

/// `CREATE [UNIQUE] INDEX IF NOT EXISTS …` from `pg_get_indexdef`'s text.
/// A partitioned table's index is decompiled `ON ONLY`, which would build
/// it without its partitions' indexes (and leave it invalid): written
/// without ONLY, it is built on every partition too.
fn if_not_exists_index(definition: &str) -> String {
    let definition = definition.replacen(" ON ONLY ", " ON ", 1);
    for prefix in ["CREATE UNIQUE INDEX ", "CREATE INDEX "] {
        if let Some(rest) = definition.strip_prefix(prefix) {
            return format!("{prefix}IF NOT EXISTS {rest}");
        }
    }
    definition
}

/// A definition on one comment line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if quoted.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}
