"""HTTP for the Usage and Costs API: httpx, one request limit per run, retries with tenacity, page cursors.

Usage and cost pages are read here by hand, streamed through `PageSplitter`, because they earn it: a page of hourly
buckets can be over 100 MB of JSON, and streaming keeps memory at one 2 MB group per request in flight instead of
one whole page. The organization directory's small lists use dlt's REST client instead (`directory.py`), sharing
this module's limit, retries and error mapping.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import tenacity

from ..catalogue import Endpoint
from ..errors import (
    AuthError,
    ConfigError,
    OpenAIUsageError,
    PaginationError,
    RequestRejected,
    RunCancelled,
    TransientError,
)
from ..summary import RunStats
from .pages import BrokenPage, PageSplitter

if TYPE_CHECKING:
    from .parse import Buckets  # imported when reading (it imports pyarrow)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHUNK_BYTES = 1 << 20
GROUP_BYTES = 2 << 20  # decode this much JSON at a time: about 5k results, ~10 MB as Python objects
BUFFER_BYTES = 4 << 20  # a page up to this size is read whole, and its request slot freed, before it is decoded
PAGES_PER_SLOT = 4  # pages read and not yet handed on, at most, per request slot
ADMIN_KEY_HELP = ("an organization admin key (sk-admin-...) is needed: create one at "
                  "https://platform.openai.com/settings/organization/admin-keys and set OPENAI_ADMIN_KEY")
RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}


class AdaptiveLimit:
    """Caps requests in flight; halves the cap on 429 and regrows it by one per run of successes.

    Once cancelled (a part of the run failed for good), every wait for a slot ends with `RunCancelled`: a thread
    waiting for a slot that a stalled thread holds would otherwise wait forever."""

    def __init__(self, limit: int) -> None:
        self.max = max(1, limit)
        self.limit = self.max
        self.active = 0
        self.ok_streak = 0
        self.cond = threading.Condition()
        self.cancelled = threading.Event()

    def __enter__(self) -> AdaptiveLimit:
        with self.cond:
            while self.cancelled.is_set() or self.active >= self.limit:
                if self.cancelled.is_set():  # no new request once the run (or its organization) has failed
                    raise RunCancelled("the run stopped after an earlier failure")
                self.cond.wait(0.5)
            self.active += 1
        return self

    def cancel(self) -> None:
        with self.cond:
            self.cancelled.set()
            self.cond.notify_all()

    def __exit__(self, *exc: object) -> None:
        with self.cond:
            self.active -= 1
            self.cond.notify_all()

    def throttled(self) -> None:
        with self.cond:
            self.limit = max(1, self.limit // 2)
            self.ok_streak = 0

    def succeeded(self) -> None:
        with self.cond:
            self.ok_streak += 1
            if self.limit < self.max and self.ok_streak >= 2 * self.limit:
                self.limit += 1
                self.ok_streak = 0
                self.cond.notify_all()


def check_base_url(base_url: str) -> None:
    """A base URL that can never work is bad input: refuse it at once instead of retrying it."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"--base-url: {base_url!r} is not an http(s) URL with a host "
                          f"(the default is {DEFAULT_BASE_URL})")


