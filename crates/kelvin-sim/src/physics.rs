//! Host and room physics of the rich presets: PSU efficiency, fans, GPUs, the split of a SPEC
//! curve's DC power into components, and the room's heat recirculation and cooling.
//!
//! Every function here is a pure function of its inputs; the simulator integrates them.

use serde::Serialize;

use crate::PowerCurve;

/// A power supply's efficiency (DC out / AC in) as a function of its load fraction, linearly
/// interpolated between points and flat outside them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PsuCurve {
    /// `(load fraction, efficiency)` points, load strictly increasing, efficiency in (0, 1].
    pub points: Vec<(f64, f64)>,
}

impl PsuCurve {
    /// An 80 PLUS Platinum-like unit (115 V internal: 90 % at 20 % load, 92 % at 50 %, 89 % at
    /// 100 %), with the light-load fall-off measured units show (85 % at 10 %, 75 % at 5 %).
    pub fn platinum() -> PsuCurve {
        PsuCurve {
            points: vec![
                (0.0, 0.60),
                (0.05, 0.75),
                (0.10, 0.85),
                (0.20, 0.90),
                (0.50, 0.92),
                (1.00, 0.89),
            ],
        }
    }

    /// Efficiency at load fraction `load` (clamped to the curve's range).
    pub fn efficiency(&self, load: f64) -> f64 {
        let p = &self.points;
        let Some(first) = p.first() else { return 1.0 };
        if load.is_nan() || load <= first.0 {
            return first.1;
        }
        for w in p.windows(2) {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            if load <= x1 {
                return y0 + (y1 - y0) * (load - x0) / (x1 - x0);
            }
        }
        p[p.len() - 1].1
    }
}

/// A host's physical make-up beyond its SPEC curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostPhysics {
    /// Power supplies sharing the load equally.
    pub psu_count: u32,
    /// Rated DC output of one supply, watts.
    pub psu_rated_w: f64,
    /// The supplies' efficiency curve.
    pub psu: PsuCurve,
    /// All fans at full speed, watts (fan power grows with the cube of speed).
    pub fan_max_w: f64,
    /// Fan count.
    pub fans: u32,
    /// Fan speed at 100 %, RPM.
    pub fan_max_rpm: f64,
    /// GPUs.
    pub gpus: u32,
    /// One GPU's idle power, watts.
    pub gpu_idle_w: f64,
    /// One GPU's power at full utilization (its power limit), watts.
    pub gpu_max_w: f64,
}

impl HostPhysics {
    /// A CPU server with two supplies of `psu_rated_w`, six fans of 10 W and no GPU.
    pub fn cpu_server(psu_rated_w: f64) -> HostPhysics {
        HostPhysics {
            psu_count: 2,
            psu_rated_w,
            psu: PsuCurve::platinum(),
            fan_max_w: 60.0,
            fans: 6,
            fan_max_rpm: 12_000.0,
            gpus: 0,
            gpu_idle_w: 0.0,
            gpu_max_w: 0.0,
        }
    }

    /// A GPU server: `gpus` H100 SXM-class GPUs (72 W idle, as in the bundled H100 recording,
    /// 700 W limit), four 3 kW supplies, ten 30 W fans.
    pub fn gpu_server(gpus: u32) -> HostPhysics {
        HostPhysics {
            psu_count: 4,
            psu_rated_w: 3000.0,
            psu: PsuCurve::platinum(),
            fan_max_w: 300.0,
            fans: 10,
            fan_max_rpm: 16_000.0,
            gpus,
            gpu_idle_w: 72.0,
            gpu_max_w: 700.0,
        }
    }

    /// Fan speed fraction (0.2–1) for an inlet temperature and a utilization: fans run faster
    /// when the air is warmer and when the chips work harder.
    pub fn fan_speed(&self, inlet_c: f64, util: f64) -> f64 {
        (0.25 + 0.035 * (inlet_c - 20.0) + 0.35 * util.clamp(0.0, 1.0)).clamp(0.2, 1.0)
    }

    /// Fan power at speed fraction `s`: `fan_max_w · s³` (the fan affinity law).
    pub fn fan_power_w(&self, s: f64) -> f64 {
        self.fan_max_w * s * s * s
    }

    /// One GPU's power at utilization `g`.
    pub fn gpu_power_w(&self, g: f64) -> f64 {
        self.gpu_idle_w + (self.gpu_max_w - self.gpu_idle_w) * g.clamp(0.0, 1.0)
    }

    fn efficiency(&self, dc_w: f64) -> f64 {
        let rated = self.psu_rated_w * f64::from(self.psu_count.max(1));
        self.psu.efficiency(dc_w / rated)
    }
}

/// One host's power at one instant, by component. `wall_w` is exactly `dc_w() + psu_loss_w`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Components {
    /// CPU packages (what RAPL `package` domains measure), watts DC.
    pub cpu_pkg_w: f64,
    /// Memory (RAPL `dram`), watts DC.
    pub dram_w: f64,
    /// Fans, watts DC.
    pub fans_w: f64,
    /// GPUs, watts DC.
    pub gpu_w: f64,
    /// Everything else on the DC side: board, chipset, disks, NICs, VRM losses.
    pub platform_w: f64,
    /// Power lost in the supplies.
    pub psu_loss_w: f64,
    /// Wall (AC input) power.
    pub wall_w: f64,
}

