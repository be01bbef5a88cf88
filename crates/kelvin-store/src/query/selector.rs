//! Label selection: which series a query names. [`Selector`] (a set of [`Matcher`]s, each a
//! [`MatchField`] tested by a [`MatchOp`]) and its text syntax.

use std::fmt;
use std::str::FromStr;

use kelvin_model::SensorKind;

use super::invalid;
#[cfg(doc)]
use crate::StoreErrorKind;
use crate::{SeriesKey, StoreError};

/// What part of a [`SeriesKey`] a [`Matcher`] tests.
///
/// ```
/// use kelvin_model::{EntityId, SensorKind};
/// use kelvin_store::{MatchField, MatchOp, Matcher, SeriesKey};
///
/// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power);
/// let no_zone = Matcher::new(MatchField::Label("zone".into()), MatchOp::Eq(String::new()));
/// assert!(no_zone.matches(&key), "a missing label is the empty value");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchField {
    /// The entity id.
    Entity,
    /// The sensor name.
    Sensor,
    /// The kind, by its snake_case name (`power`, `fan_speed`).
    Kind,
    /// The value of a label; a series without the label has the empty value `""` (as in
    /// Prometheus), so `zone=""` selects series without a zone and `zone!="b"` includes them.
    Label(String),
}

impl MatchField {
    fn name(&self) -> &str {
        match self {
            MatchField::Entity => "entity",
            MatchField::Sensor => "sensor",
            MatchField::Kind => "kind",
            MatchField::Label(name) => name,
        }
    }

    fn value<'k>(&self, key: &'k SeriesKey) -> &'k str {
        match self {
            MatchField::Entity => key.entity.as_str(),
            MatchField::Sensor => key.sensor.as_str(),
            MatchField::Kind => key.kind.as_str(),
            MatchField::Label(name) => key.labels.get(name).unwrap_or(""),
        }
    }
}

/// How a [`Matcher`] compares a field's value.
///
/// ```
/// use kelvin_model::{EntityId, SensorKind};
/// use kelvin_store::{MatchField, MatchOp, Matcher, SeriesKey};
///
/// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power);
/// let sensor = |op| Matcher::new(MatchField::Sensor, op).matches(&key);
/// assert!(sensor(MatchOp::Prefix("psu".into())));
/// assert!(sensor(MatchOp::Ne("psu2".into())));
/// assert!(!sensor(MatchOp::In(vec!["inlet".into(), "outlet".into()])));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchOp {
    /// Equal to (`=`).
    Eq(String),
    /// Not equal to (`!=`).
    Ne(String),
    /// Starts with (`^=`).
    Prefix(String),
    /// Equal to one of (`in ("a", "b")`).
    In(Vec<String>),
}

impl MatchOp {
    fn test(&self, v: &str) -> bool {
        match self {
            MatchOp::Eq(x) => v == x,
            MatchOp::Ne(x) => v != x,
            MatchOp::Prefix(x) => v.starts_with(x.as_str()),
            MatchOp::In(xs) => xs.iter().any(|x| x == v),
        }
    }
}

/// One condition on a [`SeriesKey`]: a [`MatchField`] and a [`MatchOp`].
///
/// ```
/// use kelvin_model::{EntityId, SensorKind};
/// use kelvin_store::{Labels, MatchOp, Matcher, SeriesKey};
///
/// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power)
///     .with_labels(Labels::from_pairs([("zone", "b")]));
/// assert!(Matcher::entity("host-01").matches(&key));
/// assert!(Matcher::kind(SensorKind::Power).matches(&key));
/// assert!(Matcher::label("zone", MatchOp::In(vec!["a".into(), "b".into()])).matches(&key));
/// assert!(!Matcher::label("zone", MatchOp::Prefix("a".into())).matches(&key));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Matcher {
    /// What is tested.
    pub field: MatchField,
    /// How it is tested.
    pub op: MatchOp,
}

impl Matcher {
    /// `field` tested by `op`.
    ///
    /// ```
    /// use kelvin_store::{MatchField, MatchOp, Matcher};
    ///
    /// let m = Matcher::new(MatchField::Entity, MatchOp::Prefix("host-".into()));
    /// assert_eq!(m.to_string(), r#"entity^="host-""#);
    /// ```
    pub fn new(field: MatchField, op: MatchOp) -> Matcher {
        Matcher { field, op }
    }

