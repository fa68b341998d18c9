"""The `openai-usage` command line: load, demo, sandbox (and the reports built on the warehouse)."""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import catalogue
from .errors import ConfigError, UsageError, redact, root_cause

DEFAULT_DB = "usage.duckdb"
err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 132)  # logs and CI get readable tables, not 80 columns


def _run(fn: Callable[[], Any], verbose: bool) -> None:
    try:
        fn()
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # one clear line, never a traceback unless asked
        cause = root_cause(e)
        if verbose:
            sys.stderr.write(redact("".join(traceback.format_exception(e))))
        msg = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        if not isinstance(cause, UsageError):
            msg = f"{type(cause).__name__}: {msg}"
        click.echo(f"error: {redact(msg)}", err=True)
        sys.exit(cause.exit_code if isinstance(cause, UsageError) else 1)


def _quiet_libraries(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.ERROR
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "INFO" if verbose else "ERROR")
    for name in ("dlt", "uvicorn", "uvicorn.error", "httpx"):
        logging.getLogger(name).setLevel(level)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Load OpenAI organization usage and costs into DuckDB (or another warehouse) and report on them."""


# ------------------------------------------------------------------------------------------------ load
def _endpoints(value: str | None) -> list[str]:
    if not value:
        return list(catalogue.endpoints())
    names = [v.strip() for v in value.split(",") if v.strip()]
    cat = catalogue.endpoints()
    for n in names:
        if n not in cat:
            raise ConfigError(f"unknown endpoint {n!r}; choose from: {', '.join(cat)}")
    return names


def _group_by(values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    out = {}
    for v in values:
        name, sep, dims = v.partition("=")
        if not sep:
            raise ConfigError(f"--group-by wants ENDPOINT=DIM,DIM, got {v!r}")
        out[name.strip()] = tuple(d.strip() for d in dims.split(",") if d.strip())
    return out


def _api_key() -> str:
    key = os.environ.get("OPENAI_ADMIN_KEY", "").strip()
    if key:
        return key
    import dlt

    try:
        key = dlt.secrets.get("sources.openai_usage.api_key") or ""
    except Exception:
        key = ""
    return str(key).strip()


class _Progress:
    """A live bar per table on a terminal; plain log lines otherwise."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.bars: dict[str, Any] = {}
        self.logged: set[str] = set()
        self.progress: Any = None
        if live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("buckets"), TimeElapsedColumn(), console=err, transient=True)

    def __call__(self, table: str, done: int, expected: int) -> None:
        if self.progress is not None:
            if table not in self.bars:
                self.bars[table] = self.progress.add_task(table, total=expected)
            self.progress.update(self.bars[table], completed=done, total=expected)
        elif done >= expected and table not in self.logged:
            self.logged.add(table)
            click.echo(f"{time.strftime('%H:%M:%S')} {table}: {done} buckets read", err=True)

    def __enter__(self) -> _Progress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def print_summary(summary: Any, console: Console = out) -> None:
    t = Table(title="Load summary", title_justify="left")
    for col in ("table", "rows", "buckets", "empty", "quarantined", "new columns"):
        t.add_column(col, justify="left" if col in ("table", "new columns") else "right", no_wrap=col == "table")
    for name, s in sorted(summary.tables.items()):
        listed = name in {d.table for d in catalogue.directory().values()}
        t.add_row(name, f"{s['rows']:,}", "listed" if listed else f"{s['buckets']:,}", f"{s['empty_buckets']:,}",
                  f"{s['quarantined']:,}", ", ".join(sorted(s["extra_columns"])) or "")
    console.print(t)
    console.print(f"{summary.pages:,} pages in {summary.requests:,} requests, {summary.retries:,} retries, "
                  f"{summary.quarantined:,} quarantined results, {summary.seconds:.1f} s"
                  + (" (backfill: incremental positions unchanged)" if summary.backfill else ""))
    for note in summary.notes:
        console.print(Text("note: ", style="cyan") + Text(note))
    for warning in summary.warnings:
        console.print(Text("warning: ", style="yellow") + Text(redact(warning)))


