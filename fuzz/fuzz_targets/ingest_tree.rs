//! The tree readers behind `decode_path` on a directory: a Redfish mockup or service dump
//! (`redfish::decode_tree`) and a sysfs/procfs tree (hwmon, powercap RAPL, cgroup `cpu.stat`,
//! `/proc/<pid>/stat`, `/proc/stat`).
//!
//! Input: a mode byte (bit 0: sysfs, else Redfish; bit 1: let `decode_path` detect the tree
//! kind), then files joined by NUL bytes, each `relative/path` on its first line and the
//! content after it (see `Scratch::write_untrusted`: only plain relative paths are used, and
//! `@link TARGET` makes a symbolic link, inside the tree or to `/dev/zero` and friends).
#![no_main]

use kelvin_fuzz::{Bytes, Scratch, budget, check_batch, normalizer};
use kelvin_ingest::{Context, Format, decode_path};
use kelvin_model::Timestamp;
use libfuzzer_sys::fuzz_target;

/// Most files one input writes.
const MAX_FILES: usize = 64;

fuzz_target!(|data: &[u8]| {
    budget(|| {
        let mut b = Bytes::new(data);
        let mode = b.u8();
        let dir = Scratch::new("ingest_tree");
        for (i, part) in b
            .rest()
            .split(|c| *c == kelvin_fuzz::SEP)
            .take(MAX_FILES)
            .enumerate()
        {
            let (name, content) = match part.iter().position(|c| *c == b'\n') {
                Some(nl) => (&part[..nl], &part[nl + 1..]),
                None => (part, &[][..]),
            };
            let name = String::from_utf8_lossy(name);
            dir.write_untrusted(name.trim(), &format!("f{i}"), content);
        }
        let format = match (mode & 2 != 0, mode & 1 != 0) {
            (true, _) => None,
            (false, true) => Some(Format::Sysfs),
            (false, false) => Some(Format::Redfish),
        };
        let ctx = Context::new(dir.path().display().to_string(), normalizer())
            .with_default_timestamp(Timestamp::from_millis(1_700_000_000_000));
        if let Ok(batch) = decode_path(dir.path(), format, &ctx) {
            check_batch(&batch, "tree");
        }
    });
});
