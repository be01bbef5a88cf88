//! Kubernetes resource quantities (`"500m"`, `"256Mi"`, `"1.5"`, `"2e3"`), read exactly.
//!
//! The grammar is the one documented on `Quantity` in kubernetes
//! `staging/src/k8s.io/apimachinery/pkg/api/resource/quantity.go` (repository
//! `kubernetes/kubernetes`): an optional sign, digits with an optional fraction (`1`, `1.5`,
//! `.5`, `5.`), then one suffix — binary SI (`Ki Mi Gi Ti Pi Ei`, powers of 1024), decimal SI
//! (`n u m` and none, `k M G T P E`, powers of 1000) or a decimal exponent (`e3`, `E-2`).
//!
//! A [`Quantity`] holds its value as a whole number of nano-units, as Kubernetes does: a finer
//! value is rounded *up* to the next nano-unit (`0.1n` is `1n`), so a request never shrinks to
//! nothing. What Kubernetes would carry but Kelvin refuses, with a [`QuantityError`] saying why:
//! an empty string, a malformed number, an unknown suffix, a negative value (no request,
//! capacity or overhead is negative) and a value over 2⁶³−1 base units (`int64` would overflow;
//! such a quantity is absurd rather than big).
//!
//! ```
//! use kelvin_agent::scheduler::quantity::parse_quantity;
//! let cpu = parse_quantity("500m")?;
//! assert_eq!(cpu.millis_ceil(), 500);
//! assert_eq!(cpu.as_f64(), 0.5);
//! assert_eq!(parse_quantity("1.5Gi")?.value_ceil(), 1_610_612_736);
//! assert_eq!(parse_quantity("1e3")?, parse_quantity("1k")?);
//! assert_eq!(parse_quantity("1.5")?.to_string(), "1500m");
//! assert!(parse_quantity("-1").is_err());
//! # Ok::<(), kelvin_agent::scheduler::quantity::QuantityError>(())
//! ```

use std::fmt;
use std::str::FromStr;

/// Nano-units in one base unit.
const NANOS_PER_UNIT: u128 = 1_000_000_000;

/// The largest value Kubernetes can hold without overflow: 2⁶³−1 base units, in nano-units.
const MAX_NANOS: u128 = i64::MAX as u128 * NANOS_PER_UNIT;

/// The decimal digits of [`MAX_NANOS`]: a whole number of nano-units with more digits is over it.
const MAX_NANOS_DIGITS: i64 = 28;

/// A non-negative Kubernetes quantity, exact to the nano-unit.
///
/// Built by [`parse_quantity`] (or [`str::parse`]) or [`Quantity::from_nanos`]; equal values
/// compare equal whatever their spelling (`"1000m" == "1"`). [`Display`](fmt::Display) writes
/// the canonical decimal form Kubernetes writes (`1500m`, `256M`, `1k`), which parses back to
/// the same value.
///
/// ```
/// use kelvin_agent::scheduler::quantity::Quantity;
/// let q: Quantity = "256Mi".parse()?;
/// assert_eq!(q.value_ceil(), 268_435_456);
/// assert!(q.is_whole());
/// # Ok::<(), kelvin_agent::scheduler::quantity::QuantityError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: u128,
}

impl Quantity {
    /// Zero.
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// The largest quantity: 2⁶³−1 base units.
    pub const MAX: Quantity = Quantity { nanos: MAX_NANOS };

    /// The quantity of `nanos` nano-units, or `None` when that is over [`Quantity::MAX`].
    ///
    /// ```
    /// use kelvin_agent::scheduler::quantity::Quantity;
    /// assert_eq!(Quantity::from_nanos(1_500_000_000).map(|q| q.millis_ceil()), Some(1500));
    /// assert_eq!(Quantity::from_nanos(u128::MAX), None);
    /// ```
    pub fn from_nanos(nanos: u128) -> Option<Quantity> {
        (nanos <= MAX_NANOS).then_some(Quantity { nanos })
    }

    /// The value in nano-units, exact.
    pub fn nanos(self) -> u128 {
        self.nanos
    }