    /// The entity id equals `id`.
    pub fn entity(id: impl Into<String>) -> Matcher {
        Matcher::new(MatchField::Entity, MatchOp::Eq(id.into()))
    }

    /// The sensor name equals `name`.
    pub fn sensor(name: impl Into<String>) -> Matcher {
        Matcher::new(MatchField::Sensor, MatchOp::Eq(name.into()))
    }

    /// The kind is `kind`.
    pub fn kind(kind: SensorKind) -> Matcher {
        Matcher::new(MatchField::Kind, MatchOp::Eq(kind.as_str().to_owned()))
    }

    /// Label `name` is tested by `op` (a missing label has the value `""`).
    pub fn label(name: impl Into<String>, op: MatchOp) -> Matcher {
        Matcher::new(MatchField::Label(name.into()), op)
    }

    /// Whether `key` satisfies this condition.
    ///
    /// ```
    /// use kelvin_model::{EntityId, SensorKind};
    /// use kelvin_store::{Matcher, SeriesKey};
    ///
    /// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power);
    /// assert!(Matcher::sensor("psu1").matches(&key));
    /// assert!(!Matcher::kind(SensorKind::Energy).matches(&key));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matches(&self, key: &SeriesKey) -> bool {
        self.op.test(self.field.value(key))
    }
}

/// Writes `s` as a double-quoted string with the escapes the parser reads back.
fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "{s:?}")
}

impl fmt::Display for Matcher {
    /// `name op "value"` in the selector syntax, e.g. `zone="b"`, `kind in ("power", "energy")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field.name())?;
        match &self.op {
            MatchOp::Eq(v) => {
                f.write_str("=")?;
                write_quoted(f, v)
            }
            MatchOp::Ne(v) => {
                f.write_str("!=")?;
                write_quoted(f, v)
            }
            MatchOp::Prefix(v) => {
                f.write_str("^=")?;
                write_quoted(f, v)
            }
            MatchOp::In(vs) => {
                f.write_str(" in (")?;
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_quoted(f, v)?;
                }
                f.write_str(")")
            }
        }
    }
}

