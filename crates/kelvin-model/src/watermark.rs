//! Event-time progress of many sources: [`Watermarks`].
//!
//! Readings arrive from many sources (an exporter scrape, a BMC poll, a PDU walk), each
//! roughly in time order but late relative to each other. A source's *watermark* is the newest
//! event time it has delivered minus the lateness it is allowed; the engine's watermark is the
//! lowest watermark of the sources still alive, so an interval that ends before it can be
//! closed: every source has passed it by more than the lateness window. A source that has not
//! been polled for `idle` (by the collector's clock, behind the newest poll) stops holding the
//! watermark back, so one dead BMC cannot stall the bills of a fleet; idleness is judged on
//! poll times, not event times, so a capture that carries an hour of samples at once does not
//! make every other source look idle.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Per-source event-time progress and the watermark it implies.
///
/// Each observation carries the source's newest event time and the time it was polled (the
/// collector's clock). A source whose last poll is more than `idle` behind the newest poll of
/// any source is idle: it no longer holds the watermark back, and after four times that it is
/// forgotten, so the map stays as small as the set of live sources.
///
/// ```
/// use kelvin_model::Watermarks;
///
/// let s = 1_000_000_000_i64;
/// let mut w = Watermarks::new(30 * s, 600 * s);
/// w.observe("scrape", 1_000 * s, 1_000 * s);
/// w.observe("bmc-1", 990 * s, 1_000 * s);
/// assert_eq!(w.watermark(), Some(960 * s));      // the slower source, minus 30 s lateness
/// w.observe("scrape", 2_000 * s, 2_000 * s);      // bmc-1 not polled for 1,000 s > 600 s: idle
/// assert_eq!(w.watermark(), Some(1_970 * s));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Watermarks {
    lateness_ns: i64,
    idle_ns: i64,
    /// Source → (newest event time, last poll time).
    sources: BTreeMap<String, (i64, i64)>,
    /// The newest poll of any source, and a bound no source's last poll is below: what
    /// [`Watermarks::observe`] keeps so that it costs a lookup, not a scan of every source
    /// (an agent observes a thousand sources every few seconds). `None` until computed.
    #[serde(skip)]
    polls: Option<(i64, i64)>,
}

impl PartialEq for Watermarks {
    fn eq(&self, other: &Self) -> bool {
        (self.lateness_ns, self.idle_ns, &self.sources)
            == (other.lateness_ns, other.idle_ns, &other.sources)
    }
}

impl Eq for Watermarks {}

impl Watermarks {
    /// No sources yet; `lateness_ns` is how late a reading may arrive behind its source's
    /// newest, `idle_ns` how long an unpolled source holds the watermark back (both clamped
    /// to ≥ 0).
    pub fn new(lateness_ns: i64, idle_ns: i64) -> Self {
        Watermarks {
            lateness_ns: lateness_ns.max(0),
            idle_ns: idle_ns.max(0),
            sources: BTreeMap::new(),
            polls: None,
        }
    }

    /// Records that `source`, polled at `poll_ns`, delivered readings up to `event_ns` (both
    /// only move forward), and forgets sources not polled for four idle periods.
    pub fn observe(&mut self, source: &str, event_ns: i64, poll_ns: i64) {
        let (newest, oldest) = self.polls.unwrap_or_else(|| self.scan_polls(poll_ns));
        match self.sources.get_mut(source) {
            Some((t, p)) => {
                *t = (*t).max(event_ns);
                *p = (*p).max(poll_ns);
            }
            None => {
                self.sources.insert(source.to_owned(), (event_ns, poll_ns));
            }
        }
        let newest = newest.max(poll_ns);
        let mut oldest = oldest.min(poll_ns);
        let forget = newest.saturating_sub(self.idle_ns.saturating_mul(4));
        if oldest < forget {
            self.sources.retain(|_, v| v.1 >= forget);
            oldest = self.sources.values().map(|v| v.1).min().unwrap_or(newest);
        }
        self.polls = Some((newest, oldest));
    }

