//! The columnar time-series store, [`Store`]: interned series, a Gorilla-compressed mutable
//! head per series, sealed pco blocks with per-block statistics, out-of-order handling, and
//! (when opened on a directory) a write-ahead log, checkpoints to checksummed block files and
//! recovery.
//!
//! One concern per module, each adding `impl Store` blocks over the types defined here:
//!
//! - `options`: [`StoreOptions`];
//! - `open`: [`Store::open`], recovery (loading block files, replaying the log, setting
//!   damaged files aside) and its [`OpenReport`];
//! - `append`: interning series and appending samples (in order, late, too late), with
//!   [`Appended`] and the [`StoreStats`] counters;
//! - `budget`: the memory budget (what each series holds, reserving before growing);
//! - `compact`: sealing heads into blocks, merging late samples into their partitions, and
//!   re-encoding frozen blocks with pco ([`Store::compact`]);
//! - `checkpoint`: [`Store::commit`], [`Store::checkpoint`] (block files, log truncation),
//!   retention and the rollup tiers;
//! - `read`: scans, aggregates from block statistics, the id-based queries and the
//!   [`crate::SeriesRead`] implementation;
//! - `wal` and `files`: the on-disk formats of the log and the block files
//!   (`docs/format.md`).
//!
//! The read side never changes the store; only `open` (recovery), `append`, `compact`,
//! `checkpoint` and `budget` do.

mod append;
mod budget;
mod checkpoint;
mod compact;
mod files;
mod open;
mod options;
mod read;
mod wal;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::FxBuildHasher;

use kelvin_model::{EntityId, SensorKind};

use crate::codec::{BlockStats, HeadChunk};
use crate::{Selector, SeriesKey, StoreError, StoreErrorKind};

pub use append::{Appended, StoreStats};
pub use checkpoint::{AGG_LABEL, CheckpointReport, ROLLUP_LABEL};
pub use open::{OpenReport, SetAside, TornTail};
pub use options::StoreOptions;

use append::ReadingKey;
use wal::Wal;

/// A series' handle inside one [`Store`]: an index, valid for the store's lifetime and across
/// reopenings of the same directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(u32);

impl SeriesId {
    /// The id as a number (dense, from 0).
    pub fn index(self) -> u32 {
        self.0
    }
}

/// Where a block's bytes are in a block file.
#[derive(Debug, Clone, Copy)]
struct Loc {
    file: u64,
    offset: u64,
    len: u32,
    crc: u32,
}

/// A sealed block: frozen Gorilla samples waiting for [`Store::compact`], or pco bytes in
/// memory, on disk, or both.
#[derive(Debug)]
struct Block {
    id: u64,
    stats: BlockStats,
    /// Behind a pointer: most blocks are not frozen, and a series holds its blocks' metadata
    /// for as long as the partition lives. Shared, so that a background compaction can encode
    /// it while reads go on decoding it.
    frozen: Option<Arc<HeadChunk>>,
    bytes: Option<Arc<[u8]>>,
    loc: Option<Loc>,
}

/// One series: its key, its mutable head, the late samples waiting to be merged, and its
/// sealed blocks.
#[derive(Debug)]
struct Series {
    key: SeriesKey,
    head: HeadChunk,
    late: Vec<(i64, f64)>,
    /// Sorted by time, pairwise disjoint, all before the head's first sample.
    blocks: Vec<Block>,
    /// Newest timestamp stored (`i64::MIN`: none).
    newest: i64,
    /// First instant of the next partition after the head's first sample, or the head's
    /// first sample plus the head span when [`StoreOptions::resident_ns`] is set, whichever
    /// is earlier (the head seals before a sample at or after it); `i64::MAX` while the head
    /// is empty.
    head_end: i64,
    /// Whether the head holds two samples with one timestamp (then sealing deduplicates).
    head_dups: bool,
    /// The head's statistics, kept as samples arrive (recomputed at a seal with duplicates).
    head_stats: BlockStats,
    /// Bytes of the blocks' resident payloads.
    block_bytes: usize,
}

