//! A bounded reader of the Thrift compact protocol, to check a Parquet file's footer and page
//! headers before the `parquet` crate decodes them.
//!
//! The `parquet` crate trusts several sizes it reads: a dictionary page's value count becomes
//! a `Vec` of that many values before the values are read, a page's uncompressed size is
//! reserved before it is decompressed, a binary field in a page header is reserved at its
//! announced length, a schema element's child count is reserved as written, and the schema
//! tree is built recursively, one stack frame per nesting level. Each of these is allocated
//! (or recursed into) before it can be found to be false, so a file of a few bytes can ask for
//! gigabytes or overflow the stack, which aborts the process rather than returning an error.
//! This module walks the same bytes first with every length checked against the bytes really
//! left, every nesting level counted, and nothing allocated but the schema's open groups; the
//! caller ([`super`]) then compares what it found with its [`Limits`](super::Limits).
//!
//! The compact protocol (<https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md>):
//! a struct is a sequence of fields, each a header byte (field-id delta in the high nibble,
//! type in the low nibble; a zero delta is followed by the id as a zigzag varint) and a value,
//! ended by a zero byte; integers are zigzag varints, binary is a varint length and the bytes,
//! a list is a header byte (size in the high nibble, 15 meaning a varint size follows, element
//! type in the low nibble) and its elements.

use std::io::Read;

const STOP: u8 = 0;
const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
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

use super::{MAX_NESTING, MAX_SCHEMA_DEPTH, MAX_SCHEMA_ELEMENTS};

/// Reads compact-protocol values from `r`, never past `end` bytes.
pub(super) struct Walker<R> {
    r: R,
    pos: u64,
    end: u64,
    depth: u32,
}

impl<R: Read> Walker<R> {
    /// A walker over at most `end` bytes of `r`.
    pub(super) fn new(r: R, end: u64) -> Self {
        Walker {
            r,
            pos: 0,
            end,
            depth: 0,
        }
    }

    /// Bytes read so far.
    pub(super) fn pos(&self) -> u64 {
        self.pos
    }

    fn left(&self) -> u64 {
        self.end - self.pos
    }

    fn byte(&mut self) -> Result<u8, String> {
        if self.pos >= self.end {
            return Err(format!("ends after {} bytes, inside a structure", self.pos));
        }
        let mut b = [0u8; 1];
        self.r
            .read_exact(&mut b)
            .map_err(|e| format!("unreadable at byte {}: {e}", self.pos))?;
        self.pos += 1;
        Ok(b[0])
    }

