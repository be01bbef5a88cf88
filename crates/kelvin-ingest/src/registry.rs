//! Choosing a decoder: [`Decoders`], the registry of [`Decode`]rs by name — the built-in ones
//! under the names of [`Format`], and an embedder's own — and, through it, decoding by name or
//! by detection (`--format auto`) of text, files and whole trees. The free functions
//! ([`decode_str`], [`decode_path`], [`detect`] …) are the built-in registry's.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use kelvin_model::Place;

use crate::prometheus::Prometheus;
use crate::{
    Confidence, Context, Decode, Format, IngestBatch, IngestError, IngestErrorKind, Quarantined,
    Reason, csv, ipmi, nvidia, nvml, parquet, redfish, snmp, synse, sysfs,
};

/// A set of decoders, each under its [`Decode::name`], in detection order.
///
/// [`Decoders::builtin`] holds every format Kelvin decodes, under the names `--format` takes
/// ([`Format::as_str`]); an embedder adds its own with [`Decoders::add`] (or
/// [`Decoders::with`]), and they are then chosen by name and by detection like the built-in
/// ones. Cloning is cheap (the decoders are shared).
///
/// **Detection.** Without a name, the decoder whose [`Decode::detect`] (for text),
/// [`Decode::detect_bytes`] (for a file, before it is read as text) or
/// [`Decode::detect_tree`] (for a directory) is most confident decodes the input; of equally
/// confident ones, the one registered first. The built-in text decoders say
/// [`Confidence::LIKELY`] (Prometheus text, whose grammar admits the most,
/// [`Confidence::FALLBACK`]), in the order of [`decoders`]: most specific formats first.
///
/// ```
/// use kelvin_ingest::{Decoders, Format};
/// let d = Decoders::builtin();
/// assert!(d.get("ipmitool_sensor").is_some());
/// assert_eq!(d.names().count(), Format::ALL.len());
/// let head = "ID | Name | Type | Reading | Units | Event\n";
/// assert_eq!(d.detect(head).map(|d| d.name()), Some("freeipmi_sensors"));
/// ```
#[derive(Clone)]
pub struct Decoders {
    list: Vec<Arc<dyn Decode>>,
}

impl fmt::Debug for Decoders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Default for Decoders {
    /// [`Decoders::builtin`].
    fn default() -> Self {
        Decoders::builtin()
    }
}

/// The built-in decoders, in detection order.
fn builtin_list() -> Vec<Arc<dyn Decode>> {
    vec![
        // the IPMI formats, in the order of `ipmi::decoders`
        Arc::new(ipmi::IpmitoolSensor) as Arc<dyn Decode>,
        Arc::new(ipmi::IpmitoolSdr),
        Arc::new(ipmi::IpmitoolSdrElist),
        Arc::new(ipmi::IpmitoolSdrVerbose),
        Arc::new(ipmi::IpmitoolDcmi),
        Arc::new(ipmi::FreeipmiSensors),
        Arc::new(ipmi::FreeipmiDcmi),
        // exact headers, before the looser nvidia-smi query sniffer
        Arc::new(nvml::NvmlDeviceCsv),
        Arc::new(nvml::NvmlProcessCsv),
        Arc::new(nvidia::NvidiaSmiQuery),
        Arc::new(nvidia::NvidiaSmiPmon),
        Arc::new(nvidia::NvidiaSmiDmon),
        Arc::new(csv::KelvinCsv),
        Arc::new(parquet::KelvinParquet),
        Arc::new(snmp::SnmpWalk),
        Arc::new(redfish::Redfish),
        Arc::new(synse::Synse),
        Arc::new(sysfs::CpuStat),
        Arc::new(Prometheus::default()),
    ]
}

/// The built-in registry, made once.
fn builtin_registry() -> &'static Decoders {
    static BUILTIN: OnceLock<Decoders> = OnceLock::new();
    BUILTIN.get_or_init(|| Decoders {
        list: builtin_list(),
    })
}

/// How much of an input detection looks at.
const SNIFF_BYTES: usize = 8 << 10;

