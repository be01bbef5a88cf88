//! Writers of vendor capture formats: what `ipmitool`, FreeIPMI, a Redfish service, a Sentry4
//! PDU's SNMP agent and an NVML sampler print, byte for byte in their layouts.

use std::fmt::Write as _;

use serde_json::{Value, json};

/// The BMC flavour of a host: which tool its captures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bmc {
    /// `ipmitool sensor` and `ipmitool dcmi power reading`.
    Ipmitool,
    /// FreeIPMI `ipmi-sensors` and `ipmi-dcmi --get-system-power-statistics`.
    Freeipmi,
    /// Redfish legacy `Chassis/{id}/Thermal` and `Chassis/{id}/Power`.
    Redfish,
}

impl Bmc {
    /// The name used in file names and READMEs.
    pub fn as_str(self) -> &'static str {
        match self {
            Bmc::Ipmitool => "ipmitool",
            Bmc::Freeipmi => "freeipmi",
            Bmc::Redfish => "redfish",
        }
    }
}

/// What a BMC sees at one instant (values already carry sensor noise).
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub host: String,
    pub inlet_c: f64,
    pub exhaust_c: f64,
    pub cpu_c: [f64; 2],
    /// Per fan RPM; `None` is a sensor that did not answer.
    pub fan_rpm: Vec<Option<f64>>,
    pub wall_w: f64,
    pub psu_in_w: Vec<f64>,
    pub psu_out_w: Vec<f64>,
    pub line_v: f64,
    pub v12: f64,
    /// DCMI statistics over the sampling period.
    pub dcmi_min: f64,
    pub dcmi_max: f64,
    pub dcmi_avg: f64,
    pub period_s: u64,
    /// The BMC's clock, Unix seconds (may be skewed).
    pub bmc_secs: i64,
}

/// Civil UTC date and time of Unix seconds: (year, month, day, hour, minute, second, weekday
/// with 0 = Sunday).
pub(crate) fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let wd = (days + 4).rem_euclid(7) as u32;
    (
        y,
        m,
        d,
        (sod / 3600) as u32,
        (sod / 60 % 60) as u32,
        (sod % 60) as u32,
        wd,
    )
}

/// RFC 3339 UTC with seconds.
pub(crate) fn rfc3339(secs: i64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `ctime` as ipmitool prints the DCMI time stamp: `Mon Aug  1 21:22:51 2016`.
fn ctime(secs: i64) -> String {
    let (y, mo, d, h, mi, s, wd) = civil(secs);
    format!(
        "{} {} {d:>2} {h:02}:{mi:02}:{s:02} {y}",
        WEEKDAYS[wd as usize],
        MONTHS[(mo - 1) as usize]
    )
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) => format!("{v:.decimals$}"),
        None => "na".into(),
    }
}

/// `ipmitool sensor` (IBM/Lenovo IMM naming). `garble` replaces the inlet reading with an
/// unreadable value (a line corrupted in transit).
pub(crate) fn ipmitool_sensor(s: &Snapshot, garble: bool) -> String {
    let mut out = String::new();
    let mut row = |name: &str, value: String, unit: &str, status: &str, th: [&str; 6]| {
        let _ = writeln!(
            out,
            "{name:<16} | {value:<10} | {unit:<10} | {status:<5} | {:<9} | {:<9} | {:<9} | {:<9} | {:<9} | {:<9}",
            th[0], th[1], th[2], th[3], th[4], th[5]
        );
    };
    let temp_th = ["na", "na", "na", "na", "42.000", "45.000"];
    let inlet = if garble {
        format!("{:.1}?0", s.inlet_c)
    } else {
        format!("{:.3}", s.inlet_c.round())
    };
    row("Ambient Temp", inlet, "degrees C", "ok", temp_th);
    row(
        "Exhaust Temp",
        format!("{:.3}", s.exhaust_c.round()),
        "degrees C",
        "ok",
        ["na", "na", "na", "na", "70.000", "75.000"],
    );
    for (i, c) in s.cpu_c.iter().enumerate() {
        row(
            &format!("CPU{} Temp", i + 1),
            format!("{:.3}", c.round()),
            "degrees C",
            "ok",
            ["0.000", "0.000", "0.000", "85.000", "90.000", "95.000"],
        );
    }
    for (i, f) in s.fan_rpm.iter().enumerate() {
        let status = if f.is_some() { "ok" } else { "na" };
        row(
            &format!("Fan {}A Tach", i + 1),
            opt(f.map(|r| (r / 60.0).round() * 60.0), 3),
            if f.is_some() { "RPM" } else { "" },
            status,
            ["na", "480.000", "600.000", "na", "na", "na"],
        );
    }
    row(
        "Pwr Consumption",
        format!("{:.3}", (s.wall_w / 2.0).round() * 2.0),
        "Watts",
        "ok",
        ["na", "na", "na", "na", "1386.000", "1512.000"],
    );
    row(
        "Planar 12V",
        format!("{:.3}", s.v12),
        "Volts",
        "ok",
        ["10.640", "10.800", "na", "na", "13.200", "13.390"],
    );
    out
}

