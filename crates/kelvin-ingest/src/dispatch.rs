//! Choosing a decoder: by [`Format`] name, by sniffing the input (`--format auto`), and for
//! paths, files or whole trees.

use std::path::Path;

use kelvin_model::Place;

use crate::prometheus::Prometheus;
use crate::{
    Context, Decode, Format, IngestBatch, IngestError, IngestErrorKind, Quarantined, Reason, csv,
    ipmi, nvidia, nvml, redfish, snmp, synse, sysfs,
};

static PROMETHEUS: std::sync::OnceLock<Prometheus> = std::sync::OnceLock::new();

/// Every single-input decoder, in detection order: the most specific formats first,
/// Prometheus text (whose grammar admits the most) last.
pub fn decoders() -> Vec<&'static dyn Decode> {
    let mut v: Vec<&'static dyn Decode> = ipmi::decoders().to_vec();
    v.extend([
        // exact headers, before the looser nvidia-smi query sniffer
        &nvml::NvmlDeviceCsv as &'static dyn Decode,
        &nvml::NvmlProcessCsv,
        &nvidia::NvidiaSmiQuery,
        &nvidia::NvidiaSmiPmon,
        &nvidia::NvidiaSmiDmon,
        &csv::KelvinCsv,
        &snmp::SnmpWalk,
        &redfish::Redfish,
        &synse::Synse,
        &sysfs::CpuStat,
        PROMETHEUS.get_or_init(Prometheus::default),
    ]);
    v
}

/// The decoder of a single-input format.
pub fn decoder(format: Format) -> Option<&'static dyn Decode> {
    decoders().into_iter().find(|d| d.format() == format)
}

/// The format of an input, from its first bytes; `None` when no decoder recognizes it.
pub fn detect(head: &str) -> Option<Format> {
    decoders()
        .into_iter()
        .find(|d| d.sniff(head))
        .map(|d| d.format())
}

/// How much of an input [`detect`] looks at.
const SNIFF_BYTES: usize = 8 << 10;

fn head(text: &str) -> &str {
    let mut end = text.len().min(SNIFF_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Decodes one input held in memory. With `format` `None` the format is detected; an input no
/// decoder recognizes is quarantined as one record with [`Reason::UnknownFormat`].
///
/// The batch is [`IngestBatch::bounded`] by the context's limits.
pub fn decode_str(format: Option<Format>, input: &str, ctx: &Context<'_>) -> IngestBatch {
    let mut out = IngestBatch::bounded(ctx);
    let found = format.or_else(|| detect(head(input)));
    match found.and_then(decoder) {
        Some(d) => d.decode(input, ctx, &mut out),
        None => {
            let detail = match found {
                Some(Format::KelvinParquet) => {
                    "Parquet is binary; pass the file's path".to_string()
                }
                Some(f) => format!("{f} is a tree format; pass a directory"),
                None => "no decoder recognizes this input".to_string(),
            };
            out.reject(Quarantined::new(
                ctx.line(1),
                Reason::UnknownFormat,
                detail,
                head(input),
            ));
        }
    }
    out
}

/// Whether a directory looks like a Redfish dump (JSON resources) rather than a sysfs/procfs
/// tree, from its first levels.
fn looks_like_redfish(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut subdirs = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".json") {
            return true;
        }
        if matches!(
            name.as_ref(),
            "class" | "devices" | "fs" | "sys" | "proc" | "cpu.stat" | "stat"
        ) {
            return false;
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            subdirs.push(p);
        }
    }
    subdirs.sort();
    depth > 0
        && subdirs
            .iter()
            .take(16)
            .any(|d| looks_like_redfish(d, depth - 1))
}

/// Decodes a file, or a directory walked as one tree (a sysfs/procfs root or a Redfish mockup
/// or service dump). With `format` `None` the format is detected.
///
/// Only regular files are read: the path is looked at before it is opened (symlinks are
/// followed), so a FIFO, a socket or a device — `/dev/zero`, or a link to it — is refused
/// without being opened, and nothing blocks or reads without end. A file larger than the
/// context's `max_input_bytes` (`max_json_bytes` when `format` is a JSON format) is refused
/// from its size, unread, as one [`Reason::InputTooLarge`] record; a file that is not UTF-8 is
/// one [`Reason::NotUtf8`] record. Neither is an error.
///
/// # Errors
/// [`IngestErrorKind::Io`] when the path cannot be read or is not a regular file or directory
/// (the reason says what it is); [`IngestErrorKind::InvalidInput`] when a directory is given a
/// single-file format.
pub fn decode_path(
    path: &Path,
    format: Option<Format>,
    ctx: &Context<'_>,
) -> Result<IngestBatch, IngestError> {
    let place = || Place::line(path.display().to_string(), 0);
    let meta = std::fs::metadata(path).map_err(|e| IngestError::io(place(), e))?;
    if meta.is_dir() {
        let format = format.unwrap_or(if looks_like_redfish(path, 3) {
            Format::Redfish
        } else {
            Format::Sysfs
        });
        return match format {
            Format::Redfish => redfish::decode_tree(path, ctx),
            Format::Sysfs => sysfs::decode_tree(path, ctx),
            other => Err(IngestError::new(
                IngestErrorKind::InvalidInput,
                place(),
                format!(
                    "{other} reads single files; {} is a directory",
                    path.display()
                ),
            )),
        };
    }
    let json = matches!(format, Some(Format::Redfish | Format::Synse));
    let (limit, limit_name) = if json && ctx.limits.max_json_bytes < ctx.limits.max_input_bytes {
        (ctx.limits.max_json_bytes, "max_json_bytes")
    } else {
        (ctx.limits.max_input_bytes, "max_input_bytes")
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
    if format == Some(Format::KelvinParquet)
        || (format.is_none() && crate::parquet::is_parquet(&bytes))
    {
        return Ok(crate::parquet::read_parquet(bytes, ctx));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(decode_str(format, &text, ctx)),
        Err(e) => {
            let detail = format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to());
            out.reject(Quarantined::new(ctx.line(1), Reason::NotUtf8, detail, ""));
            Ok(out)
        }
    }
}
