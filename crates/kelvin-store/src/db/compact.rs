//! Moving samples between tiers: sealing a head into a frozen block, merging late samples
//! into the partitions they belong to, and re-encoding frozen blocks with pco
//! ([`Store::compact`]).

use std::sync::Arc;

#[cfg(doc)]
use super::StoreOptions;
use super::budget::resident;
use super::{Block, Store, dedup_last, floor_div};
use crate::StoreError;
use crate::codec::{BlockStats, HeadChunk, encode_block};

/// Cold blocks a partition may hold (beside what the resident window holds) before they are
/// coalesced.
const COLD_BLOCKS: usize = 2;

/// The room a [`StoreOptions::resident_ns`] store keeps in each series' list of blocks: the
/// window's two or three, the cold ones (at most [`COLD_BLOCKS`] + 1 a partition) and the one
/// the next checkpoint seals.
pub(super) const RESIDENT_BLOCKS: usize = 8;

/// The thread re-encoding a batch of frozen blocks ([`Store::compact`] runs it by itself).
#[derive(Debug)]
pub(super) struct Background(std::thread::JoinHandle<Result<Vec<Encoded>, StoreError>>);

/// A frozen block's pco bytes, and which block (series, id, the frozen samples) they encode.
#[derive(Debug)]
pub(super) struct Encoded {
    series: usize,
    block: u64,
    head: Arc<HeadChunk>,
    bytes: Vec<u8>,
}

/// Encodes a batch of frozen blocks (series, block id, samples) over rayon's threads.
fn encode_batch(batch: Vec<(usize, u64, Arc<HeadChunk>)>) -> Result<Vec<Encoded>, StoreError> {
    use rayon::prelude::*;
    batch
        .into_par_iter()
        .map(|(series, block, head)| {
            let bytes = head.seal()?;
            Ok(Encoded {
                series,
                block,
                head,
                bytes,
            })
        })
        .collect()
}

impl Store {
    fn new_block(&mut self, ts: &[i64], values: &[f64]) -> Result<Block, StoreError> {
        let stats = BlockStats::of(ts, values)?;
        let bytes = encode_block(ts, values)?;
        let id = self.next_block;
        self.next_block += 1;
        self.stats.blocks_sealed += 1;
        Ok(Block {
            id,
            stats,
            frozen: None,
            bytes: Some(Arc::from(bytes)),
            loc: None,
        })
    }

    /// Seals series `i`'s head into a frozen block: its statistics are computed now, the
    /// re-encoding with pco waits for [`Store::compact`] (or a checkpoint).
    pub(super) fn seal_head(&mut self, i: usize) -> Result<(), StoreError> {
        let s = &mut self.series[i];
        if s.head.is_empty() {
            return Ok(());
        }
        let n = s.head.len();
        let mut head = std::mem::replace(&mut s.head, HeadChunk::new());
        s.head_end = i64::MAX;
        let mut stats = std::mem::replace(&mut s.head_stats, BlockStats::EMPTY);
        if std::mem::take(&mut s.head_dups) {
            let (mut ts, mut vs) = (Vec::with_capacity(n), Vec::with_capacity(n));
            head.decode_into(&mut ts, &mut vs);
            dedup_last(&mut ts, &mut vs); // counted when they arrived
            head = HeadChunk::with_capacity(ts.len());
            for (&t, &v) in ts.iter().zip(&vs) {
                head.push(t, v)?;
            }
            stats = BlockStats::of(&ts, &vs)?;
        }
        let id = self.next_block;
        self.next_block += 1;
        self.stats.blocks_sealed += 1;
        self.frozen_samples += stats.count;
        let block = Block {
            id,
            stats,
            frozen: Some(Arc::new(head)),
            bytes: None,
            loc: None,
        };
        let s = &mut self.series[i];
        s.block_bytes += resident(&block);
        s.blocks.push(block);
        self.poll_background()?;
        if self.frozen_samples >= self.opts.compact_after_samples {
            self.compact_in_background()?;
        }
        Ok(())
    }

