"""Filtered vector search returns the true top-k: rec.semantic against numpy brute force.

A catalog of PGREC_RECALL_N (default 20,000) unit vectors is loaded once for the module,
with categories that select 50%, 25%, 10%, 1% and 0.1% of the items independently of their
vectors, an attribute that selects 0.1%, and a category that is a half-space of the vector
space (queries from the other side are the hard case for a post-filtering index). For each,
QUERIES query vectors compare rec.semantic's top-10 with exact search over the matching
rows: recall@10 >= 0.98 on average, and exactly min(k, matches) rows every time.

The vectors have the structure of sentence embeddings: a low-dimensional latent space
(LATENT_DIM) mapped into 384 dimensions plus noise. That gives the local intrinsic
dimension (~24, MLE at 20 neighbours) and about the HNSW recall curve that
all-MiniLM-L6-v2 vectors of 20k-40k TMDB/Netflix/MovieLens texts have. Uniform random
384-d vectors would not do: they have no neighbour structure (every point is nearly
equidistant from every other), so HNSW finds ~60% of the true neighbours even unfiltered
at ef_search 400, and no index could serve them.

`PGREC_RECALL_N=40000 pytest -s tests/integration/test_recall.py` prints recall and
latency per selectivity at 40k items.
"""

from __future__ import annotations

import os
import statistics
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from sqlalchemy import Connection, text

from db import recs
from db.recs import Filters
from tests.support.databases import drop_database, engine_for
from tests.support.recs_catalog import MODEL, clone_template, load_vector_catalog

N = int(os.environ.get("PGREC_RECALL_N", "20000"))
DIM = 384
LATENT_DIM = 32
NOISE = 0.1
QUERIES = 20
K = 10
NESTED = {"s50": 0.5, "s25": 0.25, "s10": 0.1, "s1": 0.01, "s01": 0.001}  # category: share of items


def embeddings(n: int, rng: np.random.Generator, basis: np.ndarray) -> np.ndarray:
    """Unit vectors with the structure of sentence embeddings (see the module docstring)."""
    z = rng.standard_normal((n, basis.shape[0])).astype(np.float32)
    noise = NOISE * np.sqrt(basis.shape[0]) * rng.standard_normal((n, DIM)).astype(np.float32)
    x = z @ basis + noise
    unit: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return unit


@dataclass
class Catalog:
    url: str
    ids: np.ndarray
    vectors: np.ndarray
    masks: dict[str, np.ndarray]
    basis: np.ndarray
    side: np.ndarray  # the normal of the half-space category "side"


def _load(url: str, rng: np.random.Generator) -> Catalog:
    basis = rng.standard_normal((LATENT_DIM, DIM)).astype(np.float32)
    vectors = embeddings(N, rng, basis)
    ids = np.arange(1, N + 1, dtype=np.int64)
    share = rng.random(N)
    permille = rng.integers(0, 1000, N)
    side = embeddings(1, rng, basis)[0]
    masks = {name: share < cut for name, cut in NESTED.items()}
    masks["side"] = vectors @ side > 0
    masks["pm"] = permille == 7
    items = (
        (
            int(ids[i]),
            f"r:{i}",
            f"item {i}",
            [name for name in (*NESTED, "side") if masks[name][i]],
            f'{{"pm": "{permille[i]}"}}',
        )
        for i in range(N)
    )
    load_vector_catalog(
        url, "id, external_id, title, categories, attributes", items, vectors, work_mem="512MB"
    )
    return Catalog(url, ids, vectors, masks, basis, side)


@pytest.fixture(scope="module")
def catalog(server_url: str, template_url: str) -> Iterator[Catalog]:
    url = clone_template(server_url, template_url)
    try:
        yield _load(url, np.random.default_rng(20261123))
    finally:
        drop_database(server_url, url)


@pytest.fixture
def conn(catalog: Catalog) -> Iterator[Connection]:
    with engine_for(catalog.url) as engine, engine.connect() as connection:
        yield connection


