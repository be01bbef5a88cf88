//! Kelvin's time-series store.
//!
//! Readings from `kelvin-ingest` go in; time-aligned numbers for attribution come out.
//!
//! # What is here
//!
//! - [`Store`], the store the engine uses: series interned to [`SeriesId`]s; per series a
//!   Gorilla-compressed mutable head ([`HeadChunk`]) that seals into blocks, re-encoded with pco
//!   by [`Store::compact`] (blocks of at most [`StoreOptions::block_samples`] samples that
//!   never straddle a partition, each with its [`BlockStats`], so aggregates over whole blocks
//!   never decode them); late samples buffered and merged into their partition, older ones
//!   refused and counted ([`Appended`], [`StoreStats`]); a memory budget; retention with
//!   downsampled rollup tiers. Opened on a directory ([`Store::open`]) it is durable: a
//!   group-committed write-ahead log ([`Store::commit`]), checkpoints into checksummed block
//!   files ([`Store::checkpoint`]) and recovery that cuts off a torn log tail and sets damaged
//!   files aside ([`OpenReport`]). The on-disk format is `docs/format.md`. Beside it, a
//!   [`Journal`] keeps any other durable records (a live engine's acknowledged position and
//!   closed bills) with the same framing, group commit and torn-tail recovery.
//! - [`SeriesRead`], the read trait [`Store`] and [`MemStore`] share: two required methods
//!   (which series there are, and the samples that determine one over a span) and the grid
//!   queries on a [`Grid`] (evenly spaced points; interval `i` runs from point `i` to point
//!   `i + 1`), tuned by [`ResampleOptions`] ([`Fill`], maximum gap):
//!   [`SeriesRead::resample`] (a gauge's value at each point), [`SeriesRead::integrate`] (a
//!   gauge's exact integral over each interval: watts → joules), [`SeriesRead::increase`] and
//!   [`SeriesRead::rate`] (a counter's reset-corrected increase, or its rate, over each
//!   interval).
//! - The query kernels over decoded columns (`ts`, `values`), one family behind every query of
//!   both stores: [`resample`], [`resample_many`], [`integrate`], [`increase`], [`rate`],
//!   [`asof_join`], [`asof_join_many`], [`time_buckets`] ([`Buckets`], [`Aggregate`]),
//!   [`pooled_means`], and [`Selector`]s that pick series by key and labels. [`Store`] adds
//!   id-based forms that read no more than a query needs ([`Store::aggregate`] and
//!   [`Store::time_buckets`] from block statistics, [`Store::resample_many`],
//!   [`Store::asof`]); [`grid_points`] and (feature `polars`) `resample_frame` shape results
//!   as arrays and data frames.
//! - [`MemStore`], the simple reference: one time-sorted `Vec` of [`Sample`]s per
//!   [`SeriesKey`] (entity, sensor, kind, [`Labels`]). Inserts append in O(1) when in order,
//!   accept out-of-order and duplicate readings (last write wins), and count what they do
//!   ([`InsertOutcome`], [`InsertStats`]). The store is tested against it.
//! - Parquet: [`export_parquet`] and [`import_parquet`] move [`SeriesData`] (one series as
//!   columns) in and out in Kelvin's one Parquet layout ([`PARQUET_FORMAT`], version
//!   [`PARQUET_VERSION`]; `docs/format.md`), which `kelvin-ingest` reads and writes too: an
//!   export reads there as readings, and its readings files import here. The block codec
//!   ([`encode_block`], [`decode_block`]) and [`read_csv_series`] (CSV read by the `csv`
//!   crate) load and compress a series.
//!
//! Readings without a usable value are counted, never stored as numbers and never silently
//! dropped. What the samples do not determine is NaN — before the first sample, after the
//! last, inside a gap — never a guessed zero.
//!
//! ```
//! use kelvin_model::{EntityId, Reading, SensorKind, TimeRange, Timestamp};
//! use kelvin_store::{Grid, MemStore, ResampleOptions, SeriesKey, SeriesRead, Store, StoreOptions};
//!
//! // A host's PSU reports its power every 15 s, ramping from 150 W to 390 W over a minute.
//! let host = EntityId::new("host-01")?;
//! let mut store = Store::in_memory(StoreOptions::default());
//! let mut reference = MemStore::new();
//! for (s, watts) in [(0, 150.0), (15, 210.0), (30, 270.0), (45, 330.0), (60, 390.0)] {
//!     let r = Reading::new(host.clone(), "psu1", SensorKind::Power, watts, Timestamp::from_secs(s));
//!     store.insert(&r)?;
//!     reference.insert(&r);
//! }
//!
//! // Energy per 30 s interval, in joules: the same from both stores.
//! let key = SeriesKey::new(host, "psu1", SensorKind::Power);
//! let minute = TimeRange::try_new(Timestamp::from_secs(0), Timestamp::from_secs(60))?;
//! let grid = Grid::covering(minute, 30 * Timestamp::NANOS_PER_SEC)?;
//! let joules = store.integrate(&key, &grid, &ResampleOptions::default())?;
//! assert_eq!(joules, [6300.0, 9900.0]);
//! assert_eq!(reference.integrate(&key, &grid, &ResampleOptions::default())?, joules);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Panics and errors
//!
//! Bad arguments are a [`StoreError`] with an inspectable [`StoreErrorKind`]; missing data is
//! NaN; the only documented panic is [`Grid::point`] out of range. See [`StoreError`].
//!
//! # Outside input
//!
//! Every reader of bytes from outside bounds what one call holds, checks each count and
//! length it reads against the bytes really there and a documented maximum before
//! allocating, and reads only regular files (a device such as `/dev/zero` or a FIFO is a typed
//! error naming the file and the limit):
//!
//! - [`import_parquet`] / [`import_parquet_file`]: [`ParquetLimits`] (file, footer, rows,
//!   series, key text, page and dictionary sizes), checked before the `parquet` crate decodes;
//! - [`read_csv_series`] / [`parse_csv_series`]: [`MAX_CSV_BYTES`], [`MAX_CSV_ROWS`],
//!   [`MAX_CSV_LINE_BYTES`];
//! - [`decode_block`]: [`MAX_BLOCK_SAMPLES`]; [`BlockStats::decode`]: a fixed length;
//! - [`Store::open`]: log records of at most 2 MiB, block files read at their real size, no
//!   series id beyond what the files can explain;
//! - [`resample_many`], [`asof_join_many`], [`Store::resample_many`]: [`MAX_MATRIX_CELLS`].

