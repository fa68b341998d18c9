"""Baseline 1, what the OpenAI cookbook suggests: sequential requests at the API's default page size,
results flattened into a pandas DataFrame, written to DuckDB."""

from __future__ import annotations

import time

import duckdb
import httpx
import pandas as pd
from common import baseline_args

from openai_usage import catalogue


def fetch(client: httpx.Client, path: str, params: dict) -> list[dict]:
    rows: list[dict] = []
    page = None
    while True:
        q = dict(params)
        if page:
            q["page"] = page
        for attempt in range(5):
            r = client.get(path, params=q)
            if r.status_code == 200:
                break
            time.sleep(1 + attempt)
        body = r.json()
        for bucket in body["data"]:
            for result in bucket.get("results", bucket.get("result", [])):
                row = {"start_time": bucket["start_time"], "end_time": bucket["end_time"], **result}
                if isinstance(row.get("amount"), dict):
                    row["amount_value"] = row["amount"].get("value")
                    row["amount_currency"] = row.pop("amount").get("currency")
                rows.append(row)
        if not body.get("has_more"):
            return rows
        page = body["next_page"]


def main() -> None:
    a = baseline_args()
    con = duckdb.connect(a.db)
    total = 0
    with httpx.Client(base_url=a.base_url, headers={"Authorization": f"Bearer {a.key}"}, timeout=300) as client:
        for name, ep in catalogue.endpoints().items():
            if a.endpoints and name not in a.endpoints.split(","):
                continue
            width = a.width if a.width in ep.widths else "1d"
            params = {"start_time": a.start, "end_time": a.end, "bucket_width": width,
                      "group_by": list(ep.sure_group_by)}
            df = pd.DataFrame(fetch(client, ep.path, params))
            if df.empty:
                continue
            df["start_time"] = pd.to_datetime(df["start_time"], unit="s", utc=True)
            df["end_time"] = pd.to_datetime(df["end_time"], unit="s", utc=True)
            con.register("df", df)
            con.execute(f"create table if not exists {ep.table} as select * from df limit 0")
            con.execute(f"insert into {ep.table} by name select * from df")
            con.unregister("df")
            total += len(df)
    print(f"ROWS={total}")


if __name__ == "__main__":
    main()
