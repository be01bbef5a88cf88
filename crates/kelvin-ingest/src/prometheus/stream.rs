//! How the decoder reads the lines of an exposition in each format, and how, in `Auto`, it
//! holds back the lines whose reading depends on a format it does not know yet.

use kelvin_model::{Place, Timestamp};

use super::exposition::{AUTO_DETECT_BYTES, Exposition};
use super::om_line::{self, OmLine};
use super::om_state::{self, Issue, Verdict};
use super::{Decoder, format_of_body};
use crate::{Quarantined, Reason};

/// How the decoder reads the current exposition's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics 1.0, declared or (`detected`) recognized by `Auto`.
    Om { detected: bool },
    /// Not known yet: OpenMetrics or Prometheus text, decided at the exposition's end.
    Auto,
}

impl Mode {
    pub(super) fn of(format: Exposition) -> Mode {
        match format {
            Exposition::Text004 => Mode::Text,
            Exposition::OpenMetrics1 => Mode::Om { detected: false },
            _ => Mode::Auto,
        }
    }
}

/// Lines held back in `Auto` mode, from the first whose reading depends on the format.
#[derive(Debug, Default)]
pub(super) struct Hold {
    active: bool,
    /// The number of its first line.
    first_line: u64,
    buf: Vec<u8>,
    /// Each line's end in `buf`, and its length when over `max_line_bytes` (its head only is
    /// in `buf`), else 0.
    lines: Vec<(usize, usize)>,
}

/// A sample's own timestamp, as written.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stamp<'a> {
    None,
    /// Prometheus text: integer milliseconds.
    Millis(i64),
    /// OpenMetrics: seconds, as nanoseconds (saturated far out of range) and as written.
    Seconds {
        ns: i128,
        text: &'a str,
    },
}

impl Stamp<'_> {
    pub(super) fn millis(ms: Option<i64>) -> Self {
        ms.map_or(Stamp::None, Stamp::Millis)
    }

    /// The time, or (`Err`) the timestamp as written with its unit when it is out of range;
    /// `None` without a timestamp.
    pub(super) fn time(self) -> Option<Result<Timestamp, String>> {
        let ns = match self {
            Stamp::None => return None,
            Stamp::Millis(ms) => i128::from(ms) * 1_000_000,
            Stamp::Seconds { ns, .. } => ns,
        };
        Some(match i64::try_from(ns) {
            Ok(ns) if ns != i64::MIN => Ok(Timestamp::from_nanos(ns)),
            _ => Err(match self {
                Stamp::Seconds { text, .. } => format!("{text} s"),
                _ => format!("{} ms", ns / 1_000_000),
            }),
        })
    }
}

