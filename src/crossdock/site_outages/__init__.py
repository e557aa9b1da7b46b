"""Site outages: report a site's device outages since a cut-off to the energy platform's API.

Public API::

    from crossdock.site_outages import process_site_outages, process_site_outages_sync, select_site_outages
"""

from crossdock.site_outages.service import (
    SiteOutagesResult,
    process_site_outages,
    process_site_outages_sync,
    select_site_outages,
)
from crossdock.site_outages.settings import SiteOutagesSettings

__all__ = [
    "SiteOutagesResult",
    "SiteOutagesSettings",
    "process_site_outages",
    "process_site_outages_sync",
    "select_site_outages",
]
