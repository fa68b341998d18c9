"""`make bench`: this pipeline against two baselines and the floor, on the simulator, in one process tree.

Writes bench/results/results.json and bench/results/results.md. `--quick` runs smaller scenarios once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
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
# The pipeline under test, and (with --before) an earlier version installed in its own environment: every measured
# run of one is followed by the same run of the other, so both see the same machine.
VERSIONS: dict[str, str] = {"after": PY}


def load_cmd(url: str, db: Path, start: int | str, width: str = "1d", py: str = PY) -> list[str]:
    # --no-directory: the baselines read usage only, so the pipeline is timed on the same work. No --concurrency:
    # the default is the one chosen for the real API.
    return [*peak_rss_wrapper(py), "openai_usage.cli", "load", "--db", str(db), "--base-url", url,
            "--start", str(start), "--bucket-width", width, "--no-directory"]


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


def pipeline_runs(url: str, start: int, width: str, n: int, tmp: Path) -> dict:
    """n whole `load` processes of each version, alternating, each into a new warehouse."""
    out: dict = {}
    for i in range(n):
        for version, py in VERSIONS.items():
            db = tmp / f"pipe-{version}-{width}-{start}-{i}.duckdb"
            m = check(run(load_cmd(url, db, start, width, py), ENV), f"pipeline load ({version})")
            r = out.setdefault(version, {"seconds": [], "peak_rss_mb": []})
            r["seconds"].append(m.seconds)
            r["peak_rss_mb"].append(m.peak_rss_mb)
            r["rows"] = rows_in(db)
            shutil.rmtree(db.parent / ".openai_usage", ignore_errors=True)
            db.unlink()
    for r in out.values():
        r.update(median_seconds=median(r["seconds"]), max_peak_rss_mb=max(r["peak_rss_mb"]),
                 rows_per_s=r["rows"] / median(r["seconds"]))
    return out


def reread_runs(url: str, start: int, tmp: Path) -> dict:
    """The same range loaded again into the warehouse that holds it (a backfill re-run): every bucket is compared
    with what is held (the restatement check) and replaced whole. One run of each version."""
    out: dict = {}
    for version, py in VERSIONS.items():
        db = tmp / f"reread-{version}.duckdb"
        check(run(load_cmd(url, db, start, "1h", py), ENV), f"re-read, first load ({version})")
        m = check(run(load_cmd(url, db, start, "1h", py), ENV), f"re-read ({version})")
        out[version] = {"seconds": m.seconds, "peak_rss_mb": m.peak_rss_mb}
        shutil.rmtree(db.parent / ".openai_usage", ignore_errors=True)
        db.unlink()
    return out


def request_jobs(starts: dict[str, int]) -> list[tuple[str, list]]:
    """The fewest requests one run needs for these widths (width -> first bucket), as (path, params): one per window
    of the largest page; an endpoint that offers only 1d (costs) is read once, from the earliest start asked of it."""
    jobs = []
    for ep in catalogue.endpoints().values():
        firsts: dict[str, int] = {}
        for width, start in starts.items():
            w = ep.width_for(width)
            firsts[w] = min(start, firsts.get(w, start))
        for w, start in firsts.items():
            lo, hi = start - start % WIDTH_SECONDS[w], ceil(NOW + 1, w)
            jobs += [(ep.path, request_params(ep, a, None if b == hi else b, w, ep.sure_group_by))
                     for a, b in windows(lo, hi, w, ep.max_limit(w))]
    return jobs


def fetch_raw(url: str, jobs: list[tuple[str, list]], concurrency: int) -> tuple[float, int]:
    """Seconds a plain client takes to read these requests' bodies, `concurrency` at a time, and the bytes read."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=600,
                      limits=httpx.Limits(max_connections=concurrency)) as c:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            sizes = list(pool.map(lambda j: len(c.get(j[0], params=j[1]).raise_for_status().content), jobs))
        return time.perf_counter() - t0, sum(sizes)


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


