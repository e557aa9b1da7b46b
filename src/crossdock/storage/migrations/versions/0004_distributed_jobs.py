"""core: distributed jobs (run life and slots, worker and scheduler processes)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Adds to ``runs`` the columns of a run's life on the distributed engine (``status``: queued,
running, succeeded, failed, lost; parameters, broker and heartbeat times, the worker) and two
partial unique indexes: one queued-or-running run per job and subject, one run per schedule slot.
Existing rows get ``status`` from their outcome and their ``slot``. Creates ``job_processes``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = sa.text("status IN ('queued', 'running')")
_SCHEDULED = sa.text("scheduled_for IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("status", sa.String(16), server_default="succeeded", nullable=False))
        batch.add_column(sa.Column("slot", sa.String(200), server_default="", nullable=False))
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("worker", sa.String(128), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retry_of", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("lost_retries", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        "UPDATE runs SET slot = job || '|' || COALESCE(subject, ''), "
        "status = CASE outcome WHEN 'failed' THEN 'failed' WHEN 'running' THEN 'failed' "
        "ELSE 'succeeded' END"
    )
    # A run left "running" by an older version's process is over: it cannot hold its slot.
    op.execute(
        "UPDATE runs SET outcome = 'failed', error = 'interrupted: the process running it stopped' "
        "WHERE outcome = 'running'"
    )
    op.create_index(
        "uq_runs_active_slot", "runs", ["slot"], unique=True, postgresql_where=_ACTIVE, sqlite_where=_ACTIVE
    )
    op.create_index(
        "uq_runs_scheduled_slot",
        "runs",
        ["slot", "scheduled_for"],
        unique=True,
        postgresql_where=_SCHEDULED,
        sqlite_where=_SCHEDULED,
    )
    op.create_table(
        "job_processes",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=True),
        sa.Column("running", sa.JSON(), nullable=False),
        sa.Column("metrics_url", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_processes")),
    )


def downgrade() -> None:
    op.drop_table("job_processes")
    op.drop_index("uq_runs_scheduled_slot", table_name="runs")
    op.drop_index("uq_runs_active_slot", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        for column in (
            "lost_retries", "retry_of", "heartbeat_at", "worker", "scheduled_for",
            "sent_at", "enqueued_at", "params", "slot", "status",
        ):  # fmt: skip
            batch.drop_column(column)
