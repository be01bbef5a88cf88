//! Linux sysfs/procfs trees: hwmon, powercap RAPL, cgroup v2 `cpu.stat`, `/proc/<pid>`.
//!
//! [`decode_tree`] takes a directory — a sysfs root (`/sys`), a procfs root (`/proc`), a cgroup
//! v2 root (`/sys/fs/cgroup`, or a hybrid v1 mount whose v2 hierarchy is `unified/`), or a
//! directory holding `sys/` and/or `proc/` (or `procfs/`), as captured trees do — and decodes
//! every value file it knows. [`scan_tree`] does the same and also returns, for every counter
//! series, its wrap point ([`CounterSeries`]), to feed a [`crate::counter::CounterTracker`].
//! [`CpuStat`] is the `sysfs` decoder of [`crate::Decoders`]: it decodes one cgroup `cpu.stat`
//! text, and a directory as a tree with [`decode_tree`] (the tree format
//! [`crate::Decoders::decode_path`] falls back to when no other recognizes a directory).
//!
//! # What is read
//!
//! | files                                              | reading                                       |
//! |----------------------------------------------------|-----------------------------------------------|
//! | hwmon `tempN_input` (m°C)                          | temperature, °C                               |
//! | hwmon `fanN_input` (rpm)                           | fan speed, rpm                                |
//! | hwmon `inN_input` (mV), `currN_input` (mA)         | voltage V, current A                          |
//! | hwmon `powerN_input`, else `powerN_average` (µW)   | power, W                                      |
//! | hwmon `energyN_input` (µJ)                         | energy, J (counter, no known wrap)            |
//! | hwmon `humidityN_input` (m%RH)                     | humidity, %RH                                 |
//! | powercap `intel-rapl[-mmio]:N[:M]/energy_uj` (µJ)  | energy, J (counter, wraps at `max_energy_range_uj`) |
//! | cgroup v2 `cpu.stat` `usage_usec` (µs)             | CPU time, s (counter)                         |
//! | `/proc/<pid>/stat` utime + stime (ticks)           | CPU time, s (counter), [`USER_HZ`] ticks per s |
//! | `/proc/stat` `cpu` line (ticks)                    | host busy CPU time, s (counter)               |
//!
//! For every channel type, `_input` is preferred and `_average` used only when there is no
//! `_input` (one record per channel). A channel whose `<type>N_enable` is `0` is disabled: it
//! gives an [`Quality::Absent`](kelvin_model::Quality::Absent) reading (NaN, status
//! `<type>N_enable=0`), counted as accepted, and its value file is not read. hwmon
//! `<type>N_input` files of types without a canonical kind (`freq`, `pwm`, vendor types) are
//! quarantined with [`Reason::UnmappedSensor`].
//!
//! The powercap `enabled` file is **not** a measurement switch: it enables power *capping* (the
//! kernel's powercap ABI). A zone with `enabled` = 0 still counts energy (node_exporter and
//! Kepler report it), so its reading is kept.
//!
//! # Records
//!
//! Every file that should hold a value is one record: accepted, or quarantined with
//! `Place::line(<file path>, <line>)` and a reason — [`Reason::Unreadable`] (permissions, a
//! dangling link, a FIFO or device in place of a file), [`Reason::BadValue`] (not an integer, a
//! RAPL value beyond its range),
//! [`Reason::NotUtf8`], [`Reason::InputTooLarge`] (larger than [`MAX_FILE_BYTES`]),
//! [`Reason::BadField`] (a missing field, a malformed zone id, a symlink leading outside the
//! tree), [`Reason::InvalidEntity`], [`Reason::Duplicate`], [`Reason::UnmappedSensor`].
//! Auxiliary files (`name`, `*_label`, `*_enable`, `max_energy_range_uj`, `/proc/<pid>/cgroup`
//! when absent) are not records; other files are ignored. A cgroup v1 `cpu.stat` (throttling
//! statistics only) is not a record. All readings carry [`Context::timestamp`].
//!
//! # Entities and sensors
//!
//! Hardware readings (hwmon, RAPL, `/proc/stat`) belong to the host,
//! [`Context::fallback_entity`]. CPU time of cgroups and processes belongs to the workload named
//! by [`cgroup_owner`] (pod UID, container id, VM name, systemd unit, or the cgroup path), or to
//! the host for the root cgroup.
//!
//! - hwmon: `<chip>/<channel>`. `hwmonN` is renumbered at every boot and never appears.
//!   `<chip>` is the `name` file (`coretemp`, `nct6779`; `unnamed` without one); when several
//!   chips share a name, `<name>@<device>` where the device is the last component of the
//!   chip's device path (`coretemp@coretemp.0`, `amdgpu@0000:03:00.0`), or, when the device
//!   does not tell them apart, `<name>@<i>`, the index among same-named chips in device-path
//!   order. `<channel>` is the channel's label (`Core 0`, `VDD_CPU`) or, without a label, its
//!   attribute stem (`temp1`, `in0`); a label used by two channels of one type becomes
//!   `<label>#<stem>`. `/` in names becomes `_`.
//! - RAPL: `rapl/<zone name>` for a package-level zone (`rapl/package-0`, `rapl/psys`),
//!   `rapl/<parent name>/<zone name>` for a subzone (`rapl/package-0/dram`); the zone
//!   directory name stands in for a missing `name`.
//! - cgroup `cpu.stat`: the [`CgroupOwner::sensor`] (`cpu`, `container/<id>`, `cpu/<rest>`,
//!   `cgroup` for the root).
//! - `/proc/<pid>/stat`: `pid/<pid>` on the workload of the process's cgroup (from
//!   `/proc/<pid>/cgroup`; the host when that file is absent). The pid is the directory's name.
//! - `/proc/stat`: `host/cpu` on the host.
//!
//! # The RAPL MMIO duplicate
//!
//! Recent Intel processors expose the package energy twice: through MSRs (`intel-rapl:N`) and
//! through MMIO (`intel-rapl-mmio:N`). Summing both would double the package energy. Rule: an
//! MMIO zone whose sensor name (`rapl/package-0`) matches an MSR zone that produced a reading is
//! quarantined with [`Reason::Duplicate`]; the MSR zone is kept. An MMIO zone without such an
//! MSR twin (the MSR zone missing or quarantined) is kept under the same sensor name.
//!
//! # Bounds
//!
//! Nothing outside the root is read: every path is resolved and a symlink that leaves the root
//! is quarantined ([`Reason::BadField`]), never followed. Symlinks inside the root are
//! followed (sysfs is made of them); a dangling one or a loop is an [`Reason::Unreadable`]
//! record. Directory walks do not follow symlinks (no loops), visit entries in sorted order,
//! stop at [`MAX_DIRS`] directories and at [`crate::Limits::max_tree_records`] records (each
//! overflow quarantined once); a directory that exists but cannot be listed is an
//! [`Reason::Unreadable`] record. No file larger than [`MAX_FILE_BYTES`] is read, no more than
//! [`crate::Limits::max_tree_bytes`] in all, and only regular files are opened: a value file
//! that is a FIFO, socket or device (which could block or never end) is an
//! [`Reason::Unreadable`] record and is never opened. The readings kept are bounded by
//! [`crate::Limits::max_output_bytes`] ([`crate::IngestBatch::bounded`]). Without symlinks in
//! `class/hwmon` (a copied tree), chips are also looked for as `devices/**/hwmon/hwmonN`.

