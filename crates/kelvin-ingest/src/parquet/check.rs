//! The checks of a file before the `parquet` crate decodes it: the footer walked whole, every
//! page header of every column chunk, and what a row group's pages need at once, through
//! [`kelvin_guard::parquet`].

use kelvin_guard::parquet as guard;
use parquet::file::metadata::ParquetMetaData;

use crate::Reason;

/// What a file read may claim: pages of at most 16 MiB (writers default to 1 MiB), dictionary
/// pages of at most 2^20 values (a 1 MiB dictionary page of 4-byte strings holds 2^18), and at
/// most 64 MiB of pages and decoded dictionaries per row group at once. The footer is bounded
/// by [`crate::Limits::max_input_bytes`] only: it is walked whole before it is decoded.
const LIMITS: guard::Limits = guard::Limits {
    owner: "",
    max_footer_bytes: u64::MAX,
    max_page_bytes: 16 << 20,
    max_dictionary_values: 1 << 20,
    max_row_group_bytes: 64 << 20,
};

/// Why a file is refused: a reason and a detail.
pub(super) type Refusal = (Reason, String);

/// The guard's refusal `e`, as a quarantine reason and detail.
fn refusal(e: &kelvin_guard::Error) -> Refusal {
    let (at, found, limit) = (
        e.offset().unwrap_or(0),
        e.found().unwrap_or(0),
        e.limit().unwrap_or(0),
    );
    match (e.kind(), e.limit_name()) {
        (kelvin_guard::ErrorKind::OverLimit, Some("max_page_bytes")) => (
            Reason::InputTooLarge,
            format!(
                "the page at byte {at} is {found} bytes decompressed or compressed, over {limit}"
            ),
        ),
        (kelvin_guard::ErrorKind::OverLimit, Some("max_dictionary_values")) => (
            Reason::InputTooLarge,
            format!("the dictionary page at byte {at} claims {found} values (at most {limit})"),
        ),
        (kelvin_guard::ErrorKind::OverLimit, _) => (Reason::InputTooLarge, e.to_string()),
        _ => (Reason::BadField, e.to_string()),
    }
}

/// Finds the footer and walks it before the `parquet` crate decodes it.
pub(super) fn check_footer(file: &[u8]) -> Result<guard::Footer, Refusal> {
    let n = file.len();
    if n < 12 || !file.starts_with(b"PAR1") || !file.ends_with(b"PAR1") {
        let detail = "not a Parquet file (no PAR1 magic at both ends)";
        return Err((Reason::BadField, detail.into()));
    }
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&file[n - 8..]);
    let footer = guard::footer(n as u64, tail, &LIMITS).map_err(|e| refusal(&e))?;
    let rest = file.get(footer.start as usize..).unwrap_or_default();
    guard::check_footer(rest, footer).map_err(|e| refusal(&e))?;
    Ok(footer)
}

/// Walks the page headers of every column chunk the decoded footer names, before a page is
/// read, and checks what each row group's pages need at once.
pub(super) fn check_pages(
    file: &[u8],
    footer: guard::Footer,
    meta: &ParquetMetaData,
) -> Result<(), Refusal> {
    for (g, rg) in meta.row_groups().iter().enumerate() {
        let mut working = 0u64;
        for c in rg.columns() {
            let place = format!("row group {g}, column {:?}", c.column_path().string());
            if c.file_path().is_some() {
                let detail =
                    format!("{place}: a column chunk in another file (file_path): not read");
                return Err((Reason::BadField, detail));
            }
            let range = guard::chunk(
                c.dictionary_page_offset(),
                c.data_page_offset(),
                c.compressed_size(),
                footer,
            )
            .map_err(|e| (Reason::BadField, format!("{place}: {e}")))?;
            let read_at = |at: u64| file.get(at as usize..).ok_or("past the end of the file");
            let needs = guard::check_chunk(read_at, range, 1, &LIMITS).map_err(|e| refusal(&e))?;
            working = working.saturating_add(needs);
        }
        LIMITS.check_row_group(g, working).map_err(|e| {
            let detail = format!(
                "row group {g} needs {working} bytes of pages and dictionaries at once, over {}",
                e.limit().unwrap_or(0)
            );
            (Reason::InputTooLarge, detail)
        })?;
    }
    Ok(())
}
