"""The `openai-usage` command group and what every command shares: one clear error line, quiet libraries."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from ..errors import OpenAIUsageError, redact, root_cause

DEFAULT_DB = "usage.duckdb"
err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 132)  # logs and CI get readable tables, not 80 columns

db_option = click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_DB,
                         show_default=True, envvar="OPENAI_USAGE_DB", help="The DuckDB file.")
destination_option = click.option(
    "--destination", default="duckdb", show_default=True, envvar="OPENAI_USAGE_DESTINATION",
    help="Where the data is: duckdb (the --db file) or a dlt destination, e.g. a named one configured as "
         "[destination.NAME] in .dlt/config.toml with credentials in .dlt/secrets.toml.")


def run(fn: Callable[[], Any], verbose: bool = False) -> None:
    """Run a command's body: any failure is one line on stderr and an exit code (2 bad input, 1 failed run)."""
    quiet_libraries(verbose)
    try:
        fn()
    except (click.exceptions.Exit, click.ClickException):
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # one clear line, never a traceback unless asked
        cause = root_cause(e)
        if verbose:
            sys.stderr.write(redact("".join(traceback.format_exception(e))))
        msg = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        if not isinstance(cause, OpenAIUsageError):
            msg = f"{type(cause).__name__}: {msg}"
        click.echo(f"error: {redact(msg)}", err=True)
        sys.exit(cause.exit_code if isinstance(cause, OpenAIUsageError) else 1)


def quiet_libraries(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.ERROR
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "INFO" if verbose else "ERROR")
    for name in ("dlt", "uvicorn", "uvicorn.error", "httpx"):
        logging.getLogger(name).setLevel(level)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Load OpenAI organization usage and costs into DuckDB (or another warehouse) and report on them."""
