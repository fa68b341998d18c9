"""The floor: the same page bytes decoded with orjson, built into Arrow tables and inserted into DuckDB
directly, with no HTTP, no dlt and no pipeline. Prints the seconds this work took (imports excluded)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from openai_usage import catalogue


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", required=True, help="folder of <endpoint>.<n>.json page files")
    ap.add_argument("--db", required=True)
    a = ap.parse_args()
    files = sorted(Path(a.pages).glob("*.json"))
    blobs = [(f.name.split(".")[0], f.read_bytes()) for f in files]  # read before the clock starts
    con = duckdb.connect(a.db)
    cat = catalogue.endpoints()
    t0 = time.perf_counter()
    rows = 0
    for name, raw in blobs:
        ep = cat[name]
        page = orjson.loads(raw)
        starts, ends, results = [], [], []
        for b in page["data"]:
            rs = b["results"]
            starts += [b["start_time"]] * len(rs)
            ends += [b["end_time"]] * len(rs)
            results += rs
        if not results:
            continue
        if ep.kind == "costs":
            for r in results:
                r["amount_value"] = str(r["amount"]["value"])
                r["amount_currency"] = r["amount"]["currency"]
            struct = pa.array(results, pa.struct([(c.name, pa.string() if c.name == "amount_value" else c.arrow)
                                                  for c in ep.columns]))
        else:
            struct = pa.array(results, pa.struct([(c.name, c.arrow) for c in ep.columns]))
        table = pa.Table.from_arrays(
            [pa.array(starts, pa.int64()).cast(pa.timestamp("s")), pa.array(ends, pa.int64()).cast(pa.timestamp("s"))]
            + [struct.field(i) for i in range(struct.type.num_fields)],
            names=["start_time", "end_time", *[c.name for c in ep.columns]])
        con.register("t", table)
        con.execute(f"create table if not exists {ep.table} as select * from t limit 0")
        con.execute(f"insert into {ep.table} select * from t")
        con.unregister("t")
        rows += table.num_rows
    con.close()
    print(f"FLOOR_SECONDS={time.perf_counter() - t0:.3f}")
    print(f"ROWS={rows}")


if __name__ == "__main__":
    main()
