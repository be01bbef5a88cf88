//! [`StoreOptions`]: block size, partitioning, the late-data window, retention, rollups, the
//! memory budget and durability.

#[cfg(doc)]
use crate::Store;
use crate::{StoreError, StoreErrorKind};

/// How [`Store`] behaves: block size, partitioning, the late-data window, retention, the memory
/// budget and durability. Built with [`StoreOptions::default`] and the `with_*` setters.
///
/// ```
/// use kelvin_store::StoreOptions;
///
/// let opts = StoreOptions::default()
///     .with_late_window_ns(600_000_000_000)     // accept samples up to 10 min late
///     .with_memory_budget(64 << 20);            // 64 MiB
/// assert_eq!(opts.block_samples, 8192);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Most samples in one sealed block (the head seals when it holds this many).
    pub block_samples: usize,
    /// Blocks never straddle a multiple of this many nanoseconds (default 1 day), so retention
    /// and late-data merges touch whole partitions.
    pub partition_ns: i64,
    /// How late a sample may arrive, behind the newest sample of its series, and still be
    /// stored (default 1 hour). Older samples are rejected and counted.
    pub late_window_ns: i64,
    /// Late samples buffered per series before they are merged into blocks.
    pub late_buffer: usize,
    /// Drop blocks whose newest sample is older than this, behind the store's newest sample,
    /// at each checkpoint (default: keep everything).
    pub retention_ns: Option<i64>,
    /// Hard limit on the bytes the store holds in memory (series, heads, late buffers,
    /// resident blocks, the WAL buffer). `None`: unlimited.
    pub memory_budget: Option<usize>,
    /// `fsync` the WAL on every commit and block files on every checkpoint (default true;
    /// turn off only for benchmarks and tests that do not crash).
    pub sync: bool,
    /// With a directory: write a checkpoint when the current WAL segment passes this size.
    pub checkpoint_wal_bytes: u64,
    /// Re-encode frozen blocks with pco ([`Store::compact`]) once this many samples wait in
    /// them (default 4 Mi samples, about 8 MB of Gorilla bytes).
    pub compact_after_samples: u64,
    /// Downsampled tiers: bucket widths in ns (each dividing [`StoreOptions::partition_ns`]).
    /// Before retention drops a partition, its samples are summarized per bucket into four
    /// rollup series per width, labelled `__rollup="300s"` and `__agg` = `count`, `sum`,
    /// `min`, `max`, valued at each bucket's start.
    pub rollups: Vec<i64>,
    /// Retention of the rollup series (default: keep them).
    pub rollup_retention_ns: Option<i64>,
    /// With a directory: keep in memory only the samples of this trailing window (behind the
    /// store's newest sample) and what is not yet on disk (default: keep everything until the
    /// memory budget forces eviction). Heads seal once they span half the window,
    /// [`crate::Store::commit`] checkpoints once the newest sample has moved half of it
    /// since the last checkpoint, and each checkpoint drops from memory the persisted blocks
    /// wholly before the window, first coalescing a partition's blocks that left it into
    /// full blocks once more than two have piled up, so a long-running store's memory stays
    /// flat. Reads before the window
    /// re-read their blocks from disk.
    pub resident_ns: Option<i64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            block_samples: 8192,
            partition_ns: 86_400 * 1_000_000_000,
            late_window_ns: 3_600 * 1_000_000_000,
            late_buffer: 1024,
            retention_ns: None,
            memory_budget: None,
            sync: true,
            checkpoint_wal_bytes: 256 << 20,
            compact_after_samples: 1 << 22,
            rollups: Vec::new(),
            rollup_retention_ns: None,
            resident_ns: None,
        }
    }
}

impl StoreOptions {
    /// Sets [`StoreOptions::block_samples`] (at least 16, at most
    /// [`MAX_BLOCK_SAMPLES`](crate::MAX_BLOCK_SAMPLES), what one block may hold).
    pub fn with_block_samples(mut self, n: usize) -> Self {
        self.block_samples = n.clamp(16, crate::MAX_BLOCK_SAMPLES);
        self
    }
    /// Sets [`StoreOptions::partition_ns`] (at least 1 s).
    pub fn with_partition_ns(mut self, ns: i64) -> Self {
        self.partition_ns = ns.max(1_000_000_000);
        self
    }
    /// Sets [`StoreOptions::late_window_ns`] (0: only in-order samples).
    pub fn with_late_window_ns(mut self, ns: i64) -> Self {
        self.late_window_ns = ns.max(0);
        self
    }
    /// Sets [`StoreOptions::retention_ns`].
    pub fn with_retention_ns(mut self, ns: Option<i64>) -> Self {
        self.retention_ns = ns.map(|n| n.max(0));
        self
    }
    /// Sets [`StoreOptions::memory_budget`] in bytes.
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = Some(bytes);
        self
    }
    /// Sets [`StoreOptions::sync`].
    pub fn with_sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }
    /// Sets [`StoreOptions::compact_after_samples`] (at least 1).
    pub fn with_compact_after_samples(mut self, n: u64) -> Self {
        self.compact_after_samples = n.max(1);
        self
    }
    /// Sets the downsampled tiers ([`StoreOptions::rollups`]) and their retention.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] when a width is not a positive whole number of seconds
    /// dividing [`StoreOptions::partition_ns`] (set the partition first).
    pub fn with_rollups(
        mut self,
        widths_ns: &[i64],
        retention_ns: Option<i64>,
    ) -> Result<Self, StoreError> {
        for &w in widths_ns {
            if w < 1_000_000_000 || w % 1_000_000_000 != 0 || self.partition_ns % w != 0 {
                return Err(StoreError::new(
                    StoreErrorKind::InvalidInput,
                    format!(
                        "rollup width {w} ns must be whole seconds dividing the partition ({} ns)",
                        self.partition_ns
                    ),
                ));
            }
        }
        self.rollups = widths_ns.to_vec();
        self.rollup_retention_ns = retention_ns;
        Ok(self)
    }
    /// Sets [`StoreOptions::resident_ns`] (`None`: keep everything resident; a window is at
    /// least 4 s).
    ///
    /// ```
    /// use kelvin_store::StoreOptions;
    ///
    /// let hour = 3_600_000_000_000;
    /// let opts = StoreOptions::default().with_resident_ns(Some(2 * hour));
    /// assert_eq!(opts.resident_ns, Some(2 * hour));
    /// ```
    pub fn with_resident_ns(mut self, ns: Option<i64>) -> Self {
        self.resident_ns = ns.map(|n| n.max(4_000_000_000));
        self
    }

    /// The span after which a head seals (half of [`StoreOptions::resident_ns`]).
    pub(crate) fn head_span_ns(&self) -> Option<i64> {
        self.resident_ns.map(|r| r / 2)
    }

    /// Sets [`StoreOptions::checkpoint_wal_bytes`].
    pub fn with_checkpoint_wal_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_wal_bytes = bytes.max(1 << 16);
        self
    }
}