    /// The newest and oldest last poll of the sources (both `empty` when there is none).
    fn scan_polls(&self, empty: i64) -> (i64, i64) {
        let polls = self.sources.values().map(|v| v.1);
        let newest = polls.clone().max().unwrap_or(empty);
        (newest, polls.min().unwrap_or(empty))
    }

    /// The newest event time of any source.
    pub fn newest(&self) -> Option<i64> {
        self.sources.values().map(|v| v.0).max()
    }

    /// The newest event time `source` delivered.
    pub fn source(&self, source: &str) -> Option<i64> {
        self.sources.get(source).map(|v| v.0)
    }

    /// Every source with its newest event time and last poll, by name.
    pub fn sources(&self) -> impl ExactSizeIterator<Item = (&str, i64, i64)> {
        self.sources.iter().map(|(k, v)| (k.as_str(), v.0, v.1))
    }

    /// The lowest `newest − lateness` over the sources that are not idle; `None` before any
    /// reading.
    pub fn watermark(&self) -> Option<i64> {
        let newest_poll = match self.polls {
            Some((newest, _)) if !self.sources.is_empty() => newest,
            _ => self.sources.values().map(|v| v.1).max()?,
        };
        let alive_after = newest_poll.saturating_sub(self.idle_ns);
        self.sources
            .values()
            .filter(|v| v.1 >= alive_after)
            .map(|v| v.0)
            .min()
            .map(|t| t.saturating_sub(self.lateness_ns))
    }

    /// The allowed lateness, nanoseconds.
    pub fn lateness_ns(&self) -> i64 {
        self.lateness_ns
    }

    /// How long an unpolled source holds the watermark back, nanoseconds.
    pub fn idle_ns(&self) -> i64 {
        self.idle_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The watermark never depends on the order observations arrive in, and never passes
        /// the newest reading minus the lateness.
        #[test]
        fn order_does_not_matter(mut obs in proptest::collection::vec((0usize..4, 0i64..10_000, 0i64..1_000), 1..40)) {
            let names = ["a", "b", "c", "d"];
            let mut w1 = Watermarks::new(100, 2_000);
            for (s, t, p) in &obs {
                w1.observe(names[*s], *t, *p);
            }
            obs.reverse();
            let mut w2 = Watermarks::new(100, 2_000);
            for (s, t, p) in &obs {
                w2.observe(names[*s], *t, *p);
            }
            prop_assert_eq!(w1.watermark(), w2.watermark());
            prop_assert!(w1.watermark().unwrap() <= w1.newest().unwrap() - 100);
        }

        /// What `observe` keeps to avoid scanning never changes the result: the sources held
        /// and the watermark are those of the plain rule (update, then forget every source
        /// not polled for four idle periods behind the newest poll), also across a
        /// serialization round trip that drops the kept bounds.
        #[test]
        fn kept_bounds_match_the_plain_rule(
            obs in proptest::collection::vec((0usize..6, 0i64..10_000, 0i64..3_000), 1..80),
            cut in 0usize..80,
        ) {
            let names = ["a", "b", "c", "d", "e", "f"];
            let (lateness, idle) = (100, 200);
            let mut w = Watermarks::new(lateness, idle);
            let mut plain: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            for (i, (s, t, p)) in obs.iter().enumerate() {
                if i == cut {
                    let json = serde_json::to_string(&w).unwrap();
                    w = serde_json::from_str(&json).unwrap();
                }
                w.observe(names[*s], *t, *p);
                let e = plain.entry(names[*s].to_owned()).or_insert((*t, *p));
                *e = (e.0.max(*t), e.1.max(*p));
                let newest = plain.values().map(|v| v.1).max().unwrap();
                plain.retain(|_, v| v.1 >= newest - 4 * idle);
                let alive: Vec<i64> = plain.values().filter(|v| v.1 >= newest - idle).map(|v| v.0).collect();
                prop_assert_eq!(&w.sources, &plain);
                prop_assert_eq!(w.watermark(), alive.iter().min().map(|t| t - lateness));
            }
        }
    }
}
