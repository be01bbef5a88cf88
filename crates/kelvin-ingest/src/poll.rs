//! Times relative to the poll that fetched them.
//!
//! A live service knows when it polled a source (scraped an exporter, ran `ipmitool`, fetched
//! a Redfish resource): [`crate::Batch::with_poll_time`]. Samples the source timed itself can
//! then be judged against that poll ([`IngestBatch::sift_poll`], with [`PollBounds`]), and the
//! source's clock measured ([`IngestBatch::clock_offset_ns`]) and corrected
//! ([`IngestBatch::shift_times`]). Readings that carry the poll's time because the source gave
//! none ([`IngestBatch::defaulted`]) say nothing about its clock and are never moved.
//!
//! See [`IngestBatch::clock_offset_ns`] for the order an engine runs them in.

use kelvin_model::{Place, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{IngestBatch, Reason};

const SEC: i64 = Timestamp::NANOS_PER_SEC;

/// How far from the poll that fetched it a reading's own time may lie.
///
/// Defaults, [`PollBounds::DEFAULT_AHEAD_NS`] (15 minutes) and
/// [`PollBounds::DEFAULT_BEHIND_NS`] (6 hours):
///
/// - **Ahead.** A source cannot have measured after it was asked, so a time ahead of the poll
///   is the source's clock running fast. BMC clocks go unsynchronised for months (a real-time
///   clock drifts by a few seconds a day; the enterprise dataset's BMC runs 137 s fast), so
///   minutes of skew are ordinary and measurable ([`IngestBatch::clock_offset_ns`]); a quarter
///   of an hour keeps them while refusing what is no clock drift: a clock an hour or more off
///   (a time zone taken for UTC), seconds read as milliseconds, a year typed wrong.
/// - **Behind.** A time before the poll is a value the source held: exporters cache (the IPMI
///   exporter's and DCGM's collection intervals), a BMC reports its last sampling period, an
///   agent buffers through an outage and replays. Six hours keeps a night shift's backlog;
///   it refuses a capture from another day (the day before is at least 18 h away) and clocks
///   that were never set.
///
/// ```
/// use kelvin_ingest::PollBounds;
/// let b = PollBounds::default().with_ahead_secs(60).with_behind_secs(86_400);
/// assert_eq!((b.ahead_ns, b.behind_ns), (60_000_000_000, 86_400_000_000_000));
/// assert_eq!(PollBounds::new(-5, 10), PollBounds::new(0, 10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PollBounds {
    /// Most nanoseconds a reading may lie after its poll (at least 0).
    pub ahead_ns: i64,
    /// Most nanoseconds a reading may lie before its poll (at least 0).
    pub behind_ns: i64,
}

impl PollBounds {
    /// 15 minutes.
    pub const DEFAULT_AHEAD_NS: i64 = 15 * 60 * SEC;
    /// 6 hours.
    pub const DEFAULT_BEHIND_NS: i64 = 6 * 3_600 * SEC;

    /// Bounds in nanoseconds; negative values are taken as 0.
    pub fn new(ahead_ns: i64, behind_ns: i64) -> Self {
        PollBounds {
            ahead_ns: ahead_ns.max(0),
            behind_ns: behind_ns.max(0),
        }
    }

    /// Sets [`PollBounds::ahead_ns`] in whole seconds.
    pub fn with_ahead_secs(mut self, secs: u64) -> Self {
        self.ahead_ns = secs_ns(secs);
        self
    }

    /// Sets [`PollBounds::behind_ns`] in whole seconds.
    pub fn with_behind_secs(mut self, secs: u64) -> Self {
        self.behind_ns = secs_ns(secs);
        self
    }
}

fn secs_ns(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(SEC)
}

impl Default for PollBounds {
    fn default() -> Self {
        PollBounds::new(Self::DEFAULT_AHEAD_NS, Self::DEFAULT_BEHIND_NS)
    }
}

