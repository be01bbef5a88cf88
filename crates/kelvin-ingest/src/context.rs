//! What every decoder is told about its input.

use kelvin_model::{EntityId, Place, Timestamp};

use crate::Normalizer;

/// Bounds on untrusted input. Defaults are generous for real captures and small enough that a
/// hostile input cannot exhaust memory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest input accepted whole, in bytes (default 64 MiB); larger inputs are quarantined.
    pub max_input_bytes: usize,
    /// Longest line of a text format, in bytes (default 64 KiB).
    pub max_line_bytes: usize,
    /// Deepest JSON nesting (default 64).
    pub max_json_depth: usize,
    /// Most records read from one input (default 10 million); the rest is quarantined as one
    /// record with [`crate::Reason::TooManyRecords`].
    pub max_records: usize,
    /// Most labels on one Prometheus sample (default 64).
    pub max_labels: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 64 << 20,
            max_line_bytes: 64 << 10,
            max_json_depth: 64,
            max_records: 10_000_000,
            max_labels: 64,
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
    /// readings at [`Timestamp::UNKNOWN`].
    pub default_timestamp: Option<Timestamp>,
    /// Vendor-name, unit, absent-value and status normalization.
    pub normalizer: &'n Normalizer,
    /// Input bounds.
    pub limits: Limits,
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
        Place::line(self.source.as_str(), line)
    }

    /// A JSON pointer into this source.
    pub fn pointer(&self, pointer: impl Into<String>) -> Place {
        Place::pointer(self.source.as_str(), pointer)
    }

    /// Refuses an input over [`Limits::max_input_bytes`]: quarantines it as one
    /// [`Reason::InputTooLarge`](crate::Reason::InputTooLarge) record at line 1 and returns
    /// `false`; `true` when the input may be decoded.
    pub fn admit(&self, input: &str, out: &mut crate::IngestBatch) -> bool {
        if input.len() <= self.limits.max_input_bytes {
            return true;
        }
        let detail = format!(
            "{} bytes, limit {}",
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
