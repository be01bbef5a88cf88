//! A real Prometheus server (`/usr/bin/prometheus`, Debian's `prometheus` package) on a
//! loopback port, with its own temporary configuration and TSDB, killed and removed on drop.
//!
//! ```ignore
//! let Some(prom) = Prometheus::start("", &["--web.enable-remote-write-receiver"]) else {
//!     return; // not installed: skipped, said on stderr
//! };
//! let result = prom.wait_for("up", Duration::from_secs(10), |r| !r.is_empty());
//! ```

#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The binary.
pub(crate) const BINARY: &str = "/usr/bin/prometheus";

/// How long a server may take to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running Prometheus.
pub(crate) struct Prometheus {
    child: Child,
    addr: SocketAddr,
    /// `http` or `https`.
    scheme: &'static str,
    dir: PathBuf,
    agent: ureq::Agent,
}

/// A fresh directory under the system's temporary directory: `kelvin-it-{tag}-{pid}-{n}`.
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kelvin-it-{tag}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("creating a temporary directory");
    dir
}

/// A loopback port free when asked (bound, then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a loopback port")
        .port()
}

/// Now, milliseconds since the Unix epoch (what a TSDB head accepts).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

fn http_agent(ca_file: Option<&Path>) -> ureq::Agent {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(ca) = ca_file {
        let pem = fs::read(ca).expect("reading the test CA");
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i.expect("parsing the test CA") {
                ureq::tls::PemItem::Certificate(c) => Some(c),
                _ => None,
            })
            .collect();
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .proxy(None)
        .build()
        .into()
}