/// A length of time for a detail, in its two largest units: `23 days 4 h`, `2 h 17 min`,
/// `2 min 17 s`, `4.2 s`, `350 ms`.
pub(crate) fn span(ns: i64) -> String {
    let ns = ns.unsigned_abs();
    let (s, ms) = (ns / SEC as u64, ns / 1_000_000);
    let (d, h, m) = (s / 86_400, s / 3_600 % 24, s / 60 % 60);
    if d > 0 {
        if h > 0 {
            format!("{d} days {h} h")
        } else {
            format!("{d} days")
        }
    } else if s >= 3_600 && m == 0 {
        format!("{} h", s / 3_600)
    } else if s >= 3_600 {
        format!("{} h {m} min", s / 3_600)
    } else if s >= 60 && s % 60 == 0 {
        format!("{} min", s / 60)
    } else if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else if s >= 1 {
        format!("{:.1} s", ns as f64 / SEC as f64)
    } else {
        format!("{ms} ms")
    }
}

impl IngestBatch {
    /// Moves the readings whose time lies further than `bounds` from `poll` — ahead of it by
    /// more than [`PollBounds::ahead_ns`] or behind it by more than [`PollBounds::behind_ns`]
    /// — to the quarantine as [`Reason::ImplausibleTime`], placed at `source`, with a detail
    /// that says by how much and relative to which poll. Each moves from accepted to
    /// quarantined (`seen` stays); returns how many moved. Readings without a time, and every
    /// reading when `poll` is unknown, stay.
    ///
    /// ```
    /// use kelvin_ingest::{IngestBatch, PollBounds, Reason};
    /// use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};
    ///
    /// let poll = Timestamp::from_secs(1_793_606_400);
    /// let day_before = poll.add_nanos(-(23 * 86_400 + 4 * 3_600) * 1_000_000_000);
    /// let mut b = IngestBatch::default();
    /// for ts in [poll, day_before] {
    ///     b.accept(Reading::new(EntityId::new("h1")?, "dcmi", SensorKind::Power, 71.0, ts));
    /// }
    /// assert_eq!(b.sift_poll(poll, &PollBounds::default(), "bmc.txt"), 1);
    /// assert_eq!((b.stats.seen, b.stats.accepted, b.stats.quarantined), (2, 1, 1));
    /// assert_eq!(b.quarantine[0].reason, Reason::ImplausibleTime);
    /// assert!(b.quarantine[0].detail.contains("23 days 4 h before the poll at 2026-11-02T08:00:00Z"));
    /// # Ok::<(), kelvin_model::ModelError>(())
    /// ```
    pub fn sift_poll(&mut self, poll: Timestamp, bounds: &PollBounds, source: &str) -> usize {
        if !poll.is_known() {
            return 0;
        }
        let (ahead, behind) = (bounds.ahead_ns.max(0), bounds.behind_ns.max(0));
        let off = |r: &kelvin_model::Reading| {
            let d = r.ts.nanos_since(poll);
            r.ts.is_known() && (d > ahead || d < -behind)
        };
        if !self.readings.iter().any(off) {
            return 0;
        }
        self.sift_readings(&Place::source(source), Reason::ImplausibleTime, |r| {
            off(r).then(|| poll_detail(r.ts, poll, bounds))
        })
    }

