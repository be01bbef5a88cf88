"""kelvin-store's series in Kelvin's Parquet layout (docs/format.md) against pyarrow and
Polars, both directions.

Usage: python3 scripts/store_parquet_interop.py KELVIN_FILE OUT_DIR

1. KELVIN_FILE, written by `kelvin_store::export_parquet` (the `interop_write_kelvin_file` test
   writes one), must read in pyarrow and Polars with the layout's columns, types, metadata and
   physical encodings, and be sorted by series then time. When the expected-values file the test writes
   beside it exists (KELVIN_FILE with `.parquet` replaced by `.expected.tsv`), every row must
   match it: strings exactly, labels as the canonical JSON, timestamps in ns, values bit for bit.
2. pyarrow (snappy, µs timestamps in UTC, dictionary-encoded strings, several row groups) and
   Polars (zstd, ms timestamps without a time zone, a categorical column, an extra column) then
   write OUT_DIR/pyarrow.parquet and OUT_DIR/polars.parquet in the layout, pyarrow also
   OUT_DIR/pyarrow_plain.parquet (uncompressed, no dictionaries, delta and byte-stream-split
   encodings, ns), each with rows of a series scattered and out of time order, labels written
   as Python writes JSON, and null values, plus OUT_DIR/NAME.expected.tsv for each saying what
   Kelvin must import from it (the `interop_read_python_files` test checks that). These have
   only the columns the store needs (no unit, quality or status), as a data frame of series
   would.

Expected-values files: one line per row, tab-separated:
    sample  entity  sensor  kind  labels  ts_ns  value_bits
labels being hex(name)=hex(value) pairs (UTF-8, lowercase hex) joined by ',', empty for none,
and value_bits 16 hex digits; or `null <TAB> row` for a row Kelvin must skip (null value or ts).
"""
import json
import os
import struct
import sys

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

# Kelvin's layout, as export_parquet writes it.
LAYOUT = ["ts", "entity", "sensor", "kind", "labels", "unit", "value", "quality", "status"]
# What the files written here for Kelvin hold: the columns the store needs, and labels.
COLUMNS = ["entity", "sensor", "kind", "labels", "ts", "value"]


def bits(v):
    """A double's bits as 16 hex digits (NaN payloads and -0.0 included)."""
    return struct.pack(">d", v).hex()


def value_bits(column):
    """The bits of a float64 Arrow array or chunked array, as integers (without numpy)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.view(pa.uint64()).to_pylist()


def labels_field(d):
    return ",".join(
        f"{k.encode().hex()}={v.encode().hex()}" for k, v in sorted(d.items())
    )


def parse_labels_field(s):
    if not s:
        return {}
    return {
        bytes.fromhex(k).decode(): bytes.fromhex(v).decode()
        for k, v in (p.split("=") for p in s.split(","))
    }


def canonical_json(d):
    """Kelvin's form of a label set: sorted names, no spaces, non-ASCII as is, null when empty."""
    if not d:
        return None
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# 1. Read Kelvin's file.


