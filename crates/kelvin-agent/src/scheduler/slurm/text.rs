//! Slurm's text: `scontrol show job -d`, `scontrol show node` and the `jobcomp/filetxt` log.
//!
//! `scontrol` prints one record per job or node — a first line at column 0 (`JobId=7
//! JobName=…`, `NodeName=n1 …`), indented `Key=value` lines, a blank line — and prints the
//! user's free text raw, line breaks included. So a record is read only from the lines that
//! start with the keys below ("anchors"), and only when each appears once, in Slurm's order;
//! anything else makes the record rejected rather than believed. Times are read as UTC
//! ([`Slurm`](super::Slurm) runs `scontrol` with `TZ=UTC`); the jobcomp log is written in
//! `slurmctld`'s time zone, so [`parse_jobcomp`] takes its offset.

use std::collections::BTreeSet;
use std::sync::Arc;

use kelvin::model::{Place, Timestamp};

use super::hostlist::{expand_hosts, parse_ids};
use super::json::check_shape;
use super::{
    Allocation, Budget, MAX_CPUS_PER_NODE, MAX_EXPANDED, NodeAlloc, NodeInfo, Parsed, SlurmError,
    excerpt, reported_times,
};

/// The anchors of a job record, in Slurm 22.05's order. `Nodes` (one line per group of nodes
/// with the same allocation) may repeat.
const JOB_ANCHORS: &[&str] = &[
    "JobId",
    "UserId",
    "JobState",
    "StartTime",
    "NodeList",
    "NumNodes",
    "JOB_GRES",
    "Nodes",
    "MinCPUsNode",
    "AdminComment",
];

/// A numbered line of `scontrol` text.
type Line<'a> = (u64, &'a str);

/// An anchor line of a record: its rank among the anchors, number and text.
type Anchor<'a> = (usize, u64, &'a str);

/// Why a record is rejected: the line to blame and the reason.
type Rejection = (u64, String);

/// A run of fields found in a jobcomp line: its offset, the values, the text after.
type Match<'a> = (usize, Vec<&'a str>, &'a str);

/// The anchors a job record must have.
const JOB_REQUIRED: &[&str] = &[
    "JobId",
    "UserId",
    "JobState",
    "StartTime",
    "NodeList",
    "NumNodes",
];

/// The anchors of a node record, in order; all are required.
const NODE_ANCHORS: &[&str] = &["NodeName", "CPUAlloc", "RealMemory", "State"];

/// Reads `scontrol show job -d` (several jobs), times as UTC. Each `Nodes=… CPU_IDs=… Mem=…
/// GRES=…` line gives the CPU ids, memory (MiB) and GPUs of a group of nodes; a job printed
/// without them (no `-d`) gets its nodes from `NodeList` with unknown CPU ids.
///
/// A record is rejected (place: `scontrol show job -d:LINE`) when an anchor line is missing,
/// repeated or out of order (a free-text field holding a line break), when a per-node line
/// names a node outside `NodeList`, when two records share a job id (both are rejected), or
/// when a value is malformed.
///
/// # Errors
/// [`SlurmError::Corrupt`] when the text holds something other than job records (or
/// `No jobs in the system`).
pub fn parse_scontrol_jobs(text: &str) -> Result<Parsed<Allocation>, SlurmError> {
    let source: Arc<str> = Arc::from("scontrol show job -d");
    let records = records(text, "JobId=", "No jobs in the system", &source)?;
    let mut budget = Budget::new(MAX_EXPANDED);
    let mut out = Parsed::default();
    let mut seen: Vec<(u64, u64)> = Vec::new();
    for (line, lines) in records {
        match job_record(&lines, &mut budget) {
            Ok(job) => {
                seen.push((job.job_id, line));
                out.items.push(job);
            }
            Err((at, reason)) => out
                .rejected
                .push(SlurmError::corrupt(Place::line(source.clone(), at), reason)),
        }
    }
    // A repeated job id means one record is forged: neither can be believed.
    seen.sort_unstable();
    let twice: BTreeSet<u64> = seen
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| w[0].0)
        .collect();
    for &(id, line) in seen.iter().filter(|(id, _)| twice.contains(id)) {
        out.rejected.push(SlurmError::corrupt(
            Place::line(source.clone(), line),
            format!("job {id} is printed twice: a free-text field forges a record"),
        ));
    }
    out.items.retain(|j| !twice.contains(&j.job_id));
    Ok(out)
}

