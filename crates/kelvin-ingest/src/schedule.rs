//! The schedule of a GPU recording: `events.csv` (the phases, and the processes started and
//! stopped in them) and the `work_<label>.csv` files (the work each process completed), as the
//! recording harness writes them beside the NVML sampler's files (which the [`nvml`](crate::nvml)
//! decoders read).
//!
//! `events.csv` has the header `t_unix_ns,event,label,kind,pid`; `event` is `phase_start` /
//! `phase_end` (the label names the phase) or `start` / `stop` (the label names the run, e.g.
//! `A_soloA`, whose workload is the label up to its first `_`; `pid` is the OS process id). A
//! `work_<label>.csv` file has the header `t_unix_ns,pid,label,kind,iterations`; the
//! iterations are summed per label over every such file.
//!
//! Unlike telemetry, a schedule is not quarantined record by record: it is the frame every
//! reading is judged in, so a malformed line is an error ([`IngestErrorKind::Malformed`])
//! naming the file and the line. Files are read as the decoders read theirs: regular files
//! only, at most [`MAX_SCHEDULE_FILE_BYTES`], every record by the `csv` crate after the guard
//! that refuses a record over [`Limits::max_line_bytes`](crate::Limits::max_line_bytes).
//!
//! ```
//! use kelvin_ingest::schedule::parse_schedule;
//!
//! let text = "t_unix_ns,event,label,kind,pid\n\
//!             1000,phase_start,soloA,-,-\n\
//!             1000,start,A_soloA,train,4242\n\
//!             9000,stop,A_soloA,train,4242\n\
//!             9000,phase_end,soloA,-,-\n";
//! let s = parse_schedule(text, "events.csv")?;
//! assert_eq!(s.phases[0].name, "soloA");
//! assert_eq!(s.processes[0].workload, "A");
//! assert_eq!(s.workloads(), ["A"]);
//! let e = parse_schedule("t_unix_ns,event,label,kind,pid\nx,start,A_1,-,1\n", "events.csv")
//!     .unwrap_err();
//! assert_eq!(e.to_string(), "events.csv:2: \"x\" is not a number");
//! # Ok::<(), kelvin_ingest::IngestError>(())
//! ```

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

use ::csv::StringRecord;
use kelvin_model::{Place, TimeGate, TimeRange, Timestamp};

use crate::csv_text::{self, Item};
use crate::{IngestError, IngestErrorKind, Limits};

/// Largest schedule or work file read: 64 MiB, as for every file of a recorded dataset.
pub const MAX_SCHEDULE_FILE_BYTES: u64 = 64 << 20;

/// The header of `events.csv`.
pub const EVENTS_HEADER: &str = "t_unix_ns,event,label,kind,pid";

/// The header of a `work_<label>.csv` file.
pub const WORK_HEADER: &str = "t_unix_ns,pid,label,kind,iterations";

/// One phase of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Its name (`idle0`, `soloA`, `AB`, …).
    pub name: String,
    /// When it ran.
    pub range: TimeRange,
}

/// One process of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    /// OS process id.
    pub pid: u32,
    /// The run's label (`A_soloA`).
    pub label: String,
    /// The workload it belongs to (the label up to `_`: `A`).
    pub workload: String,
    /// When it was started.
    pub start: Timestamp,
    /// When it was stopped, if recorded.
    pub stop: Option<Timestamp>,
}

impl Process {
    /// Which of this process's utilization series a series of the `nvml_process_csv` decoder
    /// is, from its entity (`pid-<pid>`, or `<host>/pid-<pid>`) and sensor (`gpu0/sm`,
    /// `gpu0/mem`): `Some(0)` for SM activity, `Some(1)` for memory activity.
    pub fn utilization_series(&self, entity: &str, sensor: &str) -> Option<usize> {
        if !entity.ends_with(&format!("pid-{}", self.pid)) {
            None
        } else if sensor == "sm" || sensor.ends_with("/sm") {
            Some(0)
        } else if sensor == "mem" || sensor.ends_with("/mem") {
            Some(1)
        } else {
            None
        }
    }
}

/// Workload names of `processes`, sorted, each once.
pub fn workloads(processes: &[Process]) -> Vec<String> {
    let mut w: Vec<String> = processes.iter().map(|p| p.workload.clone()).collect();
    w.sort();
    w.dedup();
    w
}

/// A recording's schedule, as `events.csv` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The file (or label) it was read from, which names it in errors.
    pub source: String,
    /// Phases in the order they end in the file.
    pub phases: Vec<Phase>,
    /// Processes in start order.
    pub processes: Vec<Process>,
}

