#!/usr/bin/env python3
"""Reads a Kelvin fleet export (ROOT/readings/site=…/date=…/part-0.parquet, ROOT/bills/…) with
pyarrow's datasets and Polars' lazy engine, Hive partitioning on, and DuckDB when installed, and
checks that they agree with each other and with each site's own book:

    fleet_interop.py ROOT SITE=BOOK.json [SITE=BOOK.json ...]

BOOK.json is the `live` example's `--json` output for that site. Checks: every engine reads the
same row count per table (the sum of the files' footers); the partition columns `site` and
`date` come from the paths; `ts` and the interval bounds are UTC nanosecond timestamps; per site,
the bills' rows sum to the book's measured energy, the workload rows to its attributed energy
and each workload's rows to its line in the book, to the microjoule. Prints one line per table
and engine and exits 1 on the first disagreement.
"""

import glob
import json
import os
import sys

import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq


def fail(msg):
    print(f"fleet interop: {msg}", file=sys.stderr)
    sys.exit(1)


def footer_rows(root, table):
    files = glob.glob(os.path.join(root, table, "site=*", "date=*", "part-0.parquet"))
    if not files:
        fail(f"no {table} partitions under {root}")
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def read_pyarrow(root, table):
    part = pads.partitioning(pa.schema([("site", pa.string()), ("date", pa.string())]), flavor="hive")
    return pads.dataset(os.path.join(root, table), format="parquet", partitioning=part).to_table()


def read_polars(root, table):
    pattern = os.path.join(root, table, "**", "*.parquet")
    return pl.scan_parquet(pattern, hive_partitioning=True, hive_schema={"site": pl.String, "date": pl.String})


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    root = sys.argv[1]
    books = {}
    for arg in sys.argv[2:]:
        site, _, path = arg.partition("=")
        books[site] = json.load(open(path))
    for table, ts_cols in (("readings", ["ts"]), ("bills", ["interval_start", "interval_end"])):
        want = footer_rows(root, table)
        at = read_pyarrow(root, table)
        lf = read_polars(root, table)
        n_pl = lf.select(pl.len()).collect().item()
        counts = {"footers": want, "pyarrow": at.num_rows, "polars": n_pl}
        try:
            import duckdb

            q = f"SELECT count(*) FROM read_parquet('{root}/{table}/*/*/*.parquet', hive_partitioning = true)"
            counts["duckdb"] = duckdb.sql(q).fetchall()[0][0]
        except ImportError:
            print("fleet interop: duckdb not installed, skipped")
        print(f"{table}: rows " + " ".join(f"{k} {v}" for k, v in counts.items()))
        if len(set(counts.values())) != 1:
            fail(f"{table}: engines disagree on rows: {counts}")
        sites = set(at.column("site").to_pylist())
        if sites != set(books):
            fail(f"{table}: sites {sorted(sites)}, expected {sorted(books)}")
        for c in ts_cols:
            t = at.schema.field(c).type
            if not (pa.types.is_timestamp(t) and t.unit == "ns" and t.tz in ("UTC", "+00:00")):
                fail(f"{table}.{c} is {t}, not a UTC nanosecond timestamp")
    bills = read_polars(root, "bills")
    for site, book in books.items():
        b = bills.filter(pl.col("site") == site)
        total = b.select(pl.col("energy_uj").sum()).collect().item()
        work = b.filter(pl.col("workload").is_not_null()).select(pl.col("energy_uj").sum()).collect().item()
        if total != book["measured_uj"] or work != book["attributed_uj"]:
            fail(f"{site}: bills sum {total} uJ ({work} to workloads), book {book['measured_uj']} ({book['attributed_uj']})")
        per = dict(
            b.filter(pl.col("workload").is_not_null())
            .group_by("workload")
            .agg(pl.col("energy_uj").sum())
            .collect()
            .iter_rows()
        )
        wanted = {w: uj for w, uj in book["workloads"].items() if uj}
        got = {w: uj for w, uj in per.items() if uj}
        if got != wanted:
            diff = sorted(set(got.items()) ^ set(wanted.items()))[:5]
            fail(f"{site}: per-workload bills differ from the book, e.g. {diff}")
        print(f"{site}: bills {total} uJ = book, {len(got)} workloads as billed")


main()
