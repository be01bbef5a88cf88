//! Kubernetes resource quantities (`500m`, `2`, `512Mi`, `1Gi`, `1e3`): the notation pod specs
//! write CPU, memory and extended-resource requests in.
//!
//! The grammar is the Kubernetes API's (`k8s.io/apimachinery` `resource.Quantity`): a signed
//! decimal number (`5`, `5.`, `.5`, `1.25`) followed by one suffix — binary SI (`Ki`, `Mi`,
//! `Gi`, `Ti`, `Pi`, `Ei`: powers of 1024), decimal SI (`n`, `u`, `m`, none, `k`, `M`, `G`, `T`,
//! `P`, `E`: powers of 1000) or a decimal exponent (`e3`, `E-2`). Nothing else: no spaces, no
//! `K`, no unit words.

/// A text that is not a Kubernetes quantity, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a Kubernetes quantity: {why}")]
pub struct QuantityError {
    text: String,
    why: &'static str,
}

impl QuantityError {
    fn new(text: &str, why: &'static str) -> QuantityError {
        // Keep a message short even for a long input.
        let text = text.chars().take(40).collect();
        QuantityError { text, why }
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &'static str {
        self.why
    }
}

/// Longest quantity read, in bytes: far more than any real one (`1.5Gi`, `250m`).
const MAX_QUANTITY_BYTES: usize = 64;

/// The value of a Kubernetes quantity, in its base unit (cores for CPU, bytes for memory, a
/// count for extended resources).
///
/// # Errors
/// A [`QuantityError`] naming the text and what is wrong: empty, too long, no digits, a second
/// decimal point, an unknown suffix, an exponent that is not an integer, a value too large for
/// a float.
///
/// ```
/// use kelvin_sim::dataset::parse_quantity;
/// assert_eq!(parse_quantity("500m")?, 0.5);
/// assert_eq!(parse_quantity("512Mi")?, 536_870_912.0);
/// assert_eq!(parse_quantity("1e3")?, 1000.0);
/// assert_eq!(parse_quantity("2")?, 2.0);
/// assert!(parse_quantity("2 cores").is_err());
/// # Ok::<(), kelvin_sim::dataset::QuantityError>(())
/// ```
pub fn parse_quantity(text: &str) -> Result<f64, QuantityError> {
    let bad = |why| QuantityError::new(text, why);
    if text.is_empty() {
        return Err(bad("empty"));
    }
    if text.len() > MAX_QUANTITY_BYTES {
        return Err(bad("longer than 64 bytes"));
    }
    let (negative, rest) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(split);
    if !number.bytes().any(|b| b.is_ascii_digit()) {
        return Err(bad("no digits before the suffix"));
    }
    if number.bytes().filter(|&b| b == b'.').count() > 1 {
        return Err(bad("more than one decimal point"));
    }
    // Digits with at most one point (`5`, `5.`, `.5`) always parse as a float.
    let n: f64 = number
        .parse()
        .map_err(|_| bad("the number does not parse"))?;
    let value = match suffix {
        "Ki" => n * 1024.0,
        "Mi" => n * 1_048_576.0,
        "Gi" => n * 1_073_741_824.0,
        "Ti" => n * 1_099_511_627_776.0,
        "Pi" => n * 1_125_899_906_842_624.0,
        "Ei" => n * 1_152_921_504_606_846_976.0,
        "n" => n / 1e9,
        "u" => n / 1e6,
        "m" => n / 1e3,
        "" => n,
        "k" => n * 1e3,
        "M" => n * 1e6,
        "G" => n * 1e9,
        "T" => n * 1e12,
        "P" => n * 1e15,
        "E" => n * 1e18,
        s if s.starts_with(['e', 'E']) => {
            let exp = &s[1..];
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad(
                    "unknown suffix (expected Ki…Ei, n, u, m, k, M, G, T, P, E or an exponent e<integer>)",
                ));
            }
            let e: i32 = exp
                .parse()
                .map_err(|_| bad("the exponent does not parse"))?;
            // Dividing by an exact power of ten rounds once, where multiplying by 10^-k would
            // round twice (0.001 has no exact binary form).
            if e < 0 {
                n / 10f64.powi(-e)
            } else {
                n * 10f64.powi(e)
            }
        }
        _ => {
            return Err(bad(
                "unknown suffix (expected Ki…Ei, n, u, m, k, M, G, T, P, E or an exponent e<integer>)",
            ));
        }
    };
    if !value.is_finite() {
        return Err(bad("too large"));
    }
    Ok(if negative { -value } else { value })
}

