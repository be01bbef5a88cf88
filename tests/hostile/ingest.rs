//! Hostile-input reproducers: ingest (issue 13). Every decode runs within the 256 MiB heap
//! budget ([`crate::within_budget`]); inputs are generated in a temporary directory.
//!
//! - Redfish trees and single JSON files of 62 MB (each under the 64 MiB per-file limit) that
//!   used to need gigabytes once parsed; the JSON heap estimate against the allocator; inputs
//!   of every text format at the size limit.
//! - Symlinks, FIFOs and devices in trees and on the command line: counted, never followed
//!   into `/dev/zero`, never blocking.
//! - `nvidia-smi pmon` `-` cells: absent readings.
//! - Sizes from the input (a crafted Parquet page header, a CSV record of commas) and
//!   arithmetic on input values (a timestamp in milliseconds that overflows nanoseconds).
//! - Errors that name the file: rule tables.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kelvin::ingest::{
    Context, Format, IngestBatch, Limits, Normalizer, Reason, RuleSet, decode_path, decode_str,
    json_heap_estimate,
};
use kelvin::model::Quality;

use crate::{within, within_budget};

/// A temporary directory, removed on drop.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Temp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kelvin-hostile-ingest-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Temp(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    /// Writes `rel`, creating its directories.
    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("dirs");
        std::fs::write(&p, bytes).expect("write");
        p
    }

    /// Writes `head`, `unit` repeated until the file has about `size` bytes, and `tail`,
    /// without building the whole text in memory.
    fn write_repeated(
        &self,
        rel: &str,
        head: &str,
        unit: &str,
        tail: &str,
        size: usize,
    ) -> PathBuf {
        use std::io::Write;
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("dirs");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).expect("create"));
        f.write_all(head.as_bytes()).expect("write");
        let chunk = unit.repeat((1 << 20) / unit.len().max(1) + 1);
        let mut left = size.saturating_sub(head.len() + tail.len());
        while left >= unit.len() {
            let n = (left / unit.len()).min(chunk.len() / unit.len()) * unit.len();
            f.write_all(&chunk.as_bytes()[..n]).expect("write");
            left -= n;
        }
        f.write_all(tail.as_bytes()).expect("write");
        f.flush().expect("flush");
        p
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn count(b: &IngestBatch, r: Reason) -> u64 {
    b.stats.by_reason.get(&r).copied().unwrap_or(0)
}

fn balanced(b: &IngestBatch) {
    let s = &b.stats;
    assert_eq!(s.seen, s.accepted + s.quarantined, "{s:?}");
    assert_eq!(s.accepted as usize, b.readings.len());
    assert!(b.quarantine.len() as u64 <= s.quarantined);
}

/// Runs `f` on another thread and fails when it does not finish in `secs` (a read that blocks
/// on a FIFO would hang the test instead of failing it).
fn finishes<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("did not finish in {secs} s (blocked on a FIFO or a device?)"))
}

