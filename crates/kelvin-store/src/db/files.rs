//! Immutable block files: what a checkpoint writes.
//!
//! Layout (little-endian; see `docs/format.md`):
//!
//! ```text
//! header   "KLVBLK01" | version u32 | file_seq u64 | wal_covered u64
//! entries  tag u8 | len u32 | crc32(payload) u32 | payload      (repeated)
//!            tag 1 series:   id u32 | key
//!            tag 2 block:    block_id u64 | series u32 | stats (73 bytes) | codec bytes
//!            tag 3 manifest: n u32 | n × block_id u64   (every live block after this checkpoint)
//! footer   "KLVEND01" | entries u32 | crc32(every byte before the footer) u32
//! ```
//!
//! A file is written as `NNN.kblk.tmp`, synced, renamed to `NNN.kblk` and the directory synced,
//! so a reader sees either the whole file or none of it.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::bytes::{Get, Put};
use crate::codec::{BlockStats, MAX_BLOCK_SAMPLES};
use crate::db::wal::{io_err, sync_dir};
use crate::input::Reader;
use crate::{SeriesKey, StoreError, StoreErrorKind};

pub(crate) const BLOCK_MAGIC: &[u8; 8] = b"KLVBLK01";
pub(crate) const END_MAGIC: &[u8; 8] = b"KLVEND01";
pub(crate) const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 8;
const FOOTER_LEN: usize = 8 + 4 + 4;
const TAG_SERIES: u8 = 1;
const TAG_BLOCK: u8 = 2;
const TAG_MANIFEST: u8 = 3;

pub(crate) fn file_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.kblk"))
}

/// A block entry as read from a file: where its codec bytes are.
#[derive(Debug, Clone)]
pub(crate) struct BlockEntry {
    pub(crate) id: u64,
    pub(crate) series: u32,
    pub(crate) stats: BlockStats,
    /// Offset of the codec bytes in the file.
    pub(crate) offset: u64,
    pub(crate) len: u32,
    /// CRC-32 of the whole entry payload (id, series, stats, codec bytes).
    pub(crate) crc: u32,
    /// The codec bytes, kept when the file was just read.
    pub(crate) bytes: Option<Vec<u8>>,
}

/// A parsed block file.
#[derive(Debug)]
pub(crate) struct BlockFile {
    pub(crate) wal_covered: u64,
    pub(crate) series: Vec<(u32, SeriesKey)>,
    pub(crate) blocks: Vec<BlockEntry>,
    pub(crate) manifest: Vec<u64>,
}

/// What a checkpoint writes, streamed to `NNN.kblk.tmp` as it is produced (through a
/// buffer of 64 KiB), so that a checkpoint never holds a second copy of its blocks in memory.
pub(crate) struct FileWriter {
    out: std::io::BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    crc: crc32fast::Hasher,
    len: u64,
    entries: u32,
    sync: bool,
}

