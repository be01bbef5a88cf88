//! What every decoder is told about its input.

use std::sync::{Arc, OnceLock};

use kelvin_model::{EntityId, Place, Timestamp};

use crate::Normalizer;

/// Bounds on untrusted input: every decode call (one input, one document, one tree) stays
/// within them, so that no input — a 62 MB JSON file, a tree of them, a FIFO, a crafted Parquet
/// footer — can exhaust memory. Past a limit, the excess is quarantined as a counted record
/// that names the source and the limit ([`crate::Reason::InputTooLarge`],
/// [`crate::Reason::TooDeep`], [`crate::Reason::LineTooLong`],
/// [`crate::Reason::TooManyRecords`] …), never dropped silently and never a panic.
///
/// The defaults are generous for real captures (the largest capture in Kelvin's corpus holds
/// 31,254 records in 404 KB) and sized so that **one decode call with default limits peaks
/// below 256 MiB of heap** (the budget is derived, and measured on worst-case inputs, in
/// `docs/limits.md`):
///
/// | field | default | bounds |
/// |---|---|---|
/// | [`max_input_bytes`](Limits::max_input_bytes) | 64 MiB | the text read whole for one input |
/// | [`max_line_bytes`](Limits::max_line_bytes) | 64 KiB | one line (one CSV record) |
/// | [`max_json_depth`](Limits::max_json_depth) | 64 | JSON nesting |
/// | [`max_json_bytes`](Limits::max_json_bytes) | 16 MiB | the text of one JSON document |
/// | [`max_json_heap_bytes`](Limits::max_json_heap_bytes) | 64 MiB | the parsed JSON tree, estimated before parsing |
/// | [`max_records`](Limits::max_records) | 262,144 | records of one input |
/// | [`max_labels`](Limits::max_labels) | 64 | labels of one Prometheus sample |
/// | [`max_tree_bytes`](Limits::max_tree_bytes) | 256 MiB | bytes read from the files of one tree |
/// | [`max_tree_records`](Limits::max_tree_records) | 262,144 | records (and Redfish files) of one tree |
/// | [`max_output_bytes`](Limits::max_output_bytes) | 64 MiB | the heap one call keeps: readings, quarantine entries, a tree's pending records |
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest input accepted whole, in bytes (default 64 MiB): a file, an HTTP body or an
    /// in-memory text. Larger inputs are one [`crate::Reason::InputTooLarge`] record; files are
    /// refused from their size, before reading.
    pub max_input_bytes: usize,
    /// Longest line of a text format, and longest CSV record, in bytes (default 64 KiB):
    /// bounds what a line parser holds. Longer lines are [`crate::Reason::LineTooLong`] records.
    pub max_line_bytes: usize,
    /// Deepest JSON nesting (default 64), checked by a pre-scan before parsing.
    pub max_json_depth: usize,
    /// Largest JSON document parsed, in bytes of text (default 16 MiB): Redfish resources,
    /// Synse responses. A parsed document costs up to ~140 times its text in heap (an array of
    /// `{"":0}`), so JSON gets its own, smaller text limit; a file over it is refused from its
    /// size, before reading. Larger documents are one [`crate::Reason::InputTooLarge`] record.
    pub max_json_bytes: usize,
    /// Largest parsed JSON tree, in bytes of heap (default 64 MiB), *estimated before
    /// parsing* by a pre-scan that counts arrays, array elements, objects, members and string
    /// bytes at their worst-case cost in `serde_json::Value` (an upper bound, checked against
    /// the allocator in Kelvin's tests). A document over it is one
    /// [`crate::Reason::InputTooLarge`] record and is never parsed.
    pub max_json_heap_bytes: usize,
    /// Most records of one input (default 262,144 = 2^18); the rest is quarantined as one
    /// record with [`crate::Reason::TooManyRecords`] and not read. Held by the batch the
    /// decoder writes into ([`crate::IngestBatch::bounded`]). Bounds the work and the
    /// intermediate records of one input. (A reading kept costs at least 2 × 80 bytes with its
    /// vector's spare capacity, plus its names: ten million of them, the former default, cannot
    /// fit the 256 MiB budget; 2^18 of the largest kind of record can.)
    pub max_records: usize,
    /// Most labels on one Prometheus sample (default 64).
    pub max_labels: usize,
    /// Most bytes read from the files of one tree (default 256 MiB), sysfs/procfs or Redfish.
    /// Each file is read, decoded and released in turn, so this bounds the work of a tree, not
    /// its memory; files past it are [`crate::Reason::InputTooLarge`] records (each named,
    /// none read).
    pub max_tree_bytes: u64,
    /// Most records of one tree walk, all files together, and most files a Redfish tree
    /// decodes (default 262,144); past it, one [`crate::Reason::TooManyRecords`] record stands
    /// for the rest of the tree.
    pub max_tree_records: usize,
    /// Most heap one call keeps, in bytes (default 64 MiB), as estimated for every kept entry:
    /// twice the entry's size (a vector's spare capacity) plus its strings. Counted by the
    /// [`crate::IngestBatch`] of [`crate::decode_str`], [`crate::decode_path`] and the tree
    /// decoders ([`crate::IngestBatch::bounded`]), and by a Redfish tree for its pending
    /// records. Past it every further record is still counted — as
    /// [`crate::Reason::TooManyRecords`] — but no longer kept: one quarantine entry names the
    /// place where the budget ran out.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 64 << 20,
            max_line_bytes: 64 << 10,
            max_json_depth: 64,
            max_json_bytes: 16 << 20,
            max_json_heap_bytes: 64 << 20,
            max_records: 1 << 18,
            max_labels: 64,
            max_tree_bytes: 256 << 20,
            max_tree_records: 1 << 18,
            max_output_bytes: 64 << 20,
        }
    }
}

