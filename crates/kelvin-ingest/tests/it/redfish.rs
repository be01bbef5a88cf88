//! Conformance tests for the redfish decoders (see main.rs).
