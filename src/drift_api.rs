//! `drift` as the API shows it: the differences as plain objects, and the
//! migration written when asked.

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{Env, ValueType};
use napi_derive::napi;
use serde::Serialize;

use crate::commands::{self, NewMigration};
use crate::error::Error;
use crate::{Parsed, run};

/// The options of `drift`, besides those of every command.
#[napi(object, object_to_js = false)]
pub struct DriftOptions {
    /// A server to build the expected schema on (any database of it; the
    /// role must be allowed to create databases). Default: the target's own
    /// server when its role may create databases, else the embedded
    /// PostgreSQL. Its major version must be the target's.
    pub scratch_url: Option<String>,
    /// Write the next migration (numbered as `newMigration` does) with the
    /// DDL that captures the differences, under this name.
    pub write: Option<String>,
}

/// An object that differs between the database and its applied migrations.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftDifference {
    #[napi(
        ts_type = "'table' | 'column' | 'index' | 'constraint' | 'view' | 'function' | 'trigger' | 'sequence' | 'type' | 'extension' | 'policy' | 'comment'"
    )]
    pub kind: String,
    /// Qualified by its table where it lives on one, e.g. `vouchers.password`.
    pub name: String,
    /// `extra`: in the database only; `missing`: in the migrations only;
    /// `changed`: defined otherwise in the database.
    #[napi(ts_type = "'extra' | 'missing' | 'changed'")]
    pub change: String,
    /// The table or view it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Its definition as the applied migrations build it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Its definition in the database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

/// How the database differs from what its applied migrations build.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftResult {
    /// No difference at all.
    pub in_sync: bool,
    /// Grouped by table, then by kind and name.
    pub differences: Vec<DriftDifference>,
    /// The template database the expected schema was read from, kept per
    /// set of applied files (`stratum_drift_<hash>`).
    pub template: String,
    /// Whether this call built that template (replayed the files).
    pub built_template: bool,
    /// The migration written with `write`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<DriftWritten>,
}

/// The migration `drift` wrote.
#[napi(object)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftWritten {
    pub path: String,
    pub version: i64,
    pub name: String,
}

/// How the live schema differs from what its applied migrations build
/// (replayed on a scratch server); with `write`, the next migration that
/// captures the hand-made changes. Refuses changed or missing files as
/// `migrate` does.
#[napi(
    ts_args_type = "options?: Options & DriftOptions",
    ts_return_type = "Promise<DriftResult>"
)]
pub fn drift<'env>(
    env: &'env Env,
    options: Unknown<'env>,
) -> napi::Result<PromiseRaw<'env, Parsed<DriftResult>>> {
    // A wrongly typed field rejects the call, as it does for every option;
    // ignored, `write: 1` would silently write nothing.
    let extra = match options.get_type() {
        // SAFETY: `options` is a live argument of the current call, read on
        // the JS thread that passed it.
        Ok(ValueType::Object) => unsafe { options.cast::<DriftOptions>() }
            .map_err(|error| Error::Config(format!("invalid options: {}", error.reason))),
        _ => Ok(DriftOptions {
            scratch_url: None,
            write: None,
        }),
    };
    run(env, &options, |request| async move {
        let DriftOptions { scratch_url, write } = extra?;
        let report = commands::drift(request.options, request.js, scratch_url, write).await?;
        let written = report.written.map(
            |NewMigration {
                 path,
                 version,
                 name,
             }| DriftWritten {
                path,
                version,
                name,
            },
        );
        Ok(Parsed(DriftResult {
            in_sync: report.differences.is_empty(),
            differences: report
                .differences
                .into_iter()
                .map(|d| DriftDifference {
                    kind: d.kind.as_str().to_owned(),
                    name: d.name,
                    change: match d.change {
                        stratum_core::drift::Change::Extra => "extra",
                        stratum_core::drift::Change::Missing => "missing",
                        stratum_core::drift::Change::Changed => "changed",
                    }
                    .to_owned(),
                    table: d.table,
                    expected: d.expected,
                    actual: d.actual,
                })
                .collect(),
            template: report.template,
            built_template: report.built_template,
            written,
        }))
    })
}