/// Reads `scontrol show node` (several nodes): shape (`Sockets`, `CoresPerSocket`,
/// `ThreadsPerCore`, `CPUTot`), `Weight` and `State` (lower case, flags after `+` dropped).
///
/// # Errors
/// [`SlurmError::Corrupt`] when the text holds something other than node records.
pub fn parse_scontrol_nodes(text: &str) -> Result<Parsed<NodeInfo>, SlurmError> {
    let source: Arc<str> = Arc::from("scontrol show node");
    let records = records(text, "NodeName=", "No nodes in the system", &source)?;
    let mut out = Parsed::default();
    for (_, lines) in records {
        match node_record(&lines) {
            Ok(n) => out.items.push(n),
            Err((at, reason)) => out
                .rejected
                .push(SlurmError::corrupt(Place::line(source.clone(), at), reason)),
        }
    }
    Ok(out)
}

/// Reads `jobcomp/filetxt` lines (`JobId=… UserId=… Name=… JobState=… StartTime=…
/// EndTime=… NodeList=… NodeCnt=… ProcCnt=… WorkDir=… Tres=…`), one finished job each, with
/// times in a zone `utc_offset_secs` east of UTC (`slurmctld`'s).
///
/// The log has no CPU ids; a one-node job's node gets the job's CPU count, and memory and
/// GPUs from `Tres` (`mem=…`, `gres/gpu=…`, when accounted). The job name and working
/// directory are free text: a line is rejected when its fixed fields cannot be found exactly
/// once.
///
/// ```
/// use kelvin_agent::scheduler::slurm::parse_jobcomp;
/// let line = "JobId=4 UserId=ada(1000) GroupId=ada(1000) Name=a b JobState=CANCELLED \
///     Partition=lab TimeLimit=UNLIMITED StartTime=2026-12-07T11:45:21 \
///     EndTime=2026-12-07T11:45:49 NodeList=n2 NodeCnt=1 ProcCnt=2 WorkDir=/tmp \
///     ReservationName= Tres=cpu=2,mem=100M,node=1,billing=2 Account= QOS= WcKey= \
///     Cluster=unknown SubmitTime=2026-12-07T11:45:21 EligibleTime=2026-12-07T11:45:21 \
///     DerivedExitCode=0:0 ExitCode=0:0\n";
/// let jobs = parse_jobcomp(line, 3600)?.items;
/// assert_eq!((jobs[0].name.as_str(), jobs[0].cpus), ("a b", 2));
/// assert_eq!(jobs[0].end.map(|t| t.to_rfc3339()).as_deref(), Some("2026-12-07T10:45:49Z"));
/// assert_eq!(jobs[0].nodes[0].memory_bytes, Some(100 << 20));
/// # Ok::<(), kelvin_agent::scheduler::slurm::SlurmError>(())
/// ```
///
/// # Errors
/// [`SlurmError::InvalidInput`] for an offset beyond ±18 hours.
pub fn parse_jobcomp(text: &str, utc_offset_secs: i32) -> Result<Parsed<Allocation>, SlurmError> {
    check_offset(utc_offset_secs)?;
    Ok(parse_jobcomp_lines(
        text,
        utc_offset_secs,
        &Arc::from("jobcomp"),
        1,
    ))
}

