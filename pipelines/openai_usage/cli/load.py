"""`openai-usage load`, `views` and `demo`: the commands that write to a warehouse."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import catalogue
from ..errors import ConfigError, OpenAIUsageError, redact
from ..reports.format import money
from .app import db_option, destination_option, err, main, out, run


def _endpoints(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _group_by(values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    groups = {}
    for v in values:
        name, sep, dims = v.partition("=")
        if not sep:
            raise ConfigError(f"--group-by wants ENDPOINT=DIM,DIM, got {v!r}")
        groups[name.strip()] = tuple(d.strip() for d in dims.split(",") if d.strip())
    return groups


def tune_for_loading() -> None:
    """For a process that only loads: give freed memory back, and keep the garbage collector off the hot path.

    Arrow's default jemalloc pool and glibc's per-thread arenas each held on to hundreds of MB during
    large backfills (measured: peak 597 MB -> 347 MB during extract with both changed, no slower).
    Decoding pages makes millions of short-lived, acyclic dicts: at Python's default thresholds every 700 of them
    start a collection that walks the survivors too (about 9% of a 1M-row backfill's CPU in a py-spy profile).
    """
    import ctypes
    import gc

    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX = 2
    gc.freeze()  # what the imports made lives as long as the process: no collection needs to walk it again
    gc.set_threshold(100_000, 50, 100)


class Progress:
    """A live bar per table on a terminal; plain log lines otherwise."""

    def __init__(self, live: bool) -> None:
        self.bars: dict[str, Any] = {}
        self.logged: set[str] = set()
        self.progress: Any = None
        if live:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bars

            self.progress = Bars(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("buckets"), TimeElapsedColumn(), console=err, transient=True)

    def __call__(self, table: str, done: int, expected: int) -> None:
        if self.progress is not None:
            if table not in self.bars:
                self.bars[table] = self.progress.add_task(table, total=expected)
            self.progress.update(self.bars[table], completed=done, total=expected)
        elif done >= expected and table not in self.logged:
            self.logged.add(table)
            click.echo(f"{time.strftime('%H:%M:%S')} {table}: {done} buckets read", err=True)

    def __enter__(self) -> Progress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def print_summary(summary: Any, console: Console = out) -> None:
    t = Table(title="Load summary", title_justify="left")
    several = len(summary.organizations) > 1
    cols = ("organization",) * several + ("table", "rows", "buckets", "empty", "quarantined", "new columns")
    for col in cols:
        t.add_column(col, justify="right" if col in ("rows", "buckets", "empty", "quarantined") else "left",
                     no_wrap=col in ("table", "organization"))
    for s in sorted(summary.tables.values(), key=lambda s: (s.organization, s.shown or s.table)):
        t.add_row(*(s.organization,) * several, s.shown or s.table, f"{s.rows:,}",
                  "listed" if s.listed else f"{s.buckets:,}", f"{s.empty_buckets:,}",
                  f"{s.quarantined:,}", ", ".join(sorted(s.extra_columns)))
    console.print(t)
    console.print(f"{summary.pages:,} pages in {summary.requests:,} requests, {summary.retries:,} retries, "
                  f"{summary.quarantined:,} quarantined results, {summary.seconds:.1f} s"
                  + (" (backfill: incremental positions unchanged)" if summary.backfill else ""))
    console.print(f"restated since the last run: {summary.restated_buckets:,} buckets, "
                  f"{money(summary.restated_amount, signed=True)} billed")
    method = summary.allocation_method
    if method == "billed":
        console.print("cost per API key: billed (Costs answered grouped by api_key_id)")
    elif method == "usage_share":
        refused = "the API refused group_by=api_key_id" if "api_key_id" in summary.refused_group_by else \
            "costs were not grouped by api_key_id"
        console.print(f"cost per API key: usage_share ({refused}; reporting.cost_allocation splits each project's "
                      "line items over its keys by their usage)")
    for note in summary.notes:
        console.print(Text("note: ", style="cyan") + Text(note))
    for warning in summary.warnings:
        console.print(Text("warning: ", style="yellow") + Text(redact(warning)))
    for name, why in sorted(summary.failed.items()):
        console.print(Text("failed: ", style="red") + Text(f"organization {name}: {redact(why)}"))


@main.command()
@db_option
@click.option("--start", help="First day to load (YYYY-MM-DD or ISO time), or per width: 1d=2025-01-01,1h=2026-10-01. "
              "Default: 30 days ago on a new warehouse.")
@click.option("--end", help="Load up to here (exclusive): a backfill of exactly [start, end).")
@click.option("--bucket-width", default="1d", show_default=True, metavar="1d|1h|1m[,...]",
              help="Bucket width, or several at once (e.g. 1d,1h): each width keeps its own position. Costs come "
                   "daily only, read once.")
@click.option("--endpoints", help="Comma-separated endpoints (default: all): " + ", ".join(catalogue.endpoints()))
@click.option("--base-url", default="https://api.openai.com/v1", show_default=True, envvar="OPENAI_USAGE_BASE_URL")
@click.option("--reread", help="Re-read window, e.g. 36h or 3d (default: 1d for usage, 3d for costs).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Most requests in flight at once per organization: its endpoints and directory share it.")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=60.0, show_default=True,
              help="Seconds to wait for one response.")
@click.option("--max-attempts", type=click.IntRange(1, 50), default=8, show_default=True,
              help="Tries per request before the run fails (429, 5xx, timeouts and broken bodies are retried).")
@click.option("--group-by", "group_by", multiple=True, metavar="ENDPOINT=DIM,DIM",
              help="Group an endpoint by fewer dimensions than all it allows, e.g. completions=project_id,model.")
@destination_option
@click.option("--directory/--no-directory", default=True, show_default=True,
              help="Also refresh projects, users, API keys and service accounts, which give the IDs names.")
@click.option("--org", "orgs", multiple=True, metavar="NAME",
              help="Load only this configured organization (repeatable). Default: every one configured as "
                   "[sources.openai_usage.organizations.NAME], and `default` for the single admin key.")
@click.option("-v", "--verbose", is_flag=True, help="Show library logs and tracebacks.")
def load(db: Path, start: str | None, end: str | None, bucket_width: str, endpoints: str | None, base_url: str,
         reread: str | None, concurrency: int, timeout: float, max_attempts: int, group_by: tuple[str, ...],
         destination: str, directory: bool, orgs: tuple[str, ...], verbose: bool) -> None:
    """Load usage and costs incrementally into DuckDB (or another warehouse, see --destination).

    Several organizations load concurrently into the same tables; one that fails does not stop the others: the run
    loads what it can, names the failed organization in one line and exits 1."""

    def go() -> None:
        from ..load.run import LoadRequest, run_load
        from ..transform.views import apply_views

        tune_for_loading()
        req = LoadRequest(db=db, base_url=base_url, endpoints=_endpoints(endpoints), bucket_width=bucket_width,
                          start=start, end=end, reread=reread, concurrency=concurrency, timeout=timeout,
                          max_attempts=max_attempts, group_by=_group_by(group_by), directory=directory,
                          destination=destination, orgs=list(orgs) or None)
        with Progress(err.is_terminal and not verbose) as progress:
            summary = run_load(req, progress)
        print_summary(summary)
        if req.warehouse.lake:  # Delta tables in a bucket: the engine that reads them creates the views
            import dlt

            where = dlt.config.get(f"destination.{destination}.bucket_url") or req.warehouse.label
            err.print(f"Delta tables written to {where}/openai_usage; create the views on your engine with "
                      "`openai-usage views --dialect spark` (or another sqlglot dialect)", soft_wrap=True)
        else:
            apply_views(req.warehouse)
        if summary.failed:
            raise OpenAIUsageError("; ".join(f"organization {name!r} failed: {why}"
                                             for name, why in sorted(summary.failed.items())))

    run(go, verbose)


@main.command()
@db_option
@destination_option
@click.option("--dialect", metavar="DIALECT", help="Print the views as SQL of this sqlglot dialect (spark, trino, "
              "databricks, ...) instead of applying them, e.g. for Delta tables loaded to a filesystem destination.")
def views(db: Path, destination: str, dialect: str | None) -> None:
    """Create or update the SQL views (staging, intermediate, reporting); `load` does this after every run."""

    def go() -> None:
        from ..load.warehouse import Warehouse
        from ..transform.views import apply_views, script

        if dialect:
            for stmt in script(dialect):
                click.echo(stmt + ";")
            return

        wh = Warehouse(destination, db)
        wh.require()
        applied = apply_views(wh)
        err.print(f"applied {len(applied)} view files to {wh.label}" if applied else f"views already current in "
                  f"{wh.label}")

    run(go)


@main.command()
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=Path("demo/openai_org.duckdb"),
              show_default=True)
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
def demo(db: Path, days: int, seed: int) -> None:
    """The whole product against the built-in simulator: no key needed."""

    def go() -> None:
        from ..load.run import LoadRequest, run_load
        from ..reports import data as report_data
        from ..reports import html as report_html
        from ..reports import terminal as report_terminal
        from ..simulator import Org, Sandbox
        from ..simulator.server import DEFAULT_ADMIN_KEY
        from ..transform.views import apply_views

        db.parent.mkdir(parents=True, exist_ok=True)
        if db.exists():
            db.unlink()
        org = Org(seed=seed, days=days)
        with Sandbox(org) as sb:
            err.print(f"simulator serving a synthetic organization on {sb.url}")
            req = LoadRequest(db=db, api_key=DEFAULT_ADMIN_KEY, base_url=sb.url, start=org.start,
                              now=org.clock.now())
            with Progress(err.is_terminal) as progress:
                summary = run_load(req, progress)
        print_summary(summary)
        apply_views(req.warehouse)
        data = report_data.read(db)
        out.print()
        report_terminal.render(data, out)
        html_file = db.parent / "report.html"
        report_html.write(data, html_file)
        out.print(f"\nwarehouse: {db}\nHTML report: {html_file}\n"
                  f"try: .venv/bin/python -c \"import duckdb; print(duckdb.connect('{db}', read_only=True)"
                  f".sql('from reporting.monthly_costs'))\"")

    run(go)

