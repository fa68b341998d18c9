"""`make bench`: this pipeline against two baselines and the floor, on the simulator, in one process tree.

Writes bench/results/results.json and bench/results/results.md. `--quick` runs smaller scenarios once.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import httpx
from common import ADMIN, DAY, NOW, ROOT, Measured, median, peak_rss_wrapper, run, simulator

from openai_usage import catalogue
from openai_usage.extract.http import request_params
from openai_usage.timeutil import WIDTH_SECONDS, ceil, windows

RESULTS = ROOT / "bench" / "results"
PY = sys.executable
BASELINE_PY = os.environ.get("BASELINE_PYTHON", sys.executable)  # has pandas; the pipeline's env does not


def load_cmd(url: str, db: Path, start: int, width: str = "1d", concurrency: int = 4) -> list[str]:
    # --no-directory: the baselines read usage only, so the pipeline is timed on the same work
    return [*peak_rss_wrapper(), "openai_usage.cli", "load", "--db", str(db), "--base-url", url, "--start", str(start),
            "--bucket-width", width, "--concurrency", str(concurrency), "--no-directory"]


ENV = {"OPENAI_USAGE_NOW": str(NOW), "OPENAI_ADMIN_KEY": ADMIN}


def rows_in(db: Path) -> int:
    """Result rows in every loaded table (the pipeline's dataset, or `main` for the baselines' own tables)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_schema || '.' || table_name from information_schema.tables where table_schema in "
            "('openai_usage', 'main') and table_name not like '\\_%' escape '\\' "
            "and table_type = 'BASE TABLE'").fetchall()]
        total = 0
        for t in tables:
            cols = [r[0] for r in con.execute(f"describe {t}").fetchall()]
            where = " where not coalesce(_bucket_emptied, false)" if "_bucket_emptied" in cols else ""
            total += con.execute(f"select count(*) from {t}{where}").fetchone()[0]
        return total
    finally:
        con.close()


def check(m: Measured, what: str) -> Measured:
    if m.returncode != 0:
        raise SystemExit(f"{what} failed ({m.returncode}):\n{m.stdout[-3000:]}")
    return m


def pipeline_runs(url: str, start: int, width: str, n: int, tmp: Path, concurrency: int = 4) -> dict:
    walls, peaks, rows = [], [], 0
    for i in range(n):
        db = tmp / f"pipe-{width}-{start}-{i}.duckdb"
        m = check(run(load_cmd(url, db, start, width, concurrency), ENV), "pipeline load")
        walls.append(m.seconds)
        peaks.append(m.peak_rss_mb)
        rows = rows_in(db)
        shutil.rmtree(db.parent / ".openai_usage", ignore_errors=True)
        db.unlink()
    return {"seconds": walls, "median_seconds": median(walls), "peak_rss_mb": peaks,
            "max_peak_rss_mb": max(peaks), "rows": rows, "rows_per_s": rows / median(walls)}


def fewest_requests(start: int, width: str, endpoints: list[str] | None = None) -> int:
    total = 0
    for name, ep in catalogue.endpoints().items():
        if endpoints and name not in endpoints:
            continue
        w = width if width in ep.widths else "1d"
        lo = start - start % WIDTH_SECONDS[w]
        buckets = (ceil(NOW + 1, w) - lo) // WIDTH_SECONDS[w]
        total += math.ceil(buckets / ep.max_limit(w))
    return total


