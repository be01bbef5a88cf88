//! cgroup v2: `cpu.stat` files, and the rules that name a cgroup's workload.

use std::path::Path;

use kelvin_model::{EntityId, Place, SensorKind};

use super::walk::{EntryKind, Scan};
use crate::{Quarantined, Reason};

/// Deepest cgroup directory looked at below the cgroup root.
const MAX_CGROUP_DEPTH: usize = 64;

/// Which rule of [`cgroup_owner`] named a cgroup's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CgroupRule {
    /// The root cgroup: the host itself.
    Root,
    /// A Kubernetes pod (`kubepods…-pod<uid>.slice` or `kubepods/…/pod<uid>`) or a container
    /// in it: the workload is the pod UID.
    KubernetesPod,
    /// A container outside Kubernetes (`docker-<id>.scope`, `libpod-<id>.scope`,
    /// `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker/<id>`): the container id.
    Container,
    /// A libvirt/systemd-machined virtual machine (`machine-<name>.scope`): the machine name.
    VirtualMachine,
    /// A systemd service (`<name>.service`): the unit name.
    Service,
    /// Anything else: the cgroup path with `/` replaced by `_`.
    Path,
}

/// Who a cgroup belongs to, by the rules of [`cgroup_owner`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CgroupOwner {
    /// The workload's entity id, or `None` for the root cgroup (the host).
    pub workload: Option<String>,
    /// The sensor name for this cgroup's own CPU time: `cpu` for the workload's own cgroup,
    /// `cpu/<rest>` for a cgroup nested below it, `container/<id>[/<rest>]` for a container of
    /// a pod, `cgroup` for the root.
    pub sensor: String,
    /// The rule that matched.
    pub rule: CgroupRule,
}

const CONTAINER_PREFIXES: [&str; 5] = [
    "cri-containerd-",
    "crio-",
    "docker-",
    "libpod-",
    "containerd-",
];

