//! The DDL of tables and columns: a new table with its columns, and a
//! table or column the database altered, changed in place.

use std::fmt::Write;

use super::{Writer, ident};
use crate::drift::{Column, Object, Shape, Table};

impl Writer<'_> {
    pub(super) fn create_table(
        &self,
        out: &mut String,
        object: &Object,
        table: &Table,
    ) -> std::fmt::Result {
        let name = self.qualified(&object.name);
        let unlogged = if table.unlogged { "UNLOGGED " } else { "" };
        match &table.partition_of {
            Some((parent, bound)) => writeln!(
                out,
                "CREATE {unlogged}TABLE IF NOT EXISTS {name} PARTITION OF {} {bound};",
                self.qualified(parent)
            )?,
            None => {
                let columns: Vec<String> = self
                    .actual
                    .objects
                    .iter()
                    .filter(|child| child.table.as_deref() == Some(object.name.as_str()))
                    .filter_map(|child| match &child.shape {
                        Shape::Column(column) => Some(format!(
                            "    {} {}",
                            ident(Self::own_name(child)),
                            column.definition()
                        )),
                        _ => None,
                    })
                    .collect();
                let key = table
                    .partition_key
                    .as_ref()
                    .map(|key| format!(" PARTITION BY {key}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "CREATE {unlogged}TABLE IF NOT EXISTS {name} (\n{}\n){key};",
                    columns.join(",\n")
                )?;
            }
        }
        self.row_security(out, &name, &Table::default(), table)?;
        writeln!(out)
    }

    pub(super) fn alter_table(
        &self,
        out: &mut String,
        object: &Object,
        old: &Table,
        new: &Table,
    ) -> std::fmt::Result {
        let name = self.qualified(&object.name);
        if old.unlogged != new.unlogged {
            writeln!(
                out,
                "ALTER TABLE {name} SET {};",
                if new.unlogged { "UNLOGGED" } else { "LOGGED" }
            )?;
        }
        self.row_security(out, &name, old, new)?;
        if old.partition_key != new.partition_key || old.partition_of != new.partition_of {
            writeln!(
                out,
                "-- table {}: its partitioning differs and cannot be changed in place; the database has:\n-- {}",
                object.name,
                new.definition()
            )?;
        }
        writeln!(out)
    }

    fn row_security(
        &self,
        out: &mut String,
        name: &str,
        old: &Table,
        new: &Table,
    ) -> std::fmt::Result {
        if old.row_security != new.row_security {
            let verb = if new.row_security {
                "ENABLE"
            } else {
                "DISABLE"
            };
            writeln!(out, "ALTER TABLE {name} {verb} ROW LEVEL SECURITY;")?;
        }
        if old.force_row_security != new.force_row_security {
            let verb = if new.force_row_security {
                "FORCE"
            } else {
                "NO FORCE"
            };
            writeln!(out, "ALTER TABLE {name} {verb} ROW LEVEL SECURITY;")?;
        }
        Ok(())
    }

    pub(super) fn alter_column(
        &self,
        out: &mut String,
        object: &Object,
        old: &Column,
        new: &Column,
    ) -> std::fmt::Result {
        let alter = format!(
            "ALTER TABLE {} ALTER COLUMN {}",
            self.table_of(object),
            ident(Self::own_name(object))
        );
        if old.generated != new.generated {
            writeln!(
                out,
                "-- column {}: its generation expression cannot be changed in place; the database has:\n-- {}",
                object.name,
                new.definition()
            )?;
        }
        if old.type_name != new.type_name || old.collation != new.collation {
            let collate = new
                .collation
                .as_ref()
                .map(|c| format!(" COLLATE {c}"))
                .unwrap_or_default();
            writeln!(
                out,
                "{alter} TYPE {}{collate} USING {}::{};",
                new.type_name,
                ident(Self::own_name(object)),
                new.type_name
            )?;
        }
        if old.identity != new.identity {
            match new.identity {
                Some(kind) if old.identity.is_some() => writeln!(
                    out,
                    "{alter} SET GENERATED {};",
                    if kind == 'a' { "ALWAYS" } else { "BY DEFAULT" }
                )?,
                Some(kind) => writeln!(
                    out,
                    "{alter} ADD GENERATED {} AS IDENTITY;",
                    if kind == 'a' { "ALWAYS" } else { "BY DEFAULT" }
                )?,
                None => writeln!(out, "{alter} DROP IDENTITY IF EXISTS;")?,
            }
        }
        if old.default != new.default && new.generated.is_none() {
            match &new.default {
                Some(default) => writeln!(out, "{alter} SET DEFAULT {default};")?,
                None => writeln!(out, "{alter} DROP DEFAULT;")?,
            }
        }
        if old.not_null != new.not_null {
            writeln!(
                out,
                "{alter} {} NOT NULL;",
                if new.not_null { "SET" } else { "DROP" }
            )?;
        }
        writeln!(out)
    }
}
