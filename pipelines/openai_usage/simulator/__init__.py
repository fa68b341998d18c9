"""A faithful local stand-in for the OpenAI Admin Usage and Costs API."""

from .org import Clock, Org
from .server import Sandbox

__all__ = ["Clock", "Org", "Sandbox"]
