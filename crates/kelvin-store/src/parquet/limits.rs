//! [`ParquetLimits`], and the checks of a file against them before the `parquet` crate
//! decodes any of it: the footer's size and structure (through [`kelvin_guard::parquet`]), the
//! layout, the row count, and every page header of the layout's column chunks.

use parquet::basic::Type as PhysicalType;
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::reader::ChunkReader;

use kelvin_guard::ErrorKind as GuardErrorKind;
use kelvin_guard::parquet as guard;

use super::invalid;
use super::layout::{Layout, check_layout};
#[cfg(doc)]
use super::{import_parquet, import_parquet_file, import_parquet_file_with, import_parquet_with};
use crate::{StoreError, StoreErrorKind};

/// The limits of a Parquet import ([`import_parquet_with`], [`import_parquet_file_with`];
/// [`import_parquet`] and [`import_parquet_file`] use the defaults), so that what a file
/// *announces* — rows, page and dictionary sizes, the footer's lists, the schema's nesting — is
/// checked before anything is allocated for it, and what it *holds* stays within a budget.
///
/// With the defaults, one import holds at most about 280 MiB besides the caller's input bytes:
/// the samples (16 bytes a row, up to twice that while their vectors grow: 128 MiB at
/// [`ParquetLimits::max_rows`]), one decompressed and one compressed page of each of the seven
/// columns it reads (56 MiB at [`ParquetLimits::max_page_bytes`]), their dictionaries (32
/// bytes a text entry, 8 a number: 44 MiB at [`ParquetLimits::max_dictionary_values`]), the
/// series and their keys (about 35 MiB at [`ParquetLimits::max_series`] and
/// [`ParquetLimits::max_key_bytes`])
/// and the decoded footer (about 20 times [`ParquetLimits::max_footer_bytes`] for a real
/// one; the `parquet` crate may reserve up to about 100 times it for a forged list before it
/// finds the list false, and that is freed before any row is read). Raise a limit to import
/// more; every error for a limit names it.
///
/// ```
/// use kelvin_store::ParquetLimits;
///
/// let limits = ParquetLimits::default().with_max_rows(100_000_000).with_max_series(1 << 20);
/// assert_eq!((limits.max_rows, limits.max_series), (100_000_000, 1 << 20));
/// assert_eq!(ParquetLimits::default().max_file_bytes, 1 << 30);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ParquetLimits {
    /// The largest file, bytes (default 1 GiB). [`import_parquet_file_with`] checks it, and
    /// that the path is a regular file, before opening the file for reading.
    pub max_file_bytes: u64,
    /// The largest footer (the file's metadata), bytes (default 1 MiB; a footer of a
    /// thousand row groups of the layout takes about 300 KB).
    pub max_footer_bytes: u64,
    /// The most rows in the file, the sum over its row groups (default 2^22 = 4,194,304).
    pub max_rows: u64,
    /// The most distinct series (default 65,536).
    pub max_series: usize,
    /// The most bytes of distinct key text — entities, sensors, kinds and labels, each distinct
    /// value counted once (default 8 MiB).
    pub max_key_bytes: usize,
    /// The largest page, compressed or not, bytes (default 4 MiB; writers make pages of about
    /// 1 MiB).
    pub max_page_bytes: usize,
    /// The most values in one dictionary page (default 2^18 = 262,144; pyarrow's dictionary
    /// pages of at most 1 MiB hold fewer).
    pub max_dictionary_values: usize,
}

impl Default for ParquetLimits {
    fn default() -> Self {
        ParquetLimits {
            max_file_bytes: 1 << 30,
            max_footer_bytes: 1 << 20,
            max_rows: 1 << 22,
            max_series: 1 << 16,
            max_key_bytes: 8 << 20,
            max_page_bytes: 4 << 20,
            max_dictionary_values: 1 << 18,
        }
    }
}

impl ParquetLimits {
    /// Sets [`ParquetLimits::max_file_bytes`].
    pub fn with_max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// Sets [`ParquetLimits::max_footer_bytes`].
    pub fn with_max_footer_bytes(mut self, bytes: u64) -> Self {
        self.max_footer_bytes = bytes;
        self
    }

    /// Sets [`ParquetLimits::max_rows`].
    pub fn with_max_rows(mut self, rows: u64) -> Self {
        self.max_rows = rows;
        self
    }

    /// Sets [`ParquetLimits::max_series`].
    pub fn with_max_series(mut self, series: usize) -> Self {
        self.max_series = series;
        self
    }

    /// Sets [`ParquetLimits::max_key_bytes`].
    pub fn with_max_key_bytes(mut self, bytes: usize) -> Self {
        self.max_key_bytes = bytes;
        self
    }

    /// Sets [`ParquetLimits::max_page_bytes`].
    pub fn with_max_page_bytes(mut self, bytes: usize) -> Self {
        self.max_page_bytes = bytes;
        self
    }

    /// Sets [`ParquetLimits::max_dictionary_values`].
    pub fn with_max_dictionary_values(mut self, values: usize) -> Self {
        self.max_dictionary_values = values;
        self
    }
}