    /// Hands every frozen block to a background thread that re-encodes them with pco (over
    /// both cores, with rayon) while appends go on; first waits for the batch before, so at
    /// most one is under way. The blocks stay frozen, and readable, until the encoded bytes
    /// are installed (by the next seal that finds the batch done, or by [`Store::compact`]
    /// and every checkpoint, which wait for it). Nothing about durability changes: frozen
    /// blocks are covered by the WAL until a checkpoint writes their bytes, and a checkpoint
    /// compacts first.
    fn compact_in_background(&mut self) -> Result<(), StoreError> {
        self.finish_background()?;
        let mut batch = Vec::new();
        for (i, s) in self.series.iter().enumerate() {
            for b in &s.blocks {
                if let Some(h) = &b.frozen {
                    batch.push((i, b.id, Arc::clone(h)));
                }
            }
        }
        self.frozen_samples = 0;
        if !batch.is_empty() {
            self.background = Some(Background(std::thread::spawn(move || encode_batch(batch))));
        }
        Ok(())
    }

    /// Installs the background batch's bytes if it is done; never waits.
    fn poll_background(&mut self) -> Result<(), StoreError> {
        if self.background.as_ref().is_some_and(|b| b.0.is_finished()) {
            self.finish_background()?;
        }
        Ok(())
    }

    /// Waits for the background batch, if any, and installs its bytes in the blocks that are
    /// still the frozen blocks it encoded (a block rewritten meanwhile, by a late-sample merge
    /// or a coalesce, has new bytes already). Returns the samples installed.
    fn finish_background(&mut self) -> Result<u64, StoreError> {
        let Some(Background(handle)) = self.background.take() else {
            return Ok(0);
        };
        // A panic while encoding is raised here, as it would have been without the thread.
        let encoded = handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        let mut n = 0;
        for e in encoded {
            let Some(s) = self.series.get_mut(e.series) else {
                continue;
            };
            let Some(b) = s.blocks.iter_mut().rev().find(|b| b.id == e.block) else {
                continue;
            };
            if b.frozen.as_ref().is_some_and(|h| Arc::ptr_eq(h, &e.head)) {
                s.block_bytes -= e.head.heap_bytes();
                s.block_bytes += e.bytes.len();
                b.bytes = Some(Arc::from(e.bytes));
                b.frozen = None;
                n += b.stats.count;
            }
        }
        Ok(n)
    }

    /// Re-encodes every frozen block with pco (in parallel over series, with rayon): sealed
    /// blocks shrink from Gorilla's bytes to pco's. Runs by itself, on a background thread,
    /// when [`StoreOptions::compact_after_samples`] frozen samples pile up; this call waits
    /// for that thread's batch, then encodes what is left. Runs before every checkpoint.
    /// Returns the samples re-encoded (those of the background batch included).
    ///
    /// # Errors
    /// An encoding failure (not expected for any input; reported rather than panicking).
    pub fn compact(&mut self) -> Result<u64, StoreError> {
        use rayon::prelude::*;
        let installed = self.finish_background()?;
        let done = self
            .series
            .par_iter_mut()
            .map(|s| {
                let mut n = 0u64;
                for b in &mut s.blocks {
                    if let Some(h) = b.frozen.take() {
                        s.block_bytes -= h.heap_bytes();
                        let bytes = h.seal()?;
                        s.block_bytes += bytes.len();
                        b.bytes = Some(Arc::from(bytes));
                        n += b.stats.count;
                    }
                }
                Ok(n)
            })
            .try_reduce(|| 0, |a, b| Ok(a + b))?;
        self.frozen_samples = 0;
        Ok(installed + done)
    }

    /// Merges series `i`'s late buffer into its blocks, rewriting the partitions it touches.
    pub(super) fn merge_late(&mut self, i: usize) -> Result<(), StoreError> {
        if self.series[i].late.is_empty() {
            return Ok(());
        }
        let mut late = std::mem::take(&mut self.series[i].late);
        late.sort_by_key(|p| p.0); // stable: later writes stay later
        if let (Some(first), Some(&(lt, _))) = (self.series[i].head.first_ts(), late.last())
            && lt >= first
        {
            self.seal_head(i)?;
        }
        let part = self.opts.partition_ns;
        let mut start = 0;
        while start < late.len() {
            let p = floor_div(late[start].0, part);
            let end = start + late[start..].partition_point(|x| floor_div(x.0, part) == p);
            self.rewrite_partition(i, p, &late[start..end])?;
            start = end;
        }
        Ok(())
    }

