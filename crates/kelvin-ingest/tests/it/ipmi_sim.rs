//! Real ipmitool and FreeIPMI against OpenIPMI's `ipmi_sim` BMC simulator on loopback, with a
//! sensor configuration written here: the captures the tools print are decoded and the values
//! the simulated BMC was given come back. Skipped, saying so, when the tools are not installed
//! (CI installs Debian's `openipmi`, `ipmitool` and `freeipmi-tools`).

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kelvin_ingest::ipmi::{FreeipmiSensors, IpmitoolSdrElist, IpmitoolSensor};
use kelvin_ingest::{Context, Decode, IngestBatch, Normalizer};
use kelvin_model::SensorKind;

/// A threshold sensor of the simulated BMC.
struct Sensor {
    number: u8,
    /// IPMI sensor type (0x01 temperature, 0x04 fan, 0x0b other units-based).
    sensor_type: u8,
    /// IPMI base unit code (1 °C, 18 RPM, 6 W).
    unit: u8,
    /// Conversion factor M (reading = M × raw).
    m: u16,
    name: &'static str,
    raw: u8,
}

const SENSORS: [Sensor; 3] = [
    Sensor {
        number: 1,
        sensor_type: 0x01,
        unit: 1,
        m: 1,
        name: "Inlet Temp",
        raw: 24,
    },
    Sensor {
        number: 2,
        sensor_type: 0x04,
        unit: 18,
        m: 100,
        name: "FAN1",
        raw: 45,
    },
    Sensor {
        number: 3,
        sensor_type: 0x0b,
        unit: 6,
        m: 1,
        name: "Pwr Consumption",
        raw: 210,
    },
];

/// A Full Sensor Record (IPMI 2.0, table 43-1) for a linear, unsigned threshold sensor owned
/// by the BMC at 0x20, entity "system board" (0x07).
fn full_sdr(record_id: u16, s: &Sensor) -> Vec<u8> {
    let mut body = vec![
        0x20,
        0x00,
        s.number, // owner, LUN, sensor number
        0x07,
        0x01, // entity id, instance
        0x7f,
        0x68,
        s.sensor_type,
        0x01, // initialization, capabilities, type, threshold reading
        0,
        0,
        0,
        0,
        0,
        0, // assertion, deassertion, reading masks
        0x00,
        s.unit,
        0x00, // analog unsigned, base unit, modifier unit
        0x00, // linear
        (s.m & 0xff) as u8,
        ((s.m >> 8) as u8 & 0x03) << 6, // M, tolerance
        0x00,
        0x00,
        0x00,
        0x00, // B, accuracy, R and B exponents
        0x00,
        0,
        0,
        0,
        0xff,
        0x00, // flags, nominal, normal max/min, sensor max/min
        0,
        0,
        0,
        0,
        0,
        0, // thresholds
        0,
        0,
        0,
        0,
        0, // hysteresis, reserved, OEM
    ];
    body.push(0xc0 | s.name.len() as u8); // 8-bit ASCII id string
    body.extend_from_slice(s.name.as_bytes());
    let mut sdr = vec![
        (record_id & 0xff) as u8,
        (record_id >> 8) as u8,
        0x51,
        0x01,
        body.len() as u8,
    ];
    sdr.extend(body);
    sdr
}

fn configure(dir: &Path, port: u16) {
    let lan = format!(
        "name \"kelvin\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {port}\n    priv_limit admin\n\
         allowed_auths_callback none md2 md5 straight\n    allowed_auths_user none md2 md5 straight\n\
         allowed_auths_operator none md2 md5 straight\n    allowed_auths_admin none md2 md5 straight\n\
         guid a123456789abcdefa123456789abcdef\n  endlan\n\
         user 2 true \"admin\" \"admin\" admin 10 none md2 md5 straight\n"
    );
    let mut emu = String::from(
        "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n",
    );
    for (i, s) in SENSORS.iter().enumerate() {
        let bytes: Vec<String> = full_sdr(i as u16 + 1, s)
            .iter()
            .map(|b| format!("{b:#04x}"))
            .collect();
        emu += &format!(
            "sensor_add 0x20 0 {} {:#04x} 0x01\n",
            s.number, s.sensor_type
        );
        emu += &format!(
            "sensor_set_event_support 0x20 0 {} enable scanning none 000000000000000 000000000000000 000000000000000 000000000000000\n",
            s.number
        );
        emu += &format!("main_sdr_add 0x20 {}\n", bytes.join(" "));
        emu += &format!("sensor_set_value 0x20 0 {} {} 0\n", s.number, s.raw);
    }
    emu += "mc_enable 0x20\n";
    std::fs::write(dir.join("lan.conf"), lan).unwrap();
    std::fs::write(dir.join("kelvin.emu"), emu).unwrap();
}

