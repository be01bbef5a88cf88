//! What the engine knows, as metric families and JSON: the energy counters (kept monotonic
//! across restatements and restarts), the last closed interval's power with its 95 % bounds,
//! and the bills of a window.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kelvin::FacilityTotals;
use kelvin::attribution::ledger::{BookTotals, ClosedInterval};
use serde_json::{Value, json};

use crate::exposition::Family;

const UJ: f64 = 1e6;

/// Where each meter and workload belongs: a meter's host, a workload's tenant (the fleet
/// export's, so `/metrics` and the exported bills name them alike).
pub use kelvin::export::Names;

/// The energy counters of a book, in joules: per host, per workload on a host, per account on
/// a host; with facility totals when the engine computes them.
pub fn energy_families(t: &BookTotals, f: &FacilityTotals, names: &Names) -> Vec<Family> {
    let mut host = Family::counter(
        "kelvin_host_energy_joules",
        "Energy measured at each host's chosen meter.",
        Some("joules"),
    );
    let mut per_host: BTreeMap<&str, i128> = BTreeMap::new();
    for (m, uj) in &t.meters {
        *per_host.entry(names.host(m)).or_default() += uj;
    }
    for (h, uj) in &per_host {
        host.push(&[("host", h)], *uj as f64 / UJ);
    }
    let mut wl = Family::counter(
        "kelvin_workload_energy_joules",
        "Energy attributed to each workload on each host.",
        Some("joules"),
    );
    let mut per_wh: BTreeMap<(&str, &str), i128> = BTreeMap::new();
    for ((m, w), uj) in &t.meter_workloads {
        *per_wh.entry((&**w, names.host(m))).or_default() += uj;
    }
    for ((w, h), uj) in &per_wh {
        wl.push(
            &[("workload", w), ("tenant", names.tenant(w)), ("host", h)],
            *uj as f64 / UJ,
        );
    }
    let mut acc = Family::counter(
        "kelvin_account_energy_joules",
        "Energy of each host billed to no workload: idle, system, unexplained.",
        Some("joules"),
    );
    let mut per_acc: BTreeMap<(&str, &str), i128> = BTreeMap::new();
    for ((m, a), uj) in &t.accounts {
        *per_acc.entry((names.host(m), a.name())).or_default() += uj;
    }
    for ((h, a), uj) in &per_acc {
        acc.push(&[("host", h), ("account", a)], *uj as f64 / UJ);
    }
    let mut out = vec![host, wl, acc];
    if !f.overhead_uj.is_empty() || !f.carbon_ug.is_empty() {
        out.extend(facility_families(f, names));
    }
    out
}

fn facility_families(f: &FacilityTotals, names: &Names) -> Vec<Family> {
    let mut oh = Family::counter(
        "kelvin_workload_facility_overhead_joules",
        "Facility overhead (cooling, power conversion; PUE − 1) attributed to each workload.",
        Some("joules"),
    );
    let mut co = Family::counter(
        "kelvin_workload_carbon_grams",
        "Carbon (CO2e) of each workload's energy with its facility overhead.",
        Some("grams"),
    );
    let mut total_oh = Family::counter(
        "kelvin_facility_overhead_joules",
        "Facility overhead of all the energy billed.",
        Some("joules"),
    );
    let mut total_co = Family::counter(
        "kelvin_carbon_grams",
        "Carbon (CO2e) of all the energy billed, with its facility overhead.",
        Some("grams"),
    );
    for (w, uj) in &f.overhead_uj {
        oh.push(
            &[("workload", w), ("tenant", names.tenant(w))],
            *uj as f64 / UJ,
        );
    }
    for (w, ug) in &f.carbon_ug {
        co.push(
            &[("workload", w), ("tenant", names.tenant(w))],
            *ug as f64 / UJ,
        );
    }
    total_oh.push(&[], f.overhead_uj.values().sum::<i128>() as f64 / UJ);
    total_co.push(&[], f.carbon_ug.values().sum::<i128>() as f64 / UJ);
    vec![oh, co, total_oh, total_co]
}

/// The last closed interval's power, watts, with the 95 % bounds of each figure.
pub fn power_families(c: Option<&ClosedInterval>, interval_s: f64, names: &Names) -> Vec<Family> {
    let gauge = |name: &str, help: &'static str| Family::gauge(name, help, Some("watts"));
    let mut fams = [
        gauge(
            "kelvin_host_power_watts",
            "Power measured at each host over the last closed interval.",
        ),
        gauge(
            "kelvin_host_power_lower_watts",
            "Lower 95 % bound of kelvin_host_power_watts.",
        ),
        gauge(
            "kelvin_host_power_upper_watts",
            "Upper 95 % bound of kelvin_host_power_watts.",
        ),
        gauge(
            "kelvin_workload_power_watts",
            "Power attributed to each workload over the last closed interval.",
        ),
        gauge(
            "kelvin_workload_power_lower_watts",
            "Lower 95 % bound of kelvin_workload_power_watts.",
        ),
        gauge(
            "kelvin_workload_power_upper_watts",
            "Upper 95 % bound of kelvin_workload_power_watts.",
        ),
        gauge(
            "kelvin_account_power_watts",
            "Power of each host billed to no workload over the last closed interval.",
        ),
    ];
    let Some(c) = c else {
        return fams.into();
    };
    let w = |uj: u64| uj as f64 / UJ / interval_s;
    for s in &c.sheets {
        let h = names.host(&s.meter);
        let m = &s.measured;
        fams[0].push(&[("host", h)], w(m.uj));
        fams[1].push(&[("host", h)], w(m.lo_uj));
        fams[2].push(&[("host", h)], w(m.hi_uj));
        for (wl, a) in &s.lines {
            let labels = [
                ("workload", &**wl),
                ("tenant", names.tenant(wl)),
                ("host", h),
            ];
            fams[3].push(&labels, w(a.uj));
            fams[4].push(&labels, w(a.lo_uj));
            fams[5].push(&labels, w(a.hi_uj));
        }
        for (acc, a) in kelvin::attribution::ledger::Account::ALL
            .iter()
            .zip(&s.accounts)
        {
            fams[6].push(&[("host", h), ("account", acc.name())], w(a.uj));
        }
    }
    fams.into()
}

