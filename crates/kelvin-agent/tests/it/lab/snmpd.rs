//! net-snmp's agent (`/usr/sbin/snmpd`, Debian's `snmpd`) on a free loopback UDP port, with
//! its own configuration and persistent directory, killed and removed on drop.
//!
//! It serves, through `override` directives, a small UPS in RFC 1628's `UPS-MIB`
//! (`1.3.6.1.2.1.33`), the MIB kelvin-ingest's `snmp_walk` decoder reads (with Sentry4; the
//! ENTITY-SENSOR-MIB is not in its table): see [`EXPECTED`]. It answers a v2c community and a
//! v3 user (SHA / AES, `authPriv`), both random per start.
//!
//! It runs as whoever runs the tests (`-C -c <conf>`: no system configuration, no privilege
//! drop; `SNMP_PERSISTENT_DIR` keeps its state in the temporary directory), as root or not.
//!
//! ```ignore
//! let Some(agent) = Snmpd::start() else { return }; // not installed: skipped
//! let cap = exec::poll_snmp("127.0.0.1", agent.port(), &agent.community(), Snmpd::SUBTREE, …);
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

use kelvin_agent::config::{Secret, SnmpAuth};
use kelvin_model::SensorKind;

/// The binary.
pub(crate) const BINARY: &str = "/usr/sbin/snmpd";

/// How long the agent may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// One served object: its OID, its SNMP type (`override` syntax) and raw value, and the
/// reading the `snmp_walk` decoder makes of it (sensor, kind, value in canonical units).
pub(crate) struct Served {
    /// The instance OID.
    pub(crate) oid: &'static str,
    /// Raw integer served.
    pub(crate) raw: i64,
    /// Sensor name after decoding.
    pub(crate) sensor: &'static str,
    /// Kind after decoding.
    pub(crate) kind: SensorKind,
    /// Value after decoding.
    pub(crate) value: f64,
}

/// What the agent serves and what Kelvin reads from it.
pub(crate) const EXPECTED: &[Served] = &[
    Served {
        oid: "1.3.6.1.2.1.33.1.2.7.0",
        raw: 24,
        sensor: "battery.temperature",
        kind: SensorKind::Temperature,
        value: 24.0,
    },
    Served {
        oid: "1.3.6.1.2.1.33.1.3.3.1.3.1",
        raw: 230,
        sensor: "input.1.voltage",
        kind: SensorKind::Voltage,
        value: 230.0,
    },
    Served {
        oid: "1.3.6.1.2.1.33.1.3.3.1.5.1",
        raw: 1800,
        sensor: "input.1.power",
        kind: SensorKind::Power,
        value: 1800.0,
    },
    Served {
        oid: "1.3.6.1.2.1.33.1.4.4.1.3.1",
        raw: 72,
        sensor: "output.1.current",
        kind: SensorKind::Current,
        value: 7.2,
    },
    Served {
        oid: "1.3.6.1.2.1.33.1.4.4.1.4.1",
        raw: 1650,
        sensor: "output.1.power",
        kind: SensorKind::Power,
        value: 1650.0,
    },
];

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

/// A BER TLV with a short (< 128 bytes) body.
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128, "a short BER body");
    let mut out = vec![tag, body.len() as u8];
    out.extend_from_slice(body);
    out
}

/// An SNMP v2c GetRequest for one OID (each arc below 128).
fn get_request(community: &str, oid: &str) -> Vec<u8> {
    let arcs: Vec<u8> = oid
        .split('.')
        .map(|a| a.parse().expect("a small arc"))
        .collect();
    let mut encoded = vec![arcs[0] * 40 + arcs[1]];
    encoded.extend_from_slice(&arcs[2..]);
    let varbind = [tlv(0x06, &encoded), vec![0x05, 0x00]].concat();
    let list = tlv(0x30, &tlv(0x30, &varbind));
    let int = |v: u8| tlv(0x02, &[v]);
    let pdu = tlv(0xa0, &[int(1), int(0), int(0), list].concat());
    tlv(
        0x30,
        &[int(1), tlv(0x04, community.as_bytes()), pdu].concat(),
    )
}

