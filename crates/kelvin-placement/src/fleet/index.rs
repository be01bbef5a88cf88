//! What never changes while solving one problem: adjacency lists, thresholds and the hosts
//! in order of efficiency, shared (behind an `Arc`) by every state of one solve.

use super::problem::Problem;

/// What never changes while solving one problem: adjacency lists and thresholds.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    pub(crate) dims: usize,
    /// Standard-normal quantile of the cap percentile.
    pub(crate) z: f64,
    pub(crate) host_domains: Vec<Vec<u32>>,
    pub(crate) task_rules: Vec<Vec<u32>>,
    /// `redline − offset − min supply` per rack: the recirculated rise each rack tolerates.
    pub(crate) thermal_budget_c: Vec<f64>,
    /// `redline − offset` per rack (the supply temperature is at most this minus the rise).
    pub(crate) supply_room_c: Vec<f64>,
    /// Column-major copy of the recirculation matrix: `col[j·R + i]` = rise of `i` per kW in
    /// `j`; empty without recirculation.
    pub(crate) recirc_col: Vec<f64>,
    /// Largest coefficient of each column of the recirculation matrix.
    pub(crate) recirc_col_max: Vec<f64>,
    /// Hosts, most efficient first (full-load watts per unit of dimension-0 capacity), ties
    /// interleaved across racks.
    pub(crate) efficient_hosts: Vec<u32>,
    /// Position of each host in `efficient_hosts`.
    pub(crate) efficient_pos: Vec<u32>,
    /// Per dimension, the smallest non-zero demand of any task (a host with less free is
    /// closed to new work).
    pub(crate) min_demand: Vec<f64>,
}

impl Index {
    pub(crate) fn new(p: &Problem) -> Index {
        let normal = statrs::distribution::Normal::standard();
        let z = statrs::distribution::ContinuousCDF::inverse_cdf(&normal, p.cap_percentile);
        let mut host_domains = vec![Vec::new(); p.hosts.len()];
        for (k, d) in p.domains.iter().enumerate() {
            for &h in &d.hosts {
                if !host_domains[h].contains(&(k as u32)) {
                    host_domains[h].push(k as u32);
                }
            }
        }
        let mut task_rules = vec![Vec::new(); p.tasks.len()];
        for (k, r) in p.rules.iter().enumerate() {
            for &t in &r.tasks {
                if !task_rules[t].contains(&(k as u32)) {
                    task_rules[t].push(k as u32);
                }
            }
        }
        let n_racks = p.racks.len();
        let mut recirc_col = Vec::new();
        if !p.recirculation.is_empty() {
            recirc_col = vec![0.0; n_racks * n_racks];
            for i in 0..n_racks {
                for j in 0..n_racks {
                    recirc_col[j * n_racks + i] = p.recirculation[i * n_racks + j];
                }
            }
        }
        let recirc_col_max = if recirc_col.is_empty() {
            Vec::new()
        } else {
            recirc_col
                .chunks(n_racks)
                .map(|c| c.iter().copied().fold(0.0, f64::max))
                .collect()
        };
        let mut in_rack = vec![0u32; n_racks];
        let slot: Vec<u32> = p
            .hosts
            .iter()
            .map(|h| {
                in_rack[h.rack] += 1;
                in_rack[h.rack] - 1
            })
            .collect();
        let eff = |h: usize| {
            let host = &p.hosts[h];
            host.power.max_w() / host.capacity[0].max(1e-12)
        };
        let mut efficient_hosts: Vec<u32> = (0..p.hosts.len() as u32).collect();
        efficient_hosts.sort_by(|a, b| {
            let (a, b) = (*a as usize, *b as usize);
            eff(a)
                .total_cmp(&eff(b))
                .then(slot[a].cmp(&slot[b]))
                .then(p.hosts[a].rack.cmp(&p.hosts[b].rack))
                .then(a.cmp(&b))
        });
        let mut efficient_pos = vec![0u32; p.hosts.len()];
        for (i, h) in efficient_hosts.iter().enumerate() {
            efficient_pos[*h as usize] = i as u32;
        }
        let min_demand = (0..p.dims.len())
            .map(|d| {
                p.tasks
                    .iter()
                    .map(|t| t.demand[d])
                    .filter(|v| *v > 0.0)
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        Index {
            dims: p.dims.len(),
            z,
            host_domains,
            task_rules,
            thermal_budget_c: p
                .racks
                .iter()
                .map(|r| r.redline_c - r.inlet_offset_c - p.cooling.min_supply_c)
                .collect(),
            supply_room_c: p
                .racks
                .iter()
                .map(|r| r.redline_c - r.inlet_offset_c)
                .collect(),
            recirc_col,
            recirc_col_max,
            efficient_hosts,
            efficient_pos,
            min_demand,
        }
    }
}
