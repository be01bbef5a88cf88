//! Integration tests for `kelvin-ingest`, one binary.
//!
//! - `conformance`: real exporter output from `../shared/corpus` (skipped, saying so, when the
//!   corpus is absent): every line parses, every mapped value lands with the right kind and unit.
//! - `hostile`: property tests feeding arbitrary and adversarial text: never a panic, and
//!   `seen == accepted + quarantined` always.

mod conformance {
    use kelvin_ingest::{ParseOptions, Reason, RuleSet, prometheus};
    use kelvin_model::{SensorKind, Timestamp};
    use std::path::PathBuf;

    fn corpus(rel: &str) -> Option<PathBuf> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus")
            .join(rel);
        if p.exists() {
            Some(p)
        } else {
            eprintln!(
                "SKIP: {} not found (the shared corpus is not beside the project)",
                p.display()
            );
            None
        }
    }

    #[test]
    fn node_exporter_e2e_output_has_no_syntax_errors() {
        let Some(path) = corpus("ingest/node_exporter/e2e-output.txt") else {
            return;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let opts = ParseOptions::default()
            .with_default_timestamp(Timestamp::from_secs(1_700_000_000))
            .with_target_label("instance", "node-a:9100");
        let b = prometheus::parse_str(&text, "e2e-output.txt", &RuleSet::builtin(), &opts);
        assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
        // Real node_exporter output is well-formed: the only reason to quarantine is that Kelvin
        // has no canonical sensor for most of node_exporter's metrics.
        let syntax: Vec<_> = b
            .quarantine
            .iter()
            .filter(|q| q.reason != Reason::UnmappedMetric)
            .collect();
        assert!(
            syntax.is_empty(),
            "unexpected quarantine: {:?}",
            &syntax[..syntax.len().min(5)]
        );
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count() as u64;
        assert_eq!(b.stats.seen, samples);
        let temps: Vec<_> = b
            .readings
            .iter()
            .filter(|r| r.kind == SensorKind::Temperature)
            .collect();
        assert!(
            temps.len() >= 10,
            "hwmon and thermal-zone temperatures are mapped"
        );
        let core = temps
            .iter()
            .find(|r| r.sensor == "platform_coretemp_0/temp1")
            .expect("coretemp sensor present");
        assert_eq!((core.entity.as_str(), core.value), ("node-a", 55.0));
        assert!(temps.iter().all(|r| (-60.0..200.0).contains(&r.value)));
        let rapl: Vec<_> = b
            .readings
            .iter()
            .filter(|r| r.kind == SensorKind::Energy)
            .collect();
        assert!(!rapl.is_empty(), "RAPL counters are mapped");
        assert!(
            rapl.iter()
                .all(|r| r.sensor.starts_with("rapl/") && r.value >= 0.0)
        );
    }
}

mod hostile {
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
                "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 250 1700000000000"
                    .to_string()
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

        #[test]
        fn deep_nesting_and_huge_lines_are_bounded(n in 1usize..200_000) {
            let text = format!("x{{{}\n", "a=\"{".repeat(n / 4 + 1));
            let b = prometheus::parse_str(&text, "p", &RuleSet::builtin(), &ParseOptions::default());
            prop_assert_eq!(b.stats.seen, 1);
            prop_assert_eq!(b.stats.quarantined, 1);
        }
    }
}
