//! The write-ahead log: numbered segment files of checksummed records.
//!
//! Record layout (all little-endian), see `docs/format.md`:
//!
//! ```text
//! len: u32   length of `type + payload`
//! crc: u32   CRC-32 (IEEE) of `type + payload`
//! type: u8   1 = series definition, 2 = samples
//! payload
//! ```
//!
//! A segment starts with the 8-byte magic `KLVWAL01`. Appends are buffered in memory and
//! written with one `write` and one `fsync` per [`Wal::commit`] (group commit): a sample is
//! acknowledged when the commit that carries it returns.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::bytes::{Get, MAX_KEY_BYTES, Put};
use crate::input::Reader;
use crate::{SeriesKey, StoreError, StoreErrorKind};

pub(crate) const WAL_MAGIC: &[u8; 8] = b"KLVWAL01";
const REC_SERIES: u8 = 1;
const REC_SAMPLES: u8 = 2;
/// Triples per samples record: bounds a record to about 1.3 MB.
const MAX_TRIPLES: usize = 65_536;
/// The longest record (type byte and payload) a segment may hold: 2 MiB, room for a samples
/// record of [`MAX_TRIPLES`] triples (1 + 4 + 65,536 × 20 = 1,310,725 bytes) and for a series
/// record of the longest key (1 + 4 + [`MAX_KEY_BYTES`]). A length field over it is damage,
/// refused before anything is allocated for it.
pub(crate) const MAX_RECORD_BYTES: usize = 2 << 20;
const _: () = assert!(1 + 4 + MAX_TRIPLES * 20 <= MAX_RECORD_BYTES);
const _: () = assert!(1 + 4 + MAX_KEY_BYTES <= MAX_RECORD_BYTES);

pub(crate) fn io_err(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::new(
        StoreErrorKind::Io,
        format!("{what} {}: {e}", path.display()),
    )
}

/// One decoded WAL record.
#[derive(Debug)]
pub(crate) enum Record {
    Series { id: u32, key: SeriesKey },
    Samples(Vec<(u32, i64, u64)>),
}

/// A torn or corrupt tail of a segment: its offset, the bytes from there to the end, and why
/// the record there was rejected.
pub(crate) type Torn = (u64, u64, String);

/// The open log: the current segment and the not yet written buffer.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    seq: u64,
    file: File,
    buf: Vec<u8>,
    triples: Vec<(u32, i64, u64)>,
    sync: bool,
    bytes_written: u64,
}

pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.wal"))
}

/// Segment numbers present in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>, StoreError> {
    list_numbered(dir, ".wal")
}

pub(crate) fn list_numbered(dir: &Path, ext: &str) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| io_err(dir, "listing", e))?;
    for entry in rd {
        let entry = entry.map_err(|e| io_err(dir, "listing", e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(ext)
            && let Ok(n) = stem.parse::<u64>()
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, "syncing directory", e))
}

fn frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(payload);
    out.put_u32(payload.len() as u32 + 1);
    out.put_u32(h.finalize());
    out.put_u8(kind);
    out.extend_from_slice(payload);
}

impl Wal {
    /// Opens a fresh segment `seq` in `dir` (created, magic written and synced).
    pub(crate) fn create(dir: &Path, seq: u64, sync: bool) -> Result<Wal, StoreError> {
        let path = segment_path(dir, seq);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&path, "creating", e))?;
        file.write_all(WAL_MAGIC)
            .map_err(|e| io_err(&path, "writing", e))?;
        if sync {
            file.sync_all().map_err(|e| io_err(&path, "syncing", e))?;
            sync_dir(dir)?;
        }
        Ok(Wal {
            dir: dir.to_path_buf(),
            seq,
            file,
            buf: Vec::new(),
            triples: Vec::new(),
            sync,
            bytes_written: WAL_MAGIC.len() as u64,
        })
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    pub(crate) fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Bytes buffered and not yet written.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.buf.len() + self.triples.len() * 20
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.capacity() + self.triples.capacity() * 24
    }

    fn close_triples(&mut self) {
        for chunk in self.triples.chunks(MAX_TRIPLES) {
            let mut p = Vec::with_capacity(4 + chunk.len() * 20);
            p.put_u32(chunk.len() as u32);
            for &(id, ts, v) in chunk {
                p.put_u32(id);
                p.put_i64(ts);
                p.put_u64(v);
            }
            frame(&mut self.buf, REC_SAMPLES, &p);
        }
        self.triples.clear();
    }

    /// Buffers a series definition (before any of its samples).
    pub(crate) fn log_series(&mut self, id: u32, key: &SeriesKey) {
        self.close_triples();
        let mut p = Vec::new();
        p.put_u32(id);
        p.put_key(key);
        frame(&mut self.buf, REC_SERIES, &p);
    }

    /// Buffers one sample.
    #[inline]
    pub(crate) fn log_sample(&mut self, id: u32, ts: i64, value: f64) {
        self.triples.push((id, ts, value.to_bits()));
    }

    /// Writes everything buffered without syncing (bounds the buffer; acknowledges nothing).
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        let sync = std::mem::replace(&mut self.sync, false);
        let r = self.commit();
        self.sync = sync;
        r
    }

    /// Writes everything buffered; with `sync`, also `fsync`s. After `Ok`, every sample logged
    /// before the call survives a crash.
    pub(crate) fn commit(&mut self) -> Result<(), StoreError> {
        self.close_triples();
        if !self.buf.is_empty() {
            let path = segment_path(&self.dir, self.seq);
            self.file
                .write_all(&self.buf)
                .map_err(|e| io_err(&path, "writing", e))?;
            self.bytes_written += self.buf.len() as u64;
            self.buf.clear();
            if self.buf.capacity() > 1 << 22 {
                self.buf.shrink_to(1 << 20);
            }
            if self.sync {
                self.file
                    .sync_data()
                    .map_err(|e| io_err(&path, "syncing", e))?;
            }
        }
        Ok(())
    }
}

