//! Reading: scans of a time range (blocks, head and late buffer merged, one sample per
//! instant), aggregates and time buckets answered from block statistics where whole blocks
//! allow, the id-based queries, and the [`crate::SeriesRead`] implementation that gives the
//! store the same grid queries as [`crate::MemStore`].

use kelvin_model::{EntityId, SensorKind, TimeRange};

use super::files::{file_path, read_block};
use super::{Block, Series, SeriesId, Store, dedup_last};
#[cfg(doc)]
use crate::MAX_MATRIX_CELLS;
use crate::codec::{BlockStats, decode_block};
use crate::query;
use crate::read::{SeriesRead, covering, unknown_key};
use crate::{
    Aggregate, Buckets, CounterIncrease, Grid, ResampleOptions, Selector, SeriesData, SeriesKey,
    StoreError, StoreErrorKind,
};

impl Store {
    /// A block's decoded columns, from memory or re-read (and verified) from its file.
    pub(super) fn block_columns(&self, b: &Block) -> Result<(Vec<i64>, Vec<f64>), StoreError> {
        if let Some(h) = &b.frozen {
            let (mut ts, mut vs) = (Vec::with_capacity(h.len()), Vec::with_capacity(h.len()));
            h.decode_into(&mut ts, &mut vs);
            return Ok((ts, vs));
        }
        let (ts, vs) = match (&b.bytes, &b.loc, &self.durable) {
            (Some(bytes), _, _) => decode_block(bytes)?,
            (None, Some(loc), Some(d)) => {
                let path = file_path(&d.root.join("blocks"), loc.file);
                decode_block(&read_block(&path, loc.offset, loc.len, loc.crc)?)?
            }
            _ => {
                return Err(StoreError::new(
                    StoreErrorKind::Corrupt,
                    format!("block {} has no bytes", b.id),
                ));
            }
        };
        // The statistics answer whole-block queries without decoding; they must describe
        // the samples the block really holds.
        if ts.len() as u64 != b.stats.count {
            return Err(StoreError::new(
                StoreErrorKind::Corrupt,
                format!(
                    "block {}: its statistics count {} samples, it holds {}",
                    b.id,
                    b.stats.count,
                    ts.len()
                ),
            ));
        }
        Ok((ts, vs))
    }

    /// The samples of series `id` with `start <= ts < end`, sorted, one per timestamp (the last
    /// write wins).
    ///
    /// # Errors
    /// [`StoreErrorKind::UnknownSeries`]; [`StoreErrorKind::Corrupt`] when a block evicted to
    /// disk fails its checksum on re-read.
    pub fn scan(&self, id: SeriesId, start: i64, end: i64) -> Result<SeriesData, StoreError> {
        let s = self.series_at(id)?;
        match end.checked_sub(1) {
            Some(last) if last >= start => self.scan_incl(s, start, last),
            _ => Ok(SeriesData {
                key: s.key.clone(),
                ts: Vec::new(),
                values: Vec::new(),
            }),
        }
    }

    /// The samples of `s` with `first <= ts <= last`, sorted, one per timestamp (the last write
    /// wins): the blocks that overlap the range, the head and the late buffer, merged.
    fn scan_incl(&self, s: &Series, first: i64, last: i64) -> Result<SeriesData, StoreError> {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for b in &s.blocks {
            if b.stats.max_ts < first || b.stats.min_ts > last {
                continue;
            }
            let (t, v) = self.block_columns(b)?;
            push_range(&mut ts, &mut vs, &t, &v, first, last);
        }
        let (mut ht, mut hv) = (Vec::new(), Vec::new());
        s.head.decode_into(&mut ht, &mut hv);
        push_range(&mut ts, &mut vs, &ht, &hv, first, last);
        let late: Vec<&(i64, f64)> = s
            .late
            .iter()
            .filter(|x| x.0 >= first && x.0 <= last)
            .collect();
        if !late.is_empty() {
            ts.extend(late.iter().map(|x| x.0));
            vs.extend(late.iter().map(|x| x.1));
            // Stable: at equal times the late sample (the later write) follows the stored one.
            let mut idx: Vec<usize> = (0..ts.len()).collect();
            idx.sort_by_key(|&k| ts[k]);
            let t2: Vec<i64> = idx.iter().map(|&k| ts[k]).collect();
            vs = idx.iter().map(|&k| vs[k]).collect();
            ts = t2;
        }
        dedup_last(&mut ts, &mut vs);
        Ok(SeriesData {
            key: s.key.clone(),
            ts,
            values: vs,
        })
    }

