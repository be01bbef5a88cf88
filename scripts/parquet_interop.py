"""Kelvin's Parquet layout against pyarrow and Polars, both directions.

Usage: python3 scripts/parquet_interop.py KELVIN_WRITTEN.parquet INGEST_JSONL OUT_DIR

1. The file Kelvin wrote must read in pyarrow and Polars with the layout's columns and the
   same values the `ingest` example printed as JSON lines.
2. pyarrow (snappy) and Polars (zstd) then write files in the layout, with a non-canonical
   unit, for the caller to read back with Kelvin.
"""
import json
import math
import sys

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

kelvin_file, jsonl, out_dir = sys.argv[1:4]
expected = [json.loads(line) for line in open(jsonl) if line.strip()]

table = pq.read_table(kelvin_file)
names = ["ts_ns", "entity", "sensor", "kind", "unit", "value", "quality", "status"]
assert table.column_names == names, table.column_names
rows = table.to_pylist()
assert len(rows) == len(expected) > 0, (len(rows), len(expected))
for got, want in zip(rows, expected):
    for k in ("entity", "sensor", "kind", "unit"):
        assert got[k] == want[k], (k, got, want)
    # The JSON lines omit `value` for an absent reading and `quality` when it is good.
    assert got["quality"] == want.get("quality", "good"), (got, want)
    if want.get("value") is None:
        assert want.get("quality") == "absent" and got["value"] is None, (got, want)
    else:
        assert got["value"] == want["value"], (got, want)
    assert got["ts_ns"] == want.get("ts_ns"), (got, want)
df = pl.read_parquet(kelvin_file)
assert df.height == len(expected) and df.columns == names
print(f"pyarrow {pa.__version__} and polars {pl.__version__} read {len(rows)} Kelvin rows")

data = {
    "ts_ns": [1_793_606_400_000_000_000, None],
    "entity": ["h1", "h2"],
    "sensor": ["psu", "fan"],
    "kind": ["power", "fan_speed"],
    "unit": ["kW", "rpm"],
    "value": [0.35, None],
    "quality": ["good", "absent"],
    "status": [None, "na"],
}
pq.write_table(pa.table(data), f"{out_dir}/pyarrow.parquet", compression="snappy")
pl.DataFrame(data).write_parquet(f"{out_dir}/polars.parquet", compression="zstd")
print("wrote pyarrow.parquet (snappy) and polars.parquet (zstd)")
