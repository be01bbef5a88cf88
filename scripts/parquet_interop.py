"""Kelvin's Parquet layout (docs/format.md) against pyarrow and Polars, both directions.

Usage: python3 scripts/parquet_interop.py KELVIN_WRITTEN.parquet INGEST_JSONL OUT_DIR

1. The file Kelvin wrote (`kelvin_ingest::parquet::write_parquet`, through the `ingest`
   example) must read in pyarrow and Polars with the layout's columns, types and metadata and
   the same values the `ingest` example printed as JSON lines.
2. pyarrow (snappy, ns timestamps in UTC) and Polars (zstd, ms timestamps without a time
   zone, labels) then write files in the layout, with a non-canonical unit, for the caller to
   read back with Kelvin.
"""
import json
import math
import sys

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

kelvin_file, jsonl, out_dir = sys.argv[1:4]
expected = [json.loads(line) for line in open(jsonl) if line.strip()]

COLUMNS = ["ts", "entity", "sensor", "kind", "labels", "unit", "value", "quality", "status"]

meta = pq.ParquetFile(kelvin_file).metadata
kv = meta.metadata or {}
assert kv.get(b"kelvin.format") == b"kelvin-readings", kv
assert kv.get(b"kelvin.version") == b"2", kv
table = pq.read_table(kelvin_file)
assert table.column_names == COLUMNS, table.column_names
assert table.schema.field("ts").type == pa.timestamp("ns", tz="UTC"), table.schema
assert table.schema.field("value").type == pa.float64(), table.schema
for name in ("entity", "sensor", "kind", "labels", "unit", "quality", "status"):
    assert table.schema.field(name).type == pa.string(), table.schema
rows = table.to_pylist()
ts = table.column("ts").cast(pa.int64()).to_pylist()
assert len(rows) == len(expected) > 0, (len(rows), len(expected))
for got, t, want in zip(rows, ts, expected):
    for k in ("entity", "sensor", "kind", "unit"):
        assert got[k] == want[k], (k, got, want)
    # Readings have no labels.
    assert got["labels"] is None, got
    # The JSON lines omit `value` for an absent reading and `quality` when it is good.
    assert got["quality"] == want.get("quality", "good"), (got, want)
    if want.get("value") is None:
        assert want.get("quality") == "absent" and got["value"] is None, (got, want)
    else:
        assert got["value"] == want["value"], (got, want)
    assert t == want.get("ts_ns"), (t, got, want)
df = pl.read_parquet(kelvin_file)
assert df.height == len(expected) and df.columns == COLUMNS
assert df.schema["ts"] == pl.Datetime("ns", "UTC"), df.schema
assert df["ts"].dt.epoch("ns").to_list() == ts
print(f"pyarrow {pa.__version__} and polars {pl.__version__} read {len(rows)} Kelvin rows")

T0_NS = 1_793_606_400_000_000_000
pa_table = pa.table(
    {
        "ts": pa.array([T0_NS, None], pa.timestamp("ns", tz="UTC")),
        "entity": ["h1", "h2"],
        "sensor": ["psu", "fan"],
        "kind": ["power", "fan_speed"],
        "labels": pa.array([None, None], pa.string()),
        "unit": ["kW", "rpm"],
        "value": [0.35, None],
        "quality": ["good", "absent"],
        "status": [None, "na"],
    }
)
pq.write_table(pa_table, f"{out_dir}/pyarrow.parquet", compression="snappy")
pl.DataFrame(
    {
        "ts": pl.Series([T0_NS // 1_000_000, None], dtype=pl.Int64).cast(pl.Datetime("ms")),
        "entity": ["h1", "h2"],
        "sensor": ["psu", "fan"],
        "kind": ["power", "fan_speed"],
        "labels": ['{"phase": "L1"}', None],
        "unit": ["kW", "rpm"],
        "value": [0.35, None],
        "quality": ["good", "absent"],
        "status": [None, "na"],
    }
).write_parquet(f"{out_dir}/polars.parquet", compression="zstd")
print("wrote pyarrow.parquet (snappy, ns UTC) and polars.parquet (zstd, ms naive, labels)")