class UsageClient:
    """One run's connection to the API: its request limit, retry policy, counters, and the usage page reader."""

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, *, timeout: float = 60.0,
                 max_attempts: int = 8, max_backoff: float = 60.0, concurrency: int = 4,
                 stats: RunStats | None = None) -> None:
        if not api_key:
            raise AuthError(f"no admin key: {ADMIN_KEY_HELP}")
        self.base_url = base_url.rstrip("/")
        self.stats = stats or RunStats()
        # One limit for every request of the run, usage, costs and directory alike: the API's rate limits are
        # the organization's, unpublished, and shared by all endpoints, so politeness is counted per run.
        self.limit = AdaptiveLimit(concurrency)
        # Pages read and not yet handed on (see `_read_page`): bounds memory once slots no longer do.
        self.buffers = AdaptiveLimit(PAGES_PER_SLOT * concurrency)
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "openai-usage-pipeline"}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=self.headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=self.base_url.startswith("https://"),  # no TLS context to build for a plain-HTTP simulator
            limits=httpx.Limits(max_connections=max(8, concurrency * 2), max_keepalive_connections=max(8, concurrency)),
        )
        self.retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientError),
            wait=self._wait,
            # A cancelled run (an organization's other part failed) stops retrying at once.
            stop=tenacity.stop_any(tenacity.stop_after_attempt(max_attempts), lambda _: self.cancelled),
            before_sleep=lambda rs: self.stats.add("retries"),
            reraise=True,
        )

    def close(self) -> None:
        self._http.close()

    def cancel(self) -> None:
        """Stop the run's other requests: one part failed for good, so none of the rest will be loaded."""
        self.limit.cancel()
        self.buffers.cancel()

    @property
    def cancelled(self) -> bool:
        return self.limit.cancelled.is_set()

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_backoff) + random.uniform(0, 0.25)
        return min(self.max_backoff, 0.5 * 2 ** (state.attempt_number - 1)) * random.uniform(0.5, 1.0)

    # ---------------------------------------------------------------- one page, streamed
    def _read_page(self, path: str, params: list[tuple[str, Any]], decode: Callable[[list[bytes]], Buckets],
                   meta: dict[str, Any]) -> Iterator[Buckets]:
        """Stream one page: yields its buckets in groups, and fills `meta` with the page's other fields.

        A request slot is held only while the answer arrives. A page of up to BUFFER_BYTES is kept as bytes and its
        slot freed before its buckets are decoded and handed on, so the slot serves the next request while this
        page waits for the caller (the caller may be waiting for dlt to drain its queue). A larger page is handed
        on group by group as it streams, holding its slot, so memory follows the slots. Pages held at once are
        capped by `buffers` (a few per slot), so memory stays bounded either way."""
        held: list[list[bytes]] = []  # groups of bucket bytes read and not yet handed on
        with self.buffers:
            with self.limit:
                self.stats.add("requests")
                with self._mapped_errors(path), self._http.stream("GET", path, params=params) as resp:
                    if resp.status_code != 200:
                        resp.read()
                        self._raise_for(resp, path)
                    splitter = PageSplitter()
                    group: list[bytes] = []
                    size = buffered = 0
                    for chunk in resp.iter_bytes(CHUNK_BYTES):
                        for bucket in splitter.feed(chunk):
                            group.append(bucket)
                            size += len(bucket)
                            buffered += len(bucket)
                            if size >= GROUP_BYTES:
                                held.append(group)
                                group, size = [], 0
                        if buffered > BUFFER_BYTES:  # a large page: streamed on, holding its slot
                            for g in held:
                                yield decode(g)
                            held = []
                    if group:
                        held.append(group)
                    meta.update(splitter.finish())
            self.limit.succeeded()
            with self._mapped_errors(path):
                for g in held:
                    yield decode(g)

    @contextlib.contextmanager
    def _mapped_errors(self, path: str) -> Iterator[None]:
        """What a failed read means for the run: transport problems and broken JSON bodies are worth retrying."""
        try:
            yield
        except (httpx.TransportError, httpx.InvalidURL) as e:
            raise transport_error(e, path) from None
        except (BrokenPage, ValueError) as e:
            if isinstance(e, OpenAIUsageError):
                raise
            raise TransientError(f"{path} answered with a broken JSON body") from None

    def _raise_for(self, resp: httpx.Response, path: str) -> None:
        raise self.error_for(resp.status_code, resp.content, resp.headers.get("retry-after"),
                             resp.reason_phrase, path)

    def error_for(self, status: int, body: bytes, retry_after: str | None, reason: str, path: str) -> Exception:
        """What an answer other than 200 means for the run (a 429 also halves the request limit)."""
        message, param = _error_message(body, reason)
        if status == 429:
            self.limit.throttled()
            return TransientError(f"rate limited on {path}", _retry_after(retry_after))
        if status in RETRY_STATUSES or status >= 500:
            return TransientError(f"{path} answered {status}: {message}", _retry_after(retry_after))
        if status in (401, 403):
            return AuthError(f"the API refused the key ({status}: {message}); {ADMIN_KEY_HELP}")
        return RequestRejected(f"{path} answered {status}: {message}", status, param)

    # ---------------------------------------------------------------- pagination
    def pages(self, ep: Endpoint, params: list[tuple[str, Any]], max_pages: int,
              after_first: Callable[[list[int]], bool] | None = None) -> Iterator[Buckets]:
        """Every bucket of the query, in groups, each bucket exactly once.

        Follows has_more/next_page, resending the query unchanged plus the cursor. A page that fails
        halfway is fetched again and the buckets already handed on are skipped, so a retry can never
        duplicate rows. When the first page says has_more, `after_first` is given the start times of its buckets;
        if it answers True, the caller reads the rest of the query some other way and the cursor is not followed.
        """
        from .parse import arrow_ready, bucket_starts, parse, result_count, take  # pyarrow: only when reading

        exact = any(c.type.startswith("decimal") for c in ep.metrics)
        direct = not exact and arrow_ready(ep)

        def decode(group: list[bytes]) -> Buckets:
            parsed = parse(ep, group) if direct else None
            return parsed if parsed is not None else _decode(group, exact)

        cursor: str | None = None
        seen: set[str] = set()
        emitted: set[Any] = set()
        previous_empty = False
        for _ in range(max_pages + 1):
            page_params = params + ([("page", cursor)] if cursor else [])
            page_results = 0
            meta: dict[str, Any] = {}
            try:
                for attempt in self.retrying:
                    with attempt:
                        meta.clear()
                        for group in self._read_page(ep.path, page_params, decode, meta):
                            starts = bucket_starts(group)
                            fresh = [i for i, start in enumerate(starts) if start not in emitted]
                            if not fresh:
                                continue
                            if len(fresh) < len(starts):
                                group = take(group, fresh)
                            emitted.update(starts[i] for i in fresh)
                            page_results += result_count(group)
                            yield group
            except RequestRejected as e:
                # Costs quirk: has_more with a cursor on empty pages past the data, and that cursor fails.
                if cursor and previous_empty and "page token" in str(e).lower():
                    self.stats.add("quirk_end_of_data")
                    return
                raise
            self.stats.add("pages")
            next_page = meta.get("next_page")
            if not meta.get("has_more") or not next_page:
                return
            if cursor is None and after_first is not None and after_first(
                    sorted(t for t in emitted if isinstance(t, int))):
                return
            if next_page in seen:
                raise PaginationError(f"{ep.path} repeated the page cursor; stopping rather than looping")
            seen.add(next_page)
            cursor = next_page
            previous_empty = page_results == 0
        raise PaginationError(f"{ep.path} kept saying has_more after {max_pages} pages; "
                              "stopping rather than reading forever")


