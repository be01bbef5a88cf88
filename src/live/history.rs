//! What floor calibration needs of each closed interval, kept instead of the raw readings:
//! per meter its measured energy and its activity (busy cores for a host, SM-active seconds
//! for a GPU). Calibrating every 15 min on 6 h of closed intervals then reads a few numbers
//! per meter and interval, not 6 h of the store, and the store keeps in memory only what
//! closing and restating read.
//!
//! The rows an engine records interval by interval as it closes and the rows a reopened
//! engine rebuilds from its store in one read are equal to the bit: the store's kernels give
//! an interval's value from the samples around it alone, wherever the read began (a rounding
//! here could not make them agree: values that differ in the last bit can round apart). They
//! are kept as `f32` (seven significant digits, plenty for a floor fit), and the meter order
//! of an interval is shared with the intervals recorded beside it: 12 bytes per meter and
//! interval (energy, activity, RAPL energy),
//! so that six hours of a 1,000-host site hold about 5 MB, not the 10 MB of full rows, and
//! the engine's memory after its first hour is close to its memory at the end of the day.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kelvin_attribution::{AlignedInput, HostSeries, busy_cores};
use kelvin_model::{EntityId, Timestamp};

use super::chunk::Chunk;

/// One interval: the meters in row order (shared between intervals), and per row the
/// meter's energy (J), its activity and its RAPL energy (J; NaN without RAPL).
type Rows = (Arc<[u32]>, Box<[[f32; 3]]>);

/// The closed intervals' rows, by interval start.
#[derive(Debug, Default)]
pub(crate) struct FloorHistory {
    /// Every meter seen: its id, its cores and, for a GPU, its host's wall meter.
    meters: Vec<(EntityId, f64, Option<u32>)>,
    index: HashMap<EntityId, u32>,
    rows: BTreeMap<i64, Rows>,
    /// The meter order recorded last, shared by the intervals that have it.
    layout: Option<Arc<[u32]>>,
}

impl FloorHistory {
    fn meter(&mut self, id: &EntityId, cores: f64) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.meters.len() as u32;
        self.meters.push((id.clone(), cores, None));
        self.index.insert(id.clone(), i);
        i
    }

    /// Records (or replaces) the rows of every interval of `chunk`.
    pub(crate) fn record_all(&mut self, chunk: &Chunk) {
        let input = &chunk.input;
        let mut ids = Vec::with_capacity(input.hosts.len());
        for (m, h) in input.hosts.iter().enumerate() {
            let id = self.meter(&h.host, h.cores);
            if let Some(p) = chunk.parent[m] {
                let parent = self.meter(&input.hosts[p].host, input.hosts[p].cores);
                self.meters[id as usize].2 = Some(parent);
            }
            ids.push(id);
        }
        let layout = match &self.layout {
            Some(l) if **l == ids[..] => l.clone(),
            _ => Arc::from(ids),
        };
        self.layout = Some(layout.clone());
        // A GPU's activity is its SM-active seconds; a host's, its busy cores.
        let activity: Vec<Vec<f64>> = input
            .hosts
            .iter()
            .enumerate()
            .map(|(m, h)| match &chunk.activity[m] {
                Some(a) if chunk.parent[m].is_some() => a.clone(),
                _ => busy_cores(h, input.interval_ns),
            })
            .collect();
        for i in 0..input.intervals() {
            let start = input.start.as_nanos() + i as i64 * input.interval_ns;
            let values = input
                .hosts
                .iter()
                .zip(&activity)
                .zip(&chunk.rapl)
                .map(|((h, a), r)| {
                    let energy = h.energy_j.get(i).copied().unwrap_or(f64::NAN);
                    let a = a.get(i).copied().unwrap_or(f64::NAN);
                    let r = r.as_ref().and_then(|r| r.get(i).copied());
                    [energy as f32, a as f32, r.unwrap_or(f64::NAN) as f32]
                })
                .collect();
            self.rows.insert(start, (layout.clone(), values));
        }
    }

    /// Forgets the intervals that start before `before`.
    pub(crate) fn prune(&mut self, before: i64) {
        self.rows = self.rows.split_off(&before);
    }

    /// `[from, to)` as a chunk for floor calibration: every meter with a row in it, its
    /// energy per interval (NaN where it has none), a host's activity as its own busy CPU
    /// seconds, a GPU's as its SM-active seconds, and the GPUs' hosts.
    pub(crate) fn chunk(&self, from: i64, to: i64, interval_ns: i64) -> Chunk {
        let n = usize::try_from((to - from).max(0) / interval_ns).unwrap_or(0);
        let secs = interval_ns as f64 / 1e9;
        let mut slot: HashMap<u32, usize> = HashMap::new();
        let mut energy: Vec<Vec<f64>> = Vec::new();
        let mut activity: Vec<Vec<f64>> = Vec::new();
        let mut rapl: Vec<Vec<f64>> = Vec::new();
        let mut order: Vec<u32> = Vec::new();
        for (&start, (layout, values)) in self.rows.range(from..to) {
            let k = ((start - from) / interval_ns) as usize;
            for (&m, &[e, a, r]) in layout.iter().zip(values.iter()) {
                let s = *slot.entry(m).or_insert_with(|| {
                    order.push(m);
                    energy.push(vec![f64::NAN; n]);
                    activity.push(vec![f64::NAN; n]);
                    rapl.push(vec![f64::NAN; n]);
                    order.len() - 1
                });
                energy[s][k] = f64::from(e);
                activity[s][k] = f64::from(a);
                rapl[s][k] = f64::from(r);
            }
        }
        let parent: Vec<Option<usize>> = order
            .iter()
            .map(|&m| {
                let p = self.meters[m as usize].2?;
                slot.get(&p).copied()
            })
            .collect();
        // A host's busy cores become its own CPU seconds in place; a GPU's activity stays.
        let (hosts, activity): (Vec<HostSeries>, Vec<Option<Vec<f64>>>) = order
            .iter()
            .zip(energy)
            .zip(activity)
            .zip(&parent)
            .map(|(((&m, energy_j), mut act), p)| {
                let (id, cores, _) = &self.meters[m as usize];
                let gpu = p.is_some();
                if !gpu {
                    act.iter_mut().for_each(|a| *a *= secs);
                }
                let (system_cpu_s, gpu_activity) = if gpu {
                    (None, Some(act))
                } else {
                    (Some(act), None)
                };
                let host = HostSeries {
                    host: id.clone(),
                    cores: *cores,
                    energy_j,
                    meter_rel_sigma: 0.0,
                    workloads: Vec::new(),
                    system_cpu_s,
                };
                (host, gpu_activity)
            })
            .unzip();
        Chunk {
            input: AlignedInput {
                start: Timestamp::from_nanos(from),
                interval_ns,
                hosts,
            },
            share: Vec::new(),
            provenance: HashMap::new(),
            parent,
            activity,
            rapl: rapl
                .into_iter()
                .map(|r| r.iter().any(|x| x.is_finite()).then_some(r))
                .collect(),
            provenance_at: HashMap::new(),
        }
    }
}
