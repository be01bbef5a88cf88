//! A real Slurm cluster on loopback (Debian's `slurm-wlm` 22.05 and `munge`): a private
//! `munged`, `slurmctld` and one `slurmd` per node — several node daemons on one host, each
//! with `slurmd -N NAME` and its own port — all foreground children in process groups of their
//! own, stopped and removed on drop.
//!
//! Each node is 2 sockets × 2 cores × 1 thread (4 CPUs, `SlurmdParameters=config_overrides`
//! lets the configuration exceed the machine), 1000 MiB and two stand-in GPUs (character
//! devices cloned from `/dev/null`, or plain files); the one partition shares nodes
//! (`select/cons_tres`, `CR_Core_Memory`, `OverSubscribe=YES`, 100 MiB per CPU by default);
//! finished jobs go to a `jobcomp/filetxt` log. Everything runs with `TZ=UTC`.
//!
//! Slurm wants root (`SlurmUser=root`, jobs launched as their user): without root, or without
//! the programs, [`start`] says why on stderr and returns `None`.
//!
//! ```ignore
//! let Some(lab) = slurm::start(2) else { return };
//! let id = lab.sbatch(&["-n1", "--wrap", "sleep 15"]);
//! lab.wait_running(id);
//! let jobs = lab.slurm().jobs()?;
//! ```

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kelvin_agent::scheduler::slurm::Slurm;

use super::prometheus::{free_port, temp_dir};

/// The daemons and tools the lab runs.
const PROGRAMS: &[&str] = &[
    "/usr/sbin/munged",
    "/usr/sbin/mungekey",
    "/usr/sbin/slurmctld",
    "/usr/sbin/slurmd",
    "/usr/bin/sbatch",
    "/usr/bin/squeue",
    "/usr/bin/sinfo",
    "/usr/bin/scontrol",
    "/usr/bin/scancel",
];

/// How long the cluster may take to have every node idle.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running cluster.
pub(crate) struct SlurmLab {
    dir: PathBuf,
    conf: PathBuf,
    nodes: Vec<String>,
    /// munged, slurmctld, the slurmds: each the leader of its process group.
    daemons: Vec<(String, Child)>,
    /// Jobs submitted, cancelled on drop.
    submitted: Mutex<Vec<u64>>,
}

/// Starts a cluster of `nodes` nodes (`n1`, `n2` …) and waits until all are idle. `None`,
/// said on stderr, when Slurm or munge is not installed, when not root, or when the cluster
/// does not come up (with its logs).
pub(crate) fn start(nodes: usize) -> Option<SlurmLab> {
    if let Some(missing) = PROGRAMS.iter().find(|p| !Path::new(p).exists()) {
        eprintln!("SKIP: {missing} is not installed (Debian packages `slurm-wlm`, `munge`)");
        return None;
    }
    if !is_root() {
        eprintln!("SKIP: a Slurm lab needs root (SlurmUser=root, slurmd launches jobs)");
        return None;
    }
    let dir = temp_dir("slurm");
    let mut lab = SlurmLab {
        conf: dir.join("slurm.conf"),
        dir,
        nodes: (1..=nodes).map(|i| format!("n{i}")).collect(),
        daemons: Vec::new(),
        submitted: Mutex::new(Vec::new()),
    };
    match lab.boot() {
        Ok(()) => Some(lab),
        Err(why) => {
            eprintln!("SKIP: the Slurm lab did not start: {why}\n{}", lab.logs());
            None
        }
    }
}

/// Whether this process runs as root (read from `/proc`, no `unsafe`).
fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The short host name, which `slurmctld` must find in `SlurmctldHost`.
fn short_hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_else(|_| "localhost".into())
        .trim()
        .split('.')
        .next()
        .unwrap_or("localhost")
        .to_string()
}

