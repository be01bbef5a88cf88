//! Writing: interning series ([`Store::series_id`]) and appending samples — in order to the
//! head, late into the late buffer, too late not at all ([`Appended`]) — counted in
//! [`StoreStats`] and logged to the write-ahead log when durable.

use kelvin_model::{Reading, SensorKind};

use super::{Series, SeriesId, Store, floor_div};
use crate::bytes::key_unencodable;
use crate::{SeriesData, SeriesKey, StoreError, StoreErrorKind};

/// What happened to one appended sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Appended {
    /// At or after the newest sample of its series: appended to the head.
    InOrder,
    /// Older than the newest sample but inside the late window: buffered and merged.
    Late,
    /// Older than the late window allows: not stored, counted in [`StoreStats::too_late`].
    TooLate,
}

/// Counters of everything the store was asked to do since it was created or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StoreStats {
    /// Samples appended in order.
    pub in_order: u64,
    /// Samples accepted late.
    pub late: u64,
    /// Samples rejected as older than the late window.
    pub too_late: u64,
    /// Readings without a usable value or time (not stored).
    pub unusable: u64,
    /// Samples replaced by a later write with the same timestamp (last write wins).
    pub overwritten: u64,
    /// Appends refused because the memory budget was exhausted.
    pub over_budget: u64,
    /// Blocks sealed (head seals and late-data merges).
    pub blocks_sealed: u64,
    /// Blocks dropped by retention.
    pub blocks_expired: u64,
}

/// Entity text address and length, sensor text address and length, kind.
pub(super) type ReadingKey = (usize, usize, usize, usize, SensorKind);

/// Entries of the reading cache before it starts over.
const READING_CACHE_MAX: usize = 1 << 16;

impl Store {
    /// The id of `key`, creating the series on first use.
    ///
    /// # Errors
    /// [`StoreErrorKind::MemoryBudget`] when a new series would not fit the budget;
    /// [`StoreErrorKind::InvalidInput`] for a key the store's files cannot hold exactly (a
    /// name or label over 65,535 bytes, more than 65,535 labels, over 1 MiB in all).
    pub fn series_id(&mut self, key: &SeriesKey) -> Result<SeriesId, StoreError> {
        if let Some(&id) = self.index.get(key) {
            return Ok(id);
        }
        if let Some(why) = key_unencodable(key) {
            return Err(StoreError::new(
                StoreErrorKind::InvalidInput,
                format!("series {key} cannot be stored: {why}"),
            ));
        }
        let id =
            SeriesId(u32::try_from(self.series.len()).map_err(|_| {
                StoreError::new(StoreErrorKind::InvalidInput, "more than 2^32 series")
            })?);
        let mut s = Series::new(key.clone());
        if self.opts.resident_ns.is_some() {
            // A resident-window series holds a few blocks for as long as it lives: its list
            // is made at the size it keeps, not grown by doubling over its first hours.
            s.blocks.reserve_exact(super::compact::RESIDENT_BLOCKS);
        }
        let mut cost = s.heap_bytes();
        if self.series.len() == self.series.capacity() {
            cost += self.series.capacity().max(4) * std::mem::size_of::<Series>();
        }
        if self.index.len() == self.index.capacity() {
            cost +=
                self.index.capacity().max(4) * (std::mem::size_of::<(SeriesKey, SeriesId)>() + 8);
        }
        self.reserve(cost)?;
        let (cap_s, cap_i) = (self.series.capacity(), self.index.capacity());
        if let Some(d) = &mut self.durable {
            d.wal.log_series(id.0, key);
        }
        self.index.insert(key.clone(), id);
        self.by_entity
            .entry(key.entity.clone())
            .or_default()
            .push(id);
        self.series.push(s);
        self.mem_estimate += self.series[id.0 as usize].heap_bytes()
            + (self.series.capacity() - cap_s) * std::mem::size_of::<Series>()
            + (self.index.capacity().saturating_sub(cap_i))
                * (std::mem::size_of::<(SeriesKey, SeriesId)>() + 8);
        Ok(id)
    }

