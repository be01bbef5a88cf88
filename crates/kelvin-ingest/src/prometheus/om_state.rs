//! What an OpenMetrics line means within its exposition: which metric family and metric it
//! belongs to, what its family's type allows (suffixes, labels, values, exemplars), the order
//! of families, metrics and points, and `# EOF`.
//!
//! A line is first judged ([`OmState::judge`], which changes nothing) and then applied
//! ([`OmState::apply`]): the streaming decoder in `Auto` mode judges a line before it knows
//! whether to read it as OpenMetrics, and holds it back, state untouched, when the verdict
//! depends on the format.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, DefaultHasher, Hasher};

use super::line::LabelSpan;
use super::om_line::{ALL_SUFFIXES, Meta, MetaKind, OmLine, OmSample, OmType, real};
use crate::Reason;

/// A deterministic hasher for names and label sets (reproducible verdicts).
type Fixed = BuildHasherDefault<DefaultHasher>;

/// Most families, and most metrics per family, remembered for the interleaving checks; past
/// them the checks see only what they remember (bounded memory on endless input).
const MAX_REMEMBERED: usize = 100_000;

/// A problem of one line.
pub(super) struct Issue {
    pub(super) reason: Reason,
    pub(super) detail: String,
}

impl Issue {
    pub(super) fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Issue {
            reason,
            detail: detail.into(),
        }
    }
}

/// A problem of a metric point found when the point ends ([`Reason::BadField`]: a histogram
/// without its `+Inf` bucket, a `_count` without a `_sum`), placed at the point's last line.
pub(super) struct Closing {
    pub(super) line: u64,
    pub(super) detail: String,
    pub(super) family: String,
}

/// The judgement of one line: what it changes, the point it ends (if that point is wrong),
/// and its own problem.
pub(super) struct Verdict<'a> {
    pub(super) plan: Plan<'a>,
    pub(super) closing: Option<Closing>,
    pub(super) issue: Option<Issue>,
}

impl Verdict<'_> {
    /// A line that changes nothing and has `issue`.
    pub(super) fn refused(issue: Issue) -> Self {
        Verdict {
            plan: Plan::Nothing,
            closing: None,
            issue: Some(issue),
        }
    }

    /// Whether the line has no problem and ends no wrong point.
    pub(super) fn clean(&self) -> bool {
        self.issue.is_none() && self.closing.is_none()
    }
}

/// What applying a line changes.
pub(super) enum Plan<'a> {
    Nothing,
    Eof,
    Meta {
        start: Option<Start<'a>>,
        kind: MetaKind,
        typ: Option<OmType>,
        unit: bool,
    },
    Sample {
        start: Option<Start<'a>>,
        group: Group,
        new_group: bool,
    },
}

/// A family a line starts.
pub(super) struct Start<'a> {
    name: &'a str,
    typ: OmType,
    /// The line a repeated family was first exposed at.
    repeated: Option<u64>,
}

/// A family seen in this exposition.
#[derive(Clone, Copy)]
struct Seen {
    typ: OmType,
    line: u64,
}

struct Family {
    name: Box<str>,
    typ: OmType,
    typed: bool,
    help: bool,
    unit: bool,
    has_unit: bool,
    sampled: bool,
    repeated: Option<u64>,
    /// The metrics (label sets) already ended.
    groups: HashSet<u64, Fixed>,
    group: Option<Group>,
}

/// The metric (label set, without `le`, `quantile` or a stateset's state) being read.
#[derive(Clone, Copy)]
pub(super) struct Group {
    key: u64,
    stamped: bool,
    last_ts: i128,
    last_line: u64,
    point: Point,
}

/// The metric point (the samples of one timestamp) being read, for histograms.
#[derive(Clone, Copy)]
struct Point {
    last_le: f64,
    last_bucket: f64,
    inf: Option<f64>,
    count: Option<f64>,
    sum: bool,
    negative_le: bool,
    /// One of its samples was refused: what it lacks as a whole is not told again.
    flawed: bool,
}

impl Default for Point {
    fn default() -> Self {
        Point {
            last_le: f64::NEG_INFINITY,
            last_bucket: f64::NEG_INFINITY,
            inf: None,
            count: None,
            sum: false,
            negative_le: false,
            flawed: false,
        }
    }
}

/// The family a sample is judged in: the current one or the one it starts.
struct FamRef<'f> {
    name: &'f str,
    typ: OmType,
    repeated: Option<u64>,
    groups: Option<&'f HashSet<u64, Fixed>>,
    group: Option<Group>,
}

