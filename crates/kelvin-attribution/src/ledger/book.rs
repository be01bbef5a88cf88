//! The book of closed intervals: what a live engine bills once an interval is closed, the
//! restatements a late reading causes, the running totals both add up to, and their compact
//! binary records (so a journal can keep a day of a thousand hosts in tens of megabytes).
//!
//! A [`ClosedInterval`] is one interval's balance sheets, one per meter: the measured amount,
//! the workload lines and the named accounts, each with its confidence interval, so
//! `measured = Σ lines + Σ accounts` holds per sheet as in every [`Ledger`]. A
//! [`Restatement`] replaces an interval's sheets with new ones and says why. [`BookTotals`]
//! folds both; applying a restatement moves every total by exactly `new − old`.
//!
//! Records are written by a [`BookWriter`] and read by a [`BookReader`], which share a table
//! of interned names (meters, workloads, tenants, provenance): a name is written once, as its
//! own record, before the first record that uses it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kelvin_model::{EntityId, Timestamp};

use super::types::{Account, Amount, Ledger};
use crate::AttributionError;

/// One meter's balance sheet in one closed interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalSheet {
    /// The meter's entity (a host, a GPU).
    pub meter: Arc<str>,
    /// Which meter measured it (`dcmi`, `redfish`, `pdu_outlet`, `rapl`, `model`, …).
    pub provenance: Arc<str>,
    /// Measured energy.
    pub measured: Amount,
    /// Workload lines: workload id and amount, in the order settled.
    pub lines: Vec<(Arc<str>, Amount)>,
    /// The named accounts, in [`Account::ALL`] order.
    pub accounts: [Amount; 3],
}

impl IntervalSheet {
    /// Whether `measured = Σ lines + Σ accounts`.
    pub fn is_balanced(&self) -> bool {
        let lines: u128 = self.lines.iter().map(|(_, a)| u128::from(a.uj)).sum();
        let acc: u128 = self.accounts.iter().map(|a| u128::from(a.uj)).sum();
        lines + acc == u128::from(self.measured.uj)
    }
}

/// One closed interval: its start and its sheets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedInterval {
    /// Start of the interval (its length is the engine's interval).
    pub start: Timestamp,
    /// One sheet per meter measured or expected in the interval.
    pub sheets: Vec<IntervalSheet>,
}

impl ClosedInterval {
    /// The sheets of a one-interval [`Ledger`], with each meter's provenance from `provenance`.
    pub fn from_ledger(
        start: Timestamp,
        ledger: &Ledger,
        mut provenance: impl FnMut(&EntityId) -> Arc<str>,
    ) -> ClosedInterval {
        let names: Vec<Arc<str>> = ledger
            .workloads
            .iter()
            .map(|w| Arc::from(w.as_str()))
            .collect();
        let sheets = ledger
            .meters
            .iter()
            .map(|m| IntervalSheet {
                meter: Arc::from(m.meter.as_str()),
                provenance: provenance(&m.meter),
                measured: m.measured,
                lines: m
                    .lines
                    .iter()
                    .map(|l| (names[l.workload].clone(), l.energy))
                    .collect(),
                accounts: m.accounts,
            })
            .collect();
        ClosedInterval { start, sheets }
    }

    /// Σ measured over the sheets.
    pub fn measured_uj(&self) -> u128 {
        self.sheets.iter().map(|s| u128::from(s.measured.uj)).sum()
    }
}

/// An interval billed again because readings for it arrived after it was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restatement {
    /// The sheets as first closed (or as last restated).
    pub old: ClosedInterval,
    /// The sheets now.
    pub new: ClosedInterval,
    /// Why: which late readings caused it.
    pub why: String,
}

