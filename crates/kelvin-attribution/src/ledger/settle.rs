//! Settlement: the options, the checks of the input, and the window's settlement meter by
//! meter (in parallel; each meter in [`super::meter`]).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use kelvin_model::{TimeRange, Timestamp};
use rayon::prelude::*;

use super::meter::settle_meter;
use super::policy::{AttributionPolicy, Policy};
use super::types::{KeyCurve, Ledger, LedgerInput, MeterInput, MeterSheet};
use super::uncertainty::quantile;
use crate::AttributionError;

/// Options of [`settle`].
#[derive(Clone)]
#[non_exhaustive]
pub struct LedgerOptions {
    /// The policy; default [`Policy::TwoPartTariff`]. Set it with
    /// [`LedgerOptions::with_policy`], to a built-in [`Policy`] or any [`AttributionPolicy`].
    pub policy: Arc<dyn AttributionPolicy>,
    /// Two-sided confidence of the reported intervals, `(0, 1)`; default 0.95.
    pub confidence: f64,
    /// Timing uncertainty between usage samples and meter samples, seconds (default 0): a
    /// fraction `alignment_s / interval` of each interval's energy may belong to the
    /// neighbouring interval's split.
    pub alignment_s: f64,
    /// Keep each interval's split (intervals × (workloads + accounts)) in
    /// [`MeterSheet::per_interval`](super::MeterSheet::per_interval); default false (it is
    /// large).
    pub keep_intervals: bool,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            policy: Arc::new(Policy::TwoPartTariff),
            confidence: 0.95,
            alignment_s: 0.0,
            keep_intervals: false,
        }
    }
}

impl fmt::Debug for LedgerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerOptions")
            .field("policy", &self.policy.name())
            .field("confidence", &self.confidence)
            .field("alignment_s", &self.alignment_s)
            .field("keep_intervals", &self.keep_intervals)
            .finish()
    }
}

impl LedgerOptions {
    /// Sets the policy: a built-in [`Policy`] or an embedder's [`AttributionPolicy`].
    pub fn with_policy(mut self, policy: impl AttributionPolicy + 'static) -> Self {
        self.policy = Arc::new(policy);
        self
    }
    /// Sets the confidence of the intervals.
    pub fn with_confidence(mut self, confidence: f64) -> Self {
        self.confidence = confidence;
        self
    }
    /// Sets the alignment uncertainty, seconds.
    pub fn with_alignment_s(mut self, alignment_s: f64) -> Self {
        self.alignment_s = alignment_s;
        self
    }
    /// Keeps the per-interval split.
    pub fn with_keep_intervals(mut self, keep: bool) -> Self {
        self.keep_intervals = keep;
        self
    }
}