mod cgroup;
mod hwmon;
mod procfs;
mod rapl;
mod walk;

use std::fs;
use std::path::Path;

use kelvin_model::{EntityId, Place, SensorKind};

use crate::{Confidence, Context, Decode, Format, IngestBatch, IngestError, Quarantined, Reason};
pub use cgroup::{CgroupOwner, CgroupRule, cgroup_owner};
use walk::{EntryKind, Scan, place};

/// Clock ticks per second of `/proc/<pid>/stat` and `/proc/stat` (`USER_HZ`, which Linux fixes
/// at 100 on every architecture Kelvin targets, whatever the kernel's `HZ`).
pub const USER_HZ: u64 = 100;

/// Largest file read, in bytes (64 KiB; sysfs attributes are at most a page).
pub const MAX_FILE_BYTES: usize = 64 << 10;

/// Most directories listed in one scan (262 144).
pub const MAX_DIRS: usize = 1 << 18;

/// A counter series found in a tree, with what a [`crate::counter::CounterTracker`] needs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CounterSeries {
    /// The entity of its readings.
    pub entity: EntityId,
    /// The sensor of its readings.
    pub sensor: kelvin_model::SensorName,
    /// Its kind ([`SensorKind::Energy`] or [`SensorKind::CpuTime`]).
    pub kind: SensorKind,
    /// The wrap point (modulus) in the kind's canonical unit, when known: RAPL's
    /// `max_energy_range_uj` in joules.
    pub wrap: Option<f64>,
}

/// What [`scan_tree`] found: the readings and quarantine, and the counter series.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TreeScan {
    /// Readings, quarantine and counts.
    pub batch: IngestBatch,
    /// One entry per accepted counter reading, in reading order.
    pub counters: Vec<CounterSeries>,
}

