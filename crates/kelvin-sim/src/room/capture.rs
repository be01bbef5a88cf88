//! The vendor captures taken every `capture_s`: each host's BMC answers in its own dialect
//! (`ipmitool`, FreeIPMI, Redfish JSON), each rack PDU is walked over SNMP (Sentry4), and every
//! file is listed in `captures/index.csv` with the entity it describes and its time.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::build::RoomHost;
use super::{CLOCK_SKEW_S, Room};
use crate::dataset::CAPTURE_INDEX_CSV;
use crate::dataset::write::index_row;
use crate::error::SimError;
use crate::physics::components;
use crate::sink::Sink;
use crate::vendor::{self, Bmc, Outlet, Snapshot};
use crate::workload::gauss;
use crate::{HostArchetype, SimConfig};

impl Room<'_> {
    /// The captures at `ms`: every host's BMC files (the BMC clock of host `skewed` running
    /// ahead, the `ipmitool sensor` output of host `garble` with a corrupt reading), then every
    /// PDU's walk, and their index rows.
    pub(super) fn capture(
        &mut self,
        ms: i64,
        skewed: Option<usize>,
        garble: Option<usize>,
        sink: &mut Sink,
    ) -> Result<(), SimError> {
        let cfg = self.cfg;
        let t_s = (ms - cfg.start.as_nanos() / 1_000_000) / 1000;
        let mut index = String::new();
        let mut outlets: Vec<Vec<Outlet>> = vec![Vec::new(); cfg.racks];
        for (h, rh) in self.hosts.iter_mut().enumerate() {
            let host = self.inv.hosts[h].id.to_string();
            let skew = if Some(h) == skewed { CLOCK_SKEW_S } else { 0 };
            let (snap, wall) = snapshot(
                cfg,
                &self.arch,
                rh,
                host.clone(),
                self.inlets[h],
                ms.div_euclid(1000) + skew,
                &mut self.rng,
            );
            for (suffix, body) in bmc_files(rh.bmc, &snap, garble == Some(h)) {
                let file = format!("captures/{host}/{t_s:06}-{suffix}");
                sink.put(&file, &body)?;
                index_row(&mut index, &file, &host, ms);
                self.captures += 1;
            }
            outlets[rh.rack].push(Outlet {
                power_w: wall,
                voltage_v: snap.line_v,
                energy_wh: rh.outlet_wh,
            });
        }
        for (r, o) in outlets.iter().enumerate() {
            let pdu = &self.inv.pdus[r].id;
            let cord_kwh = o.iter().map(|x| x.energy_wh).sum::<f64>() / 1000.0;
            let probe = self.inlets[r * cfg.hosts_per_rack] + 0.2 * gauss(&mut self.rng);
            let file = format!("captures/{pdu}/{t_s:06}-snmpwalk.txt");
            sink.put(&file, &vendor::snmp_sentry4(o, cord_kwh, probe))?;
            index_row(&mut index, &file, pdu.as_str(), ms);
            self.captures += 1;
        }
        sink.append(CAPTURE_INDEX_CSV, &index)
    }
}

/// What host `rh`'s BMC reads at BMC time `bmc_secs` (inlet `inlet`, °C), with sensor noise,
/// fans that do not answer in ~1 % of reads, and the DCMI statistics since the last capture
/// (which start again); and the host's true wall power.
fn snapshot(
    cfg: &SimConfig,
    arch: &[HostArchetype; 3],
    rh: &mut RoomHost,
    host: String,
    inlet: f64,
    bmc_secs: i64,
    rng: &mut ChaCha8Rng,
) -> (Snapshot, f64) {
    let c = rh.last;
    let wall = if c.wall_w > 0.0 {
        c.wall_w
    } else {
        // Before the first step: the idle draw.
        components(&arch[rh.arch].curve, &rh.phys, 0.0, &rh.gpu_util, inlet).wall_w
    };
    let noisy = |rng: &mut ChaCha8Rng, v: f64, sd: f64| v + sd * gauss(rng);
    let u_dc = if c.wall_w > 0.0 {
        c.dc_w()
    } else {
        wall * 0.88
    };
    let n_psu = rh.phys.psu_count as usize;
    let (mn, mx, avg) = if rh.dcmi.3 > 0 {
        (rh.dcmi.0, rh.dcmi.1, rh.dcmi.2 / f64::from(rh.dcmi.3))
    } else {
        (wall, wall, wall)
    };
    rh.dcmi = (f64::INFINITY, 0.0, 0.0, 0);
    let fan_rpm = (0..rh.phys.fans)
        .map(|i| {
            (rng.random::<f64>() >= 0.01).then(|| {
                rh.last_fan * rh.phys.fan_max_rpm * (1.0 + 0.01 * f64::from(i % 3))
                    + 30.0 * gauss(rng)
            })
        })
        .collect();
    let heat = 0.02 * wall / (rh.last_fan * rh.phys.fan_max_w / 60.0).max(0.1);
    let snap = Snapshot {
        host,
        inlet_c: noisy(rng, inlet, 0.2),
        exhaust_c: noisy(rng, inlet + heat, 0.3),
        cpu_c: [
            noisy(rng, inlet + 15.0 + 0.1 * c.cpu_pkg_w, 0.5),
            noisy(rng, inlet + 17.0 + 0.1 * c.cpu_pkg_w, 0.5),
        ],
        fan_rpm,
        wall_w: noisy(rng, wall, 1.0 + 0.01 * wall),
        psu_in_w: vec![wall / n_psu as f64; n_psu],
        psu_out_w: vec![u_dc / n_psu as f64; n_psu],
        line_v: noisy(rng, 230.0, 1.0),
        v12: noisy(rng, 12.1, 0.03),
        dcmi_min: mn,
        dcmi_max: mx,
        dcmi_avg: avg,
        period_s: u64::from(cfg.capture_s),
        bmc_secs,
    };
    (snap, wall)
}

/// The files a BMC of flavour `bmc` answers with, by file-name suffix; `garble` corrupts one
/// reading of `ipmitool sensor`.
fn bmc_files(bmc: Bmc, snap: &Snapshot, garble: bool) -> Vec<(&'static str, String)> {
    match bmc {
        Bmc::Ipmitool => vec![
            ("ipmitool-sensor.txt", vendor::ipmitool_sensor(snap, garble)),
            ("ipmitool-dcmi.txt", vendor::ipmitool_dcmi(snap)),
        ],
        Bmc::Freeipmi => vec![
            ("ipmi-sensors.txt", vendor::freeipmi_sensors(snap)),
            ("ipmi-dcmi.txt", vendor::freeipmi_dcmi(snap)),
        ],
        Bmc::Redfish => vec![
            ("redfish-thermal.json", vendor::redfish_thermal(snap)),
            ("redfish-power.json", vendor::redfish_power(snap)),
        ],
    }
}
