//! Recorded datasets, wired: the format and its reader live in [`kelvin_sim::dataset`], next
//! to the writer; here are their `kelvin::replay` paths, the reader's errors as
//! [`Error::Dataset`], and the one check the reader cannot make — the extra metric rules,
//! whose format `kelvin-ingest` knows.

use std::path::Path;

use kelvin_sim::dataset::PROMETHEUS_RULES_JSON;
pub use kelvin_sim::dataset::{
    CaptureFile, FacilitySample, HostTruthRow as HostTruth, MAX_DATASET_FILE_BYTES,
    MAX_IN_MEMORY_METRICS_BYTES, RecordedDataset, TruthRow,
};

use crate::Error;

pub(crate) fn dataset_err(path: &str, reason: impl Into<String>) -> Error {
    Error::dataset(path, reason)
}

/// Reads a whole file as text when it is a regular file of at most `limit` bytes
/// ([`kelvin_sim::dataset::read_text_file`]).
///
/// # Errors
/// [`Error::Dataset`] naming the file for a missing file, a directory, a FIFO or device, a file
/// over the limit (also one whose size the file system does not tell, such as a link to
/// `/dev/zero`), or text that is not UTF-8 (with the byte offset).
pub fn read_text_file(path: &Path, limit: u64) -> Result<String, Error> {
    Ok(kelvin_sim::dataset::read_text_file(path, limit)?)
}

/// The dataset's extra metric rules (`prometheus_rules.json`), when it has them, parsed.
///
/// # Errors
/// [`Error::Dataset`] naming the file (under the dataset's directory) when the rules do not
/// parse.
pub(crate) fn extra_rules(ds: &RecordedDataset) -> Result<Option<kelvin_ingest::RuleSet>, Error> {
    let Some(json) = &ds.rules_json else {
        return Ok(None);
    };
    kelvin_ingest::RuleSet::from_json(json)
        .map(Some)
        .map_err(|e| {
            let path = match &ds.dir {
                Some(dir) => dir.join(PROMETHEUS_RULES_JSON).display().to_string(),
                None => PROMETHEUS_RULES_JSON.to_string(),
            };
            dataset_err(&path, e.to_string())
        })
}