/// A running snmpd.
pub(crate) struct Snmpd {
    child: Child,
    dir: PathBuf,
    port: u16,
    community: String,
    v3_user: String,
    v3_auth: String,
    v3_priv: String,
}

impl Snmpd {
    /// The subtree holding everything served.
    pub(crate) const SUBTREE: &'static str = "1.3.6.1.2.1.33";

    /// Starts snmpd on a free loopback port. `None`, said on stderr, when it is not installed;
    /// panics with its log when it is but does not start.
    pub(crate) fn start() -> Option<Snmpd> {
        if !Path::new(BINARY).exists() {
            eprintln!("SKIP: {BINARY} is not installed (Debian package `snmpd`)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "kelvin-it-snmpd-{}-{}",
            std::process::id(),
            token()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("persist")).expect("creating snmpd's directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod 700");
        // Spaces and `#` exercise the quoting of the agent's snmp.conf.
        let community = format!("kel vin#{}", token());
        let (v3_user, v3_auth, v3_priv) = (
            "kelvin-v3".to_string(),
            format!("auth {}", token()),
            format!("priv#{}", token()),
        );
        let mut conf = format!(
            "rocommunity \"{community}\" 127.0.0.1\n\
             createUser {v3_user} SHA \"{v3_auth}\" AES \"{v3_priv}\"\n\
             rouser {v3_user} priv\n"
        );
        for s in EXPECTED {
            conf += &format!("override .{} integer {}\n", s.oid, s.raw);
        }
        fs::write(dir.join("snmpd.conf"), conf).expect("writing snmpd.conf");
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("binding a loopback UDP port")
            .port();
        let log = fs::File::create(dir.join("log")).expect("creating the log");
        let child = Command::new(BINARY)
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(dir.join("snmpd.conf"))
            .arg(format!("udp:127.0.0.1:{port}"))
            .env("SNMP_PERSISTENT_DIR", dir.join("persist"))
            .env("MIBS", "")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("sharing the log"))
            .stderr(log)
            .spawn()
            .expect("starting snmpd");
        let mut agent = Snmpd {
            child,
            dir,
            port,
            community,
            v3_user,
            v3_auth,
            v3_priv,
        };
        agent.wait_listening();
        Some(agent)
    }

    /// Waits until snmpd answers a v2c GET of the first served object (sent by hand: the
    /// community stays off every command line, the test's own included).
    fn wait_listening(&mut self) {
        let start = Instant::now();
        let probe = UdpSocket::bind("127.0.0.1:0").expect("binding a probe socket");
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("a read timeout");
        let request = get_request(&self.community, EXPECTED[0].oid);
        let mut buf = [0u8; 1500];
        loop {
            let _ = probe.send_to(&request, ("127.0.0.1", self.port));
            if probe.recv_from(&mut buf).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("snmpd exited ({status}):\n{}", self.log());
            }
            if start.elapsed() > START_TIMEOUT {
                panic!(
                    "snmpd did not answer within {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
        }
    }

    /// Its log.
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Its UDP port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The v2c community, as a source's credentials.
    pub(crate) fn community(&self) -> SnmpAuth {
        SnmpAuth::Community(Secret::new(self.community.clone()))
    }

    /// The v3 user, as a source's credentials file reads.
    pub(crate) fn v3(&self) -> SnmpAuth {
        let kv = [
            ("user", self.v3_user.as_str()),
            ("security_level", "authPriv"),
            ("auth_protocol", "SHA"),
            ("auth_password", self.v3_auth.as_str()),
            ("priv_protocol", "AES"),
            ("priv_password", self.v3_priv.as_str()),
        ];
        SnmpAuth::V3(
            kv.iter()
                .map(|(k, v)| (k.to_string(), Secret::new(*v)))
                .collect(),
        )
    }

    /// Every secret it was given (community, v3 passphrases), for leak checks.
    pub(crate) fn secrets(&self) -> Vec<String> {
        vec![
            self.community.clone(),
            self.v3_auth.clone(),
            self.v3_priv.clone(),
        ]
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
