use std::fmt;
use std::sync::Arc;

/// Where in the input a problem was found.
///
/// Every error and every quarantined record carries one, so an operator can go straight to the
/// offending byte: a line of a text file, a JSON pointer, or a field of an in-memory structure.
///
/// In JSON it is an object tagged by `at`: `{"at":"line","source":"a.prom","line":3}`,
/// `{"at":"field","path":"hosts[3].rack"}`, `{"at":"json_pointer",…}`, `{"at":"source",…}`,
/// `{"at":"unknown"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(from = "PlaceRepr", into = "PlaceRepr")]
#[non_exhaustive]
pub enum Place {
    /// No particular place (the whole input, or an API argument).
    Unknown,
    /// A 1-based line (and optionally a 1-based column) of a named text source.
    Line {
        /// The source's name: a file path, a URL, or a caller-chosen label (shared: a decoder
        /// names thousands of lines of one source).
        source: Arc<str>,
        /// 1-based line number.
        line: u64,
    },
    /// A field of a structure, as a dotted path such as `hosts[3].rack`.
    Field(String),
    /// An RFC 6901 JSON pointer inside a named JSON document.
    JsonPointer {
        /// The document's name.
        source: Arc<str>,
        /// The pointer, e.g. `/Temperatures/2/ReadingCelsius`.
        pointer: String,
    },
    /// A named source as a whole: a record judged after decoding, when its line is no longer
    /// known (the excerpt then names the record: its series and time).
    Source(Arc<str>),
}

/// The JSON form of [`Place`]: every variant an object, so the `at` tag has a place to go.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "at")]
enum PlaceRepr {
    Unknown,
    Line { source: Arc<str>, line: u64 },
    Field { path: String },
    JsonPointer { source: Arc<str>, pointer: String },
    Source { source: Arc<str> },
}

impl From<PlaceRepr> for Place {
    fn from(r: PlaceRepr) -> Place {
        match r {
            PlaceRepr::Unknown => Place::Unknown,
            PlaceRepr::Line { source, line } => Place::Line { source, line },
            PlaceRepr::Field { path } => Place::Field(path),
            PlaceRepr::JsonPointer { source, pointer } => Place::JsonPointer { source, pointer },
            PlaceRepr::Source { source } => Place::Source(source),
        }
    }
}

impl From<Place> for PlaceRepr {
    fn from(p: Place) -> PlaceRepr {
        match p {
            Place::Unknown => PlaceRepr::Unknown,
            Place::Line { source, line } => PlaceRepr::Line { source, line },
            Place::Field(path) => PlaceRepr::Field { path },
            Place::JsonPointer { source, pointer } => PlaceRepr::JsonPointer { source, pointer },
            Place::Source(source) => PlaceRepr::Source { source },
        }
    }
}

impl Place {
    /// A line of a named source.
    pub fn line(source: impl Into<Arc<str>>, line: u64) -> Self {
        Place::Line {
            source: source.into(),
            line,
        }
    }

    /// A JSON pointer into a named document.
    pub fn pointer(source: impl Into<Arc<str>>, pointer: impl Into<String>) -> Self {
        Place::JsonPointer {
            source: source.into(),
            pointer: pointer.into(),
        }
    }

    /// A whole named source.
    pub fn source(source: impl Into<Arc<str>>) -> Self {
        Place::Source(source.into())
    }

    /// A field path.
    pub fn field(path: impl Into<String>) -> Self {
        Place::Field(path.into())
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Unknown => f.write_str("<input>"),
            Place::Line { source, line } => write!(f, "{source}:{line}"),
            Place::Field(path) => f.write_str(path),
            Place::JsonPointer { source, pointer } => write!(f, "{source}#{pointer}"),
            Place::Source(source) => f.write_str(source),
        }
    }
}

/// What kind of problem a [`ModelError`] reports; match on this, not on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A value is out of its documented range or malformed (an empty id, a negative capacity).
    InvalidInput,
    /// A unit symbol that Kelvin does not know.
    UnknownUnit,
    /// A unit that cannot express the requested sensor kind (watts for a temperature).
    IncompatibleUnit,
    /// Two entities share an id.
    DuplicateId,
    /// A reference to an entity that does not exist (a host in an unknown rack).
    DanglingReference,
}

/// The error type of `kelvin-model`: a kind, the place, and a human-readable reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{place}: {reason}")]
pub struct ModelError {
    kind: ErrorKind,
    place: Place,
    reason: String,
}

impl ModelError {
    /// Builds an error. Prefer the specific constructors of the types that validate.
    pub fn new(kind: ErrorKind, place: Place, reason: impl Into<String>) -> Self {
        ModelError {
            kind,
            place,
            reason: reason.into(),
        }
    }

    /// The inspectable kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Where the problem is.
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// Why it is a problem.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The same error, located at `place` (used when a value is validated before its place is known).
    pub fn at(mut self, place: Place) -> Self {
        self.place = place;
        self
    }
}

#[cfg(test)]
mod serde_tests {
    use super::*;

    #[test]
    fn every_place_serializes() {
        for p in [
            Place::Unknown,
            Place::line("a.prom", 3),
            Place::field("hosts[0].rack"),
            Place::pointer("r.json", "/A/0"),
            Place::source("metrics.prom"),
        ] {
            let json = serde_json::to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            let back: Place = serde_json::from_str(&json).unwrap();
            assert_eq!(back, p, "{json}");
        }
    }
}
