//! What can go wrong reading a recorded dataset.

use std::path::Path;

/// What kind of problem a [`DatasetError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatasetErrorKind {
    /// The system failed: a missing file or directory, no permission, a failed read, or no
    /// memory for a file's buffer.
    Io,
    /// The dataset's path names a file, not a directory.
    NotADirectory,
    /// A dataset file is a directory, a FIFO, a socket or a device, not a regular file; it was
    /// not read.
    NotRegular,
    /// A file is over its size limit, by its size or by the bytes read when it grew; it was
    /// not kept.
    TooLarge,
    /// A file is not UTF-8 text.
    NotText,
    /// A file's content breaks the format: JSON or CSV that does not parse or has the wrong
    /// shape, a missing column or field, a value that is not a number or out of range, an
    /// entity the inventory does not have, a request no host can meet.
    Malformed,
}

/// An error reading a recorded dataset: its [`kind`](DatasetError::kind), the place (the file,
/// with the line, field or index where there is one) and the reason, displayed as
/// `place: reason`.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct DatasetError {
    kind: DatasetErrorKind,
    path: String,
    reason: String,
    /// The file system's error, when one was the cause.
    #[source]
    source: Option<std::io::Error>,
}

impl DatasetError {
    pub(crate) fn new(
        kind: DatasetErrorKind,
        path: impl Into<String>,
        reason: impl Into<String>,
    ) -> DatasetError {
        DatasetError {
            kind,
            path: path.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// A [`DatasetErrorKind::Malformed`] error at `place`.
    pub(crate) fn malformed(place: impl Into<String>, reason: impl Into<String>) -> DatasetError {
        DatasetError::new(DatasetErrorKind::Malformed, place, reason)
    }

    /// A [`DatasetErrorKind::Io`] error of `path`, keeping the file system's error as the
    /// source.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> DatasetError {
        DatasetError {
            kind: DatasetErrorKind::Io,
            path: path.display().to_string(),
            reason: source.to_string(),
            source: Some(source),
        }
    }

    /// Appends `more` to the reason.
    pub(crate) fn add_reason(mut self, more: &str) -> DatasetError {
        self.reason.push_str(more);
        self
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> DatasetErrorKind {
        self.kind
    }

    /// The place: the file (as given, or relative to the dataset for a part read from text),
    /// with the line (`ground_truth.csv:2`) or the field (`inventory.json:
    /// hosts[0].capacity.cpu_cores`) where there is one.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong, and the likely cause.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Takes the file system's error out, when one was the cause (for an error type that
    /// wraps this one and keeps it as its source).
    pub fn take_source(&mut self) -> Option<std::io::Error> {
        self.source.take()
    }
}