    /// The value in base units (cores, bytes, devices), as the nearest `f64`.
    pub fn as_f64(self) -> f64 {
        let whole = (self.nanos / NANOS_PER_UNIT) as f64;
        let fraction = (self.nanos % NANOS_PER_UNIT) as f64 / NANOS_PER_UNIT as f64;
        whole + fraction
    }

    /// The value in thousandths of a base unit, rounded up: what Kubernetes' `MilliValue()`
    /// gives, the way the scheduler counts CPU (`"0.1m"` is one milli-core).
    pub fn millis_ceil(self) -> u128 {
        self.nanos.div_ceil(1_000_000)
    }

    /// The value in base units, rounded up: what Kubernetes' `Value()` gives, the way the
    /// scheduler counts bytes and devices (`"1.5"` bytes is 2).
    pub fn value_ceil(self) -> u64 {
        // At most 2⁶³−1 by construction, so the conversion cannot fail.
        u64::try_from(self.nanos.div_ceil(NANOS_PER_UNIT)).unwrap_or(u64::MAX)
    }

    /// Whether the value is a whole number of base units (extended resources must be).
    pub fn is_whole(self) -> bool {
        self.nanos.is_multiple_of(NANOS_PER_UNIT)
    }

    /// The sum, or `None` when it is over [`Quantity::MAX`].
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        self.nanos
            .checked_add(other.nanos)
            .and_then(Quantity::from_nanos)
    }
}

/// The decimal SI suffixes by power of ten, smallest first.
const DECIMAL_SUFFIXES: [(&str, i64); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

/// The binary SI suffixes by power of two.
const BINARY_SUFFIXES: [(&str, u32); 6] = [
    ("Ki", 10),
    ("Mi", 20),
    ("Gi", 30),
    ("Ti", 40),
    ("Pi", 50),
    ("Ei", 60),
];

impl fmt::Display for Quantity {
    /// The canonical decimal form: a whole number with the largest decimal SI suffix that
    /// keeps it exact (`1500m`, `2k`, `0`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let mut number = self.nanos;
        let mut suffix = DECIMAL_SUFFIXES[0].0;
        for (next, _) in &DECIMAL_SUFFIXES[1..] {
            if !number.is_multiple_of(1000) {
                break;
            }
            number /= 1000;
            suffix = next;
        }
        write!(f, "{number}{suffix}")
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Quantity, QuantityError> {
        parse_quantity(s)
    }
}

/// Why a quantity string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantityErrorKind {
    /// The string is empty.
    #[error("empty quantity")]
    Empty,
    /// The number before the suffix is not digits with an optional fraction.
    #[error("bad number: expected digits with an optional fraction and sign, such as 1.5 or -2")]
    BadNumber,
    /// What follows the number is not a suffix Kubernetes knows.
    #[error(
        "unknown suffix {0:?}: expected one of Ki Mi Gi Ti Pi Ei, n u m k M G T P E, \
         or an exponent such as e3"
    )]
    UnknownSuffix(String),
    /// The value is below zero.
    #[error("negative quantity")]
    Negative,
    /// The value is over 2⁶³−1 base units, where Kubernetes' `int64` would overflow.
    #[error("absurd quantity: more than 2^63-1 base units")]
    Absurd,
}

/// A quantity string that cannot be read: the string and why.
///
/// ```
/// use kelvin_agent::scheduler::quantity::{parse_quantity, QuantityErrorKind};
/// let err = parse_quantity("3Q").unwrap_err();
/// assert_eq!(err.kind(), &QuantityErrorKind::UnknownSuffix("Q".into()));
/// assert!(err.to_string().starts_with("quantity \"3Q\": unknown suffix \"Q\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantity {input:?}: {kind}")]
pub struct QuantityError {
    input: String,
    kind: QuantityErrorKind,
}

impl QuantityError {
    /// The string that was refused.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was refused.
    pub fn kind(&self) -> &QuantityErrorKind {
        &self.kind
    }

    /// Takes the reason, leaving the string.
    pub fn into_kind(self) -> QuantityErrorKind {
        self.kind
    }
}

