//! `squeue --json` and `sinfo --json` as Slurm 22.05 prints them (OpenAPI v0.0.38).
//!
//! A job's allocation is under `job_resources.allocated_nodes[]`: per node its `nodename`,
//! `memory_allocated` (MiB) and `sockets` → `{"<socket>": {"cores": {"<core>":
//! "allocated"}}}` (only allocated cores are listed; `allocated_and_in_use` is allocated
//! too). The socket and core indices are the node's, so the CPU ids need the node's shape,
//! which `sinfo --json` gives (`sockets`, `cores`, `threads`, `cpus`). `gres_detail[]` has one
//! string per allocated node when the job holds GRES (`gpu:1(IDX:0)`). Times are Unix
//! seconds; a running job's `end_time` is its time-limit forecast.

use std::collections::BTreeMap;

use kelvin::model::{Place, Timestamp};
use serde_json::{Map, Value};

use super::text::{parse_gres, state_word};
use super::{
    Allocation, Budget, MAX_CPUS_PER_NODE, MAX_EXPANDED, NodeAlloc, NodeInfo, Parsed, SlurmError,
    excerpt, reported_times,
};

/// The only JSON shape these readers know.
const OPENAPI: &str = "openapi/v0.0.38";

/// Latest Unix second accepted (the year 2255; `Timestamp` ends in 2262).
const MAX_EPOCH_SECS: u64 = 9_000_000_000;

/// Reads `squeue --json` (Slurm 22.05, OpenAPI v0.0.38) into allocations, with `nodes` (from
/// [`parse_sinfo_json`] or [`parse_scontrol_nodes`](super::parse_scontrol_nodes)) giving
/// each node's shape for the CPU ids.
///
/// A job on a node missing from `nodes`, or with a socket, core or CPU past its node's
/// shape, is rejected (its place is `squeue --json#/jobs/N`), the others kept.
///
/// # Errors
/// [`SlurmError::Corrupt`] when the text is not JSON, not OpenAPI v0.0.38 (`meta.plugin.type`)
/// or has no `jobs` list; [`SlurmError::Reported`] when Slurm's `errors` list is not empty.
pub fn parse_squeue_json(text: &str, nodes: &[NodeInfo]) -> Result<Parsed<Allocation>, SlurmError> {
    const SOURCE: &str = "squeue --json";
    let jobs = document(text, SOURCE, "jobs")?;
    let shapes: BTreeMap<&str, &NodeInfo> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut budget = Budget::new(MAX_EXPANDED);
    let mut out = Parsed::default();
    for (i, job) in jobs.iter().enumerate() {
        match job_from_json(job, &shapes, &mut budget) {
            Ok(a) => out.items.push(a),
            Err(reason) => out.rejected.push(SlurmError::corrupt(
                Place::pointer(SOURCE, format!("/jobs/{i}")),
                match job.get("job_id").and_then(Value::as_u64) {
                    Some(id) => format!("job {id}: {reason}"),
                    None => reason,
                },
            )),
        }
    }
    Ok(out)
}

/// Reads `sinfo --json` (Slurm 22.05, OpenAPI v0.0.38) into node shapes and weights. A node
/// whose shape is impossible (no sockets, CPUs not a multiple of its cores, more than
/// [`MAX_CPUS_PER_NODE`]) is rejected, the others kept.
///
/// # Errors
/// As [`parse_squeue_json`], for the `nodes` list.
pub fn parse_sinfo_json(text: &str) -> Result<Parsed<NodeInfo>, SlurmError> {
    const SOURCE: &str = "sinfo --json";
    let nodes = document(text, SOURCE, "nodes")?;
    let mut out = Parsed::default();
    for (i, node) in nodes.iter().enumerate() {
        match node_info_from_json(node) {
            Ok(n) => out.items.push(n),
            Err(reason) => out.rejected.push(SlurmError::corrupt(
                Place::pointer(SOURCE, format!("/nodes/{i}")),
                reason,
            )),
        }
    }
    Ok(out)
}

