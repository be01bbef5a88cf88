//! NVML read directly (pynvml): the CSV files of an NVML sampler.
//!
//! A small Python logger polls NVML through pynvml and writes two files, one row per poll. They
//! are two formats, not one: the layouts, the entities (the GPU, its processes) and the time
//! columns differ, and each file is recognized by its own exact header, as `nvidia-smi pmon` and
//! `dmon` are two formats of one tool.
//!
//! # Device samples ([`NvmlDeviceCsv`], `nvml_device_csv`)
//!
//! Header [`DEVICE_HEADER`]: `t_unix_ns,power_mw,power_limit_mw,total_energy_mj,gpu_util_pct,`
//! `mem_util_pct,temp_gpu_c,clock_sm_mhz,clock_mem_mhz,mem_used_bytes,pstate,throttle_reasons`,
//! one row per poll (every ~55 ms in the bundled H100 recording). Each cell of a *reading
//! column* is one record, named as the nvidia-smi query field NVML fills it from, so both
//! captures of a card fill the same series:
//!
//! | column | kind | sensor |
//! |---|---|---|
//! | `power_mw` | power (mW → W) | `power.draw` |
//! | `power_limit_mw` | power (mW → W) | `power.limit` |
//! | `total_energy_mj` | energy (mJ → J), a counter | `total_energy_consumption` |
//! | `gpu_util_pct` | utilization (% → ratio) | `utilization.gpu` |
//! | `mem_util_pct` | utilization (% → ratio) | `utilization.memory` |
//! | `temp_gpu_c` | temperature (°C) | `temperature.gpu` |
//! | `clock_sm_mhz` | frequency (MHz → Hz) | `clocks.sm` |
//! | `clock_mem_mhz` | frequency (MHz → Hz) | `clocks.mem` |
//!
//! `total_energy_mj` is `nvmlDeviceGetTotalEnergyConsumption`, the energy since the driver was
//! loaded: its readings are [`SensorKind::Energy`], whose [`Semantics`] is `Counter`, the way
//! every counter of this crate is marked. Integrate it through a
//! [`CounterTracker`](crate::counter::CounterTracker) (`CounterTracker::new(None)`: NVML keeps
//! it in 64 bits of mJ, so it does not wrap in practice; a driver reload restarts it and gives a
//! [`CounterEvent::Reset`](crate::counter::CounterEvent::Reset)).
//!
//! The other columns are attributes — not readings and not records — because the model has no
//! kind for them: `mem_used_bytes` (no memory kind), `pstate` (a performance state) and
//! `throttle_reasons` (a bitmask of clock event reasons). The nvidia-smi query decoder treats
//! `memory.used` and `pstate` alike.
//!
//! The GPU is [`Context::entity`] when the context names one (a capture of one GPU, as the
//! query decoder reads a capture without an `index` column), else [`DEFAULT_GPU`] (`gpu-0`,
//! nvidia-smi's name for GPU 0: the file has no index column, and the sampler polls one device).
//! Times are `t_unix_ns` (nanoseconds since the Unix epoch, UTC).
//!
//! # Per-process samples ([`NvmlProcessCsv`], `nvml_process_csv`)
//!
//! Header [`PROCESS_HEADER`]: `t_unix_ns,pid,sample_ts_us,sm_util_pct,mem_util_pct`, the
//! samples of `nvmlDeviceGetProcessUtilization`. Each `%` cell is one utilization record for the
//! *process*, named as `nvidia-smi pmon` (which reads the same NVML call) names them: entity
//! `pid-<pid>` (`<host>/pid-<pid>` when [`Context::entity`] names the host), sensor `gpu0/sm`
//! and `gpu0/mem` (the file has no GPU column: GPU 0, as for the device file).
//!
//! The time of a reading is the NVML sample's own timestamp, `sample_ts_us` (µs since the Unix
//! epoch), not the poll time `t_unix_ns`. Two properties of NVML matter to whoever integrates
//! these samples:
//!
//! - NVML returns a sample only for processes that ran on the GPU in the window since the last
//!   poll: a process that is idle, finished or not yet started has no row, not a row of zeros.
//!   Consumers decide how long a sample holds (carry it forward up to a maximum gap).
//! - The sample timestamp can lag the poll: in the bundled H100 recording it is usually within
//!   0.5 s of `t_unix_ns`, but the first sample of a new process came with a stale timestamp up
//!   to 11.6 s old — older than the process itself — and 0 % utilization; it is also taken on the
//!   driver's clock, up to ~18 ms *after* the host's poll time. Rows are therefore not in time
//!   order across processes.
//!
//! Without a `sample_ts_us` column the poll time is used.
//!
//! # Records and quarantine
//!
//! The files are read as CSV by the `csv` crate (fields trimmed; a record longer than
//! `max_line_bytes` is one [`Reason::LineTooLong`] record, refused before the crate reads it).
//! The first non-blank line is the header (a UTF-8 byte-order mark is ignored); columns are found
//! by name, so their order may differ and extra columns are attributes. A repeat of the header
//! (concatenated captures) is skipped. A row that cannot be placed is one quarantined record:
//! [`Reason::BadField`] for a different number of fields than the header, a header without the
//! `t_unix_ns` (and, for processes, `pid`) column, or a `pid` that is not a number;
//! [`Reason::BadTimestamp`] for a time that is not a non-negative integer (or overflows
//! nanoseconds); [`Reason::InvalidEntity`] when the entity cannot be built. A cell that is not a
//! number is [`Reason::BadValue`], as is a negative power, energy or utilization (NVML reports
//! them unsigned); `inf`/`NaN` are [`Reason::NonFiniteValue`]; the rest of the row is still read.
//! An empty cell, `N/A`, `[N/A]` and the normalizer's absent texts are absent readings (NaN,
//! [`Quality::Absent`]).
//!
//! Time order is not checked: a row whose time goes back is kept as it is (NVML process samples
//! legitimately arrive out of order). Counter consumers see such a step as a
//! [`CounterEvent::ClockStep`](crate::counter::CounterEvent::ClockStep) and count it in
//! [`CounterStats::clock_steps`](crate::counter::CounterStats::clock_steps).
//!
//! [`Semantics`]: kelvin_model::Semantics

