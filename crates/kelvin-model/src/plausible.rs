//! Plausible times: which timestamps belong to the data and which lie implausibly far from it.
//!
//! One sample at `1` ms (a clock that booted at the epoch), or a thousand years ahead (a year
//! typed wrong), must not stretch a recording's window: the window sizes every grid built over
//! it. [`TimeGate`] keeps the span of what it has accepted and admits a timestamp only when a
//! chain of timestamps, none more than [`TimeBounds::max_gap_ns`] from the next, links it to
//! that span. Before anything is accepted, the span is the [`TimeBounds::anchor`] when one is
//! given (a live agent anchors on its clock), else the median of the first batch: the bulk of
//! the data decides, so a lone outlier on the first line cannot take the lead.

use std::fmt;

use crate::Timestamp;

/// How far from the rest of the data a timestamp may lie.
///
/// ```
/// use kelvin_model::{TimeBounds, TimeGate, Timestamp};
///
/// let day = Timestamp::from_secs(1_793_606_400); // 2026-11-02
/// let ts = [day, day.add_nanos(60_000_000_000), Timestamp::from_millis(1)];
/// let mut gate = TimeGate::new(TimeBounds::default());
/// assert_eq!(gate.judge(&ts), vec![true, true, false]);
/// let why = gate.explain(Timestamp::from_millis(1));
/// assert!(why.contains("before the data"), "{why}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeBounds {
    /// Longest step, in nanoseconds, from the data to a timestamp that still belongs to it
    /// (default [`TimeBounds::DEFAULT_MAX_GAP_NS`], 7 days; at least 1). A recording whose
    /// sources fall silent for longer is split there, and the part away from the bulk is
    /// quarantined.
    pub max_gap_ns: i64,
    /// Where the data is expected before anything has been accepted (default `None`: the
    /// median of the first batch).
    pub anchor: Option<Timestamp>,
}

impl TimeBounds {
    /// Seven days: far beyond any clock skew or scrape outage a recording survives, far below
    /// the errors that stretch windows (a clock at the epoch, seconds read as milliseconds, a
    /// year typed wrong).
    pub const DEFAULT_MAX_GAP_NS: i64 = 7 * 86_400 * Timestamp::NANOS_PER_SEC;

    /// Sets [`TimeBounds::max_gap_ns`] in whole seconds (at least one second).
    pub fn with_max_gap_secs(mut self, secs: u64) -> Self {
        let secs = i64::try_from(secs.max(1)).unwrap_or(i64::MAX);
        self.max_gap_ns = secs.saturating_mul(Timestamp::NANOS_PER_SEC);
        self
    }

    /// Sets [`TimeBounds::anchor`].
    pub fn with_anchor(mut self, anchor: Timestamp) -> Self {
        self.anchor = Some(anchor);
        self
    }
}

impl Default for TimeBounds {
    fn default() -> Self {
        TimeBounds {
            max_gap_ns: Self::DEFAULT_MAX_GAP_NS,
            anchor: None,
        }
    }
}

/// The span of accepted data and the rule that extends it; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeGate {
    bounds: TimeBounds,
    span: Option<(i64, i64)>,
}

impl TimeGate {
    /// A gate that has accepted nothing yet.
    pub fn new(bounds: TimeBounds) -> Self {
        TimeGate { bounds, span: None }
    }

    /// The bounds it applies.
    pub fn bounds(&self) -> TimeBounds {
        self.bounds
    }

    /// First and last accepted timestamps, or `None` before any.
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        self.span
            .map(|(a, b)| (Timestamp::from_nanos(a), Timestamp::from_nanos(b)))
    }

    /// Judges a batch: `true` for every timestamp that belongs to the data (and every
    /// [`Timestamp::UNKNOWN`], which is not this gate's to judge), `false` for the implausible
    /// ones. Accepted timestamps extend the span. Linear when every timestamp lies within
    /// reach of the span, `n log n` otherwise.
    pub fn judge(&mut self, ts: &[Timestamp]) -> Vec<bool> {
        let gap = self.bounds.max_gap_ns.max(1);
        let known = || ts.iter().filter(|t| t.is_known()).map(|t| t.as_nanos());
        let Some(reference) = self.span.or_else(|| self.first_reference(ts)) else {
            return vec![true; ts.len()];
        };
        let (lo_reach, hi_reach) = (
            reference.0.saturating_sub(gap),
            reference.1.saturating_add(gap),
        );
        let (min, max) = known().fold((i64::MAX, i64::MIN), |(a, b), t| (a.min(t), b.max(t)));
        let (lo, hi) = if min >= lo_reach && max <= hi_reach {
            (lo_reach, hi_reach)
        } else {
            reach(known().collect(), reference, gap)
        };
        let ok: Vec<bool> = ts
            .iter()
            .map(|t| !t.is_known() || (lo..=hi).contains(&t.as_nanos()))
            .collect();
        // The span grows to what was accepted (never to the reference alone: an anchor is not
        // data).
        for (t, _) in ts.iter().zip(&ok).filter(|(t, ok)| **ok && t.is_known()) {
            let t = t.as_nanos();
            self.span = Some(self.span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
        }
        ok
    }

    /// The reference before anything was accepted: the anchor, else the batch's median.
    fn first_reference(&self, ts: &[Timestamp]) -> Option<(i64, i64)> {
        if let Some(a) = self.bounds.anchor {
            return Some((a.as_nanos(), a.as_nanos()));
        }
        let mut known: Vec<i64> = ts
            .iter()
            .filter(|t| t.is_known())
            .map(|t| t.as_nanos())
            .collect();
        if known.is_empty() {
            return None;
        }
        let mid = known.len() / 2;
        let (_, median, _) = known.select_nth_unstable(mid);
        Some((*median, *median))
    }

    /// Why `t` is implausible, for a quarantine detail: how far it lies from the accepted span
    /// and the limit.
    pub fn explain(&self, t: Timestamp) -> String {
        let limit = Duration(self.bounds.max_gap_ns);
        let Some((a, b)) = self.span() else {
            return format!("no data to compare {} with", t.to_rfc3339());
        };
        let side = if t < a {
            format!("{} before the data", Duration(a.nanos_since(t)))
        } else {
            format!("{} after the data", Duration(t.nanos_since(b)))
        };
        format!(
            "{} is {side} ({} to {}), more than the {limit} a sample may lie from the rest",
            t.to_rfc3339(),
            a.to_rfc3339(),
            b.to_rfc3339()
        )
    }
}

