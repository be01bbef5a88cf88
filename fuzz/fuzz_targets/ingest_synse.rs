//! Synse / Open DCRE JSON read responses through `decode_str(Some(Format::Synse), ..)`.
#![no_main]

use kelvin_ingest::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kelvin_fuzz::decode_formats(&[Format::Synse], data);
});
