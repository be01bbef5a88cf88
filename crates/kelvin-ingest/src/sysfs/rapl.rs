//! powercap RAPL zones: `class/powercap/intel-rapl:N[:M]` and `intel-rapl-mmio:N[:M]`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kelvin_model::SensorKind;

use super::walk::{EntryKind, Resolved, Scan, clean, quarantine};
use crate::Reason;

const MSR: &str = "intel-rapl:";
const MMIO: &str = "intel-rapl-mmio:";

struct Zone {
    mmio: bool,
    ids: Vec<u32>,
    dir: PathBuf,
    dir_name: String,
}

/// `"0"` → `[0]`, `"0:1"` → `[0, 1]`; anything else is not a zone id.
fn parse_ids(id: &str) -> Option<Vec<u32>> {
    let ids: Vec<u32> = id
        .split(':')
        .map(|p| {
            if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                p.parse().ok()
            }
        })
        .collect::<Option<_>>()?;
    (1..=2).contains(&ids.len()).then_some(ids)
}

/// Decodes every RAPL zone under the sysfs root `sys`.
pub(crate) fn scan(scan: &mut Scan<'_, '_>, sys: &Path) {
    let class = sys.join("class").join("powercap");
    let mut zones = Vec::new();
    for (name, kind) in scan.list(&class) {
        let (mmio, id) = if let Some(id) = name.strip_prefix(MMIO) {
            (true, id)
        } else if let Some(id) = name.strip_prefix(MSR) {
            (false, id)
        } else {
            continue; // control types (`intel-rapl`, `dtpm`) hold no energy
        };
        let dir = class.join(&name);
        if !matches!(kind, EntryKind::Dir | EntryKind::Symlink) {
            let detail = "a RAPL zone that is not a directory or link: not read";
            scan.reject(&dir, Reason::Unreadable, detail, &name);
            continue;
        }
        match scan.resolve(&dir) {
            Resolved::Inside(c) if c.is_dir() => {}
            Resolved::Inside(c) => {
                let detail = format!(
                    "powercap link leads to {}, not a directory; not read",
                    c.display()
                );
                scan.reject(&dir, Reason::Unreadable, detail, &name);
                continue;
            }
            Resolved::Outside(c) => {
                let detail = format!(
                    "powercap link leads outside the tree (to {}); not read",
                    c.display()
                );
                scan.reject(&dir, Reason::BadField, detail, &name);
                continue;
            }
            Resolved::Broken => {
                let detail = "dangling powercap link or symlink loop; not read";
                scan.reject(&dir, Reason::Unreadable, detail, &name);
                continue;
            }
        }
        match parse_ids(id) {
            Some(ids) => zones.push(Zone {
                mmio,
                ids,
                dir,
                dir_name: name,
            }),
            None => {
                let detail = format!("powercap zone {name:?} is not intel-rapl[-mmio]:N[:M]");
                scan.reject(&dir.join("energy_uj"), Reason::BadField, detail, &name);
            }
        }
    }
    // MSR zones first, so that the MMIO copies can be recognized as duplicates.
    zones.sort_by(|a, b| (a.mmio, &a.ids).cmp(&(b.mmio, &b.ids)));
    let names: HashMap<(bool, Vec<u32>), String> = zones
        .iter()
        .map(|z| {
            let name = scan
                .read_aux(&z.dir.join("name"))
                .map(|n| clean(&n))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| z.dir_name.clone());
            ((z.mmio, z.ids.clone()), name)
        })
        .collect();
    let mut msr_kept: HashMap<String, String> = HashMap::new();
    for z in &zones {
        if scan.stopped() {
            break;
        }
        let name = &names[&(z.mmio, z.ids.clone())];
        let sensor = if z.ids.len() == 1 {
            format!("rapl/{name}")
        } else {
            let parent = names
                .get(&(z.mmio, vec![z.ids[0]]))
                .cloned()
                .unwrap_or_else(|| format!("{}{}", if z.mmio { MMIO } else { MSR }, z.ids[0]));
            format!("rapl/{parent}/{name}")
        };
        let path = z.dir.join("energy_uj");
        let read = scan.read_value(&path);
        if z.mmio
            && let Some(msr) = msr_kept.get(&sensor)
        {
            if matches!(read, Ok(None)) {
                continue;
            }
            let excerpt = read
                .as_ref()
                .ok()
                .and_then(|t| t.as_deref())
                .map(|t| t.trim().to_string())
                .unwrap_or_default();
            let detail = format!(
                "{} repeats the energy of {msr} ({sensor}) through MMIO; the MSR zone is kept",
                z.dir_name
            );
            scan.reject(&path, Reason::Duplicate, detail, &excerpt);
            continue;
        }
        let text = match read {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(q) => {
                scan.emit(&path, Err(q));
                continue;
            }
        };
        let Ok(raw) = text.trim().parse::<u64>() else {
            let q = quarantine(
                &path,
                Reason::BadValue,
                "energy_uj is not a non-negative integer",
                &text,
            );
            scan.emit(&path, Err(q));
            continue;
        };
        let range = scan
            .read_aux(&z.dir.join("max_energy_range_uj"))
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&r| r > 0);
        if let Some(r) = range
            && raw > r
        {
            let detail = format!("energy_uj {raw} exceeds max_energy_range_uj {r}");
            scan.emit(
                &path,
                Err(quarantine(&path, Reason::BadValue, detail, &text)),
            );
            continue;
        }
        let host = scan.host.clone();
        let r = scan.reading(host, sensor.clone(), SensorKind::Energy, raw as f64 / 1e6);
        scan.emit_counter(&path, r, range.map(|r| r as f64 / 1e6));
        if !z.mmio {
            msr_kept.insert(sensor, z.dir_name.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_parse() {
        assert_eq!(parse_ids("0"), Some(vec![0]));
        assert_eq!(parse_ids("1:2"), Some(vec![1, 2]));
        assert_eq!(parse_ids("a"), None);
        assert_eq!(parse_ids(""), None);
        assert_eq!(parse_ids("0:"), None);
        assert_eq!(parse_ids("0:1:2"), None);
        assert_eq!(parse_ids("-1"), None);
        assert_eq!(parse_ids("99999999999"), None);
    }
}
