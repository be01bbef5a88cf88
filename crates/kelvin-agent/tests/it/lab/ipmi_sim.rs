//! OpenIPMI's BMC simulator (`/usr/bin/ipmi_sim`, Debian's `openipmi`) on a free loopback UDP
//! port, with a sensor configuration written here, killed and removed on drop.
//!
//! The simulated BMC (IPMI address 0x20) has three threshold sensors, each a Full Sensor Record
//! in its SDR repository: `Inlet Temp` (24 °C), `FAN1` (4500 RPM) and `Pwr Consumption` (the
//! watts the test chooses, type "other units-based", unit Watts). ipmitool's `sensor` listing
//! of it is decoded by kelvin-ingest as the power sensor `input`, the host's only wall-power
//! candidate, so Kelvin takes it as the host's meter. The simulator does not implement DCMI
//! (it answers `Invalid command`), so the agent's DCMI capture is skipped against it.
//!
//! The power can be changed while it runs ([`IpmiSim::set_power`]): the sensor is polled by
//! the simulator from a file every 250 ms (`sensor_add … poll 250 file`).
//!
//! ```ignore
//! let Some(bmc) = IpmiSim::start(212) else { return }; // not installed: skipped
//! let caps = exec::poll_ipmi(IpmiTool::Ipmitool, &bmc.target("lan"), t, max, &bmc.private_dir());
//! ```

#![allow(dead_code)]

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kelvin_agent::config::IpmiTarget;

/// The binary.
pub(crate) const BINARY: &str = "/usr/bin/ipmi_sim";

/// How long the simulator may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the simulator reads the power file, milliseconds.
const POWER_POLL_MS: u32 = 250;

/// A threshold sensor of the simulated BMC: reading = (M × raw + B × 10^k) in `unit`.
struct Sensor {
    number: u8,
    /// IPMI sensor type (0x01 temperature, 0x04 fan, 0x0b other units-based).
    sensor_type: u8,
    /// IPMI base unit (1 °C, 18 RPM, 6 W).
    unit: u8,
    m: u16,
    /// The offset B (10-bit signed) and its exponent k.
    b: i16,
    b_exp: u8,
    name: &'static str,
}

