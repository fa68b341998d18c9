"""The endpoint catalogue: `schemas/catalogue.yaml` read into typed objects, and the contracts they imply.

Everything that knows about endpoints (client, Arrow contracts, dlt column hints, simulator, SQL, tests)
asks this module; nothing restates the catalogue in code. Types go one way: catalogue type -> Arrow -> dlt hint.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .timeutil import parse_duration

if TYPE_CHECKING:
    import pyarrow as pa
    from dlt.common.schema.typing import TColumnSchema

# Package data: in a checkout, links to the repository's schemas/ and sql/; in a wheel, copies of them.
PACKAGE_DIR = Path(__file__).parent
SCHEMAS_DIR = Path(os.environ.get("OPENAI_USAGE_SCHEMAS", PACKAGE_DIR / "schemas"))

# Marks a re-read bucket that came back empty: dlt deletes the bucket's old rows and inserts nothing.
TOMBSTONE = "_bucket_emptied"
# The configured name of the organization a row was read from: first column of every table and part of every key,
# so organizations share tables and a merge for one never touches another's rows.
ORGANIZATION = "organization"
DEFAULT_ORGANIZATION = "default"

_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")


def _org_field() -> pa.Field:
    import pyarrow as pa

    return pa.field(ORGANIZATION, pa.string(), nullable=False)


def arrow_type(name: str) -> pa.DataType:
    import pyarrow as pa  # here, not at the top: commands that never build a table (status, --help) skip it

    simple = {"bigint": pa.int64(), "double": pa.float64(), "boolean": pa.bool_(), "string": pa.string(),
              "timestamp": pa.timestamp("us", tz="UTC")}
    if name in simple:
        return simple[name]
    if m := _DECIMAL.fullmatch(name):
        return pa.decimal128(int(m[1]), int(m[2]))
    raise ValueError(f"unknown column type {name!r} in the catalogue")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    path: tuple[str, ...]
    optional: bool = False
    sim: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def arrow(self) -> pa.DataType:
        return arrow_type(self.type)


@dataclass(frozen=True)
class Billing:
    """How Costs names what a usage endpoint measures: `meters` appear in line items as "<model>, <meter>", `items`
    as plain names. Each maps to the signed sum of metrics that is its quantity: ((metric, +1 or -1), ...)."""

    unit: str | None
    meters: dict[str, tuple[tuple[str, int], ...]]
    items: dict[str, tuple[tuple[str, int], ...]]


def _billing(name: str, spec: dict[str, Any] | None, metrics: set[str]) -> Billing | None:
    if not spec:
        return None

    def terms(parts: list[str]) -> tuple[tuple[str, int], ...]:
        out = tuple((p.lstrip("-"), -1 if p.startswith("-") else 1) for p in parts)
        bad = [m for m, _ in out if m not in metrics]
        if bad:
            raise ValueError(f"catalogue: {name} bills by unknown metric {bad[0]!r}")
        return out

    return Billing(spec.get("unit"), {k: terms(v) for k, v in (spec.get("meters") or {}).items()},
                   {k: terms(v) for k, v in (spec.get("items") or {}).items()})


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    table: str
    kind: str  # "usage" | "costs"
    object: str
    widths: tuple[str, ...]
    limits: dict[str, dict[str, int]]
    reread: int  # seconds re-read before the stored position on every run (dlt's incremental lag)
    arrival_lag: int  # seconds before the API's figures for a period are expected to be there
    restate_seconds: int
    group_by: tuple[str, ...]
    filters: dict[str, str]  # query parameter -> the dimension it filters on (the simulator honours them)
    dimensions: tuple[Column, ...]
    metrics: tuple[Column, ...]
    refusable: tuple[str, ...] = ()  # dimensions asked for that the API may refuse: the run then goes on without
    billing: Billing | None = None
    sim: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.dimensions + self.metrics

    @property
    def sure_group_by(self) -> tuple[str, ...]:
        """The dimensions every version of the API groups by (`group_by` less the refusable ones)."""
        return tuple(d for d in self.group_by if d not in self.refusable)

    def width_for(self, requested: str) -> str:
        """The requested bucket width where this endpoint offers it, else its own (costs come daily only)."""
        return requested if requested in self.widths else self.widths[0]

    def max_limit(self, width: str) -> int:
        return self.limits[width]["max"]

    def arrow_schema(self) -> pa.Schema:
        """The table contract: the organization, bucket columns, the result's own fields, then the tombstone flag."""
        import pyarrow as pa

        fields = [
            _org_field(),
            pa.field("start_time", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("end_time", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("bucket_width", pa.string(), nullable=False),
        ]
        fields += [pa.field(c.name, c.arrow) for c in self.columns]
        fields.append(pa.field(TOMBSTONE, pa.bool_()))
        return pa.schema(fields)


def _metric(name: str, spec: dict[str, Any]) -> Column:
    path = tuple(spec.get("path", [name]))
    return Column("_".join(path), spec["type"], path, bool(spec.get("optional")), spec.get("sim", {}))


@dataclass(frozen=True)
class DirectoryColumn:
    name: str
    type: str
    paths: tuple[tuple[str, ...], ...]  # alternatives: the first one present in an item wins

    @property
    def arrow(self) -> pa.DataType:
        return arrow_type(self.type)


@dataclass(frozen=True)
class DirectoryList:
    """One list of the organization directory (projects, users, or per project its keys or accounts)."""

    name: str
    path: str
    table: str
    object: str
    params: dict[str, str]
    per_project: bool
    primary_key: tuple[str, ...]  # the organization first, then the list's own key
    columns: tuple[DirectoryColumn, ...]
    max_limit: int
    default_limit: int
    single: bool = False  # answers one object, not a page of them
    scope: str | None = None  # organization | project: lists of both scopes share one table

    def arrow_schema(self) -> pa.Schema:
        """The table contract: `project_id` first for per-project lists (after `scope` and `scope_id` for scoped
        ones), then the listed columns, then when this run last saw the item (so an item gone from the directory is
        visible as such)."""
        import pyarrow as pa

        fields = [_org_field()]
        if self.scope:
            fields += [pa.field("scope", pa.string(), nullable=False),
                       pa.field("scope_id", pa.string(), nullable=False), pa.field("project_id", pa.string())]
        else:
            fields += [pa.field("project_id", pa.string(), nullable=False)] if self.per_project else []
        fields += [pa.field(c.name, c.arrow, nullable=c.name not in self.primary_key) for c in self.columns]
        fields.append(pa.field("last_seen_at", pa.timestamp("us", tz="UTC"), nullable=False))
        return pa.schema(fields)


@cache
def _raw(path: Path | None = None) -> dict[str, Any]:
    # libyaml's loader where PyYAML has it: 8 ms instead of 77 ms, paid by every process (the CLI's help included)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path or SCHEMAS_DIR / "catalogue.yaml").read_text(), Loader=loader)


@cache
def directory_lists() -> dict[str, DirectoryList]:
    """The organization directory's lists (projects, users, and per project its API keys and service accounts)."""
    raw = dict(_raw().get("directory") or {})
    limit = raw.pop("defaults", {}).get("limit", {"default": 20, "max": 100})
    out = {}
    for name, spec in raw.items():
        cols = tuple(DirectoryColumn(c, s["type"], tuple(tuple(p) for p in s.get("paths", [[c]])))
                     for c, s in spec["columns"].items())
        out[name] = DirectoryList(
            name=name, path=spec["path"], table=spec["table"], object=spec["object"],
            params={k: str(v) for k, v in (spec.get("params") or {}).items()},
            per_project=bool(spec.get("per_project")), primary_key=(ORGANIZATION, *spec["primary_key"]), columns=cols,
            max_limit=int(spec.get("limit", limit)["max"]), default_limit=int(spec.get("limit", limit)["default"]),
            single=bool(spec.get("single")), scope=spec.get("scope"))
    return out


@cache
def load(path: Path | None = None) -> dict[str, Endpoint]:
    raw = _raw(path)
    dim_types: dict[str, str] = raw["dimensions"]
    out: dict[str, Endpoint] = {}
    for name, spec in raw["endpoints"].items():
        spec = {**raw["defaults"].get(spec["kind"], {}), **spec}
        dims = tuple(spec["group_by"])
        obj = spec.get("object") or (
            "organization.costs.result" if spec["kind"] == "costs" else f"organization.usage.{name}.result"
        )
        out[name] = Endpoint(
            name=name,
            path=spec["path"],
            table=spec["table"],
            kind=spec["kind"],
            object=obj,
            widths=tuple(spec["widths"]),
            limits=spec["limits"],
            reread=parse_duration(spec["reread"]),
            arrival_lag=parse_duration(spec.get("arrival_lag", "0s")),
            restate_seconds=parse_duration(spec.get("restate", "0s")),
            group_by=dims,
            filters=dict(spec.get("filters", {})),
            dimensions=tuple(Column(d, dim_types[d], (d,)) for d in dims),
            metrics=tuple(_metric(m, s) for m, s in spec["metrics"].items()),
            refusable=tuple(spec.get("refusable", ())),
            billing=_billing(name, spec.get("billing"), set(spec["metrics"])),
            sim=spec.get("sim", {}),
        )
    return out


def endpoints() -> dict[str, Endpoint]:
    return load()


def by_path() -> dict[str, Endpoint]:
    return {e.path: e for e in load().values()}


QUARANTINE_TABLE = "_quarantine"


@cache
def quarantine_schema() -> pa.Schema:
    """Results of a kind no contract knows, kept whole as raw JSON rather than dropped."""
    import pyarrow as pa

    return pa.schema([
        _org_field(),
        pa.field("endpoint", pa.string(), nullable=False),
        pa.field("start_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("end_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("bucket_width", pa.string(), nullable=False),
        pa.field("object", pa.string()),
        pa.field("raw_sha256", pa.string(), nullable=False),
        pa.field("raw_json", pa.string(), nullable=False),
    ])


RESTATEMENTS_TABLE = "restatements"
# Figures the API changed after a bucket had closed: one row per (table, bucket, group, metric) whose re-read value
# differs from the one held. A group that appeared has no old value; one that vanished has no new value.
@cache
def restatements_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([
        _org_field(),
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("start_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("end_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("bucket_width", pa.string(), nullable=False),
        pa.field("dimensions", pa.string(), nullable=False),  # the group's dimensions as sorted JSON
        pa.field("metric", pa.string(), nullable=False),
        pa.field("old_value", pa.decimal128(38, 12)),
        pa.field("new_value", pa.decimal128(38, 12)),
        pa.field("change", pa.string(), nullable=False),  # changed | appeared | vanished
        pa.field("detected_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ])
QUARANTINE_KEY = [ORGANIZATION, "endpoint", "start_time", "bucket_width", "raw_sha256"]
RESTATEMENTS_KEY = [ORGANIZATION, "table_name", "start_time", "bucket_width", "dimensions", "metric", "detected_at"]


def contract_tables() -> dict[str, pa.Schema]:
    """Every table the pipeline writes, by name, with its Arrow contract."""
    tables = {ep.table: ep.arrow_schema() for ep in endpoints().values()}
    tables[QUARANTINE_TABLE] = quarantine_schema()
    tables[RESTATEMENTS_TABLE] = restatements_schema()
    return tables | {d.table: d.arrow_schema() for d in directory_lists().values()}


def dlt_hints(schema: pa.Schema) -> dict[str, TColumnSchema]:
    """dlt column hints from an Arrow contract, so the warehouse gets exactly the contract's types."""
    import pyarrow as pa

    cols: dict[str, Any] = {}
    for f in schema:
        t = f.type
        col: dict[str, Any] = {"nullable": f.nullable}
        if pa.types.is_timestamp(t):
            col.update(data_type="timestamp", timezone=True, precision=6)
        elif pa.types.is_decimal(t):
            col.update(data_type="decimal", precision=t.precision, scale=t.scale)
        elif pa.types.is_integer(t):
            col.update(data_type="bigint")
        elif pa.types.is_floating(t):
            col.update(data_type="double")
        elif pa.types.is_boolean(t):
            col.update(data_type="bool")
        else:
            col.update(data_type="text")
        if f.name == TOMBSTONE:
            # Kept, not hard-deleted: the marker row of an empty bucket replaces the bucket's old rows like any
            # other, and stays, so the warehouse knows which periods were read and found empty (coverage, gaps,
            # freshness) apart from periods never read. Views skip it. Explicit False also clears the flag
            # on warehouses loaded before this was so.
            col["hard_delete"] = False
        cols[f.name] = col
    return cols
