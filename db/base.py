"""Declarative base and naming convention shared by every model and migration."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, MetaData, text
from sqlalchemy.orm import DeclarativeBase

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
