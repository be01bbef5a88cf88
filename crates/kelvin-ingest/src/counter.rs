//! Counters turned into per-interval deltas and rates: wrap-around, resets and clock steps
//! detected and reported.
//!
//! A counter (RAPL `energy_uj`, cgroup `usage_usec`, an SNMP `Counter32`) only means something
//! as the difference between two samples. [`CounterTracker`] is fed one series' samples in
//! arrival order and classifies each step as a [`CounterEvent`]:
//!
//! | step                                                       | event                     |
//! |------------------------------------------------------------|---------------------------|
//! | the first usable sample                                    | [`CounterEvent::First`]     |
//! | time advanced, value did not decrease                      | [`CounterEvent::Delta`]     |
//! | time advanced, value decreased, a plausible wrap (below)   | [`CounterEvent::Wrap`]      |
//! | time advanced, value decreased, no plausible wrap          | [`CounterEvent::Reset`]     |
//! | time went backwards, did not advance, or is unknown        | [`CounterEvent::ClockStep`] |
//! | a NaN or infinite value, or an increase that is not finite | [`CounterEvent::Invalid`]   |
//!
//! # Wrap-around
//!
//! The wrap point is the counter's *modulus*: values live in `[0, wrap)` and after `wrap - 1`
//! comes `0` (`2^32` for an SNMP `Counter32`, [`WRAP_32`]; `2^64` for a `Counter64`,
//! [`WRAP_64`]; `max_energy_range_uj` for RAPL — the kernel's range is the largest value, one
//! energy unit below the true modulus, an error of a few microjoules per wrap). A decrease from
//! `prev` to `cur` is a wrap when a modulus is known, both values are inside `[0, wrap)`, the
//! wrapped increase `cur + wrap - prev` is less than half the modulus (a counter is sampled at
//! least twice per period, or its wraps cannot be told apart from resets), and, when a
//! maximum rate is set ([`CounterTracker::with_max_rate`]), the implied rate does not exceed
//! it. Otherwise the decrease is a reset.
//!
//! # Resets
//!
//! After a reset (a reboot, a recreated cgroup, a reloaded driver) the counter restarted from
//! an unknown moment; what was consumed between the previous sample and the restart is unknown.
//! A [`CounterEvent::Reset`] therefore carries **no delta**: it is not counted in sums or rates.
//! It reports the values on both sides, so a caller who wants Prometheus' convention (the new
//! value is the increase since the reset, a lower bound) can apply it. The new sample becomes
//! the baseline for the next step.
//!
//! # Clock steps
//!
//! A sample whose time is not after the previous one (NTP stepped the clock back, a duplicate
//! scrape, [`Timestamp::UNKNOWN`]) gives no interval to divide by: no delta and no rate, never a
//! negative or infinite one. The new sample becomes the baseline.
//!
//! ```
//! use kelvin_ingest::counter::{CounterEvent, deltas};
//! use kelvin_model::Timestamp;
//!
//! let t = Timestamp::from_secs;
//! // A RAPL package counter (joules) wrapping at 262143.32885 J.
//! let ev = deltas(&[(t(0), 262_000.0), (t(10), 1_000.0)], Some(262_143.328_85));
//! let CounterEvent::Wrap { delta, rate_per_s, .. } = ev[1] else { panic!() };
//! assert!((delta - 1_143.328_85).abs() < 1e-6);
//! assert!((rate_per_s - 114.332_885).abs() < 1e-6);
//! ```

use kelvin_model::Timestamp;

/// The modulus of an SNMP `Counter32` (`2^32`).
pub const WRAP_32: f64 = 4_294_967_296.0;

/// The modulus of an SNMP `Counter64` (`2^64`).
pub const WRAP_64: f64 = 18_446_744_073_709_551_616.0;

