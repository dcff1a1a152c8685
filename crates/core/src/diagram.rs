//! A schema as a Mermaid ER diagram: tables with their key columns, and a
//! line for every foreign key. Pure text from plain values, so the output is
//! the same for the same schema, ready to commit and compare.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type's short name as the catalog spells it (`int4`, `timestamptz`).
    pub type_name: String,
    pub primary_key: bool,
    pub foreign_key: bool,
    pub unique: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The referencing table and its columns.
    pub table: String,
    pub columns: Vec<String>,
    /// The referenced table.
    pub references: String,
    /// Whether a row may have no parent (a nullable referencing column).
    pub optional: bool,
}

/// The Mermaid `erDiagram` of `tables` and `foreign_keys`, in name order.
/// Only key columns are listed: the diagram is about how tables connect.
pub fn render(tables: &[Table], foreign_keys: &[ForeignKey]) -> String {
    let mut tables: Vec<&Table> = tables.iter().collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let mut keys: Vec<&ForeignKey> = foreign_keys.iter().collect();
    keys.sort_by(|a, b| {
        (&a.table, &a.columns, &a.references).cmp(&(&b.table, &b.columns, &b.references))
    });

    let mut out = String::from("erDiagram\n");
    for table in tables {
        let _ = writeln!(out, "    {} {{", entity(&table.name));
        for column in table
            .columns
            .iter()
            .filter(|c| c.primary_key || c.foreign_key || c.unique)
        {
            let markers: Vec<&str> = [
                (column.primary_key, "PK"),
                (column.foreign_key, "FK"),
                (column.unique && !column.primary_key, "UK"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, marker)| *marker)
            .collect();
            let _ = writeln!(
                out,
                "        {} {} {}",
                attribute(&column.type_name),
                attribute(&column.name),
                markers.join(", ")
            );
        }
        out.push_str("    }\n");
    }
    for key in keys {
        let parent = if key.optional { "o|" } else { "||" };
        let _ = writeln!(
            out,
            "    {} }}o--{parent} {} : \"{}\"",
            entity(&key.table),
            entity(&key.references),
            key.columns.join(", ").replace('"', "'")
        );
    }
    out
}

/// Mermaid entity names are words; anything else is quoted away.
fn entity(name: &str) -> String {
    if is_word(name) {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "'"))
    }
}

/// Attribute types and names must be words too; other characters become `_`.
fn attribute(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.chars().next() {
        Some(first) if first.is_ascii_alphabetic() || first == '_' => cleaned,
        _ => format!("_{cleaned}"),
    }
}

fn is_word(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, type_name: &str, keys: (bool, bool, bool)) -> Column {
        Column {
            name: name.into(),
            type_name: type_name.into(),
            primary_key: keys.0,
            foreign_key: keys.1,
            unique: keys.2,
        }
    }

    #[test]
    fn tables_list_key_columns_and_foreign_keys_become_lines() {
        let tables = [
            Table {
                name: "subscriptions".into(),
                columns: vec![
                    column("id", "int4", (true, false, false)),
                    column("customer_id", "int4", (false, true, false)),
                    column("notes", "text", (false, false, false)),
                ],
            },
            Table {
                name: "customers".into(),
                columns: vec![
                    column("id", "int4", (true, false, false)),
                    column("email", "varchar", (false, false, true)),
                ],
            },
        ];
        let keys = [ForeignKey {
            table: "subscriptions".into(),
            columns: vec!["customer_id".into()],
            references: "customers".into(),
            optional: false,
        }];
        assert_eq!(
            render(&tables, &keys),
            "erDiagram\n    customers {\n        int4 id PK\n        varchar email UK\n    }\n    \
             subscriptions {\n        int4 id PK\n        int4 customer_id FK\n    }\n    \
             subscriptions }o--|| customers : \"customer_id\"\n"
        );
    }

    #[test]
    fn an_optional_parent_and_odd_names_stay_valid_mermaid() {
        let tables = [Table {
            name: "odd table".into(),
            columns: vec![column(
                "1st",
                "timestamp with time zone",
                (true, false, false),
            )],
        }];
        let keys = [ForeignKey {
            table: "odd table".into(),
            columns: vec!["parent_id".into()],
            references: "odd table".into(),
            optional: true,
        }];
        let text = render(&tables, &keys);
        assert!(text.contains("\"odd table\" {"));
        assert!(text.contains("timestamp_with_time_zone _1st PK"));
        assert!(text.contains("\"odd table\" }o--o| \"odd table\" : \"parent_id\""));
    }
}
