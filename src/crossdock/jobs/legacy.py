"""Carry a capability's own run table of earlier versions into the run record (for migrations only).

Before the run record existed, each capability kept its runs in a table of its own. Its first
migration calls :func:`carry_runs_over` with a function mapping one old row to the run record's
columns; rows keep their order, and the old table is dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

RowMapper = Callable[[Mapping[str, Any]], Mapping[str, Any]]

_RUNS = sa.table(
    "runs",
    sa.column("capability", sa.String),
    sa.column("job", sa.String),
    sa.column("subject", sa.String),
    sa.column("trigger", sa.String),
    sa.column("outcome", sa.String),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("finished_at", sa.DateTime(timezone=True)),
    sa.column("duration_seconds", sa.Float),
    sa.column("attempts", sa.Integer),
    sa.column("changed", sa.Boolean),
    sa.column("error", sa.Text),
    sa.column("details", sa.JSON),
)


def carry_runs_over(old_table: str, to_run: RowMapper) -> int:
    """Copy every row of ``old_table`` (when it exists) into ``runs`` through ``to_run``; drop it.

    Returns how many rows were carried over. Migrated rows get the trigger ``legacy``: earlier
    versions did not record whether a run was scheduled or started by hand.
    """
    bind = op.get_bind()
    if not sa.inspect(bind).has_table(old_table):
        return 0
    old = sa.Table(old_table, sa.MetaData(), autoload_with=bind)
    rows = [
        {"trigger": "legacy", "changed": False, "details": {}, **to_run(dict(row._mapping))}
        for row in bind.execute(sa.select(old).order_by(old.c.id))
    ]
    if rows:
        bind.execute(sa.insert(_RUNS), rows)
    op.drop_table(old_table)
    return len(rows)
