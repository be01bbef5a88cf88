//! The durable book read back: what a live engine billed in a window, from its journal, by a
//! reader beside the engine (an agent's bills API) without locking it.

use std::path::Path;

use kelvin_attribution::ledger::{BookReader, BookRecord, BookTotals, ClosedInterval};
use kelvin_model::TimeRange;

use super::state::TAG_ACK;

use crate::{Engine, Error};

/// The totals of the intervals that start inside `window` (every interval when `None`), as
/// the live engine whose data directory is `data_dir` acknowledged them: closed intervals
/// added, their restatements applied as differences. Records after the last acknowledgement
/// (a commit being written, or one a crash cut short) are left out, so two reads see the
/// same book or a later one.
///
/// The journal is read from its start at each call: a query over a year's book costs a pass
/// over a year's journal.
///
/// ```
/// use kelvin::model::{Inventory, Timestamp, TimeRange};
/// let dir = std::env::temp_dir().join(format!("kelvin-read-book-{}", std::process::id()));
/// let engine = kelvin::Engine::builder().inventory(Inventory::default()).data_dir(&dir).build()?;
/// let all = TimeRange::try_new(Timestamp::from_secs(0), Timestamp::from_secs(1 << 32))?;
/// let book = kelvin::read_book(&dir, Some(all))?;
/// assert_eq!(book.intervals, 0);
/// # drop(engine);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Store`] when the journal cannot be read, [`Error::Io`] for a record that cannot
/// be decoded.
pub fn read_book(data_dir: &Path, window: Option<TimeRange>) -> Result<BookTotals, Error> {
    let inside = |t: kelvin_model::Timestamp| window.is_none_or(|w| w.contains(t));
    let mut totals = BookTotals::default();
    fold_acknowledged(data_dir, |rec| match rec {
        BookRecord::Closed(c) if inside(c.start) => totals.add(&c),
        BookRecord::Restated(r) if inside(r.new.start) => totals.restate(&r),
        _ => {}
    })?;
    Ok(totals)
}

/// The closed intervals that start inside `window` (every one when `None`), in time order,
/// each as last restated, as the live engine whose data directory is `data_dir`
/// acknowledged them (what [`read_book`] totals, interval by interval): the lines a fleet
/// export writes ([`export_bills`](crate::export::export_bills)).
///
/// # Errors
/// As [`read_book`].
pub fn read_closed(
    data_dir: &Path,
    window: Option<TimeRange>,
) -> Result<Vec<ClosedInterval>, Error> {
    let inside = |t: kelvin_model::Timestamp| window.is_none_or(|w| w.contains(t));
    let mut by_start = std::collections::BTreeMap::new();
    fold_acknowledged(data_dir, |rec| match rec {
        BookRecord::Closed(c) if inside(c.start) => {
            by_start.insert(c.start, c);
        }
        BookRecord::Restated(r) if inside(r.new.start) => {
            by_start.insert(r.new.start, r.new);
        }
        _ => {}
    })?;
    Ok(by_start.into_values().collect())
}

/// Hands `f` each book record of the journal in `data_dir` that an acknowledgement covers, in
/// order; records after the last acknowledgement are left out.
fn fold_acknowledged(data_dir: &Path, mut f: impl FnMut(BookRecord)) -> Result<(), Error> {
    let path = data_dir.join("engine.journal");
    let mut reader = BookReader::new();
    let mut since: Vec<BookRecord> = Vec::new();
    let mut failed: Option<String> = None;
    kelvin_store::Journal::read(&path, |p| {
        if failed.is_some() {
            return Ok(());
        }
        match p.first() {
            Some(&TAG_ACK) => since.drain(..).for_each(&mut f),
            Some(t) if *t >= 0x40 => {}
            _ => match reader.decode(p) {
                Ok(Some(rec)) => since.push(rec),
                Ok(None) => {}
                Err(e) => failed = Some(e.to_string()),
            },
        }
        Ok(())
    })?;
    match failed {
        Some(why) => Err(Error::Io {
            place: path.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the engine journal holds a record it cannot read: {why}"),
            ),
        }),
        None => Ok(()),
    }
}

impl Engine {
    /// The newest closed interval's sheets (as restated since, if they were), `None` before
    /// the first closes or for an engine that is not live: the power of each meter, line and
    /// account over the last interval is its energy divided by the interval.
    pub fn last_closed(&self) -> Option<&ClosedInterval> {
        self.live
            .as_ref()
            .and_then(|l| l.recent.back().map(|(c, _)| c))
    }
}
