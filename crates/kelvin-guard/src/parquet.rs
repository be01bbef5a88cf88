//! A Parquet file's metadata, checked before the `parquet` crate trusts it.
//!
//! The `parquet` crate reserves what a file's metadata claims before it can find the claim
//! false: a page's uncompressed size (up to 2 GiB) before decompressing it, a dictionary page's
//! value count (2^31 values of 32 bytes) before reading a value, a schema element's child
//! count, a binary field of a page header at its announced length; and it builds the schema
//! tree recursively, one stack frame a level. A crafted file of a few bytes can so ask for
//! gigabytes or overflow the stack, which aborts the process instead of returning an error.
//! This module walks the same bytes first, with its own bounds-checked reader of the Thrift
//! compact protocol that reads each field the way the crate does, allocates nothing for what
//! it walks, and refuses what is inconsistent ([`ErrorKind::Malformed`]) or over the caller's
//! [`Limits`] ([`ErrorKind::OverLimit`]). A reader uses it in three steps:
//!
//! 1. [`footer`] finds the footer from the file's last eight bytes and checks its length;
//!    [`check_footer`] walks it (the schema first: its size, child counts and depth) before
//!    the crate decodes it;
//! 2. after the crate has decoded the footer, [`chunk`] checks each column chunk's range (as
//!    the decoded metadata gives it) against the file's data;
//! 3. [`check_chunk`] walks the chunk's page headers before the crate reads a page, and
//!    returns what its pages need at once; [`Limits::check_row_group`] checks their sum over
//!    one row group, whose columns a row reader decodes side by side.

use std::fmt::Display;
use std::io::Read;
use std::ops::Range;

use crate::{Error, ErrorKind};

mod thrift;

use thrift::Walker;

/// Deepest nesting of Thrift structs and collections walked (Parquet's own structures nest
/// about eight deep).
pub const MAX_NESTING: u32 = 32;

/// Deepest schema tree accepted (the `parquet` crate builds it recursively).
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// Most elements a schema may have (a column per leaf, a group per nesting).
pub const MAX_SCHEMA_ELEMENTS: u64 = 1 << 16;

/// The `PageType` of a dictionary page.
const DICTIONARY_PAGE: i64 = 2;

/// Bytes one decoded dictionary value takes at most (a byte array's handle), for the working
/// set of a chunk.
const DECODED_VALUE_BYTES: u64 = 32;

/// The magic at both ends of a Parquet file.
const MAGIC: &[u8; 4] = b"PAR1";

/// What a reader accepts of a Parquet file's metadata. Every limit refused names its field
/// ([`Error::limit_name`]), prefixed in messages with [`Limits::owner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// What the caller calls these limits in its documentation (`"ParquetLimits"`): messages
    /// name a limit `owner::field` (`ParquetLimits::max_page_bytes`), or `field` when empty.
    pub owner: &'static str,
    /// Largest footer, bytes.
    pub max_footer_bytes: u64,
    /// Largest page, compressed or not, bytes.
    pub max_page_bytes: u64,
    /// Most values in one dictionary page.
    pub max_dictionary_values: u64,
    /// Most bytes the pages of one row group may need at once ([`Limits::check_row_group`]).
    pub max_row_group_bytes: u64,
}

impl Limits {
    /// An [`ErrorKind::OverLimit`] error: `what` (`"a page of 10 bytes"`) over `field`.
    fn over(
        &self,
        place: Option<&dyn Display>,
        what: String,
        (found, limit): (u64, u64),
        field: &'static str,
    ) -> Error {
        let name = if self.owner.is_empty() {
            field.to_string()
        } else {
            format!("{}::{field}", self.owner)
        };
        let detail = format!("{what}, over the limit of {limit} ({name})");
        Error::new(ErrorKind::OverLimit, place, detail).against(found, limit, Some(field))
    }

    /// Checks what the pages of row group `group` need at once — the sum over its column
    /// chunks of what [`check_chunk`] returned — against [`Limits::max_row_group_bytes`].
    ///
    /// # Errors
    /// [`ErrorKind::OverLimit`] over the limit.
    pub fn check_row_group(&self, group: usize, bytes: u64) -> Result<(), Error> {
        if bytes <= self.max_row_group_bytes {
            return Ok(());
        }
        Err(self.over(
            None,
            format!("row group {group} needs {bytes} bytes of pages and dictionaries at once"),
            (bytes, self.max_row_group_bytes),
            "max_row_group_bytes",
        ))
    }
}