/// Offsets Slurm's local times can have.
pub(crate) fn check_offset(utc_offset_secs: i32) -> Result<(), SlurmError> {
    if utc_offset_secs.unsigned_abs() > 18 * 3600 {
        return Err(SlurmError::invalid(
            "utc_offset_secs",
            format!("{utc_offset_secs} s is beyond ±18 hours"),
        ));
    }
    Ok(())
}

/// [`parse_jobcomp`] naming places `source:LINE`, counting lines from `first_line`.
pub(crate) fn parse_jobcomp_lines(
    text: &str,
    utc_offset_secs: i32,
    source: &Arc<str>,
    first_line: u64,
) -> Parsed<Allocation> {
    let mut budget = Budget::new(MAX_EXPANDED);
    let mut out = Parsed::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match jobcomp_line(line, utc_offset_secs, &mut budget) {
            Ok(job) => out.items.push(job),
            Err(reason) => out.rejected.push(SlurmError::corrupt(
                Place::line(source.clone(), first_line + i as u64),
                reason,
            )),
        }
    }
    out
}

/// The records of `scontrol` text: each starts at a line beginning with `first` that opens
/// the text or follows a blank line. Returns each record's first line number and its lines.
fn records<'a>(
    text: &'a str,
    first: &str,
    nothing: &str,
    source: &Arc<str>,
) -> Result<Vec<(u64, Vec<Line<'a>>)>, SlurmError> {
    let mut out: Vec<(u64, Vec<Line<'a>>)> = Vec::new();
    let mut after_blank = true;
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let blank = line.trim().is_empty();
        if after_blank && line.starts_with(first) {
            out.push((n, vec![(n, line)]));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push((n, line));
        } else if !blank && line.trim() != nothing {
            return Err(SlurmError::corrupt(
                Place::line(source.clone(), n),
                format!(
                    "expected a `{first}…` record, found {:?}",
                    excerpt(line, 60)
                ),
            ));
        }
        after_blank = blank;
    }
    Ok(out)
}

/// The key a line starts with (`   JobState=RUNNING …` → `JobState`).
fn line_key(line: &str) -> Option<&str> {
    let (key, _) = line.trim_start().split_once('=')?;
    (!key.is_empty() && !key.contains(char::is_whitespace)).then_some(key)
}

/// The value of `key` among the space-separated `Key=value` tokens of `line`.
fn token<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .filter_map(|t| t.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The anchor lines of a record, checked for order and repetition: `(rank, line number,
/// line)` for each line whose key is in `anchors`. `repeatable` may appear several times in a
/// row.
fn anchored<'a>(
    lines: &[Line<'a>],
    anchors: &[&str],
    repeatable: Option<&str>,
    required: &[&str],
) -> Result<Vec<Anchor<'a>>, Rejection> {
    let mut out: Vec<Anchor<'a>> = Vec::new();
    for &(n, line) in lines {
        let Some(key) = line_key(line) else { continue };
        let Some(rank) = anchors.iter().position(|a| *a == key) else {
            continue;
        };
        if let Some(&(last, _, _)) = out.last() {
            let repeat_ok = rank == last && repeatable == Some(key);
            if rank < last || (rank == last && !repeat_ok) {
                return Err((
                    n,
                    format!(
                        "`{key}=` out of Slurm's order: a free-text field of this record \
                         holds a line break, so the record cannot be trusted"
                    ),
                ));
            }
        }
        out.push((rank, n, line));
    }
    for key in required {
        if !out.iter().any(|&(r, _, _)| anchors[r] == *key) {
            let at = lines.first().map_or(0, |l| l.0);
            return Err((at, format!("no `{key}=` line")));
        }
    }
    Ok(out)
}