CASES: dict[str, tuple[Filters, str]] = {
    "50%": (Filters(categories=("s50",)), "s50"),
    "25%": (Filters(categories=("s25",)), "s25"),
    "10%": (Filters(categories=("s10",)), "s10"),
    "1%": (Filters(categories=("s1",)), "s1"),
    "0.1%": (Filters(categories=("s01",)), "s01"),
    "0.1% attribute": (Filters(attributes={"pm": "7"}), "pm"),
    "50% opposite half-space": (Filters(categories=("side",)), "side"),
    "unfiltered": (Filters(), ""),
    # Combined filters: s25 lies inside s50 (fully correlated), pm is independent of both.
    "25% combined (50% and 25%)": (
        Filters(categories=("s50", "s25"), categories_mode="all"),
        "s25",
    ),
    "0.05% combined (50% and attribute)": (
        Filters(categories=("s50",), attributes={"pm": "7"}),
        "s50&pm",
    ),
}


def _mask(catalog: Catalog, name: str) -> np.ndarray:
    if not name:
        return np.ones(N, dtype=bool)
    out = np.ones(N, dtype=bool)
    for part in name.split("&"):
        out &= catalog.masks[part]
    return out


EXACT_ROWS_SCALE = 150  # rec._defaults(); the callers' fallback is 600
ESTIMATE_MARGIN = 1.25  # rec._defaults()


def _threshold(scale: int = EXACT_ROWS_SCALE) -> int:
    """rec._vector_plan's default: exact up to sqrt(scale x catalog size) matching rows."""
    return int(np.ceil(np.sqrt(scale * N)))


@pytest.mark.parametrize("case", list(CASES))
def test_filtered_top_k_is_exact(catalog: Catalog, conn: Connection, case: str) -> None:
    filters, mask_name = CASES[case]
    mask = _mask(catalog, mask_name)
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    queries = embeddings(QUERIES, rng, catalog.basis)
    if case.endswith("half-space"):
        # Queries mirrored to the other side: the nearest matching items are far away.
        queries -= 2 * np.outer(np.maximum(queries @ catalog.side, 0), catalog.side)
    plan = conn.execute(
        text("SELECT * FROM rec.vector_plan(:k, CAST(:f AS jsonb))"),
        {"k": K, "f": recs.calls.filters_json(filters)},
    ).one()
    # Each case takes the branch its matching rows call for (both are taken across CASES);
    # between the threshold and the margin, a filter estimated within the margin is counted
    # and answered exactly, one estimated over it goes to HNSW.
    if mask.sum() <= _threshold():
        assert plan.path == "exact", case
    elif mask.sum() > ESTIMATE_MARGIN * _threshold():
        assert plan.path == "hnsw", case
    recalls, millis = [], []
    for q in queries:
        start = time.perf_counter()
        hits = recs.semantic(conn=conn, model=MODEL, vector=q, k=K, filters=filters)
        millis.append((time.perf_counter() - start) * 1000)
        sims = catalog.vectors[mask] @ q
        truth = set(catalog.ids[mask][np.argsort(-sims)[:K]].tolist())
        got = [h.item_id for h in hits]
        assert len(got) == min(K, int(mask.sum())), case
        assert all(mask[i - 1] for i in got), case
        recalls.append(len(truth & set(got)) / len(truth))
    recall = float(np.mean(recalls))
    print(
        f"\nN={N} {case:24s} matches={int(mask.sum()):6d} path={plan.path:5s} "
        f"ef={plan.ef_search} recall@10={recall:.3f} (min {min(recalls):.1f}) "
        f"p50={statistics.median(millis):.1f}ms p90={np.percentile(millis, 90):.1f}ms"
    )
    assert recall >= 0.98, case


def test_both_branches_are_exercised() -> None:
    sizes = [int(_mask_size(name)) for _, name in CASES.values()]
    assert min(sizes) <= _threshold() and ESTIMATE_MARGIN * _threshold() < max(sizes)


def _mask_size(name: str) -> float:
    shares = {**NESTED, "side": 0.5, "pm": 0.001, "": 1.0}
    share = 1.0
    for part in name.split("&"):
        share *= shares[part]
    return share * N


def test_hnsw_that_gives_up_falls_back_to_the_exact_scan(
    catalog: Catalog, conn: Connection
) -> None:
    """HNSW forced on a 0.1% filter with a scan budget of one tuple returns fewer than k
    candidates: rec.semantic must answer with the exact scan instead (still the true top-k)."""
    filters, mask_name = CASES["0.1%"]
    mask = _mask(catalog, mask_name)
    conn.execute(text("SET LOCAL pgrec.exact_max_rows = 0"))
    conn.execute(text("SET LOCAL hnsw.max_scan_tuples = 1"))
    plan = conn.execute(
        text("SELECT * FROM rec.vector_plan(:k, CAST(:f AS jsonb))"),
        {"k": K, "f": recs.calls.filters_json(filters)},
    ).one()
    assert plan.path == "hnsw"
    q = embeddings(1, np.random.default_rng(3), catalog.basis)[0]
    hits = recs.semantic(conn=conn, model=MODEL, vector=q, k=K, filters=filters)
    sims = catalog.vectors[mask] @ q
    truth = catalog.ids[mask][np.argsort(-sims)[:K]].tolist()
    assert [h.item_id for h in hits] == truth


