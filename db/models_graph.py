"""SQLAlchemy models of what the refresh jobs derive from the vectors: neighbours, clusters."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Integer, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, REAL
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, RankedItemList, item_fk, model_fk

# Caches rebuilt by the jobs from item_embeddings, so that item-to-item lookups and analysts'
# joins are table reads. Rows are per model: a new model's can be filled before activation.


class ItemNeighbor(RankedItemList, Base):
    """Rank r (1..K) of an item's exact top-K cosine neighbours under a model, self excluded."""

    __tablename__ = "item_neighbors"

    model: Mapped[str] = mapped_column(Text, model_fk(), primary_key=True)  # the first column

    __table_args__ = (
        *RankedItemList.checks(),
        # "Which lists is this item in?": what the incremental refresh asks for changed items.
        Index("ix_item_neighbors_model_neighbor_id", "model", "neighbor_id"),
    )


class ItemCluster(Base):
    """The cluster an item's vector falls in under a model."""

    __tablename__ = "item_clusters"

    model: Mapped[str] = mapped_column(Text, model_fk(), primary_key=True)
    item_id: Mapped[int] = mapped_column(BigInteger, item_fk(), primary_key=True)
    cluster: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_item_clusters_model_cluster", "model", "cluster"),)


class Cluster(Base):
    """One theme of the catalog: its size and a label made of its members' top TF-IDF terms."""

    __tablename__ = "clusters"

    model: Mapped[str] = mapped_column(Text, model_fk(), primary_key=True)
    cluster: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(Text)
    top_terms: Mapped[list[str]] = mapped_column(ARRAY(Text))


class RefreshState(Base):
    """When a refresh job last ran for a model and what it saw: what the next run starts from.

    `watermark`: every vector the run did not see has `embedded_at >= watermark` (so one
    older than it is reflected in the run's output). `items`: current vectors seen.
    `changed`: vectors new, re-embedded, stale or gone since the previous run (all of them
    for clusters). `k`: list length (neighbours) or number of clusters (clusters).
    """

    __tablename__ = "refresh_state"

    model: Mapped[str] = mapped_column(Text, model_fk(), primary_key=True)
    job: Mapped[str] = mapped_column(Text, primary_key=True)
    ran_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    watermark: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    items: Mapped[int] = mapped_column(Integer)
    changed: Mapped[int] = mapped_column(Integer)
    k: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(REAL)

    __table_args__ = (
        CheckConstraint("job IN ('neighbors', 'clusters')", name="job_known"),
        CheckConstraint("mode IN ('full', 'incremental')", name="mode_known"),
    )
