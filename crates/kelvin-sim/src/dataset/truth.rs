//! Estimates against the dataset's ground truth: the relative error of one figure
//! ([`relative_error`], [`TruthRow::measurement_error`], [`TruthRow::policy_gap`]) and the
//! summary of many ([`ErrorSummary`]).

use super::TruthRow;

/// `(estimate − truth) / truth`, or `None` when the truth is not positive (no relative error
/// can be told against nothing).
///
/// ```
/// use kelvin_sim::dataset::relative_error;
/// assert_eq!(relative_error(110.0, 100.0), Some(0.1));
/// assert_eq!(relative_error(5.0, 0.0), None);
/// ```
pub fn relative_error(estimate: f64, truth: f64) -> Option<f64> {
    (truth > 0.0).then(|| (estimate - truth) / truth)
}

impl TruthRow {
    /// Relative error of `estimate_j` against [`TruthRow::energy_j`], the same policy (the
    /// two-part tariff) applied to the true per-second data: what measurement (sampling, noise,
    /// quantization, gaps, resets) and a calibrated idle floor cost.
    pub fn measurement_error(&self, estimate_j: f64) -> Option<f64> {
        relative_error(estimate_j, self.energy_j)
    }

    /// Relative difference of `estimate_j` against [`TruthRow::cpu_share_j`] (the whole host
    /// energy by CPU-time share, on the true data), when the dataset has it: what the choice of
    /// policy changes.
    pub fn policy_gap(&self, estimate_j: f64) -> Option<f64> {
        relative_error(estimate_j, self.cpu_share_j?)
    }
}

/// How far a set of estimates is from the truth: relative errors summarized, with the one
/// farthest off.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorSummary<K> {
    /// Number of estimates.
    pub count: usize,
    /// Energy-weighted error: `Σ |error × truth| / Σ truth`.
    pub weighted: f64,
    /// Mean of `|error|`.
    pub mean_abs: f64,
    /// The error largest in magnitude, with its sign (the last of equals).
    pub worst: f64,
    /// Whose error that is.
    pub worst_of: K,
}

impl<K> ErrorSummary<K> {
    /// The summary of `(key, relative error, truth)` triples; `None` when there are none.
    ///
    /// ```
    /// use kelvin_sim::dataset::ErrorSummary;
    /// let s = ErrorSummary::of([("h1", 0.01, 300.0), ("h2", -0.04, 100.0)]).unwrap();
    /// assert_eq!((s.count, s.worst, s.worst_of), (2, -0.04, "h2"));
    /// assert!((s.weighted - 0.0175).abs() < 1e-12);
    /// assert!((s.mean_abs - 0.025).abs() < 1e-12);
    /// ```
    pub fn of(items: impl IntoIterator<Item = (K, f64, f64)>) -> Option<ErrorSummary<K>> {
        let items: Vec<(K, f64, f64)> = items.into_iter().collect();
        let weighted = items.iter().map(|(_, e, t)| (e * t).abs()).sum::<f64>()
            / items.iter().map(|(_, _, t)| t).sum::<f64>();
        let mean_abs = items.iter().map(|(_, e, _)| e.abs()).sum::<f64>() / items.len() as f64;
        let count = items.len();
        let (worst_of, worst, _) = items
            .into_iter()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))?;
        Some(ErrorSummary {
            count,
            weighted,
            mean_abs,
            worst,
            worst_of,
        })
    }
}
