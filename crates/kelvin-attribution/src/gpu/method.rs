//! The method: the floor and the workloads' signatures over the whole recording, then each
//! phase settled on its own grid.

use kelvin_model::TimeRange;

use super::input::{
    GpuFit, GpuGrid, GpuInput, GpuKey, GpuOptions, GpuPhase, GpuTelemetry, MAX_CELLS,
};
use super::report::{GpuAttribution, GpuPhaseSheet};
use crate::AttributionError;
use crate::ledger::{Consumer, KeyCurve, LedgerInput, MeterInput, MeterResource, settle};
use crate::power::{IdleFloor, Resource, ResourceModel, calibrate_idle};

/// What the whole recording tells about the device: its floor and the workloads' signatures.
struct Calibration {
    /// The grid over the whole schedule.
    grid: GpuGrid,
    /// The idle floor on `grid`.
    floor: IdleFloor,
    /// W at full SM and memory activity, two columns per workload.
    model: ResourceModel,
    /// The model's residual relative to the mean dynamic power: the key's 1-σ error.
    key_rel_sigma: f64,
}

/// Attributes every phase's measured device energy to the workloads that ran in it (see the
/// [module documentation](super)).
///
/// # Errors
/// [`crate::AttributionErrorKind::InvalidInput`], converted into the telemetry's error, naming
/// [`GpuInput::source`] when the schedule has no phases, `step_s` is not positive, a grid would
/// have more than [`MAX_INTERVALS`](super::MAX_INTERVALS) intervals or the recording more than
/// [`MAX_CELLS`] values, or no interval is quiet enough to calibrate the floor; when a run
/// names no workload or the telemetry answers with the wrong number of values; errors of the
/// fit and of [`settle`]; and the telemetry's own errors.
pub fn attribute<T: GpuTelemetry + ?Sized>(
    input: &GpuInput,
    telemetry: &T,
    opts: &GpuOptions,
) -> Result<GpuAttribution, T::Error> {
    let invalid = |reason: String| AttributionError::invalid(input.source.as_str(), reason);
    // The whole schedule, whatever the order of its lines.
    let (Some(start), Some(end)) = (
        input.phases.iter().map(|p| p.range.start()).min(),
        input.phases.iter().map(|p| p.range.end()).max(),
    ) else {
        return Err(invalid("no phases".into()).into());
    };
    if !(opts.step_s.is_finite() && opts.step_s > 0.0) {
        return Err(invalid(format!("step_s must be positive, got {}", opts.step_s)).into());
    }
    if let Some(r) = input
        .runs
        .iter()
        .find(|r| r.workload >= input.workloads.len())
    {
        return Err(invalid(format!(
            "a run names workload {} of {}",
            r.workload,
            input.workloads.len()
        ))
        .into());
    }
    let span = TimeRange::try_new(start, end).map_err(|e| invalid(e.reason().into()))?;
    let cal = calibrate(input, telemetry, span, opts)?;
    let mut phases = Vec::with_capacity(input.phases.len());
    for ph in &input.phases {
        phases.push(settle_phase(input, telemetry, ph, &cal, opts)?);
    }
    let columns = input
        .workloads
        .iter()
        .flat_map(|w| [Resource::GpuSm, Resource::GpuMemory].map(|r| (w.as_str().to_string(), r)))
        .collect();
    Ok(GpuAttribution {
        workloads: input
            .workloads
            .iter()
            .map(|w| w.as_str().to_string())
            .collect(),
        phases,
        floor: cal.floor,
        model: cal.model,
        columns,
    })
}

/// Checks that the telemetry answered one value per interval.
fn aligned(values: Vec<f64>, grid: &GpuGrid, what: &str) -> Result<Vec<f64>, AttributionError> {
    if values.len() == grid.intervals() {
        Ok(values)
    } else {
        Err(AttributionError::invalid(
            "gpu telemetry",
            format!(
                "{} values of {what} for {} intervals",
                values.len(),
                grid.intervals()
            ),
        ))
    }
}

/// The SM clock on `grid` in GHz under [`GpuKey::SmCycles`] (an interval without a clock
/// takes the grid's mean), `None` under [`GpuKey::SmTime`].
fn clock_ghz<T: GpuTelemetry + ?Sized>(
    input: &GpuInput,
    telemetry: &T,
    grid: &GpuGrid,
    opts: &GpuOptions,
) -> Result<Option<Vec<f64>>, T::Error> {
    if opts.key == GpuKey::SmTime {
        return Ok(None);
    }
    let refuse = |why: &str| {
        AttributionError::invalid(
            input.source.as_str(),
            format!("SM cycles need the device's SM clock, and {why}; key on SM time instead"),
        )
    };
    let Some(hz) = telemetry.sm_clock_hz(grid)? else {
        return Err(refuse("the telemetry has none").into());
    };
    let hz = aligned(hz, grid, "SM clock")?;
    let known: Vec<f64> = hz
        .iter()
        .copied()
        .filter(|h| h.is_finite() && *h > 0.0)
        .collect();
    if known.is_empty() {
        return Err(refuse("no interval of the grid has one").into());
    }
    let mean = known.iter().sum::<f64>() / known.len() as f64;
    Ok(Some(
        hz.into_iter()
            .map(|h| if h.is_finite() && h > 0.0 { h } else { mean } / 1e9)
            .collect(),
    ))
}

