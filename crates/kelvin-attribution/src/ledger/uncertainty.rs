//! The intervals around every amount: four error terms accumulated per line and account as
//! intervals are settled (docs/attribution.md, "Uncertainty").
//!
//! - the meter's error, shared by every line in proportion to its energy, added linearly over
//!   intervals (a calibration error is systematic);
//! - the idle floor's error, which moves energy between static and dynamic parts, linear;
//! - the key's error, independent per interval, in quadrature, zero for a line holding the
//!   whole dynamic part;
//! - sample alignment: a fraction of the change of a line's energy between neighbouring
//!   intervals, uniform, in quadrature.

use statrs::distribution::{ContinuousCDF, Normal};

use super::types::Amount;
use crate::AttributionError;

/// The two-sided normal quantile of `confidence` (1.96 at 0.95).
pub(super) fn quantile(confidence: f64) -> Result<f64, AttributionError> {
    Ok(Normal::new(0.0, 1.0)
        .map_err(|e| AttributionError::invalid("options", e.to_string()))?
        .inverse_cdf(0.5 + confidence / 2.0))
}

/// Per-line (and per-account) accumulators.
#[derive(Default, Clone)]
pub(super) struct Acc {
    pub(super) static_uj: u64,
    pub(super) dynamic_uj: u64,
    /// Systematic meter error, joules (correlated across intervals: added linearly).
    meas_j: f64,
    /// Systematic floor error, joules (linear).
    floor_j: f64,
    /// Independent errors (model key, alignment), joules² (quadrature).
    var_j2: f64,
    /// Last interval's energy, joules (for the alignment term).
    last_j: f64,
}

impl Acc {
    /// `uj` with its interval at `z` standard deviations.
    pub(super) fn amount(&self, z: f64, uj: u64) -> Amount {
        let sigma = (self.meas_j.powi(2) + self.floor_j.powi(2) + self.var_j2).sqrt();
        let half = z * sigma * 1e6;
        Amount {
            uj,
            lo_uj: (uj as f64 - half).max(0.0).round() as u64,
            hi_uj: (uj as f64 + half).round() as u64,
        }
    }
}

/// A measured total with its interval: the meter's errors added linearly.
pub(super) fn measured_amount(measured: u64, meas_sigma_j: f64, z: f64) -> Amount {
    let half = z * meas_sigma_j * 1e6;
    Amount {
        uj: measured,
        lo_uj: (measured as f64 - half).max(0.0).round() as u64,
        hi_uj: (measured as f64 + half).round() as u64,
    }
}

/// One measured interval of a meter, as split.
pub(super) struct Settled<'a> {
    /// Interval index.
    pub(super) index: usize,
    /// Measured, floor and dynamic energy, µJ.
    pub(super) e_uj: u64,
    pub(super) f_uj: u64,
    pub(super) d_uj: u64,
    /// The meter's 1-σ error in the interval, joules.
    pub(super) sigma_e: f64,
    /// What the dynamic split covered, µJ (`d_uj`, or `e_uj` when the floor is absorbed).
    pub(super) dyn_total: u64,
    /// Whether the floor was absorbed (then it has no error of its own).
    pub(super) absorbed: bool,
    /// The dynamic key's weights (consumers, then system).
    pub(super) dyn_w: &'a [f64],
    /// Per line then account: the static and dynamic µJ of the interval.
    pub(super) line_stat: &'a [u64],
    pub(super) line_dyn: &'a [u64],
}

/// The meter's constants for the error terms.
pub(super) struct ErrorModel {
    /// 1-σ of the idle floor, watts.
    pub(super) idle_sigma_w: f64,
    /// Relative variance of the dynamic key.
    pub(super) key_var: f64,
    /// Variance factor of misalignment, `(alignment / dt)² / 3`.
    pub(super) align_var: f64,
    /// Interval length, seconds.
    pub(super) dt: f64,
}

/// `x as f64`, through `i64` (one instruction on baseline x86-64, where `u64` takes several)
/// for the amounts of one interval, which are below 2^63 (at most 10^18 µJ).
#[inline(always)]
fn uj_f64(x: u64) -> f64 {
    if x <= i64::MAX as u64 {
        x as i64 as f64
    } else {
        x as f64
    }
}

/// Adds an interval's split to the accumulators (and to the per-interval matrix when kept),
/// with its error terms. Lines with nothing now and nothing before add nothing and are skipped.
#[inline(always)]
pub(super) fn accumulate(
    acc: &mut [Acc],
    s: &Settled<'_>,
    em: &ErrorModel,
    per_interval: Option<&mut ndarray::Array2<u64>>,
) {
    // Per-interval factors, hoisted.
    let e_j = uj_f64(s.e_uj) * 1e-6;
    let f_j = uj_f64(s.f_uj) * 1e-6;
    let d_j = uj_f64(s.d_uj) * 1e-6;
    let meas_per_j = if e_j > 0.0 { s.sigma_e / e_j } else { 0.0 };
    let sigma_floor_j = if s.absorbed {
        0.0
    } else {
        (em.idle_sigma_w * em.dt).min(e_j)
    };
    // A higher floor moves energy from dynamic lines to static ones.
    let floor_stat = if f_j > 0.0 { sigma_floor_j / f_j } else { 0.0 };
    let floor_dyn = if d_j > 0.0 { sigma_floor_j / d_j } else { 0.0 };
    let keyed = s.dyn_w.iter().any(|w| *w > 0.0);
    let inv_dyn_total = 1.0 / uj_f64(s.dyn_total.max(1));
    let mut per_interval = per_interval;
    for (l, a) in acc.iter_mut().enumerate() {
        let st = s.line_stat[l];
        let d = s.line_dyn[l];
        let tot = st + d;
        if tot == 0 && a.last_j == 0.0 {
            continue;
        }
        a.static_uj += st;
        a.dynamic_uj += d;
        if let Some(p) = per_interval.as_deref_mut() {
            p[[s.index, l]] = tot;
        }
        let tot_j = uj_f64(tot) * 1e-6;
        let d_line_j = uj_f64(d) * 1e-6;
        // The meter's error scales every line with its share.
        a.meas_j += meas_per_j * tot_j;
        a.floor_j += floor_stat * (uj_f64(st) * 1e-6) - floor_dyn * d_line_j;
        // Key error: independent per interval, zero when a line holds all of it.
        if keyed && d > 0 {
            let share = uj_f64(d) * inv_dyn_total;
            a.var_j2 += em.key_var * d_line_j * d_line_j * (1.0 - share).max(0.0);
        }
        if em.align_var > 0.0 {
            let x = tot_j - a.last_j;
            a.var_j2 += em.align_var * x * x;
        }
        a.last_j = tot_j;
    }
}
