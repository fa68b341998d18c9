"""Pages to typed Arrow tables: one row per result, bucket columns repeated, built column by column.

What the contracts don't know is kept, never dropped: unknown fields become extra columns, and
results of an unknown `object` kind go to the quarantine table as raw JSON.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import orjson
import pyarrow as pa

from ..catalogue import DEFAULT_ORGANIZATION, ORGANIZATION, DirectoryList, Endpoint, quarantine_schema
from .parse import ParsedBuckets, rows_of

_KNOWN_BUCKET_KEYS = {"object", "start_time", "end_time", "results", "result"}


class ContractError(ValueError):
    """A value that cannot be held in its contract type without losing information."""


@dataclass
class Flattened:
    table: pa.Table | None
    quarantine: pa.Table | None
    buckets: int = 0
    empty_buckets: int = 0
    rows: int = 0
    extra_columns: list[str] = field(default_factory=list)


def flatten(ep: Endpoint, width: str, buckets: list[dict[str, Any]] | ParsedBuckets, lo: int, hi: int,
            organization: str = DEFAULT_ORGANIZATION) -> Flattened:
    """Rows for the buckets whose start lies in [lo, hi); an empty bucket becomes one tombstone row."""
    if isinstance(buckets, ParsedBuckets):
        return _flatten_parsed(ep, width, buckets, lo, hi, organization)
    schema = ep.arrow_schema()
    starts: list[int] = []
    ends: list[int] = []
    rows: list[dict[str, Any]] = []
    bucket_extras: list[dict[str, Any]] = []
    quarantined: list[tuple[int, int, Any]] = []
    n_buckets = n_empty = 0
    tomb: list[bool] = []
    for b in buckets:
        a, e = int(b["start_time"]), int(b["end_time"])
        if not lo <= a < hi:
            continue  # outside what was asked (e.g. empty pages past the data): not ours to write
        n_buckets += 1
        results = b.get("results")
        if results is None:
            results = b.get("result") or []
        extras = {k: v for k, v in b.items() if k not in _KNOWN_BUCKET_KEYS}
        kinds = {r.get("object", ep.object) for r in results} if results else set()
        if kinds <= {ep.object}:
            mine = results
        else:
            mine = []
            for r in results:
                if r.get("object", ep.object) == ep.object:
                    mine.append(r)
                else:
                    quarantined.append((a, e, r))
        if not mine:
            n_empty += 1
            mine = [{}]
            tomb.append(True)
        else:
            tomb.extend([False] * len(mine))
        starts.extend([a] * len(mine))
        ends.extend([e] * len(mine))
        rows.extend(mine)
        bucket_extras.extend([extras] * len(mine))

    table = None
    extra_names: list[str] = []
    if rows:
        arrays = _bucket_columns(schema, organization, width, pa.array(starts, pa.int64()), pa.array(ends, pa.int64()))
        arrays += _result_columns(ep, rows)
        arrays.append(pa.array(tomb, pa.bool_()))
        table = pa.Table.from_arrays(arrays, schema=schema)
        known = {c.path[0] for c in ep.columns} | {"object"}
        for name, values in _extras(rows, known, bucket_extras, set(schema.names)).items():
            table = table.append_column(name, values)
            extra_names.append(name)
    q = None
    if quarantined:
        raws = [orjson.dumps(r, option=orjson.OPT_SORT_KEYS, default=str).decode() for _, _, r in quarantined]
        ts = quarantine_schema().field("start_time").type
        q = pa.Table.from_arrays([
            pa.array([organization] * len(raws)),
            pa.array([ep.name] * len(raws)),
            pa.array([a * 1_000_000 for a, _, _ in quarantined], pa.int64()).cast(ts),
            pa.array([e * 1_000_000 for _, e, _ in quarantined], pa.int64()).cast(ts),
            pa.array([width] * len(raws)),
            pa.array([r.get("object") for _, _, r in quarantined], pa.string()),
            pa.array([hashlib.sha256(x.encode()).hexdigest() for x in raws]),
            pa.array(raws),
        ], schema=quarantine_schema())
    return Flattened(table, q, n_buckets, n_empty, len(rows) - n_empty, extra_names)


def _flatten_parsed(ep: Endpoint, width: str, parsed: ParsedBuckets, lo: int, hi: int,
                    organization: str) -> Flattened:
    """The same table from buckets Arrow already parsed against the contract (nothing unknown in them)."""
    schema = ep.arrow_schema()
    found, tomb, n_buckets = rows_of(parsed, lo, hi)
    n = len(tomb)
    if n == 0:
        return Flattened(None, None, n_buckets, 0, 0)
    arrays = _bucket_columns(schema, organization, width, found["start_time"], found["end_time"])
    arrays += [found[c.name] for c in ep.columns]
    arrays.append(pa.array(tomb, pa.bool_()))
    n_empty = int(tomb.sum())
    return Flattened(pa.Table.from_arrays(arrays, schema=schema), None, n_buckets, n_empty, n - n_empty)


def _bucket_columns(schema: pa.Schema, organization: str, width: str, starts: pa.Array,
                    ends: pa.Array) -> list[pa.Array]:
    """The columns every row repeats from its bucket: organization, start and end (from Unix seconds), width."""
    ts = schema.field("start_time").type
    return [pa.repeat(pa.scalar(organization), len(starts)), starts.cast(pa.timestamp("s")).cast(ts),
            ends.cast(pa.timestamp("s")).cast(ts), pa.repeat(pa.scalar(width), len(starts))]


def _result_columns(ep: Endpoint, rows: list[dict[str, Any]]) -> list[pa.Array]:
    """The contract's columns for these results.

    Fast path: one C++ conversion of the dicts into a struct array (missing keys become nulls). Money, nested
    paths, and any value that does not fit its type take the careful per-column path, which coerces or fails
    with the column's name.
    """
    flat = all(len(c.path) == 1 and not pa.types.is_decimal(c.arrow) for c in ep.columns)
    if flat:
        try:
            struct = pa.array(rows, type=pa.struct([pa.field(c.name, c.arrow) for c in ep.columns]))
            return [struct.field(i) for i in range(struct.type.num_fields)]
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return [_column(c.path, c.arrow, rows, c.name) for c in ep.columns]


def _column(path: tuple[str, ...], typ: pa.DataType, rows: list[dict[str, Any]], name: str) -> pa.Array:
    if len(path) == 1:
        key = path[0]
        values = [r.get(key) for r in rows]
    else:
        values = []
        for r in rows:
            v: Any = r
            for k in path:
                v = v.get(k) if isinstance(v, dict) else None
            values.append(v)
    if pa.types.is_decimal(typ):
        values = [_decimal(v, typ.scale, name) for v in values]
    try:
        return pa.array(values, typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([_coerce(v, typ, name) for v in values], typ)


def _decimal(v: Any, scale: int, name: str) -> Decimal | None:
    if v is None:
        return None
    try:
        d = v if isinstance(v, Decimal) else Decimal(str(v))  # str(float) is the shortest exact repr
    except InvalidOperation:
        raise ContractError(f"{name}: {v!r} is not a number") from None
    if not d.is_finite():
        raise ContractError(f"{name}: {v!r} is not a finite number")
    return d.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN)


def _coerce(v: Any, typ: pa.DataType, name: str) -> Any:
    if v is None:
        return None
    if pa.types.is_integer(typ):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            return int(v)
    elif pa.types.is_floating(typ):
        try:
            return float(v)
        except (TypeError, ValueError):
            pass
    elif pa.types.is_boolean(typ):
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
    elif pa.types.is_string(typ):
        return v if isinstance(v, str) else orjson.dumps(v).decode()
    raise ContractError(f"{name}: {v!r} does not fit the contract type {typ}")


def _extras(rows: list[dict[str, Any]], known: set[str], bucket_extras: list[dict[str, Any]],
            taken: set[str]) -> dict[str, pa.Array]:
    """Unknown result (and bucket) fields as typed columns, never dropped."""
    out: dict[str, pa.Array] = {}
    for k in sorted(set().union(*rows) - known):
        out[k if k not in taken else f"result_{k}"] = _infer([r.get(k) for r in rows])
    bnames = sorted(set().union(*bucket_extras))
    if bnames:
        for k in bnames:
            out[k if k not in taken and k not in out else f"bucket_{k}"] = _infer([x.get(k) for x in bucket_extras])
    return out


def _infer(values: list[Any]) -> pa.Array:
    kinds = {type(v) for v in values if v is not None}
    if kinds == {bool}:
        return pa.array(values, pa.bool_())
    if kinds and kinds <= {int}:
        return pa.array(values, pa.int64())
    if kinds and kinds <= {int, float, Decimal}:
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array([None if v is None else v if isinstance(v, str) else orjson.dumps(v, default=str).decode()
                     for v in values], pa.string())


def flatten_directory(dl: DirectoryList, items: list[dict[str, Any]], seen_at: int,
                      project_id: str | None = None, organization: str = DEFAULT_ORGANIZATION) -> pa.Table:
    """Directory items to their contract table. Only contract columns are read: nothing else is stored."""
    schema = dl.arrow_schema()
    cols: dict[str, list[Any]] = {c.name: [] for c in dl.columns}
    for item in items:
        for c in dl.columns:
            value = None
            for path in c.paths:
                value = _dig(item, path)
                if value is not None:
                    break
            cols[c.name].append(value)
    arrays = {}
    for c in dl.columns:  # a list in a string column (e.g. an alert's recipients) is kept as its JSON
        if c.type == "string":
            cols[c.name] = [v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in cols[c.name]]
    for c in dl.columns:
        values = cols[c.name]
        if c.type == "timestamp":  # the API sends Unix seconds
            values = [None if v is None else int(v) * 1_000_000 for v in values]
        arrays[c.name] = pa.array(values, type=c.arrow)
    n = len(items)
    arrays[ORGANIZATION] = pa.array([organization] * n, pa.string())
    if dl.per_project or dl.scope:
        arrays["project_id"] = pa.array([project_id] * n, pa.string())
    if dl.scope:
        arrays["scope"] = pa.array([dl.scope] * n, pa.string())
        arrays["scope_id"] = pa.array([project_id or "organization"] * n, pa.string())
    arrays["last_seen_at"] = pa.array([seen_at * 1_000_000] * n, pa.timestamp("us", tz="UTC"))
    return pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)


def _dig(item: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(item, dict):
            return None
        item = item.get(key)
    return item
