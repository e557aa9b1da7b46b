"""marketplace: plans table; sync runs of earlier versions carried into the run record

Revision ID: marketplace_0001
Revises:
Create Date: 2026-12-01

Databases created by earlier versions already hold ``marketplace_plans`` (made by core revision 0001
then): it is kept as it is. Their ``marketplace_sync_runs`` rows become runs of ``marketplace.sync``
with the same counts, and the table is dropped.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from crossdock.jobs.legacy import carry_runs_over

revision: str = "marketplace_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("marketplace",)
depends_on: str | Sequence[str] | None = "0003"

COUNTS = ("seen", "inserted", "updated", "unchanged", "rejected", "left_feed")


def _sync_run(row: Mapping[str, Any]) -> Mapping[str, Any]:
    return {
        "capability": "marketplace",
        "job": "marketplace.sync",
        "subject": row["provider"],
        "outcome": row["outcome"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "duration_seconds": row["duration_seconds"],
        "attempts": row["attempts"],
        "changed": bool(row["changed"]),
        "error": row["error"],
        "details": {
            **{name: row[name] for name in COUNTS},
            "feed_bytes": row["feed_bytes"],
            "feed_sha256": row["feed_sha256"],
        },
    }


def upgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table("marketplace_plans"):
        op.create_table(
            "marketplace_plans",
            sa.Column("id", sa.String(36), nullable=False),
            sa.Column("provider", sa.String(32), nullable=False),
            sa.Column("base_event_id", sa.String(64), nullable=False),
            sa.Column("event_id", sa.String(64), nullable=False),
            sa.Column("title", sa.Text(), nullable=False),
            sa.Column("sell_mode", sa.String(32), nullable=False),
            sa.Column("ever_online", sa.Boolean(), nullable=False),
            sa.Column("organizer_company_id", sa.String(64), nullable=True),
            sa.Column("starts_at", sa.DateTime(timezone=False), nullable=False),
            sa.Column("ends_at", sa.DateTime(timezone=False), nullable=True),
            sa.Column("sell_from", sa.DateTime(timezone=False), nullable=True),
            sa.Column("sell_to", sa.DateTime(timezone=False), nullable=True),
            sa.Column("sold_out", sa.Boolean(), nullable=True),
            sa.Column("min_price", sa.Float(), nullable=True),
            sa.Column("max_price", sa.Float(), nullable=True),
            sa.Column("digest", sa.String(40), nullable=False),
            sa.Column("present_in_feed", sa.Boolean(), nullable=False),
            sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_changed_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("zones", sa.JSON(), nullable=False),  # last: see Plan.zones
            sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_plans")),
        )
        op.create_index(
            "ix_marketplace_plans_provider_base_event", "marketplace_plans", ["provider", "base_event_id"]
        )
    carry_runs_over("marketplace_sync_runs", _sync_run)


def downgrade() -> None:
    op.drop_index("ix_marketplace_plans_provider_base_event", table_name="marketplace_plans")
    op.drop_table("marketplace_plans")
