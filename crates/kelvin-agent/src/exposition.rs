//! Metric families and their two text forms: Prometheus text 0.0.4 and OpenMetrics 1.0,
//! chosen by the scraper's `Accept` header.
//!
//! ```
//! use kelvin_agent::exposition::{Family, Format};
//! let mut f = Family::counter("kelvin_host_energy_joules", "Energy measured.", Some("joules"));
//! f.push(&[("host", "h1")], 1500.0);
//! let om = kelvin_agent::exposition::render(&[f.clone()], Format::OpenMetrics);
//! assert!(om.contains("# UNIT kelvin_host_energy_joules joules\n"));
//! assert!(om.contains("kelvin_host_energy_joules_total{host=\"h1\"} 1500\n"));
//! assert!(om.ends_with("# EOF\n"));
//! let text = kelvin_agent::exposition::render(&[f], Format::Text);
//! assert!(text.contains("# TYPE kelvin_host_energy_joules_total counter\n"));
//! ```

use std::fmt::Write as _;

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Monotonic; its samples are named `<name>_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
}

/// A metric family: its name (without `_total`), help, type, unit and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family name; a counter's samples add `_total`.
    pub name: String,
    /// One line of help.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: Type,
    /// The OpenMetrics unit (a suffix of the name), when it has one.
    pub unit: Option<&'static str>,
    /// Label sets and values.
    pub samples: Vec<(Vec<(String, String)>, f64)>,
}

impl Family {
    /// An empty counter family.
    pub fn counter(name: &str, help: &'static str, unit: Option<&'static str>) -> Family {
        Family {
            name: name.to_string(),
            help,
            kind: Type::Counter,
            unit,
            samples: Vec::new(),
        }
    }

    /// An empty gauge family.
    pub fn gauge(name: &str, help: &'static str, unit: Option<&'static str>) -> Family {
        Family {
            kind: Type::Gauge,
            ..Family::counter(name, help, unit)
        }
    }

    /// Adds a sample.
    pub fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        self.samples.push((labels, value));
    }

    /// The name its samples carry (`_total` added for a counter).
    pub fn sample_name(&self) -> String {
        match self.kind {
            Type::Counter => format!("{}_total", self.name),
            Type::Gauge => self.name.clone(),
        }
    }
}

/// The two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics 1.0.0.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` with a non-zero quality at least that of `text/plain`.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let (mut om, mut text) = (None::<f32>, None::<f32>);
        for part in accept.split(',') {
            let mut it = part.split(';');
            let media = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => om = Some(om.map_or(q, |o: f32| o.max(q))),
                "text/plain" => text = Some(text.map_or(q, |t: f32| t.max(q))),
                _ => {}
            }
        }
        match om {
            Some(q) if q > 0.0 && q >= text.unwrap_or(0.0) => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// The families in `format`, in the order given (an OpenMetrics body ends with `# EOF`).
pub fn render<'a>(families: impl IntoIterator<Item = &'a Family>, format: Format) -> String {
    let mut out = String::with_capacity(64 << 10);
    for f in families {
        let sample = f.sample_name();
        let (head, kind) = match (format, f.kind) {
            (Format::OpenMetrics, Type::Counter) => (f.name.as_str(), "counter"),
            (_, Type::Gauge) => (f.name.as_str(), "gauge"),
            (Format::Text, Type::Counter) => (sample.as_str(), "counter"),
        };
        let _ = writeln!(out, "# HELP {head} {}", f.help);
        let _ = writeln!(out, "# TYPE {head} {kind}");
        if let (Format::OpenMetrics, Some(u)) = (format, f.unit) {
            let _ = writeln!(out, "# UNIT {head} {u}");
        }
        for (labels, v) in &f.samples {
            out.push_str(&sample);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, val)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(k);
                    out.push_str("=\"");
                    escape_into(&mut out, val);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            out.push_str(&number(*v));
            out.push('\n');
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_2_accept_header_gets_openmetrics_and_curl_gets_text() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Text
        );
    }

    #[test]
    fn label_values_are_escaped_and_values_spelled_as_the_formats_want() {
        let mut g = Family::gauge("x_watts", "x", Some("watts"));
        g.push(&[("w", "a\"b\\c\nd")], f64::NAN);
        g.push(&[], f64::INFINITY);
        let t = render(&[g], Format::Text);
        assert!(t.contains("x_watts{w=\"a\\\"b\\\\c\\nd\"} NaN\n"), "{t}");
        assert!(t.contains("x_watts +Inf\n"));
        assert!(!t.contains("# EOF"));
        assert!(!t.contains("# UNIT"));
    }
}
