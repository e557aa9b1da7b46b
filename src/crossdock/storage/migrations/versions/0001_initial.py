"""initial tables: marketplace plans and sync runs, job runs, upstream states

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
    op.create_table(
        "marketplace_sync_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("left_feed", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("feed_bytes", sa.Integer(), nullable=True),
        sa.Column("feed_sha256", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_sync_runs")),
    )
    op.create_index("ix_marketplace_sync_runs_provider_id", "marketplace_sync_runs", ["provider", "id"])
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_name", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index("ix_job_runs_job_name_id", "job_runs", ["job_name", "id"])
    op.create_table(
        "upstream_states",
        sa.Column("upstream", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("upstream", name=op.f("pk_upstream_states")),
    )


def downgrade() -> None:
    op.drop_table("upstream_states")
    op.drop_index("ix_job_runs_job_name_id", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_index("ix_marketplace_sync_runs_provider_id", table_name="marketplace_sync_runs")
    op.drop_table("marketplace_sync_runs")
    op.drop_index("ix_marketplace_plans_provider_base_event", table_name="marketplace_plans")
    op.drop_table("marketplace_plans")
