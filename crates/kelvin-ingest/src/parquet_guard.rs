//! Checks a Parquet file's footer and page headers before the `parquet` crate reads it.
//!
//! The `parquet` crate trusts sizes that a crafted file controls: it reserves a page's
//! `uncompressed_page_size` (up to 2 GiB) before decompressing, resizes a dictionary to its
//! page header's `num_values` (2^31 values of 32 bytes), reserves a schema element's
//! `num_children` and a page statistic's byte length as written. So before any of that, this
//! module walks the footer (Thrift compact protocol) and every page header of every column
//! chunk with its own bounds-checked reader, and refuses a file whose sizes are inconsistent
//! or exceed [`MAX_PAGE_BYTES`], [`MAX_DICTIONARY_VALUES`] or, summed over the columns of one
//! row group (which the row reader decodes side by side), [`MAX_ROW_GROUP_WORKING_BYTES`].

use crate::Reason;

/// Largest page accepted, decompressed (16 MiB; writers default to 1 MiB pages).
pub(crate) const MAX_PAGE_BYTES: i64 = 16 << 20;

/// Most values in one dictionary page (2^20; a 1 MiB dictionary page of 4-byte strings holds
/// 2^18).
pub(crate) const MAX_DICTIONARY_VALUES: i64 = 1 << 20;

/// Most memory the pages of one row group may need at once, decompressed, with their decoded
/// dictionaries (32 bytes a value): 64 MiB.
pub(crate) const MAX_ROW_GROUP_WORKING_BYTES: i64 = 64 << 20;

/// Deepest Thrift nesting walked.
const MAX_DEPTH: usize = 32;

/// Why a file is refused: a reason and a detail.
pub(crate) type Refusal = (Reason, String);

fn bad(detail: impl Into<String>) -> Refusal {
    (Reason::BadField, detail.into())
}

/// A bounds-checked reader of Thrift compact-protocol bytes.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
    depth: usize,
}

const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const I8: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;
const UUID: u8 = 13;

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cursor {
            b,
            pos: 0,
            depth: 0,
        }
    }

    fn byte(&mut self) -> Result<u8, Refusal> {
        let v = *self
            .b
            .get(self.pos)
            .ok_or_else(|| bad("Thrift data ends early"))?;
        self.pos += 1;
        Ok(v)
    }

    fn skip_bytes(&mut self, n: u64) -> Result<(), Refusal> {
        let left = (self.b.len() - self.pos) as u64;
        if n > left {
            return Err(bad(format!(
                "a Thrift field claims {n} bytes where {left} are left"
            )));
        }
        self.pos += n as usize;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, Refusal> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(bad("a Thrift varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("a Thrift varint overflows 64 bits"))
    }

    fn zigzag(&mut self) -> Result<i64, Refusal> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// An integer field of any integer type.
    fn int(&mut self, ty: u8) -> Result<i64, Refusal> {
        match ty {
            I8 => Ok(i64::from(self.byte()? as i8)),
            I16 | I32 | I64 => self.zigzag(),
            _ => Err(bad(format!(
                "Thrift type {ty} where an integer was expected"
            ))),
        }
    }

    /// A list or set header: element type and count (bounded by the bytes left: every
    /// element takes at least one byte, except booleans packed in the header, which lists
    /// never use).
    fn list_header(&mut self) -> Result<(u8, u64), Refusal> {
        let h = self.byte()?;
        let n = match h >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        let left = (self.b.len() - self.pos) as u64;
        if n > left {
            return Err(bad(format!(
                "a Thrift list claims {n} elements where {left} bytes are left"
            )));
        }
        Ok((h & 0x0f, n))
    }

    fn enter(&mut self) -> Result<(), Refusal> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(bad("Thrift structures nested too deep"));
        }
        Ok(())
    }

    /// Skips one value of type `ty`.
    fn skip(&mut self, ty: u8) -> Result<(), Refusal> {
        match ty {
            BOOL_TRUE | BOOL_FALSE => Ok(()),
            I8 => self.byte().map(|_| ()),
            I16 | I32 | I64 => self.varint().map(|_| ()),
            DOUBLE => self.skip_bytes(8),
            UUID => self.skip_bytes(16),
            BINARY => {
                let n = self.varint()?;
                self.skip_bytes(n)
            }
            LIST | SET => {
                let (et, n) = self.list_header()?;
                self.enter()?;
                for _ in 0..n {
                    // booleans in lists take a byte each
                    if matches!(et, BOOL_TRUE | BOOL_FALSE) {
                        self.byte()?;
                    } else {
                        self.skip(et)?;
                    }
                }
                self.depth -= 1;
                Ok(())
            }
            MAP => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                let kv = self.byte()?;
                let left = (self.b.len() - self.pos) as u64;
                if n > left {
                    return Err(bad("a Thrift map claims more entries than bytes left"));
                }
                self.enter()?;
                for _ in 0..n {
                    self.skip(kv >> 4)?;
                    self.skip(kv & 0x0f)?;
                }
                self.depth -= 1;
                Ok(())
            }
            STRUCT => self.fields(|c, _, ty| c.skip(ty)),
            _ => Err(bad(format!("unknown Thrift type {ty}"))),
        }
    }

    /// Walks a struct's fields; `f` must consume each field's value.
    fn fields(
        &mut self,
        mut f: impl FnMut(&mut Self, i16, u8) -> Result<(), Refusal>,
    ) -> Result<(), Refusal> {
        self.enter()?;
        let mut id: i16 = 0;
        loop {
            let h = self.byte()?;
            if h == 0 {
                break;
            }
            let ty = h & 0x0f;
            id = match h >> 4 {
                0 => {
                    i16::try_from(self.zigzag()?).map_err(|_| bad("a Thrift field id overflows"))?
                }
                delta => id.saturating_add(i16::from(delta)),
            };
            f(self, id, ty)?;
        }
        self.depth -= 1;
        Ok(())
    }
}

