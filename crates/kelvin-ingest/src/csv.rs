//! Kelvin's own CSV recording layout.
