//! Every counter reading the engine stores (energy counters, CPU-time counters: readings
//! whose kind has [`Semantics::Counter`]) passes its series' [`CounterTracker`], so a counter
//! that went backwards is never silent: resets and wraps are counted per ingest call
//! ([`crate::IngestReport::counter_resets`]) and in total ([`Engine::counter_stats`]), and the
//! latest resets are kept with their place ([`Engine::counter_resets`]).
//!
//! The store's integration already reads a decrease as a restart (the increase since it is
//! the new value, Prometheus' convention); the tracker is what makes it visible. A reading
//! older than its series' newest one (a late arrival, normal in a live stream) is not a clock
//! step of the counter: it is counted as out of order and leaves the baseline alone.

use std::collections::{HashMap, VecDeque};

use kelvin_ingest::counter::{CounterEvent, CounterStats, CounterTracker};
use kelvin_model::{EntityId, Reading, Semantics, SensorName, Timestamp};
use kelvin_store::SeriesKey;

use crate::Engine;

/// Resets kept by [`Engine::counter_resets`] (the newest).
const RESETS_KEPT: usize = 256;

/// A counter that went backwards with no wrap to explain it (a reboot, a recreated cgroup, a
/// reloaded driver): what was consumed between `from` and the restart is unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterReset {
    /// The reading's entity.
    pub entity: EntityId,
    /// The counter's sensor name.
    pub sensor: SensorName,
    /// The sample before the reset.
    pub from: Timestamp,
    /// The first sample after it.
    pub at: Timestamp,
    /// The value before.
    pub before: f64,
    /// The value after (the new baseline).
    pub after: f64,
}

/// The engine's counter trackers, one per counter series, and what they saw.
#[derive(Debug, Default)]
pub(crate) struct CounterWatch {
    trackers: HashMap<SeriesKey, CounterTracker>,
    stats: CounterStats,
    out_of_order: u64,
    resets: VecDeque<CounterReset>,
    /// Trackers held after the last pruning (the next prunes at twice as many).
    pruned_at: usize,
    newest: i64,
}

/// Counter trackers idle this long (by the newest reading's time) are forgotten: a series
/// that comes back starts from a new baseline, as after a restart.
const IDLE_NS: i64 = 3_600 * Timestamp::NANOS_PER_SEC;

impl CounterWatch {
    /// The anomalies counted and the readings out of order, for the acknowledgement.
    pub(crate) fn totals(&self) -> (CounterStats, u64) {
        (self.stats, self.out_of_order)
    }

    /// Continues from a restarted engine's totals.
    pub(crate) fn carry(&mut self, (stats, out_of_order): (CounterStats, u64)) {
        self.stats = stats;
        self.out_of_order = out_of_order;
    }

    /// Passes a batch's counter readings through their trackers; returns what this batch saw.
    ///
    /// A series without a tracker (new, idle for an hour, or the engine restarted) starts
    /// from `stored(key, ts)`: its last stored sample before `ts`, so that a reset across a
    /// restart is still seen.
    pub(crate) fn observe(
        &mut self,
        readings: &[Reading],
        stored: impl Fn(&SeriesKey, i64) -> Option<(i64, f64)>,
    ) -> CounterStats {
        let before = self.stats;
        for r in readings {
            if r.kind.semantics() != Semantics::Counter || !r.is_usable() || !r.ts.is_known() {
                continue;
            }
            self.newest = self.newest.max(r.ts.as_nanos());
            let key = SeriesKey::of(r);
            let t = self.trackers.entry(key).or_insert_with_key(|k| {
                let mut t = CounterTracker::new(None);
                if let Some((ts, v)) = stored(k, r.ts.as_nanos()) {
                    t.push(Timestamp::from_nanos(ts), v);
                }
                t
            });
            if t.last().is_some_and(|(last, _)| r.ts <= last) {
                self.out_of_order += 1;
                continue;
            }
            match t.push(r.ts, r.value) {
                CounterEvent::Reset {
                    from,
                    to,
                    before,
                    after,
                } => {
                    self.stats.resets += 1;
                    if self.resets.len() == RESETS_KEPT {
                        self.resets.pop_front();
                    }
                    self.resets.push_back(CounterReset {
                        entity: r.entity.clone(),
                        sensor: r.sensor.clone(),
                        from,
                        at: to,
                        before,
                        after,
                    });
                }
                CounterEvent::Wrap { .. } => self.stats.wraps += 1,
                CounterEvent::ClockStep { .. } => self.stats.clock_steps += 1,
                CounterEvent::Invalid { .. } => self.stats.invalid += 1,
                CounterEvent::First { .. } | CounterEvent::Delta { .. } => {}
            }
        }
        self.prune();
        let mut seen = CounterStats::default();
        seen.wraps = self.stats.wraps - before.wraps;
        seen.resets = self.stats.resets - before.resets;
        seen.clock_steps = self.stats.clock_steps - before.clock_steps;
        seen.invalid = self.stats.invalid - before.invalid;
        seen
    }

    /// Forgets trackers idle for an hour once the map has doubled since the last pruning.
    fn prune(&mut self) {
        if self.trackers.len() < (2 * self.pruned_at).max(1024) {
            return;
        }
        let cut = self.newest.saturating_sub(IDLE_NS);
        self.trackers
            .retain(|_, t| t.last().is_some_and(|(last, _)| last.as_nanos() >= cut));
        self.pruned_at = self.trackers.len();
    }
}

impl Engine {
    /// Counter anomalies seen so far by the trackers every counter reading passes (see the
    /// [`CounterReset`] type): resets, wraps.
    pub fn counter_stats(&self) -> CounterStats {
        self.counters.stats
    }

    /// Counter readings that arrived older than their series' newest (normal for late
    /// readings; they do not move the tracker's baseline).
    pub fn counter_out_of_order(&self) -> u64 {
        self.counters.out_of_order
    }

    /// The newest counter resets (at most 256), oldest first, each with its series and the
    /// values on both sides.
    pub fn counter_resets(&self) -> impl Iterator<Item = &CounterReset> {
        self.counters.resets.iter()
    }
}
