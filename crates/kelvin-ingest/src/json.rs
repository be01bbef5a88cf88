//! Untrusted JSON within [`crate::Limits`]: the text size first, then one pre-scan that finds
//! the nesting depth and estimates the heap of the parsed tree, and only then `serde_json`.
//!
//! A `serde_json::Value` costs far more than its text: an array element is a 32-byte `Value`
//! in a vector that doubles as it grows, a non-empty object is a B-tree whose first node alone
//! is 632 bytes. An array of `{"":0}` takes about 140 times its text, so a 62 MB file would
//! need gigabytes. The pre-scan counts what the parse would allocate at its worst-case cost
//! ([`Shape::heap_bytes`]), so the parse can be refused before it starts.

use serde::Serialize;

use crate::{Context, Quarantined, Reason};

/// Heap per array element: a 32-byte `Value`, twice for the vector's spare capacity, once more
/// for the old buffer while it grows.
const PER_ELEMENT: usize = 96;
/// Heap of a non-empty array's first allocation (room for four `Value`s).
const PER_ARRAY: usize = 128;
/// Heap of a non-empty object's first B-tree node (632 bytes) and the internal node above a
/// split, rounded up.
const PER_OBJECT: usize = 736;
/// Heap per object member beyond the first node: B-tree nodes are at least five-elevenths
/// full, so each member carries at most a fifth of a 632-byte leaf and a thirtieth of a
/// 728-byte internal node.
const PER_MEMBER: usize = 152;

/// What a pre-scan found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Byte offset of the first bracket past the depth limit.
    pub(crate) too_deep_at: Option<usize>,
    /// Non-empty arrays (the top level of a stream of documents counts as one).
    pub(crate) arrays: usize,
    /// Array elements (and documents of a stream).
    pub(crate) elements: usize,
    /// Non-empty objects.
    pub(crate) objects: usize,
    /// Object members.
    pub(crate) members: usize,
    /// Bytes inside string quotes (keys and values), escapes included.
    pub(crate) string_bytes: usize,
    /// The longest string, in bytes of text.
    pub(crate) longest_string: usize,
}

impl Shape {
    /// The most heap `serde_json` can allocate parsing this text into `Value`s (an upper
    /// bound: see the constants' documentation; Kelvin's hostile-input tests measure it).
    pub(crate) fn heap_bytes(&self) -> usize {
        PER_ELEMENT
            .saturating_mul(self.elements)
            .saturating_add(PER_ARRAY.saturating_mul(self.arrays))
            .saturating_add(PER_OBJECT.saturating_mul(self.objects))
            .saturating_add(PER_MEMBER.saturating_mul(self.members))
            .saturating_add(self.string_bytes)
            .saturating_add(self.longest_string.saturating_mul(2))
    }
}

/// One container being scanned.
#[derive(Clone, Copy)]
struct Open {
    array: bool,
    has_content: bool,
}

/// How deep `serde_json` nests before it stops with a recursion-limit error.
pub(crate) const SERDE_DEPTH: usize = 128;

/// Scans JSON text (or a stream of documents) without parsing it. Malformed text is scanned
/// all the same (the counts stay an upper bound of what a parser allocates before it fails).
/// The scan stops at the first bracket that opens nesting level `max_depth + 1` (at most
/// [`SERDE_DEPTH`] + 1: no parse goes deeper, and the scan keeps one entry per level).
pub(crate) fn prescan(text: &[u8], max_depth: usize) -> Shape {
    let max_depth = max_depth.min(SERDE_DEPTH);
    let mut shape = Shape {
        arrays: 1, // the top level, as a stream of documents is kept in a vector
        ..Shape::default()
    };
    let mut stack: Vec<Open> = Vec::new();
    let (mut in_string, mut escaped, mut in_scalar) = (false, false, false);
    let mut string_start = 0;
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                let len = i - string_start;
                shape.string_bytes = shape.string_bytes.saturating_add(len);
                shape.longest_string = shape.longest_string.max(len);
            }
            continue;
        }
        let starts_value = match b {
            b'"' => {
                in_string = true;
                string_start = i + 1;
                true
            }
            b'[' | b'{' => {
                if stack.len() >= max_depth {
                    shape.too_deep_at = Some(i);
                    return shape;
                }
                true
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => !in_scalar,
            _ => false,
        };
        in_scalar = matches!(b, b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        if starts_value {
            match stack.last_mut() {
                Some(open) if open.array && !open.has_content => {
                    open.has_content = true;
                    shape.arrays += 1;
                    shape.elements += 1;
                }
                Some(_) => {}
                None => shape.elements += 1,
            }
        }
        match b {
            b'[' | b'{' => stack.push(Open {
                array: b == b'[',
                has_content: false,
            }),
            b']' | b'}' => {
                stack.pop();
            }
            b',' => {
                if let Some(open) = stack.last()
                    && open.array
                {
                    shape.elements += 1;
                }
            }
            b':' => {
                if let Some(open) = stack.last_mut()
                    && !open.array
                {
                    if !open.has_content {
                        open.has_content = true;
                        shape.objects += 1;
                    }
                    shape.members += 1;
                }
            }
            _ => {}
        }
    }
    if in_string {
        let len = text.len() - string_start;
        shape.string_bytes = shape.string_bytes.saturating_add(len);
        shape.longest_string = shape.longest_string.max(len);
    }
    shape
}

