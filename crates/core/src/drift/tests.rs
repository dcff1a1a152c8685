use super::*;

fn table(name: &str) -> Object {
    Object {
        name: name.into(),
        table: Some(name.into()),
        shape: Shape::Table(Table::default()),
    }
}

fn column(table: &str, name: &str, type_name: &str, default: Option<&str>) -> Object {
    Object {
        name: format!("{table}.{name}"),
        table: Some(table.into()),
        shape: Shape::Column(Column {
            type_name: type_name.into(),
            not_null: true,
            default: default.map(Into::into),
            ..Column::default()
        }),
    }
}

fn index(table: &str, name: &str) -> Object {
    Object {
        name: format!("{table}.{name}"),
        table: Some(table.into()),
        shape: Shape::Index {
            definition: format!("CREATE INDEX {name} ON public.{table} USING btree (code)"),
            valid: true,
        },
    }
}

fn base() -> Snapshot {
    Snapshot {
        objects: vec![
            table("vouchers"),
            column("vouchers", "id", "integer", None),
            column("vouchers", "code", "text", Some("''::text")),
            index("vouchers", "idx_code"),
            Object {
                name: "mood".into(),
                table: None,
                shape: Shape::Enum {
                    labels: vec!["sad".into(), "happy".into()],
                },
            },
        ],
    }
}

#[test]
fn identical_snapshots_are_in_sync_whatever_the_column_order() {
    let mut reordered = base();
    reordered.objects.swap(1, 2);
    assert!(compare(&base(), &reordered).is_empty());
}

#[test]
fn each_object_is_one_difference() {
    let mut live = base();
    live.objects
        .push(column("vouchers", "password", "text", None));
    live.objects.push(table("audit"));
    live.objects
        .push(column("audit", "at", "timestamptz", Some("now()")));
    live.objects.push(index("audit", "idx_at"));
    live.objects.retain(|o| o.name != "vouchers.idx_code");
    if let Shape::Column(c) = &mut live.objects[2].shape {
        c.default = Some("'x'::text".into());
    }
    let differences = compare(&base(), &live);
    let found: Vec<(Kind, &str, Change)> = differences
        .iter()
        .map(|d| (d.kind, d.name.as_str(), d.change))
        .collect();
    assert_eq!(
        found,
        vec![
            (Kind::Table, "audit", Change::Extra),
            (Kind::Column, "vouchers.code", Change::Changed),
            (Kind::Column, "vouchers.password", Change::Extra),
            (Kind::Index, "vouchers.idx_code", Change::Missing),
        ]
    );
    let changed = &differences[1];
    assert_eq!(
        changed.expected.as_deref(),
        Some("text DEFAULT ''::text NOT NULL")
    );
    assert_eq!(
        changed.actual.as_deref(),
        Some("text DEFAULT 'x'::text NOT NULL")
    );
}

#[test]
fn the_written_migration_is_idempotent_ddl_and_lists_what_is_missing() {
    let mut live = base();
    live.objects
        .push(column("vouchers", "password", "text", None));
    live.objects.push(table("audit"));
    live.objects
        .push(column("audit", "at", "timestamptz", Some("now()")));
    live.objects.push(index("audit", "idx_at"));
    live.objects.push(Object {
        name: "audit.audit_at_check".into(),
        table: Some("audit".into()),
        shape: Shape::Constraint {
            definition: "CHECK ((at > '2000-01-01 00:00:00+00'::timestamp with time zone))".into(),
        },
    });
    live.objects.retain(|o| o.name != "vouchers.idx_code");
    for object in &mut live.objects {
        if object.name == "mood" {
            object.shape = Shape::Enum {
                labels: vec!["sad".into(), "meh".into(), "happy".into()],
            };
        }
    }
    let differences = compare(&base(), &live);
    let sql = write_migration("public", &differences, &base(), &live).unwrap_or_default();
    assert!(sql.contains("CREATE TABLE IF NOT EXISTS \"public\".\"audit\" (\n    \"at\" timestamptz DEFAULT now() NOT NULL\n);"), "{sql}");
    assert!(
        sql.contains("CREATE INDEX IF NOT EXISTS idx_at ON public.audit USING btree (code);"),
        "{sql}"
    );
    assert!(sql.contains("IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '\"public\".\"audit\"'::regclass AND conname = 'audit_at_check')"), "{sql}");
    assert!(sql.contains("ALTER TABLE \"public\".\"vouchers\" ADD COLUMN IF NOT EXISTS \"password\" text NOT NULL;"), "{sql}");
    assert!(
        sql.contains("ALTER TYPE \"public\".\"mood\" ADD VALUE IF NOT EXISTS 'meh' AFTER 'sad';"),
        "{sql}"
    );
    assert!(
        sql.contains("--   index vouchers.idx_code: CREATE INDEX idx_code"),
        "{sql}"
    );
    assert!(!sql.contains("DROP INDEX"), "{sql}");
    // The new table's columns are in its CREATE TABLE, not added again.
    assert!(!sql.contains("ADD COLUMN IF NOT EXISTS \"at\""), "{sql}");
    // The table comes before what hangs off it.
    assert!(
        sql.find("CREATE TABLE").unwrap_or(usize::MAX) < sql.find("ADD CONSTRAINT").unwrap_or(0)
    );
}