    /// The source's clock offset as this batch measures it: the median of `reading.ts − poll`
    /// over the readings timed by the source's own clock (not those given the poll's time,
    /// [`IngestBatch::defaulted`]), in nanoseconds; positive when the source runs ahead. `None`
    /// when no reading carries the source's own time (an `ipmitool sensor` capture, exporter
    /// text without timestamps), when `poll` is unknown, or when the clock marks were lost to
    /// a direct edit of `readings`.
    ///
    /// An engine that corrects skew measures first, then shifts — only by an offset it trusts,
    /// within its own limit, since a capture from another day also has an offset — and sifts
    /// last, so that what is left far from the poll is an error, not a skewed clock:
    ///
    /// ```
    /// use kelvin_ingest::{Batch, PollBounds};
    /// # use std::{collections::HashSet, sync::Arc};
    /// # use kelvin_ingest::{Admission, Decoders, Normalizer, RuleSet};
    /// # use kelvin_model::{EntityId, Timestamp};
    /// # let known = Arc::new(HashSet::from([EntityId::new("h1")?]));
    /// # let (rules, decoders, normalizer) = (RuleSet::builtin(), Decoders::builtin(), Normalizer::builtin());
    /// # let admission = Admission { rules: &rules, decoders: &decoders, normalizer: &normalizer, known: &known, workloads: None };
    /// // `ipmitool dcmi power reading` from a BMC whose clock runs 137 s ahead.
    /// let text = "Instantaneous power reading:                    71 Watts\n\
    ///             Minimum during sampling period:                 72 Watts\n\
    ///             Maximum during sampling period:                 72 Watts\n\
    ///             Average power reading over sample period:       72 Watts\n\
    ///             IPMI timestamp:                           Mon Nov  2 08:02:17 2026\n\
    ///             Sampling period:                          00001200 Seconds.\n\
    ///             Power reading state is:                   activated\n";
    /// let poll = Timestamp::from_secs(1_793_606_400); // 2026-11-02T08:00:00Z
    /// let batch = Batch::capture("bmc", text, EntityId::new("h1")?, poll);
    /// let (source, mut decoded) = admission.decode(batch);
    /// let skew = decoded.clock_offset_ns(poll);
    /// assert_eq!(skew, Some(137 * Timestamp::NANOS_PER_SEC));
    /// if let Some(s) = skew.filter(|s| s.abs() <= 3_600 * Timestamp::NANOS_PER_SEC) {
    ///     decoded.shift_times(-s);
    /// }
    /// assert_eq!(decoded.sift_poll(poll, &PollBounds::default(), &source), 0);
    /// assert_eq!(decoded.readings[0].ts, poll);
    /// # Ok::<(), kelvin_model::ModelError>(())
    /// ```
    pub fn clock_offset_ns(&self, poll: Timestamp) -> Option<i64> {
        if !poll.is_known() {
            return None;
        }
        let marks = self.defaulted()?;
        let mut d: Vec<i64> = self
            .readings
            .iter()
            .zip(marks)
            .filter(|(r, defaulted)| !**defaulted && r.ts.is_known())
            .map(|(r, _)| r.ts.nanos_since(poll))
            .collect();
        if d.is_empty() {
            return None;
        }
        let mid = d.len() / 2;
        let (_, hi, _) = d.select_nth_unstable(mid);
        let hi = *hi;
        if d.len() % 2 == 1 {
            return Some(hi);
        }
        let lo = d[..mid].iter().copied().max().unwrap_or(hi);
        // The mean of the two middle values, without overflow.
        Some(((i128::from(lo) + i128::from(hi)).div_euclid(2)) as i64)
    }

    /// Moves the readings timed by the source's own clock by `delta_ns` (saturating at the
    /// ends of the time range, never onto [`Timestamp::UNKNOWN`]), and the sightings' times
    /// taken from them; readings given the poll's time stay. Returns how many readings moved
    /// (0 when the clock marks were lost to a direct edit of `readings`).
    pub fn shift_times(&mut self, delta_ns: i64) -> usize {
        if delta_ns == 0 {
            return 0;
        }
        let Some(marks) = self.defaulted().map(<[bool]>::to_vec) else {
            return 0;
        };
        let mut n = 0;
        for (r, defaulted) in self.readings.iter_mut().zip(marks) {
            if !defaulted && r.ts.is_known() {
                r.ts = crate::workload::shift(r.ts, delta_ns);
                n += 1;
            }
        }
        for s in self.sightings.values_mut() {
            s.shift(delta_ns);
        }
        n
    }
}

