//! procfs: `/proc/stat` (host CPU time) and `/proc/<pid>/{stat,cgroup}` (process CPU time and
//! the workload it belongs to).

use std::path::Path;

use kelvin_model::{EntityId, Place, SensorKind};

use super::USER_HZ;
use super::cgroup::cgroup_owner;
use super::walk::{EntryKind, Scan, quarantine};
use crate::{Quarantined, Reason};

/// The CPU-time fields of one `/proc/<pid>/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PidStat {
    /// Field 1.
    pub(crate) pid: u64,
    /// Field 2, without its parentheses.
    pub(crate) comm: String,
    /// Field 14: user-mode time, clock ticks.
    pub(crate) utime: u64,
    /// Field 15: kernel-mode time, clock ticks.
    pub(crate) stime: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself
/// contain spaces and `)`, so the fields after it are found after the **last** `)`.
pub(crate) fn parse_pid_stat(text: &str) -> Result<PidStat, (Reason, String)> {
    let bad = |d: &str| (Reason::BadField, d.to_string());
    let open = text
        .find('(')
        .ok_or_else(|| bad("no '(' before the command name"))?;
    let close = text
        .rfind(')')
        .ok_or_else(|| bad("no ')' after the command name"))?;
    if close < open {
        return Err(bad("')' before '('"));
    }
    let pid = text[..open]
        .trim()
        .parse::<u64>()
        .map_err(|_| bad("the pid (field 1) is not an integer"))?;
    let fields: Vec<&str> = text[close + 1..].split_whitespace().take(13).collect();
    if fields.len() < 13 {
        return Err(bad("fewer than 15 fields"));
    }
    // fields[0] is field 3 (state): field k is fields[k - 3].
    let num = |k: usize, what: &str| {
        fields[k - 3].parse::<u64>().map_err(|_| {
            (
                Reason::BadValue,
                format!("{what} (field {k}) {:?} is not an integer", fields[k - 3]),
            )
        })
    };
    Ok(PidStat {
        pid,
        comm: text[open + 1..close].to_string(),
        utime: num(14, "utime")?,
        stime: num(15, "stime")?,
    })
}

/// The cgroup path of a process from `/proc/<pid>/cgroup`: the v2 line (`0::/path`), else the
/// v1 line of the `cpu`/`cpuacct` controller, else the first line.
pub(crate) fn parse_pid_cgroup(text: &str) -> Option<&str> {
    let (mut v2, mut cpu, mut first) = (None, None, None);
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !path.starts_with('/') {
            continue;
        }
        first.get_or_insert(path);
        if id == "0" && controllers.is_empty() {
            v2.get_or_insert(path);
        } else if controllers.split(',').any(|c| c == "cpu" || c == "cpuacct") {
            cpu.get_or_insert(path);
        }
    }
    v2.or(cpu).or(first)
}

/// Busy ticks of the aggregate `cpu` line of `/proc/stat`:
/// user + nice + system + irq + softirq + steal (guest time is already in user and nice;
/// idle and iowait are not busy). Returns the ticks and the 1-based line.
pub(crate) fn parse_proc_stat(text: &str) -> Result<(u64, u64), (u64, Reason, String)> {
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        if !rest.starts_with([' ', '\t']) {
            continue; // cpu0, cpu1 …
        }
        let n = i as u64 + 1;
        let fields: Result<Vec<u64>, _> = rest.split_whitespace().map(str::parse::<u64>).collect();
        let Ok(f) = fields else {
            return Err((
                n,
                Reason::BadValue,
                "a cpu time is not a non-negative integer".into(),
            ));
        };
        if f.len() < 7 {
            return Err((
                n,
                Reason::BadField,
                format!("{} fields on the cpu line, at least 7 expected", f.len()),
            ));
        }
        let busy = [f[0], f[1], f[2], f[5], f[6], f.get(7).copied().unwrap_or(0)]
            .iter()
            .try_fold(0u64, |a, &b| a.checked_add(b));
        return busy
            .map(|b| (b, n))
            .ok_or((n, Reason::BadValue, "cpu time overflows".into()));
    }
    Err((1, Reason::BadField, "no aggregate cpu line".into()))
}

