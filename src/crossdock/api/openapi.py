"""The service's OpenAPI document, saying what the service really answers.

FastAPI documents a 422 for every route with parameters; the service answers those cases 400 in the
error envelope (``crossdock.api.errors``), so the document says 400. Routes that need a scope are
marked with it (``x-required-scope``), the two ways to send a key (``securitySchemes``), and the
401/403 answers they give when keys are configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from crossdock.api.auth import access_rules
from crossdock.api.schemas import ErrorResponse

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_FRAMEWORK_SCHEMAS = ("HTTPValidationError", "ValidationError")
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _patch(document: dict[str, Any], rules: Mapping[tuple[str, str], str | None]) -> None:
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault("400", _error("The request was not correctly formed"))
            scope = rules.get((path, method.upper()))
            if scope is not None:
                operation["x-required-scope"] = scope
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
                responses.setdefault("401", _error("No valid API key (only when API keys are configured)"))
                responses.setdefault("403", _error(f"The API key does not hold the scope {scope}"))
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    envelope = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(envelope.pop("$defs", {}))
    schemas.setdefault("ErrorResponse", envelope)
    for name in _FRAMEWORK_SCHEMAS:
        schemas.pop(name, None)
    components["securitySchemes"] = SECURITY_SCHEMES


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the corrected document (built once, on first use)."""
    generate = app.openapi

    def document() -> dict[str, Any]:
        if not getattr(app, "_crossdock_document", None):
            built = generate()
            _patch(built, access_rules(app))
            app._crossdock_document = built  # type: ignore[attr-defined]
        result: dict[str, Any] = app._crossdock_document  # type: ignore[attr-defined]
        return result

    app.openapi = document  # type: ignore[method-assign]
