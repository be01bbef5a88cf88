//! The memory budget ([`super::StoreOptions::memory_budget`]): what each series holds, an upper
//! bound of what one more sample can add, and [`Store`]'s reservation that seals, compacts and
//! evicts persisted blocks before it refuses an append.

use super::append::ReadingKey;
use super::{Block, Series, SeriesId, Store};
use crate::codec::HeadChunk;
use crate::{SeriesKey, StoreError, StoreErrorKind};

pub(super) fn resident(b: &Block) -> usize {
    b.bytes.as_ref().map_or(0, |x| x.len()) + b.frozen.as_ref().map_or(0, |h| h.heap_bytes())
}

/// Upper bound of the head bytes one appended sample can take (Gorilla's worst case is about
/// 18 bytes: a full-width timestamp escape and a full-width value).
const SAMPLE_BOUND: usize = 20;

impl Series {
    fn overhead_bytes(&self) -> usize {
        let mut n = std::mem::size_of::<Series>()
            + self.key.entity.as_str().len()
            + self.key.sensor.as_str().len()
            + self.key.entity.as_str().len()  // the index holds a second key (shared Arcs
            + self.key.sensor.as_str().len(); // in practice; counted twice to be safe)
        for (k, v) in self.key.labels.iter() {
            n += k.len() + v.len() + 32;
        }
        n
    }

    /// Bytes held by this series (O(1): block payload bytes are tracked as they change).
    pub(super) fn heap_bytes(&self) -> usize {
        self.overhead_bytes()
            + self.head.heap_bytes()
            + self.late.capacity() * 16
            + self.blocks.capacity() * std::mem::size_of::<Block>()
            + self.block_bytes
    }

    /// An upper bound of what one more sample can add (a head or late-buffer reallocation,
    /// a seal into a new block).
    pub(super) fn growth_bound(&self) -> usize {
        let spare_bits = (self.head.heap_bytes() as u64 * 8).saturating_sub(self.head.bit_len());
        let mut n = SAMPLE_BOUND;
        if spare_bits < 256 {
            n += self.head.heap_bytes().max(32);
        }
        if self.late.len() == self.late.capacity() {
            n += self.late.capacity().max(4) * 16;
        }
        // A seal or merge can add a block as large as the head or late buffer, and double the
        // block list.
        n + self.head.heap_bytes()
            + self.late.len() * 16
            + 256
            + (self.blocks.capacity().max(4)) * std::mem::size_of::<Block>()
    }
}

impl Store {
    /// Makes sure `extra` more bytes fit the budget: seals heads and evicts persisted blocks
    /// (checkpointing first when durable) before refusing.
    pub(super) fn reserve(&mut self, extra: usize) -> Result<(), StoreError> {
        let Some(budget) = self.opts.memory_budget else {
            return Ok(());
        };
        if self.mem_estimate + extra <= budget {
            return Ok(());
        }
        self.recount();
        if self.mem_estimate + extra <= budget {
            return Ok(());
        }
        // Compress heads into blocks, persist, then drop persisted blocks' bytes.
        if self.durable.is_some() {
            self.checkpoint()?;
        } else {
            for i in 0..self.series.len() {
                self.merge_late(i)?;
                self.seal_head(i)?;
            }
            self.compact()?;
        }
        for s in &mut self.series {
            // Sealed heads and merged late buffers give their allocations back.
            s.head = HeadChunk::new();
            s.late = Vec::new();
            for b in &mut s.blocks {
                if b.loc.is_some() {
                    s.block_bytes -= resident(b);
                    b.bytes = None;
                }
            }
        }
        self.recount();
        if self.mem_estimate + extra <= budget {
            return Ok(());
        }
        self.stats.over_budget += 1;
        Err(StoreError::new(
            StoreErrorKind::MemoryBudget,
            format!(
                "memory budget of {budget} bytes exhausted: {} bytes held after sealing and evicting, {extra} more needed",
                self.mem_estimate
            ),
        ))
    }

    /// Drops from memory the bytes of persisted blocks wholly before `cutoff` (reads re-read
    /// them from their files).
    pub(super) fn evict_series_before(&mut self, i: usize, cutoff: i64) {
        let s = &mut self.series[i];
        let cold = s.blocks.partition_point(|b| b.stats.max_ts < cutoff);
        for b in &mut s.blocks[..cold] {
            if b.loc.is_some() && b.frozen.is_none() && b.bytes.is_some() {
                s.block_bytes -= resident(b);
                b.bytes = None;
            }
        }
    }

    /// Recomputes the exact byte count (the budget's basis).
    pub(super) fn recount(&mut self) {
        let mut n = self.series.capacity() * std::mem::size_of::<Series>()
            + self.index.capacity() * (std::mem::size_of::<(SeriesKey, SeriesId)>() + 8)
            + self.reading_cache.capacity()
                * (std::mem::size_of::<(
                    ReadingKey,
                    (kelvin_model::EntityId, kelvin_model::SensorName, SeriesId),
                )>() + 8);
        for s in &self.series {
            n += s.heap_bytes() - std::mem::size_of::<Series>();
        }
        if let Some(d) = &self.durable {
            n += d.wal.heap_bytes();
        }
        self.mem_estimate = n;
    }

    /// The running estimate behind [`Store::memory_bytes`], without recounting: an upper bound
    /// kept as samples arrive (exact after each recount the budget makes).
    pub fn memory_estimate(&self) -> usize {
        self.mem_estimate
    }

    /// Bytes the store holds in memory: series and index, heads, late buffers, resident block
    /// bytes and the WAL buffer.
    pub fn memory_bytes(&mut self) -> usize {
        self.recount();
        self.mem_estimate
    }
}