def serving_rate(url: str, start: int, width: str, rows: int, concurrency: int) -> dict:
    """Pages and result rows per second the simulator serves, read raw (no decoding) by a plain client."""
    jobs = request_jobs({width: start})
    secs, size = fetch_raw(url, jobs, concurrency)
    return {"concurrency": concurrency, "pages": len(jobs), "seconds": secs, "pages_per_s": len(jobs) / secs,
            "rows_per_s": rows / secs, "mb_per_s": size / secs / 1e6}


def cpu_scenario(tmp: Path, days: int, scale: float, runs: int, baselines: bool) -> dict:
    start = NOW - NOW % DAY - days * DAY
    out: dict = {"days": days, "scale": scale, "width": "1h"}
    with simulator("--scale", str(scale), "--days", str(days + 2)) as url:
        check(run(load_cmd(url, tmp / "warm.duckdb", start, "1h"), ENV), "warm-up")  # fills the simulator's cache
        measured = pipeline_runs(url, start, "1h", runs, tmp)
        out["pipeline"], out["before"] = measured["after"], measured.get("before")
        rows = out["pipeline"]["rows"]
        if baselines:
            out["reread"] = reread_runs(url, start, tmp)
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
            out["serving"] = [serving_rate(url, start, "1h", rows, c) for c in (1, 4)]
            bench = ROOT / "bench"
            m = check(run([BASELINE_PY, str(bench / "peak.py"), str(bench / "cookbook.py"), "--base-url", url,
                           "--key", ADMIN, "--db", str(tmp / "cookbook.duckdb"), "--start", str(start), "--end",
                           str(ceil(NOW + 1, "1h")), "--width", "1h"]), "cookbook baseline")
            cb_rows = rows_in(tmp / "cookbook.duckdb")
            out["cookbook"] = {"seconds": m.seconds, "rows": cb_rows, "rows_per_s": cb_rows / m.seconds,
                               "peak_rss_mb": m.peak_rss_mb}
            # dlt with dicts loads ~2k rows/s: measured on one day of completions to keep the benchmark short
            d_start = NOW - NOW % DAY - DAY
            m = check(run([BASELINE_PY, str(bench / "peak.py"), str(bench / "dlt_dicts.py"), "--base-url", url, "--key",
                           ADMIN, "--db", str(tmp / "dicts.duckdb"), "--start", str(d_start), "--end",
                           str(d_start + DAY), "--width", "1h", "--endpoints", "completions",
                           "--workdir", str(tmp / "dicts")]), "dlt dicts baseline")
            d_rows = rows_in(tmp / "dicts.duckdb")
            out["dlt_dicts"] = {"seconds": m.seconds, "rows": d_rows, "rows_per_s": d_rows / m.seconds,
                                "peak_rss_mb": m.peak_rss_mb, "note": "one day of hourly completions"}
    return out


def default_concurrency(py: str) -> int:
    """The requests in flight a version uses by default: the number chosen for the real API."""
    out = subprocess.run([py, "-c", "from openai_usage.load.run import LoadRequest; print(LoadRequest.concurrency)"],
                         capture_output=True, text=True, check=True, env={**os.environ, **ENV})
    return int(out.stdout.strip())


