"""Runs in a stand-in's own environment (.venv-snowflake: fakesnow; .venv-bigquery: bqemulator), never imports the
project: it creates the tables a job file describes (from the DuckDB warehouse, typed as dlt types them on that
engine), loads their rows from Parquet, executes the view statements exactly as the project's transpiler wrote them,
and writes every query's rows to JSON.  usage: standin.py snowflake|bigquery JOB.json OUT.json
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

# DuckDB's column type -> the type dlt's destination gives the same dlt data type on that engine
SNOWFLAKE = {"VARCHAR": "VARCHAR", "BIGINT": "NUMBER(19,0)", "INTEGER": "NUMBER(19,0)", "DOUBLE": "FLOAT",
             "BOOLEAN": "BOOLEAN", "TIMESTAMP WITH TIME ZONE": "TIMESTAMP_TZ", "DATE": "DATE", "JSON": "VARIANT"}
BIGQUERY = {"VARCHAR": "STRING", "BIGINT": "INT64", "INTEGER": "INT64", "DOUBLE": "FLOAT64", "BOOLEAN": "BOOL",
            "TIMESTAMP WITH TIME ZONE": "TIMESTAMP", "DATE": "DATE", "JSON": "JSON"}


def column_type(duck: str, engine: str) -> str:
    if m := re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duck):
        if engine == "snowflake":
            return f"NUMBER({m[1]},{m[2]})"
        # as dlt's BigQuery type mapper: NUMERIC holds scale 9 and 29 digits before the point, BIGNUMERIC more
        fits = int(m[2]) <= 9 and int(m[1]) - int(m[2]) <= 29
        return f"{'NUMERIC' if fits else 'BIGNUMERIC'}({m[1]}, {m[2]})"
    return (SNOWFLAKE if engine == "snowflake" else BIGQUERY)[duck]


def plain(v):
    """A value as JSON can carry it, tagged where JSON would lose the type."""
    if isinstance(v, decimal.Decimal):
        return {"decimal": str(v)}
    if isinstance(v, dt.datetime):
        return {"datetime": (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).isoformat()}
    if isinstance(v, dt.date):
        return {"date": v.isoformat()}
    if isinstance(v, (dict, list)):
        return {"json": json.dumps(v, sort_keys=True)}
    return v


def snowflake(job: dict) -> dict:
    import fakesnow
    import snowflake.connector

    out: dict = {}
    with fakesnow.patch():
        conn = snowflake.connector.connect(database="OPENAI", schema="PUBLIC")
        cur = conn.cursor()
        for schema in job["schemas"]:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for t in job["tables"]:
            cols = ", ".join(f"{c} {column_type(ty, 'snowflake')}" for c, ty in t["columns"])
            cur.execute(f"CREATE TABLE {t['schema']}.{t['name']} ({cols})")
            # the rows go straight into the DuckDB underneath (row-by-row INSERTs through fakesnow take minutes):
            # data, not SQL under test
            rows = pq.read_table(t["parquet"])  # noqa: F841 (read by DuckDB's replacement scan)
            conn._duck_conn.execute(f"INSERT INTO OPENAI.{t['schema']}.{t['name']} SELECT * FROM rows")
        for stmt in job["statements"]:
            cur.execute(stmt)
        for name, q in job["queries"].items():
            cur.execute(q)
            out[name] = [[plain(v) for v in r] for r in cur.fetchall()]
        out["_engine"] = f"fakesnow {fakesnow.__version__ if hasattr(fakesnow, '__version__') else ''}".strip()
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bigquery(job: dict) -> dict:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery as bq

    rest, grpc = _free_port(), _free_port()
    log = open(Path(job["folder"]) / "bqemulator.log", "wb")  # noqa: SIM115 (a file, not a pipe, which could stall it)
    server = subprocess.Popen([sys.executable, __file__, "bqemulator", "start", "--rest-port", str(rest), "--grpc-port",
                               str(grpc), "--project", "standin", "--log-level", "error"],
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(300):  # up to 60 s for the server to listen
            try:
                socket.create_connection(("127.0.0.1", rest), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(f"bqemulator exited: see {log.name}") from None
                time.sleep(0.2)
        client = bq.Client(project="standin", credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{rest}"))
        for schema in job["schemas"]:
            client.create_dataset(schema, exists_ok=True)
        for t in job["tables"]:
            cols = ", ".join(f"{c} {column_type(ty, 'bigquery')}" for c, ty in t["columns"])
            client.query(f"CREATE TABLE {t['schema']}.{t['name']} ({cols})").result(timeout=120)
            rows = pq.read_table(t["parquet"]).to_pylist()
            print(f"loading {t['name']}: {len(rows)} rows", file=sys.stderr, flush=True)
            types = [column_type(ty, "bigquery") for _, ty in t["columns"]]
            if any("NUMERIC" in ty for ty in types):
                # bqemulator's streaming insert holds a NUMERIC to 9 decimals even in a wider column: DML keeps them
                names = ", ".join(c for c, _ in t["columns"])
                for i in range(0, len(rows), 500):
                    values = ", ".join("(" + ", ".join(_literal(v, ty) for v, ty in zip(r.values(), types, strict=True))
                                       + ")" for r in rows[i:i + 500])
                    client.query(f"INSERT INTO {t['schema']}.{t['name']} ({names}) VALUES {values}").result(timeout=300)
                continue
            for i in range(0, len(rows), 5000):
                errors = client.insert_rows_json(f"standin.{t['schema']}.{t['name']}",
                                                 [{k: _json_value(v) for k, v in r.items()} for r in rows[i:i + 5000]],
                                                 timeout=120, retry=None)
                if errors:
                    raise RuntimeError(f"{t['name']}: {errors[:3]}")
        for stmt in job["statements"]:
            print(f"view: {stmt[:100]}", file=sys.stderr, flush=True)
            client.query(stmt).result(timeout=120)
        out: dict = {}
        for name, q in job["queries"].items():
            out[name] = [[plain(v) for v in r.values()] for r in client.query(q).result(timeout=300)]
        out["_engine"] = "bqemulator"
        return out
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def _literal(v, ty: str) -> str:
    """One value as a GoogleSQL literal of the column's type (text through CAST: nothing passes through FLOAT64)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    text = _json_value(v)
    if not isinstance(text, str):
        text = repr(text)
    quoted = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return quoted if ty == "STRING" else f"CAST({quoted} AS {ty})"


def _json_value(v):
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).isoformat()
    if isinstance(v, decimal.Decimal):
        return format(v, "f")  # never an exponent
    if isinstance(v, dt.date):
        return str(v)
    return v


def serve_bigquery() -> None:
    """bqemulator's own server, without DuckDB's spatial extension: it INSTALLs it at start from DuckDB's extension
    site, which no registry mirrors for DuckDB 2 (the views use no GEOGRAPHY, the one thing it backs)."""
    from bqemulator.cli import main as emulator
    from bqemulator.storage.engine import DuckDBEngine

    DuckDBEngine._load_spatial = lambda self: None
    sys.argv = ["bqemulator", *sys.argv[2:]]
    sys.exit(emulator())


def main() -> None:
    if sys.argv[1] == "bqemulator":
        serve_bigquery()
    engine, job_file, out_file = sys.argv[1:4]
    os.environ.setdefault("TZ", "UTC")
    job = json.loads(Path(job_file).read_text())
    out = snowflake(job) if engine == "snowflake" else bigquery(job)
    Path(out_file).write_text(json.dumps(out))


if __name__ == "__main__":
    main()