/// Where a file's footer (its `FileMetaData`) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Footer {
    /// Its first byte in the file; the file's data (the column chunks) ends here.
    pub start: u64,
    /// Its length, bytes.
    pub len: u64,
}

/// Finds the footer of a file of `file_len` bytes from its last eight (`tail`: the footer's
/// length, little-endian, and the magic `PAR1`), and checks that length against the file and
/// [`Limits::max_footer_bytes`].
///
/// # Errors
/// [`ErrorKind::Malformed`] for a file too short for a footer, without the magic at its end or
/// whose footer would start before the file; [`ErrorKind::OverLimit`] for a longer footer than
/// the limit.
pub fn footer(file_len: u64, tail: [u8; 8], limits: &Limits) -> Result<Footer, Error> {
    let malformed = |detail: String| Error::new(ErrorKind::Malformed, None, detail);
    if file_len < 12 {
        return Err(malformed(format!(
            "{file_len} bytes, too short for a Parquet file"
        )));
    }
    if &tail[4..] != MAGIC {
        return Err(malformed(
            "not a Parquet file (no PAR1 magic at its end)".into(),
        ));
    }
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len > file_len - 8 {
        return Err(malformed(format!(
            "the footer claims {len} bytes of a {file_len}-byte file"
        )));
    }
    if len > limits.max_footer_bytes {
        return Err(limits.over(
            None,
            format!("a footer of {len} bytes"),
            (len, limits.max_footer_bytes),
            "max_footer_bytes",
        ));
    }
    Ok(Footer {
        start: file_len - 8 - len,
        len,
    })
}

/// Walks the footer from `r` (which reads from [`Footer::start`] on) before the `parquet`
/// crate decodes it: the version and the schema first (writers put them there; a footer with
/// anything else before its schema is refused), the schema of at most
/// [`MAX_SCHEMA_ELEMENTS`], each element's child count within the elements that follow it,
/// the tree at most [`MAX_SCHEMA_DEPTH`] deep; then the rest, every length and count against
/// the bytes left and every nesting within [`MAX_NESTING`].
///
/// # Errors
/// [`ErrorKind::Malformed`], at the footer's offset, for anything else (also a read that
/// fails).
pub fn check_footer<R: Read>(r: R, footer: Footer) -> Result<(), Error> {
    thrift::footer(&mut Walker::new(r, footer.len)).map_err(|detail| {
        let place = format!("the footer at byte {}", footer.start);
        Error::new(ErrorKind::Malformed, Some(&place), detail).at_offset(footer.start)
    })
}

/// The bytes of a column chunk, from its decoded metadata as the `parquet` crate reads them
/// (from the dictionary page when there is one, else from the first data page;
/// `compressed_size` bytes), checked to lie within the file's data: after the leading magic
/// and before the footer.
///
/// # Errors
/// [`ErrorKind::Malformed`] for a negative offset or length, or a chunk outside the data.
pub fn chunk(
    dictionary_page_offset: Option<i64>,
    data_page_offset: i64,
    compressed_size: i64,
    footer: Footer,
) -> Result<Range<u64>, Error> {
    let start = dictionary_page_offset.unwrap_or(data_page_offset);
    let range = u64::try_from(start)
        .ok()
        .zip(u64::try_from(compressed_size).ok())
        .and_then(|(s, l)| Some(s..s.checked_add(l)?));
    match range.filter(|r| r.start >= MAGIC.len() as u64 && r.end <= footer.start) {
        Some(r) => Ok(r),
        None => Err(Error::new(
            ErrorKind::Malformed,
            None,
            format!(
                "chunk of {compressed_size} bytes at offset {start} is not inside the file's \
                 data (bytes 4 to {})",
                footer.start
            ),
        )),
    }
}

