//! Reading a recorded dataset directory, untrusted: every file is size-limited and read only
//! when it is a regular file, every table is checked field by field, and every error names the
//! file, the line or field, and the likely cause.

use std::path::{Path, PathBuf};

use kelvin_model::{EntityId, Inventory, Timestamp, Workload};

use crate::Error;

/// Largest dataset file read whole (`inventory.json`, `workloads.json`, the truth tables, the
/// capture index, `prometheus_rules.json`): 64 MiB, a thousand times the largest committed
/// one.
pub const MAX_DATASET_FILE_BYTES: u64 = 64 << 20;

/// Largest `metrics.prom` that [`RecordedDataset::load`] reads into memory: 256 MiB.
/// [`RecordedDataset::open`] streams any size.
pub const MAX_IN_MEMORY_METRICS_BYTES: u64 = 256 << 20;

/// True energy of one workload over the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthRow {
    /// The workload.
    pub workload: EntityId,
    /// Its host.
    pub host: EntityId,
    /// True energy under the two-part tariff (idle by reservation, dynamic by use), joules.
    pub energy_j: f64,
    /// True power split by CPU-time share every second, joules, when the dataset has it: the
    /// reference for the `cpu_share` policy's measurement error.
    pub cpu_share_j: Option<f64>,
}

/// True energy of one host over the recording (`hosts_truth.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostTruth {
    /// The host.
    pub host: EntityId,
    /// True wall energy, joules: what a perfect meter would have measured.
    pub energy_j: f64,
}

/// A vendor capture of a dataset: a snapshot file for one entity, taken at a known time.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureFile {
    /// The file as the index names it, relative to the dataset (quarantine places use it).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// The entity it describes (a host or a PDU).
    pub entity: EntityId,
    /// When it was taken.
    pub taken_at: Timestamp,
}

/// One interval of the facility's power.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FacilitySample {
    /// Start of the interval.
    pub start: Timestamp,
    /// Its length, seconds.
    pub interval_s: f64,
    /// IT power, watts.
    pub it_w: f64,
    /// Cooling (and other overhead) power, watts.
    pub overhead_w: f64,
}

/// A recorded dataset, in memory.
#[derive(Debug, Clone)]
pub struct RecordedDataset {
    /// Display name (the directory name).
    pub name: String,
    /// The estate.
    pub inventory: Inventory,
    /// Running and pending workloads.
    pub workloads: Vec<Workload>,
    /// The metrics text (empty when [`RecordedDataset::metrics_file`] is set).
    pub metrics: String,
    /// The metrics file to stream instead of `metrics`, for datasets opened with
    /// [`RecordedDataset::open`].
    pub metrics_file: Option<PathBuf>,
    /// Ground truth per workload, when the dataset has it.
    pub truth: Vec<TruthRow>,
    /// Ground truth per host (`hosts_truth.csv`), when the dataset has it.
    pub host_truth: Vec<HostTruth>,
    /// Vendor captures listed in `captures/index.csv`, in index order.
    pub captures: Vec<CaptureFile>,
    /// Extra metric rules from `prometheus_rules.json` (checked when the dataset is read).
    pub rules_json: Option<String>,
    /// The facility's IT and cooling power over time from `facility_truth.csv`
    /// (`t_ms,interval_s,it_w,cooling_w,…`), when the dataset has it.
    pub facility: Vec<FacilitySample>,
}

