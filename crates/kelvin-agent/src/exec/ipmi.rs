//! IPMI over the network with ipmitool or FreeIPMI: the sensor listing and the DCMI power
//! reading of one BMC, the password never on a command line.

use std::path::Path;
use std::time::Duration;

use kelvin_ingest::Format;

use super::private::{Private, ensure_private_dir, freeipmi_quote};
use super::{Capture, Deadline, ExecError, run_until};
use crate::config::{IpmiTarget, Secret, read_secret};

/// Which IPMI tool polls a BMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpmiTool {
    /// `ipmitool` (`sensor`, `dcmi power reading`).
    Ipmitool,
    /// FreeIPMI (`ipmi-sensors`, `ipmi-dcmi --get-system-power-statistics`).
    Freeipmi,
}

/// The environment of the IPMI tools: the C locale, so numbers print as the decoders read them.
fn tool_env() -> Vec<(String, String)> {
    vec![("LC_ALL".to_string(), "C".to_string())]
}

/// Polls one BMC: its sensor listing, then its DCMI power reading, within `timeout` for both.
///
/// - **ipmitool**: `ipmitool -I <interface> -H <host> -p <port> -U <user> -f <password_file>
///   -N 1 -R 2 sensor`, then the same with `dcmi power reading`. The password stays in its
///   file, which ipmitool reads itself. `-N 1 -R 2` bound one unanswered request to 3 s (1 s,
///   then 2 s) instead of ipmitool's 10 s, so a lost packet is retried once within a typical
///   10 s poll.
/// - **FreeIPMI**: the user and password are written, quoted, into an owner-only
///   configuration file in `private_dir` (created 0700), removed after the poll; then
///   `ipmi-sensors --config-file=<file> -D LAN_2_0|LAN -h <host>:<port> --session-timeout=<ms>
///   --retransmission-timeout=<ms> --sdr-cache-directory=<private_dir>/freeipmi-sdr-cache
///   --quiet-cache --sdr-cache-recreate` and `ipmi-dcmi … --get-system-power-statistics`. The
///   session timeout is 80% of the time left, so FreeIPMI reports an unreachable BMC itself.
///
/// Interface `lan` is IPMI 1.5 (`-I lan`, `LAN`), anything else IPMI 2.0 / RMCP+ (`-I
/// lanplus`, `LAN_2_0`). The tools keep their default privilege levels. The environment is
/// the agent's with `LC_ALL=C`.
///
/// The captures are the sensor listing (`ipmitool_sensor` / `freeipmi_sensors`, source
/// `ipmitool sensor` / `ipmi-sensors`) and, when the BMC answers it, the DCMI reading
/// (`ipmitool_dcmi` / `freeipmi_dcmi`). **A DCMI command that fails** — the BMC does not
/// implement DCMI (`Invalid command (c1)`), refuses it, or does not answer in the time left —
/// **is skipped**: the sensor listing alone is returned, since it already holds the readings
/// (a `Pwr Consumption` sensor among them).
///
/// # Errors
/// The sensor listing's [`ExecError`]; a DCMI reading that printed more than `max_bytes`;
/// [`ExecError::Spawn`] when the password file is unreadable or shared, or the private
/// directory or file cannot be written. No error holds the password.
pub fn poll_ipmi(
    tool: IpmiTool,
    t: &IpmiTarget,
    timeout: Duration,
    max_bytes: u64,
    private_dir: &Path,
) -> Result<Vec<Capture>, ExecError> {
    let deadline = Deadline::after(timeout);
    let program = match tool {
        IpmiTool::Ipmitool => "ipmitool",
        IpmiTool::Freeipmi => "ipmi-sensors",
    };
    let password =
        read_secret(&t.password_file).map_err(|e| ExecError::spawn(program, e.to_string()))?;
    let secrets = [password.expose()];
    // FreeIPMI's configuration file lives until the end of the poll (dropped: removed).
    let config = match tool {
        IpmiTool::Ipmitool => None,
        IpmiTool::Freeipmi => Some(freeipmi_config(t, &password, private_dir)?),
    };
    // Built when each command starts: FreeIPMI's session timeout follows the time left.
    let argv = |dcmi: bool| match (&config, dcmi) {
        (None, false) => ipmitool_argv(t, &["sensor"]),
        (None, true) => ipmitool_argv(t, &["dcmi", "power", "reading"]),
        (Some(c), false) => freeipmi_sensors_argv(t, c.path(), private_dir, deadline),
        (Some(c), true) => freeipmi_dcmi_argv(t, c.path(), deadline),
    };
    let (sensor_format, dcmi_format) = match tool {
        IpmiTool::Ipmitool => (Format::IpmitoolSensor, Format::IpmitoolDcmi),
        IpmiTool::Freeipmi => (Format::FreeipmiSensors, Format::FreeipmiDcmi),
    };
    let env = tool_env();
    let text =
        run_until(&argv(false), &env, deadline, max_bytes).map_err(|e| e.redact(&secrets))?;
    let mut out = vec![Capture {
        format: Some(sensor_format.as_str().to_string()),
        source: label(tool, false).to_string(),
        text,
    }];
    match run_until(&argv(true), &env, deadline, max_bytes) {
        Ok(text) => out.push(Capture {
            format: Some(dcmi_format.as_str().to_string()),
            source: label(tool, true).to_string(),
            text,
        }),
        // Unsupported, refused or too slow: the sensor listing is enough.
        Err(ExecError::Exit { .. } | ExecError::Timeout { .. }) => {}
        Err(e) => return Err(e.redact(&secrets)),
    }
    Ok(out)
}

