//! The columnar time-series store: interned series, a Gorilla-compressed mutable head per
//! series, sealed pco blocks with per-block statistics, out-of-order handling, and (when opened
//! on a directory) a write-ahead log, checkpoints to checksummed block files and recovery.

mod files;
mod wal;

use std::collections::{BTreeMap, HashMap};

use rustc_hash::FxBuildHasher;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kelvin_model::{Reading, SensorKind, TimeRange};

use crate::bytes::key_unencodable;
use crate::codec::{BlockStats, HeadChunk, decode_block, encode_block};
use crate::query::{Aggregate, Buckets, Selector};
use crate::{
    CounterIncrease, Grid, ResampleOptions, Sample, SeriesData, SeriesKey, StoreError,
    StoreErrorKind,
};

use files::{BlockEntry, FileWriter, file_path, read_block, read_file};
use wal::{Record, Wal, io_err, list_numbered, list_segments, scan_segment, truncate_segment};

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
    /// Sets [`StoreOptions::checkpoint_wal_bytes`].
    pub fn with_checkpoint_wal_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_wal_bytes = bytes.max(1 << 16);
        self
    }
}

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

/// A torn WAL tail found and cut off on open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub file: PathBuf,
    /// Where the first bad record starts.
    pub offset: u64,
    /// Bytes cut off.
    pub bytes: u64,
    /// Why the record was rejected.
    pub reason: String,
}

/// A file set aside on open because it failed verification; its contents are not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// Where the file was.
    pub file: PathBuf,
    /// Where it was moved.
    pub moved_to: PathBuf,
    /// The verification failure.
    pub reason: String,
}

/// What [`Store::open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OpenReport {
    /// Block files loaded.
    pub block_files: usize,
    /// Blocks loaded.
    pub blocks: usize,
    /// WAL segments replayed.
    pub wal_segments: usize,
    /// Samples replayed from the WAL.
    pub wal_samples: u64,
    /// Torn WAL tails truncated.
    pub torn: Vec<TornTail>,
    /// Corrupt files moved to `corrupt/`.
    pub set_aside: Vec<SetAside>,
    /// Blocks listed as live by the newest block file but found in no readable file.
    pub lost_blocks: Vec<u64>,
    /// Series ids whose definition was lost with a set-aside file; their samples (if any
    /// survive in the log) are kept under the placeholder key `lost-series-N/lost`.
    pub lost_series: Vec<u32>,
}

impl OpenReport {
    /// Whether recovery found nothing wrong.
    pub fn is_clean(&self) -> bool {
        self.torn.is_empty()
            && self.set_aside.is_empty()
            && self.lost_blocks.is_empty()
            && self.lost_series.is_empty()
    }
}

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
    frozen: Option<HeadChunk>,
    bytes: Option<Arc<[u8]>>,
    loc: Option<Loc>,
}

#[derive(Debug)]
struct Series {
    key: SeriesKey,
    head: HeadChunk,
    late: Vec<(i64, f64)>,
    /// Sorted by time, pairwise disjoint, all before the head's first sample.
    blocks: Vec<Block>,
    /// Newest timestamp stored (`i64::MIN`: none).
    newest: i64,
    /// First instant of the next partition after the head's first sample (the head seals
    /// before a sample at or after it); `i64::MAX` while the head is empty.
    head_end: i64,
    /// Whether the head holds two samples with one timestamp (then sealing deduplicates).
    head_dups: bool,
    /// The head's statistics, kept as samples arrive (recomputed at a seal with duplicates).
    head_stats: BlockStats,
    /// Bytes of the blocks' resident payloads.
    block_bytes: usize,
}

fn resident(b: &Block) -> usize {
    b.bytes.as_ref().map_or(0, |x| x.len()) + b.frozen.as_ref().map_or(0, HeadChunk::heap_bytes)
}

impl Series {
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
    fn heap_bytes(&self) -> usize {
        self.overhead_bytes()
            + self.head.heap_bytes()
            + self.late.capacity() * 16
            + self.blocks.capacity() * std::mem::size_of::<Block>()
            + self.block_bytes
    }

