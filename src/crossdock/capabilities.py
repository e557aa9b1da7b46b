"""The one list of capabilities. Adding one is a folder with a ``capability.py`` and a line here.

Everything shared loops over :data:`CAPABILITIES` (the API shell, the CLI root, the job registry, the
migrations, ``crossdock simulate``, ``/health``); this is the only module outside a capability's
folder that refers to one (a test checks). Removing a capability is deleting its folder and its line.
"""

from __future__ import annotations

from importlib import import_module

from crossdock.manifest import Capability


def manifest_of(package: str) -> Capability:
    """The ``CAPABILITY`` that ``<package>.capability`` exports."""
    capability = import_module(f"{package}.capability").CAPABILITY
    if not isinstance(capability, Capability) or capability.package != package:
        raise TypeError(f"{package}.capability.CAPABILITY must be the Capability of {package}")
    return capability


CAPABILITIES: tuple[Capability, ...] = (
    manifest_of("crossdock.marketplace"),
    manifest_of("crossdock.site_outages"),
    manifest_of("crossdock.controller_outages"),
    manifest_of("crossdock.submissions"),
)