    /// Appends one sample to series `id`; see [`Appended`] for what can happen.
    ///
    /// # Errors
    /// [`StoreErrorKind::UnknownSeries`] for an id this store did not hand out;
    /// [`StoreErrorKind::MemoryBudget`] when the budget is exhausted (nothing is stored).
    #[inline]
    pub fn append(&mut self, id: SeriesId, ts: i64, value: f64) -> Result<Appended, StoreError> {
        self.append_inner(id, ts, value, true)
    }

    /// Appends a run of samples to one series; returns how many went in order, late, and were
    /// rejected as too late, in that order.
    ///
    /// # Errors
    /// As [`Store::append`]; samples before the failing one are stored.
    pub fn append_many(
        &mut self,
        id: SeriesId,
        ts: &[i64],
        values: &[f64],
    ) -> Result<[u64; 3], StoreError> {
        if ts.len() != values.len() {
            return Err(StoreError::new(
                StoreErrorKind::InvalidInput,
                format!("{} timestamps but {} values", ts.len(), values.len()),
            ));
        }
        let mut out = [0u64; 3];
        for (&t, &v) in ts.iter().zip(values) {
            match self.append_inner(id, t, v, true)? {
                Appended::InOrder => out[0] += 1,
                Appended::Late => out[1] += 1,
                Appended::TooLate => out[2] += 1,
            }
        }
        Ok(out)
    }

    /// Appends by key, resolving (and creating) the series first.
    ///
    /// # Errors
    /// As [`Store::series_id`] and [`Store::append`].
    pub fn append_key(
        &mut self,
        key: &SeriesKey,
        ts: i64,
        value: f64,
    ) -> Result<Appended, StoreError> {
        let id = self.series_id(key)?;
        self.append(id, ts, value)
    }

    /// Stores a reading in the series of [`SeriesKey::of`]; a reading without a usable value
    /// or time is counted in [`StoreStats::unusable`] and not stored (`Ok(None)`).
    ///
    /// # Errors
    /// As [`Store::append_key`].
    pub fn insert(&mut self, r: &Reading) -> Result<Option<Appended>, StoreError> {
        if !r.is_usable() || !r.ts.is_known() {
            self.stats.unusable += 1;
            return Ok(None);
        }
        // Readings from one decoder share their entity and sensor allocations, so the cache
        // keys on those addresses and skips hashing the strings. It holds clones of the
        // `Arc`s, so an address cannot be freed and reused for other text while cached.
        let ck = (
            r.entity.as_str().as_ptr() as usize,
            r.entity.as_str().len(),
            r.sensor.as_str().as_ptr() as usize,
            r.sensor.as_str().len(),
            r.kind,
        );
        let id = match self.reading_cache.get(&ck) {
            Some(&(_, _, id)) => id,
            None => {
                let id = self.series_id(&SeriesKey::of(r))?;
                if self.reading_cache.len() >= READING_CACHE_MAX {
                    self.reading_cache.clear();
                }
                self.reading_cache
                    .insert(ck, (r.entity.clone(), r.sensor.clone(), id));
                id
            }
        };
        self.append(id, r.ts.as_nanos(), r.value).map(Some)
    }