def latency_scenario(tmp: Path, runs: int, baselines: bool) -> dict:
    """A year of daily buckets and a month of hourly ones, every endpoint, at the default concurrency. This version
    loads both widths in one process; an earlier one (--before) needed a process per width."""
    year = NOW - NOW % DAY - 365 * DAY
    month = NOW - NOW % DAY - 30 * DAY
    latency, jitter = 250, 50
    concurrency = default_concurrency(PY)
    jobs = request_jobs({"1d": year, "1h": month})
    out: dict = {"latency_ms": latency, "jitter_ms": jitter, "concurrency": concurrency,
                 "fewest_requests": len(jobs), "request_floor_seconds": len(jobs) * latency / 1000 / concurrency}
    both = f"1d={year},1h={month}"
    with simulator("--days", "400", "--latency-ms", str(latency), "--jitter-ms", str(jitter)) as url:
        # the simulator generates each bucket once: warm it, so only the serving is timed
        check(run(load_cmd(url, tmp / "lat-warm.duckdb", both, "1d,1h"), ENV), "latency warm-up")
        # The same requests read raw by a plain client, as many in flight: the floor with the server's own time in
        # it (making and sending each page), which the nominal floor leaves out.
        out["measured_floor_seconds"] = median([fetch_raw(url, jobs, concurrency)[0] for _ in range(runs)])
        for i in range(runs):
            for version, py in VERSIONS.items():
                db = tmp / f"lat-{version}-{i}.duckdb"
                if version == "after":
                    m = check(run(load_cmd(url, db, both, "1d,1h", py), ENV), "latency, one run")
                    seconds = m.seconds
                else:
                    seconds = sum(check(run(load_cmd(url, db, start, width, py), ENV), f"latency {width}").seconds
                                  for start, width in ((year, "1d"), (month, "1h")))
                out.setdefault(version, {"seconds": []})["seconds"].append(seconds)
        for r in (out[v] for v in VERSIONS):
            r["median_seconds"] = median(r["seconds"])
        out["pipeline"] = out.pop("after")
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
    """The scheduled job with nothing new: --start omitted, the organization directory refreshed as by default."""
    start = NOW - NOW % DAY - 90 * DAY
    out: dict = {}
    with simulator("--days", "100") as url:
        dbs = {v: tmp / f"noop-{v}.duckdb" for v in VERSIONS}
        for version, py in VERSIONS.items():
            check(run(load_cmd(url, dbs[version], start, "1d", py), ENV), "no-op backfill")
        for _ in range(runs):
            for version, py in VERSIONS.items():
                cmd = [py, "-m", "openai_usage.cli", "load", "--db", str(dbs[version]), "--base-url", url]
                r = out.setdefault(version, {"seconds": [], "no_directory_seconds": []})
                r["seconds"].append(check(run(cmd, ENV), "no-op").seconds)
                r["no_directory_seconds"].append(check(run([*cmd, "--no-directory"], ENV), "no-op").seconds)
        for r in out.values():
            r["median_seconds"] = median(r["seconds"])
            r["no_directory_median_seconds"] = median(r["no_directory_seconds"])
        out["startup"] = startup_scenario(dbs, runs)
    return {**out.pop("after"), "before": out.get("before"), "startup": out["startup"]}


COMMANDS = {  # what a user runs, each a whole process against the no-op scenario's warehouse
    "openai-usage --help": ["--help"],
    "load --help": ["load", "--help"],
    "status": ["status", "--db", "{db}"],
    "report": ["report", "--db", "{db}"],
    "views (already current)": ["views", "--db", "{db}"],
}


def startup_scenario(dbs: dict[str, Path], runs: int) -> dict:
    """Whole-process time per command, and the time its imports take (python -X importtime, summed)."""
    out: dict = {}
    for name, args in COMMANDS.items():
        for _ in range(runs):
            for version, py in VERSIONS.items():
                cmd = [py, "-m", "openai_usage.cli", *(a.format(db=dbs[version]) for a in args)]
                m = run(cmd, ENV)  # status may exit 1 (stale data): the time is what is measured
                r = out.setdefault(name, {}).setdefault(version, {"seconds": []})
                r["seconds"].append(m.seconds)
        for version, py in VERSIONS.items():
            cmd = [py, "-X", "importtime", "-m", "openai_usage.cli", *(a.format(db=dbs[version]) for a in args)]
            err = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ENV}).stderr
            us = sum(int(line.split("|")[0].split(":")[1]) for line in err.splitlines()
                     if line.startswith("import time:") and line.split("|")[0].split(":")[1].strip().isdigit())
            r = out[name][version]
            r.update(median_seconds=median(r["seconds"]), import_seconds=us / 1e6)
    return out