impl TreeScan {
    /// The counter series with this sensor name (the first, if several entities share it).
    pub fn counter(&self, sensor: &str) -> Option<&CounterSeries> {
        self.counters.iter().find(|c| c.sensor == sensor)
    }
}

/// Decodes a sysfs, procfs or cgroup tree (see the [module documentation](self)).
///
/// `root` may also be a single file, read confined to its directory: a `cpu.stat` (one
/// CPU-time record on [`Context::fallback_entity`], sensor `cpu`, as [`CpuStat`]), a
/// `<pid>/stat` (that process, with its `cgroup` file beside it), or a `stat` (`/proc/stat`);
/// any other file is one [`Reason::UnknownFormat`] record. A directory with none of the known
/// layouts is one [`Reason::UnknownFormat`] record too.
///
/// # Errors
/// [`crate::IngestErrorKind::Io`] when `root` does not exist or cannot be resolved; everything
/// below it that cannot be read is quarantined instead.
pub fn decode_tree(root: &Path, ctx: &Context<'_>) -> Result<IngestBatch, IngestError> {
    scan_tree(root, ctx).map(|s| s.batch)
}

/// [`decode_tree`], also returning the counter series and their wrap points.
///
/// ```no_run
/// use kelvin_ingest::{Context, Normalizer, sysfs};
/// use kelvin_ingest::counter::CounterTracker;
///
/// let n = Normalizer::builtin();
/// let scan = sysfs::scan_tree("/sys".as_ref(), &Context::new("node-1", &n))?;
/// if let Some(pkg) = scan.counter("rapl/package-0") {
///     let tracker = CounterTracker::new(pkg.wrap);
///     # let _ = tracker;
/// }
/// # Ok::<(), kelvin_ingest::IngestError>(())
/// ```
///
/// # Errors
/// As [`decode_tree`].
pub fn scan_tree(root: &Path, ctx: &Context<'_>) -> Result<TreeScan, IngestError> {
    let canon = fs::canonicalize(root).map_err(|e| IngestError::io(place(root), e))?;
    let meta = fs::metadata(&canon).map_err(|e| IngestError::io(place(root), e))?;
    if meta.is_dir() {
        let mut scan = Scan::new(ctx, canon);
        dispatch(&mut scan, root);
        return Ok(scan.out);
    }
    // A single file: confined to its directory.
    let dir = canon.parent().unwrap_or(&canon).to_path_buf();
    let mut scan = Scan::new(ctx, dir);
    single_file(&mut scan, root);
    Ok(scan.out)
}

fn dispatch(scan: &mut Scan<'_, '_>, dir: &Path) {
    let entries = scan.list(dir);
    let has_dir = |name: &str| {
        entries
            .iter()
            .any(|(n, k)| n == name && matches!(k, EntryKind::Dir | EntryKind::Symlink))
    };
    let has_file = |name: &str| {
        entries
            .iter()
            .any(|(n, k)| n == name && *k == EntryKind::File)
    };
    let mut known = false;
    if has_dir("sys") {
        sysfs(scan, &dir.join("sys"));
        known = true;
    }
    for p in ["proc", "procfs"] {
        if has_dir(p) {
            procfs::scan(scan, &dir.join(p));
            known = true;
        }
    }
    // A cgroup root: v2 (`cgroup.controllers`), or the hybrid v1 mount point whose v2
    // hierarchy is `unified/` (its v1 controller directories, `cpu/`, `devices/`…, are not
    // sysfs).
    let cgroup_root =
        has_file("cgroup.controllers") || has_file("cgroup.procs") || has_file("cpu.stat");
    let hybrid = !cgroup_root
        && has_dir("unified")
        && dir.join("unified").join("cgroup.controllers").is_file();
    if cgroup_root || hybrid {
        let root = if hybrid {
            dir.join("unified")
        } else {
            dir.to_path_buf()
        };
        cgroup::scan(scan, &root);
        known = true;
    } else if has_dir("class") || has_dir("devices") || has_dir("fs") {
        sysfs(scan, dir);
        known = true;
    }
    let pid_dirs = entries
        .iter()
        .any(|(n, k)| *k == EntryKind::Dir && n.parse::<u64>().is_ok());
    if has_file("stat") || pid_dirs {
        procfs::scan(scan, dir);
        known = true;
    }
    if !known && !scan.stopped() {
        scan.reject(
            dir,
            Reason::UnknownFormat,
            "no sysfs (class/, devices/, fs/), procfs (stat, <pid>/) or cgroup (cpu.stat) layout",
            "",
        );
    }
}

