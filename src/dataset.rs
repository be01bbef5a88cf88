//! Recorded datasets: the directory format `kelvin-sim` writes (or an operator assembles from
//! real data), read by [`kelvin_sim::dataset`] — its files, limits and checks are that
//! module's — into a [`RecordedDataset`]. The replay report over a dataset is the
//! `kelvin-replay` crate; [`RecordedDataset::load`]'s errors convert into [`Error::Dataset`].

use crate::Error;

pub use kelvin_sim::dataset::{
    CaptureFile, FacilitySample, HostTruthRow as HostTruth, MAX_DATASET_FILE_BYTES,
    MAX_IN_MEMORY_METRICS_BYTES, PodEvent, PodEventKind, RecordedDataset, TruthRow,
};

/// Reads a whole file as text when it is a regular file of at most `limit` bytes
/// ([`kelvin_sim::dataset::read_text_file`]).
///
/// # Errors
/// [`Error::Dataset`] naming the file for a missing file, a directory, a FIFO or device, a file
/// over the limit (also one whose size the file system does not tell, such as a link to
/// `/dev/zero`), or text that is not UTF-8 (with the byte offset).
pub fn read_text_file(path: &std::path::Path, limit: u64) -> Result<String, Error> {
    Ok(kelvin_sim::dataset::read_text_file(path, limit)?)
}
