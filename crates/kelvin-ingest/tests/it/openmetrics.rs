//! OpenMetrics 1.0 input: a full exposition, each thing the specification forbids quarantined
//! with its reason and line, the `Auto` detection rule (whole and streamed), and Prometheus
//! text read as before.

use std::collections::HashSet;
use std::sync::Arc;

use kelvin_ingest::prometheus::{
    self, AUTO_DETECT_BYTES, Decoder, Exposition, format_of_body, format_of_content_type,
};
use kelvin_ingest::{
    Admission, Batch, Decoders, IngestBatch, Normalizer, ParseOptions, Reason, RuleSet,
};
use kelvin_model::{EntityId, Quality, SensorKind, Timestamp};
use proptest::prelude::*;

/// 2026-11-02T08:00:00Z, in seconds.
const T: i64 = 1_793_606_400;

fn at(ns_after: i64) -> Timestamp {
    Timestamp::from_nanos(T * 1_000_000_000 + ns_after)
}

/// A real-world-shaped exposition: every metric type, units, exemplars, `NaN`, `+Inf`
/// buckets, escapes, `_created`, timestamps in seconds, `# EOF`.
const FULL: &str = r#"# TYPE ipmi_dcmi_power_consumption_watts gauge
# UNIT ipmi_dcmi_power_consumption_watts watts
# HELP ipmi_dcmi_power_consumption_watts Current power consumption in watts.
ipmi_dcmi_power_consumption_watts{instance="h1:9290"} 212.5 1793606400.25
# TYPE ipmi_temperature_celsius gauge
# UNIT ipmi_temperature_celsius celsius
# HELP ipmi_temperature_celsius Temperature in degrees Celsius (\"inlet\" and more).
ipmi_temperature_celsius{instance="h1:9290",name="Inlet Temp"} 24 1793606400.25
ipmi_temperature_celsius{instance="h1:9290",name="Exhaust \"rear\" \z"} NaN 1793606400.25
# TYPE kepler_container_joules counter
# UNIT kepler_container_joules joules
# HELP kepler_container_joules Energy a container used.
kepler_container_joules_total{pod_name="w1",container_name="main",mode="dynamic"} 1534.75 1.79360640025e9 # {trace_id="4bf92f3577b34da6"} 0.5 1793606399.9
kepler_container_joules_created{pod_name="w1",container_name="main",mode="dynamic"} 1793600000.0 1.79360640025e9
# TYPE http_request_duration_seconds histogram
# UNIT http_request_duration_seconds seconds
# HELP http_request_duration_seconds Latency of HTTP requests.
http_request_duration_seconds_bucket{path="/api",le="0.1"} 8 # {trace_id="KOO5S4vxi0o"} 0.054
http_request_duration_seconds_bucket{path="/api",le="1.0"} 11 # {trace_id="oHg5SJYRHA0"} 0.67 1793606399.5
http_request_duration_seconds_bucket{path="/api",le="+Inf"} 17 # {} 9.8
http_request_duration_seconds_count{path="/api"} 17
http_request_duration_seconds_sum{path="/api"} 42.5
http_request_duration_seconds_created{path="/api"} 1793600000.0
http_request_duration_seconds_bucket{path="/",le="0.1"} 0
http_request_duration_seconds_bucket{path="/",le="1.0"} 0
http_request_duration_seconds_bucket{path="/",le="+Inf"} 0
http_request_duration_seconds_count{path="/"} 0
http_request_duration_seconds_sum{path="/"} 0
# TYPE queue_wait_seconds gaugehistogram
# UNIT queue_wait_seconds seconds
queue_wait_seconds_bucket{le="-1"} 1
queue_wait_seconds_bucket{le="1"} 3
queue_wait_seconds_bucket{le="+Inf"} 5
queue_wait_seconds_gcount 5
queue_wait_seconds_gsum -7.25
# TYPE rpc_latency_seconds summary
rpc_latency_seconds{quantile="0.5"} 0.2
rpc_latency_seconds{quantile="0.99"} NaN
rpc_latency_seconds_count 120
rpc_latency_seconds_sum 30.5
rpc_latency_seconds_created 1793600000.0
# TYPE exporter_build info
# HELP exporter_build Build of the exporter.
exporter_build_info{version="1.8.2",revision="ef176e5",branch="a\\b # {c}"} 1
# TYPE psu_state stateset
psu_state{psu="1",psu_state="ok"} 1
psu_state{psu="1",psu_state="failed"} 0.0
psu_state{psu="2",psu_state="ok"} 0
psu_state{psu="2",psu_state="failed"} 1
# TYPE process_open_fds unknown
process_open_fds 42
process_start_time_seconds 1793600000.0
up{} 1
# EOF
"#;

