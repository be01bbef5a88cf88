//! [`MemStore`]: the simple in-memory store, one sorted `Vec` of samples per series — the
//! reference [`crate::Store`] is tested against.

use std::collections::BTreeMap;

use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};

use crate::read::{SeriesRead, covering, unknown_key};
use crate::{Sample, SeriesData, SeriesKey, StoreError};

/// What [`MemStore::insert`] did with one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InsertOutcome {
    /// The reading is later than every sample of its series (or starts a new series) and was
    /// appended, in O(1).
    Appended,
    /// The reading is earlier than the series' last sample and was inserted in time order.
    InsertedOutOfOrder,
    /// The series already had a sample at that instant; the new value replaced it (last write
    /// wins).
    ReplacedDuplicate,
    /// The reading has no usable value ([`Reading::is_usable`] is false: quality
    /// [`kelvin_model::Quality::Absent`] or a non-finite value) and was not stored.
    SkippedUnusable,
}

/// Counts of [`InsertOutcome`]s, returned by [`MemStore::extend`] and kept for the store's whole
/// life by [`MemStore::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct InsertStats {
    /// Readings appended ([`InsertOutcome::Appended`]).
    pub appended: usize,
    /// Readings inserted out of order ([`InsertOutcome::InsertedOutOfOrder`]).
    pub out_of_order: usize,
    /// Readings that replaced a sample at the same instant ([`InsertOutcome::ReplacedDuplicate`]).
    pub duplicates: usize,
    /// Readings not stored because they had no usable value
    /// ([`InsertOutcome::SkippedUnusable`]).
    pub unusable: usize,
}

impl InsertStats {
    /// Every reading seen, whatever its outcome.
    pub fn total(&self) -> usize {
        self.appended + self.out_of_order + self.duplicates + self.unusable
    }

    fn record(&mut self, outcome: InsertOutcome) {
        match outcome {
            InsertOutcome::Appended => self.appended += 1,
            InsertOutcome::InsertedOutOfOrder => self.out_of_order += 1,
            InsertOutcome::ReplacedDuplicate => self.duplicates += 1,
            InsertOutcome::SkippedUnusable => self.unusable += 1,
        }
    }
}

