//! The report as JSON: [`ReplayReport::to_json`].

use kelvin_attribution::Account;
use serde_json::{Value, json};

use crate::{ReplayReport, j};

/// Serializes microjoules as joules.
pub(super) fn joules<S: serde::Serializer>(uj: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(j(*uj))
}

impl ReplayReport {
    /// The report as JSON: every figure of the text report, machine-readable (energies in
    /// joules, powers in watts, temperatures in °C; `null` where a value is unknown).
    pub fn to_json(&self) -> Value {
        let (r, bill) = (self, &self.bill);
        let workloads: Vec<Value> = r
            .workloads
            .iter()
            .map(|w| {
                let t = w.truth.as_ref();
                json!({
                    "workload": w.workload,
                    "tenant": w.tenant,
                    "host": w.host,
                    "energy_j": w.energy_j(),
                    "static_j": j(w.static_uj),
                    "dynamic_j": j(w.dynamic_uj),
                    "lo_j": j(w.lo_uj),
                    "hi_j": j(w.hi_uj),
                    "share_of_host": w.share_of_host,
                    "truth_cpu_share_j": t.and_then(|t| t.cpu_share_j),
                    "truth_two_part_j": t.map(|t| t.energy_j),
                    "measurement_error": w.measurement_error(),
                    "policy_gap": w.policy_gap(),
                })
            })
            .collect();
        let hosts: Vec<Value> = bill
            .meters
            .iter()
            .map(|h| {
                json!({
                    "host": h.meter,
                    "measured_j": j(h.measured.uj),
                    "floor_j": j(h.floor_uj),
                    "attributed_j": j(h.attributed_uj()),
                    "unattributed_j": j(h.unattributed_uj()),
                    "idle_j": j(h.account(Account::Idle).uj),
                    "system_j": j(h.account(Account::System).uj),
                    "unexplained_j": j(h.account(Account::Unexplained).uj),
                    "balanced": h.is_balanced(),
                    "intervals": h.intervals,
                    "unmeasured_intervals": h.unmeasured_intervals,
                    "truth_j": r.host_truth_j.get(&h.meter),
                    "meter_error": r.host_error(h),
                })
            })
            .collect();
        let by_reason: serde_json::Map<String, Value> = r
            .ingest
            .by_reason
            .iter()
            .map(|(reason, n)| {
                let ex = r.quarantine_examples.get(reason);
                let example = json!({
                    "count": n,
                    "example_place": ex.map(|q| q.place.to_string()),
                    "example_detail": ex.map(|q| q.detail.to_string()),
                });
                (reason.to_string(), example)
            })
            .collect();
        let assignments: Vec<Value> = r.plan.assignments.iter()
            .map(|a| json!({"workload": a.workload, "host": a.host, "marginal_power_w": a.score.marginal_power_w}))
            .collect();
        let recommendation = r.recommendation.as_ref().map(|rec| {
            let mut v = json!(rec);
            v["saving_w"] = json!(rec.saving_w());
            v
        });
        let (m, a, u) = (
            bill.measured_uj(),
            bill.attributed_uj(),
            bill.unattributed_uj(),
        );
        json!({
            "dataset": r.dataset,
            "window": {
                "start": r.window.start().to_rfc3339(),
                "end": r.window.end().to_rfc3339(),
                "interval_s": r.interval_s,
            },
            "hosts": r.hosts,
            "policy": {
                "name": bill.policy,
                "description": r.policy_description,
                "measurement_error_against": "truth_two_part_j",
                "policy_gap_against": "truth_cpu_share_j",
            },
            "ingest": {
                "seen": r.ingest.seen,
                "accepted": r.ingest.accepted,
                "quarantined": r.ingest.quarantined,
                "by_reason": by_reason,
                "counter_resets": r.counter_resets,
            },
            "balance": {
                "measured_j": j(m),
                "attributed_j": j(a),
                "unattributed_j": j(u),
                "idle_j": j(bill.account_total_uj(Account::Idle)),
                "system_j": j(bill.account_total_uj(Account::System)),
                "unexplained_j": j(bill.account_total_uj(Account::Unexplained)),
                "conserved": m == a + u,
                "hosts": hosts,
            },
            "workloads": workloads,
            "tenants": r.tenants,
            "racks": r.racks,
            "facility": r.facility,
            "thermal": {"redline_c": r.redline_c, "hosts": r.hot_spots},
            "placement": {
                "assignments": assignments,
                "unplaced": r.plan.unplaced.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
            },
            "recommendation": recommendation,
        })
    }
}
