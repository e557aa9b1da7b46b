"""submissions: the seed's tasks (DSP entities registered by id, their status polled)

Revision ID: submissions_0002
Revises: submissions_0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "submissions_0002"
down_revision: str | None = "submissions_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "submission_tasks",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("dsp", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("next_poll_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_tasks")),
    )
    op.create_index(
        "ix_submission_tasks_dsp_status_next", "submission_tasks", ["dsp", "status", "next_poll_at"]
    )


def downgrade() -> None:
    op.drop_table("submission_tasks")