/// An in-memory time-series store: one time-sorted series of [`Sample`]s per [`SeriesKey`].
///
/// Series are kept in key order, so every listing is deterministic. Values are stored as given,
/// in the canonical unit of the key's [`SensorKind`]; the store does no unit conversion. Its
/// queries are those of [`SeriesRead`], answered by the same kernels as [`crate::Store`]'s:
/// `MemStore` is the simple reference the columnar store is tested against.
///
/// ```
/// use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};
/// use kelvin_store::{InsertOutcome, MemStore, SeriesKey};
///
/// let host = EntityId::new("host-01")?;
/// let mut store = MemStore::new();
/// let at = |s| Timestamp::from_secs(s);
/// let r = |v, s| Reading::new(host.clone(), "psu1", SensorKind::Power, v, at(s));
///
/// assert_eq!(store.insert(&r(210.0, 15)), InsertOutcome::Appended);
/// assert_eq!(store.insert(&r(205.0, 0)), InsertOutcome::InsertedOutOfOrder);
/// assert_eq!(store.insert(&r(212.0, 15)), InsertOutcome::ReplacedDuplicate);
/// assert_eq!(store.insert(&r(f64::NAN, 30)), InsertOutcome::SkippedUnusable);
///
/// let key = SeriesKey::new(host.clone(), "psu1", SensorKind::Power);
/// let samples = store.samples(&key).ok_or("no series")?;
/// assert_eq!(samples.len(), 2);
/// assert_eq!((samples[1].ts, samples[1].value), (at(15), 212.0));
/// assert_eq!(store.stats().total(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    series: BTreeMap<SeriesKey, Vec<Sample>>,
    samples: usize,
    stats: InsertStats,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        MemStore::default()
    }

    /// Inserts one reading into the series of [`SeriesKey::of`]`(r)`.
    ///
    /// Appends in O(1) when `r.ts` is after the series' last sample; an out-of-order reading is
    /// placed by binary search (O(log n) to find, O(n) to shift). A reading at the same instant
    /// as a stored sample replaces it: last write wins. A reading that is not usable
    /// ([`Reading::is_usable`]) is not stored — an absent value is not a zero — but it is
    /// counted, here and in [`MemStore::stats`], and it does not create a series.
    pub fn insert(&mut self, r: &Reading) -> InsertOutcome {
        let outcome = self.insert_inner(r);
        self.stats.record(outcome);
        outcome
    }

    fn insert_inner(&mut self, r: &Reading) -> InsertOutcome {
        if !r.is_usable() {
            return InsertOutcome::SkippedUnusable;
        }
        let sample = Sample::new(r.ts, r.value);
        let samples = self.series.entry(SeriesKey::of(r)).or_default();
        if samples.last().is_none_or(|last| last.ts < r.ts) {
            samples.push(sample);
            self.samples += 1;
            return InsertOutcome::Appended;
        }
        match samples.binary_search_by_key(&r.ts, |s| s.ts) {
            Ok(i) => {
                samples[i] = sample;
                InsertOutcome::ReplacedDuplicate
            }
            Err(i) => {
                samples.insert(i, sample);
                self.samples += 1;
                InsertOutcome::InsertedOutOfOrder
            }
        }
    }

    /// Inserts every reading, as [`MemStore::insert`] does, and counts the outcomes.
    pub fn extend<'a>(&mut self, rs: impl IntoIterator<Item = &'a Reading>) -> InsertStats {
        let mut stats = InsertStats::default();
        for r in rs {
            stats.record(self.insert(r));
        }
        stats
    }

    /// Outcome counts of every insert since the store was created.
    pub fn stats(&self) -> InsertStats {
        self.stats
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether the store holds no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Number of samples over all series.
    pub fn sample_count(&self) -> usize {
        self.samples
    }

    /// Every series key, in key order (entity, sensor, kind).
    pub fn keys(&self) -> impl Iterator<Item = &SeriesKey> {
        self.series.keys()
    }

    /// Every series with its samples, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &[Sample])> {
        self.series.iter().map(|(k, v)| (k, v.as_slice()))
    }

    /// The keys of the series of `entity` (all entities when `None`) measuring `kind` (all kinds
    /// when `None`), in key order.
    pub fn select(&self, entity: Option<&EntityId>, kind: Option<SensorKind>) -> Vec<&SeriesKey> {
        self.series
            .keys()
            .filter(|k| entity.is_none_or(|e| &k.entity == e))
            .filter(|k| kind.is_none_or(|kind| k.kind == kind))
            .collect()
    }

    /// The samples of a series, sorted by strictly increasing time, or `None` when the store has
    /// no such series.
    pub fn samples(&self, key: &SeriesKey) -> Option<&[Sample]> {
        self.series.get(key).map(Vec::as_slice)
    }

    /// The first and last sample times over all series (both inclusive), or `None` when the
    /// store is empty.
    pub fn time_span(&self) -> Option<(Timestamp, Timestamp)> {
        self.series
            .values()
            .filter_map(|s| Some((s.first()?.ts, s.last()?.ts)))
            .reduce(|(a, b), (first, last)| (a.min(first), b.max(last)))
    }
}

impl SeriesRead for MemStore {
    /// [`MemStore::select`].
    fn select_keys(&self, entity: Option<&EntityId>, kind: Option<SensorKind>) -> Vec<&SeriesKey> {
        self.select(entity, kind)
    }

