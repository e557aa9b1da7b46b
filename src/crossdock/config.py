"""Typed settings, grouped by concern, read once from the environment (prefix ``CROSSDOCK_``).

No other module reads ``os.environ`` for configuration: entry points call :func:`get_settings` (or
build a :class:`Settings` explicitly in tests) and pass it down. The core's groups are fields of
:class:`Settings`; each capability declares its own group (a :class:`SettingsGroup` subclass named in
its manifest, prefix ``CROSSDOCK_<CAPABILITY>_``), loaded with the others and read with
``settings.of(GroupClass)``. Every field is documented in ``docs/configuration.md``; a test keeps the
two in step.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args

from pydantic import (
    AfterValidator,
    AliasChoices,
    Field,
    PrivateAttr,
    SecretBytes,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from crossdock.apikeys import ApiKeyEntry
from crossdock.errors import ConfigurationError

DEFAULT_SQLITE_PATH = Path("var") / "crossdock.db"

PositiveSeconds = Annotated[float, Field(gt=0)]


def secret_problem(value: str) -> str | None:
    """What makes ``value`` unusable as a key sent in an HTTP header (``None``: nothing), in words
    that never quote it: whitespace inside it, a non-ASCII or a control character."""
    for character in value:
        if character.isspace():
            return "contains whitespace (only whitespace around the value is stripped)"
        if not character.isascii():
            return "contains a non-ASCII character"
        if not character.isprintable():
            return "contains a control character"
    return None


def validated_secret(value: str, *, name: str) -> SecretStr:
    """``value`` with surrounding whitespace stripped, or a one-line :class:`ConfigurationError`
    ``invalid <name>: <problem>`` that never shows it (for secrets given outside the settings: options)."""
    stripped = value.strip()
    problem = secret_problem(stripped)
    if problem is not None:
        raise ConfigurationError(f"invalid {name}: {problem}")
    return SecretStr(stripped)


def _clean_secret(value: SecretStr) -> SecretStr:
    stripped = value.get_secret_value().strip()
    problem = secret_problem(stripped)
    if problem is not None:
        # A custom error so the message is exactly ours: no value, no "Value error, " prefix.
        raise PydanticCustomError("invalid_secret", problem)
    return SecretStr(stripped)


ApiKeySecret = Annotated[SecretStr, AfterValidator(_clean_secret)]
"""A key or token sent in an HTTP header. Whitespace around it is stripped (a key read from a secret
file ends with a newline); whitespace inside it, control and non-ASCII characters are refused with a
message that names no value. Use it for every secret setting that travels in a header."""


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


class SettingsGroup(BaseSettings):
    """Base of every settings group: frozen, unknown variables ignored; subclasses set ``env_prefix``."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)


G = TypeVar("G", bound=SettingsGroup)


class DatabaseSettings(SettingsGroup):
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


class LogSettings(SettingsGroup):
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


class HttpSettings(SettingsGroup):
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
    max_response_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1,
        description="Largest response body (decoded bytes) read into memory; a larger one fails the call.",
    )

    def for_upstream(self, **overrides: float | int | None) -> HttpSettings:
        """A copy for one upstream with some fields replaced; ``None`` keeps this object's value.

        Capabilities use it to give their upstream its own retry budget or breaker (its own documented
        settings). Overrides are validated like the environment's values: an unknown name or a value
        out of range raises :class:`ConfigurationError` naming the field.
        """
        unknown = sorted(set(overrides) - set(type(self).model_fields))
        if unknown:
            raise ConfigurationError(f"unknown HTTP client settings: {', '.join(unknown)}")
        changes = {name: value for name, value in overrides.items() if value is not None}
        if not changes:
            return self
        try:
            return type(self).model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigurationError(
                f"invalid HTTP client override {first['loc'][0] if first['loc'] else ''}: {first['msg']}"
            ) from None