def prefetch(url: str, start: int, width: str, folder: Path) -> int:
    """The exact pages the pipeline asks for, saved as files for the floor."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=600) as c:
        for name, ep in catalogue.endpoints().items():
            w = width if width in ep.widths else "1d"
            lo = start - start % WIDTH_SECONDS[w]
            hi = ceil(NOW + 1, w)
            for a, b in windows(lo, hi, w, ep.max_limit(w)):
                params = request_params(ep, a, None if b == hi else b, w, ep.sure_group_by)
                page_no = 0
                while True:
                    r = c.get(ep.path, params=params)
                    r.raise_for_status()
                    (folder / f"{name}.{n:05d}.json").write_bytes(r.content)
                    n += 1
                    body = r.json()
                    if not body["has_more"]:
                        break
                    page_no += 1
                    params = [p for p in params if p[0] != "page"] + [("page", body["next_page"])]
    return n


def serving_rate(url: str, folder_pages: int, start: int, width: str, rows: int, concurrency: int) -> dict:
    """Pages and result rows per second the simulator serves, read raw (no decoding) by a plain client."""
    jobs = []
    for ep in catalogue.endpoints().values():
        w = width if width in ep.widths else "1d"
        lo = start - start % WIDTH_SECONDS[w]
        hi = ceil(NOW + 1, w)
        jobs += [(ep.path, request_params(ep, a, None if b == hi else b, w, ep.sure_group_by))
                 for a, b in windows(lo, hi, w, ep.max_limit(w))]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=600,
                      limits=httpx.Limits(max_connections=concurrency)) as c:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            sizes = list(pool.map(lambda j: len(c.get(j[0], params=j[1]).content), jobs))
        secs = time.perf_counter() - t0
    return {"concurrency": concurrency, "pages": len(jobs), "seconds": secs, "pages_per_s": len(jobs) / secs,
            "rows_per_s": rows / secs, "mb_per_s": sum(sizes) / secs / 1e6}


def cpu_scenario(tmp: Path, days: int, scale: float, runs: int, baselines: bool) -> dict:
    start = NOW - NOW % DAY - days * DAY
    out: dict = {"days": days, "scale": scale, "width": "1h"}
    with simulator("--scale", str(scale), "--days", str(days + 2)) as url:
        check(run(load_cmd(url, tmp / "warm.duckdb", start, "1h"), ENV), "warm-up")  # fills the simulator's cache
        out["pipeline"] = pipeline_runs(url, start, "1h", runs, tmp)
        rows = out["pipeline"]["rows"]
        if baselines:
            pages = tmp / "pages"
            out["pages"] = prefetch(url, start, "1h", pages)
            floors = []
            for i in range(runs):
                m = check(run([PY, str(ROOT / "bench" / "floor.py"), "--pages", str(pages), "--db",
                               str(tmp / f"floor{i}.duckdb")]), "floor")
                floors.append(float(m.stdout.split("FLOOR_SECONDS=")[1].split()[0]))
            out["floor"] = {"seconds": floors, "median_seconds": median(floors), "rows_per_s": rows / median(floors)}
            shutil.rmtree(pages)
            out["serving"] = [serving_rate(url, out["pages"], start, "1h", rows, c) for c in (1, 4)]
            bench = ROOT / "bench"
            m = check(run([BASELINE_PY, str(bench / "peak.py"), str(bench / "cookbook.py"), "--base-url", url,
                           "--key", ADMIN, "--db", str(tmp / "cookbook.duckdb"), "--start", str(start), "--end",
                           str(ceil(NOW + 1, "1h")), "--width", "1h"]), "cookbook baseline")
            cb_rows = rows_in(tmp / "cookbook.duckdb")
            out["cookbook"] = {"seconds": m.seconds, "rows": cb_rows, "rows_per_s": cb_rows / m.seconds,
                               "peak_rss_mb": m.peak_rss_mb}
            # dlt with dicts loads ~4k rows/s: measured on one day of completions to keep the benchmark short
            d_start = NOW - NOW % DAY - DAY
            m = check(run([BASELINE_PY, str(bench / "peak.py"), str(bench / "dlt_dicts.py"), "--base-url", url, "--key",
                           ADMIN, "--db", str(tmp / "dicts.duckdb"), "--start", str(d_start), "--end",
                           str(d_start + DAY), "--width", "1h", "--endpoints", "completions",
                           "--workdir", str(tmp / "dicts")]), "dlt dicts baseline")
            d_rows = rows_in(tmp / "dicts.duckdb")
            out["dlt_dicts"] = {"seconds": m.seconds, "rows": d_rows, "rows_per_s": d_rows / m.seconds,
                                "peak_rss_mb": m.peak_rss_mb, "note": "one day of hourly completions"}
    return out


def latency_scenario(tmp: Path, runs: int, concurrency: int, baselines: bool) -> dict:
    year = NOW - NOW % DAY - 365 * DAY
    month = NOW - NOW % DAY - 30 * DAY
    latency, jitter = 250, 50
    requests = fewest_requests(year, "1d") + fewest_requests(month, "1h")
    out: dict = {"latency_ms": latency, "jitter_ms": jitter, "concurrency": concurrency,
                 "fewest_requests": requests, "request_floor_seconds": requests * latency / 1000 / concurrency}
    with simulator("--days", "400", "--latency-ms", str(latency), "--jitter-ms", str(jitter)) as url:
        warm = tmp / "lat-warm.duckdb"  # the simulator generates each bucket once; time only the serving
        check(run(load_cmd(url, warm, year, "1d", concurrency), ENV), "latency warm-up")
        check(run(load_cmd(url, warm, month, "1h", concurrency), ENV), "latency warm-up")
        walls = []
        for i in range(runs):
            db = tmp / f"lat{i}.duckdb"
            a = check(run(load_cmd(url, db, year, "1d", concurrency), ENV), "latency daily")
            b = check(run(load_cmd(url, db, month, "1h", concurrency), ENV), "latency hourly")
            walls.append(a.seconds + b.seconds)
            out.setdefault("split", []).append([a.seconds, b.seconds])
        out["pipeline"] = {"seconds": walls, "median_seconds": median(walls)}
        if baselines:
            t = 0.0
            for start, width in ((year, "1d"), (month, "1h")):
                m = check(run([BASELINE_PY, str(ROOT / "bench" / "cookbook.py"), "--base-url", url, "--key", ADMIN,
                               "--db", str(tmp / "cb-lat.duckdb"), "--start", str(start), "--end",
                               str(ceil(NOW + 1, width)), "--width", width]), "cookbook latency")
                t += m.seconds
            out["cookbook"] = {"seconds": t}
    return out


def noop_scenario(tmp: Path, runs: int) -> dict:
    start = NOW - NOW % DAY - 90 * DAY
    with simulator("--days", "100") as url:
        db = tmp / "noop.duckdb"
        check(run(load_cmd(url, db, start), ENV), "no-op backfill")
        walls = [check(run(load_cmd(url, db, start), ENV), "no-op").seconds for _ in range(runs)]
        # the scheduled-job form: --start omitted, the organization directory refreshed as by default
        cmd = [PY, "-m", "openai_usage.cli", "load", "--db", str(db), "--base-url", url]
        walls_plain = [check(run(cmd, ENV), "no-op").seconds for _ in range(runs)]
        walls_nodir = [check(run([*cmd, "--no-directory"], ENV), "no-op").seconds for _ in range(runs)]
    return {"seconds": walls_plain, "median_seconds": median(walls_plain), "with_start_seconds": walls,
            "no_directory_seconds": walls_nodir, "no_directory_median_seconds": median(walls_nodir)}


def fmt(x: float, unit: str = "") -> str:
    if x >= 100_000:
        return f"{x:,.0f}{unit}"
    return f"{x:,.2f}{unit}" if x < 100 else f"{x:,.0f}{unit}"


def write_markdown(res: dict) -> str:
    c1, c5, lat, noop = res["cpu_1m"], res.get("cpu_5m"), res["latency"], res["noop"]
    p = c1["pipeline"]
    lines = [f"# Benchmark results ({res['when']}, {res['machine']})", "",
             f"Command: `{res['command']}`. Medians of {res['runs']} runs unless noted; simulator in its own process.",
             "", "## CPU-bound backfill (hourly buckets, no latency)", "",
             "| | rows | seconds | rows/s | peak RSS | vs this pipeline |", "|---|---:|---:|---:|---:|---:|",
             f"| this pipeline (whole `openai-usage load` process) | {p['rows']:,} | {fmt(p['median_seconds'])} | "
             f"{fmt(p['rows_per_s'])} | {p['max_peak_rss_mb']:.0f} MB | 1× |"]
    if "floor" in c1:
        f = c1["floor"]
        lines.append(f"| floor: orjson + Arrow + DuckDB insert, no HTTP/dlt (work only) | {p['rows']:,} | "
                     f"{fmt(f['median_seconds'])} | {fmt(f['rows_per_s'])} | | pipeline takes "
                     f"{p['median_seconds'] / f['median_seconds']:.2f}× the floor |")
        cb, dd = c1["cookbook"], c1["dlt_dicts"]
        lines.append(f"| baseline 1: cookbook (sequential, default page size, pandas → DuckDB) | {cb['rows']:,} | "
                     f"{fmt(cb['seconds'])} | {fmt(cb['rows_per_s'])} | {cb['peak_rss_mb']:.0f} MB | "
                     f"{p['rows_per_s'] / cb['rows_per_s']:.1f}× faster |")
        lines.append(f"| baseline 2: dlt source yielding dicts, dlt defaults ({dd['note']}) | {dd['rows']:,} | "
                     f"{fmt(dd['seconds'])} | {fmt(dd['rows_per_s'])} | {dd['peak_rss_mb']:.0f} MB | "
                     f"{p['rows_per_s'] / dd['rows_per_s']:.0f}× faster |")
    if c5:
        q = c5["pipeline"]
        lines += ["", "## Memory against range length", "", "| rows | days (hourly) | seconds | rows/s | peak RSS |",
                  "|---:|---:|---:|---:|---:|",
                  f"| {p['rows']:,} | {c1['days']} | {fmt(p['median_seconds'])} | {fmt(p['rows_per_s'])} | "
                  f"{p['max_peak_rss_mb']:.0f} MB |",
                  f"| {q['rows']:,} | {c5['days']} | {fmt(q['median_seconds'])} | {fmt(q['rows_per_s'])} | "
                  f"{q['max_peak_rss_mb']:.0f} MB |"]
    lines += ["", f"## Latency-bound backfill ({lat['latency_ms']} ms ± {lat['jitter_ms']} ms per request, "
              f"a year of daily + a month of hourly, all endpoints)", "",
              "| | seconds | vs request floor |", "|---|---:|---:|",
              f"| request floor: {lat['fewest_requests']} requests × {lat['latency_ms']} ms ÷ {lat['concurrency']} "
              f"in flight | {fmt(lat['request_floor_seconds'])} | 1× |",
              f"| this pipeline (two `load` processes: 1d then 1h) | {fmt(lat['pipeline']['median_seconds'])} | "
              f"{lat['pipeline']['median_seconds'] / lat['request_floor_seconds']:.2f}× |"]
    if "cookbook" in lat:
        lines.append(f"| baseline 1: cookbook | {fmt(lat['cookbook']['seconds'])} | "
                     f"{lat['cookbook']['seconds'] / lat['request_floor_seconds']:.1f}× (pipeline "
                     f"{lat['cookbook']['seconds'] / lat['pipeline']['median_seconds']:.1f}× faster) |")
    lines += ["", "## Incremental run with nothing new (whole process, 90-day daily warehouse)", "",
              f"median {noop['median_seconds']:.2f} s with the organization directory refreshed (the default; runs: "
              f"{', '.join(f'{x:.2f}' for x in noop['seconds'])}); with `--no-directory` "
              f"{noop.get('no_directory_median_seconds', float('nan')):.2f} s"]
    if "serving" in c1:
        lines += ["", "## Simulator serving rate (raw pages, warm cache, plain httpx client)", "",
                  "| connections | pages/s | result rows/s | MB/s |", "|---:|---:|---:|---:|"]
        lines += [f"| {s['concurrency']} | {s['pages_per_s']:.1f} | {s['rows_per_s']:,.0f} | {s['mb_per_s']:.0f} |"
                  for s in c1["serving"]]
    return "\n".join(lines) + "\n"


def cookbook_only(tmp: Path) -> dict:
    """Re-measure only the cookbook baseline of the CPU-bound scenario (same org and range)."""
    start = NOW - NOW % DAY - 11 * DAY
    with simulator("--scale", "25", "--days", "13") as url:
        check(run(load_cmd(url, tmp / "warm.duckdb", start, "1h"), ENV), "warm-up")
        bench = ROOT / "bench"
        m = check(run([BASELINE_PY, str(bench / "peak.py"), str(bench / "cookbook.py"), "--base-url", url,
                       "--key", ADMIN, "--db", str(tmp / "cookbook.duckdb"), "--start", str(start), "--end",
                       str(ceil(NOW + 1, "1h")), "--width", "1h"]), "cookbook baseline")
        rows = rows_in(tmp / "cookbook.duckdb")
    return {"seconds": m.seconds, "rows": rows, "rows_per_s": rows / m.seconds, "peak_rss_mb": m.peak_rss_mb}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small scenarios, one run each, no baselines")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cookbook-only", action="store_true", help="re-measure the CPU-bound cookbook baseline")
    a = ap.parse_args()
    if a.cookbook_only:
        res = json.loads((RESULTS / "results.json").read_text())
        with tempfile.TemporaryDirectory(prefix="bench-") as d:
            res["cpu_1m"]["cookbook"] = cookbook_only(Path(d))
        (RESULTS / "results.json").write_text(json.dumps(res, indent=1))
        (RESULTS / "results.md").write_text(write_markdown(res))
        print(write_markdown(res))
        return
    runs = 1 if a.quick else a.runs
    RESULTS.mkdir(parents=True, exist_ok=True)
    res: dict = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                 "command": "make bench" + (" (quick)" if a.quick else ""), "runs": runs}
    with tempfile.TemporaryDirectory(prefix="bench-") as d:
        tmp = Path(d)
        print("CPU-bound, ~1M rows ...", flush=True)
        res["cpu_1m"] = cpu_scenario(tmp, 3 if a.quick else 11, 25, runs, baselines=not a.quick)
        if not a.quick:
            print("CPU-bound, ~5M rows ...", flush=True)
            res["cpu_5m"] = cpu_scenario(tmp, 55, 25, 1, baselines=False)
        print("latency-bound ...", flush=True)
        res["latency"] = latency_scenario(tmp, runs, 8, baselines=not a.quick)
        print("incremental no-op ...", flush=True)
        res["noop"] = noop_scenario(tmp, 5)
    (RESULTS / "results.json").write_text(json.dumps(res, indent=1))
    md = write_markdown(res)
    (RESULTS / "results.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
