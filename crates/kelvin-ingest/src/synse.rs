//! Synse / Open DCRE JSON read responses (v1 and v3).
