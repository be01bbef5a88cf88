//! Opening a durable store: loading and verifying block files, replaying the write-ahead log,
//! cutting off a torn tail, setting damaged files aside, and the [`OpenReport`] of all that.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kelvin_model::SensorKind;

use super::files::{BlockEntry, file_path, read_file};
use super::wal::{
    self, Record, Wal, io_err, list_numbered, list_segments, scan_segment, truncate_segment,
};
use super::{Block, Durable, Loc, Series, SeriesId, Store, StoreOptions, StoreStats};
use crate::{SeriesKey, StoreError, StoreErrorKind};

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

impl Store {
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
            checkpointed_at: store.newest(),
            failed: None,
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
}