fn rules() -> RuleSet {
    RuleSet::builtin()
}

fn parse(text: &str, format: Exposition) -> IngestBatch {
    let opts = ParseOptions::default().with_format(format);
    prometheus::parse_str(text, "om", &rules(), &opts)
}

/// `text` pushed in `chunk`-byte pieces, drained after every piece.
fn pushed(text: &str, format: Exposition, chunk: usize) -> IngestBatch {
    let rules = rules();
    let opts = ParseOptions::default().with_format(format);
    let mut d = Decoder::new("om", &rules, opts);
    let mut all = IngestBatch::default();
    for c in text.as_bytes().chunks(chunk.max(1)) {
        d.push(c);
        all.append(d.drain());
    }
    all.append(d.finish());
    all
}

/// The quarantine but the unmapped metrics: `(line, reason, detail)`.
fn refused(b: &IngestBatch) -> Vec<(String, Reason, String)> {
    b.quarantine
        .iter()
        .filter(|q| q.reason != Reason::UnmappedMetric)
        .map(|q| (q.place.to_string(), q.reason, q.detail.clone()))
        .collect()
}

fn same(a: &IngestBatch, b: &IngestBatch, what: &str) {
    assert_eq!(a.stats, b.stats, "{what}");
    assert_eq!(
        format!("{:?}", a.readings),
        format!("{:?}", b.readings),
        "{what}"
    );
    assert_eq!(a.quarantine, b.quarantine, "{what}");
}

