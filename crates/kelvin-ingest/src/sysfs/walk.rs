//! The bounded, root-confined file access every tree decoder goes through, and the record sink.

use std::fs;
use std::path::{Path, PathBuf};

use kelvin_model::{EntityId, Place, Reading, SensorKind, SensorName, Timestamp};

use super::{CounterSeries, MAX_DIRS, MAX_FILE_BYTES, TreeScan};
use crate::{Context, Quarantined, Reason};

/// What a directory entry is, without following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Dir,
    File,
    Symlink,
    Other,
}

/// Where a path leads once symlinks are resolved.
pub(crate) enum Resolved {
    /// Inside the root: the canonical path.
    Inside(PathBuf),
    /// Outside the root (never read).
    Outside(PathBuf),
    /// Missing, dangling, or a symlink loop.
    Broken,
}

/// One scan of one tree: the canonical root, the time and host, the output and the budgets.
pub(crate) struct Scan<'c, 'n> {
    pub(crate) ctx: &'c Context<'n>,
    /// The canonical root; nothing outside it is read.
    pub(crate) root: PathBuf,
    /// The host entity ([`Context::fallback_entity`]).
    pub(crate) host: EntityId,
    /// The time of every reading ([`Context::timestamp`]).
    pub(crate) ts: Timestamp,
    /// The readings, in a batch with the tree's record limit
    /// ([`crate::Limits::max_tree_records`]) and output budget.
    pub(crate) out: TreeScan,
    /// Bytes read so far, against [`crate::Limits::max_tree_bytes`].
    bytes_read: std::cell::Cell<u64>,
    dirs_left: usize,
    dirs_exhausted: bool,
}

impl<'c, 'n> Scan<'c, 'n> {
    pub(crate) fn new(ctx: &'c Context<'n>, root: PathBuf) -> Self {
        Scan {
            ctx,
            root,
            host: ctx.fallback_entity(),
            ts: ctx.timestamp(),
            out: TreeScan {
                batch: crate::IngestBatch::bounded_tree(ctx),
                counters: Vec::new(),
            },
            bytes_read: std::cell::Cell::new(0),
            dirs_left: MAX_DIRS,
            dirs_exhausted: false,
        }
    }

    /// Whether walking should stop (record cap or directory budget reached).
    pub(crate) fn stopped(&self) -> bool {
        self.out.batch.records_full() || self.dirs_exhausted
    }

    /// Emits one record: a reading, or a quarantine entry — past the tree's record limit, the
    /// one [`Reason::TooManyRecords`] record (named by `path`) for the rest of the tree.
    pub(crate) fn emit(&mut self, path: &Path, r: Result<Reading, Quarantined>) {
        if !self.out.batch.admit_record(|| (place(path), "")) {
            return;
        }
        match r {
            Ok(reading) => self.out.batch.accept(reading),
            Err(q) => self.out.batch.reject(q),
        }
    }

    /// Emits an accepted counter reading and records its series' wrap point.
    pub(crate) fn emit_counter(&mut self, path: &Path, r: Reading, wrap: Option<f64>) {
        let series = CounterSeries {
            entity: r.entity.clone(),
            sensor: r.sensor.clone(),
            kind: r.kind,
            wrap,
        };
        let kept = self.out.batch.readings.len();
        self.emit(path, Ok(r));
        if self.out.batch.readings.len() > kept {
            self.out.counters.push(series);
        }
    }

    /// Emits a quarantined record.
    pub(crate) fn reject(
        &mut self,
        path: &Path,
        reason: Reason,
        detail: impl Into<String>,
        excerpt: &str,
    ) {
        let q = Quarantined::new(place(path), reason, detail, excerpt);
        self.emit(path, Err(q));
    }

    /// Resolves `path` (following symlinks) and says whether it stays inside the root.
    pub(crate) fn resolve(&self, path: &Path) -> Resolved {
        match fs::canonicalize(path) {
            Ok(c) if c.starts_with(&self.root) => Resolved::Inside(c),
            Ok(c) => Resolved::Outside(c),
            Err(_) => Resolved::Broken,
        }
    }

