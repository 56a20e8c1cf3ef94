"""The per-view result cache: a repeated search is answered from it, and a change applied
(a new view) never sees a result computed before the change."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from api.readmodel import next_version, open_version, write_version
from api.search_cache import SearchCache
from api.view import AvailableIs, View
from db.read_model import ChangedRows
from db.recs import Hit
from tests.support.read_model import catalog as _catalog


def _view(tmp_path: Path) -> View:
    catalog = _catalog(n=40)
    directory = write_version(tmp_path, catalog, version=next_version(tmp_path), started=0.0)
    return View(open_version(directory))


def test_a_repeated_search_is_answered_from_the_cache(tmp_path: Path) -> None:
    view = _view(tmp_path)
    query = np.random.default_rng(3).normal(size=16).astype(np.float32)
    first = view.search(query, 5)
    again = view.search(query * 2.0, 5)  # same direction: same normalised key
    assert again == first and view.results.hits == 1
    again.clear()  # callers get a copy: the cached answer is not theirs to change
    assert view.search(query, 5) == first
    assert view.search(query, 4) == first[:4] and view.results.hits == 2  # k is in the key
    assert view.search(query, 5, exclude={first[0].item_id}) != first  # so is exclude


def test_a_change_applied_is_never_answered_from_an_older_result(tmp_path: Path) -> None:
    view = _view(tmp_path)
    query = np.random.default_rng(4).normal(size=16).astype(np.float32)
    top = view.search(query, 5)[0].item_id
    assert view.search(query, 5)[0].item_id == top and view.results.hits == 1
    deleted = View(view.base, view.overlay.apply([top], ChangedRows({}, {})))
    assert top not in [h.item_id for h in deleted.search(query, 5)]
    assert deleted.results.hits == 0 and len(deleted.results) == 1
    vector = view.vector(top)
    assert vector is not None
    unavailable = View(
        deleted.base,
        deleted.overlay.apply(
            [top], ChangedRows({top: {"title": "T", "available": False}}, {top: vector})
        ),
    )
    kept = unavailable.search(query, 5, keep=AvailableIs(False))
    assert kept[0].item_id == top  # back (unavailable): only where unavailable is asked for
    assert top not in [h.item_id for h in unavailable.search(query, 5, keep=AvailableIs(True))]


def test_filters_are_part_of_the_key_and_others_are_not_cached(tmp_path: Path) -> None:
    view = _view(tmp_path)
    query = np.random.default_rng(5).normal(size=16).astype(np.float32)
    on = view.search(query, 5, keep=AvailableIs(True))
    off = view.search(query, 5, keep=AvailableIs(False))
    assert {h.item_id for h in on}.isdisjoint(h.item_id for h in off)
    assert view.results.hits == 0 and len(view.results) == 2
    view.search(query, 5, keep=lambda row: True)  # an arbitrary filter has no key
    assert len(view.results) == 2


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = SearchCache(max_entries=2)
    cache.put("a", [Hit(1, 0.5)])
    cache.put("b", [Hit(2, 0.5)])
    assert cache.get("a") == [Hit(1, 0.5)]  # a is now the most recent
    cache.put("c", [Hit(3, 0.5)])
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 2
