"""One endpoint's range read as page-sized windows, several at once, handed on as typed Arrow tables."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from ..catalogue import DEFAULT_ORGANIZATION, Endpoint
from ..errors import RequestRejected, RunCancelled
from ..timeutil import WIDTH_SECONDS, windows
from .flatten import Flattened, flatten
from .http import UsageClient, request_params

Progress = Callable[[str, int, int], None]  # (table, buckets done now, buckets expected)


class Grouping:
    """The dimensions one endpoint is grouped by in a run, less those the API refused.

    Some dimensions the spec lists, the live API refuses (costs by api_key_id: 400 in 2026-07). They are asked for;
    a 400 that names one drops it for every window of the run, and the window is asked again without it."""

    def __init__(self, ep: Endpoint, dims: tuple[str, ...]) -> None:
        self.ep, self.asked = ep, tuple(dims)
        self.refused: set[str] = set()
        self._lock = threading.Lock()

    @property
    def dims(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(d for d in self.asked if d not in self.refused)

    def refuse(self, e: RequestRejected, sent: tuple[str, ...]) -> bool:
        """Whether `e` refused a refusable dimension of those `sent` (then it is dropped from now on)."""
        optional = [d for d in sent if d in self.ep.refusable]
        if e.status != 400 or not optional:
            return False
        named = [d for d in optional if d in str(e)]
        if not named and (e.param or "").startswith("group_by"):
            named = optional
        with self._lock:
            self.refused.update(named)
        return bool(named)


def fetch_tables(client: UsageClient, ep: Endpoint, width: str, lo: int, hi: int, *, open_end: bool,
                 grouping: Grouping, concurrency: int = 4, progress: Progress | None = None,
                 organization: str = DEFAULT_ORGANIZATION, label: str | None = None) -> Iterator[Flattened | None]:
    """Fetch [lo, hi) as page-sized windows, several at once, and hand on typed tables as pages stream in.

    With `open_end` the last window is sent without end_time, so the API itself decides where "now" is.
    Windows run in threads; a bounded queue between them and the caller keeps memory flat however long
    the range is. While nothing is ready this yields None instead of blocking: dlt runs several resources
    on a few shared threads, and a resource that sat waiting on its queue could starve the very resource
    whose window threads hold the request slots it waits for.

    Short pages do not serialise a window: when its first page says has_more with fewer buckets than the window
    holds (the costs endpoint answers 7 at a time whatever `limit` asks), the rest of the window is cut into new
    windows of the length the API just gave, each a fresh query on bucket boundaries, and they run beside the
    others. A window cut that way that still pages is followed by cursor.
    """
    limit = ep.max_limit(width)
    step = WIDTH_SECONDS[width]
    wins = windows(lo, hi, width, limit)
    expected = (hi - lo) // step
    out: queue.Queue[Flattened | BaseException | None] = queue.Queue(maxsize=max(2, concurrency))
    stop = threading.Event()
    lock = threading.Lock()
    started = [len(wins)]  # windows handed to the pool: the first ones, and those cut from short pages

    def put(item: Flattened | BaseException | None) -> None:
        while not stop.is_set() and not client.cancelled:
            try:
                out.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def split(a: int, b: int, first: list[int]) -> bool:
        """After a short first page of [a, b) that says has_more: read the rest as windows of its length."""
        if not first or first[0] != a:
            return False  # not a page of this window's first buckets: follow the cursor
        rest, size = first[-1] + step, len(first) * step
        if rest >= b or len(first) >= min(limit, (b - a) // step):
            return False
        if stop.is_set() or client.cancelled:
            return True  # the run is ending: nothing more is read
        parts = [(x, min(x + size, b)) for x in range(rest, b, size)]
        with lock:
            started[0] += len(parts)
        client.stats.add("split_windows", len(parts))
        for part in parts:
            pool.submit(run, part, False)
        return True

    def run(win: tuple[int, int], may_split: bool = True) -> None:
        a, b = win
        handed_on = False
        try:
            while True:
                dims = grouping.dims
                params = request_params(ep, a, None if (open_end and b == hi) else b, width, dims)
                after_first = (lambda first: split(a, b, first)) if may_split else None
                try:
                    for buckets in client.pages(ep, params, max_pages=(b - a) // step + 2, after_first=after_first):
                        if stop.is_set():
                            return
                        put(flatten(ep, width, buckets, a, b, organization))
                        handed_on = True
                    return
                except RequestRejected as e:
                    # Asked again without the refused dimension, unless buckets of this window already went on
                    # (then the same bucket would be loaded twice, grouped two ways).
                    if handed_on or not grouping.refuse(e, dims):
                        raise
                    client.stats.add("retries")  # asked again, without the refused dimension
        except BaseException as e:  # handed to the caller, which raises it in the resource
            put(e)
        finally:
            put(None)

    done = 0
    label = label or ep.table
    if progress:
        progress(label, 0, expected)
    # As many threads as the run has request slots: windows cut from short pages join the first ones.
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix=f"fetch-{ep.name}")
    try:
        for win in wins:
            pool.submit(run, win)
        yield None  # hand the thread back at once, so dlt starts every endpoint's windows without delay
        finished = 0
        while True:
            with lock:
                if finished >= started[0]:
                    break
            try:
                item = out.get(timeout=0.01)
            except queue.Empty:
                if client.cancelled:  # another part of this organization's run failed: its windows hand on nothing
                    raise RunCancelled("stopped after an earlier failure of the same organization") from None
                yield None
                continue
            if item is None:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            else:
                done += item.buckets
                if progress:
                    progress(label, done, max(expected, done))
                yield item
    except BaseException:  # failed, or closed by dlt because another resource failed: free every request slot
        client.cancel()
        raise
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