pub(crate) fn dataset_err(path: &str, reason: impl Into<String>) -> Error {
    Error::Dataset {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// Reads a whole file as text when it is a regular file of at most `limit` bytes
/// ([`kelvin_guard::file::read`]: what the path names is checked before it is opened, and at
/// most one byte past the limit is read).
///
/// # Errors
/// [`Error::Dataset`] naming the file for a missing file, a directory, a FIFO or device, a file
/// over the limit (also one whose size the file system does not tell, such as a link to
/// `/dev/zero`), or text that is not UTF-8 (with the byte offset).
pub fn read_text_file(path: &Path, limit: u64) -> Result<String, Error> {
    use kelvin_guard::ErrorKind;
    let shown = path.display().to_string();
    let bytes = kelvin_guard::file::read(path, Some(limit)).map_err(|e| {
        let reason = match e.kind() {
            ErrorKind::NotRegular => format!(
                "is {}, not a regular file; refusing to read it",
                e.entry().unwrap_or("a special file")
            ),
            // By its size, or by the bytes read when it grew or told none.
            ErrorKind::TooLarge | ErrorKind::Grew => format!(
                "{} bytes or more, over the {limit}-byte limit for this file",
                e.found().unwrap_or(limit)
            ),
            ErrorKind::Io => e.cause().unwrap_or(e.detail()).to_string(),
            _ => e.detail().to_string(),
        };
        dataset_err(&shown, reason)
    })?;
    String::from_utf8(bytes).map_err(|e| {
        dataset_err(
            &shown,
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
    /// [`Error::Dataset`] naming the file that is missing, too large or malformed, and the
    /// field or line.
    pub fn load(dir: impl AsRef<Path>) -> Result<RecordedDataset, Error> {
        RecordedDataset::from_dir(dir.as_ref(), false)
    }

    /// Opens a dataset directory without reading `metrics.prom` into memory: the replay
    /// streams it, so recordings larger than memory replay in bounded memory.
    ///
    /// # Errors
    /// As [`RecordedDataset::load`]; a missing `metrics.prom` is reported here.
    pub fn open(dir: impl AsRef<Path>) -> Result<RecordedDataset, Error> {
        RecordedDataset::from_dir(dir.as_ref(), true)
    }

    fn from_dir(dir: &Path, stream: bool) -> Result<RecordedDataset, Error> {
        let shown = dir.display().to_string();
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(dataset_err(
                    &shown,
                    "is a file, not a directory: a dataset is a directory holding inventory.json, \
                     workloads.json and metrics.prom",
                ));
            }
            Err(e) => return Err(dataset_err(&shown, e.to_string())),
        }
        let read = |name: &str| read_text_file(&dir.join(name), MAX_DATASET_FILE_BYTES);
        let metrics_path = dir.join("metrics.prom");
        let metrics = if stream {
            let m = std::fs::metadata(&metrics_path)
                .map_err(|e| dataset_err(&metrics_path.display().to_string(), e.to_string()))?;
            if !m.is_file() {
                return Err(dataset_err(
                    &metrics_path.display().to_string(),
                    "not a regular file; refusing to stream it",
                ));
            }
            String::new()
        } else {
            read_text_file(&metrics_path, MAX_IN_MEMORY_METRICS_BYTES).map_err(|e| match e {
                Error::Dataset { path, reason } if reason.contains("limit") => Error::Dataset {
                    path,
                    reason: format!("{reason}; RecordedDataset::open streams files of any size"),
                },
                e => e,
            })?
        };
        let truth = optional(dir, "ground_truth.csv")?;
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut ds = RecordedDataset::from_texts(
            &name,
            &read("inventory.json")?,
            &read("workloads.json")?,
            metrics,
            truth.as_deref(),
        )?;
        if stream {
            ds.metrics_file = Some(metrics_path);
        }
        ds.read_extras(dir)?;
        Ok(ds)
    }

    /// Reads the optional parts: host truth, facility truth, the capture index and extra
    /// metric rules (checked here, so a bad table is reported before any replay).
    fn read_extras(&mut self, dir: &Path) -> Result<(), Error> {
        if let Some(json) = optional(dir, "prometheus_rules.json")? {
            kelvin_ingest::RuleSet::from_json(&json).map_err(|e| {
                dataset_err(
                    &dir.join("prometheus_rules.json").display().to_string(),
                    e.to_string(),
                )
            })?;
            self.rules_json = Some(json);
        }
        if let Some(csv) = optional(dir, "hosts_truth.csv")? {
            self.host_truth = parse_host_truth(&csv)?;
        }
        if let Some(csv) = optional(dir, "facility_truth.csv")? {
            self.facility = parse_facility(&csv)?;
        }
        if let Some(index) = optional(dir, "captures/index.csv")? {
            self.captures = parse_captures(dir, &index)?;
        }
        Ok(())
    }

    /// Builds a dataset from the files' contents (for datasets embedded with `include_str!`),
    /// checking the inventory (an object with at least one host, plausible capacities) and the
    /// workloads (an array; known hosts; requests that fit the host they run on).
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the part (`inventory.json`, `workloads.json`,
    /// `ground_truth.csv`), the field or line and the reason.
    pub fn from_texts(
        name: &str,
        inventory_json: &str,
        workloads_json: &str,
        metrics: String,
        truth_csv: Option<&str>,
    ) -> Result<RecordedDataset, Error> {
        let inventory = parse_inventory(inventory_json)?;
        let workloads = parse_workloads(&inventory, workloads_json)?;
        let truth = truth_csv.map(parse_truth).transpose()?.unwrap_or_default();
        Ok(RecordedDataset {
            name: name.to_string(),
            inventory,
            workloads,
            metrics,
            metrics_file: None,
            truth,
            host_truth: Vec::new(),
            captures: Vec::new(),
            rules_json: None,
            facility: Vec::new(),
        })
    }
}

impl RecordedDataset {
    /// Adds per-host ground truth from the text of a `hosts_truth.csv`
    /// (`host,energy_j,…`), for datasets built with [`RecordedDataset::from_texts`].
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the line of a malformed row.
    pub fn with_host_truth(mut self, csv: &str) -> Result<RecordedDataset, Error> {
        self.host_truth = parse_host_truth(csv)?;
        Ok(self)
    }
}

/// An optional file of the dataset: `None` when it does not exist.
fn optional(dir: &Path, name: &str) -> Result<Option<String>, Error> {
    let path = dir.join(name);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_text_file(&path, MAX_DATASET_FILE_BYTES).map(Some),
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

fn parse_inventory(json: &str) -> Result<Inventory, Error> {
    let file = "inventory.json";
    let (what, c) = opening(json);
    if c != Some('{') {
        return Err(dataset_err(
            file,
            format!(
                "expected a JSON object with \"hosts\", \"racks\", \"rooms\" and \"sites\", found \
                 {what}"
            ),
        ));
    }
    let inventory: Inventory =
        serde_json::from_str(json).map_err(|e| dataset_err(file, e.to_string()))?;
    if inventory.hosts.is_empty() {
        return Err(dataset_err(
            file,
            "lists no hosts: a dataset needs at least one host to meter and place on",
        ));
    }
    inventory
        .validate()
        .map_err(|e| dataset_err(&format!("{file}: {}", e.place()), e.reason()))?;
    Ok(inventory)
}

/// Parses `workloads.json` and checks it against the inventory, naming its own indices.
fn parse_workloads(inventory: &Inventory, json: &str) -> Result<Vec<Workload>, Error> {
    let file = "workloads.json";
    let (what, c) = opening(json);
    if c != Some('[') {
        return Err(dataset_err(
            file,
            format!("expected a JSON array of workloads, found {what}"),
        ));
    }
    let workloads: Vec<Workload> =
        serde_json::from_str(json).map_err(|e| dataset_err(file, e.to_string()))?;
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
            Some(p) => dataset_err(&p, e.reason()),
            None => dataset_err(&format!("inventory.json: {place}"), e.reason()),
        });
    }
    Ok(workloads)
}

/// A CSV table with a header: the column of each wanted name, and the numbered data lines.
struct Table<'a> {
    file: &'static str,
    header: Vec<&'a str>,
    lines: Vec<(usize, &'a str)>,
}

impl<'a> Table<'a> {
    fn new(file: &'static str, csv: &'a str) -> Table<'a> {
        let mut lines = csv.lines().enumerate();
        let header = lines
            .next()
            .map(|(_, h)| h.split(',').map(str::trim).collect())
            .unwrap_or_default();
        let lines = lines
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, l))
            .collect();
        Table {
            file,
            header,
            lines,
        }
    }

    fn col(&self, name: &str) -> Result<usize, Error> {
        self.header.iter().position(|h| *h == name).ok_or_else(|| {
            dataset_err(
                &format!("{}:1", self.file),
                format!("missing column {name:?}"),
            )
        })
    }
}

