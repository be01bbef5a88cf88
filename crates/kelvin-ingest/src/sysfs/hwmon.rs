//! hwmon chips: `class/hwmon/hwmon*` (symlinks into `devices/`), and `devices/**/hwmon/hwmon*`
//! in trees copied without their symlinks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use kelvin_model::{Quality, SensorKind};

use super::walk::{EntryKind, Resolved, Scan, clean, quarantine};
use crate::Reason;

/// Deepest directory looked at under `devices/` (PCI bridges nest deep, but not this deep).
const MAX_DEVICE_DEPTH: usize = 24;

/// hwmon sensor types with a canonical kind, and the divisor from the raw sysfs unit
/// (millidegree Celsius, rpm, millivolt, milliampere, microwatt, microjoule, milli-percent RH).
const TYPES: [(&str, SensorKind, f64); 7] = [
    ("curr", SensorKind::Current, 1e3),
    ("energy", SensorKind::Energy, 1e6),
    ("fan", SensorKind::FanSpeed, 1.0),
    ("humidity", SensorKind::Humidity, 1e3),
    ("in", SensorKind::Voltage, 1e3),
    ("power", SensorKind::Power, 1e6),
    ("temp", SensorKind::Temperature, 1e3),
];

/// One hwmon chip as found.
#[derive(Debug, Clone, PartialEq)]
struct Chip {
    /// Where its files are read from (through the class symlink when there is one).
    files: PathBuf,
    /// Its canonical directory (the sort key: stable across boots, unlike `hwmonN`).
    canon: PathBuf,
    /// The `name` file, cleaned.
    name: Option<String>,
    /// The device it belongs to: the last component of its `device` link, else of the
    /// directory above `hwmon/` (`coretemp.0`, `0000:00:02.0`, `nct6775.656`).
    device: Option<String>,
}

/// Decodes every hwmon chip under the sysfs root `sys`.
pub(crate) fn scan(scan: &mut Scan<'_, '_>, sys: &Path) {
    let chips = discover(scan, sys);
    let names = chip_names(&chips);
    for (chip, name) in chips.iter().zip(names) {
        if scan.stopped() {
            break;
        }
        decode_chip(scan, chip, &name);
    }
}