impl Components {
    /// Adds `c` scaled by `k` (e.g. watts × seconds into an interval's accumulator).
    pub fn add_scaled(&mut self, c: &Components, k: f64) {
        self.wall_w += c.wall_w * k;
        self.cpu_pkg_w += c.cpu_pkg_w * k;
        self.dram_w += c.dram_w * k;
        self.fans_w += c.fans_w * k;
        self.gpu_w += c.gpu_w * k;
        self.platform_w += c.platform_w * k;
        self.psu_loss_w += c.psu_loss_w * k;
    }

    /// DC power: the sum of the DC components.
    pub fn dc_w(&self) -> f64 {
        self.cpu_pkg_w + self.dram_w + self.fans_w + self.gpu_w + self.platform_w
    }
}

/// Reference fan speed of a SPEC measurement (a cool lab, light load).
const FAN_REF: f64 = 0.35;

/// A host's components at CPU utilization `u`, per-GPU utilizations `gpu_util`, inlet
/// temperature `inlet_c`.
///
/// The SPEC curve gives wall power at the reference conditions of the benchmark; its DC power
/// (wall × PSU efficiency at that load) is split into CPU package (30 % of idle, 80 % of the
/// dynamic part), DRAM (12 % of idle, 10 % of dynamic), fans at the reference speed and the
/// platform rest. Fans are then recomputed for the actual inlet and load, GPUs added, and the
/// wall power is the DC total over the supplies' efficiency at that load.
pub fn components(
    curve: &PowerCurve,
    phys: &HostPhysics,
    u: f64,
    gpu_util: &[f64],
    inlet_c: f64,
) -> Components {
    let spec_wall = curve.power_w(u);
    let spec_dc = spec_wall * phys.efficiency(spec_wall);
    let idle_wall = curve.idle_w();
    let idle_dc = idle_wall * phys.efficiency(idle_wall);
    let dynamic = (spec_dc - idle_dc).max(0.0);
    let cpu_pkg_w = 0.30 * idle_dc + 0.80 * dynamic;
    let dram_w = 0.12 * idle_dc + 0.10 * dynamic;
    let fan_ref = phys.fan_power_w(FAN_REF);
    let platform_w = (spec_dc - cpu_pkg_w - dram_w - fan_ref).max(0.0);
    let gmax = gpu_util.iter().copied().fold(0.0_f64, f64::max);
    let s = phys.fan_speed(inlet_c, u.max(gmax));
    let fans_w = phys.fan_power_w(s);
    let gpu_w: f64 = gpu_util.iter().map(|&g| phys.gpu_power_w(g)).sum();
    let mut c = Components {
        cpu_pkg_w,
        dram_w,
        fans_w,
        gpu_w,
        platform_w,
        psu_loss_w: 0.0,
        wall_w: 0.0,
    };
    let dc = c.dc_w();
    c.wall_w = dc / phys.efficiency(dc);
    c.psu_loss_w = c.wall_w - dc;
    c
}

/// CRAC coefficient of performance at supply temperature `t_c` (°C), from Moore et al.
/// (USENIX ATC 2005): `0.0068 t² + 0.0008 t + 0.458`.
pub fn cop(t_c: f64) -> f64 {
    0.0068 * t_c * t_c + 0.0008 * t_c + 0.458
}

/// A heat-recirculation matrix over racks after Tang, Gupta & Varsamopoulos (IEEE TPDS 2008):
/// `d[i][j]` is the rise of rack `i`'s inlet temperature, °C per kW drawn by rack `j`,
/// `a_i · exp(−|i − j| / 2)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recirculation {
    /// Row-major `n × n` coefficients, °C/kW.
    pub d: Vec<Vec<f64>>,
}

impl Recirculation {
    /// From the per-rack sensitivities `a` (°C/kW). Coefficients further than 12 racks apart
    /// (below 0.25 % of the diagonal) are left out.
    pub fn new(a: &[f64]) -> Recirculation {
        let n = a.len();
        let d = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        let dist = i.abs_diff(j);
                        if dist > 12 {
                            0.0
                        } else {
                            a[i] * (-(dist as f64) / 2.0).exp()
                        }
                    })
                    .collect()
            })
            .collect();
        Recirculation { d }
    }

    /// Inlet rise of every rack for rack powers in kW.
    pub fn rise(&self, rack_kw: &[f64]) -> Vec<f64> {
        let n = rack_kw.len();
        (0..n)
            .map(|i| {
                let lo = i.saturating_sub(12);
                let hi = (i + 13).min(n);
                (lo..hi).map(|j| self.d[i][j] * rack_kw[j]).sum()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archetypes;

    #[test]
    fn psu_curve_hits_the_platinum_points() {
        let p = PsuCurve::platinum();
        assert_eq!(p.efficiency(0.2), 0.90);
        assert_eq!(p.efficiency(0.5), 0.92);
        assert_eq!(p.efficiency(1.0), 0.89);
        assert_eq!(p.efficiency(3.0), 0.89);
        assert_eq!(p.efficiency(f64::NAN), 0.60);
        assert!((p.efficiency(0.35) - 0.91).abs() < 1e-12);
    }

    #[test]
    fn components_balance_and_grow_with_load() {
        let a = &archetypes()[2];
        let phys = HostPhysics::gpu_server(4);
        let mut last = 0.0;
        for k in 0..=10 {
            let u = k as f64 / 10.0;
            let c = components(&a.curve, &phys, u, &[u; 4], 24.0);
            assert!((c.wall_w - c.dc_w() - c.psu_loss_w).abs() < 1e-9);
            assert!(c.platform_w >= 0.0 && c.psu_loss_w > 0.0);
            assert!(c.wall_w > last);
            last = c.wall_w;
        }
        assert!((cop(20.0) - 3.194).abs() < 1e-9);
    }
}