/// A run's SM and memory activity on `grid`, utilization-seconds (SM activity times `clock`
/// in GHz when given: giga-cycles), 0 where unknown.
fn activity<T: GpuTelemetry + ?Sized>(
    telemetry: &T,
    run: usize,
    grid: &GpuGrid,
    clock: Option<&[f64]>,
    opts: &GpuOptions,
) -> Result<[Vec<f64>; 2], T::Error> {
    let [sm, mem] = telemetry.activity(run, grid, opts.max_gap_s)?;
    let one = |v: Option<Vec<f64>>, what: &str| -> Result<Vec<f64>, AttributionError> {
        let Some(v) = v else {
            return Ok(vec![0.0; grid.intervals()]);
        };
        let v = aligned(v, grid, what)?;
        Ok(v.into_iter()
            .map(|x| if x.is_nan() { 0.0 } else { x })
            .collect())
    };
    let mut sm = one(sm, "SM activity")?;
    if let Some(ghz) = clock {
        sm.iter_mut().zip(ghz).for_each(|(a, g)| *a *= g);
    }
    Ok([sm, one(mem, "memory activity")?])
}

/// The floor and the signatures, on a grid over the whole schedule.
fn calibrate<T: GpuTelemetry + ?Sized>(
    input: &GpuInput,
    telemetry: &T,
    span: TimeRange,
    opts: &GpuOptions,
) -> Result<Calibration, T::Error> {
    let workloads = input.workloads.len();
    let grid = GpuGrid::over(span, opts.step_s, &input.source)?;
    let n = grid.intervals();
    let cells = n.saturating_mul(2 * workloads + 8);
    if cells > MAX_CELLS {
        return Err(AttributionError::invalid(
            input.source.as_str(),
            format!(
                "{n} intervals of {} s × {workloads} workloads need {cells} values, more than the \
                 {MAX_CELLS} allowed: use a longer --step-s, or check the schedule's times",
                opts.step_s,
            ),
        )
        .into());
    }
    let dt = grid.step_ns() as f64 / 1e9;
    let energy = aligned(telemetry.energy_j(&grid)?, &grid, "energy")?;
    let power: Vec<f64> = energy.iter().map(|e| e / dt).collect();
    // Per workload and resource, utilization fraction per interval.
    let mut usage = vec![[vec![0.0; n], vec![0.0; n]]; workloads];
    let clock = clock_ghz(input, telemetry, &grid, opts)?;
    for (k, run) in input.runs.iter().enumerate() {
        let w = run.workload;
        let a = activity(telemetry, k, &grid, clock.as_deref(), opts)?;
        for (r, a) in a.into_iter().enumerate() {
            for (u, a) in usage[w][r].iter_mut().zip(a) {
                *u += a / dt;
            }
        }
    }
    let activity: Vec<f64> = (0..n)
        .map(|i| usage.iter().map(|u| u[0][i]).sum())
        .collect();
    let alive: Vec<usize> = (0..n)
        .map(|i| {
            let (a, b) = (grid.point(i).as_nanos(), grid.point(i + 1).as_nanos());
            input.runs.iter().filter(|r| r.alive_in(a, b)).count()
        })
        .collect();
    // An interval is quiet only if no process is alive in it: NVML reports a process's
    // activity late and sparsely, so "no samples" alone does not mean idle.
    let busy: Vec<f64> = (0..n)
        .map(|i| {
            if alive[i] > 0 {
                activity[i].max(1.0)
            } else {
                activity[i]
            }
        })
        .collect();
    let floor = calibrate_idle(&power, &busy, &opts.idle).map_err(|e| {
        AttributionError::invalid(
            input.source.as_str(),
            format!(
                "{e}: the floor is calibrated from intervals where no run of the schedule is \
                 alive and the device's counter has energy samples; the recording needs such a \
                 phase"
            ),
        )
    })?;

    // Per-workload signatures: W per unit of SM and memory activity above the floor.
    let resources: Vec<Resource> = (0..workloads)
        .flat_map(|_| [Resource::GpuSm, Resource::GpuMemory])
        .collect();
    let rows: Vec<usize> = (0..n)
        .filter(|&i| power[i].is_finite() && activity[i] > 0.0)
        .filter(|&i| opts.fit == GpuFit::Loaded || alive[i] <= 1)
        .collect();
    let unfitted = (0..workloads).find(|&w| rows.iter().all(|&i| usage[w][0][i] <= 0.0));
    if let (GpuFit::Exclusive, Some(w)) = (opts.fit, unfitted) {
        return Err(AttributionError::invalid(
            input.source.as_str(),
            format!(
                "workload {} never runs alone with activity, so an exclusive fit has no \
                 signature for it; fit on the loaded intervals instead",
                input.workloads[w]
            ),
        )
        .into());
    }
    let mut x = ndarray::Array2::<f64>::zeros((rows.len(), resources.len()));
    let mut y = ndarray::Array1::<f64>::zeros(rows.len());
    for (k, &i) in rows.iter().enumerate() {
        for (w, u) in usage.iter().enumerate() {
            x[[k, 2 * w]] = u[0][i];
            x[[k, 2 * w + 1]] = u[1][i];
        }
        y[k] = power[i] - floor.floor_w[i];
    }
    let model = ResourceModel::fit_dynamic(&resources, x.view(), y.view())?;
    let mean_dyn = y.iter().sum::<f64>() / y.len().max(1) as f64;
    let key_rel_sigma = if mean_dyn > 0.0 {
        model.rmse_w / mean_dyn
    } else {
        0.0
    };
    Ok(Calibration {
        grid,
        floor,
        model,
        key_rel_sigma,
    })
}