    fn rewrite_partition(
        &mut self,
        i: usize,
        p: i64,
        late: &[(i64, f64)],
    ) -> Result<(), StoreError> {
        let part = self.opts.partition_ns;
        let s = &self.series[i];
        let lo = s
            .blocks
            .partition_point(|b| floor_div(b.stats.max_ts, part) < p);
        let hi = s
            .blocks
            .partition_point(|b| floor_div(b.stats.min_ts, part) <= p);
        self.rewrite_blocks(i, lo, hi, late).map(|_| ())
    }

    /// Coalesces series `i`'s blocks wholly before `cutoff`, partition by partition (a
    /// [`StoreOptions::resident_ns`] store seals short heads; once they leave the window
    /// they need not stay many).
    pub(super) fn coalesce_before(&mut self, i: usize, cutoff: i64) -> Result<(), StoreError> {
        let part = self.opts.partition_ns;
        let per = self.opts.block_samples as u64;
        let mut lo = 0;
        loop {
            let blocks = &self.series[i].blocks;
            let cold = blocks.partition_point(|b| b.stats.max_ts < cutoff);
            if lo >= cold {
                // A list that grew past its usual length gives the room back (not below
                // eight: reallocating every series' list at every checkpoint fragments the
                // heap more than the room costs).
                let s = &mut self.series[i];
                let keep = s.blocks.len().max(RESIDENT_BLOCKS);
                s.blocks.shrink_to(keep);
                return Ok(());
            }
            let p = floor_div(blocks[lo].stats.min_ts, part);
            let hi =
                lo + blocks[lo..cold].partition_point(|b| floor_div(b.stats.min_ts, part) == p);
            // Merged once more than two have piled up: a partition keeps at most two cold
            // blocks beside the window's, and each sample is rewritten about once per two
            // checkpoints of its partition.
            let count: u64 = blocks[lo..hi].iter().map(|b| b.stats.count).sum();
            let fewer = count.div_ceil(per) as usize;
            lo = if hi - lo > COLD_BLOCKS.max(fewer) {
                lo + self.rewrite_blocks(i, lo, hi, &[])?
            } else {
                hi
            };
        }
    }

    /// Rewrites series `i`'s blocks `lo..hi` (of one partition) with `late` merged in, into
    /// full blocks; returns how many blocks replaced them.
    fn rewrite_blocks(
        &mut self,
        i: usize,
        lo: usize,
        hi: usize,
        late: &[(i64, f64)],
    ) -> Result<usize, StoreError> {
        let s = &self.series[i];
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for b in &s.blocks[lo..hi] {
            let (t, v) = self.block_columns(b)?;
            ts.extend_from_slice(&t);
            vs.extend_from_slice(&v);
        }
        let old_n = ts.len();
        ts.extend(late.iter().map(|x| x.0));
        vs.extend(late.iter().map(|x| x.1));
        if old_n > 0 {
            // Stable: at equal times the late sample (later write) follows the stored one.
            let mut idx: Vec<usize> = (0..ts.len()).collect();
            idx.sort_by_key(|&k| ts[k]);
            let t2: Vec<i64> = idx.iter().map(|&k| ts[k]).collect();
            let v2: Vec<f64> = idx.iter().map(|&k| vs[k]).collect();
            ts = t2;
            vs = v2;
        }
        self.stats.overwritten += dedup_last(&mut ts, &mut vs) as u64;
        let mut fresh = Vec::new();
        for (ct, cv) in ts
            .chunks(self.opts.block_samples)
            .zip(vs.chunks(self.opts.block_samples))
        {
            fresh.push(self.new_block(ct, cv)?);
        }
        let made = fresh.len();
        let s = &mut self.series[i];
        s.block_bytes += fresh.iter().map(resident).sum::<usize>();
        let old: Vec<Block> = s.blocks.splice(lo..hi, fresh).collect();
        s.block_bytes -= old.iter().map(resident).sum::<usize>();
        if let Some(d) = &mut self.durable {
            for b in old {
                if let Some(loc) = b.loc
                    && let Some(n) = d.files.get_mut(&loc.file)
                {
                    *n = n.saturating_sub(1);
                }
            }
        }
        Ok(made)
    }
}
