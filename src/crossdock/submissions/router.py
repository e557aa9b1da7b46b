"""HTTP routes of the submissions capability (thin: read the request, call the engine)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header

from crossdock.api.auth import require
from crossdock.api.schemas import ErrorResponse
from crossdock.api.state import AppStateDep
from crossdock.errors import InvalidInputError
from crossdock.submissions import engine, machine
from crossdock.submissions.models import NodeRecord
from crossdock.submissions.schemas import (
    ActionAnswer,
    CampaignRead,
    CampaignSubmission,
    NodeRead,
    SubmittedAnswer,
)
from crossdock.submissions.settings import SubmissionsSettings

CAPABILITY = "submissions"
router = APIRouter(tags=["submissions"])
READ = f"{CAPABILITY}:read"
WRITE = f"{CAPABILITY}:write"
MAX_KEY_LENGTH = 255
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The request was not correctly formed"},
    503: {"model": ErrorResponse, "description": "The database is unavailable"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such campaign"}
}


def _tree(nodes: list[NodeRecord]) -> NodeRead:
    views: dict[str, NodeRead] = {}
    root: NodeRead | None = None
    for node in nodes:  # parents first
        status, message = machine.seed_status(engine.to_machine(node))
        view = NodeRead(
            id=node.id,
            kind=node.kind,
            state=node.state,
            status=status,
            error_message=message,
            external_id=node.external_id,
            attempts=node.attempts,
            payload_version=node.payload_version,
            last_error=node.last_error,
        )
        views[node.id] = view
        if node.parent_id is None:
            root = view
        else:
            views[node.parent_id].children.append(view)
    assert root is not None, "a campaign always has its campaign node"
    return root


@router.post(
    "/api/campaigns",
    status_code=202,
    response_model=SubmittedAnswer,
    summary="Submit a campaign tree to a DSP (honours Idempotency-Key)",
    responses={
        **_ERRORS,
        422: {"model": ErrorResponse, "description": "Idempotency-Key reused with another body"},
    },
    dependencies=[require(WRITE)],
)
async def post_campaign(
    submission: CampaignSubmission,
    state: AppStateDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> SubmittedAnswer:
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters", code="invalid_key"
        )
    dsps = list(state.settings.of(SubmissionsSettings).dsps)
    campaign, _created = await engine.submit(
        state.db, submission, known_dsps=dsps, client_key=idempotency_key
    )
    status, _message = engine.campaign_status(await engine.campaign_nodes(state.db, campaign.id))
    return SubmittedAnswer(id=campaign.id, status=status)


@router.get(
    "/api/campaigns/{campaign_id}",
    response_model=CampaignRead,
    summary="A campaign with every node's state, seed status, error, external id and attempts",
    responses={**_ERRORS, **_NOT_FOUND},
    dependencies=[require(READ)],
)
async def get_campaign(campaign_id: str, state: AppStateDep) -> CampaignRead:
    campaign = await engine.get_campaign(state.db, campaign_id)
    nodes = await engine.campaign_nodes(state.db, campaign_id)
    status, message = engine.campaign_status(nodes)
    return CampaignRead(
        id=campaign.id,
        dsp=campaign.dsp,
        name=campaign.name,
        status=status,
        error_message=message,
        created_at=campaign.created_at,
        tree=_tree(nodes),
    )


async def _action(state: AppStateDep, campaign_id: str, nodes_changed: int) -> ActionAnswer:
    status, _message = engine.campaign_status(await engine.campaign_nodes(state.db, campaign_id))
    return ActionAnswer(id=campaign_id, status=status, nodes_changed=nodes_changed)


@router.post(
    "/api/campaigns/{campaign_id}/retry",
    status_code=202,
    response_model=ActionAnswer,
    summary="Resume a campaign from its failed nodes (completed nodes are never sent again)",
    responses={**_ERRORS, **_NOT_FOUND},
    dependencies=[require(WRITE)],
)
async def retry_campaign(campaign_id: str, state: AppStateDep) -> ActionAnswer:
    return await _action(state, campaign_id, await engine.retry_campaign(state.db, campaign_id))


@router.post(
    "/api/campaigns/{campaign_id}/cancel",
    status_code=202,
    response_model=ActionAnswer,
    summary="Cancel every node of a campaign not yet terminal",
    responses={**_ERRORS, **_NOT_FOUND},
    dependencies=[require(WRITE)],
)
async def cancel_campaign(campaign_id: str, state: AppStateDep) -> ActionAnswer:
    return await _action(state, campaign_id, await engine.cancel_campaign(state.db, campaign_id))