#[test]
fn a_full_exposition_is_accepted() {
    let b = parse(FULL, Exposition::OpenMetrics1);
    assert_eq!(refused(&b), [], "only unmapped metrics are quarantined");
    let samples = FULL.lines().filter(|l| !l.starts_with('#')).count() as u64;
    assert_eq!(b.stats.seen, samples);
    assert_eq!(b.stats.accepted, 4);
    let r = &b.readings;
    assert_eq!(
        (r[0].kind, r[0].value, r[0].ts),
        (SensorKind::Power, 212.5, at(250_000_000))
    );
    assert_eq!(r[0].entity, EntityId::new("h1").unwrap());
    assert_eq!((r[1].sensor.as_str(), r[1].value), ("Inlet Temp", 24.0));
    // NaN is a value like any other in OpenMetrics: an absent reading, not a refusal. An
    // unknown escape stays as written.
    assert_eq!(r[2].sensor.as_str(), r#"Exhaust "rear" \z"#);
    assert_eq!(r[2].quality, Quality::Absent);
    // The counter's total, its exemplar dropped, at 1.79360640025e9 s exactly.
    assert_eq!(r[3].kind, SensorKind::Energy);
    assert_eq!(r[3].sensor.as_str(), "kepler/main/dynamic");
    assert_eq!((r[3].value, r[3].ts), (1534.75, at(250_000_000)));

    // Recognized without being declared (its last line is `# EOF`), whole or pushed.
    assert_eq!(format_of_body(FULL), Exposition::OpenMetrics1);
    same(&parse(FULL, Exposition::Auto), &b, "auto");
    for chunk in [1, 7, 64, 4096] {
        same(&pushed(FULL, Exposition::Auto, chunk), &b, "auto, pushed");
        same(&pushed(FULL, Exposition::OpenMetrics1, chunk), &b, "pushed");
    }

    // Read as Prometheus text, it is not: timestamps are integer milliseconds there, and an
    // exemplar's '#' is no timestamp either.
    let text = parse(FULL, Exposition::Text004);
    assert_eq!(text.stats.accepted, 0);
    let reasons: HashSet<Reason> = refused(&text).iter().map(|r| r.1).collect();
    assert_eq!(reasons, HashSet::from([Reason::BadTimestamp]));
}

/// A small exposition: `lines` then `# EOF`.
fn exposition(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    s.push_str("\n# EOF\n");
    s
}

#[test]
fn each_forbidden_thing_is_quarantined_with_its_reason_and_line() {
    use Reason::*;
    let power = |v: &str| format!("ipmi_dcmi_power_consumption_watts{{instance=\"h1\"}} {v}");
    let long = format!("a_total 1 # {{id=\"{}\"}} 1", "x".repeat(127));
    let power_far = power("1 1e12");
    #[rustfmt::skip]
    let cases: Vec<(Vec<&str>, u64, Reason, &str)> = vec![
        // names
        (vec!["0a 1"], 1, BadMetricName, "metric name must start with"),
        (vec!["a.b 1"], 1, BadMetricName, "invalid character in metric name"),
        (vec!["# TYPE a counter", "a 1"], 2, BadMetricName, "whose samples are named a_total, a_created"),
        // labels
        (vec!["a{0=\"1\"} 1"], 1, BadLabels, "label name must start"),
        (vec!["a{b=\"1\",b=\"2\"} 1"], 1, BadLabels, "duplicate label \"b\""),
        (vec!["a{b = \"1\"} 1"], 1, BadLabels, "expected '=' after label name"),
        (vec!["a{b=\"1\",} 1"], 1, BadLabels, "label name must start"),
        (vec!["a{b=\"1} 1"], 1, BadLabels, "unterminated label value"),
        (vec!["# TYPE h histogram", "h_bucket 1"], 2, BadLabels, "needs a label le"),
        (vec!["# TYPE h histogram", "h_bucket{le=\"+INF\"} 1"], 2, BadLabels, "is not a number"),
        (vec!["# TYPE h histogram", "h_sum{le=\"1\"} 1"], 2, BadLabels, "label le is only for"),
        (vec!["# TYPE s summary", "s{quantile=\"1.5\"} 1"], 2, BadLabels, "from 0 to 1"),
        (vec!["# TYPE s stateset", "s{x=\"a\"} 1"], 2, BadLabels, "needs a label s"),
        // values
        (vec!["a 0x1"], 1, BadValue, "value \"0x1\" is not a number"),
        (vec!["a -NaN"], 1, BadValue, "value \"-NaN\" is not a number"),
        (vec!["a  1"], 1, BadValue, "expected a value after one space"),
        (vec!["# TYPE c counter", "c_total NaN"], 2, BadValue, "neither NaN nor negative"),
        (vec!["# TYPE c counter", "c_total -1"], 2, BadValue, "neither NaN nor negative"),
        (vec!["# TYPE h histogram", "h_bucket{le=\"+Inf\"} 1.5"], 2, BadValue, "non-negative integer"),
        (vec!["# TYPE s summary", "s_sum NaN"], 2, BadValue, "neither NaN nor negative"),
        (vec!["# TYPE s stateset", "s{s=\"a\"} 2"], 2, BadValue, "0 or 1"),
        (vec!["# TYPE i info", "i_info{v=\"1\"} 2"], 2, BadValue, "an info's value is 1"),
        // timestamps
        (vec!["a 1 NaN"], 1, BadTimestamp, "not a number of seconds"),
        (vec!["a 1 0x10"], 1, BadTimestamp, "not a number of seconds"),
        (vec!["a 1 1_000"], 1, BadTimestamp, "not a number of seconds"),
        (vec![&power_far], 1, BadTimestamp, "1e12 s is outside the nanosecond range"),
        (vec!["a 1 2", "a 1 1"], 2, BadTimestamp, "goes back in time"),
        (vec!["a 1 1", "a 1"], 2, BadTimestamp, "has no timestamp"),
        // exemplars
        (vec!["# TYPE g gauge", "g 1 # {id=\"x\"} 1"], 2, TrailingGarbage, "only counter totals and histogram buckets"),
        (vec!["# TYPE c counter", "c_created 1 # {id=\"x\"} 1"], 2, TrailingGarbage, "only counter totals"),
        (vec!["# TYPE a counter", &long], 2, BadLabels, "129 characters, over OpenMetrics' 128"),
        (vec!["# TYPE a counter", "a_total 1 # {id=\"x\"}"], 2, BadValue, "exemplar: expected a value"),
        (vec!["# TYPE a counter", "a_total 1 #{} 1"], 2, TrailingGarbage, "to open an exemplar"),
        (vec!["# TYPE a counter", "a_total 1 # {} 1 NaN"], 2, BadTimestamp, "exemplar timestamp"),
        (vec!["# TYPE h histogram", "h_bucket{le=\"1\"} 1 # {} 2", "h_bucket{le=\"+Inf\"} 1"], 2, BadValue, "above its bucket's le"),
        // lines and metadata
        (vec!["a 1", "", "b 1"], 2, BadMetricName, "empty line"),
        (vec![" a 1"], 1, BadMetricName, "leading whitespace"),
        (vec!["a 1\r"], 1, TrailingGarbage, "carriage return"),
        (vec!["a 1 "], 1, TrailingGarbage, "trailing space"),
        (vec!["# a comment"], 1, BadMetadata, "must be '# TYPE', '# HELP', '# UNIT' or '# EOF'"),
        (vec!["# TYPE a untyped"], 1, BadMetadata, "OpenMetrics says \"unknown\""),
        (vec!["# TYPE a speed"], 1, BadMetadata, "unknown metric type \"speed\""),
        (vec!["# TYPE a gauge", "# TYPE a gauge"], 2, BadMetadata, "second # TYPE for a"),
        (vec!["# TYPE a gauge", "a 1", "# HELP a late"], 3, BadMetadata, "after its samples"),
        (vec!["# TYPE a_seconds gauge", "# UNIT a_seconds ms"], 2, BadMetadata, "not the suffix _ms"),
        (vec!["# TYPE a_u info", "# UNIT a_u u"], 2, BadMetadata, "an info family has no unit"),
        (vec!["# TYPE a counter", "# TYPE a_created gauge"], 2, BadMetadata, "clashes with counter family a"),
        (vec!["# TYPE a_created gauge", "# TYPE a counter"], 2, BadMetadata, "an earlier family's name"),
        // order
        (vec!["a 1", "b 1", "a 2"], 3, Duplicate, "family a was already exposed (line 1)"),
        (vec!["# TYPE a counter", "a_total 1", "b 1", "a_total 2"], 4, Duplicate, "forbids interleaved"),
        (vec!["a 1", "# TYPE b gauge", "# TYPE a gauge"], 3, BadMetadata, "already exposed (line 1)"),
        (vec!["a{x=\"1\"} 1", "a{x=\"2\"} 1", "a{x=\"1\"} 2"], 3, Duplicate, "metric a{x=\"1\"} was already exposed"),
        (vec!["# TYPE h histogram", "h_bucket{le=\"2\"} 0", "h_bucket{le=\"1\"} 0", "h_bucket{le=\"+Inf\"} 0"], 3, BadLabels, "increasing le"),
        (vec!["# TYPE h histogram", "h_bucket{le=\"1\"} 2", "h_bucket{le=\"+Inf\"} 1"], 3, BadValue, "cumulative"),
        (vec!["# TYPE h histogram", "h_bucket{le=\"+Inf\"} 2", "h_count 3", "h_sum 1"], 3, BadValue, "differs from the point's +Inf bucket"),
        (vec!["# TYPE h histogram", "h_bucket{le=\"-1\"} 1", "h_bucket{le=\"+Inf\"} 2", "h_count 2", "h_sum 1"], 5, BadValue, "negative buckets has no _sum"),
        // a point that ends incomplete is named at its last line
        (vec!["# TYPE h histogram", "h_bucket{le=\"1\"} 1", "h_sum 1"], 3, BadField, "needs a bucket with le=\"+Inf\""),
        (vec!["# TYPE h histogram", "h_bucket{le=\"+Inf\"} 1", "h_count 1"], 3, BadField, "_count if and only if it has _sum"),
    ];
    for (lines, line, reason, detail) in &cases {
        let text = exposition(lines);
        let b = parse(&text, Exposition::OpenMetrics1);
        let got = refused(&b);
        assert_eq!(got.len(), 1, "{text}: {got:?}");
        let (place, r, d) = &got[0];
        assert_eq!(
            (place.as_str(), *r),
            (format!("om:{line}").as_str(), *reason),
            "{text}: {d}"
        );
        assert!(d.contains(detail), "{text}: {d:?} lacks {detail:?}");
        assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
        // The same, recognized (a timestamp's detail then says why it read seconds), and
        // pushed a byte at a time.
        let auto = parse(&text, Exposition::Auto);
        let shape = |b: &IngestBatch| -> Vec<(String, Reason)> {
            b.quarantine
                .iter()
                .map(|q| (q.place.to_string(), q.reason))
                .collect()
        };
        assert_eq!(shape(&auto), shape(&b), "{text}");
        same(&pushed(&text, Exposition::Auto, 1), &auto, &text);
    }
}

#[test]
fn eof_ends_the_exposition() {
    let power = "ipmi_dcmi_power_consumption_watts{instance=\"h1\"} 200 1793606400\n";
    // After `# EOF`: every line is refused, blank ones too.
    let text = format!("{power}# EOF\n{power}\n# EOF\n");
    let b = parse(&text, Exposition::OpenMetrics1);
    assert_eq!(b.stats.accepted, 1);
    let after: Vec<_> = refused(&b).into_iter().map(|(p, r, _)| (p, r)).collect();
    let garbage = Reason::TrailingGarbage;
    assert_eq!(
        after,
        [
            ("om:3".into(), garbage),
            ("om:4".into(), garbage),
            ("om:5".into(), garbage)
        ]
    );
    // Without `# EOF`, in OpenMetrics the exposition may be truncated: its samples are kept,
    // and one record at its last line says so.
    let b = parse(&format!("{power}{power}"), Exposition::OpenMetrics1);
    assert_eq!(b.stats.accepted, 2);
    let (place, reason, detail) = &refused(&b)[0];
    assert_eq!((place.as_str(), *reason), ("om:2", Reason::BadMetadata));
    assert!(detail.contains("without '# EOF'"), "{detail}");
    // An empty body has no sample to lose: nothing is reported.
    assert_eq!(parse("", Exposition::OpenMetrics1).stats.seen, 0);
    // `Auto` reads such a body as Prometheus text, whose timestamps are milliseconds.
    let b = parse(&format!("{power}{power}"), Exposition::Auto);
    assert_eq!(b.readings[0].ts, Timestamp::from_millis(1_793_606_400));
    assert_eq!(b.stats.quarantined, 0);
    // `# EOF` may be the last bytes, without its line feed.
    assert_eq!(
        parse(&format!("{power}# EOF"), Exposition::Auto).readings[0].ts,
        at(0)
    );
}

#[test]
fn the_auto_rule_and_content_types() {
    assert_eq!(format_of_body("a 1\n# EOF\n"), Exposition::OpenMetrics1);
    assert_eq!(format_of_body("# EOF"), Exposition::OpenMetrics1);
    assert_eq!(format_of_body("a 1\n# EOF\n\n"), Exposition::Text004);
    assert_eq!(format_of_body("a 1\n# EOF \n"), Exposition::Text004);
    assert_eq!(format_of_body("a 1\n# EOF\r\n"), Exposition::Text004);
    assert_eq!(format_of_body("a 1\nx# EOF\n"), Exposition::Text004);
    assert_eq!(format_of_body("# EOF\na 1\n"), Exposition::Text004);
    assert_eq!(format_of_body(""), Exposition::Text004);
    let big = format!("{}# EOF\n", "a 1\n".repeat(AUTO_DETECT_BYTES / 4));
    assert_eq!(format_of_body(&big), Exposition::Text004);
    for (ct, want) in [
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Exposition::OpenMetrics1,
        ),
        (
            "application/openmetrics-text;version=0.0.1",
            Exposition::OpenMetrics1,
        ),
        (" APPLICATION/OPENMETRICS-TEXT ", Exposition::OpenMetrics1),
        (
            "text/plain; version=0.0.4; charset=utf-8",
            Exposition::Text004,
        ),
        ("text/plain", Exposition::Text004),
        (
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily",
            Exposition::Auto,
        ),
        ("text/html", Exposition::Auto),
        ("", Exposition::Auto),
    ] {
        assert_eq!(format_of_content_type(ct), want, "{ct}");
    }
    // A body over the limit is text even when it ends with `# EOF`, whole or pushed.
    let line = "ipmi_dcmi_power_consumption_watts{instance=\"h1\"} 200 1793606400\n";
    let big = format!("{}# EOF\n", line.repeat(AUTO_DETECT_BYTES / line.len() + 1));
    let whole = parse(&big, Exposition::Auto);
    assert_eq!(whole.readings[0].ts, Timestamp::from_millis(1_793_606_400));
    same(&pushed(&big, Exposition::Auto, 1 << 16), &whole, "big");
}