impl FileWriter {
    /// Creates `dir/NNN.kblk.tmp` and writes the header.
    pub(crate) fn create(
        dir: &Path,
        seq: u64,
        wal_covered: u64,
        sync: bool,
    ) -> Result<Self, StoreError> {
        let path = file_path(dir, seq);
        let tmp = path.with_extension("kblk.tmp");
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp)
            .map_err(|e| io_err(&tmp, "creating", e))?;
        let mut w = FileWriter {
            out: std::io::BufWriter::with_capacity(1 << 16, f),
            tmp,
            path,
            crc: crc32fast::Hasher::new(),
            len: 0,
            entries: 0,
            sync,
        };
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(BLOCK_MAGIC);
        header.put_u32(FORMAT_VERSION);
        header.put_u64(seq);
        header.put_u64(wal_covered);
        w.put(&header)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.crc.update(bytes);
        self.len += bytes.len() as u64;
        self.out
            .write_all(bytes)
            .map_err(|e| io_err(&self.tmp, "writing", e))
    }

    /// Writes one entry; returns the offset of its payload.
    fn entry(&mut self, tag: u8, payload: &[u8]) -> Result<u64, StoreError> {
        let mut head = Vec::with_capacity(9);
        head.put_u8(tag);
        head.put_u32(payload.len() as u32);
        head.put_u32(crc32fast::hash(payload));
        self.put(&head)?;
        let at = self.len;
        self.put(payload)?;
        self.entries += 1;
        Ok(at)
    }

    pub(crate) fn series(&mut self, id: u32, key: &SeriesKey) -> Result<(), StoreError> {
        let mut p = Vec::with_capacity(64);
        p.put_u32(id);
        p.put_key(key);
        self.entry(TAG_SERIES, &p).map(|_| ())
    }

    /// Adds a block; returns (offset of its codec bytes, their length, entry crc).
    pub(crate) fn block(
        &mut self,
        id: u64,
        series: u32,
        stats: &BlockStats,
        data: &[u8],
    ) -> Result<(u64, u32, u32), StoreError> {
        let mut p = Vec::with_capacity(12 + BlockStats::ENCODED_LEN + data.len());
        p.put_u64(id);
        p.put_u32(series);
        p.extend_from_slice(&stats.encode());
        p.extend_from_slice(data);
        let crc = crc32fast::hash(&p);
        let at = self.entry(TAG_BLOCK, &p)?;
        Ok((
            at + 12 + BlockStats::ENCODED_LEN as u64,
            data.len() as u32,
            crc,
        ))
    }

    pub(crate) fn manifest(&mut self, ids: &[u64]) -> Result<(), StoreError> {
        let mut p = Vec::with_capacity(4 + ids.len() * 8);
        p.put_u32(ids.len() as u32);
        for &id in ids {
            p.put_u64(id);
        }
        self.entry(TAG_MANIFEST, &p).map(|_| ())
    }

    /// Finishes the file and makes it durable under its final name; returns its length.
    pub(crate) fn finish(mut self, dir: &Path) -> Result<u64, StoreError> {
        let crc = std::mem::take(&mut self.crc).finalize();
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        footer.extend_from_slice(END_MAGIC);
        footer.put_u32(self.entries);
        footer.put_u32(crc);
        self.put(&footer)?;
        let f = self
            .out
            .into_inner()
            .map_err(|e| io_err(&self.tmp, "writing", e.into_error()))?;
        if self.sync {
            f.sync_all().map_err(|e| io_err(&self.tmp, "syncing", e))?;
        }
        drop(f);
        fs::rename(&self.tmp, &self.path).map_err(|e| io_err(&self.path, "renaming into", e))?;
        if self.sync {
            sync_dir(dir)?;
        }
        Ok(self.len)
    }
}

fn corrupt(path: &Path, at: usize, why: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Corrupt,
        format!("{} at byte {at}: {why}", path.display()),
    )
}

/// Reads and verifies a whole block file: a regular file (a device or FIFO in its place is
/// [`StoreErrorKind::Corrupt`], set aside like any damaged file), read into a buffer reserved
/// fallibly for its size, so memory is the file's real size whatever its fields claim.
pub(crate) fn read_file(path: &Path) -> Result<BlockFile, StoreError> {
    let bytes = Reader {
        what: "a block file",
        limit: None,
        kind: StoreErrorKind::Corrupt,
    }
    .read(path)?;
    parse_file(path, &bytes)
}