impl Limits {
    /// Sets [`Limits::max_input_bytes`].
    pub fn with_max_input_bytes(mut self, n: usize) -> Self {
        self.max_input_bytes = n;
        self
    }

    /// Sets [`Limits::max_line_bytes`].
    pub fn with_max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n;
        self
    }

    /// Sets [`Limits::max_json_depth`].
    pub fn with_max_json_depth(mut self, n: usize) -> Self {
        self.max_json_depth = n;
        self
    }

    /// Sets [`Limits::max_json_bytes`].
    pub fn with_max_json_bytes(mut self, n: usize) -> Self {
        self.max_json_bytes = n;
        self
    }

    /// Sets [`Limits::max_json_heap_bytes`].
    pub fn with_max_json_heap_bytes(mut self, n: usize) -> Self {
        self.max_json_heap_bytes = n;
        self
    }

    /// Sets [`Limits::max_records`].
    pub fn with_max_records(mut self, n: usize) -> Self {
        self.max_records = n;
        self
    }

    /// Sets [`Limits::max_labels`].
    pub fn with_max_labels(mut self, n: usize) -> Self {
        self.max_labels = n;
        self
    }

    /// Sets [`Limits::max_tree_bytes`].
    pub fn with_max_tree_bytes(mut self, n: u64) -> Self {
        self.max_tree_bytes = n;
        self
    }

    /// Sets [`Limits::max_tree_records`].
    pub fn with_max_tree_records(mut self, n: usize) -> Self {
        self.max_tree_records = n;
        self
    }

    /// Sets [`Limits::max_output_bytes`].
    pub fn with_max_output_bytes(mut self, n: usize) -> Self {
        self.max_output_bytes = n;
        self
    }
}

/// The context of one decode: where the input came from, what it describes, when it was taken,
/// how names are normalized and how far it is trusted.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Context<'n> {
    /// The input's name (file path, URL, label), used in every [`Place`].
    pub source: String,
    /// The entity a capture describes when its text does not name one (the host whose BMC
    /// answered `ipmitool sensor`). Decoders that find no entity in the text and have none here
    /// use [`Context::fallback_entity`].
    pub entity: Option<EntityId>,
    /// When the capture was taken, for records without their own time. `None` leaves such
    /// readings at [`Timestamp::UNKNOWN`]. [`crate::Decoders`] hands its decoders the context
    /// without it and gives it afterwards to the readings left without a time, marked as
    /// defaulted ([`crate::IngestBatch::defaulted`]): a decoder takes it through
    /// [`Context::timestamp`] and need not mark anything.
    pub default_timestamp: Option<Timestamp>,
    /// Vendor-name, unit, absent-value and status normalization.
    pub normalizer: &'n Normalizer,
    /// Input bounds.
    pub limits: Limits,
    /// `source` as one shared allocation for every [`Place`] of this input (a decoder names
    /// thousands of records of one source). Checked against `source` at every use, so setting
    /// the public field directly stays correct.
    shared: OnceLock<Arc<str>>,
}

