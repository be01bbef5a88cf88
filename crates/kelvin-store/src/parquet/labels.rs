//! Series labels as the `labels` column holds them: a flat JSON object of string values, names
//! sorted, or null for none; read with `serde_json` into
//! [`FlatLabels`](kelvin_model::layout::FlatLabels), which takes nothing nested (depth 1: a
//! non-string value is refused where it starts). A cell's size is bounded by the page it is in
//! ([`crate::ParquetLimits::max_page_bytes`]) and the distinct label text of a file by
//! [`crate::ParquetLimits::max_key_bytes`].

use std::collections::BTreeMap;

use kelvin_model::layout::FlatLabels;

use crate::Labels;

/// `{"a":"1","b":"2"}` with names in label order (sorted), or `None` for no labels: what
/// Python's `json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes.
pub(super) fn labels_json(labels: &Labels) -> Option<String> {
    if labels.is_empty() {
        return None;
    }
    let map: BTreeMap<&str, &str> = labels.iter().collect();
    // A map of strings always serializes.
    serde_json::to_string(&map).ok()
}

/// Labels from blank text, `{}` (none) or a JSON object whose values are all strings; a
/// repeated name keeps its last value.
pub(super) fn parse_labels(text: &str) -> Result<Labels, String> {
    let body = text.trim_matches([' ', '\t', '\n', '\r']);
    if body.is_empty() {
        return Ok(Labels::default());
    }
    if !body.starts_with('{') {
        return Err(format!(
            "labels {text:?}: expected '{{' (a JSON object of string values)"
        ));
    }
    let FlatLabels(pairs) =
        serde_json::from_str(text).map_err(|e| format!("labels {text:?}: {e}"))?;
    Ok(Labels::from_pairs(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_json_round_trips_and_matches_python() {
        assert_eq!(labels_json(&Labels::default()), None);
        let l = Labels::from_pairs([("zone", "b"), ("phase", "L1")]);
        assert_eq!(labels_json(&l).unwrap(), r#"{"phase":"L1","zone":"b"}"#);
        let odd = Labels::from_pairs([
            ("q\"uote", "back\\slash"),
            ("ctl", "\u{1}\n\t\r\u{8}\u{c}\u{1f}"),
            ("uni", "✓ é 🌡"),
            ("", ""),
        ]);
        let text = labels_json(&odd).unwrap();
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
        assert_eq!(parse_labels(" \t\r\n").unwrap(), Labels::default());
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
        let e = parse_labels(r#"{"rack":12}"#).unwrap_err();
        assert!(
            e.starts_with(r#"labels "{\"rack\":12}": the value of "rack" is not a string"#),
            "{e}"
        );
        // Nothing nested is read, however deep it goes.
        let deep = format!(r#"{{"a":{}}}"#, "[".repeat(1 << 20));
        assert!(parse_labels(&deep).unwrap_err().contains("(an array)"));
    }
}