fn decode(path: &Path, format: Option<Format>) -> IngestBatch {
    let n = Normalizer::builtin();
    let ctx = Context::new(path.display().to_string(), &n);
    decode_path(path, format, &ctx).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A Redfish `Thermal` resource of about `size` bytes: one temperature per 32 bytes.
fn write_thermal(t: &Temp, rel: &str, size: usize) -> PathBuf {
    t.write_repeated(
        rel,
        r##"{"@odata.id":"/redfish/v1/Chassis/1U/Thermal","@odata.type":"#Thermal.v1_7_0.Thermal","Temperatures":["##,
        r#"{"Name":"T","ReadingCelsius":1},"#,
        r#"{"Name":"T","ReadingCelsius":1}]}"#,
        size,
    )
}

const SIXTY_TWO_MB: usize = 62_000_000;

#[test]
fn a_redfish_tree_of_four_62_mb_files_is_four_counted_refusals() {
    let t = Temp::new("tree4");
    for i in 0..4 {
        write_thermal(&t, &format!("Chassis/{i}/Thermal/index.json"), SIXTY_TWO_MB);
    }
    let root = t.0.clone();
    let b = within_budget(|| decode(&root, None));
    balanced(&b);
    assert_eq!((b.stats.seen, count(&b, Reason::InputTooLarge)), (4, 4));
    for (i, q) in b.quarantine.iter().enumerate() {
        let place = q.place.to_string();
        assert!(
            place.contains(&format!("Chassis/{i}/Thermal/index.json")),
            "{place}"
        );
        assert!(q.detail.contains("max_json_bytes"), "{}", q.detail);
    }
}

#[test]
fn a_62_mb_json_file_forced_or_detected_is_refused_within_the_budget() {
    let t = Temp::new("one62");
    let file = write_thermal(&t, "thermal.json", SIXTY_TWO_MB);
    for format in [Some(Format::Redfish), Some(Format::Synse), None] {
        let f = file.clone();
        let b = within_budget(|| decode(&f, format));
        balanced(&b);
        assert_eq!(
            (b.stats.seen, count(&b, Reason::InputTooLarge)),
            (1, 1),
            "{format:?}"
        );
        assert!(b.quarantine[0].detail.contains("max_json_bytes"));
    }
    // Under the text limit, the worst shape is refused by its estimated heap, before parsing.
    let file = write_thermal(&t, "thermal15.json", 15_000_000);
    let b = within_budget(|| decode(&file, None));
    assert_eq!(count(&b, Reason::InputTooLarge), 1);
    assert!(
        b.quarantine[0].detail.contains("max_json_heap_bytes"),
        "{}",
        b.quarantine[0].detail
    );
}

/// A JSON array of `unit` repeated until the estimated heap of its parse is about `heap`.
fn array_of(unit: &str, heap: usize) -> String {
    let one =
        json_heap_estimate(&format!("[{unit},{unit}]")) - json_heap_estimate(&format!("[{unit}]"));
    let n = heap / one.max(1);
    let mut s = String::with_capacity(n * (unit.len() + 1) + 2);
    s.push('[');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(unit);
    }
    s.push(']');
    s
}

