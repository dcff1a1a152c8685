//! What a caller asks for, resolved against the environment into the
//! settings every operation runs with: where the files are, which tracking
//! table, how long to wait for the lock, and whether this is production.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stratum_core::lint::{LintContext, RuleLevels};

use crate::error::{Error, Result};

/// The options of `migrate`, `status`, `fresh` and `reset`, all optional.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub database_url: Option<String>,
    pub dir: Option<String>,
    pub schema: Option<String>,
    pub table: Option<String>,
    pub lock_timeout_ms: Option<f64>,
    pub wait_ms: Option<f64>,
    pub table_lock_timeout_ms: Option<f64>,
    pub table_lock_retries: Option<f64>,
    pub lock_mode: Option<String>,
    pub force: bool,
    /// The folder relative paths are resolved against; default the process's.
    pub cwd: Option<String>,
    /// Rule levels by id, over those of package.json.
    pub rules: Vec<(String, String)>,
    /// Files numbered at or below this were written before the rules.
    pub baseline: Option<f64>,
    /// Create the configured database when it does not exist.
    pub create_database: bool,
    /// `lint`: the git commit to hold the files to.
    pub since: Option<String>,
}

/// How concurrent runs exclude each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// One session advisory lock held for the whole run: the default, for a
    /// direct connection.
    Session,
    /// A transaction advisory lock taken inside each migration's own
    /// transaction: works through PgBouncer's transaction pooling, which
    /// cannot keep a session lock across transactions.
    Transaction,
}

/// The schema and name of the tracking table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingTable {
    pub schema: String,
    pub table: String,
}

impl Default for TrackingTable {
    fn default() -> Self {
        Self {
            schema: "public".into(),
            table: "migrations".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Option<String>,
    pub dir: PathBuf,
    /// `dir` as the user knows it: relative to the working directory when inside it.
    pub display_dir: PathBuf,
    pub tracking: TrackingTable,
    pub lock_timeout: Duration,
    /// How long to keep retrying a server that is not up yet.
    pub wait: Duration,
    /// How long a migration's statement may wait for a table lock; zero: no limit.
    pub table_lock_timeout: Duration,
    /// How many times a migration that gave up on a table lock is sent again.
    pub table_lock_retries: u32,
    pub lock_mode: LockMode,
    pub force: bool,
    pub production: bool,
    /// The working directory the paths were resolved against.
    pub cwd: PathBuf,
    /// The lint level of each rule the project set.
    pub rules: RuleLevels,
    /// Files numbered at or below it report lint findings as warnings at most.
    pub baseline: Option<i64>,
    /// Create the configured database when it does not exist (never in production).
    pub create_database: bool,
}

pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_TABLE_LOCK_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_TABLE_LOCK_RETRIES: u32 = 3;

/// Reads one environment variable; a function so tests can pass their own.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }
}

impl Options {
    /// The working directory of this call.
    pub fn working_dir(&self) -> PathBuf {
        self.cwd
            .as_ref()
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

impl Settings {
    pub fn resolve(options: Options, env: &dyn Environment, cwd: &Path) -> Result<Self> {
        let package = package_section(cwd)?;
        let dir = match options.dir.or_else(|| env.var("MIGRATIONS_DIR")) {
            Some(dir) => cwd.join(dir),
            None => package
                .as_ref()
                .and_then(PackageSection::dir)
                .unwrap_or_else(|| cwd.join("migrations")),
        };
        let (rules, baseline) = lint_settings(package.as_ref(), options.rules, options.baseline)?;
        let tracking = TrackingTable {
            schema: non_empty(options.schema, "schema")?.unwrap_or_else(|| "public".into()),
            table: non_empty(options.table, "table")?.unwrap_or_else(|| "migrations".into()),
        };
        let display_dir = dir
            .strip_prefix(cwd)
            .map_or_else(|_| dir.clone(), Path::to_path_buf);
        Ok(Self {
            cwd: cwd.to_path_buf(),
            database_url: options.database_url.or_else(|| env.var("DATABASE_URL")),
            dir,
            display_dir,
            tracking,
            lock_timeout: millis(options.lock_timeout_ms, "lockTimeoutMs")?
                .unwrap_or(DEFAULT_LOCK_TIMEOUT),
            wait: millis(options.wait_ms, "waitMs")?.unwrap_or(Duration::ZERO),
            table_lock_timeout: millis(options.table_lock_timeout_ms, "tableLockTimeoutMs")?
                .unwrap_or(DEFAULT_TABLE_LOCK_TIMEOUT),
            table_lock_retries: retries(options.table_lock_retries)?,
            lock_mode: match options.lock_mode.as_deref() {
                None | Some("session") => LockMode::Session,
                Some("transaction") => LockMode::Transaction,
                Some(other) => {
                    return Err(Error::Config(format!(
                        "lockMode must be \"session\" or \"transaction\", not {other:?}"
                    )));
                }
            },
            force: options.force,
            production: env.var("NODE_ENV").as_deref() == Some("production"),
            rules,
            baseline,
            create_database: options.create_database,
        })
    }

    /// How the lint sees the file numbered `version`.
    pub fn lint_context(&self, version: i64) -> LintContext<'_> {
        LintContext {
            tracking_table: &self.tracking.table,
            tracking_schema: &self.tracking.schema,
            levels: &self.rules,
            baselined: self.baseline.is_some_and(|baseline| version <= baseline),
        }
    }

    /// How a migration file is named in messages: `migrations/001_x.sql`.
    pub fn display_path(&self, file_name: &str) -> String {
        self.display_dir.join(file_name).display().to_string()
    }

    /// Refuses a destructive command in production unless forced.
    pub fn guard_destructive(&self, command: &'static str) -> Result<()> {
        if self.production && !self.force {
            return Err(Error::Production { command });
        }
        Ok(())
    }
}

/// A whole, non-negative number of milliseconds, at most a day.
fn millis(value: Option<f64>, option: &str) -> Result<Option<Duration>> {
    const DAY_MS: f64 = 86_400_000.0;
    match value {
        None => Ok(None),
        Some(ms) if (0.0..=DAY_MS).contains(&ms) && ms.fract() == 0.0 => {
            Ok(Some(Duration::from_millis(ms as u64)))
        }
        Some(ms) => Err(Error::Config(format!(
            "{option} must be a whole number of milliseconds from 0 to {DAY_MS}, not {ms}"
        ))),
    }
}

fn retries(value: Option<f64>) -> Result<u32> {
    const MOST: f64 = 100.0;
    match value {
        None => Ok(DEFAULT_TABLE_LOCK_RETRIES),
        Some(count) if (0.0..=MOST).contains(&count) && count.fract() == 0.0 => Ok(count as u32),
        Some(count) => Err(Error::Config(format!(
            "tableLockRetries must be a whole number from 0 to {MOST}, not {count}"
        ))),
    }
}

fn non_empty(value: Option<String>, option: &str) -> Result<Option<String>> {
    match value {
        Some(value) if value.is_empty() || value.len() > 63 => Err(Error::Config(format!(
            "the {option} option must be 1 to 63 characters long"
        ))),
        other => Ok(other),
    }
}

/// The `"stratum"` section of the nearest package.json above `cwd`.
struct PackageSection {
    /// The package.json's folder and path.
    folder: PathBuf,
    manifest: PathBuf,
    section: serde_json::Value,
}

impl PackageSection {
    /// `"dir"`, resolved against the package.json's folder.
    fn dir(&self) -> Option<PathBuf> {
        self.section
            .get("dir")
            .and_then(serde_json::Value::as_str)
            .map(|dir| self.folder.join(dir))
    }