/// One `scontrol show job -d` record.
fn job_record(lines: &[Line<'_>], budget: &mut Budget) -> Result<Allocation, Rejection> {
    let at = lines.first().map_or(0, |l| l.0);
    let anchors = anchored(lines, JOB_ANCHORS, Some("Nodes"), JOB_REQUIRED)?;
    let get = |key: &str| {
        anchors
            .iter()
            .find(|(r, _, _)| JOB_ANCHORS[*r] == key)
            .map(|&(_, n, l)| (n, l))
    };
    let field = |key: &str, line_key: &str| -> Result<Line<'_>, Rejection> {
        let (n, line) = get(line_key).ok_or((at, format!("no `{line_key}=` line")))?;
        token(line, key)
            .map(|v| (n, v))
            .ok_or((n, format!("no {key}")))
    };
    let (n, first) = get("JobId").ok_or((at, "no JobId".to_string()))?;
    // `JobId=12 [ArrayJobId=… ArrayTaskId=…] JobName=<free text to the end of the line>`.
    let rest = first.strip_prefix("JobId=").unwrap_or(first);
    let id = rest.split(' ').next().unwrap_or("");
    let name = rest.find(" JobName=").map_or("", |i| &rest[i + 9..]);
    let job_id = number(id, u64::from(u32::MAX)).map_err(|e| (n, format!("JobId: {e}")))?;
    let (n, user) = field("UserId", "UserId")?;
    let user = user_name(user).map_err(|e| (n, e))?;
    let (n, state) = field("JobState", "JobState")?;
    let state = state_word(state).map_err(|e| (n, e))?.to_string();
    let (n, start) = field("StartTime", "StartTime")?;
    let start = parse_time(start, 0).map_err(|e| (n, format!("StartTime: {e}")))?;
    let (n, end) = field("EndTime", "StartTime")?;
    let end = parse_time(end, 0).map_err(|e| (n, format!("EndTime: {e}")))?;
    let (n, node_list) = get("NodeList").ok_or((at, "no NodeList".to_string()))?;
    let node_list = node_list.trim().strip_prefix("NodeList=").unwrap_or("");
    let listed = hosts(node_list, budget).map_err(|e| (n, format!("NodeList: {e}")))?;
    let (n, cpus) = field("NumCPUs", "NumNodes")?;
    let cpus = leading_number(cpus).map_err(|e| (n, format!("NumCPUs: {e}")))?;
    let mut nodes = Vec::new();
    for &(_, n, line) in anchors
        .iter()
        .filter(|(r, _, _)| JOB_ANCHORS[*r] == "Nodes")
    {
        for node in detail_line(line, budget).map_err(|e| (n, e))? {
            if !listed.contains(&node.node) {
                return Err((n, format!("node {} is not in NodeList", node.node)));
            }
            if nodes.iter().any(|m: &NodeAlloc| m.node == node.node) {
                return Err((n, format!("node {} is listed twice", node.node)));
            }
            nodes.push(node);
        }
    }
    if nodes.is_empty() {
        nodes = nodes_without_detail(&listed, cpus, None, None);
    }
    let admin_comment = get("AdminComment")
        .map(|(_, l)| {
            l.trim()
                .strip_prefix("AdminComment=")
                .unwrap_or("")
                .trim_end()
        })
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let (start, end) = reported_times(&state, start, end);
    Ok(Allocation {
        job_id,
        name: name.to_string(),
        user,
        state,
        cpus,
        nodes,
        start,
        end,
        admin_comment,
    })
}

