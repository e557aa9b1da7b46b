"""Settings of the submissions capability (``CROSSDOCK_SUBMISSIONS_*``): the DSP accounts.

``CROSSDOCK_SUBMISSIONS_DSPS`` is one JSON object naming every demand-side platform account::

    {"acme": {"url": "https://dsp.example/", "api_key": "…", "limit": 40, "window": 60, "concurrency": 4}}

``limit`` requests (every method) per sliding ``window`` seconds is the account's budget, shared
by every process; ``concurrency`` caps the requests in flight. The keys are secrets: validated like
every key sent in a header, and never shown (``repr``, errors and logs mask them).
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import SettingsConfigDict

from crossdock.config import ApiKeySecret, SettingsGroup

DSP_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
"""A DSP account's name (whole string): it is part of run records, metrics labels and Redis keys."""


class DspAccount(BaseModel):
    """One DSP account: where, with which key, and within which limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: AnyHttpUrl
    api_key: ApiKeySecret
    limit: Annotated[int, Field(ge=1, le=100_000)] = 40
    window: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    concurrency: Annotated[int, Field(ge=1, le=256)] = 4


class SubmissionsSettings(SettingsGroup):
    """The submissions capability: the DSP accounts campaigns are submitted to."""

    model_config = SettingsConfigDict(env_prefix="CROSSDOCK_SUBMISSIONS_", extra="ignore", frozen=True)

    dsps: dict[str, DspAccount] = Field(
        default_factory=dict,
        description='DSP accounts, a JSON object: {"NAME": {"url": "…", "api_key": "…", "limit": 40, '
        '"window": 60, "concurrency": 4}, …} (limit requests per sliding window seconds, shared by '
        "every process; keys are secrets, never shown). Empty: no DSP, nothing is submitted.",
    )

    advance_interval: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="Seconds between two passes of the engine over each DSP account (polls and sends).",
    )

    pass_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="Longest a pass over one DSP account keeps working, awaiting free budget slots and "
        "nodes coming due, before it ends and the next scheduled pass goes on (0: one sweep, no wait).",
    )

    poll_interval: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Seconds between two status polls of a node awaiting the DSP's verdict (batched, "
        "100 nodes per request).",
    )
    max_attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Attempts to create one node through 5xx, timeouts and lost answers before it is dead "
        "(429s are not attempts).",
    )

    backoff_initial: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="Seconds before the first new attempt after a 5xx, a timeout or a lost answer; doubled "
        "each attempt, with jitter.",
    )
    backoff_max: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="Longest wait between two attempts to create one node.",
    )
    window_slack: float = Field(
        default=0.25,
        ge=0,
        le=60,
        description="Seconds added to every account's window by the budget: more than the jitter between "
        "sending a request and its arrival at the DSP, so that the DSP never counts limit + 1.",
    )
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a node claimed for sending is left to its worker; past it (the worker died), "
        "the node is sent again with the same Idempotency-Key. Keep it above the longest request.",
    )

    @field_validator("dsps")
    @classmethod
    def _usable_names(cls, value: dict[str, DspAccount]) -> dict[str, DspAccount]:
        for name in value:
            if DSP_NAME.fullmatch(name) is None:
                raise ValueError(
                    f"DSP name {name[:40]!a} is not valid: use 1 to 32 lower-case letters, digits, '_' or '-'"
                )
        return value
