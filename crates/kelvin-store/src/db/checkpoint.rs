//! Durability and the life of data: [`Store::commit`] (group commit of the log),
//! [`Store::checkpoint`] (everything sealed into a checksummed block file, the covered log
//! dropped), retention of old partitions and the downsampled rollup tiers they leave behind.

use std::fs;

#[cfg(doc)]
use super::StoreOptions;
use super::budget::resident;
use super::files::{FileWriter, file_path};
use super::wal::{self, Wal, list_segments};
use super::{Loc, Store, floor_div};
use crate::StoreError;
#[cfg(doc)]
use crate::StoreErrorKind;
use crate::codec::BlockStats;

/// What [`Store::checkpoint`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CheckpointReport {
    /// Blocks newly written.
    pub blocks_written: usize,
    /// Bytes of the new block file.
    pub file_bytes: u64,
    /// WAL segments deleted.
    pub wal_segments_removed: usize,
    /// Old block files deleted (no live block left in them).
    pub files_removed: usize,
}

/// The label marking a rollup series, valued by its bucket width (`"300s"`).
pub const ROLLUP_LABEL: &str = "__rollup";

/// The label naming a rollup series' aggregate (`count`, `sum`, `min`, `max`).
pub const AGG_LABEL: &str = "__agg";

const ROLLUP_FIELDS: [&str; 4] = ["count", "sum", "min", "max"];

impl Store {
    /// Writes every buffered WAL record and `fsync`s it: when this returns `Ok`, every sample
    /// appended before the call survives a crash. Returns the bytes logged so far. A no-op for
    /// an in-memory store.
    ///
    /// # Errors
    /// [`StoreErrorKind::Io`].
    pub fn commit(&mut self) -> Result<u64, StoreError> {
        let newest = match self.opts.head_span_ns() {
            Some(span) => self.newest().saturating_sub(span),
            None => i64::MIN,
        };
        match &mut self.durable {
            Some(d) => {
                d.wal.commit()?;
                let bytes = d.wal.bytes_written();
                let moved = newest >= d.checkpointed_at && newest > i64::MIN;
                if bytes > self.opts.checkpoint_wal_bytes || moved {
                    self.checkpoint()?;
                }
                Ok(bytes)
            }
            None => Ok(0),
        }
    }

    /// Seals every head and late buffer into blocks, applies retention, and (when durable)
    /// writes the new blocks to a checksummed block file, then deletes the WAL segments and
    /// block files it supersedes.
    ///
    /// With [`StoreOptions::resident_ns`], each series' cold blocks are coalesced, written and
    /// evicted one series at a time, so the checkpoint holds one series' rewrite in memory at
    /// a time and streams the file to disk.
    ///
    /// # Errors
    /// [`StoreErrorKind::Io`]. A failure before the new file is begun leaves the store as it
    /// was; a failure while it is written (some blocks already evicted to it) makes every
    /// later checkpoint fail with the first error, and the store must be reopened. Either
    /// way nothing committed is lost: the log and the earlier files are deleted only after
    /// the new file is durable, and reopening recovers from them.
    pub fn checkpoint(&mut self) -> Result<CheckpointReport, StoreError> {
        let mut report = CheckpointReport::default();
        let covered = match &mut self.durable {
            Some(d) => {
                if let Some(why) = &d.failed {
                    return Err(StoreError::new(
                        crate::StoreErrorKind::Io,
                        format!("an earlier checkpoint failed ({why}); reopen the store"),
                    ));
                }
                d.wal.commit()?;
                let covered = d.wal.seq();
                let wal_dir = d.root.join("wal");
                d.wal = Wal::create(&wal_dir, covered + 1, self.opts.sync)?;
                Some(covered)
            }
            None => None,
        };
        for i in 0..self.series.len() {
            self.merge_late(i)?;
            self.seal_head(i)?;
        }
        self.compact()?;
        self.apply_retention()?;
        let newest = self.newest();
        let cutoff = self.opts.resident_ns.map(|r| newest.saturating_sub(r));
        let Some(covered) = covered else {
            self.recount();
            return Ok(report);
        };
        let d = self.durable.as_mut().expect("durable");
        let seq = d.next_file;
        let blk_dir = d.root.join("blocks");
        let mut w = FileWriter::create(&blk_dir, seq, covered, self.opts.sync)?;
        for (i, s) in self.series.iter().enumerate() {
            w.series(i as u32, &s.key)?;
        }
        let written = self
            .write_series_blocks(&mut w, seq, cutoff)
            .and_then(|placed| w.finish(&blk_dir).map(|bytes| (placed, bytes)));
        let d = self.durable.as_mut().expect("durable");
        let (placed, bytes) = match written {
            Ok(x) => x,
            Err(e) => {
                d.failed = Some(e.to_string());
                return Err(e);
            }
        };
        report.file_bytes = bytes;
        report.blocks_written = placed;
        d.next_file = seq + 1;
        d.files.insert(seq, placed);
        d.checkpointed_at = newest;
        // What the new file covers can go.
        let wal_dir = d.root.join("wal");
        for seg in list_segments(&wal_dir)? {
            if seg <= covered && fs::remove_file(wal::segment_path(&wal_dir, seg)).is_ok() {
                report.wal_segments_removed += 1;
            }
        }
        let dead: Vec<u64> = d
            .files
            .iter()
            .filter(|&(&f, &n)| n == 0 && f != seq)
            .map(|(&f, _)| f)
            .collect();
        for f in dead {
            d.files.remove(&f);
            if fs::remove_file(file_path(&blk_dir, f)).is_ok() {
                report.files_removed += 1;
            }
        }
        self.recount();
        Ok(report)
    }

