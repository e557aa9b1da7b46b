"""controller-outages: the change log the serving processes' read models follow

Revision ID: controller_outages_0002
Revises: controller_outages_0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "controller_outages_0002"
down_revision: str | None = "controller_outages_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "controller_outage_changes",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("controllers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controller_outage_changes")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("controller_outage_changes")
