//! A quarantine a long-running embedder keeps: counts forever, examples bounded, drained or
//! watched as records arrive.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use kelvin_model::Place;

use crate::batch::cut;
use crate::{IngestBatch, Quarantined, Reason};

/// Longest place string (a field path, a JSON pointer, a source name) an example keeps, in
/// bytes.
const PLACE_BYTES: usize = 512;

/// The quarantine of a service that runs for months: every record counted, per [`Reason`] and
/// in total, for ever (`u64`); examples kept in bounded memory — the most recent `capacity`
/// records in a ring, plus the first example of each reason, so that no reason counted is
/// ever without an example (until [`QuarantineLog::drain`] takes them) — and subscribers called
/// for every record pushed.
///
/// Each example is bounded too: its excerpt and detail as [`Quarantined::new`] bounds them
/// (records built field by field are cut to the same bounds on the way in) and its place's
/// strings at 512 bytes. So the log holds at most `capacity + Reason::ALL.len()` examples of
/// at most a few KiB each, whatever is pushed.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use kelvin_ingest::{QuarantineLog, Quarantined, Reason};
/// use kelvin_model::Place;
///
/// let mut log = QuarantineLog::new(2);
/// let seen = Arc::new(Mutex::new(0u64));
/// let counter = Arc::clone(&seen);
/// log.subscribe(Box::new(move |_q: &Quarantined| *counter.lock().unwrap() += 1));
/// log.push(Quarantined::new(Place::line("scrape", 1), Reason::BadValue, "x", "up x"));
/// for i in 0..1_000 {
///     log.push(Quarantined::new(Place::line("scrape", i), Reason::UnmappedMetric, "", "go_gc 1"));
/// }
/// assert_eq!((log.total(), log.counts()[&Reason::UnmappedMetric]), (1_001, 1_000));
/// assert_eq!(*seen.lock().unwrap(), 1_001);
/// // the first bad_value, the first unmapped_metric, the two most recent
/// assert_eq!(log.examples().count(), 4);
/// assert_eq!(log.drain().len(), 4);
/// assert_eq!((log.examples().count(), log.total()), (0, 1_001));
/// ```
pub struct QuarantineLog {
    capacity: usize,
    counts: BTreeMap<Reason, u64>,
    total: u64,
    /// The number of the next example kept.
    seq: u64,
    /// The most recent examples, oldest first, with their numbers.
    recent: VecDeque<(u64, Quarantined)>,
    /// The number of the first example of each reason since the last drain.
    first: BTreeMap<Reason, u64>,
    /// First examples that left the ring, by reason.
    pinned: BTreeMap<Reason, (u64, Quarantined)>,
    subscribers: Vec<(SubscriberId, Subscriber)>,
    next_subscriber: u64,
}

/// A function called with every record pushed into a [`QuarantineLog`].
pub type Subscriber = Box<dyn FnMut(&Quarantined) + Send>;

/// Names a subscriber of a [`QuarantineLog`], to remove it ([`QuarantineLog::unsubscribe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId(u64);

impl fmt::Debug for QuarantineLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuarantineLog")
            .field("capacity", &self.capacity)
            .field("total", &self.total)
            .field("counts", &self.counts)
            .field("examples", &self.len())
            .field("subscribers", &self.subscribers.len())
            .finish()
    }
}

impl Default for QuarantineLog {
    /// A log keeping the [`QuarantineLog::DEFAULT_CAPACITY`] most recent examples.
    fn default() -> Self {
        QuarantineLog::new(Self::DEFAULT_CAPACITY)
    }
}

impl QuarantineLog {
    /// 1,000 recent examples: a screenful of each kind of trouble, well under a few MiB.
    pub const DEFAULT_CAPACITY: usize = 1_000;

    /// An empty log keeping the `capacity` most recent examples (and the first of each
    /// reason).
    pub fn new(capacity: usize) -> Self {
        QuarantineLog {
            capacity,
            counts: BTreeMap::new(),
            total: 0,
            seq: 0,
            recent: VecDeque::with_capacity(capacity.min(4_096)),
            first: BTreeMap::new(),
            pinned: BTreeMap::new(),
            subscribers: Vec::new(),
            next_subscriber: 0,
        }
    }

    /// How many recent examples it keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Counts a record, calls every subscriber with it, and keeps it as an example.
    pub fn push(&mut self, q: Quarantined) {
        let q = bounded(q);
        self.count(q.reason, 1);
        for (_, f) in &mut self.subscribers {
            f(&q);
        }
        self.keep(q);
    }