/// What [`kelvin_guard::parquet`] checks of a file for `limits`.
fn guard_limits(limits: &ParquetLimits) -> guard::Limits {
    guard::Limits {
        owner: "ParquetLimits",
        max_footer_bytes: limits.max_footer_bytes,
        max_page_bytes: limits.max_page_bytes as u64,
        max_dictionary_values: limits.max_dictionary_values as u64,
        // Each page and dictionary is bounded, and an import reads at most seven columns.
        max_row_group_bytes: u64::MAX,
    }
}

/// The guard's refusal `e` of something in `place` (`sep` between the two): over a limit is
/// [`StoreErrorKind::InvalidInput`], anything else [`StoreErrorKind::Corrupt`].
fn refused(place: &str, sep: &str, e: &kelvin_guard::Error) -> StoreError {
    let kind = match e.kind() {
        GuardErrorKind::OverLimit => StoreErrorKind::InvalidInput,
        _ => StoreErrorKind::Corrupt,
    };
    StoreError::new(kind, format!("{place}{sep}{}", e.message()))
}

/// Checks a file within `limits` before the `parquet` crate decodes any of it: the footer's
/// size and structure, the layout, the row count, and every page header of the layout's
/// column chunks. Returns the layout.
pub(super) fn check_file<R: ChunkReader>(
    input: &R,
    source: &str,
    limits: &ParquetLimits,
) -> Result<Layout, StoreError> {
    let corrupt =
        |what: String| StoreError::new(StoreErrorKind::Corrupt, format!("{source}: {what}"));
    let file_len = input.len();
    let guarded = guard_limits(limits);
    let footer = check_footer(input, file_len, source, &guarded)?;
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(input)
        .map_err(|e| corrupt(format!("not a readable Parquet file: {e}")))?;
    let descrs = meta.file_metadata().schema_descr().columns();
    let layout = check_layout(descrs, source, meta.file_metadata().key_value_metadata())?;
    let mut rows = 0u64;
    for (g, rg) in meta.row_groups().iter().enumerate() {
        rows = u64::try_from(rg.num_rows())
            .ok()
            .and_then(|n| rows.checked_add(n))
            .ok_or_else(|| corrupt(format!("row group {g}: row count {}", rg.num_rows())))?;
    }
    if rows > limits.max_rows {
        return Err(invalid(format!(
            "{source}: {rows} rows, over the limit of {} (ParquetLimits::max_rows)",
            limits.max_rows
        )));
    }
    // The crate decodes no footer the guard did not find (see `check_footer`).
    let footer = footer.unwrap_or(guard::Footer {
        start: file_len.saturating_sub(8),
        len: 0,
    });
    for (g, rg) in meta.row_groups().iter().enumerate() {
        for (slot, i) in layout.present() {
            let c = rg.column(i);
            let place = format!("{source}: row group {g}, column {:?}", layout.name(slot));
            let range = guard::chunk(
                c.dictionary_page_offset(),
                c.data_page_offset(),
                c.compressed_size(),
                footer,
            )
            .map_err(|e| refused(&place, ": ", &e))?;
            // The fewest bytes one value takes in a PLAIN dictionary page.
            let width = match descrs[i].physical_type() {
                PhysicalType::BYTE_ARRAY => 4,
                _ => 8,
            };
            guard::check_chunk(|at| input.get_read(at), range, width, &guarded)
                .map_err(|e| refused(&place, ", ", &e))?;
        }
    }
    Ok(layout)
}

/// The footer: at most [`ParquetLimits::max_footer_bytes`], and walked whole (every length
/// inside it against the bytes there, the schema's nesting against
/// [`kelvin_guard::parquet::MAX_SCHEMA_DEPTH`]) before the crate decodes it. A file too short
/// for a footer, or whose footer length runs past its start, is left to the crate's own error
/// (`None`).
fn check_footer<R: ChunkReader>(
    input: &R,
    file_len: u64,
    source: &str,
    limits: &guard::Limits,
) -> Result<Option<guard::Footer>, StoreError> {
    if file_len < 12 {
        return Ok(None);
    }
    let unreadable = |e: &dyn std::fmt::Display| {
        StoreError::new(
            StoreErrorKind::Corrupt,
            format!("{source}: not a readable Parquet file: {e}"),
        )
    };
    let tail = input
        .get_bytes(file_len - 8, 8)
        .map_err(|e| unreadable(&e))?;
    let tail = <[u8; 8]>::try_from(&tail[..]).map_err(|e| unreadable(&e))?;
    let footer = match guard::footer(file_len, tail, limits) {
        Ok(footer) => footer,
        Err(e) if e.kind() == GuardErrorKind::OverLimit => return Err(refused(source, ": ", &e)),
        Err(_) => return Ok(None),
    };
    let read = input.get_read(footer.start).map_err(|e| unreadable(&e))?;
    guard::check_footer(read, footer).map_err(|e| refused(source, ": ", &e))?;
    Ok(Some(footer))
}
