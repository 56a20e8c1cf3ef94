"""How many Postgres round trips a filtered request costs (libpq's trace, tests/support/wire.py).

A one-list mode Postgres answers (filtered semantic, terms, title) runs one statement: it
needs no transaction, so no BEGIN before it and no ROLLBACK when the connection goes back
to the pool. Hybrid reads several lists and keeps them in one transaction.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

import db.recs as recs
from api.params import ListOptions
from api.planner import Planner
from api.runtime import Runtime
from tests.support.api import Catalog
from tests.support.wire import traced


def _planner(client: TestClient[Litestar]) -> tuple[Planner, Runtime]:
    runtime: Runtime = client.app.state["runtime"]
    return Planner(runtime), runtime


def test_one_list_modes_are_one_statement_without_a_transaction(
    client: TestClient[Litestar], catalog: Catalog
) -> None:
    """On the threaded path (the asyncio one runs the same statement on its own
    connections); the rows come from the read model, not from a second query."""
    planner, runtime = _planner(client)
    movies = recs.Filters(kinds=("Movie",))
    for mode, q, function in (
        ("semantic", "space adventure", "rec.semantic"),
        ("terms", "space adventure", "rec.search_terms"),
        ("title", "star voyaje", "rec.search_title"),
    ):
        with traced(runtime.engine) as wire:
            page = planner.recommend(mode=mode, q=q, filters=movies, options=ListOptions())
        assert page.backend == "postgres" and page.results, mode
        assert all(catalog.rows[r.id]["kind"] == "Movie" for r in page.results)
        assert all(r.title == catalog.rows[r.id]["title"] for r in page.results)
        sent = wire.sent("Query") + wire.sent("Parse")
        assert not [s for s in sent if "BEGIN" in s or "ROLLBACK" in s], wire.lines
        assert len([s for s in sent if function in s]) == 1, (mode, wire.lines)
        # The statement alone (before: BEGIN, it, ROLLBACK; terms and title then read
        # their rows too). Not traced: the pool's liveness ping, sent before the checkout
        # hook runs.
        assert wire.round_trips == 1, (mode, wire.lines)


def test_hybrid_keeps_its_lists_in_one_transaction(client: TestClient[Litestar]) -> None:
    """Also: the autocommit of a one-list mode does not stay on the pooled connection."""
    planner, runtime = _planner(client)
    movies = recs.Filters(kinds=("Movie",))
    for mode in ("semantic", "title", "hybrid"):
        with traced(runtime.engine) as wire:
            planner.recommend(mode=mode, q="space adventure", filters=movies, options=ListOptions())
        began = [s for s in wire.sent("Query") if "BEGIN" in s]
        assert bool(began) == (mode == "hybrid"), (mode, wire.lines)