/// Running totals of a book: every closed interval added once, every restatement applied as
/// its difference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookTotals {
    /// Intervals closed.
    pub intervals: u64,
    /// Restatements applied.
    pub restatements: u64,
    /// Σ measured.
    pub measured_uj: i128,
    /// Σ workload lines.
    pub attributed_uj: i128,
    /// Σ named accounts.
    pub unattributed_uj: i128,
    /// Per workload, Σ of its lines.
    pub workloads: BTreeMap<Arc<str>, i128>,
    /// Per meter and account, Σ of the account.
    pub accounts: BTreeMap<(Arc<str>, Account), i128>,
    /// Per meter, Σ measured.
    pub meters: BTreeMap<Arc<str>, i128>,
    /// Per provenance (`dcmi`, `dcgm`, …) and workload, Σ of its lines: what each kind of
    /// meter billed each workload (the GPU part of a bill is its `dcgm` lines).
    pub by_provenance: BTreeMap<(Arc<str>, Arc<str>), i128>,
    /// Per provenance, Σ measured: how much of the energy each kind of meter measured (a
    /// wall meter's own sensor, `dcgm`, `rapl calibrated on dcmi` where the lattice fell back
    /// to RAPL).
    pub measured_by_provenance: BTreeMap<Arc<str>, i128>,
    /// Per meter and workload, Σ of the workload's lines on that meter: what each host (or
    /// GPU) billed each workload.
    pub meter_workloads: BTreeMap<(Arc<str>, Arc<str>), i128>,
}

impl BookTotals {
    /// Adds a closed interval.
    pub fn add(&mut self, c: &ClosedInterval) {
        self.intervals += 1;
        self.apply(c, 1);
    }

    /// Applies a restatement: subtracts the old sheets, adds the new.
    pub fn restate(&mut self, r: &Restatement) {
        self.restatements += 1;
        self.apply(&r.old, -1);
        self.apply(&r.new, 1);
    }

    fn apply(&mut self, c: &ClosedInterval, sign: i128) {
        for s in &c.sheets {
            let m = sign * i128::from(s.measured.uj);
            self.measured_uj += m;
            *self.meters.entry(s.meter.clone()).or_default() += m;
            *self
                .measured_by_provenance
                .entry(s.provenance.clone())
                .or_default() += m;
            for (w, a) in &s.lines {
                let x = sign * i128::from(a.uj);
                self.attributed_uj += x;
                *self.workloads.entry(w.clone()).or_default() += x;
                *self
                    .by_provenance
                    .entry((s.provenance.clone(), w.clone()))
                    .or_default() += x;
                *self
                    .meter_workloads
                    .entry((s.meter.clone(), w.clone()))
                    .or_default() += x;
            }
            for (acc, a) in Account::ALL.iter().zip(&s.accounts) {
                let x = sign * i128::from(a.uj);
                self.unattributed_uj += x;
                if x != 0 || sign > 0 {
                    *self.accounts.entry((s.meter.clone(), *acc)).or_default() += x;
                }
            }
        }
    }

    /// Whether `measured = attributed + unattributed`.
    pub fn is_balanced(&self) -> bool {
        self.measured_uj == self.attributed_uj + self.unattributed_uj
    }
}

const REC_NAME: u8 = 1;
const REC_CLOSED: u8 = 2;
const REC_RESTATED: u8 = 3;

/// A decoded book record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookRecord {
    /// A closed interval.
    Closed(ClosedInterval),
    /// A restatement.
    Restated(Restatement),
}

/// Writes book records, interning names.
#[derive(Debug, Default)]
pub struct BookWriter {
    names: HashMap<Arc<str>, u32>,
}

impl BookWriter {
    /// A writer with an empty name table (pair it with a fresh [`BookReader`]).
    pub fn new() -> Self {
        BookWriter::default()
    }