    /// Pushes every record of a batch's quarantine and counts the records the batch counted
    /// but did not keep (past its output budget, [`IngestBatch::stats`] counts more than
    /// [`IngestBatch::quarantine`] holds): so [`QuarantineLog::counts`] adds up to the
    /// batches' counts. Subscribers see the records kept. The batch's quarantine is left
    /// empty; its stats stay.
    pub fn extend_from_batch(&mut self, batch: &mut IngestBatch) {
        let mut kept: BTreeMap<Reason, u64> = BTreeMap::new();
        for q in std::mem::take(&mut batch.quarantine) {
            *kept.entry(q.reason).or_default() += 1;
            self.push(q);
        }
        for (reason, n) in &batch.stats.by_reason {
            let more = n.saturating_sub(kept.get(reason).copied().unwrap_or(0));
            if more > 0 {
                self.count(*reason, more);
            }
        }
    }

    /// Adds counts without examples: records counted elsewhere, or the counts a restarted
    /// service kept from its last run.
    pub fn add_counts(&mut self, counts: &BTreeMap<Reason, u64>) {
        for (reason, n) in counts {
            self.count(*reason, *n);
        }
    }

    fn count(&mut self, reason: Reason, n: u64) {
        let c = self.counts.entry(reason).or_default();
        *c = c.saturating_add(n);
        self.total = self.total.saturating_add(n);
    }

    /// Keeps `q` in the ring; the first of its reason is pinned when it leaves the ring.
    fn keep(&mut self, q: Quarantined) {
        let seq = self.seq;
        self.seq += 1;
        let is_first = !self.first.contains_key(&q.reason);
        if is_first {
            self.first.insert(q.reason, seq);
        }
        if self.capacity == 0 {
            if is_first {
                self.pinned.insert(q.reason, (seq, q));
            }
            return;
        }
        if self.recent.len() == self.capacity
            && let Some((old_seq, old)) = self.recent.pop_front()
            && self.first.get(&old.reason) == Some(&old_seq)
        {
            self.pinned.insert(old.reason, (old_seq, old));
        }
        self.recent.push_back((seq, q));
    }

    /// The examples kept, oldest first: the first of each reason that left the ring, then the
    /// ring.
    pub fn examples(&self) -> impl Iterator<Item = &Quarantined> {
        let mut pinned: Vec<&(u64, Quarantined)> = self.pinned.values().collect();
        pinned.sort_by_key(|(seq, _)| *seq);
        pinned.into_iter().chain(self.recent.iter()).map(|(_, q)| q)
    }

    /// How many examples are kept.
    pub fn len(&self) -> usize {
        self.pinned.len() + self.recent.len()
    }

    /// Whether no example is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records counted per reason, since the log was made.
    pub fn counts(&self) -> &BTreeMap<Reason, u64> {
        &self.counts
    }

    /// Records counted for one reason.
    pub fn count_of(&self, reason: Reason) -> u64 {
        self.counts.get(&reason).copied().unwrap_or(0)
    }

    /// Records counted, since the log was made.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Continues counting from `counts` (a restarted process's totals, by reason): adds them
    /// to the counts and the total; the examples stay as they are.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use kelvin_ingest::{QuarantineLog, Reason};
    ///
    /// let mut log = QuarantineLog::new(10);
    /// log.carry_counts(&BTreeMap::from([(Reason::UnknownEntity, 7)]));
    /// assert_eq!((log.count_of(Reason::UnknownEntity), log.total(), log.len()), (7, 7, 0));
    /// ```
    pub fn carry_counts(&mut self, counts: &BTreeMap<Reason, u64>) {
        for (r, n) in counts {
            *self.counts.entry(*r).or_default() += n;
            self.total += n;
        }
    }

    /// Takes the examples out, oldest first; the counts stay, and the next record of each
    /// reason is that reason's first example again.
    pub fn drain(&mut self) -> Vec<Quarantined> {
        let mut pinned: Vec<(u64, Quarantined)> =
            std::mem::take(&mut self.pinned).into_values().collect();
        pinned.sort_by_key(|(seq, _)| *seq);
        self.first.clear();
        pinned
            .into_iter()
            .chain(self.recent.drain(..))
            .map(|(_, q)| q)
            .collect()
    }

    /// Calls `f` with every record pushed from now on (all of them, not only the examples
    /// kept), in order, before it is kept.
    pub fn subscribe(&mut self, f: Subscriber) -> SubscriberId {
        let id = SubscriberId(self.next_subscriber);
        self.next_subscriber += 1;
        self.subscribers.push((id, f));
        id
    }