/// The label of a sample that is not part of its metric's identity.
#[derive(Clone, Copy, PartialEq)]
enum Special<'a> {
    Le,
    Quantile,
    State(&'a str),
}

/// The state of one OpenMetrics exposition.
#[derive(Default)]
pub(super) struct OmState {
    /// Every family of the exposition, by name hash.
    families: HashMap<u64, Seen, Fixed>,
    cur: Option<Family>,
    ended: bool,
}

/// The problem of any line after `# EOF`.
pub(super) fn after_eof() -> Issue {
    Issue::new(
        Reason::TrailingGarbage,
        "after '# EOF', which ends an OpenMetrics exposition",
    )
}

fn name_hash(parts: &[&str]) -> u64 {
    let mut h = DefaultHasher::new();
    for p in parts {
        h.write(p.as_bytes());
    }
    h.write_u8(0xff);
    h.finish()
}

fn label_hash(name: &str, value: &str) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(name.as_bytes());
    h.write_u8(0xff);
    h.write(value.as_bytes());
    h.finish()
}

impl OmState {
    /// Whether `# EOF` was read.
    pub(super) fn ended(&self) -> bool {
        self.ended
    }

    /// Forgets the exposition, for the next one.
    pub(super) fn reset(&mut self) {
        self.families.clear();
        self.cur = None;
        self.ended = false;
    }

