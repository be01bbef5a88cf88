use kelvin_model::{TimeRange, Timestamp};

use crate::{StoreError, StoreErrorKind};

/// Evenly spaced points in time: `start + i * step` for `i` in `0..len`.
///
/// Interval `i` is `[point(i), point(i + 1))`, so a grid of `len` points has `len - 1`
/// intervals. [`crate::SeriesRead::resample`] returns one value per point;
/// [`crate::SeriesRead::integrate`] and [`crate::SeriesRead::increase`] return one value per
/// interval.
///
/// A grid is validated once, by [`Grid::try_new`] or [`Grid::covering`]: the step is positive,
/// there are at least two and at most [`Grid::MAX_POINTS`] points, and every point is a
/// representable [`Timestamp`]. Every query over a grid allocates per point, so the bound
/// holds before anything is allocated: a window stretched by one wrong timestamp is an error,
/// not an abort.
///
/// ```
/// use kelvin_model::Timestamp;
/// use kelvin_store::Grid;
///
/// // One hour in one-minute intervals.
/// let grid = Grid::try_new(Timestamp::from_secs(1_700_000_000), 60_000_000_000, 61)?;
/// assert_eq!(grid.intervals(), 60);
/// assert_eq!(grid.point(60), Timestamp::from_secs(1_700_003_600));
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grid {
    start: Timestamp,
    step_ns: i64,
    len: usize,
}

impl Grid {
    /// Most points a grid may have: 2^24, a year at two-second steps; one series over it is
    /// 128 MiB of `f64`.
    pub const MAX_POINTS: usize = 1 << 24;

    /// A grid of `len` points `step_ns` nanoseconds apart, the first at `start`.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidGrid`] when `step_ns <= 0`, `len < 2`, `len` is over
    /// [`Grid::MAX_POINTS`], or the last point would overflow an `i64` of nanoseconds.
    pub fn try_new(start: Timestamp, step_ns: i64, len: usize) -> Result<Grid, StoreError> {
        if step_ns <= 0 {
            return Err(StoreError::new(
                StoreErrorKind::InvalidGrid,
                format!("grid step must be positive, got {step_ns} ns"),
            ));
        }
        if len < 2 {
            return Err(StoreError::new(
                StoreErrorKind::InvalidGrid,
                format!("a grid needs at least 2 points (1 interval), got {len}"),
            ));
        }
        if len > Self::MAX_POINTS {
            return Err(StoreError::new(
                StoreErrorKind::InvalidGrid,
                format!(
                    "a grid of {len} points every {step_ns} ns is more than the {} allowed \
                     (Grid::MAX_POINTS): ask for a shorter range or a longer step",
                    Self::MAX_POINTS
                ),
            ));
        }
        // In i128, (len - 1) * step cannot overflow (both factors are below 2^64), so only the
        // last point needs checking.
        let last = i128::from(start.as_nanos()) + (len - 1) as i128 * i128::from(step_ns);
        if i64::try_from(last).is_err() {
            return Err(StoreError::new(
                StoreErrorKind::InvalidGrid,
                format!(
                    "a grid of {len} points every {step_ns} ns from {start} overflows i64 nanoseconds"
                ),
            ));
        }
        Ok(Grid {
            start,
            step_ns,
            len,
        })
    }

