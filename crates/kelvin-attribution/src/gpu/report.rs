//! What the GPU method returns: one ledger per phase, the floor and the signatures, and what
//! can be read off them (the CSV, facility shares, the check against work done).

use std::collections::BTreeMap;

use crate::AttributionError;
use crate::facility::{FacilityInputs, FacilityShare, apportion};
use crate::ledger::{Account, Ledger};
use crate::power::{IdleFloor, Resource, ResourceModel};

/// One settled phase.
#[derive(Debug, Clone)]
pub struct GpuPhaseSheet {
    /// The phase.
    pub phase: String,
    /// Its ledger (one meter: the device; workload lines by workload name).
    pub ledger: Ledger,
}

/// The attribution of a whole recording.
#[derive(Debug, Clone)]
pub struct GpuAttribution {
    /// Workload names, in the input's order (`A`, `B`, `C`).
    pub workloads: Vec<String>,
    /// One sheet per phase, in the input's order.
    pub phases: Vec<GpuPhaseSheet>,
    /// The calibrated idle floor on the whole-recording grid.
    pub floor: IdleFloor,
    /// The fitted model: columns are (workload, resource) pairs in `columns` order.
    pub model: ResourceModel,
    /// The model's columns.
    pub columns: Vec<(String, Resource)>,
}

/// One row of [`GpuAttribution::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct GpuCheck {
    /// The shared phase.
    pub phase: String,
    /// The workload.
    pub workload: String,
    /// Dynamic energy attributed to it, joules.
    pub attributed_j: f64,
    /// Dynamic energy its exclusive run's energy per unit of work predicts for the work it
    /// did here, scaled so the phase's predictions sum to the attributed dynamic energy.
    pub predicted_j: f64,
}

impl GpuCheck {
    /// `attributed / predicted − 1`.
    pub fn error(&self) -> f64 {
        self.attributed_j / self.predicted_j - 1.0
    }
}

/// The mean absolute error of the workloads' shares of each shared phase's dynamic energy:
/// per phase, each workload's attributed share against its predicted share (the checks of
/// [`GpuAttribution::validate`]), averaged over all rows; 0 for no rows.
///
/// ```
/// use kelvin_attribution::gpu::{GpuCheck, share_mae};
///
/// let row = |w: &str, a: f64, p: f64| GpuCheck {
///     phase: "AB".into(), workload: w.into(), attributed_j: a, predicted_j: p,
/// };
/// // A gets 60 % where 50 % was predicted, B 40 %: 0.1 off each.
/// let mae = share_mae(&[row("A", 60.0, 50.0), row("B", 40.0, 50.0)]);
/// assert!((mae - 0.1).abs() < 1e-12);
/// ```
pub fn share_mae(checks: &[GpuCheck]) -> f64 {
    let mut totals: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for c in checks {
        let t = totals.entry(c.phase.as_str()).or_default();
        t.0 += c.attributed_j;
        t.1 += c.predicted_j;
    }
    let err: f64 = checks
        .iter()
        .map(|c| {
            let (a, p) = totals[c.phase.as_str()];
            let share = |x: f64, total: f64| if total > 0.0 { x / total } else { 0.0 };
            (share(c.attributed_j, a) - share(c.predicted_j, p)).abs()
        })
        .sum();
    if checks.is_empty() {
        0.0
    } else {
        err / checks.len() as f64
    }
}