/// The most heap `serde_json` can take to parse `text` into `serde_json::Value`s, as the
/// pre-scan behind [`crate::Limits::max_json_heap_bytes`] estimates it without parsing: 96
/// bytes per array element, 128 per non-empty array, 736 per non-empty object, 152 per object
/// member, the string bytes, and twice the longest string (the parser's scratch buffer). An
/// upper bound for `serde_json`'s `Value` (B-tree maps, no arbitrary precision), checked
/// against the allocator by Kelvin's hostile-input tests.
///
/// ```
/// // objects of one member are the costliest JSON per byte of text
/// let text = format!("[{}]", vec![r#"{"":0}"#; 1000].join(","));
/// assert!(kelvin_ingest::json_heap_estimate(&text) > 130 * text.len());
/// ```
///
/// Text nested deeper than `serde_json`'s 128 levels is estimated up to the bracket where a
/// parse would stop.
pub fn json_heap_estimate(text: &str) -> usize {
    prescan(text.as_bytes(), SERDE_DEPTH).heap_bytes()
}

/// 1-based line and byte column of a byte offset.
pub(crate) fn line_col(text: &str, at: usize) -> (u64, usize) {
    let before = &text.as_bytes()[..at.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let col = before.len()
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

/// The largest JSON file read whole, and the limit's name: `max_json_bytes` when it is below
/// `max_input_bytes` (JSON gets its own, smaller limit: a parse costs many times its text).
pub(crate) fn max_file_bytes(limits: &crate::Limits) -> (usize, &'static str) {
    if limits.max_json_bytes < limits.max_input_bytes {
        (limits.max_json_bytes, "max_json_bytes")
    } else {
        (limits.max_input_bytes, "max_input_bytes")
    }
}

/// Checks a JSON text against the context's limits before it is parsed: its size
/// ([`crate::Limits::max_json_bytes`]), its nesting ([`crate::Limits::max_json_depth`]) and the
/// estimated heap of its parse ([`crate::Limits::max_json_heap_bytes`]). `Err` is the one
/// quarantine entry the whole text becomes.
pub(crate) fn admit(text: &str, ctx: &Context<'_>) -> Result<(), Box<Quarantined>> {
    let limits = &ctx.limits;
    if text.len() > limits.max_json_bytes {
        let detail = format!(
            "a JSON document of {} bytes, over max_json_bytes ({})",
            text.len(),
            limits.max_json_bytes
        );
        return Err(Box::new(Quarantined::new(
            ctx.pointer(""),
            Reason::InputTooLarge,
            detail,
            text,
        )));
    }
    let shape = prescan(text.as_bytes(), limits.max_json_depth);
    if let Some(at) = shape.too_deep_at {
        let (line, col) = line_col(text, at);
        let (max, which) = if limits.max_json_depth <= SERDE_DEPTH {
            (limits.max_json_depth, "max_json_depth")
        } else {
            (SERDE_DEPTH, "the JSON parser's limit")
        };
        return Err(Box::new(Quarantined::new(
            ctx.line(line),
            Reason::TooDeep,
            format!("JSON nested deeper than {max} levels ({which}) at line {line} column {col}"),
            &text[at..],
        )));
    }
    let heap = shape.heap_bytes();
    if heap > limits.max_json_heap_bytes {
        let detail = format!(
            "parsed, this JSON would take up to {heap} bytes of heap ({} arrays of {} elements, \
             {} objects of {} members, {} string bytes), over max_json_heap_bytes ({})",
            shape.arrays,
            shape.elements,
            shape.objects,
            shape.members,
            shape.string_bytes,
            limits.max_json_heap_bytes
        );
        return Err(Box::new(Quarantined::new(
            ctx.pointer(""),
            Reason::InputTooLarge,
            detail,
            text,
        )));
    }
    Ok(())
}

/// At most [`Quarantined::EXCERPT_BYTES`] of a value's compact JSON, without serializing
/// the rest.
pub(crate) fn excerpt_of<T: Serialize + ?Sized>(v: &T) -> String {
    struct Capped(Vec<u8>);
    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = Quarantined::EXCERPT_BYTES.saturating_sub(self.0.len());
            if room == 0 {
                return Err(std::io::Error::other("excerpt full"));
            }
            let n = room.min(buf.len());
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Capped(Vec::new());
    // An error only means the excerpt is full.
    let _ = serde_json::to_writer(&mut w, v);
    match String::from_utf8(w.0) {
        Ok(s) => s,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            bytes.truncate(valid);
            String::from_utf8(bytes).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Normalizer};

    fn shape(text: &str) -> Shape {
        prescan(text.as_bytes(), 64)
    }

    #[test]
    fn counts_what_a_parse_allocates() {
        let s = shape(r#"{"a": [1, 2, "x"], "b": {}, "c": [], "d": {"e": null}}"#);
        assert_eq!(s.too_deep_at, None);
        // the top level and [1, 2, "x"]
        assert_eq!((s.arrays, s.elements), (2, 4));
        assert_eq!((s.objects, s.members), (2, 5));
        assert_eq!(s.string_bytes, 6);
        assert_eq!(s.longest_string, 1);
        // brackets, colons and commas inside strings do not count
        let s = shape(r#"["[{:,\"]}", 10, -1.5e3, true]"#);
        assert_eq!((s.arrays, s.elements, s.objects, s.members), (2, 5, 0, 0));
        // a stream of documents is counted as a vector of them
        let s = shape("{\"a\":1}\n{\"a\":2}\n7 \"x\"");
        assert_eq!((s.elements, s.objects, s.members), (4, 2, 2));
        // truncated text still counts what was seen
        let s = shape(r#"[{"a":"unterminated"#);
        assert_eq!((s.objects, s.members, s.string_bytes), (1, 1, 13));
    }

    #[test]
    fn depth_counts_brackets_outside_strings() {
        let deep = |t: &[u8], max| prescan(t, max).too_deep_at;
        assert_eq!(deep(b"{}", 1), None);
        assert_eq!(deep(b"{\"a\":[1]}", 1), Some(5));
        assert_eq!(deep(b"{\"a\":[1]}", 2), None);
        assert_eq!(deep(br#"{"a":"[[[{{\"[["}"#, 1), None);
        assert_eq!(deep(br#"["\\",[]]"#, 1), Some(6));
        assert_eq!(deep(b"]]]][[", 1), Some(5));
        assert_eq!(deep(&b"[".repeat(100_000), 64), Some(64));
    }

    #[test]
    fn the_worst_shapes_cost_most_per_byte() {
        let per_byte = |unit: &str| {
            let text = format!("[{}]", vec![unit; 1000].join(","));
            shape(&text).heap_bytes() as f64 / text.len() as f64
        };
        // objects with one member are the costliest shape, then one-element arrays
        assert!(per_byte(r#"{"":0}"#) > 120.0);
        assert!(per_byte("[0]") > 50.0);
        assert!(per_byte("0") > 40.0);
        assert!(per_byte("{}") > 30.0);
        assert!(per_byte(r#""aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa""#) < 5.0);
    }

    #[test]
    fn limits_refuse_before_parsing() {
        let n = Normalizer::builtin();
        let ctx = |l: Limits| Context::new("t.json", &n).with_limits(l);
        let big = format!("[{}]", vec![r#"{"":0}"#; 10_000].join(","));
        let q = admit(
            &big,
            &ctx(Limits::default().with_max_json_heap_bytes(1 << 20)),
        )
        .unwrap_err();
        assert_eq!(q.reason, Reason::InputTooLarge);
        assert!(q.detail.contains("max_json_heap_bytes"), "{}", q.detail);
        assert!(admit(&big, &ctx(Limits::default())).is_ok());
        let q = admit(&big, &ctx(Limits::default().with_max_json_bytes(1000))).unwrap_err();
        assert!(q.detail.contains("max_json_bytes"), "{}", q.detail);
        let q = admit(
            "{\"a\":\n[[[",
            &ctx(Limits::default().with_max_json_depth(2)),
        )
        .unwrap_err();
        assert_eq!(
            (q.reason, q.place.to_string()),
            (Reason::TooDeep, "t.json:2".to_string())
        );
        assert!(q.detail.contains("line 2 column 2"), "{}", q.detail);
    }
}
