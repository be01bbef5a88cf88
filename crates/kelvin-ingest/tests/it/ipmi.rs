//! Conformance tests for the ipmi decoders (see main.rs).
