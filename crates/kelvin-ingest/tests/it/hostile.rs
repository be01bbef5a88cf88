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

    #[test]
    fn deep_nesting_and_huge_lines_are_bounded(n in 1usize..200_000) {
        let text = format!("x{{{}\n", "a=\"{".repeat(n / 4 + 1));
        let b = prometheus::parse_str(&text, "p", &RuleSet::builtin(), &ParseOptions::default());
        prop_assert_eq!(b.stats.seen, 1);
        prop_assert_eq!(b.stats.quarantined, 1);
    }
}
