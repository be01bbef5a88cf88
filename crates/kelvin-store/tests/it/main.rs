//! The integration tests of `kelvin-store`: one test binary, one module per concern, each
//! using only the crate's public API.

/// The compression codecs: Gorilla head chunks and sealed blocks round-trip every sample bit
/// for bit (proptest over arbitrary bit patterns and timestamp gaps, real corpus files),
/// damaged bytes are reported as `Corrupt` without a panic, and block statistics agree with a
/// direct computation.
mod codec;

/// Sealed blocks around pco streams of every mode and delta encoding pco writes (Dict,
/// lookback, several chunks), built by hand: the check of each pco chunk's header before pco
/// allocates for it lets all of them through bit for bit, and refuses dictionaries, lookback
/// windows and chunks larger than the block can hold as `Corrupt`.
mod block_pco;

/// Sealed blocks whose values are a dictionary (format version 2): bit-exact round trips of
/// repeating values of every kind, version 1 kept for blocks without one, and damaged or forged
/// dictionaries refused as `Corrupt`.
mod block_dict;

/// Loading a series from CSV: the corpus' layouts (NAB, Vega, TMY3 with its preamble and split
/// date/time columns), timestamp forms and units, sorting, and malformed input named by line
/// and column.
mod csv_series;

/// Properties that hold for every input (proptest), each checked against an oracle computed
/// independently in the test (a direct integral over the whole span, the true total of a
/// simulated counter), the reference `MemStore` (the columnar `Store` answers every query of
/// the `SeriesRead` trait with the same bits) or a metamorphic relation (insertion order does
/// not matter). New invariants of the store's queries belong here.
mod properties;

/// The query kernels over decoded columns (time buckets, aggregates, resampling many series,
/// as-of joins, counters, selectors) on realistic telemetry and edge cases, their invariants
/// (proptest, against naive oracles), and — with the `polars` feature — the same questions asked
/// of Polars.
mod query;

/// End-to-end scenarios with realistic telemetry (PSU power every 15 s, energy and CPU-time
/// counters, exporter restarts, scrape outages, several hosts), checking results a reader can
/// verify by hand or by physics (energy from power equals the energy counter's increase).
/// Worked examples of how other crates use the store belong here.
mod scenarios;

/// The columnar [`kelvin_store::Store`]: tiers, late data, aggregates from block statistics,
/// durability (torn WAL tails, corrupt block files), retention and the memory budget.
mod store;

/// Crash safety: a child process is killed at random points while appending; every
/// acknowledged sample must survive and nothing may be corrupted.
mod crash;

/// Parquet export and import of series (`export_parquet`, `import_parquet`): bit-exact round
/// trips (fixed cases and proptest), the written file's encodings and compression read back
/// from its metadata, files in the layout as other writers make them (written here with the
/// `parquet` crate), bad and damaged files, bytes per sample on a realistic day, and the Rust
/// halves of the pyarrow/Polars check in `scripts/store_parquet_interop.py`.
mod parquet;

/// Hostile input to every reader of outside bytes: hand-written Parquet files announcing 2^40
/// rows, 2^30 dictionary values, 2 GiB pages or a schema 1,000 levels deep; log records with
/// a length field over the maximum or a forged series id; forged block files; devices and
/// FIFOs where files belong; CSV timestamps that overflow once scaled; and arbitrary bytes
/// (proptest) through the block, statistics, log and Parquet decoders, none of which panics.
mod limits;

/// Golden files of on-disk format version 1: the committed bytes still open to the same
/// samples, and this build writes exactly those bytes.
mod golden;

/// Kelvin's one Parquet layout as the store reads and writes it: committed files written by
/// both crates (this version and the layouts before it), what the store makes of each, and
/// bad input.
mod parquet_layout;

/// Flat tables (the fleet layout's partitions): cells, nulls, schema and metadata read back;
/// a file is replaced whole; bad names and ragged columns are refused.
mod table;
