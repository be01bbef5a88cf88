//! Reading files from outside: only regular files, only up to a documented size, and the
//! buffer reserved fallibly before any byte is read.
//!
//! A path can name a FIFO (whose `open` blocks until a writer comes), a device such as
//! `/dev/zero` (endless) or a file far larger than its reader is meant for; every reader of
//! outside files in this crate goes through [`Reader::open`] or [`Reader::read`]
//! ([`kelvin_guard::file`]), so each of these is a typed error naming the file, the reader and
//! the limit, before anything is allocated or read.

use std::fs::File;
use std::path::Path;

use kelvin_guard::{ErrorKind, Step};

use crate::{StoreError, StoreErrorKind};

/// A size limit and the name of the setting or constant that holds it, for the messages.
pub(crate) type Limit<'a> = (u64, &'a str);

/// Who reads a file, for the messages: `what` names the reader (`"a Parquet import"`), `kind`
/// is what its refusals are (`InvalidInput` for imports, `Corrupt` for the store's own files).
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    pub(crate) what: &'a str,
    pub(crate) limit: Option<Limit<'a>>,
    pub(crate) kind: StoreErrorKind,
}

impl Reader<'_> {
    /// Opens `path` when it is a regular file (symbolic links followed) within the limit, and
    /// returns it with its size.
    ///
    /// # Errors
    /// [`StoreErrorKind::Io`] when the file system fails; the reader's kind for a path that is
    /// not a regular file or a file over the limit.
    pub(crate) fn open(self, path: &Path) -> Result<(File, u64), StoreError> {
        kelvin_guard::file::open(path, self.limit.map(|l| l.0))
            .map_err(|e| self.refusal(path, "opening", &e))
    }

    /// Reads `path` whole, as [`Reader::open`] accepts it; without a limit, at most the size it
    /// has when opened.
    ///
    /// # Errors
    /// As [`Reader::open`]; [`StoreErrorKind::MemoryBudget`] when the buffer cannot be
    /// reserved; the reader's kind when the file grew past the limit while being read.
    pub(crate) fn read(self, path: &Path) -> Result<Vec<u8>, StoreError> {
        kelvin_guard::file::read(path, self.limit.map(|l| l.0))
            .map_err(|e| self.refusal(path, "reading", &e))
    }

    /// The guard's refusal `e`, worded for this reader; `verb` says what failed when the file
    /// could not be opened.
    fn refusal(self, path: &Path, verb: &str, e: &kelvin_guard::Error) -> StoreError {
        let (shown, what) = (path.display(), self.what);
        let limit = e.limit().unwrap_or(0);
        let name = self.limit.map_or("", |l| l.1);
        let cause = e.cause().unwrap_or(e.detail());
        let (kind, reason) = match (e.kind(), e.step()) {
            (ErrorKind::Io, Some(Step::Open)) => {
                (StoreErrorKind::Io, format!("{verb} {shown}: {cause}"))
            }
            (ErrorKind::Io, _) => (StoreErrorKind::Io, format!("reading {shown}: {cause}")),
            (ErrorKind::NotRegular | ErrorKind::TooLarge, Some(Step::Open)) => {
                let within = match self.limit {
                    Some((limit, name)) => format!(" of at most {limit} bytes ({name})"),
                    None => String::new(),
                };
                let reason = format!(
                    "{shown}: changed while being opened; it is no longer a regular file{within}"
                );
                (self.kind, reason)
            }
            (ErrorKind::NotRegular, _) => {
                let why = match self.limit {
                    Some((limit, name)) => format!(
                        "its size cannot be checked against the {limit}-byte limit of {what} \
                         ({name}); give the path of a regular file"
                    ),
                    None => format!("{what} must be a regular file"),
                };
                let entry = e.entry().unwrap_or("a special file");
                (
                    self.kind,
                    format!("{shown}: {entry}, not a regular file, so {why}"),
                )
            }
            (ErrorKind::TooLarge, _) => {
                let len = e.found().unwrap_or(0);
                let reason =
                    format!("{shown}: {len} bytes, over the {limit}-byte limit of {what} ({name})");
                (self.kind, reason)
            }
            (ErrorKind::NoMemory, _) => {
                let len = e.found().unwrap_or(0);
                let reason = format!("{shown}: cannot reserve {len} bytes to read it: {cause}");
                (StoreErrorKind::MemoryBudget, reason)
            }
            (ErrorKind::Grew, _) => {
                let reason =
                    format!("{shown}: grew past the {limit}-byte limit of {what} while being read");
                (self.kind, reason)
            }
            _ => (self.kind, e.message().to_string()),
        };
        StoreError::new(kind, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Reader<'static> = Reader {
        what: "a test",
        limit: Some((10, "LIMIT")),
        kind: StoreErrorKind::InvalidInput,
    };

    #[test]
    fn refusals_name_the_file_the_reader_and_the_limit() {
        let dir = std::env::temp_dir();
        let e = TEST.open(&dir).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
        assert_eq!(
            e.reason(),
            format!(
                "{}: a directory, not a regular file, so its size cannot be checked against the \
                 10-byte limit of a test (LIMIT); give the path of a regular file",
                dir.display()
            )
        );
        #[cfg(unix)]
        {
            let own = Reader {
                limit: None,
                kind: StoreErrorKind::Corrupt,
                ..TEST
            };
            let e = own.read(Path::new("/dev/zero")).unwrap_err();
            assert_eq!(e.kind(), StoreErrorKind::Corrupt);
            assert_eq!(
                e.reason(),
                "/dev/zero: a character device, not a regular file, so a test must be a \
                 regular file"
            );
        }
        let path =
            std::env::temp_dir().join(format!("kelvin-store-input-{}.txt", std::process::id()));
        std::fs::write(&path, b"0123456789A").unwrap();
        let e = TEST.read(&path).unwrap_err();
        assert!(
            e.reason()
                .ends_with("11 bytes, over the 10-byte limit of a test (LIMIT)"),
            "{e}"
        );
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(TEST.read(&path).unwrap(), b"0123456789");
        assert_eq!(TEST.open(&path).unwrap().1, 10);
        let _ = std::fs::remove_file(&path);
        let e = TEST.read(&path).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::Io);
        assert!(e.reason().starts_with("reading "), "{e}");
    }

    /// procfs files say they hold 0 bytes: what is read past the limit is refused by name.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_that_grows_past_the_limit_is_refused() {
        let own = Reader {
            what: "a block file",
            limit: None,
            kind: StoreErrorKind::Corrupt,
        };
        let e = own.read(Path::new("/proc/self/status")).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::Corrupt);
        assert_eq!(
            e.reason(),
            "/proc/self/status: grew past the 0-byte limit of a block file while being read"
        );
    }
}
