//! The programs behind the command sources (`kelvin_agent::exec`): ipmitool and FreeIPMI
//! against OpenIPMI's simulated BMC, snmpwalk against snmpd, and what the runner does with a
//! program that hangs, floods or fails. Each test skips, saying so, when a tool is missing.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kelvin_agent::config::{IpmiTarget, Secret, SnmpAuth};
use kelvin_agent::exec::{self, Capture, ExecError, IpmiTool};
use kelvin_ingest::{Context, Decoders, IngestBatch, Normalizer};
use kelvin_model::SensorKind;

use crate::lab::ipmi_sim::IpmiSim;
use crate::lab::snmpd::{EXPECTED, Snmpd};

const MIB: u64 = 1 << 20;

/// Whether `bin` is installed where Debian puts it.
fn installed(bin: &str) -> bool {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .any(|d| Path::new(d).join(bin).exists())
}

/// `true` when every tool is there; otherwise says which is not.
fn have(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !installed(t)).collect();
    if !missing.is_empty() {
        eprintln!(
            "SKIP: {} not installed (Debian: ipmitool, freeipmi-tools, openipmi, snmp, snmpd)",
            missing.join(", ")
        );
    }
    missing.is_empty()
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// A capture decoded the way the agent hands it to the engine.
fn decode(c: &Capture) -> IngestBatch {
    let n = Normalizer::builtin();
    let ctx = Context::new("bmc1", &n);
    let b = Decoders::builtin().decode_str(c.format.as_deref(), &c.text, &ctx);
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    b
}

fn value(b: &IngestBatch, sensor: &str, kind: SensorKind, text: &str) -> f64 {
    b.readings
        .iter()
        .find(|r| r.sensor == sensor && r.kind == kind)
        .unwrap_or_else(|| panic!("no {sensor} {kind} in:\n{text}"))
        .value
}

/// Polls the BMC and returns its power as Kelvin reads it (the sensor listing's `input`).
fn power(tool: IpmiTool, t: &IpmiTarget, private: &Path) -> f64 {
    let caps = exec::poll_ipmi(tool, t, Duration::from_secs(20), MIB, private)
        .unwrap_or_else(|e| panic!("{tool:?} over {}: {e}", t.interface));
    let (format, source) = match tool {
        IpmiTool::Ipmitool => ("ipmitool_sensor", "ipmitool sensor"),
        IpmiTool::Freeipmi => ("freeipmi_sensors", "ipmi-sensors"),
    };
    assert_eq!(caps[0].format.as_deref(), Some(format));
    assert_eq!(caps[0].source, source);
    // ipmi_sim answers DCMI with "Invalid command": that capture is skipped.
    assert_eq!(caps.len(), 1, "a DCMI capture from ipmi_sim: {caps:?}");
    let b = decode(&caps[0]);
    assert_eq!(
        value(&b, "inlet", SensorKind::Temperature, &caps[0].text),
        24.0
    );
    assert_eq!(
        value(&b, "FAN1", SensorKind::FanSpeed, &caps[0].text),
        4500.0
    );
    let powers: Vec<&str> = b
        .readings
        .iter()
        .filter(|r| r.kind == SensorKind::Power)
        .map(|r| r.sensor.as_str())
        .collect();
    // The only power sensor: the engine takes it as the host's wall meter.
    assert_eq!(powers, ["input"], "{}", caps[0].text);
    value(&b, "input", SensorKind::Power, &caps[0].text)
}

#[test]
fn ipmitool_and_freeipmi_read_the_simulated_bmc() {
    if !have(&["ipmi_sim", "ipmitool", "ipmi-sensors", "ipmi-dcmi"]) {
        return;
    }
    let Some(bmc) = IpmiSim::start(212) else {
        return;
    };
    let private = bmc.private_dir();
    // lanplus: IPMI 2.0, the default interface (ipmi_sim ignores ipmitool's cipher-suite
    // query, which costs this poll 3 s per command).
    let lanplus = bmc.target("lanplus");
    assert_eq!(power(IpmiTool::Ipmitool, &lanplus, &private), 212.0);
    let lan = bmc.target("lan");
    assert_eq!(power(IpmiTool::Ipmitool, &lan, &private), 212.0);
    // FreeIPMI over IPMI 2.0 needs its `opensesspriv` workaround against ipmi_sim: IPMI 1.5.
    assert_eq!(power(IpmiTool::Freeipmi, &lan, &private), 212.0);
    // The credentials file is gone after the poll; the SDR cache stays.
    let left: Vec<String> = std::fs::read_dir(&private)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["freeipmi-sdr-cache"]);

    // The power changes while the BMC runs; the next polls see it.
    bmc.set_power(305);
    let start = Instant::now();
    for tool in [IpmiTool::Ipmitool, IpmiTool::Freeipmi] {
        loop {
            let w = power(tool, &lan, &private);
            if w == 305.0 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{tool:?} still reads {w} W"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Watches `/proc/*/cmdline` and `/proc/*/environ` for secrets while polls run.
struct Watcher {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(BTreeSet<String>, Vec<String>)>,
}

impl Watcher {
    fn start(secrets: Vec<String>) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut seen, mut leaks) = (BTreeSet::new(), Vec::new());
            while !flag.load(Ordering::Relaxed) {
                for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                        continue;
                    };
                    let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
                    let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                    let env = String::from_utf8_lossy(&environ);
                    let program = cmd.split(' ').next().unwrap_or("").to_string();
                    if ["ipmitool", "ipmi-sensors", "ipmi-dcmi", "snmpwalk"].contains(&&*program) {
                        seen.insert(program.clone());
                    }
                    if secrets.iter().any(|s| cmd.contains(s) || env.contains(s)) {
                        leaks.push(program);
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (seen, leaks)
        });
        Watcher { stop, thread }
    }

    fn finish(self) -> (BTreeSet<String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the watcher")
    }
}

