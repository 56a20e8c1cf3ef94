"""Declarative base and naming convention shared by every model and migration."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, MetaData, SmallInteger, text
from sqlalchemy.dialects.postgresql import REAL
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def item_fk() -> ForeignKey:
    """A reference to items.id; rows go with their item."""
    return ForeignKey("items.id", ondelete="CASCADE")


def model_fk() -> ForeignKey:
    """A reference to embedding_models.name; rows go with their model."""
    return ForeignKey("embedding_models.name", ondelete="CASCADE")


def one_active_index(table: str) -> Index:
    """At most one row of `table` with `active`: a unique index on a constant over those rows."""
    return Index(
        f"uq_{table}_one_active", text("(true)"), unique=True, postgresql_where=text("active")
    )


class RankedItemList:
    """Columns of a ranked list per item: rank 1..K of item_id's list is neighbor_id, scored.

    The derived lists the jobs rewrite (vector neighbours, co-occurrence, EASE) share this
    shape; deleting an item cascades to the lists naming it, through an index on neighbor_id.
    """

    item_id: Mapped[int] = mapped_column(BigInteger, item_fk(), primary_key=True)
    rank: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    neighbor_id: Mapped[int] = mapped_column(BigInteger, item_fk())
    score: Mapped[float] = mapped_column(REAL)

    @staticmethod
    def checks() -> tuple[CheckConstraint, CheckConstraint]:
        """Ranks count from 1; an item is never in its own list."""
        return (
            CheckConstraint("rank >= 1", name="rank_positive"),
            CheckConstraint("neighbor_id <> item_id", name="not_self"),
        )

    @staticmethod
    def constraints(table: str) -> tuple[Any, ...]:
        """The checks and the neighbor_id index of a list that is not per model."""
        return (*RankedItemList.checks(), Index(f"ix_{table}_neighbor_id", "neighbor_id"))