    /// A writer that continues the name table `reader` has read, so that what it writes can be
    /// appended to the records the reader came from.
    pub fn continuing(reader: &BookReader) -> Self {
        BookWriter {
            names: reader
                .names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i as u32))
                .collect(),
        }
    }

    /// Encodes `record` into `out`, one payload per record: first a payload per name not
    /// written before, then the record's own.
    pub fn encode(&mut self, record: &BookRecord, out: &mut Vec<Vec<u8>>) {
        let mut body = Vec::new();
        match record {
            BookRecord::Closed(c) => {
                body.push(REC_CLOSED);
                self.interval(c, &mut body, out);
            }
            BookRecord::Restated(r) => {
                body.push(REC_RESTATED);
                self.name(&Arc::from(r.why.as_str()), &mut body, out);
                self.interval(&r.old, &mut body, out);
                self.interval(&r.new, &mut body, out);
            }
        }
        out.push(body);
    }

    fn name(&mut self, s: &Arc<str>, body: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
        let next = self.names.len() as u32;
        let id = *self.names.entry(s.clone()).or_insert_with(|| {
            let mut rec = vec![REC_NAME];
            put_uv(&mut rec, u64::from(next));
            put_uv(&mut rec, s.len() as u64);
            rec.extend_from_slice(s.as_bytes());
            out.push(rec);
            next
        });
        put_uv(body, u64::from(id));
    }

    fn interval(&mut self, c: &ClosedInterval, body: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
        put_iv(body, c.start.as_nanos());
        put_uv(body, c.sheets.len() as u64);
        for s in &c.sheets {
            self.name(&s.meter, body, out);
            self.name(&s.provenance, body, out);
            put_amount(body, s.measured);
            put_uv(body, s.lines.len() as u64);
            for (w, a) in &s.lines {
                self.name(w, body, out);
                put_amount(body, *a);
            }
            for a in &s.accounts {
                put_amount(body, *a);
            }
        }
    }
}

/// Reads the records a [`BookWriter`] wrote, in order.
#[derive(Debug, Default)]
pub struct BookReader {
    names: Vec<Arc<str>>,
}

impl BookReader {
    /// A reader with an empty name table.
    pub fn new() -> Self {
        BookReader::default()
    }

    /// How many names the table holds.
    pub fn names_len(&self) -> usize {
        self.names.len()
    }

    /// Forgets the names defined after the first `n` (those of records that are being
    /// discarded).
    pub fn truncate_names(&mut self, n: usize) {
        self.names.truncate(n);
    }

