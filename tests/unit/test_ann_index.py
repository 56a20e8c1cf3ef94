"""The IVF read model (api/ann_index.py) on a small clustered catalog, threshold set low:
near-exact recall against the Flat one, float32 vectors by id, and overlaid deletes and
changes still win over what the index holds."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from api.ann_index import IndexOptions
from api.readmodel import ReadModel, open_version, write_version
from api.view import Overlay, View
from db.read_model import Catalog, ChangedRows

DIM = 32
ITEMS = 3000


def _catalog() -> Catalog:
    rng = np.random.default_rng(3)
    centroids = rng.standard_normal((40, DIM)).astype(np.float32)
    vectors = centroids[rng.integers(0, 40, ITEMS)] + rng.standard_normal((ITEMS, DIM)).astype(
        np.float32
    ) * np.float32(0.4)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, ITEMS + 1, dtype=np.int64) * 3
    return Catalog(
        model="fake",
        dim=DIM,
        path=None,
        fingerprint="f",
        item_ids=ids,
        records=[{"title": f"item {i}", "available": True} for i in ids.tolist()],
        vector_ids=ids,
        vectors=np.ascontiguousarray(vectors),
        list_k=0,
        lists=np.zeros((ITEMS, 0), dtype=np.int64),
        list_scores=np.zeros((ITEMS, 0), dtype=np.float32),
        list_fresh=np.zeros(ITEMS, dtype=bool),
    )


def _built(root: Path, catalog: Catalog, threshold: int) -> ReadModel:
    options = IndexOptions(ann_min_items=threshold)
    directory = write_version(
        root, catalog, version=1, started=time.perf_counter(), options=options
    )
    return open_version(directory)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, ReadModel, ReadModel]:
    catalog = _catalog()
    exact = _built(tmp_path_factory.mktemp("flat"), catalog, threshold=0)
    ann = _built(tmp_path_factory.mktemp("ivf"), catalog, threshold=1000)
    return catalog, exact, ann


def test_the_threshold_picks_the_index(models: tuple[Catalog, ReadModel, ReadModel]) -> None:
    catalog, exact, ann = models
    assert exact.meta.index_kind == "flat" and ann.meta.index_kind == "ivf_fp16"
    assert ann.matrix.dtype == np.float16 and ann.matrix.shape == (ITEMS, DIM)
    item = int(catalog.vector_ids[17])
    vector = View(ann).vector(item)
    assert vector is not None and vector.dtype == np.float32
    np.testing.assert_allclose(vector, catalog.vectors[17], atol=2e-3)


def test_ivf_recall_against_exact(models: tuple[Catalog, ReadModel, ReadModel]) -> None:
    catalog, exact, ann = models
    overlap = []
    for row in range(0, ITEMS, 60):
        query = catalog.vectors[row]
        truth = {h.item_id for h in View(exact).search(query, 10)}
        found = {h.item_id for h in View(ann).search(query, 10)}
        overlap.append(len(truth & found) / 10)
    assert float(np.mean(overlap)) >= 0.98


def test_deleted_and_changed_items_win_over_the_index(
    models: tuple[Catalog, ReadModel, ReadModel],
) -> None:
    catalog, _, ann = models
    query = catalog.vectors[5]
    top = [h.item_id for h in View(ann).search(query, 10)]
    moved = int(catalog.vector_ids[2000])
    # The top three deleted; another item re-embedded right onto the query.
    changed = ChangedRows(
        records={moved: {"title": "moved", "available": True}},
        vectors={moved: query.copy()},
    )
    view = View(ann, Overlay().apply([*top[:3], moved], changed))
    after = [h.item_id for h in view.search(query, 10)]
    assert after[0] == moved and not set(top[:3]) & set(after) and len(after) == 10
    assert all(view.record(i) is None for i in top[:3])
    assert not set(top[:3]) & {h.item_id for h in view.search(query, ITEMS)}