use kelvin_model::{EntityId, Quality, Reading, SensorKind, Timestamp, Unit};

use crate::nvidia::{admit, each_csv_row, host_prefix, is_absent};
use crate::{Confidence, Context, Decode, Format, IngestBatch, Quarantined, Reason};

/// The header of the sampler's device file, as [`Decode::detect`] of [`NvmlDeviceCsv`] expects
/// it.
pub const DEVICE_HEADER: &str = "t_unix_ns,power_mw,power_limit_mw,total_energy_mj,gpu_util_pct,mem_util_pct,temp_gpu_c,clock_sm_mhz,clock_mem_mhz,mem_used_bytes,pstate,throttle_reasons";

/// The header of the sampler's per-process file, as [`Decode::detect`] of [`NvmlProcessCsv`]
/// expects it.
pub const PROCESS_HEADER: &str = "t_unix_ns,pid,sample_ts_us,sm_util_pct,mem_util_pct";

/// The GPU of a device file when [`Context::entity`] names none (nvidia-smi's name for GPU 0).
pub const DEFAULT_GPU: &str = "gpu-0";

/// Decoder for the NVML sampler's device CSV (see the [module documentation](self)).
///
/// ```
/// use kelvin_ingest::{Context, Decode, IngestBatch, Normalizer, nvml::{DEVICE_HEADER, NvmlDeviceCsv}};
/// use kelvin_model::{SensorKind, Timestamp};
/// let csv = format!("{DEVICE_HEADER}\n1795724408280441740,72118,700000,112194348,0,0,42,345,2619,503316480,0,1\n");
/// let n = Normalizer::builtin();
/// let mut out = IngestBatch::default();
/// NvmlDeviceCsv.decode(&csv, &Context::new("nvml_device.csv", &n), &mut out);
/// assert_eq!(out.readings.len(), 8); // memory, pstate and throttle reasons are attributes
/// assert_eq!((out.readings[6].sensor.as_str(), out.readings[6].value), ("clocks.sm", 345e6));
/// let power = &out.readings[0];
/// assert_eq!((power.entity.as_str(), power.sensor.as_str()), ("gpu-0", "power.draw"));
/// assert_eq!((power.kind, power.value), (SensorKind::Power, 72.118));
/// assert_eq!(power.ts, Timestamp::from_nanos(1_795_724_408_280_441_740));
/// assert_eq!(out.readings[2].kind, SensorKind::Energy); // a counter, in J
/// assert!((out.readings[2].value - 112_194.348).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NvmlDeviceCsv;