/// A set of series: the keys satisfying every one of its [`Matcher`]s (all keys when there is
/// none).
///
/// # Syntax
///
/// ```text
/// selector := head? ( "{" ( matcher ( "," matcher )* ","? )? "}" )?
/// head     := entity ( "/" sensor )? ( "(" kind ")" )?
/// matcher  := name ( "=" | "!=" | "^=" ) string  |  name "in" "(" string ( "," string )* ")"
/// ```
///
/// - `entity` is the text up to the first `/`, `{` or `(` (`*` for any entity); `sensor` the
///   text after that `/` up to `{` or `(` (it may contain `/`; `*` for any sensor); `kind` a
///   kind's snake_case name. Surrounding whitespace is ignored, so the [`SeriesKey`] display
///   `host-01/psu1 (power)` parses too.
/// - In braces, `entity`, `sensor` and `kind` name the key's fields and any other name a label
///   (letters, digits, `_`, `-`, `.`; a label of one of these three names cannot be addressed).
///   `=` is equality, `!=` inequality, `^=` a prefix, `in` set membership; a missing label
///   counts as `""`.
/// - Strings are double-quoted with the escapes `\"`, `\\`, `\n`, `\r`, `\t`, `\0` and `\u{…}`.
/// - An empty text is an error: `*` or `{}` selects every series.
///
/// A selector displays in this syntax (braces only) and parses back to itself.
///
/// ```
/// use kelvin_model::{EntityId, SensorKind};
/// use kelvin_store::{Labels, Selector, SeriesKey, StoreErrorKind};
///
/// let host = EntityId::new("host-01")?;
/// let psu = SeriesKey::new(host.clone(), "psu1", SensorKind::Power)
///     .with_labels(Labels::from_pairs([("zone", "b"), ("rack", "r12")]));
/// let inlet = SeriesKey::new(host, "inlet", SensorKind::Temperature);
///
/// let sel: Selector = r#"host-01/psu1{kind="power", zone="b"}"#.parse()?;
/// assert!(sel.matches(&psu) && !sel.matches(&inlet));
/// let sel = Selector::parse(r#"host-01{rack^="r1", kind in ("power", "temperature")}"#)?;
/// assert!(sel.matches(&psu) && !sel.matches(&inlet), "inlet has no rack label");
/// assert!(Selector::parse("*")?.matches(&inlet));
/// assert!(Selector::parse("host-01/inlet (temperature)")?.matches(&inlet));
///
/// let e = Selector::parse(r#"host-01{zone=b}"#).unwrap_err();
/// assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
/// assert!(e.reason().contains("column 14"), "{e}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Selector {
    /// The conditions, all of which a key must satisfy.
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// A selector from its conditions.
    ///
    /// ```
    /// use kelvin_model::SensorKind;
    /// use kelvin_store::{Matcher, Selector};
    ///
    /// let sel = Selector::new(vec![Matcher::entity("host-01"), Matcher::kind(SensorKind::Power)]);
    /// assert_eq!(sel.to_string(), r#"{entity="host-01", kind="power"}"#);
    /// assert_eq!(Selector::parse("host-01 (power)")?, sel);
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn new(matchers: Vec<Matcher>) -> Selector {
        Selector { matchers }
    }

    /// Whether `key` satisfies every matcher.
    ///
    /// ```
    /// use kelvin_model::{EntityId, SensorKind};
    /// use kelvin_store::{Selector, SeriesKey};
    ///
    /// let key = SeriesKey::new(EntityId::new("pdu-7")?, "outlet3", SensorKind::Current);
    /// assert!(Selector::parse("pdu-7/*")?.matches(&key));
    /// assert!(!Selector::parse("pdu-7/outlet3 (power)")?.matches(&key));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matches(&self, key: &SeriesKey) -> bool {
        self.matchers.iter().all(|m| m.matches(key))
    }

    /// Parses the syntax above.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] naming the 1-based column (in characters) of the first
    /// problem: an unknown kind, a missing quote, operator, comma or brace, trailing text.
    ///
    /// ```
    /// use kelvin_store::Selector;
    ///
    /// let sel = Selector::parse(r#"*/psu1 { zone in ("a", "b") }"#)?;
    /// assert_eq!(sel.to_string(), r#"{sensor="psu1", zone in ("a", "b")}"#);
    /// let e = Selector::parse(r#"{kind="pwr"}"#).unwrap_err();
    /// assert!(e.reason().contains("column 7: unknown kind"), "{e}");
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Selector, StoreError> {
        Parser::new(text).selector()
    }
}