pub(crate) fn parse_file(path: &Path, bytes: &[u8]) -> Result<BlockFile, StoreError> {
    if bytes.len() < HEADER_LEN + FOOTER_LEN {
        return Err(corrupt(path, 0, "shorter than a header and footer"));
    }
    let mut h = Get::new(bytes);
    if h.take(8) != Some(BLOCK_MAGIC.as_slice()) {
        return Err(corrupt(path, 0, "bad magic (not a Kelvin block file)"));
    }
    let version = h.u32().unwrap_or(0);
    if version != FORMAT_VERSION {
        return Err(StoreError::new(
            StoreErrorKind::Unsupported,
            format!(
                "{}: block file format version {version}, this build reads {FORMAT_VERSION}",
                path.display()
            ),
        ));
    }
    let _seq = h.u64();
    let wal_covered = h.u64().unwrap_or(0);
    let body_end = bytes.len() - FOOTER_LEN;
    let mut f = Get::new(&bytes[body_end..]);
    if f.take(8) != Some(END_MAGIC.as_slice()) {
        return Err(corrupt(path, body_end, "footer missing (file cut short)"));
    }
    let n_entries = f.u32().unwrap_or(0);
    let crc = f.u32().unwrap_or(0);
    if crc32fast::hash(&bytes[..body_end]) != crc {
        return Err(corrupt(path, body_end, "file checksum mismatch"));
    }
    let mut out = BlockFile {
        wal_covered,
        series: Vec::new(),
        blocks: Vec::new(),
        manifest: Vec::new(),
    };
    let mut g = Get::new(&bytes[..body_end]);
    g.take(HEADER_LEN);
    let mut seen = 0u64;
    let mut keys: HashSet<SeriesKey> = HashSet::new();
    while g.remaining() > 0 {
        let at = g.pos();
        let (Some(tag), Some(len), Some(ecrc)) = (g.u8(), g.u32(), g.u32()) else {
            return Err(corrupt(path, at, "entry header cut short"));
        };
        let payload_at = g.pos();
        let Some(p) = g.take(len as usize) else {
            return Err(corrupt(path, at, "entry cut short"));
        };
        if crc32fast::hash(p) != ecrc {
            return Err(corrupt(path, at, "entry checksum mismatch"));
        }
        let mut e = Get::new(p);
        let bad = || corrupt(path, at, "entry does not decode");
        match tag {
            TAG_SERIES => {
                let id = e.u32().ok_or_else(bad)?;
                let key = e.key().ok_or_else(bad)?;
                if e.remaining() != 0 {
                    return Err(bad());
                }
                // A checkpoint writes every series, ids 0, 1, 2, … in order: a gap or a jump
                // would make the store invent placeholder series up to the id.
                if id as usize != out.series.len() {
                    return Err(corrupt(
                        path,
                        at,
                        &format!(
                            "series id {id} where id {} comes next (ids are dense, in order)",
                            out.series.len()
                        ),
                    ));
                }
                if !keys.insert(key.clone()) {
                    return Err(corrupt(
                        path,
                        at,
                        &format!("series id {id} repeats the key {key} of an earlier id"),
                    ));
                }
                out.series.push((id, key));
            }
            TAG_BLOCK => {
                let id = e.u64().ok_or_else(bad)?;
                let series = e.u32().ok_or_else(bad)?;
                let stats = BlockStats::decode(e.take(BlockStats::ENCODED_LEN).ok_or_else(bad)?)
                    .map_err(|err| corrupt(path, at, err.reason()))?;
                if id == u64::MAX {
                    return Err(corrupt(path, at, "block id 2^64 - 1 is reserved"));
                }
                if stats.count == 0 || stats.count > MAX_BLOCK_SAMPLES as u64 {
                    return Err(corrupt(
                        path,
                        at,
                        &format!(
                            "block {id} claims {} samples; a block holds 1 to {MAX_BLOCK_SAMPLES}",
                            stats.count
                        ),
                    ));
                }
                let data = e.take(e.remaining()).ok_or_else(bad)?;
                out.blocks.push(BlockEntry {
                    id,
                    series,
                    stats,
                    offset: (payload_at + 12 + BlockStats::ENCODED_LEN) as u64,
                    len: data.len() as u32,
                    crc: ecrc,
                    bytes: Some(data.to_vec()),
                });
            }
            TAG_MANIFEST => {
                let n = e.u32().ok_or_else(bad)? as usize;
                if e.remaining() != n.checked_mul(8).ok_or_else(bad)? {
                    return Err(bad());
                }
                out.manifest = (0..n).map(|_| e.u64().unwrap_or(0)).collect();
            }
            other => return Err(corrupt(path, at, &format!("unknown entry tag {other}"))),
        }
        seen += 1;
    }
    if seen != u64::from(n_entries) {
        return Err(corrupt(
            path,
            body_end,
            "entry count does not match the footer",
        ));
    }
    Ok(out)
}

/// Re-reads one block's codec bytes from its file, verifying the entry checksum.
pub(crate) fn read_block(
    path: &Path,
    offset: u64,
    len: u32,
    crc: u32,
) -> Result<Vec<u8>, StoreError> {
    let prefix = 12 + BlockStats::ENCODED_LEN as u64;
    let start = offset
        .checked_sub(prefix)
        .ok_or_else(|| corrupt(path, 0, "bad block offset"))?;
    let mut f = File::open(path).map_err(|e| io_err(path, "opening", e))?;
    f.seek(SeekFrom::Start(start))
        .map_err(|e| io_err(path, "seeking", e))?;
    let mut buf = vec![0u8; prefix as usize + len as usize];
    f.read_exact(&mut buf)
        .map_err(|e| io_err(path, "reading a block from", e))?;
    if crc32fast::hash(&buf) != crc {
        return Err(corrupt(
            path,
            start as usize,
            "block checksum mismatch on re-read",
        ));
    }
    buf.drain(..prefix as usize);
    Ok(buf)
}