/// Counters that never go down: a restatement that moves energy off a series holds the
/// series at its highest value until the book catches up. The held values are kept in a file,
/// so a restart resumes them; values the book itself reaches need no file (the book is
/// durable and acknowledged before any value is shown).
#[derive(Debug)]
pub struct Monotone {
    path: PathBuf,
    held: BTreeMap<String, f64>,
    high: HashMap<String, f64>,
}

impl Monotone {
    /// Opens the held values at `path` (none when the file is missing or unreadable).
    pub fn open(path: &Path) -> Monotone {
        let held: BTreeMap<String, f64> = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let high = held.iter().map(|(k, v)| (k.clone(), *v)).collect();
        Monotone {
            path: path.to_path_buf(),
            held,
            high,
        }
    }

    /// Raises every counter sample of `families` to its highest value so far; saves the held
    /// set when it changed (families not given keep their holds).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn apply(&mut self, families: &mut [Family]) -> std::io::Result<()> {
        let mut changed = false;
        for f in families.iter_mut() {
            for (labels, v) in &mut f.samples {
                let mut key = f.name.clone();
                for (k, val) in labels.iter() {
                    key.push('\u{1f}');
                    key.push_str(k);
                    key.push('=');
                    key.push_str(val);
                }
                let hi = self.high.entry(key.clone()).or_insert(*v);
                if *v >= *hi {
                    *hi = *v;
                    changed |= self.held.remove(&key).is_some();
                } else {
                    *v = *hi;
                    changed |= self.held.insert(key, *hi) != Some(*hi);
                }
            }
        }
        if changed {
            let tmp = self.path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec(&self.held).unwrap_or_default())?;
            std::fs::rename(&tmp, &self.path)?;
        }
        Ok(())
    }
}

/// A window's bills as the API returns them.
pub fn bills_json(t: &BookTotals, names: &Names, from: &str, to: &str) -> Value {
    let j = |uj: i128| uj as f64 / UJ;
    let fams = energy_families(t, &FacilityTotals::default(), names);
    let rows = |f: &Family, keys: &[&str]| -> Vec<Value> {
        f.samples
            .iter()
            .map(|(labels, v)| {
                let mut o = serde_json::Map::new();
                for k in keys {
                    let val = labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                    o.insert((*k).into(), Value::from(val.unwrap_or_default()));
                }
                o.insert("energy_joules".into(), Value::from(*v));
                Value::Object(o)
            })
            .collect()
    };
    json!({
        "from": from,
        "to": to,
        "intervals": t.intervals,
        "restatements": t.restatements,
        "measured_joules": j(t.measured_uj),
        "attributed_joules": j(t.attributed_uj),
        "unattributed_joules": j(t.unattributed_uj),
        "conserved": t.is_balanced(),
        "hosts": rows(&fams[0], &["host"]),
        "workloads": rows(&fams[1], &["workload", "tenant", "host"]),
        "accounts": rows(&fams[2], &["host", "account"]),
    })
}

/// A shared, cheaply cloned view.
pub type Shared<T> = Arc<std::sync::RwLock<Arc<T>>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_moved_down_by_a_restatement_holds_and_the_hold_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("kelvin-monotone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("held.json");
        let fam = |v: f64| {
            let mut f = Family::counter("kelvin_workload_energy_joules", "x", None);
            f.push(&[("workload", "a")], v);
            vec![f]
        };
        let mut m = Monotone::open(&path);
        let mut f = fam(10.0);
        m.apply(&mut f).unwrap();
        assert_eq!(f[0].samples[0].1, 10.0);
        let mut f = fam(9.0);
        m.apply(&mut f).unwrap();
        assert_eq!(f[0].samples[0].1, 10.0, "held at its highest");
        // Another call with other families keeps the hold.
        let mut other = vec![Family::counter("kelvin_readings_accepted", "x", None)];
        other[0].push(&[], 5.0);
        m.apply(&mut other).unwrap();
        let mut again = Monotone::open(&path);
        let mut f = fam(9.5);
        again.apply(&mut f).unwrap();
        assert_eq!(f[0].samples[0].1, 10.0, "the hold survives a restart");
        let mut f = fam(11.0);
        again.apply(&mut f).unwrap();
        assert_eq!(f[0].samples[0].1, 11.0);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
