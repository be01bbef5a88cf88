//! NVML sampler CSVs: each input goes through the device and the per-process decoders.
#![no_main]

use kelvin_ingest::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kelvin_fuzz::decode_formats(&[Format::NvmlDeviceCsv, Format::NvmlProcessCsv], data);
});
