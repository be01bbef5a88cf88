//! Hostile input to every reader of outside bytes in the crate: what a file announces (rows,
//! page and dictionary sizes, lengths, counts, series ids) is checked before it is allocated,
//! and refused with a typed error naming the place and the limit; arbitrary bytes never panic.

use std::fs;
use std::path::{Path, PathBuf};

use kelvin_model::{EntityId, SensorKind, Timestamp};
use kelvin_store::{
    BlockStats, Grid, MAX_BLOCK_SAMPLES, MAX_CSV_ROWS, MAX_MATRIX_CELLS, ParquetLimits,
    ParquetOptions, ResampleOptions, SeriesData, SeriesKey, Store, StoreErrorKind, StoreOptions,
    asof_join_many, decode_block, encode_block, export_parquet, import_parquet,
    import_parquet_file, import_parquet_file_with, import_parquet_with, parse_csv_series,
    read_csv_series, resample_many,
};
use proptest::prelude::*;

const S: i64 = Timestamp::NANOS_PER_SEC;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kelvin-store-limits-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn key(host: &str, sensor: &str) -> SeriesKey {
    SeriesKey::new(EntityId::new(host).unwrap(), sensor, SensorKind::Power)
}

// ---------------------------------------------------------------------------------------------
// Parquet files written by hand: a Thrift compact encoder and the layout's footer.

/// A Thrift compact-protocol writer, enough for a Parquet footer and page headers.
#[derive(Default)]
struct Compact {
    out: Vec<u8>,
    last: Vec<i16>,
}

const I32: u8 = 5;
const I64: u8 = 6;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const STRUCT: u8 = 12;

