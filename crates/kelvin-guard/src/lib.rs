//! Guards for untrusted input that every Kelvin reader shares.
//!
//! - [`file`](mod@file): a path read as a regular file within a size. A FIFO, a device or a directory is
//!   refused without being opened (on Linux the open itself cannot block, and the opened file
//!   is checked again), the size is checked against the limit before anything is reserved, the
//!   buffer is reserved fallibly, and at most one byte past the limit is read.
//! - [`parquet`]: a Parquet file's metadata — the footer, its schema, the page headers of its
//!   column chunks — walked with every length checked against the bytes really there and every
//!   size against [`parquet::Limits`], before the `parquet` crate reserves what they claim.
//!
//! Both report an [`Error`]: an inspectable [`ErrorKind`], a message naming the path or the
//! byte offset and the limit, and the facts behind it ([`Error::found`], [`Error::limit`],
//! [`Error::entry`], …), so that each reader words the refusal in its own error type. The
//! crate depends on nothing but std.
//!
//! ```
//! use kelvin_guard::{ErrorKind, file};
//!
//! let path = std::env::temp_dir().join(format!("guard-doc-{}.txt", std::process::id()));
//! std::fs::write(&path, b"0123456789")?;
//! assert_eq!(file::read(&path, Some(10)).unwrap(), b"0123456789");
//! let e = file::read(&path, Some(4)).unwrap_err();
//! assert_eq!((e.kind(), e.found(), e.limit()), (ErrorKind::TooLarge, Some(10), Some(4)));
//! assert_eq!(e.detail(), "10 bytes, over the 4-byte limit: not read");
//! std::fs::remove_file(&path)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;

pub mod file;
pub mod parquet;

/// What a guard refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The path names something other than a regular file (a directory, a FIFO, a socket, a
    /// device; [`Error::entry`] says which).
    NotRegular,
    /// The file is larger than the limit by its size ([`Error::found`]); it was not read.
    TooLarge,
    /// The file grew past the limit while it was read ([`Error::found`] bytes were read).
    Grew,
    /// The buffer for the file ([`Error::found`] bytes) could not be reserved.
    NoMemory,
    /// The file system failed ([`Error::cause`]), or a Parquet reader could not be had.
    Io,
    /// Parquet metadata that contradicts itself or the bytes there.
    Malformed,
    /// Parquet metadata that is consistent but over one of the [`parquet::Limits`]
    /// ([`Error::limit_name`]).
    OverLimit,
}

/// How far a [`file`](mod@file) guard had got when it refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Looking at the path, before opening it.
    Look,
    /// Opening it, or checking the opened file (the path may have changed since the look).
    Open,
    /// Reserving the buffer or reading.
    Read,
}

/// A refusal: its kind, a message naming the place (path or byte offset) and the limit, and
/// the facts a caller needs to word it its own way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    /// `place: detail`, or the detail alone.
    message: String,
    /// Where the detail starts in `message`.
    detail_at: usize,
    /// Boxed: an error stays small however many facts it carries.
    facts: Box<Facts>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Facts {
    step: Option<Step>,
    entry: Option<&'static str>,
    cause: Option<String>,
    offset: Option<u64>,
    found: Option<u64>,
    limit: Option<u64>,
    limit_name: Option<&'static str>,
}

impl Error {
    /// An error whose message is `place: detail` (`detail` alone without a place).
    pub(crate) fn new(kind: ErrorKind, place: Option<&dyn fmt::Display>, detail: String) -> Self {
        let (message, detail_at) = match place {
            Some(p) => {
                let head = format!("{p}: ");
                let at = head.len();
                (head + &detail, at)
            }
            None => (detail, 0),
        };
        Error {
            kind,
            message,
            detail_at,
            facts: Box::default(),
        }
    }

    pub(crate) fn at_step(mut self, step: Step) -> Self {
        self.facts.step = Some(step);
        self
    }

    pub(crate) fn with_entry(mut self, entry: &'static str) -> Self {
        self.facts.entry = Some(entry);
        self
    }

    pub(crate) fn with_cause(mut self, cause: impl fmt::Display) -> Self {
        self.facts.cause = Some(cause.to_string());
        self
    }

    pub(crate) fn at_offset(mut self, offset: u64) -> Self {
        self.facts.offset = Some(offset);
        self
    }

    /// `found` against `limit`; `name` is the limit's field in [`parquet::Limits`], for
    /// over-limit errors.
    pub(crate) fn against(mut self, found: u64, limit: u64, name: Option<&'static str>) -> Self {
        self.facts.found = Some(found);
        self.facts.limit = Some(limit);
        self.facts.limit_name = name;
        self
    }

    /// What was refused.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The whole message: the place (the path, or where in a Parquet file) and the detail.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message without its place: what is wrong, and the limit.
    pub fn detail(&self) -> &str {
        &self.message[self.detail_at..]
    }

    /// For [`file`](mod@file) errors: how far the guard had got.
    pub fn step(&self) -> Option<Step> {
        self.facts.step
    }

    /// For [`ErrorKind::NotRegular`]: what the path names, in words (`"a FIFO"`, `"a
    /// directory"`; see [`file::describe`]).
    pub fn entry(&self) -> Option<&'static str> {
        self.facts.entry
    }

    /// The underlying failure in words, for [`ErrorKind::Io`] and [`ErrorKind::NoMemory`].
    pub fn cause(&self) -> Option<&str> {
        self.facts.cause.as_deref()
    }

    /// For [`parquet`] errors: the byte of the file where the refused structure (a page header,
    /// the footer) starts.
    pub fn offset(&self) -> Option<u64> {
        self.facts.offset
    }

    /// The size or count found: a file's bytes ([`ErrorKind::TooLarge`],
    /// [`ErrorKind::NoMemory`]), the bytes read ([`ErrorKind::Grew`]), a page's bytes, a
    /// dictionary's values, a footer's or a row group's bytes ([`ErrorKind::OverLimit`]).
    pub fn found(&self) -> Option<u64> {
        self.facts.found
    }

    /// The limit [`Error::found`] was checked against.
    pub fn limit(&self) -> Option<u64> {
        self.facts.limit
    }

    /// For [`ErrorKind::OverLimit`]: the field of [`parquet::Limits`] that holds the limit
    /// (`"max_page_bytes"`).
    pub fn limit_name(&self) -> Option<&'static str> {
        self.facts.limit_name
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