/// What a command is called in quarantine places: the program and its command words.
fn label(tool: IpmiTool, dcmi: bool) -> &'static str {
    match (tool, dcmi) {
        (IpmiTool::Ipmitool, false) => "ipmitool sensor",
        (IpmiTool::Ipmitool, true) => "ipmitool dcmi power reading",
        (IpmiTool::Freeipmi, false) => "ipmi-sensors",
        (IpmiTool::Freeipmi, true) => "ipmi-dcmi --get-system-power-statistics",
    }
}

fn is_lan(t: &IpmiTarget) -> bool {
    t.interface == "lan"
}

/// `ipmitool -I … -H … -p … -U … -f <password file> -N 1 -R 2 <command>`.
fn ipmitool_argv(t: &IpmiTarget, command: &[&str]) -> Vec<String> {
    let interface = if is_lan(t) { "lan" } else { "lanplus" };
    let mut argv: Vec<String> = [
        "ipmitool",
        "-I",
        interface,
        "-H",
        &t.host,
        "-p",
        &t.port.to_string(),
        "-U",
        &t.username,
        "-f",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.push(t.password_file.display().to_string());
    argv.extend(["-N", "1", "-R", "2"].map(String::from));
    argv.extend(command.iter().map(|s| s.to_string()));
    argv
}

/// Writes FreeIPMI's configuration file (user and password) into the private directory.
fn freeipmi_config(
    t: &IpmiTarget,
    password: &Secret,
    private_dir: &Path,
) -> Result<Private, ExecError> {
    let fail = |reason: String| ExecError::spawn("ipmi-sensors", reason);
    ensure_private_dir(private_dir).map_err(fail)?;
    // FreeIPMI insists on an SDR cache directory only its user can read.
    ensure_private_dir(&sdr_cache(private_dir)).map_err(fail)?;
    let mut text = String::from("# kelvin-agent: the credentials of one poll, removed after it\n");
    if !t.username.is_empty() {
        let user = freeipmi_quote(&t.username)
            .ok_or_else(|| fail("the user name holds a control character".into()))?;
        text += &format!("username {user}\n");
    }
    if !password.expose().is_empty() {
        let pass = freeipmi_quote(password.expose()).ok_or_else(|| {
            fail("the password holds a line break or another control character".into())
        })?;
        text += &format!("password {pass}\n");
    }
    Private::file(private_dir, "freeipmi.conf", &text).map_err(fail)
}

/// `host:port` as FreeIPMI's `-h` takes it (`[v6]:port`).
fn freeipmi_host(t: &IpmiTarget) -> String {
    if t.host.contains(':') && !t.host.starts_with('[') {
        format!("[{}]:{}", t.host, t.port)
    } else {
        format!("{}:{}", t.host, t.port)
    }
}

/// The options both FreeIPMI tools take: configuration, driver, host, timeouts.
fn freeipmi_common(t: &IpmiTarget, config: &Path, deadline: Deadline) -> Vec<String> {
    let session = (deadline.left().as_millis() * 4 / 5).clamp(200, 60_000);
    let retransmission = (session / 2).min(1_000);
    vec![
        format!("--config-file={}", config.display()),
        "-D".to_string(),
        if is_lan(t) { "LAN" } else { "LAN_2_0" }.to_string(),
        "-h".to_string(),
        freeipmi_host(t),
        format!("--session-timeout={session}"),
        format!("--retransmission-timeout={retransmission}"),
    ]
}

/// FreeIPMI's SDR cache, kept from one poll to the next (`--sdr-cache-recreate` renews it
/// when the BMC's repository changes).
fn sdr_cache(private_dir: &Path) -> std::path::PathBuf {
    private_dir.join("freeipmi-sdr-cache")
}

fn freeipmi_sensors_argv(
    t: &IpmiTarget,
    config: &Path,
    private_dir: &Path,
    deadline: Deadline,
) -> Vec<String> {
    let cache = sdr_cache(private_dir);
    let mut argv = vec!["ipmi-sensors".to_string()];
    argv.extend(freeipmi_common(t, config, deadline));
    argv.push(format!("--sdr-cache-directory={}", cache.display()));
    argv.extend(["--quiet-cache", "--sdr-cache-recreate"].map(String::from));
    argv
}

fn freeipmi_dcmi_argv(t: &IpmiTarget, config: &Path, deadline: Deadline) -> Vec<String> {
    let mut argv = vec!["ipmi-dcmi".to_string()];
    argv.extend(freeipmi_common(t, config, deadline));
    argv.push("--get-system-power-statistics".to_string());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn target() -> IpmiTarget {
        IpmiTarget {
            host: "10.0.0.7".into(),
            port: 623,
            interface: "lanplus".into(),
            username: "monitor".into(),
            password_file: PathBuf::from("/etc/kelvin/bmc.pw"),
        }
    }

    #[test]
    fn command_lines_and_labels() {
        let t = target();
        let argv = ipmitool_argv(&t, &["sensor"]);
        assert_eq!(
            argv.join(" "),
            "ipmitool -I lanplus -H 10.0.0.7 -p 623 -U monitor -f /etc/kelvin/bmc.pw -N 1 -R 2 sensor"
        );
        let d = Deadline::after(Duration::from_secs(10));
        let cfg = Path::new("/p/freeipmi.conf-1-0");
        let s = freeipmi_sensors_argv(&t, cfg, Path::new("/p"), d);
        assert_eq!(s[0], "ipmi-sensors");
        assert!(s.contains(&"LAN_2_0".to_string()));
        assert!(s.contains(&"10.0.0.7:623".to_string()));
        let dcmi = freeipmi_dcmi_argv(&t, cfg, d);
        assert_eq!(dcmi.last().unwrap(), "--get-system-power-statistics");
        let v6 = IpmiTarget {
            host: "fd00::7".into(),
            interface: "lan".into(),
            ..t
        };
        assert_eq!(freeipmi_host(&v6), "[fd00::7]:623");
        assert!(ipmitool_argv(&v6, &["sensor"]).contains(&"lan".to_string()));
    }
}