/// One phase, settled on its own grid: the floor (interpolated from the whole recording's) is
/// the meter's idle power, each run alive in the phase a consumer keyed by its activity and
/// its workload's signature.
fn settle_phase<T: GpuTelemetry + ?Sized>(
    input: &GpuInput,
    telemetry: &T,
    ph: &GpuPhase,
    cal: &Calibration,
    opts: &GpuOptions,
) -> Result<GpuPhaseSheet, T::Error> {
    let g = GpuGrid::over(ph.range, opts.step_s, &input.source)?;
    let k = g.intervals();
    let pdt = g.step_ns() as f64 / 1e9;
    let e = aligned(telemetry.energy_j(&g)?, &g, "energy")?;
    let idle_w: Vec<f64> = (0..k)
        .map(|j| {
            let mid = g.start().as_nanos() + g.step_ns() * j as i64 + g.step_ns() / 2;
            interpolate(&cal.floor.floor_w, &cal.grid, mid)
        })
        .collect();
    let mut consumers = Vec::new();
    let (a, b) = (ph.range.start().as_nanos(), ph.range.end().as_nanos());
    let clock = if input.runs.iter().any(|r| r.alive_in(a, b)) {
        clock_ghz(input, telemetry, &g, opts)?
    } else {
        None
    };
    for (idx, run) in input.runs.iter().enumerate() {
        if !run.alive_in(a, b) {
            continue;
        }
        let w = run.workload;
        let [sm, mem] = activity(telemetry, idx, &g, clock.as_deref(), opts)?;
        consumers.push(Consumer {
            workload: w,
            reservation: 0.0,
            usage: vec![sm, mem],
            signature: Some(vec![cal.model.coef_w[2 * w], cal.model.coef_w[2 * w + 1]]),
        });
    }
    let meter = MeterInput {
        meter: input.meter.clone(),
        energy_j: e,
        sigma_j: Some(vec![opts.meter_sigma_w * pdt; k]),
        rel_sigma: 0.0,
        idle_w,
        idle_sigma_w: cal.floor.sigma_w,
        resources: [Resource::GpuSm, Resource::GpuMemory]
            .into_iter()
            .map(|resource| MeterResource {
                resource,
                capacity: 1.0,
                curve: KeyCurve::Linear { watts_at_full: 1.0 },
            })
            .collect(),
        consumers,
        system: None,
        key_rel_sigma: cal.key_rel_sigma,
    };
    let ledger = settle(
        &LedgerInput {
            start: g.start(),
            interval_ns: g.step_ns(),
            workloads: input.workloads.clone(),
            meters: vec![meter],
        },
        &opts.ledger(),
    )?;
    Ok(GpuPhaseSheet {
        phase: ph.name.clone(),
        ledger,
    })
}

/// Linear interpolation of a per-interval series at time `t` (interval midpoints as knots).
fn interpolate(values: &[f64], grid: &GpuGrid, t: i64) -> f64 {
    let step = grid.step_ns() as f64;
    let pos = (t - grid.start().as_nanos()) as f64 / step - 0.5;
    if values.is_empty() {
        return 0.0;
    }
    let last = values.len() - 1;
    if pos <= 0.0 {
        return values[0];
    }
    let i = (pos.floor() as usize).min(last);
    if i >= last {
        return values[last];
    }
    let f = pos - i as f64;
    values[i] * (1.0 - f) + values[i + 1] * f
}