/// Decoder for the NVML sampler's per-process CSV (see the [module documentation](self)).
///
/// ```
/// use kelvin_ingest::{Context, Decode, IngestBatch, Normalizer, nvml::{PROCESS_HEADER, NvmlProcessCsv}};
/// use kelvin_model::Timestamp;
/// let csv = format!("{PROCESS_HEADER}\n1795724432269954785,950,1795724432119211,64,21\n");
/// let n = Normalizer::builtin();
/// let mut out = IngestBatch::default();
/// NvmlProcessCsv.decode(&csv, &Context::new("nvml_process_util.csv", &n), &mut out);
/// let sm = &out.readings[0];
/// assert_eq!((sm.entity.as_str(), sm.sensor.as_str(), sm.value), ("pid-950", "gpu0/sm", 0.64));
/// assert_eq!(sm.ts, Timestamp::from_nanos(1_795_724_432_119_211_000)); // the NVML sample's time
/// assert_eq!((out.readings[1].sensor.as_str(), out.readings[1].value), ("gpu0/mem", 0.21));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NvmlProcessCsv;

/// A reading column.
struct Column {
    /// The header name.
    name: &'static str,
    /// The sensor it fills.
    sensor: &'static str,
    kind: SensorKind,
    /// The unit of the cells.
    unit: Unit,
    /// Whether NVML reports it unsigned, so that a negative value is malformed.
    unsigned: bool,
}

const fn col(
    name: &'static str,
    sensor: &'static str,
    kind: SensorKind,
    unit: Unit,
    unsigned: bool,
) -> Column {
    Column {
        name,
        sensor,
        kind,
        unit,
        unsigned,
    }
}

/// The device file's reading columns.
const DEVICE_READINGS: &[Column] = &[
    col(
        "power_mw",
        "power.draw",
        SensorKind::Power,
        Unit::Milliwatt,
        true,
    ),
    col(
        "power_limit_mw",
        "power.limit",
        SensorKind::Power,
        Unit::Milliwatt,
        true,
    ),
    col(
        "total_energy_mj",
        "total_energy_consumption",
        SensorKind::Energy,
        Unit::Millijoule,
        true,
    ),
    col(
        "gpu_util_pct",
        "utilization.gpu",
        SensorKind::Utilization,
        Unit::Percent,
        true,
    ),
    col(
        "mem_util_pct",
        "utilization.memory",
        SensorKind::Utilization,
        Unit::Percent,
        true,
    ),
    col(
        "temp_gpu_c",
        "temperature.gpu",
        SensorKind::Temperature,
        Unit::Celsius,
        false,
    ),
    col(
        "clock_sm_mhz",
        "clocks.sm",
        SensorKind::Frequency,
        Unit::Megahertz,
        true,
    ),
    col(
        "clock_mem_mhz",
        "clocks.mem",
        SensorKind::Frequency,
        Unit::Megahertz,
        true,
    ),
];

/// The process file's reading columns: sensors named as `nvidia-smi pmon` names them,
/// `gpu<idx>/<pmon column>`, on GPU 0 (the file has no GPU column).
const PROCESS_READINGS: &[Column] = &[
    col(
        "sm_util_pct",
        "gpu0/sm",
        SensorKind::Utilization,
        Unit::Percent,
        true,
    ),
    col(
        "mem_util_pct",
        "gpu0/mem",
        SensorKind::Utilization,
        Unit::Percent,
        true,
    ),
];

/// A header line: its text and its column names.
struct Header {
    raw: String,
    cols: Vec<String>,
    /// Why rows under this header cannot be read (a required column is missing).
    unusable: Option<String>,
}

impl Header {
    /// The header record `line`, its `fields` trimmed.
    fn parse(line: &str, fields: &[&str], required: &[&str]) -> Header {
        let raw = line.trim().to_string();
        let cols: Vec<String> = fields.iter().map(|c| c.to_string()).collect();
        let unusable = required
            .iter()
            .find(|r| !cols.iter().any(|c| c == *r))
            .map(|r| format!("the header has no {r:?} column"));
        Header {
            raw,
            cols,
            unusable,
        }
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|c| c == name)
    }
}