struct Bmc(Child);

impl Drop for Bmc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn installed(bin: &str) -> bool {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .any(|d| Path::new(d).join(bin).exists())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.stderr(Stdio::null()).output().expect("tool runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn decode(d: &dyn Decode, text: &str) -> IngestBatch {
    let n = Normalizer::builtin();
    let mut out = IngestBatch::default();
    d.decode(text, &Context::new("bmc.txt", &n), &mut out);
    assert_eq!(out.stats.seen, out.stats.accepted + out.stats.quarantined);
    out
}

fn value(b: &IngestBatch, sensor: &str, kind: SensorKind, text: &str) -> f64 {
    b.readings
        .iter()
        .find(|r| r.sensor == sensor && r.kind == kind)
        .unwrap_or_else(|| panic!("no {sensor} {kind} in the tool's output:\n{text}"))
        .value
}

#[test]
fn ipmitool_and_freeipmi_against_a_simulated_bmc() {
    if !(installed("ipmi_sim") && installed("ipmitool") && installed("ipmi-sensors")) {
        eprintln!(
            "SKIP: ipmi_sim, ipmitool or ipmi-sensors is not installed (CI installs openipmi, ipmitool, freeipmi-tools)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("kelvin-ipmi-sim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    configure(&dir, port);
    let child = Command::new("ipmi_sim")
        .args(["-n", "-c"])
        .arg(dir.join("lan.conf"))
        .arg("-f")
        .arg(dir.join("kelvin.emu"))
        .arg("-s")
        .arg(dir.join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ipmi_sim starts");
    let _bmc = Bmc(child);
    let host = ["-I", "lan", "-H", "127.0.0.1", "-U", "admin", "-P", "admin"];
    let p = port.to_string();
    // The simulator takes a moment to listen; retry until it answers (bounded).
    let start = Instant::now();
    let sensor_text = loop {
        let text = run(Command::new("ipmitool")
            .args(host)
            .args(["-p", &p, "sensor"]));
        if text.contains("Inlet Temp") || start.elapsed() > Duration::from_secs(20) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let b = decode(&IpmitoolSensor, &sensor_text);
    assert_eq!(
        value(&b, "inlet", SensorKind::Temperature, &sensor_text),
        24.0
    );
    assert_eq!(
        value(&b, "FAN1", SensorKind::FanSpeed, &sensor_text),
        4500.0
    );
    assert_eq!(value(&b, "input", SensorKind::Power, &sensor_text), 210.0);

    // With `-v` and stderr captured too, the tool's own messages come first; the format is
    // still found from the body and the values are the same.
    for words in [&["-v", "sensor"][..], &["-v", "sdr", "list"], &["sensor"]] {
        let out = Command::new("ipmitool")
            .args(host)
            .args(["-p", &p])
            .args(words)
            .output()
            .expect("ipmitool runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        let n = Normalizer::builtin();
        let b = kelvin_ingest::decode_str(None, &text, &Context::new("bmc.txt", &n));
        assert_eq!(
            b.stats.quarantined, 0,
            "{words:?}: {:?}\n{text}",
            b.quarantine
        );
        assert_eq!(
            value(&b, "input", SensorKind::Power, &text),
            210.0,
            "{words:?}"
        );
    }

    let elist = run(Command::new("ipmitool")
        .args(host)
        .args(["-p", &p, "sdr", "elist"]));
    let b = decode(&IpmitoolSdrElist, &elist);
    assert_eq!(value(&b, "inlet", SensorKind::Temperature, &elist), 24.0);

    // FreeIPMI insists on a private cache directory.
    let cache = dir.join("sdr-cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::set_permissions(&cache, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let freeipmi = run(Command::new("ipmi-sensors")
        .args([
            "-h",
            &format!("127.0.0.1:{p}"),
            "-u",
            "admin",
            "-p",
            "admin",
            "--driver-type=LAN",
        ])
        .arg(format!("--sdr-cache-directory={}", cache.display())));
    let b = decode(&FreeipmiSensors, &freeipmi);
    assert_eq!(value(&b, "inlet", SensorKind::Temperature, &freeipmi), 24.0);
    assert_eq!(value(&b, "FAN1", SensorKind::FanSpeed, &freeipmi), 4500.0);
    let _ = std::fs::remove_dir_all(&dir);
}
