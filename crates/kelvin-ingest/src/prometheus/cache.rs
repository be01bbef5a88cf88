//! The series cache: how each distinct series text maps, kept across decoders of a source.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use kelvin_model::EntityId;

use super::{Decoder, Resolution};
use crate::{Place, Reason};

/// Most distinct series a decoder remembers; past it the cache starts over (hostile input with
/// endless distinct series costs time, not memory).
const SERIES_CACHE: usize = 100_000;

/// Most bytes of series text the cache holds (a series is up to a line long): past it the
/// cache starts over too.
const SERIES_CACHE_BYTES: usize = 16 << 20;

/// Series resolutions kept from one decoder to the next of the same source, so a caller that
/// decodes one scrape at a time (a live engine: one batch per scrape) maps each series once,
/// not once per scrape ([`Decoder::with_cache`](super::Decoder::with_cache),
/// [`parse_str_cached`](super::parse_str_cached)). Resolutions depend on
/// [`ParseOptions::known_entities`](super::ParseOptions::known_entities): a cache used with a
/// different set, or with a set changed since (through [`Arc::make_mut`], which a cache's weak
/// reference sees), starts over. Bounded as a decoder's own cache is (100,000 series, 16 MiB
/// of series text). With [`ParseOptions::every_unmapped`](super::ParseOptions::every_unmapped)
/// off, it also remembers which metrics without a rule have had their example record, so a
/// source's later scrapes count those metrics' samples without a record.
///
/// ```
/// use kelvin_ingest::RuleSet;
/// use kelvin_ingest::prometheus::{ParseOptions, SeriesCache, parse_str_cached};
///
/// let rules = RuleSet::builtin();
/// let mut cache = SeriesCache::default();
/// let scrape = "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 150 1700000000000\n";
/// for _ in 0..3 {
///     let b = parse_str_cached(scrape, "bmc", &rules, &ParseOptions::default(), &mut cache);
///     assert_eq!(b.readings.len(), 1);
/// }
/// assert_eq!(cache.len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct SeriesCache {
    /// Each resolution with the generation of the known-entity set it was made (or last
    /// checked) against.
    /// Hashed with foldhash, seeded per cache: looked up with every mapped sample's series
    /// text; a crafted collision costs at most a scan of the cache's capped entries.
    map: HashMap<Box<str>, (Resolution, u64), foldhash::fast::RandomState>,
    bytes: usize,
    /// The known-entity set of the current generation (`None`: none).
    known: Option<Weak<HashSet<EntityId>>>,
    generation: u64,
    /// Metrics without a rule already quarantined with an example (with
    /// [`ParseOptions::every_unmapped`](super::ParseOptions::every_unmapped) off), at most
    /// [`MAX_UNMAPPED_EXAMPLES`](super::MAX_UNMAPPED_EXAMPLES). Looked up once per sample of
    /// a node exporter's scrape, so hashed with foldhash, a word at a time (FNV-1a, a byte
    /// at a time, was a quarter of the steady decoder's time); the names come from scraped
    /// text, but the hasher is seeded per set and the set is capped, so a crafted collision
    /// costs at most a scan of its entries.
    pub(super) unmapped: HashSet<Box<str>, foldhash::fast::RandomState>,
}

impl SeriesCache {
    /// Distinct series held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    /// Starts a new generation unless `known` is the set of the current one, unchanged:
    /// resolutions of older generations are then checked again before use ([`Self::get`]).
    pub(super) fn align(&mut self, known: Option<&Arc<HashSet<EntityId>>>) {
        let same = match (&self.known, known) {
            (None, None) => true,
            (Some(w), Some(k)) => w.upgrade().is_some_and(|a| Arc::ptr_eq(&a, k)),
            _ => false,
        };
        if !same {
            self.generation += 1;
            self.known = known.map(Arc::downgrade);
        }
    }

    /// The resolution of `series`, if cached and still what resolving it against `known`
    /// would give: one of this generation, or a settled one whose entity `known` still holds.
    pub(super) fn get(
        &mut self,
        series: &str,
        known: Option<&HashSet<EntityId>>,
    ) -> Option<Resolution> {
        let generation = self.generation;
        let (r, g) = self.map.get_mut(series)?;
        if *g != generation {
            let holds = |e: &EntityId| known.is_none_or(|k| k.contains(e));
            match r {
                Resolution::Mapped {
                    settled: true,
                    entity,
                    ..
                } if holds(entity) => {}
                _ => return None,
            }
            *g = generation;
        }
        Some(r.clone())
    }

    pub(super) fn insert(&mut self, series: &str, r: &Resolution) {
        let cost = series.len() + r.heap_bytes();
        if self.map.len() >= SERIES_CACHE || self.bytes + cost > SERIES_CACHE_BYTES {
            self.clear();
        }
        self.bytes += cost;
        if let Some((old, _)) = self.map.insert(series.into(), (r.clone(), self.generation)) {
            self.bytes -= (series.len() + old.heap_bytes()).min(self.bytes);
        }
    }
}

impl Resolution {
    /// The heap a cached resolution holds beside its series text.
    fn heap_bytes(&self) -> usize {
        match self {
            Resolution::Mapped { seed, .. } => seed.as_ref().map_or(0, |s| s.heap_bytes()),
            Resolution::Rejected { detail, .. } => detail.capacity(),
        }
    }
}

/// A metric's family for the unmapped examples: its name without a histogram's or summary's
/// sample suffix (`_bucket`, `_sum`, `_count`, `_created`).
pub(super) fn family(metric: &str) -> &str {
    ["_bucket", "_sum", "_count", "_created"]
        .iter()
        .find_map(|s| metric.strip_suffix(s).filter(|f| !f.is_empty()))
        .unwrap_or(metric)
}

impl Decoder<'_> {
    /// The fast path of an unmapped family that already has its example: counts the sample
    /// by its name alone, without parsing the rest of the line (most of a node exporter's
    /// scrape), and says whether it did.
    pub(super) fn counted_by_name(&mut self, text: &str) -> bool {
        if self.opts.every_unmapped || self.cache.unmapped.is_empty() {
            return false;
        }
        let end = text
            .bytes()
            .position(|c| matches!(c, b'{' | b' ' | b'\t'))
            .unwrap_or(text.len());
        if end == 0 || !self.cache.unmapped.contains(family(&text[..end])) {
            return false;
        }
        self.count_unmapped(text);
        true
    }

    /// Counts a sample of a metric family already quarantined with an example, without a
    /// record of its own.
    pub(super) fn count_unmapped(&mut self, text: &str) {
        let (source, line) = (&self.source, self.line_no);
        if self
            .batch
            .admit_record(|| (Place::line(Arc::clone(source), line), text))
        {
            self.batch.reject_repeat(Reason::UnmappedMetric);
        }
    }
}