def check_kelvin_file(path):
    pf = pq.ParquetFile(path)
    meta = pf.metadata
    kv = meta.metadata or {}
    assert kv.get(b"kelvin.format") == b"kelvin-readings", kv
    assert kv.get(b"kelvin.version") == b"2", kv
    assert meta.num_rows > 0, "expected a file with rows"

    # Physical layout, per column chunk.
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    assert names == LAYOUT, names
    ts_type = json.loads(meta.schema.column(0).logical_type.to_json())
    assert ts_type["Type"] == "Timestamp", ts_type
    assert ts_type["isAdjustedToUTC"] is True and ts_type["timeUnit"] == "nanoseconds", ts_type
    assert meta.schema.column(0).physical_type == "INT64"
    assert meta.schema.column(6).physical_type == "DOUBLE"
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        for i, name in enumerate(LAYOUT):
            c = rg.column(i)
            assert c.compression == "ZSTD", (g, name, c.compression)
            assert c.is_stats_set, (g, name)
            # A series without labels has a null `labels`; `status` is always null.
            if name == "status":
                assert c.statistics.null_count == c.num_values, (g, name)
                continue
            if name != "labels":
                assert c.statistics.null_count == 0, (g, name)
            # parquet-rs 60 writes DOUBLE min/max under the IEEE 754 total column order, which
            # pyarrow 26 does not know yet and so (rightly) ignores: only `value` may lack them.
            assert c.statistics.has_min_max or name == "value", (g, name)
            enc = set(c.encodings)
            if name == "ts":
                assert "DELTA_BINARY_PACKED" in enc, (name, enc)
            elif name == "value":
                assert "BYTE_STREAM_SPLIT" in enc, (name, enc)
            else:
                assert enc & {"RLE_DICTIONARY", "PLAIN_DICTIONARY"}, (name, enc)

    # pyarrow: types and values.
    table = pq.read_table(path)
    schema = table.schema
    for name in ("entity", "sensor", "kind", "unit", "quality"):
        assert schema.field(name).type == pa.string(), schema
        assert not schema.field(name).nullable, schema
    for name in ("labels", "status"):
        assert schema.field(name).type == pa.string() and schema.field(name).nullable, schema
    assert schema.field("ts").type == pa.timestamp("ns", tz="UTC"), schema
    assert schema.field("value").type == pa.float64(), schema
    cols = {
        n: table.column(n).to_pylist()
        for n in ("entity", "sensor", "kind", "labels", "unit", "quality")
    }
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    vbits = value_bits(table.column("value"))
    labels = [json.loads(s) if s else {} for s in cols["labels"]]
    for s, d in zip(cols["labels"], labels):
        assert s == canonical_json(d), (s, canonical_json(d))
    # The unit is the kind's canonical one; a NaN value is an absent reading.
    units = {"power": "W", "temperature": "Cel", "current": "A", "fan_speed": "rpm"}
    for i in range(table.num_rows):
        assert cols["unit"][i] == units[cols["kind"][i]], (i, cols["unit"][i])
        nan = (vbits[i] >> 52) & 0x7FF == 0x7FF and vbits[i] & ((1 << 52) - 1) != 0
        assert cols["quality"][i] == ("absent" if nan else "good"), (i, cols["quality"][i])

    # Self-evident properties: each series' rows are contiguous and sorted by time.
    seen, prev = set(), None
    for i in range(table.num_rows):
        key = (cols["entity"][i], cols["sensor"][i], cols["kind"][i], cols["labels"][i])
        if key != prev:
            assert key not in seen, f"series {key} is not contiguous (row {i})"
            seen.add(key)
        elif ts[i] < ts[i - 1]:
            raise AssertionError(f"row {i}: time goes back within {key}")
        prev = key

    # Row for row, against what the Rust side wrote.
    expected = os.path.splitext(path)[0] + ".expected.tsv"
    checked = "layout and order only"
    if os.path.exists(expected):
        want = [line.rstrip("\n").split("\t") for line in open(expected, encoding="utf-8")]
        assert len(want) == table.num_rows, (len(want), table.num_rows)
        for i, w in enumerate(want):
            assert w[0] == "sample", w
            got = (cols["entity"][i], cols["sensor"][i], cols["kind"][i])
            assert got == tuple(w[1:4]), (i, got, w)
            assert labels[i] == parse_labels_field(w[4]), (i, labels[i], w[4])
            assert ts[i] == int(w[5]), (i, ts[i], w[5])
            assert f"{vbits[i]:016x}" == w[6], (i, f"{vbits[i]:016x}", w[6])
        checked = f"every row against {os.path.basename(expected)}"

    # Polars: types and the same columns.
    df = pl.read_parquet(path)
    assert df.columns == LAYOUT, df.columns
    assert df.schema["ts"] == pl.Datetime("ns", "UTC"), df.schema
    assert df.schema["value"] == pl.Float64, df.schema
    for name in ("entity", "sensor", "kind", "labels", "unit", "quality"):
        assert df.schema[name] == pl.String, df.schema
        assert df[name].to_list() == cols[name], name
    assert df["ts"].dt.epoch("ns").to_list() == ts
    assert value_bits(df["value"].to_arrow()) == vbits, "Polars value bits differ"
    lazy = pl.scan_parquet(path).group_by("entity").agg(pl.len()).collect()
    assert lazy["len"].sum() == table.num_rows

    print(
        f"pyarrow {pa.__version__} and Polars {pl.__version__} read {path}: "
        f"{table.num_rows} rows, {meta.num_row_groups} row groups, {len(seen)} series; "
        f"checked {checked}"
    )