/// Reads segment `seq` record by record, handing each decoded record and its byte offset to
/// `apply`; memory is one record (at most [`MAX_RECORD_BYTES`]) whatever the file's size.
///
/// A record that is cut short, claims a length over [`MAX_RECORD_BYTES`], fails its checksum
/// or does not decode ends the scan and is returned as the torn tail (offset, bytes from
/// there to the end, reason), the recovery policy of `docs/format.md`.
///
/// # Errors
/// [`StoreErrorKind::Corrupt`] for a file that is not a regular file or does not start with
/// the magic; [`StoreErrorKind::Io`] for a failed read; whatever `apply` returns.
pub(crate) fn scan_segment(
    dir: &Path,
    seq: u64,
    mut apply: impl FnMut(Record, u64) -> Result<(), StoreError>,
) -> Result<Option<Torn>, StoreError> {
    let path = segment_path(dir, seq);
    let (file, len) = Reader {
        what: "a WAL segment",
        limit: None,
        kind: StoreErrorKind::Corrupt,
    }
    .open(&path)?;
    let mut r = BufReader::with_capacity(1 << 16, file.take(len));
    let mut magic = [0u8; 8];
    let got = read_full(&mut r, &mut magic).map_err(|e| io_err(&path, "reading", e))?;
    if got < magic.len() || &magic != WAL_MAGIC {
        // A segment that never got its magic (crash right after create) holds nothing.
        if got > 0 && !WAL_MAGIC.starts_with(&magic[..got]) {
            return Err(StoreError::new(
                StoreErrorKind::Corrupt,
                format!("{}: not a Kelvin WAL segment (bad magic)", path.display()),
            ));
        }
        return Ok(Some((0, len, "segment header incomplete".into())));
    }
    let mut pos = WAL_MAGIC.len() as u64;
    let mut body: Vec<u8> = Vec::new();
    while pos < len {
        let left = len - pos;
        let torn = |why: String| Ok(Some((pos, left, why)));
        let mut header = [0u8; 8];
        let got = read_full(&mut r, &mut header).map_err(|e| io_err(&path, "reading", e))?;
        if got < header.len() {
            return torn("record header cut short".into());
        }
        let rec_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if rec_len == 0 {
            return torn("empty record (length 0)".into());
        }
        // Checked against the documented maximum and against the bytes left before a byte
        // is allocated for it.
        if rec_len as usize > MAX_RECORD_BYTES {
            return torn(format!(
                "record length {rec_len} over the maximum of {MAX_RECORD_BYTES} bytes"
            ));
        }
        if u64::from(rec_len) > left - 8 {
            return torn(format!(
                "record of {rec_len} bytes cut short ({} bytes left)",
                left - 8
            ));
        }
        body.resize(rec_len as usize, 0);
        let got = read_full(&mut r, &mut body).map_err(|e| io_err(&path, "reading", e))?;
        if got < body.len() {
            return torn(format!("record of {rec_len} bytes cut short"));
        }
        if crc32fast::hash(&body) != crc {
            return torn("record checksum mismatch".into());
        }
        let Some(record) = parse_record(&body) else {
            return torn("record does not decode".into());
        };
        apply(record, pos)?;
        pos += 8 + u64::from(rec_len);
    }
    Ok(None)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn parse_record(body: &[u8]) -> Option<Record> {
    let mut g = Get::new(body);
    match g.u8()? {
        REC_SERIES => {
            let id = g.u32()?;
            let key = g.key()?;
            (g.remaining() == 0).then_some(Record::Series { id, key })
        }
        REC_SAMPLES => {
            let n = g.u32()? as usize;
            if g.remaining() != n.checked_mul(20)? {
                return None;
            }
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push((g.u32()?, g.i64()?, g.u64()?));
            }
            Some(Record::Samples(v))
        }
        _ => None,
    }
}

/// Cuts segment `seq` to `len` bytes (dropping a torn tail) and syncs it.
pub(crate) fn truncate_segment(dir: &Path, seq: u64, len: u64) -> Result<(), StoreError> {
    let path = segment_path(dir, seq);
    let f = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| io_err(&path, "opening", e))?;
    f.set_len(len).map_err(|e| io_err(&path, "truncating", e))?;
    f.sync_all().map_err(|e| io_err(&path, "syncing", e))
}
