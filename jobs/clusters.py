"""Refresh job of the catalog's themes: MiniBatchKMeans on the vectors, TF-IDF labels."""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.cluster import MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer

from db import clusters as cstore
from db.catalog import item_texts
from db.job_runs import record_refresh
from db.vectors import load_current_vectors
from jobs.runner import commit_with_retry, model_refresh, snapshot

log = logging.getLogger(__name__)

# Each run replaces the model's clustering whole; it is seeded, so the same vectors give the
# same clusters. Clusters are numbered by size, 0 the largest. A label is the 3 terms whose
# mean TF-IDF over the members most exceeds their mean over the rest of the catalog, so it
# names what sets the cluster apart rather than what every item says ("film", "story").
# Schedule: daily, or after a bulk import or a model switch; it is not incremental.
JOB = "clusters"
MAX_DEFAULT_CLUSTERS = 64
LABEL_TERMS = 3
TOP_TERMS = 8
# Words of at least 3 letters: numbers, years and initials make poor theme names.
TOKEN_PATTERN = r"(?u)\b[^\W\d_]{3,}\b"


@dataclass(frozen=True)
class ClustersRun:
    model: str
    items: int
    clusters: int
    seconds: float


def default_n_clusters(n: int) -> int:
    """sqrt(n / 2), at most 64: themes an analyst can read through, never more than items."""
    return max(1, min(n, MAX_DEFAULT_CLUSTERS, round(math.sqrt(n / 2))))


def assign(matrix: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    """Cluster of each row, renumbered by size (0 the largest); empty clusters dropped."""
    n = len(matrix)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    n_clusters = max(1, min(n_clusters, n))
    if n_clusters == 1:
        return np.zeros(n, dtype=np.int64)
    model = MiniBatchKMeans(
        n_clusters=n_clusters,
        random_state=seed,
        n_init=3,
        batch_size=min(4096, n),
        max_no_improvement=20,
    )
    with warnings.catch_warnings():
        # Duplicate vectors can leave fewer distinct clusters; empty ones are dropped below.
        warnings.simplefilter("ignore", ConvergenceWarning)
        raw = model.fit_predict(matrix)
    sizes = np.bincount(raw, minlength=n_clusters)
    order = np.lexsort((np.arange(n_clusters), -sizes))  # by size, ties by old number
    renumber = np.empty(n_clusters, dtype=np.int64)
    renumber[order] = np.arange(n_clusters)
    return np.asarray(renumber[raw])


def _dedupe(terms: list[str]) -> list[str]:
    """Drop a plural whose singular is already there (and the reverse)."""
    kept: list[str] = []
    for term in terms:
        if any(term in (k + "s", k + "es") or k in (term + "s", term + "es") for k in kept):
            continue
        kept.append(term)
    return kept


def top_terms(
    texts: list[str], assignments: np.ndarray, n_terms: int = TOP_TERMS
) -> list[list[str]]:
    """Per cluster, the terms whose mean TF-IDF in the cluster most exceeds the rest's."""
    n_clusters = int(assignments.max()) + 1 if len(assignments) else 0
    if n_clusters == 0:
        return []
    matrix = None
    for min_df in (2, 1):  # a tiny catalog may share no word twice
        vectorizer = TfidfVectorizer(
            stop_words="english",
            token_pattern=TOKEN_PATTERN,
            lowercase=True,
            sublinear_tf=True,
            min_df=min_df,
            max_df=0.5 if len(texts) >= 20 else 1.0,
            max_features=50_000,
        )
        try:
            matrix = vectorizer.fit_transform(texts)
            break
        except ValueError:  # empty vocabulary
            continue
    if matrix is None:
        return [[] for _ in range(n_clusters)]
    vocabulary = vectorizer.get_feature_names_out()
    members = sparse.csr_matrix(
        (np.ones(len(assignments)), (assignments, np.arange(len(assignments)))),
        shape=(n_clusters, len(assignments)),
    )
    sums = np.asarray((members @ matrix).todense())
    counts = np.bincount(assignments, minlength=n_clusters).astype(np.float64)
    total = sums.sum(axis=0)
    inside = sums / np.maximum(counts, 1)[:, None]
    rest = (total[None, :] - sums) / np.maximum(len(assignments) - counts, 1)[:, None]
    score = inside - rest
    result = []
    for c in range(n_clusters):
        best = np.argsort(-score[c], kind="stable")[: n_terms * 3]
        terms = [str(vocabulary[j]) for j in best if score[c, j] > 0]
        result.append(_dedupe(terms)[:n_terms])
    return result


def describe(assignments: np.ndarray, terms: list[list[str]]) -> list[cstore.ClusterInfo]:
    sizes = np.bincount(assignments, minlength=len(terms))
    return [
        cstore.ClusterInfo(
            cluster=c,
            size=int(sizes[c]),
            label=", ".join(terms[c][:LABEL_TERMS]) or f"cluster {c}",
            top_terms=terms[c],
        )
        for c in range(len(terms))
    ]


def refresh_clusters(
    *,
    url: str | None = None,
    model: str | None = None,
    n_clusters: int | None = None,
    seed: int = 0,
) -> ClustersRun:
    """Recluster the current vectors of `model` (default: the active one) and record the run."""
    if n_clusters is not None and n_clusters < 1:
        raise ValueError("n_clusters must be at least 1")
    started = time.perf_counter()
    with model_refresh(url, JOB, model) as job:
        conn = job.conn
        with snapshot(conn):
            vectors = load_current_vectors(conn=conn, model=job.model)
            texts = item_texts(conn=conn, ids=vectors.ids)
        wanted = n_clusters or default_n_clusters(len(vectors))
        assignments = assign(vectors.matrix, wanted, seed)
        infos = describe(assignments, top_terms(texts, assignments))

        def write() -> None:
            cstore.replace_clusters(
                conn=conn,
                model=job.model,
                item_ids=vectors.ids,
                assignments=assignments,
                clusters=infos,
            )
            record_refresh(
                conn=conn,
                model=job.model,
                job=JOB,
                watermark=job.floor,
                items=len(vectors),
                changed=len(vectors),
                k=len(infos),
                mode="full",
                seconds=time.perf_counter() - started,
            )

        commit_with_retry(conn, write, JOB)
    run = ClustersRun(
        model=job.model,
        items=len(vectors),
        clusters=len(infos),
        seconds=time.perf_counter() - started,
    )
    log.info(
        "clusters refreshed: model=%s items=%d clusters=%d seconds=%.1f",
        run.model,
        run.items,
        run.clusters,
        run.seconds,
    )
    return run