/// The span reached from `reference` by steps of at most `gap` through `known` (sorted here).
fn reach(mut known: Vec<i64>, reference: (i64, i64), gap: i64) -> (i64, i64) {
    known.sort_unstable();
    let (mut lo, mut hi) = reference;
    let first_after = known.partition_point(|&t| t <= reference.1);
    for &t in &known[first_after..] {
        if t.saturating_sub(hi) > gap {
            break;
        }
        hi = t;
    }
    let before = known.partition_point(|&t| t < reference.0);
    for &t in known[..before].iter().rev() {
        if lo.saturating_sub(t) > gap {
            break;
        }
        lo = t;
    }
    let inside = &known[before..first_after];
    if let (Some(&a), Some(&b)) = (inside.first(), inside.last()) {
        lo = lo.min(a);
        hi = hi.max(b);
    }
    (lo, hi)
}

/// A length of time for messages: `3.2 s`, `17 min`, `20759 days`.
#[derive(Debug, Clone, Copy)]
struct Duration(i64);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0 as f64 / Timestamp::NANOS_PER_SEC as f64;
        if s < 120.0 {
            write!(f, "{s:.1} s")
        } else if s < 2.0 * 3600.0 {
            write!(f, "{:.0} min", s / 60.0)
        } else if s < 2.0 * 86_400.0 {
            write!(f, "{:.1} h", s / 3600.0)
        } else {
            write!(f, "{:.0} days", s / 86_400.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400 * Timestamp::NANOS_PER_SEC;
    const T0: i64 = 1_793_606_400 * Timestamp::NANOS_PER_SEC;

    fn ts(v: &[i64]) -> Vec<Timestamp> {
        v.iter().map(|&t| Timestamp::from_nanos(t)).collect()
    }

    #[test]
    fn a_lone_outlier_on_the_first_line_does_not_lead() {
        let mut g = TimeGate::new(TimeBounds::default());
        let batch = ts(&[1_000_000, T0, T0 + 15, T0 + 30, T0 + 45]);
        assert_eq!(g.judge(&batch), [false, true, true, true, true]);
        assert_eq!(g.span().unwrap().0.as_nanos(), T0);
        // Later batches extend the span while they stay within reach.
        assert_eq!(
            g.judge(&ts(&[T0 + 3 * DAY, T0 + 9 * DAY, i64::MAX - 1])),
            [true, true, false]
        );
        assert!(
            g.explain(Timestamp::from_nanos(i64::MAX - 1))
                .contains("after the data")
        );
    }

    #[test]
    fn a_long_contiguous_recording_is_kept_whole() {
        // Thirty days of hourly samples in one batch: the median is mid-month, yet every
        // sample is linked to it by one-hour steps.
        let batch: Vec<i64> = (0..30 * 24).map(|h| T0 + h * 3_600_000_000_000).collect();
        let mut g = TimeGate::new(TimeBounds::default());
        assert!(g.judge(&ts(&batch)).iter().all(|ok| *ok));
    }

    #[test]
    fn an_anchor_decides_before_any_data() {
        let b = TimeBounds::default().with_anchor(Timestamp::from_nanos(T0));
        let mut g = TimeGate::new(b);
        // A batch wholly from 1970 is refused when the clock says 2026.
        assert_eq!(g.judge(&ts(&[5, 10, 15])), [false, false, false]);
        assert_eq!(g.span(), None);
        assert_eq!(g.judge(&ts(&[T0 + 5])), [true]);
    }

    #[test]
    fn unknown_times_are_not_judged() {
        let mut g = TimeGate::new(TimeBounds::default());
        assert_eq!(g.judge(&[Timestamp::UNKNOWN]), [true]);
        assert_eq!(g.span(), None);
    }

    proptest! {
        /// Whatever the batches, the accepted span never holds a gap longer than the limit
        /// that no accepted sample bridges, and every accepted sample lies inside it.
        #[test]
        fn accepted_samples_are_chained(
            batches in prop::collection::vec(prop::collection::vec(any::<i64>(), 0..40), 1..5),
            gap_s in 1u64..1_000_000,
        ) {
            let mut g = TimeGate::new(TimeBounds::default().with_max_gap_secs(gap_s));
            let gap = g.bounds().max_gap_ns;
            let mut accepted: Vec<i64> = Vec::new();
            for b in &batches {
                let t = ts(b);
                let ok = g.judge(&t);
                prop_assert_eq!(ok.len(), t.len());
                accepted.extend(t.iter().zip(&ok).filter(|(t, ok)| **ok && t.is_known()).map(|(t, _)| t.as_nanos()));
            }
            accepted.sort_unstable();
            for w in accepted.windows(2) {
                prop_assert!(w[1].saturating_sub(w[0]) <= gap || w[1] == w[0]);
            }
            if let (Some(a), Some(b)) = (accepted.first(), accepted.last()) {
                let (lo, hi) = g.span().unwrap();
                prop_assert_eq!((lo.as_nanos(), hi.as_nanos()), (*a, *b));
            }
        }
    }
}
