//! The fleet as plain values: the schedule that decides which target starts next (a bound on connections
//! in all and per server, the canary, and what a failure stops), and the
//! grouping of targets by how far each has migrated.
//!
//! The runner asks the schedule for the next target whenever one ends; the
//! schedule never waits itself, so every rule of the fleet is tested here
//! with plain values.

use std::collections::{BTreeMap, HashMap};

/// What the fleet does around failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// At most this many targets run at once (at least 1).
    pub concurrency: usize,
    /// At most this many at once on any one server; `None`: no cap but `concurrency`.
    pub per_server: Option<usize>,
    /// The first this many targets run alone; if any of them fails, no
    /// other target is touched.
    pub canary: usize,
    /// Run every target whatever fails; otherwise a failure starts no new one.
    pub continue_on_error: bool,
}

/// How a target ended, or why it never started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    /// Not started: the canary or an earlier target failed.
    Skipped,
}

/// Which target starts next. Targets are started in their order, except
/// that a target whose server is at its cap lets the next one on another
/// server go first.
#[derive(Debug)]
pub struct Schedule {
    policy: Policy,
    /// The server of each target, as an index.
    servers: Vec<usize>,
    /// Per server, how many of its targets run now.
    running_on: Vec<usize>,
    outcomes: Vec<Option<Outcome>>,
    /// Targets not started yet, in order.
    queue: Vec<usize>,
    running: usize,
    stopped: bool,
}

impl Schedule {
    /// `servers` names each target's server (`host:port`); targets are
    /// indexed in the order given.
    pub fn new<S: AsRef<str>>(servers: &[S], policy: Policy) -> Self {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let servers: Vec<usize> = servers
            .iter()
            .map(|server| {
                let next = index.len();
                *index.entry(server.as_ref()).or_insert(next)
            })
            .collect();
        let policy = Policy {
            concurrency: policy.concurrency.max(1),
            per_server: policy.per_server.map(|cap| cap.max(1)),
            ..policy
        };
        Self {
            policy,
            running_on: vec![0; index.len()],
            outcomes: vec![None; servers.len()],
            queue: (0..servers.len()).collect(),
            servers,
            running: 0,
            stopped: false,
        }
    }

    /// The next target to start now, if one may; call again until `None`,
    /// then again after each `finished`.
    pub fn start_next(&mut self) -> Option<usize> {
        if self.stopped || self.running >= self.policy.concurrency {
            return None;
        }
        // While a canary has not ended, only canaries may start.
        let canaries = self.policy.canary.min(self.servers.len());
        let canary_open = (0..canaries).any(|target| self.outcomes[target].is_none());
        let position = self.queue.iter().position(|&target| {
            let room = self
                .policy
                .per_server
                .is_none_or(|cap| self.running_on[self.servers[target]] < cap);
            (!canary_open || target < canaries) && room
        })?;
        let target = self.queue.remove(position);
        self.running += 1;
        self.running_on[self.servers[target]] += 1;
        Some(target)
    }

    /// Records how `target` ended.
    pub fn finished(&mut self, target: usize, ok: bool) {
        self.running = self.running.saturating_sub(1);
        let server = self.servers[target];
        self.running_on[server] = self.running_on[server].saturating_sub(1);
        self.outcomes[target] = Some(if ok { Outcome::Ok } else { Outcome::Failed });
        let canary_failed = target < self.policy.canary && !ok;
        if canary_failed || (!ok && !self.policy.continue_on_error) {
            self.stopped = true;
        }
    }

    /// Nothing runs and nothing more will start.
    pub fn is_done(&self) -> bool {
        self.running == 0 && (self.stopped || self.queue.is_empty())
    }

    /// Each target's outcome: those never started are `Skipped`.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes
            .iter()
            .map(|outcome| outcome.unwrap_or(Outcome::Skipped))
            .collect()
    }
}

/// How far one target has migrated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The newest applied migration: version and name.
    pub newest: Option<(i64, String)>,
    /// How many files are not applied there yet.
    pub pending: usize,
}

/// Targets that stand at the same newest migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub newest: Option<(i64, String)>,
    pub pending: usize,
    /// Indexes of the targets, in their order.
    pub targets: Vec<usize>,
}

