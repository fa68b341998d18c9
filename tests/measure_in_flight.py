"""How busy a run keeps its request slots: the time-weighted mean of requests in flight, as the simulator saw them.

    .venv/bin/python -m tests.measure_in_flight [--days 30] [--latency-ms 100] [--concurrency 4] [--widths 1d,1h]
        [--page-buckets N] [--repeat 3]

A load over every endpoint (and the directory) into a fresh DuckDB file per repeat, against a simulator answering
each request after `latency-ms`; prints the mean and peak in flight, requests and seconds of each repeat. Not a
test: a measurement (the figures depend on the machine's load)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from openai_usage.simulator import Org, Sandbox

from .conftest import DAY, NOW, load, midnight


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--latency-ms", type=float, default=100)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--widths", default="1d,1h")
    ap.add_argument("--page-buckets", type=int, default=None)
    ap.add_argument("--endpoints", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    org = Org(seed=11, days=40, now=NOW)
    with Sandbox(org, latency_ms=a.latency_ms, page_buckets=a.page_buckets) as sb:
        for i in range(a.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                sb.stats.clear()
                sb.reset_in_flight()
                t0 = time.monotonic()
                load(sb, Path(tmp) / "w.duckdb", start=midnight(NOW) - a.days * DAY, bucket_width=a.widths,
                     concurrency=a.concurrency, endpoints=a.endpoints.split(",") if a.endpoints else None)
                took = time.monotonic() - t0
                print(f"run {i + 1}: mean in flight {sb.mean_in_flight:.2f} of {a.concurrency}, "
                      f"peak {sb.stats['peak_in_flight']}, {sb.stats['requests']} requests, {took:.1f} s",
                      flush=True)


if __name__ == "__main__":
    main()
