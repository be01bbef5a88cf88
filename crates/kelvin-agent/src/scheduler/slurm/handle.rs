//! [`Slurm`]: Slurm's commands run with a deadline, and what they answer read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kelvin::model::Place;

use super::text::{check_offset, parse_jobcomp_lines};
use super::{
    Allocation, MAX_ADMIN_COMMENT_BYTES, MAX_WEIGHT, NodeInfo, Parsed, SlurmError,
    parse_scontrol_jobs, parse_scontrol_nodes, parse_sinfo_json, parse_squeue_json,
};
use crate::exec::{self, ExecError};

/// A Slurm cluster, reached through its commands (`squeue`, `sinfo`, `scontrol`), each run
/// through [`exec::run`]: no shell, its own process group, killed at the deadline, output
/// bounded.
///
/// Every command runs with `TZ=UTC` and `SLURM_TIME_FORMAT=standard` (so the times `scontrol`
/// prints are UTC whatever the agent's environment) and, when set, `SLURM_CONF`.
///
/// ```no_run
/// use kelvin_agent::scheduler::slurm::Slurm;
///
/// let slurm = Slurm::new().with_conf("/etc/slurm/slurm.conf");
/// for job in slurm.jobs()?.items {
///     for node in &job.nodes {
///         println!("job {} holds CPUs {:?} of {}", job.job_id, node.cpu_ids, node.node);
///     }
/// }
/// slurm.set_node_weight("n1", 10)?; // n1 is now less preferred than weight-1 nodes
/// slurm.set_admin_comment(7, "kelvin: 12.5 kJ")?;
/// # Ok::<(), kelvin_agent::scheduler::slurm::SlurmError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Slurm {
    conf: Option<PathBuf>,
    bin_dir: Option<PathBuf>,
    timeout: Duration,
    max_output_bytes: u64,
    jobcomp_utc_offset_secs: i32,
}

impl Default for Slurm {
    fn default() -> Self {
        Slurm {
            conf: None,
            bin_dir: None,
            timeout: Duration::from_secs(10),
            max_output_bytes: 64 << 20,
            jobcomp_utc_offset_secs: 0,
        }
    }
}

/// What [`Slurm::completed`] read from the jobcomp log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The finished jobs of the complete lines read, and the lines rejected.
    pub jobs: Parsed<Allocation>,
    /// Where the next read starts: just past the last complete line read.
    pub next_offset: u64,
}

impl Slurm {
    /// The defaults: commands from `PATH`, Slurm's own configuration lookup, 10 s per
    /// command, 64 MiB of output, jobcomp times in UTC.
    pub fn new() -> Slurm {
        Slurm::default()
    }

    /// The `slurm.conf` the commands read (`SLURM_CONF`). Default: Slurm's own lookup.
    pub fn with_conf(mut self, path: impl Into<PathBuf>) -> Slurm {
        self.conf = Some(path.into());
        self
    }

    /// The directory of `squeue`, `sinfo` and `scontrol`. Default: looked up in `PATH`.
    pub fn with_bin_dir(mut self, dir: impl Into<PathBuf>) -> Slurm {
        self.bin_dir = Some(dir.into());
        self
    }