/// `     Nodes=n[1-2] CPU_IDs=0-3 Mem=100 GRES=gpu:1(IDX:0)`: the same allocation on each node.
fn detail_line(line: &str, budget: &mut Budget) -> Result<Vec<NodeAlloc>, String> {
    let names = hosts(token(line, "Nodes").unwrap_or(""), budget)?;
    let cpu_ids = parse_ids(token(line, "CPU_IDs").ok_or("no CPU_IDs")?, budget)?;
    let mem = number(token(line, "Mem").ok_or("no Mem")?, u64::MAX >> 20)?;
    let (gpus, gpu_ids) = parse_gres(token(line, "GRES").unwrap_or(""), budget)?;
    let each = (cpu_ids.len() + gpu_ids.len()) as u64;
    budget.take(each.saturating_mul(names.len() as u64))?;
    Ok(names
        .into_iter()
        .map(|node| NodeAlloc {
            node,
            cpus: Some(cpu_ids.len() as u32),
            cpu_ids: cpu_ids.clone(),
            memory_bytes: Some(mem << 20).filter(|&m| m > 0),
            gpus: Some(gpus),
            gpu_ids: gpu_ids.clone(),
        })
        .collect())
}

/// Nodes known only by name: a one-node job's node gets the job's CPUs (and the memory and
/// GPUs given), a larger job's nodes nothing but their names.
fn nodes_without_detail(
    names: &[String],
    cpus: u32,
    memory_bytes: Option<u64>,
    gpus: Option<u32>,
) -> Vec<NodeAlloc> {
    let single = names.len() == 1;
    names
        .iter()
        .map(|node| NodeAlloc {
            node: node.clone(),
            cpu_ids: Vec::new(),
            cpus: single.then_some(cpus),
            memory_bytes: memory_bytes.filter(|_| single),
            gpus: gpus.filter(|_| single),
            gpu_ids: Vec::new(),
        })
        .collect()
}

/// One `scontrol show node` record.
fn node_record(lines: &[Line<'_>]) -> Result<NodeInfo, Rejection> {
    let anchors = anchored(lines, NODE_ANCHORS, None, NODE_ANCHORS)?;
    let line_of = |rank: usize| anchors.iter().find(|a| a.0 == rank).map(|a| (a.1, a.2));
    let mut values = Vec::new();
    for (rank, key) in [
        (0, "NodeName"),
        (0, "CoresPerSocket"),
        (1, "CPUTot"),
        (2, "Sockets"),
        (3, "State"),
        (3, "ThreadsPerCore"),
        (3, "Weight"),
    ] {
        let (n, line) = line_of(rank).ok_or((0, format!("no {key}")))?;
        values.push((n, token(line, key).ok_or((n, format!("no {key}")))?));
    }
    let count = |i: usize, max: u64| -> Result<u32, Rejection> {
        let (n, v) = values[i];
        number(v, max)
            .map(|x| x as u32)
            .map_err(|e| (n, format!("{v:?}: {e}")))
    };
    let cpus_max = u64::from(MAX_CPUS_PER_NODE);
    let info = NodeInfo {
        name: values[0].1.to_string(),
        cores_per_socket: count(1, cpus_max)?,
        cpus: count(2, cpus_max)?,
        sockets: count(3, cpus_max)?,
        state: values[4]
            .1
            .split('+')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase(),
        threads_per_core: count(5, cpus_max)?,
        weight: count(6, u64::from(u32::MAX))?,
    };
    check_shape(&info).map_err(|e| (values[0].0, format!("node {}: {e}", info.name)))?;
    Ok(info)
}

/// One jobcomp line.
fn jobcomp_line(line: &str, offset: i32, budget: &mut Budget) -> Result<Allocation, String> {
    const HEAD: &[&str] = &["JobId", "UserId", "GroupId", "Name"];
    const MIDDLE: &[&str] = &[
        "JobState",
        "Partition",
        "TimeLimit",
        "StartTime",
        "EndTime",
        "NodeList",
        "NodeCnt",
        "ProcCnt",
        "WorkDir",
    ];
    const TAIL: &[&str] = &["ReservationName", "Tres", "Account"];
    let (head, rest) =
        fields(line, HEAD).ok_or("not a jobcomp/filetxt line (JobId= UserId= GroupId= Name=)")?;
    let middle = unique_match(rest, MIDDLE, |v| {
        state_word(v[0]).is_ok() && number(v[6], u64::MAX).is_ok() && number(v[7], u64::MAX).is_ok()
    })?
    .ok_or("no `JobState= … ProcCnt= WorkDir=` fields")?;
    let (at, mid, tail) = middle;
    let name = &rest[..at];
    let job_id = number(head[0], u64::from(u32::MAX)).map_err(|e| format!("JobId: {e}"))?;
    let user = user_name(head[1])?;
    let state = state_word(mid[0])?.to_string();
    let start = parse_time(mid[3], offset).map_err(|e| format!("StartTime: {e}"))?;
    let end = parse_time(mid[4], offset).map_err(|e| format!("EndTime: {e}"))?;
    let listed = hosts(mid[5], budget).map_err(|e| format!("NodeList: {e}"))?;
    let cpus = number(mid[7], u64::from(u32::MAX)).map_err(|e| format!("ProcCnt: {e}"))? as u32;
    // Tres follows the free-text WorkDir: used only when found exactly once.
    let tres = unique_match(tail, TAIL, |_| true)
        .ok()
        .flatten()
        .map(|(_, v, _)| v[1]);
    let (memory, gpus) = tres.map_or((None, None), tres_memory_gpus);
    let (start, end) = reported_times(&state, start, end);
    Ok(Allocation {
        job_id,
        name: name.to_string(),
        user,
        state,
        cpus,
        nodes: nodes_without_detail(&listed, cpus, memory, gpus),
        start,
        end,
        admin_comment: None,
    })
}

/// Reads `K1=v1 K2=v2 … Kn=` from the start of `s` (values up to the next space): the values
/// of all but the last key, and the text after `Kn=`.
fn fields<'a>(s: &'a str, keys: &[&str]) -> Option<(Vec<&'a str>, &'a str)> {
    let mut rest = s;
    let mut values = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        rest = rest.strip_prefix(key)?.strip_prefix('=')?;
        if i + 1 == keys.len() {
            break;
        }
        let (value, after) = rest.split_once(' ')?;
        values.push(value);
        rest = after;
    }
    Some((values, rest))
}

