//! The agent's safe defaults: the bills API only on loopback unless given its own listener
//! with TLS and a bearer token; configuration files other users can read are refused.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::lab::agent::Agent;
use crate::lab::prometheus::{TestCa, free_port, temp_dir};

fn client(ca: Option<&std::path::Path>) -> ureq::Agent {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).expect("the CA");
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|p| match p {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)));
    }
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .tls_config(tls.build())
        .build()
        .into()
}

fn get(agent: &ureq::Agent, url: &str, token: Option<&str>) -> Result<(u16, String), String> {
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut r = req.call().map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.body_mut().read_to_string().unwrap_or_default()))
}

#[test]
fn the_exposed_api_takes_tls_and_a_bearer_token() {
    let Some(ca) = TestCa::new() else { return };
    let secrets = temp_dir("api-secrets");
    let key = secrets.join("tls.key");
    std::fs::copy(&ca.key_file, &key).expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let token_file = secrets.join("api.token");
    let token = "k3lvin-t0ken-for-tests";
    std::fs::write(&token_file, format!("{token}\n")).expect("token");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let port = free_port();
    let body = format!(
        "[api]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\ntoken_file = \"{}\"\n",
        ca.cert_file.display(),
        key.display(),
        token_file.display()
    );
    let agent = Agent::start("agent-api", &body);
    let api = format!("https://127.0.0.1:{port}");
    let trusted = client(Some(&ca.ca_file));
    assert_eq!(
        get(&trusted, &format!("{api}/api/v1/hosts"), None)
            .unwrap()
            .0,
        401
    );
    assert_eq!(
        get(&trusted, &format!("{api}/api/v1/hosts"), Some("wrong"))
            .unwrap()
            .0,
        401
    );
    let (status, hosts) = get(&trusted, &format!("{api}/api/v1/hosts"), Some(token)).unwrap();
    assert_eq!(status, 200, "{hosts}");
    assert!(hosts.contains("\"hosts\""), "{hosts}");
    let (status, bills) = get(
        &trusted,
        &format!("{api}/api/v1/bills?from=0&to=60"),
        Some(token),
    )
    .unwrap();
    assert_eq!(status, 200, "{bills}");
    assert!(bills.contains("\"conserved\":true"), "{bills}");
    // Without the CA, the client refuses the agent's certificate.
    let e = get(&client(None), &format!("{api}/api/v1/hosts"), Some(token)).unwrap_err();
    assert!(
        e.to_lowercase().contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );
    // The main listener keeps /metrics open and sends the API to its own listener.
    let (status, why) = agent.get("/api/v1/hosts").expect("main listener");
    assert_eq!(status, 403, "{why}");
    assert_eq!(agent.get("/metrics").expect("metrics").0, 200);
    assert!(!agent.log().contains(token), "the token reached the log");
    std::fs::remove_dir_all(&secrets).expect("cleanup");
}

#[test]
fn a_listener_beyond_loopback_serves_metrics_but_not_the_bills() {
    let agent = Agent::start_on("agent-wide", "0.0.0.0", "");
    let (status, why) = agent.get("/api/v1/bills?from=0&to=60").expect("answer");
    assert_eq!(status, 403);
    assert!(why.contains("[api]"), "{why}");
    assert_eq!(agent.get("/metrics").expect("metrics").0, 200);
    assert_eq!(agent.get("/healthz").expect("healthz").0, 200);
    assert_eq!(agent.get("/nowhere").expect("404").0, 404);
}

#[test]
fn a_config_other_users_can_read_is_refused() {
    let dir = temp_dir("agent-mode");
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!("data_dir = \"{}\"\n", dir.join("data").display()),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kelvin-agent"))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run kelvin-agent");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mode 644") && err.contains("chmod 600"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
