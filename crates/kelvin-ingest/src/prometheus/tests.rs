//! Unit tests of the Prometheus text decoder.

use super::line::{fast_f64, fast_i64};
use super::*;
use kelvin_model::SensorKind;

fn check_err(line: &str, reason: Reason, detail: &str) {
    let e = parse_line(line, 64).unwrap_err();
    assert_eq!(e.reason, reason, "{line}: {}", e.detail);
    assert_eq!(e.detail, detail, "{line}");
}

#[test]
fn samples_parse() {
    let Line::Sample(s) = parse_line(
        r#"node_hwmon_temp_celsius{chip="platform_coretemp_0",sensor="temp1"} 55 1700000000123"#,
        64,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(s.metric, "node_hwmon_temp_celsius");
    assert_eq!(s.labels[1], ("sensor".into(), "temp1".into()));
    assert_eq!((s.value, s.timestamp_ms), (55.0, Some(1_700_000_000_123)));
    let Line::Sample(s) = parse_line(r#"a{b="x\"y\\z\n",} -1.5e3"#, 64).unwrap() else {
        panic!()
    };
    assert_eq!(s.labels, vec![("b".into(), "x\"y\\z\n".into())]);
    assert_eq!((s.value, s.timestamp_ms), (-1500.0, None));
    let Line::Sample(s) = parse_line("up NaN", 64).unwrap() else {
        panic!()
    };
    assert!(s.value.is_nan());
    let Line::Sample(s) = parse_line("x{} +Inf", 64).unwrap() else {
        panic!()
    };
    assert!(s.value.is_infinite());
    assert_eq!(parse_line("# TYPE x counter", 64).unwrap(), Line::Skip);
    assert_eq!(parse_line("# just a comment", 64).unwrap(), Line::Skip);
    assert_eq!(parse_line("   ", 64).unwrap(), Line::Skip);
    assert_eq!(parse_line("# EOF", 64).unwrap(), Line::Skip);
}

#[test]
fn malformed_lines_say_where_and_why() {
    check_err(
        "9x 1",
        Reason::BadMetricName,
        "metric name must start with a letter, '_' or ':' at column 1",
    );
    check_err(
        "x{a=\"1\" 2",
        Reason::BadLabels,
        "expected ',' or '}' after label value at column 9",
    );
    check_err(
        "x{a=1} 2",
        Reason::BadLabels,
        "expected '\"' to open label value at column 5",
    );
    check_err(
        "x{a=\"1} 2",
        Reason::BadLabels,
        "unterminated label value at column 10",
    );
    // An unknown escape is kept as written, as Prometheus' own parser keeps it.
    let Line::Sample(s) = parse_line("x{a=\"\\t\"} 2", 64).unwrap() else {
        panic!()
    };
    assert_eq!(s.labels, vec![("a".into(), "\\t".into())]);
    check_err(
        "x{a=\"\\",
        Reason::BadLabels,
        "unterminated label value at column 7",
    );
    check_err(
        "x{a=\"1\",a=\"2\"} 2",
        Reason::BadLabels,
        "duplicate label \"a\" at column 9",
    );
    check_err(
        "x twelve",
        Reason::BadValue,
        "value \"twelve\" is not a number at column 3",
    );
    check_err("x", Reason::BadValue, "missing value at column 2");
    check_err(
        "x 1 1.5",
        Reason::BadTimestamp,
        "timestamp \"1.5\" is not integer milliseconds at column 5",
    );
    check_err(
        "x 1 2 3",
        Reason::TrailingGarbage,
        "unexpected \"3\" at column 7",
    );
    check_err(
        "x-y 1",
        Reason::BadMetricName,
        "invalid character in metric name at column 2",
    );
    check_err(
        "# TYPE x speed",
        Reason::BadMetadata,
        "unknown metric type \"speed\" at column 3",
    );
    check_err(
        "# TYPE",
        Reason::BadMetadata,
        "# TYPE without a valid metric name at column 3",
    );
    check_err(
        "# HELP x\u{a0}y a non-ASCII space is not a separator",
        Reason::BadMetadata,
        "# HELP without a valid metric name at column 3",
    );
    check_err(
        "# TYPE x-y gauge",
        Reason::BadMetadata,
        "# TYPE without a valid metric name at column 3",
    );
    assert_eq!(
        parse_line("x{a=\"1\",b=\"2\"} 1", 1).unwrap_err().reason,
        Reason::TooManyLabels
    );
}

#[test]
fn metadata_words_are_split_on_ascii_blanks() {
    for ok in [
        "# TYPE x counter",
        "#TYPE x counter",
        "#\tTYPE\tx\tgauge\t",
        "# TYPE x gauge\x0b",
        "# HELP x Sekunden, die die CPU verbrachte — ünïcödé",
        "# HELP x",
        "# UNIT x_seconds seconds",
        "# any comment — ✓",
        "#",
    ] {
        assert!(matches!(parse_line(ok, 1), Ok(Line::Skip)), "{ok:?}");
    }
}

proptest::proptest! {
    #[test]
    fn fast_number_paths_agree_with_the_standard_parsers(x in proptest::num::f64::ANY, i in proptest::num::i64::ANY,
                                                        digits in "-?[0-9]{1,17}(\\.[0-9]{0,17})?") {
        for text in [format!("{x}"), format!("{x:.3}"), format!("{x:.9}"), digits.clone()] {
            if let Some(v) = fast_f64(text.as_bytes()) {
                let expected: f64 = text.parse().unwrap();
                proptest::prop_assert_eq!(v.to_bits(), expected.to_bits(), "{}", text);
            }
        }
        let t = i.to_string();
        if let Some(v) = fast_i64(t.as_bytes()) {
            proptest::prop_assert_eq!(v, i);
        }
    }
}

#[test]
fn fast_paths_decline_what_they_cannot_do_exactly() {
    for s in [
        "",
        "-",
        ".",
        "1e3",
        "NaN",
        "+Inf",
        "1.2.3",
        "12345678901234567",
        "0x10",
        "1_000",
    ] {
        assert!(fast_f64(s.as_bytes()).is_none(), "{s}");
    }
    assert_eq!(fast_f64(b"-0"), Some(-0.0));
    assert!(fast_f64(b"-0").unwrap().is_sign_negative());
    assert_eq!(fast_f64(b"123.456789"), Some(123.456789));
    assert_eq!(fast_i64(b"1793606400000"), Some(1_793_606_400_000));
    assert_eq!(fast_i64(b"1234567890123456789"), None);
}

#[test]
fn push_in_pieces_equals_whole() {
    let text = "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 200 1000\n\
                ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 210 2000\n\
                bad line here\n\
                ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 220 3000";
    let rules = RuleSet::builtin();
    let whole = parse_str(text, "s", &rules, &ParseOptions::default());
    for chunk in [1, 2, 7, 64] {
        let mut d = Decoder::new("s", &rules, ParseOptions::default());
        for c in text.as_bytes().chunks(chunk) {
            d.push(c);
        }
        let b = d.finish();
        assert_eq!(b.readings, whole.readings, "chunk {chunk}");
        assert_eq!(b.quarantine, whole.quarantine, "chunk {chunk}");
    }
    assert_eq!(whole.readings.len(), 3);
    assert_eq!(whole.readings[2].value, 220.0);
    assert_eq!(whole.quarantine[0].place, Place::line("s", 3));
}

#[test]
fn record_and_output_limits_hold_across_drains() {
    let rules = RuleSet::builtin();
    let text = "a 1\nb 2\n# c\nd 3\ne 4\n";
    let opts = ParseOptions::default().with_max_records(2);
    let b = parse_str(text, "s", &rules, &opts);
    assert_eq!((b.stats.seen, b.stats.quarantined), (3, 3));
    assert_eq!(b.quarantine[2].reason, Reason::TooManyRecords);
    assert_eq!(b.quarantine[2].place.to_string(), "s:4");
    // unlimited by default, for streams drained by their caller
    assert_eq!(
        parse_str(text, "s", &rules, &ParseOptions::default())
            .stats
            .seen,
        4
    );
    // the output budget is per drain
    let opts = ParseOptions::default()
        .with_max_output_bytes(1_000)
        .with_every_unmapped(true);
    let mut d = Decoder::new("s", &rules, opts);
    d.push_str(&"x 1\n".repeat(20));
    let first = d.drain();
    assert!(first.kept_bytes() <= 1_000 && first.stats.seen == 20);
    assert!(first.stats.by_reason.contains_key(&Reason::TooManyRecords));
    d.push_str("y 1\n");
    let second = d.finish();
    assert_eq!(second.quarantine.len(), 1);
    assert_eq!(second.quarantine[0].reason, Reason::UnmappedMetric);
}

#[test]
fn unmapped_repeats_are_counted_with_one_example_per_family_and_source() {
    let rules = RuleSet::builtin();
    let text = "x 1\nx 2\ny 3\nx 4\n";
    let opts = ParseOptions::default().with_every_unmapped(true);
    let every = parse_str(text, "s", &rules, &opts);
    assert_eq!((every.stats.quarantined, every.quarantine.len()), (4, 4));
    let opts = ParseOptions::default();
    assert!(
        !opts.every_unmapped,
        "one example per family is the default"
    );
    let b = parse_str(text, "s", &rules, &opts);
    assert_eq!((b.stats.seen, b.stats.quarantined), (4, 4));
    assert_eq!(b.stats.by_reason[&Reason::UnmappedMetric], 4);
    let kept: Vec<&str> = b.quarantine.iter().map(|q| q.excerpt.as_str()).collect();
    assert_eq!(kept, ["x 1", "y 3"]);
    // A later exposition keeps no second example, nor does a later decoder of the same
    // source given its cache; a fresh cache keeps one again.
    let mut d = Decoder::new("s", &rules, opts.clone());
    d.push_str("x 1\nx 2\n");
    d.end_exposition();
    d.push_str("x 3\n");
    let (mut b, cache) = d.finish_with_cache();
    assert_eq!((b.quarantine.len(), b.stats.quarantined), (1, 3));
    let mut d = Decoder::new("s", &rules, opts.clone()).with_cache(cache);
    d.push_str("x 4\ny 5\n");
    let (later, mut cache) = d.finish_with_cache();
    let kept: Vec<&str> = later
        .quarantine
        .iter()
        .map(|q| q.excerpt.as_str())
        .collect();
    assert_eq!((kept, later.stats.quarantined), (vec!["y 5"], 2));
    let again = parse_str_cached("x 6\ny 7\n", "s", &rules, &opts, &mut cache);
    assert_eq!((again.quarantine.len(), again.stats.quarantined), (0, 2));
    let fresh = parse_str_cached("x 6\n", "s", &rules, &opts, &mut SeriesCache::default());
    assert_eq!(fresh.quarantine.len(), 1);
    // The quarantine log counts every sample, kept or not.
    let mut log = crate::QuarantineLog::default();
    log.extend_from_batch(&mut b);
    assert_eq!(log.count_of(Reason::UnmappedMetric), 3);
    // A histogram's buckets, sum and count are one family: one example.
    let h = "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\nh_created 1\n";
    let b = parse_str(h, "s", &rules, &opts);
    assert_eq!((b.quarantine.len(), b.stats.quarantined), (1, 5));
    assert_eq!(b.quarantine[0].place.to_string(), "s:1");
    // The record limit still holds.
    let opts = ParseOptions::default().with_max_records(2);
    let b = parse_str("x 1\nx 2\nx 3\nx 4\n", "s", &rules, &opts);
    assert_eq!(b.stats.by_reason[&Reason::TooManyRecords], 1);
    assert_eq!(b.stats.seen, 3);
}

#[test]
fn overlong_lines_are_bounded_and_quarantined() {
    let rules = RuleSet::builtin();
    let opts = ParseOptions::default().with_max_line_bytes(100);
    let long = format!(
        "x{{a=\"{}\"}} 1 1\nipmi_dcmi_power_consumption_watts{{instance=\"h\"}} 5 1\n",
        "y".repeat(10_000)
    );
    let mut d = Decoder::new("s", &rules, opts);
    for c in long.as_bytes().chunks(333) {
        d.push(c);
        assert!(d.pending.len() <= 100 + 333);
    }
    let b = d.finish();
    assert_eq!(b.stats.by_reason.get(&Reason::LineTooLong), Some(&1));
    assert_eq!(b.quarantine[0].excerpt.len(), Quarantined::EXCERPT_BYTES);
    assert_eq!(b.readings.len(), 1);
    assert_eq!(b.readings[0].ts, Timestamp::from_millis(1));
}

#[test]
fn mapping_outcomes_are_counted() {
    let text = "\
container_cpu_usage_seconds_total{pod=\"w1\",container=\"main\"} 12.5 1000
container_cpu_usage_seconds_total{pod=\"w1\",container=\"\"} 13 1000
go_goroutines 12 1000
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet Temp\"} 24 
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet Temp\"} NaN 2000
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet Temp\"} +Inf 3000
ipmi_temperature_celsius{instance=\"bad host\",name=\"Inlet Temp\"} 1 3000
";
    let b = parse_str(text, "t", &RuleSet::builtin(), &ParseOptions::default());
    assert_eq!(b.stats.seen, 7);
    assert_eq!(b.stats.accepted, 2);
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    let reasons: Vec<Reason> = b.quarantine.iter().map(|q| q.reason).collect();
    assert_eq!(
        reasons,
        [
            Reason::MissingLabel,
            Reason::UnmappedMetric,
            Reason::MissingTimestamp,
            Reason::NonFiniteValue,
            Reason::InvalidEntity
        ]
    );
    assert_eq!(b.readings[0].kind, SensorKind::CpuTime);
    assert_eq!(b.readings[0].sensor, "main");
    assert_eq!(b.readings[1].quality, Quality::Absent);

    let rules = RuleSet::builtin();
    let mut d = Decoder::new("bin", &rules, ParseOptions::default());
    d.push(b"up 1 1\n\xff\xfe 1 1\n");
    let b = d.finish();
    assert_eq!(b.stats.by_reason.get(&Reason::NotUtf8), Some(&1));
    assert_eq!(b.quarantine[1].place, Place::line("bin", 2));
}
