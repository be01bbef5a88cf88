//! The sysfs reader that takes text: a cgroup `cpu.stat` through `decode_str(Some(Format::Sysfs), ..)` (the other sysfs files are read by `ingest_tree`).
#![no_main]

use kelvin_ingest::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kelvin_fuzz::decode_formats(&[Format::Sysfs], data);
});
