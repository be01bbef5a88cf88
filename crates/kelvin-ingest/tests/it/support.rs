//! Shared helpers for the integration tests.

use std::path::PathBuf;

/// A path under `../shared/corpus`, or `None` (after printing why) when the corpus is absent.
pub(crate) fn corpus(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: {} not found (the shared corpus is not beside the project)",
            p.display()
        );
        None
    }
}

/// A path under `../shared/recordings`, or `None` (after printing why) when it is absent.
pub(crate) fn recording(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/recordings")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: {} not found (the shared recordings are not beside the project)",
            p.display()
        );
        None
    }
}
