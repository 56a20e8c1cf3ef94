"""The read model on disk and the view over it: exact cosine top-k, exclusions, the overlay of
changes, neighbour lists, filters, versions published atomically, one FAISS thread."""

from __future__ import annotations

import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

from api.readmodel import (
    current_meta,
    next_version,
    open_version,
    write_version,
)
from api.view import View
from db.read_model import Catalog, ChangedRows, parse_change
from db.vectors import _decode
from tests.support.read_model import STAMP
from tests.support.read_model import catalog as _catalog


def _view(tmp_path: Path, catalog: Catalog) -> View:
    directory = write_version(tmp_path, catalog, version=next_version(tmp_path), started=0.0)
    return View(open_version(directory))


def test_search_is_exact_cosine_top_k(tmp_path: Path) -> None:
    catalog = _catalog()
    view = _view(tmp_path, catalog)
    query = np.random.default_rng(1).normal(size=16).astype(np.float32)
    cosine = catalog.vectors @ (query / np.linalg.norm(query))
    expected = [int(catalog.item_ids[i]) for i in np.argsort(-cosine)[:10]]
    hits = view.search(query * 7, 10)  # the query's norm does not matter
    assert [h.item_id for h in hits] == expected
    assert hits[0].score == pytest.approx(float(cosine.max()), abs=1e-5)
    assert view.version == 1 and view.size == 50 and view.base.meta.dim == 16


def test_exclusions_filters_and_k_beyond_size(tmp_path: Path) -> None:
    view = _view(tmp_path, _catalog(n=5))
    query = view.vector(100)
    assert query is not None
    hits = view.search(query, 50, exclude={100, 101})
    assert len(hits) == 3 and {h.item_id for h in hits}.isdisjoint({100, 101})
    assert view.search(query, 0) == []
    odd = view.search(query, 50, keep=lambda row: not row["available"])
    assert {h.item_id for h in odd} == {101, 103}


def test_records_and_vectors_are_copies(tmp_path: Path) -> None:
    view = _view(tmp_path, _catalog(n=3))
    assert view.record(101) == {
        "external_id": "x:101",
        "title": "T101",
        "available": False,
        "created_at": STAMP,
    }
    v = view.vector(101)
    assert v is not None and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    v[:] = 0  # a copy: the mapped index is read-only and untouched
    again = view.vector(101)
    assert again is not None and np.linalg.norm(again) == pytest.approx(1.0, abs=1e-5)
    assert view.vector(999) is None and 101 in view and 999 not in view
    assert view.record(999) is None


def test_overlay_deletes_updates_and_adds(tmp_path: Path) -> None:
    catalog = _catalog(n=20, list_k=5)
    view = _view(tmp_path, catalog)
    base_vector = view.vector(100)
    assert base_vector is not None
    first = view.search(base_vector, 3)
    assert first[0].item_id == 100
    lists = view.neighbors(101, 5)
    assert lists is not None and len(lists) == 5
    victim = lists[0].item_id
    new = ChangedRows(
        records={
            100: {"external_id": "x:100", "title": "Renamed", "available": True},
            500: {"external_id": "x:500", "title": "New", "available": True},
        },
        vectors={500: base_vector},  # 100 lost its vector, 500 took it
    )
    changed = View(view.base, view.overlay.apply([100, 500, victim], new))
    assert changed.record(100) == {"external_id": "x:100", "title": "Renamed", "available": True}
    assert changed.record(victim) is None and changed.vector(100) is None
    hits = changed.search(base_vector, 3)
    assert hits[0].item_id == 500 and 100 not in {h.item_id for h in hits}
    assert victim not in {h.item_id for h in changed.search(base_vector, 20)}
    assert changed.neighbors(101, 5) is None  # a hole: a search answers instead
    assert changed.neighbors(100, 5) is None  # changed since its list was computed
    assert changed.size == 20 - 2 + 1 and len(changed.overlay) == 3
    assert view.record(100) is not None  # the old view is untouched


def test_versions_are_published_atomically(tmp_path: Path) -> None:
    assert current_meta(tmp_path) is None
    _view(tmp_path, _catalog(seed=1))
    view = _view(tmp_path, _catalog(seed=2))
    meta = current_meta(tmp_path)
    assert meta is not None and meta.version == 2 and meta.fingerprint == "fp2"
    assert view.version == 2 and not list(tmp_path.glob(".tmp-*"))
    for seed in range(3, 7):
        _view(tmp_path, _catalog(seed=seed))
    assert len(list(tmp_path.glob("v*"))) == 3  # older versions pruned


def test_empty_read_model(tmp_path: Path) -> None:
    catalog = _catalog(n=0)
    view = _view(tmp_path, catalog)
    assert view.size == 0 and view.search(np.ones(16, np.float32), 5) == []


def test_every_searching_thread_runs_faiss_single_threaded(tmp_path: Path) -> None:
    view = _view(tmp_path, _catalog(n=5))
    seen: list[int] = []

    def search() -> None:  # a fresh thread, as a request's worker thread would be
        faiss.omp_set_num_threads(4)  # whatever another library set before
        seen.append(faiss.omp_get_max_threads())
        view.search(np.ones(16, np.float32), 3)
        seen.append(faiss.omp_get_max_threads())

    thread = threading.Thread(target=search)
    thread.start()
    thread.join()
    assert seen == [4, 1]


def test_notifications_only_name_ids() -> None:
    assert parse_change('{"ids": [1, 2, 3]}') == [1, 2, 3]
    assert parse_change('{"ids": [1], "title": "x"}') == [1]  # extra keys carry nothing
    for payload in ['{"full": "items"}', "nonsense", '{"ids": ["1"]}', '{"ids": [true]}', "[]"]:
        assert parse_change(payload) is None  # a full reload (rate-limited)
    assert parse_change('{"ids": [' + ",".join(["1"] * 1001) + "]}") is None


def test_decode_pgvector_binary() -> None:
    values = np.array([[1.5, -2.0, 0.25], [0.0, 3.0, -1.0]], dtype=np.float32)
    blobs = [
        np.array([3, 0], dtype=">u2").tobytes() + row.astype(">f4").tobytes() for row in values
    ]
    assert np.array_equal(_decode(blobs, 3), values)
    assert _decode([], 3).shape == (0, 3)
