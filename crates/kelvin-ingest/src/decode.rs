//! The decoder extension point.

use crate::{Context, Format, IngestBatch};

/// A decoder of one input format: one required method, [`Decode::decode`].
///
/// A decoder never fails: it appends every record of `input` to `out`, as a reading
/// ([`IngestBatch::accept`]) or a quarantine entry with its place and reason
/// ([`IngestBatch::reject`]), and notes inputs that hold no readings by design
/// ([`IngestBatch::no_readings`]). It must not panic on any input and must respect
/// `ctx.limits`. What it keeps is bounded by `ctx.limits.max_output_bytes` when `out` was made
/// by [`IngestBatch::bounded`] (as [`crate::decode_str`] and [`crate::decode_path`] make it);
/// callers that pass their own batch choose its budget.
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

/// The push form of any [`Decode`]r: feed bytes as they arrive ([`Pushed::push`]), decode
/// at [`Pushed::finish`]. Whole-document formats (JSON, tables with a header) need the whole
/// input anyway; this adapter bounds what it buffers by the context's `max_input_bytes` — past
/// it, the input is refused as one [`Reason::InputTooLarge`](crate::Reason::InputTooLarge)
/// record without keeping the excess. Prometheus text has a streaming push form of its own,
/// [`crate::prometheus::Decoder`].
///
/// ```
/// use kelvin_ingest::{Context, Normalizer, Pushed, ipmi::IpmitoolSensor};
/// let n = Normalizer::builtin();
/// let ctx = Context::new("bmc", &n);
/// let mut p = Pushed::new(&IpmitoolSensor, &ctx);
/// p.push(b"CPU1 Temp | 33.000 | degrees C | ok | na | na | na | na | na | n");
/// p.push(b"a\n");
/// let batch = p.finish();
/// assert_eq!(batch.readings[0].value, 33.0);
/// ```
pub struct Pushed<'d, 'c, 'n> {
    decoder: &'d dyn Decode,
    ctx: &'c Context<'n>,
    buf: Vec<u8>,
    overflow: usize,
}

impl<'d, 'c, 'n> Pushed<'d, 'c, 'n> {
    /// A push adapter around `decoder`.
    pub fn new(decoder: &'d dyn Decode, ctx: &'c Context<'n>) -> Self {
        Pushed {
            decoder,
            ctx,
            buf: Vec::new(),
            overflow: 0,
        }
    }

    /// Appends bytes (kept only up to the input limit).
    pub fn push(&mut self, bytes: &[u8]) {
        let room = self
            .ctx
            .limits
            .max_input_bytes
            .saturating_sub(self.buf.len());
        if self.overflow > 0 || bytes.len() > room {
            self.overflow += bytes.len();
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Decodes everything pushed, into a batch [`IngestBatch::bounded`] by the context.
    pub fn finish(self) -> IngestBatch {
        let mut out = IngestBatch::bounded(self.ctx);
        let place = self.ctx.line(1);
        if self.overflow > 0 {
            let total = self.buf.len() + self.overflow;
            let detail = format!(
                "{total} bytes, over max_input_bytes ({})",
                self.ctx.limits.max_input_bytes
            );
            out.reject(crate::Quarantined::new(
                place,
                crate::Reason::InputTooLarge,
                detail,
                "",
            ));
            return out;
        }
        match std::str::from_utf8(&self.buf) {
            Ok(text) => self.decoder.decode(text, self.ctx, &mut out),
            Err(e) => {
                let detail = format!("invalid UTF-8 at byte {}", e.valid_up_to());
                out.reject(crate::Quarantined::new(
                    place,
                    crate::Reason::NotUtf8,
                    detail,
                    "",
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Normalizer, Reason};

    #[test]
    fn pushing_in_pieces_equals_decoding_whole_and_is_bounded() {
        let n = Normalizer::builtin();
        let text = "ID | Name | Type | Reading | Units | Event\n7 | Ambient Temp | Temperature | 29.00 | C | 'OK'\n";
        let ctx = Context::new("s", &n);
        let d = crate::ipmi::FreeipmiSensors;
        let mut whole = IngestBatch::default();
        d.decode(text, &ctx, &mut whole);
        let mut p = Pushed::new(&d, &ctx);
        for c in text.as_bytes().chunks(3) {
            p.push(c);
        }
        assert_eq!(p.finish().readings, whole.readings);
        let small = Context::new("s", &n).with_limits(Limits::default().with_max_input_bytes(10));
        let mut p = Pushed::new(&d, &small);
        p.push(text.as_bytes());
        let b = p.finish();
        assert_eq!(b.stats.by_reason.get(&Reason::InputTooLarge), Some(&1));
        let mut p = Pushed::new(&d, &ctx);
        p.push(b"\xff\xfe");
        assert_eq!(p.finish().stats.by_reason.get(&Reason::NotUtf8), Some(&1));
    }
}
