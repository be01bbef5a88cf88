//! Conformance tests for the sysfs decoders (see main.rs).