    /// The covering samples, copied into columns.
    fn read_covering(
        &self,
        key: &SeriesKey,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<SeriesData, StoreError> {
        let samples = self.samples(key).ok_or_else(|| unknown_key(key))?;
        let span = &samples[covering(samples, |s| s.ts.as_nanos(), start_ns, end_ns)];
        Ok(SeriesData {
            key: key.clone(),
            ts: span.iter().map(|s| s.ts.as_nanos()).collect(),
            values: span.iter().map(|s| s.value).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use kelvin_model::Quality;

    use super::*;
    use crate::{Grid, ResampleOptions, StoreErrorKind};

    fn host(id: &str) -> EntityId {
        EntityId::new(id).unwrap()
    }

    fn power(h: &str, sensor: &str, watts: f64, secs: i64) -> Reading {
        Reading::new(
            host(h),
            sensor,
            SensorKind::Power,
            watts,
            Timestamp::from_secs(secs),
        )
    }

    fn times(store: &MemStore, key: &SeriesKey) -> Vec<i64> {
        store
            .samples(key)
            .unwrap()
            .iter()
            .map(|s| s.ts.as_nanos() / Timestamp::NANOS_PER_SEC)
            .collect()
    }

    #[test]
    fn in_order_readings_are_appended() {
        let mut store = MemStore::new();
        for (i, w) in [180.0, 240.0, 310.0].into_iter().enumerate() {
            assert_eq!(
                store.insert(&power("h1", "psu1", w, 15 * i as i64)),
                InsertOutcome::Appended
            );
        }
        let key = SeriesKey::of(&power("h1", "psu1", 0.0, 0));
        assert_eq!(times(&store, &key), [0, 15, 30]);
        assert_eq!((store.len(), store.sample_count()), (1, 3));
    }

    #[test]
    fn out_of_order_inserts_end_sorted() {
        let mut store = MemStore::new();
        let stats = store.extend(&[
            power("h1", "psu1", 200.0, 30),
            power("h1", "psu1", 210.0, 0),
            power("h1", "psu1", 220.0, 45),
            power("h1", "psu1", 230.0, 15),
            power("h1", "psu1", 240.0, -15),
        ]);
        assert_eq!((stats.appended, stats.out_of_order), (2, 3));
        let key = SeriesKey::new(host("h1"), "psu1", SensorKind::Power);
        assert_eq!(times(&store, &key), [-15, 0, 15, 30, 45]);
        let values: Vec<f64> = store
            .samples(&key)
            .unwrap()
            .iter()
            .map(|s| s.value)
            .collect();
        assert_eq!(values, [240.0, 210.0, 230.0, 200.0, 220.0]);
    }

    #[test]
    fn duplicates_replace_and_are_counted() {
        let mut store = MemStore::new();
        store.insert(&power("h1", "psu1", 200.0, 0));
        store.insert(&power("h1", "psu1", 210.0, 15));
        assert_eq!(
            store.insert(&power("h1", "psu1", 205.0, 0)),
            InsertOutcome::ReplacedDuplicate
        );
        assert_eq!(
            store.insert(&power("h1", "psu1", 215.0, 15)),
            InsertOutcome::ReplacedDuplicate
        );
        let key = SeriesKey::new(host("h1"), "psu1", SensorKind::Power);
        let s = store.samples(&key).unwrap();
        assert_eq!(
            s.iter().map(|s| s.value).collect::<Vec<_>>(),
            [205.0, 215.0]
        );
        assert_eq!(store.sample_count(), 2);
        assert_eq!(store.stats().duplicates, 2);
        assert_eq!(store.stats().total(), 4);
    }

    #[test]
    fn unusable_readings_are_counted_not_stored() {
        let mut store = MemStore::new();
        let absent = power("h1", "fan1", f64::NAN, 0).with_quality(Quality::Absent);
        let infinite = power("h1", "psu1", f64::INFINITY, 15);
        let absent_with_value = power("h1", "psu1", 0.0, 30).with_quality(Quality::Absent);
        let stats = store.extend([&absent, &infinite, &absent_with_value]);
        assert_eq!(stats.unusable, 3);
        assert_eq!(stats.total(), 3);
        assert!(
            store.is_empty(),
            "no series is created for unusable readings"
        );
        assert_eq!(store.sample_count(), 0);
        // Flagged but present values are kept.
        let warn = power("h1", "psu1", 420.0, 45).with_quality(Quality::Warning);
        assert_eq!(store.insert(&warn), InsertOutcome::Appended);
        assert_eq!(
            store.stats(),
            InsertStats {
                appended: 1,
                out_of_order: 0,
                duplicates: 0,
                unusable: 3
            }
        );
    }

    #[test]
    fn keys_are_sorted_and_selectable() {
        let mut store = MemStore::new();
        store.insert(&power("h2", "psu1", 200.0, 0));
        store.insert(&Reading::new(
            host("h1"),
            "cpu",
            SensorKind::CpuTime,
            5.0,
            Timestamp::from_secs(0),
        ));
        store.insert(&power("h1", "psu2", 200.0, 0));
        store.insert(&power("h1", "psu1", 200.0, 0));
        let names: Vec<String> = store.keys().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "h1/cpu (cpu_time)",
                "h1/psu1 (power)",
                "h1/psu2 (power)",
                "h2/psu1 (power)"
            ]
        );
        let h1 = host("h1");
        assert_eq!(store.select(Some(&h1), None).len(), 3);
        assert_eq!(store.select(Some(&h1), Some(SensorKind::Power)).len(), 2);
        assert_eq!(store.select(None, Some(SensorKind::Power)).len(), 3);
        assert_eq!(store.select(None, Some(SensorKind::Temperature)).len(), 0);
        assert_eq!(store.select(None, None).len(), 4);
        assert_eq!(store.iter().count(), 4);
    }

    #[test]
    fn time_span_covers_all_series() {
        let mut store = MemStore::new();
        assert_eq!(store.time_span(), None);
        store.insert(&power("h1", "psu1", 200.0, 30));
        assert_eq!(
            store.time_span(),
            Some((Timestamp::from_secs(30), Timestamp::from_secs(30)))
        );
        store.insert(&power("h2", "psu1", 200.0, 15));
        store.insert(&power("h1", "psu1", 200.0, 90));
        store.insert(&power("h2", "psu1", 200.0, 45));
        assert_eq!(
            store.time_span(),
            Some((Timestamp::from_secs(15), Timestamp::from_secs(90)))
        );
    }

    #[test]
    fn operations_report_typed_errors() {
        let mut store = MemStore::new();
        store.insert(&power("h1", "psu1", 200.0, 0));
        store.insert(&Reading::new(
            host("h1"),
            "rapl",
            SensorKind::Energy,
            1e6,
            Timestamp::from_secs(0),
        ));
        let grid =
            Grid::try_new(Timestamp::from_secs(0), 15 * Timestamp::NANOS_PER_SEC, 3).unwrap();
        let opts = ResampleOptions::default();
        let psu = SeriesKey::new(host("h1"), "psu1", SensorKind::Power);
        let rapl = SeriesKey::new(host("h1"), "rapl", SensorKind::Energy);
        let missing = SeriesKey::new(host("h9"), "psu1", SensorKind::Power);

        let e = store.increase(&psu, &grid, &opts).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::NotACounter);
        assert_eq!(
            e.to_string(),
            "h1/psu1 (power) is a gauge; increase needs a counter (use integrate or resample)"
        );
        assert_eq!(
            store.integrate(&rapl, &grid, &opts).unwrap_err().kind(),
            StoreErrorKind::NotAGauge
        );
        for e in [
            store.resample(&missing, &grid, &opts).unwrap_err(),
            store.integrate(&missing, &grid, &opts).unwrap_err(),
            store.increase(&missing, &grid, &opts).unwrap_err(),
        ] {
            assert_eq!(e.kind(), StoreErrorKind::UnknownSeries);
            assert_eq!(e.reason(), "no series h9/psu1 (power) in the store");
        }
        // The right operation on each succeeds, and counters can still be resampled.
        assert!(store.integrate(&psu, &grid, &opts).is_ok());
        assert!(store.increase(&rapl, &grid, &opts).is_ok());
        assert_eq!(store.resample(&rapl, &grid, &opts).unwrap()[0], 1e6);
    }
}
