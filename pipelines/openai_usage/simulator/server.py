"""The simulator's HTTP server: a real ASGI app (Starlette) served by uvicorn on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import random
import socket
import threading
import time
import zlib
from collections import Counter, OrderedDict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anyio
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import catalogue
from ..catalogue import DirectoryList, Endpoint
from ..timeutil import WIDTH_SECONDS
from .faults import FaultPlan
from .org import Org

HOST = "127.0.0.1"  # never another address: the simulator is for this machine only
DEFAULT_ADMIN_KEY = "sk-admin-sandbox-0000000000000000"


def tenant_key(name: str) -> str:
    """The sandbox's admin key for a named organization it serves besides its own."""
    return f"sk-admin-sandbox-{name}"


def tenant_seed(seed: int, name: str) -> int:
    """A named organization's own seed: its data differs from the default organization's and from each other's."""
    return seed + zlib.crc32(name.encode()) % 100_000 + 1
UVICORN = {"interface": "asgi3", "http": "httptools", "loop": "uvloop", "log_level": "warning"}
BAD_CURSOR = "The page token is invalid, have you modified the query parameters?"


class ErrorAnswer(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type_

    def response(self, headers: dict[str, str] | None = None) -> Response:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return Response(orjson.dumps(body), self.status, headers=headers, media_type="application/json")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return orjson.Fragment(format(obj, "f"))  # money leaves as the exact decimal it is
    raise TypeError


def align_down(t: int, width: int) -> int:
    return t - t % width


def bucket_edges(start: int, stop: int, width: int) -> list[tuple[int, int]]:
    """First bucket starts at `start`; the rest are aligned to UTC; the last ends at `stop`."""
    edges = []
    a = start
    while a < stop:
        b = min(align_down(a, width) + width, stop)
        edges.append((a, b))
        a = b
    return edges


class Query:
    """A validated request to one endpoint, with the canonical form its cursors are bound to."""

    def __init__(self, ep: Endpoint, items: list[tuple[str, str]], refused: set[str] = frozenset()) -> None:
        self.ep = ep
        multi: dict[str, list[str]] = {}
        for k, v in items:
            multi.setdefault(k.removesuffix("[]"), []).extend(x for x in v.split(",") if x != "")
        self.page = (multi.pop("page", [None]) or [None])[-1]
        self.page_number = 1
        self.bound = hashlib.sha256(orjson.dumps(sorted((k, sorted(v)) for k, v in multi.items()))).hexdigest()[:16]
        self.start = self._int(multi, "start_time", required=True)
        self.end = self._int(multi, "end_time")
        if self.end is not None and self.end <= self.start:
            raise ErrorAnswer(400, "end_time must be after start_time.", "end_time")
        self.width = (multi.get("bucket_width") or ["1d"])[-1]
        if self.width not in ep.widths:
            raise ErrorAnswer(400, f"Invalid bucket_width '{self.width}'. Expected one of: {', '.join(ep.widths)}.",
                           "bucket_width")
        lim = ep.limits[self.width]
        self.limit = self._int(multi, "limit") or lim["default"]
        if not 1 <= self.limit <= lim["max"]:
            raise ErrorAnswer(400, f"Invalid limit {self.limit}: must be between 1 and {lim['max']} "
                                f"for bucket_width {self.width}.", "limit")
        self.group_by = tuple(multi.get("group_by", []))
        allowed = [d for d in ep.group_by if d not in refused]
        for g in self.group_by:
            if g not in allowed:
                raise ErrorAnswer(400, f"Invalid group_by value '{g}'. Expected one of: {', '.join(allowed)}.",
                               "group_by")
        self.filters: dict[str, set[Any]] = {}
        for param, dim in ep.filters.items():
            if dim in refused and param in multi:
                raise ErrorAnswer(400, f"Unrecognized request argument supplied: {param}", param)
            if param in multi:
                vals: list[Any] = multi[param]
                if dim == "batch":
                    vals = [v.lower() == "true" for v in vals]
                self.filters[dim] = set(vals)
        unknown = set(multi) - {"start_time", "end_time", "bucket_width", "limit", "group_by", *ep.filters}
        if unknown:
            raise ErrorAnswer(400, f"Unrecognized request argument supplied: {sorted(unknown)[0]}", sorted(unknown)[0])

    @staticmethod
    def _int(multi: dict[str, list[str]], key: str, required: bool = False) -> int | None:
        vals = multi.get(key)
        if not vals:
            if required:
                raise ErrorAnswer(400, f"Missing required parameter: '{key}'.", key)
            return None
        try:
            return int(vals[-1])
        except ValueError:
            raise ErrorAnswer(400, f"Invalid value for '{key}': expected an integer.", key) from None

    def cursor(self, index: int, flag: str = "") -> str:
        """The next page's cursor: bound to this query, it carries the next bucket and the next page number."""
        raw = orjson.dumps({"q": self.bound, "i": index, "f": flag, "n": self.page_number + 1})
        return "page_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def read_cursor(self) -> tuple[int, str, int]:
        """(first bucket index, flag, page number) of the page asked for; page 1 has no cursor."""
        if self.page is None:
            return 0, "", 1
        try:
            body = self.page.removeprefix("page_")
            raw = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            if raw["q"] != self.bound or raw["f"] == "poison":
                raise ValueError
            return int(raw["i"]), str(raw["f"]), int(raw.get("n", 2))
        except (ValueError, KeyError, TypeError):
            raise ErrorAnswer(400, BAD_CURSOR, "page") from None


class Sandbox:
    """The simulator: an Org behind a real HTTP server, with faults, latency and counters."""

    def __init__(self, org: Org | None = None, *, faults: FaultPlan | None = None, latency_ms: float = 0.0,
                 jitter_ms: float = 0.0, admin_keys: tuple[str, ...] = (DEFAULT_ADMIN_KEY,),
                 slow_seconds: float = 5.0, retry_after: str = "1", port: int = 0, cache_buckets: int = 20000,
                 page_buckets: int | None = None, refuse_lists: dict[str, int] | None = None,
                 tenants: dict[str, Org] | None = None) -> None:
        self.org = org or Org()
        # Several organizations at once: each admin key in `tenants` reads its own organization's data; the keys in
        # `admin_keys` read `org`'s.
        self.tenants = {**{k: self.org for k in admin_keys}, **(tenants or {})}
        # directory lists answered with this status instead (e.g. spend limits: 403 for a key without the scope,
        # 404 where the API has no such endpoint)
        self.refuse_lists = dict(refuse_lists or {})
        self.faults = faults or FaultPlan()
        self.latency_ms, self.jitter_ms = latency_ms, jitter_ms
        self.slow_seconds, self.retry_after = slow_seconds, retry_after
        self.port = port
        self.page_buckets = page_buckets  # like the real API, answer with fewer buckets than `limit` asked for
        self.stats: Counter = Counter()
        self.in_flight = 0
        self.served_on_page: dict[tuple[str, str, int], int] = {}  # (endpoint, width, bucket start) -> page number
        # time-weighted requests in flight: the area under the in-flight curve from the first request on
        self._area, self._first, self._changed = 0.0, None, None
        self._rng = random.Random(self.org.seed)
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._cache_size = cache_buckets
        self._cache_lock = threading.Lock()
        self._final_after = max(e.restate_seconds for e in self.org.catalogue.values()) + 60
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        routes = [Route(ep.path, self._endpoint, methods=["GET"]) for ep in self.org.catalogue.values()]
        routes += [Route(d.path, self._directory_endpoint(d), methods=["GET"])
                   for d in catalogue.directory_lists().values()]
        routes += [Route("/_sim/stats", self._stats), Route("/_sim/clock", self._clock, methods=["GET", "POST"])]
        self.app = Starlette(routes=routes)

    # ---------------------------------------------------------------- serving
    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> Sandbox:
        """Serve in a background thread on a free loopback port (or the one given)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._asgi, **UVICORN, access_log=False, lifespan="off",
                                timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the simulator failed to start")
            threading.Event().wait(0.01)
        return self

    def serve_forever(self) -> None:
        """Serve in the foreground (the `sandbox` command) until interrupted."""
        uvicorn.run(self._asgi, **UVICORN, host=HOST, port=self.port, access_log=False, lifespan="off")

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True
            if self._thread:
                self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _asgi(self, scope: dict, receive: Any, send: Any) -> None:
        # /v1 prefix as on the real API; the Starlette routes are written without it.
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            scope = {**scope, "path": scope["path"][3:]}
        await self.app(scope, receive, send)

    # ---------------------------------------------------------------- control endpoints
    async def _stats(self, request: Request) -> Response:
        return Response(orjson.dumps({"stats": self.stats, "faults": self.faults.counts,
                                      "mean_in_flight": self.mean_in_flight}),
                        media_type="application/json")

    async def _clock(self, request: Request) -> Response:
        if request.method == "POST":
            for org in {id(o): o for o in self.tenants.values()}.values():
                org.clock.set(int(request.query_params["now"]))
        return Response(orjson.dumps({"now": self.org.clock.now()}), media_type="application/json")

    # ---------------------------------------------------------------- the API
    def _auth(self, request: Request) -> Org:
        """The organization the request's admin key belongs to, or the API's answer to a key it refuses."""
        header = request.headers.get("authorization", "")
        key = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if key in self.tenants:
            return self.tenants[key]
        if key.startswith("sk-proj-") or key.startswith("sk-svcacct-"):
            raise ErrorAnswer(403, "You have insufficient permissions for this operation. Missing scopes: "
                                "api.usage.read. Check that you have the correct role in your organization "
                                "(Owner), and if you're using a restricted API key, that it has the necessary "
                                "scopes.")
        if not key:
            raise ErrorAnswer(401, "You didn't provide an API key. You need to provide your API key in an "
                                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        shown = key[:3] + "*" * 4 + key[-2:] if len(key) > 8 else "****"
        raise ErrorAnswer(401, f"Incorrect API key provided: {shown}. You can find your API key at "
                            "https://platform.openai.com/account/api-keys.", code="invalid_api_key")

    async def _endpoint(self, request: Request) -> Response:
        self.stats["requests"] += 1
        with self._in_flight():
            ep = catalogue.by_path()[request.url.path]
            await self._latency()
            try:
                org = self._auth(request)
                query = Query(ep, list(request.query_params.multi_items()), org.refused_group_by(ep))
                index, flag, query.page_number = query.read_cursor()
            except ErrorAnswer as e:
                return e.response()
            hits = self.faults.draw(ep.name, page=query.page_number, window=query.start)
            if "429" in hits or "429_no_retry_after" in hits:
                headers = {"retry-after": self.retry_after} if "429" in hits else None
                return ErrorAnswer(429, "Rate limit reached for requests. Please try again later.",
                                code="rate_limit_exceeded", type_="requests").response(headers)
            for status in ("500", "502", "503"):
                if status in hits:
                    return ErrorAnswer(int(status), "The server had an error while processing your request. Sorry "
                                                 "about that!", type_="server_error").response()
            if "slow" in hits:
                await asyncio.sleep(self.slow_seconds)
            body = await anyio.to_thread.run_sync(self._page, org, query, index, flag, hits)
            self.stats["pages"] += 1
            if "drop" in hits:
                return _DroppedResponse(body)
            if "truncate" in hits:
                body = body[: max(1, len(body) // 2)]
            elif "malformed" in hits:
                body = body[: max(1, len(body) // 3)] + b"<html><body>upstream connect error</body></html>"
            return Response(body, media_type="application/json")

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        """Count requests being answered at once; `stats["peak_in_flight"]` is the most there ever were, and
        `mean_in_flight` their time-weighted mean. (Handlers run on one event loop, so plain counters are safe.)"""
        self._tick()
        self.in_flight += 1
        self.stats["peak_in_flight"] = max(self.stats["peak_in_flight"], self.in_flight)
        try:
            yield
        finally:
            self._tick()
            self.in_flight -= 1

    def _tick(self) -> None:
        t = time.monotonic()
        if self._first is None:
            self._first = t
        elif self._changed is not None:
            self._area += self.in_flight * (t - self._changed)
        self._changed = t

    @property
    def mean_in_flight(self) -> float:
        """Requests in flight on average, weighted by time, from the first request's arrival to the last answer's
        end (since the server started or `reset_in_flight`)."""
        if self._first is None or self._changed is None or self._changed <= self._first:
            return 0.0
        return self._area / (self._changed - self._first)

    def reset_in_flight(self) -> None:
        """Measure the time-weighted mean afresh (and the peak) from the next request on."""
        self._area, self._first, self._changed = 0.0, None, None
        self.stats["peak_in_flight"] = self.in_flight

    async def _latency(self) -> None:
        if self.latency_ms or self.jitter_ms:
            delay = self.latency_ms + self._rng.uniform(-self.jitter_ms, self.jitter_ms)
            await asyncio.sleep(max(0.0, delay) / 1000)

    def _directory_endpoint(self, dl: DirectoryList) -> Any:
        async def handler(request: Request) -> Response:
            self.stats["requests"] += 1
            self.stats[f"directory:{dl.name}"] += 1
            with self._in_flight():
                await self._latency()
                try:
                    org = self._auth(request)
                    if dl.name in self.refuse_lists:
                        status = self.refuse_lists[dl.name]
                        raise ErrorAnswer(status, "Not found." if status == 404 else "You have insufficient "
                                          "permissions for this operation.", type_="invalid_request_error")
                    hits = self.faults.draw(dl.name, targeted_only=True,
                                            page=1 if "after" not in request.query_params else None)
                    if "429" in hits:
                        raise ErrorAnswer(429, "Rate limit reached for requests. Please try again later.",
                                       code="rate_limit_exceeded", type_="requests")
                    if hits & {"500", "502", "503"}:
                        raise ErrorAnswer(500, "The server had an error while processing your request.",
                                       type_="server_error")
                    body = self._directory_page(org, dl, request, hits)
                except ErrorAnswer as e:
                    return e.response({"retry-after": self.retry_after} if e.status == 429 else None)
                return Response(body, media_type="application/json")

        return handler

    def _directory_page(self, org: Org, dl: DirectoryList, request: Request, hits: set[str]) -> bytes:
        """One page of a directory list: `limit` items after the id in `after`.

        Faults: `legacy_result` answers in the older documented form (no first_id/last_id, API-key owners
        flattened); `extra_fields` adds fields the contract does not know, a full secret key among them.
        """
        params = request.query_params
        items = org.directory(dl.name, request.path_params.get("project_id"))
        if items is None:
            raise ErrorAnswer(404, f"No such project: {request.path_params.get('project_id')}", type_="not_found")
        if isinstance(items, dict):  # a single object (a spend limit), not a list
            return orjson.dumps(items)
        if dl.name == "projects" and params.get("include_archived", "false").lower() != "true":
            items = [p for p in items if p["status"] != "archived"]
        if dl.name == "users" and params.getlist("emails[]") + params.getlist("emails"):
            wanted = set(params.getlist("emails[]") + params.getlist("emails"))
            items = [u for u in items if u["email"] in wanted]
        try:
            limit = int(params.get("limit", dl.default_limit))
        except ValueError:
            raise ErrorAnswer(400, "limit must be an integer.", "limit") from None
        if not 1 <= limit <= dl.max_limit:
            raise ErrorAnswer(400, f"limit must be between 1 and {dl.max_limit}.", "limit")
        start = 0
        if after := params.get("after"):
            ids = [i["id"] for i in items]
            if after not in ids:
                raise ErrorAnswer(400, f"Invalid 'after': no item with id {after}.", "after")
            start = ids.index(after) + 1
        page = items[start: start + limit]
        if "extra_fields" in hits:
            page = [{**i, "value": f"sk-proj-SECRET{hashlib.sha256(i['id'].encode()).hexdigest()[:24]}",
                     "new_field": 1} for i in page]
        if "legacy_result" in hits:
            for item in page:
                if "owner" in item:
                    kind = item["owner"]["type"]
                    item["owner"] = {"type": kind, **item["owner"][kind]}
            return orjson.dumps({"object": "list", "data": page, "has_more": start + limit < len(items)})
        return orjson.dumps({"object": "list", "data": page,
                             "first_id": page[0]["id"] if page else None,
                             "last_id": page[-1]["id"] if page else None,
                             "has_more": start + limit < len(items)})

    def _page(self, org: Org, q: Query, index: int, flag: str, hits: set[str]) -> bytes:
        now = org.clock.now()
        width = WIDTH_SECONDS[q.width]
        stop = q.end if q.end is not None else now
        edges = bucket_edges(q.start, stop, width)
        quirk = "costs_quirk" in hits and q.ep.kind == "costs"
        if flag == "overflow":
            # Past the end of the data: empty buckets, has_more anyway, then a cursor that fails.
            tail = -(-stop // width) * width + index * width
            empty = [{"object": "bucket", "start_time": a, "end_time": a + width, "results": []}
                     for a in range(tail, tail + q.limit * width, width)]
            return orjson.dumps({"object": "page", "data": empty, "has_more": True,
                                 "next_page": q.cursor(0, "poison")})
        size = min(q.limit, self.page_buckets or q.limit,
                   self.faults.size("short", hits) if "short" in hits else q.limit)
        chunk = edges[index: index + size]
        for a, _ in chunk:  # where each bucket was served: the page of its query (1: the request without a cursor)
            self.served_on_page[(q.ep.name, q.width, a)] = q.page_number
        parts = [self._bucket(org, q, a, b, now) for a, b in chunk]
        self.stats["buckets"] += len(parts)
        more = index + size < len(edges)
        next_page = q.cursor(index + size) if more else None
        if not more and quirk:
            more, next_page = True, q.cursor(0, "overflow")
        if "bad_cursor" in hits and next_page:
            next_page = q.cursor(index + size, "poison")
        if hits & {"legacy_result", "extra_fields", "unknown_object"}:
            buckets = [_mutate(orjson.loads(p), hits, q.ep) for p in parts]
            parts = [orjson.dumps(b, default=_json_default) for b in buckets]
        head = b'{"object":"page","data":['
        tail = b'],"has_more":' + (b"true" if more else b"false") + b',"next_page":' + orjson.dumps(next_page) + b"}"
        return head + b",".join(parts) + tail

    def _bucket(self, org: Org, q: Query, a: int, b: int, now: int) -> bytes:
        final = b <= now - self._final_after
        filters = tuple(sorted((k, tuple(sorted(map(str, v)))) for k, v in q.filters.items()))
        key = (id(org), org.revision, q.ep.name, a, b, tuple(sorted(q.group_by)), filters)
        if final:
            with self._cache_lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
        results = org.results(q.ep.name, a, b, q.group_by, q.filters, now)
        self.stats["results"] += len(results)
        body = orjson.dumps({"object": "bucket", "start_time": a, "end_time": b, "results": results},
                            default=_json_default)
        if final:
            with self._cache_lock:
                self._cache[key] = body
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return body


def _mutate(bucket: dict[str, Any], hits: set[str], ep: Endpoint) -> dict[str, Any]:
    if "unknown_object" in hits and bucket["results"]:
        bucket["results"].append({"object": "organization.usage.future_meter.result", "widgets": 3,
                                  "project_id": None})
    if "extra_fields" in hits:
        bucket["start_time_iso"] = _iso(bucket["start_time"])
        for r in bucket["results"]:
            r["organization_id"] = "org-sandbox"
            r["organization_name"] = "Sandbox Org"
    if "legacy_result" in hits:
        bucket["result"] = bucket.pop("results")
    for r in bucket.get("results") or bucket.get("result") or []:
        amount = r.get("amount")
        if isinstance(amount, dict) and isinstance(amount.get("value"), float):
            amount["value"] = Decimal(repr(amount["value"]))
    return bucket


def _iso(ts: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


class _HideSimulatedDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _SimulatedDrop)


class _SimulatedDrop(ConnectionAbortedError):
    pass


logging.getLogger("uvicorn.error").addFilter(_HideSimulatedDrops())


class _DroppedResponse(Response):
    """Promise a body, send part of it, and let the server close the connection."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body[: len(body) // 2], media_type="application/json")
        self.promised = len(body) + 100

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        headers.append((b"content-length", str(self.promised).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        raise _SimulatedDrop("simulated dropped connection")