/// The one place in `s` where ` K1=v1 … Kn=` starts and `ok(values)` holds: its offset, the
/// values and the text after. `None` when there is none; an error when there are several (a
/// free-text field mimics the fields).
fn unique_match<'a>(
    s: &'a str,
    keys: &[&str],
    ok: impl Fn(&[&str]) -> bool,
) -> Result<Option<Match<'a>>, String> {
    let needle = format!(" {}=", keys[0]);
    let mut found = None;
    for (at, _) in s.match_indices(&needle) {
        if let Some((values, after)) = fields(&s[at + 1..], keys).filter(|(v, _)| ok(v)) {
            if found.is_some() {
                return Err(format!(
                    "`{}` fields appear twice: a free-text field mimics them",
                    keys[0]
                ));
            }
            found = Some((at, values, after));
        }
    }
    Ok(found)
}

/// Memory (bytes) and GPUs of a TRES string (`cpu=2,mem=100M,node=1,gres/gpu=1`).
fn tres_memory_gpus(tres: &str) -> (Option<u64>, Option<u32>) {
    let mut memory = None;
    let mut gpus = None;
    for (k, v) in tres.split(',').filter_map(|t| t.split_once('=')) {
        match k {
            "mem" => memory = memory_bytes(v),
            "gres/gpu" => {
                gpus = number(v, u64::from(MAX_CPUS_PER_NODE))
                    .ok()
                    .map(|g| g as u32)
            }
            _ => {}
        }
    }
    (memory, gpus)
}

/// `100M`, `2G`, `512K`, `1T`, `3` (MiB) as bytes.
fn memory_bytes(v: &str) -> Option<u64> {
    let (digits, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => v.split_at(i),
        None => (v, "M"),
    };
    let shift = match unit {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        _ => return None,
    };
    number(digits, u64::MAX)
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
}