    /// Reads a file that should hold a value: `Ok(None)` when it does not exist (not a record),
    /// `Ok(Some(text))`, or the quarantine entry saying why it cannot be used.
    pub(crate) fn read_value(&self, path: &Path) -> Result<Option<String>, Quarantined> {
        let bytes = match self.read_bounded(path) {
            Ok(b) => b,
            Err(ReadFailure::Missing) => return Ok(None),
            Err(ReadFailure::Q(reason, detail)) => {
                return Err(quarantine(path, reason, detail, ""));
            }
        };
        match String::from_utf8(bytes) {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                Err(quarantine(
                    path,
                    Reason::NotUtf8,
                    "the file is not UTF-8 text",
                    &lossy,
                ))
            }
        }
    }

    /// Reads an auxiliary file (a name, a label, an enable flag): trimmed text, or `None` when
    /// it is missing, unreadable, too large, not UTF-8 or empty. Never a record.
    pub(crate) fn read_aux(&self, path: &Path) -> Option<String> {
        let bytes = self.read_bounded(path).ok()?;
        let s = String::from_utf8(bytes).ok()?;
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    }

    fn read_bounded(&self, path: &Path) -> Result<Vec<u8>, ReadFailure> {
        let canon = match self.resolve(path) {
            Resolved::Inside(c) => c,
            Resolved::Outside(c) => {
                return Err(ReadFailure::Q(
                    Reason::BadField,
                    format!(
                        "symlink leads outside the tree (to {}); not read",
                        c.display()
                    ),
                ));
            }
            Resolved::Broken => {
                return match fs::symlink_metadata(path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ReadFailure::Missing),
                    _ => Err(ReadFailure::Q(
                        Reason::Unreadable,
                        "dangling symlink or symlink loop".into(),
                    )),
                };
            }
        };
        let left = self
            .ctx
            .limits
            .max_tree_bytes
            .saturating_sub(self.bytes_read.get());
        if left == 0 {
            return Err(ReadFailure::Q(
                Reason::InputTooLarge,
                format!(
                    "the tree's files reached max_tree_bytes ({}); not read",
                    self.ctx.limits.max_tree_bytes
                ),
            ));
        }
        // FIFOs, sockets and devices could block or never end: never opened.
        let (limit, name) = if MAX_FILE_BYTES < self.ctx.limits.max_input_bytes {
            (MAX_FILE_BYTES as u64, "the sysfs file limit (64 KiB)")
        } else {
            (self.ctx.limits.max_input_bytes as u64, "max_input_bytes")
        };
        let (limit, name) = if left < limit {
            (left, "what is left of max_tree_bytes")
        } else {
            (limit, name)
        };
        let bytes = crate::files::read_regular(&canon, limit, name)
            .map_err(|r| ReadFailure::Q(r.reason, r.detail))?;
        self.bytes_read
            .set(self.bytes_read.get().saturating_add(bytes.len() as u64));
        Ok(bytes)
    }

    /// The entries of a directory, sorted by name, without following symlinks; empty when it
    /// cannot be read. Each call spends one unit of the directory budget.
    pub(crate) fn list(&mut self, dir: &Path) -> Vec<(String, EntryKind)> {
        if self.stopped() {
            return Vec::new();
        }
        if self.dirs_left == 0 {
            self.dirs_exhausted = true;
            let detail =
                format!("more than {MAX_DIRS} directories in the tree; the rest was not read");
            self.out.batch.reject(Quarantined::new(
                place(dir),
                Reason::InputTooLarge,
                detail,
                "",
            ));
            return Vec::new();
        }
        self.dirs_left -= 1;
        match self.resolve(dir) {
            Resolved::Inside(_) => {}
            Resolved::Outside(c) => {
                let detail = format!(
                    "directory link leads outside the tree (to {}); not read",
                    c.display()
                );
                self.reject(dir, Reason::BadField, detail, "");
                return Vec::new();
            }
            // A directory the layout does not have is not a record; a dangling link or a
            // loop is.
            Resolved::Broken => {
                if fs::symlink_metadata(dir).is_ok() {
                    let detail = "dangling directory link or symlink loop; not read";
                    self.reject(dir, Reason::Unreadable, detail, "");
                }
                return Vec::new();
            }
        }
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            // Probing a file as a directory (a layout check) is not a record either.
            Err(_) if !dir.is_dir() => return Vec::new(),
            Err(e) => {
                self.reject(
                    dir,
                    Reason::Unreadable,
                    format!("cannot list directory: {e}"),
                    "",
                );
                return Vec::new();
            }
        };
        let mut v: Vec<(String, EntryKind)> = rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                // Names that are not UTF-8 are never sensor files.
                let name = e.file_name().into_string().ok()?;
                let kind = match e.file_type() {
                    Ok(t) if t.is_symlink() => EntryKind::Symlink,
                    Ok(t) if t.is_dir() => EntryKind::Dir,
                    Ok(t) if t.is_file() => EntryKind::File,
                    _ => EntryKind::Other,
                };
                Some((name, kind))
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// A reading of `kind` at the scan's time.
    pub(crate) fn reading(
        &self,
        entity: EntityId,
        sensor: impl Into<SensorName>,
        kind: SensorKind,
        value: f64,
    ) -> Reading {
        Reading::new(entity, sensor, kind, value, self.ts)
    }
}

enum ReadFailure {
    Missing,
    Q(Reason, String),
}

/// The place of a file: its path, line 1.
pub(crate) fn place(path: &Path) -> Place {
    Place::line(path.display().to_string(), 1)
}

/// A quarantine entry for a file.
pub(crate) fn quarantine(
    path: &Path,
    reason: Reason,
    detail: impl Into<String>,
    excerpt: &str,
) -> Quarantined {
    Quarantined::new(place(path), reason, detail, excerpt)
}

/// Replaces characters that would break a sensor path (`/`) or are not printable.
pub(crate) fn clean(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect()
}
