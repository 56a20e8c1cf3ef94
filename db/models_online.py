"""SQLAlchemy model of impressions: each list the API served, for online metrics."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, DateTime, Index, Integer, PrimaryKeyConstraint, Text, Uuid, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class Impression(Base):
    """One served list: the request id joins it to the clicks and purchases it led to."""

    __tablename__ = "impressions"

    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    served_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    user_id: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(Text)
    variant: Mapped[str] = mapped_column(Text)
    ranker: Mapped[str | None] = mapped_column(Text)
    snapshot_version: Mapped[int | None] = mapped_column(Integer)
    # In the order served: an item's position is its array index (1-based in SQL).
    item_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))

    __table_args__ = (Index("ix_impressions_served_at", "served_at"),)


class ImpressionCount(Base):
    """Impressions per UTC hour, mode and variant: kept by the trigger impressions_roll_up
    (migration 0019), read by the online gauges instead of every impression."""

    __tablename__ = "impression_counts"

    hour: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    mode: Mapped[str] = mapped_column(Text)
    variant: Mapped[str] = mapped_column(Text)
    impressions: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (PrimaryKeyConstraint("hour", "mode", "variant"),)


class ItemLastServed(Base):
    """When an item was last in a served list (to the minute; the same trigger keeps it)."""

    __tablename__ = "item_last_served"

    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    served_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
