"""SQLAlchemy model of background job runs (embedding runs, workers, later refresh jobs)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import REAL
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base

JOB_STATUSES = ("running", "ok", "failed", "interrupted")


class JobRun(Base):
    """One run of a job; a long-running worker updates its row as batches commit."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    job: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="running")
    host: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Moves with every committed batch, so a run whose process died shows when it stopped.
    heartbeat_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    items: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # Time spent on batches only: a worker idles most of its life, and its rate should not.
    busy_seconds: Mapped[float] = mapped_column(REAL, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'ok', 'failed', 'interrupted')", name="status_known"
        ),
        Index("ix_job_runs_model_started", "model", "started_at"),
    )