    /// An upper bound of what one more sample can add (a head or late-buffer reallocation,
    /// a seal into a new block).
    fn growth_bound(&self) -> usize {
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

#[derive(Debug)]
struct Durable {
    root: PathBuf,
    wal: Wal,
    /// Block file seq → live blocks in it.
    files: BTreeMap<u64, usize>,
    next_file: u64,
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
    by_entity: HashMap<kelvin_model::EntityId, Vec<SeriesId>, FxBuildHasher>,
    stats: StoreStats,
    durable: Option<Durable>,
    next_block: u64,
    /// Samples in frozen (not yet pco-encoded) blocks.
    frozen_samples: u64,
    /// Reading series resolved by the addresses of their shared entity and sensor text.
    reading_cache: HashMap<
        ReadingKey,
        (kelvin_model::EntityId, kelvin_model::SensorName, SeriesId),
        FxBuildHasher,
    >,
    /// Upper bound of the bytes held, refreshed exactly by [`Store::memory_bytes`].
    mem_estimate: usize,
}

/// The label marking a rollup series, valued by its bucket width (`"300s"`).
pub const ROLLUP_LABEL: &str = "__rollup";
/// The label naming a rollup series' aggregate (`count`, `sum`, `min`, `max`).
pub const AGG_LABEL: &str = "__agg";
const ROLLUP_FIELDS: [&str; 4] = ["count", "sum", "min", "max"];

/// Entity text address and length, sensor text address and length, kind.
type ReadingKey = (usize, usize, usize, usize, SensorKind);
/// Entries of the reading cache before it starts over.
const READING_CACHE_MAX: usize = 1 << 16;

/// Upper bound of the head bytes one appended sample can take (Gorilla's worst case is about
/// 18 bytes: a full-width timestamp escape and a full-width value).
const SAMPLE_BOUND: usize = 20;

/// The smallest series entry of a block file: entry header (9 bytes), id (4), the shortest
/// key (a 1-byte entity, an empty sensor, a 5-byte kind name, no labels: 3 + 2 + 7 + 2).
/// A set-aside file of `n` bytes can have defined at most `n / 27` series.
const MIN_SERIES_ENTRY_BYTES: u64 = 9 + 4 + (2 + 1) + 2 + (2 + 5) + 2;

/// How many placeholder series recovery may still make (see [`Store::add_lost`]).
struct Lost {
    allowance: u64,
}

/// Block file → live blocks in it, as loaded.
fn store_files(store: &Store) -> BTreeMap<u64, usize> {
    let mut files: BTreeMap<u64, usize> = BTreeMap::new();
    for s in &store.series {
        for b in &s.blocks {
            if let Some(loc) = b.loc {
                *files.entry(loc.file).or_default() += 1;
            }
        }
    }
    files
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
            reading_cache: HashMap::default(),
            mem_estimate: 0,
        }
    }

