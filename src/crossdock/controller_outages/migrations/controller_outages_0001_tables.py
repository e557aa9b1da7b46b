"""controller-outages: reports, events, merged-away ids, notification outbox

Revision ID: controller_outages_0001
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "controller_outages_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("controller-outages",)
depends_on: str | Sequence[str] | None = "0003"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "controller_outage_reports",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("controller_id", sa.String(64), nullable=False),
        sa.Column("outage_type", sa.String(32), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controller_outage_reports")),
        sa.UniqueConstraint(
            "controller_id", "outage_type", "at", name=op.f("uq_controller_outage_reports_controller_id")
        ),
    )
    op.create_table(
        "controller_outage_events",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("controller_id", sa.String(64), nullable=False),
        sa.Column("outage_type", sa.String(32), nullable=False),
        sa.Column("start_at", sa.BigInteger(), nullable=False),
        sa.Column("end_at", sa.BigInteger(), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("notified", sa.String(16), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controller_outage_events")),
    )
    op.create_index(
        "ix_controller_outage_events_key_start",
        "controller_outage_events",
        ["controller_id", "outage_type", "start_at"],
    )
    op.create_index("ix_controller_outage_events_start_id", "controller_outage_events", ["start_at", "id"])
    op.create_index("ix_controller_outage_events_end", "controller_outage_events", ["end_at"])
    op.create_table(
        "controller_outage_aliases",
        sa.Column("alias_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("alias_id", name=op.f("pk_controller_outage_aliases")),
    )
    op.create_index(op.f("ix_controller_outage_aliases_event_id"), "controller_outage_aliases", ["event_id"])
    op.create_table(
        "controller_outage_outbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controller_outage_outbox")),
    )
    op.create_index("ix_controller_outage_outbox_pending", "controller_outage_outbox", ["delivered_at", "id"])


def downgrade() -> None:
    op.drop_table("controller_outage_outbox")
    op.drop_table("controller_outage_aliases")
    op.drop_table("controller_outage_events")
    op.drop_table("controller_outage_reports")