impl Compact {
    fn new() -> Self {
        Compact {
            out: Vec::new(),
            last: vec![0],
        }
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn field(&mut self, id: i16, ty: u8) {
        let last = *self.last.last().unwrap();
        let delta = id - last;
        if (1..=15).contains(&delta) {
            self.out.push(((delta as u8) << 4) | ty);
        } else {
            self.out.push(ty);
            let z = ((id << 1) ^ (id >> 15)) as u16;
            self.varint(u64::from(z));
        }
        *self.last.last_mut().unwrap() = id;
    }

    fn int(&mut self, id: i16, ty: u8, v: i64) {
        self.field(id, ty);
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn i32(&mut self, id: i16, v: i32) {
        self.int(id, I32, i64::from(v));
    }

    fn i64(&mut self, id: i16, v: i64) {
        self.int(id, I64, v);
    }

    fn bin(&mut self, id: i16, b: &[u8]) {
        self.field(id, BINARY);
        self.varint(b.len() as u64);
        self.out.extend_from_slice(b);
    }

    /// A field holding a struct: call [`Compact::end`] after its fields.
    fn begin(&mut self, id: i16) {
        self.field(id, STRUCT);
        self.last.push(0);
    }

    /// A struct as a list element: call [`Compact::end`] after its fields.
    fn element(&mut self) {
        self.last.push(0);
    }

    fn end(&mut self) {
        self.out.push(0);
        self.last.pop();
    }

    fn list(&mut self, id: i16, elem: u8, n: usize) {
        self.field(id, LIST);
        if n < 15 {
            self.out.push(((n as u8) << 4) | elem);
        } else {
            self.out.push(0xf0 | elem);
            self.varint(n as u64);
        }
    }
}

/// The layout's columns: name, physical type (parquet.thrift `Type`).
const LAYOUT: [(&str, i32); 6] = [
    ("entity", 6),
    ("sensor", 6),
    ("kind", 6),
    ("labels", 6),
    ("ts", 2),
    ("value", 5),
];

/// A page header (uncompressed, so both sizes are `data.len()`) and its data.
fn page(kind: i32, sizes: (i32, i32), header: impl FnOnce(&mut Compact), data: &[u8]) -> Vec<u8> {
    let mut c = Compact::new();
    c.i32(1, kind);
    c.i32(2, sizes.0);
    c.i32(3, sizes.1);
    header(&mut c);
    c.end();
    let mut out = c.out;
    out.extend_from_slice(data);
    out
}

/// A file in the layout: one row group claiming `rows` rows whose column chunks are `chunks`
/// (the raw pages of each column, in layout order), or no row group at all.
fn parquet_file(rows: Option<i64>, chunks: [Vec<u8>; 6], schema_depth: usize) -> Vec<u8> {
    let mut file = b"PAR1".to_vec();
    let mut offsets = Vec::new();
    for chunk in &chunks {
        offsets.push((file.len() as i64, chunk.len() as i64));
        file.extend_from_slice(chunk);
    }
    let mut c = Compact::new();
    c.i32(1, 1);
    let wrappers = schema_depth;
    c.list(2, STRUCT, 1 + wrappers + LAYOUT.len());
    c.element();
    c.bin(4, b"kelvin_store_series");
    c.i32(5, if wrappers > 0 { 1 } else { 6 });
    c.end();
    for w in 0..wrappers {
        c.element();
        c.i32(3, 0);
        c.bin(4, format!("g{w}").as_bytes());
        c.i32(5, if w + 1 < wrappers { 1 } else { 6 });
        c.end();
    }
    for (name, ty) in LAYOUT {
        c.element();
        c.i32(1, ty);
        c.i32(3, 0); // REQUIRED
        c.bin(4, name.as_bytes());
        if name == "ts" {
            c.begin(10); // LogicalType
            c.begin(8); // Timestamp
            c.field(1, 1); // isAdjustedToUTC: true
            c.begin(2); // unit
            c.begin(3); // NANOS
            c.end();
            c.end();
            c.end();
            c.end();
        }
        c.end();
    }
    c.i64(3, rows.unwrap_or(0));
    c.list(4, STRUCT, usize::from(rows.is_some()));
    if let Some(rows) = rows {
        c.element();
        c.list(1, STRUCT, LAYOUT.len());
        for (i, (name, ty)) in LAYOUT.iter().enumerate() {
            let (at, len) = offsets[i];
            c.element();
            c.i64(2, at);
            c.begin(3);
            c.i32(1, *ty);
            c.list(2, I32, 1);
            c.varint(0); // PLAIN
            c.list(3, BINARY, 1);
            c.varint(name.len() as u64);
            c.out.extend_from_slice(name.as_bytes());
            c.i32(4, 0); // UNCOMPRESSED
            c.i64(5, rows);
            c.i64(6, len);
            c.i64(7, len);
            c.i64(9, at);
            c.end();
            c.end();
        }
        c.i64(2, offsets.iter().map(|o| o.1).sum());
        c.i64(3, rows);
        c.end();
    }
    c.end();
    let footer = c.out;
    file.extend_from_slice(&footer);
    file.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    file.extend_from_slice(b"PAR1");
    file
}

fn no_chunks() -> [Vec<u8>; 6] {
    Default::default()
}

#[test]
fn a_hand_written_file_without_rows_imports_empty() {
    // The encoder above writes what the `parquet` crate reads, so the refusals below are the
    // limits' doing, not a broken footer.
    let import = import_parquet(parquet_file(None, no_chunks(), 0), "empty.parquet").unwrap();
    assert_eq!((import.rows, import.series.len()), (0, 0));
}

#[test]
fn a_file_claiming_2_pow_40_rows_is_refused_before_decoding() {
    let file = parquet_file(Some(1 << 40), no_chunks(), 0);
    let e = import_parquet(file, "huge.parquet").unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput, "{e}");
    assert_eq!(
        e.reason(),
        "huge.parquet: 1099511627776 rows, over the limit of 4194304 (ParquetLimits::max_rows)"
    );
}

/// A file of one row whose `entity` chunk is `entity` and whose other chunks are empty (the
/// pages of the first column are checked first).
fn with_entity_chunk(entity: Vec<u8>) -> Vec<u8> {
    let mut chunks = no_chunks();
    chunks[0] = entity;
    parquet_file(Some(1), chunks, 0)
}

#[test]
fn page_and_dictionary_claims_are_checked_before_the_crate_allocates() {
    // A dictionary page announcing 2^30 values (the crate would make a vector of that many
    // byte arrays, 32 GiB, before reading one).
    let dict = |n: i32, data: &[u8]| {
        let len = data.len() as i32;
        page(
            2,
            (len, len),
            |c| {
                c.begin(7);
                c.i32(1, n);
                c.i32(2, 0);
                c.end();
            },
            data,
        )
    };
    let e = import_parquet(with_entity_chunk(dict(1 << 30, &[0; 8])), "d.parquet").unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput, "{e}");
    assert!(
        e.reason().starts_with("d.parquet: row group 0, column \"entity\", page at byte 4: a dictionary of 1073741824 values, over the limit of 262144 (ParquetLimits::max_dictionary_values)"),
        "{e}"
    );
    // Within the limit but more values than its bytes can hold (4 bytes a string at least).
    let e = import_parquet(with_entity_chunk(dict(1000, &[0; 8])), "d.parquet").unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
    assert!(
        e.reason()
            .contains("a dictionary of 1000 values in 8 bytes"),
        "{e}"
    );