@main.command()
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_DB, show_default=True,
              envvar="OPENAI_USAGE_DB", help="DuckDB file to load into.")
@click.option("--start", help="First day to load (YYYY-MM-DD or ISO time). Default: 30 days ago on a new warehouse.")
@click.option("--end", help="Load up to here (exclusive): a backfill of exactly [start, end).")
@click.option("--bucket-width", type=click.Choice(["1d", "1h", "1m"]), default="1d", show_default=True)
@click.option("--endpoints", help="Comma-separated endpoints (default: all): " + ", ".join(catalogue.endpoints()))
@click.option("--base-url", default="https://api.openai.com/v1", show_default=True, envvar="OPENAI_USAGE_BASE_URL")
@click.option("--reread", help="Re-read window, e.g. 36h or 3d (default: 1d for usage, 3d for costs).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Most requests in flight at once for the whole run: every endpoint and the directory share it.")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=60.0, show_default=True,
              help="Seconds to wait for one response.")
@click.option("--max-attempts", type=click.IntRange(1, 50), default=8, show_default=True,
              help="Tries per request before the run fails (429, 5xx, timeouts and broken bodies are retried).")
@click.option("--group-by", "group_by", multiple=True, metavar="ENDPOINT=DIM,DIM",
              help="Group an endpoint by fewer dimensions than all it allows, e.g. completions=project_id,model.")
@click.option("--destination", default="duckdb", show_default=True, envvar="OPENAI_USAGE_DESTINATION",
              help="Where to load: duckdb (the --db file) or a dlt destination, e.g. a named one configured as "
                   "[destination.NAME] in .dlt/config.toml with credentials in .dlt/secrets.toml.")
@click.option("--directory/--no-directory", default=True, show_default=True,
              help="Also refresh projects, users, API keys and service accounts, which give the IDs names.")
@click.option("-v", "--verbose", is_flag=True, help="Show library logs and tracebacks.")
def load(db: Path, start: str | None, end: str | None, bucket_width: str, endpoints: str | None, base_url: str,
         reread: str | None, concurrency: int, timeout: float, max_attempts: int, group_by: tuple[str, ...],
         destination: str, directory: bool, verbose: bool) -> None:
    """Load usage and costs incrementally into DuckDB (or another warehouse, see --destination)."""
    _quiet_libraries(verbose)

    def go() -> None:
        from .pipeline import LoadRequest, lean_memory, run_load
        from .timeparse import parse_reread, parse_time

        lean_memory()

        req = LoadRequest(
            db=db, api_key="", base_url=base_url, endpoints=_endpoints(endpoints), bucket_width=bucket_width,
            start=parse_time(start, "--start") if start else None, end=parse_time(end, "--end") if end else None,
            reread=parse_reread(reread) if reread else None, concurrency=concurrency, timeout=timeout,
            max_attempts=max_attempts, group_by=_group_by(group_by), directory=directory, destination=destination,
            now=int(os.environ["OPENAI_USAGE_NOW"]) if os.environ.get("OPENAI_USAGE_NOW") else None)
        from .pipeline import validate

        validate(req)
        req.api_key = _api_key()
        if not req.api_key:
            from .client import ADMIN_KEY_HELP

            raise ConfigError(f"no admin key: {ADMIN_KEY_HELP} (or put it in .dlt/secrets.toml)")
        with _Progress(err.is_terminal and not verbose) as progress:
            summary = run_load(req, progress)
        print_summary(summary)
        from .views import apply_views

        apply_views(req.warehouse)

    _run(go, verbose)


# ------------------------------------------------------------------------------------------------ report
@main.command()
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_DB, show_default=True,
              envvar="OPENAI_USAGE_DB")
