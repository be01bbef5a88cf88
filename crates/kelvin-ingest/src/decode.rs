//! The decoder extension point: the [`Decode`] trait every decoder implements, built in or an
//! embedder's, and how sure a decoder is of an input ([`Confidence`]). [`crate::Decoders`]
//! holds them by name.

use std::path::Path;

use kelvin_model::Place;

use crate::{Context, IngestBatch, IngestError, IngestErrorKind, Limits, Quarantined, Reason};

/// How sure a decoder is that an input is in its format, from the input's first bytes. When
/// several decoders of a [`crate::Decoders`] recognize an input, the most confident one
/// decodes it; of equally confident ones, the one registered first (the built-in decoders come
/// first, most specific formats before looser ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Confidence(u8);

impl Confidence {
    /// A grammar that admits almost any text (Prometheus exposition text, or a directory read
    /// as a sysfs tree): chosen only when nothing more specific claims the input.
    pub const FALLBACK: Confidence = Confidence(10);
    /// The input has the shape of the format: what the built-in text decoders say when they
    /// recognize their headers, keys or grammar.
    pub const LIKELY: Confidence = Confidence(50);
    /// An exact signature: a magic number or a fixed header nothing else has (Parquet's
    /// `PAR1`). A decoder that says this wins over every built-in text decoder.
    pub const CERTAIN: Confidence = Confidence(100);

    /// A confidence on a scale of 0 to 255 (the constants above are 10, 50 and 100).
    pub const fn new(level: u8) -> Confidence {
        Confidence(level)
    }

    /// Its level.
    pub const fn level(self) -> u8 {
        self.0
    }
}

/// A decoder of one input format: its name and how to decode an input are all it must say.
///
/// ```
/// use kelvin_ingest::{Confidence, Context, Decode, Decoders, IngestBatch, Normalizer, Reading};
/// use kelvin_model::{SensorKind, Timestamp};
///
/// /// `watts=<n>` lines from a home-made meter.
/// struct Meter;
///
/// impl Decode for Meter {
///     fn name(&self) -> &str {
///         "meter"
///     }
///
///     fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
///         for (i, line) in input.lines().enumerate() {
///             match line.strip_prefix("watts=").and_then(|v| v.parse::<f64>().ok()) {
///                 Some(w) => out.accept(Reading::new(
///                     ctx.fallback_entity(), "wall", SensorKind::Power, w, ctx.timestamp(),
///                 )),
///                 None => out.reject(kelvin_ingest::Quarantined::new(
///                     ctx.line(i as u64 + 1), kelvin_ingest::Reason::BadValue, "not watts=<n>", line,
///                 )),
///             }
///             if out.records_full() {
///                 break;
///             }
///         }
///     }
///
///     fn detect(&self, head: &str) -> Option<Confidence> {
///         head.starts_with("watts=").then_some(Confidence::LIKELY)
///     }
/// }
///
/// let decoders = Decoders::builtin().with(Meter);
/// let n = Normalizer::builtin();
/// let b = decoders.decode_str(None, "watts=212\nwatts=oops\n", &Context::new("pdu-3.txt", &n));
/// assert_eq!((b.stats.accepted, b.stats.quarantined), (1, 1));
/// assert_eq!(b.readings[0].entity.as_str(), "pdu-3");
/// assert_eq!(b.quarantine[0].place.to_string(), "pdu-3.txt:2");
/// ```
///
/// **Contract.** A decoder never fails: it appends every record of `input` to `out`, as a
/// reading ([`IngestBatch::accept`]) or a quarantine entry with its place and reason
/// ([`IngestBatch::reject`]), and notes inputs that hold no readings by design
/// ([`IngestBatch::no_readings`]). It must not panic on any input and must respect
/// `ctx.limits` where it reads (line lengths, JSON depth and size). The budgets of a call —
/// [`Limits::max_records`] records and [`Limits::max_output_bytes`] of heap — are held by `out`
/// when it was made by [`IngestBatch::bounded`] (as [`crate::Decoders::decode_str`],
/// [`crate::Decoders::decode_path`] and [`Pushed`] make it): the decoder does not count them,
/// it only stops reading once [`IngestBatch::records_full`]. Callers that pass their own batch
/// choose its budgets.
///
/// **Files and trees.** The provided methods below let [`crate::Decoders::decode_path`] read
/// files and directories; their defaults read a file as UTF-8 text and refuse directories, which
/// is right for every text format. A binary format overrides [`Decode::detect_bytes`] and
/// [`Decode::decode_bytes`]; a format of whole directories overrides [`Decode::detect_tree`]
/// and [`Decode::decode_tree`].
pub trait Decode: Send + Sync {
    /// The name the decoder is registered and chosen by (`--format`, a capture's format): a
    /// short snake_case word such as `ipmitool_sensor`.
    fn name(&self) -> &str;

