"""Load OpenAI organization Usage and Costs into a warehouse with dlt."""

import os

# dlt phones home unless told not to; this project never sends telemetry.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

__version__ = "0.1.0"
