//! Conformance tests for the misc decoders (see main.rs).
