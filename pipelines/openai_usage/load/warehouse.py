"""Where the data lives: the local DuckDB file (the default) or a dlt named destination, and SQL against it.

A named destination is plain dlt configuration, so switching needs no code change:

    # .dlt/config.toml                         # .dlt/secrets.toml (or DESTINATION__WAREHOUSE__CREDENTIALS)
    [destination.warehouse]                    [destination.warehouse]
    destination_type = "postgres"              credentials = "postgresql://loader:...@db.internal/analytics"

and `openai-usage load --destination warehouse`. Credentials never come from the command line.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError

DATASET = "openai_usage"
PIPELINE_NAME = "openai_usage"
LOCAL = "duckdb"
# dlt destination type -> sqlglot dialect the views are transpiled to (MotherDuck speaks DuckDB).
DIALECTS = {"duckdb": "duckdb", "motherduck": "duckdb", "postgres": "postgres", "bigquery": "bigquery",
            "snowflake": "snowflake", "clickhouse": "clickhouse", "redshift": "redshift", "mssql": "tsql",
            "synapse": "tsql", "databricks": "databricks", "athena": "athena", "dremio": "dremio",
            "filesystem": "spark"}  # Delta tables in a bucket: the views are printed for Spark (`views --dialect`)


class Sql(Protocol):
    def execute(self, sql: str) -> None: ...
    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...
    def arrow(self, sql: str) -> Iterator[Any]: ...  # the result as pyarrow tables or batches of one schema
    def transaction(self) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class Warehouse:
    destination: str = LOCAL
    db: Path = Path("usage.duckdb")  # only for the local DuckDB destination

    @property
    def local(self) -> bool:
        return self.destination == LOCAL

    @property
    def lake(self) -> bool:
        """dlt's filesystem destination: Delta tables that other engines read; no SQL is run there by us."""
        return not self.local and self.destination_type == "filesystem"

    @property
    def label(self) -> str:
        return str(self.db) if self.local else f"destination {self.destination!r} ({self.destination_type})"

    @property
    def destination_type(self) -> str:
        if self.local:
            return LOCAL
        import dlt

        configured = dlt.config.get(f"destination.{self.destination}.destination_type")
        return str(configured or self.destination).rsplit(".", 1)[-1]

    @property
    def dialect(self) -> str:
        kind = self.destination_type
        if kind not in DIALECTS:
            raise ConfigError(f"destination {self.destination!r} is of type {kind!r}, which the views are not "
                              f"written for; supported: {', '.join(sorted(DIALECTS))}")
        return DIALECTS[kind]

    def working_dir(self) -> Path:
        """dlt's local working folder: one per DuckDB file, or per named destination under the current folder.
        The warehouse itself holds the state; deleting this folder loses nothing."""
        if self.local:
            db = self.db.expanduser().resolve()
            digest = hashlib.sha256(str(db).encode()).hexdigest()[:12]
            return db.parent / ".openai_usage" / f"{db.stem}-{digest}"
        root = Path(os.environ.get("OPENAI_USAGE_WORKDIR", ".openai_usage")).expanduser().resolve()
        return root / f"destination-{self.destination}"

    def load_workers(self, merges: bool) -> int:
        """Load jobs dlt runs at once. A DuckDB file's jobs share its capped buffer pool (`_duckdb_memory`), and
        merges side by side ran it out of memory (a backfill over eleven held days of 1.1M rows, with restatements);
        DuckDB spreads each statement over its threads anyway. Appends into buckets no table holds stream, and keep
        dlt's parallel jobs (one at a time made a 1.1M-row backfill about 5% slower)."""
        return 1 if self.local and merges else DLT_LOAD_WORKERS

    def dlt_destination(self) -> Any:
        import dlt

        if self.local:
            from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

            if (shared := _SESSIONS.get(self._key)) is not None:
                return dlt.destinations.duckdb(shared)  # dlt borrows copies of it and never closes it
            credentials = DuckDbCredentials(self._key)
            credentials.global_config = _duckdb_config()
            return dlt.destinations.duckdb(credentials)
        from dlt.common.destination.exceptions import UnknownDestinationModule
        from dlt.common.destination.reference import Destination

        try:
            return Destination.from_reference(self.destination)
        except UnknownDestinationModule:
            raise ConfigError(
                f"unknown destination {self.destination!r}: name a dlt destination type (postgres, bigquery, ...) "
                f"or configure [destination.{self.destination}] destination_type in .dlt/config.toml") from None
        except ModuleNotFoundError as e:
            raise ConfigError(f"destination {self.destination!r} needs a package that is not installed "
                              f"({e.name}); install the project's extra for it, e.g. "
                              f"pip install -e '.[{self.destination_type}]'") from None

    def pipeline(self) -> Any:
        """The dlt pipeline that loads this warehouse (its working folder is wiped when the DuckDB file is gone:
        the warehouse owns the state, so no file means no position)."""
        import dlt

        self._forget_state_without_file()
        return dlt.pipeline(pipeline_name=PIPELINE_NAME, pipelines_dir=str(self.working_dir()),
                            destination=self.dlt_destination(), dataset_name=DATASET)

    def _forget_state_without_file(self) -> None:
        import shutil

        wd = self.working_dir()
        if self.local and not self.db.expanduser().exists() and wd.exists():
            shutil.rmtree(wd)

    def check(self) -> None:
        """Refuse a destination that cannot work, before any request is sent."""
        if not self.local:
            self.dlt_destination()  # unknown names and missing packages fail here
            _ = self.dialect
            return
        if self.db.stem.lower() in (DATASET, "staging", "intermediate", "reporting", "main"):
            raise ConfigError(f"name the DuckDB file something other than {self.db.name}: DuckDB would confuse the "
                              f"file with the schema of the same name")
        folder = self.db.expanduser().resolve().parent
        if not folder.is_dir():
            raise ConfigError(f"the folder for the DuckDB file does not exist: {folder}")
        try:  # a real write, not os.access: root passes access checks on read-only file systems
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError:
            raise ConfigError(f"cannot write to the folder for the DuckDB file: {folder}") from None

    def require(self) -> None:
        """For read paths: the warehouse must exist already (reading never creates one)."""
        if self.local and not self.db.expanduser().exists():
            raise ConfigError(f"no warehouse at {self.db}: run `openai-usage load --db {self.db}` first")
        if self.lake:  # no SQL engine of ours runs on Delta files; the engine that reads them runs the views
            raise ConfigError(f"destination {self.destination!r} holds Delta tables, not a SQL warehouse: query them "
                              f"with the engine that reads them, after `openai-usage views --dialect spark`")

    @property
    def _key(self) -> str:
        return str(self.db.expanduser().resolve())

    @contextmanager
    def session(self) -> Iterator[None]:
        """One open DuckDB database for a whole load: dlt's steps and the load's own reads all borrow it. Opening a
        file database reads its catalogue and closing it checkpoints, so once, not at each of a run's half a dozen
        connections (a sixth of a no-op run's time). Other destinations keep dlt's own connection handling."""
        if not self.local:
            yield
            return
        import duckdb

        self._forget_state_without_file()  # before connecting creates the file
        con = duckdb.connect(self._key, config=_duckdb_config())
        _SESSIONS[self._key] = con
        try:
            yield
        finally:
            del _SESSIONS[self._key]
            con.close()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Sql]:
        """SQL against the warehouse: DuckDB directly, anything else through dlt's own client for it."""
        if self.local:
            import duckdb

            shared = _SESSIONS.get(self._key)
            con = shared.cursor() if shared is not None else duckdb.connect(str(self.db), read_only=read_only)
            try:
                yield _DuckSql(con)
            finally:
                con.close()
            return
        with self.pipeline().sql_client() as client:
            yield _DltSql(client, dbapi=self.dialect == "postgres")


