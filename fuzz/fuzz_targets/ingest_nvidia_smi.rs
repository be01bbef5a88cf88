//! nvidia-smi captures: each input goes through the `--query-gpu` CSV, `pmon` and `dmon` decoders.
#![no_main]

use kelvin_ingest::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kelvin_fuzz::decode_formats(
        &[
            Format::NvidiaSmiQuery,
            Format::NvidiaSmiPmon,
            Format::NvidiaSmiDmon,
        ],
        data,
    );
});