/// A column chunk's pages: where they are and how the chunk is compressed.
struct Chunk {
    start: i64,
    len: i64,
}

/// What the footer says that the page walk needs.
#[derive(Default)]
struct Footer {
    /// Column chunks per row group.
    row_groups: Vec<Vec<Chunk>>,
}

fn read_column_meta(c: &mut Cursor<'_>) -> Result<Chunk, Refusal> {
    let (mut compressed, mut data, mut dict) = (None, None, None);
    c.fields(|c, id, ty| {
        match (id, ty) {
            (7, I64) => compressed = Some(c.int(ty)?),
            (9, I64) => data = Some(c.int(ty)?),
            (11, I64) => dict = Some(c.int(ty)?),
            _ => c.skip(ty)?,
        }
        Ok(())
    })?;
    let (Some(len), Some(data)) = (compressed, data) else {
        return Err(bad("a column chunk without its size or data page offset"));
    };
    let start = match dict {
        Some(d) if d > 0 && d < data => d,
        _ => data,
    };
    Ok(Chunk { start, len })
}

fn read_row_group(c: &mut Cursor<'_>) -> Result<Vec<Chunk>, Refusal> {
    let mut chunks = Vec::new();
    c.fields(|c, id, ty| {
        if (id, ty) != (1, LIST) {
            return c.skip(ty);
        }
        let (et, n) = c.list_header()?;
        if et != STRUCT {
            return Err(bad("row group columns are not structs"));
        }
        for _ in 0..n {
            let mut meta = None;
            c.fields(|c, id, ty| {
                match (id, ty) {
                    (1, BINARY) => {
                        return Err(bad("a column chunk in another file (file_path): not read"));
                    }
                    (3, STRUCT) => meta = Some(read_column_meta(c)?),
                    _ => c.skip(ty)?,
                }
                Ok(())
            })?;
            chunks.push(meta.ok_or_else(|| bad("a column chunk without metadata"))?);
        }
        Ok(())
    })?;
    Ok(chunks)
}