    fn config_error(&self, message: String) -> Error {
        Error::Config(format!(
            "{}: \"stratum\": {message}",
            self.manifest.display()
        ))
    }
}

fn package_section(cwd: &Path) -> Result<Option<PackageSection>> {
    for folder in cwd.ancestors() {
        let manifest = folder.join("package.json");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|error| {
            Error::Config(format!("{}: not valid JSON: {error}", manifest.display()))
        })?;
        return Ok(Some(PackageSection {
            folder: folder.to_path_buf(),
            manifest,
            section: json.get("stratum").cloned().unwrap_or_default(),
        }));
    }
    Ok(None)
}

/// The rule levels and the baseline: package.json's, then the options'
/// over them.
fn lint_settings(
    package: Option<&PackageSection>,
    rules: Vec<(String, String)>,
    baseline: Option<f64>,
) -> Result<(RuleLevels, Option<i64>)> {
    let mut levels = RuleLevels::default();
    let mut from_package = None;
    if let Some(package) = package {
        match package.section.get("rules") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(map)) => {
                for (rule, level) in map {
                    let level = level.as_str().ok_or_else(|| {
                        package.config_error(format!(
                            "the level of `{rule}` must be \"off\", \"warning\" or \"error\""
                        ))
                    })?;
                    levels
                        .set(rule, level)
                        .map_err(|message| package.config_error(message))?;
                }
            }
            Some(_) => {
                return Err(package
                    .config_error("\"rules\" must be an object of rule ids and levels".into()));
            }
        }
        from_package = match package.section.get("baseline") {
            None | Some(serde_json::Value::Null) => None,
            Some(value) => Some(
                value
                    .as_f64()
                    .and_then(|number| whole_version(number).ok())
                    .ok_or_else(|| {
                        package.config_error(format!(
                            "\"baseline\" must be a migration number (a whole number, 0 or \
                             more), not {value}"
                        ))
                    })?,
            ),
        };
    }
    for (rule, level) in rules {
        levels
            .set(&rule, &level)
            .map_err(|message| Error::Config(format!("rules: {message}")))?;
    }
    let baseline = match baseline {
        Some(number) => Some(whole_version(number)?),
        None => from_package,
    };
    Ok((levels, baseline))
}

fn whole_version(number: f64) -> Result<i64> {
    if number >= 0.0 && number.fract() == 0.0 && number <= 9_007_199_254_740_991.0 {
        Ok(number as i64)
    } else {
        Err(Error::Config(format!(
            "baseline must be a migration number (a whole number, 0 or more), not {number}"
        )))
    }
}

