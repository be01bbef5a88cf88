//! Reading a dataset directory, or a dataset's parts from texts: the files within their
//! limits, the inventory and the workloads checked against each other, then the optional
//! tables ([`super::table`]).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use kelvin_model::{Inventory, Workload};

use super::events::parse_pod_events;
use super::table::{parse_captures, parse_facility, parse_host_truth, parse_truth};
use super::{
    CAPTURE_INDEX_CSV, DatasetError, DatasetErrorKind, FACILITY_TRUTH_CSV, GROUND_TRUTH_CSV,
    HOSTS_TRUTH_CSV, INVENTORY_JSON, MAX_DATASET_FILE_BYTES, MAX_IN_MEMORY_METRICS_BYTES,
    MAX_POD_EVENTS_BYTES, METRICS_PROM, POD_EVENTS_JSONL, PROMETHEUS_RULES_JSON, RecordedDataset,
    WORKLOADS_JSON,
};

/// Reads a whole file as text when it is a regular file of at most `limit` bytes
/// ([`kelvin_guard::file::read`]: what the path names is checked before it is opened, and at
/// most one byte past the limit is read).
///
/// # Errors
/// A [`DatasetError`] naming the file: [`DatasetErrorKind::Io`] for a missing file,
/// [`DatasetErrorKind::NotRegular`] for a directory, a FIFO or a device,
/// [`DatasetErrorKind::TooLarge`] for a file over the limit (also one whose size the file
/// system does not tell, such as a link to `/dev/zero`), [`DatasetErrorKind::NotText`] for
/// text that is not UTF-8 (with the byte offset).
pub fn read_text_file(path: &Path, limit: u64) -> Result<String, DatasetError> {
    use kelvin_guard::ErrorKind;
    let shown = path.display().to_string();
    let bytes = kelvin_guard::file::read(path, Some(limit)).map_err(|e| {
        let (kind, reason) = match e.kind() {
            ErrorKind::NotRegular => (
                DatasetErrorKind::NotRegular,
                format!(
                    "is {}, not a regular file; refusing to read it",
                    e.entry().unwrap_or("a special file")
                ),
            ),
            // By its size, or by the bytes read when it grew or told none.
            ErrorKind::TooLarge | ErrorKind::Grew => (
                DatasetErrorKind::TooLarge,
                format!(
                    "{} bytes or more, over the {limit}-byte limit for this file",
                    e.found().unwrap_or(limit)
                ),
            ),
            ErrorKind::Io => (
                DatasetErrorKind::Io,
                e.cause().unwrap_or(e.detail()).to_string(),
            ),
            _ => (DatasetErrorKind::Io, e.detail().to_string()),
        };
        DatasetError::new(kind, shown.clone(), reason)
    })?;
    String::from_utf8(bytes).map_err(|e| {
        DatasetError::new(
            DatasetErrorKind::NotText,
            shown.clone(),
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

impl RecordedDataset {
    /// Loads a dataset directory, `metrics.prom` into memory (at most
    /// [`MAX_IN_MEMORY_METRICS_BYTES`]).
    ///
    /// # Errors
    /// A [`DatasetError`] naming the file that is missing, too large or malformed, and the
    /// field or line.
    pub fn load(dir: impl AsRef<Path>) -> Result<RecordedDataset, DatasetError> {
        RecordedDataset::from_dir(dir.as_ref(), false)
    }

    /// Opens a dataset directory without reading `metrics.prom` into memory: a reader streams
    /// it ([`RecordedDataset::metrics_file`]), so recordings larger than memory replay in
    /// bounded memory.
    ///
    /// # Errors
    /// As [`RecordedDataset::load`]; a missing `metrics.prom` is reported here.
    pub fn open(dir: impl AsRef<Path>) -> Result<RecordedDataset, DatasetError> {
        RecordedDataset::from_dir(dir.as_ref(), true)
    }

    fn from_dir(dir: &Path, stream: bool) -> Result<RecordedDataset, DatasetError> {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(DatasetError::new(
                    DatasetErrorKind::NotADirectory,
                    dir.display().to_string(),
                    "is a file, not a directory: a dataset is a directory holding inventory.json, \
                     workloads.json and metrics.prom",
                ));
            }
            Err(e) => return Err(DatasetError::io(dir, e)),
        }
        let read = |name: &str| read_text_file(&dir.join(name), MAX_DATASET_FILE_BYTES);
        let metrics_path = dir.join(METRICS_PROM);
        let metrics = if stream {
            let m =
                std::fs::metadata(&metrics_path).map_err(|e| DatasetError::io(&metrics_path, e))?;
            if !m.is_file() {
                return Err(DatasetError::new(
                    DatasetErrorKind::NotRegular,
                    metrics_path.display().to_string(),
                    "not a regular file; refusing to stream it",
                ));
            }
            String::new()
        } else {
            read_text_file(&metrics_path, MAX_IN_MEMORY_METRICS_BYTES).map_err(|e| {
                if e.kind() == DatasetErrorKind::TooLarge {
                    e.add_reason("; RecordedDataset::open streams files of any size")
                } else {
                    e
                }
            })?
        };
        let truth = optional(dir, GROUND_TRUTH_CSV)?;
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut ds = RecordedDataset::from_texts(
            &name,
            &read(INVENTORY_JSON)?,
            &read(WORKLOADS_JSON)?,
            metrics,
            truth.as_deref(),
        )?;
        ds.dir = Some(dir.to_path_buf());
        if stream {
            ds.metrics_file = Some(metrics_path);
        }
        ds.read_extras(dir)?;
        Ok(ds)
    }

    /// Reads the optional parts: extra metric rules (as text), host truth, facility truth, the
    /// capture index and the pod events (checked here, so a bad table is reported before any
    /// replay).
    fn read_extras(&mut self, dir: &Path) -> Result<(), DatasetError> {
        self.rules_json = optional(dir, PROMETHEUS_RULES_JSON)?;
        if let Some(text) = optional_within(dir, POD_EVENTS_JSONL, MAX_POD_EVENTS_BYTES)? {
            self.pod_events = parse_pod_events(&text)?;
        }
        if let Some(csv) = optional(dir, HOSTS_TRUTH_CSV)? {
            self.host_truth = parse_host_truth(&csv)?;
        }
        if let Some(csv) = optional(dir, FACILITY_TRUTH_CSV)? {
            self.facility = parse_facility(&csv)?;
        }
        if let Some(index) = optional(dir, CAPTURE_INDEX_CSV)? {
            self.captures = parse_captures(dir, &index)?;
        }
        Ok(())
    }

    /// Builds a dataset from the files' contents (for datasets embedded with `include_str!`),
    /// checking the inventory (an object with at least one host, plausible capacities) and the
    /// workloads (an array; known hosts; requests that fit the host they run on).
    ///
    /// # Errors
    /// A [`DatasetError`] naming the part (`inventory.json`, `workloads.json`,
    /// `ground_truth.csv`), the field or line and the reason.
    pub fn from_texts(
        name: &str,
        inventory_json: &str,
        workloads_json: &str,
        metrics: String,
        truth_csv: Option<&str>,
    ) -> Result<RecordedDataset, DatasetError> {
        let inventory = parse_inventory(inventory_json)?;
        let workloads = parse_workloads(&inventory, workloads_json)?;
        let truth = truth_csv.map(parse_truth).transpose()?.unwrap_or_default();
        Ok(RecordedDataset {
            name: name.to_string(),
            dir: None,
            inventory,
            workloads,
            metrics,
            metrics_file: None,
            truth,
            host_truth: Vec::new(),
            captures: Vec::new(),
            rules_json: None,
            facility: Vec::new(),
            pod_events: Vec::new(),
        })
    }

    /// The metrics file to stream ([`RecordedDataset::metrics_file`]), opened and buffered:
    /// any size, but only a regular file (a FIFO would block the reader). `None` for metrics
    /// held in memory ([`RecordedDataset::metrics`]).
    ///
    /// # Errors
    /// A [`DatasetError`] naming the file when it cannot be opened
    /// ([`DatasetErrorKind::Io`]) or is not a regular file ([`DatasetErrorKind::NotRegular`]).
    pub fn open_metrics(&self) -> Result<Option<BufReader<File>>, DatasetError> {
        let Some(path) = &self.metrics_file else {
            return Ok(None);
        };
        let (file, _) = kelvin_guard::file::open(path, None).map_err(|e| {
            let kind = match e.kind() {
                kelvin_guard::ErrorKind::NotRegular => DatasetErrorKind::NotRegular,
                _ => DatasetErrorKind::Io,
            };
            DatasetError::new(kind, path.display().to_string(), e.detail())
        })?;
        Ok(Some(BufReader::with_capacity(1 << 20, file)))
    }

    /// Adds per-host ground truth from the text of a `hosts_truth.csv`
    /// (`host,energy_j,…`), for datasets built with [`RecordedDataset::from_texts`].
    ///
    /// # Errors
    /// A [`DatasetError`] naming the line of a malformed row.
    pub fn with_host_truth(mut self, csv: &str) -> Result<RecordedDataset, DatasetError> {
        self.host_truth = parse_host_truth(csv)?;
        Ok(self)
    }

    /// Adds pod lifecycle events from the text of a `pod_events.jsonl` (one Kubernetes watch
    /// event per line, in time order), for datasets built with [`RecordedDataset::from_texts`].
    ///
    /// # Errors
    /// A [`DatasetError`] at `pod_events.jsonl:<line>` naming the field and the cause.
    pub fn with_pod_events(mut self, jsonl: &str) -> Result<RecordedDataset, DatasetError> {
        self.pod_events = parse_pod_events(jsonl)?;
        Ok(self)
    }
}

/// An optional file of the dataset: `None` when it does not exist.
fn optional(dir: &Path, name: &str) -> Result<Option<String>, DatasetError> {
    optional_within(dir, name, MAX_DATASET_FILE_BYTES)
}

/// An optional file of the dataset read within `limit` bytes: `None` when it does not exist.
fn optional_within(dir: &Path, name: &str, limit: u64) -> Result<Option<String>, DatasetError> {
    let path = dir.join(name);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_text_file(&path, limit).map(Some),
    }
}

/// The first character that is not white space, named for messages.
fn opening(json: &str) -> (&'static str, Option<char>) {
    let c = json.trim_start().chars().next();
    let what = match c {
        None => "nothing",
        Some('{') => "an object",
        Some('[') => "an array",
        Some('"') => "a string",
        Some(_) => "a number, boolean or null",
    };
    (what, c)
}

/// Parses `inventory.json`: an object with at least one host, valid as a whole.
fn parse_inventory(json: &str) -> Result<Inventory, DatasetError> {
    let file = INVENTORY_JSON;
    let (what, c) = opening(json);
    if c != Some('{') {
        return Err(DatasetError::malformed(
            file,
            format!(
                "expected a JSON object with \"hosts\", \"racks\", \"rooms\" and \"sites\", found \
                 {what}"
            ),
        ));
    }
    let inventory: Inventory =
        serde_json::from_str(json).map_err(|e| DatasetError::malformed(file, e.to_string()))?;
    if inventory.hosts.is_empty() {
        return Err(DatasetError::malformed(
            file,
            "lists no hosts: a dataset needs at least one host to meter and place on",
        ));
    }
    inventory
        .validate()
        .map_err(|e| DatasetError::malformed(format!("{file}: {}", e.place()), e.reason()))?;
    Ok(inventory)
}

/// Parses `workloads.json` and checks it against the inventory, naming its own indices.
fn parse_workloads(inventory: &Inventory, json: &str) -> Result<Vec<Workload>, DatasetError> {
    let file = WORKLOADS_JSON;
    let (what, c) = opening(json);
    if c != Some('[') {
        return Err(DatasetError::malformed(
            file,
            format!("expected a JSON array of workloads, found {what}"),
        ));
    }
    let workloads: Vec<Workload> =
        serde_json::from_str(json).map_err(|e| DatasetError::malformed(file, e.to_string()))?;
    let mut all = inventory.clone();
    let own = all.workloads.len();
    all.workloads.extend(workloads.iter().cloned());
    if let Err(e) = all.validate() {
        // Places index the combined list; point into this file when the entry is its own.
        let place = e.place().to_string();
        let shifted = place
            .strip_prefix("workloads[")
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(i, tail)| Some((i.parse::<usize>().ok()?.checked_sub(own)?, tail)))
            .map(|(i, tail)| format!("{file}: [{i}]{tail}"));
        return Err(match shifted {
            Some(p) => DatasetError::malformed(p, e.reason()),
            None => DatasetError::malformed(format!("{INVENTORY_JSON}: {place}"), e.reason()),
        });
    }
    Ok(workloads)
}