/// Reads a Kubernetes quantity string (grammar in the [module docs](self)).
///
/// # Errors
///
/// A [`QuantityError`] whose [`kind`](QuantityError::kind) says why: [`Empty`],
/// [`BadNumber`], [`UnknownSuffix`], [`Negative`] (`"-0"` is zero, and fine) or [`Absurd`].
///
/// [`Empty`]: QuantityErrorKind::Empty
/// [`BadNumber`]: QuantityErrorKind::BadNumber
/// [`UnknownSuffix`]: QuantityErrorKind::UnknownSuffix
/// [`Negative`]: QuantityErrorKind::Negative
/// [`Absurd`]: QuantityErrorKind::Absurd
///
/// ```
/// use kelvin_agent::scheduler::quantity::{parse_quantity, QuantityErrorKind};
/// assert_eq!(parse_quantity("1000m")?, parse_quantity("1")?);
/// assert_eq!(parse_quantity("1Ki")?.value_ceil(), 1024);
/// assert_eq!(parse_quantity("0.5")?, parse_quantity("500m")?);
/// assert_eq!(parse_quantity("1E-2")?.millis_ceil(), 10);
/// assert_eq!(parse_quantity("10Ei").unwrap_err().kind(), &QuantityErrorKind::Absurd);
/// # Ok::<(), kelvin_agent::scheduler::quantity::QuantityError>(())
/// ```
pub fn parse_quantity(s: &str) -> Result<Quantity, QuantityError> {
    parse_parts(s).map_err(|kind| QuantityError {
        input: s.to_owned(),
        kind,
    })
}

/// The scale a suffix applies: a power of ten, times a power of two.
struct Scale {
    pow10: i64,
    pow2: u32,
}

fn parse_parts(s: &str) -> Result<Quantity, QuantityErrorKind> {
    if s.is_empty() {
        return Err(QuantityErrorKind::Empty);
    }
    let (negative, unsigned) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let int_len = leading_digits(unsigned);
    let (int_part, rest) = unsigned.split_at(int_len);
    let (frac_part, suffix) = match rest.strip_prefix('.') {
        Some(after_dot) => after_dot.split_at(leading_digits(after_dot)),
        None => ("", rest),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(QuantityErrorKind::BadNumber);
    }
    let scale = parse_suffix(suffix)?;
    let mut digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .skip_while(|&b| b == b'0')
        .map(|b| b - b'0')
        .collect();
    if digits.is_empty() {
        return Ok(Quantity::ZERO);
    }
    if negative {
        return Err(QuantityErrorKind::Negative);
    }
    for _ in 0..scale.pow2 / 10 {
        multiply_digits(&mut digits, 1024);
    }
    let frac_len = i64::try_from(frac_part.len()).unwrap_or(i64::MAX);
    let shift = scale.pow10.saturating_sub(frac_len).saturating_add(9);
    nanos_from_digits(&digits, shift)
}

/// How many ASCII digits `s` starts with.
fn leading_digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

fn parse_suffix(suffix: &str) -> Result<Scale, QuantityErrorKind> {
    if let Some(&(_, pow10)) = DECIMAL_SUFFIXES.iter().find(|(name, _)| *name == suffix) {
        return Ok(Scale { pow10, pow2: 0 });
    }
    if let Some(&(_, pow2)) = BINARY_SUFFIXES.iter().find(|(name, _)| *name == suffix) {
        return Ok(Scale { pow10: 0, pow2 });
    }
    let unknown = || QuantityErrorKind::UnknownSuffix(suffix.to_owned());
    let exponent = suffix
        .strip_prefix('e')
        .or_else(|| suffix.strip_prefix('E'))
        .ok_or_else(unknown)?;
    let (negative, digits) = match exponent.as_bytes().first() {
        Some(b'-') => (true, &exponent[1..]),
        Some(b'+') => (false, &exponent[1..]),
        _ => (false, exponent),
    };
    if digits.is_empty() || leading_digits(digits) != digits.len() {
        return Err(unknown());
    }
    // Any exponent beyond ±10¹⁵ has the same effect as ±10¹⁵: the value is absurd, or it
    // rounds up to one nano-unit.
    let magnitude = digits.bytes().fold(0i64, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(i64::from(b - b'0'))
            .min(1_000_000_000_000_000)
    });
    let pow10 = if negative { -magnitude } else { magnitude };
    Ok(Scale { pow10, pow2: 0 })
}