impl<'n> Context<'n> {
    /// A context with no entity, no default time and default limits.
    pub fn new(source: impl Into<String>, normalizer: &'n Normalizer) -> Self {
        Context {
            source: source.into(),
            entity: None,
            default_timestamp: None,
            normalizer,
            limits: Limits::default(),
            shared: OnceLock::new(),
        }
    }

    /// Sets [`Context::source`].
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self.shared = OnceLock::new();
        self
    }

    /// [`Context::source`] as a shared string: every place of this input points at one
    /// allocation.
    pub fn source_name(&self) -> Arc<str> {
        let shared = self.shared.get_or_init(|| Arc::from(self.source.as_str()));
        if **shared == *self.source {
            Arc::clone(shared)
        } else {
            Arc::from(self.source.as_str())
        }
    }

    /// Sets [`Context::entity`].
    pub fn with_entity(mut self, entity: EntityId) -> Self {
        self.entity = Some(entity);
        self
    }

    /// Sets [`Context::default_timestamp`].
    pub fn with_default_timestamp(mut self, ts: Timestamp) -> Self {
        self.default_timestamp = Some(ts);
        self
    }

    /// Sets [`Context::limits`].
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// A line of this source.
    pub fn line(&self, line: u64) -> Place {
        Place::line(self.source_name(), line)
    }

    /// A JSON pointer into this source.
    pub fn pointer(&self, pointer: impl Into<String>) -> Place {
        Place::pointer(self.source_name(), pointer)
    }

    /// Refuses an input over [`Limits::max_input_bytes`]: quarantines it as one
    /// [`Reason::InputTooLarge`](crate::Reason::InputTooLarge) record at line 1 and returns
    /// `false`; `true` when the input may be decoded.
    pub fn admit(&self, input: &str, out: &mut crate::IngestBatch) -> bool {
        if input.len() <= self.limits.max_input_bytes {
            return true;
        }
        let detail = format!(
            "{} bytes, over max_input_bytes ({})",
            input.len(),
            self.limits.max_input_bytes
        );
        out.reject(crate::Quarantined::new(
            self.line(1),
            crate::Reason::InputTooLarge,
            detail,
            input,
        ));
        false
    }

    /// The time for a record without one.
    pub fn timestamp(&self) -> Timestamp {
        self.default_timestamp.unwrap_or(Timestamp::UNKNOWN)
    }

    /// The entity for a capture that names none: [`Context::entity`], else an id made from the
    /// source's file stem (`captures/dell-r310-sensors.txt` → `dell-r310-sensors`), else
    /// `unknown`.
    pub fn fallback_entity(&self) -> EntityId {
        if let Some(e) = &self.entity {
            return e.clone();
        }
        let stem = std::path::Path::new(&self.source)
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .replace(|c: char| c.is_whitespace() || c.is_control(), "_")
            })
            .unwrap_or_default();
        EntityId::new(stem.chars().take(EntityId::MAX_LEN).collect::<String>())
            .or_else(|_| EntityId::new("unknown"))
            .unwrap_or_else(|_| unreachable!("\"unknown\" is a valid id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_entity_comes_from_the_file_stem() {
        let n = Normalizer::builtin();
        assert_eq!(
            Context::new("a/b/dell-r310-ipmi-sensors.txt", &n)
                .fallback_entity()
                .as_str(),
            "dell-r310-ipmi-sensors"
        );
        assert_eq!(Context::new("", &n).fallback_entity().as_str(), "unknown");
        assert_eq!(
            Context::new("my capture.txt", &n)
                .fallback_entity()
                .as_str(),
            "my_capture"
        );
        let e = EntityId::new("h1").unwrap();
        assert_eq!(
            Context::new("x.txt", &n)
                .with_entity(e.clone())
                .fallback_entity(),
            e
        );
        assert_eq!(Context::new("x", &n).timestamp(), Timestamp::UNKNOWN);
    }
}
