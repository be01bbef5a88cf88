//! Lower bounds on facility power, so every result reports its gap.

use super::problem::Problem;

/// A lower bound on the facility power of any placement of all the workloads.
///
/// It relaxes the problem twice, and each relaxation can only lower the optimum:
///
/// - **Idle floors.** Every host that can sleep draws at least its sleep power; to hold the
///   demand of dimension `d` the awake hosts' capacities must cover it, so the idle-above-sleep
///   cost is at least the fractional knapsack over hosts sorted by `(idle − sleep) / capacity_d`
///   (the largest over dimensions). Hosts that cannot sleep draw idle anyway.
/// - **Dynamic power.** A curve is never below `idle + s·u` with `s` its
///   [`min_dynamic_slope_w`](super::PowerCurve::min_dynamic_slope_w), so the busy CPU (Σ demand ×
///   utilization) costs at least the fractional knapsack over hosts sorted by `s / capacity`.
/// - **Cooling.** Recirculation only lowers the supply temperature, so cooling is at least
///   `IT / CoP(T)` with `T` the supply temperature the coldest redline allows with no
///   recirculation, within the plant's range.
///
/// Capacity, power caps, rules, pinning and integrality are ignored, so the bound holds for
/// every feasible placement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// IT watts.
    pub it_w: f64,
    /// IT plus cooling watts.
    pub facility_w: f64,
    /// Hosts that must be awake: the continuous bound per dimension over the largest hosts.
    pub hosts: usize,
}

/// Fractional knapsack: the cheapest way to cover `need` with items of (unit cost, size).
fn cover(mut items: Vec<(f64, f64)>, need: f64) -> f64 {
    items.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut left = need;
    let mut cost = 0.0;
    for (unit, size) in items {
        if left <= 0.0 {
            break;
        }
        let take = size.min(left);
        cost += unit * take;
        left -= take;
    }
    cost
}

/// The [`Bound`] of a problem (validate it first; invalid numbers give meaningless bounds).
pub fn lower_bound(p: &Problem) -> Bound {
    let dims = p.dims.len();
    let mut constant = 0.0;
    for h in &p.hosts {
        constant += if h.can_sleep {
            h.sleep_w
        } else {
            h.power.idle_w()
        };
    }
    let mut idle = 0.0f64;
    let mut hosts = 0usize;
    for d in 0..dims {
        let need: f64 = p.tasks.iter().map(|t| t.demand[d]).sum();
        if need <= 0.0 {
            continue;
        }
        let items = p
            .hosts
            .iter()
            .filter(|h| h.capacity[d] > 0.0)
            .map(|h| {
                let floor = if h.can_sleep {
                    h.power.idle_w() - h.sleep_w
                } else {
                    0.0
                };
                (floor / h.capacity[d], h.capacity[d])
            })
            .collect();
        idle = idle.max(cover(items, need));
        let mut caps: Vec<f64> = p.hosts.iter().map(|h| h.capacity[d]).collect();
        caps.sort_by(|a, b| b.total_cmp(a));
        let mut left = need * (1.0 - 1e-9);
        let mut k = 0;
        while left > 0.0 && k < caps.len() {
            left -= caps[k];
            k += 1;
        }
        hosts = hosts.max(k);
    }
    let busy: f64 = p.tasks.iter().map(|t| t.demand[0] * t.utilization).sum();
    let dynamic = cover(
        p.hosts
            .iter()
            .filter(|h| h.capacity[0] > 0.0)
            .map(|h| (h.power.min_dynamic_slope_w() / h.capacity[0], h.capacity[0]))
            .collect(),
        busy,
    );
    let it_w = constant + idle + dynamic;
    let coldest = p
        .racks
        .iter()
        .map(|r| r.redline_c - r.inlet_offset_c)
        .fold(p.cooling.max_supply_c, f64::min)
        .max(p.cooling.min_supply_c);
    Bound {
        it_w,
        facility_w: it_w * (1.0 + 1.0 / p.cooling.cop(coldest)),
        hosts,
    }
}