def test_the_measured_default_threshold_and_a_session_override(
    catalog: Catalog, conn: Connection
) -> None:
    """10% of the catalog matches: over the default threshold (rec._defaults) it takes HNSW
    once the margin is closed; a session's pgrec.exact_rows_scale (the former 600) still
    decides over the default."""
    f = recs.calls.filters_json(CASES["10%"][0])
    plan = text("SELECT * FROM rec.vector_plan(:k, CAST(:f AS jsonb))")
    mask = _mask(catalog, "s10")
    assert _threshold() < mask.sum() <= _threshold(600)
    conn.execute(text("SET LOCAL pgrec.estimate_margin = 1"))
    assert conn.execute(plan, {"k": K, "f": f}).one().path == "hnsw"
    conn.execute(text("SET LOCAL pgrec.exact_rows_scale = 600"))
    assert conn.execute(plan, {"k": K, "f": f}).one()[:2] == ("exact", int(mask.sum()))


def test_a_count_within_the_margin_answers_exactly(catalog: Catalog, conn: Connection) -> None:
    """A filter over the threshold but counted within pgrec.estimate_margin x the threshold
    is answered by the exact scan over the ids the count collected (0018; before, they were
    thrown away and HNSW searched): the plan says so and the answer is the true top-k."""
    filters, mask_name = CASES["10%"]
    mask = _mask(catalog, mask_name)
    assert _threshold() < mask.sum() <= 3 * _threshold()
    conn.execute(text("SET LOCAL pgrec.estimate_margin = 3"))
    plan = conn.execute(
        text("SELECT * FROM rec.vector_plan(:k, CAST(:f AS jsonb))"),
        {"k": K, "f": recs.calls.filters_json(filters)},
    ).one()
    assert (plan.path, plan.matching, plan.ef_search) == ("exact", int(mask.sum()), None)
    for seed in range(3):
        q = embeddings(1, np.random.default_rng(seed), catalog.basis)[0]
        hits = recs.semantic(conn=conn, model=MODEL, vector=q, k=K, filters=filters)
        sims = catalog.vectors[mask] @ q
        assert [h.item_id for h in hits] == catalog.ids[mask][np.argsort(-sims)[:K]].tolist()


def test_exact_max_rows_makes_every_query_exact(catalog: Catalog, conn: Connection) -> None:
    conn.execute(text("SET LOCAL pgrec.exact_max_rows = 10000000"))
    plan = conn.execute(text("SELECT * FROM rec.vector_plan(10, '{}')")).one()
    assert (plan.path, plan.matching, plan.ef_search) == ("exact", N, None)


# Whether the session remembers filter :w (rec._vector_plan, 0024): its slot's value names it.
REMEMBERED = """
SELECT split_part(current_setting('pgrec.over_' || ((hashtext(:w)::bigint % n) + n) % n, true),
                  ':', 1) = md5(:w)
FROM (SELECT coalesce(nullif(current_setting('pgrec.count_memory_max', true), ''),
                      '1000')::bigint AS n) s
"""