/// A Full Sensor Record (IPMI 2.0 table 43-1) of a linear, unsigned threshold sensor owned by
/// the BMC at 0x20, entity "system board" (7.1), no thresholds.
fn full_sdr(record_id: u16, s: &Sensor) -> Vec<u8> {
    let b = s.b as u16 & 0x3ff;
    let mut body = vec![
        0x20,
        0x00,
        s.number, // owner, LUN, number
        0x07,
        0x01, // entity id, instance
        0x7f,
        0x68, // initialization, capabilities
        s.sensor_type,
        0x01, // type, event/reading type: threshold
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
        (b & 0xff) as u8,
        ((b >> 8) as u8 & 0x03) << 6, // B, accuracy
        0x00,                         // accuracy, direction
        s.b_exp & 0x0f,               // R exponent 0, B exponent
        0x00,
        0,
        0,
        0, // flags, nominal, normal max, normal min
        0xff,
        0x00, // sensor max, min
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

/// A random-enough token (per process, from the standard library's hasher keys).
fn token() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// A loopback UDP port free when asked.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("binding a loopback UDP port")
        .port()
}

/// The sensors of the simulated BMC and their raw values (`None`: polled from the power file).
fn sensors(power_base: u32) -> [(Sensor, Option<u8>); 3] {
    [
        (
            Sensor {
                number: 1,
                sensor_type: 0x01,
                unit: 1,
                m: 1,
                b: 0,
                b_exp: 0,
                name: "Inlet Temp",
            },
            Some(24),
        ),
        (
            Sensor {
                number: 2,
                sensor_type: 0x04,
                unit: 18,
                m: 100,
                b: 0,
                b_exp: 0,
                name: "FAN1",
            },
            Some(45),
        ),
        (
            Sensor {
                number: 3,
                sensor_type: 0x0b,
                unit: 6,
                m: 1,
                b: (power_base / 10) as i16,
                b_exp: 1,
                name: "Pwr Consumption",
            },
            None,
        ),
    ]
}

/// Writes `lan.conf` (one LAN channel on the port, user 2 with admin rights) and the command
/// file `kelvin.emu` (the MC and its sensors) into `dir`.
fn configure(dir: &Path, port: u16, user: &str, password: &str, power_base: u32) {
    let lan = format!(
        "name \"kelvin\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {port}\n\
         \x20   priv_limit admin\n\
         \x20   allowed_auths_callback none md2 md5 straight\n\
         \x20   allowed_auths_user none md2 md5 straight\n\
         \x20   allowed_auths_operator none md2 md5 straight\n\
         \x20   allowed_auths_admin none md2 md5 straight\n\
         \x20   guid a123456789abcdefa123456789abcdef\n  endlan\n\
         user 2 true \"{user}\" \"{password}\" admin 10 none md2 md5 straight\n"
    );
    let mut emu = String::from(
        "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n",
    );
    for (i, (s, raw)) in sensors(power_base).iter().enumerate() {
        let bytes: Vec<String> = full_sdr(i as u16 + 1, s)
            .iter()
            .map(|b| format!("{b:#04x}"))
            .collect();
        let (n, t) = (s.number, s.sensor_type);
        emu += &match raw {
            Some(_) => format!("sensor_add 0x20 0 {n} {t:#04x} 0x01\n"),
            None => format!(
                "sensor_add 0x20 0 {n} {t:#04x} 0x01 poll {POWER_POLL_MS} file \"{}\"\n",
                dir.join("power").display()
            ),
        };
        emu += &format!(
            "sensor_set_event_support 0x20 0 {n} enable scanning none 000000000000000 \
             000000000000000 000000000000000 000000000000000\n"
        );
        emu += &format!("main_sdr_add 0x20 {}\n", bytes.join(" "));
        if let Some(raw) = raw {
            emu += &format!("sensor_set_value 0x20 0 {n} {raw} 0\n");
        }
    }
    emu += "mc_enable 0x20\n";
    fs::write(dir.join("lan.conf"), lan).expect("writing lan.conf");
    fs::write(dir.join("kelvin.emu"), emu).expect("writing kelvin.emu");
}

/// Writes the raw value of `watts` to the power file the simulator polls (atomically).
fn write_power(dir: &Path, power_base: u32, watts: u32) {
    let raw = watts
        .checked_sub(power_base)
        .filter(|r| *r <= 255)
        .unwrap_or_else(|| {
            panic!(
                "{watts} W is outside the sensor's range {power_base}..={}",
                power_base + 255
            )
        });
    let tmp = dir.join("power.tmp");
    fs::write(&tmp, format!("{raw}\n")).expect("writing the power file");
    fs::rename(&tmp, dir.join("power")).expect("replacing the power file");
}

/// A running simulated BMC.
pub(crate) struct IpmiSim {
    child: Child,
    dir: PathBuf,
    port: u16,
    user: String,
    password: String,
    /// Watts at raw 0 of the power sensor (its B × 10¹).
    power_base: u32,
}

impl IpmiSim {
    /// Starts a BMC whose `Pwr Consumption` sensor reads `power_w` watts (at most 5110; a
    /// later [`IpmiSim::set_power`] must stay within 255 W above the base chosen here, which
    /// is `power_w` − 100 rounded down to tens). `None`, said on stderr, when `ipmi_sim` is not
    /// installed; panics with its log when it is but does not start.
    pub(crate) fn start(power_w: u32) -> Option<IpmiSim> {
        if !Path::new(BINARY).exists() {
            eprintln!("SKIP: {BINARY} is not installed (Debian package `openipmi`)");
            return None;
        }
        assert!(
            power_w <= 5110,
            "the simulated power sensor reads up to 5110 W"
        );
        let dir = std::env::temp_dir().join(format!(
            "kelvin-it-ipmi-sim-{}-{}",
            std::process::id(),
            token()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("state")).expect("creating the simulator's directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod 700");
        let power_base = power_w.saturating_sub(100) / 10 * 10;
        // `#` and `\` exercise the quoting of FreeIPMI's configuration file; 16 characters,
        // IPMI 1.5's limit.
        let password = format!("k#{}\\z", token());
        let (port, user) = (free_udp_port(), "kelvin".to_string());
        write_power(&dir, power_base, power_w);
        let password_file = dir.join("password");
        fs::write(&password_file, format!("{password}\n")).expect("writing the password file");
        fs::set_permissions(&password_file, fs::Permissions::from_mode(0o600)).expect("chmod 600");
        configure(&dir, port, &user, &password, power_base);
        let log = fs::File::create(dir.join("log")).expect("creating the log");
        let child = Command::new(BINARY)
            .args(["-n", "-c"])
            .arg(dir.join("lan.conf"))
            .arg("-f")
            .arg(dir.join("kelvin.emu"))
            .arg("-s")
            .arg(dir.join("state"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("sharing the log"))
            .stderr(log)
            .spawn()
            .expect("starting ipmi_sim");
        let mut sim = IpmiSim {
            child,
            dir,
            port,
            user,
            password,
            power_base,
        };
        sim.wait_listening();
        Some(sim)
    }

    /// Waits until the simulator holds its UDP port (binding it then fails).
    fn wait_listening(&mut self) {
        let start = Instant::now();
        while UdpSocket::bind(("127.0.0.1", self.port)).is_ok() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ipmi_sim exited ({status}):\n{}", self.log());
            }
            if start.elapsed() > START_TIMEOUT {
                panic!(
                    "ipmi_sim did not listen within {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its log (stdout and stderr).
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Sets the watts the power sensor reads (within 255 W above its base); the simulator
    /// picks it up within 250 ms.
    pub(crate) fn set_power(&self, watts: u32) {
        write_power(&self.dir, self.power_base, watts);
    }

    /// Its UDP port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The IPMI user.
    pub(crate) fn user(&self) -> &str {
        &self.user
    }

    /// The user's password (for tests that check it never leaks).
    pub(crate) fn password(&self) -> &str {
        &self.password
    }

    /// An owner-only (0600) file holding the password.
    pub(crate) fn password_file(&self) -> PathBuf {
        self.dir.join("password")
    }

    /// A private directory for the agent (FreeIPMI's configuration and SDR cache).
    pub(crate) fn private_dir(&self) -> PathBuf {
        self.dir.join("agent-private")
    }

    /// A `[[sources]]` table reading this BMC with ipmitool over lanplus, as `name` for
    /// `entity`, every `interval_s` seconds.
    pub(crate) fn source_toml(&self, name: &str, entity: &str, interval_s: u32) -> String {
        format!(
            r#"
[[sources]]
name = "{name}"
kind = "ipmitool"
entity = "{entity}"
interval_s = {interval_s}
timeout_s = 10
host = "127.0.0.1"
port = {port}
interface = "lanplus"
username = "{user}"
password_file = "{pw}"
"#,
            port = self.port,
            user = self.user,
            pw = self.password_file().display(),
        )
    }

    /// The BMC as an agent source sees it, over `interface` (`lan` or `lanplus`).
    pub(crate) fn target(&self, interface: &str) -> IpmiTarget {
        IpmiTarget {
            host: "127.0.0.1".to_string(),
            port: self.port,
            interface: interface.to_string(),
            username: self.user.clone(),
            password_file: self.password_file(),
        }
    }
}

impl Drop for IpmiSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