    /// Opens (or creates) a durable store in directory `dir`: loads and verifies its block
    /// files, replays the write-ahead log, and reports what it found.
    ///
    /// A torn log tail (a crash mid-write) is cut off; a block file that fails its checksum is
    /// moved to `dir/corrupt/` and not used. Both are listed in the [`OpenReport`].
    ///
    /// Every file is outside input here and read within bounds: only regular files (a device
    /// or FIFO in place of a block file is set aside, in place of a log segment refused), a
    /// block file into a buffer of its real size, the log one record (at most 2 MiB) at a
    /// time, and no count or length read from a file is allocated before it is checked
    /// against the bytes that are really there. Series ids are dense, so a definition or a
    /// sample that names an id beyond the known series could only come from a definition lost
    /// with a set-aside block file; open makes placeholder series for such ids (reported in
    /// [`OpenReport::lost_series`]) only as many as the set-aside files could have defined,
    /// and refuses the rest.
    ///
    /// # Errors
    /// [`StoreErrorKind::Io`] when the directory cannot be read or written;
    /// [`StoreErrorKind::Unsupported`] for files of a newer format version;
    /// [`StoreErrorKind::Corrupt`] naming the file and byte offset for a log segment that is
    /// not a regular file or has a bad magic, or whose records pass their checksums but
    /// contradict the store (a series id no file can explain, two keys for one id, one key
    /// for two ids), and for a file number that leaves no room for a next one.
    pub fn open(
        dir: impl AsRef<Path>,
        opts: StoreOptions,
    ) -> Result<(Store, OpenReport), StoreError> {
        let root = dir.as_ref().to_path_buf();
        let (wal_dir, blk_dir, bad_dir) =
            (root.join("wal"), root.join("blocks"), root.join("corrupt"));
        for d in [&root, &wal_dir, &blk_dir, &bad_dir] {
            fs::create_dir_all(d).map_err(|e| io_err(d, "creating", e))?;
        }
        let mut report = OpenReport::default();
        let mut store = Store::in_memory(opts);
        // Leftovers of a checkpoint interrupted before its rename.
        if let Ok(rd) = fs::read_dir(&blk_dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().ends_with(".tmp") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        // 1. Block files, oldest first; the newest readable one's manifest says what is live.
        let mut entries: HashMap<u64, (u64, BlockEntry)> = HashMap::new();
        let mut manifest: Option<Vec<u64>> = None;
        let mut covered = 0u64;
        let mut covered_by: Option<PathBuf> = None;
        let mut keys: BTreeMap<u32, SeriesKey> = BTreeMap::new();
        let mut max_file = 0u64;
        // Placeholder series recovery may make: as many as the set-aside files could define.
        let mut lost = Lost { allowance: 0 };
        for seq in list_numbered(&blk_dir, ".kblk")? {
            max_file = max_file.max(seq);
            let path = file_path(&blk_dir, seq);
            match read_file(&path) {
                Ok(f) => {
                    report.block_files += 1;
                    if f.wal_covered >= covered {
                        covered = f.wal_covered;
                        covered_by = Some(path.clone());
                    }
                    for (id, key) in f.series {
                        keys.insert(id, key);
                    }
                    for b in f.blocks {
                        // A block id is below u64::MAX (checked when the file was read).
                        store.next_block = store.next_block.max(b.id.saturating_add(1));
                        entries.insert(b.id, (seq, b));
                    }
                    manifest = Some(f.manifest);
                }
                Err(e) if e.kind() == StoreErrorKind::Corrupt => {
                    let size = fs::metadata(&path).map_or(0, |m| m.len());
                    lost.allowance = lost.allowance.saturating_add(size / MIN_SERIES_ENTRY_BYTES);
                    let to = bad_dir.join(path.file_name().unwrap_or_default());
                    fs::rename(&path, &to).map_err(|e| io_err(&path, "setting aside", e))?;
                    report.set_aside.push(SetAside {
                        file: path,
                        moved_to: to,
                        reason: e.reason().to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        for (id, key) in keys {
            store.define_series(id, key, &mut report, &mut lost, &|| {
                format!("{}: the block files", blk_dir.display())
            })?;
        }
        store.load_blocks(entries, manifest, &mut report);
        // 2. The log after the newest checkpoint.
        let segments = list_segments(&wal_dir)?;
        if let (Some(&newest), Some(file)) = (segments.last(), &covered_by)
            && newest <= covered
        {
            // A checkpoint starts a newer segment before it writes its file, so a file that
            // covers every segment there is is damaged or foreign: deleting the log on its
            // word would lose data.
            return Err(StoreError::new(
                StoreErrorKind::Corrupt,
                format!(
                    "{}: covers the log up to segment {covered}, but the newest segment is \
                     {newest}; refusing to delete the log on its word",
                    file.display()
                ),
            ));
        }
        let mut last_seg = covered;
        for &seg in &segments {
            last_seg = last_seg.max(seg);
            if seg <= covered {
                let _ = fs::remove_file(wal::segment_path(&wal_dir, seg));
                continue;
            }
            store.replay_segment(&wal_dir, seg, &mut report, &mut lost)?;
        }
        let next = |n: u64, what: &str, dir: &Path| {
            n.checked_add(1).ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::Corrupt,
                    format!(
                        "{}: {what} number {n} leaves no room for a next one",
                        dir.display()
                    ),
                )
            })
        };
        let wal = Wal::create(
            &wal_dir,
            next(last_seg, "the last log segment", &wal_dir)?,
            store.opts.sync,
        )?;
        store.durable = Some(Durable {
            root,
            wal,
            files: store_files(&store),
            next_file: next(max_file, "the last block file", &blk_dir)?,
        });
        store.stats = StoreStats::default();
        store.recount();
        Ok((store, report))
    }

    /// Attaches the live blocks (the manifest's) to their series; a live block in no readable
    /// file, or of a series no file defines, is reported lost.
    fn load_blocks(
        &mut self,
        mut entries: HashMap<u64, (u64, BlockEntry)>,
        manifest: Option<Vec<u64>>,
        report: &mut OpenReport,
    ) {
        let mut live = manifest.unwrap_or_default();
        live.sort_unstable();
        for bid in live {
            let Some((file, e)) = entries.remove(&bid) else {
                report.lost_blocks.push(bid);
                continue;
            };
            let Some(s) = self.series.get_mut(e.series as usize) else {
                report.lost_blocks.push(bid);
                continue;
            };
            s.newest = s.newest.max(e.stats.max_ts);
            s.block_bytes += e.bytes.as_ref().map_or(0, Vec::len);
            s.blocks.push(Block {
                id: bid,
                stats: e.stats,
                frozen: None,
                bytes: e.bytes.map(Arc::from),
                loc: Some(Loc {
                    file,
                    offset: e.offset,
                    len: e.len,
                    crc: e.crc,
                }),
            });
            report.blocks += 1;
        }
        for s in &mut self.series {
            s.blocks.sort_by_key(|b| b.stats.min_ts);
        }
    }

    /// Replays log segment `seg` record by record and cuts off its torn tail, if any.
    fn replay_segment(
        &mut self,
        wal_dir: &Path,
        seg: u64,
        report: &mut OpenReport,
        lost: &mut Lost,
    ) -> Result<(), StoreError> {
        let path = wal::segment_path(wal_dir, seg);
        report.wal_segments += 1;
        let torn = scan_segment(wal_dir, seg, |record, at| {
            let place = || format!("{} at byte {at}", path.display());
            match record {
                Record::Series { id, key } => self.define_series(id, key, report, lost, &place),
                Record::Samples(v) => {
                    for (id, ts, bits) in v {
                        if id as usize >= self.series.len() {
                            // Samples of a series whose definition is lost: kept under a
                            // placeholder key, as far as a set-aside file explains it.
                            self.add_lost(id as usize + 1, report, lost, &|| {
                                format!("{}: samples of series id {id}", place())
                            })?;
                        }
                        self.append_inner(SeriesId(id), ts, f64::from_bits(bits), false)?;
                        report.wal_samples += 1;
                    }
                    Ok(())
                }
            }
        })?;
        if let Some((offset, bytes, reason)) = torn {
            truncate_segment(wal_dir, seg, offset)?;
            report.torn.push(TornTail {
                file: path,
                offset,
                bytes,
                reason,
            });
        }
        Ok(())
    }

    /// Defines series `id` as `key` while recovering. An id already defined must have this
    /// key (and the key no other id); an id beyond the known series needs placeholders for
    /// the ids in between ([`Store::add_lost`]).
    fn define_series(
        &mut self,
        id: u32,
        key: SeriesKey,
        report: &mut OpenReport,
        lost: &mut Lost,
        place: &dyn Fn() -> String,
    ) -> Result<(), StoreError> {
        let corrupt = |why: String| {
            StoreError::new(
                StoreErrorKind::Corrupt,
                format!("{}: series id {id} ({key}) {why}", place()),
            )
        };
        let idx = id as usize;
        if let Some(&other) = self.index.get(&key)
            && other.0 != id
        {
            return Err(corrupt(format!("has the key of series id {}", other.0)));
        }
        if let Some(s) = self.series.get(idx) {
            if s.key != key {
                return Err(corrupt(format!("is already defined as {}", s.key)));
            }
            return Ok(());
        }
        self.add_lost(idx, report, lost, &|| {
            format!("{}: series id {id} ({key})", place())
        })?;
        self.index.insert(key.clone(), SeriesId(id));
        self.by_entity
            .entry(key.entity.clone())
            .or_default()
            .push(SeriesId(id));
        self.series.push(Series::new(key));
        Ok(())
    }

    /// Makes placeholder series (`lost-series-N/lost`) until there are `upto`: ids whose
    /// definition was lost with a set-aside block file. Refused beyond what the set-aside
    /// files could have defined (`lost.allowance`), so a damaged or forged id cannot make the
    /// store invent millions of series.
    fn add_lost(
        &mut self,
        upto: usize,
        report: &mut OpenReport,
        lost: &mut Lost,
        what: &dyn Fn() -> String,
    ) -> Result<(), StoreError> {
        let have = self.series.len();
        let need = upto.saturating_sub(have) as u64;
        if need == 0 {
            return Ok(());
        }
        if need > lost.allowance {
            return Err(StoreError::new(
                StoreErrorKind::Corrupt,
                format!(
                    "{}: {have} series are defined, so {need} definitions would be missing, \
                     more than the set-aside block files could have held ({}); the record is \
                     damaged or was not written by Kelvin",
                    what(),
                    lost.allowance
                ),
            ));
        }
        lost.allowance -= need;
        while self.series.len() < upto {
            let n = self.series.len();
            let placeholder = SeriesKey::new(
                kelvin_model::EntityId::new(format!("lost-series-{n}"))
                    .map_err(|e| StoreError::new(StoreErrorKind::Corrupt, e.to_string()))?,
                "lost",
                SensorKind::Power,
            );
            report.lost_series.push(n as u32);
            self.index.insert(placeholder.clone(), SeriesId(n as u32));
            self.by_entity
                .entry(placeholder.entity.clone())
                .or_default()
                .push(SeriesId(n as u32));
            self.series.push(Series::new(placeholder));
        }
        Ok(())
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
        let s = Series::new(key.clone());
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
    pub fn select(
        &self,
        entity: Option<&kelvin_model::EntityId>,
        kind: Option<SensorKind>,
    ) -> Vec<SeriesId> {
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

    /// Makes sure `extra` more bytes fit the budget: seals heads and evicts persisted blocks
    /// (checkpointing first when durable) before refusing.
    fn reserve(&mut self, extra: usize) -> Result<(), StoreError> {
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

    /// Recomputes the exact byte count (the budget's basis).
    fn recount(&mut self) {
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

    /// Bytes the store holds in memory: series and index, heads, late buffers, resident block
    /// bytes and the WAL buffer.
    pub fn memory_bytes(&mut self) -> usize {
        self.recount();
        self.mem_estimate
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

    fn unknown(id: SeriesId) -> StoreError {
        StoreError::new(
            StoreErrorKind::UnknownSeries,
            format!("no series with id {}", id.0),
        )
    }

    #[inline]
    fn append_inner(
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
    fn seal_head(&mut self, i: usize) -> Result<(), StoreError> {
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
            frozen: Some(head),
            bytes: None,
            loc: None,
        };
        let s = &mut self.series[i];
        s.block_bytes += resident(&block);
        s.blocks.push(block);
        if self.frozen_samples >= self.opts.compact_after_samples {
            self.compact()?;
        }
        Ok(())
    }

    /// Re-encodes every frozen block with pco (in parallel over series, with rayon): sealed
    /// blocks shrink from Gorilla's bytes to pco's. Runs by itself when
    /// [`StoreOptions::compact_after_samples`] frozen samples pile up, and before every
    /// checkpoint. Returns the samples re-encoded.
    ///
    /// # Errors
    /// An encoding failure (not expected for any input; reported rather than panicking).
    pub fn compact(&mut self) -> Result<u64, StoreError> {
        use rayon::prelude::*;
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
        Ok(done)
    }

    /// Merges series `i`'s late buffer into its blocks, rewriting the partitions it touches.
    fn merge_late(&mut self, i: usize) -> Result<(), StoreError> {
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
        Ok(())
    }

    /// A block's decoded columns, from memory or re-read (and verified) from its file.
    fn block_columns(&self, b: &Block) -> Result<(Vec<i64>, Vec<f64>), StoreError> {
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

    /// Writes every buffered WAL record and `fsync`s it: when this returns `Ok`, every sample
    /// appended before the call survives a crash. Returns the bytes logged so far. A no-op for
    /// an in-memory store.
    ///
    /// # Errors
    /// [`StoreErrorKind::Io`].
    pub fn commit(&mut self) -> Result<u64, StoreError> {
        match &mut self.durable {
            Some(d) => {
                d.wal.commit()?;
                let bytes = d.wal.bytes_written();
                if bytes > self.opts.checkpoint_wal_bytes {
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
    /// # Errors
    /// [`StoreErrorKind::Io`]; the store stays usable and the log still holds the data.
    pub fn checkpoint(&mut self) -> Result<CheckpointReport, StoreError> {
        let mut report = CheckpointReport::default();
        let covered = match &mut self.durable {
            Some(d) => {
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
        self.compact()?;
        let Some(covered) = covered else {
            self.recount();
            return Ok(report);
        };
        let d = self.durable.as_mut().expect("durable");
        let seq = d.next_file;
        let mut w = FileWriter::new(seq, covered);
        for (i, s) in self.series.iter().enumerate() {
            w.series(i as u32, &s.key);
        }
        let mut manifest = Vec::new();
        let mut placed = Vec::new();
        for (i, s) in self.series.iter().enumerate() {
            for (j, b) in s.blocks.iter().enumerate() {
                manifest.push(b.id);
                if b.loc.is_none() {
                    let bytes = b.bytes.as_deref().unwrap_or(&[]);
                    let (offset, len, crc) = w.block(b.id, i as u32, &b.stats, bytes);
                    placed.push((
                        i,
                        j,
                        Loc {
                            file: seq,
                            offset,
                            len,
                            crc,
                        },
                    ));
                }
            }
        }
        w.manifest(&manifest);
        report.file_bytes = w.write(&d.root.join("blocks"), seq, self.opts.sync)?;
        report.blocks_written = placed.len();
        d.next_file = seq + 1;
        d.files.insert(seq, placed.len());
        for (i, j, loc) in placed {
            self.series[i].blocks[j].loc = Some(loc);
        }
        // What the new file covers can go.
        let d = self.durable.as_mut().expect("durable");
        let wal_dir = d.root.join("wal");
        for seg in list_segments(&wal_dir)? {
            if seg <= covered && fs::remove_file(wal::segment_path(&wal_dir, seg)).is_ok() {
                report.wal_segments_removed += 1;
            }
        }
        let blk_dir = d.root.join("blocks");
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

    /// Drops whole partitions that ended more than [`StoreOptions::retention_ns`] before the
    /// store's newest sample, first rolling them up into the downsampled tiers
    /// ([`StoreOptions::rollups`]); rollup series themselves keep
    /// [`StoreOptions::rollup_retention_ns`].
    fn apply_retention(&mut self) -> Result<(), StoreError> {
        let newest = self
            .series
            .iter()
            .map(|s| s.newest)
            .max()
            .unwrap_or(i64::MIN);
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

    /// The samples of series `id` with `start <= ts < end`, sorted, one per timestamp (the last
    /// write wins).
    ///
    /// # Errors
    /// [`StoreErrorKind::UnknownSeries`]; [`StoreErrorKind::Corrupt`] when a block evicted to
    /// disk fails its checksum on re-read.
    pub fn scan(&self, id: SeriesId, start: i64, end: i64) -> Result<SeriesData, StoreError> {
        let s = self
            .series
            .get(id.0 as usize)
            .ok_or_else(|| Self::unknown(id))?;
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        for b in &s.blocks {
            if b.stats.max_ts < start || b.stats.min_ts >= end {
                continue;
            }
            let (t, v) = self.block_columns(b)?;
            push_range(&mut ts, &mut vs, &t, &v, start, end);
        }
        let (mut ht, mut hv) = (Vec::new(), Vec::new());
        s.head.decode_into(&mut ht, &mut hv);
        push_range(&mut ts, &mut vs, &ht, &hv, start, end);
        let late: Vec<&(i64, f64)> = s
            .late
            .iter()
            .filter(|x| x.0 >= start && x.0 < end)
            .collect();
        if !late.is_empty() {
            ts.extend(late.iter().map(|x| x.0));
            vs.extend(late.iter().map(|x| x.1));
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

    /// Count, NaN count, sum, min, max, first and last (with their times) of series `id` over
    /// `start <= ts < end`, as [`BlockStats`] (empty: `count == 0`). Blocks entirely inside the
    /// range are answered from their statistics without decoding.
    ///
    /// # Errors
    /// As [`Store::scan`].
    pub fn aggregate(&self, id: SeriesId, start: i64, end: i64) -> Result<BlockStats, StoreError> {
        let s = self
            .series
            .get(id.0 as usize)
            .ok_or_else(|| Self::unknown(id))?;
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
        let s = self
            .series
            .get(id.0 as usize)
            .ok_or_else(|| Self::unknown(id))?;
        let mut out = Buckets::new(origin_ns, width_ns)?;
        let late_lo = s.late.iter().map(|x| x.0).min().unwrap_or(i64::MAX);
        let late_hi = s.late.iter().map(|x| x.0).max().unwrap_or(i64::MIN);
        let mut pos = start;
        let add = |out: &mut Buckets, a: i64, b: i64| -> Result<(), StoreError> {
            let m = self.scan(id, a, b)?;
            out.merge(&crate::query::time_buckets(
                &m.ts, &m.values, origin_ns, width_ns,
            )?)
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
    /// than [`crate::MAX_MATRIX_CELLS`] values (checked before anything is read).
    pub fn resample_many(
        &self,
        ids: &[SeriesId],
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<ndarray::Array2<f64>, StoreError> {
        crate::query::check_cells("Store::resample_many", grid.len(), ids.len())?;
        let pad = opts.max_gap_ns.max(0);
        let (a, b) = (
            grid.start().as_nanos().saturating_sub(pad),
            grid.end().as_nanos().saturating_add(pad).saturating_add(1),
        );
        let data = ids
            .iter()
            .map(|&id| self.scan(id, a, b))
            .collect::<Result<Vec<_>, _>>()?;
        let cols: Vec<(&[i64], &[f64])> = data
            .iter()
            .map(|d| (d.ts.as_slice(), d.values.as_slice()))
            .collect();
        crate::query::resample_many(&cols, grid, opts)
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
        let from = tolerance_ns.map_or(i64::MIN, |t| first.saturating_sub(t));
        let d = self.scan(id, from, last.saturating_add(1))?;
        let (ts, vs) = (d.ts, d.values);
        crate::query::asof_join(at, &ts, &vs, tolerance_ns)
    }

    /// A counter's reset-corrected rate (per second) over each grid interval.
    ///
    /// # Errors
    /// [`StoreErrorKind::NotACounter`] for a gauge; as [`Store::scan`].
    pub fn rate(
        &self,
        id: SeriesId,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<CounterIncrease, StoreError> {
        let key = self.key(id).ok_or_else(|| Self::unknown(id))?;
        if key.kind.semantics() != kelvin_model::Semantics::Counter {
            return Err(StoreError::new(
                StoreErrorKind::NotACounter,
                format!("{key} is a gauge"),
            ));
        }
        let pad = opts.max_gap_ns.max(0);
        let d = self.scan(
            id,
            grid.start().as_nanos().saturating_sub(pad),
            grid.end().as_nanos().saturating_add(pad).saturating_add(1),
        )?;
        crate::query::rate(&d.ts, &d.values, grid, opts)
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
        let s = self
            .series
            .get(id.0 as usize)
            .ok_or_else(|| Self::unknown(id))?;
        Ok(s.blocks.iter().map(|b| b.stats).collect())
    }

    /// Samples around `grid` (plus the max gap on both sides) as [`Sample`]s.
    fn samples_for(
        &self,
        id: SeriesId,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<Vec<Sample>, StoreError> {
        let pad = opts.max_gap_ns.max(0);
        let d = self.scan(
            id,
            grid.start().as_nanos().saturating_sub(pad),
            grid.end().as_nanos().saturating_add(pad).saturating_add(1),
        )?;
        Ok(d.ts
            .iter()
            .zip(&d.values)
            .map(|(&t, &v)| Sample::new(kelvin_model::Timestamp::from_nanos(t), v))
            .collect())
    }

    fn id_of(&self, key: &SeriesKey) -> Result<SeriesId, StoreError> {
        self.find(key).ok_or_else(|| {
            StoreError::new(StoreErrorKind::UnknownSeries, format!("no series {key}"))
        })
    }

    /// A gauge's value at each grid point ([`crate::Fill`] and max gap as in `opts`).
    ///
    /// # Errors
    /// [`StoreErrorKind::UnknownSeries`].
    pub fn resample(
        &self,
        key: &SeriesKey,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<Vec<f64>, StoreError> {
        let s = self.samples_for(self.id_of(key)?, grid, opts)?;
        Ok(crate::series::resample(&s, grid, opts))
    }

    /// A gauge's exact integral over each grid interval (watts → joules).
    ///
    /// # Errors
    /// [`StoreErrorKind::UnknownSeries`]; [`StoreErrorKind::NotAGauge`] for a counter.
    pub fn integrate(
        &self,
        key: &SeriesKey,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<Vec<f64>, StoreError> {
        if key.kind.semantics() == kelvin_model::Semantics::Counter {
            return Err(StoreError::new(
                StoreErrorKind::NotAGauge,
                format!("{key} is a counter"),
            ));
        }
        let s = self.samples_for(self.id_of(key)?, grid, opts)?;
        Ok(crate::series::integrate(&s, grid, opts))
    }

    /// A counter's reset-corrected increase over each grid interval.
    ///
    /// # Errors
    /// [`StoreErrorKind::UnknownSeries`]; [`StoreErrorKind::NotACounter`] for a gauge.
    pub fn increase(
        &self,
        key: &SeriesKey,
        grid: &Grid,
        opts: &ResampleOptions,
    ) -> Result<CounterIncrease, StoreError> {
        if key.kind.semantics() != kelvin_model::Semantics::Counter {
            return Err(StoreError::new(
                StoreErrorKind::NotACounter,
                format!("{key} is a gauge"),
            ));
        }
        let s = self.samples_for(self.id_of(key)?, grid, opts)?;
        let (values, resets) = crate::series::increase(&s, grid, opts);
        Ok(CounterIncrease { values, resets })
    }

    /// Series keys whose entity is `entity` and kind `kind`, in key order (as references).
    pub fn select_keys(
        &self,
        entity: Option<&kelvin_model::EntityId>,
        kind: Option<SensorKind>,
    ) -> Vec<&SeriesKey> {
        self.select(entity, kind)
            .into_iter()
            .map(|id| &self.series[id.0 as usize].key)
            .collect()
    }

    /// Time range helper: [`Store::scan`] over a [`TimeRange`].
    ///
    /// # Errors
    /// As [`Store::scan`].
    pub fn scan_range(&self, id: SeriesId, range: TimeRange) -> Result<SeriesData, StoreError> {
        self.scan(id, range.start().as_nanos(), range.end().as_nanos())
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

fn push_range(ts: &mut Vec<i64>, vs: &mut Vec<f64>, t: &[i64], v: &[f64], start: i64, end: i64) {
    let a = t.partition_point(|&x| x < start);
    let b = t.partition_point(|&x| x < end);
    ts.extend_from_slice(&t[a..b]);
    vs.extend_from_slice(&v[a..b]);
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