    // A page announcing 2 GiB uncompressed (the crate reserves it before decompressing).
    let big = page(0, (i32::MAX, 4), |_| {}, &[0; 4]);
    let e = import_parquet(with_entity_chunk(big), "p.parquet").unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput, "{e}");
    assert!(
        e.reason().contains(
            "a page of 2147483647 bytes, over the limit of 4194304 (ParquetLimits::max_page_bytes)"
        ),
        "{e}"
    );
    // Page data running past its column chunk.
    let past = page(0, (100, 100), |_| {}, &[0; 4]);
    let e = import_parquet(with_entity_chunk(past), "p.parquet").unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
    assert!(
        e.reason()
            .contains("100 bytes of page data, 4 bytes left in the chunk"),
        "{e}"
    );
    // A negative size.
    let neg = page(0, (-1, 4), |_| {}, &[0; 4]);
    let e = import_parquet(with_entity_chunk(neg), "p.parquet").unwrap_err();
    assert!(e.reason().contains("page sizes out of range"), "{e}");
    // A binary field in the header (statistics) announcing 2^40 bytes.
    let mut stats = Compact::new();
    stats.i32(1, 0);
    stats.i32(2, 4);
    stats.i32(3, 4);
    stats.field(9, BINARY);
    stats.varint(1 << 40);
    let e = import_parquet(with_entity_chunk(stats.out), "p.parquet").unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
    assert!(e.reason().contains("runs past the end"), "{e}");
}

#[test]
fn footers_that_nest_deep_or_are_large_are_refused() {
    // A schema 1,000 groups deep: the crate builds it recursively, one stack frame a level.
    let e = import_parquet(parquet_file(None, no_chunks(), 1000), "deep.parquet").unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
    assert!(
        e.reason()
            .contains("the schema nests deeper than 64 levels"),
        "{e}"
    );
    // Within the depth limit it is read (and is not the layout: nested columns).
    let e = import_parquet(parquet_file(None, no_chunks(), 3), "nested.parquet").unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput, "{e}");

    // A root claiming 2^31 - 1 children (the crate reserves them before reading one).
    let file = parquet_file(None, no_chunks(), 0);
    let name = b"kelvin_store_series";
    let at = file.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    assert_eq!(file[at..at + 2], [0x15, 0x0c], "field 5: 6 children");
    let n = file.len();
    let footer_len = u32::from_le_bytes(file[n - 8..n - 4].try_into().unwrap()) + 4;
    let mut huge = [
        &file[..at + 1],
        &[0xfe, 0xff, 0xff, 0xff, 0x0f],
        &file[at + 2..n - 8],
    ]
    .concat();
    huge.extend(footer_len.to_le_bytes());
    huge.extend(b"PAR1");
    let e = import_parquet(huge, "children.parquet").unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
    assert!(
        e.reason()
            .contains("schema element 0 claims 2147483647 children in a schema of 7 elements"),
        "{e}"
    );

    let limits = ParquetLimits::default().with_max_footer_bytes(100);
    let e = import_parquet_with(file, "f.parquet", &limits).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput, "{e}");
    assert!(
        e.reason()
            .contains("over the limit of 100 (ParquetLimits::max_footer_bytes)"),
        "{e}"
    );
}

fn exported(series: usize, rows: usize) -> Vec<u8> {
    let all: Vec<SeriesData> = (0..series)
        .map(|i| SeriesData {
            key: key(&format!("host-{i:03}"), "psu1"),
            ts: (0..rows as i64).map(|t| t * 15 * S).collect(),
            values: (0..rows).map(|v| v as f64).collect(),
        })
        .collect();
    let mut file = Vec::new();
    export_parquet(&mut file, &all, &ParquetOptions::default()).unwrap();
    file
}

