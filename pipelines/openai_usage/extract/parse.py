"""Bucket bytes straight to Arrow, for the pages that hold nothing the contract does not know.

Decoding a page into Python dicts and building Arrow columns from them was a third of a large backfill's CPU, and
millions of short-lived dicts left Python's small-object heap fragmented. Arrow's JSON reader parses a group of
buckets into columns in C++, with the GIL released, against the contract's own types. It is strict: an unknown
field, a value of another type, a result of another kind, a missing bucket time all make it refuse the group, and
such a group is decoded into dicts and flattened as before (`flatten.flatten`), where extra columns, coercion and
the quarantine live. Money (the costs endpoint's decimals) always takes that path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from ..catalogue import Endpoint

Buckets = Any  # a list of bucket dicts, or ParsedBuckets


@dataclass
class ParsedBuckets:
    """A group of buckets as one Arrow table: start_time, end_time (Unix seconds) and the list of results."""

    table: pa.Table

    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def starts(self) -> list[int]:
        return self.table.column("start_time").to_pylist()

    def results(self) -> int:
        return int(pc.sum(pc.list_value_length(self.table.column("results")).fill_null(0)).as_py() or 0)

    def take(self, indices: list[int]) -> ParsedBuckets:
        return ParsedBuckets(self.table.take(pa.array(indices, pa.int64())))


def arrow_ready(ep: Endpoint) -> bool:
    """Whether the endpoint's results can go straight to Arrow: every contract column a top-level field, no money."""
    return all(len(c.path) == 1 and not pa.types.is_decimal(c.arrow) for c in ep.columns)


_SCHEMAS: dict[tuple[Any, ...], pa.Schema] = {}


def _bucket_schema(ep: Endpoint) -> pa.Schema:
    key = (ep.object, tuple((c.name, c.type) for c in ep.columns))
    if key not in _SCHEMAS:
        result = pa.struct([pa.field(c.name, c.arrow) for c in ep.columns] + [pa.field("object", pa.string())])
        _SCHEMAS[key] = pa.schema([pa.field("object", pa.string()), pa.field("start_time", pa.int64()),
                                   pa.field("end_time", pa.int64()), pa.field("results", pa.list_(result))])
    return _SCHEMAS[key]


def parse(ep: Endpoint, raw: list[bytes]) -> ParsedBuckets | None:
    """The buckets (each the bytes of one JSON object) as Arrow, or None where the contract alone can't hold them."""
    data = b"\n".join(raw)
    try:
        table = pj.read_json(
            pa.py_buffer(data),
            # One block: a bucket never straddles two, and the caller's threads already read pages side by side.
            read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
            parse_options=pj.ParseOptions(explicit_schema=_bucket_schema(ep), unexpected_field_behavior="error",
                                          newlines_in_values=any(b"\n" in r for r in raw)))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != len(raw) or table.column("start_time").null_count or table.column("end_time").null_count:
        return None
    kinds = pc.list_flatten(table.column("results")).combine_chunks().field("object").drop_null()
    if len(kinds) and not pc.all(pc.equal(kinds, ep.object)).as_py():
        return None  # a result of another kind goes to the quarantine, which keeps its JSON: the dict path
    return ParsedBuckets(table)


def bucket_starts(group: Buckets) -> list[Any]:
    return group.starts if isinstance(group, ParsedBuckets) else [b.get("start_time") for b in group]


def result_count(group: Buckets) -> int:
    if isinstance(group, ParsedBuckets):
        return group.results()
    return sum(len(b.get("results") or b.get("result") or []) for b in group)


def take(group: Buckets, indices: list[int]) -> Buckets:
    return group.take(indices) if isinstance(group, ParsedBuckets) else [group[i] for i in indices]


def rows_of(parsed: ParsedBuckets, lo: int, hi: int) -> tuple[dict[str, pa.Array], np.ndarray, int]:
    """The buckets in [lo, hi): their results as one row each (an empty bucket as one null row), with each row's
    tombstone flag, and the number of buckets. Columns: start_time, end_time (Unix seconds), then the results'."""
    t = parsed.table
    starts = t.column("start_time")
    inside = pc.and_(pc.greater_equal(starts, lo), pc.less(starts, hi))
    if not pc.all(inside).as_py():
        t = t.filter(inside)
    lists = t.column("results").combine_chunks()
    n_buckets = t.num_rows
    offsets = lists.offsets.to_numpy()
    lengths = np.diff(offsets)  # a null list (no `results` at all) has length 0, as an empty one
    empty = lengths == 0
    per_bucket = np.where(empty, 1, lengths)
    bucket = np.repeat(np.arange(n_buckets), per_bucket)
    tomb = empty[bucket]
    if not empty.any():
        # Every bucket has results: its rows are the list's values as they lie, a slice, not a copy of every
        # string (the take below was the largest allocation of a backfill's decoding).
        results = lists.values.slice(offsets[0], offsets[-1] - offsets[0])
    else:
        # Indices into the list's values (offsets are absolute there); a tombstone takes a null index: a null row.
        within = np.arange(len(bucket)) - np.repeat(np.cumsum(per_bucket) - per_bucket, per_bucket)
        index = pa.array(offsets[:-1][bucket] + within, pa.int64(), mask=tomb)
        results = pc.take(lists.values, index)
    cols = results.flatten()  # children with the struct's nulls applied
    out = {"start_time": pc.take(t.column("start_time").combine_chunks(), bucket),
           "end_time": pc.take(t.column("end_time").combine_chunks(), bucket)}
    out.update((f.name, col) for f, col in zip(results.type, cols, strict=True))
    return out, tomb, n_buckets