/// An environment of fixed variables, for tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::HashMap;

    use super::Environment;

    pub struct FixedEnvironment(HashMap<&'static str, &'static str>);

    impl Environment for FixedEnvironment {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|value| (*value).to_owned())
        }
    }

    pub fn env(pairs: &[(&'static str, &'static str)]) -> FixedEnvironment {
        FixedEnvironment(pairs.iter().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::testing::env;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("stratum-options-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_option_beats_the_environment() {
        let cwd = scratch("option");
        let settings = Settings::resolve(
            Options {
                dir: Some("db".into()),
                database_url: Some("postgres://a@b/c".into()),
                ..Options::default()
            },
            &env(&[
                ("MIGRATIONS_DIR", "other"),
                ("DATABASE_URL", "postgres://x@y/z"),
            ]),
            &cwd,
        )
        .unwrap();
        assert_eq!(settings.dir, cwd.join("db"));
        assert_eq!(settings.database_url.as_deref(), Some("postgres://a@b/c"));
    }

    #[test]
    fn package_json_gives_the_dir_relative_to_itself() {
        let root = scratch("package");
        std::fs::write(
            root.join("package.json"),
            r#"{"stratum":{"dir":"db/migrations"}}"#,
        )
        .unwrap();
        let nested = root.join("src");
        std::fs::create_dir_all(&nested).unwrap();
        let settings = Settings::resolve(Options::default(), &env(&[]), &nested).unwrap();
        assert_eq!(settings.dir, root.join("db/migrations"));
        assert_eq!(settings.tracking, TrackingTable::default());
        assert_eq!(settings.lock_timeout, DEFAULT_LOCK_TIMEOUT);
    }

    #[test]
    fn production_refuses_destruction_unless_forced() {
        let cwd = scratch("production");
        let production = env(&[("NODE_ENV", "production")]);
        let settings = Settings::resolve(Options::default(), &production, &cwd).unwrap();
        assert_eq!(
            settings.guard_destructive("fresh"),
            Err(Error::Production { command: "fresh" })
        );
        let forced = Options {
            force: true,
            ..Options::default()
        };
        let settings = Settings::resolve(forced, &production, &cwd).unwrap();
        assert!(settings.guard_destructive("fresh").is_ok());
    }

    #[test]
    fn package_json_sets_rule_levels_and_a_baseline_the_options_override() {
        let root = scratch("rules");
        std::fs::write(
            root.join("package.json"),
            r#"{"stratum":{"baseline":6,"rules":{"insert-on-conflict":"off","drop-if-exists":"error"}}}"#,
        )
        .unwrap();
        let settings = Settings::resolve(Options::default(), &env(&[]), &root).unwrap();
        assert_eq!(settings.baseline, Some(6));
        assert!(settings.lint_context(6).baselined);
        assert!(!settings.lint_context(7).baselined);
        let levels = &settings.rules;
        assert_eq!(
            levels.level("insert-on-conflict"),
            Some(stratum_core::lint::Level::Off)
        );
        let options = Options {
            rules: vec![("insert-on-conflict".into(), "warning".into())],
            baseline: Some(2.0),
            ..Options::default()
        };
        let settings = Settings::resolve(options, &env(&[]), &root).unwrap();
        assert_eq!(settings.baseline, Some(2));
        assert_eq!(
            settings.rules.level("insert-on-conflict"),
            Some(stratum_core::lint::Level::Warning)
        );
        assert_eq!(
            settings.rules.level("drop-if-exists"),
            Some(stratum_core::lint::Level::Error)
        );
    }

    #[test]
    fn an_unknown_rule_or_a_bad_baseline_is_a_config_error_naming_the_valid_ones() {
        let root = scratch("bad-rules");
        std::fs::write(
            root.join("package.json"),
            r#"{"stratum":{"rules":{"no-such-rule":"off"}}}"#,
        )
        .unwrap();
        let error = Settings::resolve(Options::default(), &env(&[]), &root).unwrap_err();
        assert_eq!(error.code(), "E_CONFIG");
        let message = error.to_string();
        assert!(message.contains("no-such-rule"), "{message}");
        assert!(message.contains("insert-on-conflict"), "{message}");
        std::fs::write(root.join("package.json"), r#"{"stratum":{"baseline":"6"}}"#).unwrap();
        let error = Settings::resolve(Options::default(), &env(&[]), &root).unwrap_err();
        assert!(error.to_string().contains("baseline"), "{error}");
        let options = Options {
            baseline: Some(-1.0),
            ..Options::default()
        };
        std::fs::write(root.join("package.json"), "{}").unwrap();
        let error = Settings::resolve(options, &env(&[]), &root).unwrap_err();
        assert_eq!(error.code(), "E_CONFIG");
    }

    #[test]
    fn an_empty_table_name_is_a_config_error() {
        let cwd = scratch("table");
        let options = Options {
            table: Some(String::new()),
            ..Options::default()
        };
        let error = Settings::resolve(options, &env(&[]), &cwd).unwrap_err();
        assert_eq!(error.code(), "E_CONFIG");
    }
}