impl Decoder<'_> {
    /// Counts `n` more bytes of the exposition; in `Auto`, past [`AUTO_DETECT_BYTES`] the
    /// exposition is Prometheus text.
    pub(super) fn count_bytes(&mut self, n: usize) {
        self.expo_bytes = self.expo_bytes.saturating_add(n);
        if self.mode == Mode::Auto && self.expo_bytes > AUTO_DETECT_BYTES {
            self.decide(Mode::Text);
        }
    }

    /// Numbers a new line (`bytes`, or empty for an over-long line).
    pub(super) fn begin_line(&mut self, bytes: &[u8]) {
        self.line_no += 1;
        self.expo_lines = true;
        self.eof_last = bytes == b"# EOF";
    }

    /// A line, not yet known to be UTF-8.
    pub(super) fn raw_line(&mut self, bytes: &[u8]) {
        if self.hold.active {
            self.hold.push(bytes, 0, self.line_no);
        } else {
            self.bytes_line(bytes);
        }
    }

    /// A line of `n` bytes, over `max_line_bytes`, that starts with `head`.
    pub(super) fn overlong_line(&mut self, head: &[u8], n: usize) {
        self.eof_last = false;
        if self.hold.active {
            self.hold.push(head, n, self.line_no);
        } else {
            self.too_long(head, n);
        }
    }

    /// A line of text, read in the current mode.
    pub(super) fn str_line(&mut self, text: &str) {
        match self.mode {
            Mode::Text => self.line(text),
            Mode::Om { .. } => {
                self.om_step(text, false);
            }
            Mode::Auto => {
                if self.hold.active || !self.om_step(text, true) {
                    self.hold.push(text.as_bytes(), 0, self.line_no);
                }
            }
        }
    }

    /// Reads a line as OpenMetrics. With `neutral_only`, only when Prometheus text would
    /// read it the same (it is accepted by OpenMetrics as is, and has no timestamp or
    /// exemplar): else nothing changes and this returns `false`.
    fn om_step(&mut self, text: &str, neutral_only: bool) -> bool {
        let mut spans = std::mem::take(&mut self.spans);
        let parsed = om_line::parse(text, self.opts.max_labels, &mut spans);
        let verdict = match &parsed {
            Ok(line) => self.om.judge(line, &spans, self.line_no),
            Err(_) if self.om.ended() => Verdict::refused(om_state::after_eof()),
            Err(e) => Verdict::refused(Issue::new(e.reason, e.detail.clone())),
        };
        self.spans = spans;
        if neutral_only {
            let neutral = match &parsed {
                Ok(OmLine::Sample(s)) => s.ts.is_none() && s.exemplar.is_none(),
                Ok(_) => true,
                Err(_) => false,
            };
            if !(neutral && verdict.clean()) {
                return false;
            }
        }
        self.om.apply(verdict.plan, self.line_no);
        if let Some(c) = verdict.closing {
            let place = Place::line(self.source.clone(), c.line);
            self.put_err(Quarantined::new(
                place,
                Reason::BadField,
                c.detail,
                &c.family,
            ));
        }
        match (verdict.issue, parsed) {
            (Some(i), _) => {
                self.put_err(Quarantined::new(self.place(), i.reason, i.detail, text));
            }
            (None, Ok(OmLine::Sample(s))) => {
                let stamp =
                    s.ts.map_or(Stamp::None, |(ns, text)| Stamp::Seconds { ns, text });
                self.sample(text, &s.core, stamp);
            }
            (None, _) => {}
        }
        true
    }

    /// Settles an `Auto` exposition's format as `mode` and reads what was held back.
    pub(super) fn decide(&mut self, mode: Mode) {
        self.mode = mode;
        let hold = std::mem::take(&mut self.hold);
        if !hold.active {
            return;
        }
        let resume = self.line_no;
        self.line_no = hold.first_line.saturating_sub(1);
        let mut start = 0;
        for &(end, overlong) in &hold.lines {
            if self.stopped() {
                break;
            }
            self.line_no += 1;
            let bytes = &hold.buf[start..end];
            start = end;
            if overlong > 0 {
                self.too_long(bytes, overlong);
            } else {
                self.bytes_line(bytes);
            }
        }
        self.line_no = resume;
    }

    /// Ends the current exposition: reads a final line without its line feed; in
    /// [`Exposition::Auto`] settles the format and reads what was held back; in OpenMetrics,
    /// quarantines a last histogram point that is incomplete, and the exposition itself as
    /// [`Reason::BadMetadata`] when it has lines but no `# EOF` (it may be truncated). What is
    /// fed next is a new exposition ([`Decoder::finish`] ends the last one).
    ///
    /// ```
    /// use kelvin_ingest::{Reason, RuleSet};
    /// use kelvin_ingest::prometheus::{Decoder, Exposition, ParseOptions};
    ///
    /// let rules = RuleSet::builtin();
    /// let opts = ParseOptions::default().with_format(Exposition::OpenMetrics1);
    /// let mut d = Decoder::new("h1:9290", &rules, opts);
    /// d.push_str("ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 212 1700000000\n# EOF\n");
    /// d.end_exposition();
    /// d.push_str("ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 214 1700000015\n");
    /// let b = d.finish(); // the second exposition has no `# EOF`
    /// assert_eq!(b.readings.len(), 2);
    /// assert_eq!(b.quarantine[0].reason, Reason::BadMetadata);
    /// assert_eq!(b.quarantine[0].place.to_string(), "h1:9290:3");
    /// ```
    pub fn end_exposition(&mut self) {
        if !self.pending.is_empty() || self.overlong > 0 {
            self.end_line();
        }
        if self.mode == Mode::Auto {
            let om = self.eof_last && self.expo_bytes <= AUTO_DETECT_BYTES;
            self.decide(if om {
                Mode::Om { detected: true }
            } else {
                Mode::Text
            });
        }
        if matches!(self.mode, Mode::Om { .. }) && !self.om.ended() && !self.stopped() {
            if let Some(c) = self.om.closing() {
                let place = Place::line(self.source.clone(), c.line);
                self.put_err(Quarantined::new(
                    place,
                    Reason::BadField,
                    c.detail,
                    &c.family,
                ));
            }
            if self.expo_lines {
                let place = Place::line(self.source.clone(), self.line_no.max(1));
                self.put_err(Quarantined::new(
                    place,
                    Reason::BadMetadata,
                    "the exposition ends without '# EOF', which OpenMetrics requires: it may \
                     be truncated",
                    "",
                ));
            }
        }
        self.mode = Mode::of(self.opts.format);
        self.om.reset();
        self.expo_bytes = 0;
        self.eof_last = false;
        self.expo_lines = false;
    }

    /// Decodes a whole body (one exposition): in `Auto`, its format is known at once.
    pub(super) fn whole(&mut self, text: &str) {
        if self.mode == Mode::Auto {
            self.mode = match format_of_body(text) {
                Exposition::OpenMetrics1 => Mode::Om { detected: true },
                _ => Mode::Text,
            };
        }
        self.reserve(text);
        self.push_str(text);
    }
}

impl Hold {
    fn push(&mut self, bytes: &[u8], overlong: usize, line_no: u64) {
        if !self.active {
            self.active = true;
            self.first_line = line_no;
        }
        self.buf.extend_from_slice(bytes);
        self.lines.push((self.buf.len(), overlong));
    }
}