/// Emits the host's busy CPU time from a `/proc/stat` file.
pub(crate) fn proc_stat_record(scan: &mut Scan<'_, '_>, path: &Path) {
    let text = match scan.read_value(path) {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(q) => return scan.emit(path, Err(q)),
    };
    match parse_proc_stat(&text) {
        Ok((ticks, _)) => {
            let host = scan.host.clone();
            let r = scan.reading(
                host,
                "host/cpu",
                SensorKind::CpuTime,
                ticks as f64 / USER_HZ as f64,
            );
            scan.emit_counter(path, r, None);
        }
        Err((line, reason, detail)) => {
            let excerpt = text.lines().nth(line as usize - 1).unwrap_or("");
            let q = Quarantined::new(
                Place::line(path.display().to_string(), line),
                reason,
                detail,
                excerpt,
            );
            scan.emit(path, Err(q));
        }
    }
}

/// Emits the CPU time of the process whose `/proc` directory is `dir`, attributed to the
/// workload of its cgroup; `pid` is the directory's name (the identity in `/proc`).
pub(crate) fn pid_record(scan: &mut Scan<'_, '_>, dir: &Path, pid: u64) {
    let path = dir.join("stat");
    let text = match scan.read_value(&path) {
        Ok(Some(t)) => t,
        Ok(None) => return, // the process exited, or not a process directory
        Err(q) => return scan.emit(&path, Err(q)),
    };
    let stat = match parse_pid_stat(&text) {
        Ok(s) => s,
        Err((reason, detail)) => {
            return scan.emit(&path, Err(quarantine(&path, reason, detail, &text)));
        }
    };
    let cgroup_path = dir.join("cgroup");
    let workload = match scan.read_value(&cgroup_path) {
        Ok(None) => None,
        Ok(Some(t)) => match parse_pid_cgroup(&t) {
            Some(cg) => cgroup_owner(cg).workload,
            None => {
                let q = quarantine(
                    &cgroup_path,
                    Reason::BadField,
                    "no `id:controllers:/path` line",
                    &t,
                );
                return scan.emit(&path, Err(q));
            }
        },
        Err(q) => return scan.emit(&path, Err(q)),
    };
    let entity = match workload {
        None => scan.host.clone(),
        Some(w) => match EntityId::new(w.as_str()) {
            Ok(e) => e,
            Err(e) => {
                return scan.emit(
                    &path,
                    Err(quarantine(
                        &cgroup_path,
                        Reason::InvalidEntity,
                        e.reason(),
                        &w,
                    )),
                );
            }
        },
    };
    let Some(ticks) = stat.utime.checked_add(stat.stime) else {
        let detail = format!(
            "utime {} + stime {} overflows 64 bits",
            stat.utime, stat.stime
        );
        return scan.emit(
            &path,
            Err(quarantine(&path, Reason::BadValue, detail, &text)),
        );
    };
    let r = scan.reading(
        entity,
        format!("pid/{pid}"),
        SensorKind::CpuTime,
        ticks as f64 / USER_HZ as f64,
    );
    scan.emit_counter(&path, r, None);
}

