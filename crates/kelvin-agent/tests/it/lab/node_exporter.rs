//! Debian's Prometheus node exporter on a free loopback port.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::prometheus::free_port;

const BINARY: &str = "/usr/bin/prometheus-node-exporter";

/// A running node exporter, killed when dropped.
pub(crate) struct NodeExporter {
    child: Child,
    port: u16,
}

impl NodeExporter {
    /// Starts it with a few collectors (CPU, memory, hwmon, RAPL) and waits until it answers;
    /// `None`, said on stderr, when it is not installed.
    pub(crate) fn start() -> Option<NodeExporter> {
        if !Path::new(BINARY).exists() {
            eprintln!(
                "SKIP: {BINARY} is not installed (Debian package `prometheus-node-exporter`)"
            );
            return None;
        }
        let port = free_port();
        let child = Command::new(BINARY)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args([
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.meminfo",
                "--collector.hwmon",
                "--collector.rapl",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the node exporter");
        let n = NodeExporter { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(n);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the node exporter did not listen on {port}");
    }

    /// Its metrics URL.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.port)
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