/// `ipmitool dcmi power reading`.
pub(crate) fn ipmitool_dcmi(s: &Snapshot) -> String {
    format!(
        "\n    Instantaneous power reading:              {:>8} Watts\n    \
         Minimum during sampling period:           {:>8} Watts\n    \
         Maximum during sampling period:           {:>8} Watts\n    \
         Average power reading over sample period: {:>8} Watts\n    \
         IPMI timestamp:                           {}\n    \
         Sampling period:                          {:08} Seconds.\n    \
         Power reading state is:                   activated\n\n\n",
        s.wall_w.round(),
        s.dcmi_min.round(),
        s.dcmi_max.round(),
        s.dcmi_avg.round(),
        ctime(s.bmc_secs),
        s.period_s
    )
}

/// FreeIPMI `ipmi-sensors` (Huawei iBMC naming), with the SDR-cache preamble.
pub(crate) fn freeipmi_sensors(s: &Snapshot) -> String {
    let mut rows: Vec<(String, &str, String, &str, &str)> = vec![
        (
            "Inlet Temp".into(),
            "Temperature",
            format!("{:.2}", s.inlet_c.round()),
            "C",
            "'OK'",
        ),
        (
            "Outlet Temp".into(),
            "Temperature",
            format!("{:.2}", s.exhaust_c.round()),
            "C",
            "'OK'",
        ),
    ];
    for (i, c) in s.cpu_c.iter().enumerate() {
        rows.push((
            format!("CPU{} Core Rem", i + 1),
            "Temperature",
            format!("{:.2}", c.round()),
            "C",
            "'OK'",
        ));
    }
    for (i, f) in s.fan_rpm.iter().enumerate() {
        match f {
            Some(r) => rows.push((
                format!("FAN{} F Speed", i + 1),
                "Fan",
                format!("{:.2}", (r / 120.0).round() * 120.0),
                "RPM",
                "'OK'",
            )),
            None => rows.push((
                format!("FAN{} F Speed", i + 1),
                "Fan",
                "N/A".into(),
                "RPM",
                "N/A",
            )),
        }
    }
    rows.push((
        "Power".into(),
        "Current",
        format!("{:.2}", s.wall_w.round()),
        "W",
        "'OK'",
    ));
    let mut out = format!(
        "Caching SDR repository information: /root/.freeipmi/sdr-cache/sdr-cache-{}.localhost\n\
         Caching SDR record {n} of {n} (current record ID {n})\n\
         ID  | Name             | Type                     | Reading    | Units | Event\n",
        s.host,
        n = rows.len()
    );
    for (i, (name, ty, reading, unit, event)) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:<3} | {name:<16} | {ty:<24} | {reading:<10} | {unit:<5} | {event}",
            i + 1
        );
    }
    out
}

