//! The physics of one step: the inlet temperatures (recirculated heat and the CRAC supply),
//! each host's power by component at its load, the split of that power between workloads
//! (two-part tariff) and the host's own accounts, the counters the exporters read, and the
//! facility's power summed into the interval truth.

use super::Room;
use crate::dataset::write::{FacilityRow, host_power_row};
use crate::dataset::{FACILITY_TRUTH_CSV, HOST_POWER_TRUTH_CSV};
use crate::error::SimError;
use crate::physics::{Components, Recirculation, components, cop};
use crate::sink::Sink;
use crate::workload::{SYSTEM_CORES, gauss};

/// The facility's sums since the last interval-truth row.
pub(super) struct Facility {
    /// IT power × seconds.
    it: f64,
    /// Cooling power × seconds.
    cooling: f64,
    /// Supply temperature × seconds.
    supply: f64,
    /// CoP × seconds.
    cop: f64,
    /// The hottest inlet seen.
    max_inlet: f64,
}

impl Default for Facility {
    fn default() -> Facility {
        Facility {
            it: 0.0,
            cooling: 0.0,
            supply: 0.0,
            cop: 0.0,
            max_inlet: f64::MIN,
        }
    }
}

/// A host's load over a step.
struct Load {
    /// Busy cores after contention.
    busy: f64,
    /// The contention scale (everyone slows down proportionally past the cores).
    scale: f64,
    /// CPU utilization.
    u: f64,
}

/// A host's power over a step, by component, and its split into the idle floor and the
/// dynamic power of the CPUs and of the GPUs.
struct Power {
    c: Components,
    idle: f64,
    cpu_dyn: f64,
    gpu_dyn: f64,
    /// The GPUs' power above their idle, watts.
    gpu_active: f64,
}

