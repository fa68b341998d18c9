"""Property tests of the pure parts: window splitting, page splitting, parsing and flattening."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_usage import catalogue
from openai_usage.extract.flatten import flatten
from openai_usage.extract.pages import PageSplitter
from openai_usage.extract.parse import parse
from openai_usage.timeutil import WIDTH_SECONDS, windows

EP = catalogue.endpoints()["completions"]
COSTS = catalogue.endpoints()["costs"]


@given(width=st.sampled_from(["1m", "1h", "1d"]), first=st.integers(0, 30_000), n=st.integers(0, 3000),
       per=st.integers(1, 1440))
def test_windows_cover_every_bucket_exactly_once(width, first, n, per):
    w = WIDTH_SECONDS[width]
    start, end = first * w, (first + n) * w
    wins = windows(start, end, width, per)
    buckets = [a for lo, hi in wins for a in range(lo, hi, w)]
    assert buckets == list(range(start, end, w))  # each once, in order, nothing outside
    assert all((hi - lo) // w <= per and lo % w == 0 and hi % w == 0 for lo, hi in wins)
    assert len(wins) == -(-n // per)  # the fewest windows possible


results = st.fixed_dictionaries(
    {"object": st.just(EP.object), "input_tokens": st.integers(0, 10**12), "output_tokens": st.integers(0, 10**9),
     "num_model_requests": st.integers(0, 10**6)},
    optional={"project_id": st.one_of(st.none(), st.text(max_size=12)), "batch": st.one_of(st.none(), st.booleans()),
              "model": st.one_of(st.none(), st.text(max_size=20)), "input_cached_tokens": st.integers(0, 10**9)})
buckets = st.lists(st.builds(lambda i, rs, key: {"object": "bucket", "start_time": i * 3600,
                                                  "end_time": (i + 1) * 3600, key: rs},
                             st.integers(0, 10_000), st.lists(results, max_size=6),
                             st.sampled_from(["results", "result"])),
                   max_size=8, unique_by=lambda b: b["start_time"])


@settings(max_examples=200, deadline=None)
@given(page=buckets)
def test_flattening_keeps_every_sum_and_marks_each_empty_bucket(page):
    f = flatten(EP, "1h", page, 0, 10**9)
    rows = [r for b in page for r in b.get("results", b.get("result", []))]
    empty = sum(1 for b in page if not b.get("results", b.get("result")))
    assert f.rows == len(rows) and f.empty_buckets == empty and f.buckets == len(page)
    if f.table is None:
        assert not page
        return
    t = f.table.to_pydict()
    for metric in ("input_tokens", "output_tokens", "num_model_requests", "input_cached_tokens"):
        assert sum(v or 0 for v in t[metric]) == sum(r.get(metric, 0) for r in rows)
    assert sum(t["_bucket_emptied"]) == empty


@settings(max_examples=200, deadline=None)
@given(page=buckets, cuts=st.lists(st.integers(1, 64), min_size=1, max_size=50), indent=st.booleans())
def test_splitting_a_streamed_page_gives_back_exactly_its_buckets(page, cuts, indent):
    raw = orjson.dumps({"object": "page", "data": page, "has_more": True, "next_page": "page_abc"},
                       option=orjson.OPT_INDENT_2 if indent else 0)
    sp, got, i, k = PageSplitter(), [], 0, 0
    while i < len(raw):
        n = cuts[k % len(cuts)]
        got += [orjson.loads(b) for b in sp.feed(raw[i:i + n])]
        i, k = i + n, k + 1
    meta = sp.finish()
    assert got == page and meta["has_more"] is True and meta["next_page"] == "page_abc"


odd = st.fixed_dictionaries({}, optional={  # what the contract doesn't know, or a value of another type
    "object": st.sampled_from([EP.object, "organization.usage.something_new"]), "zz_new_field": st.integers(),
    "input_tokens": st.sampled_from([1.0, "7", 2**70]), "model": st.integers(0, 5)})
mixed = st.lists(st.builds(lambda i, rs, key, odd_rows: {
    "object": "bucket", "start_time": i * 3600, "end_time": (i + 1) * 3600,
    key: rs + [{**r, **o} for r, o in odd_rows]},
    st.integers(0, 48), st.lists(results, max_size=5), st.sampled_from(["results", "results", "result"]),
    st.lists(st.tuples(results, odd), max_size=1)), max_size=8, unique_by=lambda b: b["start_time"])


@settings(max_examples=300, deadline=None)
@given(page=mixed, lo=st.integers(0, 24), span=st.integers(1, 48), indent=st.booleans())
def test_buckets_parsed_by_arrow_flatten_exactly_as_decoded_ones(page, lo, span, indent):
    """Arrow's JSON reader takes a group only when the contract holds all of it, and then gives the very table the
    dict path builds; anything it refuses (unknown fields or kinds, `result`, values of another type) is the dict
    path's to handle."""
    raw = [json.dumps(b, indent=2 if indent else None).encode() for b in page]
    parsed = parse(EP, raw) if raw else None
    plain = all("result" not in b and all(set(r) <= set(EP.arrow_schema().names) | {"object"} and
                                          r.get("object") == EP.object and isinstance(r["input_tokens"], int)
                                          and r["input_tokens"] < 2**63 and not isinstance(r.get("model"), int)
                                          for r in b["results"]) for b in page)
    assert (parsed is not None) == (plain and bool(page))
    if parsed is None:
        return
    a, b = lo * 3600, (lo + span) * 3600
    want, got = flatten(EP, "1h", page, a, b, "acme"), flatten(EP, "1h", parsed, a, b, "acme")
    assert (got.buckets, got.empty_buckets, got.rows) == (want.buckets, want.empty_buckets, want.rows)
    assert (got.table is None) == (want.table is None)
    if want.table is not None:
        assert got.table.equals(want.table), (got.table.to_pylist()[:3], want.table.to_pylist()[:3])