/// The list under `key` of a v0.0.38 answer, once its version and `errors` are checked.
fn document(text: &str, source: &str, key: &str) -> Result<Vec<Value>, SlurmError> {
    let mut doc: Value = serde_json::from_str(text).map_err(|e| {
        SlurmError::corrupt(
            Place::line(source, e.line() as u64),
            format!("not JSON: {e}"),
        )
    })?;
    let version = doc.pointer("/meta/plugin/type").and_then(Value::as_str);
    if version != Some(OPENAPI) {
        return Err(SlurmError::corrupt(
            Place::pointer(source, "/meta/plugin/type"),
            format!(
                "{} is not {OPENAPI} (Slurm 22.05), the only JSON shape this reader knows",
                version.map_or_else(|| "no version".to_string(), |v| excerpt(v, 40))
            ),
        ));
    }
    if let Some(first) = doc
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        let message = first
            .get("error")
            .or_else(|| first.get("description"))
            .and_then(Value::as_str)
            .map_or_else(|| first.to_string(), str::to_string);
        return Err(SlurmError::Reported {
            place: Place::pointer(source, "/errors/0"),
            message: excerpt(&message, 200),
        });
    }
    match doc.get_mut(key).map(Value::take) {
        Some(Value::Array(list)) => Ok(list),
        _ => Err(SlurmError::corrupt(
            Place::pointer(source, format!("/{key}")),
            format!("no `{key}` list"),
        )),
    }
}

/// The JSON type of `v`, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `v[key]` unless missing or null.
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// A string field; missing or null reads as empty.
fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    match field(v, key) {
        None => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{key}: expected a string, found {}", kind(other))),
    }
}

/// A whole-number field in `0..=max`; missing or null reads as `None`.
fn uint(v: &Value, key: &str, max: u64) -> Result<Option<u64>, String> {
    match field(v, key) {
        None => Ok(None),
        Some(x) => match x.as_u64() {
            Some(n) if n <= max => Ok(Some(n)),
            Some(n) => Err(format!("{key}: {n} is over {max}")),
            None => Err(format!(
                "{key}: expected a whole number, found {}",
                excerpt(&x.to_string(), 40)
            )),
        },
    }
}

/// A Unix-seconds field; 0, missing or null is no time.
fn time(v: &Value, key: &str) -> Result<Option<Timestamp>, String> {
    Ok(uint(v, key, MAX_EPOCH_SECS)?
        .filter(|&s| s > 0)
        .map(|s| Timestamp::from_secs(s as i64)))
}

/// An object field; missing or null reads as empty.
fn object<'a>(v: &'a Value, key: &str) -> Result<Option<&'a Map<String, Value>>, String> {
    match field(v, key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(format!("{key}: expected an object, found {}", kind(other))),
    }
}

/// A list field; missing or null reads as empty.
fn list<'a>(v: &'a Value, key: &str) -> Result<&'a [Value], String> {
    match field(v, key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(format!("{key}: expected a list, found {}", kind(other))),
    }
}

fn job_from_json(
    job: &Value,
    shapes: &BTreeMap<&str, &NodeInfo>,
    budget: &mut Budget,
) -> Result<Allocation, String> {
    let job_id = uint(job, "job_id", u64::from(u32::MAX))?.ok_or("no job_id")?;
    let state = state_word(text(job, "job_state")?)?.to_string();
    let user = match text(job, "user_name")? {
        "" => uint(job, "user_id", u64::from(u32::MAX))?
            .map(|u| u.to_string())
            .unwrap_or_default(),
        name => name.to_string(),
    };
    let gres: Vec<&str> = list(job, "gres_detail")?
        .iter()
        .map(|g| g.as_str().ok_or("gres_detail: expected strings"))
        .collect::<Result<_, _>>()?;
    let allocated = match field(job, "job_resources") {
        Some(r) => list(r, "allocated_nodes").map_err(|e| format!("job_resources.{e}"))?,
        None => &[],
    };
    if !gres.is_empty() && gres.len() != allocated.len() {
        return Err(format!(
            "gres_detail has {} entries for {} allocated nodes",
            gres.len(),
            allocated.len()
        ));
    }
    let mut nodes = Vec::with_capacity(allocated.len());
    for (k, node) in allocated.iter().enumerate() {
        let n = node_from_json(node, gres.get(k).copied(), shapes, budget)
            .map_err(|e| format!("job_resources.allocated_nodes[{k}]: {e}"))?;
        if nodes.iter().any(|m: &NodeAlloc| m.node == n.node) {
            return Err(format!("node {} is allocated twice", n.node));
        }
        nodes.push(n);
    }
    let listed: u64 = nodes.iter().filter_map(|n| n.cpus).map(u64::from).sum();
    let cpus = uint(job, "cpus", u64::from(u32::MAX))?.unwrap_or(listed) as u32;
    let (start, end) = reported_times(&state, time(job, "start_time")?, time(job, "end_time")?);
    let admin_comment = Some(text(job, "admin_comment")?)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    Ok(Allocation {
        job_id,
        name: text(job, "name")?.to_string(),
        user,
        state,
        cpus,
        nodes,
        start,
        end,
        admin_comment,
    })
}