    /// Judges one parsed line (line number `line_no`) without changing anything.
    pub(super) fn judge<'a>(
        &self,
        line: &OmLine<'a>,
        spans: &[LabelSpan],
        line_no: u64,
    ) -> Verdict<'a> {
        if self.ended {
            return Verdict::refused(after_eof());
        }
        match line {
            OmLine::Eof => Verdict {
                plan: Plan::Eof,
                closing: self.closing(),
                issue: None,
            },
            OmLine::Meta(m) => self.judge_meta(m),
            OmLine::Sample(s) => self.judge_sample(s, spans, line_no),
        }
    }

    /// The problem of the current point, were it to end now.
    pub(super) fn closing(&self) -> Option<Closing> {
        let f = self.cur.as_ref()?;
        let g = f.group.as_ref()?;
        point_problem(f.typ, &g.point).map(|detail| Closing {
            line: g.last_line,
            detail,
            family: f.name.to_string(),
        })
    }

    fn seen(&self, parts: &[&str]) -> Option<Seen> {
        self.families.get(&name_hash(parts)).copied()
    }

    fn judge_meta<'a>(&self, m: &Meta<'a>) -> Verdict<'a> {
        let (kw, name) = (m.kind.as_str(), m.name);
        let mut v = Verdict {
            plan: Plan::Meta {
                start: None,
                kind: m.kind,
                typ: m.typ,
                unit: !m.unit.is_empty(),
            },
            closing: None,
            issue: None,
        };
        match &self.cur {
            Some(f) if *f.name == *name => {
                let again = match m.kind {
                    MetaKind::Type => f.typed,
                    MetaKind::Help => f.help,
                    MetaKind::Unit => f.unit,
                };
                if f.sampled || again {
                    let why = if f.sampled {
                        format!("{kw} for {name} after its samples: metadata comes first")
                    } else {
                        format!("second {kw} for {name}")
                    };
                    return Verdict::refused(Issue::new(Reason::BadMetadata, why));
                }
                v.issue = self.meta_problem(m, f.typ, f.has_unit);
            }
            _ => {
                v.closing = self.closing();
                let typ = m.typ.unwrap_or(OmType::Unknown);
                let start = match self.seen(&[name]) {
                    Some(seen) => {
                        v.issue = Some(Issue::new(
                            Reason::BadMetadata,
                            format!(
                                "metric family {name} was already exposed (line {}): \
                                 OpenMetrics forbids repeated and interleaved families",
                                seen.line
                            ),
                        ));
                        Start {
                            name,
                            typ: seen.typ,
                            repeated: Some(seen.line),
                        }
                    }
                    None => {
                        v.issue = self.sample_of_another(name).map_or_else(
                            || self.meta_problem(m, typ, false),
                            |(base, seen, _)| {
                                Some(Issue::new(
                                    Reason::BadMetadata,
                                    format!(
                                        "family {name} clashes with {} family {base}, whose \
                                         samples include {name}",
                                        seen.typ.as_str()
                                    ),
                                ))
                            },
                        );
                        Start {
                            name,
                            typ,
                            repeated: None,
                        }
                    }
                };
                if let Plan::Meta { start: s, .. } = &mut v.plan {
                    *s = Some(start);
                }
            }
        }
        v
    }

    /// The family (name, what is known of it, suffix) a sample or family named `name` would
    /// be a sample of, when `name` is an earlier family's name plus one of its type's suffixes.
    fn sample_of_another<'n>(&self, name: &'n str) -> Option<(&'n str, Seen, &'static str)> {
        ALL_SUFFIXES.iter().find_map(|&sfx| {
            let base = name.strip_suffix(sfx).filter(|b| !b.is_empty())?;
            let seen = self.seen(&[base])?;
            seen.typ
                .suffixes()
                .contains(&sfx)
                .then_some((base, seen, sfx))
        })
    }

    /// A `# TYPE` or `# UNIT` that does not fit family `m.name` of type `typ`: a unit that is
    /// not the name's suffix or on a type without units, a type whose sample names are other
    /// families' names.
    fn meta_problem(&self, m: &Meta<'_>, typ: OmType, has_unit: bool) -> Option<Issue> {
        let name = m.name;
        let problem = |d: String| Some(Issue::new(Reason::BadMetadata, d));
        match m.kind {
            MetaKind::Unit if !m.unit.is_empty() => {
                let unit = m.unit;
                if !typ.takes_unit() {
                    return problem(format!("{} family has no unit", typ.a()));
                }
                let suffixed = name
                    .strip_suffix(unit)
                    .is_some_and(|head| head.len() > 1 && head.ends_with('_'));
                if !suffixed {
                    return problem(format!(
                        "unit {unit:?} is not the suffix _{unit} of the family name {name}"
                    ));
                }
                None
            }
            MetaKind::Type => {
                if has_unit && !typ.takes_unit() {
                    return problem(format!(
                        "{} family has no unit, and {name} has a # UNIT",
                        typ.a()
                    ));
                }
                let sfx = typ
                    .suffixes()
                    .iter()
                    .find(|s| !s.is_empty() && self.seen(&[name, s]).is_some())?;
                problem(format!(
                    "{} family {name} has samples named {name}{sfx}, an earlier family's name",
                    typ.a()
                ))
            }
            _ => None,
        }
    }

    /// The family a sample that fits no current family starts, and its suffix there.
    fn implicit_start<'a>(&self, name: &'a str) -> (Start<'a>, &'static str) {
        if let Some(seen) = self.seen(&[name]) {
            let typ = if seen.typ.suffixes().contains(&"") {
                seen.typ
            } else {
                OmType::Unknown
            };
            let start = Start {
                name,
                typ,
                repeated: Some(seen.line),
            };
            return (start, "");
        }
        if let Some((base, seen, sfx)) = self.sample_of_another(name) {
            let start = Start {
                name: base,
                typ: seen.typ,
                repeated: Some(seen.line),
            };
            return (start, sfx);
        }
        let start = Start {
            name,
            typ: OmType::Unknown,
            repeated: None,
        };
        (start, "")
    }

    fn judge_sample<'a>(&self, s: &OmSample<'a>, spans: &[LabelSpan], line_no: u64) -> Verdict<'a> {
        let name = s.core.metric;
        let current = self.cur.as_ref().and_then(|f| {
            let sfx = f.typ.suffix_of(name, &f.name)?;
            let fam = FamRef {
                name: &f.name,
                typ: f.typ,
                repeated: f.repeated,
                groups: Some(&f.groups),
                group: f.group,
            };
            Some((fam, sfx))
        });
        let (fam, sfx, start, mut closing) = match current {
            Some((fam, sfx)) => (fam, sfx, None, None),
            None if self.cur.as_ref().is_some_and(|f| *f.name == *name) => {
                return Verdict::refused(self.misnamed(name));
            }
            None => {
                let (start, sfx) = self.implicit_start(name);
                let fam = FamRef {
                    name: start.name,
                    typ: start.typ,
                    repeated: start.repeated,
                    groups: None,
                    group: None,
                };
                (fam, sfx, Some(start), self.closing())
            }
        };
        let mut issue = fam.repeated.map(|line| {
            let what = format!(
                "metric family {} was already exposed (line {line}): OpenMetrics forbids \
                 interleaved and repeated families",
                fam.name
            );
            Issue::new(Reason::Duplicate, what)
        });
        let (key, le, label_issue) = labels(s, spans, &fam, sfx);
        issue = issue
            .or(label_issue)
            .or_else(|| value_problem(fam.typ, sfx, s))
            .or_else(|| exemplar_problem(fam.typ, sfx, s, le));
        let prev = fam.group.filter(|g| g.key == key);
        let new_group = prev.is_none();
        if new_group && fam.groups.is_some_and(|gs| gs.contains(&key)) {
            let what = format!(
                "metric {} was already exposed in family {}: OpenMetrics forbids interleaved \
                 metrics",
                s.core.series, fam.name
            );
            issue = issue.or(Some(Issue::new(Reason::Duplicate, what)));
        }
        if new_group && start.is_none() {
            closing = self.closing();
        }
        let ts = s.ts.map(|(ns, _)| ns);
        let mut g = prev.unwrap_or(Group {
            key,
            stamped: ts.is_some(),
            last_ts: ts.unwrap_or(0),
            last_line: line_no,
            point: Point::default(),
        });
        if let Some(p) = prev {
            let order = time_order(p, ts, s.core.series);
            issue = issue.or(order);
            if ts.is_some_and(|t| t > p.last_ts) {
                // A later point of the same metric: the previous one ends.
                closing = point_problem(fam.typ, &p.point).map(|detail| Closing {
                    line: p.last_line,
                    detail,
                    family: fam.name.to_string(),
                });
                g.point = Point::default();
            }
            g.last_ts = g.last_ts.max(ts.unwrap_or(i128::MIN));
        }
        g.last_line = line_no;
        let step = point_step(fam.typ, sfx, le, s.core.value, &mut g.point);
        issue = issue.or(step);
        g.point.flawed |= issue.is_some();
        Verdict {
            plan: Plan::Sample {
                start,
                group: g,
                new_group,
            },
            closing,
            issue,
        }
    }

    /// The problem of a sample named as its family, whose type gives its samples suffixes.
    fn misnamed(&self, name: &str) -> Issue {
        let typ = self.cur.as_ref().map_or(OmType::Unknown, |f| f.typ);
        let names: Vec<String> = typ
            .suffixes()
            .iter()
            .map(|s| format!("{name}{s}"))
            .collect();
        Issue::new(
            Reason::BadMetricName,
            format!(
                "sample {name} in {} family {name}, whose samples are named {}",
                typ.as_str(),
                names.join(", ")
            ),
        )
    }

    /// Applies a judged line (`line_no`).
    pub(super) fn apply(&mut self, plan: Plan<'_>, line_no: u64) {
        match plan {
            Plan::Nothing => {}
            Plan::Eof => self.ended = true,
            Plan::Meta {
                start,
                kind,
                typ,
                unit,
            } => {
                if let Some(st) = start {
                    self.start(st, line_no);
                }
                let Some(f) = self.cur.as_mut() else { return };
                match kind {
                    MetaKind::Type => {
                        f.typed = true;
                        if let Some(t) = typ {
                            f.typ = t;
                            if f.repeated.is_none()
                                && let Some(seen) = self.families.get_mut(&name_hash(&[&f.name]))
                            {
                                seen.typ = t;
                            }
                        }
                    }
                    MetaKind::Help => f.help = true,
                    MetaKind::Unit => {
                        f.unit = true;
                        f.has_unit = unit;
                    }
                }
            }
            Plan::Sample {
                start,
                group,
                new_group,
            } => {
                if let Some(st) = start {
                    self.start(st, line_no);
                }
                let Some(f) = self.cur.as_mut() else { return };
                f.sampled = true;
                if new_group
                    && let Some(old) = f.group
                    && f.groups.len() < MAX_REMEMBERED
                {
                    f.groups.insert(old.key);
                }
                f.group = Some(group);
            }
        }
    }

    fn start(&mut self, st: Start<'_>, line_no: u64) {
        let h = name_hash(&[st.name]);
        if self.families.len() < MAX_REMEMBERED && !self.families.contains_key(&h) {
            let seen = Seen {
                typ: st.typ,
                line: line_no,
            };
            self.families.insert(h, seen);
        }
        let mut groups = self.cur.take().map(|f| f.groups).unwrap_or_default();
        groups.clear();
        self.cur = Some(Family {
            name: st.name.into(),
            typ: st.typ,
            typed: false,
            help: false,
            unit: false,
            has_unit: false,
            sampled: false,
            repeated: st.repeated,
            groups,
            group: None,
        });
    }
}