/// Settles a window: every meter's measured energy is split into workload lines and named
/// accounts under `opts.policy` (any [`AttributionPolicy`]), exactly in microjoules, with
/// confidence intervals.
///
/// Meters are settled in parallel (rayon); the result does not depend on the thread count.
///
/// ```
/// use kelvin_attribution::ledger::{Consumer, KeyCurve, LedgerInput, LedgerOptions, MeterInput,
///     MeterResource, Account, settle};
/// use kelvin_attribution::power::Resource;
/// use kelvin_model::{EntityId, Timestamp};
///
/// // One 10 s interval: 1.5 kJ measured on a 16-core host with a 100 W floor.
/// let host = MeterInput {
///     meter: EntityId::new("h1")?,
///     energy_j: vec![1_500.0],
///     sigma_j: None,
///     rel_sigma: 0.02,
///     idle_w: vec![100.0],
///     idle_sigma_w: 2.0,
///     resources: vec![MeterResource { resource: Resource::Cpu, capacity: 16.0,
///                                     curve: KeyCurve::Linear { watts_at_full: 200.0 } }],
///     consumers: vec![
///         // w1 reserved a quarter of the host and used 40 CPU-seconds, w2 reserved nothing.
///         Consumer { workload: 0, reservation: 0.25, usage: vec![vec![40.0]], signature: None },
///         Consumer { workload: 1, reservation: 0.0, usage: vec![vec![10.0]], signature: None },
///     ],
///     system: None,
///     key_rel_sigma: 0.05,
/// };
/// let input = LedgerInput {
///     start: Timestamp::from_secs(0),
///     interval_ns: 10_000_000_000,
///     workloads: vec![EntityId::new("w1")?, EntityId::new("w2")?],
///     meters: vec![host],
/// };
/// let ledger = settle(&input, &LedgerOptions::default())?;
/// let sheet = &ledger.meters[0];
/// // Floor 1 kJ: 250 J reserved by w1, 750 J unreserved; 500 J dynamic split 4:1.
/// assert_eq!(sheet.lines[0].energy.uj, 250_000_000 + 400_000_000);
/// assert_eq!(sheet.lines[1].energy.uj, 100_000_000);
/// assert_eq!(sheet.account(Account::Idle).uj, 750_000_000);
/// assert_eq!(sheet.balance_uj(), 1_500_000_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`crate::AttributionErrorKind::InvalidInput`] naming the meter, consumer and interval for a
/// non-positive interval, ragged series, negative or infinite energy, usage, floor or
/// reservation, a consumer pointing outside `workloads`, a meter listed twice, or a
/// confidence outside `(0, 1)`; [`crate::AttributionErrorKind::Overflow`] when a total exceeds
/// `u64` microjoules.
pub fn settle(input: &LedgerInput, opts: &LedgerOptions) -> Result<Ledger, AttributionError> {
    let n = input.meters.first().map_or(0, |m| m.energy_j.len());
    let window = check_window(input, opts, n)?;
    // Cannot fail for a confidence `check_window` accepted.
    let z = quantile(opts.confidence)?;
    let dt = input.interval_ns as f64 / 1e9;
    let policy: &dyn AttributionPolicy = opts.policy.as_ref();
    let mut seen = HashSet::new();
    let twice = input.meters.iter().any(|m| !seen.insert(&m.meter));
    // Each meter is checked just before it is settled, on the same thread, so the settlement
    // reads its usage from cache rather than from memory a second time. A meter that fails
    // its checks is not settled; the error reported is the one `meter_error` finds, as if
    // every meter had been checked before any was settled.
    let settled: Vec<Result<MeterSheet, Failure>> = if twice {
        Vec::new()
    } else {
        input
            .meters
            .par_iter()
            .map(|m| {
                validate(m, n, input.workloads.len()).map_err(Failure::Invalid)?;
                settle_meter(m, n, dt, z, policy, opts).map_err(Failure::Settle)
            })
            .collect()
    };
    if (twice
        || settled
            .iter()
            .any(|r| matches!(r, Err(Failure::Invalid(_)))))
        && let Some(e) = meter_error(input, n)
    {
        return Err(e);
    }
    let meters = settled
        .into_iter()
        .map(|r| {
            r.map_err(|f| match f {
                Failure::Invalid(e) | Failure::Settle(e) => e,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Ledger {
        window,
        policy: policy.name().to_string(),
        confidence: opts.confidence,
        workloads: input.workloads.clone(),
        meters,
    })
}

/// Checks the grid and the options, and returns the window the `n` intervals cover.
fn check_window(
    input: &LedgerInput,
    opts: &LedgerOptions,
    n: usize,
) -> Result<TimeRange, AttributionError> {
    if input.interval_ns <= 0 {
        return Err(AttributionError::invalid(
            "input",
            format!("interval_ns must be positive, got {}", input.interval_ns),
        ));
    }
    if !(opts.confidence > 0.0 && opts.confidence < 1.0) {
        return Err(AttributionError::invalid(
            "options",
            format!("confidence must be in (0, 1), got {}", opts.confidence),
        ));
    }
    if !(opts.alignment_s.is_finite() && opts.alignment_s >= 0.0) {
        return Err(AttributionError::invalid(
            "options",
            format!(
                "alignment_s must be finite and ≥ 0, got {}",
                opts.alignment_s
            ),
        ));
    }
    let end = input
        .start
        .as_nanos()
        .checked_add(input.interval_ns.saturating_mul(n as i64))
        .ok_or_else(|| AttributionError::invalid("input", "window end overflows"))?;
    TimeRange::try_new(input.start, Timestamp::from_nanos(end))
        .map_err(|e| AttributionError::invalid("input", e.reason()))
}

/// Why a meter was not settled.
enum Failure {
    /// Its input failed the checks.
    Invalid(AttributionError),
    /// Its settlement failed (a total overflowed).
    Settle(AttributionError),
}

/// Checks every meter, in parallel, and returns the error a scan in meter order meets first:
/// at the first meter listed twice or invalid, the repetition before the meter's own checks.
fn meter_error(input: &LedgerInput, n: usize) -> Option<AttributionError> {
    let mut seen = HashSet::new();
    let twice = input.meters.iter().position(|m| !seen.insert(&m.meter));
    let invalid = input.meters[..twice.unwrap_or(input.meters.len())]
        .par_iter()
        .enumerate()
        .filter_map(|(k, m)| validate(m, n, input.workloads.len()).err().map(|e| (k, e)))
        .min_by_key(|(k, _)| *k);
    match (invalid, twice) {
        (Some((_, e)), _) => Some(e),
        (None, Some(k)) => Some(AttributionError::invalid(
            format!("meter {}", input.meters[k].meter),
            "meter listed twice",
        )),
        (None, None) => None,
    }
}

/// The first usage in `xs` that is negative or infinite (NaN is allowed: unknown), checked a
/// block at a time with float comparisons and no early exit inside the block, so the check
/// vectorizes.
fn first_bad_usage(xs: &[f64]) -> Option<usize> {
    const BLOCK: usize = 512;
    let bad = |x: f64| (x < 0.0) | (x == f64::INFINITY);
    let block = xs
        .chunks(BLOCK)
        .position(|c| c.iter().map(|&x| u64::from(bad(x))).sum::<u64>() != 0)?;
    let start = block * BLOCK;
    xs[start..].iter().position(|&x| bad(x)).map(|i| start + i)
}

fn validate(m: &MeterInput, n: usize, workloads: usize) -> Result<(), AttributionError> {
    let place = format!("meter {}", m.meter);
    let len_err = |what: &str, got: usize| {
        AttributionError::invalid(&place, format!("{got} {what} intervals, expected {n}"))
    };
    if m.energy_j.len() != n {
        return Err(len_err("energy", m.energy_j.len()));
    }
    if m.idle_w.len() != n {
        return Err(len_err("idle floor", m.idle_w.len()));
    }
    if let Some(s) = &m.sigma_j {
        if s.len() != n {
            return Err(len_err("sigma", s.len()));
        }
        if let Some(i) = s.iter().position(|x| x.is_infinite() || *x < 0.0) {
            return Err(AttributionError::invalid(
                format!("{place}, interval {i}"),
                format!("sigma {} J is negative or infinite", s[i]),
            ));
        }
    }
    for (i, e) in m.energy_j.iter().enumerate() {
        if e.is_infinite() || *e < 0.0 || *e > 1e12 {
            return Err(AttributionError::invalid(
                format!("{place}, interval {i}"),
                format!("energy {e} J is not a plausible measurement"),
            ));
        }
        let f = m.idle_w[i];
        if !(f.is_finite() && f >= 0.0) {
            return Err(AttributionError::invalid(
                format!("{place}, interval {i}"),
                format!("idle floor {f} W is negative or not finite"),
            ));
        }
    }
    for (what, v) in [
        ("rel_sigma", m.rel_sigma),
        ("idle_sigma_w", m.idle_sigma_w),
        ("key_rel_sigma", m.key_rel_sigma),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(AttributionError::invalid(
                &place,
                format!("{what} {v} is negative or not finite"),
            ));
        }
    }
    if m.resources.is_empty() {
        return Err(AttributionError::invalid(&place, "no resources"));
    }
    for (r, res) in m.resources.iter().enumerate() {
        if !(res.capacity.is_finite() && res.capacity > 0.0) {
            return Err(AttributionError::invalid(
                format!("{place}, resource {r}"),
                format!("capacity {} must be positive", res.capacity),
            ));
        }
        if let KeyCurve::Linear { watts_at_full } = res.curve
            && !(watts_at_full.is_finite() && watts_at_full >= 0.0)
        {
            return Err(AttributionError::invalid(
                format!("{place}, resource {r}"),
                format!("watts_at_full {watts_at_full} must be finite and ≥ 0"),
            ));
        }
    }
    let check_usage = |who: &str, usage: &[Vec<f64>]| -> Result<(), AttributionError> {
        if usage.len() != m.resources.len() {
            return Err(AttributionError::invalid(
                format!("{place}, {who}"),
                format!(
                    "usage for {} resources, the meter has {}",
                    usage.len(),
                    m.resources.len()
                ),
            ));
        }
        for u in usage {
            if u.len() != n {
                return Err(AttributionError::invalid(
                    format!("{place}, {who}"),
                    format!("{} usage intervals, expected {n}", u.len()),
                ));
            }
            if let Some(i) = first_bad_usage(u) {
                return Err(AttributionError::invalid(
                    format!("{place}, {who}, interval {i}"),
                    format!("usage {} is negative or infinite", u[i]),
                ));
            }
        }
        Ok(())
    };
    for (k, c) in m.consumers.iter().enumerate() {
        let who = format!("consumer {k}");
        if c.workload >= workloads {
            return Err(AttributionError::invalid(
                format!("{place}, {who}"),
                format!("workload index {} out of {workloads}", c.workload),
            ));
        }
        if !(c.reservation.is_finite() && (0.0..=1.0).contains(&c.reservation)) {
            return Err(AttributionError::invalid(
                format!("{place}, {who}"),
                format!("reservation {} is outside [0, 1]", c.reservation),
            ));
        }
        check_usage(&who, &c.usage)?;
        if let Some(s) = &c.signature
            && (s.len() != m.resources.len() || s.iter().any(|x| !(x.is_finite() && *x >= 0.0)))
        {
            return Err(AttributionError::invalid(
                format!("{place}, {who}"),
                "signature needs one finite, non-negative multiplier per resource",
            ));
        }
    }
    if let Some(s) = &m.system {
        check_usage("system", s)?;
    }
    Ok(())
}
