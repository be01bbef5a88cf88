//! Linux sysfs/procfs trees: hwmon, powercap RAPL, cgroup v2 `cpu.stat`, `/proc/<pid>`.
