"""The one mapper from errors to HTTP answers, in the envelope of the /search contract.

Every error answer is ``{"error": {"code": ..., "message": ...}, "data": null}``: FastAPI's default
422 shape never leaves the service, and an unexpected failure is a 500 envelope without a trace.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from crossdock.errors import (
    AuthenticationError,
    ConflictError,
    CrossdockError,
    IdempotencyConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StorageError,
    UpstreamUnavailableError,
)

logger = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def envelope(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}, "data": None})


INTERNAL_ERROR_BODY = envelope("internal_error", "internal server error; the failure was logged")


def status_for(exc: CrossdockError) -> int:
    """The HTTP status an error of ours maps to."""
    if isinstance(exc, InvalidInputError):
        return 400
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, IdempotencyConflictError):
        return 422
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, PayloadTooLargeError):
        return 413
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, PermissionDeniedError):
        return 403
    if isinstance(exc, StorageError | UpstreamUnavailableError):
        return 503
    return 500


def error_answer(exc: CrossdockError) -> tuple[int, bytes]:
    status = status_for(exc)
    if status >= 500:
        logger.error("request failed: %s: %s", exc.code, exc.message)
    return status, envelope(exc.code, exc.message)


def _json(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type="application/json")


async def _crossdock_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CrossdockError)
    response = _json(*error_answer(exc))
    if isinstance(exc, AuthenticationError):
        # RFC 9110: a 401 names the scheme the client should use.
        response.headers["WWW-Authenticate"] = 'Bearer realm="crossdock"'
    return response


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "body"))
    message = (
        f"{where}: {first.get('msg', 'invalid request')}"
        if where
        else str(first.get("msg", "invalid request"))
    )
    return _json(400, envelope("invalid_request", message))


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    response = _json(exc.status_code, envelope(code, str(exc.detail)))
    # The framework's own headers (a 405's Allow, which RFC 9110 requires) go out with the envelope.
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _unexpected(_request: Request, exc: Exception) -> Response:
    logger.error("unhandled %s while answering a request", exc.__class__.__name__, exc_info=exc)
    return _json(500, INTERNAL_ERROR_BODY)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CrossdockError, _crossdock_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
