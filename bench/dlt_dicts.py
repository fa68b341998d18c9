"""Baseline 2: a straightforward dlt source that yields one dict per result, with dlt's defaults."""

from __future__ import annotations

from collections.abc import Iterator

import dlt
import httpx
from common import baseline_args

from openai_usage import catalogue


def make_source(base_url: str, key: str, start: int, end: int, width: str, names: list[str]):
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=300)

    def resource_for(ep):
        w = width if width in ep.widths else "1d"

        @dlt.resource(name=ep.table, write_disposition="append")
        def rows() -> Iterator[dict]:
            page = None
            while True:
                params = {"start_time": start, "end_time": end, "bucket_width": w,
                          "limit": ep.max_limit(w), "group_by": list(ep.sure_group_by)}
                if page:
                    params["page"] = page
                body = client.get(ep.path, params=params).json()
                for bucket in body["data"]:
                    for result in bucket.get("results", []):
                        yield {"start_time": bucket["start_time"], "end_time": bucket["end_time"],
                               "bucket_width": w, **result}
                if not body.get("has_more"):
                    return
                page = body["next_page"]

        return rows

    @dlt.source(name="openai_usage_dicts")
    def source():
        return [resource_for(catalogue.endpoints()[n]) for n in names]

    return source()


def main() -> None:
    a = baseline_args(workdir=True)
    names = [n for n in catalogue.endpoints() if not a.endpoints or n in a.endpoints.split(",")]
    pipeline = dlt.pipeline("dicts_baseline", pipelines_dir=a.workdir, destination=dlt.destinations.duckdb(a.db),
                            dataset_name="openai_usage")
    pipeline.run(make_source(a.base_url, a.key, a.start, a.end, a.width, names))


if __name__ == "__main__":
    main()