/// FreeIPMI `ipmi-dcmi --get-system-power-statistics`.
pub(crate) fn freeipmi_dcmi(s: &Snapshot) -> String {
    let (y, mo, d, h, mi, se, _) = civil(s.bmc_secs);
    format!(
        "Current Power                        : {} Watts\n\
         Minimum Power over sampling duration : {} watts\n\
         Maximum Power over sampling duration : {} watts\n\
         Average Power over sampling duration : {} watts\n\
         Time Stamp                           : {mo:02}/{d:02}/{y:04} - {h:02}:{mi:02}:{se:02}\n\
         Statistics reporting time period     : {} milliseconds\n\
         Power Measurement                    : Active\n",
        s.wall_w.round(),
        s.dcmi_min.round(),
        s.dcmi_max.round(),
        s.dcmi_avg.round(),
        s.period_s * 1000
    )
}

/// Compact JSON, as BMC web servers answer.
fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string(v).unwrap_or_default();
    s.push('\n');
    s
}

/// Redfish legacy `Thermal` (Inspur-style names, `PhysicalContext` set).
pub(crate) fn redfish_thermal(s: &Snapshot) -> String {
    let base = format!("/redfish/v1/Chassis/{}/Thermal", s.host);
    let ok = json!({"State": "Enabled", "Health": "OK"});
    let mut temps = vec![
        json!({"@odata.id": format!("{base}#/Temperatures/0"), "MemberId": "0", "Name": "Inlet Temperature",
               "PhysicalContext": "Intake", "ReadingCelsius": s.inlet_c.round(), "UpperThresholdCritical": 45, "Status": ok}),
        json!({"@odata.id": format!("{base}#/Temperatures/1"), "MemberId": "1", "Name": "Outlet Temperature",
               "PhysicalContext": "Exhaust", "ReadingCelsius": s.exhaust_c.round(), "UpperThresholdCritical": 75, "Status": ok}),
    ];
    for (i, c) in s.cpu_c.iter().enumerate() {
        temps.push(json!({"@odata.id": format!("{base}#/Temperatures/{}", i + 2), "MemberId": (i + 2).to_string(),
            "Name": format!("CPU{}_Temp", i), "PhysicalContext": "CPU", "ReadingCelsius": c.round(), "Status": ok}));
    }
    let fans: Vec<Value> = s
        .fan_rpm
        .iter()
        .enumerate()
        .map(|(i, f)| match f {
            Some(r) => json!({"@odata.id": format!("{base}#/Fans/{i}"), "MemberId": i.to_string(), "Name": format!("FAN{i}_F_Speed"),
                "PhysicalContext": "Backplane", "Reading": (r / 100.0).round() * 100.0, "ReadingUnits": "RPM", "Status": ok}),
            None => json!({"@odata.id": format!("{base}#/Fans/{i}"), "MemberId": i.to_string(), "Name": format!("FAN{i}_F_Speed"),
                "PhysicalContext": "Backplane", "Reading": null, "ReadingUnits": "RPM", "Status": {"State": "Absent"}}),
        })
        .collect();
    pretty(&json!({
        "@odata.context": "/redfish/v1/$metadata#Thermal.Thermal",
        "@odata.id": base,
        "@odata.type": "#Thermal.v1_5_0.Thermal",
        "Id": "Thermal",
        "Name": "Thermal",
        "Temperatures": temps,
        "Fans": fans,
    }))
}