impl Prometheus {
    /// Starts Prometheus with `config_yaml` as its configuration file (`global:`,
    /// `scrape_configs:`...; `""` for none, e.g. a remote-write receiver) and `extra_args`,
    /// on a free loopback port, and waits until it is ready. `None`, said on stderr, when
    /// Prometheus is not installed; panics with its log when it is but does not start.
    pub(crate) fn start(config_yaml: &str, extra_args: &[&str]) -> Option<Prometheus> {
        if !Path::new(BINARY).exists() {
            eprintln!("SKIP: {BINARY} is not installed (Debian package `prometheus`)");
            return None;
        }
        // A free port can be taken between asking and binding: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            match Prometheus::try_start_on(free_port(), config_yaml, extra_args, None) {
                Ok(p) => return Some(p),
                Err(log) => last = log,
            }
        }
        panic!("prometheus did not start:\n{last}");
    }

    /// As [`start`](Prometheus::start), on `port` (to start a server where a client was
    /// already pointed). Panics when it does not start.
    pub(crate) fn start_on(
        port: u16,
        config_yaml: &str,
        extra_args: &[&str],
    ) -> Option<Prometheus> {
        if !Path::new(BINARY).exists() {
            eprintln!("SKIP: {BINARY} is not installed (Debian package `prometheus`)");
            return None;
        }
        match Prometheus::try_start_on(port, config_yaml, extra_args, None) {
            Ok(p) => Some(p),
            Err(log) => panic!("prometheus did not start on port {port}:\n{log}"),
        }
    }

    /// As [`start`](Prometheus::start), serving HTTPS with `tls`'s server certificate
    /// (`--web.config.file`); [`url`](Prometheus::url) is then `https://` and the helper's
    /// own queries trust `tls`'s CA.
    pub(crate) fn start_tls(
        config_yaml: &str,
        extra_args: &[&str],
        tls: &TestCa,
    ) -> Option<Prometheus> {
        if !Path::new(BINARY).exists() {
            eprintln!("SKIP: {BINARY} is not installed (Debian package `prometheus`)");
            return None;
        }
        let mut last = String::new();
        for _ in 0..3 {
            match Prometheus::try_start_on(free_port(), config_yaml, extra_args, Some(tls)) {
                Ok(p) => return Some(p),
                Err(log) => last = log,
            }
        }
        panic!("prometheus (TLS) did not start:\n{last}");
    }

    /// Starts it on `port`; `Err(log)` when it exits or is not ready in time.
    fn try_start_on(
        port: u16,
        config_yaml: &str,
        extra_args: &[&str],
        tls: Option<&TestCa>,
    ) -> Result<Prometheus, String> {
        let dir = temp_dir("prometheus");
        let config = dir.join("prometheus.yml");
        fs::write(&config, config_yaml).expect("writing prometheus.yml");
        let mut tls_args = Vec::new();
        if let Some(tls) = tls {
            let web = dir.join("web.yml");
            let text = format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                tls.cert_file.display(),
                tls.key_file.display()
            );
            fs::write(&web, text).expect("writing web.yml");
            tls_args.push(format!("--web.config.file={}", web.display()));
        }
        let log_path = dir.join("prometheus.log");
        let log = fs::File::create(&log_path).expect("creating prometheus.log");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .args(extra_args)
            .args(&tls_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning prometheus");
        let mut prom = Prometheus {
            child,
            addr,
            scheme: if tls.is_some() { "https" } else { "http" },
            dir,
            agent: http_agent(tls.map(|t| t.ca_file.as_path())),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = prom.child.try_wait() {
                return Err(format!("exited with {status}:\n{}", prom.log()));
            }
            if prom.ready() {
                return Ok(prom);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not ready after {READY_TIMEOUT:?}:\n{}",
                    prom.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ready(&self) -> bool {
        self.agent
            .get(format!("{}/-/ready", self.url()))
            .call()
            .is_ok_and(|r| r.status() == 200)
    }

    /// `http://127.0.0.1:PORT` (`https://` when started with TLS).
    pub(crate) fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Its remote-write endpoint (`--web.enable-remote-write-receiver`).
    pub(crate) fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// Its port.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Its log (stderr) so far.
    pub(crate) fn log(&self) -> String {
        let mut text = String::new();
        let _ = fs::File::open(self.dir.join("prometheus.log"))
            .and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    /// `data.result` of an instant query at the server's now; panics (with the answer) on an
    /// error.
    pub(crate) fn query(&self, promql: &str) -> Value {
        self.instant(promql, None)
    }

    /// `data.result` of an instant query at `t_secs` (Unix seconds).
    pub(crate) fn query_at(&self, promql: &str, t_secs: f64) -> Value {
        self.instant(promql, Some(t_secs))
    }

    fn instant(&self, promql: &str, t_secs: Option<f64>) -> Value {
        let mut req = self
            .agent
            .get(format!("{}/api/v1/query", self.url()))
            .query("query", promql);
        if let Some(t) = t_secs {
            req = req.query("time", format!("{t:.3}"));
        }
        let mut resp = req
            .call()
            .unwrap_or_else(|e| panic!("query {promql:?}: {e}"));
        let status = resp.status();
        let text = resp
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("query {promql:?}: reading: {e}"));
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("query {promql:?}: HTTP {status}: {e}: {text}"));
        if v["status"] != "success" {
            panic!("query {promql:?}: HTTP {status}: {text}");
        }
        v["data"]["result"].clone()
    }

    /// Queries `promql` every 100 ms until `predicate` holds of `data.result`, and returns
    /// it; panics after `timeout` with the last result.
    pub(crate) fn wait_for(
        &self,
        promql: &str,
        timeout: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let result = self.query(promql);
            if predicate(&result) {
                return result;
            }
            if Instant::now() > deadline {
                panic!("{promql:?}: still {result} after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A throwaway CA and a server certificate it signed for `127.0.0.1` (EC P-256, two days),
/// made with the `openssl` command; removed on drop.
pub(crate) struct TestCa {
    /// The CA's certificate (PEM): what a client trusts.
    pub(crate) ca_file: PathBuf,
    /// The server's certificate (PEM).
    pub(crate) cert_file: PathBuf,
    /// The server's key (PEM, PKCS#8).
    pub(crate) key_file: PathBuf,
    dir: PathBuf,
}

impl TestCa {
    /// Makes one; `None`, said on stderr, when `openssl` is not installed.
    pub(crate) fn new() -> Option<TestCa> {
        let dir = temp_dir("ca");
        let run = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).to_string())
            }
        };
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let ca = [
            &["req", "-x509", "-days", "2", "-subj", "/CN=kelvin test CA"][..],
            &key,
            &["-keyout", "ca.key", "-out", "ca.pem"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat();
        if let Err(e) = run(&ca) {
            let _ = fs::remove_dir_all(&dir);
            eprintln!("SKIP: no test CA (is openssl installed?): {e}");
            return None;
        }
        let csr = [
            &["req", "-subj", "/CN=127.0.0.1"][..],
            &key,
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat();
        fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("writing ext.cnf");
        let sign = [
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.pem",
            "-extfile",
            "ext.cnf",
        ];
        if let Err(e) = run(&csr).and_then(|()| run(&sign)) {
            panic!("openssl could not make the server certificate: {e}");
        }
        Some(TestCa {
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server.key"),
            dir,
        })
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