fn sysfs(scan: &mut Scan<'_, '_>, sys: &Path) {
    hwmon::scan(scan, sys);
    rapl::scan(scan, sys);
    let cg = sys.join("fs").join("cgroup");
    // A hybrid (v1 + v2) host mounts the v2 hierarchy at fs/cgroup/unified.
    let unified = cg.join("unified");
    let root = if !cg.join("cgroup.controllers").exists() && unified.is_dir() {
        unified
    } else {
        cg
    };
    if root.is_dir() && !scan.stopped() {
        cgroup::scan(scan, &root);
    }
}

fn single_file(scan: &mut Scan<'_, '_>, file: &Path) {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = file.parent().unwrap_or(Path::new(""));
    let pid = parent
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse::<u64>().ok());
    match (name.as_str(), pid) {
        ("cpu.stat", _) => {
            let host = scan.host.clone();
            cgroup::cpu_stat_record(scan, file, "", Some((host, "cpu")));
        }
        ("stat", Some(pid)) => procfs::pid_record(scan, parent, pid),
        ("stat", None) => procfs::proc_stat_record(scan, file),
        _ => scan.reject(
            file,
            Reason::UnknownFormat,
            "not a cpu.stat, /proc/stat or /proc/<pid>/stat file",
            "",
        ),
    }
}

/// The `sysfs` decoder ([`Format::Sysfs`]). Given text, it decodes one cgroup v2 `cpu.stat`:
/// one record, the `usage_usec` line as [`SensorKind::CpuTime`] in seconds, entity
/// [`Context::fallback_entity`], sensor `cpu`, time [`Context::timestamp`]. Given a directory
/// ([`Decode::decode_tree`]), it walks the tree with [`decode_tree`]; it claims every directory
/// as a fallback ([`Confidence::FALLBACK`]), so a tree no other decoder recognizes is read as
/// sysfs/procfs.
///
/// ```
/// use kelvin_ingest::{Context, Decode, IngestBatch, Normalizer, sysfs::CpuStat};
/// use kelvin_model::EntityId;
///
/// let n = Normalizer::builtin();
/// let ctx = Context::new("pod.cpu.stat", &n).with_entity(EntityId::new("w1")?);
/// let mut out = IngestBatch::default();
/// CpuStat.decode("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n", &ctx, &mut out);
/// assert_eq!(out.readings[0].value, 2.5);
/// assert_eq!(out.readings[0].entity.as_str(), "w1");
/// # Ok::<(), kelvin_model::ModelError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuStat;

impl Decode for CpuStat {
    fn name(&self) -> &str {
        Format::Sysfs.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        if input.len() > ctx.limits.max_input_bytes.min(MAX_FILE_BYTES) {
            let detail = format!(
                "{} bytes, over the smaller of max_input_bytes and the sysfs file limit ({})",
                input.len(),
                ctx.limits.max_input_bytes.min(MAX_FILE_BYTES)
            );
            out.reject(Quarantined::new(
                ctx.line(1),
                Reason::InputTooLarge,
                detail,
                input,
            ));
            return;
        }
        if !out.admit_record(|| (ctx.line(1), "")) {
            return;
        }
        match cgroup::parse_cpu_stat(input) {
            Ok(cgroup::CpuStatText::Usage { usec, .. }) => out.accept(kelvin_model::Reading::new(
                ctx.fallback_entity(),
                "cpu",
                SensorKind::CpuTime,
                usec as f64 / 1e6,
                ctx.timestamp(),
            )),
            Ok(cgroup::CpuStatText::V1) => out.reject(Quarantined::new(
                ctx.line(1),
                Reason::BadField,
                "a cgroup v1 cpu.stat (no usage_usec)",
                input,
            )),
            Err((line, reason, detail)) => {
                let excerpt = input.lines().nth(line as usize - 1).unwrap_or("");
                out.reject(Quarantined::new(
                    Place::line(ctx.source.clone(), line),
                    reason,
                    detail,
                    excerpt,
                ));
            }
        }
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }

    fn detect_tree(&self, root: &Path) -> Option<Confidence> {
        let _ = root;
        Some(Confidence::FALLBACK)
    }

    fn decode_tree(&self, root: &Path, ctx: &Context<'_>) -> Result<IngestBatch, IngestError> {
        decode_tree(root, ctx)
    }
}

impl CpuStat {
    /// A `cpu.stat` text: a line that starts with `usage_usec `.
    pub(crate) fn sniff(&self, head: &str) -> bool {
        head.lines().any(|l| l.starts_with("usage_usec "))
    }
}
