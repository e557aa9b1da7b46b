"""Typed settings, grouped by concern, read once from the environment (prefix ``CROSSDOCK_``).

No other module reads ``os.environ`` for configuration: entry points call :func:`get_settings` (or
build a :class:`Settings` explicitly in tests) and pass it down. Every field is documented in
``docs/configuration.md``; keep the two in step.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crossdock.errors import ConfigurationError

DEFAULT_SQLITE_PATH = Path("var") / "crossdock.db"
REAL_MARKETPLACE_PROVIDER_URL = "https://provider.code-challenge.feverup.com/api/events"
REAL_KRAKENFLEX_BASE_URL = "https://api.krakenflex.systems/interview-tests-mock-api/v1"

PositiveSeconds = Annotated[float, Field(gt=0)]


def normalize_database_url(url: str) -> str:
    """Return ``url`` with an async driver named, so users may write ``sqlite:///`` or ``postgresql://``."""
    replacements = {
        "sqlite://": "sqlite+aiosqlite://",
        "postgresql://": "postgresql+asyncpg://",
        "postgres://": "postgresql+asyncpg://",
    }
    for plain, with_driver in replacements.items():
        if url.startswith(plain):
            return with_driver + url[len(plain) :]
    supported = ("sqlite+aiosqlite://", "postgresql+asyncpg://", "postgresql+psycopg://")
    if not url.startswith(supported):
        raise ConfigurationError(
            f"CROSSDOCK_DATABASE_URL must start with one of {', '.join(supported)} (or sqlite://, postgresql://)"
        )
    return url


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class _Group(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)


class DatabaseSettings(_Group):
    """Where Crossdock keeps its data (``CROSSDOCK_DATABASE_*``)."""

    model_config = SettingsConfigDict(env_prefix="CROSSDOCK_DATABASE_", extra="ignore", frozen=True)

    url: str = Field(
        default=f"sqlite+aiosqlite:///./{DEFAULT_SQLITE_PATH.as_posix()}",
        description="SQLAlchemy URL; sqlite+aiosqlite (embedded, WAL) or postgresql+asyncpg / +psycopg.",
    )
    echo: bool = Field(default=False, description="Log every SQL statement (debugging only).")

    @field_validator("url")
    @classmethod
    def _with_async_driver(cls, value: str) -> str:
        try:
            return normalize_database_url(value)
        except ConfigurationError as exc:
            raise ValueError(exc.message) from exc

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class LogSettings(_Group):
    """How Crossdock logs (``CROSSDOCK_LOG_*``)."""

    model_config = SettingsConfigDict(env_prefix="CROSSDOCK_LOG_", extra="ignore", frozen=True)

    level: str = Field(default="INFO", description="Python logging level name.")
    format: LogFormat = Field(default=LogFormat.TEXT, description="text (one line per event) or json.")

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper


class HttpSettings(_Group):
    """Defaults of the resilient HTTP client for every upstream (``CROSSDOCK_HTTP_*``)."""

    model_config = SettingsConfigDict(env_prefix="CROSSDOCK_HTTP_", extra="ignore", frozen=True)

    connect_timeout: PositiveSeconds = Field(default=5.0, description="Seconds to establish a connection.")
    read_timeout: PositiveSeconds = Field(default=30.0, description="Seconds to wait for each chunk.")
    total_timeout: PositiveSeconds = Field(default=120.0, description="Seconds for one whole attempt.")
    max_attempts: int = Field(default=4, ge=1, le=20, description="Attempts per call, first one included.")
    max_retry_seconds: PositiveSeconds = Field(
        default=60.0, description="Total time budget for one call, waits included."
    )
    backoff_initial: PositiveSeconds = Field(default=0.5, description="First backoff ceiling in seconds.")
    backoff_max: PositiveSeconds = Field(default=10.0, description="Largest backoff ceiling in seconds.")
    max_wait: PositiveSeconds = Field(
        default=30.0, description="Largest single wait, Retry-After included (it is clamped to this)."
    )
    breaker_failure_threshold: int = Field(
        default=5, ge=1, description="Consecutive failed attempts that open the circuit."
    )
    breaker_reset_timeout: PositiveSeconds = Field(
        default=30.0, description="Seconds the circuit stays open before a half-open probe."
    )
    rate_limit: float = Field(
        default=20.0, ge=0, description="Requests per second to one upstream; 0 disables the limiter."
    )
    rate_burst: int = Field(default=10, ge=1, description="Requests allowed at once before the rate applies.")


