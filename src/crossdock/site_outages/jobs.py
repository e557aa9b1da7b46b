"""Job functions of the site-outages capability (registered in :mod:`crossdock.jobs.registry`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from crossdock.errors import CrossdockError
from crossdock.site_outages import service

if TYPE_CHECKING:
    from crossdock.jobs.context import JobContext


async def process_configured_sites(ctx: JobContext) -> Mapping[str, Any]:
    """Process every site of CROSSDOCK_KRAKENFLEX_SITES; one failing site never stops the others.

    Raises after all sites ran if any failed, so the run is recorded as failed with each reason.
    """
    settings = ctx.settings.krakenflex
    results: dict[str, Any] = {}
    failures: list[str] = []
    async with service.build_client(settings, ctx.settings.http) as client:
        for site_id in settings.site_ids:
            try:
                result = await service.process_site_outages(
                    client=client, site_id=site_id, since=settings.since, db=ctx.db
                )
            except CrossdockError as exc:
                failures.append(f"site {site_id}: {exc.message}")
                results[site_id] = {"outcome": "failed"}
            else:
                results[site_id] = result.as_dict()
    if failures:
        raise CrossdockError("; ".join(failures))
    return {"sites": results}