/// Runs `decode` on `ctx` without its default time, then gives that time to the readings left
/// without one, marked as defaulted: decoders take a capture's time through
/// [`Context::timestamp`], so a reading that has a time after this is the source's own.
pub(crate) fn own_clock(
    ctx: &Context<'_>,
    decode: impl FnOnce(&Context<'_>) -> IngestBatch,
) -> IngestBatch {
    let Some(t) = ctx.default_timestamp.filter(|t| t.is_known()) else {
        return decode(ctx);
    };
    let mut bare = ctx.clone();
    bare.default_timestamp = None;
    let mut out = decode(&bare);
    out.fill_times(t);
    out
}

/// The first [`SNIFF_BYTES`] of a text, cut on a character boundary.
fn head(text: &str) -> &str {
    crate::batch::cut(text, SNIFF_BYTES)
}

impl Decoders {
    /// Every built-in decoder, under the names of [`Format`], in detection order.
    pub fn builtin() -> Decoders {
        builtin_registry().clone()
    }

    /// No decoder at all (an embedder that accepts only its own formats).
    pub fn empty() -> Decoders {
        Decoders { list: Vec::new() }
    }

    /// Adds a decoder. One with the same name is replaced in its place (so an embedder can
    /// replace a built-in decoder and keep its detection order); a new name comes last.
    pub fn add(&mut self, decoder: impl Decode + 'static) -> &mut Self {
        self.add_shared(Arc::new(decoder))
    }

    /// [`Decoders::add`] for a decoder already shared.
    pub fn add_shared(&mut self, decoder: Arc<dyn Decode>) -> &mut Self {
        match self.list.iter().position(|d| d.name() == decoder.name()) {
            Some(i) => self.list[i] = decoder,
            None => self.list.push(decoder),
        }
        self
    }

    /// [`Decoders::add`], by value.
    pub fn with(mut self, decoder: impl Decode + 'static) -> Self {
        self.add(decoder);
        self
    }

    /// The decoder registered as `name`.
    pub fn get(&self, name: &str) -> Option<&dyn Decode> {
        self.iter().find(|d| d.name() == name)
    }

    /// Every decoder, in detection order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Decode> {
        self.list.iter().map(|d| d.as_ref())
    }

    /// Every name, in detection order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|d| d.name())
    }

    /// The most confident of the decoders that answer `claim`; of equals, the first.
    fn best(&self, claim: impl Fn(&dyn Decode) -> Option<Confidence>) -> Option<&dyn Decode> {
        let mut best: Option<(Confidence, &dyn Decode)> = None;
        for d in self.iter() {
            if let Some(c) = claim(d)
                && best.is_none_or(|(b, _)| c > b)
            {
                best = Some((c, d));
            }
        }
        best.map(|(_, d)| d)
    }

    /// The decoder of a text that starts with `head`: the most confident
    /// [`Decode::detect`]; `None` when no decoder recognizes it.
    pub fn detect(&self, head: &str) -> Option<&dyn Decode> {
        self.best(|d| d.detect(head))
    }

    /// Decodes one input held in memory with the decoder named `format`, or, with `None`, the
    /// one [`Decoders::detect`] finds in its first 8 KiB. An input no decoder recognizes, or a
    /// name no decoder has, is quarantined as one record with [`Reason::UnknownFormat`].
    ///
    /// The batch is [`IngestBatch::bounded`] by the context's limits. The decoder sees the
    /// context without its default time, and the readings it leaves without a time then take
    /// it, marked as defaulted ([`IngestBatch::defaulted`]): so the batch tells the source's
    /// own clock from the caller's.
    pub fn decode_str(&self, format: Option<&str>, input: &str, ctx: &Context<'_>) -> IngestBatch {
        own_clock(ctx, |ctx| self.decode_str_as_is(format, input, ctx))
    }

    /// [`Decoders::decode_str`] with the context as it is.
    fn decode_str_as_is(
        &self,
        format: Option<&str>,
        input: &str,
        ctx: &Context<'_>,
    ) -> IngestBatch {
        let mut out = IngestBatch::bounded(ctx);
        let found = match format {
            Some(name) => self
                .get(name)
                .ok_or_else(|| format!("no decoder is registered as {name:?}")),
            None => self
                .detect(head(input))
                .ok_or_else(|| "no decoder recognizes this input".to_string()),
        };
        match found {
            Ok(d) => d.decode(input, ctx, &mut out),
            Err(detail) => out.reject(Quarantined::new(
                ctx.line(1),
                Reason::UnknownFormat,
                detail,
                head(input),
            )),
        }
        out
    }

    /// Decodes a file, or a directory walked as one tree (a sysfs/procfs root, a Redfish mockup
    /// or service dump, an embedder's tree format), with the decoder named `format` or, with
    /// `None`, the one detection finds: for a directory the most confident
    /// [`Decode::detect_tree`]; for a file the most confident [`Decode::detect_bytes`] (binary
    /// formats), else — once the file is known to be UTF-8 — [`Decode::detect`] on its text.
    ///
    /// Only regular files are read: the path is looked at before it is opened (symlinks are
    /// followed), so a FIFO, a socket or a device — `/dev/zero`, or a link to it — is refused
    /// without being opened, and nothing blocks or reads without end. A file larger than the
    /// named decoder's [`Decode::max_file_bytes`] (the context's `max_input_bytes` when the
    /// format is detected, `max_json_bytes` for the JSON formats) is refused from its size,
    /// unread, as one [`Reason::InputTooLarge`] record; a text file that is not UTF-8 is one
    /// [`Reason::NotUtf8`] record. Neither is an error.
    ///
    /// # Errors
    /// [`IngestErrorKind::Io`] when the path cannot be read or is not a regular file or directory
    /// (the reason says what it is); [`IngestErrorKind::InvalidInput`] when no decoder is
    /// registered as `format`, when a directory is given a single-file format, or when no
    /// decoder reads a directory.
    pub fn decode_path(
        &self,
        path: &Path,
        format: Option<&str>,
        ctx: &Context<'_>,
    ) -> Result<IngestBatch, IngestError> {
        let mut err = None;
        let out = own_clock(ctx, |ctx| {
            self.decode_path_as_is(path, format, ctx)
                .unwrap_or_else(|e| {
                    err = Some(e);
                    IngestBatch::default()
                })
        });
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// [`Decoders::decode_path`] with the context as it is.
    fn decode_path_as_is(
        &self,
        path: &Path,
        format: Option<&str>,
        ctx: &Context<'_>,
    ) -> Result<IngestBatch, IngestError> {
        let place = || Place::line(path.display().to_string(), 0);
        let invalid = |why: String| IngestError::new(IngestErrorKind::InvalidInput, place(), why);
        let named = match format {
            Some(name) => Some(
                self.get(name)
                    .ok_or_else(|| invalid(format!("no decoder is registered as {name:?}")))?,
            ),
            None => None,
        };
        let meta = std::fs::metadata(path).map_err(|e| IngestError::io(place(), e))?;
        if meta.is_dir() {
            let d = match named {
                Some(d) => d,
                None => self.best(|d| d.detect_tree(path)).ok_or_else(|| {
                    invalid(format!("no decoder reads the directory {}", path.display()))
                })?,
            };
            return d.decode_tree(path, ctx);
        }
        let (limit, limit_name) = match named {
            Some(d) => d.max_file_bytes(&ctx.limits),
            None => (ctx.limits.max_input_bytes, "max_input_bytes"),
        };
        let mut out = IngestBatch::bounded(ctx);
        let bytes = match crate::files::read_regular(path, limit as u64, limit_name) {
            Ok(b) => b,
            Err(r) if r.reason == Reason::InputTooLarge => {
                out.reject(Quarantined::new(ctx.line(1), r.reason, r.detail, ""));
                return Ok(out);
            }
            Err(r) => return Err(IngestError::new(IngestErrorKind::Io, place(), r.detail)),
        };
        let binary = || self.best(|d| d.detect_bytes(&bytes[..bytes.len().min(SNIFF_BYTES)]));
        match named.or_else(binary) {
            Some(d) => d.decode_bytes(bytes, ctx, &mut out),
            None => match String::from_utf8(bytes) {
                Ok(text) => return Ok(self.decode_str_as_is(None, &text, ctx)),
                Err(e) => {
                    let detail = format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to());
                    out.reject(Quarantined::new(ctx.line(1), Reason::NotUtf8, detail, ""));
                }
            },
        }
        Ok(out)
    }
}

