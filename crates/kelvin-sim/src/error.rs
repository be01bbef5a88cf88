//! The simulator's error: a configuration that cannot produce a dataset, or a file that could
//! not be written. Reading a dataset has its own error, [`crate::dataset::DatasetError`].

use std::path::Path;

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The configuration cannot produce a dataset (zero hosts, a scrape interval longer than
    /// the run, workloads that do not fit).
    #[error("invalid configuration: {field}: {reason}")]
    Config {
        /// The offending field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// Writing the dataset failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file being written.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

pub(crate) fn config_err(field: &'static str, reason: impl Into<String>) -> SimError {
    SimError::Config {
        field,
        reason: reason.into(),
    }
}

/// Wraps an I/O error of writing `path`.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        path: path.display().to_string(),
        source,
    }
}