impl Series {
    /// An empty series of `key`.
    fn new(key: SeriesKey) -> Self {
        Series {
            key,
            head: HeadChunk::new(),
            late: Vec::new(),
            blocks: Vec::new(),
            newest: i64::MIN,
            head_end: i64::MAX,
            head_dups: false,
            head_stats: BlockStats::EMPTY,
            block_bytes: 0,
        }
    }
}

/// What a store opened on a directory adds: the directory, the log, and the block files.
#[derive(Debug)]
struct Durable {
    root: PathBuf,
    wal: Wal,
    /// Block file seq → live blocks in it.
    files: BTreeMap<u64, usize>,
    next_file: u64,
    /// The store's newest sample at the last checkpoint (or opening): with
    /// [`StoreOptions::resident_ns`], commits checkpoint once the newest moved a head span.
    checkpointed_at: i64,
    /// Why a checkpoint failed after it began evicting blocks to its file: later
    /// checkpoints refuse until the store is reopened.
    failed: Option<String>,
}

/// Kelvin's time-series store.
///
/// - **Series** are interned: [`Store::series_id`] resolves a [`SeriesKey`] once, and
///   [`Store::append`] / [`Store::append_many`] take the [`SeriesId`].
/// - **Two tiers:** each series has a mutable head, Gorilla-compressed (delta-of-delta
///   timestamps, XOR values), that seals into immutable pco blocks of up to
///   [`StoreOptions::block_samples`] samples, never straddling a partition. Each block keeps
///   its [`BlockStats`], so aggregates over whole blocks never decode them.
/// - **Late data** inside [`StoreOptions::late_window_ns`] is buffered and merged into its
///   partition's blocks; older data is rejected and counted. Equal timestamps: last write wins.
/// - **Durability** ([`Store::open`]): appends go to a write-ahead log, acknowledged by
///   [`Store::commit`] (one `fsync` per commit: group commit); [`Store::checkpoint`] seals
///   everything into a checksummed block file and drops the covered log. Opening replays the
///   log, cuts off a torn tail and sets corrupt files aside, reporting both ([`OpenReport`]).
/// - **Queries** by key are those of [`crate::SeriesRead`] (the same code and numbers as
///   [`crate::MemStore`], the reference it is tested against); by id, [`Store::scan`],
///   [`Store::aggregate`] and [`Store::time_buckets`] (from block statistics where whole
///   blocks allow), [`Store::resample_many`] and [`Store::asof`].
///
/// ```
/// use kelvin_model::{EntityId, SensorKind};
/// use kelvin_store::{SeriesKey, Store, StoreOptions};
///
/// let mut store = Store::in_memory(StoreOptions::default());
/// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power);
/// let id = store.series_id(&key)?;
/// for i in 0..100_i64 {
///     store.append(id, i * 15_000_000_000, 200.0 + i as f64)?;
/// }
/// let agg = store.aggregate(id, i64::MIN, i64::MAX)?;
/// assert_eq!((agg.count, agg.min, agg.max), (100, 200.0, 299.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Store {
    opts: StoreOptions,
    series: Vec<Series>,
    index: HashMap<SeriesKey, SeriesId, FxBuildHasher>,
    /// Series ids per entity, so that selecting one entity's series does not scan them all.
    by_entity: HashMap<EntityId, Vec<SeriesId>, FxBuildHasher>,
    stats: StoreStats,
    durable: Option<Durable>,
    next_block: u64,
    /// Samples in frozen (not yet pco-encoded) blocks, less those handed to `background`.
    frozen_samples: u64,
    /// The frozen blocks being re-encoded on a background thread (at most one batch).
    background: Option<compact::Background>,
    /// Reading series resolved by the addresses of their shared entity and sensor text.
    reading_cache:
        HashMap<ReadingKey, (EntityId, kelvin_model::SensorName, SeriesId), FxBuildHasher>,
    /// Upper bound of the bytes held, refreshed exactly by [`Store::memory_bytes`].
    mem_estimate: usize,
}

/// `a / b` rounded towards negative infinity: the partition (of width `b`) holding `a`.
impl Store {
    /// The newest sample's time over all series (`i64::MIN`: none).
    fn newest(&self) -> i64 {
        self.series
            .iter()
            .map(|s| s.newest)
            .max()
            .unwrap_or(i64::MIN)
    }
}

fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

impl Store {
    /// An empty store that lives in memory only.
    pub fn in_memory(opts: StoreOptions) -> Store {
        Store {
            opts,
            series: Vec::new(),
            index: HashMap::default(),
            by_entity: HashMap::default(),
            stats: StoreStats::default(),
            durable: None,
            next_block: 0,
            frozen_samples: 0,
            background: None,
            reading_cache: HashMap::default(),
            mem_estimate: 0,
        }
    }

    /// The options the store runs with.
    pub fn options(&self) -> &StoreOptions {
        &self.opts
    }

    /// Counters since creation or opening.
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    /// The directory of a durable store.
    pub fn dir(&self) -> Option<&Path> {
        self.durable.as_ref().map(|d| d.root.as_path())
    }

    /// Number of series.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// The id of `key` if the series exists.
    pub fn find(&self, key: &SeriesKey) -> Option<SeriesId> {
        self.index.get(key).copied()
    }

    /// The key of series `id`.
    pub fn key(&self, id: SeriesId) -> Option<&SeriesKey> {
        self.series.get(id.0 as usize).map(|s| &s.key)
    }

    /// Every series, in id order.
    pub fn series(&self) -> impl ExactSizeIterator<Item = (SeriesId, &SeriesKey)> {
        self.series
            .iter()
            .enumerate()
            .map(|(i, s)| (SeriesId(i as u32), &s.key))
    }

    /// Series of `entity` (any when `None`) and `kind` (any when `None`), in key order.
    pub fn select(&self, entity: Option<&EntityId>, kind: Option<SensorKind>) -> Vec<SeriesId> {
        let mut v: Vec<SeriesId> = match entity {
            // The entity's own series only: O(its series), not O(all series).
            Some(e) => self
                .by_entity
                .get(e)
                .map(|ids| {
                    ids.iter()
                        .copied()
                        .filter(|id| kind.is_none_or(|x| self.series[id.0 as usize].key.kind == x))
                        .collect()
                })
                .unwrap_or_default(),
            None => self
                .series()
                .filter(|(_, k)| kind.is_none_or(|x| k.kind == x))
                .map(|(id, _)| id)
                .collect(),
        };
        v.sort_by(|a, b| {
            self.series[a.0 as usize]
                .key
                .cmp(&self.series[b.0 as usize].key)
        });
        v
    }

    /// Series `id`, or the error for an id this store did not hand out.
    fn series_at(&self, id: SeriesId) -> Result<&Series, StoreError> {
        self.series
            .get(id.0 as usize)
            .ok_or_else(|| Self::unknown(id))
    }

    /// The error for an id this store did not hand out.
    fn unknown(id: SeriesId) -> StoreError {
        StoreError::new(
            StoreErrorKind::UnknownSeries,
            format!("no series with id {}", id.0),
        )
    }

    /// Series whose keys match `selector`, in key order.
    pub fn select_matching(&self, selector: &Selector) -> Vec<SeriesId> {
        let mut v: Vec<SeriesId> = self
            .series()
            .filter(|(_, k)| selector.matches(k))
            .map(|(id, _)| id)
            .collect();
        v.sort_by(|a, b| {
            self.series[a.0 as usize]
                .key
                .cmp(&self.series[b.0 as usize].key)
        });
        v
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Best effort: what was appended but not committed is written (not acknowledged).
        if let Some(d) = &mut self.durable {
            let _ = d.wal.commit();
        }
    }
}

/// Keeps the last of each run of equal timestamps (sorted input); returns how many it removed.
fn dedup_last(ts: &mut Vec<i64>, vs: &mut Vec<f64>) -> usize {
    let n = ts.len();
    if ts.windows(2).all(|w| w[0] != w[1]) {
        return 0;
    }
    let mut w = 0;
    for r in 0..n {
        if r + 1 < n && ts[r + 1] == ts[r] {
            continue;
        }
        ts[w] = ts[r];
        vs[w] = vs[r];
        w += 1;
    }
    ts.truncate(w);
    vs.truncate(w);
    n - w
}
