"""core: one record of runs for every capability

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Creates ``runs``. ``job_runs`` of earlier versions is dropped without being copied: every job that
existed then also recorded each of its runs in its capability's own table, with more detail, and the
capabilities' first revisions carry those rows into ``runs``; copying both would list each scheduled
run twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("capability", sa.String(32), nullable=False),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=True),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index("ix_runs_capability_id", "runs", ["capability", "id"])
    op.create_index("ix_runs_job_subject_id", "runs", ["job", "subject", "id"])
    if sa.inspect(op.get_bind()).has_table("job_runs"):
        op.drop_table("job_runs")


def downgrade() -> None:
    op.drop_index("ix_runs_job_subject_id", table_name="runs")
    op.drop_index("ix_runs_capability_id", table_name="runs")
    op.drop_table("runs")