/// Checks the schema list: every `num_children` fits the list.
fn check_schema(c: &mut Cursor<'_>) -> Result<(), Refusal> {
    let (et, n) = c.list_header()?;
    if et != STRUCT {
        return Err(bad("schema elements are not structs"));
    }
    for i in 0..n {
        c.fields(|c, id, ty| {
            if (id, ty) == (5, I32) {
                let children = c.int(ty)?;
                if children < 0 || children as u64 >= n {
                    return Err(bad(format!(
                        "schema element {i} claims {children} children in a schema of {n} elements"
                    )));
                }
                return Ok(());
            }
            c.skip(ty)
        })?;
    }
    Ok(())
}

fn read_footer(meta: &[u8]) -> Result<Footer, Refusal> {
    let mut c = Cursor::new(meta);
    let mut footer = Footer::default();
    c.fields(|c, id, ty| match (id, ty) {
        (2, LIST) => check_schema(c),
        (4, LIST) => {
            let (et, n) = c.list_header()?;
            if et != STRUCT {
                return Err(bad("row groups are not structs"));
            }
            for _ in 0..n {
                footer.row_groups.push(read_row_group(c)?);
            }
            Ok(())
        }
        _ => c.skip(ty),
    })?;
    Ok(footer)
}

/// The sizes of one page header.
#[derive(Default)]
struct Page {
    kind: i64,
    uncompressed: i64,
    compressed: i64,
    dictionary_values: Option<i64>,
}

fn read_page_header(c: &mut Cursor<'_>) -> Result<Page, Refusal> {
    let mut p = Page::default();
    c.fields(|c, id, ty| {
        match (id, ty) {
            (1, I32) => p.kind = c.int(ty)?,
            (2, I32) => p.uncompressed = c.int(ty)?,
            (3, I32) => p.compressed = c.int(ty)?,
            (7, STRUCT) => c.fields(|c, id, ty| {
                if (id, ty) == (1, I32) {
                    p.dictionary_values = Some(c.int(ty)?);
                    Ok(())
                } else {
                    c.skip(ty)
                }
            })?,
            _ => c.skip(ty)?,
        }
        Ok(())
    })?;
    Ok(p)
}

/// Walks one column chunk's pages; returns what they need at once (the largest page, twice,
/// for the compressed and decompressed copies, plus the dictionary decoded).
fn check_chunk(file: &[u8], data_end: usize, chunk: &Chunk) -> Result<i64, Refusal> {
    let start = usize::try_from(chunk.start).ok();
    let end = chunk
        .start
        .checked_add(chunk.len)
        .and_then(|e| usize::try_from(e).ok());
    let (Some(start), Some(end)) = (start, end) else {
        return Err(bad(format!(
            "a column chunk at offset {} of {} bytes is outside the file",
            chunk.start, chunk.len
        )));
    };
    if start < 4 || end > data_end || chunk.len < 0 {
        return Err(bad(format!(
            "a column chunk at offset {} of {} bytes is outside the file's data",
            chunk.start, chunk.len
        )));
    }
    let (mut largest, mut dictionary) = (0_i64, 0_i64);
    let mut c = Cursor::new(&file[start..end]);
    while c.pos < end - start {
        let at = start + c.pos;
        let p = read_page_header(&mut c)?;
        if p.uncompressed < 0 || p.compressed < 0 {
            return Err(bad(format!("the page at byte {at} has a negative size")));
        }
        if p.uncompressed > MAX_PAGE_BYTES {
            return Err((
                Reason::InputTooLarge,
                format!(
                    "the page at byte {at} is {} bytes decompressed, over {MAX_PAGE_BYTES}",
                    p.uncompressed
                ),
            ));
        }
        c.skip_bytes(p.compressed as u64)
            .map_err(|_| bad(format!("the page at byte {at} runs past its column chunk")))?;
        const DICTIONARY_PAGE: i64 = 2;
        match p.dictionary_values {
            Some(n) if p.kind == DICTIONARY_PAGE => {
                // every dictionary value takes at least one byte of the page
                if !(0..=MAX_DICTIONARY_VALUES).contains(&n) || n > p.uncompressed.max(1) {
                    return Err((
                        Reason::InputTooLarge,
                        format!(
                            "the dictionary page at byte {at} claims {n} values in {} bytes \
                             (at most {MAX_DICTIONARY_VALUES})",
                            p.uncompressed
                        ),
                    ));
                }
                dictionary = dictionary.max(p.uncompressed + 32 * n);
            }
            _ => largest = largest.max(p.uncompressed + p.compressed),
        }
    }
    Ok(largest + dictionary)
}

