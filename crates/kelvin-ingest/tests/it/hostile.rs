//! Property tests with arbitrary and adversarial input: never a panic, counts always balance.

use kelvin_ingest::{ParseOptions, RuleSet, prometheus};
use proptest::prelude::*;

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        // arbitrary printable noise
        "[ -~]{0,80}",
        // near-valid samples with random pieces
        (
            "[a-z_:]{1,12}",
            "[a-z_]{1,6}",
            "[ -~]{0,10}",
            "[-+0-9.eEinfNa]{0,8}",
            "[-0-9]{0,14}"
        )
            .prop_map(|(m, l, v, x, t)| format!("{m}{{{l}=\"{v}\"}} {x} {t}")),
        Just(
            "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 250 1700000000000".to_string()
        ),
        Just("# TYPE x gauge".to_string()),
        Just("x{a=\"\\".to_string()),
    ]
}

proptest! {
    #[test]
    fn never_panics_and_always_balances(lines in proptest::collection::vec(line(), 0..40), chunk in 1usize..50) {
        let text = lines.join("\n");
        let rules = RuleSet::builtin();
        let opts = ParseOptions::default().with_max_line_bytes(64);
        let mut d = prometheus::Decoder::new("p", &rules, opts.clone());
        for c in text.as_bytes().chunks(chunk) {
            d.push(c);
        }
        let b = d.finish();
        prop_assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
        prop_assert_eq!(b.stats.accepted as usize, b.readings.len());
        prop_assert_eq!(b.stats.quarantined as usize, b.quarantine.len());
        let whole = prometheus::parse_str(&text, "p", &rules, &opts);
        prop_assert_eq!(whole.stats, b.stats);
    }

    /// Arbitrary pod, namespace and host labels, valid or not, some hosts known: counts
    /// balance, the readings and sightings of one text do not depend on how it is pushed,
    /// every sighting names a known host, a valid workload that has readings, and its labels
    /// stay within their bounds; a scrape time marks the untimed samples.
    #[test]
    fn workload_labels_never_panic_and_sightings_hold(
        samples in proptest::collection::vec((
            prop_oneof![Just("h1".to_string()), Just("h2:10250".to_string()), "[ -~]{0,12}"],
            prop_oneof![Just("p1".to_string()), Just("p2".to_string()), "[ -~]{0,300}"],
            prop_oneof![Just(None), "[a-z-]{0,8}".prop_map(Some)],
            prop_oneof![Just("1793606400000".to_string()), Just(String::new()), "[-0-9]{1,20}"],
        ), 0..30),
        chunk in 1usize..64,
    ) {
        use std::sync::Arc;
        use kelvin_ingest::{Sighting, WorkloadLabels};
        use kelvin_model::{EntityId, Timestamp};
        let known: Arc<std::collections::HashSet<EntityId>> =
            Arc::new(["h1", "h2"].iter().map(|h| EntityId::new(*h).unwrap()).collect());
        let text: String = samples
            .iter()
            .map(|(host, pod, ns, ts)| {
                let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
                let ns = ns.as_ref().map_or(String::new(), |n| format!(",namespace=\"{n}\""));
                format!(
                    "container_cpu_usage_seconds_total{{container=\"main\",instance=\"{}\",pod=\"{}\"{ns}}} 1 {ts}\n",
                    esc(host), esc(pod)
                )
            })
            .collect();
        let rules = RuleSet::builtin();
        let opts = ParseOptions::default()
            .with_known_entities(known.clone())
            .with_workload_labels(WorkloadLabels::default())
            .with_scrape_time(Timestamp::from_secs(1_793_606_400));
        let mut d = prometheus::Decoder::new("p", &rules, opts.clone());
        for c in text.as_bytes().chunks(chunk) {
            d.push(c);
        }
        let b = d.finish();
        prop_assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
        prop_assert_eq!(b.stats.seen, samples.len() as u64);
        let marks = b.defaulted().unwrap();
        prop_assert_eq!(marks.len(), b.readings.len());
        for (s, (w, sighting)) in b.sightings.iter().enumerate() {
            prop_assert!(known.contains(&sighting.host), "sighting {s} on {}", sighting.host);
            prop_assert_eq!(w, &sighting.workload);
            prop_assert!(b.readings.iter().any(|r| &r.entity == w));
            prop_assert!(sighting.labels.len() <= Sighting::MAX_LABELS);
            prop_assert!(sighting.labels.iter().all(|(k, v)| k.len() <= Sighting::MAX_LABEL_BYTES && v.len() <= Sighting::MAX_LABEL_BYTES));
            prop_assert!(sighting.first <= sighting.last);
        }
        let whole = prometheus::parse_str(&text, "p", &rules, &opts);
        prop_assert_eq!(&whole.readings, &b.readings);
        prop_assert_eq!(&whole.sightings, &b.sightings);
        prop_assert_eq!(whole.stats, b.stats);
    }

    #[test]
    fn deep_nesting_and_huge_lines_are_bounded(n in 1usize..200_000) {
        let text = format!("x{{{}\n", "a=\"{".repeat(n / 4 + 1));
        let b = prometheus::parse_str(&text, "p", &RuleSet::builtin(), &ParseOptions::default());
        prop_assert_eq!(b.stats.seen, 1);
        prop_assert_eq!(b.stats.quarantined, 1);
    }
}

mod every_decoder {
    use kelvin_ingest::{Context, IngestBatch, Limits, Normalizer, decoders, detect};
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary text — and text that starts like each format — into every registered
        /// decoder, and through detection: no panic, counts balance, readings canonical.
        #[test]
        fn arbitrary_input_into_every_decoder(
            body in "(?s).{0,600}",
            prefix in prop_oneof![
                Just(""), Just("{\"@odata.id\": "), Just("ID | Name | Type | Reading | Units | Event\n"),
                Just("ts_ns,entity,sensor,kind,unit,value,quality,status\n"), Just("# gpu pid type sm mem\n"),
                Just(".1.3.6.1.2.1.33.1.2.3.0 = INTEGER: "), Just("usage_usec "), Just("# TYPE x gauge\n"),
                Just("Instantaneous power reading: "),
                Just("t_unix_ns,power_mw,power_limit_mw,total_energy_mj,gpu_util_pct,mem_util_pct,temp_gpu_c,clock_sm_mhz,clock_mem_mhz,mem_used_bytes,pstate,throttle_reasons\n"),
                Just("t_unix_ns,pid,sample_ts_us,sm_util_pct,mem_util_pct\n"),
            ],
        ) {
            let text = format!("{prefix}{body}");
            let n = Normalizer::builtin();
            let ctx = Context::new("fuzz", &n).with_limits(Limits::default().with_max_records(50).with_max_json_depth(16));
            for d in decoders() {
                let mut out = IngestBatch::bounded(&ctx);
                d.decode(&text, &ctx, &mut out);
                prop_assert_eq!(out.stats.seen, out.stats.accepted + out.stats.quarantined, "{}", d.name());
                // the batch's record limit holds for every decoder (one more for its record)
                prop_assert!(out.stats.seen <= 51, "{} {}", d.name(), out.stats.seen);
                prop_assert_eq!(out.stats.accepted as usize, out.readings.len());
                for r in &out.readings {
                    prop_assert!(r.value.is_finite() || r.quality == kelvin_model::Quality::Absent, "{}: {:?}", d.name(), r);
                }
            }
            let _ = detect(&text);
        }
    }
}