    /// Removes a subscriber; `false` when it was not subscribed.
    pub fn unsubscribe(&mut self, id: SubscriberId) -> bool {
        let n = self.subscribers.len();
        self.subscribers.retain(|(s, _)| *s != id);
        self.subscribers.len() != n
    }
}

impl Extend<Quarantined> for QuarantineLog {
    /// Pushes each record ([`QuarantineLog::push`]); for a batch's quarantine, prefer
    /// [`QuarantineLog::extend_from_batch`], which also counts what the batch did not keep.
    fn extend<I: IntoIterator<Item = Quarantined>>(&mut self, records: I) {
        for q in records {
            self.push(q);
        }
    }
}

/// `q` within the bounds of an example: excerpt and detail as [`Quarantined::new`] cuts them,
/// place strings at [`PLACE_BYTES`].
fn bounded(q: Quarantined) -> Quarantined {
    let fits = q.excerpt.len() <= Quarantined::EXCERPT_BYTES
        && q.detail.len() <= Quarantined::DETAIL_BYTES
        && place_fits(&q.place);
    if fits {
        return q;
    }
    let place = match q.place {
        Place::Line { source, line } => Place::Line {
            source: cut_arc(source),
            line,
        },
        Place::JsonPointer { source, pointer } => Place::JsonPointer {
            source: cut_arc(source),
            pointer: cut(&pointer, PLACE_BYTES).to_string(),
        },
        Place::Field(f) => Place::Field(cut(&f, PLACE_BYTES).to_string()),
        Place::Source(s) => Place::Source(cut_arc(s)),
        other => other,
    };
    Quarantined::new(place, q.reason, q.detail, &q.excerpt)
}

fn place_fits(p: &Place) -> bool {
    match p {
        Place::Line { source, .. } | Place::Source(source) => source.len() <= PLACE_BYTES,
        Place::JsonPointer { source, pointer } => {
            source.len() <= PLACE_BYTES && pointer.len() <= PLACE_BYTES
        }
        Place::Field(f) => f.len() <= PLACE_BYTES,
        _ => true,
    }
}

