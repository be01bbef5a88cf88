//! CSV text, read one record at a time: every CSV read of this crate (Kelvin's layout, the NVML
//! sampler's files, `nvidia-smi --format=csv`) goes through [`read`], which hands runs of
//! records to the `csv` crate after a guard that finds each record's extent first, so that a
//! record longer than the limit is refused before the `csv` crate builds it.

use std::ops::ControlFlow;

use ::csv::{ReaderBuilder, StringRecord};

/// One record of CSV text.
pub(crate) enum Item<'a> {
    /// A record within the length limit, as the `csv` crate read it.
    Record(Record<'a>),
    /// A record longer than the limit (its line and text), never handed to the `csv` crate.
    TooLong(u64, &'a str),
}

/// A record the `csv` crate read.
pub(crate) struct Record<'a> {
    /// The line it starts on (1-based).
    pub(crate) line: u64,
    /// Its fields (what the `csv` crate read of them when it failed).
    pub(crate) fields: &'a StringRecord,
    /// Its text, without its line end.
    pub(crate) text: &'a str,
    /// Why the `csv` crate could not read it.
    pub(crate) error: Option<String>,
}

/// Reads the records of `text` (RFC 4180 quoting with doubled quotes, `\r`, `\n` or `\r\n`
/// ends, blank lines skipped, records of any width) and hands each to `f`, until `f` breaks
/// or the text ends. A record of more than `max_record_bytes` is [`Item::TooLong`].
pub(crate) fn read(
    text: &str,
    max_record_bytes: usize,
    mut f: impl FnMut(Item<'_>) -> ControlFlow<()>,
) {
    let mut spans = Spans {
        text: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    // The run of records not yet read: where it starts, its line, and where it ends.
    let (mut run_start, mut run_line, mut run_end) = (0, 1, None);
    while let Some((start, end, line, end_line)) = spans.next() {
        if end - start <= max_record_bytes {
            run_end = Some(spans.after(end, end_line).0);
            continue;
        }
        if let Some(e) = run_end.take()
            && feed(&text[run_start..e], run_line, &mut f).is_break()
        {
            return;
        }
        if f(Item::TooLong(line, &text[start..end])).is_break() {
            return;
        }
        (run_start, run_line) = spans.after(end, end_line);
    }
    if let Some(e) = run_end {
        let _ = feed(&text[run_start..e], run_line, &mut f);
    }
}

/// A reader position as an index and a line.
fn byte_and_line(p: &::csv::Position) -> (usize, u64) {
    (usize::try_from(p.byte()).unwrap_or(usize::MAX), p.line())
}

/// Reads a run of records, each within the limit, that starts at `first_line`.
fn feed(
    run: &str,
    first_line: u64,
    f: &mut impl FnMut(Item<'_>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(run.as_bytes());
    let mut rec = StringRecord::new();
    let bytes = run.as_bytes();
    loop {
        // Where the reader stands: the `csv` crate's record position is this, before the blank
        // lines (and the `\n` of a `\r\n`) it skips; the record starts after them.
        let (mut from, mut line) = byte_and_line(reader.position());
        let result = reader.read_record(&mut rec);
        let (to, _) = byte_and_line(reader.position());
        while from < to && matches!(bytes.get(from), Some(b'\r' | b'\n')) {
            if bytes[from] == b'\n' {
                line += 1;
            }
            from += 1;
        }
        let line = line + first_line - 1;
        let text = run
            .get(from..to.max(from))
            .unwrap_or("")
            .trim_end_matches(['\r', '\n']);
        let error = match result {
            Ok(false) => return ControlFlow::Continue(()),
            Ok(true) => None,
            Err(e) => Some(e.to_string()),
        };
        f(Item::Record(Record {
            line,
            fields: &rec,
            text,
            error,
        }))?;
    }
}

/// The records of CSV text, as byte spans, found the way the `csv` crate's reader finds them
/// (RFC 4180 quoting with doubled quotes, `\r`, `\n` or `\r\n` ends, blank lines skipped) but
/// without keeping them: the decoder refuses an over-long record before the `csv` crate builds
/// it (a record of 64 MiB of commas would take eight bytes per field).
struct Spans<'a> {
    text: &'a [u8],
    pos: usize,
    /// The line at `pos` (1-based, counting `\n` as the `csv` crate does).
    line: u64,
}

impl Spans<'_> {
    /// Where the `csv` crate's reader is after a record that ends at `end`: past the first byte
    /// of its terminator (the `\n` of a `\r\n` is skipped with the next record, as a blank line
    /// is), and the line there.
    fn after(&self, end: usize, end_line: u64) -> (usize, u64) {
        match self.text.get(end) {
            Some(b'\n') => (end + 1, end_line + 1),
            Some(_) => (end + 1, end_line),
            None => (end, end_line),
        }
    }
}

impl Iterator for Spans<'_> {
    /// (start, end, line of start, line of end)
    type Item = (usize, usize, u64, u64);

    fn next(&mut self) -> Option<(usize, usize, u64, u64)> {
        #[derive(PartialEq)]
        enum St {
            StartField,
            InField,
            Quoted,
            QuoteInQuoted,
        }
        let t = self.text;
        // blank lines between records are not records
        while self.pos < t.len() && matches!(t[self.pos], b'\r' | b'\n') {
            if t[self.pos] == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
        if self.pos >= t.len() {
            return None;
        }
        let (start, line) = (self.pos, self.line);
        let mut st = St::StartField;
        while self.pos < t.len() {
            let b = t[self.pos];
            st = match (st, b) {
                (St::Quoted, b'"') => St::QuoteInQuoted,
                (St::Quoted, _) => St::Quoted,
                (St::QuoteInQuoted, b'"') | (St::StartField, b'"') => St::Quoted,
                (_, b',') => St::StartField,
                (_, b'\r' | b'\n') => break,
                _ => St::InField,
            };
            if b == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
        Some((start, self.pos, line, self.line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str, max: usize) -> Vec<(u64, String, Vec<String>)> {
        let mut v = Vec::new();
        read(text, max, |item| {
            v.push(match item {
                Item::Record(r) => (
                    r.line,
                    r.text.to_string(),
                    r.fields.iter().map(str::to_string).collect(),
                ),
                Item::TooLong(line, t) => (line, t.to_string(), vec!["<too long>".to_string()]),
            });
            ControlFlow::Continue(())
        });
        v
    }

    #[test]
    fn records_lines_and_texts() {
        let got = items("a,b\r\n\n\"x\ny\",2\nlong,long,long\nc, d \n", 10);
        let want = [
            (1, "a,b", vec!["a", "b"]),
            (3, "\"x\ny\",2", vec!["x\ny", "2"]),
            (5, "long,long,long", vec!["<too long>"]),
            (6, "c, d ", vec!["c", " d "]),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0, g.1.as_str()), (w.0, w.1));
            assert_eq!(g.2, w.2);
        }
        // a break stops the reading
        let mut n = 0;
        read("a\nb\nc\n", 10, |_| {
            n += 1;
            ControlFlow::Break(())
        });
        assert_eq!(n, 1);
    }

    proptest::proptest! {
        /// The record spans the decoder checks are the records the `csv` crate reads.
        #[test]
        fn spans_are_the_csv_crates_records(text in "[a,\"\r\n]{0,40}") {
            let mut it = Spans { text: text.as_bytes(), pos: 0, line: 1 };
            let mut spans = Vec::new();
            while let Some((_, end, _, end_line)) = it.next() {
                let (at, line) = it.after(end, end_line);
                spans.push((at, line));
            }
            let mut reader = ::csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(text.as_bytes());
            let mut records = Vec::new();
            let mut rec = ::csv::ByteRecord::new();
            while reader.read_byte_record(&mut rec).unwrap_or(false) {
                let p = reader.position();
                records.push((p.byte() as usize, p.line()));
            }
            proptest::prop_assert_eq!(spans, records, "{:?}", text);
        }
    }
}
