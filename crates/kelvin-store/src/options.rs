use kelvin_model::Timestamp;

/// How a gauge's value is known between two samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Fill {
    /// Last observation carried forward: the signal is a step function that holds each sample's
    /// value until the next sample.
    Locf,
    /// Linear interpolation between consecutive samples (the default).
    #[default]
    Linear,
}

/// Options of [`crate::SeriesRead::resample`], [`crate::SeriesRead::integrate`] and
/// [`crate::SeriesRead::increase`].
///
/// Built with [`ResampleOptions::default`] and the `with_*` setters:
///
/// ```
/// use kelvin_store::{Fill, ResampleOptions};
///
/// let opts = ResampleOptions::default().with_fill(Fill::Locf).with_max_gap_ns(60_000_000_000);
/// assert_eq!(opts.fill, Fill::Locf);
/// assert_eq!(ResampleOptions::default().max_gap_ns, 300_000_000_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ResampleOptions {
    /// How values are filled between samples. Default: [`Fill::Linear`]. Ignored by
    /// [`crate::SeriesRead::increase`], which always interpolates the counter linearly.
    pub fill: Fill,
    /// The longest distance between two consecutive samples, in nanoseconds, across which the
    /// signal is still considered known. Two samples further apart leave NaN between them (and
    /// any interval that reaches into that gap is NaN). Default:
    /// [`ResampleOptions::DEFAULT_MAX_GAP_NS`], five minutes. `i64::MAX` disables the check;
    /// zero or a negative value treats every pair of samples as a gap, so only the sample
    /// instants themselves are known.
    ///
    /// Independently of this setting, nothing is known before the first sample or after the last
    /// one: a point there is NaN unless it is exactly a sample's time.
    pub max_gap_ns: i64,
}

impl ResampleOptions {
    /// Default for [`ResampleOptions::max_gap_ns`]: five minutes, long enough for a missed
    /// scrape or two at the usual 15–60 s intervals.
    pub const DEFAULT_MAX_GAP_NS: i64 = 5 * 60 * Timestamp::NANOS_PER_SEC;

    /// Sets [`ResampleOptions::fill`].
    pub fn with_fill(mut self, fill: Fill) -> Self {
        self.fill = fill;
        self
    }

    /// Sets [`ResampleOptions::max_gap_ns`].
    pub fn with_max_gap_ns(mut self, max_gap_ns: i64) -> Self {
        self.max_gap_ns = max_gap_ns;
        self
    }
}

impl Default for ResampleOptions {
    fn default() -> Self {
        ResampleOptions {
            fill: Fill::Linear,
            max_gap_ns: Self::DEFAULT_MAX_GAP_NS,
        }
    }
}