@settings(max_examples=100, deadline=None)
@given(amounts=st.lists(st.decimals(min_value=0, max_value=10**9, places=10, allow_nan=False), max_size=20))
def test_money_is_kept_to_the_last_digit(amounts):
    page = [{"start_time": 0, "end_time": 86400, "results": [
        {"object": COSTS.object, "amount": {"value": a, "currency": "usd"}, "line_item": "x", "project_id": None}
        for a in amounts]}]
    f = flatten(COSTS, "1d", page, 0, 86400)
    if amounts:
        assert sum(f.table.column("amount_value").to_pylist()) == sum(amounts)


DAY = 86400
held_groups = st.dictionaries(  # a bucket's groups: (project, line item, key) -> (amount, quantity)
    st.tuples(st.sampled_from(["proj_a", "proj_b", None]), st.sampled_from(["gpt-4o, input", "gpt-4o, output"]),
              st.sampled_from(["key_1", None])),
    st.tuples(st.decimals(min_value=0, max_value=10**6, places=12, allow_nan=False),
              st.one_of(st.none(), st.sampled_from([0.1, 0.30000000000000004, 0.3, 2.0, 1e-13, 2e-13]))),
    max_size=5)


@settings(max_examples=200, deadline=None)
@given(held=st.dictionaries(st.integers(0, 9), held_groups, max_size=10),
       moved=st.dictionaries(st.integers(0, 9), held_groups, max_size=10),
       reread=st.lists(st.integers(0, 9), max_size=14), parts=st.integers(1, 5), batches=st.integers(1, 4),
       read_at=st.integers(0, 12), order=st.randoms(use_true_random=False))
def test_restatements_from_held_batches_match_a_group_by_group_reading(held, moved, reread, parts, batches, read_at,
                                                                        order):
    """The snapshot (held rows in a file, parts compared column by column) finds exactly the changes a plain
    group-by-group reading in exact decimals finds: whatever the order and batching of the held rows, however the
    re-read buckets fall into parts, with buckets read twice, held empty, or still open when last read."""
    from openai_usage.restatements import Snapshot

    ep = COSTS
    base = 1_790_000_000 - 1_790_000_000 % DAY
    closed_before = base + read_at * DAY + ep.arrival_lag  # buckets before `read_at` had closed when last read
    now = {i: moved.get(i, held.get(i, {})) for i in reread}  # what the re-read finds: moved, or as it was held

    snap = Snapshot(ep, "1d", closed_before, "acme")
    rows = [{"start": base + i * DAY, "end": base + (i + 1) * DAY, "emptied": not groups,
             **dict(zip(snap.dims, g if groups else (None,) * 3, strict=True)), "amount_value": v[0],
             "quantity": v[1]}
            for i, groups in held.items() for g, v in (groups.items() or [((None,) * 3, (None, None))])]
    order.shuffle(rows)
    for k in range(batches):
        if chunk := rows[k::batches]:
            snap.hold(pa.Table.from_pylist(chunk))

    found = set()
    seen: set[int] = set()
    for k in range(parts):
        part = [(i, g, v) for i in reread[k::parts] for g, v in (now[i].items() or [(None, None)])]
        if not part:
            continue
        table = pa.Table.from_pylist([
            {"start_time": dt.datetime.fromtimestamp(base + i * DAY, dt.UTC), "_bucket_emptied": g is None,
             **dict(zip(snap.dims, g or (None,) * 3, strict=True)), "amount_value": v and v[0],
             "quantity": v and v[1]} for i, g, v in part],
            schema=pa.schema([("start_time", pa.timestamp("us", "UTC")), ("_bucket_emptied", pa.bool_()),
                              *((f.name, f.type) for f in ep.arrow_schema() if f.name in
                                [*snap.dims, "amount_value", "quantity"])]))
        out = snap.compare(table, base + 20 * DAY)
        if out is not None:
            found |= {(r["start_time"], r["dimensions"], r["metric"], r["old_value"], r["new_value"], r["change"])
                      for r in out.to_pylist()}

    def exact(v: object) -> Decimal | None:
        return None if v is None else Decimal(str(v)).quantize(Decimal("1e-12"))

    want = set()
    for i in reread:
        if i in seen or i not in held or i >= read_at:
            seen.add(i)
            continue
        seen.add(i)
        for g in held[i].keys() | now[i].keys():
            old, new = held[i].get(g), now[i].get(g)
            change = "changed" if old and new else "appeared" if new else "vanished"
            for m, k in (("amount_value", 0), ("quantity", 1)):
                a, b = exact(old[k]) if old else None, exact(new[k]) if new else None
                if a != b:
                    dims = json.dumps(dict(zip(snap.dims, g, strict=True)), sort_keys=True, separators=(",", ":"))
                    want.add((dt.datetime.fromtimestamp(base + i * DAY, dt.UTC), dims, m, a, b, change))
    assert found == want