def test_a_filter_counted_over_the_margin_is_remembered(catalog: Catalog, conn: Connection) -> None:
    """0020: s10 and s50 together match s10's rows, but the planner takes the two as
    independent and estimates half as many. With the threshold between the two, the first
    query counts (reading items' rows) and goes to HNSW; the session remembers the filter
    (rec.semantic's SET clauses do not undo it) and the next plans skip the count, unless
    pgrec.count_memory is 0."""
    filters = Filters(categories=("s10", "s50"), categories_mode="all")
    f = recs.calls.filters_json(filters)
    actual = int(_mask(catalog, "s10").sum())
    where = conn.execute(text("SELECT rec.filter_sql(CAST(:f AS jsonb))"), {"f": f}).scalar_one()
    explained = conn.execute(text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM items i WHERE {where}"))
    estimate = int(explained.scalar_one()[0]["Plan"]["Plan Rows"])
    assert estimate < 0.75 * actual
    conn.execute(text("SET LOCAL pgrec.estimate_margin = 1"))
    conn.execute(text(f"SET LOCAL pgrec.exact_max_rows = {(estimate + actual) // 2}"))
    plan = text("SELECT path FROM rec.vector_plan(:k, CAST(:f AS jsonb))")
    read = text(
        "SELECT pg_stat_get_xact_tuples_fetched('items'::regclass)"
        " + pg_stat_get_xact_tuples_returned('items'::regclass)"
    )
    remembered = text(REMEMBERED)

    def rows_read(run: Callable[[], object]) -> int:
        before = conn.execute(read).scalar_one()
        run()
        return int(conn.execute(read).scalar_one() - before)

    q = embeddings(1, np.random.default_rng(5), catalog.basis)[0]
    assert not conn.execute(remembered, {"w": where}).scalar_one()
    first = rows_read(lambda: recs.semantic(conn=conn, model=MODEL, vector=q, k=K, filters=filters))
    assert first > (estimate + actual) // 2  # the count read past the threshold
    assert conn.execute(remembered, {"w": where}).scalar_one()
    again: list[str] = []
    assert rows_read(lambda: again.append(conn.execute(plan, {"k": K, "f": f}).scalar_one())) == 0
    assert again == ["hnsw"]
    conn.execute(text("SET LOCAL pgrec.count_memory = 0"))
    assert rows_read(lambda: conn.execute(plan, {"k": K, "f": f}).scalar_one()) > actual // 2


def test_a_session_remembers_filters_in_a_bounded_number_of_slots(
    catalog: Catalog, conn: Connection
) -> None:
    """0022/0024: a filter is remembered in slot hash(filter) mod pgrec.count_memory_max, so
    a session names at most that many settings, even when its transactions roll back (a
    rollback leaves a setting's name behind). With one slot, two filters forget each other."""
    first = Filters(categories=("s10", "s50"), categories_mode="all")
    second = Filters(categories=("s50", "s10"), categories_mode="all")  # same rows, new text
    wheres = [
        conn.execute(
            text("SELECT rec.filter_sql(CAST(:f AS jsonb))"), {"f": recs.calls.filters_json(f)}
        ).scalar_one()
        for f in (first, second)
    ]
    assert wheres[0] != wheres[1]
    actual = int(_mask(catalog, "s10").sum())
    estimates = [
        int(
            conn.execute(
                text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM items i WHERE {w}")
            ).scalar_one()[0]["Plan"]["Plan Rows"]
        )
        for w in wheres
    ]
    threshold = (max(estimates) + actual) // 2  # both counted, both over it
    assert max(estimates) < threshold < actual
    conn.execute(text("SET LOCAL pgrec.estimate_margin = 1"))
    conn.execute(text(f"SET LOCAL pgrec.exact_max_rows = {threshold}"))
    conn.execute(text("SET LOCAL pgrec.count_memory_max = 1"))
    plan = text("SELECT path FROM rec.vector_plan(:k, CAST(:f AS jsonb))")
    remembered = text(REMEMBERED)
    read = text(
        "SELECT pg_stat_get_xact_tuples_fetched('items'::regclass)"
        " + pg_stat_get_xact_tuples_returned('items'::regclass)"
    )

    def counted(f: Filters) -> bool:
        before = conn.execute(read).scalar_one()
        assert conn.execute(plan, {"k": K, "f": recs.calls.filters_json(f)}).scalar_one() == "hnsw"
        return bool(conn.execute(read).scalar_one() > before)

    assert counted(first) and not counted(first)  # remembered
    assert counted(second)  # the one slot now holds the second
    assert conn.execute(remembered, {"w": wheres[1]}).scalar_one()
    assert not conn.execute(remembered, {"w": wheres[0]}).scalar_one()
    assert counted(first)
    slot = conn.execute(text("SELECT current_setting('pgrec.over_0')")).scalar_one()
    assert slot.split(":")[0] == conn.execute(text("SELECT md5(:w)"), {"w": wheres[0]}).scalar_one()
    # No setting is named after a filter (0022's names), rolled back or not.
    named = text("SELECT current_setting('pgrec.over_' || md5(:w), true)")
    with conn.begin_nested() as inner:
        conn.execute(text("SET LOCAL pgrec.count_memory_max = 1000"))
        counted(second)
        inner.rollback()
    assert all(conn.execute(named, {"w": w}).scalar_one() is None for w in wheres)
