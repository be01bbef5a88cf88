use kelvin_attribution::AttributionError;
use kelvin_ingest::IngestError;
use kelvin_model::ModelError;
use kelvin_placement::PlacementError;
use kelvin_store::StoreError;

/// The facade's error: one variant per crate, wrapping that crate's error (inspect its kind
/// through the inner value), plus the few conditions only the engine can see.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid entities, units or time ranges.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A rule table or an input stream could not be read (bad records are quarantined, not
    /// errors).
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// A query was malformed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Attribution inputs were inconsistent.
    #[error(transparent)]
    Attribution(#[from] AttributionError),
    /// Placement inputs were invalid.
    #[error(transparent)]
    Placement(#[from] PlacementError),
    /// A recorded dataset is incomplete or malformed, or one of its files could not be read.
    #[error("{path}: {reason}")]
    Dataset {
        /// The file (with the line or field where there is one).
        path: String,
        /// What is wrong with it.
        reason: String,
        /// The file system's error, when one was the cause.
        #[source]
        source: Option<std::io::Error>,
    },
    /// An input stream the embedder handed the engine failed while it was read (what was
    /// read before stays ingested).
    #[error("{place}: {source}")]
    Io {
        /// The input (file, URL or label) and how far it was read.
        place: String,
        /// The reader's error.
        #[source]
        source: std::io::Error,
    },
    /// Records were offered but every one was quarantined, so nothing is left to compute with.
    /// The summary counts them by reason and shows the first few with their places.
    #[error("no reading of {source_name} was accepted: {summary}")]
    NothingAccepted {
        /// The input (file, URL or label).
        source_name: String,
        /// Counts by reason and the first quarantined records.
        summary: String,
    },
    /// A time window that cannot be computed over: shorter than one interval, or needing more
    /// grid cells than the engine allows. The reason names the likely cause.
    #[error("window {window}: {reason}")]
    Window {
        /// The window, as RFC 3339 start and end.
        window: String,
        /// What is wrong and what to do about it.
        reason: String,
    },
    /// The engine has no data for what was asked (no readings ingested, no host measured in
    /// the window).
    #[error("no data: {what}")]
    NoData {
        /// What is missing.
        what: &'static str,
    },
}

impl From<kelvin_sim::dataset::DatasetError> for Error {
    /// A dataset the reader refused: [`Error::Dataset`] with its place and reason.
    fn from(mut e: kelvin_sim::dataset::DatasetError) -> Error {
        Error::Dataset {
            path: e.path().to_string(),
            reason: e.reason().to_string(),
            source: e.take_source(),
        }
    }
}

impl Error {
    /// [`Error::Dataset`] for a malformed file (or a part of one, such as its line), with no
    /// I/O cause.
    pub fn dataset(path: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Dataset {
            path: path.into(),
            reason: reason.into(),
            source: None,
        }
    }
}
