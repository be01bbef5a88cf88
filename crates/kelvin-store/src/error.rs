/// What kind of problem a [`StoreError`] reports; match on this, not on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// A grid that cannot be built: a step that is not positive, fewer than two points, or a
    /// last point beyond the range of [`kelvin_model::Timestamp`].
    InvalidGrid,
    /// The store holds no series with the requested key.
    UnknownSeries,
    /// A counter operation ([`crate::SeriesRead::increase`]) on a gauge series.
    NotACounter,
    /// A gauge operation ([`crate::SeriesRead::integrate`]) on a counter series.
    NotAGauge,
    /// Input that cannot be used: a malformed CSV row, arguments that contradict each other,
    /// a sample outside the accepted window. The reason names the place (line, column, series).
    InvalidInput,
    /// Stored bytes that fail their checksum or do not decode: a torn write-ahead-log tail, a
    /// damaged block or block file, a foreign file. The reason names the file and offset.
    Corrupt,
    /// An operating-system I/O error (open, read, write, fsync, rename), with the path.
    Io,
    /// The store would exceed its configured memory budget; nothing was written.
    MemoryBudget,
    /// A file written by a newer or unknown format version, or a feature not compiled in.
    Unsupported,
}

/// The error type of `kelvin-store`: an inspectable [`StoreErrorKind`] and a human-readable
/// reason.
///
/// # Panics and errors
///
/// Bad arguments (an invalid grid, a key the store does not hold, an operation that does not fit
/// the series' semantics) are reported as a `StoreError`. Data problems are never errors: a value
/// that cannot be computed from the samples is NaN, and an unusable reading is counted by
/// [`crate::Store::insert`] and [`crate::MemStore::insert`]. The only documented panic is
/// [`crate::Grid::point`] with an index out of range, like slice indexing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct StoreError {
    kind: StoreErrorKind,
    reason: String,
}

impl StoreError {
    pub(crate) fn new(kind: StoreErrorKind, reason: impl Into<String>) -> Self {
        StoreError {
            kind,
            reason: reason.into(),
        }
    }

    /// The inspectable kind.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// Why the operation failed.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_reason() {
        let e = StoreError::new(StoreErrorKind::UnknownSeries, "no series h1/psu:power");
        assert_eq!(e.to_string(), "no series h1/psu:power");
        assert_eq!(e.reason(), "no series h1/psu:power");
        assert_eq!(e.kind(), StoreErrorKind::UnknownSeries);
    }
}
