//! Every IPMI text format (ipmitool sensor, sdr, sdr elist, sdr -v, dcmi; FreeIPMI ipmi-sensors, ipmi-dcmi): each input goes through all seven decoders, so a capture of one tool is also hostile input for the others.
#![no_main]

use kelvin_ingest::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kelvin_fuzz::decode_formats(
        &[
            Format::IpmitoolSensor,
            Format::IpmitoolSdr,
            Format::IpmitoolSdrElist,
            Format::IpmitoolSdrVerbose,
            Format::IpmitoolDcmi,
            Format::FreeipmiSensors,
            Format::FreeipmiDcmi,
        ],
        data,
    );
});