@click.option("--month", help="Month to report (YYYY-MM); default: the newest month with data.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML report with charts to this file instead.")
def report(db: Path, month: str | None, html_file: Path | None) -> None:
    """Spend and usage rollups: in the terminal, or as an HTML file."""
    _quiet_libraries(False)

    def go() -> None:
        from . import report_data

        data = report_data.read(db, report_data.parse_month(month))
        if html_file is not None:
            from . import report_html

            report_html.write(data, html_file)
            err.print(f"wrote {html_file}")
        else:
            from . import report_terminal

            report_terminal.render(data, out)

    _run(go, False)


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_DB, show_default=True,
              envvar="OPENAI_USAGE_DB")
@click.option("--format", "fmt", type=click.Choice(["parquet"]), default="parquet", show_default=True)
def export(out_dir: Path, db: Path, fmt: str) -> None:
    """Write every table and reporting view to OUT_DIR as Parquet."""
    _quiet_libraries(False)

    def go() -> None:
        from .export import export_parquet

        files = export_parquet(db, out_dir)
        err.print(f"wrote {len(files)} Parquet files to {out_dir}")

    _run(go, False)


@main.command()
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_DB, show_default=True,
              envvar="OPENAI_USAGE_DB")
@click.option("--destination", default="duckdb", show_default=True, envvar="OPENAI_USAGE_DESTINATION",
              help="Where the data is: duckdb (the --db file) or a dlt destination, e.g. a named one configured as "
                   "[destination.NAME] in .dlt/config.toml with credentials in .dlt/secrets.toml.")
@click.option("--max-age", help="Exit 1 when the last successful load, or the data, is older than this (e.g. 2h, "
                                "1d); costs are allowed their known arrival lag on top.")
def status(db: Path, destination: str, max_age: str | None) -> None:
    """Freshness per table: newest bucket, how far it was read, rows, and the last successful load."""
    _quiet_libraries(False)

    def go() -> None:
        import datetime as dt

        from . import status as st
        from .timeparse import parse_reread

        limit = parse_reread(max_age, "--max-age") if max_age else None  # validate before touching the warehouse
        from .warehouse import Warehouse

        wh = Warehouse(destination, db)
        s = st.read(wh)
        stamp = lambda v: v.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if v else ""  # noqa: E731
        t = Table(title=f"Warehouse {wh.label}", title_justify="left")
        for col in ("table", "widths", "newest bucket or listing (UTC)", "read up to (UTC)", "rows"):
            t.add_column(col, justify="right" if col == "rows" else "left")
        for row in s.tables:
            t.add_row(row.table, row.widths, stamp(row.newest_bucket) or "never loaded", stamp(row.read_until),
                      f"{row.rows:,}")
        out.print(t)
        now = dt.datetime.now(dt.UTC)
        age = s.age(now)
        out.print(f"last successful load: {s.last_load:%Y-%m-%d %H:%M:%S} UTC ({st._human(age)} ago), "
                  f"{s.loads} loads in all" if s.last_load and age is not None else "no successful load yet")
        if limit is not None:
            # The data is judged against the API's clock, which OPENAI_USAGE_NOW pins (tests, simulators).
            pinned = os.environ.get("OPENAI_USAGE_NOW")
            data_now = dt.datetime.fromtimestamp(int(pinned), dt.UTC) if pinned else now
            reasons = st.staleness(s, limit, now, data_now)
            for reason in reasons:
                out.print(Text("stale: ", style="red") + Text(reason))
            st.raise_if_stale(reasons)

    _run(go, False)


# ------------------------------------------------------------------------------------------------ sandbox
@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True, help="Days of history.")
@click.option("--scale", type=click.FloatRange(0.01, 10000), default=1.0, show_default=True,
              help="Organization size: multiplies the number of usage streams.")
@click.option("--now", "now_text", help="Freeze the clock at this time (default: the wall clock).")
@click.option("--latency-ms", type=click.FloatRange(0, 60000), default=0.0, show_default=True)
@click.option("--jitter-ms", type=click.FloatRange(0, 60000), default=0.0, show_default=True)
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="e.g. 429:every=5, 500:p=0.1,burst=3, costs_quirk (repeatable). Kinds: "
                   + ", ".join(__import__("openai_usage.simulator.faults", fromlist=["KINDS"]).KINDS))