DLT_LOAD_WORKERS = 20  # dlt's own default

# A local DuckDB file -> the connection a load in this process shares (`Warehouse.session`).
_SESSIONS: dict[str, Any] = {}


def _duckdb_config() -> dict[str, Any]:
    # DuckDB's allocator keeps what a query freed (measured: the restatement check's reads of 1.1M held rows left
    # about 170 MB held after the queries had ended); its background thread hands it back to the system.
    return {"memory_limit": _duckdb_memory(), "allocator_background_threads": True}


def _duckdb_memory() -> str:
    # A scheduled job should stay small: DuckDB spills to disk past this instead of growing, and what it holds comes
    # on top of what extraction left. At 256 MB the load step set a 5M-row backfill's peak (490 MB); at 128 MB
    # extraction does (about 400 MB), and re-reads with restatements still merge. 96 MB once ran out of memory.
    return os.environ.get("OPENAI_USAGE_DUCKDB_MEMORY", "128MB")


class _DuckSql:
    def __init__(self, con: Any) -> None:
        self.con = con

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def arrow(self, sql: str) -> Iterator[Any]:
        reader = self.con.sql(sql).to_arrow_reader(100_000)  # streamed, no extra copy: memory stays flat
        empty = True
        for batch in reader:
            empty = False
            yield batch
        if empty:
            yield reader.schema.empty_table()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.begin()
        try:
            yield
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()


class _DltSql:
    def __init__(self, client: Any, dbapi: bool = False) -> None:
        self.client = client
        # PostgreSQL statements go straight to psycopg2: dlt's wrapper rolls the whole transaction back on any
        # error, which would defeat the savepoint a view replacement relies on.
        self.dbapi = dbapi

    def execute(self, sql: str) -> None:
        if self.dbapi:
            with self.client.native_connection.cursor() as cur:
                cur.execute(sql)
        else:
            self.client.execute_sql(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.client.execute_sql(sql) or []]

    def arrow(self, sql: str) -> Iterator[Any]:
        import pyarrow as pa

        # dlt infers each chunk's types from its values; one table keeps a column typed even where a chunk is null.
        with self.client.execute_query(sql) as cursor:
            chunks = list(cursor.iter_arrow(chunk_size=100_000))
        if chunks:
            yield pa.concat_tables(chunks, promote_options="permissive")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.client.begin_transaction():
            yield

