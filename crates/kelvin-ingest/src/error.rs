use kelvin_model::Place;

/// What went wrong, for errors that stop an ingestion call (bad records never do: they are
/// quarantined).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IngestErrorKind {
    /// Reading the input failed.
    Io,
    /// A rule table is malformed (bad JSON, unknown kind or unit, duplicate metric).
    InvalidRules,
    /// A remote source answered with a non-success HTTP status.
    Http,
    /// The call itself is wrong (a single-file format for a directory).
    InvalidInput,
    /// A file that must be whole and well-formed to be used at all — a schedule, a work log,
    /// unlike telemetry whose bad records are quarantined one by one — is not: over its size
    /// limit, not UTF-8, or a line that breaks the format. The place names the file and line.
    Malformed,
}

/// The error type of `kelvin-ingest`.
#[derive(Debug, thiserror::Error)]
#[error("{place}: {reason}")]
pub struct IngestError {
    kind: IngestErrorKind,
    place: Place,
    reason: String,
    #[source]
    source: Option<std::io::Error>,
}

impl IngestError {
    /// An error of `kind` at `place` (for an embedder's [`crate::Decode::decode_tree`], too).
    pub fn new(kind: IngestErrorKind, place: Place, reason: impl Into<String>) -> Self {
        IngestError {
            kind,
            place,
            reason: reason.into(),
            source: None,
        }
    }

    /// An I/O error at `place`, kept as the error's source.
    pub fn io(place: Place, err: std::io::Error) -> Self {
        IngestError {
            kind: IngestErrorKind::Io,
            place,
            reason: err.to_string(),
            source: Some(err),
        }
    }

    /// The inspectable kind.
    pub fn kind(&self) -> IngestErrorKind {
        self.kind
    }

    /// Where it happened.
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// Why.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}
