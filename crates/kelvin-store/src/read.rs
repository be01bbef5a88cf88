//! [`SeriesRead`]: the read side that [`crate::Store`] and [`crate::MemStore`] share, and the
//! grid queries every implementation gets from the query kernels.

use std::ops::Range;

use kelvin_model::{EntityId, Semantics, SensorKind};

use crate::query::resample::resample_vec;
use crate::{
    CounterIncrease, Grid, ResampleOptions, SeriesData, SeriesKey, StoreError, StoreErrorKind,
};

/// Reading series from a store: two required methods — which series there are, and the
/// samples that determine one of them over a span — and the grid queries built on them.
///
/// The grid queries ([`SeriesRead::resample`], [`SeriesRead::integrate`],
/// [`SeriesRead::increase`], [`SeriesRead::rate`]) read what
/// [`SeriesRead::read_covering`] returns for the grid's span and hand it to the query kernels
/// ([`crate::resample`], [`crate::integrate`], [`crate::increase`], [`crate::rate`]), so every
/// implementation answers them with the same code and the same numbers. [`crate::Store`]
/// implements it for the durable columnar store, [`crate::MemStore`] as the simple reference
/// the store is tested against; an embedder can implement it over its own storage.
///
/// What the samples do not determine — before the first sample, after the last, inside a gap
/// longer than [`ResampleOptions::max_gap_ns`] — is NaN, never a guessed zero.
///
/// ```
/// use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};
/// use kelvin_store::{Grid, MemStore, ResampleOptions, SeriesRead, Store, StoreError, StoreOptions};
///
/// /// Joules per interval of every power series of `host`, whatever the store.
/// fn energy(
///     store: &impl SeriesRead,
///     host: &EntityId,
///     grid: &Grid,
/// ) -> Result<Vec<Vec<f64>>, StoreError> {
///     store
///         .select_keys(Some(host), Some(SensorKind::Power))
///         .into_iter()
///         .map(|k| store.integrate(k, grid, &ResampleOptions::default()))
///         .collect()
/// }
///
/// let host = EntityId::new("host-01")?;
/// let (mut mem, mut store) = (MemStore::new(), Store::in_memory(StoreOptions::default()));
/// for s in (0..=120).step_by(15) {
///     let r = Reading::new(host.clone(), "psu1", SensorKind::Power, 250.0, Timestamp::from_secs(s));
///     mem.insert(&r);
///     store.insert(&r)?;
/// }
/// let grid = Grid::try_new(Timestamp::from_secs(0), 60_000_000_000, 3)?;
/// assert_eq!(energy(&mem, &host, &grid)?, [[15_000.0, 15_000.0]]);
/// assert_eq!(energy(&store, &host, &grid)?, energy(&mem, &host, &grid)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait SeriesRead {
    /// The keys of the series of `entity` (all entities when `None`) measuring `kind` (all
    /// kinds when `None`), in key order.
    fn select_keys(&self, entity: Option<&EntityId>, kind: Option<SensorKind>) -> Vec<&SeriesKey>;

    /// The samples that determine series `key` on `[start_ns, end_ns]` (both inclusive), as
    /// columns sorted by strictly increasing time, one sample per instant (the last write
    /// wins): every sample inside the span, the last one at or before `start_ns` and the first
    /// one at or after `end_ns` (when there are such), and nothing further out.
    ///
    /// # Errors
    /// [`StoreErrorKind::UnknownSeries`] when there is no series `key`; an implementation that
    /// reads from disk may fail with its own kinds ([`crate::Store`]:
    /// [`StoreErrorKind::Corrupt`] for a block that fails its checksum).
    fn read_covering(
        &self,
        key: &SeriesKey,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<SeriesData, StoreError>;

    /// The value of the series at each grid point (`grid.len()` values).
    ///
    /// A point exactly at a sample's time has that sample's value. A point between two samples
    /// is filled per [`ResampleOptions::fill`], unless the samples are more than
    /// [`ResampleOptions::max_gap_ns`] apart. A point before the first sample, after the last,
    /// or inside a gap is NaN. Meant for gauges; on a counter it gives the raw counter values
    /// (use [`SeriesRead::increase`] for what was counted).
    ///
    /// # Errors
    /// As [`SeriesRead::read_covering`] ([`StoreErrorKind::UnknownSeries`] when there is no
    /// series `key`).
    ///
    /// ```
    /// use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};
    /// use kelvin_store::{Fill, Grid, MemStore, ResampleOptions, SeriesKey, SeriesRead};
    ///
    /// let h = EntityId::new("h1")?;
    /// let mut store = MemStore::new();
    /// for (s, w) in [(0, 200.0), (15, 260.0)] {
    ///     store.insert(&Reading::new(h.clone(), "psu", SensorKind::Power, w, Timestamp::from_secs(s)));
    /// }
    /// let key = SeriesKey::new(h, "psu", SensorKind::Power);
    /// let grid = Grid::try_new(Timestamp::from_secs(0), 5_000_000_000, 5)?; // 0, 5, 10, 15, 20 s
    /// let linear = store.resample(&key, &grid, &ResampleOptions::default())?;
    /// assert_eq!(linear[..4], [200.0, 220.0, 240.0, 260.0]);
    /// assert!(linear[4].is_nan(), "after the last sample");
    /// let locf = ResampleOptions::default().with_fill(Fill::Locf);
    /// assert_eq!(store.resample(&key, &grid, &locf)?[..4], [200.0, 200.0, 200.0, 260.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn resample(
        &self,
        key: &SeriesKey,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<Vec<f64>, StoreError> {
        let d = read_grid(self, key, grid)?;
        resample_vec(&d.ts, &d.values, grid, opts)
    }

    /// The integral of a gauge over each grid interval (`grid.intervals()` values), in the
    /// value's unit × seconds: watts give joules.
    ///
    /// The signal is the one [`SeriesRead::resample`] describes: linear between samples
    /// ([`crate::Fill::Linear`]) or a step function holding each value until the next sample
    /// ([`crate::Fill::Locf`]). The integral is exact over the samples inside each interval
    /// (not a trapezoid over the grid points), so samples need not align with the grid. An
    /// interval that is not fully covered — part of it before the first sample, after the
    /// last, or inside a gap longer than [`ResampleOptions::max_gap_ns`] — is NaN rather than a
    /// partial sum.
    ///
    /// # Errors
    /// As [`SeriesRead::read_covering`]; [`StoreErrorKind::NotAGauge`] when `key.kind` is a
    /// counter (use [`SeriesRead::increase`]).
    ///
    /// ```
    /// use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};
    /// use kelvin_store::{Grid, MemStore, ResampleOptions, SeriesKey, SeriesRead};
    ///
    /// let h = EntityId::new("h1")?;
    /// let mut store = MemStore::new();
    /// for s in (0..=60).step_by(15) {
    ///     store.insert(&Reading::new(h.clone(), "psu", SensorKind::Power, 200.0, Timestamp::from_secs(s)));
    /// }
    /// let key = SeriesKey::new(h, "psu", SensorKind::Power);
    /// let minute = Grid::try_new(Timestamp::from_secs(0), 60_000_000_000, 2)?;
    /// assert_eq!(store.integrate(&key, &minute, &ResampleOptions::default())?, [12_000.0]); // J
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn integrate(
        &self,
        key: &SeriesKey,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<Vec<f64>, StoreError> {
        let d = read_grid(self, key, grid)?;
        if key.kind.semantics() == Semantics::Counter {
            return Err(StoreError::new(
                StoreErrorKind::NotAGauge,
                format!("{key} is a counter; integrate needs a gauge (use increase)"),
            ));
        }
        crate::integrate(&d.ts, &d.values, grid, opts)
    }

    /// The increase of a counter over each grid interval (`grid.intervals()` values), like
    /// Prometheus' `increase` but exact rather than extrapolated; see [`crate::increase`] for
    /// how resets and gaps are handled. [`ResampleOptions::fill`] is ignored.
    ///
    /// # Errors
    /// As [`SeriesRead::read_covering`]; [`StoreErrorKind::NotACounter`] when `key.kind` is a
    /// gauge.
    ///
    /// ```
    /// use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};
    /// use kelvin_store::{Grid, MemStore, ResampleOptions, SeriesKey, SeriesRead};
    ///
    /// let h = EntityId::new("h1")?;
    /// let mut store = MemStore::new();
    /// // CPU seconds; the exporter restarts between 30 s and 45 s.
    /// for (s, v) in [(0, 1000.0), (15, 1030.0), (30, 1060.0), (45, 12.0), (60, 42.0)] {
    ///     store.insert(&Reading::new(h.clone(), "cpu", SensorKind::CpuTime, v, Timestamp::from_secs(s)));
    /// }
    /// let key = SeriesKey::new(h, "cpu", SensorKind::CpuTime);
    /// let grid = Grid::try_new(Timestamp::from_secs(0), 30_000_000_000, 3)?;
    /// let inc = store.increase(&key, &grid, &ResampleOptions::default())?;
    /// assert_eq!(inc.values, [60.0, 42.0]);
    /// assert_eq!(inc.resets, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn increase(
        &self,
        key: &SeriesKey,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<CounterIncrease, StoreError> {
        let d = read_grid(self, key, grid)?;
        expect_counter(key, "increase")?;
        crate::increase(&d.ts, &d.values, grid, opts)
    }

    /// The summed [`SeriesRead::increase`] of several counters (the containers of one
    /// workload), interval by interval: an interval is NaN only when no counter covers it,
    /// otherwise the sum of those that do. `resets` counts the resets of all of them. With no
    /// keys, every interval is NaN.
    ///
    /// # Errors
    /// As [`SeriesRead::increase`], for the first key that fails.
    ///
    /// ```
    /// use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};
    /// use kelvin_store::{Grid, MemStore, ResampleOptions, SeriesKey, SeriesRead};
    ///
    /// let w = EntityId::new("w1")?;
    /// let mut store = MemStore::new();
    /// for (c, s, v) in [("a", 0, 0.0), ("a", 60, 30.0), ("b", 30, 5.0), ("b", 60, 15.0)] {
    ///     store.insert(&Reading::new(w.clone(), c, SensorKind::CpuTime, v, Timestamp::from_secs(s)));
    /// }
    /// let keys: Vec<SeriesKey> = ["a", "b"].map(|c| SeriesKey::new(w.clone(), c, SensorKind::CpuTime)).into();
    /// let grid = Grid::try_new(Timestamp::from_secs(0), 30_000_000_000, 3)?;
    /// let sum = store.increase_sum(keys.iter(), &grid, &ResampleOptions::default())?;
    /// assert_eq!(sum.values, [15.0, 25.0]); // b covers only the second interval
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn increase_sum<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k SeriesKey>,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<CounterIncrease, StoreError>
    where
        Self: Sized,
    {
        let mut sum = CounterIncrease {
            values: vec![f64::NAN; grid.intervals()],
            resets: 0,
        };
        for key in keys {
            let inc = self.increase(key, grid, opts)?;
            sum.resets += inc.resets;
            for (s, v) in sum.values.iter_mut().zip(inc.values) {
                *s = match (s.is_nan(), v.is_nan()) {
                    (true, _) => v,
                    (false, true) => *s,
                    (false, false) => *s + v,
                };
            }
        }
        Ok(sum)
    }

    /// The per-second rate of a counter over each grid interval: [`SeriesRead::increase`]
    /// divided by the grid step in seconds (joules give watts).
    ///
    /// # Errors
    /// As [`SeriesRead::increase`].
    ///
    /// ```
    /// use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};
    /// use kelvin_store::{Grid, MemStore, ResampleOptions, SeriesKey, SeriesRead};
    ///
    /// let h = EntityId::new("h1")?;
    /// let mut store = MemStore::new();
    /// for (s, j) in [(0, 1000.0), (30, 7000.0), (60, 13_000.0)] {
    ///     store.insert(&Reading::new(h.clone(), "rapl", SensorKind::Energy, j, Timestamp::from_secs(s)));
    /// }
    /// let key = SeriesKey::new(h, "rapl", SensorKind::Energy);
    /// let grid = Grid::try_new(Timestamp::from_secs(0), 30_000_000_000, 3)?;
    /// assert_eq!(store.rate(&key, &grid, &ResampleOptions::default())?.values, [200.0, 200.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn rate(
        &self,
        key: &SeriesKey,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<CounterIncrease, StoreError> {
        let d = read_grid(self, key, grid)?;
        expect_counter(key, "rate")?;
        crate::rate(&d.ts, &d.values, grid, opts)
    }
}

/// What a grid query reads: the samples that determine `key` on the grid's span.
fn read_grid<R: SeriesRead + ?Sized>(
    r: &R,
    key: &SeriesKey,
    grid: &Grid,
) -> Result<SeriesData, StoreError> {
    r.read_covering(key, grid.start().as_nanos(), grid.end().as_nanos())
}

fn expect_counter(key: &SeriesKey, what: &str) -> Result<(), StoreError> {
    if key.kind.semantics() == Semantics::Counter {
        return Ok(());
    }
    Err(StoreError::new(
        StoreErrorKind::NotACounter,
        format!("{key} is a gauge; {what} needs a counter (use integrate or resample)"),
    ))
}

/// The error for a key a store does not hold.
pub(crate) fn unknown_key(key: &SeriesKey) -> StoreError {
    StoreError::new(
        StoreErrorKind::UnknownSeries,
        format!("no series {key} in the store"),
    )
}

/// The indexes of the items (sorted by strictly increasing `ts`) that
/// [`SeriesRead::read_covering`] returns for `[lo, hi]`: from the last at or before `lo` to the
/// first at or after `hi`, clipped to the items there are.
pub(crate) fn covering<T>(items: &[T], ts: impl Fn(&T) -> i64, lo: i64, hi: i64) -> Range<usize> {
    let a = items.partition_point(|x| ts(x) <= lo).saturating_sub(1);
    let b = (items.partition_point(|x| ts(x) < hi) + 1).min(items.len());
    a..b.max(a)
}
