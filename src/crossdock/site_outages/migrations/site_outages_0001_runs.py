"""site-outages: runs of earlier versions carried into the run record

Revision ID: site_outages_0001
Revises:
Create Date: 2026-12-01

The capability keeps no table of its own: its runs are in the core's ``runs``. Databases created by
earlier versions hold ``site_outage_runs``; its rows become runs of ``site_outages.process`` with the
same counts, and the table is dropped.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from crossdock.jobs.legacy import carry_runs_over

revision: str = "site_outages_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("site-outages",)
depends_on: str | Sequence[str] | None = "0003"

DETAILS = (
    "since",
    "fetched",
    "kept",
    "dropped_before_cutoff",
    "dropped_unknown_device",
    "posted",
    "payload_sha256",
)


def _site_run(row: Mapping[str, Any]) -> Mapping[str, Any]:
    return {
        "capability": "site-outages",
        "job": "site_outages.process",
        "subject": row["site_id"],
        "outcome": row["outcome"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "duration_seconds": row["duration_seconds"],
        "attempts": row["attempts"],
        "error": row["error"],
        "details": {name: row[name] for name in DETAILS},
    }


def upgrade() -> None:
    carry_runs_over("site_outage_runs", _site_run)


def downgrade() -> None:
    pass