    /// Decodes one whole input into `out`.
    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch);

    /// Whether an input that starts with `head` (its first 8 KiB at most, cut on a character
    /// boundary) looks like this format, and how sure that is. The default recognizes nothing:
    /// the decoder is then used only by name.
    fn detect(&self, head: &str) -> Option<Confidence> {
        let _ = head;
        None
    }

    /// The largest file this decoder reads whole, and the name of the limit that sets it: a
    /// file over it is refused from its size, unread. The default is
    /// [`Limits::max_input_bytes`].
    fn max_file_bytes(&self, limits: &Limits) -> (usize, &'static str) {
        (limits.max_input_bytes, "max_input_bytes")
    }

    /// Whether a file that starts with `head` (raw bytes, before any UTF-8 check) is in this
    /// binary format. Asked before a file is read as text; the default recognizes nothing (text
    /// formats are recognized by [`Decode::detect`]).
    fn detect_bytes(&self, head: &[u8]) -> Option<Confidence> {
        let _ = head;
        None
    }

    /// Decodes a whole file. The default reads it as UTF-8 text and calls [`Decode::decode`];
    /// a file that is not UTF-8 is one [`Reason::NotUtf8`] record.
    fn decode_bytes(&self, bytes: Vec<u8>, ctx: &Context<'_>, out: &mut IngestBatch) {
        match String::from_utf8(bytes) {
            Ok(text) => self.decode(&text, ctx, out),
            Err(e) => {
                let detail = format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to());
                out.reject(Quarantined::new(ctx.line(1), Reason::NotUtf8, detail, ""));
            }
        }
    }

    /// Whether a directory looks like a tree of this format. The default recognizes none.
    fn detect_tree(&self, root: &Path) -> Option<Confidence> {
        let _ = root;
        None
    }

    /// Decodes a directory as one tree, into a batch the decoder makes
    /// ([`IngestBatch::bounded`], or one with the tree's record limit).
    ///
    /// # Errors
    /// The default: [`IngestErrorKind::InvalidInput`], this format reads single files.
    /// Decoders of trees fail with [`IngestErrorKind::Io`] when `root` itself cannot be read.
    fn decode_tree(&self, root: &Path, ctx: &Context<'_>) -> Result<IngestBatch, IngestError> {
        let _ = ctx;
        Err(IngestError::new(
            IngestErrorKind::InvalidInput,
            Place::line(root.display().to_string(), 0),
            format!(
                "{} reads single files; {} is a directory",
                self.name(),
                root.display()
            ),
        ))
    }
}

/// The push form of any [`Decode`]r: feed bytes as they arrive ([`Pushed::push`]), decode
/// at [`Pushed::finish`]. Whole-document formats (JSON, tables with a header) need the whole
/// input anyway; this adapter bounds what it buffers by the context's `max_input_bytes` — past
/// it, the input is refused as one [`Reason::InputTooLarge`] record without keeping the excess. Prometheus text has a streaming push form of its own,
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
        let (decoder, buf, overflow) = (self.decoder, self.buf, self.overflow);
        crate::registry::own_clock(self.ctx, |ctx| {
            Self::decode_all(decoder, ctx, &buf, overflow)
        })
    }

    /// Decodes what was pushed (or says it was too much).
    fn decode_all(
        decoder: &dyn Decode,
        ctx: &Context<'_>,
        buf: &[u8],
        overflow: usize,
    ) -> IngestBatch {
        let mut out = IngestBatch::bounded(ctx);
        let place = ctx.line(1);
        if overflow > 0 {
            let total = buf.len() + overflow;
            let detail = format!(
                "{total} bytes, over max_input_bytes ({})",
                ctx.limits.max_input_bytes
            );
            out.reject(Quarantined::new(place, Reason::InputTooLarge, detail, ""));
            return out;
        }
        match std::str::from_utf8(buf) {
            Ok(text) => decoder.decode(text, ctx, &mut out),
            Err(e) => {
                let detail = format!("invalid UTF-8 at byte {}", e.valid_up_to());
                out.reject(Quarantined::new(place, Reason::NotUtf8, detail, ""));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Normalizer;

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
