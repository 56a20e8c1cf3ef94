"""What one API process holds: the engine, the loaded model and FAISS snapshot, readiness.

`serving` is the single reference that requests read: an immutable (model, embedder,
encoder, snapshot) bundle, replaced whole by the refresher, never mutated. A request reads
it once and keeps its own reference, so a swap never changes the snapshot under it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from api.errors import NotReady
from api.metrics import Metrics
from api.snapshot import Snapshot, build_snapshot
from db.embeddings import ModelInfo, active_model
from db.engine import database_url, make_engine
from db.neighbors import neighbor_list_depth
from db.settings import Settings
from db.vectors import load_serving_vectors, vector_signature
from jobs.embedder import Embedder, QueryEncoder, check_dimension, load_embedder

log = logging.getLogger(__name__)

EmbedderFactory = Callable[[ModelInfo], Embedder]


def default_embedder_factory(settings: Settings) -> EmbedderFactory:
    """Load the active model from its registered path (else the configured one)."""

    def load(model: ModelInfo) -> Embedder:
        return load_embedder(model.path or settings.model_path, model.name)

    return load


@dataclass(frozen=True, eq=False)
class Serving:
    model: ModelInfo
    embedder: Embedder
    encoder: QueryEncoder
    snapshot: Snapshot


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        embedder_factory: EmbedderFactory | None = None,
        lazy: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.embedder_factory = embedder_factory or default_embedder_factory(settings)
        self.lazy = lazy
        self.metrics = metrics or Metrics()
        self.serving: Serving | None = None
        self.load_error: str | None = None
        self.listening = False
        self.last_check: float | None = None
        self.started_at = time.time()
        self._versions = itertools.count(1)
        self._engine: Engine | None = None
        self._url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.load_requested = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Called from the lifespan: build the engine (no connection yet), remember the loop."""
        self._loop = asyncio.get_running_loop()
        self.load_requested = asyncio.Event()
        if not self.lazy:
            self.load_requested.set()
        self._url = database_url(self.settings)
        self._engine = make_engine(self._url, max_overflow=20)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self.metrics.close()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the app has not started (lifespan not entered)")
        return self._engine

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the app has not started (lifespan not entered)")
        return self._url

    def connect(self) -> Connection:
        return self.engine.connect()

    @property
    def uptime(self) -> float:
        return time.time() - self.started_at

    # -- readiness -------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.serving is not None

    def request_load(self) -> None:
        """Ask the refresher to load model and snapshot (lazy mode); safe from any thread."""
        if self.load_requested.is_set() or self._loop is None:
            return
        try:
            in_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:  # a worker thread (sync handler)
            in_loop = False
        if in_loop:
            self.load_requested.set()
        else:
            self._loop.call_soon_threadsafe(self.load_requested.set)

    def require_serving(self) -> Serving:
        """The loaded model and snapshot, or 503 + Retry-After (and a load is requested)."""
        serving = self.serving
        if serving is None:
            self.request_load()
            why = f" (last attempt failed: {self.load_error})" if self.load_error else ""
            raise NotReady(f"the model and the vector snapshot are still loading{why}")
        return serving

    # -- building (blocking: run these in a worker thread) ---------------------------------

    def needs_rebuild(self) -> bool:
        """Whether the active model or its vectors differ from the served snapshot."""
        current = self.serving
        with self.connect() as conn:
            model = active_model(conn)
            if current is None or model != current.model:
                return True
            signature = vector_signature(conn=conn, model=model.name, dim=model.dim)
        self.last_check = time.time()
        return signature != current.snapshot.signature

    # A (re)build has three steps so that the slow one holding no connection (loading a
    # model) is the only one shutdown may abandon; the two that hold a pooled connection
    # always run to the end, and the engine is disposed only after them.

    def active_model(self) -> ModelInfo:
        with self.connect() as conn:
            return active_model(conn)

    def encoder_for(self, model: ModelInfo) -> tuple[Embedder, QueryEncoder]:
        """The current embedder when the model is unchanged, else a newly loaded one."""
        current = self.serving
        if current is not None and current.model == model:
            return current.embedder, current.encoder
        log.info("loading embedder for model %s", model.name)
        embedder = self.embedder_factory(model)
        check_dimension(embedder, model.dim)
        return embedder, QueryEncoder(embedder)

    def build_serving(self, model: ModelInfo, embedder: Embedder, encoder: QueryEncoder) -> Serving:
        """Read the model's vectors and build a new snapshot (the next version)."""
        started = time.perf_counter()
        with self.connect() as conn:
            vectors = load_serving_vectors(conn=conn, model=model.name, dim=model.dim)
            neighbor_k = neighbor_list_depth(conn=conn, model=model.name)
        snapshot = build_snapshot(vectors, version=next(self._versions), neighbor_k=neighbor_k)
        self.metrics.snapshot_builds.observe(time.perf_counter() - started)
        self.last_check = time.time()
        return Serving(model=model, embedder=embedder, encoder=encoder, snapshot=snapshot)

    def swap(self, serving: Serving) -> None:
        """Publish a new bundle: one reference assignment, atomic for every reader."""
        previous = self.serving
        self.serving = serving
        self.load_error = None
        snap = serving.snapshot
        self.metrics.observe_snapshot(version=snap.version, size=snap.size, built_at=snap.built_at)
        log.info(
            "snapshot v%d: %d vectors of %s in %.2fs (was v%s)",
            snap.version,
            snap.size,
            snap.model,
            snap.build_seconds,
            previous.snapshot.version if previous else "-",
        )
