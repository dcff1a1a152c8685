//! How a project tunes the lint: a level for any rule id (`off`, `warning`,
//! `error`), set in package.json or the options, without touching a file.
//! Files that are already applied somewhere cannot be edited, so this is how
//! an existing project quiets a rule it has decided to live with.

use super::{RULES, Severity};

/// What a project makes of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Off,
    Warning,
    Error,
}

impl Level {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "off" => Some(Self::Off),
            "warning" => Some(Self::Warning),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    /// The severity of a finding at this level; `None` when it is off.
    pub fn severity(self) -> Option<Severity> {
        match self {
            Self::Off => None,
            Self::Warning => Some(Severity::Warning),
            Self::Error => Some(Severity::Error),
        }
    }
}

/// The levels a project set, by rule id; rules it did not name keep their
/// own severity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleLevels(Vec<(&'static str, Level)>);

/// No levels set: every rule at its own severity.
pub static DEFAULT_LEVELS: RuleLevels = RuleLevels(Vec::new());

impl RuleLevels {
    /// Sets one rule's level; an unknown id or level is refused with a
    /// message that lists what is valid.
    pub fn set(&mut self, rule: &str, level: &str) -> Result<(), String> {
        let Some((id, _)) = RULES.iter().find(|(id, _)| *id == rule) else {
            return Err(format!(
                "`{rule}` is not a stratum rule; the rules are: {}",
                rule_ids().join(", ")
            ));
        };
        let Some(level) = Level::parse(level) else {
            return Err(format!(
                "the level of `{rule}` must be \"off\", \"warning\" or \"error\", not {level:?}"
            ));
        };
        match self.0.iter_mut().find(|(set, _)| set == id) {
            Some(entry) => entry.1 = level,
            None => self.0.push((id, level)),
        }
        Ok(())
    }

    /// The level set for `rule`, if any.
    pub fn level(&self, rule: &str) -> Option<Level> {
        self.0
            .iter()
            .find(|(id, _)| *id == rule)
            .map(|(_, level)| *level)
    }

    /// The severity of a finding of `rule`: its set level, else its own;
    /// `None` when the rule is off.
    pub fn severity(&self, rule: &str) -> Option<Severity> {
        match self.level(rule) {
            Some(level) => level.severity(),
            None => Some(super::severity_of(rule).unwrap_or(Severity::Error)),
        }
    }
}

/// Every rule id, in the order of [`RULES`].
pub fn rule_ids() -> Vec<&'static str> {
    RULES.iter().map(|(id, _)| *id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::{LintContext, lint};

    const LEGACY: &str = "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\nDROP TABLE u;";

    fn found(levels: &RuleLevels, baselined: bool) -> Vec<(&'static str, Severity, bool)> {
        let ctx = LintContext {
            levels,
            baselined,
            ..LintContext::default()
        };
        lint("001_x.sql", LEGACY, &ctx)
            .into_iter()
            .map(|d| (d.rule, d.severity, d.baselined))
            .collect()
    }

    #[test]
    fn a_level_turns_a_rule_off_down_or_up() {
        let mut levels = RuleLevels::default();
        levels.set("create-if-not-exists", "warning").unwrap();
        levels.set("insert-on-conflict", "off").unwrap();
        levels.set("drop-if-exists", "error").unwrap();
        assert_eq!(
            found(&levels, false),
            [
                ("create-if-not-exists", Severity::Warning, false),
                ("drop-if-exists", Severity::Error, false),
            ]
        );
        // The last setting wins.
        levels.set("insert-on-conflict", "error").unwrap();
        assert_eq!(levels.level("insert-on-conflict"), Some(Level::Error));
    }

    #[test]
    fn unknown_ids_and_levels_say_what_is_valid() {
        let mut levels = RuleLevels::default();
        let error = levels.set("insert-on-conflicts", "off").unwrap_err();
        assert!(error.contains("insert-on-conflicts"), "{error}");
        assert!(error.contains("create-if-not-exists, "), "{error}");
        let error = levels.set("drop-if-exists", "warn").unwrap_err();
        assert!(error.contains("\"warning\""), "{error}");
        assert_eq!(levels, RuleLevels::default());
    }

    #[test]
    fn every_rule_id_is_accepted() {
        let mut levels = RuleLevels::default();
        for id in rule_ids() {
            levels.set(id, "off").unwrap();
        }
        assert!(found(&levels, false).is_empty());
    }

    #[test]
    fn a_baselined_file_reports_warnings_at_most() {
        let mut levels = RuleLevels::default();
        levels.set("insert-on-conflict", "off").unwrap();
        assert_eq!(
            found(&levels, true),
            [
                ("create-if-not-exists", Severity::Warning, true),
                ("drop-if-exists", Severity::Warning, true),
            ]
        );
        assert_eq!(found(&DEFAULT_LEVELS, false)[0].1, Severity::Error);
    }
}