/// Redfish legacy `Power`: the system input with its DCMI-like metrics, and each supply's
/// input, output and line voltage.
pub(crate) fn redfish_power(s: &Snapshot) -> String {
    let base = format!("/redfish/v1/Chassis/{}/Power", s.host);
    let ok = json!({"State": "Enabled", "Health": "OK"});
    let psus: Vec<Value> = s
        .psu_in_w
        .iter()
        .zip(&s.psu_out_w)
        .enumerate()
        .map(|(i, (pin, pout))| {
            json!({"@odata.id": format!("{base}#/PowerSupplies/{i}"), "MemberId": i.to_string(), "Name": format!("PSU{i}"),
                "PowerInputWatts": pin.round(), "PowerOutputWatts": pout.round(), "LineInputVoltage": s.line_v.round(),
                "Status": ok})
        })
        .collect();
    pretty(&json!({
        "@odata.context": "/redfish/v1/$metadata#Power.Power",
        "@odata.id": base,
        "@odata.type": "#Power.v1_5_0.Power",
        "Id": "Power",
        "Name": "Power",
        "PowerControl": [{
            "@odata.id": format!("{base}#/PowerControl/0"),
            "MemberId": "0",
            "Name": "System Power Control",
            "PowerConsumedWatts": s.wall_w.round(),
            "PowerMetrics": {
                "IntervalInMin": s.period_s / 60,
                "MinConsumedWatts": s.dcmi_min.round(),
                "MaxConsumedWatts": s.dcmi_max.round(),
                "AverageConsumedWatts": s.dcmi_avg.round(),
            },
            "Status": ok,
        }],
        "PowerSupplies": psus,
    }))
}

/// One outlet of a rack PDU at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Outlet {
    pub power_w: f64,
    pub voltage_v: f64,
    pub energy_wh: f64,
}

/// A Server Technology Sentry4 PDU walked with `snmpwalk -v2c -On` over the objects Kelvin
/// reads: the input cord, phase 1, every outlet, and the inlet probe.
pub(crate) fn snmp_sentry4(outlets: &[Outlet], cord_energy_kwh: f64, probe_c: f64) -> String {
    let mut o = String::new();
    let power: f64 = outlets.iter().map(|x| x.power_w.round()).sum();
    let volts = outlets.first().map_or(230.0, |x| x.voltage_v);
    let st4 = ".1.3.6.1.4.1.1718.4.1";
    let _ = writeln!(o, "{st4}.3.3.1.3.1.1 = INTEGER: {power}");
    let _ = writeln!(
        o,
        "{st4}.3.3.1.10.1.1 = INTEGER: {}",
        (cord_energy_kwh * 10.0).floor()
    );
    let _ = writeln!(
        o,
        "{st4}.5.3.1.3.1.1.1 = INTEGER: {}",
        (volts * 10.0).round()
    );
    let _ = writeln!(
        o,
        "{st4}.5.3.1.6.1.1.1 = INTEGER: {}",
        (power / volts * 100.0).round()
    );
    let _ = writeln!(o, "{st4}.5.3.1.8.1.1.1 = INTEGER: {power}");
    for (k, x) in outlets.iter().enumerate() {
        let k = k + 1;
        let _ = writeln!(
            o,
            "{st4}.8.3.1.3.1.1.{k} = INTEGER: {}",
            (x.power_w / x.voltage_v * 100.0).round()
        );
        let _ = writeln!(
            o,
            "{st4}.8.3.1.6.1.1.{k} = INTEGER: {}",
            (x.voltage_v * 10.0).round()
        );
        let _ = writeln!(o, "{st4}.8.3.1.7.1.1.{k} = INTEGER: {}", x.power_w.round());
        let _ = writeln!(
            o,
            "{st4}.8.3.1.14.1.1.{k} = Counter32: {}",
            x.energy_wh.floor()
        );
    }
    let _ = writeln!(
        o,
        "{st4}.9.3.1.1.1.1 = INTEGER: {}",
        (probe_c * 10.0).round()
    );
    o
}

/// The NVML sampler's device CSV header (as `kelvin_ingest::nvml::DEVICE_HEADER`).
pub(crate) const NVML_DEVICE_HEADER: &str = "t_unix_ns,power_mw,power_limit_mw,total_energy_mj,gpu_util_pct,mem_util_pct,temp_gpu_c,clock_sm_mhz,clock_mem_mhz,mem_used_bytes,pstate,throttle_reasons";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0, 4));
        assert_eq!(rfc3339(1_793_606_400), "2026-11-02T08:00:00Z");
        assert_eq!(ctime(1_470_086_571), "Mon Aug  1 21:22:51 2016");
    }
}