/// `err` (shown and debugged) holds none of `secrets`.
fn assert_clean(err: &ExecError, secrets: &[String]) {
    let text = format!("{err} / {err:?}");
    for s in secrets {
        assert!(!text.contains(s.as_str()), "a secret in the error: {text}");
    }
}

#[test]
fn no_password_on_any_command_line() {
    if !have(&["ipmi_sim", "ipmitool", "ipmi-sensors", "snmpd", "snmpwalk"]) {
        return;
    }
    let (Some(bmc), Some(agent)) = (IpmiSim::start(180), Snmpd::start()) else {
        return;
    };
    let private = bmc.private_dir();
    let wrong = private.with_file_name("wrong-password");
    std::fs::write(&wrong, "Wr0ng#Secret\n").unwrap();
    std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut secrets = vec![bmc.password().to_string(), "Wr0ng#Secret".to_string()];
    secrets.extend(agent.secrets());
    let watcher = Watcher::start(secrets.clone());
    let t = Duration::from_secs(20);

    for tool in [IpmiTool::Ipmitool, IpmiTool::Freeipmi] {
        exec::poll_ipmi(tool, &bmc.target("lan"), t, MIB, &private).unwrap();
        let bad = IpmiTarget {
            password_file: wrong.clone(),
            ..bmc.target("lan")
        };
        // ipmi_sim drops a session with a wrong password: FreeIPMI waits out its session
        // timeout (80% of this), ipmitool its two tries (3 s).
        let short = Duration::from_secs(5);
        let err = exec::poll_ipmi(tool, &bad, short, MIB, &private).unwrap_err();
        assert!(matches!(err, ExecError::Exit { .. }), "{err}");
        assert_clean(&err, &secrets);
    }
    for auth in [agent.community(), agent.v3()] {
        exec::poll_snmp(
            "127.0.0.1",
            agent.port(),
            &auth,
            Snmpd::SUBTREE,
            t,
            MIB,
            &private,
        )
        .unwrap();
    }
    let bad = SnmpAuth::Community(Secret::new("Wr0ng#Secret"));
    let err = exec::poll_snmp(
        "127.0.0.1",
        agent.port(),
        &bad,
        Snmpd::SUBTREE,
        Duration::from_secs(2),
        MIB,
        &private,
    )
    .unwrap_err();
    assert_clean(&err, &secrets);

    let (seen, leaks) = watcher.finish();
    assert!(
        leaks.is_empty(),
        "secrets on the command lines of {leaks:?}"
    );
    // The watcher did see the tools run, so it would have seen a secret.
    for tool in ["ipmitool", "ipmi-sensors", "snmpwalk"] {
        assert!(
            seen.contains(tool),
            "the watcher never saw {tool}: {seen:?}"
        );
    }
}

#[test]
fn snmp_v2c_and_v3_read_snmpd() {
    if !have(&["snmpd", "snmpwalk"]) {
        return;
    }
    let Some(agent) = Snmpd::start() else {
        return;
    };
    let private = std::env::temp_dir().join(format!("kelvin-it-snmp-{}", std::process::id()));
    for auth in [agent.community(), agent.v3()] {
        let cap = exec::poll_snmp(
            "127.0.0.1",
            agent.port(),
            &auth,
            Snmpd::SUBTREE,
            Duration::from_secs(20),
            MIB,
            &private,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
        assert_eq!(cap.format.as_deref(), Some("snmp_walk"));
        assert_eq!(cap.source, "snmpwalk 1.3.6.1.2.1.33");
        let b = decode(&cap);
        for s in EXPECTED {
            let got = value(&b, s.sensor, s.kind, &cap.text);
            assert!(
                (got - s.value).abs() < 1e-9,
                "{}: {got} != {}",
                s.sensor,
                s.value
            );
        }
        assert_eq!(b.readings.len(), EXPECTED.len(), "{}", cap.text);
    }
    // Nothing of the walks is left in the private directory.
    assert_eq!(std::fs::read_dir(&private).unwrap().count(), 0);
    // A wrong community gets no answer: snmpwalk says so before the poll's deadline.
    let start = Instant::now();
    let err = exec::poll_snmp(
        "127.0.0.1",
        agent.port(),
        &SnmpAuth::Community(Secret::new("nope")),
        Snmpd::SUBTREE,
        Duration::from_secs(3),
        MIB,
        &private,
    )
    .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(3), "{err}");
    match &err {
        ExecError::Exit { stderr, .. } => assert!(stderr.starts_with("Timeout"), "{err}"),
        other => panic!("{other}"),
    }
    let _ = std::fs::remove_dir_all(&private);
}