/// Every built-in decoder, in detection order: the most specific formats first, Prometheus
/// text (whose grammar admits the most) last.
pub fn decoders() -> Vec<&'static dyn Decode> {
    builtin_registry().iter().collect()
}

/// The built-in decoder of a format.
pub fn decoder(format: Format) -> Option<&'static dyn Decode> {
    builtin_registry().get(format.as_str())
}

/// The built-in format of an input, from its first bytes ([`Decoders::detect`] of the built-in
/// registry); `None` when no decoder recognizes it.
pub fn detect(head: &str) -> Option<Format> {
    builtin_registry()
        .detect(head)
        .and_then(|d| d.name().parse().ok())
}

/// [`Decoders::decode_str`] with the built-in decoders.
pub fn decode_str(format: Option<Format>, input: &str, ctx: &Context<'_>) -> IngestBatch {
    builtin_registry().decode_str(format.map(Format::as_str), input, ctx)
}

/// [`Decoders::decode_path`] with the built-in decoders.
///
/// # Errors
/// As [`Decoders::decode_path`].
pub fn decode_path(
    path: &Path,
    format: Option<Format>,
    ctx: &Context<'_>,
) -> Result<IngestBatch, IngestError> {
    builtin_registry().decode_path(path, format.map(Format::as_str), ctx)
}