/// What one sample of a counter means relative to the previous one. See the
/// [module documentation](self) for the rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CounterEvent {
    /// The first usable sample of the series: the baseline, no delta.
    First {
        /// Its time.
        at: Timestamp,
        /// Its raw value.
        value: f64,
    },
    /// A plain increase (or no change) over `[from, to)`.
    Delta {
        /// The previous sample's time.
        from: Timestamp,
        /// This sample's time (`> from`).
        to: Timestamp,
        /// The increase, `>= 0`, in the counter's unit.
        delta: f64,
        /// `delta` per second of `to - from`, finite and `>= 0`.
        rate_per_s: f64,
    },
    /// The value decreased because the counter wrapped; `delta` is the increase across the wrap
    /// (`cur + wrap - prev`).
    Wrap {
        /// The previous sample's time.
        from: Timestamp,
        /// This sample's time (`> from`).
        to: Timestamp,
        /// The increase across the wrap, `> 0`.
        delta: f64,
        /// `delta` per second, finite and `> 0`.
        rate_per_s: f64,
    },
    /// The value decreased and no wrap explains it: the counter restarted. No delta (unknown
    /// consumption); the increase since the restart is at least `after`.
    Reset {
        /// The previous sample's time.
        from: Timestamp,
        /// This sample's time.
        to: Timestamp,
        /// The previous raw value.
        before: f64,
        /// This raw value (the new baseline).
        after: f64,
    },
    /// This sample's time is not after the previous one's (or one of them is unknown): no
    /// interval, so no delta and no rate. The sample becomes the baseline.
    ClockStep {
        /// The previous sample's time.
        from: Timestamp,
        /// This sample's time (`<= from`, or unknown).
        to: Timestamp,
        /// The previous raw value.
        before: f64,
        /// This raw value (the new baseline).
        after: f64,
    },
    /// A value that is not a counter reading (NaN, infinite), or an increase too large to be
    /// finite. Ignored: the baseline stays the previous sample.
    Invalid {
        /// This sample's time.
        at: Timestamp,
        /// Its raw value.
        value: f64,
    },
}

impl CounterEvent {
    /// The increase over the interval, for [`CounterEvent::Delta`] and [`CounterEvent::Wrap`].
    pub fn delta(&self) -> Option<f64> {
        match *self {
            CounterEvent::Delta { delta, .. } | CounterEvent::Wrap { delta, .. } => Some(delta),
            _ => None,
        }
    }

    /// The rate per second, for [`CounterEvent::Delta`] and [`CounterEvent::Wrap`].
    pub fn rate_per_s(&self) -> Option<f64> {
        match *self {
            CounterEvent::Delta { rate_per_s, .. } | CounterEvent::Wrap { rate_per_s, .. } => {
                Some(rate_per_s)
            }
            _ => None,
        }
    }

    /// The interval `(from, to)` a delta covers, for [`CounterEvent::Delta`] and
    /// [`CounterEvent::Wrap`].
    pub fn interval(&self) -> Option<(Timestamp, Timestamp)> {
        match *self {
            CounterEvent::Delta { from, to, .. } | CounterEvent::Wrap { from, to, .. } => {
                Some((from, to))
            }
            _ => None,
        }
    }
}

/// How many anomalies a [`CounterTracker`] has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CounterStats {
    /// [`CounterEvent::Wrap`] events.
    pub wraps: u64,
    /// [`CounterEvent::Reset`] events.
    pub resets: u64,
    /// [`CounterEvent::ClockStep`] events.
    pub clock_steps: u64,
    /// [`CounterEvent::Invalid`] events.
    pub invalid: u64,
}

/// Turns one counter series' samples, pushed in arrival order, into [`CounterEvent`]s.
///
/// ```
/// use kelvin_ingest::counter::{CounterEvent, CounterTracker, WRAP_32};
/// use kelvin_model::Timestamp;
///
/// let mut c = CounterTracker::new(Some(WRAP_32));
/// assert!(matches!(c.push(Timestamp::from_secs(0), 4_294_967_000.0), CounterEvent::First { .. }));
/// let e = c.push(Timestamp::from_secs(1), 104.0);
/// assert_eq!(e.delta(), Some(400.0));
/// let e = c.push(Timestamp::from_secs(1), 200.0); // same time: no interval
/// assert!(matches!(e, CounterEvent::ClockStep { .. }));
/// assert_eq!(c.stats().wraps, 1);
/// assert_eq!(c.stats().clock_steps, 1);
/// ```
#[derive(Debug, Clone)]
pub struct CounterTracker {
    wrap: Option<f64>,
    max_rate: Option<f64>,
    last: Option<(Timestamp, f64)>,
    stats: CounterStats,
}