    fn varint(&mut self) -> Result<u64, String> {
        let at = self.pos;
        let mut v = 0u64;
        for i in 0..10u32 {
            let b = self.byte()?;
            let payload = u64::from(b & 0x7f);
            if i == 9 && payload > 1 {
                break;
            }
            v |= payload << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("a varint at byte {at} is longer than 64 bits"))
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.left() {
            return Err(format!(
                "a field of {n} bytes at byte {} runs past the end ({} bytes left)",
                self.pos,
                self.left()
            ));
        }
        let copied = std::io::copy(&mut (&mut self.r).take(n), &mut std::io::sink())
            .map_err(|e| format!("unreadable at byte {}: {e}", self.pos))?;
        if copied != n {
            return Err(format!("ends inside a field at byte {}", self.pos + copied));
        }
        self.pos += n;
        Ok(())
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(format!(
                "structures nested deeper than {MAX_NESTING} levels at byte {}",
                self.pos
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// The next field of a struct (`last` is the previous field's id), or `None` at its end.
    fn field(&mut self, last: &mut i16) -> Result<Option<(i16, u8)>, String> {
        let at = self.pos;
        let b = self.byte()?;
        // As the `parquet` crate reads it: a type of 0 ends the struct, whatever the delta.
        let ty = b & 0x0f;
        if ty == STOP {
            return Ok(None);
        }
        let delta = b >> 4;
        let id = if delta == 0 {
            let v = self.zigzag()?;
            i16::try_from(v).map_err(|_| format!("field id {v} at byte {at}"))?
        } else {
            last.checked_add(i16::from(delta))
                .ok_or_else(|| format!("field id overflows at byte {at}"))?
        };
        *last = id;
        Ok(Some((id, ty)))
    }

    /// A list's or set's element type and size, the size checked against the bytes left
    /// (every element takes at least one byte).
    fn list_header(&mut self) -> Result<(u8, u64), String> {
        let at = self.pos;
        let b = self.byte()?;
        if b == 0 {
            return Ok((STOP, 0));
        }
        let ty = b & 0x0f;
        let n = match b >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        if n > self.left() {
            return Err(format!(
                "a list at byte {at} claims {n} elements, {} bytes are left",
                self.left()
            ));
        }
        Ok((ty, n))
    }

    /// Skips one element of a collection (a boolean element is a byte).
    fn skip_element(&mut self, ty: u8) -> Result<(), String> {
        match ty {
            BOOL_TRUE | BOOL_FALSE => self.byte().map(drop),
            _ => self.skip_value(ty),
        }
    }

    /// Skips a value of type `ty` (a struct field's; a boolean field has no value bytes).
    fn skip_value(&mut self, ty: u8) -> Result<(), String> {
        match ty {
            BOOL_TRUE | BOOL_FALSE => Ok(()),
            BYTE => self.byte().map(drop),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.skip(8),
            UUID => self.skip(16),
            BINARY => {
                let n = self.varint()?;
                self.skip(n)
            }
            LIST | SET => {
                let (et, n) = self.list_header()?;
                self.enter()?;
                for _ in 0..n {
                    self.skip_element(et)?;
                }
                self.leave();
                Ok(())
            }
            MAP => {
                let at = self.pos;
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                if n > self.left() / 2 {
                    return Err(format!(
                        "a map at byte {at} claims {n} entries, {} bytes are left",
                        self.left()
                    ));
                }
                let kv = self.byte()?;
                self.enter()?;
                for _ in 0..n {
                    self.skip_element(kv >> 4)?;
                    self.skip_element(kv & 0x0f)?;
                }
                self.leave();
                Ok(())
            }
            STRUCT => {
                self.enter()?;
                let mut last = 0;
                while let Some((_, t)) = self.field(&mut last)? {
                    self.skip_value(t)?;
                }
                self.leave();
                Ok(())
            }
            other => Err(format!("unknown type {other} at byte {}", self.pos)),
        }
    }

    /// Walks a struct of shape `shape`: a field the `parquet` crate reads by its id must have
    /// the type the crate reads it as (or the two parsers would part ways: the crate reads by
    /// id, whatever type the field declares), every other field is skipped by its declared
    /// type, as the crate does. Each integer field of the shape is handed to `seen` with its
    /// shape's tag and its id.
    fn walk(
        &mut self,
        shape: &'static Shape,
        seen: &mut dyn FnMut(u8, i16, i64),
    ) -> Result<(), String> {
        self.enter()?;
        let mut last = 0;
        while let Some((id, ty)) = self.field(&mut last)? {
            let Some(&(_, want)) = shape.fields.iter().find(|f| f.0 == id) else {
                self.skip_value(ty)?;
                continue;
            };
            let fits = match want {
                Expect::Int(t) => ty == t,
                Expect::Bool => ty == BOOL_TRUE || ty == BOOL_FALSE,
                Expect::Bin => ty == BINARY,
                Expect::Struct(_) => ty == STRUCT,
            };
            if !fits {
                return Err(format!(
                    "field {id} of a {} declares type {ty}, the reader takes it as {}",
                    shape.name,
                    want.name()
                ));
            }
            match want {
                Expect::Int(BYTE) => {
                    let b = self.byte()?;
                    seen(shape.tag, id, i64::from(b as i8));
                }
                Expect::Int(_) => {
                    let v = self.zigzag()?;
                    seen(shape.tag, id, v);
                }
                Expect::Bool => {}
                Expect::Bin => self.skip_value(BINARY)?,
                Expect::Struct(sub) => self.walk(sub, seen)?,
            }
        }
        self.leave();
        Ok(())
    }
}

/// How the `parquet` crate reads a field it knows.
#[derive(Clone, Copy)]
enum Expect {
    /// An integer of this compact type (`I16`, `I32`, `I64`) or a `BYTE`.
    Int(u8),
    Bool,
    Bin,
    Struct(&'static Shape),
}

impl Expect {
    fn name(self) -> &'static str {
        match self {
            Expect::Int(BYTE) => "a byte",
            Expect::Int(_) => "an integer",
            Expect::Bool => "a boolean",
            Expect::Bin => "binary",
            Expect::Struct(s) => s.name,
        }
    }
}

/// The fields of a Thrift struct (or union) that the `parquet` crate reads by id.
struct Shape {
    tag: u8,
    name: &'static str,
    fields: &'static [(i16, Expect)],
}

const TAG_PAGE: u8 = 1;
const TAG_DATA: u8 = 2;
const TAG_DICTIONARY: u8 = 3;
const TAG_SCHEMA_ELEMENT: u8 = 4;
const TAG_OTHER: u8 = 0;

const fn shape(tag: u8, name: &'static str, fields: &'static [(i16, Expect)]) -> Shape {
    Shape { tag, name, fields }
}

static EMPTY: Shape = shape(TAG_OTHER, "empty struct", &[]);
// parquet.thrift `PageHeader` and the page headers in it, as read without statistics (the
// `parquet` crate's default: a statistics field is skipped by its declared type).
static DATA_PAGE: Shape = shape(
    TAG_DATA,
    "DataPageHeader",
    &[
        (1, Expect::Int(I32)),
        (2, Expect::Int(I32)),
        (3, Expect::Int(I32)),
        (4, Expect::Int(I32)),
    ],
);
static DICTIONARY_PAGE: Shape = shape(
    TAG_DICTIONARY,
    "DictionaryPageHeader",
    &[
        (1, Expect::Int(I32)),
        (2, Expect::Int(I32)),
        (3, Expect::Bool),
    ],
);
static DATA_PAGE_V2: Shape = shape(
    TAG_DATA,
    "DataPageHeaderV2",
    &[
        (1, Expect::Int(I32)),
        (2, Expect::Int(I32)),
        (3, Expect::Int(I32)),
        (4, Expect::Int(I32)),
        (5, Expect::Int(I32)),
        (6, Expect::Int(I32)),
        (7, Expect::Bool),
    ],
);
static PAGE: Shape = shape(
    TAG_PAGE,
    "PageHeader",
    &[
        (1, Expect::Int(I32)),
        (2, Expect::Int(I32)),
        (3, Expect::Int(I32)),
        (4, Expect::Int(I32)),
        (5, Expect::Struct(&DATA_PAGE)),
        (6, Expect::Struct(&EMPTY)),
        (7, Expect::Struct(&DICTIONARY_PAGE)),
        (8, Expect::Struct(&DATA_PAGE_V2)),
    ],
);
// parquet.thrift `SchemaElement` and its `LogicalType` union.
static TIME_UNIT: Shape = shape(
    TAG_OTHER,
    "TimeUnit",
    &[
        (1, Expect::Struct(&EMPTY)),
        (2, Expect::Struct(&EMPTY)),
        (3, Expect::Struct(&EMPTY)),
    ],
);
static DECIMAL: Shape = shape(
    TAG_OTHER,
    "DecimalType",
    &[(1, Expect::Int(I32)), (2, Expect::Int(I32))],
);
static TIMESTAMP: Shape = shape(
    TAG_OTHER,
    "TimestampType",
    &[(1, Expect::Bool), (2, Expect::Struct(&TIME_UNIT))],
);
static INTEGER: Shape = shape(
    TAG_OTHER,
    "IntType",
    &[(1, Expect::Int(BYTE)), (2, Expect::Bool)],
);
static VARIANT: Shape = shape(TAG_OTHER, "VariantType", &[(1, Expect::Int(BYTE))]);
static GEOMETRY: Shape = shape(TAG_OTHER, "GeometryType", &[(1, Expect::Bin)]);
static GEOGRAPHY: Shape = shape(
    TAG_OTHER,
    "GeographyType",
    &[(1, Expect::Bin), (2, Expect::Int(I32))],
);
static LOGICAL_TYPE: Shape = shape(
    TAG_OTHER,
    "LogicalType",
    &[
        (1, Expect::Struct(&EMPTY)),
        (2, Expect::Struct(&EMPTY)),
        (3, Expect::Struct(&EMPTY)),
        (4, Expect::Struct(&EMPTY)),
        (5, Expect::Struct(&DECIMAL)),
        (6, Expect::Struct(&EMPTY)),
        (7, Expect::Struct(&TIMESTAMP)),
        (8, Expect::Struct(&TIMESTAMP)),
        (10, Expect::Struct(&INTEGER)),
        (11, Expect::Struct(&EMPTY)),
        (12, Expect::Struct(&EMPTY)),
        (13, Expect::Struct(&EMPTY)),
        (14, Expect::Struct(&EMPTY)),
        (15, Expect::Struct(&EMPTY)),
        (16, Expect::Struct(&VARIANT)),
        (17, Expect::Struct(&GEOMETRY)),
        (18, Expect::Struct(&GEOGRAPHY)),
        (19, Expect::Struct(&EMPTY)),
    ],
);
static SCHEMA_ELEMENT: Shape = shape(
    TAG_SCHEMA_ELEMENT,
    "SchemaElement",
    &[
        (1, Expect::Int(I32)),
        (2, Expect::Int(I32)),
        (3, Expect::Int(I32)),
        (4, Expect::Bin),
        (5, Expect::Int(I32)),
        (6, Expect::Int(I32)),
        (7, Expect::Int(I32)),
        (8, Expect::Int(I32)),
        (9, Expect::Int(I32)),
        (10, Expect::Struct(&LOGICAL_TYPE)),
    ],
);

/// What a page header says, as far as the limits are concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct PageHeader {
    /// The page type (0 data, 1 index, 2 dictionary, 3 data v2).
    pub(super) kind: i64,
    pub(super) uncompressed: i64,
    pub(super) compressed: i64,
    /// `num_values` of a dictionary page header.
    pub(super) dictionary_values: Option<i64>,
    /// `num_values` of a data page header (v1 or v2).
    pub(super) data_values: Option<i64>,
}

/// Reads a `PageHeader` as the `parquet` crate does (parquet.thrift: 1 type, 2
/// uncompressed_page_size, 3 compressed_page_size, 5 data_page_header, 7
/// dictionary_page_header, 8 data_page_header_v2; `num_values` is field 1 of each of the
/// three).
pub(super) fn page_header<R: Read>(w: &mut Walker<R>) -> Result<PageHeader, String> {
    let mut h = PageHeader::default();
    let (mut kind, mut uncompressed, mut compressed) = (None, None, None);
    w.walk(&PAGE, &mut |tag, id, v| match (tag, id) {
        (TAG_PAGE, 1) => kind = Some(v),
        (TAG_PAGE, 2) => uncompressed = Some(v),
        (TAG_PAGE, 3) => compressed = Some(v),
        (TAG_DATA, 1) => h.data_values = Some(v),
        (TAG_DICTIONARY, 1) => h.dictionary_values = Some(v),
        _ => {}
    })?;
    match (kind, uncompressed, compressed) {
        (Some(k), Some(u), Some(c)) => {
            h.kind = k;
            h.uncompressed = u;
            h.compressed = c;
            Ok(h)
        }
        _ => Err("a page header without its type or sizes".into()),
    }
}

/// Walks a `FileMetaData` (the footer) as the `parquet` crate reads it: first the version
/// (field 1) and the schema (field 2, a list of `SchemaElement`s with `num_children` as field
/// 5), whose size is checked against [`MAX_SCHEMA_ELEMENTS`], every child count against the
/// elements that follow, and the tree's depth against [`MAX_SCHEMA_DEPTH`] (the crate builds
/// that tree recursively, as it reads it); then the rest (row groups, key/value metadata, …),
/// every length and count in it against the bytes left. Writers put the version and the
/// schema first; a footer with anything else before its schema is refused.
pub(super) fn footer<R: Read>(w: &mut Walker<R>) -> Result<(), String> {
    w.enter()?;
    let mut last = 0;
    loop {
        let Some((id, ty)) = w.field(&mut last)? else {
            return Err("no schema (field 2)".into());
        };
        match (id, ty) {
            (1, I32) => {
                w.zigzag()?;
            }
            (2, LIST) => break,
            _ => {
                return Err(format!(
                    "field {id} of type {ty} where the version (field 1, i32) or the schema \
                     (field 2, a list) belongs"
                ));
            }
        }
    }
    schema(w)?;
    while let Some((_, ty)) = w.field(&mut last)? {
        w.skip_value(ty)?;
    }
    w.leave();
    Ok(())
}

/// Walks the schema's list (its header next): see [`footer`].
fn schema<R: Read>(w: &mut Walker<R>) -> Result<(), String> {
    let (et, n) = w.list_header()?;
    if et != STRUCT {
        return Err(format!("the schema is a list of type {et}, not of structs"));
    }
    if n > MAX_SCHEMA_ELEMENTS {
        return Err(format!(
            "a schema of {n} elements, more than the {MAX_SCHEMA_ELEMENTS} accepted"
        ));
    }
    // Children still expected by each open group, root first.
    let mut open: Vec<u64> = Vec::new();
    for i in 0..n {
        let mut children = 0i64;
        w.walk(&SCHEMA_ELEMENT, &mut |tag, id, v| {
            if (tag, id) == (TAG_SCHEMA_ELEMENT, 5) {
                children = v;
            }
        })?;
        let children = u64::try_from(children)
            .map_err(|_| format!("schema element {i} has {children} children"))?;
        // The crate reserves the children before it reads them: they must follow.
        if children > n - i - 1 {
            return Err(format!(
                "schema element {i} claims {children} children in a schema of {n} elements"
            ));
        }
        while open.last() == Some(&0) {
            open.pop();
        }
        if let Some(top) = open.last_mut() {
            *top -= 1;
        }
        if children > 0 {
            open.push(children);
            if open.len() > MAX_SCHEMA_DEPTH {
                return Err(format!(
                    "the schema nests deeper than {MAX_SCHEMA_DEPTH} levels"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(bytes: &[u8]) -> Walker<&[u8]> {
        Walker::new(bytes, bytes.len() as u64)
    }

    fn varint(mut n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out
    }

    #[test]
    fn a_page_header_is_read() {
        // type 2 (dictionary), uncompressed 100, compressed 50, dictionary header num_values 7.
        let bytes = [
            0x15, 0x04, // field 1 i32: 2
            0x15, 0xc8, 0x01, // field 2 i32: 100
            0x15, 0x64, // field 3 i32: 50
            0x4c, // field 7 (delta 4) struct
            0x15, 0x0e, // field 1 i32: 7
            0x00, // end of the dictionary header
            0x00, // end of the page header
        ];
        let mut w = walk(&bytes);
        let h = page_header(&mut w).unwrap();
        assert_eq!(
            h,
            PageHeader {
                kind: 2,
                uncompressed: 100,
                compressed: 50,
                dictionary_values: Some(7),
                data_values: None,
            }
        );
        assert_eq!(w.pos(), bytes.len() as u64);
    }

    #[test]
    fn lengths_past_the_end_are_refused_without_reading_them() {
        // An unknown field 9, binary of 2^40 bytes.
        let mut bytes = vec![0x98];
        bytes.extend(varint(1 << 40));
        let e = page_header(&mut walk(&bytes)).unwrap_err();
        assert!(e.contains("runs past the end"), "{e}");
        // A list claiming 2^31 - 1 elements in 6 bytes.
        let mut list = vec![0xf5];
        list.extend(varint((1 << 31) - 1));
        let e = walk(&list).skip_value(LIST).unwrap_err();
        assert!(e.contains("claims 2147483647 elements"), "{e}");
        assert!(page_header(&mut walk(&[0x15, 0x04, 0x00])).is_err());
        assert!(page_header(&mut walk(&[])).is_err());
    }

    #[test]
    fn every_length_count_and_varint_is_bounded() {
        // A struct whose binary field 2 claims 16,383 bytes of the 1 left.
        let e = walk(&[0x28, 0xff, 0x7f, 0]).skip_value(STRUCT).unwrap_err();
        assert!(e.contains("16383 bytes"), "{e}");
        // A varint of eleven bytes.
        let e = walk(&[0xff; 11]).varint().unwrap_err();
        assert!(e.contains("longer than 64 bits"), "{e}");
        // The tenth byte of a varint holds one bit at most.
        let mut ten = [0xff; 10];
        ten[9] = 0x01;
        assert_eq!(walk(&ten).varint(), Ok(u64::MAX));
        ten[9] = 0x02;
        assert!(walk(&ten).varint().is_err());
        // A map claiming more entries than bytes.
        assert!(walk(&[0x7f, 0x55]).skip_value(MAP).is_err());
        // An unknown type.
        assert!(walk(&[0x0e, 0x00]).skip_value(STRUCT).is_err());
        // Zigzag.
        let mut w = walk(&[0x03, 0x04]);
        assert_eq!((w.zigzag(), w.zigzag()), (Ok(-2), Ok(2)));
    }

    #[test]
    fn a_known_field_of_another_type_is_refused() {
        // Field 2 (uncompressed_page_size) declared as binary: the crate would read an i32
        // where the walker would skip bytes, so the two must not part ways.
        let e = page_header(&mut walk(&[0x15, 0x04, 0x18, 0x01, 0x00, 0x00])).unwrap_err();
        assert!(e.contains("field 2 of a PageHeader declares type 8"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut bytes = vec![0x9c]; // an unknown field 9: a struct
        bytes.extend([0x1c; 99]); // holding field 1: a struct, 99 times
        bytes.extend([0u8; 101]);
        let e = page_header(&mut walk(&bytes)).unwrap_err();
        assert!(e.contains("deeper than 32"), "{e}");
        // A schema of 100 groups each holding the next.
        let mut footer = vec![0x29]; // field 2: list
        footer.extend([0xfc, 100]); // 100 structs
        for _ in 0..100 {
            footer.extend([0x55, 0x02, 0x00]); // field 5 i32: 1 child
        }
        footer.push(0x00);
        let e = footer_check(&footer).unwrap_err();
        assert!(e.contains("deeper than 64"), "{e}");
    }

    fn footer_check(bytes: &[u8]) -> Result<(), String> {
        footer(&mut walk(bytes))
    }

    #[test]
    fn a_flat_schema_passes_and_odd_footers_do_not() {
        let mut footer = vec![0x15, 0x02, 0x19]; // field 1 i32 version 1; field 2: list
        footer.push(0x3c); // 3 structs
        footer.extend([0x55, 0x04, 0x00]); // root: 2 children
        footer.extend([0x48, 0x01, b'a', 0x00]); // field 4 binary "a"
        footer.extend([0x48, 0x01, b'b', 0x00]);
        footer.push(0x00);
        assert_eq!(footer_check(&footer), Ok(()));
        // Row groups (field 4) before the schema.
        assert!(footer_check(&[0x49, 0x00]).unwrap_err().contains("field 4"));
        // A schema of more elements than the bytes hold.
        assert!(footer_check(&[0x29, 0xfc, 0x80, 0x01]).is_err());
        // A schema element whose child count is negative.
        assert!(
            footer_check(&[0x29, 0x1c, 0x55, 0x01, 0x00])
                .unwrap_err()
                .contains("-1 children")
        );
        // A root claiming 2^31 - 1 children (the crate would reserve them): 2 elements follow.
        let mut huge = vec![0x29, 0x3c, 0x55];
        huge.extend(varint(u64::from(u32::MAX) - 1));
        huge.extend([0x00, 0x00, 0x00, 0x00]);
        let e = footer_check(&huge).unwrap_err();
        assert!(
            e.contains("schema element 0 claims 2147483647 children in a schema of 3 elements"),
            "{e}"
        );
        // What follows the schema is walked too: row groups (field 4) claiming 2^20 structs.
        let mut rest = footer.clone();
        rest.pop();
        rest.extend([0x29, 0xfc, 0x80, 0x80, 0x40, 0x00]);
        let e = footer_check(&rest).unwrap_err();
        assert!(e.contains("claims 1048576 elements"), "{e}");
    }
}
