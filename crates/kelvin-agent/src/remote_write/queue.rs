//! The on-disk queue: a directory holding one file per request, oldest first by name.
//!
//! A request is the file `{seq:020}.rw`: a 20-byte header (the magic `KRW1`, then the
//! request's sample count and its body's length, both `u64` little-endian) and the body, the
//! exact bytes POSTed (snappy-compressed protobuf). It is written to `{seq:020}.rw.tmp` and
//! renamed, so a request is either whole or absent under its name; a temporary left by a
//! crash is removed when the directory is opened. A `.lock` file, locked while a queue is
//! open, keeps two writers off one directory. Requests are not synced one by one: after a
//! power loss a file can come back short or empty, and is then dropped as corrupt.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"KRW1";
/// The header's length: magic, samples, body length.
pub(super) const HEADER_BYTES: u64 = 20;
const SUFFIX: &str = ".rw";
const TEMP_SUFFIX: &str = ".rw.tmp";

/// One queued request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    /// Its sequence number, its file's name.
    pub(super) seq: u64,
    /// Its file's size.
    pub(super) bytes: u64,
    /// Samples it holds.
    pub(super) samples: u64,
}

/// The requests of a directory, oldest first.
#[derive(Debug)]
pub(super) struct Queue {
    dir: PathBuf,
    entries: VecDeque<Entry>,
    bytes: u64,
    next_seq: u64,
    /// Held (locked) while the queue is open.
    _lock: File,
}

/// What opening a directory found besides its requests.
#[derive(Debug, Default)]
pub(super) struct Recovered {
    /// Temporary files of interrupted writes, removed.
    pub(super) temp_removed: usize,
    /// Request files too short or without the header, removed.
    pub(super) corrupt_removed: usize,
}

fn io_at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl Queue {
    /// Opens (creating it if need be) the queue of `dir`, locking it, and reads its requests'
    /// headers.
    pub(super) fn open(dir: &Path) -> io::Result<(Queue, Recovered)> {
        fs::create_dir_all(dir).map_err(|e| io_at(dir, e))?;
        let lock_path = dir.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_at(&lock_path, e))?;
        if let Err(e) = lock.try_lock() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{}: the queue is in use by another writer ({e})",
                    dir.display()
                ),
            ));
        }
        let mut recovered = Recovered::default();
        let mut entries = Vec::new();
        for item in fs::read_dir(dir).map_err(|e| io_at(dir, e))? {
            let item = item.map_err(|e| io_at(dir, e))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = item.path();
            if name.ends_with(TEMP_SUFFIX) {
                fs::remove_file(&path).map_err(|e| io_at(&path, e))?;
                recovered.temp_removed += 1;
                continue;
            }
            let Some(seq) = parse_name(name) else {
                continue;
            };
            match read_header(&path) {
                Ok(Some((samples, bytes))) => entries.push(Entry {
                    seq,
                    bytes,
                    samples,
                }),
                Ok(None) => {
                    fs::remove_file(&path).map_err(|e| io_at(&path, e))?;
                    recovered.corrupt_removed += 1;
                }
                Err(e) => return Err(io_at(&path, e)),
            }
        }
        entries.sort_by_key(|e| e.seq);
        let next_seq = entries.last().map_or(1, |e| e.seq + 1);
        let bytes = entries.iter().map(|e| e.bytes).sum();
        let queue = Queue {
            dir: dir.to_path_buf(),
            entries: entries.into(),
            bytes,
            next_seq,
            _lock: lock,
        };
        Ok((queue, recovered))
    }

    /// Bytes of all requests' files.
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Requests queued.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The oldest request.
    pub(super) fn front(&self) -> Option<Entry> {
        self.entries.front().copied()
    }

    /// The file of request `seq`.
    pub(super) fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}{SUFFIX}"))
    }

    /// The size a request of `body_len` bytes takes on disk.
    pub(super) fn file_size(body_len: usize) -> u64 {
        HEADER_BYTES + body_len as u64
    }

    /// Appends a request: written to a temporary name, then renamed.
    pub(super) fn push(&mut self, body: &[u8], samples: u64) -> io::Result<Entry> {
        let seq = self.next_seq;
        let path = self.path(seq);
        let temp = self.dir.join(format!("{seq:020}{TEMP_SUFFIX}"));
        let mut data = Vec::with_capacity(body.len() + HEADER_BYTES as usize);
        data.extend_from_slice(MAGIC);
        data.extend_from_slice(&samples.to_le_bytes());
        data.extend_from_slice(&(body.len() as u64).to_le_bytes());
        data.extend_from_slice(body);
        let written = File::create(&temp)
            .and_then(|mut f| f.write_all(&data))
            .and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_at(&temp, e));
        }
        self.next_seq += 1;
        let entry = Entry {
            seq,
            bytes: data.len() as u64,
            samples,
        };
        self.entries.push_back(entry);
        self.bytes += entry.bytes;
        Ok(entry)
    }

    /// Removes request `seq` (its file and its entry); `None` when it is not queued. The
    /// entry goes even when its file cannot be deleted (the error says so): the queue never
    /// offers a request twice.
    pub(super) fn remove(&mut self, seq: u64) -> io::Result<Option<Entry>> {
        let Some(i) = self.entries.iter().position(|e| e.seq == seq) else {
            return Ok(None);
        };
        let entry = self.entries.remove(i);
        if let Some(e) = entry {
            self.bytes -= e.bytes;
        }
        let path = self.path(seq);
        match fs::remove_file(&path) {
            Ok(()) => Ok(entry),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(entry),
            Err(e) => Err(io_at(&path, e)),
        }
    }

    /// Removes the oldest requests, except `pinned` (a request being sent), until `incoming`
    /// more bytes fit under `max`; returns those removed, and the first file that could not
    /// be deleted (its request is forgotten all the same).
    pub(super) fn evict_for(
        &mut self,
        incoming: u64,
        max: u64,
        pinned: Option<u64>,
    ) -> (Vec<Entry>, Option<io::Error>) {
        let mut evicted = Vec::new();
        let mut error = None;
        while self.bytes.saturating_add(incoming) > max {
            let Some(victim) = self.entries.iter().find(|e| Some(e.seq) != pinned).copied() else {
                break;
            };
            if let Err(e) = self.remove(victim.seq) {
                error.get_or_insert(e);
            }
            evicted.push(victim);
        }
        (evicted, error)
    }

    /// The directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The body of the request file at `path`; `Ok(None)` when it is not a whole request.
