"""Static files the service serves itself (Swagger UI's, the console's): never from a CDN.

Only names on an allow-list are served, from one directory, so a request can never reach another
file; each answer may be cached for an hour.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Collection
from pathlib import Path

from starlette.responses import FileResponse

from crossdock.errors import NotFoundError

CACHE_CONTROL = "public, max-age=3600"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def asset_response(directory: Path, name: str, allowed: Collection[str]) -> FileResponse:
    """``directory / name`` when ``name`` is allowed, else 404 (in the error envelope)."""
    if name not in allowed:
        raise NotFoundError(f"no asset {name[:80]!r}")
    path = directory / name
    media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"cache-control": CACHE_CONTROL})