    /// Decodes one payload: `Ok(None)` for a name record (absorbed into the table).
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`] for a payload that is not a book record
    /// (unknown type, truncated, a name index not defined before, invalid UTF-8), naming the
    /// byte offset.
    pub fn decode(&mut self, payload: &[u8]) -> Result<Option<BookRecord>, AttributionError> {
        let mut r = Cursor { b: payload, at: 0 };
        let kind = r.byte()?;
        let out = match kind {
            REC_NAME => {
                let id = r.uv()?;
                let len = usize::try_from(r.uv()?).map_err(|_| r.bad("name length"))?;
                let at = r.at;
                let bytes = r.take(len)?;
                let s = std::str::from_utf8(bytes).map_err(|_| {
                    AttributionError::invalid(format!("book record, byte {at}"), "name not UTF-8")
                })?;
                if id != self.names.len() as u64 {
                    return Err(r.bad("name index out of sequence"));
                }
                self.names.push(Arc::from(s));
                None
            }
            REC_CLOSED => Some(BookRecord::Closed(self.interval(&mut r)?)),
            REC_RESTATED => {
                let why = self.name(&mut r)?.to_string();
                let old = self.interval(&mut r)?;
                let new = self.interval(&mut r)?;
                Some(BookRecord::Restated(Restatement { old, new, why }))
            }
            _ => return Err(r.bad("unknown record type")),
        };
        if r.at != payload.len() {
            return Err(r.bad("trailing bytes"));
        }
        Ok(out)
    }

    fn name(&self, r: &mut Cursor<'_>) -> Result<Arc<str>, AttributionError> {
        let id = r.uv()?;
        usize::try_from(id)
            .ok()
            .and_then(|i| self.names.get(i))
            .cloned()
            .ok_or_else(|| r.bad("name index not defined"))
    }

    fn interval(&self, r: &mut Cursor<'_>) -> Result<ClosedInterval, AttributionError> {
        let start = Timestamp::from_nanos(r.iv()?);
        let n = r.count()?;
        let mut sheets = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let meter = self.name(r)?;
            let provenance = self.name(r)?;
            let measured = r.amount()?;
            let k = r.count()?;
            let mut lines = Vec::with_capacity(k.min(1 << 16));
            for _ in 0..k {
                lines.push((self.name(r)?, r.amount()?));
            }
            let accounts = [r.amount()?, r.amount()?, r.amount()?];
            sheets.push(IntervalSheet {
                meter,
                provenance,
                measured,
                lines,
                accounts,
            });
        }
        Ok(ClosedInterval { start, sheets })
    }
}

fn put_uv(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_iv(out: &mut Vec<u8>, v: i64) {
    put_uv(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_amount(out: &mut Vec<u8>, a: Amount) {
    put_uv(out, a.uj);
    put_uv(out, a.uj.saturating_sub(a.lo_uj));
    put_uv(out, a.hi_uj.saturating_sub(a.uj));
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn bad(&self, what: &str) -> AttributionError {
        AttributionError::invalid(format!("book record, byte {}", self.at), what.to_owned())
    }

    fn byte(&mut self) -> Result<u8, AttributionError> {
        let b = *self.b.get(self.at).ok_or_else(|| self.bad("truncated"))?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], AttributionError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| self.bad("truncated"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn uv(&mut self) -> Result<u64, AttributionError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.bad("varint longer than 64 bits"))
    }

    fn iv(&mut self) -> Result<i64, AttributionError> {
        let u = self.uv()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A count of items that each take at least one byte, so never more than the bytes left.
    fn count(&mut self) -> Result<usize, AttributionError> {
        let n = self.uv()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.b.len() - self.at)
            .ok_or_else(|| self.bad("count larger than the record"))
    }

    fn amount(&mut self) -> Result<Amount, AttributionError> {
        let uj = self.uv()?;
        let below = self.uv()?;
        let above = self.uv()?;
        Ok(Amount {
            uj,
            lo_uj: uj.saturating_sub(below),
            hi_uj: uj.saturating_add(above),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn amount() -> impl Strategy<Value = Amount> {
        (0u64..1 << 40, 0u64..1 << 30, 0u64..1 << 30).prop_map(|(uj, b, a)| Amount {
            uj,
            lo_uj: uj.saturating_sub(b),
            hi_uj: uj + a,
        })
    }

    fn interval() -> impl Strategy<Value = ClosedInterval> {
        let sheet = (
            0usize..4,
            amount(),
            proptest::collection::vec((0usize..6, amount()), 0..4),
            [amount(), amount(), amount()],
        )
            .prop_map(|(m, measured, lines, accounts)| IntervalSheet {
                meter: Arc::from(format!("host-{m}")),
                provenance: Arc::from("dcmi"),
                measured,
                lines: lines
                    .into_iter()
                    .map(|(w, a)| (Arc::from(format!("pod-{w}")), a))
                    .collect(),
                accounts,
            });
        (any::<i64>(), proptest::collection::vec(sheet, 0..4)).prop_map(|(t, sheets)| {
            ClosedInterval {
                start: Timestamp::from_nanos(t),
                sheets,
            }
        })
    }

    proptest! {
        /// Whatever is written reads back the same, names interned across records.
        #[test]
        fn records_round_trip(a in interval(), b in interval(), why in "[a-z ]{0,20}") {
            let recs = vec![
                BookRecord::Closed(a.clone()),
                BookRecord::Restated(Restatement { old: a, new: b, why }),
            ];
            let mut w = BookWriter::new();
            let mut payloads = Vec::new();
            for r in &recs {
                w.encode(r, &mut payloads);
            }
            let mut rd = BookReader::new();
            let got: Vec<BookRecord> = payloads
                .iter()
                .filter_map(|p| rd.decode(p).unwrap())
                .collect();
            prop_assert_eq!(got, recs);
        }

        /// A restatement moves every total by exactly its difference: adding `old` then
        /// restating it as `new` gives the totals of adding `new` alone.
        #[test]
        fn restatements_sum_to_their_difference(a in interval(), b in interval()) {
            let mut t1 = BookTotals::default();
            t1.add(&a);
            t1.restate(&Restatement { old: a, new: b.clone(), why: String::new() });
            let mut t2 = BookTotals::default();
            t2.add(&b);
            prop_assert_eq!(t1.measured_uj, t2.measured_uj);
            prop_assert_eq!(t1.attributed_uj, t2.attributed_uj);
            prop_assert_eq!(t1.unattributed_uj, t2.unattributed_uj);
            let nz = |m: &BTreeMap<Arc<str>, i128>| m.iter().filter(|(_, v)| **v != 0).map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>();
            prop_assert_eq!(nz(&t1.workloads), nz(&t2.workloads));
        }

        /// Damaged payloads are errors, never panics.
        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut rd = BookReader::new();
            let _ = rd.decode(&bytes);
        }
    }
}
