//! [`Journal`]: a durable, append-only log of opaque records beside a store, for what a live
//! engine must keep besides readings — its acknowledged position, its workloads' history and
//! its closed bills.
//!
//! The file starts with the 8-byte magic `KLVJRN01`; then records, each
//!
//! ```text
//! len: u32   length of the payload (little-endian)
//! crc: u32   CRC-32 (IEEE) of the payload
//! payload
//! ```
//!
//! [`Journal::append`] buffers, [`Journal::commit`] writes the buffer with one `write` and one
//! `fsync` (group commit): a record is durable when the commit that carries it returns.
//! [`Journal::open`] reads every whole record back in order and cuts a torn or corrupt tail
//! off the file (reporting where and why), so a crash at any moment leaves the records of
//! every returned commit and nothing half-written. [`Journal::rewrite`] replaces the whole
//! file atomically (write a temporary file, `fsync`, rename, `fsync` the directory), for
//! compaction.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{StoreError, StoreErrorKind};

const MAGIC: &[u8; 8] = b"KLVJRN01";

/// The longest record the journal accepts: 64 MiB. A length field over it is damage, refused
/// before anything is allocated for it.
pub const MAX_JOURNAL_RECORD_BYTES: usize = 64 << 20;

/// What [`Journal::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalReport {
    /// Whole records read.
    pub records: u64,
    /// Bytes of whole records (magic included).
    pub bytes: u64,
    /// A torn or corrupt tail that was cut off: its offset, its length and why.
    pub cut: Option<(u64, u64, String)>,
}

/// A durable append-only record log; see the module docs for the format.
///
/// ```
/// use kelvin_store::Journal;
///
/// let dir = std::env::temp_dir().join(format!("kelvin-journal-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("engine.journal");
/// let (mut j, _) = Journal::open(&path, true, |_| Ok(()))?;
/// j.append(b"first")?;
/// j.append(b"second")?;
/// j.commit()?;
/// drop(j);
/// let mut seen = Vec::new();
/// let (_, report) = Journal::open(&path, true, |r| { seen.push(r.to_vec()); Ok(()) })?;
/// assert_eq!(seen, [b"first".to_vec(), b"second".to_vec()]);
/// assert_eq!(report.records, 2);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    len: u64,
    sync: bool,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::new(
        StoreErrorKind::Io,
        format!("{what} {}: {e}", path.display()),
    )
}

fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