/// GPUs of a GRES detail (`gpu:2(IDX:0-1)`, `gpu:a100:1(IDX:0),gpu:v100:1(IDX:3)`, empty):
/// their count and `IDX` indices. Other GRES are not counted.
pub(crate) fn parse_gres(s: &str, budget: &mut Budget) -> Result<(u32, Vec<u32>), String> {
    let mut count: u32 = 0;
    let mut ids = Vec::new();
    let mut depth = 0u32;
    let mut start = 0;
    let mut entries = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or("unbalanced parentheses in GRES")?
            }
            ',' if depth == 0 => {
                entries.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    entries.push(&s[start..]);
    for entry in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
        let (head, detail) = match entry.split_once('(') {
            Some((h, d)) => (h, d.strip_suffix(')').ok_or("unclosed GRES detail")?),
            None => (entry, ""),
        };
        let parts: Vec<&str> = head.split(':').collect();
        if parts[0] != "gpu" {
            continue;
        }
        let n = match parts.as_slice() {
            [_, .., last] => number(last, u64::from(MAX_CPUS_PER_NODE))
                .map_err(|e| format!("GRES {:?}: {e}", excerpt(entry, 60)))?,
            _ => return Err(format!("GRES {:?} has no count", excerpt(entry, 60))),
        };
        count = count.saturating_add(n as u32).min(MAX_CPUS_PER_NODE);
        if let Some(idx) = detail.strip_prefix("IDX:")
            && idx != "N/A"
        {
            ids.extend(parse_ids(idx, budget)?);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok((count, ids))
}

/// A job state word: upper-case letters and `_`, at most 32.
pub(crate) fn state_word(s: &str) -> Result<&str, String> {
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return Err(format!("{:?} is not a job state", excerpt(s, 40)));
    }
    Ok(s)
}

/// `ada(1000)` → `ada`; `1000(1000)` stays the uid.
fn user_name(s: &str) -> Result<String, String> {
    let name = s.split('(').next().unwrap_or("");
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(format!("{:?} is not a user", excerpt(s, 40)));
    }
    Ok(name.to_string())
}

/// A hostlist, `(null)` or empty being none.
fn hosts(list: &str, budget: &mut Budget) -> Result<Vec<String>, String> {
    match list.trim() {
        "" | "(null)" | "None" => Ok(Vec::new()),
        l => expand_hosts(l, budget),
    }
}

/// A whole number in `0..=max` (at most 20 digits).
fn number(s: &str, max: u64) -> Result<u64, String> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{:?} is not a whole number", excerpt(s, 40)));
    }
    match s.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("{s} is over {max}")),
    }
}

/// The number a value starts with (`NumCPUs=2-4` of a pending job → 2).
fn leading_number(s: &str) -> Result<u32, String> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    number(&s[..end], u64::from(u32::MAX)).map(|n| n as u32)
}

/// A Slurm time: `2026-12-07T11:47:23` in a zone `offset` seconds east of UTC, or Unix
/// seconds (`SLURM_TIME_FORMAT=%s`); `Unknown`, `None`, `N/A`, empty and 0 are no time.
pub(crate) fn parse_time(s: &str, offset: i32) -> Result<Option<Timestamp>, String> {
    match s {
        "" | "Unknown" | "None" | "N/A" | "(null)" | "0" => return Ok(None),
        _ => {}
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs = number(s, 9_000_000_000)?;
        return Ok(Some(Timestamp::from_secs(secs as i64)));
    }
    if s.len() != 19 || s.as_bytes().get(10) != Some(&b'T') {
        return Err(format!("{:?} is not a Slurm time", excerpt(s, 40)));
    }
    let t = Timestamp::parse_rfc3339(&format!("{s}Z")).map_err(|e| e.reason().to_string())?;
    Ok(Some(
        t.add_nanos(-i64::from(offset) * Timestamp::NANOS_PER_SEC),
    ))
}