def _decode(group: list[bytes], exact: bool) -> list[dict[str, Any]]:
    raw = b"[" + b",".join(group) + b"]"
    # Money must stay exact: costs are decoded with Decimal for every JSON number that has a fraction.
    return json.loads(raw, parse_float=Decimal) if exact else orjson.loads(raw)


def transport_error(e: Exception, path: str) -> OpenAIUsageError:
    """What an httpx failure means for the run: worth retrying, or never going to work."""
    if isinstance(e, httpx.TimeoutException):
        return failed_transport("timeout", e, path)
    if isinstance(e, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return failed_transport("unusable_url", e, path)
    return failed_transport("connection", e, path)


def failed_transport(kind: str, e: Exception, path: str) -> OpenAIUsageError:
    """The run's error for a request that got no answer, whichever HTTP library sent it (`kind`: timeout,
    unusable_url, connection). An unusable URL can never succeed, so it is bad input and never retried."""
    if kind == "timeout":
        return TransientError(f"timed out reading {path}")
    if kind == "unusable_url":
        return ConfigError(f"--base-url: cannot request {path}: {e}")
    return TransientError(f"connection problem on {path}: {type(e).__name__}")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _error_message(body: bytes, reason: str) -> tuple[str, str | None]:
    """The message of an error answer, and the parameter it names (OpenAI's `error.param`), if any."""
    try:
        err = orjson.loads(body).get("error") or {}
        return str(err.get("message") or reason), (str(err["param"]) if err.get("param") else None)
    except (ValueError, AttributeError):
        return reason or "no message", None


def request_params(ep: Endpoint, start: int, end: int | None, width: str,
                   group_by: tuple[str, ...]) -> list[tuple[str, Any]]:
    """The query for one window: the largest page the API allows, grouped by every chosen dimension."""
    params: list[tuple[str, Any]] = [("start_time", start)]
    if end is not None:
        params.append(("end_time", end))
    params += [("bucket_width", width), ("limit", ep.max_limit(width))]
    params += [("group_by", g) for g in group_by]
    return params