/// Whether process `pid` is still running (a zombie is not).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !(state.starts_with('Z') || state.starts_with('X'))
        }
        Err(_) => false,
    }
}

#[test]
fn a_hanging_command_times_out() {
    let dir = std::env::temp_dir().join(format!("kelvin-it-hang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pids = dir.join("pids");
    // The shell and a grandchild in the background: the whole group must go.
    let script = format!(
        "echo $$ > {p}.tmp; sleep 30 & echo $! >> {p}.tmp; mv {p}.tmp {p}; wait",
        p = pids.display()
    );
    let start = Instant::now();
    let err = exec::run(
        &argv(&["sh", "-c", &script]),
        &[],
        Duration::from_millis(300),
        MIB,
    )
    .unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(err, ExecError::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "sh did not finish within 300ms; it was killed"
    );
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    let text = std::fs::read_to_string(&pids).expect("the script wrote its pids");
    let pids: Vec<u32> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(pids.len(), 2);
    // SIGKILL is delivered at once, but give the kernel a moment to tear them down.
    let gone = Instant::now();
    while pids.iter().any(|p| running(*p)) && gone.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for p in pids {
        assert!(!running(p), "process {p} survived the timeout");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_flood_is_cut_at_the_limit() {
    for cmd in [
        argv(&["yes"]),
        argv(&["head", "-c", "50000000", "/dev/zero"]),
    ] {
        let start = Instant::now();
        let err = exec::run(&cmd, &[], Duration::from_secs(30), MIB).unwrap_err();
        assert!(
            matches!(&err, ExecError::TooLarge { limit, .. } if *limit == MIB),
            "{err}"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "{err}");
        assert!(
            err.to_string()
                .ends_with("printed more than 1048576 bytes; it was killed")
        );
    }
    // Exactly at the limit is fine; non-UTF-8 bytes come back replaced.
    let out = exec::run(
        &argv(&["head", "-c", "1048576", "/dev/zero"]),
        &[],
        Duration::from_secs(30),
        MIB,
    )
    .unwrap();
    assert_eq!(out.len(), 1 << 20);
    let out = exec::run(
        &argv(&["printf", "a\\377b"]),
        &[],
        Duration::from_secs(5),
        MIB,
    )
    .unwrap();
    assert_eq!(out, "a\u{fffd}b");
}

#[test]
fn a_failing_command_reports_its_exit() {
    let script = "echo partial; echo; echo '  first problem  ' >&2; echo second >&2; exit 3";
    let err = exec::run(
        &argv(&["sh", "-c", script]),
        &[],
        Duration::from_secs(5),
        MIB,
    )
    .unwrap_err();
    assert_eq!(
        err,
        ExecError::Exit {
            program: "sh".into(),
            code: Some(3),
            stderr: "first problem".into(),
        }
    );
    assert_eq!(err.to_string(), "sh exited with code 3: first problem");
    // A long line is cut at 200 characters.
    let long = "printf '%0300d' 0 >&2; exit 1";
    match exec::run(&argv(&["sh", "-c", long]), &[], Duration::from_secs(5), MIB) {
        Err(ExecError::Exit { stderr, .. }) => assert_eq!(stderr.len(), 200),
        other => panic!("{other:?}"),
    }
    // Killed by a signal.
    let err = exec::run(
        &argv(&["sh", "-c", "kill -9 $$"]),
        &[],
        Duration::from_secs(5),
        MIB,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "sh was killed by a signal: (nothing on stderr)"
    );
    // Not installed.
    let err = exec::poll_command(
        &argv(&["/nonexistent/kelvin-tool"]),
        None,
        Duration::from_secs(5),
        MIB,
    )
    .unwrap_err();
    assert!(matches!(err, ExecError::Spawn { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/kelvin-tool could not be run: No such file"),
        "{err}"
    );
    // The environment given is added; the format is kept.
    let cap = exec::poll_command(
        &argv(&["sh", "-c", "echo $KELVIN_TEST"]),
        Some("prometheus"),
        Duration::from_secs(5),
        MIB,
    )
    .unwrap();
    assert_eq!(
        (
            cap.format.as_deref(),
            cap.source.as_str(),
            cap.text.as_str()
        ),
        (Some("prometheus"), "sh", "\n")
    );
    let out = exec::run(
        &argv(&["sh", "-c", "echo $KELVIN_TEST"]),
        &[("KELVIN_TEST".into(), "set".into())],
        Duration::from_secs(5),
        MIB,
    )
    .unwrap();
    assert_eq!(out, "set\n");
}