/// Whether timestamp `ts` may follow metric `g`'s samples: all or none of a metric's samples
/// have one, and they do not go back.
fn time_order(g: Group, ts: Option<i128>, series: &str) -> Option<Issue> {
    let what = match ts {
        Some(_) if !g.stamped => "has a timestamp, and the metric's earlier samples have none",
        None if g.stamped => "has no timestamp, and the metric's earlier samples have one",
        Some(t) if t < g.last_ts => "goes back in time: a metric's points are in time order",
        _ => return None,
    };
    Some(Issue::new(
        Reason::BadTimestamp,
        format!("sample of {series} {what}"),
    ))
}

/// The labels of a sample: its metric's key (a hash of its labels but the special one), the
/// numeric `le` of a bucket, and a label problem.
fn labels(
    s: &OmSample<'_>,
    spans: &[LabelSpan],
    fam: &FamRef<'_>,
    sfx: &str,
) -> (u64, Option<f64>, Option<Issue>) {
    use OmType::{GaugeHistogram, Histogram, StateSet, Summary};
    let line = s.core.line;
    let special = match (fam.typ, sfx) {
        (Histogram | GaugeHistogram, "_bucket") => Some(Special::Le),
        (Summary, "") => Some(Special::Quantile),
        (StateSet, _) => Some(Special::State(fam.name)),
        _ => None,
    };
    let forbidden = match fam.typ {
        Histogram | GaugeHistogram => "le",
        Summary => "quantile",
        _ => "",
    };
    let (mut key, mut found, mut issue) = (0u64, None, None);
    for sp in spans {
        let (n, v) = (&line[sp.name.0..sp.name.1], &line[sp.value.0..sp.value.1]);
        let is = match special {
            Some(Special::Le) => n == "le",
            Some(Special::Quantile) => n == "quantile",
            Some(Special::State(f)) => n == f,
            None => false,
        };
        if is {
            found = Some(v);
            continue;
        }
        if n == forbidden && issue.is_none() {
            let what = format!(
                "label {n} is only for {} family's {} samples",
                fam.typ.a(),
                if n == "le" { "_bucket" } else { "quantile" }
            );
            issue = Some(Issue::new(Reason::BadLabels, what));
        }
        key = key.wrapping_add(label_hash(n, v));
    }
    let mut le = None;
    let need = |label: &str| {
        let what = format!(
            "{} family's sample {} needs a label {label}",
            fam.typ.a(),
            s.core.metric
        );
        Some(Issue::new(Reason::BadLabels, what))
    };
    let special_issue = match (special, found) {
        (None, _) => None,
        (Some(Special::Le), None) => need("le"),
        (Some(Special::Quantile), None) => need("quantile"),
        (Some(Special::State(f)), None) => need(f),
        (Some(Special::Le), Some(v)) => {
            le = if v == "+Inf" {
                Some(f64::INFINITY)
            } else {
                real(v)
            };
            le.is_none().then(|| {
                let what = format!("le {v:?} is not a number (the last bucket is \"+Inf\")");
                Issue::new(Reason::BadLabels, what)
            })
        }
        (Some(Special::Quantile), Some(v)) => {
            let ok = real(v).is_some_and(|q| (0.0..=1.0).contains(&q));
            (!ok).then(|| {
                let what = format!("quantile {v:?} is not a number from 0 to 1");
                Issue::new(Reason::BadLabels, what)
            })
        }
        (Some(Special::State(_)), Some(_)) => None,
    };
    (key, le, issue.or(special_issue))
}

