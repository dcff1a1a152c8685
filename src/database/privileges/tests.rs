//! What each intent lacks, from plain catalog facts, and the hints of permission errors.

use super::*;

fn table() -> TrackingTable {
    TrackingTable {
        schema: "app".into(),
        table: "migrations".into(),
    }
}

/// A role that may do everything to an existing table it does not own.
fn granted() -> Facts {
    Facts {
        role: "app_deploy".into(),
        database: "shop".into(),
        schema_exists: true,
        table_exists: true,
        schema_usage: true,
        schema_create: true,
        table_select: true,
        table_insert: true,
        table_update: true,
        sequence: Some("app.migrations_id_seq".into()),
        sequence_usage: true,
        ..Facts::default()
    }
}

const MIGRATE: Intent = Intent::Migrate {
    upgrade: false,
    update: false,
};

fn said(facts: &Facts, intent: Intent) -> Vec<String> {
    facts
        .lacking(&table(), intent)
        .into_iter()
        .map(|lack| format!("{}: {}", lack.missing, lack.fix))
        .collect()
}

#[test]
fn a_role_with_its_grants_lacks_nothing_it_does() {
    let facts = granted();
    for intent in [Intent::Read, MIGRATE] {
        assert!(said(&facts, intent).is_empty(), "{intent:?}");
    }
    let owner = Facts {
        owns_table: true,
        ..granted()
    };
    for intent in [
        Intent::Fresh,
        Intent::Reset,
        Intent::Migrate {
            upgrade: true,
            update: true,
        },
    ] {
        assert!(said(&owner, intent).is_empty(), "{intent:?}");
    }
}

#[test]
fn a_missing_insert_asks_for_every_privilege_stratum_uses_on_its_rows() {
    let facts = Facts {
        table_insert: false,
        table_update: false,
        ..granted()
    };
    assert_eq!(
        said(&facts, MIGRATE),
        ["INSERT on table app.migrations: \
          GRANT SELECT, INSERT, UPDATE ON app.migrations TO app_deploy"]
    );
    assert_eq!(
        said(
            &facts,
            Intent::Migrate {
                upgrade: false,
                update: true
            }
        ),
        ["INSERT, UPDATE on table app.migrations: \
          GRANT SELECT, INSERT, UPDATE ON app.migrations TO app_deploy"]
    );
    // Reading needs none of it.
    assert!(said(&facts, Intent::Read).is_empty());
}

#[test]
fn a_serial_id_needs_its_sequence() {
    let facts = Facts {
        sequence_usage: false,
        ..granted()
    };
    assert_eq!(
        said(&facts, MIGRATE),
        ["USAGE on sequence app.migrations_id_seq: \
          GRANT USAGE ON SEQUENCE app.migrations_id_seq TO app_deploy"]
    );
}

#[test]
fn a_missing_table_needs_create_on_the_schema_and_nothing_on_the_database() {
    let facts = Facts {
        table_exists: false,
        schema_create: false,
        sequence: None,
        ..granted()
    };
    assert_eq!(
        said(&facts, MIGRATE),
        ["CREATE on schema app: GRANT CREATE ON SCHEMA app TO app_deploy"]
    );
    assert!(said(&facts, Intent::Read).is_empty());
    assert!(said(&facts, Intent::Reset).is_empty());
}

#[test]
fn a_missing_schema_needs_create_on_the_database_only_to_be_created() {
    let facts = Facts {
        role: "app_deploy".into(),
        database: "shop".into(),
        ..Facts::default()
    };
    let expected = ["CREATE on database shop, which creating schema app needs: \
                     CREATE SCHEMA app AUTHORIZATION app_deploy \
                     (or GRANT CREATE ON DATABASE shop TO app_deploy)"];
    assert_eq!(said(&facts, MIGRATE), expected);
    assert_eq!(said(&facts, Intent::Fresh), expected);
    assert!(said(&facts, Intent::Read).is_empty());
    assert!(said(&facts, Intent::Reset).is_empty());
    let may = Facts {
        database_create: true,
        ..facts
    };
    assert!(said(&may, MIGRATE).is_empty());
}

#[test]
fn without_usage_on_the_schema_nothing_in_it_can_be_named() {
    let facts = Facts {
        schema_usage: false,
        table_select: false,
        ..granted()
    };
    assert_eq!(
        said(&facts, Intent::Read),
        [
            "USAGE on schema app: GRANT USAGE ON SCHEMA app TO app_deploy",
            "SELECT on table app.migrations: GRANT SELECT ON app.migrations TO app_deploy",
        ]
    );
}

#[test]
fn what_is_dropped_or_altered_must_be_owned() {
    let facts = granted();
    let alter = "ALTER TABLE app.migrations OWNER TO app_deploy";
    assert_eq!(
        said(&facts, Intent::Reset),
        [format!(
            "ownership of table app.migrations, which is dropped: {alter}"
        )]
    );
    assert_eq!(said(&facts, Intent::Fresh), said(&facts, Intent::Reset));
    assert_eq!(
        said(
            &facts,
            Intent::Migrate {
                upgrade: true,
                update: true
            }
        ),
        [format!(
            "ownership of table app.migrations, which gains stratum's columns: {alter}"
        )]
    );
}

#[test]
fn quoted_names_stay_quoted_in_the_fix() {
    let facts = Facts {
        role: "Deploy".into(),
        table_insert: false,
        ..granted()
    };
    let table = TrackingTable {
        schema: "My App".into(),
        table: "migrations".into(),
    };
    let lacking = facts.lacking(&table, MIGRATE);
    assert_eq!(
        lacking[0].fix,
        "GRANT SELECT, INSERT, UPDATE ON \"My App\".migrations TO \"Deploy\""
    );
}

#[test]
fn only_a_permission_error_of_a_known_role_gets_a_hint() {
    let message = "permission denied for table t";
    assert_eq!(
        hint(Some("42501"), message, Some("DELETE FROM t"), Some("r")).as_deref(),
        Some("role r lacks DELETE on table t: GRANT DELETE ON t TO r")
    );
    assert_eq!(hint(Some("42P01"), message, None, Some("r")), None);
    assert_eq!(hint(Some("42501"), message, None, None), None);
}

#[test]
fn the_row_reads_nulls_as_not_held() {
    let row: Row = vec![
        Some("r".into()),
        Some("db".into()),
        Some("t".into()),
        Some("f".into()),
        None,
        Some("t".into()),
        Some("f".into()),
        None,
        None,
        None,
        None,
        None,
        None,
    ];
    assert_eq!(
        Facts::from_row(&row),
        Facts {
            role: "r".into(),
            database: "db".into(),
            schema_exists: true,
            schema_usage: true,
            ..Facts::default()
        }
    );
}