/// One `allocated_nodes[]` entry, its CPU ids computed from the node's shape.
fn node_from_json(
    node: &Value,
    gres: Option<&str>,
    shapes: &BTreeMap<&str, &NodeInfo>,
    budget: &mut Budget,
) -> Result<NodeAlloc, String> {
    let name = text(node, "nodename")?;
    if name.is_empty() {
        return Err("no nodename".into());
    }
    let shape = shapes.get(name).ok_or_else(|| {
        format!(
            "node {} is not in the node list, so its CPU ids are unknown",
            excerpt(name, 64)
        )
    })?;
    let per_core = u64::from(shape.cpus_per_core());
    let index = |key: &str, below: u32, what: &str| -> Result<u64, String> {
        match key.parse::<u32>() {
            Ok(i) if i < below && key.len() <= 6 => Ok(u64::from(i)),
            _ => Err(format!(
                "{what} {:?} is not below the node's {below}",
                excerpt(key, 20)
            )),
        }
    };
    let mut cpu_ids = Vec::new();
    for (skey, socket) in object(node, "sockets")?.into_iter().flatten() {
        let s = index(skey, shape.sockets, "socket")?;
        let cores = object(socket, "cores").map_err(|e| format!("sockets.{skey}.{e}"))?;
        for (ckey, status) in cores.into_iter().flatten() {
            let c = index(ckey, shape.cores_per_socket, "core")?;
            if !status.as_str().is_some_and(|s| s.starts_with("allocated")) {
                continue;
            }
            budget.take(per_core)?;
            let core = s * u64::from(shape.cores_per_socket) + c;
            for t in 0..per_core {
                let id = core * per_core + t;
                if id >= u64::from(shape.cpus) {
                    return Err(format!("CPU {id} is past the node's {} CPUs", shape.cpus));
                }
                cpu_ids.push(id as u32);
            }
        }
    }
    cpu_ids.sort_unstable();
    cpu_ids.dedup();
    let memory_bytes = uint(node, "memory_allocated", u64::MAX >> 20)?
        .filter(|&m| m > 0)
        .map(|m| m << 20);
    let (gpus, gpu_ids) = match gres {
        Some(g) => parse_gres(g, budget)?,
        None => (0, Vec::new()),
    };
    Ok(NodeAlloc {
        node: name.to_string(),
        cpus: Some(cpu_ids.len() as u32),
        cpu_ids,
        memory_bytes,
        gpus: Some(gpus),
        gpu_ids,
    })
}

fn node_info_from_json(node: &Value) -> Result<NodeInfo, String> {
    let name = text(node, "name")?;
    if name.is_empty() {
        return Err("no name".into());
    }
    let limit = u64::from(MAX_CPUS_PER_NODE);
    let count = |key: &str| -> Result<u32, String> {
        match uint(node, key, limit)? {
            Some(n) if n > 0 => Ok(n as u32),
            _ => Err(format!("node {}: no {key}", excerpt(name, 64))),
        }
    };
    let info = NodeInfo {
        name: name.to_string(),
        sockets: count("sockets")?,
        cores_per_socket: count("cores")?,
        threads_per_core: count("threads")?,
        cpus: count("cpus")?,
        weight: uint(node, "weight", u64::from(u32::MAX))?.unwrap_or(1) as u32,
        state: text(node, "state")?.to_ascii_lowercase(),
    };
    check_shape(&info).map_err(|e| format!("node {}: {e}", excerpt(name, 64)))?;
    Ok(info)
}

/// A node's shape is one Slurm can have: its CPUs are its cores times 1 to `threads` CPUs
/// per core, at most [`MAX_CPUS_PER_NODE`].
pub(crate) fn check_shape(n: &NodeInfo) -> Result<(), String> {
    let cores = u64::from(n.sockets) * u64::from(n.cores_per_socket);
    let cpus = u64::from(n.cpus);
    if cores == 0 || cores > u64::from(MAX_CPUS_PER_NODE) || cpus % cores != 0 {
        return Err(format!(
            "{} CPUs on {} sockets of {} cores is not a shape Slurm allows",
            n.cpus, n.sockets, n.cores_per_socket
        ));
    }
    if cpus / cores > u64::from(n.threads_per_core) {
        return Err(format!(
            "{} CPUs per core with {} threads per core",
            cpus / cores,
            n.threads_per_core
        ));
    }
    Ok(())
}