fn cut_arc(s: Arc<str>) -> Arc<str> {
    if s.len() <= PLACE_BYTES {
        s
    } else {
        Arc::from(cut(&s, PLACE_BYTES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Mutex;

    fn q(reason: Reason, i: u64) -> Quarantined {
        Quarantined::new(Place::line("s", i), reason, format!("#{i}"), "x")
    }

    #[test]
    fn the_ring_keeps_the_latest_and_the_first_of_each_reason() {
        let mut log = QuarantineLog::new(3);
        log.push(q(Reason::BadValue, 0));
        for i in 1..=10 {
            log.push(q(Reason::UnmappedMetric, i));
        }
        log.push(q(Reason::BadValue, 11));
        let details: Vec<&str> = log.examples().map(|q| q.detail.as_str()).collect();
        assert_eq!(details, ["#0", "#1", "#9", "#10", "#11"]);
        assert_eq!(log.count_of(Reason::BadValue), 2);
        assert_eq!(log.total(), 12);
        let drained = log.drain();
        assert_eq!(drained.len(), 5);
        assert!(log.is_empty());
        // after a drain, the next record of a reason is its first example again
        for i in 12..20 {
            log.push(q(Reason::UnmappedMetric, i));
        }
        let details: Vec<&str> = log.examples().map(|q| q.detail.as_str()).collect();
        assert_eq!(details, ["#12", "#17", "#18", "#19"]);
        assert_eq!(log.total(), 20);
        // capacity 0: the first of each reason only
        let mut log = QuarantineLog::new(0);
        log.extend((0..5).map(|i| q(Reason::BadLabels, i)));
        assert_eq!(log.examples().count(), 1);
        assert_eq!(log.count_of(Reason::BadLabels), 5);
    }

    #[test]
    fn subscribers_see_every_record_until_removed() {
        let mut log = QuarantineLog::new(1);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = Arc::clone(&seen);
        let id = log.subscribe(Box::new(move |q: &Quarantined| {
            s2.lock().unwrap().push(q.detail.clone())
        }));
        for i in 0..5 {
            log.push(q(Reason::BadValue, i));
        }
        assert!(log.unsubscribe(id));
        assert!(!log.unsubscribe(id));
        log.push(q(Reason::BadValue, 5));
        assert_eq!(*seen.lock().unwrap(), ["#0", "#1", "#2", "#3", "#4"]);
    }

    #[test]
    fn a_batch_counts_what_it_did_not_keep() {
        let mut b = IngestBatch::with_budget(1_500, "src");
        for i in 0..50 {
            b.reject(q(Reason::BadField, i));
        }
        assert!(b.quarantine.len() < 50);
        let mut log = QuarantineLog::new(10);
        log.extend_from_batch(&mut b);
        assert_eq!(log.total(), 50);
        assert_eq!(log.total(), b.stats.quarantined);
        assert_eq!(log.counts(), &b.stats.by_reason);
        assert!(b.quarantine.is_empty());
        log.add_counts(&BTreeMap::from([(Reason::BadJson, 7)]));
        assert_eq!((log.total(), log.count_of(Reason::BadJson)), (57, 7));
    }

    #[test]
    fn records_built_by_hand_are_cut_to_the_bounds() {
        let mut log = QuarantineLog::new(4);
        let long = "é".repeat(100_000);
        log.push(Quarantined {
            place: Place::pointer(long.as_str(), long.as_str()),
            reason: Reason::BadJson,
            detail: long.clone(),
            excerpt: long.clone(),
        });
        log.push(Quarantined {
            place: Place::field(long.as_str()),
            reason: Reason::BadField,
            detail: String::new(),
            excerpt: String::new(),
        });
        let kept: Vec<&Quarantined> = log.examples().collect();
        assert!(kept[0].excerpt.len() <= Quarantined::EXCERPT_BYTES);
        assert!(kept[0].detail.len() <= Quarantined::DETAIL_BYTES);
        assert!(kept[0].place.to_string().len() <= 2 * PLACE_BYTES + 8);
        assert!(kept[1].place.to_string().len() <= PLACE_BYTES);
    }

    proptest! {
        /// Whatever is pushed, the examples stay within `capacity + reasons`, every reason
        /// counted has an example, the counts add up, and the latest records are kept.
        #[test]
        fn memory_is_bounded_and_no_reason_is_without_an_example(
            capacity in 0usize..64,
            reasons in prop::collection::vec(0usize..Reason::ALL.len(), 1..2_000),
        ) {
            let mut log = QuarantineLog::new(capacity);
            for (i, r) in reasons.iter().enumerate() {
                log.push(q(Reason::ALL[*r], i as u64));
            }
            prop_assert!(log.len() <= capacity + Reason::ALL.len());
            prop_assert_eq!(log.total(), reasons.len() as u64);
            prop_assert_eq!(log.counts().values().sum::<u64>(), log.total());
            for reason in log.counts().keys() {
                prop_assert!(log.examples().any(|q| q.reason == *reason));
            }
            let latest: Vec<String> = (reasons.len().saturating_sub(capacity)..reasons.len())
                .map(|i| format!("#{i}")).collect();
            let kept: Vec<&str> = log.examples().map(|q| q.detail.as_str()).collect();
            prop_assert!(kept.ends_with(&latest.iter().map(String::as_str).collect::<Vec<_>>()));
            let mut seqs: Vec<u64> = kept.iter().map(|d| d[1..].parse().unwrap()).collect();
            let sorted = { let mut s = seqs.clone(); s.sort_unstable(); s };
            prop_assert_eq!(&seqs, &sorted, "oldest first");
            seqs.dedup();
            prop_assert_eq!(seqs.len(), kept.len(), "no example twice");
        }
    }

    #[test]
    fn a_log_can_move_to_another_thread() {
        fn send<T: Send>(_: &T) {}
        let mut log = QuarantineLog::default();
        log.subscribe(Box::new(|_: &Quarantined| {}));
        send(&log);
        let handle = std::thread::spawn(move || {
            log.push(q(Reason::BadValue, 1));
            log.total()
        });
        assert_eq!(handle.join().unwrap(), 1);
        assert_eq!(
            QuarantineLog::default().capacity(),
            QuarantineLog::DEFAULT_CAPACITY
        );
    }

    #[test]
    fn a_hundred_thousand_records_stay_within_the_bound() {
        let mut log = QuarantineLog::new(100);
        for i in 0..100_000u64 {
            let reason = Reason::ALL[(i % 7 * 3) as usize % Reason::ALL.len()];
            log.push(Quarantined::new(
                Place::line("kubelet", i),
                reason,
                "d".repeat(10_000),
                &"e".repeat(10_000),
            ));
        }
        assert_eq!(log.total(), 100_000);
        assert!(log.len() <= 100 + Reason::ALL.len());
        let heap: usize = log
            .examples()
            .map(|q| q.detail.capacity() + q.excerpt.capacity())
            .sum();
        assert!(heap <= log.len() * (Quarantined::EXCERPT_BYTES + Quarantined::DETAIL_BYTES));
    }
}