fn is_hwmon_dir_name(name: &str) -> bool {
    name.strip_prefix("hwmon")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn discover(scan: &mut Scan<'_, '_>, sys: &Path) -> Vec<Chip> {
    let mut found: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut seen = BTreeSet::new();
    let class = sys.join("class").join("hwmon");
    let mut linked = false;
    for (name, kind) in scan.list(&class) {
        let path = class.join(&name);
        match kind {
            EntryKind::Symlink => linked = true,
            EntryKind::Dir => {}
            EntryKind::File | EntryKind::Other => {
                let detail =
                    "a file in class/hwmon, where chips are directories or links: not read";
                scan.reject(&path, Reason::Unreadable, detail, &name);
                continue;
            }
        }
        match scan.resolve(&path) {
            Resolved::Inside(c) if c.is_dir() => {
                if seen.insert(c.clone()) {
                    found.push((path, c));
                }
            }
            Resolved::Inside(c) => {
                let detail = format!(
                    "hwmon link leads to {}, not a directory; not read",
                    c.display()
                );
                scan.reject(&path, Reason::Unreadable, detail, &name);
            }
            Resolved::Outside(c) => {
                let detail = format!(
                    "hwmon link leads outside the tree (to {}); not read",
                    c.display()
                );
                scan.reject(&path, Reason::BadField, detail, &name);
            }
            Resolved::Broken => {
                let detail = "dangling hwmon link or symlink loop; not read";
                scan.reject(&path, Reason::Unreadable, detail, &name);
            }
        }
    }
    // A live sysfs links every chip from class/hwmon; a copy made without symlinks (as
    // node_exporter's fixtures) keeps the chips only under devices/.
    if !linked {
        walk_devices(scan, &sys.join("devices"), &mut found, &mut seen);
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
        .into_iter()
        .map(|(path, canon)| make_chip(scan, path, canon))
        .collect()
}

fn walk_devices(
    scan: &mut Scan<'_, '_>,
    devices: &Path,
    found: &mut Vec<(PathBuf, PathBuf)>,
    seen: &mut BTreeSet<PathBuf>,
) {
    let mut stack = vec![(devices.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        if scan.stopped() {
            break;
        }
        let in_hwmon_class = dir.file_name().is_some_and(|n| n == "hwmon");
        let mut subdirs = Vec::new();
        for (name, kind) in scan.list(&dir) {
            // Real directories only: symlinks (`device`, `subsystem`, `driver`) loop.
            if kind != EntryKind::Dir {
                continue;
            }
            let path = dir.join(&name);
            if in_hwmon_class && is_hwmon_dir_name(&name) {
                if let Resolved::Inside(c) = scan.resolve(&path)
                    && seen.insert(c.clone())
                {
                    found.push((path, c));
                }
            } else if depth < MAX_DEVICE_DEPTH {
                subdirs.push(path);
            }
        }
        stack.extend(subdirs.into_iter().rev().map(|p| (p, depth + 1)));
    }
}

/// Cleans a chip or device name for use before `@` and `/` in a sensor id.
fn clean_part(s: &str) -> String {
    clean(s)
        .replace(['@', '#'], "_")
        .replace(char::is_whitespace, "_")
}

fn make_chip(scan: &mut Scan<'_, '_>, path: PathBuf, canon: PathBuf) -> Chip {
    let mut files = path.clone();
    let mut name = scan.read_aux(&path.join("name"));
    let link = path.join("device");
    let device_dir = match fs::symlink_metadata(&link) {
        Ok(m) if m.file_type().is_symlink() => match scan.resolve(&link) {
            Resolved::Inside(c) if c.is_dir() => Some(c),
            _ => None,
        },
        _ => None,
    };
    // Old drivers keep `name` and the sensor files in the device directory.
    if name.is_none()
        && let Some(d) = &device_dir
        && let Some(n) = scan.read_aux(&d.join("name"))
    {
        name = Some(n);
        files = link;
    }
    let device = device_dir
        .as_deref()
        .and_then(Path::file_name)
        .or_else(|| {
            let parent = canon.parent()?;
            let grand = parent.parent()?;
            let device = grand.file_name()?;
            // `devices/virtual/hwmon/hwmonN` has no device; `class/hwmon/<dir>` is a copy.
            (parent.file_name()? == "hwmon" && device != "virtual" && device != "class")
                .then_some(device)
        })
        .map(|s| clean_part(&s.to_string_lossy()));
    Chip {
        files,
        canon,
        name: name.map(|n| clean_part(&n)).filter(|n| !n.is_empty()),
        device,
    }
}

/// `<name>` when the name is unique in the tree; else `<name>@<device>` when the device tells
/// same-named chips apart; else `<name>@<index among same-named chips>` (in canonical path
/// order). A chip without a `name` file is `unnamed`.
fn chip_names(chips: &[Chip]) -> Vec<String> {
    let base = |c: &Chip| c.name.clone().unwrap_or_else(|| "unnamed".to_string());
    let mut per_name: HashMap<String, usize> = HashMap::new();
    let mut per_device: HashMap<(String, String), usize> = HashMap::new();
    for c in chips {
        *per_name.entry(base(c)).or_default() += 1;
        if let Some(d) = &c.device {
            *per_device.entry((base(c), d.clone())).or_default() += 1;
        }
    }
    let mut index: HashMap<String, usize> = HashMap::new();
    chips
        .iter()
        .map(|c| {
            let b = base(c);
            let i = index.entry(b.clone()).or_default();
            let n = *i;
            *i += 1;
            if per_name[&b] == 1 {
                b
            } else if let Some(d) = c
                .device
                .as_ref()
                .filter(|d| per_device[&(b.clone(), (*d).clone())] == 1)
            {
                format!("{b}@{d}")
            } else {
                format!("{b}@{n}")
            }
        })
        .collect()
}

/// Splits `temp1_input` into `("temp", 1, "input")`.
fn split_attr(file: &str) -> Option<(&str, u64, &str)> {
    let ty_end = file.find(|c: char| !c.is_ascii_lowercase())?;
    let rest = &file[ty_end..];
    let digits_end = rest.find(|c: char| !c.is_ascii_digit())?;
    if ty_end == 0 || digits_end == 0 || digits_end > 9 {
        return None;
    }
    let n = rest[..digits_end].parse().ok()?;
    let attr = rest[digits_end..].strip_prefix('_')?;
    (!attr.is_empty()).then_some((&file[..ty_end], n, attr))
}

#[derive(Debug, Default)]
struct Channel {
    input: bool,
    average: bool,
    label: Option<String>,
    enable: bool,
}

fn decode_chip(scan: &mut Scan<'_, '_>, chip: &Chip, chip_name: &str) {
    let mut channels: BTreeMap<(&'static str, u64), Channel> = BTreeMap::new();
    let mut unmapped = Vec::new();
    for (file, kind) in scan.list(&chip.files) {
        // Value files that are links or FIFOs are read (or quarantined) like files.
        if kind == EntryKind::Dir {
            continue;
        }
        let Some((ty, n, attr)) = split_attr(&file) else {
            continue;
        };
        match TYPES.iter().find(|t| t.0 == ty) {
            Some(t) => {
                let ch = channels.entry((t.0, n)).or_default();
                match attr {
                    "input" => ch.input = true,
                    "average" => ch.average = true,
                    "label" => ch.label = Some(String::new()),
                    "enable" => ch.enable = true,
                    _ => {}
                }
            }
            None if attr == "input" => unmapped.push((ty.to_string(), file.clone())),
            None => {}
        }
    }
    for ((ty, n), ch) in channels.iter_mut() {
        if ch.label.is_some() {
            ch.label = scan
                .read_aux(&chip.files.join(format!("{ty}{n}_label")))
                .map(|l| clean(&l))
                .filter(|l| !l.is_empty());
        }
    }
    let mut label_count: HashMap<(&str, &str), usize> = HashMap::new();
    for ((ty, _), ch) in &channels {
        if let Some(l) = &ch.label {
            *label_count.entry((*ty, l.as_str())).or_default() += 1;
        }
    }
    for ((ty, n), ch) in &channels {
        if scan.stopped() {
            return;
        }
        // One record per channel: the instantaneous `_input`, else the driver's `_average`.
        let file = match (ch.input, ch.average) {
            (true, _) => format!("{ty}{n}_input"),
            (false, true) => format!("{ty}{n}_average"),
            (false, false) => continue,
        };
        let path = chip.files.join(&file);
        let key = match &ch.label {
            Some(l) if label_count[&(*ty, l.as_str())] == 1 => l.clone(),
            Some(l) => format!("{l}#{ty}{n}"),
            None => format!("{ty}{n}"),
        };
        let sensor = format!("{chip_name}/{key}");
        let (_, kind, divisor) = TYPES
            .iter()
            .find(|t| t.0 == *ty)
            .copied()
            .unwrap_or(TYPES[0]);
        let enable = if ch.enable {
            scan.read_aux(&chip.files.join(format!("{ty}{n}_enable")))
        } else {
            None
        };
        if enable.as_deref() == Some("0") {
            let r = scan
                .reading(scan.host.clone(), sensor, kind, f64::NAN)
                .with_quality(Quality::Absent)
                .with_status(format!("{ty}{n}_enable=0"));
            scan.emit(&path, Ok(r));
            continue;
        }
        let text = match scan.read_value(&path) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(q) => {
                scan.emit(&path, Err(q));
                continue;
            }
        };
        let raw = match text.trim().parse::<i64>() {
            Ok(v) => v,
            Err(_) => {
                let q = quarantine(
                    &path,
                    Reason::BadValue,
                    format!("{file} is not an integer"),
                    &text,
                );
                scan.emit(&path, Err(q));
                continue;
            }
        };
        let r = scan.reading(scan.host.clone(), sensor, kind, raw as f64 / divisor);
        if kind == SensorKind::Energy {
            scan.emit_counter(&path, r, None);
        } else {
            scan.emit(&path, Ok(r));
        }
    }
    for (ty, file) in unmapped {
        if scan.stopped() {
            return;
        }
        let detail = format!("hwmon sensor type {ty:?} has no canonical kind");
        scan.reject(
            &chip.files.join(&file),
            Reason::UnmappedSensor,
            detail,
            &file,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chip(name: Option<&str>, device: Option<&str>, canon: &str) -> Chip {
        Chip {
            files: PathBuf::from(canon),
            canon: PathBuf::from(canon),
            name: name.map(String::from),
            device: device.map(String::from),
        }
    }

    #[test]
    fn attribute_file_names_split() {
        assert_eq!(split_attr("temp1_input"), Some(("temp", 1, "input")));
        assert_eq!(split_attr("in0_input"), Some(("in", 0, "input")));
        assert_eq!(
            split_attr("power12_average"),
            Some(("power", 12, "average"))
        );
        assert_eq!(split_attr("fan2_beep"), Some(("fan", 2, "beep")));
        assert_eq!(split_attr("name"), None);
        assert_eq!(split_attr("pwm1"), None);
        assert_eq!(split_attr("temp_input"), None);
        assert_eq!(split_attr("temp1_"), None);
        assert_eq!(split_attr("1_input"), None);
        assert_eq!(split_attr("temp99999999999_input"), None);
        assert!(is_hwmon_dir_name("hwmon10"));
        assert!(!is_hwmon_dir_name("hwmon"));
        assert!(!is_hwmon_dir_name("hwmon_aggregate"));
    }

    #[test]
    fn chip_names_never_use_hwmon_numbers() {
        let chips = [
            chip(
                Some("coretemp"),
                Some("coretemp.0"),
                "/d/platform/coretemp.0/hwmon/hwmon1",
            ),
            chip(
                Some("coretemp"),
                Some("coretemp.1"),
                "/d/platform/coretemp.1/hwmon/hwmon0",
            ),
            chip(
                Some("nct6779"),
                Some("nct6775.656"),
                "/d/platform/nct6775.656/hwmon/hwmon3",
            ),
            chip(Some("ina3221"), None, "/c/hwmon_a"),
            chip(Some("ina3221"), None, "/c/hwmon_b"),
            chip(
                Some("drivetemp"),
                Some("0:0:0:0"),
                "/d/x/0:0:0:0/hwmon/hwmon7",
            ),
            chip(
                Some("drivetemp"),
                Some("0:0:0:0"),
                "/d/y/0:0:0:0/hwmon/hwmon8",
            ),
            chip(None, None, "/c/hwmon9"),
        ];
        assert_eq!(
            chip_names(&chips),
            [
                "coretemp@coretemp.0",
                "coretemp@coretemp.1",
                "nct6779",
                "ina3221@0",
                "ina3221@1",
                "drivetemp@0",
                "drivetemp@1",
                "unnamed"
            ]
        );
        assert_eq!(clean_part(" my chip@x/y "), "my_chip_x_y");
    }
}