/// A value the sample's type forbids: NaN or negative counts and sums, non-integer counts,
/// stateset values other than 0 and 1, info values other than 1.
fn value_problem(typ: OmType, sfx: &str, s: &OmSample<'_>) -> Option<Issue> {
    use OmType::{Counter, GaugeHistogram, Histogram, Info, StateSet, Summary};
    let v = s.core.value;
    let rule = match (typ, sfx) {
        (Counter, "_total") if v.is_nan() || v < 0.0 => {
            "a counter's total is neither NaN nor negative"
        }
        (Histogram, "_bucket" | "_count")
        | (GaugeHistogram, "_bucket" | "_gcount")
        | (Summary, "_count")
            if v.is_nan() || v < 0.0 || v.fract() != 0.0 =>
        {
            "a count is a non-negative integer"
        }
        (Histogram | Summary, "_sum") if v.is_nan() || v < 0.0 => {
            "a sum of observations is neither NaN nor negative"
        }
        (GaugeHistogram, "_gsum") if v.is_nan() => "a gaugehistogram's _gsum is not NaN",
        (Summary, "") if v < 0.0 => "a quantile's value is not negative",
        (StateSet, _) if v != 0.0 && v != 1.0 => "a stateset's value is 0 or 1",
        (Info, _) if v != 1.0 => "an info's value is 1",
        _ => return None,
    };
    let what = format!(
        "value {} of {} sample {}: {rule}",
        v,
        typ.as_str(),
        s.core.metric
    );
    Some(Issue::new(Reason::BadValue, what))
}