fn positive(x: f64) -> Option<f64> {
    (x.is_finite() && x > 0.0).then_some(x)
}

impl CounterTracker {
    /// A tracker for a counter with modulus `wrap` (`None` when it never wraps or the modulus is
    /// unknown). A `wrap` that is not a positive finite number is treated as `None`.
    pub fn new(wrap: Option<f64>) -> Self {
        CounterTracker {
            wrap: wrap.and_then(positive),
            max_rate: None,
            last: None,
            stats: CounterStats::default(),
        }
    }

    /// Sets the highest plausible rate (counter units per second): a decrease whose wrapped
    /// increase implies a higher rate is a reset, not a wrap. Default: no limit. A value that is
    /// not a positive finite number removes the limit.
    pub fn with_max_rate(mut self, max_rate: f64) -> Self {
        self.max_rate = positive(max_rate);
        self
    }

    /// The modulus in use, if any.
    pub fn wrap(&self) -> Option<f64> {
        self.wrap
    }

    /// The current baseline: the last sample that was not [`CounterEvent::Invalid`].
    pub fn last(&self) -> Option<(Timestamp, f64)> {
        self.last
    }

    /// Anomalies seen so far.
    pub fn stats(&self) -> &CounterStats {
        &self.stats
    }

    /// Classifies the next sample and makes it the baseline (unless it is invalid).
    pub fn push(&mut self, ts: Timestamp, value: f64) -> CounterEvent {
        if !value.is_finite() {
            self.stats.invalid += 1;
            return CounterEvent::Invalid { at: ts, value };
        }
        let Some((from, before)) = self.last else {
            self.last = Some((ts, value));
            return CounterEvent::First { at: ts, value };
        };
        if !from.is_known() || !ts.is_known() || ts <= from {
            self.last = Some((ts, value));
            self.stats.clock_steps += 1;
            return CounterEvent::ClockStep {
                from,
                to: ts,
                before,
                after: value,
            };
        }
        let secs = ts.nanos_since(from) as f64 / Timestamp::NANOS_PER_SEC as f64;
        if value >= before {
            let delta = value - before;
            let rate_per_s = delta / secs;
            if !(delta.is_finite() && rate_per_s.is_finite()) {
                self.stats.invalid += 1;
                return CounterEvent::Invalid { at: ts, value };
            }
            self.last = Some((ts, value));
            return CounterEvent::Delta {
                from,
                to: ts,
                delta,
                rate_per_s,
            };
        }
        self.last = Some((ts, value));
        if let Some(wrap) = self.wrap {
            let in_range = (0.0..wrap).contains(&before) && (0.0..wrap).contains(&value);
            let delta = value + (wrap - before);
            let rate_per_s = delta / secs;
            let plausible = in_range
                && delta > 0.0
                && delta < wrap / 2.0
                && rate_per_s.is_finite()
                && self.max_rate.is_none_or(|m| rate_per_s <= m);
            if plausible {
                self.stats.wraps += 1;
                return CounterEvent::Wrap {
                    from,
                    to: ts,
                    delta,
                    rate_per_s,
                };
            }
        }
        self.stats.resets += 1;
        CounterEvent::Reset {
            from,
            to: ts,
            before,
            after: value,
        }
    }
}