/// Walks the page headers of one column chunk (the `chunk` bytes of the file, from
/// [`chunk`]) before the `parquet` crate reads its pages: `read_at(offset)` gives a reader of
/// the file from `offset` on. Each page's sizes are checked against the chunk and
/// [`Limits::max_page_bytes`], each dictionary's length against
/// [`Limits::max_dictionary_values`] and against the bytes of its page, at `min_value_bytes`
/// a value at least (4 for `BYTE_ARRAY`, 8 for `INT64`/`DOUBLE` with `PLAIN` dictionaries;
/// 1 when the column's type is not known), and each data page's value count against `i32`.
///
/// Returns what the chunk's pages need at once while a row reader decodes them: its largest
/// data page twice (compressed and decompressed) and its largest dictionary page with its
/// values decoded (at 32 bytes a value), for [`Limits::check_row_group`].
///
/// # Errors
/// At the page's offset: [`ErrorKind::Io`] when `read_at` fails, [`ErrorKind::OverLimit`]
/// over a limit, [`ErrorKind::Malformed`] for anything inconsistent.
pub fn check_chunk<R: Read, E: Display>(
    mut read_at: impl FnMut(u64) -> Result<R, E>,
    chunk: Range<u64>,
    min_value_bytes: u64,
    limits: &Limits,
) -> Result<u64, Error> {
    let (start, end) = (chunk.start, chunk.end);
    let (mut largest, mut dictionary) = (0u64, 0u64);
    let mut at = start;
    while at < end {
        let place = format!("page at byte {at}");
        let error = |kind, detail: String| Error::new(kind, Some(&place), detail).at_offset(at);
        let malformed = |detail| error(ErrorKind::Malformed, detail);
        let over = |what, found_limit, field| {
            limits
                .over(Some(&place), what, found_limit, field)
                .at_offset(at)
        };
        let read = read_at(at).map_err(|e| error(ErrorKind::Io, e.to_string()))?;
        let mut w = Walker::new(read, end - at);
        let h = thrift::page_header(&mut w).map_err(malformed)?;
        let i32_size = |v: i64| u64::try_from(v).ok().filter(|&v| v <= i32::MAX as u64);
        let (Some(compressed), Some(uncompressed)) =
            (i32_size(h.compressed), i32_size(h.uncompressed))
        else {
            return Err(malformed(format!(
                "page sizes out of range ({} compressed, {} uncompressed)",
                h.compressed, h.uncompressed
            )));
        };
        let size = compressed.max(uncompressed);
        if size > limits.max_page_bytes {
            let what = format!("a page of {size} bytes");
            return Err(over(what, (size, limits.max_page_bytes), "max_page_bytes"));
        }
        if let Some(n) = h.dictionary_values {
            let n = i32_size(n).ok_or_else(|| malformed(format!("{n} dictionary values")))?;
            if n > limits.max_dictionary_values {
                let what = format!("a dictionary of {n} values");
                let field = "max_dictionary_values";
                return Err(over(what, (n, limits.max_dictionary_values), field));
            }
            if n.saturating_mul(min_value_bytes) > uncompressed {
                return Err(malformed(format!(
                    "a dictionary of {n} values in {uncompressed} bytes"
                )));
            }
            if h.kind == DICTIONARY_PAGE {
                dictionary = dictionary.max(uncompressed + DECODED_VALUE_BYTES * n);
            }
        }
        if h.kind != DICTIONARY_PAGE || h.dictionary_values.is_none() {
            largest = largest.max(uncompressed + compressed);
        }
        if let Some(n) = h.data_values
            && i32_size(n).is_none()
        {
            return Err(malformed(format!("{n} values in a data page")));
        }
        // What the header claims is checked first, then where its data lies.
        let data_at = at + w.pos();
        if compressed > end - data_at {
            return Err(malformed(format!(
                "{compressed} bytes of page data, {} bytes left in the chunk",
                end - data_at
            )));
        }
        at = data_at + compressed;
    }
    Ok(largest + dictionary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        owner: "TestLimits",
        max_footer_bytes: 100,
        max_page_bytes: 1000,
        max_dictionary_values: 50,
        max_row_group_bytes: 5000,
    };

    fn tail(len: u32) -> [u8; 8] {
        let mut t = [0; 8];
        t[..4].copy_from_slice(&len.to_le_bytes());
        t[4..].copy_from_slice(MAGIC);
        t
    }

    #[test]
    fn the_footer_is_found_within_the_file_and_the_limit() {
        assert_eq!(
            footer(1000, tail(40), &LIMITS),
            Ok(Footer {
                start: 952,
                len: 40
            })
        );
        let e = footer(1000, tail(101), &LIMITS).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OverLimit);
        assert_eq!(
            e.message(),
            "a footer of 101 bytes, over the limit of 100 (TestLimits::max_footer_bytes)"
        );
        assert_eq!(
            (e.found(), e.limit(), e.limit_name()),
            (Some(101), Some(100), Some("max_footer_bytes"))
        );
        let e = footer(50, tail(43), &LIMITS).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert_eq!(e.message(), "the footer claims 43 bytes of a 50-byte file");
        assert!(footer(11, tail(0), &LIMITS).is_err());
        let mut bad = tail(4);
        bad[7] = b'E';
        assert!(
            footer(100, bad, &LIMITS)
                .unwrap_err()
                .message()
                .contains("no PAR1")
        );
    }

    #[test]
    fn footer_errors_name_their_offset() {
        let f = Footer { start: 7, len: 2 };
        let e = check_footer(&[0x49u8, 0x00][..], f).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (ErrorKind::Malformed, Some(7)));
        assert!(
            e.message().starts_with("the footer at byte 7: field 4"),
            "{e}"
        );
        assert!(e.detail().starts_with("field 4"), "{e}");
    }

    #[test]
    fn chunks_lie_between_the_magic_and_the_footer() {
        let f = Footer {
            start: 100,
            len: 10,
        };
        assert_eq!(chunk(None, 4, 96, f), Ok(4..100));
        assert_eq!(chunk(Some(10), 20, 30, f), Ok(10..40));
        for (dict, data, len) in [
            (None, 0, 10),
            (None, 4, 97),
            (Some(-1), 4, 1),
            (None, 4, -1),
        ] {
            let e = chunk(dict, data, len, f).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Malformed);
            assert!(e.message().contains("is not inside the file's data"), "{e}");
        }
        assert!(chunk(None, i64::MAX, i64::MAX, f).is_err());
    }

    /// A page header with `(type, uncompressed, compressed)` and, for a dictionary page, the
    /// dictionary's value count, followed by `data` bytes of page data.
    fn page(kind: u8, sizes: (u8, u8), dictionary: Option<u8>, data: usize) -> Vec<u8> {
        let mut out = vec![0x15, kind << 1, 0x15, sizes.0 << 1, 0x15, sizes.1 << 1];
        if let Some(n) = dictionary {
            out.extend([0x4c, 0x15, n << 1, 0x00]);
        }
        out.push(0x00);
        out.extend(vec![0u8; data]);
        out
    }

    fn check(file: &[u8], min_value_bytes: u64) -> Result<u64, Error> {
        let read_at = |at: u64| file.get(at as usize..).ok_or("past the end");
        check_chunk(read_at, 0..file.len() as u64, min_value_bytes, &LIMITS)
    }

    #[test]
    fn pages_are_walked_and_their_working_set_summed() {
        // A dictionary page of 10 values in 40 bytes, then two data pages.
        let mut file = page(2, (40, 40), Some(10), 40);
        file.extend(page(0, (60, 30), None, 30));
        file.extend(page(0, (50, 20), None, 20));
        assert_eq!(check(&file, 4), Ok(40 + 32 * 10 + 90));
        // The same dictionary at 8 bytes a value cannot be.
        let e = check(&file, 8).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (ErrorKind::Malformed, Some(0)));
        assert_eq!(e.detail(), "a dictionary of 10 values in 40 bytes");
        assert_eq!(LIMITS.check_row_group(0, 5000), Ok(()));
        let e = LIMITS.check_row_group(3, 5001).unwrap_err();
        assert_eq!(
            e.message(),
            "row group 3 needs 5001 bytes of pages and dictionaries at once, over the limit of \
             5000 (TestLimits::max_row_group_bytes)"
        );
    }

    #[test]
    fn pages_over_a_limit_or_past_their_chunk_are_refused() {
        let e = check(&page(2, (60, 60), Some(51), 60), 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OverLimit);
        assert_eq!(
            e.message(),
            "page at byte 0: a dictionary of 51 values, over the limit of 50 \
             (TestLimits::max_dictionary_values)"
        );
        assert_eq!((e.found(), e.limit()), (Some(51), Some(50)));
        // 1001 bytes does not fit one nibble-sized test varint: write the header by hand.
        let mut big = vec![0x15, 0x00, 0x15, 0xd2, 0x0f, 0x15, 0x04, 0x00];
        big.extend([0; 2]);
        let e = check(&big, 1).unwrap_err();
        assert_eq!(
            (e.kind(), e.limit_name()),
            (ErrorKind::OverLimit, Some("max_page_bytes"))
        );
        assert_eq!(e.found(), Some(1001));
        let mut file = page(0, (10, 10), None, 10);
        let second = file.len() as u64;
        file.extend(page(0, (10, 10), None, 4));
        let e = check(&file, 1).unwrap_err();
        assert_eq!(e.offset(), Some(second));
        assert_eq!(
            e.message(),
            format!("page at byte {second}: 10 bytes of page data, 4 bytes left in the chunk")
        );
        let e = check_chunk(|_| Err::<&[u8], _>("gone"), 0..10, 1, &LIMITS).unwrap_err();
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::Io, "page at byte 0: gone")
        );
    }
}
