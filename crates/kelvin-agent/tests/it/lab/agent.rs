//! The `kelvin-agent` binary run as a child process with a configuration written here.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::prometheus::{free_port, temp_dir};

/// A running agent: its directory (config, data, log) and its address.
pub(crate) struct Agent {
    child: Option<Child>,
    /// The directory holding `agent.toml`, `data/` and `agent.log`.
    pub(crate) dir: PathBuf,
    /// `127.0.0.1:PORT` of `/metrics`.
    pub(crate) addr: String,
}

/// The configuration's head: `listen` on `host` and `port`, `data_dir` in `dir`, then `body`.
pub(crate) fn config(dir: &Path, host: &str, port: u16, body: &str) -> String {
    format!(
        "listen = \"{host}:{port}\"\ndata_dir = \"{}\"\n{body}",
        dir.join("data").display()
    )
}

impl Agent {
    /// Writes `body` (everything but `listen` and `data_dir`) as an owner-only config and
    /// starts the agent on it, waiting for `/readyz`.
    pub(crate) fn start(tag: &str, body: &str) -> Agent {
        Agent::start_on(tag, "127.0.0.1", body)
    }

    /// [`Agent::start`] with `listen` on `host` (a free port); reached on 127.0.0.1.
    pub(crate) fn start_on(tag: &str, host: &str, body: &str) -> Agent {
        let dir = temp_dir(tag);
        let port = free_port();
        let path = dir.join("agent.toml");
        std::fs::write(&path, config(&dir, host, port, body)).expect("write the config");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let mut a = Agent {
            child: None,
            dir,
            addr: format!("127.0.0.1:{port}"),
        };
        a.spawn();
        a
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("agent.log"))
            .expect("open the log");
        let child = Command::new(env!("CARGO_BIN_EXE_kelvin-agent"))
            .arg("--config")
            .arg(self.dir.join("agent.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kelvin-agent");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.get("/readyz").is_some_and(|(s, _)| s == 200) {
                return;
            }
            if let Some(c) = &mut self.child
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("kelvin-agent exited ({status}):\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("kelvin-agent not ready in 30 s:\n{}", self.log());
    }

    /// SIGKILL, then a start on the same configuration and data.
    pub(crate) fn kill9_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn();
    }

    /// The agent's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The agent's stderr so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// `GET path` on the agent: status and body, `None` when it does not answer.
    pub(crate) fn get(&self, path: &str) -> Option<(u16, String)> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let mut r = agent
            .get(&format!("http://{}{path}", self.addr))
            .call()
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.body_mut().read_to_string().unwrap_or_default()))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