/// Classifies a whole series at once: one [`CounterEvent`] per sample, in order.
pub fn deltas(samples: &[(Timestamp, f64)], wrap: Option<f64>) -> Vec<CounterEvent> {
    let mut t = CounterTracker::new(wrap);
    samples.iter().map(|&(ts, v)| t.push(ts, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn plain_deltas_and_rates() {
        let ev = deltas(&[(t(0), 10.0), (t(2), 30.0), (t(4), 30.0)], None);
        assert_eq!(
            ev[0],
            CounterEvent::First {
                at: t(0),
                value: 10.0
            }
        );
        assert_eq!(
            ev[1],
            CounterEvent::Delta {
                from: t(0),
                to: t(2),
                delta: 20.0,
                rate_per_s: 10.0
            }
        );
        assert_eq!(ev[2].delta(), Some(0.0));
        assert_eq!(ev[2].interval(), Some((t(2), t(4))));
    }

    #[test]
    fn decreases_are_wraps_only_when_plausible() {
        let w = 1000.0;
        // Across the wrap: 990 -> 5 is +15.
        let ev = deltas(&[(t(0), 990.0), (t(1), 5.0)], Some(w));
        assert_eq!(
            ev[1],
            CounterEvent::Wrap {
                from: t(0),
                to: t(1),
                delta: 15.0,
                rate_per_s: 15.0
            }
        );
        // 100 -> 5 would be +905, more than half the range: a reset.
        let ev = deltas(&[(t(0), 100.0), (t(1), 5.0)], Some(w));
        assert_eq!(
            ev[1],
            CounterEvent::Reset {
                from: t(0),
                to: t(1),
                before: 100.0,
                after: 5.0
            }
        );
        assert_eq!(ev[1].delta(), None);
        // No modulus: every decrease is a reset.
        let ev = deltas(&[(t(0), 990.0), (t(1), 5.0)], None);
        assert!(matches!(ev[1], CounterEvent::Reset { .. }));
        // A value outside the modulus cannot have wrapped.
        let ev = deltas(&[(t(0), 1990.0), (t(1), 5.0)], Some(w));
        assert!(matches!(ev[1], CounterEvent::Reset { .. }));
        // A rate limit turns an implausibly fast "wrap" into a reset.
        let mut c = CounterTracker::new(Some(w)).with_max_rate(10.0);
        c.push(t(0), 990.0);
        assert!(matches!(c.push(t(1), 5.0), CounterEvent::Reset { .. }));
        assert!(matches!(c.push(t(2), 990.0), CounterEvent::Delta { .. }));
        assert!(matches!(c.push(t(100), 5.0), CounterEvent::Wrap { .. }));
        assert_eq!((c.stats().wraps, c.stats().resets), (1, 1));
    }

    #[test]
    fn clock_steps_give_no_rate_and_rebaseline() {
        let ev = deltas(
            &[
                (t(10), 1.0),
                (t(5), 2.0),
                (t(5), 3.0),
                (t(6), 7.0),
                (Timestamp::UNKNOWN, 9.0),
                (t(7), 10.0),
            ],
            None,
        );
        assert!(
            matches!(ev[1], CounterEvent::ClockStep { from, to, .. } if from == t(10) && to == t(5))
        );
        assert!(matches!(ev[2], CounterEvent::ClockStep { .. }));
        assert_eq!(ev[3].delta(), Some(4.0));
        assert!(matches!(ev[4], CounterEvent::ClockStep { .. }));
        assert!(matches!(ev[5], CounterEvent::ClockStep { .. }));
        assert!(
            ev.iter()
                .all(|e| e.rate_per_s().is_none_or(|r| r.is_finite() && r >= 0.0))
        );
    }

    #[test]
    fn invalid_values_keep_the_baseline() {
        let mut c = CounterTracker::new(Some(f64::NAN));
        assert_eq!(c.wrap(), None);
        c.push(t(0), 1.0);
        assert!(matches!(
            c.push(t(1), f64::NAN),
            CounterEvent::Invalid { .. }
        ));
        assert!(matches!(
            c.push(t(2), f64::INFINITY),
            CounterEvent::Invalid { .. }
        ));
        assert_eq!(c.push(t(3), 4.0).delta(), Some(3.0));
        // An increase that overflows is not a delta.
        let mut c = CounterTracker::new(None);
        c.push(t(0), -f64::MAX);
        assert!(matches!(
            c.push(t(1), f64::MAX),
            CounterEvent::Invalid { .. }
        ));
        assert_eq!(c.stats().invalid, 1);
        assert_eq!(c.last(), Some((t(0), -f64::MAX)));
    }

    #[test]
    fn snmp_counter32_wrap() {
        let ev = deltas(&[(t(0), WRAP_32 - 10.0), (t(1), 10.0)], Some(WRAP_32));
        assert_eq!(ev[1].delta(), Some(20.0));
    }
}
