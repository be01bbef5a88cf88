//! Untrusted JSON text to a [`Value`], within [`crate::Limits`]: size first, then a nesting
//! pre-scan (so no parser ever recurses past the limit), then `serde_json`.

use serde_json::Value;

use crate::{Context, Quarantined, Reason};

/// Parses one Redfish document, or says why it cannot be read as one (a single quarantine
/// entry for the whole input).
pub(crate) fn parse(input: &str, ctx: &Context<'_>) -> Result<Value, Box<Quarantined>> {
    let limits = &ctx.limits;
    if input.len() > limits.max_input_bytes {
        let detail = format!("{} bytes, limit {}", input.len(), limits.max_input_bytes);
        return Err(Box::new(Quarantined::new(
            ctx.pointer(""),
            Reason::InputTooLarge,
            detail,
            input,
        )));
    }
    let text = input.strip_prefix('\u{feff}').unwrap_or(input);
    if let Some(at) = too_deep(text.as_bytes(), limits.max_json_depth) {
        let (line, col) = line_col(text, at);
        return Err(Box::new(Quarantined::new(
            ctx.line(line),
            Reason::TooDeep,
            format!(
                "JSON nested deeper than {} levels at line {line} column {col}",
                limits.max_json_depth
            ),
            &text[at..],
        )));
    }
    serde_json::from_str(text).map_err(|e| {
        let reason = if e.to_string().contains("recursion limit") {
            Reason::TooDeep
        } else {
            Reason::BadJson
        };
        let line = e.line().max(1) as u64;
        let start = text
            .split_inclusive('\n')
            .take(line as usize - 1)
            .map(str::len)
            .sum::<usize>();
        Box::new(Quarantined::new(
            ctx.line(line),
            reason,
            e.to_string(),
            &text[start.min(text.len())..],
        ))
    })
}

/// The byte offset of the first `[` or `{` (outside strings) that opens nesting level
/// `max + 1`, if any. Unbalanced or otherwise malformed text is left to the parser.
pub(crate) fn too_deep(text: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// 1-based line and byte column of a byte offset.
fn line_col(text: &str, at: usize) -> (u64, usize) {
    let before = &text.as_bytes()[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let col = at
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Normalizer};
    use kelvin_model::Place;

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert_eq!(too_deep(b"{}", 1), None);
        assert_eq!(too_deep(b"{\"a\":[1]}", 1), Some(5));
        assert_eq!(too_deep(b"{\"a\":[1]}", 2), None);
        // brackets inside strings, escaped quotes included, do not count
        assert_eq!(too_deep(br#"{"a":"[[[{{\"[["}"#, 1), None);
        assert_eq!(too_deep(br#"["\\",[]]"#, 1), Some(6));
        // closing brackets never go below zero
        assert_eq!(too_deep(b"]]]][[", 1), Some(5));
        assert_eq!(too_deep(&b"[".repeat(100_000), 64), Some(64));
    }

    fn ctx_with(n: &Normalizer, limits: Limits) -> Context<'_> {
        Context::new("t.json", n).with_limits(limits)
    }

    #[test]
    fn hostile_documents_are_one_quarantine_each() {
        let n = Normalizer::builtin();
        let ctx = ctx_with(&n, Limits::default());
        let deep = format!("{{\"a\":\n{}", "[".repeat(70));
        let q = parse(&deep, &ctx).unwrap_err();
        assert_eq!(q.reason, Reason::TooDeep);
        assert_eq!(q.place, ctx.line(2));
        assert!(q.detail.contains("line 2 column 64"), "{}", q.detail);

        let q = parse("{\n  \"a\": 1,\n  \"b\": tx,\n}", &ctx).unwrap_err();
        assert_eq!(q.reason, Reason::BadJson);
        assert_eq!(q.place, ctx.line(3));
        assert!(q.detail.contains("line 3 column"), "{}", q.detail);
        assert!(q.excerpt.starts_with("  \"b\": tx"), "{}", q.excerpt);

        let small = Limits {
            max_input_bytes: 4,
            ..Limits::default()
        };
        let q = parse("{\"a\":1}", &ctx_with(&n, small)).unwrap_err();
        assert_eq!(q.reason, Reason::InputTooLarge);
        assert!(matches!(q.place, Place::JsonPointer { .. }));

        // serde_json's own recursion limit (128) also reads as TooDeep when the configured
        // limit is higher
        let lax = Limits {
            max_json_depth: 1000,
            ..Limits::default()
        };
        let q = parse(&"[".repeat(500), &ctx_with(&n, lax)).unwrap_err();
        assert_eq!(q.reason, Reason::TooDeep);
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let n = Normalizer::builtin();
        let ctx = ctx_with(&n, Limits::default());
        assert!(parse("\u{feff}{\"a\":1}", &ctx).is_ok());
    }
}