class ApiSettings(SettingsGroup):
    """The HTTP service (``CROSSDOCK_API_*``)."""

    model_config = SettingsConfigDict(env_prefix="CROSSDOCK_API_", extra="ignore", frozen=True)

    host: str = Field(default="127.0.0.1", description="Interface `crossdock serve` binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `crossdock serve` binds.")
    workers: int = Field(default=1, ge=1, le=64, description="Server worker processes.")
    read_model_poll_interval: PositiveSeconds = Field(
        default=2.0,
        description="Seconds between checks whether another process stored new data to serve.",
    )
    scheduler_enabled: bool = Field(
        default=True, description="Run the job scheduler inside `crossdock serve` (one process per host)."
    )
    keys: tuple[ApiKeyEntry, ...] = Field(
        default=(),
        description="API keys: a JSON list of the entries `crossdock keys create` prints (names, scopes, "
        "salted hashes; never a key). Empty: no authentication, for a service bound to loopback.",
    )
    allow_unauthenticated: bool = Field(
        default=False,
        description="Let `crossdock serve` bind a non-loopback address without API keys (trusted networks).",
    )

    @field_validator("keys")
    @classmethod
    def _usable_keys(cls, value: tuple[ApiKeyEntry, ...]) -> tuple[ApiKeyEntry, ...]:
        from crossdock.apikeys import known_scopes

        ids = [entry.id for entry in value]
        if len(set(ids)) != len(ids):
            raise ValueError("two entries have the same id; create each key with `crossdock keys create`")
        known = set(known_scopes())
        for entry in value:
            unknown = sorted(set(entry.scopes) - known)
            if unknown:
                raise ValueError(
                    f"key {entry.name!r} has unknown scopes {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(known))}"
                )
        return value


def _broker_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        raise ValueError("must start with redis://, rediss://, amqp:// or amqps:// (unset: embedded jobs)")
    return value


def _redis_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.startswith(("redis://", "rediss://")):
        raise ValueError("must start with redis:// or rediss://")
    return value


class JobsSettings(SettingsGroup):
    """The job engine: embedded, or distributed (``CROSSDOCK_BROKER_URL``, ``CROSSDOCK_JOBS_*``).

    Unset ``CROSSDOCK_BROKER_URL``: every job runs inside ``crossdock serve`` (embedded). Set: jobs
    run on ``crossdock worker`` processes, sent by ``crossdock scheduler``; the database (PostgreSQL)
    is the source of truth and Redis holds the limits and breakers every process shares.
    """

    model_config = SettingsConfigDict(
        env_prefix="CROSSDOCK_JOBS_", extra="ignore", frozen=True, populate_by_name=True
    )

    broker_url: Annotated[str | None, AfterValidator(_broker_url)] = Field(
        default=None,
        validation_alias=AliasChoices("CROSSDOCK_BROKER_URL"),
        description="redis://… (Redis broker) or amqp://… (RabbitMQ broker): distributed jobs. Unset: "
        "embedded (jobs run inside `crossdock serve`). A password in it is never shown.",
    )
    redis_url: Annotated[str | None, AfterValidator(_redis_url)] = Field(
        default=None,
        validation_alias=AliasChoices("CROSSDOCK_REDIS_URL"),
        description="Redis for the rate limits and circuit breakers all processes share in distributed "
        "mode; unset: the broker URL when it is redis://. Required with an amqp:// broker.",
    )
    queue: str = Field(
        default="crossdock",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Name of the broker queue, and prefix of every Redis key Crossdock writes.",
    )
    heartbeat_interval: PositiveSeconds = Field(
        default=2.0, description="Seconds between two heartbeats of a worker (and of each run it holds)."
    )
    heartbeat_timeout: PositiveSeconds = Field(
        default=10.0,
        description="A running run whose worker has not beaten for this long is marked `lost` (and run "
        "again when its job allows).",
    )
    sweep_interval: PositiveSeconds = Field(
        default=1.0, description="Seconds between two passes of the active scheduler over due and lost work."
    )
    requeue_after: PositiveSeconds = Field(
        default=15.0,
        description="A run still `queued` this long after it was sent is sent to the broker again (a "
        "broker may lose messages); a worker runs each run once whatever it receives.",
    )
    standby_poll: PositiveSeconds = Field(
        default=0.5, description="Seconds between a standby scheduler's tries to become the active one."
    )
    max_lost_retries: int = Field(
        default=3, ge=0, le=100, description="How many times a run that was lost is run again."
    )

    @property
    def distributed(self) -> bool:
        return self.broker_url is not None

    @property
    def shared_redis_url(self) -> str | None:
        """Where shared limits and breakers live: ``redis_url``, else a redis:// broker URL."""
        if self.redis_url is not None:
            return self.redis_url
        if self.broker_url is not None and self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None