# --------------------------------------------------------------------------------------------
# 2. Write files for Kelvin.

T0_MS = 1_700_000_000_000
NAN_PAYLOAD = struct.unpack(">d", bytes.fromhex("7ff80000deadbeef"))[0]


def rows_for_kelvin():
    """Rows in file order: (entity, sensor, kind, labels text or None, ts in ms, value or None).

    Series A's rows are scattered and out of time order, its labels written three ways; series
    B's labels are empty three ways ({}, "", null); two rows have no value.
    """
    a_labels = [
        json.dumps({"zone": "b", "phase": "L1"}),  # Python's default: spaces, unsorted
        json.dumps({"phase": "L1", "zone": "b"}, separators=(",", ":")),
        '{"zone":"b","phase":"L1"}',
    ]
    odd = {"note": "✓ \"q\" 🌡", "phase": "L2"}  # json.dumps escapes it as \u2713 and \ud83c\udf21
    return [
        ("h1", "psu1", "power", a_labels[0], T0_MS + 30_000, 3.0),
        ("h2", "inlet", "temperature", "{}", T0_MS + 5_000, 21.5),
        ("h1", "psu1", "power", a_labels[1], T0_MS + 10_000, 1.0),
        ("h1", "psu1", "power", a_labels[2], T0_MS + 20_000, None),
        ("pdu-7", "outlet \"A\"", "current", json.dumps(odd), T0_MS, float("inf")),
        ("h2", "inlet", "temperature", "", T0_MS + 20_000, float("nan")),
        ("h1", "psu1", "power", a_labels[0], T0_MS + 10_000, 2.0),  # same time as row 2
        ("h2", "inlet", "temperature", None, T0_MS + 15_000, -0.0),
        ("pdu-7", "outlet \"A\"", "current", json.dumps(odd), T0_MS + 1, None),
        ("h2", "fan1", "fan_speed", "", T0_MS - 86_400_000, 6120.5),
    ]


def expected_for_kelvin(rows, ns_per_unit):
    out = []
    for i, (e, s, k, lab, t, v) in enumerate(rows):
        if v is None:
            out.append(f"null\t{i}")
            continue
        d = json.loads(lab) if lab else {}
        out.append(f"sample\t{e}\t{s}\t{k}\t{labels_field(d)}\t{t * ns_per_unit}\t{bits(v)}")
    return "\n".join(out) + "\n"