/// An exemplar where OpenMetrics allows none (only counter totals and histogram buckets have
/// them), or outside its bucket.
fn exemplar_problem(typ: OmType, sfx: &str, s: &OmSample<'_>, le: Option<f64>) -> Option<Issue> {
    let x = s.exemplar?;
    let allowed = matches!(
        (typ, sfx),
        (OmType::Counter, "_total") | (OmType::Histogram | OmType::GaugeHistogram, "_bucket")
    );
    if !allowed {
        let what = format!(
            "an exemplar on {} sample {}: only counter totals and histogram buckets have them",
            typ.as_str(),
            s.core.metric
        );
        return Some(Issue::new(Reason::TrailingGarbage, what));
    }
    let le = le.filter(|le| x > *le)?;
    let what = format!("exemplar value {x} is above its bucket's le {le}");
    Some(Issue::new(Reason::BadValue, what))
}

/// Follows a histogram point's buckets, count and sum: buckets in increasing `le` and
/// cumulative, the count equal to the `+Inf` bucket, no `_sum` beside negative buckets (and a
/// negative `_gsum` only beside them).
fn point_step(typ: OmType, sfx: &str, le: Option<f64>, v: f64, p: &mut Point) -> Option<Issue> {
    use OmType::{GaugeHistogram, Histogram};
    let problem = |reason, what: String| Some(Issue::new(reason, what));
    match (typ, sfx) {
        (Histogram | GaugeHistogram, "_bucket") => {
            let le = le?;
            let (last_le, last) = (p.last_le, p.last_bucket);
            p.last_le = le;
            p.negative_le |= le < 0.0;
            if !v.is_nan() {
                p.last_bucket = p.last_bucket.max(v);
            }
            if le.is_infinite() {
                p.inf = Some(v);
            }
            if le <= last_le {
                return problem(
                    Reason::BadLabels,
                    format!("bucket le {le} after le {last_le}: buckets go in increasing le"),
                );
            }
            if v < last {
                return problem(
                    Reason::BadValue,
                    format!(
                        "bucket value {v} below the previous bucket's {last}: buckets are \
                         cumulative"
                    ),
                );
            }
            match p.count {
                Some(c) if le.is_infinite() && c != v => problem(
                    Reason::BadValue,
                    format!("the +Inf bucket {v} differs from the point's count {c}"),
                ),
                _ => None,
            }
        }
        (Histogram, "_count") | (GaugeHistogram, "_gcount") => {
            p.count = Some(v);
            match p.inf {
                Some(i) if i != v => problem(
                    Reason::BadValue,
                    format!("count {v} differs from the point's +Inf bucket {i}"),
                ),
                _ => None,
            }
        }
        (Histogram, "_sum") => {
            p.sum = true;
            p.negative_le.then(|| {
                Issue::new(
                    Reason::BadValue,
                    "a histogram with negative buckets has no _sum",
                )
            })
        }
        (GaugeHistogram, "_gsum") => {
            p.sum = true;
            (v < 0.0 && !p.negative_le).then(|| {
                Issue::new(
                    Reason::BadValue,
                    "a gaugehistogram's _gsum is negative only beside negative buckets",
                )
            })
        }
        _ => None,
    }
}

/// What is wrong with a histogram point as a whole, when it ends: no `+Inf` bucket, a count
/// without a sum or a sum without a count.
fn point_problem(typ: OmType, p: &Point) -> Option<String> {
    let (count, sum) = match typ {
        OmType::Histogram => ("_count", "_sum"),
        OmType::GaugeHistogram => ("_gcount", "_gsum"),
        _ => return None,
    };
    let t = typ.as_str();
    if p.flawed {
        None
    } else if p.inf.is_none() {
        Some(format!("a {t} point needs a bucket with le=\"+Inf\""))
    } else if p.count.is_some() != p.sum {
        Some(format!(
            "a {t} point has {count} if and only if it has {sum}"
        ))
    } else {
        None
    }
}