/// Why `t` is too far from `poll`: by how much, which bound, and what it likely is.
fn poll_detail(t: Timestamp, poll: Timestamp, bounds: &PollBounds) -> String {
    let d = t.nanos_since(poll);
    let (side, limit, guess) = if d > 0 {
        (
            "after",
            format!("{} ahead", span(bounds.ahead_ns)),
            "a source clock running fast?",
        )
    } else {
        (
            "before",
            format!("{} behind", span(bounds.behind_ns)),
            "a capture from another day, or a clock never set?",
        )
    };
    let mut detail = format!(
        "{} is {} {side} the poll at {}, more than the {limit} allowed; {guess}",
        t.to_rfc3339(),
        span(d),
        poll.to_rfc3339()
    );
    // A time in seconds read as milliseconds lands 1000 times closer to 1970.
    if let Some(as_secs) = t.as_nanos().checked_mul(1_000) {
        let near = as_secs.saturating_sub(poll.as_nanos());
        if near <= bounds.ahead_ns.max(0) && near >= -bounds.behind_ns.max(0) {
            detail.push_str(" (read as seconds it would be near the poll: a timestamp in seconds where milliseconds were expected?)");
        }
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelvin_model::{EntityId, Reading, SensorKind};
    use proptest::prelude::*;

    const T0: i64 = 1_793_606_400 * SEC;

    fn reading(ts: i64) -> Reading {
        Reading::new(
            EntityId::new("h1").unwrap(),
            "dcmi",
            SensorKind::Power,
            70.0,
            Timestamp::from_nanos(ts),
        )
    }

    #[test]
    fn spans_read_like_a_person_would_say_them() {
        assert_eq!(span((23 * 86_400 + 4 * 3_600 + 59) * SEC), "23 days 4 h");
        assert_eq!(span(2 * 86_400 * SEC), "2 days");
        assert_eq!(span(6 * 3_600 * SEC), "6 h");
        assert_eq!(span(15 * 60 * SEC), "15 min");
        assert_eq!(span(-(2 * 3_600 + 17 * 60) * SEC), "2 h 17 min");
        assert_eq!(span(137 * SEC), "2 min 17 s");
        assert_eq!(span(4_200_000_000), "4.2 s");
        assert_eq!(span(350_000_000), "350 ms");
        assert_eq!(span(i64::MIN), "106751 days 23 h");
    }

    #[test]
    fn far_readings_leave_with_a_detail_that_says_how_far() {
        let poll = Timestamp::from_nanos(T0);
        let mut b = IngestBatch::default();
        b.accept(reading(T0 + 20 * 60 * SEC)); // 20 min ahead
        b.accept_defaulted(reading(T0));
        b.accept(reading(T0 - 5 * 3_600 * SEC)); // within 6 h behind
        b.accept(reading(T0 / 1_000)); // seconds read as milliseconds
        b.accept(reading(i64::MAX));
        b.accept(Reading {
            ts: Timestamp::UNKNOWN,
            ..reading(0)
        });
        assert_eq!(b.sift_poll(poll, &PollBounds::default(), "scrape"), 3);
        assert_eq!(
            (b.stats.seen, b.stats.accepted, b.stats.quarantined),
            (6, 3, 3)
        );
        assert_eq!(b.defaulted(), Some(&[true, false, false][..]));
        let d: Vec<&str> = b.quarantine.iter().map(|q| q.detail.as_str()).collect();
        assert_eq!(
            d[0],
            "2026-11-02T08:20:00Z is 20 min after the poll at 2026-11-02T08:00:00Z, more \
             than the 15 min ahead allowed; a source clock running fast?"
        );
        assert!(
            d[1].contains("before the poll") && d[1].contains("read as seconds"),
            "{}",
            d[1]
        );
        assert!(
            d[2].contains("after the poll") && !d[2].contains("read as seconds"),
            "{}",
            d[2]
        );
        assert_eq!(b.quarantine[0].place.to_string(), "scrape");
        assert!(
            b.quarantine[0]
                .excerpt
                .starts_with("h1 dcmi power 70 @ 2026-11-02T08:20:00Z")
        );
        // nothing to judge against an unknown poll
        assert_eq!(
            b.sift_poll(Timestamp::UNKNOWN, &PollBounds::new(0, 0), "s"),
            0
        );
    }

    #[test]
    fn offsets_come_from_the_source_clock_only() {
        let poll = Timestamp::from_nanos(T0);
        let mut b = IngestBatch::default();
        assert_eq!(b.clock_offset_ns(poll), None);
        b.accept_defaulted(reading(T0));
        b.accept_defaulted(reading(T0));
        assert_eq!(b.clock_offset_ns(poll), None, "all defaulted");
        b.accept(reading(T0 + 137 * SEC));
        assert_eq!(b.clock_offset_ns(poll), Some(137 * SEC));
        b.accept(reading(T0 + 140 * SEC));
        assert_eq!(b.clock_offset_ns(poll), Some(138_500_000_000));
        assert_eq!(b.clock_offset_ns(Timestamp::UNKNOWN), None);
        // shift moves the own-clock readings only
        assert_eq!(b.shift_times(-137 * SEC), 2);
        let ts: Vec<i64> = b.readings.iter().map(|r| r.ts.as_nanos() - T0).collect();
        assert_eq!(ts, [0, 0, 0, 3 * SEC]);
        // a direct edit loses the marks: nothing measured, nothing moved
        b.readings.push(reading(T0));
        assert_eq!((b.clock_offset_ns(poll), b.shift_times(5)), (None, 0));
        // extreme offsets do not overflow
        let mut b = IngestBatch::default();
        b.accept(reading(i64::MAX));
        b.accept(reading(i64::MAX - 1));
        assert_eq!(
            b.clock_offset_ns(Timestamp::from_nanos(i64::MIN + 1)),
            Some(i64::MAX)
        );
        b.shift_times(i64::MIN);
        assert!(b.readings.iter().all(|r| r.ts.is_known()));
    }

    proptest! {
        /// Sifting moves readings from accepted to quarantined and keeps the counts balanced;
        /// what stays is within the bounds; marks stay in step.
        #[test]
        fn sifting_keeps_counts_balanced(
            offsets in prop::collection::vec((any::<i64>(), any::<bool>()), 0..60),
            ahead in 0i64..10_000 * SEC, behind in 0i64..100_000 * SEC,
        ) {
            let poll = Timestamp::from_nanos(T0);
            let mut b = IngestBatch::default();
            for (o, defaulted) in &offsets {
                let r = reading(T0.saturating_add(o % (200_000 * SEC)));
                if *defaulted { b.accept_defaulted(r) } else { b.accept(r) }
            }
            let moved = b.sift_poll(poll, &PollBounds::new(ahead, behind), "p");
            prop_assert_eq!(b.stats.seen, offsets.len() as u64);
            prop_assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
            prop_assert_eq!(b.stats.quarantined as usize, moved);
            prop_assert_eq!(b.readings.len() as u64, b.stats.accepted);
            prop_assert_eq!(b.defaulted().map(<[bool]>::len), Some(b.readings.len()));
            for r in &b.readings {
                let d = r.ts.nanos_since(poll);
                prop_assert!(d <= ahead && d >= -behind);
            }
        }

        /// Shifting the source's clock and back is the identity on its readings (where no
        /// time saturates), and never touches the defaulted ones.
        #[test]
        fn shifting_there_and_back_is_identity(
            ts in prop::collection::vec((-(1i64 << 62)..(1i64 << 62), any::<bool>()), 0..40),
            delta in -(1i64 << 61)..(1i64 << 61),
        ) {
            let mut b = IngestBatch::default();
            for (t, defaulted) in &ts {
                if *defaulted { b.accept_defaulted(reading(*t)) } else { b.accept(reading(*t)) }
            }
            let before: Vec<Timestamp> = b.readings.iter().map(|r| r.ts).collect();
            let own = ts.iter().filter(|(_, d)| !d).count();
            prop_assert_eq!(b.shift_times(delta), if delta == 0 { 0 } else { own });
            for ((r, t), (_, defaulted)) in b.readings.iter().zip(&before).zip(&ts) {
                let want = if *defaulted { *t } else { t.add_nanos(delta) };
                prop_assert_eq!(r.ts, want);
            }
            b.shift_times(-delta);
            let after: Vec<Timestamp> = b.readings.iter().map(|r| r.ts).collect();
            prop_assert_eq!(after, before);
        }
    }
}
