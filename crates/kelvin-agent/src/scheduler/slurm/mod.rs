//! Slurm: which job holds which CPUs, memory and GPUs of which node, and when — read from
//! Slurm itself — and the levers Kelvin pulls (node weights, a job's admin comment).
//!
//! Three readers, all pure functions of the text Slurm prints (Debian 12's `slurm-wlm` 22.05
//! is the reference; the test data under `tests/data/slurm/` was captured from it):
//!
//! - [`parse_squeue_json`]: `squeue --json` (OpenAPI v0.0.38), with the node shapes of
//!   [`parse_sinfo_json`] to turn each allocated socket and core into CPU ids;
//! - [`parse_scontrol_jobs`]: `scontrol show job -d`, the fallback when JSON is unavailable;
//!   [`parse_scontrol_nodes`] reads `scontrol show node` the same way;
//! - [`parse_jobcomp`]: the `jobcomp/filetxt` log, which keeps the end of every job (without
//!   accounting storage, `squeue` forgets a job minutes after it ends).
//!
//! [`Slurm`] runs the commands through [`crate::exec`] (deadline, bounded output, no shell)
//! and pulls the levers: [`Slurm::set_node_weight`] (lower weights are preferred) and
//! [`Slurm::set_admin_comment`].
//!
//! **What is rejected, and how.** A document that is not Slurm's at all (not JSON, a JSON
//! answer of another OpenAPI version, no job record) is an error; a record that cannot be
//! trusted — a number out of range, a CPU id past its node, a hostlist that expands to
//! millions, a text record whose lines are out of Slurm's order — is left out and returned in
//! [`Parsed::rejected`] with its place and the reason, and the other records are kept. Every
//! expansion (hostlists, CPU and GPU id ranges, cores times threads) draws from one budget of
//! [`MAX_EXPANDED`] items per document, so memory stays bounded whatever the input.
//!
//! **Why the text readers check line order.** A job's name, comment, working directory and
//! output paths are the user's free text, and Slurm prints them raw: a name holding a line
//! break can forge a line such as `Nodes=n9 CPU_IDs=0-63`. The JSON reader is immune; the
//! text readers accept a record only when the lines they read appear once each, in the order
//! Slurm prints them, and per-node lines only where Slurm puts them.
//!
//! ```
//! use kelvin_agent::scheduler::slurm::{parse_scontrol_jobs, Allocation};
//!
//! let text = "\
//! JobId=7 JobName=train
//!    UserId=ada(1000) GroupId=ada(1000) MCS_label=N/A
//!    JobState=RUNNING Reason=None Dependency=(null)
//!    StartTime=2026-12-07T11:47:23 EndTime=Unknown Deadline=N/A
//!    NodeList=n[1-2]
//!    NumNodes=2 NumCPUs=6 NumTasks=6 CPUs/Task=1 ReqB:S:C:T=0:0:*:*
//!    JOB_GRES=gpu:1
//!      Nodes=n1 CPU_IDs=0-3 Mem=4096 GRES=gpu:1(IDX:0)
//!      Nodes=n2 CPU_IDs=0,2 Mem=2048 GRES=
//!    MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0
//! ";
//! let parsed = parse_scontrol_jobs(text)?;
//! assert!(parsed.rejected.is_empty());
//! let job: &Allocation = &parsed.items[0];
//! assert_eq!((job.job_id, job.user.as_str(), job.cpus), (7, "ada", 6));
//! assert_eq!(job.nodes[0].cpu_ids, [0, 1, 2, 3]);
//! assert_eq!(job.nodes[0].gpu_ids, [0]);
//! assert_eq!(job.nodes[1].memory_bytes, Some(2048 << 20));
//! assert_eq!(job.start.map(|t| t.to_rfc3339()).as_deref(), Some("2026-12-07T11:47:23Z"));
//! assert_eq!(job.end, None); // still running
//! # Ok::<(), kelvin_agent::scheduler::slurm::SlurmError>(())
//! ```

use kelvin::model::{Place, Timestamp};
use serde::{Deserialize, Serialize};

use crate::exec::ExecError;

mod handle;
mod hostlist;
mod json;
mod text;

#[cfg(test)]
mod tests;

pub use handle::{Completed, Slurm};
pub use hostlist::{compress_hostlist, expand_hostlist, format_id_list, parse_id_list};
pub use json::{parse_sinfo_json, parse_squeue_json};
pub use text::{parse_jobcomp, parse_scontrol_jobs, parse_scontrol_nodes};