pub(super) fn read_body(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let data = fs::read(path).map_err(|e| io_at(path, e))?;
    Ok(parse_file(&data).map(|(_, body)| body.to_vec()))
}

/// The sequence number of a request file's name.
fn parse_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SUFFIX)?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// `(samples, file size)` of a request file whose header is whole and whose length matches
/// it; `None` for any other file.
fn read_header(path: &Path) -> io::Result<Option<(u64, u64)>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut header = [0u8; HEADER_BYTES as usize];
    if len < HEADER_BYTES {
        return Ok(None);
    }
    file.read_exact(&mut header)?;
    Ok(parse_header(&header)
        .filter(|&(_, body_len)| HEADER_BYTES.checked_add(body_len) == Some(len))
        .map(|(samples, _)| (samples, len)))
}

/// `(samples, body length)` of a header.
fn parse_header(header: &[u8]) -> Option<(u64, u64)> {
    if header.len() < HEADER_BYTES as usize || &header[..4] != MAGIC {
        return None;
    }
    let samples = u64::from_le_bytes(header[4..12].try_into().ok()?);
    let body_len = u64::from_le_bytes(header[12..20].try_into().ok()?);
    Some((samples, body_len))
}

/// `(samples, body)` of a whole request file.
fn parse_file(data: &[u8]) -> Option<(u64, &[u8])> {
    let (samples, body_len) = parse_header(data)?;
    let body = &data[HEADER_BYTES as usize..];
    (body.len() as u64 == body_len).then_some((samples, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kelvin-rwq-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn push_reopen_and_read_back() {
        let dir = temp_dir("reopen");
        {
            let (mut q, rec) = Queue::open(&dir).unwrap();
            assert_eq!((rec.temp_removed, rec.corrupt_removed), (0, 0));
            q.push(b"one", 1).unwrap();
            q.push(b"three", 3).unwrap();
            assert_eq!(q.len(), 2);
            assert_eq!(q.bytes(), 2 * HEADER_BYTES + 8);
            // A second writer is refused while this one holds the directory.
            assert!(Queue::open(&dir).is_err());
        }
        let (mut q, _) = Queue::open(&dir).unwrap();
        assert_eq!(q.len(), 2);
        let first = q.front().unwrap();
        assert_eq!((first.seq, first.samples), (1, 1));
        assert_eq!(read_body(&q.path(first.seq)).unwrap().unwrap(), b"one");
        q.remove(first.seq).unwrap();
        let e = q.push(b"four", 4).unwrap();
        assert_eq!(e.seq, 3, "sequence numbers continue after the newest");
        assert!(dir.join("00000000000000000003.rw").exists());
        drop(q);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temp_and_torn_files_are_removed_others_ignored() {
        let dir = temp_dir("torn");
        {
            let (mut q, _) = Queue::open(&dir).unwrap();
            q.push(b"kept", 2).unwrap();
        }
        fs::write(dir.join("00000000000000000007.rw.tmp"), b"KRW1 half").unwrap();
        fs::write(dir.join("00000000000000000008.rw"), b"KRW1short").unwrap();
        let mut truncated = fs::read(dir.join("00000000000000000001.rw")).unwrap();
        truncated.pop();
        fs::write(dir.join("00000000000000000009.rw"), &truncated).unwrap();
        fs::write(dir.join("README"), b"not ours").unwrap();
        let (q, rec) = Queue::open(&dir).unwrap();
        assert_eq!((rec.temp_removed, rec.corrupt_removed), (1, 2));
        assert_eq!(q.len(), 1);
        assert!(!dir.join("00000000000000000007.rw.tmp").exists());
        assert!(dir.join("README").exists());
        drop(q);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn eviction_spares_the_pinned_request() {
        let dir = temp_dir("evict");
        let (mut q, _) = Queue::open(&dir).unwrap();
        for i in 0..4u8 {
            q.push(&[i; 10], u64::from(i)).unwrap();
        }
        let each = HEADER_BYTES + 10;
        let (gone, error) = q.evict_for(each, 3 * each, Some(1));
        assert!(error.is_none());
        let seqs: Vec<u64> = gone.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [2, 3]);
        assert_eq!(q.len(), 2);
        assert_eq!(q.bytes(), 2 * each);
        drop(q);
        fs::remove_dir_all(&dir).unwrap();
    }
}