    /// The time each command may take. Default: 10 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Slurm {
        self.timeout = timeout;
        self
    }

    /// The most output read from one command (or one jobcomp read). Default: 64 MiB
    /// (`squeue --json` prints about 3 KiB per job).
    pub fn with_max_output_bytes(mut self, bytes: u64) -> Slurm {
        self.max_output_bytes = bytes;
        self
    }

    /// The time zone of the jobcomp log (`slurmctld`'s), seconds east of UTC, within ±18 h.
    /// Default: 0.
    pub fn with_jobcomp_utc_offset(mut self, secs: i32) -> Slurm {
        self.jobcomp_utc_offset_secs = secs;
        self
    }

    /// Every job Slurm holds (pending, running, and ended within `MinJobAge`): `squeue
    /// --json` with the node shapes of [`Slurm::nodes`], or, when JSON is unavailable (the
    /// command fails, or answers another OpenAPI version), `scontrol show job -d`. Records
    /// left out (and nodes whose shape was unusable) are in [`Parsed::rejected`].
    ///
    /// # Errors
    /// [`SlurmError::Command`] when a command cannot run, times out or prints too much, or
    /// when both ways fail (the error of the text way); [`SlurmError::Corrupt`] when the text
    /// is not Slurm's.
    pub fn jobs(&self) -> Result<Parsed<Allocation>, SlurmError> {
        let from_json = self
            .run("squeue", &["--json"], "squeue --json")
            .and_then(|text| {
                let nodes = self.nodes()?;
                let mut jobs = parse_squeue_json(&text, &nodes.items)?;
                jobs.rejected.extend(nodes.rejected);
                Ok(jobs)
            });
        match from_json {
            Ok(jobs) => Ok(jobs),
            Err(e) if unavailable(&e) => {
                let text = self.run("scontrol", &["show", "job", "-d"], "scontrol show job -d")?;
                parse_scontrol_jobs(&text)
            }
            Err(e) => Err(e),
        }
    }

    /// Every node's shape, weight and state: `sinfo --json`, or `scontrol show node` when
    /// JSON is unavailable.
    ///
    /// # Errors
    /// As [`Slurm::jobs`].
    pub fn nodes(&self) -> Result<Parsed<NodeInfo>, SlurmError> {
        let parsed = match self.run("sinfo", &["--json"], "sinfo --json") {
            Ok(text) => parse_sinfo_json(&text),
            Err(e) => Err(e),
        };
        let mut nodes = match parsed {
            Ok(nodes) => nodes,
            Err(e) if unavailable(&e) => {
                let text = self.run("scontrol", &["show", "node"], "scontrol show node")?;
                parse_scontrol_nodes(&text)?
            }
            Err(e) => return Err(e),
        };
        let mut seen = std::collections::BTreeSet::new();
        nodes.items.retain(|n| seen.insert(n.name.clone()));
        Ok(nodes)
    }

    /// Each node's scheduling weight (lower is preferred), read back from Slurm.
    ///
    /// # Errors
    /// As [`Slurm::nodes`].
    pub fn node_weights(&self) -> Result<BTreeMap<String, u32>, SlurmError> {
        Ok(self
            .nodes()?
            .items
            .into_iter()
            .map(|n| (n.name, n.weight))
            .collect())
    }

    /// Sets a node's scheduling weight (`scontrol update NodeName=… Weight=…`): among the
    /// nodes that fit a job, Slurm allocates the lowest weights first. The change lasts until
    /// `slurmctld` restarts or reconfigures (then `slurm.conf`'s weight is back).
    ///
    /// # Errors
    /// [`SlurmError::InvalidInput`] for a name that is not a plain node name
    /// (`[A-Za-z0-9._-]`, at most 255 bytes) or a weight over [`MAX_WEIGHT`];
    /// [`SlurmError::Command`] when Slurm refuses (`Invalid node name specified`).
    pub fn set_node_weight(&self, node: &str, weight: u32) -> Result<(), SlurmError> {
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if node.is_empty() || node.len() > 255 || !node.chars().all(plain) {
            return Err(SlurmError::invalid(
                "node",
                format!("{:?} is not a plain node name", super::excerpt(node, 64)),
            ));
        }
        if weight > MAX_WEIGHT {
            return Err(SlurmError::invalid(
                "weight",
                format!("{weight} is over Slurm's largest, {MAX_WEIGHT}"),
            ));
        }
        let (name, weight) = (format!("NodeName={node}"), format!("Weight={weight}"));
        let label = format!("scontrol update {name} {weight}");
        self.run("scontrol", &["update", &name, &weight], &label)
            .map(drop)
    }

    /// Sets a job's admin comment (`scontrol update JobId=… AdminComment=…`, one argument,
    /// no shell); an empty text clears it. Slurm refuses it once the job has finished.
    ///
    /// # Errors
    /// [`SlurmError::InvalidInput`] for job id 0 or over 2³²−1, or a text over
    /// [`MAX_ADMIN_COMMENT_BYTES`] or holding a control character (a line break would let
    /// the comment forge lines of `scontrol show job`); [`SlurmError::Command`] when Slurm
    /// refuses (`Invalid job id specified`, `Job has already finished`, not an operator).
    pub fn set_admin_comment(&self, job_id: u64, text: &str) -> Result<(), SlurmError> {
        if job_id == 0 || job_id > u64::from(u32::MAX) {
            return Err(SlurmError::invalid(
                "job_id",
                format!("{job_id} is not a Slurm job id"),
            ));
        }
        if text.len() > MAX_ADMIN_COMMENT_BYTES {
            return Err(SlurmError::invalid(
                "text",
                format!(
                    "{} bytes is over the {MAX_ADMIN_COMMENT_BYTES} an admin comment may have",
                    text.len()
                ),
            ));
        }
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(SlurmError::invalid(
                "text",
                format!("holds the control character {c:?}"),
            ));
        }
        let id = format!("JobId={job_id}");
        let label = format!("scontrol update {id} AdminComment=…");
        let comment = format!("AdminComment={text}");
        self.run("scontrol", &["update", &id, &comment], &label)
            .map(drop)
    }

    /// The jobs the `jobcomp/filetxt` log at `path` records from byte `from` on: the complete
    /// lines up to the output limit, and where to continue. A file shorter than `from` was
    /// truncated or replaced, and is read from its start; a partial last line is left for
    /// the next read.
    ///
    /// # Errors
    /// [`SlurmError::Io`] when the file cannot be opened or read;
    /// [`SlurmError::InvalidInput`] for a bad [`Slurm::with_jobcomp_utc_offset`].
    pub fn completed(&self, path: &Path, from: u64) -> Result<Completed, SlurmError> {
        check_offset(self.jobcomp_utc_offset_secs)?;
        let io = |e: std::io::Error| SlurmError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let start = if from > len { 0 } else { from };
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        let mut buf = Vec::new();
        file.take(self.max_output_bytes)
            .read_to_end(&mut buf)
            .map_err(io)?;
        let source: Arc<str> = Arc::from(format!("{} from byte {start}", path.display()));
        let Some(last) = buf.iter().rposition(|&b| b == b'\n') else {
            if buf.len() as u64 >= self.max_output_bytes && !buf.is_empty() {
                // One line longer than the whole limit: skip it, saying so.
                let mut jobs = Parsed::default();
                jobs.rejected.push(SlurmError::corrupt(
                    Place::line(source, 1),
                    format!("a line longer than {} bytes", self.max_output_bytes),
                ));
                return Ok(Completed {
                    jobs,
                    next_offset: start + buf.len() as u64,
                });
            }
            return Ok(Completed {
                jobs: Parsed::default(),
                next_offset: start,
            });
        };
        let text = String::from_utf8_lossy(&buf[..=last]);
        Ok(Completed {
            jobs: parse_jobcomp_lines(&text, self.jobcomp_utc_offset_secs, &source, 1),
            next_offset: start + last as u64 + 1,
        })
    }

    /// Runs a Slurm command, naming it `label` in errors.
    fn run(&self, program: &str, args: &[&str], label: &str) -> Result<String, SlurmError> {
        let program = match &self.bin_dir {
            Some(dir) => dir.join(program).to_string_lossy().into_owned(),
            None => program.to_string(),
        };
        let argv: Vec<String> = std::iter::once(program)
            .chain(args.iter().map(|a| a.to_string()))
            .collect();
        let mut env = vec![
            ("TZ".to_string(), "UTC".to_string()),
            ("SLURM_TIME_FORMAT".to_string(), "standard".to_string()),
        ];
        if let Some(conf) = &self.conf {
            env.push((
                "SLURM_CONF".to_string(),
                conf.to_string_lossy().into_owned(),
            ));
        }
        exec::run(&argv, &env, self.timeout, self.max_output_bytes).map_err(|source| {
            SlurmError::Command {
                command: label.to_string(),
                source,
            }
        })
    }
}

/// Whether a failed JSON read calls for the text way: the command ran and failed, or
/// answered something the JSON reader does not know. A timeout, a missing program or an
/// oversized answer would fail the text way too.
fn unavailable(e: &SlurmError) -> bool {
    match e {
        SlurmError::Command { source, .. } => matches!(source, ExecError::Exit { .. }),
        SlurmError::Corrupt { .. } | SlurmError::Reported { .. } => true,
        SlurmError::InvalidInput { .. } | SlurmError::Io { .. } => false,
    }
}
