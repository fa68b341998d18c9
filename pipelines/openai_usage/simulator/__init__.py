"""A faithful local stand-in for the OpenAI Admin Usage and Costs API."""

from __future__ import annotations

from typing import Any

__all__ = ["Clock", "Org", "Sandbox"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the server pulls in starlette and uvicorn, which `openai-usage --help` never needs.
    if name in ("Clock", "Org"):
        from . import org

        return getattr(org, name)
    if name == "Sandbox":
        from .server import Sandbox

        return Sandbox
    raise AttributeError(name)
