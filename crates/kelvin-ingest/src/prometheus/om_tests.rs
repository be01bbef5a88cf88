//! Unit tests of the OpenMetrics grammar: numbers, timestamps in seconds, exemplars.

use super::line::LabelSpan;
use super::om_line::{OmLine, number, parse, real, seconds_to_nanos};
use crate::Reason;

fn ns(t: &str) -> Option<i128> {
    seconds_to_nanos(t.as_bytes())
}

#[test]
fn seconds_become_exact_nanoseconds() {
    let cases: &[(&str, i128)] = &[
        ("0", 0),
        ("000", 0),
        ("-0", 0),
        ("1", 1_000_000_000),
        ("1.", 1_000_000_000),
        (".5", 500_000_000),
        ("+1.5", 1_500_000_000),
        ("-1.5", -1_500_000_000),
        ("1520879607.789", 1_520_879_607_789_000_000),
        ("1604676851.123456789", 1_604_676_851_123_456_789),
        ("1.5e3", 1_500_000_000_000),
        ("1.5E+3", 1_500_000_000_000),
        ("15e-1", 1_500_000_000),
        ("1e-9", 1),
        ("123456789e-9", 123_456_789),
        ("1.7e9", 1_700_000_000_000_000_000),
        ("0.0000000001", 0),
        ("0.0000000010", 1),
        // Beyond a nanosecond: rounded to the nearest, ties to even.
        ("0.0000000015", 2),
        ("0.0000000025", 2),
        ("0.00000000250000000001", 3),
        ("0.0000000024999", 2),
        ("-0.0000000015", -2),
        ("5e-10", 0),
        ("6e-10", 1),
        ("0000000000000000000000001.2e-1", 120_000_000),
    ];
    for (t, want) in cases {
        assert_eq!(ns(t), Some(*want), "{t}");
    }
    // Far out of range saturates (and is refused later, as outside any time).
    assert_eq!(
        ns("12345678901234567890.1234567890"),
        Some(12_345_678_901_234_567_890_123_456_789)
    );
    assert_eq!(ns("1e30"), Some(10i128.pow(30)));
    assert_eq!(ns("-1e100"), Some(-(10i128.pow(30))));
    assert_eq!(ns("1e-1000000000000"), Some(0));
    assert_eq!(ns(&format!("0.{}1", "0".repeat(70_000))), Some(0));
    for bad in [
        "", "-", ".", "e5", "1e", "1e+", "1.1.1", "1_2", "0x1p-3", "NaN", "Inf", "-Inf", "1z",
        " 1", "1 ",
    ] {
        assert_eq!(ns(bad), None, "{bad}");
    }
}

#[test]
fn numbers_follow_the_abnf() {
    for (t, v) in [
        ("1", 1.0),
        ("-1.5e3", -1500.0),
        ("1.", 1.0),
        (".5", 0.5),
        ("0042", 42.0),
    ] {
        assert_eq!(number(t), Some(v), "{t}");
    }
    for t in ["NaN", "nan", "NAN"] {
        assert!(number(t).is_some_and(f64::is_nan), "{t}");
    }
    for t in ["+Inf", "inf", "Infinity", "-INFINITY", "-Inf"] {
        assert!(number(t).is_some_and(f64::is_infinite), "{t}");
    }
    for t in ["-NaN", "+nan", "0x1", "1_0", "", "1e", "one"] {
        assert_eq!(number(t), None, "{t}");
    }
    assert_eq!(real("1e-05"), Some(1e-5));
    assert_eq!(real("+Inf"), None);
    assert_eq!(real("NaN"), None);
}

fn sample(line: &str) -> (Option<(i128, String)>, Option<f64>) {
    let mut spans: Vec<LabelSpan> = Vec::new();
    match parse(line, 64, &mut spans) {
        Ok(OmLine::Sample(s)) => (s.ts.map(|(n, t)| (n, t.to_string())), s.exemplar),
        Ok(_) => panic!("{line}: not a sample"),
        Err(e) => panic!("{line}: {}", e.detail),
    }
}

fn refused(line: &str) -> (Reason, String) {
    let mut spans: Vec<LabelSpan> = Vec::new();
    match parse(line, 64, &mut spans) {
        Err(e) => (e.reason, e.detail),
        Ok(_) => panic!("{line}: accepted"),
    }
}

