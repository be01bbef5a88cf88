//! An SNMP walk with net-snmp's `snmpwalk`, the community or v3 credentials in a private
//! `snmp.conf` rather than on the command line.

use std::path::Path;
use std::time::Duration;

use kelvin_ingest::Format;

use super::private::{Private, ensure_private_dir, netsnmp_quote, write_private};
use super::{Capture, Deadline, ExecError, run_until};
use crate::config::{Secret, SnmpAuth};

const PROGRAM: &str = "snmpwalk";

/// Walks `oid` on the agent at `host:port` with `snmpwalk`, within `timeout`.
///
/// The credentials go into an owner-only `snmp.conf` in a fresh directory of `private_dir`
/// (created 0700), removed after the walk: `defVersion 2c` and `defCommunity`, or `defVersion
/// 3`, `defSecurityName`, `defSecurityLevel`, `defAuthType`, `defAuthPassphrase`,
/// `defPrivType`, `defPrivPassphrase` from the v3 credentials file's keys `user`,
/// `security_level` (default: `authPriv` with a privacy password, `authNoPriv` with an
/// authentication password, else `noAuthNoPriv`), `auth_protocol` (`MD5`, `SHA`, `SHA-224`,
/// `SHA-256`, `SHA-384`, `SHA-512`), `auth_password`, `priv_protocol` (`DES`, `AES`,
/// `AES-192`, `AES-256`) and `priv_password`. `snmpwalk` finds it through `SNMPCONFPATH`
/// (which also keeps it from reading `/etc/snmp` and `~/.snmp`), and writes its persistent
/// state there (`SNMP_PERSISTENT_DIR`), not in `/var/lib/snmp`. `MIBS` is empty (no MIB is
/// loaded) and `LC_ALL=C`.
///
/// The command is `snmpwalk -On -Oe -OU -t <s> -r 1 udp:<host>:<port> <oid>` (`udp6:[host]`
/// for IPv6): numeric OIDs, numeric enumerations and no units, the text the `snmp_walk`
/// decoder reads. Each request waits a fifth of the timeout and is retried once, so a silent
/// agent is reported by `snmpwalk` itself (`Timeout: No Response …`) before the poll's own
/// deadline kills it.
///
/// # Errors
/// [`ExecError::Exit`] when the agent does not answer or refuses the credentials, the other
/// [`ExecError`]s as for [`super::run`]; [`ExecError::Spawn`] for an OID that is not one
/// (empty, or starting with `-`), unusable v3 credentials (naming the key, never the value) or
/// a private directory that cannot be written. No error holds a credential.
pub fn poll_snmp(
    host: &str,
    port: u16,
    auth: &SnmpAuth,
    oid: &str,
    timeout: Duration,
    max_bytes: u64,
    private_dir: &Path,
) -> Result<Capture, ExecError> {
    let deadline = Deadline::after(timeout);
    let fail = |reason: String| ExecError::spawn(PROGRAM, reason);
    let oid_ok = !oid.is_empty()
        && !oid.starts_with('-')
        && oid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-'));
    if !oid_ok {
        return Err(fail(format!("{oid:?} is not an OID")));
    }
    let conf = snmp_conf(auth).map_err(fail)?;
    ensure_private_dir(private_dir).map_err(fail)?;
    let dir = Private::dir(private_dir, "snmp").map_err(fail)?;
    write_private(&dir.path().join("snmp.conf"), &conf).map_err(fail)?;
    let dir_text = dir.path().display().to_string();
    let env: Vec<(String, String)> = [
        ("SNMPCONFPATH", dir_text.as_str()),
        ("SNMP_PERSISTENT_DIR", dir_text.as_str()),
        ("MIBS", ""),
        ("LC_ALL", "C"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let per_try = (deadline.left().as_secs_f64() / 5.0).max(0.05);
    let agent = if host.contains(':') && !host.starts_with('[') {
        format!("udp6:[{host}]:{port}")
    } else {
        format!("udp:{host}:{port}")
    };
    let argv: Vec<String> = [
        PROGRAM,
        "-On",
        "-Oe",
        "-OU",
        "-t",
        &format!("{per_try:.2}"),
        "-r",
        "1",
        &agent,
        oid,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let secrets = secrets(auth);
    let text = run_until(&argv, &env, deadline, max_bytes).map_err(|e| e.redact(&secrets))?;
    Ok(Capture {
        format: Some(Format::SnmpWalk.as_str().to_string()),
        source: format!("{PROGRAM} {oid}"),
        text,
    })
}

/// Every secret of the credentials, to redact from errors.
fn secrets(auth: &SnmpAuth) -> Vec<&str> {
    match auth {
        SnmpAuth::Community(c) => vec![c.expose()],
        SnmpAuth::V3(kv) => kv
            .iter()
            .filter(|(k, _)| k.to_ascii_lowercase().contains("password"))
            .map(|(_, v)| v.expose())
            .collect(),
    }
}

const AUTH_TYPES: &[&str] = &["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"];
const PRIV_TYPES: &[&str] = &["DES", "AES", "AES-192", "AES-256"];
const LEVELS: &[&str] = &["noAuthNoPriv", "authNoPriv", "authPriv"];

/// The `snmp.conf` holding the credentials; the error names the key at fault, never a value.
fn snmp_conf(auth: &SnmpAuth) -> Result<String, String> {
    let quote = |key: &str, v: &Secret| {
        netsnmp_quote(v.expose())
            .ok_or_else(|| format!("{key} holds a line break or another control character"))
    };
    let mut text = String::from("# kelvin-agent: the credentials of one walk, removed after it\n");
    text += "mibs :\n";
    let kv = match auth {
        SnmpAuth::Community(c) => {
            text += "defVersion 2c\n";
            text += &format!("defCommunity {}\n", quote("community", c)?);
            return Ok(text);
        }
        SnmpAuth::V3(kv) => kv,
    };
    let get = |key: &str| {
        kv.iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    };
    if let Some((k, _)) = kv.iter().find(|(k, _)| {
        ![
            "user",
            "security_level",
            "auth_protocol",
            "auth_password",
            "priv_protocol",
            "priv_password",
        ]
        .iter()
        .any(|known| k.eq_ignore_ascii_case(known))
    }) {
        return Err(format!(
            "the v3 credentials have an unknown key {k:?} (known: user, security_level, \
             auth_protocol, auth_password, priv_protocol, priv_password)"
        ));
    }
    let user = get("user").ok_or("the v3 credentials have no user")?;
    let level = match get("security_level") {
        Some(l) => pick(LEVELS, l.expose(), "security_level")?,
        None if get("priv_password").is_some() => "authPriv",
        None if get("auth_password").is_some() => "authNoPriv",
        None => "noAuthNoPriv",
    };
    text += "defVersion 3\n";
    text += &format!("defSecurityName {}\n", quote("user", user)?);
    text += &format!("defSecurityLevel {level}\n");
    if let Some(p) = get("auth_protocol") {
        text += &format!(
            "defAuthType {}\n",
            pick(AUTH_TYPES, p.expose(), "auth_protocol")?
        );
    }
    if let Some(p) = get("auth_password") {
        text += &format!("defAuthPassphrase {}\n", quote("auth_password", p)?);
    }
    if let Some(p) = get("priv_protocol") {
        let p = p.expose().trim();
        let p = if p.eq_ignore_ascii_case("AES-128") || p.eq_ignore_ascii_case("AES128") {
            "AES"
        } else {
            p
        };
        text += &format!("defPrivType {}\n", pick(PRIV_TYPES, p, "priv_protocol")?);
    }
    if let Some(p) = get("priv_password") {
        text += &format!("defPrivPassphrase {}\n", quote("priv_password", p)?);
    }
    Ok(text)
}

/// The one of `choices` that `value` names (case and a missing `-` aside: `sha256`).
fn pick(choices: &[&'static str], value: &str, key: &str) -> Result<&'static str, String> {
    let squash = |s: &str| s.trim().replace('-', "").to_ascii_lowercase();
    choices
        .iter()
        .find(|c| squash(c) == squash(value))
        .copied()
        .ok_or_else(|| format!("{key} is not one of {}", choices.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v3(pairs: &[(&str, &str)]) -> SnmpAuth {
        SnmpAuth::V3(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Secret::new(*v)))
                .collect(),
        )
    }

    #[test]
    fn configurations() {
        let c = snmp_conf(&SnmpAuth::Community(Secret::new("pub lic\"x"))).unwrap();
        assert!(
            c.contains("defVersion 2c\ndefCommunity \"pub lic\\\"x\"\n"),
            "{c}"
        );
        let c = snmp_conf(&v3(&[
            ("user", "mon"),
            ("auth_protocol", "sha256"),
            ("auth_password", "a secret"),
            ("priv_protocol", "aes"),
            ("priv_password", "p#2"),
        ]))
        .unwrap();
        for line in [
            "defVersion 3",
            "defSecurityName \"mon\"",
            "defSecurityLevel authPriv",
            "defAuthType SHA-256",
            "defAuthPassphrase \"a secret\"",
            "defPrivType AES",
            "defPrivPassphrase \"p#2\"",
        ] {
            assert!(c.lines().any(|l| l == line), "{line} in\n{c}");
        }
        let c = snmp_conf(&v3(&[("user", "m"), ("auth_password", "12345678")])).unwrap();
        assert!(c.contains("defSecurityLevel authNoPriv"));
        let e = snmp_conf(&v3(&[("user", "m"), ("colour", "hunter2")])).unwrap_err();
        assert!(e.contains("\"colour\"") && !e.contains("hunter2"), "{e}");
        let e = snmp_conf(&v3(&[("user", "m"), ("auth_protocol", "rot13")])).unwrap_err();
        assert!(e.starts_with("auth_protocol is not one of"), "{e}");
        assert!(snmp_conf(&v3(&[("auth_password", "x")])).is_err());
        assert!(snmp_conf(&SnmpAuth::Community(Secret::new("a\nb"))).is_err());
    }

    #[test]
    fn bad_oids_are_refused_before_running() {
        let e = poll_snmp(
            "127.0.0.1",
            161,
            &SnmpAuth::Community(Secret::new("x")),
            "-c secret",
            Duration::from_secs(1),
            1024,
            Path::new("/nonexistent"),
        )
        .unwrap_err();
        assert!(matches!(e, ExecError::Spawn { .. }), "{e}");
    }
}
