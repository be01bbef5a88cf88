//! The floors a live engine pins: every meter of a chunk calibrated on its least active
//! intervals ([`kelvin_attribution::calibrate_floor`]), alike meters together.
//!
//! - **GPUs** are calibrated against their SM activity: an unheld GPU idles, so the GPUs of a
//!   class give their idle power directly.
//! - **The rest of a GPU server's wall meter** (the wall minus its GPUs) is calibrated against
//!   the watts its GPUs drew above their floors: its conversion losses and fans follow the
//!   GPUs, and its own CPU draws little beside them, while the host's processes keep a core
//!   busy at all times — a fit against busy cores would carry the GPUs' slope to zero cores.
//! - **Other hosts** are calibrated against their busy cores (workloads and the host's own).
//!
//! With [`LiveOptions::pool_floors`](super::LiveOptions::pool_floors) (the default) the
//! intervals of alike meters are pooled: hosts of one capacity (cores, memory, GPUs, GPU
//! meters) are taken to be one model, whose least active intervals come from whichever of
//! them was quietest; the GPUs of those hosts are another class.

use std::collections::BTreeMap;

use kelvin_attribution::{
    FloorSeries, PinnedFloor, busy_cores, calibrate_floor, calibrate_host_floor,
};
use kelvin_model::Inventory;

use super::chunk::Chunk;

/// The class of every meter of `chunk`: its own name, or with `pool` a key its alike meters
/// share.
fn classes(chunk: &Chunk, inventory: &Inventory, pool: bool) -> Vec<String> {
    let hosts = &chunk.input.hosts;
    let gpu_meters = |i: usize| chunk.parent.iter().filter(|p| **p == Some(i)).count();
    let wall = |i: usize| -> String {
        let h = &hosts[i];
        if !pool {
            return h.host.to_string();
        }
        let cap = inventory
            .hosts
            .iter()
            .find(|x| x.id == h.host)
            .map_or((h.cores, 0, 0), |x| {
                (
                    x.capacity.cpu_cores,
                    x.capacity.memory_bytes,
                    x.capacity.gpus,
                )
            });
        format!(
            "host:{}c/{}B/{}gpu/{}meters",
            cap.0,
            cap.1,
            cap.2,
            gpu_meters(i)
        )
    };
    (0..hosts.len())
        .map(|i| match chunk.parent[i] {
            Some(p) if pool => format!("gpu of {}", wall(p)),
            Some(_) => hosts[i].host.to_string(),
            None => wall(i),
        })
        .collect()
}

/// Pins a floor on every meter of `chunk` it can calibrate, by meter name.
pub(crate) fn calibrate_chunk(
    chunk: &Chunk,
    inventory: &Inventory,
    pool: bool,
    interval_ns: i64,
) -> BTreeMap<String, PinnedFloor> {
    let hosts = &chunk.input.hosts;
    let class = classes(chunk, inventory, pool);
    let secs = interval_ns as f64 / 1e9;
    let mut floors: Vec<Option<PinnedFloor>> = vec![None; hosts.len()];
    // The GPUs first: the rest of their hosts' wall meters is calibrated against what they
    // drew above their floors.
    let gpu = |i: &usize| chunk.parent[*i].is_some();
    let activity: Vec<Option<Vec<f64>>> = (0..hosts.len())
        .map(|i| gpu(&i).then(|| chunk.activity[i].clone()).flatten())
        .collect();
    calibrate_classes(chunk, &class, &activity, gpu, interval_ns, &mut floors);
    let activity: Vec<Option<Vec<f64>>> = (0..hosts.len())
        .map(|i| {
            if gpu(&i) {
                return None;
            }
            let mine: Vec<usize> = (0..hosts.len())
                .filter(|&g| chunk.parent[g] == Some(i))
                .collect();
            if mine.is_empty() {
                return Some(busy_cores(&hosts[i], interval_ns));
            }
            Some(gpu_watts_above_floor(chunk, &mine, &floors, secs))
        })
        .collect();
    calibrate_classes(
        chunk,
        &class,
        &activity,
        |i| !gpu(i),
        interval_ns,
        &mut floors,
    );
    hosts
        .iter()
        .zip(floors)
        .filter_map(|(h, f)| Some((h.host.to_string(), f?)))
        .collect()
}

/// Calibrates the meters `which` selects, class by class, against `activity`; a meter whose
/// class cannot be calibrated (too few intervals) is calibrated alone as a host.
fn calibrate_classes(
    chunk: &Chunk,
    class: &[String],
    activity: &[Option<Vec<f64>>],
    which: impl Fn(&usize) -> bool,
    interval_ns: i64,
    floors: &mut [Option<PinnedFloor>],
) {
    let hosts = &chunk.input.hosts;
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for i in (0..hosts.len()).filter(&which) {
        members.entry(class[i].as_str()).or_default().push(i);
    }
    for idx in members.values() {
        let series: Vec<FloorSeries<'_>> = idx
            .iter()
            .filter_map(|&i| {
                Some(FloorSeries {
                    energy_j: &hosts[i].energy_j,
                    activity: activity[i].as_deref()?,
                })
            })
            .collect();
        let pooled = calibrate_floor(&series, interval_ns);
        for &i in idx {
            floors[i] = pooled.or_else(|| calibrate_host_floor(&hosts[i], interval_ns));
        }
    }
}

/// Per interval, the watts the GPU meters `gpus` drew above their floors (where a GPU has
/// none yet, above its lowest power in the chunk); NaN where one of them is unmeasured.
fn gpu_watts_above_floor(
    chunk: &Chunk,
    gpus: &[usize],
    floors: &[Option<PinnedFloor>],
    secs: f64,
) -> Vec<f64> {
    let hosts = &chunk.input.hosts;
    let n = chunk.input.intervals();
    let mut out = vec![0.0; n];
    for &g in gpus {
        let e = &hosts[g].energy_j;
        let floor = floors[g].map(|f| f.watts).unwrap_or_else(|| {
            e.iter()
                .filter(|x| x.is_finite())
                .fold(f64::INFINITY, |m, x| m.min(x / secs))
        });
        for (o, x) in out.iter_mut().zip(e) {
            *o += if x.is_finite() {
                (x / secs - floor).max(0.0)
            } else {
                f64::NAN
            };
        }
    }
    out
}

/// Per host with RAPL counters, the map from its RAPL energy to its wall meter's, fitted on
/// the intervals of `chunk` (the floor history) in which both measured
/// ([`kelvin_attribution::lattice::resolve`]; at least
/// [`kelvin_attribution::lattice::MIN_CALIBRATION_OVERLAP`] of them).
pub(crate) fn calibrate_rapl(
    chunk: &Chunk,
) -> BTreeMap<String, kelvin_attribution::lattice::RaplCalibration> {
    use kelvin_attribution::lattice::{Candidate, MeterSource, resolve};
    let secs = chunk.input.interval_ns as f64 / 1e9;
    chunk
        .input
        .hosts
        .iter()
        .zip(&chunk.rapl)
        .filter_map(|(h, rapl)| {
            let rapl = rapl.as_ref()?;
            let wall = Candidate::new(MeterSource::Bmc, h.energy_j.clone());
            let rapl = Candidate::new(MeterSource::Rapl, rapl.clone());
            let cal = resolve(&[wall, rapl], secs).ok()?.rapl_calibration?;
            Some((h.host.to_string(), cal))
        })
        .collect()
}