impl Room<'_> {
    /// Sets each host's inlet from the previous step's rack power and returns the CRAC supply
    /// temperature, set so that the hottest inlet meets the redline.
    pub(super) fn set_inlets(&mut self, recirc: &Recirculation) -> f64 {
        let cfg = self.cfg;
        let rise = recirc.rise(&self.rack_kw);
        let top = 0.25 * cfg.hosts_per_rack.saturating_sub(1) as f64;
        let worst = rise.iter().copied().fold(0.0_f64, f64::max) + top;
        let supply = (cfg.redline_c - worst).clamp(14.0, 22.0);
        for (h, rh) in self.hosts.iter().enumerate() {
            self.inlets[h] = supply + rise[rh.rack] + 0.25 * rh.slot as f64;
        }
        supply
    }

    /// Draws each running workload's level for the step starting at absolute second `abs_s`.
    pub(super) fn draw_levels(&mut self, abs_s: i64) {
        for &k in &self.active {
            self.rates[k] = self.sims[k].level_step(abs_s, self.cfg.step_s, &mut self.rng);
        }
    }

    /// The physics of one step at CRAC supply `supply`: every host's power, charged and
    /// counted; the racks' power for the next step's inlets; the facility's sums.
    pub(super) fn physics(&mut self, supply: f64) {
        let dt = f64::from(self.cfg.step_s);
        let mut it_w = 0.0;
        self.rack_kw.iter_mut().for_each(|x| *x = 0.0);
        for h in 0..self.hosts.len() {
            let inlet = self.inlets[h];
            let load = self.load(h);
            let p = self.power(h, load.u, inlet);
            self.charge(h, &load, &p, dt);
            self.comps[h].add(&p.c, dt);
            self.advance(h, &p.c, load.u, inlet, dt);
            it_w += p.c.wall_w;
            self.rack_kw[self.hosts[h].rack] += p.c.wall_w / 1000.0;
        }
        let cp = cop(supply);
        let fac = &mut self.fac;
        fac.it += it_w * dt;
        fac.cooling += it_w / cp * dt;
        fac.supply += supply * dt;
        fac.cop += cp * dt;
        fac.max_inlet = self.inlets.iter().copied().fold(fac.max_inlet, f64::max);
    }

    /// Host `h`'s CPU load this step, and its GPUs' utilization (drawn around their owners'
    /// levels).
    fn load(&mut self, h: usize) -> Load {
        let rh = &mut self.hosts[h];
        let mut demand = SYSTEM_CORES;
        for &k in &rh.wls {
            let s = &self.sims[k];
            demand += s.wl.requests.cpu_cores * self.rates[k] * s.cpu_factor;
        }
        let scale = if demand > rh.cores {
            rh.cores / demand
        } else {
            1.0
        };
        let busy = demand * scale;
        let u = busy / rh.cores;
        for (g, owner) in rh.gpu_owner.iter().enumerate() {
            rh.gpu_util[g] = match owner {
                Some(k) => (self.rates[*k] + 0.02 * gauss(&mut self.rng)).clamp(0.0, 1.0),
                None => 0.0,
            };
        }
        Load { busy, scale, u }
    }

    /// Host `h`'s power at CPU utilization `u` and inlet `inlet`: the components, and the
    /// dynamic power above the idle floor split between the CPUs (what the host would draw
    /// with idle GPUs) and the GPUs.
    fn power(&self, h: usize, u: f64, inlet: f64) -> Power {
        let rh = &self.hosts[h];
        let curve = &self.arch[rh.arch].curve;
        let c = components(curve, &rh.phys, u, &rh.gpu_util, inlet);
        let zeros = vec![0.0; rh.gpu_util.len()];
        let idle = components(curve, &rh.phys, 0.0, &zeros, inlet).wall_w;
        let cpu_only = if rh.gpu_util.is_empty() {
            c.wall_w
        } else {
            components(curve, &rh.phys, u, &zeros, inlet).wall_w
        };
        let dynamic = (c.wall_w - idle).max(0.0);
        let idle = c.wall_w - dynamic;
        let cpu_dyn = (cpu_only - idle).clamp(0.0, dynamic);
        let gpu_dyn = dynamic - cpu_dyn;
        let gpu_active: f64 = rh
            .gpu_util
            .iter()
            .map(|&g| rh.phys.gpu_power_w(g) - rh.phys.gpu_idle_w)
            .sum();
        Power {
            c,
            idle,
            cpu_dyn,
            gpu_dyn,
            gpu_active,
        }
    }

    /// Charges host `h`'s step under the two-part tariff — the idle floor by reservation (half
    /// by CPU, half by GPU on GPU servers), the CPU dynamic power by busy CPU, the GPU dynamic
    /// power by each workload's GPUs — with the `cpu_share` reference, the CPU counters (the
    /// workload's and the pods' parent cgroup's), the GPUs' energy and SM activity by holder;
    /// the rest goes to the host's `unreserved` and `system` accounts.
    fn charge(&mut self, h: usize, load: &Load, p: &Power, dt: f64) {
        let rh = &mut self.hosts[h];
        let gw = if rh.phys.gpus > 0 { 0.5 } else { 0.0 };
        let workload_busy = load.busy - SYSTEM_CORES * load.scale;
        let mut reserved_share = 0.0;
        let mut gpu_charged = 0.0;
        for &k in &rh.wls {
            let s = &mut self.sims[k];
            let used = s.wl.requests.cpu_cores * self.rates[k] * s.cpu_factor * load.scale;
            let share = (1.0 - gw) * s.wl.requests.cpu_cores / rh.cores
                + if rh.phys.gpus > 0 {
                    gw * f64::from(s.wl.requests.gpus) / f64::from(rh.phys.gpus)
                } else {
                    0.0
                };
            reserved_share += share;
            s.idle_j += p.idle * share * dt;
            let mut dynj = p.cpu_dyn * used / load.busy;
            // The GPUs it holds: their power above idle, their power, their SM activity.
            let (mut mine, mut gpu_w) = (0.0, 0.0);
            for g in 0..rh.gpu_owner.len() {
                if rh.gpu_owner[g] == Some(k) {
                    let w = rh.phys.gpu_power_w(rh.gpu_util[g]);
                    mine += w - rh.phys.gpu_idle_w;
                    gpu_w += w;
                    rh.sm_sum[g] += rh.gpu_util[g] * s.sm_factor * dt;
                }
            }
            if p.gpu_active > 0.0 {
                dynj += p.gpu_dyn * mine / p.gpu_active;
                gpu_charged += p.gpu_dyn * mine / p.gpu_active;
            }
            s.dynamic_j += dynj * dt;
            if workload_busy > 0.0 {
                s.cpu_share_j += p.c.wall_w * used / workload_busy * dt;
            }
            s.cpu_s += used * dt;
            s.counter += used * dt;
            s.gpu_j += gpu_w * dt;
            s.seconds += dt;
            rh.pods_cpu_s += used * dt;
        }
        rh.root_cpu_s += load.busy * dt;
        let ht = &mut self.host_truth[h];
        ht.energy_j += p.c.wall_w * dt;
        ht.unreserved_idle_j += p.idle * (1.0 - reserved_share) * dt;
        // The system account: its CPU share, and GPU dynamic power no workload owns.
        ht.system_j +=
            (p.cpu_dyn * SYSTEM_CORES * load.scale / load.busy + (p.gpu_dyn - gpu_charged)) * dt;
    }

    /// Advances host `h`'s counters (RAPL, GPU energy, outlet watt-hours, DCMI statistics), its
    /// fans, and its interval sums by a step at components `c`.
    fn advance(&mut self, h: usize, c: &Components, u: f64, inlet: f64, dt: f64) {
        let rh = &mut self.hosts[h];
        for s in 0..2 {
            rh.rapl_pkg[s] += c.cpu_pkg_w / 2.0 * dt;
            rh.rapl_dram[s] += c.dram_w / 2.0 * dt;
        }
        for (g, e) in rh.gpu_energy_mj.iter_mut().enumerate() {
            *e += rh.phys.gpu_power_w(rh.gpu_util[g]) * dt * 1000.0;
        }
        rh.outlet_wh += c.wall_w * dt / 3600.0;
        let d = &mut rh.dcmi;
        d.0 = d.0.min(c.wall_w);
        d.1 = d.1.max(c.wall_w);
        d.2 += c.wall_w;
        d.3 += 1;
        rh.last = *c;
        rh.last_fan = rh.phys.fan_speed(
            inlet,
            u.max(rh.gpu_util.iter().copied().fold(0.0, f64::max)),
        );
        rh.interval.add_scaled(c, dt);
        rh.interval_inlet += inlet * dt;
    }

    /// At the end of an interval (every `truth_interval_s`, and the run's end), writes the
    /// facility's row and every host's row of mean power over it, and starts the next.
    pub(super) fn interval_truth(&mut self, t: u32, sink: &mut Sink) -> Result<(), SimError> {
        let cfg = self.cfg;
        let rem = t % cfg.truth_interval_s;
        if rem != 0 && t != cfg.duration_s {
            return Ok(());
        }
        let span_s = if rem == 0 { cfg.truth_interval_s } else { rem };
        let span = f64::from(span_s);
        let t0 = cfg.start.as_nanos() / 1_000_000 + i64::from(t - span_s) * 1000;
        let fac = std::mem::take(&mut self.fac);
        FacilityRow {
            t0_ms: t0,
            span_s,
            it_w: fac.it / span,
            cooling_w: fac.cooling / span,
            supply_c: fac.supply / span,
            cop: fac.cop / span,
            max_inlet_c: fac.max_inlet,
        }
        .write(&mut self.buf);
        sink.append(FACILITY_TRUTH_CSV, &self.buf)?;
        self.buf.clear();
        for (h, rh) in self.hosts.iter_mut().enumerate() {
            host_power_row(
                &mut self.buf,
                t0,
                &self.inv.hosts[h].id,
                &rh.interval,
                rh.interval_inlet,
                span,
            );
            rh.interval = Components::default();
            rh.interval_inlet = 0.0;
        }
        sink.append(HOST_POWER_TRUTH_CSV, &self.buf)?;
        self.buf.clear();
        Ok(())
    }
}