/// Decodes a procfs root: `stat`, then every numeric directory in numeric order.
pub(crate) fn scan(scan: &mut Scan<'_, '_>, proc: &Path) {
    let entries = scan.list(proc);
    // A `stat` that is a link or a FIFO is read (or quarantined) like a file, never skipped.
    if entries
        .iter()
        .any(|(n, k)| n == "stat" && *k != EntryKind::Dir)
    {
        proc_stat_record(scan, &proc.join("stat"));
    }
    for (name, _) in entries
        .iter()
        .filter(|(n, k)| *k != EntryKind::Dir && n.parse::<u64>().is_ok())
    {
        scan.reject(
            &proc.join(name),
            Reason::Unreadable,
            "a numeric procfs entry that is not a directory (a link or a special file): not read",
            name,
        );
    }
    let mut pids: Vec<(u64, &str)> = entries
        .iter()
        .filter(|(_, k)| *k == EntryKind::Dir)
        .filter_map(|(n, _)| Some((n.parse::<u64>().ok()?, n.as_str())))
        .collect();
    pids.sort();
    for (pid, name) in pids {
        if scan.stopped() {
            break;
        }
        pid_record(scan, &proc.join(name), pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_stat_with_parentheses_and_spaces_in_comm() {
        let t = "4242 (my (weird)) proc) S 1 2 3 4 5 6 7 8 9 10 1234 567 0 0 20 0 1 0 99\n";
        let s = parse_pid_stat(t).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.comm, "my (weird)) proc");
        assert_eq!((s.utime, s.stime), (1234, 567));
        let real = "3456208 (prometheus) S 3456165 3456208 3456208 0 -1 4194560 11610543 0 22909 0 572479 27124 0 0 20 0 23 0";
        let s = parse_pid_stat(real).unwrap();
        assert_eq!(
            (s.comm.as_str(), s.utime, s.stime),
            ("prometheus", 572_479, 27_124)
        );
    }

    #[test]
    fn malformed_pid_stat_says_why() {
        assert_eq!(parse_pid_stat("").unwrap_err().0, Reason::BadField);
        assert_eq!(
            parse_pid_stat("1 (x S 1 2").unwrap_err().0,
            Reason::BadField
        );
        assert_eq!(parse_pid_stat(") 1 (x)").unwrap_err().0, Reason::BadField);
        assert_eq!(parse_pid_stat("x (a) S 1").unwrap_err().0, Reason::BadField);
        assert_eq!(
            parse_pid_stat("1 (a) S 1 2").unwrap_err().1,
            "fewer than 15 fields"
        );
        let e = parse_pid_stat("1 (a) S 1 2 3 4 5 6 7 8 9 10 -5 6").unwrap_err();
        assert_eq!(
            e,
            (
                Reason::BadValue,
                "utime (field 14) \"-5\" is not an integer".into()
            )
        );
    }

    #[test]
    fn pid_cgroup_lines() {
        assert_eq!(
            parse_pid_cgroup("0::/system.slice/docker-ab.scope\n"),
            Some("/system.slice/docker-ab.scope")
        );
        let v1 = "12:memory:/kubepods/x\n4:cpu,cpuacct:/kubepods/pod1/c1\n0::/\n";
        assert_eq!(parse_pid_cgroup(v1), Some("/"));
        assert_eq!(
            parse_pid_cgroup("12:memory:/m\n4:cpu,cpuacct:/c\n"),
            Some("/c")
        );
        assert_eq!(parse_pid_cgroup("12:memory:/m\n"), Some("/m"));
        assert_eq!(parse_pid_cgroup("garbage\n1:x:relative"), None);
    }

    #[test]
    fn proc_stat_busy_time() {
        let t = "cpu  8608833 7605 4179891 1295036209 426072 15697167 1285624 0 5327346 0\ncpu0 1 2 3 4 5 6 7 8\n";
        assert_eq!(
            parse_proc_stat(t),
            Ok((8608833 + 7605 + 4179891 + 15697167 + 1285624, 1))
        );
        assert_eq!(
            parse_proc_stat("cpu0 1 2 3 4 5 6 7\n").unwrap_err().1,
            Reason::BadField
        );
        assert_eq!(
            parse_proc_stat("intr 1\ncpu 1 2 3").unwrap_err(),
            (
                2,
                Reason::BadField,
                "3 fields on the cpu line, at least 7 expected".into()
            )
        );
        assert_eq!(
            parse_proc_stat("cpu 1 x 3 4 5 6 7").unwrap_err().1,
            Reason::BadValue
        );
        let max = format!("cpu {} 1 0 0 0 0 0", u64::MAX);
        assert_eq!(parse_proc_stat(&max).unwrap_err().1, Reason::BadValue);
    }
}
