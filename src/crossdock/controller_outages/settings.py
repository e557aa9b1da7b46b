"""Settings of the controller-outages capability (``CROSSDOCK_CONTROLLER_OUTAGES_*``)."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field
from pydantic_settings import SettingsConfigDict

from crossdock.config import PositiveSeconds, SettingsGroup

REPORT_INTERVAL_SECONDS = 600
"""Controllers report every 10 minutes while an outage lasts."""


class ControllerOutagesSettings(SettingsGroup):
    """The controller-outages capability (``CROSSDOCK_CONTROLLER_OUTAGES_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="CROSSDOCK_CONTROLLER_OUTAGES_", extra="ignore", frozen=True, populate_by_name=True
    )

    gap: PositiveSeconds = Field(
        default=1500.0,
        description="Largest distance in seconds between two reports of one event (inclusive). 25 min: "
        "one lost 10-minute report (20 min) plus 5 min of slack does not split an outage.",
    )
    max_future: float = Field(
        default=300.0, ge=0, description="Reports further than this many seconds in the future are rejected."
    )
    max_age: PositiveSeconds | None = Field(
        default=None,
        description="Reports older than this many seconds are rejected (unset: any past report).",
    )
    report_retention_days: PositiveSeconds | None = Field(
        default=None,
        description="Prune the reports of resolved events that ended more than this many days ago, "
        "keeping the events (unset: keep every report).",
    )
    max_batch_records: int = Field(
        default=10_000, ge=1, le=100_000, description="Most records in one POST /outages or import batch."
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest POST /outages body; larger is answered 413."
    )
    webhook_url: AnyHttpUrl | None = Field(
        default=None,
        description="Where opened, merged and resolved events are POSTed (unset: no notifications).",
    )
    delivery_interval: PositiveSeconds = Field(
        default=1.0, description="Seconds between two passes of the notification delivery job."
    )
    resolve_interval: PositiveSeconds = Field(
        default=30.0,
        description="Seconds between two passes of the job noticing resolved events (and pruning reports).",
    )

    @property
    def gap_us(self) -> int:
        return round(self.gap * 1_000_000)