    /// Series by series: coalesces the cold blocks (before `cutoff`), writes every block not
    /// yet on disk to `w` (file `seq`), and evicts the cold ones' bytes; then writes the
    /// manifest. Returns the blocks written.
    fn write_series_blocks(
        &mut self,
        w: &mut FileWriter,
        seq: u64,
        cutoff: Option<i64>,
    ) -> Result<usize, StoreError> {
        let mut manifest = Vec::new();
        let mut placed = 0;
        for i in 0..self.series.len() {
            if let Some(cutoff) = cutoff {
                self.coalesce_before(i, cutoff)?;
            }
            let s = &mut self.series[i];
            for b in &mut s.blocks {
                manifest.push(b.id);
                if b.loc.is_some() {
                    continue;
                }
                if let Some(h) = b.frozen.take() {
                    // Sealed by a coalesce's own compaction trigger; encoded here.
                    s.block_bytes -= h.heap_bytes();
                    let bytes = h.seal()?;
                    s.block_bytes += bytes.len();
                    b.bytes = Some(std::sync::Arc::from(bytes));
                }
                let bytes = b.bytes.as_deref().unwrap_or(&[]);
                let (offset, len, crc) = w.block(b.id, i as u32, &b.stats, bytes)?;
                b.loc = Some(Loc {
                    file: seq,
                    offset,
                    len,
                    crc,
                });
                placed += 1;
            }
            if let Some(cutoff) = cutoff {
                self.evict_series_before(i, cutoff);
            }
        }
        w.manifest(&manifest)?;
        Ok(placed)
    }

    /// Drops whole partitions that ended more than [`StoreOptions::retention_ns`] before the
    /// store's newest sample, first rolling them up into the downsampled tiers
    /// ([`StoreOptions::rollups`]); rollup series themselves keep
    /// [`StoreOptions::rollup_retention_ns`].
    fn apply_retention(&mut self) -> Result<(), StoreError> {
        let newest = self.newest();
        let part = self.opts.partition_ns;
        let mut expired = 0;
        for i in 0..self.series.len() {
            let derived = self.series[i].key.labels.get(ROLLUP_LABEL).is_some();
            let keep = if derived {
                self.opts.rollup_retention_ns
            } else {
                self.opts.retention_ns
            };
            let Some(keep) = keep else { continue };
            // Partitions ending at or before the cutoff go, whole.
            let cutoff = floor_div(newest.saturating_sub(keep), part).saturating_mul(part);
            let n = self.series[i]
                .blocks
                .partition_point(|b| b.stats.max_ts < cutoff);
            if n == 0 {
                continue;
            }
            if !derived && !self.opts.rollups.is_empty() {
                self.roll_up(i, n)?;
            }
            let s = &mut self.series[i];
            for b in s.blocks.drain(..n) {
                expired += 1;
                s.block_bytes -= resident(&b);
                if let (Some(loc), Some(d)) = (b.loc, &mut self.durable)
                    && let Some(c) = d.files.get_mut(&loc.file)
                {
                    *c = c.saturating_sub(1);
                }
            }
        }
        self.stats.blocks_expired += expired;
        Ok(())
    }

    /// Appends the first `n` blocks of series `i`, bucketed at every rollup resolution, to its
    /// rollup series (`count`, `sum`, `min`, `max` per bucket, at the bucket's start).
    fn roll_up(&mut self, i: usize, n: usize) -> Result<(), StoreError> {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for b in &self.series[i].blocks[..n] {
            let (t, v) = self.block_columns(b)?;
            ts.extend_from_slice(&t);
            vs.extend_from_slice(&v);
        }
        let base = self.series[i].key.clone();
        for res in self.opts.rollups.clone() {
            let tag = format!("{}s", res / 1_000_000_000);
            let mut ids = Vec::with_capacity(ROLLUP_FIELDS.len());
            for field in ROLLUP_FIELDS {
                let mut pairs: Vec<(String, String)> = base
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                pairs.push((ROLLUP_LABEL.into(), tag.clone()));
                pairs.push((AGG_LABEL.into(), field.into()));
                let key = base.clone().with_labels(crate::Labels::from_pairs(pairs));
                ids.push(self.series_id(&key)?);
            }
            let mut k = 0;
            while k < ts.len() {
                let start = floor_div(ts[k], res).saturating_mul(res);
                let end = start.saturating_add(res);
                let m = k + ts[k..].partition_point(|&t| t < end);
                let st = BlockStats::of(&ts[k..m], &vs[k..m])?;
                let fields = [st.count as f64, st.sum, st.min, st.max];
                for (id, v) in ids.iter().zip(fields) {
                    self.append_inner(*id, start, v, true)?;
                }
                k = m;
            }
        }
        Ok(())
    }
}