    /// The grid `range.start(), range.start() + step_ns, …` up to the last point that is not
    /// after `range.end()`.
    ///
    /// The end is included when it falls on the grid, so a one-hour range with a one-minute step
    /// gives 61 points and 60 intervals that tile the range exactly; otherwise the tail shorter
    /// than one step is left out.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidGrid`] when `step_ns <= 0`, the range is shorter than one
    /// step (fewer than two points) or needs more than [`Grid::MAX_POINTS`].
    ///
    /// ```
    /// use kelvin_model::{TimeRange, Timestamp};
    /// use kelvin_store::Grid;
    ///
    /// let hour = TimeRange::try_new(Timestamp::from_secs(0), Timestamp::from_secs(3600))?;
    /// let grid = Grid::covering(hour, 60_000_000_000)?;
    /// assert_eq!(grid.len(), 61);
    /// assert_eq!(grid.point(grid.len() - 1), hour.end());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn covering(range: TimeRange, step_ns: i64) -> Result<Grid, StoreError> {
        if step_ns <= 0 {
            return Err(StoreError::new(
                StoreErrorKind::InvalidGrid,
                format!("grid step must be positive, got {step_ns} ns"),
            ));
        }
        let span = i128::from(range.end().as_nanos()) - i128::from(range.start().as_nanos());
        let points = span / i128::from(step_ns) + 1;
        if points < 2 {
            return Err(StoreError::new(
                StoreErrorKind::InvalidGrid,
                format!(
                    "range {}..{} is shorter than one step of {step_ns} ns",
                    range.start(),
                    range.end()
                ),
            ));
        }
        let len = usize::try_from(points)
            .ok()
            .filter(|&n| n <= Self::MAX_POINTS)
            .ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::InvalidGrid,
                    format!(
                        "range {} to {} every {step_ns} ns is {points} points, more than the {} \
                         allowed (Grid::MAX_POINTS): ask for a shorter range or a longer step",
                        range.start().to_rfc3339(),
                        range.end().to_rfc3339(),
                        Self::MAX_POINTS
                    ),
                )
            })?;
        Grid::try_new(range.start(), step_ns, len)
    }

    /// The first point.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The last point.
    pub fn end(&self) -> Timestamp {
        self.point(self.len - 1)
    }

    /// Distance between consecutive points, in nanoseconds (always positive).
    pub fn step_ns(&self) -> i64 {
        self.step_ns
    }

    /// Number of points (at least 2).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: a valid grid has at least two points.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of intervals, `len() - 1` (at least 1).
    pub fn intervals(&self) -> usize {
        self.len - 1
    }

    /// Point `i`, `start + i * step`.
    ///
    /// # Panics
    /// When `i >= len()`, like slice indexing.
    pub fn point(&self, i: usize) -> Timestamp {
        assert!(
            i < self.len,
            "grid point {i} out of range for a grid of {} points",
            self.len
        );
        // Validated at construction: every point fits in an i64. The product alone may not (a
        // step near i64::MAX from a negative start), so it is computed in i128.
        let ns = i128::from(self.start.as_nanos()) + i as i128 * i128::from(self.step_ns);
        Timestamp::from_nanos(ns as i64)
    }

    /// Every point, in order.
    pub fn points(&self) -> impl ExactSizeIterator<Item = Timestamp> + '_ {
        (0..self.len).map(|i| self.point(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60 * Timestamp::NANOS_PER_SEC;

    #[test]
    fn grids_larger_than_the_bound_are_refused_before_allocating() {
        // One sample a thousand years ahead stretched a 60 s grid to 5e9 points.
        let range = TimeRange::try_new(
            Timestamp::from_secs(1_793_606_400),
            Timestamp::from_nanos(i64::MAX),
        )
        .unwrap();
        let e = Grid::covering(range, MIN).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::InvalidGrid);
        assert!(e.to_string().contains("Grid::MAX_POINTS"), "{e}");
        let e = Grid::try_new(Timestamp::from_secs(0), 1, Grid::MAX_POINTS + 1).unwrap_err();
        assert!(e.to_string().contains("Grid::MAX_POINTS"), "{e}");
        assert!(Grid::try_new(Timestamp::from_secs(0), 1, Grid::MAX_POINTS).is_ok());
    }

    #[test]
    fn points_and_intervals() {
        let g = Grid::try_new(Timestamp::from_secs(100), 15 * Timestamp::NANOS_PER_SEC, 5).unwrap();
        assert_eq!(g.len(), 5);
        assert!(!g.is_empty());
        assert_eq!(g.intervals(), 4);
        assert_eq!(g.start(), Timestamp::from_secs(100));
        assert_eq!(g.end(), Timestamp::from_secs(160));
        let pts: Vec<i64> = g
            .points()
            .map(|t| t.as_nanos() / Timestamp::NANOS_PER_SEC)
            .collect();
        assert_eq!(pts, [100, 115, 130, 145, 160]);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn point_past_the_end_panics() {
        let g = Grid::try_new(Timestamp::from_secs(0), MIN, 2).unwrap();
        let _ = g.point(2);
    }

    #[test]
    fn invalid_grids_are_typed_errors() {
        let t = Timestamp::from_secs(0);
        for (step, len) in [(0, 10), (-MIN, 10), (MIN, 1), (MIN, 0)] {
            let e = Grid::try_new(t, step, len).unwrap_err();
            assert_eq!(
                e.kind(),
                StoreErrorKind::InvalidGrid,
                "step {step} len {len}"
            );
        }
        let e = Grid::try_new(Timestamp::from_nanos(i64::MAX - MIN), MIN, 3).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::InvalidGrid);
        assert!(e.reason().contains("overflows"), "{e}");
        // The largest grid that still fits is fine.
        let g = Grid::try_new(Timestamp::from_nanos(i64::MAX - MIN), MIN, 2).unwrap();
        assert_eq!(g.end().as_nanos(), i64::MAX);
    }

    #[test]
    fn covering_includes_an_end_on_the_grid() {
        let hour = TimeRange::try_new(Timestamp::from_secs(0), Timestamp::from_secs(3600)).unwrap();
        let g = Grid::covering(hour, MIN).unwrap();
        assert_eq!((g.len(), g.intervals()), (61, 60));
        assert_eq!(g.end(), hour.end());
    }

    #[test]
    fn covering_drops_a_partial_tail() {
        let r = TimeRange::try_new(Timestamp::from_secs(0), Timestamp::from_secs(150)).unwrap();
        let g = Grid::covering(r, MIN).unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g.end(), Timestamp::from_secs(120));
    }

    #[test]
    fn covering_rejects_short_ranges_and_bad_steps() {
        let r = TimeRange::try_new(Timestamp::from_secs(0), Timestamp::from_secs(59)).unwrap();
        assert_eq!(
            Grid::covering(r, MIN).unwrap_err().kind(),
            StoreErrorKind::InvalidGrid
        );
        assert_eq!(
            Grid::covering(r, 0).unwrap_err().kind(),
            StoreErrorKind::InvalidGrid
        );
        let whole = TimeRange::try_new(
            Timestamp::from_nanos(i64::MIN),
            Timestamp::from_nanos(i64::MAX),
        )
        .unwrap();
        let g = Grid::covering(whole, i64::MAX).unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g.end(), Timestamp::from_nanos(i64::MAX - 1));
    }
}