class ApiSettings(_Group):
    """The HTTP service (``CROSSDOCK_API_*``)."""

    model_config = SettingsConfigDict(env_prefix="CROSSDOCK_API_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Interface `crossdock serve` binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `crossdock serve` binds.")
    workers: int = Field(default=1, ge=1, le=64, description="Server worker processes.")
    search_cache_entries: int = Field(
        default=4096, ge=0, description="Pre-serialized /search answers kept per worker (0 = no cache)."
    )
    read_model_poll_interval: PositiveSeconds = Field(
        default=2.0,
        description="Seconds between checks whether another process stored new data to serve.",
    )
    scheduler_enabled: bool = Field(
        default=True, description="Run the job scheduler inside `crossdock serve` (one process per host)."
    )


class MarketplaceSettings(_Group):
    """The marketplace events capability (``CROSSDOCK_MARKETPLACE_*``)."""

    model_config = SettingsConfigDict(env_prefix="CROSSDOCK_MARKETPLACE_", extra="ignore", frozen=True)

    provider_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(REAL_MARKETPLACE_PROVIDER_URL), description="The provider's GET events URL."
    )
    provider_name: str = Field(
        default="fever",
        pattern=r"^[a-z0-9_-]{1,32}$",
        description="Provider key stored with every plan; part of each public id.",
    )
    sync_interval: PositiveSeconds = Field(default=60.0, description="Seconds between two scheduled syncs.")
    sync_enabled: bool = Field(default=True, description="Schedule the sync job inside `crossdock serve`.")
    max_feed_bytes: int = Field(
        default=2 * 1024**3, ge=1024, description="Largest feed body accepted; larger fails the sync."
    )


class KrakenflexSettings(_Group):
    """The site-outages capability and its energy platform API (``CROSSDOCK_KRAKENFLEX_*``)."""

    model_config = SettingsConfigDict(env_prefix="CROSSDOCK_KRAKENFLEX_", extra="ignore", frozen=True)

    base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(REAL_KRAKENFLEX_BASE_URL), description="Base URL of the platform's outages API."
    )
    api_key: SecretStr | None = Field(
        default=None, description="The platform's x-api-key. No default: required before any request."
    )
    sites: str = Field(
        default="", description="Comma-separated site ids processed on a schedule; empty = no schedule."
    )
    since: str = Field(
        default="2022-01-01T00:00:00.000Z",
        description="Default cut-off: outages that began before are dropped.",
    )
    interval: PositiveSeconds = Field(default=3600.0, description="Seconds between scheduled runs per site.")

    @property
    def site_ids(self) -> list[str]:
        return [site.strip() for site in self.sites.split(",") if site.strip()]


class Settings(BaseSettings):
    """All of Crossdock's settings; build once per process with :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="CROSSDOCK_", extra="ignore", frozen=True)

    var_dir: Path = Field(default=Path("var"), description="Directory for the embedded database and locks.")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    marketplace: MarketplaceSettings = Field(default_factory=MarketplaceSettings)
    krakenflex: KrakenflexSettings = Field(default_factory=KrakenflexSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once; a validation error becomes a one-line :class:`ConfigurationError`."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        groups = (
            Settings,
            DatabaseSettings,
            LogSettings,
            HttpSettings,
            ApiSettings,
            MarketplaceSettings,
            KrakenflexSettings,
        )
        prefix = next((g.model_config.get("env_prefix", "") for g in groups if g.__name__ == exc.title), "")
        field = str(first["loc"][0]).upper() if first["loc"] else ""
        raise ConfigurationError(f"invalid setting {prefix}{field}: {first['msg']}") from exc
