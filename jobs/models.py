"""Model versions: register a model with its own HNSW index, switch the active one, drop one.

A new model is filled side by side (`pgrec embed --model NAME`) while the active one keeps
serving; activation is one transaction and refuses while the new model misses items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from db import embeddings as store
from db import vector_index
from db.drift import save_overlap
from db.embeddings import Coverage, ModelInfo
from jobs.drift import Drift, DriftTooHigh, check_drift
from jobs.engines import load_engine
from jobs.worker import Loader


class ModelExists(ValueError):
    """A model with that name is already registered."""


def add_model(
    engine: Engine, *, name: str, path: str, loader: Loader = load_engine
) -> tuple[ModelInfo, str]:
    """Load the model to learn its dimension, register it and create its index, atomically."""
    with engine.connect() as conn:
        try:
            store.get_model(conn, name=name)
        except store.ModelNotFound:
            pass
        else:
            raise ModelExists(f"model {name!r} is already registered")
    embedder = loader(path, name)
    # Ask the vectors, not the config: what gets stored is what encode() returns.
    probe = embedder.encode(["dimension probe"])
    if probe.ndim != 2 or probe.shape[1] != embedder.dim:
        raise store.VectorShapeError(
            f"model at {path!r} declares dim {embedder.dim} but returned shape {probe.shape}"
        )
    with engine.begin() as conn:
        model = store.register_model(conn, name=name, dim=embedder.dim, path=path)
        index = vector_index.create_hnsw_index(conn, model=name, dim=embedder.dim)
    return model, index


def activate_model(
    engine: Engine,
    *,
    name: str,
    force: bool = False,
    min_overlap: float | None = None,
    on_drift: Callable[[Drift], None] | None = None,
) -> Coverage:
    """Switch the active model in one transaction (refused while coverage < 100%).

    With `min_overlap`, the drift check runs first: its overlap@10 is kept with the new
    model, passed to `on_drift`, and a figure below `min_overlap` refuses the switch
    (DriftTooHigh) unless forced.
    """
    if min_overlap is not None:
        drift = check_drift(engine, new=name)
        if drift is not None:
            with engine.begin() as conn:
                save_overlap(conn=conn, name=name, overlap=drift.overlap, against=drift.old)
            if on_drift is not None:
                on_drift(drift)
            if drift.overlap < min_overlap and not force:
                raise DriftTooHigh(drift, min_overlap)
    with engine.begin() as conn:
        model = store.get_model(conn, name=name)
        if not vector_index.hnsw_index_exists(conn, model=name):
            vector_index.create_hnsw_index(conn, model=name, dim=model.dim)
        return store.activate_model(conn, name=name, force=force)


def drop_model(engine: Engine, *, name: str) -> int:
    """Delete an inactive model's vectors, its index and its registration."""
    with engine.begin() as conn:
        deleted = store.delete_model(conn, name=name)
        vector_index.drop_hnsw_index(conn, model=name)
    return deleted


@dataclass(frozen=True)
class ModelRow:
    model: ModelInfo
    coverage: Coverage
    index: str | None


def list_models(engine: Engine) -> list[ModelRow]:
    with engine.connect() as conn:
        return [
            ModelRow(
                model=m,
                coverage=store.coverage(conn, model=m.name),
                index=vector_index.hnsw_index_name(m.name)
                if vector_index.hnsw_index_exists(conn, model=m.name)
                else None,
            )
            for m in store.list_models(conn)
        ]