#[test]
fn exemplars_are_checked_then_dropped() {
    assert_eq!(
        sample(r#"a_total 1 # {trace_id="KOO5S4vxi0o"} 0.67"#),
        (None, Some(0.67))
    );
    let (ts, x) = sample(r#"a_bucket{le="10"} 17 1520879607.5 # {t="x"} 9.8 1520879607.789"#);
    assert_eq!(ts, Some((1_520_879_607_500_000_000, "1520879607.5".into())));
    assert_eq!(x, Some(9.8));
    // A '#' inside a label value is not an exemplar; an empty exemplar label set is one.
    assert_eq!(
        sample(r#"a_total{foo="bar # "} 1 # {} 4"#),
        (None, Some(4.0))
    );
    // Exactly 128 characters (not bytes) of label names and values; escapes count once.
    let wide = format!("a_total 1 # {{a=\"☃{}\"}} 1", "x".repeat(126));
    assert_eq!(sample(&wide).1, Some(1.0));
    let escaped = format!("a_total 1 # {{a=\"\\\"{}\"}} 1", "x".repeat(126));
    assert_eq!(sample(&escaped).1, Some(1.0));
    let over = format!("a_total 1 # {{a=\"{}\"}} 1", "x".repeat(128));
    let (reason, detail) = refused(&over);
    assert_eq!(reason, Reason::BadLabels);
    assert!(detail.contains("129 characters"), "{detail}");
    for (line, reason) in [
        ("a_total 1 #", Reason::TrailingGarbage),
        ("a_total 1 #{} 1", Reason::TrailingGarbage),
        ("a_total 1 # {}1", Reason::BadValue),
        ("a_total 1 # {} 1 ", Reason::TrailingGarbage),
        ("a_total 1 # {} 1 1 ", Reason::TrailingGarbage),
        ("a_total 1 # {} 1 1 1", Reason::TrailingGarbage),
        ("a_total 1 # {} 0x1p-3", Reason::BadValue),
        ("a_total 1 # {} 1 NaN", Reason::BadTimestamp),
        ("a_total 1 # {a=\"1\",a=\"2\"} 1", Reason::BadLabels),
        ("a_total 1 # {a=\"1\",} 1", Reason::BadLabels),
        ("a_total 1 # {a=1} 1", Reason::BadLabels),
    ] {
        assert_eq!(refused(line).0, reason, "{line}");
    }
}

#[test]
fn lines_are_strict() {
    for (line, reason, detail) in [
        (
            "",
            Reason::BadMetricName,
            "empty line: OpenMetrics allows no blank lines at column 1",
        ),
        (
            " a 1",
            Reason::BadMetricName,
            "leading whitespace: OpenMetrics lines start with a metric name or '#' at column 1",
        ),
        (
            "a 1\r",
            Reason::TrailingGarbage,
            "carriage return: OpenMetrics lines end with a line feed alone at column 4",
        ),
        (
            "a  1",
            Reason::BadValue,
            "expected a value after one space at column 3",
        ),
        (
            "a 1 ",
            Reason::TrailingGarbage,
            "trailing space at column 4",
        ),
        (
            "a 1  2",
            Reason::BadTimestamp,
            "expected a timestamp after one space at column 5",
        ),
        (
            "a 1 1 2",
            Reason::TrailingGarbage,
            "unexpected \"2\" at column 7",
        ),
        (
            "a{b = \"1\"} 1",
            Reason::BadLabels,
            "expected '=' after label name at column 4",
        ),
        (
            "a{ b=\"1\"} 1",
            Reason::BadLabels,
            "label name must start with a letter or '_' at column 3",
        ),
        (
            "a{b=\"1\"}1",
            Reason::BadValue,
            "expected one space before the value at column 9",
        ),
        (
            "a{b=\"1\",} 1",
            Reason::BadLabels,
            "label name must start with a letter or '_' at column 9",
        ),
        (
            "a -nan",
            Reason::BadValue,
            "value \"-nan\" is not a number at column 3",
        ),
        (
            "a 1 1e",
            Reason::BadTimestamp,
            "timestamp \"1e\" is not a number of seconds at column 5",
        ),
        (
            "#",
            Reason::BadMetadata,
            "a '#' line must be '# TYPE', '# HELP', '# UNIT' or '# EOF' in OpenMetrics at column 1",
        ),
        (
            "# EOF ",
            Reason::BadMetadata,
            "a '#' line must be '# TYPE', '# HELP', '# UNIT' or '# EOF' in OpenMetrics at column 1",
        ),
        (
            "# TYPE a untyped",
            Reason::BadMetadata,
            "type \"untyped\" is Prometheus text's; OpenMetrics says \"unknown\" at column 10",
        ),
        (
            "# HELP a",
            Reason::BadMetadata,
            "# HELP a needs a space and a value after the name at column 9",
        ),
        (
            "# HELP a x\\",
            Reason::BadMetadata,
            "# HELP text ends with a lone backslash at column 11",
        ),
        (
            "# UNIT a_s s!",
            Reason::BadMetadata,
            "a unit has only letters, digits, '_' and ':' at column 13",
        ),
    ] {
        assert_eq!(refused(line), (reason, detail.to_string()), "{line:?}");
    }
    // What the grammar allows: any escape, empty help and unit, NUL, `{}`.
    let mut spans = Vec::new();
    for line in [
        r#"a_total{foo="b\\a\z # "} 4"#,
        "# HELP a he\\n\\\\l\\tp \" \0",
        "# HELP a ",
        "# UNIT a ",
        "# TYPE a gaugehistogram",
        "a{} 1",
        "# EOF",
    ] {
        assert!(parse(line, 64, &mut spans).is_ok(), "{line}");
    }
}

proptest::proptest! {
    /// Any time in the nanosecond range, written in seconds with nine decimals, with fewer
    /// (trailing zeros cut), in exponent form, or with digits past the nanosecond, is read
    /// back to its nanosecond (rounded to the nearest, ties to even).
    #[test]
    fn decimal_seconds_round_trip(t in -9_000_000_000_000_000_000i64..9_000_000_000_000_000_000i64,
                                  extra in "[0-9]{0,6}", shift in 0u32..12) {
        let (sign, a) = (if t < 0 { "-" } else { "" }, t.unsigned_abs());
        let (secs, frac) = (a / 1_000_000_000, a % 1_000_000_000);
        let plain = format!("{sign}{secs}.{frac:09}");
        proptest::prop_assert_eq!(ns(&plain), Some(i128::from(t)), "{}", plain);
        let cut = plain.trim_end_matches('0').to_string();
        proptest::prop_assert_eq!(ns(&cut), Some(i128::from(t)), "{}", cut);
        // The same digits with the point moved `shift` places left and an exponent back.
        let digits = format!("{secs}{frac:09}");
        let exp = format!("{sign}{}e{}", digits, i64::from(shift) - 9);
        let shifted = i128::from(t) * 10i128.pow(shift);
        proptest::prop_assert_eq!(ns(&exp), Some(shifted.clamp(-(10i128.pow(30)), 10i128.pow(30))), "{}", exp);
        // Sub-nanosecond digits round.
        let longer = format!("{plain}{extra}");
        let rest: u64 = if extra.is_empty() { 0 } else { extra.parse().unwrap() };
        let half = if extra.is_empty() { 1 } else { 5 * 10u64.pow(u32::try_from(extra.len()).unwrap() - 1) };
        let up = rest > half || (rest == half && frac % 2 == 1);
        let want = i128::from(a) + i128::from(up && !extra.is_empty());
        let want = if t < 0 { -want } else { want };
        proptest::prop_assert_eq!(ns(&longer), Some(want), "{}", longer);
    }

    /// A float of seconds with millisecond precision, as Rust prints it (shortest form, or
    /// exponent form), is read back to exactly its millisecond.
    #[test]
    fn float_seconds_round_trip(ms in -4_000_000_000_000i64..4_000_000_000_000i64) {
        let x = ms as f64 / 1000.0;
        for text in [format!("{x}"), format!("{x:e}"), format!("{x:.3}")] {
            proptest::prop_assert_eq!(ns(&text), Some(i128::from(ms) * 1_000_000), "{}", text);
        }
    }
}
