"""The one exception tree of Crossdock.

Library exceptions (httpx, SQLAlchemy, lxml, ...) are translated into these inside the layer that
meets them; entry points translate these into HTTP responses (``crossdock.api.errors``) and CLI exit
codes (``crossdock.cli.errors``). Messages never contain secrets: the HTTP client redacts URLs and
headers before it builds one.

    CrossdockError
    ├── ConfigurationError            settings are missing or invalid
    ├── InvalidInputError             a caller's input (query parameter, CLI option) is malformed
    ├── NotFoundError                 a resource of our API does not exist (404)
    ├── ConflictError                 the request conflicts with what is stored (409)
    │   └── IdempotencyConflictError  an Idempotency-Key reused with a different body (422)
    ├── PayloadTooLargeError          a request body to our API is over its size limit (413)
    ├── AuthenticationError           a request to our API carries no usable API key (401)
    ├── PermissionDeniedError         the request's API key lacks the scope the route needs (403)
    ├── StorageError                  the database (or a local file we write) failed
    │   └── StorageConflictError      a write broke a unique rule (another process got there first)
    ├── ProviderDataError             an upstream answered, but its payload cannot be used as a whole
    ├── JobAlreadyRunningError        a job was asked to start while it is running
    └── UpstreamError                 a call to an upstream API failed (carries the upstream name)
        ├── UpstreamStatusError       the upstream answered with a status we do not retry
        │   ├── UpstreamBadRequestError   400: the upstream rejected our payload
        │   ├── UpstreamAuthError         401/403: the credentials were rejected
        │   └── UpstreamNotFoundError     404: the resource does not exist
        └── UpstreamUnavailableError  retries exhausted on 5xx / 429 / timeouts / connection errors
            └── CircuitOpenError      the circuit breaker is open: the call was not attempted
"""

from __future__ import annotations


class CrossdockError(Exception):
    """Root of every error Crossdock raises on purpose."""

    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def add_context(self, prefix: str, suffix: str = "") -> None:
        """Say what the failing work was about: the message becomes ``<prefix>: <message><suffix>``."""
        self.message = f"{prefix}: {self.message}{suffix}"
        self.args = (self.message,)


class ConfigurationError(CrossdockError):
    """Raised at start-up or before a command runs when settings are missing or invalid."""

    code = "configuration_error"


class InvalidInputError(CrossdockError):
    """Raised when a caller's input cannot be used; ``code`` is a stable machine-readable reason."""

    code = "invalid_input"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class NotFoundError(CrossdockError):
    """Raised when a request names a resource of ours that does not exist (answered 404)."""

    code = "not_found"


class ConflictError(CrossdockError):
    """Raised when a request conflicts with the stored state (answered 409)."""

    code = "conflict"


class IdempotencyConflictError(ConflictError):
    """Raised when an ``Idempotency-Key`` comes back with a different body (answered 422)."""

    code = "idempotency_conflict"


class PayloadTooLargeError(CrossdockError):
    """Raised when a request body is over the size its route accepts (answered 413)."""

    code = "payload_too_large"


class AuthenticationError(CrossdockError):
    """Raised when API keys are configured and a protected request has no valid key (answered 401)."""

    code = "unauthorized"


class PermissionDeniedError(CrossdockError):
    """Raised when a valid API key lacks the scope a route requires (answered 403)."""

    code = "forbidden"


class StorageError(CrossdockError):
    """Raised when the database cannot be reached or a statement fails, or a local file Crossdock
    writes (a downloaded feed) cannot be written or read (disk full, permissions)."""

    code = "storage_error"


class StorageConflictError(StorageError):
    """A write broke a unique rule of the database: another process stored the same thing first."""


class ProviderDataError(CrossdockError):
    """Raised when an upstream's body cannot be used as a whole (truncated, not XML, wrong root)."""

    code = "provider_data_error"


class JobAlreadyRunningError(CrossdockError):
    """Raised when a job is started while a previous run of it has not finished."""

    code = "job_already_running"


class UpstreamError(CrossdockError):
    """Raised when a call to an upstream fails; ``upstream`` names it, ``status`` is the last HTTP status."""

    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        upstream: str,
        status: int | None = None,
        upstream_message: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.upstream = upstream
        self.status = status
        self.upstream_message = upstream_message
        self.attempts = attempts


class UpstreamStatusError(UpstreamError):
    """Raised when the upstream answers with a status that is not retried (a 4xx other than 408/429)."""

    code = "upstream_status"


class UpstreamBadRequestError(UpstreamStatusError):
    """Raised on 400: the upstream rejected what we sent."""

    code = "upstream_bad_request"


class UpstreamAuthError(UpstreamStatusError):
    """Raised on 401/403: the upstream rejected our credentials."""

    code = "upstream_auth"


class UpstreamNotFoundError(UpstreamStatusError):
    """Raised on 404: the upstream does not know the resource."""

    code = "upstream_not_found"


class UpstreamUnavailableError(UpstreamError):
    """Raised when retries are exhausted (attempts or total time) on retryable failures."""

    code = "upstream_unavailable"


class CircuitOpenError(UpstreamUnavailableError):
    """Raised without any network call while the upstream's circuit breaker is open."""

    code = "circuit_open"
