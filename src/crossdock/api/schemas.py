"""The error envelope every answer of the service uses: ``{"error": {"code", "message"}, "data": null}``.

Its shape and field descriptions come from the marketplace provider's contract, the first API the
service implemented; every route answers errors in it (see :mod:`crossdock.api.errors`).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="Error code")
    message: str = Field(description="Detail of the error")


class ErrorResponse(BaseModel):
    error: ErrorDetail
    data: None = Field(examples=[None])