#[test]
fn prometheus_text_reads_as_before() {
    let text = "\
# HELP ipmi_temperature_celsius Temperature.
# TYPE ipmi_temperature_celsius untyped
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet \\\"A\\\" \\z\\\\\"} 24 1793606400000

ipmi_temperature_celsius{ instance = \"h1:9290\" , name=\"NaN\", } NaN   1793606400000
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inf\"} +Inf 1793606400000
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Neg\"} -Inf 1793606400000
# a free comment
";
    for b in [
        parse(text, Exposition::Auto),
        parse(text, Exposition::Text004),
        pushed(text, Exposition::Auto, 3),
    ] {
        assert_eq!(b.readings.len(), 2);
        assert_eq!(b.readings[0].sensor.as_str(), "Inlet \"A\" \\z\\");
        assert_eq!(b.readings[0].ts, Timestamp::from_millis(1_793_606_400_000));
        assert_eq!(b.readings[1].quality, Quality::Absent);
        let reasons: Vec<Reason> = b.quarantine.iter().map(|q| q.reason).collect();
        assert_eq!(reasons, [Reason::NonFiniteValue, Reason::NonFiniteValue]);
    }
    // Declared OpenMetrics, the same text breaks many rules.
    let om = parse(text, Exposition::OpenMetrics1);
    assert_eq!(om.stats.accepted, 0);
}

#[test]
fn streaming_auto_emits_what_does_not_depend_on_the_format_at_once() {
    let rules = rules();
    let opts = ParseOptions::default().with_scrape_time(at(0));
    let mut d = Decoder::new("live", &rules, opts);
    // No timestamp, accepted by both formats: out at once.
    d.push_str("# TYPE ipmi_dcmi_power_consumption_watts gauge\n");
    d.push_str("ipmi_dcmi_power_consumption_watts{instance=\"h1\"} 200\n");
    assert_eq!(d.drain().readings.len(), 1);
    // A timestamp, whose unit the format decides: held until the exposition ends.
    d.push_str("ipmi_temperature_celsius{instance=\"h1\",name=\"Inlet\"} 24 1793606400.5\n");
    assert_eq!(d.drain().stats.seen, 0);
    d.push_str("# EOF\n");
    assert_eq!(d.drain().stats.seen, 0);
    // The next scrape starts a new exposition, which settles this one as OpenMetrics.
    d.set_scrape_time(at(15_000_000_000));
    let first = d.drain();
    assert_eq!(first.readings[0].ts, at(500_000_000));
    d.push_str("ipmi_dcmi_power_consumption_watts{instance=\"h1\"} 210\n# EOF\n");
    let second = d.finish();
    assert_eq!(second.readings[0].ts, at(15_000_000_000));
    assert_eq!(second.stats.quarantined, 0);
}

#[test]
fn batches_carry_their_exposition() {
    let known = Arc::new(HashSet::from([EntityId::new("h1").unwrap()]));
    let (rules, decoders, normalizer) = (
        RuleSet::builtin(),
        Decoders::builtin(),
        Normalizer::builtin(),
    );
    let admission = Admission {
        rules: &rules,
        decoders: &decoders,
        normalizer: &normalizer,
        known: &known,
        workloads: None,
    };
    let body = "ipmi_dcmi_power_consumption_watts{instance=\"h1\"} 200 1793606400\n";
    let om = Batch::prometheus("h1", body).with_exposition(Exposition::OpenMetrics1);
    assert!(matches!(
        om,
        Batch::PrometheusText {
            format: Exposition::OpenMetrics1,
            ..
        }
    ));
    // The poll time keeps it.
    let om = om.with_poll_time(at(1));
    let (_, b) = admission.decode(om);
    assert_eq!(b.readings[0].ts, at(0));
    assert_eq!(b.quarantine[0].reason, Reason::BadMetadata); // no `# EOF`
    let (_, b) = admission.decode(Batch::prometheus("h1", body));
    assert_eq!(b.readings[0].ts, Timestamp::from_millis(1_793_606_400));
    let readings = Batch::Readings(Vec::new()).with_exposition(Exposition::OpenMetrics1);
    assert!(matches!(readings, Batch::Readings(_)));
}

fn om_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("# TYPE ipmi_dcmi_power_consumption_watts gauge".to_string()),
        Just("# TYPE c counter".to_string()),
        Just("# UNIT c_seconds seconds".to_string()),
        Just("# HELP c some \\\"help\\\"".to_string()),
        Just("# EOF".to_string()),
        Just("# TYPE x untyped".to_string()),
        Just(String::new()),
        Just("c_total 3 # {id=\"a\"} 1 1793606400.5".to_string()),
        Just("c_total NaN".to_string()),
        Just("ipmi_dcmi_power_consumption_watts{instance=\"h1\"} 200".to_string()),
        Just("ipmi_dcmi_power_consumption_watts{instance=\"h1\"} 200 1793606400000".to_string()),
        Just("ipmi_dcmi_power_consumption_watts{instance=\"h1\"} 200 1793606400.25".to_string()),
        Just("h_bucket{le=\"+Inf\"} 1".to_string()),
        Just("a{b=\"\\z\"}  1\r".to_string()),
        "[ -~]{0,30}",
    ]
}

