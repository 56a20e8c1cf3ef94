"""SQLAlchemy models of what the interaction jobs derive: co-occurrence, item stats, rankers.

`item_cooccurrence` and `item_stats` are rebuilt from `interactions` by
`pgrec cooccurrence refresh` (jobs/cooccurrence.py); `ranking_models` holds the scoring
stage's versions, trained by `pgrec ranker train` (jobs/ranker.py) and applied in SQL by
rec.for_user (db/sql/users).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REAL
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, RankedItemList, item_fk, one_active_index


class ItemCooccurrence(RankedItemList, Base):
    """ "People who liked item_id also liked neighbor_id: rank 1..K of an item's list.

    `score`: cosine of the two items' preference columns (users x items, event-weighted,
    damped for heavy users), shrunk towards 0 when few users share them:
    score = cos * users / (users + shrinkage). `users`: how many users like both.
    """

    __tablename__ = "item_cooccurrence"

    users: Mapped[int] = mapped_column(Integer)

    __table_args__ = RankedItemList.constraints("item_cooccurrence")


class ItemCollaborative(RankedItemList, Base):
    """The collaborative lists of the user mode: item_id's strongest EASE weights, rank 1..K.

    `score`: B[item_id, neighbor_id] of EASE (a ridge regression of every item's likes on
    every other item's, closed form; jobs/ease.py), positive ones only. A user's score of
    an item is the sum of these over their recent items (rec.user_candidates).
    """

    __tablename__ = "item_collaborative"

    __table_args__ = RankedItemList.constraints("item_collaborative")


class ItemStats(Base):
    """Per item, what the interactions say: how many users, how much positive preference."""

    __tablename__ = "item_stats"

    item_id: Mapped[int] = mapped_column(BigInteger, item_fk(), primary_key=True)
    users: Mapped[int] = mapped_column(Integer)  # distinct users with any event
    positive_users: Mapped[int] = mapped_column(Integer)  # users whose preference is > 0
    preference: Mapped[float] = mapped_column(REAL)  # sum of positive preferences
    last_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_item_stats_preference", text("preference DESC")),)


class RankingModel(Base):
    """One trained version of the scoring stage: a standardised logistic regression.

    `params`: {"mean": [...], "scale": [...], "coef": [...], "intercept": x}, aligned with
    `features`; rec.for_user scores a candidate as intercept + sum(coef * (x - mean) / scale).
    """

    __tablename__ = "ranking_models"

    version: Mapped[str] = mapped_column(Text, primary_key=True)
    features: Mapped[list[str]] = mapped_column(ARRAY(Text))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    trained_on: Mapped[dict[str, Any]] = mapped_column(JSONB)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB)
    seed: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (one_active_index("ranking_models"),)


class JobState(Base):
    """What an interaction job last saw (`signature` of the interactions) and produced."""

    __tablename__ = "job_state"

    job: Mapped[str] = mapped_column(Text, primary_key=True)
    signature: Mapped[str] = mapped_column(Text)
    ran_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    seconds: Mapped[float] = mapped_column(REAL)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (CheckConstraint("job IN ('cooccurrence', 'ranker')", name="job_known"),)
