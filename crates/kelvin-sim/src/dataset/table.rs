//! The dataset's CSV tables, read by column name with every field checked: the ground truth
//! (`ground_truth.csv`, `hosts_truth.csv`), the facility's power (`facility_truth.csv`) and
//! the capture index (`captures/index.csv`).

use std::path::Path;

use kelvin_model::{EntityId, Timestamp};

use super::{
    CAPTURE_INDEX_CSV, CaptureFile, DatasetError, FACILITY_TRUTH_CSV, FacilitySample,
    GROUND_TRUTH_CSV, HOSTS_TRUTH_CSV, HostTruthRow, TruthRow,
};

/// A CSV table with a header, read by the `csv` crate (quoted fields, fields trimmed, rows of
/// any length): the column of each wanted name, and the data rows with their line numbers.
/// Rows whose fields are all empty are skipped.
struct Table {
    file: &'static str,
    header: Vec<String>,
    rows: Vec<(usize, csv::StringRecord)>,
}

impl Table {
    fn new(file: &'static str, text: &str) -> Result<Table, DatasetError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let (mut header, mut rows) = (None, Vec::new());
        // Line numbers from byte offsets: the crate's own count leaves out blank lines.
        let (mut seen_byte, mut line) = (0usize, 1usize);
        // A record's offset may point at the blank lines the reader skipped before it.
        let mut line_at = |byte: usize| {
            let mut byte = byte.min(text.len());
            while matches!(text.as_bytes().get(byte), Some(b'\n' | b'\r')) {
                byte += 1;
            }
            if byte > seen_byte {
                line += text.as_bytes()[seen_byte..byte]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count();
                seen_byte = byte;
            }
            line
        };
        for record in reader.records() {
            let record = record.map_err(|e| {
                let byte = e.position().map_or(text.len(), |p| p.byte() as usize);
                DatasetError::malformed(format!("{file}:{}", line_at(byte)), e.to_string())
            })?;
            let line = line_at(record.position().map_or(0, |p| p.byte() as usize));
            if header.is_none() {
                header = Some(record.iter().map(str::to_string).collect());
            } else if record.iter().any(|f| !f.is_empty()) {
                rows.push((line, record));
            }
        }
        Ok(Table {
            file,
            header: header.unwrap_or_default(),
            rows,
        })
    }

    fn col(&self, name: &str) -> Result<usize, DatasetError> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            DatasetError::malformed(
                format!("{}:1", self.file),
                format!("missing column {name:?}"),
            )
        })
    }

    /// The data rows, each with its place (`file:line`).
    fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|(line, record)| Row {
            place: format!("{}:{line}", self.file),
            fields: record,
        })
    }
}

/// One data line of a [`Table`], with typed, checked fields.
struct Row<'a> {
    place: String,
    fields: &'a csv::StringRecord,
}

impl<'a> Row<'a> {
    fn get(&self, c: usize) -> Result<&'a str, DatasetError> {
        self.fields
            .get(c)
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
    let t = Table::new(FACILITY_TRUTH_CSV, csv)?;
    let (ct, ci, cw, cc) = (
        t.col("t_ms")?,
        t.col("interval_s")?,
        t.col("it_w")?,
        t.col("cooling_w")?,
    );
    t.rows()
        .map(|r| {
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
    let t = Table::new(CAPTURE_INDEX_CSV, csv)?;
    let mut out = Vec::new();
    for r in t.rows() {
        if r.fields.len() != 3 {
            return Err(DatasetError::malformed(
                &r.place,
                "expected file,entity,taken_at_ms",
            ));
        }
        let name = r.get(0)?;
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

/// `ground_truth.csv`: `workload`, `host`, `energy_j` and, when their columns are there,
/// `cpu_share_j` and `gpu_energy_j`.
pub(super) fn parse_truth(csv: &str) -> Result<Vec<TruthRow>, DatasetError> {
    let t = Table::new(GROUND_TRUTH_CSV, csv)?;
    let (cw, ch, ce) = (t.col("workload")?, t.col("host")?, t.col("energy_j")?);
    let cs = t.col("cpu_share_j").ok();
    let cg = t.col("gpu_energy_j").ok();
    t.rows()
        .map(|r| {
            Ok(TruthRow {
                workload: r.id(cw)?,
                host: r.id(ch)?,
                energy_j: r.amount(ce, "energy_j")?,
                cpu_share_j: cs.map(|c| r.amount(c, "cpu_share_j")).transpose()?,
                gpu_energy_j: cg.map(|c| r.amount(c, "gpu_energy_j")).transpose()?,
            })
        })
        .collect()
}

/// `hosts_truth.csv`: `host` and `energy_j`.
pub(super) fn parse_host_truth(csv: &str) -> Result<Vec<HostTruthRow>, DatasetError> {
    let t = Table::new(HOSTS_TRUTH_CSV, csv)?;
    let (ch, ce) = (t.col("host")?, t.col("energy_j")?);
    t.rows()
        .map(|r| {
            Ok(HostTruthRow {
                host: r.id(ch)?,
                energy_j: r.amount(ce, "energy_j")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_read_as_csv_with_places() {
        // Quoted fields, CRLF line ends, spaces around fields, a blank line and a column order
        // of its own all read as the same rows.
        let text = "energy_j ,\"host\",workload\r\n\"1500.5\", h1 ,w1\r\n\r\n  \r\n2,h2,\"w2\"\r\n";
        let rows = parse_truth(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].workload.as_str(), rows[0].host.as_str()),
            ("w1", "h1")
        );
        assert_eq!(rows[0].energy_j, 1500.5);
        assert_eq!(rows[1].energy_j, 2.0);
        assert_eq!(rows[0].gpu_energy_j, None);
        // The GPU column, when there, is read and checked like the others.
        let rows = parse_truth("workload,host,energy_j,gpu_energy_j\nw1,h1,9,4.5\n").unwrap();
        assert_eq!(rows[0].gpu_energy_j, Some(4.5));
        let e = parse_truth("workload,host,energy_j,gpu_energy_j\nw1,h1,9,x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ground_truth.csv:2: gpu_energy_j \"x\" is not a number"
        );
        // Errors name the file and the line the record starts on.
        let e = parse_truth("workload,host,energy_j\nw1,h1,1\n\nw2,h2,-3\n").unwrap_err();
        assert_eq!(e.path(), "ground_truth.csv:4");
        let e = parse_truth("workload,host\nw1,h1\n").unwrap_err();
        assert_eq!(
            (e.path(), e.reason()),
            ("ground_truth.csv:1", "missing column \"energy_j\"")
        );
        let e = parse_host_truth("host,energy_j\nh1\n").unwrap_err();
        assert_eq!(
            (e.path(), e.reason()),
            ("hosts_truth.csv:2", "missing field 2")
        );
        // A capture index row must have exactly three fields.
        let e = parse_captures(Path::new("/d"), "file,entity,taken_at_ms\na.txt,h1\n").unwrap_err();
        assert_eq!(e.reason(), "expected file,entity,taken_at_ms");
    }
}