proptest! {
    /// Whatever mix of OpenMetrics and Prometheus text lines, pushed in any pieces and
    /// drained at any point, `Auto` decodes exactly as it does the whole body; counts balance.
    #[test]
    fn auto_pushed_equals_whole(lines in proptest::collection::vec(om_line(), 0..30),
                                eof in any::<bool>(), chunk in 1usize..40) {
        let mut text = lines.join("\n");
        if eof {
            text.push_str("\n# EOF\n");
        }
        for format in [Exposition::Auto, Exposition::OpenMetrics1, Exposition::Text004] {
            let whole = parse(&text, format);
            let b = pushed(&text, format, chunk);
            prop_assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
            prop_assert_eq!(&whole.stats, &b.stats);
            prop_assert_eq!(format!("{:?}", whole.readings), format!("{:?}", b.readings));
            prop_assert_eq!(&whole.quarantine, &b.quarantine);
        }
    }

    /// A float of seconds, as an exporter writes it, is read to its nanosecond.
    #[test]
    fn seconds_timestamps_round_trip(ns in 0i64..4_000_000_000_000_000_000, exp in any::<bool>()) {
        let (secs, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
        let ts = if exp {
            format!("{secs}{frac:09}e-9")
        } else {
            format!("{secs}.{frac:09}")
        };
        let text = format!("ipmi_dcmi_power_consumption_watts{{instance=\"h1\"}} 1 {ts}\n# EOF\n");
        let b = parse(&text, Exposition::Auto);
        prop_assert_eq!(b.readings[0].ts, Timestamp::from_nanos(ns));
    }
}