/// `digits` (most significant first) times `factor`, in place.
fn multiply_digits(digits: &mut Vec<u8>, factor: u32) {
    let mut carry = 0u32;
    for digit in digits.iter_mut().rev() {
        let product = u32::from(*digit) * factor + carry;
        *digit = (product % 10) as u8;
        carry = product / 10;
    }
    while carry > 0 {
        digits.insert(0, (carry % 10) as u8);
        carry /= 10;
    }
}

/// The whole number of nano-units `digits × 10^shift`, rounded up; `digits` is non-empty and
/// starts with a non-zero digit.
fn nanos_from_digits(digits: &[u8], shift: i64) -> Result<Quantity, QuantityErrorKind> {
    let len = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let kept = len.saturating_add(shift);
    if kept > MAX_NANOS_DIGITS {
        return Err(QuantityErrorKind::Absurd);
    }
    // `kept` is at most 28 here, so it fits a usize, and the number fits a u128.
    let kept_len = usize::try_from(kept.max(0)).unwrap_or(0);
    let (head, dropped) = digits.split_at(kept_len.min(digits.len()));
    let mut nanos = head.iter().fold(0u128, |acc, &d| acc * 10 + u128::from(d));
    for _ in digits.len()..kept_len {
        nanos *= 10;
    }
    if dropped.iter().any(|&d| d != 0) {
        nanos += 1;
    }
    Quantity::from_nanos(nanos).ok_or(QuantityErrorKind::Absurd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        parse_quantity(s).unwrap()
    }

    fn kind(s: &str) -> QuantityErrorKind {
        parse_quantity(s).unwrap_err().into_kind()
    }

    #[test]
    fn equivalent_spellings_are_equal() {
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q(".5"), q("0.5"));
        assert_eq!(q("5."), q("5"));
        assert_eq!(q("+2"), q("2"));
        assert_eq!(q("1E-2"), q("10m"));
        assert_eq!(q("1e+3"), q("1k"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("-0"), Quantity::ZERO);
        assert_eq!(q("0.000Ki"), Quantity::ZERO);
        assert_eq!(q("0"), Quantity::ZERO);
        assert_eq!(q("1E"), q("1000P"));
    }

    #[test]
    fn accessors_round_the_way_kubernetes_does() {
        assert_eq!(q("0.1m").millis_ceil(), 1);
        assert_eq!(q("1.5").value_ceil(), 2);
        assert_eq!(q("256Mi").value_ceil(), 268_435_456);
        assert_eq!(q("250m").as_f64(), 0.25);
        assert_eq!(q("1u").nanos(), 1000);
        // Finer than a nano-unit rounds up to one, as Kubernetes does.
        assert_eq!(q("0.1n").nanos(), 1);
        assert_eq!(q("1e-30").nanos(), 1);
        assert_eq!(
            q("1.0000000000000000000000000000000000000000001").nanos(),
            1_000_000_001
        );
        assert!(q("2").is_whole());
        assert!(!q("1500m").is_whole());
    }

    #[test]
    fn limits_are_exact() {
        assert_eq!(q("9223372036854775807"), Quantity::MAX);
        assert_eq!(Quantity::MAX.value_ceil(), i64::MAX as u64);
        assert_eq!(kind("9223372036854775808"), QuantityErrorKind::Absurd);
        assert_eq!(
            kind("9223372036854775807.000000001"),
            QuantityErrorKind::Absurd
        );
        assert_eq!(q("7Ei").value_ceil(), 7 << 60);
        assert_eq!(kind("8Ei"), QuantityErrorKind::Absurd);
        assert_eq!(kind("1e19"), QuantityErrorKind::Absurd);
        assert_eq!(kind("1e99999999999999999999"), QuantityErrorKind::Absurd);
        assert_eq!(q("0e99999999999999999999"), Quantity::ZERO);
        assert_eq!(Quantity::MAX.checked_add(q("1n")), None);
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(kind(""), QuantityErrorKind::Empty);
        for bad in [".", "-", "+", "k", "Ki", "-.", " 1", "--1", "e3"] {
            assert_eq!(kind(bad), QuantityErrorKind::BadNumber, "{bad:?}");
        }
        assert_eq!(kind("1K"), QuantityErrorKind::UnknownSuffix("K".into()));
        assert_eq!(kind("1 "), QuantityErrorKind::UnknownSuffix(" ".into()));
        assert_eq!(kind("1.2.3"), QuantityErrorKind::UnknownSuffix(".3".into()));
        assert_eq!(kind("1e"), QuantityErrorKind::UnknownSuffix("e".into()));
        assert_eq!(kind("1e-"), QuantityErrorKind::UnknownSuffix("e-".into()));
        assert_eq!(kind("1ki"), QuantityErrorKind::UnknownSuffix("ki".into()));
        assert_eq!(kind("-1"), QuantityErrorKind::Negative);
        assert_eq!(kind("-0.5Gi"), QuantityErrorKind::Negative);
        assert_eq!(
            parse_quantity("-1").unwrap_err().to_string(),
            "quantity \"-1\": negative quantity"
        );
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(q("1.5").to_string(), "1500m");
        assert_eq!(q("1000").to_string(), "1k");
        assert_eq!(q("256Mi").to_string(), "268435456");
        assert_eq!(q("0.1n").to_string(), "1n");
        assert_eq!(q("1E").to_string(), "1E");
        assert_eq!(Quantity::ZERO.to_string(), "0");
    }

    const DECIMAL: [(&str, u32); 10] = [
        ("n", 0),
        ("u", 3),
        ("m", 6),
        ("", 9),
        ("k", 12),
        ("M", 15),
        ("G", 18),
        ("T", 21),
        ("P", 24),
        ("E", 27),
    ];

    proptest! {
        #[test]
        fn display_then_parse_round_trips(nanos in 0..=MAX_NANOS) {
            let quantity = Quantity::from_nanos(nanos).unwrap();
            prop_assert_eq!(q(&quantity.to_string()), quantity);
        }

        #[test]
        fn decimal_forms_match_exact_arithmetic(
            whole in 0u64..1_000_000,
            fraction in "[0-9]{0,12}",
            suffix in 0usize..7,
        ) {
            let (name, nanos_exp) = DECIMAL[suffix];
            let text = format!("{whole}.{fraction}{name}");
            // Oracle: (whole·10^f + fraction) · 10^(nanos_exp − f), rounded up.
            let f = fraction.len() as u32;
            let mantissa = u128::from(whole) * 10u128.pow(f)
                + fraction.parse::<u128>().unwrap_or(0);
            let expected = if nanos_exp >= f {
                mantissa * 10u128.pow(nanos_exp - f)
            } else {
                mantissa.div_ceil(10u128.pow(f - nanos_exp))
            };
            prop_assert_eq!(q(&text).nanos(), expected);
        }

        #[test]
        fn binary_forms_match_exact_arithmetic(
            whole in 0u64..1_000_000,
            millis in 0u64..1000,
            power in 1u32..5,
        ) {
            let (name, bits) = BINARY_SUFFIXES[power as usize - 1];
            let text = format!("{whole}.{millis:03}{name}");
            let thousandths = u128::from(whole) * 1000 + u128::from(millis);
            let expected = (thousandths << bits) * 1_000_000;
            prop_assert_eq!(q(&text).nanos(), expected);
        }

        #[test]
        fn suffixes_and_exponents_agree(whole in 0u64..10_000_000, suffix in 0usize..10) {
            let (name, nanos_exp) = DECIMAL[suffix];
            let exponent = i64::from(nanos_exp) - 9;
            let read = |s: String| parse_quantity(&s).map_err(QuantityError::into_kind);
            let by_suffix = read(format!("{whole}{name}"));
            prop_assert_eq!(&by_suffix, &read(format!("{whole}e{exponent}")));
            prop_assert_eq!(&by_suffix, &read(format!("{whole}E{exponent}")));
        }
    }
}
