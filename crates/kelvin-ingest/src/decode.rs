//! The decoder extension point.

use crate::{Context, Format, IngestBatch};

/// A decoder of one input format: one required method, [`Decode::decode`].
///
/// A decoder never fails: it appends every record of `input` to `out`, as a reading
/// ([`IngestBatch::accept`]) or a quarantine entry with its place and reason
/// ([`IngestBatch::reject`]), and notes inputs that hold no readings by design
/// ([`IngestBatch::no_readings`]). It must not panic on any input and must respect
/// `ctx.limits`.
pub trait Decode {
    /// The format this decoder reads.
    fn format(&self) -> Format;

    /// Decodes one whole input.
    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch);

    /// Whether the start of an input looks like this format (for `--format auto`). The default
    /// recognizes nothing.
    fn sniff(&self, head: &str) -> bool {
        let _ = head;
        false
    }
}