/// A CPU request in millicores as Kubernetes writes it: `250m`, `2`.
pub(crate) fn cpu_quantity(milli: u32) -> String {
    if milli.is_multiple_of(1000) {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}m")
    }
}

/// A memory request in MiB as Kubernetes writes it: `512Mi`, `2Gi`.
pub(crate) fn memory_quantity(mib: u64) -> String {
    if mib.is_multiple_of(1024) {
        format!("{}Gi", mib / 1024)
    } else {
        format!("{mib}Mi")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(text: &str, want: f64) {
        assert_eq!(parse_quantity(text), Ok(want), "{text}");
    }

    fn refuse(text: &str, why: &str) {
        let e = parse_quantity(text).unwrap_err();
        assert!(e.reason().contains(why), "{text}: {e}");
    }

    #[test]
    fn the_kubernetes_notation_reads() {
        check("500m", 0.5);
        check("250m", 0.25);
        check("100m", 0.1);
        check("2", 2.0);
        check("0", 0.0);
        check("1.5", 1.5);
        check("5.", 5.0);
        check(".5", 0.5);
        check("+3", 3.0);
        check("-3", -3.0);
        check("512Mi", 536_870_912.0);
        check("1Gi", 1_073_741_824.0);
        check("1.5Gi", 1_610_612_736.0);
        check("64Ki", 65_536.0);
        check("1Ti", 1_099_511_627_776.0);
        check("1Ei", 1_152_921_504_606_846_976.0);
        check("1k", 1000.0);
        check("128M", 128e6);
        check("1G", 1e9);
        check("2E", 2e18);
        check("1e3", 1000.0);
        check("1E3", 1000.0);
        check("1e+3", 1000.0);
        check("25e-2", 0.25);
        check("100u", 1e-4);
        check("5n", 5e-9);
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        refuse("", "empty");
        refuse("m", "no digits");
        refuse(".", "no digits");
        refuse("-", "no digits");
        refuse("1.2.3", "decimal point");
        refuse("2 cores", "suffix");
        refuse(" 2", "no digits");
        refuse("1K", "suffix");
        refuse("1Kb", "suffix");
        refuse("1e", "suffix");
        refuse("1e1.5", "suffix");
        refuse("1e99999", "suffix");
        refuse("1e400", "too large");
        refuse(&"9".repeat(65), "longer than 64");
        let e = parse_quantity("5x").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("\"5x\" is not a Kubernetes quantity: unknown suffix")
        );
    }

    #[test]
    fn written_requests_read_back() {
        for (milli, text) in [(250, "250m"), (1000, "1"), (4000, "4"), (1500, "1500m")] {
            assert_eq!(cpu_quantity(milli), text);
            assert_eq!(parse_quantity(text).unwrap(), f64::from(milli) / 1000.0);
        }
        for (mib, text) in [(512, "512Mi"), (2048, "2Gi"), (1536, "1536Mi")] {
            assert_eq!(memory_quantity(mib), text);
            assert_eq!(parse_quantity(text).unwrap(), (mib << 20) as f64);
        }
    }

    proptest! {
        #[test]
        fn any_text_gives_a_value_or_an_error(s in "\\PC{0,70}") {
            if let Ok(v) = parse_quantity(&s) {
                prop_assert!(v.is_finite());
            }
        }

        #[test]
        fn millicores_and_mebibytes_round_trip(milli in 0u32..1_000_000, mib in 0u64..10_000_000) {
            let cpu = parse_quantity(&cpu_quantity(milli)).unwrap();
            prop_assert!((cpu - f64::from(milli) / 1000.0).abs() <= 1e-12 * cpu.max(1.0));
            prop_assert_eq!(parse_quantity(&memory_quantity(mib)).unwrap(), (mib << 20) as f64);
        }
    }
}
