//! The dataset's CSV tables, read by column name with every field checked: the ground truth
//! (`ground_truth.csv`, `hosts_truth.csv`), the facility's power (`facility_truth.csv`) and
//! the capture index (`captures/index.csv`).

use std::path::Path;

use kelvin_model::{EntityId, Timestamp};

use super::{
    CAPTURE_INDEX_CSV, CaptureFile, DatasetError, FACILITY_TRUTH_CSV, FacilitySample,
    GROUND_TRUTH_CSV, HOSTS_TRUTH_CSV, HostTruthRow, TruthRow,
};

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

    fn col(&self, name: &str) -> Result<usize, DatasetError> {
        self.header.iter().position(|h| *h == name).ok_or_else(|| {
            DatasetError::malformed(
                format!("{}:1", self.file),
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

    fn get(&self, c: usize) -> Result<&'a str, DatasetError> {
        self.fields
            .get(c)
            .copied()
            .ok_or_else(|| DatasetError::malformed(&self.place, format!("missing field {}", c + 1)))
    }

    fn id(&self, c: usize) -> Result<EntityId, DatasetError> {
        EntityId::new(self.get(c)?).map_err(|e| DatasetError::malformed(&self.place, e.reason()))
    }

    /// A finite, non-negative number (energies, powers, durations).
    fn amount(&self, c: usize, name: &str) -> Result<f64, DatasetError> {
        let s = self.get(c)?;
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
            Ok(v) => Err(DatasetError::malformed(
                &self.place,
                format!("{name} is {v}; it must be a finite number ≥ 0"),
            )),
            Err(_) => Err(DatasetError::malformed(
                &self.place,
                format!("{name} {s:?} is not a number"),
            )),
        }
    }

    fn millis(&self, c: usize, name: &str) -> Result<Timestamp, DatasetError> {
        let s = self.get(c)?;
        let ms: i64 = s.parse().map_err(|_| {
            DatasetError::malformed(&self.place, format!("{name} {s:?} is not an integer"))
        })?;
        // Milliseconds since the epoch must fit nanoseconds: about ±292 years.
        ms.checked_mul(1_000_000)
            .map(Timestamp::from_nanos)
            .ok_or_else(|| {
                DatasetError::malformed(
                    &self.place,
                    format!("{name} {ms} ms is out of range (years 1678 to 2262)"),
                )
            })
    }
}

/// `facility_truth.csv`: `t_ms`, `interval_s`, `it_w`, `cooling_w` of every row.
pub(super) fn parse_facility(csv: &str) -> Result<Vec<FacilitySample>, DatasetError> {
    let t = Table::new(FACILITY_TRUTH_CSV, csv);
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

/// `captures/index.csv`: `file,entity,taken_at_ms`, each file inside the dataset directory.
pub(super) fn parse_captures(dir: &Path, csv: &str) -> Result<Vec<CaptureFile>, DatasetError> {
    let file = CAPTURE_INDEX_CSV;
    let mut out = Vec::new();
    for (i, line) in csv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let r = Row::new(file, i + 1, line);
        let [name, _, _] = r.fields[..] else {
            return Err(DatasetError::malformed(
                &r.place,
                "expected file,entity,taken_at_ms",
            ));
        };
        if name.split('/').any(|part| part == "..") || name.starts_with('/') {
            return Err(DatasetError::malformed(
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

/// `ground_truth.csv`: `workload`, `host`, `energy_j` and, when the column is there,
/// `cpu_share_j`.
pub(super) fn parse_truth(csv: &str) -> Result<Vec<TruthRow>, DatasetError> {
    let t = Table::new(GROUND_TRUTH_CSV, csv);
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

/// `hosts_truth.csv`: `host` and `energy_j`.
pub(super) fn parse_host_truth(csv: &str) -> Result<Vec<HostTruthRow>, DatasetError> {
    let t = Table::new(HOSTS_TRUTH_CSV, csv);
    let (ch, ce) = (t.col("host")?, t.col("energy_j")?);
    t.lines
        .iter()
        .map(|&(line, text)| {
            let r = Row::new(t.file, line, text);
            Ok(HostTruthRow {
                host: r.id(ch)?,
                energy_j: r.amount(ce, "energy_j")?,
            })
        })
        .collect()
}
