"""core: upstream circuit states

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Databases created before capabilities had their own migrations got the marketplace tables and
``job_runs`` from this revision too; revision 0003 and each capability's first revision carry those
over, so both histories end in the same schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("core",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