impl SlurmLab {
    /// Writes the configuration, starts the daemons, waits for idle nodes.
    fn boot(&mut self) -> Result<(), String> {
        let d = self.dir.clone();
        for sub in ["state", "munge", "dev"] {
            fs::create_dir_all(d.join(sub)).map_err(|e| e.to_string())?;
        }
        for node in &self.nodes {
            fs::create_dir_all(d.join("spool").join(node)).map_err(|e| e.to_string())?;
        }
        // munged insists that its socket's directory be searchable by all, its key private.
        fs::set_permissions(d.join("munge"), fs::Permissions::from_mode(0o711))
            .map_err(|e| e.to_string())?;
        let key = d.join("munge/munge.key");
        run_quiet(
            Command::new("/usr/sbin/mungekey")
                .arg("-c")
                .arg("-k")
                .arg(&key),
        )?;
        for gpu in ["gpu0", "gpu1"] {
            let path = d.join("dev").join(gpu);
            let made = Command::new("mknod")
                .arg(&path)
                .args(["c", "1", "3"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !made {
                fs::write(&path, b"").map_err(|e| e.to_string())?;
            }
        }
        fs::write(d.join("slurm.conf"), self.conf_text()).map_err(|e| e.to_string())?;
        fs::write(
            d.join("gres.conf"),
            format!("Name=gpu File={}/dev/gpu[0-1]\n", d.display()),
        )
        .map_err(|e| e.to_string())?;
        let socket = d.join("munge/munge.socket");
        let mut munged = Command::new("/usr/sbin/munged");
        munged
            .args(["-F", "-f"])
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!(
                "--pid-file={}",
                d.join("munge/munged.pid").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("munge/munged.log").display()
            ))
            .arg(format!("--seed-file={}", d.join("munge/seed").display()));
        self.spawn("munged", munged)?;
        wait_until(Duration::from_secs(5), || socket.exists())
            .then_some(())
            .ok_or("munged did not create its socket")?;
        let mut ctld = Command::new("/usr/sbin/slurmctld");
        ctld.arg("-D").arg("-f").arg(&self.conf);
        self.spawn("slurmctld", ctld)?;
        for node in self.nodes.clone() {
            let mut slurmd = Command::new("/usr/sbin/slurmd");
            slurmd.args(["-D", "-N", &node, "-f"]).arg(&self.conf);
            self.spawn(&format!("slurmd-{node}"), slurmd)?;
        }
        let idle = wait_until(START_TIMEOUT, || {
            self.run("/usr/bin/sinfo", &["-h", "-N", "-o", "%N %t"])
                .map(|out| out.lines().filter(|l| l.ends_with(" idle")).count() == self.nodes.len())
                .unwrap_or(false)
        });
        if !idle {
            return Err(format!("nodes not idle within {START_TIMEOUT:?}"));
        }
        Ok(())
    }

    /// `slurm.conf`: private ports and directories, shared nodes, a jobcomp log.
    fn conf_text(&self) -> String {
        let d = self.dir.display();
        let host = short_hostname();
        let mut conf = format!(
            "ClusterName=kelvinlab\n\
             SlurmctldHost={host}(127.0.0.1)\n\
             SlurmctldPort={ctld}\n\
             SlurmdPort={slurmd}\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             AuthType=auth/munge\n\
             CredType=cred/munge\n\
             AuthInfo=socket={d}/munge/munge.socket\n\
             StateSaveLocation={d}/state\n\
             SlurmdSpoolDir={d}/spool/%n\n\
             SlurmctldPidFile={d}/slurmctld.pid\n\
             SlurmdPidFile={d}/slurmd-%n.pid\n\
             SlurmctldLogFile={d}/slurmctld.log\n\
             SlurmdLogFile={d}/slurmd-%n.log\n\
             ProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\n\
             MpiDefault=none\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_Core_Memory\n\
             DefMemPerCPU=100\n\
             SlurmdParameters=config_overrides\n\
             GresTypes=gpu\n\
             JobCompType=jobcomp/filetxt\n\
             JobCompLoc={d}/jobcomp.txt\n\
             AccountingStorageType=accounting_storage/none\n\
             ReturnToService=2\n\
             MinJobAge=600\n\
             MailProg=/bin/true\n",
            ctld = free_port(),
            slurmd = free_port(),
        );
        for node in &self.nodes {
            conf += &format!(
                "NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={} \
                 Sockets=2 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Gres=gpu:2\n",
                free_port()
            );
        }
        conf += &format!(
            "PartitionName=lab Nodes={} Default=YES OverSubscribe=YES MaxTime=INFINITE State=UP\n",
            self.nodes.join(",")
        );
        conf
    }

    /// Starts a daemon in a process group of its own, its output into `NAME.out`.
    fn spawn(&mut self, name: &str, mut cmd: Command) -> Result<(), String> {
        let out =
            fs::File::create(self.dir.join(format!("{name}.out"))).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        self.daemons.push((name.to_string(), child));
        Ok(())
    }

    /// The environment of every Slurm command of this cluster.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        vec![
            ("SLURM_CONF".into(), self.conf.display().to_string()),
            ("TZ".into(), "UTC".into()),
        ]
    }

    /// Runs a client command of this cluster: its stdout, or why it failed.
    pub(crate) fn run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new(program)
            .args(args)
            .envs(self.env())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Kelvin's handle on this cluster.
    pub(crate) fn slurm(&self) -> Slurm {
        Slurm::new().with_conf(&self.conf)
    }

    /// The configuration file.
    pub(crate) fn conf_path(&self) -> &Path {
        &self.conf
    }

    /// The node names, `n1` …
    pub(crate) fn node_names(&self) -> &[String] {
        &self.nodes
    }

    /// The `jobcomp/filetxt` log (absent until a job has finished).
    pub(crate) fn jobcomp_path(&self) -> PathBuf {
        self.dir.join("jobcomp.txt")
    }

    /// Submits a batch job (`sbatch --parsable`, output to `/dev/null`, run in the lab's
    /// directory) and returns its id; panics with the logs when Slurm refuses.
    pub(crate) fn sbatch(&self, args: &[&str]) -> u64 {
        let chdir = format!("--chdir={}", self.dir.display());
        let mut all = vec!["--parsable", "--output=/dev/null", chdir.as_str()];
        all.extend_from_slice(args);
        let out = self
            .run("/usr/bin/sbatch", &all)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()));
        let id: u64 = out
            .trim()
            .split(';')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("sbatch printed {out:?}"));
        self.submitted.lock().unwrap().push(id);
        id
    }

    /// A job's state (`squeue -h -j ID -o %T`), empty once Slurm forgot it.
    pub(crate) fn state(&self, id: u64) -> String {
        self.run(
            "/usr/bin/squeue",
            &["-h", "-j", &id.to_string(), "-o", "%T"],
        )
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
    }

    /// Waits until job `id` runs; panics with the logs after 20 s.
    pub(crate) fn wait_running(&self, id: u64) {
        if !wait_until(Duration::from_secs(20), || self.state(id) == "RUNNING") {
            panic!(
                "job {id} is {:?}, not RUNNING, after 20 s\n{}",
                self.state(id),
                self.logs()
            );
        }
    }

    /// Cancels jobs (`scancel`).
    pub(crate) fn scancel(&self, ids: &[u64]) {
        let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
        let args: Vec<&str> = ids.iter().map(String::as_str).collect();
        if let Err(e) = self.run("/usr/bin/scancel", &args) {
            panic!("{e}");
        }
    }

    /// The tail of every log, for failure messages.
    pub(crate) fn logs(&self) -> String {
        let mut out = String::new();
        let mut files: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.push(self.dir.join("munge/munged.log"));
        files.sort();
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "log" || e == "out"))
        {
            let text = fs::read_to_string(f).unwrap_or_default();
            let lines: Vec<&str> = text.lines().filter(|l| !l.contains("pmix")).collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            out += &format!("--- {}\n{}\n", f.display(), tail.join("\n"));
        }
        out
    }
}