/// One data line of a [`Table`], with typed, checked fields.
struct Row<'a> {
    place: String,
    fields: Vec<&'a str>,
}

impl<'a> Row<'a> {
    fn new(file: &str, line: usize, text: &'a str) -> Row<'a> {
        Row {
            place: format!("{file}:{line}"),
            fields: text.split(',').map(str::trim).collect(),
        }
    }

    fn get(&self, c: usize) -> Result<&'a str, Error> {
        self.fields
            .get(c)
            .copied()
            .ok_or_else(|| dataset_err(&self.place, format!("missing field {}", c + 1)))
    }

    fn id(&self, c: usize) -> Result<EntityId, Error> {
        EntityId::new(self.get(c)?).map_err(|e| dataset_err(&self.place, e.reason()))
    }

    /// A finite, non-negative number (energies, powers, durations).
    fn amount(&self, c: usize, name: &str) -> Result<f64, Error> {
        let s = self.get(c)?;
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
            Ok(v) => Err(dataset_err(
                &self.place,
                format!("{name} is {v}; it must be a finite number ≥ 0"),
            )),
            Err(_) => Err(dataset_err(
                &self.place,
                format!("{name} {s:?} is not a number"),
            )),
        }
    }

    fn millis(&self, c: usize, name: &str) -> Result<Timestamp, Error> {
        let s = self.get(c)?;
        let ms: i64 = s
            .parse()
            .map_err(|_| dataset_err(&self.place, format!("{name} {s:?} is not an integer")))?;
        // Milliseconds since the epoch must fit nanoseconds: about ±292 years.
        ms.checked_mul(1_000_000)
            .map(Timestamp::from_nanos)
            .ok_or_else(|| {
                dataset_err(
                    &self.place,
                    format!("{name} {ms} ms is out of range (years 1678 to 2262)"),
                )
            })
    }
}