#[test]
fn a_changed_column_is_altered_in_place() {
    let mut live = base();
    live.objects[2].shape = Shape::Column(Column {
        type_name: "character varying(50)".into(),
        not_null: false,
        default: None,
        ..Column::default()
    });
    let sql =
        write_migration("public", &compare(&base(), &live), &base(), &live).unwrap_or_default();
    let alter = "ALTER TABLE \"public\".\"vouchers\" ALTER COLUMN \"code\"";
    assert!(
        sql.contains(&format!(
            "{alter} TYPE character varying(50) USING \"code\"::character varying(50);"
        )),
        "{sql}"
    );
    assert!(sql.contains(&format!("{alter} DROP DEFAULT;")), "{sql}");
    assert!(sql.contains(&format!("{alter} DROP NOT NULL;")), "{sql}");
}

#[test]
fn functions_triggers_and_policies_are_replaced_or_guarded() {
    let function = |body: &str| Object {
        name: "touch()".into(),
        table: None,
        shape: Shape::Function {
            definition: format!(
                "CREATE OR REPLACE FUNCTION public.touch()\n RETURNS trigger\n AS $function${body}$function$\n"
            ),
        },
    };
    let mut expected = base();
    expected.objects.push(function("old"));
    let mut live = base();
    live.objects.push(function("new"));
    live.objects.push(Object {
        name: "vouchers.touch".into(),
        table: Some("vouchers".into()),
        shape: Shape::Trigger {
            definition: "CREATE TRIGGER touch BEFORE UPDATE ON public.vouchers FOR EACH ROW EXECUTE FUNCTION touch()".into(),
            enabled: true,
        },
    });
    live.objects.push(Object {
        name: "vouchers.own_rows".into(),
        table: Some("vouchers".into()),
        shape: Shape::Policy(Policy {
            permissive: true,
            command: "SELECT".into(),
            roles: "PUBLIC".into(),
            using: Some("(id > 0)".into()),
            check: None,
        }),
    });
    let differences = compare(&expected, &live);
    assert_eq!(differences.len(), 3, "{differences:?}");
    let sql = write_migration("public", &differences, &expected, &live).unwrap_or_default();
    assert!(
        sql.contains("CREATE OR REPLACE FUNCTION public.touch()"),
        "{sql}"
    );
    assert!(sql.contains("$function$new$function$;"), "{sql}");
    assert!(
        sql.contains("CREATE OR REPLACE TRIGGER touch BEFORE UPDATE"),
        "{sql}"
    );
    assert!(sql.contains("CREATE POLICY \"own_rows\" ON \"public\".\"vouchers\" AS PERMISSIVE FOR SELECT TO PUBLIC USING ((id > 0))"), "{sql}");
    assert!(sql.find("FUNCTION").unwrap_or(usize::MAX) < sql.find("TRIGGER").unwrap_or(0));
}

#[test]
fn nothing_to_capture_writes_nothing() {
    assert_eq!(write_migration("public", &[], &base(), &base()), None);
    let mut live = base();
    live.objects.retain(|o| o.name != "vouchers.idx_code");
    let differences = compare(&base(), &live);
    assert_eq!(differences.len(), 1);
    assert_eq!(
        write_migration("public", &differences, &base(), &live),
        None
    );
}

#[test]
fn differences_serialize_as_the_api_promises() {
    let mut live = base();
    live.objects
        .push(column("vouchers", "password", "text", None));
    let json = serde_json::to_value(compare(&base(), &live)).unwrap_or_default();
    assert_eq!(
        json,
        serde_json::json!([{
            "kind": "column", "name": "vouchers.password", "change": "extra",
            "table": "vouchers", "actual": "text NOT NULL"
        }])
    );
}

#[test]
fn a_partitioned_index_is_written_for_its_partitions_too() {
    let index = |valid| Object {
        name: "events.idx_events_at".into(),
        table: Some("events".into()),
        shape: Shape::Index {
            definition: "CREATE INDEX idx_events_at ON ONLY public.events USING btree (at)".into(),
            valid,
        },
    };
    let live = Snapshot {
        objects: vec![index(true)],
    };
    let sql = write_migration(
        "public",
        &compare(&Snapshot::default(), &live),
        &Snapshot::default(),
        &live,
    )
    .unwrap_or_default();
    assert!(
        sql.contains("CREATE INDEX IF NOT EXISTS idx_events_at ON public.events USING btree (at);"),
        "{sql}"
    );
    let invalid = Snapshot {
        objects: vec![index(false)],
    };
    // Only a note for a person: no file.
    let differences = compare(&Snapshot::default(), &invalid);
    assert_eq!(
        differences[0]
            .actual
            .as_deref()
            .map(|a| a.ends_with("(INVALID)")),
        Some(true)
    );
    assert_eq!(
        write_migration("public", &differences, &Snapshot::default(), &invalid),
        None
    );
}
