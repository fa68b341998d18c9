"""The command line: thin commands that parse, call the package, and print."""

from . import load, read, sandbox  # noqa: F401  (each registers its commands on `main`)
from .app import main

__all__ = ["main"]
