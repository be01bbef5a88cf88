//! Which exposition format a body is read as: Prometheus text 0.0.4 or OpenMetrics 1.0, said
//! by the caller (an HTTP content type) or recognized by the body's end.

/// The exposition format a body is read as ([`super::ParseOptions::format`]).
///
/// The two formats share their sample grammar but differ where it matters to a store: a
/// Prometheus text timestamp is an integer of milliseconds, an OpenMetrics one a number of
/// seconds (`1700000000.5`, `1.7e9`). OpenMetrics also ends every exposition with `# EOF`,
/// carries exemplars after a sample (` # {trace_id="…"} 0.5`), a `# UNIT` line, and forbids
/// what Prometheus text tolerates (blank lines, free comments, `untyped`, interleaved
/// families); see the [module documentation](super) for what each format accepts.
///
/// ```
/// use kelvin_ingest::RuleSet;
/// use kelvin_ingest::prometheus::{Exposition, ParseOptions, format_of_content_type, parse_str};
/// use kelvin_model::Timestamp;
///
/// let body = concat!(
///     "# TYPE ipmi_dcmi_power_consumption_watts gauge\n",
///     "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 212 1700000000.25\n",
///     "# EOF\n",
/// );
/// let format = format_of_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8");
/// assert_eq!(format, Exposition::OpenMetrics1);
/// let opts = ParseOptions::default().with_format(format);
/// let b = parse_str(body, "h1:9290", &RuleSet::builtin(), &opts);
/// assert_eq!(b.readings[0].ts, Timestamp::from_nanos(1_700_000_000_250_000_000));
/// // Without a content type, `Auto` recognizes it by its last line, `# EOF`.
/// let b = parse_str(body, "h1:9290", &RuleSet::builtin(), &ParseOptions::default());
/// assert_eq!(b.readings[0].ts, Timestamp::from_nanos(1_700_000_000_250_000_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Exposition {
    /// Recognized per exposition: OpenMetrics 1.0 when its last line is `# EOF` (at most one
    /// line feed after it) and it is at most [`AUTO_DETECT_BYTES`] long, else Prometheus text
    /// ([`format_of_body`]). The default.
    #[default]
    Auto,
    /// Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4`).
    Text004,
    /// OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics1,
}

impl Exposition {
    /// The name used in reports: `auto`, `prometheus_text_0.0.4` or `openmetrics_1.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            Exposition::Auto => "auto",
            Exposition::Text004 => "prometheus_text_0.0.4",
            Exposition::OpenMetrics1 => "openmetrics_1.0",
        }
    }
}

impl std::fmt::Display for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest exposition [`Exposition::Auto`] can recognize as OpenMetrics: 4 MiB. A streaming
/// [`super::Decoder`] holds back the lines whose reading depends on the format (see
/// [`Exposition::Auto`]) until it knows it, and this bounds what it holds; a longer body is
/// read as Prometheus text unless the caller declares its format.
pub const AUTO_DETECT_BYTES: usize = 4 << 20;

/// The format an HTTP `Content-Type` names: `application/openmetrics-text` (any version and
/// parameters) is [`Exposition::OpenMetrics1`], `text/plain` is [`Exposition::Text004`],
/// anything else (or nothing) [`Exposition::Auto`]. The media type is compared without case,
/// its parameters are ignored.
///
/// ```
/// use kelvin_ingest::prometheus::{Exposition, format_of_content_type};
///
/// assert_eq!(format_of_content_type("text/plain; version=0.0.4; charset=utf-8"), Exposition::Text004);
/// assert_eq!(format_of_content_type("Application/OpenMetrics-Text; version=1.0.0"), Exposition::OpenMetrics1);
/// assert_eq!(format_of_content_type("application/json"), Exposition::Auto);
/// assert_eq!(format_of_content_type(""), Exposition::Auto);
/// ```
pub fn format_of_content_type(ct: &str) -> Exposition {
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/openmetrics-text") {
        Exposition::OpenMetrics1
    } else if media.eq_ignore_ascii_case("text/plain") {
        Exposition::Text004
    } else {
        Exposition::Auto
    }
}

/// What [`Exposition::Auto`] reads a whole body as: [`Exposition::OpenMetrics1`] when its last
/// line is exactly `# EOF` (followed by at most one line feed, as the OpenMetrics grammar
/// allows) and it is at most [`AUTO_DETECT_BYTES`] long; [`Exposition::Text004`] otherwise.
/// Never returns `Auto`.
///
/// ```
/// use kelvin_ingest::prometheus::{Exposition, format_of_body};
///
/// assert_eq!(format_of_body("up 1\n# EOF\n"), Exposition::OpenMetrics1);
/// assert_eq!(format_of_body("up 1\n# EOF"), Exposition::OpenMetrics1);
/// assert_eq!(format_of_body("up 1 1700000000000\n"), Exposition::Text004);
/// assert_eq!(format_of_body("up 1\n# EOF\n\n"), Exposition::Text004);
/// ```
pub fn format_of_body(body: &str) -> Exposition {
    if body.len() <= AUTO_DETECT_BYTES && ends_with_eof(body.as_bytes()) {
        Exposition::OpenMetrics1
    } else {
        Exposition::Text004
    }
}

/// Whether `body`'s last line is `# EOF`, with at most one line feed after it.
fn ends_with_eof(body: &[u8]) -> bool {
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    body.strip_suffix(b"# EOF")
        .is_some_and(|head| head.is_empty() || head.ends_with(b"\n"))
}