/// The targets grouped by their newest applied migration: the largest
/// group first, then the newest version first.
pub fn groups(standings: &[Option<Standing>]) -> Vec<Group> {
    let mut by_newest: BTreeMap<(Option<i64>, usize), Group> = BTreeMap::new();
    for (index, standing) in standings.iter().enumerate() {
        let Some(standing) = standing else { continue };
        let key = (standing.newest.as_ref().map(|(v, _)| *v), standing.pending);
        by_newest
            .entry(key)
            .or_insert_with(|| Group {
                newest: standing.newest.clone(),
                pending: standing.pending,
                targets: Vec::new(),
            })
            .targets
            .push(index);
    }
    let mut groups: Vec<Group> = by_newest.into_values().collect();
    groups.sort_by(|a, b| {
        b.targets.len().cmp(&a.targets.len()).then_with(|| {
            b.newest
                .as_ref()
                .map(|n| n.0)
                .cmp(&a.newest.as_ref().map(|n| n.0))
        })
    });
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(concurrency: usize) -> Policy {
        Policy {
            concurrency,
            per_server: None,
            canary: 0,
            continue_on_error: false,
        }
    }

    /// Starts whatever may start now.
    fn start_all(schedule: &mut Schedule) -> Vec<usize> {
        std::iter::from_fn(|| schedule.start_next()).collect()
    }

    #[test]
    fn never_more_than_the_concurrency_at_once() {
        let mut schedule = Schedule::new(&["a"; 5], policy(2));
        assert_eq!(start_all(&mut schedule), [0, 1]);
        schedule.finished(1, true);
        assert_eq!(start_all(&mut schedule), [2]);
        schedule.finished(0, true);
        schedule.finished(2, true);
        assert_eq!(start_all(&mut schedule), [3, 4]);
        schedule.finished(3, true);
        schedule.finished(4, true);
        assert!(schedule.is_done());
        assert_eq!(schedule.outcomes(), [Outcome::Ok; 5]);
    }

    #[test]
    fn a_full_server_lets_another_servers_target_go_first() {
        let servers = ["a", "a", "a", "b", "b"];
        let mut schedule = Schedule::new(
            &servers,
            Policy {
                per_server: Some(1),
                ..policy(4)
            },
        );
        assert_eq!(start_all(&mut schedule), [0, 3]);
        schedule.finished(3, true);
        assert_eq!(start_all(&mut schedule), [4]);
        schedule.finished(0, true);
        assert_eq!(start_all(&mut schedule), [1]);
    }

    #[test]
    fn the_canary_runs_alone_and_its_failure_touches_nothing_else() {
        let mut schedule = Schedule::new(
            &["a"; 6],
            Policy {
                canary: 2,
                continue_on_error: true,
                ..policy(4)
            },
        );
        assert_eq!(start_all(&mut schedule), [0, 1]);
        schedule.finished(0, true);
        assert_eq!(
            start_all(&mut schedule),
            [0usize; 0],
            "the rest wait for every canary"
        );
        schedule.finished(1, false);
        assert!(schedule.is_done());
        assert_eq!(
            schedule.outcomes(),
            [
                Outcome::Ok,
                Outcome::Failed,
                Outcome::Skipped,
                Outcome::Skipped,
                Outcome::Skipped,
                Outcome::Skipped
            ]
        );
    }

    #[test]
    fn after_a_good_canary_the_rest_run() {
        let mut schedule = Schedule::new(
            &["a"; 4],
            Policy {
                canary: 1,
                ..policy(4)
            },
        );
        assert_eq!(start_all(&mut schedule), [0]);
        schedule.finished(0, true);
        assert_eq!(start_all(&mut schedule), [1, 2, 3]);
    }

    #[test]
    fn a_failure_starts_no_new_target_but_lets_running_ones_end() {
        let mut schedule = Schedule::new(&["a"; 5], policy(2));
        assert_eq!(start_all(&mut schedule), [0, 1]);
        schedule.finished(0, false);
        assert_eq!(start_all(&mut schedule), [0usize; 0]);
        assert!(!schedule.is_done(), "target 1 still runs");
        schedule.finished(1, true);
        assert!(schedule.is_done());
        assert_eq!(
            schedule.outcomes(),
            [
                Outcome::Failed,
                Outcome::Ok,
                Outcome::Skipped,
                Outcome::Skipped,
                Outcome::Skipped
            ]
        );
    }

    #[test]
    fn continue_on_error_runs_every_target() {
        let mut schedule = Schedule::new(
            &["a"; 3],
            Policy {
                continue_on_error: true,
                ..policy(1)
            },
        );
        for target in 0..3 {
            assert_eq!(schedule.start_next(), Some(target));
            schedule.finished(target, target != 1);
        }
        assert!(schedule.is_done());
        assert_eq!(
            schedule.outcomes(),
            [Outcome::Ok, Outcome::Failed, Outcome::Ok]
        );
    }

    #[test]
    fn a_zero_concurrency_still_runs_one_at_a_time() {
        let mut schedule = Schedule::new(&["a"; 2], policy(0));
        assert_eq!(start_all(&mut schedule), [0]);
    }

    #[test]
    fn an_empty_fleet_is_done_at_once() {
        let schedule = Schedule::new::<&str>(&[], policy(4));
        assert!(schedule.is_done());
    }

    #[test]
    fn groups_by_newest_the_largest_first() {
        let at = |version: i64, pending: usize| {
            Some(Standing {
                newest: Some((version, format!("{version:03}_x"))),
                pending,
            })
        };
        let standings = vec![
            at(12, 0),
            at(11, 1),
            None,
            at(12, 0),
            Some(Standing {
                newest: None,
                pending: 12,
            }),
            at(12, 0),
        ];
        let found = groups(&standings);
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].targets, [0, 3, 5]);
        assert_eq!(found[0].newest, Some((12, "012_x".into())));
        assert_eq!(found[1].targets, [1], "newer of the two groups of one");
        assert_eq!(found[1].pending, 1);
        assert_eq!(found[2].newest, None);
        assert_eq!(found[2].pending, 12);
    }
}