    /// The samples that determine series `s` on `[lo, hi]`, as
    /// [`SeriesRead::read_covering`] defines them: the range widened, from what the block
    /// statistics, the head and the late buffer tell without decoding, just enough to hold the
    /// last sample at or before `lo` and the first at or after `hi`, scanned, and cut to those
    /// two.
    fn scan_covering(&self, s: &Series, lo: i64, hi: i64) -> Result<SeriesData, StoreError> {
        let hi = hi.max(lo);
        let first = s.floor_bound(lo).unwrap_or(lo);
        let last = s.ceil_bound(hi).unwrap_or(hi);
        let mut d = self.scan_incl(s, first, last)?;
        let keep = covering(&d.ts, |&t| t, lo, hi);
        d.ts.truncate(keep.end);
        d.values.truncate(keep.end);
        d.ts.drain(..keep.start);
        d.values.drain(..keep.start);
        Ok(d)
    }

    /// Count, NaN count, sum, min, max, first and last (with their times) of series `id` over
    /// `start <= ts < end`, as [`BlockStats`] (empty: `count == 0`). Blocks entirely inside the
    /// range are answered from their statistics without decoding.
    ///
    /// # Errors
    /// As [`Store::scan`].
    pub fn aggregate(&self, id: SeriesId, start: i64, end: i64) -> Result<BlockStats, StoreError> {
        let s = self.series_at(id)?;
        let mut agg = BlockStats::EMPTY;
        let late_lo = s.late.iter().map(|x| x.0).min().unwrap_or(i64::MAX);
        let late_hi = s.late.iter().map(|x| x.0).max().unwrap_or(i64::MIN);
        // Whole blocks untouched by late samples come from their statistics; every stretch in
        // between (partial blocks, gaps with late samples, the head) from a merged scan.
        let mut pos = start;
        for b in &s.blocks {
            let inside = b.stats.min_ts >= start && b.stats.max_ts < end;
            let untouched = late_hi < b.stats.min_ts || late_lo > b.stats.max_ts;
            if !(inside && untouched) {
                continue;
            }
            if pos < b.stats.min_ts {
                let m = self.scan(id, pos, b.stats.min_ts)?;
                agg = agg.merge(&BlockStats::of(&m.ts, &m.values)?);
            }
            agg = agg.merge(&b.stats);
            pos = b.stats.max_ts.saturating_add(1);
        }
        if pos < end {
            let m = self.scan(id, pos, end)?;
            agg = agg.merge(&BlockStats::of(&m.ts, &m.values)?);
        }
        Ok(agg)
    }

    /// Per-bucket count, sum, min, max, mean, first and last of series `id` over
    /// `start <= ts < end`, in buckets `[origin + k·width, origin + (k+1)·width)` (only
    /// non-empty buckets, as Polars' `group_by_dynamic` with `closed="left"`). A sealed block
    /// that lies inside one bucket is answered from its statistics without decoding.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] for a width that is not positive; as [`Store::scan`].
    pub fn time_buckets(
        &self,
        id: SeriesId,
        start: i64,
        end: i64,
        origin_ns: i64,
        width_ns: i64,
    ) -> Result<Buckets, StoreError> {
        let s = self.series_at(id)?;
        let mut out = Buckets::new(origin_ns, width_ns)?;
        let late_lo = s.late.iter().map(|x| x.0).min().unwrap_or(i64::MAX);
        let late_hi = s.late.iter().map(|x| x.0).max().unwrap_or(i64::MIN);
        let mut pos = start;
        let add = |out: &mut Buckets, a: i64, b: i64| -> Result<(), StoreError> {
            let m = self.scan(id, a, b)?;
            out.merge(&crate::time_buckets(&m.ts, &m.values, origin_ns, width_ns)?)
        };
        for b in &s.blocks {
            let st = &b.stats;
            let bucket = out.start_of(st.min_ts);
            let whole = st.min_ts >= start
                && st.max_ts < end
                && st.nan_count == 0
                && (late_hi < st.min_ts || late_lo > st.max_ts)
                && bucket.is_some()
                && bucket == out.start_of(st.max_ts);
            if !whole {
                continue;
            }
            if pos < st.min_ts {
                add(&mut out, pos, st.min_ts)?;
            }
            let mut one = Buckets::new(origin_ns, width_ns)?;
            one.push(
                bucket.unwrap_or(st.min_ts),
                Aggregate {
                    count: st.count,
                    sum: st.sum,
                    min: st.min,
                    max: st.max,
                    first: st.first,
                    last: st.last,
                    first_ts: st.min_ts,
                    last_ts: st.max_ts,
                },
            )?;
            out.merge(&one)?;
            pos = st.max_ts.saturating_add(1);
        }
        if pos < end {
            add(&mut out, pos, end)?;
        }
        Ok(out)
    }

