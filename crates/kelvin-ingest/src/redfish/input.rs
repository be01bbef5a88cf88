//! Untrusted JSON text to a [`Value`], within [`crate::Limits`]: size first, then the
//! pre-scan of [`crate::json::admit`] (nesting, so no parser ever recurses past the limit, and
//! the estimated heap of the parse), then `serde_json`.

use serde_json::Value;

use crate::{Context, Quarantined, Reason};

/// Parses one Redfish document, or says why it cannot be read as one (a single quarantine
/// entry for the whole input).
pub(crate) fn parse(input: &str, ctx: &Context<'_>) -> Result<Value, Box<Quarantined>> {
    let limits = &ctx.limits;
    if input.len() > limits.max_input_bytes {
        let detail = format!(
            "{} bytes, over max_input_bytes ({})",
            input.len(),
            limits.max_input_bytes
        );
        return Err(Box::new(Quarantined::new(
            ctx.pointer(""),
            Reason::InputTooLarge,
            detail,
            input,
        )));
    }
    let text = input.strip_prefix('\u{feff}').unwrap_or(input);
    crate::json::admit(text, ctx)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Normalizer};
    use kelvin_model::Place;

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