/// A Kubernetes pod UID from a pod cgroup's name, dashes restored (the systemd driver writes
/// them as `_`).
fn pod_uid(component: &str, under_kubepods: bool) -> Option<String> {
    let raw = if component.starts_with("kubepods") && component.ends_with(".slice") {
        let stem = &component[..component.len() - ".slice".len()];
        &stem[stem.rfind("-pod")? + "-pod".len()..]
    } else if under_kubepods {
        component.strip_prefix("pod")?
    } else {
        return None;
    };
    let uid = raw.replace('_', "-");
    (!uid.is_empty() && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')).then_some(uid)
}

/// The container id in a container cgroup's name: `cri-containerd-<id>.scope` → `<id>`; a
/// bare id (cgroupfs driver) is itself.
fn container_id(component: &str) -> &str {
    let stem = component.strip_suffix(".scope").unwrap_or(component);
    CONTAINER_PREFIXES
        .iter()
        .find_map(|p| stem.strip_prefix(p).filter(|id| !id.is_empty()))
        .unwrap_or(stem)
}

/// Decodes systemd's `\xNN` escapes (`machine-qemu\x2d1\x2dvm.scope`).
fn unescape_systemd(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 4);
        match hex
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .filter(u8::is_ascii)
        {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            None => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn sensor_with_rest(base: &str, rest: &[&str]) -> String {
    let mut s = base.to_string();
    for r in rest {
        s.push('/');
        s.push_str(r);
    }
    s
}

/// Names the workload a cgroup (v2 path, as in `/proc/<pid>/cgroup` or relative to the cgroup
/// root; a leading `/` is optional) belongs to, for energy attribution.
///
/// Rules, first match wins:
/// 1. The root (`/`, empty): the host ([`CgroupRule::Root`]); `workload` is `None`.
/// 2. Kubernetes: a component `kubepods[-<qos>]-pod<uid>.slice` (systemd driver, `_` in the
///    UID turned back into `-`) or `pod<uid>` below a `kubepods` component (cgroupfs driver)
///    makes the pod UID the workload. The pod's own cgroup has sensor `cpu`; a child
///    (`cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`, or a bare id)
///    has sensor `container/<id>`, deeper cgroups append their path. Pod CPU time includes its
///    containers': do not add the two.
/// 3. Otherwise, from the leaf up, the first component that is a container scope
///    (`docker-`, `libpod-`, `cri-containerd-`, `crio-`, `containerd-` + `<id>.scope`, or
///    `<id>` below `docker`) → the container id; `machine-<name>.scope` → the machine name,
///    systemd escapes decoded; `<name>.service` → the unit name with its `.service` suffix.
///    Its own cgroup has sensor `cpu`, deeper cgroups `cpu/<rest of the path>`.
/// 4. Anything else (slices, session scopes): the whole path, `/` and whitespace replaced by
///    `_` (`user.slice/user-1000.slice/session-2.scope` →
///    `user.slice_user-1000.slice_session-2.scope`), sensor `cpu`. Slices aggregate their
///    children.
///
/// ```
/// use kelvin_ingest::sysfs::{CgroupRule, cgroup_owner};
///
/// let o = cgroup_owner("/kubepods.slice/kubepods-burstable.slice/\
///     kubepods-burstable-pod3f9e0d4c_7a1b_4c2d_9e8f_0123456789ab.slice/cri-containerd-4d5e.scope");
/// assert_eq!(o.workload.as_deref(), Some("3f9e0d4c-7a1b-4c2d-9e8f-0123456789ab"));
/// assert_eq!((o.sensor.as_str(), o.rule), ("container/4d5e", CgroupRule::KubernetesPod));
///
/// let o = cgroup_owner("system.slice/sshd.service");
/// assert_eq!((o.workload.as_deref(), o.sensor.as_str()), (Some("sshd.service"), "cpu"));
/// ```
pub fn cgroup_owner(path: &str) -> CgroupOwner {
    let path = path
        .trim()
        .strip_suffix(" (deleted)")
        .unwrap_or(path.trim());
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.is_empty() {
        return CgroupOwner {
            workload: None,
            sensor: "cgroup".into(),
            rule: CgroupRule::Root,
        };
    }
    for (i, c) in parts.iter().enumerate() {
        let under_kubepods = parts[..i].contains(&"kubepods");
        if let Some(uid) = pod_uid(c, under_kubepods) {
            let rest = &parts[i + 1..];
            let sensor = match rest.split_first() {
                None => "cpu".to_string(),
                Some((first, deeper)) => {
                    sensor_with_rest(&format!("container/{}", container_id(first)), deeper)
                }
            };
            return CgroupOwner {
                workload: Some(uid),
                sensor,
                rule: CgroupRule::KubernetesPod,
            };
        }
    }
    for j in (0..parts.len()).rev() {
        let c = parts[j];
        let found = if let Some(stem) = c.strip_suffix(".scope") {
            if let Some(id) = CONTAINER_PREFIXES
                .iter()
                .find_map(|p| stem.strip_prefix(p).filter(|id| !id.is_empty()))
            {
                Some((id.to_string(), CgroupRule::Container))
            } else {
                stem.strip_prefix("machine-")
                    .filter(|m| !m.is_empty())
                    .map(|m| (unescape_systemd(m), CgroupRule::VirtualMachine))
            }
        } else if j > 0
            && parts[j - 1] == "docker"
            && c.len() >= 12
            && c.bytes().all(|b| b.is_ascii_hexdigit())
        {
            Some((c.to_string(), CgroupRule::Container))
        } else if c.len() > ".service".len() && c.ends_with(".service") {
            Some((c.to_string(), CgroupRule::Service))
        } else {
            None
        };
        if let Some((workload, rule)) = found {
            return CgroupOwner {
                workload: Some(workload),
                sensor: sensor_with_rest("cpu", &parts[j + 1..]),
                rule,
            };
        }
    }
    CgroupOwner {
        workload: Some(
            parts
                .join("_")
                .replace(|c: char| c.is_whitespace() || c.is_control(), "_"),
        ),
        sensor: "cpu".into(),
        rule: CgroupRule::Path,
    }
}

/// What a `cpu.stat` file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CpuStatText {
    /// cgroup v2: `usage_usec` (microseconds) on 1-based line `line`.
    Usage { usec: u64, line: u64 },
    /// A cgroup v1 `cpu.stat` (throttling statistics only): not a CPU-time record.
    V1,
}

/// Parses a `cpu.stat` text. Errors carry the 1-based line, the reason and a detail.
pub(crate) fn parse_cpu_stat(text: &str) -> Result<CpuStatText, (u64, Reason, String)> {
    let mut v1 = false;
    for (i, line) in text.lines().enumerate() {
        let mut f = line.split_whitespace();
        match (f.next(), f.next()) {
            (Some("usage_usec"), Some(v)) => {
                return match v.parse::<u64>() {
                    Ok(usec) if f.next().is_none() => Ok(CpuStatText::Usage {
                        usec,
                        line: i as u64 + 1,
                    }),
                    _ => Err((
                        i as u64 + 1,
                        Reason::BadValue,
                        format!("usage_usec {v:?} is not a non-negative integer"),
                    )),
                };
            }
            (Some("throttled_time"), _) => v1 = true,
            _ => {}
        }
    }
    if v1 {
        Ok(CpuStatText::V1)
    } else {
        Err((1, Reason::BadField, "no usage_usec line".into()))
    }
}

/// Emits the record of one `cpu.stat` file for `entity` (or the owner of `cgroup` when
/// `entity` is `None`).
pub(crate) fn cpu_stat_record(
    scan: &mut Scan<'_, '_>,
    path: &Path,
    cgroup: &str,
    whole_file: Option<(EntityId, &str)>,
) {
    let text = match scan.read_value(path) {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(q) => return scan.emit(path, Err(q)),
    };
    let src = path.display().to_string();
    let (usec, line) = match parse_cpu_stat(&text) {
        Ok(CpuStatText::Usage { usec, line }) => (usec, line),
        Ok(CpuStatText::V1) => return,
        Err((line, reason, detail)) => {
            let excerpt = text.lines().nth(line as usize - 1).unwrap_or("");
            let q = Quarantined::new(Place::line(src, line), reason, detail, excerpt);
            return scan.emit(path, Err(q));
        }
    };
    let (entity, sensor) = match whole_file {
        Some((e, s)) => (e, s.to_string()),
        None => {
            let owner = cgroup_owner(cgroup);
            let entity = match owner.workload {
                None => scan.host.clone(),
                Some(w) => match EntityId::new(w.as_str()) {
                    Ok(e) => e,
                    Err(e) => {
                        let q = Quarantined::new(
                            Place::line(src, line),
                            Reason::InvalidEntity,
                            e.reason(),
                            &w,
                        );
                        return scan.emit(path, Err(q));
                    }
                },
            };
            (entity, owner.sensor)
        }
    };
    let r = scan.reading(entity, sensor, SensorKind::CpuTime, usec as f64 / 1e6);
    scan.emit_counter(path, r, None);
}

/// Walks a cgroup v2 hierarchy rooted at `root` (sorted, depth-first, symlinks not followed)
/// and emits one record per `cpu.stat`.
pub(crate) fn scan(scan: &mut Scan<'_, '_>, root: &Path) {
    let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, rel, depth)) = stack.pop() {
        if scan.stopped() {
            break;
        }
        let entries = scan.list(&dir);
        if entries
            .iter()
            .any(|(n, k)| n == "cpu.stat" && *k != EntryKind::Dir)
        {
            cpu_stat_record(scan, &dir.join("cpu.stat"), &rel, None);
        }
        if depth >= MAX_CGROUP_DEPTH {
            continue;
        }
        let subdirs: Vec<_> = entries
            .into_iter()
            .filter(|(_, k)| *k == EntryKind::Dir)
            .map(|(n, _)| (dir.join(&n), format!("{rel}/{n}"), depth + 1))
            .collect();
        stack.extend(subdirs.into_iter().rev());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, workload: Option<&str>, sensor: &str, rule: CgroupRule) {
        let o = cgroup_owner(path);
        assert_eq!(
            (o.workload.as_deref(), o.sensor.as_str(), o.rule),
            (workload, sensor, rule),
            "{path}"
        );
    }

    #[test]
    fn workload_ids_from_cgroup_paths() {
        use CgroupRule::*;
        let uid = "3f9e0d4c-7a1b-4c2d-9e8f-0123456789ab";
        let sd = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f9e0d4c_7a1b_4c2d_9e8f_0123456789ab.slice";
        check(sd, Some(uid), "cpu", KubernetesPod);
        check(
            &format!("/{sd}/cri-containerd-abc123.scope"),
            Some(uid),
            "container/abc123",
            KubernetesPod,
        );
        check(
            &format!("/{sd}/crio-conmon-abc.scope"),
            Some(uid),
            "container/conmon-abc",
            KubernetesPod,
        );
        check(
            &format!("{sd}/docker-abc.scope/sub"),
            Some(uid),
            "container/abc/sub",
            KubernetesPod,
        );
        check(
            "kubepods.slice/kubepods-pod0a1b2c3d_0000_1111_2222_333344445555.slice",
            Some("0a1b2c3d-0000-1111-2222-333344445555"),
            "cpu",
            KubernetesPod,
        );
        check(
            "/kubepods/besteffort/pod0a1b2c3d-0000-1111-2222-333344445555/e3b0c44298fc",
            Some("0a1b2c3d-0000-1111-2222-333344445555"),
            "container/e3b0c44298fc",
            KubernetesPod,
        );
        // The QoS slices aggregate pods: no pod UID, the path.
        check(
            "kubepods.slice/kubepods-burstable.slice",
            Some("kubepods.slice_kubepods-burstable.slice"),
            "cpu",
            Path,
        );
        // "pod..." outside kubepods is just a name.
        check(
            "/pods/podcast.service",
            Some("podcast.service"),
            "cpu",
            Service,
        );
        let docker = "b176419186d75a44628851daf7841d3374a2ec56d0b038ee3bd1e0c6d331e5b1";
        check(
            &format!("/system.slice/docker-{docker}.scope"),
            Some(docker),
            "cpu",
            Container,
        );
        check(&format!("/docker/{docker}"), Some(docker), "cpu", Container);
        check(
            "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-f992ec4ed807.scope/container",
            Some("f992ec4ed807"),
            "cpu/container",
            Container,
        );
        check(
            "/user.slice/user-1000.slice/user@1000.service/tmux-spawn-e780eea5-fcf4.scope",
            Some("user@1000.service"),
            "cpu/tmux-spawn-e780eea5-fcf4.scope",
            Service,
        );
        check(
            "/system.slice/sshd.service",
            Some("sshd.service"),
            "cpu",
            Service,
        );
        check(
            r"/machine.slice/machine-qemu\x2d1\x2dvm01.scope",
            Some("qemu-1-vm01"),
            "cpu",
            VirtualMachine,
        );
        check(
            "user.slice/user-1000.slice/session-2.scope",
            Some("user.slice_user-1000.slice_session-2.scope"),
            "cpu",
            Path,
        );
        check("/odd name/x", Some("odd_name_x"), "cpu", Path);
        check("/", None, "cgroup", Root);
        check("", None, "cgroup", Root);
        check(
            "/system.slice/gone.service (deleted)",
            Some("gone.service"),
            "cpu",
            Service,
        );
        check("/.service", Some(".service"), "cpu", Path);
    }

    #[test]
    fn systemd_escapes() {
        assert_eq!(unescape_systemd(r"a\x2db"), "a-b");
        assert_eq!(unescape_systemd(r"a\x2"), r"a\x2");
        assert_eq!(unescape_systemd(r"\xzz\x41"), r"\xzzA");
        assert_eq!(unescape_systemd(r"\xff"), r"\xff");
    }

    #[test]
    fn cpu_stat_texts() {
        let v2 = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n";
        assert_eq!(
            parse_cpu_stat(v2),
            Ok(CpuStatText::Usage {
                usec: 2_500_000,
                line: 1
            })
        );
        assert_eq!(
            parse_cpu_stat("nr_periods 0\nusage_usec 7"),
            Ok(CpuStatText::Usage { usec: 7, line: 2 })
        );
        assert_eq!(
            parse_cpu_stat("nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"),
            Ok(CpuStatText::V1)
        );
        assert_eq!(
            parse_cpu_stat("usage_usec -1").unwrap_err().1,
            Reason::BadValue
        );
        assert_eq!(
            parse_cpu_stat("usage_usec 1 2").unwrap_err().1,
            Reason::BadValue
        );
        assert_eq!(
            parse_cpu_stat("garbage").unwrap_err(),
            (1, Reason::BadField, "no usage_usec line".into())
        );
        assert_eq!(parse_cpu_stat("").unwrap_err().1, Reason::BadField);
    }
}