impl Drop for SlurmLab {
    fn drop(&mut self) {
        // Cancel what is left, so slurmd stops its steps, then stop the daemons' groups.
        let ids = std::mem::take(&mut *self.submitted.lock().unwrap_or_else(|e| e.into_inner()));
        if !ids.is_empty() && !self.daemons.is_empty() {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            let args: Vec<&str> = ids.iter().map(String::as_str).collect();
            let _ = self.run("/usr/bin/scancel", &args);
            wait_until(Duration::from_secs(5), || {
                self.run(
                    "/usr/bin/squeue",
                    &["-h", "-t", "RUNNING,COMPLETING", "-o", "%i"],
                )
                .map(|s| s.trim().is_empty())
                .unwrap_or(true)
            });
        }
        for (_, child) in self.daemons.iter_mut().rev() {
            // The whole group: slurmctld's slurmscriptd too.
            signal_group(child.id(), "-TERM");
            let stopped = wait_until(Duration::from_secs(3), || {
                child.try_wait().ok().flatten().is_some()
            });
            if !stopped {
                signal_group(child.id(), "-KILL");
                let _ = child.kill();
            }
            // Not signalled again once reaped: its group id could then be another's.
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Sends `signal` to process group `pgid` with procps' `kill` (no `unsafe`).
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs a setup command, its failure as the reason.
fn run_quiet(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Polls `ok` every 100 ms until it holds (`true`) or `timeout` passes (`false`).
pub(crate) fn wait_until(timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ok() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