/// The most items (host names, CPU ids, GPU ids) one document may expand to: 8 Mi, 32 MiB of
/// CPU ids at most. A 10 000-node cluster of 128-CPU nodes, fully allocated, is 1.3 Mi.
pub const MAX_EXPANDED: u64 = 8 << 20;

/// The most CPUs (and GPU indices) on one node: Slurm counts a node's CPUs in 16 bits.
pub const MAX_CPUS_PER_NODE: u32 = 65_536;

/// The largest node weight Slurm accepts (`scontrol` refuses more: the values above are
/// reserved).
pub const MAX_WEIGHT: u32 = 4_294_967_280;

/// The longest admin comment Kelvin writes, bytes.
pub const MAX_ADMIN_COMMENT_BYTES: usize = 1024;

/// One job: who, what it holds on which node, and when.
///
/// The same shape comes from every reader; what a reader cannot know is `None` or empty (the
/// jobcomp log has no CPU ids; a multi-node job's per-node CPU count is only in Slurm's live
/// view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// Slurm's job id.
    pub job_id: u64,
    /// The job's name (the user's free text).
    pub name: String,
    /// The user name (`ada`), or the numeric uid when Slurm could not name it.
    pub user: String,
    /// Slurm's state word: `PENDING`, `RUNNING`, `COMPLETED`, `CANCELLED`, `TIMEOUT` … (see
    /// [`is_finished_state`]).
    pub state: String,
    /// CPUs allocated over all nodes (requested, while pending).
    pub cpus: u32,
    /// What it holds on each node, in Slurm's node order; empty while pending.
    pub nodes: Vec<NodeAlloc>,
    /// When it started; `None` while it waits (or when Slurm does not know).
    pub start: Option<Timestamp>,
    /// When it ended; `None` until it has (Slurm's `EndTime` of a running job is a forecast
    /// from its time limit, never reported here).
    pub end: Option<Timestamp>,
    /// The admin comment, when set (Kelvin's own reports land there).
    pub admin_comment: Option<String>,
}

impl Allocation {
    /// Whether the job is over ([`is_finished_state`] of its state).
    pub fn is_finished(&self) -> bool {
        is_finished_state(&self.state)
    }

    /// Its allocation on `node`, if it has one there.
    pub fn on_node(&self, node: &str) -> Option<&NodeAlloc> {
        self.nodes.iter().find(|n| n.node == node)
    }
}

/// What one job holds on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAlloc {
    /// The node's Slurm name.
    pub node: String,
    /// Slurm's abstract CPU ids on the node, sorted (`(socket × cores per socket + core) ×
    /// CPUs per core + thread`, what `scontrol show job -d` prints as `CPU_IDs`); empty when
    /// the source does not say (the jobcomp log).
    pub cpu_ids: Vec<u32>,
    /// CPUs on this node: `cpu_ids.len()` when known, the job's CPU count for a one-node job
    /// read from the jobcomp log, `None` otherwise.
    pub cpus: Option<u32>,
    /// Memory allocated on the node, bytes; `None` when Slurm does not track memory
    /// (`SelectTypeParameters` without `_Memory`, printed as 0) or the source does not say.
    pub memory_bytes: Option<u64>,
    /// GPUs (GRES `gpu`) allocated on the node; `None` when the source does not say.
    pub gpus: Option<u32>,
    /// Their indices in the node's `gres.conf` order (`IDX:` of Slurm's GRES detail), sorted.
    pub gpu_ids: Vec<u32>,
}

/// One node's shape and weight, from `sinfo --json` or `scontrol show node`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's Slurm name.
    pub name: String,
    /// Sockets (over all boards).
    pub sockets: u32,
    /// Cores per socket.
    pub cores_per_socket: u32,
    /// Hardware threads per core, as configured.
    pub threads_per_core: u32,
    /// CPUs Slurm schedules: `sockets × cores_per_socket × CPUs per core`.
    pub cpus: u32,
    /// Scheduling weight: among nodes that fit, Slurm picks the lowest.
    pub weight: u32,
    /// Slurm's state word, lower case (`idle`, `mixed`, `allocated`, `down` …).
    pub state: String,
}

impl NodeInfo {
    /// CPUs per core as Slurm allocates them: `cpus / (sockets × cores_per_socket)` (1 when
    /// the node is configured with one CPU per core despite its threads).
    pub fn cpus_per_core(&self) -> u32 {
        let cores = self.sockets.saturating_mul(self.cores_per_socket).max(1);
        (self.cpus / cores).max(1)
    }
}

/// What a reader accepted, and what it left out with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    /// The records read.
    pub items: Vec<T>,
    /// The records left out, each with its place and reason ([`SlurmError::Corrupt`]).
    pub rejected: Vec<SlurmError>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Parsed {
            items: Vec::new(),
            rejected: Vec::new(),
        }
    }
}