def capability_settings_groups() -> tuple[type[SettingsGroup], ...]:
    """The settings group of every capability in :mod:`crossdock.capabilities`, in list order."""
    # Imported here: the capabilities import this module at their own import time.
    from crossdock.capabilities import CAPABILITIES

    return tuple(capability.settings for capability in CAPABILITIES if capability.settings is not None)


class Settings(BaseSettings):
    """All of Crossdock's settings; build once per process with :func:`get_settings`.

    The core's groups are fields; every capability's group is loaded (and validated) when the
    settings are built, and read with :meth:`of`.
    """

    model_config = SettingsConfigDict(env_prefix="CROSSDOCK_", extra="ignore", frozen=True)

    var_dir: Path = Field(default=Path("var"), description="Directory for the embedded database and locks.")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    _groups: dict[type[SettingsGroup], SettingsGroup] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        for group in capability_settings_groups():
            try:
                self._groups.setdefault(group, group())
            except ValidationError as exc:
                raise settings_error(exc, group) from exc

    def of(self, group: type[G]) -> G:
        """The values of one capability's settings group (read from the environment on first use)."""
        found = self._groups.get(group)
        if found is None:
            found = self._groups[group] = group()
        assert isinstance(found, group)
        return found

    def with_groups(self, *groups: SettingsGroup) -> Settings:
        """A copy of these settings with the given capability groups replacing their current values."""
        copy = self.model_copy()
        copy._groups = {**self._groups, **{type(group): group for group in groups}}
        return copy


CORE_GROUPS: tuple[type[SettingsGroup], ...] = (
    DatabaseSettings,
    LogSettings,
    HttpSettings,
    ApiSettings,
    JobsSettings,
)


def environment_variables(group: type[BaseSettings]) -> dict[str, tuple[str, ...]]:
    """Each field of ``group`` with the environment variable names it reads, the current name first."""
    prefix = str(group.model_config.get("env_prefix", ""))
    names: dict[str, tuple[str, ...]] = {}
    for name, field in group.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names[name] = tuple(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names[name] = (alias,)
        else:
            names[name] = (f"{prefix}{name}".upper(),)
    return names


def settings_error(exc: ValidationError, group: type[BaseSettings]) -> ConfigurationError:
    """One line naming the environment variable of the first invalid field of ``group``."""
    first = exc.errors()[0]
    located = str(first["loc"][0]) if first["loc"] else ""
    variable = f"{group.model_config.get('env_prefix', '')}{located}".upper()
    message = str(first["msg"])
    for field, names in environment_variables(group).items():
        if located in (field, *names):
            variable = names[0]
            if _holds_secret(group.model_fields[field].annotation):
                message = _without_value(message, first.get("input"))
    # One line, whatever a validator wrote.
    return ConfigurationError(f"invalid setting {variable}: {' '.join(message.split())}")


def _holds_secret(annotation: Any) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    return any(_holds_secret(argument) for argument in get_args(annotation))


def _without_value(message: str, value: object) -> str:
    """``message`` with any printed form of a secret's ``value`` masked (our own messages have none;
    this guards against a validator that quotes its input)."""
    from crossdock.httpclient.redaction import MASK, printed_forms

    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return message
    for form in sorted(printed_forms(value) | printed_forms(value.strip()), key=len, reverse=True):
        message = message.replace(form, MASK)
    return message


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once; a validation error becomes a one-line :class:`ConfigurationError`."""
    try:
        return Settings()
    except ValidationError as exc:
        candidates: tuple[type[BaseSettings], ...] = (Settings, *CORE_GROUPS)
        group = next((g for g in candidates if g.__name__ == exc.title), Settings)
        raise settings_error(exc, group) from exc
