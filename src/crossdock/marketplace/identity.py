"""The public identity of a plan: a deterministic UUID, stable across restarts and replicas."""

from __future__ import annotations

import uuid

# Fixed namespace for Crossdock marketplace ids (uuid5 of the URL namespace over a fixed name).
# Changing it would change every public id: never do.
PLAN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://crossdock.dev/ns/marketplace-plan")


def plan_key(provider: str, base_event_id: str, event_id: str) -> str:
    """The internal key ``provider:base_event_id:event_id`` (event ids repeat across base events)."""
    return f"{provider}:{base_event_id}:{event_id}"


def plan_uuid(provider: str, base_event_id: str, event_id: str) -> str:
    """uuid5 over :func:`plan_key`, as the canonical lower-case string."""
    return str(uuid.uuid5(PLAN_NAMESPACE, plan_key(provider, base_event_id, event_id)))
