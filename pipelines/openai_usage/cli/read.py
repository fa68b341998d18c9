"""`openai-usage report`, `export` and `status`: the commands that only read a warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from .app import db_option, destination_option, err, main, out, run

# Read paths take the organizations the warehouse holds, not those configured for loading: a report needs no keys.
org_option = click.option(
    "--org", "orgs", multiple=True, metavar="NAME",
    help="Only this organization, as the warehouse names it (repeatable). Default: every organization it holds.")


@main.command()
@db_option
@destination_option
@click.option("--month", help="Month to report (YYYY-MM); default: the newest month with data.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML report with charts to this file instead.")
@org_option
def report(db: Path, destination: str, month: str | None, html_file: Path | None, orgs: tuple[str, ...]) -> None:
    """Spend and usage rollups: in the terminal, or as an HTML file. With several organizations: their total, and
    each one's share."""

    def go() -> None:
        from ..load.warehouse import Warehouse
        from ..reports import data

        rows = data.read(Warehouse(destination, db), data.parse_month(month), orgs)
        if html_file is not None:
            from ..reports import html

            html.write(rows, html_file)
            err.print(f"wrote {html_file}")
        else:
            from ..reports import terminal

            terminal.render(rows, out)

    run(go)


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@db_option
@destination_option
@click.option("--format", "fmt", type=click.Choice(["parquet", "focus"]), default="parquet", show_default=True,
              help="parquet: every table and reporting view; focus: billed cost as FinOps FOCUS 1.3, "
                   "focus.parquet and focus.csv.")
@org_option
def export(out_dir: Path, db: Path, destination: str, fmt: str, orgs: tuple[str, ...]) -> None:
    """Write every table and reporting view to OUT_DIR as Parquet (or, with --format focus, the FOCUS dataset)."""

    def go() -> None:
        from ..load.warehouse import Warehouse
        from ..reports.export import export_focus, export_parquet

        if fmt == "focus":
            files = export_focus(Warehouse(destination, db), out_dir, orgs)
            err.print(f"wrote {', '.join(f.name for f in files) or 'nothing (no costs loaded)'} to {out_dir}")
            return
        files = export_parquet(Warehouse(destination, db), out_dir, orgs)
        err.print(f"wrote {len(files)} Parquet files to {out_dir}")

    run(go)


@main.command()
@db_option
@destination_option
@click.option("--max-age", help="Exit 1 when the last successful load, or the data, is older than this (e.g. 2h, "
                                "1d); costs are allowed their known arrival lag on top.")
@org_option
def status(db: Path, destination: str, max_age: str | None, orgs: tuple[str, ...]) -> None:
    """Freshness per organization and table: newest bucket, how far it was read, rows, and the last successful
    load."""

    def go() -> None:
        from ..load.warehouse import Warehouse
        from ..reports import status as st
        from ..timeutil import human, now, parse_duration, to_datetime

        limit = parse_duration(max_age, "--max-age") if max_age else None  # validate before touching the warehouse
        wh = Warehouse(destination, db)
        s = st.read(wh, orgs)
        stamp = lambda v: v.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if v else ""  # noqa: E731
        several = len(s.organizations) > 1
        shown = "" if s.organizations == ["default"] else \
            f", organization{'s' if several else ''} {', '.join(s.organizations)}"
        t = Table(title=f"Warehouse {wh.label}{shown}", title_justify="left")
        for col in ("organization",) * several + ("table", "widths", "newest bucket or listing (UTC)",
                                                   "read up to (UTC)", "rows"):
            t.add_column(col, justify="right" if col == "rows" else "left")
        prev = None
        for row in s.tables:
            if several and prev is not None and row.organization != prev:
                t.add_section()  # one block per organization
            prev = row.organization
            t.add_row(*(row.organization,) * several, row.table, row.widths,
                      stamp(row.newest_bucket) or "never loaded", stamp(row.read_until), f"{row.rows:,}")
        out.print(t)
        wall = dt.datetime.now(dt.UTC)
        age = s.age(wall)
        out.print(f"last successful load: {s.last_load:%Y-%m-%d %H:%M:%S} UTC ({human(age)} ago), "
                  f"{s.loads} loads in all" if s.last_load and age is not None else "no successful load yet")
        if limit is not None:
            # The data is judged against the API's clock, which OPENAI_USAGE_NOW pins (tests, simulators).
            reasons = st.staleness(s, limit, wall, to_datetime(now()))
            for reason in reasons:
                out.print(Text("stale: ", style="red") + Text(reason))
            st.raise_if_stale(reasons)

    run(go)