impl GpuAttribution {
    /// The CSV the `gpu_attribution` example prints: header `phase,account,energy_j,lo_j,hi_j`,
    /// then per phase one row per workload and one per named account (`idle`, `system`,
    /// `unexplained`); energies in joules with six decimals (exact µJ), so each phase's rows
    /// sum to its measured energy exactly.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("phase,account,energy_j,lo_j,hi_j\n");
        let j = |uj: u64| format!("{}.{:06}", uj / 1_000_000, uj % 1_000_000);
        for p in &self.phases {
            let sheet = &p.ledger.meters[0];
            let workloads = self.workloads.iter().enumerate().map(|(w, name)| {
                let a = sheet
                    .lines
                    .iter()
                    .find(|l| l.workload == w)
                    .map(|l| l.energy)
                    .unwrap_or_default();
                (name.as_str(), a)
            });
            let accounts = Account::ALL
                .iter()
                .map(|acc| (acc.name(), sheet.account(*acc)));
            for (name, a) in workloads.chain(accounts) {
                out.push_str(&format!(
                    "{},{},{},{},{}\n",
                    p.phase,
                    name,
                    j(a.uj),
                    j(a.lo_uj),
                    j(a.hi_uj)
                ));
            }
        }
        out
    }

    /// Facility overhead, carbon and cost of every workload and named account over the whole
    /// recording: each phase's per-interval split is apportioned with [`apportion`] (overhead
    /// split by IT share, exact per interval) and the phases are summed. Rows: the workloads,
    /// then the accounts, with their names.
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`] for invalid facility series (a PUE
    /// below 1, negative prices).
    pub fn facility(
        &self,
        inputs: &FacilityInputs,
    ) -> Result<Vec<(String, FacilityShare)>, AttributionError> {
        let mut rows: Vec<(String, FacilityShare)> = self
            .workloads
            .iter()
            .cloned()
            .chain(Account::ALL.iter().map(|a| a.name().to_string()))
            .map(|n| {
                (
                    n,
                    FacilityShare {
                        it_uj: 0,
                        overhead_uj: 0,
                        co2e_g: 0.0,
                        cost: 0.0,
                    },
                )
            })
            .collect();
        for p in &self.phases {
            let sheet = &p.ledger.meters[0];
            let Some(matrix) = sheet.per_interval.as_ref() else {
                continue;
            };
            let bill = apportion(
                p.ledger.window.start(),
                p.ledger.window.len_nanos() / matrix.nrows().max(1) as i64,
                matrix.view(),
                inputs,
            )?;
            // Columns: the sheet's lines (by workload), then the accounts.
            let cols = sheet
                .lines
                .iter()
                .map(|l| l.workload)
                .chain((0..Account::ALL.len()).map(|a| self.workloads.len() + a));
            for (share, row) in bill.accounts.iter().zip(cols) {
                let r = &mut rows[row].1;
                r.it_uj += share.it_uj;
                r.overhead_uj += share.overhead_uj;
                r.co2e_g += share.co2e_g;
                r.cost += share.cost;
            }
        }
        Ok(rows)
    }

    /// The measured energy of a phase, µJ.
    pub fn measured_uj(&self, phase: &str) -> Option<u64> {
        self.phases
            .iter()
            .find(|p| p.phase == phase)
            .map(|p| p.ledger.meters[0].measured.uj)
    }

    /// Checks the shared phases against exclusive runs: for each workload in a phase named by
    /// two or more workload letters (`AB`, `ABC`), the dynamic energy attributed to it
    /// against what its solo phase's dynamic energy per unit of work predicts for the work it
    /// did, scaled so the phase's predictions sum to the dynamic energy attributed. `work`
    /// is the work done per run label (`A_soloA`, `A_AB` → iterations).
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`] naming the phase when a solo phase or a
    /// work count is missing.
    pub fn validate(
        &self,
        work: &BTreeMap<String, u64>,
    ) -> Result<Vec<GpuCheck>, AttributionError> {
        let dynamic = |phase: &str, w: usize| -> Option<f64> {
            let p = self.phases.iter().find(|p| p.phase == phase)?;
            let l = p.ledger.meters[0].lines.iter().find(|l| l.workload == w)?;
            Some(l.dynamic_uj as f64 / 1e6)
        };
        let missing = |phase: &str, what: &str| {
            AttributionError::invalid(format!("phase {phase}"), format!("no {what}"))
        };
        let mut out = Vec::new();
        for p in &self.phases {
            let members: Vec<usize> = p
                .phase
                .chars()
                .filter_map(|c| self.workloads.iter().position(|w| w == &c.to_string()))
                .collect();
            if members.len() < 2 || members.len() != p.phase.chars().count() {
                continue;
            }
            let mut pred = Vec::new();
            for &w in &members {
                let name = &self.workloads[w];
                let solo = format!("solo{name}");
                let solo_dyn =
                    dynamic(&solo, w).ok_or_else(|| missing(&solo, "solo-phase energy"))?;
                let solo_work = *work
                    .get(&format!("{name}_{solo}"))
                    .ok_or_else(|| missing(&solo, "solo-phase work"))?
                    as f64;
                let shared = *work
                    .get(&format!("{name}_{}", p.phase))
                    .ok_or_else(|| missing(&p.phase, "shared-phase work"))?
                    as f64;
                pred.push(solo_dyn / solo_work * shared);
            }
            let att: Vec<f64> = members
                .iter()
                .map(|&w| dynamic(&p.phase, w).unwrap_or(0.0))
                .collect();
            let scale = att.iter().sum::<f64>() / pred.iter().sum::<f64>();
            for (k, &w) in members.iter().enumerate() {
                out.push(GpuCheck {
                    phase: p.phase.clone(),
                    workload: self.workloads[w].clone(),
                    attributed_j: att[k],
                    predicted_j: pred[k] * scale,
                });
            }
        }
        Ok(out)
    }
}
