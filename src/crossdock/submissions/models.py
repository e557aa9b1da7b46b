"""The submissions capability's tables: campaigns as submitted, and one durable row per node.

The rows are the source of truth (the broker and the DSP are not): a node's state, attempts, next
attempt time, external id and errors live here, so any worker can resume any node after a crash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.storage.metadata import Base
from crossdock.storage.timestamps import UtcDateTime


class Campaign(Base):
    """One submission of a campaign tree to one DSP account."""

    __tablename__ = "submission_campaigns"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dsp: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    # The client's Idempotency-Key of POST /api/campaigns (per DSP), and what it was sent with.
    client_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    cancelled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("dsp", "client_key", name="uq_submission_campaigns_dsp_client_key"),
        Index("ix_submission_campaigns_dsp_created", "dsp", "created_at"),
    )


class NodeRecord(Base):
    """A campaign, ad group or ad to create at the DSP (see :mod:`crossdock.submissions.machine`)."""

    __tablename__ = "submission_nodes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(36), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    dsp: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # campaign | ad_group | ad
    position: Mapped[int] = mapped_column(Integer)  # order within the campaign tree (parents first)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the DSP wire payload, without parent ids
    payload_version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)  # epoch seconds
    external_id: Mapped[str | None] = mapped_column(String(255))
    dsp_status: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        # The engine's two questions: which nodes of a DSP are due (to send, to poll).
        Index("ix_submission_nodes_dsp_state_next", "dsp", "state", "next_attempt_at"),
    )


class Task(Base):
    """The seed's task: a DSP entity registered by its id (``POST /api/tasks``), whose status the
    engine polls on the DSP account it names."""

    __tablename__ = "submission_tasks"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # the DSP's entity id
    dsp: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # Not Started | In Progress | Completed | Error
    error_message: Mapped[str | None] = mapped_column(Text)
    next_poll_at: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_submission_tasks_dsp_status_next", "dsp", "status", "next_poll_at"),)