@click.option("--fault-seed", type=int, default=0, show_default=True)
@click.option("--admin-key", "admin_keys", multiple=True, help="Admin keys to accept (default: the sandbox key).")
@click.option("--truth", "truth_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the exact daily totals of every endpoint as JSON to this file and exit.")
def sandbox(port: int, seed: int, days: int, scale: float, now_text: str | None, latency_ms: float,
            jitter_ms: float, faults: tuple[str, ...], fault_seed: int, admin_keys: tuple[str, ...],
            truth_file: Path | None) -> None:
    """Serve a synthetic organization on 127.0.0.1 that behaves like the OpenAI Admin API."""
    _quiet_libraries(False)

    def go() -> None:
        from .simulator import Org, Sandbox
        from .simulator.faults import FaultPlan, FaultSpecError
        from .simulator.server import DEFAULT_ADMIN_KEY
        from .timeparse import parse_time

        try:
            plan = FaultPlan.parse(list(faults), fault_seed)
        except FaultSpecError as e:
            raise ConfigError(str(e)) from None
        now = parse_time(now_text, "--now") if now_text else None
        org = Org(seed=seed, days=days, now=now, scale=scale)
        if truth_file is not None:
            _write_truth(org, truth_file)
            return
        sb = Sandbox(org, faults=plan, latency_ms=latency_ms, jitter_ms=jitter_ms,
                     admin_keys=admin_keys or (DEFAULT_ADMIN_KEY,), port=port)
        click.echo(f"OpenAI Admin API sandbox on http://127.0.0.1:{port}/v1  (seed {seed}, {days} days)", err=True)
        if not admin_keys:
            click.echo(f"admin key: {DEFAULT_ADMIN_KEY}", err=True)
        sb.serve_forever()

    _run(go, False)


def _write_truth(org: Any, path: Path) -> None:
    import json

    from .simulator import truth

    doc: dict[str, Any] = {"seed": org.seed, "now": org.clock.now(), "start": org.start, "endpoints": {}}
    for name in org.catalogue:
        rows = truth.totals(org, name, org.start, None, "1d", ())
        doc["endpoints"][name] = [{"start_time": k[0], **{m: str(v) if not isinstance(v, int) else v
                                                          for m, v in vals.items()}}
                                  for k, vals in sorted(rows.items())]
    path.write_text(json.dumps(doc, indent=1))
    click.echo(f"wrote ground truth for {len(doc['endpoints'])} endpoints to {path}", err=True)


# ------------------------------------------------------------------------------------------------ demo
@main.command()
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=Path("demo/openai_org.duckdb"),
              show_default=True)
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
def demo(db: Path, days: int, seed: int) -> None:
    """The whole product against the built-in simulator: no key needed."""
    _quiet_libraries(False)

    def go() -> None:
        from .pipeline import LoadRequest, run_load
        from .simulator import Org, Sandbox
        from .simulator.server import DEFAULT_ADMIN_KEY
        from .views import apply_views

        db.parent.mkdir(parents=True, exist_ok=True)
        if db.exists():
            db.unlink()
        org = Org(seed=seed, days=days)
        now = org.clock.now()
        with Sandbox(org) as sb:
            err.print(f"simulator serving a synthetic organization on {sb.url}")
            req = LoadRequest(db=db, api_key=DEFAULT_ADMIN_KEY, base_url=sb.url, start=org.start, now=now)
            with _Progress(err.is_terminal) as progress:
                summary = run_load(req, progress)
        print_summary(summary)
        apply_views(db)
        from . import report_data, report_html, report_terminal

        data = report_data.read(db)
        out.print()
        report_terminal.render(data, out)
        html_file = db.parent / "report.html"
        report_html.write(data, html_file)
        out.print(f"\nwarehouse: {db}\nHTML report: {html_file}\n"
                  f"try: .venv/bin/python -c \"import duckdb; print(duckdb.connect('{db}', read_only=True)"
                  f".sql('from reporting.monthly_costs'))\"")

    _run(go, False)


if __name__ == "__main__":
    main()