    /// Inserts every reading ([`Store::insert`]), resolving each series once per run of
    /// readings of the same series.
    ///
    /// # Errors
    /// The first error; readings before it are stored.
    pub fn extend<'a>(
        &mut self,
        rs: impl IntoIterator<Item = &'a Reading>,
    ) -> Result<StoreStats, StoreError> {
        let before = self.stats;
        for r in rs {
            self.insert(r)?;
        }
        let a = self.stats;
        Ok(StoreStats {
            in_order: a.in_order - before.in_order,
            late: a.late - before.late,
            too_late: a.too_late - before.too_late,
            unusable: a.unusable - before.unusable,
            overwritten: a.overwritten - before.overwritten,
            over_budget: a.over_budget - before.over_budget,
            blocks_sealed: a.blocks_sealed - before.blocks_sealed,
            blocks_expired: a.blocks_expired - before.blocks_expired,
        })
    }

    #[inline]
    pub(super) fn append_inner(
        &mut self,
        id: SeriesId,
        ts: i64,
        value: f64,
        log: bool,
    ) -> Result<Appended, StoreError> {
        let i = id.0 as usize;
        if i >= self.series.len() {
            return Err(Self::unknown(id));
        }
        if self.opts.memory_budget.is_some() {
            return self.append_budgeted(i, ts, value, log);
        }
        self.append_unchecked(i, ts, value, log)
    }

    /// [`Store::append_inner`] under a memory budget: reserve the worst case, then account
    /// the series' exact change.
    fn append_budgeted(
        &mut self,
        i: usize,
        ts: i64,
        value: f64,
        log: bool,
    ) -> Result<Appended, StoreError> {
        let need = self.series[i].growth_bound();
        self.reserve(need)?;
        let before = self.series[i].heap_bytes();
        let wal_before = self.durable.as_ref().map_or(0, |d| d.wal.heap_bytes());
        let out = self.append_unchecked(i, ts, value, log);
        let after = self.series[i].heap_bytes();
        let wal_after = self.durable.as_ref().map_or(0, |d| d.wal.heap_bytes());
        self.mem_estimate =
            (self.mem_estimate + after + wal_after).saturating_sub(before + wal_before);
        out
    }

    #[inline]
    fn append_unchecked(
        &mut self,
        i: usize,
        ts: i64,
        value: f64,
        log: bool,
    ) -> Result<Appended, StoreError> {
        let id = SeriesId(i as u32);
        let s = &mut self.series[i];
        let head_last = s.head.last_ts();
        let in_order = ts > s.newest || (ts == s.newest && head_last == Some(ts));
        let outcome = if in_order {
            if ts >= s.head_end || s.head.len() >= self.opts.block_samples {
                self.seal_head(i)?;
            }
            let s = &mut self.series[i];
            if s.head.is_empty() {
                s.head_end = floor_div(ts, self.opts.partition_ns)
                    .saturating_add(1)
                    .saturating_mul(self.opts.partition_ns);
                if let Some(span) = self.opts.head_span_ns() {
                    s.head_end = s.head_end.min(ts.saturating_add(span));
                }
            }
            if ts == s.newest {
                // Replaces the previous sample (dropped when the head seals).
                s.head_dups = true;
                self.stats.overwritten += 1;
            }
            s.head.push(ts, value)?;
            s.newest = ts;
            s.head_stats.push_in_order(ts, value);
            self.stats.in_order += 1;
            Appended::InOrder
        } else if ts >= s.newest.saturating_sub(self.opts.late_window_ns) {
            s.late.push((ts, value));
            self.stats.late += 1;
            if s.late.len() >= self.opts.late_buffer {
                self.merge_late(i)?;
            }
            Appended::Late
        } else {
            self.stats.too_late += 1;
            return Ok(Appended::TooLate);
        };
        if log && let Some(d) = &mut self.durable {
            d.wal.log_sample(id.0, ts, value);
            let limit = self
                .opts
                .memory_budget
                .map_or(1 << 20, |b| (b / 16).clamp(4096, 1 << 20));
            if d.wal.pending_bytes() > limit {
                // Bound the buffer; still not acknowledged until commit.
                d.wal.flush()?;
            }
        }
        Ok(outcome)
    }

    /// Appends imported series (e.g. from `import_parquet`), creating them as needed; returns
    /// in-order, late and too-late counts.
    ///
    /// # Errors
    /// As [`Store::append_many`].
    pub fn import(&mut self, data: &[SeriesData]) -> Result<[u64; 3], StoreError> {
        let mut out = [0u64; 3];
        for d in data {
            let id = self.series_id(&d.key)?;
            let r = self.append_many(id, &d.ts, &d.values)?;
            for k in 0..3 {
                out[k] += r[k];
            }
        }
        Ok(out)
    }
}