/// The first non-blank line of `head`, without a byte-order mark and surrounding blanks.
fn first_line(head: &str) -> Option<&str> {
    head.trim_start_matches('\u{feff}')
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
}

/// A row under a header.
struct Row<'a> {
    header: &'a Header,
    /// Its line number.
    no: u64,
    line: &'a str,
    fields: &'a [&'a str],
}

impl Row<'_> {
    /// The field of a column.
    fn get(&self, name: &str) -> Option<&str> {
        self.header.find(name).map(|i| self.fields[i])
    }

    /// Quarantines the whole row as one record (if the batch's record limit admits it).
    fn reject(&self, ctx: &Context<'_>, reason: Reason, detail: String, out: &mut IngestBatch) {
        if admit(ctx, self.no, self.line, out) {
            out.reject(Quarantined::new(
                ctx.line(self.no),
                reason,
                detail,
                self.line,
            ));
        }
    }

    /// Emits the row's reading cells, one record each, in header order.
    fn emit(
        &self,
        ctx: &Context<'_>,
        columns: &[Column],
        (entity, ts): (&EntityId, Timestamp),
        out: &mut IngestBatch,
    ) {
        for (i, name) in self.header.cols.iter().enumerate() {
            let Some(c) = columns.iter().find(|c| c.name == name) else {
                continue;
            };
            if !admit(ctx, self.no, self.line, out) {
                return;
            }
            match cell(ctx, entity, c, self.fields[i], ts) {
                Ok(r) => out.accept(r),
                Err((reason, detail)) => {
                    out.reject(Quarantined::new(
                        ctx.line(self.no),
                        reason,
                        detail,
                        self.line,
                    ));
                }
            }
        }
    }
}