/// Checks a whole Parquet file before it is read (see the module documentation).
pub(crate) fn check(file: &[u8]) -> Result<(), Refusal> {
    let n = file.len();
    if n < 12 || !file.starts_with(b"PAR1") || !file.ends_with(b"PAR1") {
        return Err(bad("not a Parquet file (no PAR1 magic at both ends)"));
    }
    let footer_len = u32::from_le_bytes([file[n - 8], file[n - 7], file[n - 6], file[n - 5]]);
    let footer_len = footer_len as usize;
    if footer_len > n - 12 {
        return Err(bad(format!(
            "the footer claims {footer_len} bytes of a {n}-byte file"
        )));
    }
    let data_end = n - 8 - footer_len;
    let footer = read_footer(&file[data_end..n - 8])?;
    for (g, chunks) in footer.row_groups.iter().enumerate() {
        let mut working = 0_i64;
        for chunk in chunks {
            working = working.saturating_add(check_chunk(file, data_end, chunk)?);
        }
        if working > MAX_ROW_GROUP_WORKING_BYTES {
            return Err((
                Reason::InputTooLarge,
                format!(
                    "row group {g} needs {working} bytes of pages and dictionaries at once, \
                     over {MAX_ROW_GROUP_WORKING_BYTES}"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, Normalizer, parquet};
    use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};

    /// A small file in Kelvin's layout.
    fn file() -> Vec<u8> {
        let rs: Vec<Reading> = (0..50)
            .map(|i| {
                Reading::new(
                    EntityId::new(format!("h{}", i % 3)).unwrap(),
                    "inlet",
                    SensorKind::Temperature,
                    20.0 + f64::from(i),
                    Timestamp::from_secs(i64::from(i)),
                )
            })
            .collect();
        let mut f = Vec::new();
        parquet::write_parquet(&rs, &mut f).unwrap();
        f
    }

    /// Where the value of the field at `path` (field ids, nested structs) of the struct at
    /// `start` begins, and how long it is.
    fn field_at(bytes: &[u8], start: usize, path: &[i16]) -> (usize, usize) {
        let mut c = Cursor::new(bytes);
        c.pos = start;
        let mut found = None;
        fn walk(c: &mut Cursor<'_>, path: &[i16], found: &mut Option<(usize, usize)>) {
            c.fields(|c, id, ty| {
                if id != path[0] || found.is_some() {
                    return c.skip(ty);
                }
                if path.len() == 1 {
                    let at = c.pos;
                    c.skip(ty)?;
                    *found = Some((at, c.pos - at));
                    return Ok(());
                }
                walk(c, &path[1..], found);
                Ok(())
            })
            .unwrap();
        }
        walk(&mut c, path, &mut found);
        found.unwrap()
    }

    /// `bytes` with the varint at `at` (of `len` bytes) replaced by the zigzag encoding of `v`;
    /// the footer length is fixed when the change is inside the footer.
    fn splice(bytes: &[u8], (at, len): (usize, usize), v: i64) -> Vec<u8> {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        let mut enc = Vec::new();
        loop {
            let b = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                enc.push(b);
                break;
            }
            enc.push(b | 0x80);
        }
        let n = bytes.len();
        let footer_len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
        let mut out = [&bytes[..at], &enc[..], &bytes[at + len..]].concat();
        if at >= n - 8 - footer_len {
            let m = out.len();
            let fixed = (footer_len + enc.len() - len) as u32;
            out[m - 8..m - 4].copy_from_slice(&fixed.to_le_bytes());
        }
        out
    }

    /// The offset of the dictionary page of column `col` of the first row group.
    fn dictionary_page(f: &[u8], col: usize) -> usize {
        let n = f.len();
        let footer_len = u32::from_le_bytes(f[n - 8..n - 4].try_into().unwrap()) as usize;
        let footer = read_footer(&f[n - 8 - footer_len..n - 8]).unwrap();
        footer.row_groups[0][col].start as usize
    }

    fn quarantined(bytes: Vec<u8>) -> (Reason, String) {
        let n = Normalizer::builtin();
        let b = parquet::read_parquet(bytes, &Context::new("p", &n));
        assert_eq!(
            (b.stats.seen, b.stats.quarantined),
            (1, 1),
            "{:?}",
            b.quarantine
        );
        (b.quarantine[0].reason, b.quarantine[0].detail.clone())
    }

    #[test]
    fn a_written_file_passes() {
        assert_eq!(check(&file()), Ok(()));
    }

    #[test]
    fn an_oversized_page_is_refused_before_it_is_allocated() {
        let f = file();
        // the first page of the first column (ts_ns, no dictionary) starts after "PAR1"
        let at = field_at(&f, 4, &[2]);
        let (reason, detail) = quarantined(splice(&f, at, i64::from(i32::MAX)));
        assert_eq!(reason, Reason::InputTooLarge);
        assert!(detail.contains("2147483647 bytes decompressed"), "{detail}");
    }

    #[test]
    fn a_huge_dictionary_is_refused() {
        let f = file();
        // column 1 (entity) is dictionary-encoded
        let at = field_at(&f, dictionary_page(&f, 1), &[7, 1]);
        let (reason, detail) = quarantined(splice(&f, at, i64::from(i32::MAX)));
        assert_eq!(reason, Reason::InputTooLarge);
        assert!(detail.contains("claims 2147483647 values"), "{detail}");
    }

    #[test]
    fn impossible_schemas_and_offsets_are_refused() {
        let f = file();
        let n = f.len();
        let footer_len = u32::from_le_bytes(f[n - 8..n - 4].try_into().unwrap()) as usize;
        let footer = n - 8 - footer_len;
        // the schema root's num_children: field 2 is the list, its first element the root
        let mut c = Cursor::new(&f);
        c.pos = footer;
        let mut root = None;
        c.fields(|c, id, ty| {
            if id == 2 && root.is_none() {
                c.list_header()?;
                root = Some(c.pos);
                return c.skip(STRUCT);
            }
            c.skip(ty)
        })
        .unwrap();
        let at = field_at(&f, root.unwrap(), &[5]);
        let (reason, detail) = quarantined(splice(&f, at, i64::from(i32::MAX)));
        assert_eq!(reason, Reason::BadField);
        assert!(detail.contains("children"), "{detail}");
        // a footer longer than the file, a cut file
        let mut long = f.clone();
        long[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(quarantined(long).1.contains("footer claims"));
        assert_eq!(quarantined(f[..n / 2].to_vec()).0, Reason::BadField);
    }

    #[test]
    fn cursor_bounds_every_length() {
        // a binary field claiming more bytes than there are
        let mut c = Cursor::new(&[0x28, 0xff, 0x7f, 0]);
        assert!(c.skip(STRUCT).is_err());
        // a list claiming 2^31 elements
        let mut c = Cursor::new(&[0xf5, 0xff, 0xff, 0xff, 0xff, 0x07]);
        assert!(c.skip(LIST).is_err());
        // a varint of eleven bytes
        let mut c = Cursor::new(&[0xff; 11]);
        assert!(c.varint().is_err());
        // deep nesting stops
        let deep = [0x1c; 100];
        let mut c = Cursor::new(&deep);
        assert!(c.skip(STRUCT).is_err());
        // zigzag
        let mut c = Cursor::new(&[0x03, 0x04]);
        assert_eq!((c.zigzag(), c.zigzag()), (Ok(-2), Ok(2)));
    }
}
