//! Series labels as the `labels` column holds them: a flat JSON object of string values,
//! names sorted, or `""` for none.

use std::fmt::Write as _;

use crate::Labels;

/// `{"a":"1","b":"2"}` with names in label order (sorted), or `""` for no labels.
pub(super) fn labels_json(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut out = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, k);
        out.push(':');
        push_json_string(&mut out, v);
    }
    out.push('}');
    out
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Labels from `""` (none) or a JSON object whose values are all strings; a repeated name keeps
/// its last value.
pub(super) fn parse_labels(text: &str) -> Result<Labels, String> {
    let mut p = Json {
        b: text.as_bytes(),
        i: 0,
    };
    p.ws();
    if p.i == p.b.len() {
        return Ok(Labels::default());
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    p.expect(b'{')?;
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let name = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            if p.peek() != Some(b'"') {
                return Err(format!(
                    "labels {text:?}: the value of {name:?} is not a string (byte {})",
                    p.i
                ));
            }
            let value = p.string()?;
            pairs.push((name, value));
            p.ws();
            match p.bump() {
                Some(b',') => {}
                Some(b'}') => break,
                _ => return Err(p.error("',' or '}'")),
            }
        }
    }
    p.ws();
    if p.i != p.b.len() {
        return Err(format!(
            "labels {text:?}: unexpected text after the object at byte {}",
            p.i
        ));
    }
    Ok(Labels::from_pairs(pairs))
}

/// A cursor over JSON text (always valid UTF-8: it comes from a `&str`).
struct Json<'a> {
    b: &'a [u8],
    i: usize,
}

impl Json<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn error(&self, expected: &str) -> String {
        let text = String::from_utf8_lossy(self.b);
        match self.peek() {
            Some(_) => format!(
                "labels {text:?}: expected {expected} at byte {}, found {:?}",
                self.i,
                text[self.i..].chars().next().unwrap_or(' ')
            ),
            None => format!("labels {text:?}: expected {expected}, found the end"),
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(&format!("'{}'", c as char)))
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .b
            .get(self.i..self.i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("4 hex digits"))?;
        self.i += 4;
        u32::from_str_radix(digits, 16).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.i;
            while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                self.i += 1;
            }
            // Both ends are at ASCII bytes (or the end), so the slice is whole UTF-8.
            out.push_str(&String::from_utf8_lossy(&self.b[start..self.i]));
            match self.bump() {
                Some(b'"') => return Ok(out),
                Some(b'\\') => {
                    let c = match self.bump() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.error("a low surrogate \\uDC00-\\uDFFF"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.error("a low surrogate \\uDC00-\\uDFFF"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or_else(|| {
                                self.error("a Unicode scalar value (lone surrogate)")
                            })?
                        }
                        _ => {
                            self.i = self.i.saturating_sub(1);
                            return Err(
                                self.error("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)")
                            );
                        }
                    };
                    out.push(c);
                }
                Some(_) => {
                    self.i -= 1;
                    return Err(self.error("no control character inside a string"));
                }
                None => return Err(self.error("'\"'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_json_round_trips_and_matches_python() {
        assert_eq!(labels_json(&Labels::default()), "");
        let l = Labels::from_pairs([("zone", "b"), ("phase", "L1")]);
        assert_eq!(labels_json(&l), r#"{"phase":"L1","zone":"b"}"#);
        let odd = Labels::from_pairs([
            ("q\"uote", "back\\slash"),
            ("ctl", "\u{1}\n\t\r\u{8}\u{c}\u{1f}"),
            ("uni", "✓ é 🌡"),
            ("", ""),
        ]);
        let text = labels_json(&odd);
        // json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert_eq!(
            text,
            r#"{"":"","ctl":"\u0001\n\t\r\b\f\u001f","q\"uote":"back\\slash","uni":"✓ é 🌡"}"#
        );
        assert_eq!(parse_labels(&text).unwrap(), odd);
        assert_eq!(parse_labels("").unwrap(), Labels::default());
    }

    #[test]
    fn labels_parse_what_python_writes_by_default() {
        // json.dumps({"uni": "✓ é 🌡", "a/b": "x"}) with its default ensure_ascii=True.
        let l = parse_labels(r#"{"uni": "\u2713 \u00e9 \ud83c\udf21", "a\/b": "x"}"#).unwrap();
        assert_eq!(l.get("uni"), Some("✓ é 🌡"));
        assert_eq!(l.get("a/b"), Some("x"));
        assert_eq!(parse_labels(" { } ").unwrap(), Labels::default());
        assert_eq!(parse_labels("{}").unwrap(), Labels::default());
        // A repeated name keeps the last value, as in Python.
        assert_eq!(
            parse_labels(r#"{"a":"1","a":"2"}"#).unwrap().get("a"),
            Some("2")
        );
    }

    #[test]
    fn labels_parse_rejects_what_is_not_a_flat_string_object() {
        for bad in [
            "{",
            "[]",
            "null",
            r#"{"a":1}"#,
            r#"{"a":null}"#,
            r#"{"a":{"b":"c"}}"#,
            r#"{"a":"b",}"#,
            r#"{"a" "b"}"#,
            r#"{"a":"b"} x"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00"}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":"unterminated}"#,
            "k=v",
        ] {
            assert!(parse_labels(bad).is_err(), "{bad:?} parsed");
        }
    }
}