#[test]
fn series_key_text_and_size_limits_name_their_setting() {
    let file = exported(10, 20);
    let ok = import_parquet(file.clone(), "ok.parquet").unwrap();
    assert_eq!((ok.series.len(), ok.rows), (10, 200));

    let limits = ParquetLimits::default().with_max_series(9);
    let e = import_parquet_with(file.clone(), "s.parquet", &limits).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    assert!(e.reason().contains("row 180 (row group 0)"), "{e}");
    assert!(
        e.reason()
            .contains("limit of 9 series (ParquetLimits::max_series)"),
        "{e}"
    );

    let limits = ParquetLimits::default().with_max_key_bytes(40);
    let e = import_parquet_with(file.clone(), "k.parquet", &limits).unwrap_err();
    assert!(e.reason().contains("(ParquetLimits::max_key_bytes)"), "{e}");

    let limits = ParquetLimits::default().with_max_file_bytes(100);
    let e = import_parquet_with(file.clone(), "b.parquet", &limits).unwrap_err();
    assert!(
        e.reason()
            .contains("over the 100-byte limit of a Parquet import"),
        "{e}"
    );

    let dir = tmpdir("parquet-size");
    let path = dir.join("day.parquet");
    fs::write(&path, &file).unwrap();
    let e = import_parquet_file_with(&path, &limits).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    assert!(e.reason().contains("day.parquet"), "{e}");
    assert!(e.reason().contains("over the 100-byte limit"), "{e}");
    assert_eq!(import_parquet_file(&path).unwrap().rows, 200);
    let _ = fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn special_files_are_refused_by_the_file_readers() {
    let dir = tmpdir("special");
    let link = dir.join("zero.parquet");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let e = import_parquet_file(&link).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    assert!(
        e.reason().contains("zero.parquet: a character device"),
        "{e}"
    );
    assert!(e.reason().contains("1073741824-byte limit"), "{e}");
    let csv = dir.join("zero.csv");
    std::os::unix::fs::symlink("/dev/zero", &csv).unwrap();
    let e = read_csv_series(&csv, Some(0), 1).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    assert!(e.reason().contains("zero.csv: a character device"), "{e}");
    assert!(e.reason().contains("67108864-byte limit"), "{e}");
    // A FIFO would block an `open` for reading until a writer came.
    let fifo = dir.join("pipe.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let e = read_csv_series(&fifo, Some(0), 1).unwrap_err();
        assert!(e.reason().contains("pipe.csv: a FIFO"), "{e}");
        let e = import_parquet_file(&fifo).unwrap_err();
        assert!(e.reason().contains("a FIFO"), "{e}");
    } else {
        println!("SKIP: no mkfifo here, the FIFO case is not checked");
    }
    let e = read_csv_series(&dir, Some(0), 1).unwrap_err();
    assert!(e.reason().contains("a directory"), "{e}");
    let _ = fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// CSV

#[test]
fn csv_timestamps_that_overflow_once_scaled_are_errors_with_their_line() {
    // Magnitude below 10^11: seconds, and 9,999,999,999 s is past i64 nanoseconds.
    let e = parse_csv_series("t,v\n1,2\n9999999999,3\n", Some(0), 1, "big.csv").unwrap_err();
    assert_eq!(
        e.reason(),
        "big.csv:3: column 0: \"9999999999\": out of the representable range"
    );
    // Below 10^14: milliseconds, times 10^6.
    let e = parse_csv_series("99999999999999,1\n", Some(0), 1, "ms.csv").unwrap_err();
    assert!(e.reason().starts_with("ms.csv:1: column 0"), "{e}");
    let e = parse_csv_series("-9999999999.5,1\n", Some(0), 1, "neg.csv").unwrap_err();
    assert!(e.reason().contains("out of the representable range"), "{e}");
    // The largest that fits, in each unit.
    let (ts, _) = parse_csv_series("9223372036,1\n", Some(0), 1, "s.csv").unwrap();
    assert_eq!(ts, [9_223_372_036 * S]);
    let (ts, _) = parse_csv_series("9223372036854775807,1\n", Some(0), 1, "ns.csv").unwrap();
    assert_eq!(ts, [i64::MAX]);
}

#[test]
fn csv_columns_and_rows_are_bounded() {
    let e = parse_csv_series("1,2\n", Some(usize::MAX), 1, "c.csv").unwrap_err();
    assert_eq!(
        e.reason(),
        format!(
            "c.csv: column numbers too large (timestamps: {}, values: 1)",
            usize::MAX
        )
    );
    let e = parse_csv_series("1,2\n", Some(0), usize::MAX, "c.csv").unwrap_err();
    assert!(e.reason().contains("too large"), "{e}");
    // A column far beyond the line: a missing column, not a reservation for it.
    let e = parse_csv_series("1,2\n", Some(0), 1 << 40, "c.csv").unwrap_err();
    assert!(
        e.reason().starts_with("c.csv:1: column 2: missing column"),
        "{e}"
    );
    // A first line of a million commas (the preamble check counts its fields, the row keeps
    // two): a header of empty names.
    let mut text = ",".repeat(1_000_000);
    text.push_str("\n5,2\n");
    let (ts, values) = parse_csv_series(&text, Some(0), 1, "wide.csv").unwrap();
    assert_eq!((ts, values), (vec![5 * S], vec![2.0]));

    let mut many = String::with_capacity((MAX_CSV_ROWS + 2) * 4);
    for _ in 0..=MAX_CSV_ROWS {
        many.push_str("1,2\n");
    }
    let e = parse_csv_series(&many, None, 1, "many.csv").unwrap_err();
    assert_eq!(
        e.reason(),
        format!(
            "many.csv:{}: more than {MAX_CSV_ROWS} rows, the most one series loads \
             (kelvin_store::MAX_CSV_ROWS); split the file",
            MAX_CSV_ROWS + 1
        )
    );
}

#[test]
fn csv_files_that_are_not_utf8_name_the_line() {
    let dir = tmpdir("utf8");
    let path = dir.join("latin1.csv");
    fs::write(&path, b"t,v\n1,2\n2,\xe9\n").unwrap();
    let e = read_csv_series(&path, Some(0), 1).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    assert!(
        e.reason()
            .ends_with("latin1.csv:3: not UTF-8 text (byte 10 of the file)"),
        "{e}"
    );
    let _ = fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Queries sized by their arguments

#[test]
fn matrices_over_the_cell_limit_are_refused_before_allocating() {
    let grid = Grid::try_new(Timestamp::from_secs(0), S, 1 << 20).unwrap();
    let ts = [0i64];
    let v = [1.0];
    let many: Vec<(&[i64], &[f64])> = (0..17).map(|_| (&ts[..], &v[..])).collect();
    let e = resample_many(&many, &grid, &ResampleOptions::default()).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    assert!(
        e.reason()
            .contains(&format!("over the {MAX_MATRIX_CELLS} values")),
        "{e}"
    );
    let small = Grid::try_new(Timestamp::from_secs(0), S, 3).unwrap();
    assert_eq!(
        resample_many(&many, &small, &ResampleOptions::default())
            .unwrap()
            .shape(),
        [3, 17]
    );

    let left: Vec<i64> = (0..1 << 20).collect();
    let e = asof_join_many(&left, &many, None).unwrap_err();
    assert!(
        e.reason()
            .starts_with("asof_join_many: 1048576 points × 17 series"),
        "{e}"
    );

    let mut store = Store::in_memory(StoreOptions::default());
    let ids: Vec<_> = (0..17)
        .map(|i| store.series_id(&key("h", &format!("s{i}"))).unwrap())
        .collect();
    let e = store
        .resample_many(&ids, &grid, &ResampleOptions::default())
        .unwrap_err();
    assert!(e.reason().starts_with("Store::resample_many"), "{e}");
}

#[test]
fn keys_the_store_files_cannot_hold_are_refused() {
    let mut store = Store::in_memory(StoreOptions::default());
    let long = "s".repeat(70_000);
    let e = store.series_id(&key("h", &long)).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    assert!(
        e.reason()
            .contains("its sensor is 70000 bytes long, over 65535"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// The durable store's files

fn wal_segment(dir: &Path) -> PathBuf {
    fs::read_dir(dir.join("wal"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .max()
        .unwrap()
}

/// A record: `len | crc | type | payload`, with a valid checksum.
fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend_from_slice(payload);
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A store with 50 committed samples of one series in its log; returns the segment.
fn store_with_log(dir: &Path) -> PathBuf {
    let (mut store, _) = Store::open(dir, StoreOptions::default().with_sync(false)).unwrap();
    let id = store.series_id(&key("h1", "psu1")).unwrap();
    for i in 0..50 {
        store.append(id, i * S, i as f64).unwrap();
    }
    store.commit().unwrap();
    drop(store);
    wal_segment(dir)
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn a_wal_length_field_over_the_maximum_is_a_reported_torn_tail() {
    let dir = tmpdir("wal-len");
    let seg = store_with_log(&dir);
    let good = fs::metadata(&seg).unwrap().len();
    let mut bad = 0xFFFF_FFFFu32.to_le_bytes().to_vec();
    bad.extend_from_slice(&[0xAB; 8]);
    append(&seg, &bad);
    let (store, report) = Store::open(&dir, StoreOptions::default()).unwrap();
    assert_eq!(report.torn.len(), 1, "{report:?}");
    let t = &report.torn[0];
    assert_eq!((t.offset, t.bytes), (good, 12));
    assert_eq!(
        t.reason,
        "record length 4294967295 over the maximum of 2097152 bytes"
    );
    assert_eq!(store.sample_count(), 50);
    assert_eq!(
        fs::metadata(&seg).unwrap().len(),
        good,
        "the tail is cut off"
    );
    drop(store);
    // Within the maximum but longer than the file: cut short.
    append(&wal_segment(&dir), &[0, 0, 1, 0, 1, 2, 3, 4, 2]);
    let (_, report) = Store::open(&dir, StoreOptions::default()).unwrap();
    assert!(
        report
            .torn
            .iter()
            .any(|t| t.reason == "record of 65536 bytes cut short (1 bytes left)"),
        "{report:?}"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn wal_records_with_impossible_series_ids_are_corrupt_errors() {
    // A series definition with a valid checksum whose id jumps to 2^32 - 16: the store would
    // have made four billion placeholder series.
    let dir = tmpdir("wal-id");
    let seg = store_with_log(&dir);
    let good = fs::metadata(&seg).unwrap().len();
    let mut p = (u32::MAX - 15).to_le_bytes().to_vec();
    for s in ["h2", "psu1", "power"] {
        p.extend_from_slice(&(s.len() as u16).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    }
    p.extend_from_slice(&0u16.to_le_bytes());
    append(&seg, &record(1, &p));
    let e = Store::open(&dir, StoreOptions::default()).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt);
    assert!(
        e.reason()
            .contains(&format!("{} at byte {good}", seg.display())),
        "{e}"
    );
    assert!(e.reason().contains("series id 4294967280"), "{e}");
    assert!(
        e.reason()
            .contains("more than the set-aside block files could have held (0)"),
        "{e}"
    );

    // Samples of a series no file defines.
    let dir2 = tmpdir("wal-orphan");
    let seg = store_with_log(&dir2);
    let mut p = 1u32.to_le_bytes().to_vec();
    p.extend_from_slice(&7u32.to_le_bytes());
    p.extend_from_slice(&0i64.to_le_bytes());
    p.extend_from_slice(&1f64.to_bits().to_le_bytes());
    append(&seg, &record(2, &p));
    let e = Store::open(&dir2, StoreOptions::default()).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt);
    assert!(e.reason().contains("samples of series id 7"), "{e}");
    let _ = fs::remove_dir_all(&dir);
    let _ = fs::remove_dir_all(&dir2);
}

#[test]
fn definitions_lost_with_a_set_aside_block_file_still_get_placeholders() {
    let dir = tmpdir("lost");
    {
        let (mut store, _) = Store::open(&dir, StoreOptions::default().with_sync(false)).unwrap();
        for h in ["a", "b"] {
            let id = store.series_id(&key(h, "psu1")).unwrap();
            store.append(id, 0, 1.0).unwrap();
        }
        store.checkpoint().unwrap();
        // After the checkpoint: samples of series 1 (defined only in the block file).
        let id = store.find(&key("b", "psu1")).unwrap();
        store.append(id, S, 2.0).unwrap();
        store.commit().unwrap();
    }
    let file = fs::read_dir(dir.join("blocks"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut bytes = fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&file, &bytes).unwrap();
    let (store, report) = Store::open(&dir, StoreOptions::default()).unwrap();
    assert_eq!(report.set_aside.len(), 1, "{report:?}");
    assert_eq!(report.lost_series, [0, 1], "{report:?}");
    assert_eq!(store.sample_count(), 1);
    let _ = fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn special_files_in_a_store_are_set_aside_or_refused() {
    let dir = tmpdir("store-special");
    drop(store_with_log(&dir));
    let blocks = dir.join("blocks").join("0000000000000009.kblk");
    std::os::unix::fs::symlink("/dev/zero", &blocks).unwrap();
    let (store, report) = Store::open(&dir, StoreOptions::default()).unwrap();
    assert_eq!(report.set_aside.len(), 1, "{report:?}");
    assert!(
        report.set_aside[0].reason.contains("a character device"),
        "{report:?}"
    );
    assert_eq!(store.sample_count(), 50);
    drop(store);
    let seg = dir.join("wal").join("0000000000000099.wal");
    std::os::unix::fs::symlink("/dev/zero", &seg).unwrap();
    let e = Store::open(&dir, StoreOptions::default()).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt);
    assert!(
        e.reason()
            .contains("0000000000000099.wal: a character device"),
        "{e}"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// A block file entry: its tag and payload.
type Entry = (u8, Vec<u8>);

/// A block file: header, the entries with their checksums, footer.
fn block_file(entries: &[Entry]) -> Vec<u8> {
    block_file_covering(entries, 0)
}

/// [`block_file`] saying it covers the log up to segment `covered`.
fn block_file_covering(entries: &[Entry], covered: u64) -> Vec<u8> {
    let mut b = b"KLVBLK01".to_vec();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes());
    b.extend_from_slice(&covered.to_le_bytes());
    for (tag, p) in entries {
        b.push(*tag);
        b.extend_from_slice(&(p.len() as u32).to_le_bytes());
        b.extend_from_slice(&crc32fast::hash(p).to_le_bytes());
        b.extend_from_slice(p);
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(b"KLVEND01");
    b.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn series_entry(id: u32, host: &str) -> Entry {
    let mut p = id.to_le_bytes().to_vec();
    for s in [host, "psu1", "power"] {
        p.extend_from_slice(&(s.len() as u16).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    }
    p.extend_from_slice(&0u16.to_le_bytes());
    (1, p)
}

fn block_entry(id: u64, stats: &BlockStats, data: &[u8]) -> Entry {
    let mut p = id.to_le_bytes().to_vec();
    p.extend_from_slice(&0u32.to_le_bytes());
    p.extend_from_slice(&stats.encode());
    p.extend_from_slice(data);
    (2, p)
}

#[test]
fn forged_block_files_are_set_aside_with_the_reason() {
    let data = encode_block(&[0, S], &[1.0, 2.0]).unwrap();
    let stats = BlockStats::of(&[0, S], &[1.0, 2.0]).unwrap();
    let mut huge = stats;
    huge.count = MAX_BLOCK_SAMPLES as u64 + 1;
    let cases: Vec<(Vec<Entry>, &str)> = vec![
        (
            vec![series_entry(1 << 24, "h")],
            "series id 16777216 where id 0 comes next",
        ),
        (
            vec![series_entry(0, "h"), series_entry(1, "h")],
            "series id 1 repeats the key h/psu1 (power) of an earlier id",
        ),
        (
            vec![series_entry(0, "h"), block_entry(u64::MAX, &stats, &data)],
            "block id 2^64 - 1 is reserved",
        ),
        (
            vec![series_entry(0, "h"), block_entry(3, &huge, &data)],
            "block 3 claims 4194305 samples",
        ),
    ];
    for (entries, why) in cases {
        let dir = tmpdir("forged-blocks");
        fs::create_dir_all(dir.join("blocks")).unwrap();
        fs::write(
            dir.join("blocks/0000000000000001.kblk"),
            block_file(&entries),
        )
        .unwrap();
        let (_, report) = Store::open(&dir, StoreOptions::default()).unwrap();
        assert_eq!(report.set_aside.len(), 1, "{why}: {report:?}");
        assert!(
            report.set_aside[0].reason.contains(why),
            "{why}: {report:?}"
        );
        let _ = fs::remove_dir_all(&dir);
    }
    // Statistics that disagree with their block's samples are caught when it is decoded.
    let dir = tmpdir("forged-stats");
    fs::create_dir_all(dir.join("blocks")).unwrap();
    let mut wrong = stats;
    wrong.count = 5;
    let mut manifest = 1u32.to_le_bytes().to_vec();
    manifest.extend_from_slice(&3u64.to_le_bytes());
    let entries = vec![
        series_entry(0, "h"),
        block_entry(3, &wrong, &data),
        (3, manifest),
    ];
    fs::write(
        dir.join("blocks/0000000000000001.kblk"),
        block_file(&entries),
    )
    .unwrap();
    let (store, report) = Store::open(&dir, StoreOptions::default()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    let id = store.find(&key("h", "psu1")).unwrap();
    let e = store.scan(id, i64::MIN, i64::MAX).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt);
    assert!(
        e.reason()
            .contains("its statistics count 5 samples, it holds 2"),
        "{e}"
    );
    let _ = fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Arbitrary bytes

/// Recomputes a block's trailing CRC, so that damage reaches the decoders behind it.
fn reseal(mut b: Vec<u8>) -> Vec<u8> {
    if b.len() >= 4 {
        b.truncate(b.len() - 4);
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn sample_block() -> Vec<u8> {
    let ts: Vec<i64> = (0..300).map(|i| i * 15 * S + (i % 7) * 1_000).collect();
    let values: Vec<f64> = (0..300).map(|i| 200.0 + (i % 13) as f64 * 0.25).collect();
    encode_block(&ts, &values).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_sealed_bytes_decode_to_an_error_or_to_samples(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        match decode_block(&reseal(bytes)) {
            Ok((ts, values)) => {
                prop_assert_eq!(ts.len(), values.len());
                prop_assert!(ts.len() <= MAX_BLOCK_SAMPLES);
            }
            Err(e) => prop_assert!(
                matches!(e.kind(), StoreErrorKind::Corrupt | StoreErrorKind::Unsupported),
                "{}", e
            ),
        }
    }

    #[test]
    fn damaged_blocks_resealed_decode_to_an_error_or_to_samples(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut b = sample_block();
        b.truncate(b.len() - 4);
        for (i, x) in flips {
            let i = i.index(b.len());
            b[i] ^= x;
        }
        if truncate {
            b.truncate(cut.index(b.len() + 1));
        }
        b.extend_from_slice(&[0; 4]);
        match decode_block(&reseal(b)) {
            Ok((ts, values)) => prop_assert_eq!(ts.len(), values.len()),
            Err(e) => prop_assert!(
                matches!(e.kind(), StoreErrorKind::Corrupt | StoreErrorKind::Unsupported),
                "{}", e
            ),
        }
    }

    #[test]
    fn arbitrary_stats_bytes_decode_to_an_error_or_consistent_stats(
        bytes in proptest::collection::vec(any::<u8>(), 73),
        version_one in any::<bool>(),
    ) {
        let mut bytes = bytes;
        if version_one {
            bytes[0] = 1;
        }
        if let Ok(s) = BlockStats::decode(&bytes) {
            prop_assert!(s.nan_count <= s.count);
            // Merging decoded statistics never overflows.
            let m = s.merge(&s);
            prop_assert!(m.count >= s.count);
        }
    }

    #[test]
    fn arbitrary_parquet_tails_are_refused_without_panic(
        footer in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        // Random bytes where the footer is, behind a valid magic and length.
        let mut file = b"PAR1".to_vec();
        file.extend_from_slice(&footer);
        file.extend_from_slice(&(footer.len() as u32).to_le_bytes());
        file.extend_from_slice(b"PAR1");
        prop_assert!(import_parquet(file, "noise.parquet").is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_wal_tails_open_or_fail_with_a_typed_error(
        tail in proptest::collection::vec(any::<u8>(), 0..120),
        sealed in any::<bool>(),
        kind in 0u8..4,
    ) {
        let dir = tmpdir("wal-prop");
        let seg = store_with_log(&dir);
        let bytes = if sealed { record(kind, &tail) } else { tail };
        append(&seg, &bytes);
        match Store::open(&dir, StoreOptions::default().with_sync(false)) {
            Ok((store, _)) => prop_assert!(store.sample_count() >= 50),
            Err(e) => prop_assert!(e.kind() == StoreErrorKind::Corrupt, "{}", e),
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_block_file_covering_every_log_segment_does_not_delete_the_log() {
    // A checkpoint starts a newer segment before it writes its file; a file claiming to cover
    // segment 2^64 - 1 would have had open delete every segment (and then overflow the next
    // segment's number).
    let dir = tmpdir("covering");
    let seg = store_with_log(&dir);
    let forged = block_file_covering(&[series_entry(0, "h1")], u64::MAX);
    fs::write(dir.join("blocks/0000000000000001.kblk"), forged).unwrap();
    let e = Store::open(&dir, StoreOptions::default()).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt);
    assert!(
        e.reason()
            .contains("covers the log up to segment 18446744073709551615"),
        "{e}"
    );
    assert!(seg.exists(), "the log is still there");
    let _ = fs::remove_dir_all(&dir);
}
