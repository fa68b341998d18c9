"""Errors the user sees as one clear line. Exit code 2: the input is wrong; 1: the run failed."""

from __future__ import annotations

import re

# What must never reach a terminal or a log, even inside a library's message: the password of a connection URL
# (well formed or not), password/token query parameters, and anything shaped like an OpenAI key.
_SECRETS = (
    (re.compile(r"([A-Za-z0-9_.+-]+):([^@\s/'\"]+)@"), r"\1:***@"),
    (re.compile(r"((?:password|passwd|pwd|token|motherduck_token|secret)=)[^&\s'\"]+", re.I), r"\1***"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), "sk-***"),
)


def redact(text: str) -> str:
    for pattern, repl in _SECRETS:
        text = pattern.sub(repl, text)
    return text


class OpenAIUsageError(Exception):
    """The base of every error this tool reports as one line; exit code 1 unless a subclass says otherwise."""

    exit_code = 1


def root_cause(exc: BaseException) -> BaseException:
    """dlt wraps what a resource raised (several layers deep); the user wants the cause."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OpenAIUsageError):
            return exc
        inner = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


class ConfigError(OpenAIUsageError):
    """Bad arguments or configuration: nothing was sent anywhere."""

    exit_code = 2


class AuthError(OpenAIUsageError):
    """401/403: the key is missing, wrong, or not an admin key."""


class RequestRejected(OpenAIUsageError):
    """The API refused a request that retrying cannot fix (a 4xx other than 401/403/408/409/429)."""

    def __init__(self, message: str, status: int | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.param = status, param  # the answer's status and the parameter its error names


class PaginationError(OpenAIUsageError):
    """The API's cursors misbehaved (repeating cursor, runaway page count)."""


class RunCancelled(OpenAIUsageError):
    """Another part of the run failed; this one stopped rather than wait for it."""


class TransientError(OpenAIUsageError):
    """A failure worth retrying: 429, 5xx, 408, timeouts, dropped connections, broken bodies."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoadAlreadyRunning(OpenAIUsageError):
    """Another load holds this warehouse's lock."""


class StaleData(OpenAIUsageError):
    """The warehouse is older than the caller accepts (`status --max-age`)."""