def write_for_kelvin(out_dir):
    rows = rows_for_kelvin()
    entity, sensor, kind, labels, ts_ms, value = (list(c) for c in zip(*rows))
    # A NaN with a payload in pyarrow's file.
    value_pa = [NAN_PAYLOAD if (v is not None and v != v) else v for v in value]
    rows_pa = [r[:5] + (v,) for r, v in zip(rows, value_pa)]
    # From the bits, so that the payload survives: pa.array(floats) may not keep it.
    values = pa.array(
        [None if v is None else struct.unpack(">Q", struct.pack(">d", v))[0] for v in value_pa],
        pa.uint64(),
    ).view(pa.float64())

    # pyarrow: snappy, µs in UTC, dictionary-typed entity, 3 row groups, v2 data pages.
    table = pa.table(
        {
            "entity": pa.array(entity).dictionary_encode(),
            "sensor": pa.array(sensor, pa.string()),
            "kind": pa.array(kind, pa.string()),
            "labels": pa.array(labels, pa.string()),
            "ts": pa.array([t * 1000 for t in ts_ms], pa.timestamp("us", tz="UTC")),
            "value": values,
        }
    )
    pq.write_table(
        table,
        f"{out_dir}/pyarrow.parquet",
        compression="snappy",
        row_group_size=4,
        data_page_version="2.0",
    )
    with open(f"{out_dir}/pyarrow.expected.tsv", "w", encoding="utf-8") as f:
        f.write(expected_for_kelvin(rows_pa, 1_000_000))
    back = pq.read_table(f"{out_dir}/pyarrow.parquet")
    assert back.schema.field("ts").type == pa.timestamp("us", tz="UTC"), back.schema
    assert pq.ParquetFile(f"{out_dir}/pyarrow.parquet").metadata.num_row_groups == 3

    # pyarrow again: uncompressed, no dictionaries, the delta and byte-stream-split encodings,
    # ns timestamps, columns REQUIRED where they can be.
    plain = table.set_column(
        4, "ts", table.column("ts").cast(pa.timestamp("ns", tz="UTC"))
    ).cast(
        pa.schema(
            [
                pa.field("entity", pa.string(), nullable=False),
                pa.field("sensor", pa.string(), nullable=False),
                pa.field("kind", pa.string(), nullable=False),
                pa.field("labels", pa.string()),
                pa.field("ts", pa.timestamp("ns", tz="UTC"), nullable=False),
                pa.field("value", pa.float64()),
            ]
        )
    )
    pq.write_table(
        plain,
        f"{out_dir}/pyarrow_plain.parquet",
        compression="none",
        use_dictionary=False,
        column_encoding={
            "entity": "PLAIN",
            "sensor": "DELTA_BYTE_ARRAY",
            "kind": "DELTA_LENGTH_BYTE_ARRAY",
            "labels": "PLAIN",
            "ts": "DELTA_BINARY_PACKED",
            "value": "BYTE_STREAM_SPLIT",
        },
    )
    with open(f"{out_dir}/pyarrow_plain.expected.tsv", "w", encoding="utf-8") as f:
        f.write(expected_for_kelvin(rows_pa, 1_000_000))
    meta = pq.ParquetFile(f"{out_dir}/pyarrow_plain.parquet").metadata
    assert meta.row_group(0).column(5).compression == "UNCOMPRESSED"
    assert "BYTE_STREAM_SPLIT" in meta.row_group(0).column(5).encodings

    # Polars: zstd, ms without a time zone, kind categorical, an extra column, another order.
    df = pl.DataFrame(
        {
            "value": pl.Series(value, dtype=pl.Float64),
            "note": [f"row {i}" for i in range(len(rows))],
            "ts": pl.Series(ts_ms, dtype=pl.Int64).cast(pl.Datetime("ms")),
            "kind": pl.Series(kind, dtype=pl.Categorical),
            "labels": labels,
            "sensor": sensor,
            "entity": entity,
        }
    )
    df.write_parquet(f"{out_dir}/polars.parquet", compression="zstd")
    with open(f"{out_dir}/polars.expected.tsv", "w", encoding="utf-8") as f:
        f.write(expected_for_kelvin(rows, 1_000_000))
    back = pl.read_parquet(f"{out_dir}/polars.parquet")
    assert back.schema["ts"] == pl.Datetime("ms"), back.schema
    assert back["value"].null_count() == 2 and back["value"].is_nan().sum() == 1

    print(
        f"wrote {out_dir}/pyarrow.parquet (snappy, µs UTC, dictionaries, 3 row groups), "
        f"{out_dir}/pyarrow_plain.parquet (uncompressed, ns UTC, delta and byte-stream-split) "
        f"and {out_dir}/polars.parquet (zstd, ms naive, categorical kind, extra column), "
        f"{len(rows)} rows each, 2 null values each"
    )


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    kelvin_file, out_dir = sys.argv[1:3]
    check_kelvin_file(kelvin_file)
    os.makedirs(out_dir, exist_ok=True)
    write_for_kelvin(out_dir)


if __name__ == "__main__":
    main()
