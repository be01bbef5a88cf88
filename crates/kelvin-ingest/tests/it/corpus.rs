//! The whole `../shared/corpus/ingest` through format detection and `decode_path`, as the
//! `ingest` example reads it: trees (sysfs/procfs roots, Redfish mockups) whole, every other
//! data file on its own. Per-format value checks live in the format modules; this walk checks
//! that detection picks a decoder for every input and that every input ends as readings, as a
//! recognized reading-free document, or — for the deliberately broken captures — as quarantine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kelvin_ingest::{Context, Format, IngestBatch, Normalizer, Reason, decode_path};

use crate::support::corpus;

/// Directories decoded as one tree.
const TREES: &[&str] = &[
    "node_exporter/sysfs",
    "kepler/sys",
    "kepler/procfs",
    "redfish_dmtf/public-cooling-unit",
    "redfish_dmtf/public-liquid-cooled-server",
    "redfish_dmtf/public-pdu",
    "redfish_dmtf/public-power-shelf",
    "redfish_dmtf/public-rackmount1",
    "redfish_dmtf/public-telemetry",
];

/// Documentation and archives beside the data: not inputs.
fn is_documentation(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.starts_with("readme")
        || name.starts_with("license")
        || name.ends_with(".md")
        || name.ends_with(".ttar")
}

/// Captures that are broken on purpose (they test error handling in their source projects).
fn is_deliberately_broken(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.contains("wrong") || name.contains("invalid")
}

fn files(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if TREES.iter().any(|t| rel == *t) {
            continue;
        }
        if p.is_dir() {
            files(&p, root, out);
        } else if !is_documentation(&p) {
            out.push(p);
        }
    }
}

/// The format an operator names for a source whose documents cannot all be told apart by
/// content: Synse API answers such as `{"status": "ok"}` or a transaction id list are generic
/// JSON, so a Synse poller says `--format synse`. Everything else is detected.
fn format_hint(rel: &str) -> Option<Format> {
    (rel.starts_with("synse/api_examples/") && rel.ends_with(".json")).then_some(Format::Synse)
}

fn decode(p: &Path, format: Option<Format>) -> IngestBatch {
    let n = Normalizer::builtin();
    let ctx = Context::new(p.display().to_string(), &n);
    decode_path(p, format, &ctx).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn every_tree_decodes_with_readings() {
    let Some(root) = corpus("ingest") else { return };
    for t in TREES {
        let b = decode(&root.join(t), None);
        assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined, "{t}");
        assert!(
            b.stats.accepted > 0,
            "{t}: no readings ({:?})",
            b.stats.by_reason
        );
        assert_eq!(b.stats.by_reason.get(&Reason::UnknownFormat), None, "{t}");
    }
}

#[test]
fn every_file_is_recognized_and_accounted_for() {
    let Some(root) = corpus("ingest") else { return };
    let mut all = Vec::new();
    files(&root, &root, &mut all);
    assert!(
        all.len() > 100,
        "the walk finds the corpus files ({})",
        all.len()
    );
    let mut summary: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &all {
        let rel = p
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let b = decode(p, format_hint(&rel));
        assert_eq!(
            b.stats.seen,
            b.stats.accepted + b.stats.quarantined,
            "{rel}"
        );
        if !is_deliberately_broken(p) {
            assert_eq!(
                b.stats.by_reason.get(&Reason::UnknownFormat),
                None,
                "{rel}: no decoder recognized it"
            );
        }
        let kind = if b.stats.accepted > 0 {
            "readings"
        } else if !b.without_readings.is_empty() {
            "recognized, no readings"
        } else if is_deliberately_broken(p) {
            assert!(
                b.stats.quarantined > 0,
                "{rel}: a broken capture is quarantined"
            );
            "broken, quarantined"
        } else if b.stats.quarantined > 0
            && b.stats
                .by_reason
                .keys()
                .all(|r| *r == Reason::UnmappedSensor)
        {
            // Records of states and enumerations only (an LED colour; the Tripp Lite UPS walk,
            // which publishes table indices, enumerations and empty strings): counted, none a
            // canonical measurement.
            "records without measurements"
        } else {
            panic!(
                "{rel}: neither readings nor a recognized reading-free document: {:?}",
                b.stats.by_reason
            );
        };
        *summary.entry(kind).or_default() += 1;
    }
    eprintln!("corpus walk: {summary:?}");
    assert!(summary["readings"] >= 50, "{summary:?}");
}
