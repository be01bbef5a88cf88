//! Kelvin's in-memory time-series store.
//!
//! Readings from `kelvin-ingest` go in; time-aligned numbers for attribution come out.
//!
//! - [`MemStore`]: one time-sorted series of [`Sample`]s per [`SeriesKey`] (entity, sensor,
//!   kind). Inserts append in O(1) when in order, accept out-of-order and duplicate readings
//!   (last write wins), and count what they do ([`InsertOutcome`], [`InsertStats`]) — readings
//!   without a usable value are counted, never stored as numbers and never silently dropped.
//! - [`Grid`]: evenly spaced points; interval `i` runs from point `i` to point `i + 1`.
//! - Three queries over a grid, tuned by [`ResampleOptions`] ([`Fill`], maximum gap):
//!   [`MemStore::resample`] (a gauge's value at each point), [`MemStore::integrate`] (a
//!   gauge's exact integral over each interval: watts → joules) and [`MemStore::increase`]
//!   (a counter's reset-corrected increase over each interval).
//!
//! What the samples do not determine is NaN — before the first sample, after the last, inside
//! a gap — never a guessed zero.
//!
//! ```
//! use kelvin_model::{EntityId, Reading, SensorKind, TimeRange, Timestamp};
//! use kelvin_store::{Grid, MemStore, ResampleOptions, SeriesKey};
//!
//! // A host's PSU reports its power every 15 s, ramping from 150 W to 390 W over a minute.
//! let host = EntityId::new("host-01")?;
//! let mut store = MemStore::new();
//! for (s, watts) in [(0, 150.0), (15, 210.0), (30, 270.0), (45, 330.0), (60, 390.0)] {
//!     let r = Reading::new(host.clone(), "psu1", SensorKind::Power, watts, Timestamp::from_secs(s));
//!     store.insert(&r);
//! }
//!
//! // Energy per 30 s interval, in joules.
//! let key = SeriesKey::new(host, "psu1", SensorKind::Power);
//! let minute = TimeRange::try_new(Timestamp::from_secs(0), Timestamp::from_secs(60))?;
//! let grid = Grid::covering(minute, 30 * Timestamp::NANOS_PER_SEC)?;
//! let joules = store.integrate(&key, &grid, &ResampleOptions::default())?;
//! assert_eq!(joules, [6300.0, 9900.0]);
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
//! - [`read_csv_series`] / [`parse_csv_series`]: [`MAX_CSV_BYTES`], [`MAX_CSV_ROWS`];
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
mod options;
mod parquet;
mod query;
mod series;
mod store;

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
pub use csv_series::{MAX_CSV_BYTES, MAX_CSV_ROWS, parse_csv_series, read_csv_series};
pub use db::{
    AGG_LABEL, Appended, CheckpointReport, OpenReport, ROLLUP_LABEL, SeriesId, SetAside, Store,
    StoreOptions, StoreStats, TornTail,
};
pub use error::{StoreError, StoreErrorKind};
pub use frame::grid_points;
#[cfg(feature = "polars")]
pub use frame::resample_frame;
pub use grid::Grid;
pub use options::{Fill, ResampleOptions};
pub use query::{Aggregate, Buckets, MAX_MATRIX_CELLS, MatchField, MatchOp, Matcher, Selector};
pub use query::{asof_join, asof_join_many, increase, rate, resample, resample_many, time_buckets};
pub use series::{Labels, Sample, SeriesData, SeriesKey};
pub use store::{CounterIncrease, InsertOutcome, InsertStats, MemStore};
