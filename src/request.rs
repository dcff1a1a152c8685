//! The options of one call as Rust values, read from the JS object once:
//! those of every command, and the fleet's, which `migrate`, `status` and
//! `plan` act on and the commands on one database refuse. A value of the
//! wrong type becomes an `E_CONFIG` rejection rather than a synchronous throw.

use napi::ValueType;
use napi::bindgen_prelude::Unknown;

use crate::error::{Error, Result};
use crate::fleet_api::{self, FleetOptions, Requested};
use crate::js_transport::JsExecutor;
use crate::{Options, ProgressCallback, options};

/// The options of one call.
pub struct Request {
    pub options: options::Options,
    pub on_progress: Option<ProgressCallback>,
    pub on_retry: Option<ProgressCallback>,
    /// The app's own connection, when it gave one.
    pub js: Option<JsExecutor>,
    /// The fleet's options as given; [`Request::fleet`] and
    /// [`Request::single`] check what they ask for.
    fleet: FleetOptions,
}

impl Request {
    /// Reads `value`, the options argument of the current call.
    pub fn read(value: &Unknown<'_>) -> Result<Self> {
        let invalid = |reason: String| Error::Config(format!("invalid options: {reason}"));
        match value.get_type() {
            Ok(ValueType::Undefined | ValueType::Null) => {
                return Ok(Self {
                    options: options::Options::default(),
                    on_progress: None,
                    on_retry: None,
                    js: None,
                    fleet: FleetOptions::default(),
                });
            }
            Ok(ValueType::Object) => {}
            Ok(other) => return Err(invalid(format!("expected an object, got {other}"))),
            Err(error) => return Err(invalid(error.reason)),
        }
        // SAFETY (both casts): `value` is a live argument of the current
        // call, read on the JS thread that passed it. Each reads its own
        // properties: no property is read twice.
        let options: Options = unsafe { value.cast() }.map_err(|error| invalid(error.reason))?;
        let fleet: FleetOptions = unsafe { value.cast() }.map_err(|error| invalid(error.reason))?;
        Ok(Self {
            options: options::Options {
                database_url: options.database_url,
                dir: options.dir,
                schema: options.schema,
                table: options.table,
                lock_timeout_ms: options.lock_timeout_ms,
                wait_ms: options.wait_ms,
                table_lock_timeout_ms: options.table_lock_timeout_ms,
                table_lock_retries: options.table_lock_retries,
                lock_mode: options.lock_mode,
                force: options.force.unwrap_or(false),
                cwd: options.cwd,
                rules: {
                    // Sorted, so an error names the same id every time.
                    let mut rules: Vec<(String, String)> =
                        options.rules.unwrap_or_default().into_iter().collect();
                    rules.sort();
                    rules
                },
                baseline: options.baseline,
                create_database: options.create_database.unwrap_or(false),
                since: options.since,
            },
            on_progress: options.on_progress,
            on_retry: options.on_retry,
            js: options.query.map(JsExecutor::new),
            fleet,
        })
    }

    /// The fleet the call asks for, or `None` for a call on one database;
    /// refused alongside the app's own connection, which reaches one
    /// database only.
    pub fn fleet(&mut self) -> Result<Option<Requested>> {
        let fleet = fleet_api::requested(std::mem::take(&mut self.fleet))?;
        if fleet.is_some() && self.js.is_some() {
            return Err(Error::Config(
                "targets, targetsQuery and schemasQuery open connections of their own: leave \
                 out `client`"
                    .into(),
            ));
        }
        Ok(fleet)
    }

    /// Refuses targets given to `command`, which runs on one database only,
    /// so that `fresh` with `targets` never empties the default database
    /// instead.
    pub fn single(&mut self, command: &str) -> Result<()> {
        match fleet_api::requested(std::mem::take(&mut self.fleet))? {
            None => Ok(()),
            Some(_) => Err(Error::Config(format!(
                "{command} runs on one database: it takes no targets, targetsQuery or \
                 schemasQuery"
            ))),
        }
    }
}