impl Schedule {
    /// Workload names, sorted, each once.
    pub fn workloads(&self) -> Vec<String> {
        workloads(&self.processes)
    }

    /// Checks that every phase's start and end lie within reach of the telemetry `gate` has
    /// accepted: an event far from it belongs to another recording or is corrupt, and would
    /// size a grid over the gap. Nothing is checked before the gate has accepted anything.
    ///
    /// # Errors
    /// [`IngestErrorKind::Malformed`] naming the file, the phase and how far it lies.
    pub fn check_times(&self, gate: &TimeGate) -> Result<(), IngestError> {
        let Some((a, b)) = gate.span() else {
            return Ok(());
        };
        let reach = gate.bounds().max_gap_ns;
        for ph in &self.phases {
            for t in [ph.range.start(), ph.range.end()] {
                if t.nanos_since(b) > reach || a.nanos_since(t) > reach {
                    return Err(IngestError::new(
                        IngestErrorKind::Malformed,
                        Place::source(self.source.as_str()),
                        format!(
                            "phase {}: {}; the schedule and the NVML samples must come from one \
                             recording",
                            ph.name,
                            gate.explain(t)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Reads `events.csv` (see the module documentation).
///
/// # Errors
/// [`IngestErrorKind::Io`] when the file cannot be read or is not a regular file;
/// [`IngestErrorKind::Malformed`] when it is over [`MAX_SCHEDULE_FILE_BYTES`], not UTF-8,
/// or malformed (as [`parse_schedule`]).
pub fn read_schedule(path: &Path) -> Result<Schedule, IngestError> {
    let source = path.display().to_string();
    parse_schedule(&read_text(path, &source)?, &source)
}

/// Parses the text of `events.csv`; `source` names it in errors.
///
/// # Errors
/// [`IngestErrorKind::Malformed`] naming `source` and the line: a missing header, a missing
/// column, a time or pid that is not a number, an unknown event, a phase that ends before it
/// starts (or never ends, or ends where it starts), a stop of an unknown pid, or a record over
/// [`Limits::max_line_bytes`](crate::Limits::max_line_bytes).
pub fn parse_schedule(text: &str, source: &str) -> Result<Schedule, IngestError> {
    let mut open: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut phases = Vec::new();
    let mut processes: Vec<Process> = Vec::new();
    records(text, source, EVENTS_HEADER, |line, f| {
        let bad = |reason: String| invalid(Place::line(source, line), reason);
        let t = Timestamp::from_nanos(number(field(f, 0, source, line)?, source, line)?);
        let label = field(f, 2, source, line)?;
        match field(f, 1, source, line)? {
            "phase_start" => {
                open.insert(label.to_string(), t);
            }
            "phase_end" => {
                let start = open
                    .remove(label)
                    .ok_or_else(|| bad(format!("phase {label} ends before it starts")))?;
                let range = TimeRange::try_new(start, t).map_err(|e| bad(e.reason().into()))?;
                phases.push(Phase {
                    name: label.to_string(),
                    range,
                });
            }
            "start" => processes.push(Process {
                pid: number(field(f, 4, source, line)?, source, line)?,
                label: label.to_string(),
                workload: label.split('_').next().unwrap_or(label).to_string(),
                start: t,
                stop: None,
            }),
            "stop" => {
                let pid: u32 = number(field(f, 4, source, line)?, source, line)?;
                let p = processes
                    .iter_mut()
                    .rev()
                    .find(|p| p.pid == pid)
                    .ok_or_else(|| bad(format!("stop of unknown pid {pid}")))?;
                p.stop = Some(t);
            }
            other => return Err(bad(format!("unknown event {other:?}"))),
        }
        Ok(())
    })?;
    if let Some((name, _)) = open.into_iter().next() {
        return Err(invalid(
            Place::source(source),
            format!("phase {name} never ends"),
        ));
    }
    Ok(Schedule {
        source: source.to_string(),
        phases,
        processes,
    })
}

/// Reads every `work_*.csv` file of `dir`, in name order, and sums the iterations per run
/// label (`A_AB` → iterations); none is an empty map.
///
/// # Errors
/// [`IngestErrorKind::Io`] when the directory or a file cannot be read; as [`parse_work`] for
/// a malformed file.
pub fn read_work(dir: &Path) -> Result<BTreeMap<String, u64>, IngestError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| IngestError::io(Place::source(dir.display().to_string()), e))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("work_") && n.ends_with(".csv"))
        })
        .collect();
    files.sort();
    let mut work = BTreeMap::new();
    for f in files {
        let source = f.display().to_string();
        parse_work(&read_text(&f, &source)?, &source, &mut work)?;
    }
    Ok(work)
}

/// Parses the text of one `work_<label>.csv` file into `work`, adding each row's iterations
/// to its label's (saturating); `source` names it in errors.
///
/// # Errors
/// [`IngestErrorKind::Malformed`] naming `source` and the line: a missing header, a missing
/// column, iterations that are not a number, or a record over
/// [`Limits::max_line_bytes`](crate::Limits::max_line_bytes).
pub fn parse_work(
    text: &str,
    source: &str,
    work: &mut BTreeMap<String, u64>,
) -> Result<(), IngestError> {
    records(text, source, WORK_HEADER, |line, f| {
        let label = field(f, 2, source, line)?;
        let it: u64 = number(field(f, 4, source, line)?, source, line)?;
        let sum = work.entry(label.to_string()).or_insert(0);
        *sum = sum.saturating_add(it);
        Ok(())
    })
}

fn invalid(place: Place, reason: impl Into<String>) -> IngestError {
    IngestError::new(IngestErrorKind::Malformed, place, reason)
}

/// Reads a schedule file as text: a regular file of at most [`MAX_SCHEDULE_FILE_BYTES`], UTF-8.
fn read_text(path: &Path, source: &str) -> Result<String, IngestError> {
    use kelvin_guard::ErrorKind;
    let place = || Place::source(source);
    let bytes = kelvin_guard::file::read(path, Some(MAX_SCHEDULE_FILE_BYTES)).map_err(|e| {
        let (kind, reason) = match e.kind() {
            ErrorKind::NotRegular => (
                IngestErrorKind::Io,
                format!(
                    "is {}, not a regular file; refusing to read it",
                    e.entry().unwrap_or("a special file")
                ),
            ),
            ErrorKind::TooLarge | ErrorKind::Grew => (
                IngestErrorKind::Malformed,
                format!(
                    "{} bytes or more, over the {MAX_SCHEDULE_FILE_BYTES}-byte limit for this file",
                    e.found().unwrap_or(MAX_SCHEDULE_FILE_BYTES)
                ),
            ),
            _ => (
                IngestErrorKind::Io,
                e.cause().unwrap_or(e.detail()).to_string(),
            ),
        };
        IngestError::new(kind, place(), reason)
    })?;
    String::from_utf8(bytes).map_err(|e| {
        invalid(
            place(),
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Hands every data record of `text` (after the header `header`, blank lines skipped) to `f`
/// with its line, until `f` fails.
fn records(
    text: &str,
    source: &str,
    header: &str,
    mut f: impl FnMut(u64, &StringRecord) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let max = Limits::default().max_line_bytes;
    let mut result = Ok(());
    let mut seen_header = false;
    csv_text::read(text, max, |item| {
        let r = match item {
            Item::TooLong(line, t) => Err(invalid(
                Place::line(source, line),
                format!("a record of {} bytes, over max_line_bytes ({max})", t.len()),
            )),
            Item::Record(r) if !seen_header => {
                seen_header = true;
                if r.line == 1 && r.text.trim() == header {
                    Ok(())
                } else {
                    Err(invalid(
                        Place::line(source, 1),
                        format!("expected header {header}"),
                    ))
                }
            }
            Item::Record(r) if r.text.trim().is_empty() => Ok(()),
            Item::Record(r) => match &r.error {
                Some(e) => Err(invalid(Place::line(source, r.line), e.clone())),
                None => f(r.line, r.fields),
            },
        };
        result = r;
        if result.is_err() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if result.is_ok() && !seen_header {
        result = Err(invalid(
            Place::line(source, 1),
            format!("expected header {header}"),
        ));
    }
    result
}

fn field<'a>(
    f: &'a StringRecord,
    i: usize,
    source: &str,
    line: u64,
) -> Result<&'a str, IngestError> {
    f.get(i).ok_or_else(|| {
        invalid(
            Place::line(source, line),
            format!("missing column {}", i + 1),
        )
    })
}

fn number<T: std::str::FromStr>(s: &str, source: &str, line: u64) -> Result<T, IngestError> {
    s.trim()
        .parse()
        .map_err(|_| invalid(Place::line(source, line), format!("{s:?} is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "t_unix_ns,event,label,kind,pid\n";

    fn err(text: &str) -> String {
        parse_schedule(text, "events.csv").unwrap_err().to_string()
    }

    #[test]
    fn phases_processes_and_workloads() {
        let s = parse_schedule(
            &format!(
                "{HEAD}10,phase_start,AB,-,-\n10,start,A_AB,x,7\n\n  \n11,start,B_AB,x,8\n\
                 20,stop,A_AB,x,7\n20,phase_end,AB,-,-\n"
            ),
            "events.csv",
        )
        .unwrap();
        assert_eq!(s.phases.len(), 1);
        assert_eq!(s.phases[0].range.len_nanos(), 10);
        assert_eq!(s.processes.len(), 2);
        assert_eq!(s.processes[0].stop, Some(Timestamp::from_nanos(20)));
        assert_eq!(s.processes[1].stop, None);
        assert_eq!(s.workloads(), ["A", "B"]);
        let a = &s.processes[0];
        assert_eq!(a.utilization_series("h100/pid-7", "gpu0/sm"), Some(0));
        assert_eq!(a.utilization_series("pid-7", "mem"), Some(1));
        assert_eq!(a.utilization_series("pid-7", "gpu0/temp"), None);
        assert_eq!(a.utilization_series("pid-17", "gpu0/sm"), None);
    }

    #[test]
    fn malformed_schedules_name_file_and_line() {
        assert_eq!(
            err(""),
            "events.csv:1: expected header t_unix_ns,event,label,kind,pid"
        );
        assert_eq!(
            err("t,event\n1,start,A,-,1\n"),
            "events.csv:1: expected header t_unix_ns,event,label,kind,pid"
        );
        assert_eq!(
            err(&format!("{HEAD}1,start\n")),
            "events.csv:2: missing column 3"
        );
        assert_eq!(
            err(&format!("{HEAD}1,start,A_x,-\n")),
            "events.csv:2: missing column 5"
        );
        assert_eq!(
            err(&format!("{HEAD}1,start,A_x,-,-1\n")),
            "events.csv:2: \"-1\" is not a number"
        );
        assert_eq!(
            err(&format!("{HEAD}1,jump,A_x,-,1\n")),
            "events.csv:2: unknown event \"jump\""
        );
        assert_eq!(
            err(&format!("{HEAD}\n1,phase_end,p,-,-\n")),
            "events.csv:3: phase p ends before it starts"
        );
        assert_eq!(
            err(&format!("{HEAD}1,phase_start,p,-,-\n")),
            "events.csv: phase p never ends"
        );
        assert!(
            err(&format!("{HEAD}5,phase_start,p,-,-\n5,phase_end,p,-,-\n"))
                .starts_with("events.csv:3: ")
        );
        assert_eq!(
            err(&format!("{HEAD}1,stop,A_x,-,9\n")),
            "events.csv:2: stop of unknown pid 9"
        );
        let long = format!("{HEAD}1,start,{},-,1\n", "A".repeat(70_000));
        assert!(
            err(&long).starts_with("events.csv:2: a record of "),
            "{}",
            err(&long)
        );
    }

    #[test]
    fn work_is_summed_per_label() {
        let mut w = BTreeMap::new();
        let text = "t_unix_ns,pid,label,kind,iterations\n1,7,A_AB,x,5\n2,7,A_AB,x, 6\n";
        parse_work(text, "work_A.csv", &mut w).unwrap();
        parse_work(
            "t_unix_ns,pid,label,kind,iterations\n1,7,A_AB,x,18446744073709551615\n",
            "w",
            &mut w,
        )
        .unwrap();
        assert_eq!(w["A_AB"], u64::MAX);
        let e = parse_work("x\n", "work_A.csv", &mut w).unwrap_err();
        assert_eq!(
            e.to_string(),
            "work_A.csv:1: expected header t_unix_ns,pid,label,kind,iterations"
        );
        assert_eq!(e.kind(), IngestErrorKind::Malformed);
    }

    #[test]
    fn files_are_read_within_limits() {
        let d = std::env::temp_dir().join(format!("kelvin-schedule-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let e = read_schedule(&d.join("events.csv")).unwrap_err();
        assert_eq!(e.kind(), IngestErrorKind::Io);
        assert!(e.to_string().contains("events.csv"), "{e}");
        std::fs::write(
            d.join("events.csv"),
            b"t_unix_ns,event,label,kind,pid\n\xff\n",
        )
        .unwrap();
        let e = read_schedule(&d.join("events.csv")).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("not UTF-8 text (invalid byte at offset 31)"),
            "{e}"
        );
        assert!(read_work(&d).unwrap().is_empty());
        std::fs::write(
            d.join("work_b.csv"),
            WORK_HEADER.to_string() + "\n1,2,B_x,k,3\n",
        )
        .unwrap();
        std::fs::write(
            d.join("work_a.csv"),
            WORK_HEADER.to_string() + "\n1,2,B_x,k,4\n",
        )
        .unwrap();
        std::fs::write(d.join("other.csv"), "not work").unwrap();
        assert_eq!(read_work(&d).unwrap()["B_x"], 7);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
