use std::collections::HashMap;

use kelvin_model::{EntityId, MarginalPower, Resources, Workload};
use kelvin_placement::{CPU_EPSILON_CORES, HostState};

pub(crate) const GIB: u64 = 1 << 30;

pub(crate) fn id(s: &str) -> EntityId {
    EntityId::new(s).unwrap()
}

pub(crate) fn host(name: &str, cpu: f64, mem_gib: u64) -> HostState {
    HostState::new(id(name), Resources::new(cpu, mem_gib * GIB))
}

pub(crate) fn pending(name: &str, cpu: f64, memory_bytes: u64) -> Workload {
    Workload {
        id: id(name),
        tenant: "tenant".into(),
        owner: "owner".into(),
        requests: Resources::new(cpu, memory_bytes),
        host: None,
    }
}

/// Watts per requested core, per host; hosts not in the table have no model.
pub(crate) struct PerCore(pub(crate) HashMap<EntityId, f64>);

impl MarginalPower for PerCore {
    fn marginal_power_w(&self, host: &EntityId, added: &Resources) -> Option<f64> {
        self.0.get(host).map(|w| w * added.cpu_cores)
    }
}

/// The FFD size of a request, as documented on `place`.
pub(crate) fn size(req: &Resources, hosts: &[HostState]) -> f64 {
    let max_cpu = hosts
        .iter()
        .map(|h| h.capacity.cpu_cores)
        .fold(0.0, f64::max);
    let max_mem = hosts
        .iter()
        .map(|h| h.capacity.memory_bytes)
        .max()
        .unwrap_or(0) as f64;
    let cpu = if max_cpu > 0.0 {
        req.cpu_cores / max_cpu
    } else {
        0.0
    };
    let mem = if max_mem > 0.0 {
        req.memory_bytes as f64 / max_mem
    } else {
        0.0
    };
    cpu.max(mem)
}

/// Whether `req` fits on `h`, recomputed from the fields (not with `HostState::fits`).
pub(crate) fn fits(h: &HostState, req: &Resources) -> (bool, bool) {
    let cpu = h.used.cpu_cores + req.cpu_cores <= h.capacity.cpu_cores + CPU_EPSILON_CORES;
    let mem = h.used.memory_bytes + req.memory_bytes <= h.capacity.memory_bytes;
    (cpu, mem)
}

/// The smallest number of loaded hosts over every complete placement, or `None` when there is
/// none. Exhaustive: for a handful of workloads and hosts only. Requests and capacities must be
/// exact in binary (whole or half cores) so that no epsilon is needed.
pub(crate) fn brute_force_min_hosts(hosts: &[HostState], workloads: &[Workload]) -> Option<usize> {
    fn go(hosts: &mut [HostState], loaded: &mut [bool], rest: &[Workload]) -> Option<usize> {
        let Some((w, rest)) = rest.split_first() else {
            return Some(loaded.iter().filter(|l| **l).count());
        };
        let mut best: Option<usize> = None;
        for i in 0..hosts.len() {
            let h = &hosts[i];
            if h.used.cpu_cores + w.requests.cpu_cores > h.capacity.cpu_cores
                || h.used.memory_bytes + w.requests.memory_bytes > h.capacity.memory_bytes
            {
                continue;
            }
            let saved = (hosts[i].used, loaded[i]);
            hosts[i].used.cpu_cores += w.requests.cpu_cores;
            hosts[i].used.memory_bytes += w.requests.memory_bytes;
            loaded[i] = true;
            if let Some(n) = go(hosts, loaded, rest) {
                best = Some(best.map_or(n, |b| b.min(n)));
            }
            (hosts[i].used, loaded[i]) = saved;
        }
        best
    }
    let mut hosts = hosts.to_vec();
    let mut loaded: Vec<bool> = hosts
        .iter()
        .map(|h| h.used.cpu_cores > 0.0 || h.used.memory_bytes > 0 || h.used.gpus > 0)
        .collect();
    go(&mut hosts, &mut loaded, workloads)
}