impl Journal {
    /// Opens (creating when missing) the journal at `path`, calling `each` on every whole
    /// record in order, and cuts off a torn or corrupt tail. `sync`: `fsync` on every commit
    /// (turn off only where crashes are not tested).
    ///
    /// # Errors
    /// [`StoreErrorKind::Io`] when the file cannot be read or written;
    /// [`StoreErrorKind::Corrupt`] when the file is not a journal (wrong magic); whatever
    /// `each` returns (the journal is then not opened).
    pub fn open(
        path: &Path,
        sync: bool,
        mut each: impl FnMut(&[u8]) -> Result<(), StoreError>,
    ) -> Result<(Journal, JournalReport), StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io(path, "open journal", e))?;
        let size = file
            .metadata()
            .map_err(|e| io(path, "stat journal", e))?
            .len();
        let mut report = JournalReport::default();
        if size < MAGIC.len() as u64 {
            // New, or torn before its magic was whole: start it afresh.
            file.set_len(0)
                .map_err(|e| io(path, "truncate journal", e))?;
            file.write_all(MAGIC)
                .map_err(|e| io(path, "write journal", e))?;
            if sync {
                file.sync_all().map_err(|e| io(path, "fsync journal", e))?;
                sync_parent(path)?;
            }
            report.bytes = MAGIC.len() as u64;
        } else {
            report = Self::replay(path, &file, size, &mut each)?;
            if let Some((at, _, _)) = &report.cut {
                file.set_len(*at)
                    .map_err(|e| io(path, "cut torn journal tail", e))?;
                if sync {
                    file.sync_all().map_err(|e| io(path, "fsync journal", e))?;
                }
            }
        }
        file.seek(SeekFrom::End(0))
            .map_err(|e| io(path, "seek journal", e))?;
        let len = report.bytes;
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                buf: Vec::new(),
                len,
                sync,
            },
            report,
        ))
    }

    /// Reads the journal at `path` without opening it for writing, calling `each` on every
    /// whole record in order; a torn or corrupt tail is reported ([`JournalReport::cut`]), not
    /// cut: a reader beside the live writer sees what was written so far.
    ///
    /// ```
    /// use kelvin_store::Journal;
    /// let dir = std::env::temp_dir().join(format!("kelvin-journal-read-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("j");
    /// let (mut j, _) = Journal::open(&path, false, |_| Ok(()))?;
    /// j.append(b"one")?;
    /// j.commit()?;
    /// let mut n = 0;
    /// let report = Journal::read(&path, |p| { assert_eq!(p, b"one"); n += 1; Ok(()) })?;
    /// assert_eq!((n, report.records), (1, 1));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Journal::open`].
    pub fn read(
        path: &Path,
        mut each: impl FnMut(&[u8]) -> Result<(), StoreError>,
    ) -> Result<JournalReport, StoreError> {
        let file = File::open(path).map_err(|e| io(path, "open journal", e))?;
        let size = file
            .metadata()
            .map_err(|e| io(path, "stat journal", e))?
            .len();
        if size < MAGIC.len() as u64 {
            return Ok(JournalReport::default());
        }
        Self::replay(path, &file, size, &mut each)
    }

    fn replay(
        path: &Path,
        file: &File,
        size: u64,
        each: &mut impl FnMut(&[u8]) -> Result<(), StoreError>,
    ) -> Result<JournalReport, StoreError> {
        let mut r = BufReader::with_capacity(1 << 16, file);
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)
            .map_err(|e| io(path, "read journal", e))?;
        if &magic != MAGIC {
            return Err(StoreError::new(
                StoreErrorKind::Corrupt,
                format!(
                    "{} is not a Kelvin journal (its first bytes are not KLVJRN01)",
                    path.display()
                ),
            ));
        }
        let mut report = JournalReport {
            bytes: 8,
            ..JournalReport::default()
        };
        let mut payload = Vec::new();
        loop {
            let at = report.bytes;
            if at == size {
                return Ok(report);
            }
            let cut = |why: String| Some((at, size - at, why));
            let mut head = [0u8; 8];
            if size - at < 8 {
                report.cut = cut(format!("{} bytes, less than a record header", size - at));
                return Ok(report);
            }
            r.read_exact(&mut head)
                .map_err(|e| io(path, "read journal", e))?;
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            if len > MAX_JOURNAL_RECORD_BYTES || (len as u64) > size - at - 8 {
                report.cut = cut(format!(
                    "a record of {len} bytes announced, {} left in the file",
                    size - at - 8
                ));
                return Ok(report);
            }
            payload.clear();
            payload.resize(len, 0);
            r.read_exact(&mut payload)
                .map_err(|e| io(path, "read journal", e))?;
            if crc32fast::hash(&payload) != crc {
                report.cut = cut("checksum mismatch".into());
                return Ok(report);
            }
            each(&payload)?;
            report.records += 1;
            report.bytes = at + 8 + len as u64;
        }
    }

    /// Buffers one record; durable at the next [`Journal::commit`].
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] for a record over [`MAX_JOURNAL_RECORD_BYTES`].
    pub fn append(&mut self, record: &[u8]) -> Result<(), StoreError> {
        if record.len() > MAX_JOURNAL_RECORD_BYTES {
            return Err(StoreError::new(
                StoreErrorKind::InvalidInput,
                format!(
                    "a journal record of {} bytes is over the limit of {MAX_JOURNAL_RECORD_BYTES}",
                    record.len()
                ),
            ));
        }
        frame(&mut self.buf, record);
        Ok(())
    }

    /// Writes the buffered records and (with `sync`) `fsync`s them: when this returns, they
    /// survive a crash.
    ///
    /// # Errors
    /// [`StoreErrorKind::Io`]; the buffered records are then kept for the next attempt.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if !self.buf.is_empty() {
            self.file
                .write_all(&self.buf)
                .map_err(|e| io(&self.path, "write journal", e))?;
            self.len += self.buf.len() as u64;
            self.buf.clear();
        }
        if self.sync {
            self.file
                .sync_data()
                .map_err(|e| io(&self.path, "fsync journal", e))?;
        }
        Ok(())
    }

    /// Replaces the journal with `records` (compaction), atomically: a crash leaves either the
    /// old journal or the new one. Uncommitted appends are dropped.
    ///
    /// # Errors
    /// [`StoreErrorKind::Io`].
    pub fn rewrite<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), StoreError> {
        let tmp = self.path.with_extension("journal.tmp");
        let mut out = Vec::from(&MAGIC[..]);
        for r in records {
            frame(&mut out, r);
        }
        let mut f = File::create(&tmp).map_err(|e| io(&tmp, "create", e))?;
        f.write_all(&out).map_err(|e| io(&tmp, "write", e))?;
        if self.sync {
            f.sync_all().map_err(|e| io(&tmp, "fsync", e))?;
        }
        drop(f);
        fs::rename(&tmp, &self.path).map_err(|e| io(&self.path, "rename journal", e))?;
        if self.sync {
            sync_parent(&self.path)?;
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| io(&self.path, "reopen journal", e))?;
        self.len = out.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Cuts the journal to its first `len` bytes (at a record boundary the caller knows, such
    /// as the end of its last complete group), durably. Uncommitted appends are dropped.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] for a length inside the magic or past the end;
    /// [`StoreErrorKind::Io`].
    pub fn truncate(&mut self, len: u64) -> Result<(), StoreError> {
        if len < MAGIC.len() as u64 || len > self.len {
            return Err(StoreError::new(
                StoreErrorKind::InvalidInput,
                format!(
                    "cannot cut {} to {len} bytes: it holds {}",
                    self.path.display(),
                    self.len
                ),
            ));
        }
        self.file
            .set_len(len)
            .map_err(|e| io(&self.path, "truncate journal", e))?;
        self.file
            .seek(SeekFrom::End(0))
            .map_err(|e| io(&self.path, "seek journal", e))?;
        if self.sync {
            self.file
                .sync_all()
                .map_err(|e| io(&self.path, "fsync journal", e))?;
        }
        self.len = len;
        self.buf.clear();
        Ok(())
    }

    /// Bytes on disk (committed records and the magic).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the journal holds no record yet.
    pub fn is_empty(&self) -> bool {
        self.len <= MAGIC.len() as u64
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn sync_parent(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(dir, "fsync directory", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kelvin-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d.join("j.journal")
    }

    fn read_all(path: &Path) -> (Vec<Vec<u8>>, JournalReport) {
        let mut v = Vec::new();
        let (_, rep) = Journal::open(path, false, |r| {
            v.push(r.to_vec());
            Ok(())
        })
        .unwrap();
        (v, rep)
    }

    #[test]
    fn a_foreign_file_is_refused_not_overwritten() {
        let p = tmp("foreign");
        fs::write(&p, b"hello world, not a journal").unwrap();
        let e = Journal::open(&p, false, |_| Ok(())).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::Corrupt);
        assert_eq!(fs::read(&p).unwrap(), b"hello world, not a journal");
    }

    #[test]
    fn uncommitted_records_are_not_there_after_reopening() {
        let p = tmp("uncommitted");
        let (mut j, _) = Journal::open(&p, false, |_| Ok(())).unwrap();
        j.append(b"a").unwrap();
        j.commit().unwrap();
        j.append(b"b").unwrap();
        drop(j);
        assert_eq!(read_all(&p).0, vec![b"a".to_vec()]);
    }

    #[test]
    fn rewrite_replaces_everything() {
        let p = tmp("rewrite");
        let (mut j, _) = Journal::open(&p, false, |_| Ok(())).unwrap();
        for r in [&b"1"[..], b"2", b"3"] {
            j.append(r).unwrap();
        }
        j.commit().unwrap();
        j.rewrite([&b"summary"[..]]).unwrap();
        j.append(b"4").unwrap();
        j.commit().unwrap();
        drop(j);
        assert_eq!(read_all(&p).0, vec![b"summary".to_vec(), b"4".to_vec()]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Cut the file anywhere or flip any byte: reopening keeps a prefix of the committed
        /// records, every one whole, and a second reopening finds the file clean.
        #[test]
        fn any_torn_or_damaged_tail_leaves_a_whole_prefix(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..12),
            cut in 0usize..600,
            flip in proptest::option::of((0usize..600, 1u8..=255)),
        ) {
            let p = tmp("prop");
            let (mut j, _) = Journal::open(&p, false, |_| Ok(())).unwrap();
            for r in &records {
                j.append(r).unwrap();
            }
            j.commit().unwrap();
            drop(j);
            let mut bytes = fs::read(&p).unwrap();
            if let Some((at, x)) = flip
                && at >= 8
                && at < bytes.len()
            {
                bytes[at] ^= x;
            }
            bytes.truncate(cut.max(8).min(bytes.len()));
            fs::write(&p, &bytes).unwrap();
            let (got, rep) = read_all(&p);
            prop_assert!(got.len() <= records.len());
            prop_assert_eq!(&got[..], &records[..got.len()]);
            let (again, rep2) = read_all(&p);
            prop_assert_eq!(again, got);
            prop_assert!(rep2.cut.is_none(), "{:?} then {:?}", rep, rep2);
        }
    }
}
