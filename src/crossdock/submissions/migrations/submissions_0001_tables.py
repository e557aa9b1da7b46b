"""submissions: campaigns as submitted, one durable row per node

Revision ID: submissions_0001
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "submissions_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("submissions",)
depends_on: str | Sequence[str] | None = "0003"


def upgrade() -> None:
    op.create_table(
        "submission_campaigns",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("dsp", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("client_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_campaigns")),
        sa.UniqueConstraint("dsp", "client_key", name="uq_submission_campaigns_dsp_client_key"),
    )
    op.create_index("ix_submission_campaigns_dsp_created", "submission_campaigns", ["dsp", "created_at"])
    op.create_table(
        "submission_nodes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("campaign_id", sa.String(36), nullable=False),
        sa.Column("parent_id", sa.String(36), nullable=True),
        sa.Column("dsp", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("payload_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("dsp_status", sa.String(16), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_nodes")),
    )
    op.create_index(op.f("ix_submission_nodes_campaign_id"), "submission_nodes", ["campaign_id"])
    op.create_index(op.f("ix_submission_nodes_parent_id"), "submission_nodes", ["parent_id"])
    op.create_index(
        "ix_submission_nodes_dsp_state_next", "submission_nodes", ["dsp", "state", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_table("submission_nodes")
    op.drop_table("submission_campaigns")