#[test]
fn the_json_heap_estimate_is_an_upper_bound_of_the_parse() {
    let heap = 48 << 20;
    let wide: String = {
        let members: Vec<String> = (0..400_000)
            .rev()
            .map(|i| format!("\"k{i}\":{i}"))
            .collect();
        format!("{{{}}}", members.join(","))
    };
    let shapes = [
        array_of("0", heap),
        array_of("[]", heap),
        array_of("{}", heap),
        array_of(r#"{"":0}"#, heap),
        array_of("[0]", heap),
        array_of(r#""ab""#, heap),
        array_of(r#"{"a":{"b":[1,2,{"c":"d"}]}}"#, heap),
        array_of(
            r#"{"MetricId":"CPU0Temp","MetricValue":"23.5","Timestamp":"2021-01-01T00:00:00Z","MetricProperty":"/redfish/v1/Chassis/1/Sensors/CPU0Temp"}"#,
            heap,
        ),
        wide,
        array_of(r#""with \"escapes\" and \u00e9""#, heap),
    ];
    for text in &shapes {
        let est = json_heap_estimate(text);
        // Past its estimate (and 64 KiB of slack for the parser's own state) the parse would
        // fail its allocation and abort this test binary.
        let parsed = within(est + (64 << 10), || {
            serde_json::from_str::<serde_json::Value>(text).map(drop)
        });
        assert!(parsed.is_ok(), "{}", &text[..60.min(text.len())]);
    }
}

#[test]
fn documents_at_the_json_limits_decode_within_the_budget() {
    let t = Temp::new("jsonlimit");
    let n = Normalizer::builtin();
    let limits = Limits::default();
    // The costliest documents the default limits admit: Redfish temperatures, MetricReport
    // rows and Synse readings, each sized to just under `max_json_heap_bytes`.
    let members = |unit: &str| {
        let one = json_heap_estimate(&format!("[{unit},{unit}]"))
            - json_heap_estimate(&format!("[{unit}]"));
        (limits.max_json_heap_bytes - (1 << 20)) / one
    };
    let thermal_unit = r#"{"Name":"T","ReadingCelsius":1}"#;
    let report_unit =
        r#"{"MetricId":"CPU0Temp","MetricValue":"23.5","Timestamp":"2021-01-01T00:00:00Z"}"#;
    let synse_unit = r#"{"device":"d","type":"temperature","unit":{"symbol":"C"},"value":1}"#;
    let docs = [
        (
            "thermal.json",
            format!(
                r##"{{"@odata.id":"/redfish/v1/Chassis/1U/Thermal","@odata.type":"#Thermal.v1_7_0.Thermal","Temperatures":[{}]}}"##,
                vec![thermal_unit; members(thermal_unit)].join(",")
            ),
        ),
        (
            "report.json",
            format!(
                r##"{{"@odata.id":"/redfish/v1/TelemetryService/MetricReports/1","@odata.type":"#MetricReport.v1_4_0.MetricReport","MetricValues":[{}]}}"##,
                vec![report_unit; members(report_unit)].join(",")
            ),
        ),
        (
            "synse.json",
            format!("[{}]", vec![synse_unit; members(synse_unit)].join(",")),
        ),
    ];
    for (name, text) in &docs {
        assert!(
            json_heap_estimate(text) <= limits.max_json_heap_bytes,
            "{name}"
        );
        let file = t.write(name, text.as_bytes());
        let format = (*name == "synse.json").then_some(Format::Synse);
        let b = within_budget(|| {
            let ctx = Context::new(file.display().to_string(), &n);
            decode_path(&file, format, &ctx).expect("readable")
        });
        balanced(&b);
        assert!(b.stats.accepted > 10_000, "{name}: {:?}", b.stats);
    }
}

#[test]
fn text_inputs_at_the_size_limit_decode_within_the_budget() {
    let t = Temp::new("textlimit");
    let size = Limits::default().max_input_bytes - 1024;
    let cases: [(&str, &str, &str, Option<Format>); 7] = [
        // unmapped Prometheus samples: all quarantine, the costliest entries per byte
        ("unmapped.prom", "", "a 1\n", None),
        (
            "mapped.prom",
            "",
            "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 212 1700000000000\n",
            None,
        ),
        ("garbage.prom", "", "{{\n", Some(Format::Prometheus)),
        (
            "sensor.txt",
            "",
            "CPU1 Temp | 33.000 | degrees C | ok | na | na | na | na | na | na\n",
            None,
        ),
        (
            "device.csv",
            "t_unix_ns,power_mw,power_limit_mw,total_energy_mj,gpu_util_pct,mem_util_pct,temp_gpu_c,clock_sm_mhz,clock_mem_mhz,mem_used_bytes,pstate,throttle_reasons\n",
            "1,1,1,1,1,1,1,1,1,1,1,1\n",
            None,
        ),
        (
            "kelvin.csv",
            "ts_ns,entity,sensor,kind,unit,value,quality,status\n",
            "1,h,s,power,W,1,good,\n",
            None,
        ),
        ("walk.snmprec", "", "1.3.6.1.2.1.33.1.2.7.0|2|24\n", None),
    ];
    for (name, head, unit, format) in cases {
        let file = t.write_repeated(name, head, unit, "", size);
        let b = within_budget(|| decode(&file, format));
        balanced(&b);
        // every input is far over the record limit or the output budget: what is over is
        // counted as too_many_records
        assert!(
            count(&b, Reason::TooManyRecords) >= 1,
            "{name}: {:?}",
            b.stats
        );
        assert!(
            b.kept_bytes() <= Limits::default().max_output_bytes,
            "{name}"
        );
        std::fs::remove_file(&file).expect("remove");
    }
}

#[cfg(unix)]
fn mkfifo(p: &Path) -> bool {
    std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(unix)]
#[test]
fn links_fifos_and_devices_in_trees_are_counted_and_never_block() {
    use std::os::unix::fs::symlink;
    let t = Temp::new("special");
    // A Redfish dump with a good resource beside a link to /dev/zero, a link loop, a linked
    // directory and a FIFO named like a resource.
    write_thermal(&t, "dump/Chassis/1U/Thermal/index.json", 400);
    symlink("/dev/zero", t.path("dump/zero.json")).expect("link");
    symlink(t.path("dump/loop.json"), t.path("dump/loop.json")).expect("link");
    symlink(t.path("dump/Chassis"), t.path("dump/linked")).expect("link");
    let fifo = mkfifo(&t.path("dump/fifo.json"));
    let dump = t.path("dump");
    let b = within_budget(|| finishes(60, move || decode(&dump, None)));
    balanced(&b);
    assert!(b.stats.accepted > 0);
    let unreadable: Vec<String> = b
        .quarantine
        .iter()
        .filter(|q| q.reason == Reason::Unreadable)
        .map(|q| format!("{} {}", q.place, q.detail))
        .collect();
    for name in ["zero.json", "loop.json", "linked"] {
        assert!(
            unreadable
                .iter()
                .any(|u| u.contains(&format!("dump/{name}#")) && u.contains("symbolic link")),
            "{name}: {unreadable:?}"
        );
    }
    if fifo {
        assert!(
            unreadable
                .iter()
                .any(|u| u.contains("fifo.json") && u.contains("FIFO")),
            "{unreadable:?}"
        );
    }

    // A sysfs tree: symlinks inside the root are followed (sysfs is made of them), but a link
    // out of the root, a loop and a FIFO are records.
    let chip = "sys/class/hwmon/hwmon0";
    t.write(&format!("{chip}/name"), b"chip\n");
    t.write(&format!("{chip}/temp4_input"), b"42000\n");
    t.write("sys/devices/real_input", b"43000\n");
    symlink(
        t.path("sys/devices/real_input"),
        t.path(&format!("{chip}/temp5_input")),
    )
    .expect("link");
    symlink("/dev/zero", t.path(&format!("{chip}/temp2_input"))).expect("link");
    symlink(
        t.path(&format!("{chip}/temp3_input")),
        t.path(&format!("{chip}/temp3_input")),
    )
    .expect("link");
    let sys_fifo = mkfifo(&t.path(&format!("{chip}/temp1_input")));
    let sys = t.path("sys");
    let b = within_budget(|| finishes(60, move || decode(&sys, Some(Format::Sysfs))));
    balanced(&b);
    let value = |s: &str| b.readings.iter().find(|r| r.sensor == s).map(|r| r.value);
    assert_eq!(value("chip/temp4"), Some(42.0));
    assert_eq!(value("chip/temp5"), Some(43.0));
    let reason_of = |file: &str| {
        b.quarantine
            .iter()
            .find(|q| q.place.to_string().contains(file))
            .map(|q| q.reason)
    };
    assert_eq!(reason_of("temp2_input"), Some(Reason::BadField));
    assert_eq!(reason_of("temp3_input"), Some(Reason::Unreadable));
    if sys_fifo {
        assert_eq!(reason_of("temp1_input"), Some(Reason::Unreadable));
    }

    // Given directly, a FIFO or a device is an error naming the path, at once.
    let n = Normalizer::builtin();
    let fifo_path = t.path("dump/fifo.json");
    let zero = t.path("dump/zero.json");
    for (path, what) in [(fifo_path, "FIFO"), (zero, "character device")] {
        if what == "FIFO" && !fifo {
            continue;
        }
        let p = path.clone();
        let ctx = Context::new(path.display().to_string(), &n);
        let e = finishes(60, move || {
            let n = Normalizer::builtin();
            let ctx = Context::new(p.display().to_string(), &n);
            decode_path(&p, None, &ctx)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .expect_err("not a regular file");
        assert!(e.starts_with(&ctx.source), "{e}");
        assert!(e.contains(what), "{e}");
    }
}

/// Absent cells of a pmon process row: `-` for the metrics the process does not use.
#[test]
fn pmon_dashes_are_absent_readings_never_values() {
    let n = Normalizer::builtin();
    let text = "# gpu         pid   type     sm    mem    enc    dec    jpg    ofa     fb   ccpm    command\n\
                # Idx           #    C/G      %      %      %      %      %      %     MB     MB    name\n\
                \x20   0          -     -      -      -      -      -      -      -      -      -    -\n\
                \x20   0        950     C     77     26      -      -      -      -   1002      0    python3\n";
    let b = decode_str(
        Some(Format::NvidiaSmiPmon),
        text,
        &Context::new("pmon.txt", &n),
    );
    balanced(&b);
    let absent: Vec<_> = b
        .readings
        .iter()
        .filter(|r| r.quality == Quality::Absent)
        .collect();
    assert_eq!(absent.len(), 4);
    assert!(
        absent
            .iter()
            .all(|r| r.value.is_nan() && r.status.as_deref() == Some("-"))
    );
    // a value is either measured or absent, never NaN with another quality
    assert!(
        b.readings
            .iter()
            .all(|r| r.value.is_finite() || r.quality == Quality::Absent)
    );

    // The recorded H100 capture: the issue's 1,320 `-` cells are 1,320 absent readings.
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/recordings/gpu-h100-2026-11-26");
    let path = dir.join("nvidia-smi-pmon.txt");
    if !path.exists() {
        eprintln!("skipped: {} is absent", path.display());
        return;
    }
    let b = within_budget(|| decode(&path, None));
    balanced(&b);
    let absent = b
        .readings
        .iter()
        .filter(|r| r.quality == Quality::Absent)
        .count();
    assert_eq!((b.stats.accepted, absent), (1848, 1320));
    assert!(
        b.readings
            .iter()
            .all(|r| r.value.is_finite() || r.quality == Quality::Absent)
    );
}

#[test]
fn a_crafted_parquet_page_size_is_refused_before_it_is_allocated() {
    use kelvin::model::{EntityId, Reading, SensorKind, Timestamp};
    let readings: Vec<Reading> = (0..100)
        .map(|i| {
            Reading::new(
                EntityId::new("h1").expect("id"),
                "inlet",
                SensorKind::Temperature,
                20.0,
                Timestamp::from_secs(i),
            )
        })
        .collect();
    let mut file = Vec::new();
    kelvin::ingest::parquet::write_parquet(&readings, &mut file).expect("write");
    // The first page header (column ts_ns) follows "PAR1": field 1 (type, 0x15 0x00), then
    // field 2, the uncompressed size: a varint replaced by i32::MAX (2 GiB).
    assert_eq!((file[4], file[6]), (0x15, 0x15));
    let end = 7
        + file[7..]
            .iter()
            .position(|b| b & 0x80 == 0)
            .expect("a varint")
        + 1;
    let crafted = [
        &file[..7],
        &[0xfe, 0xff, 0xff, 0xff, 0x0f][..],
        &file[end..],
    ]
    .concat();
    let t = Temp::new("parquet");
    let path = t.write("crafted.parquet", &crafted);
    let b = within_budget(|| decode(&path, None));
    balanced(&b);
    assert_eq!((b.stats.seen, count(&b, Reason::InputTooLarge)), (1, 1));
    assert!(
        b.quarantine[0].detail.contains("2147483647"),
        "{}",
        b.quarantine[0].detail
    );
}

#[test]
fn a_csv_record_of_commas_is_refused_before_it_is_split() {
    let t = Temp::new("commas");
    // 48 million fields would take 384 MB of field offsets in the csv crate.
    let path = t.write_repeated(
        "commas.csv",
        "ts_ns,entity,sensor,kind,unit,value,quality,status\n",
        ",",
        "\n1,h1,s,power,W,1,good,\n",
        48_000_000,
    );
    let b = within_budget(|| decode(&path, None));
    balanced(&b);
    assert_eq!((b.stats.accepted, count(&b, Reason::LineTooLong)), (1, 1));
    assert_eq!(
        b.quarantine[0].place.to_string(),
        format!("{}:2", path.display())
    );
}

#[test]
fn millisecond_timestamps_that_overflow_nanoseconds_are_bad_timestamps() {
    let n = Normalizer::builtin();
    let text = "ipmi_dcmi_power_consumption_watts{instance=\"h1\"} 212 9223372036854775807\n\
                ipmi_dcmi_power_consumption_watts{instance=\"h1\"} 212 -9223372036854775808\n\
                ipmi_dcmi_power_consumption_watts{instance=\"h1\"} 212 9223372036854\n";
    let b = decode_str(Some(Format::Prometheus), text, &Context::new("m.prom", &n));
    balanced(&b);
    assert_eq!((b.stats.accepted, count(&b, Reason::BadTimestamp)), (1, 2));
    assert!(b.readings[0].ts.is_known());
    assert_eq!(b.quarantine[0].place.to_string(), "m.prom:1");
}

#[test]
fn past_the_output_budget_records_are_counted_not_kept() {
    let n = Normalizer::builtin();
    // Ten thousand unmapped families, each a record (a repeated family would be a count).
    let text: String = (0..10_000).map(|i| format!("x{i} 1\n")).collect();
    let ctx =
        Context::new("m.prom", &n).with_limits(Limits::default().with_max_output_bytes(64 << 10));
    let b = within_budget(|| decode_str(Some(Format::Prometheus), &text, &ctx));
    balanced(&b);
    assert_eq!(b.stats.seen, 10_000);
    assert!(b.kept_bytes() <= 64 << 10);
    let over = count(&b, Reason::TooManyRecords);
    assert!(over > 9_000, "{:?}", b.stats);
    let last = b.quarantine.last().expect("the budget entry");
    assert_eq!(last.reason, Reason::TooManyRecords);
    assert!(last.detail.contains("max_output_bytes"), "{}", last.detail);
    assert!(last.place.to_string().starts_with("m.prom:"));
}

#[test]
fn a_bad_rule_table_names_its_file_line_and_column() {
    let e = RuleSet::from_json_named("prometheus_rules.json", "{}").expect_err("not an array");
    assert_eq!(
        e.to_string(),
        "prometheus_rules.json:1: column 1: invalid type: map, expected a sequence"
    );
    let e = RuleSet::from_json_named("prometheus_rules.json", "[\n  {\"metric\": 1}\n]")
        .expect_err("bad field");
    assert!(
        e.to_string()
            .starts_with("prometheus_rules.json:2: column "),
        "{e}"
    );
    // `from_json` still works, and names its source `rules`
    assert!(RuleSet::from_json("[]").is_ok());
    assert!(
        RuleSet::from_json("{}")
            .expect_err("map")
            .to_string()
            .starts_with("rules:1:")
    );
}

/// Found by the `ingest_parquet` fuzz target: a file whose delta-encoded page header holds a
/// varint too long for its shift made the `parquet` crate panic ("attempt to shift left with
/// overflow") under overflow checks. The panic is the crate's; the file is quarantined with
/// the rows read before the damaged page kept.
#[test]
fn a_panic_inside_the_parquet_crate_is_a_quarantined_record() {
    let bytes = include_bytes!("data/delta-varint-overflow.parquet").to_vec();
    let n = Normalizer::builtin();
    let ctx = Context::new("delta.parquet", &n);
    let b = within_budget(|| kelvin::ingest::parquet::read_parquet(bytes, &ctx));
    balanced(&b);
    assert!(b.stats.quarantined >= 1, "{:?}", b.stats);
    let q = b.quarantine.last().expect("a quarantined record");
    assert_eq!(q.reason, Reason::BadField);
    assert!(
        q.detail.contains("the Parquet decoder failed"),
        "{}",
        q.detail
    );
}