    /// Gauges `ids` at each point of `grid` (rows: points, columns: series), with the fill and
    /// maximum gap of `opts`.
    ///
    /// # Errors
    /// As [`Store::scan`]; [`StoreErrorKind::InvalidInput`] when the result would hold more
    /// than [`MAX_MATRIX_CELLS`] values (checked before anything is read).
    pub fn resample_many(
        &self,
        ids: &[SeriesId],
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<ndarray::Array2<f64>, StoreError> {
        query::check_cells("Store::resample_many", grid.len(), ids.len())?;
        let (lo, hi) = (grid.start().as_nanos(), grid.end().as_nanos());
        let data = ids
            .iter()
            .map(|&id| self.scan_covering(self.series_at(id)?, lo, hi))
            .collect::<Result<Vec<_>, _>>()?;
        let cols: Vec<(&[i64], &[f64])> = data
            .iter()
            .map(|d| (d.ts.as_slice(), d.values.as_slice()))
            .collect();
        crate::resample_many(&cols, grid, opts)
    }

    /// For each of `at` (sorted), the value of series `id` at its latest sample at or before
    /// it, NaN when there is none or it is older than `tolerance_ns` (an as-of join, backward).
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] for unsorted `at`; as [`Store::scan`].
    pub fn asof(
        &self,
        id: SeriesId,
        at: &[i64],
        tolerance_ns: Option<i64>,
    ) -> Result<Vec<f64>, StoreError> {
        let (Some(&first), Some(&last)) = (at.first(), at.last()) else {
            return Ok(Vec::new());
        };
        let d = self.scan_covering(self.series_at(id)?, first, last)?;
        crate::asof_join(at, &d.ts, &d.values, tolerance_ns)
    }

    /// Every series' samples, for export (e.g. `export_parquet`), in key order.
    ///
    /// # Errors
    /// As [`Store::scan`].
    pub fn export_all(&self) -> Result<Vec<SeriesData>, StoreError> {
        self.select_matching(&Selector::new(Vec::new()))
            .into_iter()
            .map(|id| self.scan(id, i64::MIN, i64::MAX))
            .collect()
    }

    /// Newest and oldest timestamps over all series.
    pub fn time_span(&self) -> Option<(i64, i64)> {
        let mut lo = i64::MAX;
        let mut hi = i64::MIN;
        for s in &self.series {
            if s.newest == i64::MIN {
                continue;
            }
            hi = hi.max(s.newest);
            let first = [
                s.blocks.first().map(|b| b.stats.min_ts),
                s.head.first_ts(),
                s.late.iter().map(|x| x.0).min(),
            ];
            lo = lo.min(first.into_iter().flatten().min().unwrap_or(s.newest));
        }
        (hi != i64::MIN).then_some((lo, hi))
    }

    /// Samples currently stored (after merging duplicates already sealed).
    pub fn sample_count(&self) -> u64 {
        self.series
            .iter()
            .map(|s| {
                s.blocks.iter().map(|b| b.stats.count).sum::<u64>()
                    + s.head.len() as u64
                    + s.late.len() as u64
            })
            .sum()
    }

    /// Bytes of sealed block payloads (timestamps and values as encoded).
    pub fn block_bytes(&self) -> u64 {
        self.series
            .iter()
            .flat_map(|s| s.blocks.iter())
            .map(|b| {
                b.loc.map_or_else(
                    || b.bytes.as_ref().map_or(0, |x| x.len() as u64),
                    |l| u64::from(l.len),
                )
            })
            .sum()
    }

    /// Per-block statistics of series `id`, oldest first.
    pub fn block_stats(&self, id: SeriesId) -> Result<Vec<BlockStats>, StoreError> {
        let s = self.series_at(id)?;
        Ok(s.blocks.iter().map(|b| b.stats).collect())
    }