/// Whether a job in `state` is over: `COMPLETED`, `CANCELLED`, `FAILED`, `TIMEOUT`,
/// `NODE_FAIL`, `PREEMPTED`, `BOOT_FAIL`, `DEADLINE`, `OUT_OF_MEMORY`, `REVOKED`,
/// `SPECIAL_EXIT`, or ending (`COMPLETING`, `STAGE_OUT`: its end time is set).
///
/// ```
/// use kelvin_agent::scheduler::slurm::is_finished_state;
/// assert!(is_finished_state("CANCELLED"));
/// assert!(!is_finished_state("RUNNING"));
/// ```
pub fn is_finished_state(state: &str) -> bool {
    matches!(
        state,
        "COMPLETED"
            | "CANCELLED"
            | "FAILED"
            | "TIMEOUT"
            | "NODE_FAIL"
            | "PREEMPTED"
            | "BOOT_FAIL"
            | "DEADLINE"
            | "OUT_OF_MEMORY"
            | "REVOKED"
            | "SPECIAL_EXIT"
            | "COMPLETING"
            | "STAGE_OUT"
    )
}

/// Whether a job in `state` waits for resources (its start time, if any, is a forecast).
fn is_waiting_state(state: &str) -> bool {
    matches!(
        state,
        "PENDING" | "REQUEUED" | "REQUEUE_FED" | "REQUEUE_HOLD" | "RESV_DEL_HOLD"
    )
}

/// The start and end Kelvin reports for a job in `state` whose Slurm times are `start` and
/// `end`: a start once it no longer waits, an end once it is over.
fn reported_times(
    state: &str,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let start = if is_waiting_state(state) { None } else { start };
    let end = if is_finished_state(state) { end } else { None };
    (start, end)
}

/// A Slurm answer Kelvin cannot use, or a request it will not send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlurmError {
    /// Slurm's output (or a line of the jobcomp log) is not what Slurm prints: the place
    /// (`scontrol show job -d:33`, `squeue --json#/jobs/4`) and what is wrong there.
    #[error("{place}: {reason}")]
    Corrupt {
        /// Where.
        place: Place,
        /// What is wrong.
        reason: String,
    },
    /// Slurm answered, with an error of its own (the `errors` of a JSON answer).
    #[error("{place}: Slurm reports: {message}")]
    Reported {
        /// Where the error was printed.
        place: Place,
        /// Slurm's message, control characters replaced, at most 200 characters.
        message: String,
    },
    /// A request Kelvin refuses to send: an argument, and why.
    #[error("{argument}: {reason}")]
    InvalidInput {
        /// The argument (`node`, `weight`, `text` …).
        argument: &'static str,
        /// Why.
        reason: String,
    },
    /// A Slurm command did not give its answer: not installed, timed out, or failed (with
    /// its stderr line, e.g. `Invalid job id specified`).
    #[error("`{command}`: {source}")]
    Command {
        /// The command without its free-text arguments (`scontrol update JobId=7
        /// AdminComment=…`).
        command: String,
        /// What happened.
        #[source]
        source: ExecError,
    },
    /// A file (the jobcomp log) could not be read.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The system's reason.
        reason: String,
    },
}

impl SlurmError {
    pub(crate) fn corrupt(place: Place, reason: impl Into<String>) -> SlurmError {
        SlurmError::Corrupt {
            place,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(argument: &'static str, reason: impl Into<String>) -> SlurmError {
        SlurmError::InvalidInput {
            argument,
            reason: reason.into(),
        }
    }

    /// The place, for [`SlurmError::Corrupt`] and [`SlurmError::Reported`].
    pub fn place(&self) -> Option<&Place> {
        match self {
            SlurmError::Corrupt { place, .. } | SlurmError::Reported { place, .. } => Some(place),
            _ => None,
        }
    }
}

/// A shared allowance of expanded items for one document (see [`MAX_EXPANDED`]).
#[derive(Debug)]
pub(crate) struct Budget {
    total: u64,
    left: u64,
}

impl Budget {
    pub(crate) fn new(items: u64) -> Budget {
        Budget {
            total: items,
            left: items,
        }
    }

    /// Takes `n` items, or says why not.
    pub(crate) fn take(&mut self, n: u64) -> Result<(), String> {
        if n > self.left {
            return Err(format!(
                "expands past the {} hosts and ids one answer may hold",
                self.total
            ));
        }
        self.left -= n;
        Ok(())
    }
}

/// `s` with control characters replaced by spaces, at most `max` characters (for messages).
pub(crate) fn excerpt(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}
