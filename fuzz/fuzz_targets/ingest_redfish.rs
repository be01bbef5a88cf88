//! Redfish JSON resources through `decode_str(Some(Format::Redfish), ..)`.
#![no_main]

use kelvin_ingest::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kelvin_fuzz::decode_formats(&[Format::Redfish], data);
});
