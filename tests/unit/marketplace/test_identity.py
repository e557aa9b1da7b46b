"""Public plan ids: deterministic uuid5 over provider:base_event_id:event_id."""

from __future__ import annotations

import uuid

from crossdock.marketplace.identity import PLAN_NAMESPACE, plan_key, plan_uuid


def test_id_is_uuid5_of_the_internal_key() -> None:
    """The id is uuid5(namespace, 'fever:291:291'), so any replica computes the same one."""
    assert plan_key("fever", "291", "291") == "fever:291:291"
    assert plan_uuid("fever", "291", "291") == str(uuid.uuid5(PLAN_NAMESPACE, "fever:291:291"))
    assert uuid.UUID(plan_uuid("fever", "291", "291")).version == 5


def test_reused_event_id_gets_distinct_ids() -> None:
    """Event 1642 under base events 322, 1591 and 444 has three different public ids."""
    assert len({plan_uuid("fever", base, "1642") for base in ("322", "1591", "444")}) == 3


def test_ids_are_pinned_across_releases() -> None:
    """Namespace and a known id are fixed literals: changing them would change every public id."""
    assert str(PLAN_NAMESPACE) == "04d45cf3-d77c-5868-98c7-cac8f2e8bb5f"
    assert plan_uuid("fever", "291", "291") == "358478b7-7263-5583-9926-b9d08e08a789"