impl FromStr for Selector {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Selector, StoreError> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    /// `{m1, m2, …}` with each [`Matcher`] displayed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// A recursive-descent parser over the characters of a selector.
struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn error(&self, at: usize, what: impl fmt::Display) -> StoreError {
        invalid(format!(
            "selector {:?}: column {}: {what}",
            self.text,
            at + 1
        ))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), StoreError> {
        self.skip_ws();
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(self.pos, format!("expected {what}")))
        }
    }

    /// Text up to (not including) a stop character or the end, trimmed; with its start column.
    fn word(&mut self, stops: &[char]) -> (usize, String) {
        self.skip_ws();
        let at = self.pos;
        while self.peek().is_some_and(|c| !stops.contains(&c)) {
            self.pos += 1;
        }
        let s: String = self.chars[at..self.pos].iter().collect();
        (at, s.trim_end().to_owned())
    }

    fn selector(mut self) -> Result<Selector, StoreError> {
        self.skip_ws();
        if self.peek().is_none() {
            return Err(self.error(0, "empty selector (use `*` for every series)"));
        }
        let mut matchers = Vec::new();
        // The head: entity, sensor, kind.
        let (at, entity) = self.word(&['/', '{', '(']);
        if entity.chars().any(char::is_whitespace) {
            return Err(self.error(at, "whitespace inside the entity"));
        }
        if !entity.is_empty() && entity != "*" {
            matchers.push(Matcher::entity(entity));
        }
        if self.eat('/') {
            let (at, sensor) = self.word(&['{', '(']);
            if sensor.is_empty() {
                return Err(self.error(at, "expected a sensor name (or `*`) after `/`"));
            }
            if sensor != "*" {
                matchers.push(Matcher::sensor(sensor));
            }
        }
        self.skip_ws();
        if self.eat('(') {
            let (at, kind) = self.word(&[')']);
            matchers.push(Matcher::kind(self.kind(at, &kind)?));
            self.expect(')', "`)` after the kind")?;
        }
        self.skip_ws();
        if self.eat('{') {
            self.skip_ws();
            while !self.eat('}') {
                matchers.push(self.matcher()?);
                self.skip_ws();
                if !self.eat(',') {
                    self.expect('}', "`,` or `}` after a matcher")?;
                    break;
                }
                self.skip_ws();
            }
        }
        self.skip_ws();
        if self.peek().is_some() {
            return Err(self.error(self.pos, "unexpected text after the selector"));
        }
        Ok(Selector { matchers })
    }

    fn kind(&self, at: usize, name: &str) -> Result<SensorKind, StoreError> {
        SensorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = SensorKind::ALL.iter().map(|k| k.as_str()).collect();
                self.error(
                    at,
                    format!("unknown kind {name:?} (one of {})", known.join(", ")),
                )
            })
    }

    fn matcher(&mut self) -> Result<Matcher, StoreError> {
        self.skip_ws();
        let at = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            self.pos += 1;
        }
        if self.pos == at {
            return Err(self.error(at, "expected a label name"));
        }
        let name: String = self.chars[at..self.pos].iter().collect();
        let field = match name.as_str() {
            "entity" => MatchField::Entity,
            "sensor" => MatchField::Sensor,
            "kind" => MatchField::Kind,
            _ => MatchField::Label(name),
        };
        self.skip_ws();
        let op_at = self.pos;
        // The strings with the columns where they start, to point at a bad kind.
        let mut strings = Vec::new();
        let op = if self.eat('=') {
            MatchOp::Eq(self.string(&mut strings)?)
        } else if self.eat('!') {
            self.expect('=', "`=` after `!`")?;
            MatchOp::Ne(self.string(&mut strings)?)
        } else if self.eat('^') {
            self.expect('=', "`=` after `^`")?;
            MatchOp::Prefix(self.string(&mut strings)?)
        } else if self.chars[self.pos..].starts_with(&['i', 'n'])
            && !self
                .chars
                .get(self.pos + 2)
                .is_some_and(|c| c.is_alphanumeric())
        {
            self.pos += 2;
            self.expect('(', "`(` after `in`")?;
            let mut set = vec![self.string(&mut strings)?];
            self.skip_ws();
            while self.eat(',') {
                set.push(self.string(&mut strings)?);
                self.skip_ws();
            }
            self.expect(')', "`,` or `)` in the set")?;
            MatchOp::In(set)
        } else {
            return Err(self.error(op_at, "expected `=`, `!=`, `^=` or `in` after the name"));
        };
        if field == MatchField::Kind && !matches!(op, MatchOp::Prefix(_)) {
            for (at, v) in &strings {
                self.kind(*at, v)?;
            }
        }
        Ok(Matcher { field, op })
    }

    /// A double-quoted string; also noted in `seen` with the column of its opening quote.
    fn string(&mut self, seen: &mut Vec<(usize, String)>) -> Result<String, StoreError> {
        self.skip_ws();
        if !self.eat('"') {
            return Err(self.error(self.pos, "expected a double-quoted string"));
        }
        let open = self.pos - 1;
        let mut s = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error(open, "unterminated string"));
            };
            self.pos += 1;
            match c {
                '"' => {
                    seen.push((open, s.clone()));
                    return Ok(s);
                }
                '\\' => s.push(self.escape()?),
                c => s.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, StoreError> {
        let at = self.pos - 1;
        let c = self.peek();
        self.pos += 1;
        Ok(match c {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('\'') => '\'',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('0') => '\0',
            Some('u') => {
                if !self.eat('{') {
                    return Err(self.error(self.pos, "expected `{` after `\\u`"));
                }
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                    self.pos += 1;
                }
                let hex: String = self.chars[start..self.pos].iter().collect();
                if !self.eat('}') {
                    return Err(self.error(self.pos, "expected `}` closing `\\u{`"));
                }
                u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.error(at, format!("invalid escape \\u{{{hex}}}")))?
            }
            _ => return Err(self.error(at, "unknown escape")),
        })
    }
}
