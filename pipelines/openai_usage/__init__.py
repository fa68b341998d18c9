"""Load OpenAI organization Usage and Costs into a warehouse with dlt.

    from openai_usage import openai_usage_source   # a @dlt.source for your own dlt.pipeline(...)
"""

from __future__ import annotations

import os
from typing import Any

# dlt phones home unless told not to; this project never sends telemetry.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

__version__ = "0.1.0"
__all__ = ["__version__", "openai_usage_source"]


def __getattr__(name: str) -> Any:
    # Imported on first use: dlt costs most of a second to import, and commands such as `sandbox` never need it.
    if name == "openai_usage_source":
        from .source import openai_usage_source

        return openai_usage_source
    raise AttributeError(name)