mod bytes;
mod codec;
mod csv_series;
mod db;
mod error;
mod frame;
mod grid;
mod input;
mod journal;
mod mem;
mod options;
mod parquet;
mod query;
mod read;
mod series;

pub use crate::parquet::{Cells, FlatTable, TableColumn, write_table, write_table_file};
pub use crate::parquet::{ExportSummary, ParquetImport, ParquetOptions, SkipReason, SkippedRow};
pub use crate::parquet::{PARQUET_FORMAT, PARQUET_VERSION, export_parquet, export_parquet_file};
pub use crate::parquet::{
    ParquetLimits, import_parquet, import_parquet_file, import_parquet_file_with,
    import_parquet_with,
};
pub use codec::{
    BLOCK_FORMAT_VERSION, BlockStats, HeadChunk, HeadChunkIter, MAX_BLOCK_SAMPLES, decode_block,
    decode_block_into, encode_block,
};
pub use csv_series::{
    MAX_CSV_BYTES, MAX_CSV_LINE_BYTES, MAX_CSV_ROWS, parse_csv_series, read_csv_series,
};
pub use db::{
    AGG_LABEL, Appended, CheckpointReport, OpenReport, ROLLUP_LABEL, SeriesId, SetAside, Store,
    StoreOptions, StoreStats, TornTail,
};
pub use error::{StoreError, StoreErrorKind};
pub use frame::grid_points;
#[cfg(feature = "polars")]
pub use frame::resample_frame;
pub use grid::Grid;
pub use journal::{Journal, JournalReport, MAX_JOURNAL_RECORD_BYTES};
pub use mem::{InsertOutcome, InsertStats, MemStore};
pub use options::{Fill, ResampleOptions};
// The kernels, each from its own module (so that `resample` and `integrate` here name only
// the functions, not also their modules).
pub use query::MAX_MATRIX_CELLS;
pub use query::aggregate::Aggregate;
pub use query::asof::{asof_join, asof_join_many};
pub use query::buckets::{Buckets, time_buckets};
pub use query::counter::{CounterIncrease, increase, rate};
pub use query::integrate::integrate;
pub use query::pooled::pooled_means;
pub use query::resample::{resample, resample_many};
pub use query::selector::{MatchField, MatchOp, Matcher, Selector};
pub use read::SeriesRead;
pub use series::{Labels, Sample, SeriesData, SeriesKey};