pub(crate) fn parse_facility(csv: &str) -> Result<Vec<FacilitySample>, Error> {
    let t = Table::new("facility_truth.csv", csv);
    let (ct, ci, cw, cc) = (
        t.col("t_ms")?,
        t.col("interval_s")?,
        t.col("it_w")?,
        t.col("cooling_w")?,
    );
    t.lines
        .iter()
        .map(|&(line, text)| {
            let r = Row::new(t.file, line, text);
            Ok(FacilitySample {
                start: r.millis(ct, "t_ms")?,
                interval_s: r.amount(ci, "interval_s")?,
                it_w: r.amount(cw, "it_w")?,
                overhead_w: r.amount(cc, "cooling_w")?,
            })
        })
        .collect()
}

fn parse_captures(dir: &Path, csv: &str) -> Result<Vec<CaptureFile>, Error> {
    let file = "captures/index.csv";
    let mut out = Vec::new();
    for (i, line) in csv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let r = Row::new(file, i + 1, line);
        let [name, _, _] = r.fields[..] else {
            return Err(dataset_err(&r.place, "expected file,entity,taken_at_ms"));
        };
        if name.split('/').any(|part| part == "..") || name.starts_with('/') {
            return Err(dataset_err(
                &r.place,
                format!("{name:?} leaves the dataset directory"),
            ));
        }
        out.push(CaptureFile {
            name: name.to_string(),
            path: dir.join(name),
            entity: r.id(1)?,
            taken_at: r.millis(2, "taken_at_ms")?,
        });
    }
    Ok(out)
}

pub(crate) fn parse_truth(csv: &str) -> Result<Vec<TruthRow>, Error> {
    let t = Table::new("ground_truth.csv", csv);
    let (cw, ch, ce) = (t.col("workload")?, t.col("host")?, t.col("energy_j")?);
    let cs = t.col("cpu_share_j").ok();
    t.lines
        .iter()
        .map(|&(line, text)| {
            let r = Row::new(t.file, line, text);
            Ok(TruthRow {
                workload: r.id(cw)?,
                host: r.id(ch)?,
                energy_j: r.amount(ce, "energy_j")?,
                cpu_share_j: cs.map(|c| r.amount(c, "cpu_share_j")).transpose()?,
            })
        })
        .collect()
}

fn parse_host_truth(csv: &str) -> Result<Vec<HostTruth>, Error> {
    let t = Table::new("hosts_truth.csv", csv);
    let (ch, ce) = (t.col("host")?, t.col("energy_j")?);
    t.lines
        .iter()
        .map(|&(line, text)| {
            let r = Row::new(t.file, line, text);
            Ok(HostTruth {
                host: r.id(ch)?,
                energy_j: r.amount(ce, "energy_j")?,
            })
        })
        .collect()
}