def fmt(x: float, unit: str = "") -> str:
    if x >= 100_000:
        return f"{x:,.0f}{unit}"
    return f"{x:,.2f}{unit}" if x < 100 else f"{x:,.0f}{unit}"


def _change(before: float, after: float) -> str:
    return f"{(after - before) / before * 100:+.0f}%"


def write_markdown(res: dict) -> str:
    c1, c5, lat, noop = res["cpu_1m"], res.get("cpu_5m"), res["latency"], res["noop"]
    p = c1["pipeline"]
    lines = [f"# Benchmark results ({res['when']}, {res['machine']})", "",
             f"Command: `{res['command']}`. Medians of {res['runs']} runs unless noted; simulator in its own process.",
             "", "## CPU-bound backfill (hourly buckets, no latency)", "",
             "| | rows | seconds | rows/s | peak RSS | vs this pipeline |", "|---|---:|---:|---:|---:|---:|",
             f"| this pipeline (whole `openai-usage load` process) | {p['rows']:,} | {fmt(p['median_seconds'])} | "
             f"{fmt(p['rows_per_s'])} | {p['max_peak_rss_mb']:.0f} MB | 1× |"]
    if c1.get("before"):
        b = c1["before"]
        label = res.get("before_label", "earlier version")
        lines.append(f"| before ({label}), same runs alternating | {b['rows']:,} | "
                     f"{fmt(b['median_seconds'])} | {fmt(b['rows_per_s'])} | {b['max_peak_rss_mb']:.0f} MB | "
                     f"pipeline {b['median_seconds'] / p['median_seconds']:.2f}× faster |")
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
        lines += ["", "## Memory against range length", "",
                  "| rows | days (hourly) | seconds | rows/s | peak RSS | before: seconds, peak RSS |",
                  "|---:|---:|---:|---:|---:|---:|"]
        for c, r in ((c1, p), (c5, q)):
            b = c.get("before")
            lines.append(f"| {r['rows']:,} | {c['days']} | {fmt(r['median_seconds'])} | {fmt(r['rows_per_s'])} | "
                         f"{r['max_peak_rss_mb']:.0f} MB | "
                         + (f"{fmt(b['median_seconds'])} s, {b['max_peak_rss_mb']:.0f} MB |" if b else "|"))
    if c1.get("reread"):
        rr = c1["reread"]
        lines += ["", f"## The same {p['rows']:,} rows loaded again into the warehouse holding them (one run each)", "",
                  "| | seconds | peak RSS |", "|---|---:|---:|"]
        lines += [f"| {'this pipeline' if v == 'after' else 'before'} | {fmt(r['seconds'])} | "
                  f"{r['peak_rss_mb']:.0f} MB |" for v, r in sorted(rr.items())]
    lat_p = lat["pipeline"]["median_seconds"]
    lines += ["", f"## Latency-bound backfill ({lat['latency_ms']} ms ± {lat['jitter_ms']} ms per request, "
              f"a year of daily + a month of hourly, all endpoints, the default {lat['concurrency']} in flight)", "",
              "| | seconds | vs request floor |", "|---|---:|---:|",
              f"| request floor: {lat['fewest_requests']} requests × {lat['latency_ms']} ms ÷ {lat['concurrency']} "
              f"in flight | {fmt(lat['request_floor_seconds'])} | 1× |"]
    if "measured_floor_seconds" in lat:
        m = lat["measured_floor_seconds"]
        lines.append(f"| measured request floor: the same requests read raw by a plain client, "
                     f"{lat['concurrency']} in flight (no decoding, no dlt, no start-up) | {fmt(m)} | "
                     f"{m / lat['request_floor_seconds']:.2f}× |")
    lines.append(f"| this pipeline (one `load --bucket-width 1d,1h` process) | {fmt(lat_p)} | "
                 f"{lat_p / lat['request_floor_seconds']:.2f}×"
                 + (f"; {lat_p / lat['measured_floor_seconds']:.2f}× the measured one |"
                    if "measured_floor_seconds" in lat else " |"))
    if lat.get("before"):
        b = lat["before"]["median_seconds"]
        lines.append(f"| before: two `load` processes, 1d then 1h, same runs alternating | {fmt(b)} | "
                     f"{b / lat['request_floor_seconds']:.2f}× (pipeline {b / lat_p:.2f}× faster) |")
    if "cookbook" in lat:
        lines.append(f"| baseline 1: cookbook (sequential, default page size) | {fmt(lat['cookbook']['seconds'])} | "
                     f"{lat['cookbook']['seconds'] / lat['request_floor_seconds']:.1f}× (pipeline "
                     f"{lat['cookbook']['seconds'] / lat_p:.1f}× faster) |")
    lines += ["", "## Incremental run with nothing new (whole process, 90-day daily warehouse)", "",
              "| | directory refreshed (default) | `--no-directory` |", "|---|---:|---:|",
              f"| this pipeline | {noop['median_seconds']:.2f} s (runs "
              f"{', '.join(f'{x:.2f}' for x in noop['seconds'])})"
              f" | {noop['no_directory_median_seconds']:.2f} s |"]
    if noop.get("before"):
        b = noop["before"]
        lines.append(f"| before | {b['median_seconds']:.2f} s ({_change(b['median_seconds'], noop['median_seconds'])})"
                     f" | {b['no_directory_median_seconds']:.2f} s |")
    if noop.get("startup"):
        lines += ["", "## Start-up per command (whole process; imports as summed by `python -X importtime`)", "",
                  "| command | seconds | imports | before: seconds | before: imports |", "|---|---:|---:|---:|---:|"]
        for name, r in noop["startup"].items():
            a, b = r["after"], r.get("before")
            lines.append(f"| `{name}` | {a['median_seconds']:.2f} | {a['import_seconds']:.2f} | "
                         + (f"{b['median_seconds']:.2f} | {b['import_seconds']:.2f} |" if b else "| |"))
    if "serving" in c1:
        lines += ["", "## Simulator serving rate (raw pages, warm cache, plain httpx client)", "",
                  "| connections | pages/s | result rows/s | MB/s |", "|---:|---:|---:|---:|"]
        lines += [f"| {s['concurrency']} | {s['pages_per_s']:.1f} | {s['rows_per_s']:,.0f} | {s['mb_per_s']:.0f} |"
                  for s in c1["serving"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small scenarios, one run each, no baselines")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", metavar="PYTHON", help="also measure the version installed for this interpreter")
    ap.add_argument("--before-label", default="earlier version", help="what --before is, e.g. a commit")
    a = ap.parse_args()
    if a.before:
        VERSIONS["before"] = a.before
    runs = 1 if a.quick else a.runs
    RESULTS.mkdir(parents=True, exist_ok=True)
    res: dict = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                 "command": "make bench" + (" (quick)" if a.quick else "")
                 + (f" with BEFORE={a.before_label}" if a.before else ""),
                 "runs": runs, "before_label": a.before_label}
    with tempfile.TemporaryDirectory(prefix="bench-") as d:
        tmp = Path(d)
        print("CPU-bound, ~1M rows ...", flush=True)
        res["cpu_1m"] = cpu_scenario(tmp, 3 if a.quick else 11, 25, runs, baselines=not a.quick)
        if not a.quick:
            print("CPU-bound, ~5M rows ...", flush=True)
            res["cpu_5m"] = cpu_scenario(tmp, 55, 25, 1, baselines=False)
        print("latency-bound ...", flush=True)
        res["latency"] = latency_scenario(tmp, runs, baselines=not a.quick)
        print("incremental no-op and start-up per command ...", flush=True)
        res["noop"] = noop_scenario(tmp, 5)
    (RESULTS / "results.json").write_text(json.dumps(res, indent=1))
    md = write_markdown(res)
    (RESULTS / "results.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
