/// What kind of problem an [`AttributionError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttributionErrorKind {
    /// The input is inconsistent (series of different lengths, a non-positive interval, negative
    /// CPU time, duplicate hosts or workloads).
    InvalidInput,
    /// An energy total does not fit in 64-bit microjoules (about 5 GWh per account).
    Overflow,
}

/// The error type of `kelvin-attribution`: a kind, the place (host, workload, interval) and
/// the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{place}: {reason}")]
pub struct AttributionError {
    kind: AttributionErrorKind,
    place: String,
    reason: String,
}

impl AttributionError {
    pub(crate) fn invalid(place: impl Into<String>, reason: impl Into<String>) -> Self {
        AttributionError {
            kind: AttributionErrorKind::InvalidInput,
            place: place.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn overflow(place: impl Into<String>) -> Self {
        AttributionError {
            kind: AttributionErrorKind::Overflow,
            place: place.into(),
            reason: "energy total exceeds u64 microjoules".into(),
        }
    }

    /// The inspectable kind.
    pub fn kind(&self) -> AttributionErrorKind {
        self.kind
    }

    /// Where: `host h1`, `host h1, workload w3, interval 17`.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// Why.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}