/// The shared driver: header, repeated headers, required columns and row width; `row` gets
/// every row that has the header's width.
fn decode_rows(
    input: &str,
    ctx: &Context<'_>,
    out: &mut IngestBatch,
    required: &[&str],
    mut row: impl FnMut(&Row<'_>, &mut IngestBatch),
) {
    let mut header: Option<Header> = None;
    let text = input.trim_start_matches('\u{feff}');
    each_csv_row(text, ctx, out, |no, line, fields, out| match &header {
        None => header = Some(Header::parse(line, fields, required)),
        Some(h) if line.trim() == h.raw => {}
        Some(h) => {
            let r = Row {
                header: h,
                no,
                line,
                fields,
            };
            if let Some(why) = &h.unusable {
                return r.reject(ctx, Reason::BadField, why.clone(), out);
            }
            if fields.len() != h.cols.len() {
                let detail = format!("{} fields, the header has {}", fields.len(), h.cols.len());
                return r.reject(ctx, Reason::BadField, detail, out);
            }
            row(&r, out);
        }
    });
}

/// A time column: a non-negative integer count of `nanos_per_unit` nanoseconds since the epoch.
fn unix_time(name: &str, text: &str, nanos_per_unit: i64) -> Result<Timestamp, (Reason, String)> {
    text.parse::<u64>()
        .ok()
        .and_then(|v| i64::try_from(v).ok())
        .and_then(|v| v.checked_mul(nanos_per_unit))
        .map(Timestamp::from_nanos)
        .ok_or_else(|| {
            (
                Reason::BadTimestamp,
                format!("{name} {text:?} is not a non-negative integer time"),
            )
        })
}

/// One reading cell.
fn cell(
    ctx: &Context<'_>,
    entity: &EntityId,
    c: &Column,
    text: &str,
    ts: Timestamp,
) -> Result<Reading, (Reason, String)> {
    if is_absent(ctx, text) {
        let r = Reading::new(entity.clone(), c.sensor, c.kind, f64::NAN, ts)
            .with_quality(Quality::Absent);
        return Ok(if text.is_empty() {
            r
        } else {
            r.with_status(text)
        });
    }
    let name = c.name;
    let value: f64 = text
        .parse()
        .map_err(|_| (Reason::BadValue, format!("{name} {text:?} is not a number")))?;
    if !value.is_finite() {
        return Err((Reason::NonFiniteValue, format!("{name} {text:?}")));
    }
    if c.unsigned && value < 0.0 {
        return Err((Reason::BadValue, format!("{name} {text:?} is negative")));
    }
    let value = c
        .unit
        .convert(value, c.kind)
        .map_err(|e| (Reason::BadUnit, format!("{name}: {}", e.reason())))?;
    Ok(Reading::new(entity.clone(), c.sensor, c.kind, value, ts))
}

impl Decode for NvmlDeviceCsv {
    fn name(&self) -> &str {
        Format::NvmlDeviceCsv.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        let entity = match &ctx.entity {
            Some(e) => Ok(e.clone()),
            None => EntityId::new(DEFAULT_GPU).map_err(|e| e.reason().to_string()),
        };
        decode_rows(input, ctx, out, &["t_unix_ns"], |row, out| {
            let entity = match &entity {
                Ok(e) => e,
                Err(why) => {
                    return row.reject(ctx, Reason::InvalidEntity, why.clone(), out);
                }
            };
            match unix_time("t_unix_ns", row.get("t_unix_ns").unwrap_or(""), 1) {
                Ok(ts) => row.emit(ctx, DEVICE_READINGS, (entity, ts), out),
                Err((reason, detail)) => row.reject(ctx, reason, detail, out),
            }
        });
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl NvmlDeviceCsv {
    /// A first non-blank line that is exactly [`DEVICE_HEADER`].
    pub(crate) fn sniff(&self, head: &str) -> bool {
        first_line(head) == Some(DEVICE_HEADER)
    }
}

impl Decode for NvmlProcessCsv {
    fn name(&self) -> &str {
        Format::NvmlProcessCsv.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        let prefix = host_prefix(ctx);
        decode_rows(input, ctx, out, &["t_unix_ns", "pid"], |row, out| {
            let poll = unix_time("t_unix_ns", row.get("t_unix_ns").unwrap_or(""), 1);
            let ts = poll.and_then(|poll| match row.get("sample_ts_us") {
                Some(us) => unix_time("sample_ts_us", us, 1_000),
                None => Ok(poll),
            });
            let ts = match ts {
                Ok(ts) => ts,
                Err((reason, detail)) => return row.reject(ctx, reason, detail, out),
            };
            let pid_text = row.get("pid").unwrap_or("");
            let Ok(pid) = pid_text.parse::<u32>() else {
                let detail = format!("pid {pid_text:?} is not a number");
                return row.reject(ctx, Reason::BadField, detail, out);
            };
            match EntityId::new(format!("{prefix}pid-{pid}")) {
                Ok(entity) => row.emit(ctx, PROCESS_READINGS, (&entity, ts), out),
                Err(e) => {
                    let why = e.reason().to_string();
                    row.reject(ctx, Reason::InvalidEntity, why, out);
                }
            }
        });
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl NvmlProcessCsv {
    /// A first non-blank line that is exactly [`PROCESS_HEADER`].
    pub(crate) fn sniff(&self, head: &str) -> bool {
        first_line(head) == Some(PROCESS_HEADER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Normalizer};

    fn run(d: &dyn Decode, text: &str, ctx: Context<'_>) -> IngestBatch {
        let mut out = IngestBatch::bounded(&ctx);
        d.decode(text, &ctx, &mut out);
        assert_eq!(out.stats.seen, out.stats.accepted + out.stats.quarantined);
        assert_eq!(out.stats.accepted as usize, out.readings.len());
        out
    }

    fn device(rows: &str) -> String {
        format!("{DEVICE_HEADER}\n{rows}")
    }

    fn process(rows: &str) -> String {
        format!("{PROCESS_HEADER}\n{rows}")
    }

    #[test]
    fn device_rows_in_canonical_units() {
        let n = Normalizer::builtin();
        let text = device(
            "1795724408280441740,610500,700000,112194348,98,31,61,1980,2619,4980736000,0,4\n\
             1795724408340110551,72116,700000,112201547,0,0,42,345,2619,503316480,0,1\n",
        );
        let b = run(&NvmlDeviceCsv, &text, Context::new("d.csv", &n));
        assert_eq!((b.stats.accepted, b.stats.quarantined), (16, 0));
        let got: Vec<(&str, &str, SensorKind, f64)> = b.readings[..8]
            .iter()
            .map(|r| (r.entity.as_str(), r.sensor.as_str(), r.kind, r.value))
            .collect();
        assert_eq!(got[0], ("gpu-0", "power.draw", SensorKind::Power, 610.5));
        assert_eq!(got[1], ("gpu-0", "power.limit", SensorKind::Power, 700.0));
        assert_eq!(
            (got[2].1, got[2].2),
            ("total_energy_consumption", SensorKind::Energy)
        );
        assert!((got[2].3 - 112_194.348).abs() < 1e-9);
        assert_eq!(
            got[3],
            ("gpu-0", "utilization.gpu", SensorKind::Utilization, 0.98)
        );
        assert_eq!(
            got[4],
            ("gpu-0", "utilization.memory", SensorKind::Utilization, 0.31)
        );
        assert_eq!(
            got[5],
            ("gpu-0", "temperature.gpu", SensorKind::Temperature, 61.0)
        );
        assert_eq!(
            got[6],
            ("gpu-0", "clocks.sm", SensorKind::Frequency, 1.98e9)
        );
        assert_eq!(
            got[7],
            ("gpu-0", "clocks.mem", SensorKind::Frequency, 2.619e9)
        );
        assert_eq!(
            kelvin_model::SensorKind::Energy.semantics(),
            kelvin_model::Semantics::Counter
        );
        assert_eq!(
            b.readings[0].ts,
            Timestamp::from_nanos(1_795_724_408_280_441_740)
        );
        assert_eq!(
            b.readings[8].ts,
            Timestamp::from_nanos(1_795_724_408_340_110_551)
        );
        assert!(b.readings.iter().all(|r| r.quality == Quality::Good));
    }

    #[test]
    fn device_entity_is_the_captures_gpu() {
        let n = Normalizer::builtin();
        let text = device("1,1000,700000,5,0,0,40,345,2619,0,0,1\n");
        let ctx = Context::new("d.csv", &n).with_entity(EntityId::new("h1/gpu-3").unwrap());
        let b = run(&NvmlDeviceCsv, &text, ctx);
        assert!(b.readings.iter().all(|r| r.entity.as_str() == "h1/gpu-3"));
    }

    #[test]
    fn bad_device_rows_are_quarantined_with_their_line() {
        let n = Normalizer::builtin();
        let text = device(
            "100,72000,700000,5000,0,0,42,345,2619,503316480,0,1\n\
             101,72000,700000\n\
             x,72000,700000,5000,0,0,42,345,2619,503316480,0,1\n\
             -5,72000,700000,5000,0,0,42,345,2619,503316480,0,1\n\
             103,-1,700000,5000,abc,0,42,345,2619,503316480,0,1\n\
             104,inf,,5000,0,N/A,-3,fast,2619,503316480,P0,0x4\n\
             \n\
             105,72000,700000,4000,0,0,42,345,2619,503316480,0,1\n",
        );
        let b = run(&NvmlDeviceCsv, &text, Context::new("d.csv", &n));
        let q: Vec<(String, Reason)> = b
            .quarantine
            .iter()
            .map(|q| (q.place.to_string(), q.reason))
            .collect();
        assert_eq!(
            q,
            [
                ("d.csv:3".to_string(), Reason::BadField),
                ("d.csv:4".to_string(), Reason::BadTimestamp),
                ("d.csv:5".to_string(), Reason::BadTimestamp),
                ("d.csv:6".to_string(), Reason::BadValue),
                ("d.csv:6".to_string(), Reason::BadValue),
                ("d.csv:7".to_string(), Reason::NonFiniteValue),
                ("d.csv:7".to_string(), Reason::BadValue),
            ]
        );
        assert!(
            b.quarantine[3].detail.contains("negative"),
            "{:?}",
            b.quarantine[3]
        );
        assert!(b.quarantine[4].detail.contains("not a number"));
        assert_eq!(
            b.quarantine[1].excerpt,
            "x,72000,700000,5000,0,0,42,345,2619,503316480,0,1"
        );
        // line 6: 4 of 6 cells read; line 7: empty limit and N/A utilization are absent, a
        // negative temperature is a temperature, the memory clock a frequency (the SM clock,
        // `fast`, is quarantined); pstate and throttle bits are not read
        let line7: Vec<&Reading> = b
            .readings
            .iter()
            .filter(|r| r.ts == Timestamp::from_nanos(104))
            .collect();
        assert_eq!(line7.len(), 6);
        assert_eq!(line7[5].sensor.as_str(), "clocks.mem");
        assert!(
            b.quarantine[6].detail.contains("clock_sm_mhz"),
            "{:?}",
            b.quarantine[6]
        );
        assert_eq!(line7[0].sensor.as_str(), "power.limit");
        assert_eq!(
            (line7[0].quality, line7[0].status.as_deref()),
            (Quality::Absent, None)
        );
        assert!(line7[0].value.is_nan());
        assert_eq!(
            (line7[3].quality, line7[3].status.as_deref()),
            (Quality::Absent, Some("N/A"))
        );
        assert_eq!(line7[4].value, -3.0);
        assert_eq!(b.stats.seen, 8 + 1 + 1 + 1 + 8 + 8 + 8);
        // a counter that goes back is kept: resets are the counter tracker's business
        let energy: Vec<f64> = b
            .readings
            .iter()
            .filter(|r| r.kind == SensorKind::Energy)
            .map(|r| r.value)
            .collect();
        assert_eq!(energy, [5.0, 5.0, 5.0, 4.0]);
    }

    #[test]
    fn columns_are_found_by_name_and_headers_repeat() {
        let n = Normalizer::builtin();
        let text =
            "\u{feff}power_mw, t_unix_ns ,extra\n2000,7,zzz\npower_mw, t_unix_ns ,extra\n3000,8,\n";
        let b = run(&NvmlDeviceCsv, text, Context::new("d", &n));
        let got: Vec<(i64, f64)> = b
            .readings
            .iter()
            .map(|r| (r.ts.as_nanos(), r.value))
            .collect();
        assert_eq!(got, [(7, 2.0), (8, 3.0)]);
        // without a time column nothing can be placed
        let b = run(&NvmlDeviceCsv, "power_mw\n1\n2\n", Context::new("d", &n));
        assert_eq!(b.stats.by_reason.get(&Reason::BadField), Some(&2));
        assert!(b.quarantine[0].detail.contains("t_unix_ns"));
        // a byte-order mark on a line of its own, as the sniffer allows it
        let text = format!("\u{feff}\n{DEVICE_HEADER}\r\n1,2,3,4,5,6,7,8,9,10,11,12\r\n");
        let b = run(&NvmlDeviceCsv, &text, Context::new("d", &n));
        assert_eq!((b.stats.accepted, b.stats.quarantined), (8, 0));
        // a header alone, blank input: nothing
        assert_eq!(
            run(&NvmlDeviceCsv, DEVICE_HEADER, Context::new("d", &n))
                .stats
                .seen,
            0
        );
        assert_eq!(
            run(&NvmlProcessCsv, "\n\n", Context::new("d", &n))
                .stats
                .seen,
            0
        );
    }

    #[test]
    fn process_rows_are_per_process_at_the_sample_time() {
        let n = Normalizer::builtin();
        let text = process(
            "1795724468471509807,994,1795724456920241,0,0\n\
             1795724473713574972,994,1795724473719977,99,100\n\
             1795724473713574972,950,1795724473700000,33,-\n",
        );
        let b = run(&NvmlProcessCsv, &text, Context::new("p.csv", &n));
        assert_eq!((b.stats.accepted, b.stats.quarantined), (6, 0));
        let got: Vec<(&str, &str, f64)> = b
            .readings
            .iter()
            .map(|r| (r.entity.as_str(), r.sensor.as_str(), r.value))
            .collect();
        assert_eq!(got[0], ("pid-994", "gpu0/sm", 0.0));
        assert_eq!(got[2], ("pid-994", "gpu0/sm", 0.99));
        assert_eq!(got[3], ("pid-994", "gpu0/mem", 1.0));
        assert_eq!(got[4], ("pid-950", "gpu0/sm", 0.33));
        assert_eq!(b.readings[5].quality, Quality::Absent);
        // the stale first sample keeps its own (old) time
        assert_eq!(
            b.readings[0].ts,
            Timestamp::from_nanos(1_795_724_456_920_241_000)
        );
        assert!(b.readings.iter().all(|r| r.kind == SensorKind::Utilization));
        // under a host, as pmon names processes
        let ctx = Context::new("p.csv", &n).with_entity(EntityId::new("h100").unwrap());
        let b = run(&NvmlProcessCsv, &text, ctx);
        assert_eq!(b.readings[0].entity.as_str(), "h100/pid-994");
    }

    #[test]
    fn bad_process_rows_are_quarantined() {
        let n = Normalizer::builtin();
        let text = process(
            "10,950,9,50,20\n\
             10,x,9,50,20\n\
             10,-950,9,50,20\n\
             10,950,9.5,50,20\n\
             y,950,9,50,20\n\
             10,950,99999999999999999,50,20\n\
             10,950,9,fifty,-2\n\
             10,950,9,50\n\
             10,950,9,50,20,1\n",
        );
        let b = run(&NvmlProcessCsv, &text, Context::new("p", &n));
        let q: Vec<(String, Reason)> = b
            .quarantine
            .iter()
            .map(|q| (q.place.to_string(), q.reason))
            .collect();
        assert_eq!(
            q,
            [
                ("p:3".to_string(), Reason::BadField),
                ("p:4".to_string(), Reason::BadField),
                ("p:5".to_string(), Reason::BadTimestamp),
                ("p:6".to_string(), Reason::BadTimestamp),
                ("p:7".to_string(), Reason::BadTimestamp),
                ("p:8".to_string(), Reason::BadValue),
                ("p:8".to_string(), Reason::BadValue),
                ("p:9".to_string(), Reason::BadField),
                ("p:10".to_string(), Reason::BadField),
            ]
        );
        assert_eq!(b.readings.len(), 2);
        assert!(b.quarantine[4].detail.contains("sample_ts_us"));
        // a host name that makes the entity too long
        let long = EntityId::new("h".repeat(255)).unwrap();
        let b = run(
            &NvmlProcessCsv,
            &process("10,950,9,50,20\n"),
            Context::new("p", &n).with_entity(long),
        );
        assert_eq!(b.quarantine[0].reason, Reason::InvalidEntity);
        // without a sample time column, the poll time
        let b = run(
            &NvmlProcessCsv,
            "t_unix_ns,pid,sm_util_pct\n5,7,10\n",
            Context::new("p", &n),
        );
        assert_eq!(b.readings[0].ts, Timestamp::from_nanos(5));
    }

    #[test]
    fn limits_hold() {
        let n = Normalizer::builtin();
        let text = device(&"1,1,1,1,1,1,1,1,1,1,1,1\n".repeat(3));
        let ctx = Context::new("d", &n).with_limits(Limits::default().with_max_records(8));
        let b = run(&NvmlDeviceCsv, &text, ctx);
        assert_eq!((b.stats.accepted, b.stats.quarantined), (8, 1));
        assert_eq!(b.quarantine[0].reason, Reason::TooManyRecords);
        let ctx = Context::new("p", &n).with_limits(Limits::default().with_max_line_bytes(60));
        let text = process(&format!("1,2,3,4,5\n1,2,3,4,{}\n", "5".repeat(80)));
        let b = run(&NvmlProcessCsv, &text, ctx);
        assert_eq!(b.quarantine[0].reason, Reason::LineTooLong);
        assert_eq!(b.readings.len(), 2);
        let ctx = Context::new("p", &n).with_limits(Limits::default().with_max_input_bytes(8));
        let b = run(&NvmlProcessCsv, &text, ctx);
        assert_eq!(b.quarantine[0].reason, Reason::InputTooLarge);
    }

    #[test]
    fn sniffing_takes_the_exact_header() {
        assert!(NvmlDeviceCsv.sniff(&device("1,2\n")));
        assert!(NvmlDeviceCsv.sniff(&format!("\u{feff}\n{DEVICE_HEADER}\r\n")));
        assert!(!NvmlDeviceCsv.sniff(PROCESS_HEADER));
        assert!(!NvmlDeviceCsv.sniff("t_unix_ns,power_mw\n"));
        assert!(!NvmlDeviceCsv.sniff(&DEVICE_HEADER.replace(',', ", ")));
        assert!(NvmlProcessCsv.sniff(&process("")));
        assert!(!NvmlProcessCsv.sniff(DEVICE_HEADER));
        assert!(!NvmlProcessCsv.sniff(""));
        assert!(!NvmlProcessCsv.sniff("ts_ns,entity,sensor,kind,unit,value,quality,status"));
        // and nvidia-smi's sniffers leave these headers alone
        for h in [DEVICE_HEADER, PROCESS_HEADER] {
            assert!(!crate::nvidia::NvidiaSmiQuery.sniff(h), "{h}");
        }
        assert_eq!(crate::detect(&device("1,2\n")), Some(Format::NvmlDeviceCsv));
        assert_eq!(crate::detect(&process("")), Some(Format::NvmlProcessCsv));
    }
}
