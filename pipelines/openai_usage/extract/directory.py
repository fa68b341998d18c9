"""The organization directory (projects, users, and per project its API keys and service accounts) through dlt's
REST client.

dlt's `RESTClient` and its cursor paginator do the paging; what is particular to this API is small and kept here:
the cursor is `last_id`, sent back as `after`, and older answers lack `last_id`, so the last item's id stands in.
Requests go through a session bound to the run's `UsageClient`, so the directory shares the run's one request
limit, its retries and its error mapping with the usage and cost pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from ..catalogue import DirectoryList
from ..errors import PaginationError, RequestRejected, TransientError
from .http import UsageClient, failed_transport


class AfterIdPaginator(JSONResponseCursorPaginator):
    """`has_more` plus `last_id` (current spec), or the last item's id (older answers), sent as `after`."""

    def __init__(self, path: str) -> None:
        super().__init__(cursor_path="last_id", cursor_param="after")
        self.path = path
        self.seen: set[str] = set()

    def update_state(self, response: Any, data: list[Any] | None = None) -> None:
        body = response.json()
        if not body.get("has_more") or not data:
            self._next_reference = None
            return
        nxt = body.get("last_id") or (data[-1].get("id") if isinstance(data[-1], dict) else None)
        if not nxt or nxt in self.seen:
            raise PaginationError(f"{self.path} said has_more but gave no new position to continue from")
        self.seen.add(nxt)
        self._next_reference = nxt


class _RunSession(requests.Session):
    """Every directory request inside the run's request limit, retried and mapped to errors like a usage page."""

    def __init__(self, client: UsageClient) -> None:
        super().__init__()
        self.client = client

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["timeout"] = self.client.timeout
        return self.client.retrying(self._send_once, request, **kwargs)

    def _send_once(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        path = requests.utils.urlparse(request.url).path
        with self.client.limit:
            self.client.stats.add("requests")
            try:
                resp = super().send(request, **kwargs)
            except requests.RequestException as e:
                raise failed_transport(_kind(e), e, path) from None
            if resp.status_code != 200:
                raise self.client.error_for(resp.status_code, resp.content, resp.headers.get("retry-after"),
                                            resp.reason or "", path)
            try:
                body = resp.json()
            except ValueError:
                raise TransientError(f"{path} answered with a broken JSON body") from None
            if not isinstance(body, dict):
                raise RequestRejected(f"{path} answered with something other than a JSON object")
            if body.get("object", "list") == "list" and not isinstance(body.get("data"), list):
                raise RequestRejected(f"{path} answered without a `data` list")
        self.client.limit.succeeded()
        self.client.stats.add("pages")
        return resp


def _kind(e: requests.RequestException) -> str:
    if isinstance(e, requests.Timeout):
        return "timeout"
    if isinstance(e, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema
                  | requests.exceptions.MissingSchema):
        return "unusable_url"
    return "connection"


def rest_client(client: UsageClient) -> RESTClient:
    # The runtime configuration only shapes dlt's own HTTP error messages, which the session pre-empts: its defaults
    # are enough, and resolving it would search every config provider on every run.
    return RESTClient(base_url=client.base_url, headers=client.headers, data_selector="data",
                      session=_RunSession(client), config=RuntimeConfiguration())


def list_items(rest: RESTClient, dl: DirectoryList, project_id: str | None = None,
               limit: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """Every item of one directory list, a page at a time, asking for the largest page the API allows. A `single`
    list (a spend limit) is one object: one page of one item."""
    path = dl.path.format(project_id=project_id) if project_id else dl.path
    if dl.single:
        yield [rest.get(path).json()]
        return
    params = {**dl.params, "limit": limit or dl.max_limit}
    for page in rest.paginate(path, params=params, paginator=AfterIdPaginator(path)):
        yield list(page)