    /// Time range helper: [`Store::scan`] over a [`TimeRange`].
    ///
    /// # Errors
    /// As [`Store::scan`].
    pub fn scan_range(&self, id: SeriesId, range: TimeRange) -> Result<SeriesData, StoreError> {
        self.scan(id, range.start().as_nanos(), range.end().as_nanos())
    }

    /// The keys of the series of `entity` (any when `None`) measuring `kind` (any when
    /// `None`), in key order: [`SeriesRead::select_keys`], here so that callers need not
    /// import the trait.
    pub fn select_keys(
        &self,
        entity: Option<&EntityId>,
        kind: Option<SensorKind>,
    ) -> Vec<&SeriesKey> {
        SeriesRead::select_keys(self, entity, kind)
    }

    /// A gauge's value at each grid point: [`SeriesRead::resample`].
    ///
    /// # Errors
    /// As [`SeriesRead::resample`].
    pub fn resample(
        &self,
        key: &SeriesKey,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<Vec<f64>, StoreError> {
        SeriesRead::resample(self, key, grid, opts)
    }

    /// A gauge's exact integral over each grid interval (watts → joules):
    /// [`SeriesRead::integrate`].
    ///
    /// # Errors
    /// As [`SeriesRead::integrate`].
    pub fn integrate(
        &self,
        key: &SeriesKey,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<Vec<f64>, StoreError> {
        SeriesRead::integrate(self, key, grid, opts)
    }

    /// A counter's reset-corrected increase over each grid interval:
    /// [`SeriesRead::increase`].
    ///
    /// # Errors
    /// As [`SeriesRead::increase`].
    pub fn increase(
        &self,
        key: &SeriesKey,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<CounterIncrease, StoreError> {
        SeriesRead::increase(self, key, grid, opts)
    }
}

impl SeriesRead for Store {
    fn select_keys(&self, entity: Option<&EntityId>, kind: Option<SensorKind>) -> Vec<&SeriesKey> {
        self.select(entity, kind)
            .into_iter()
            .map(|id| &self.series[id.0 as usize].key)
            .collect()
    }

    fn read_covering(
        &self,
        key: &SeriesKey,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<SeriesData, StoreError> {
        let id = self.find(key).ok_or_else(|| unknown_key(key))?;
        self.scan_covering(self.series_at(id)?, start_ns, end_ns)
    }
}

impl Series {
    /// A time at or before the last sample at or before `t`, when there is such a sample: a
    /// scan from it holds that sample. Exact where the statistics and the head's ends tell
    /// (a block or head that ends by `t`); otherwise the start of the block or head that holds
    /// `t`, which a scan over `t` decodes anyway.
    fn floor_bound(&self, t: i64) -> Option<i64> {
        let late = self.late.iter().map(|x| x.0).filter(|&x| x <= t).max();
        let head = match (self.head.first_ts(), self.head.last_ts()) {
            (Some(first), Some(last)) if first <= t => Some(if last <= t { last } else { first }),
            _ => None,
        };
        let i = self.blocks.partition_point(|b| b.stats.min_ts <= t);
        let block = i.checked_sub(1).map(|i| {
            let st = &self.blocks[i].stats;
            if st.max_ts <= t { st.max_ts } else { st.min_ts }
        });
        [late, head, block].into_iter().flatten().max()
    }

    /// A time at or after the first sample at or after `t`, when there is such a sample; the
    /// mirror of [`Series::floor_bound`].
    fn ceil_bound(&self, t: i64) -> Option<i64> {
        let late = self.late.iter().map(|x| x.0).filter(|&x| x >= t).min();
        let head = match (self.head.first_ts(), self.head.last_ts()) {
            (Some(first), Some(last)) if last >= t => Some(if first >= t { first } else { last }),
            _ => None,
        };
        let i = self.blocks.partition_point(|b| b.stats.max_ts < t);
        let block = self.blocks.get(i).map(|b| {
            let st = &b.stats;
            if st.min_ts >= t { st.min_ts } else { st.max_ts }
        });
        [late, head, block].into_iter().flatten().min()
    }
}

/// Appends the samples of the sorted columns `t`, `v` with `first <= ts <= last`.
fn push_range(ts: &mut Vec<i64>, vs: &mut Vec<f64>, t: &[i64], v: &[f64], first: i64, last: i64) {
    let a = t.partition_point(|&x| x < first);
    let b = t.partition_point(|&x| x <= last).max(a);
    ts.extend_from_slice(&t[a..b]);
    vs.extend_from_slice(&v[a..b]);
}
