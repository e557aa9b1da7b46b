"""The submissions console page through the whole app: campaigns with their status and node counts
(filtered), dead letters with Retry, each DSP account's request rate against its limit, a campaign's
node tree with the DSP's messages, the payload fix (and its refusals), 404s and scopes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from crossdock.api.app import create_app
from crossdock.apikeys import OPS_READ, create_key
from crossdock.config import Settings
from crossdock.jobs import records
from crossdock.storage import Database
from crossdock.submissions import engine
from crossdock.submissions.models import NodeRecord
from crossdock.submissions.schemas import CampaignSubmission
from crossdock.submissions.settings import DspAccount, SubmissionsSettings
from tests.support.asgi import running
from tests.support.console import console_settings, csrf_of

OPS_KEY, OPS = create_key("operator", (OPS_READ,))
FIXER_KEY, FIXER = create_key("fixer", (OPS_READ, "submissions:write"))
WRITER_KEY, WRITER = create_key("advertiser", ("submissions:write", "submissions:read"))
URL_SECRET = "url-password-0001"  # noqa: S105 - a throw-away value the page must not show
API_SECRET = "acme-key-do-not-show-0001"  # noqa: S105 - likewise
ACCOUNTS = {
    "acme": DspAccount(url=f"http://user:{URL_SECRET}@127.0.0.1:9/", api_key=API_SECRET, limit=40, window=60),
    "beta": DspAccount(url="http://127.0.0.1:9/", api_key="beta-key-0000001", limit=5, window=1),
}


def settings_for(db: Database, *, keys: bool = False) -> Settings:
    return console_settings(db, (OPS, FIXER, WRITER) if keys else (), SubmissionsSettings(dsps=ACCOUNTS))


@pytest.fixture
async def console(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings_for(sqlite_database), database=sqlite_database)) as client:
        yield client


@pytest.fixture
async def guarded(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(sqlite_database, keys=True), database=sqlite_database)
    async with running(app) as client:
        yield client


async def submitted(db: Database, name: str, *, dsp: str = "acme") -> str:
    """A campaign of one ad group with two ads: nodes at positions 0 (campaign), 1 (group), 2-3 (ads)."""
    body = {
        "dsp": dsp,
        "campaign": {
            "name": name,
            "budget": 5000,
            "start_date": "2026-06-01",
            "end_date": "2026-08-31",
            "objective": "conversions",
            "ad_groups": [
                {
                    "name": f"{name} group",
                    "bid": 2.5,
                    "targeting": {"ages": ["18-24"], "interests": ["surf"], "geo": ["ES"]},
                    "ads": [
                        {
                            "type": "banner",
                            "creative_url": f"https://cdn.example/{n}.png",
                            "click_url": "https://x.example/",
                        }
                        for n in range(2)
                    ],
                }
            ],
        },
    }
    campaign, _ = await engine.submit(db, CampaignSubmission.model_validate(body), known_dsps=list(ACCOUNTS))
    return campaign.id


async def move(db: Database, campaign_id: str, positions: tuple[int, ...], **values: Any) -> None:
    async with db.unit_of_work() as session:
        await session.execute(
            update(NodeRecord)
            .where(NodeRecord.campaign_id == campaign_id, NodeRecord.position.in_(positions))
            .values(**values)
        )


async def refused_group(db: Database, name: str = "Refused") -> str:
    """The campaign completed at the DSP; its ad group refused (``error``); the ads blocked under it."""
    campaign_id = await submitted(db, name)
    await move(
        db, campaign_id, (0,), state="completed", external_id="cmp_1", dsp_status="Completed", attempts=1
    )
    await move(
        db,
        campaign_id,
        (1,),
        state="error",
        external_id="adg_1",
        dsp_status="Error",
        attempts=1,
        error_message="Bid below floor price",
    )
    await move(db, campaign_id, (2, 3), state="blocked", last_error="its parent failed")
    return campaign_id


async def dead_campaign(db: Database, name: str = "Dead") -> str:
    """Every attempt at the campaign node failed (``dead``, last error kept); the rest blocked."""
    campaign_id = await submitted(db, name)
    await move(db, campaign_id, (0,), state="dead", attempts=2, last_error="HTTP 503 from the DSP")
    await move(db, campaign_id, (1, 2, 3), state="blocked", last_error="its parent failed")
    return campaign_id


async def completed(db: Database, name: str = "Done", *, dsp: str = "acme") -> str:
    campaign_id = await submitted(db, name, dsp=dsp)
    await move(db, campaign_id, (0, 1, 2, 3), state="completed", dsp_status="Completed", attempts=1)
    return campaign_id


async def record_pass(db: Database, dsp: str, minutes_ago: float, **details: int) -> None:
    finished = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    run_id = await records.start_run(
        db, capability="submissions", job="submissions.advance", subject=dsp, trigger="schedule",
        started_at=finished - timedelta(seconds=2), params={"dsp": dsp},
    )  # fmt: skip
    await records.finish_run(
        db, run_id, outcome="success", finished_at=finished, duration_seconds=2.0, attempts=1,
        changed=True, details=details, error=None,
    )  # fmt: skip


def rows_of(html: str, table: str) -> list[str]:
    """The ``data-campaign`` ids of one table's rows, in order."""
    start = html.index(f'id="{table}"')
    end = html.index("</table>", start)
    return re.findall(r'<tr data-campaign="([^"]+)"', html[start:end])


async def test_campaigns_are_listed_with_status_node_counts_and_links(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """Each campaign: a link to its tree, its DSP, its seed status, its nodes by state, its message."""
    done = await completed(sqlite_database)
    refused = await refused_group(sqlite_database)
    page = await console.get("/console/submissions")
    assert page.status_code == 200
    assert rows_of(page.text, "campaign-table") == [refused, done]  # newest first
    assert f'<a href="/console/submissions/campaigns/{refused}">Refused</a>' in page.text
    assert 'data-status="Error"' in page.text
    assert 'data-status="Completed"' in page.text
    assert '<span class="badge bad">error</span> 1' in page.text
    assert '<span class="badge warn">blocked</span> 2' in page.text
    assert "4: " in page.text  # nodes in all
    assert "Bid below floor price" in page.text
    assert '<label for="filter-status">Status</label>' in page.text
    assert '<a href="/console/submissions" aria-current="page">Submissions</a>' in page.text


async def test_the_filters_change_the_campaigns_shown(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """Status and DSP narrow the list; an unknown status is a 400 page, not an empty list."""
    done = await completed(sqlite_database)
    refused = await refused_group(sqlite_database)
    on_beta = await completed(sqlite_database, "On beta", dsp="beta")
    failing = (await console.get("/console/submissions", params={"status": "Error"})).text
    assert rows_of(failing, "campaign-table") == [refused]
    assert '<option value="Error" selected>' in failing
    finished = (await console.get("/console/submissions", params={"status": "Completed"})).text
    assert rows_of(finished, "campaign-table") == [on_beta, done]
    beta = (await console.get("/console/submissions", params={"dsp": "beta"})).text
    assert rows_of(beta, "campaign-table") == [on_beta]
    assert 'data-account="acme"' not in beta  # the DSP filter narrows the rate charts too
    assert "No node is in <code>error</code> or <code>dead</code> on beta" in beta
    nothing = (await console.get("/console/submissions", params={"status": "In Progress"})).text
    assert "No campaign matches on this page." in nothing
    unknown = await console.get("/console/submissions", params={"status": "Lost"})
    assert unknown.status_code == 400
    assert "unknown status &#39;Lost&#39;" in unknown.text


async def test_dead_letters_list_failed_nodes_with_the_dsps_messages_and_a_retry_form(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """Nodes in error or dead, grouped by campaign, each with its message; a CSRF-protected Retry."""
    await completed(sqlite_database)
    refused = await refused_group(sqlite_database)
    dead = await dead_campaign(sqlite_database)
    page = (await console.get("/console/submissions")).text
    assert rows_of(page, "dead-letter-table") == [dead, refused]
    assert "2 node(s) in <code>error</code>" in page
    assert "HTTP 503 from the DSP" in page
    assert "Bid below floor price" in page
    assert f'action="/console/submissions/campaigns/{refused}/retry"' in page
    assert 'aria-label="Retry: campaign Refused"' in page
    assert csrf_of(page)


async def test_nothing_failing_says_so(console: httpx.AsyncClient, sqlite_database: Database) -> None:
    await completed(sqlite_database)
    page = (await console.get("/console/submissions")).text
    assert "No node is in <code>error</code> or <code>dead</code>." in page
    assert 'id="dead-letter-table"' not in page


async def test_each_account_has_its_request_rate_against_its_limit_and_no_secret(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """Requests per minute (sent + poll_requests of each pass over the last hour) with the limit
    scaled to a minute; an account without passes says "no data"; URLs and keys are never shown."""
    await record_pass(sqlite_database, "acme", 10, sent=12, poll_requests=3, rate_limited=0)
    await record_pass(sqlite_database, "acme", 10.2, sent=20, poll_requests=2, rate_limited=1)
    await record_pass(sqlite_database, "acme", 2, sent=4, poll_requests=1)
    await record_pass(sqlite_database, "acme", 90, sent=500, poll_requests=0)  # over an hour ago
    page = (await console.get("/console/submissions")).text
    acme = page[page.index('data-account="acme"') : page.index('data-account="beta"')]
    assert "40 requests per 60 s (40 per minute)" in acme
    assert "42 requests in 3 passes" in acme
    assert "37 requests (92 % of the limit)" in acme  # the busiest minute
    assert '<span class="badge bad">1</span>' in acme  # a 429
    assert '<svg class="chart"' in acme
    assert '<path class="line ok"' in acme
    assert "limit 40" in acme
    assert ">12 min ago</text>" in acme  # from a minute before the first pass of the hour
    beta = page[page.index('data-account="beta"') :]
    assert "5 requests per 1 s (300 per minute)" in beta
    assert ">no data</text>" in beta.split("</svg>")[0]
    for secret in (URL_SECRET, API_SECRET, "127.0.0.1:9"):
        assert secret not in page


async def test_the_campaign_page_shows_the_node_tree_with_states_and_dsp_errors(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """Campaign → ad group → ads, each with state, seed status, attempts, external id and message."""
    refused = await refused_group(sqlite_database)
    page = await console.get(f"/console/submissions/campaigns/{refused}")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Campaign Refused</h1>" in html
    nodes = await engine.campaign_nodes(sqlite_database, refused)
    group = nodes[1]
    assert re.search(rf'id="node-{nodes[0].id}" [^>]*data-state="completed"', html)
    assert re.search(rf'id="node-{group.id}" [^>]*data-state="error"', html)
    assert html.count('data-state="blocked"') == 2
    assert "<code>cmp_1</code>" in html
    assert "<code>adg_1</code>" in html
    assert "DSP error: Bid below floor price" in html
    assert "Last error: its parent failed" in html
    assert "3 node(s) failed or blocked" in html
    assert f'data-refresh="/console/submissions/campaigns/{refused}/tree"' in html
    # The tree alone, as the page refreshes it.
    fragment = await console.get(f"/console/submissions/campaigns/{refused}/tree")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert f'id="node-{group.id}"' in fragment.text
    # A fix form for the failed node only, labelled, starting from its payload.
    assert f'<label for="fix-{group.id}">Fields to change (JSON object)</label>' in html
    assert html.count("/fix") == 1
    assert "&#34;bid&#34;: 2.5" in html


async def test_unknown_campaigns_and_nodes_are_the_consoles_404_page(console: httpx.AsyncClient) -> None:
    for path in ("/console/submissions/campaigns/nope", "/console/submissions/campaigns/nope/tree"):
        answer = await console.get(path)
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert "404: no campaign nope" in answer.text
    await console.get("/console/submissions")
    token = console.cookies["crossdock_csrf"]
    for path in ("/console/submissions/campaigns/nope/retry", "/console/submissions/nodes/nope/fix"):
        answer = await console.post(path, data={"csrf_token": token, "changes": "{}"})
        assert answer.status_code == 404
        assert "<h1>Error</h1>" in answer.text


async def test_retry_resumes_the_failed_nodes_and_comes_back_with_a_notice(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    refused = await refused_group(sqlite_database)
    page = (await console.get(f"/console/submissions/campaigns/{refused}")).text
    answer = await console.post(
        f"/console/submissions/campaigns/{refused}/retry",
        data={"csrf_token": csrf_of(page), "next": f"/console/submissions/campaigns/{refused}"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/submissions/campaigns/{refused}?retried=3"
    states = [node.state for node in await engine.campaign_nodes(sqlite_database, refused)]
    assert states == ["completed", "pending", "pending", "pending"]
    after = (await console.get(answer.headers["location"])).text
    assert "Retry: 3 node(s) resumed" in after
    assert "Nothing to retry." in after
    assert 'data-state="error"' not in after


async def test_retry_from_the_list_returns_to_the_filtered_list_and_never_off_the_console(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    dead = await dead_campaign(sqlite_database)
    token = csrf_of((await console.get("/console/submissions")).text)
    back = await console.post(
        f"/console/submissions/campaigns/{dead}/retry",
        data={"csrf_token": token, "next": "/console/submissions?status=Error&retried=9"},
    )
    assert back.headers["location"] == "/console/submissions?status=Error&retried=4"
    assert "Retry: 4 node(s) resumed" in (await console.get(back.headers["location"])).text
    for target in ("//evil.example/", "https://evil.example/", "/console/submissions//x", "/docs"):
        answer = await console.post(
            f"/console/submissions/campaigns/{dead}/retry", data={"csrf_token": token, "next": target}
        )
        assert answer.headers["location"] == f"/console/submissions/campaigns/{dead}?retried=0"


async def test_actions_without_the_csrf_token_change_nothing(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    refused = await refused_group(sqlite_database)
    await console.get("/console/submissions")  # the browser holds a CSRF cookie; a forged form cannot know it
    group = (await engine.campaign_nodes(sqlite_database, refused))[1]
    for path, data in (
        (f"/console/submissions/campaigns/{refused}/retry", {"csrf_token": "x" * 43}),
        (f"/console/submissions/nodes/{group.id}/fix", {"changes": '{"bid": 3}'}),
    ):
        answer = await console.post(path, data=data)
        assert answer.status_code == 403
        assert "CSRF token does not match" in answer.text
    nodes = await engine.campaign_nodes(sqlite_database, refused)
    assert nodes[1].state == "error"
    assert nodes[1].payload_version == 1


async def test_a_payload_fix_makes_a_new_version_then_retry_sends_it(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    refused = await refused_group(sqlite_database)
    group = (await engine.campaign_nodes(sqlite_database, refused))[1]
    token = csrf_of((await console.get(f"/console/submissions/campaigns/{refused}")).text)
    answer = await console.post(
        f"/console/submissions/nodes/{group.id}/fix", data={"csrf_token": token, "changes": '{"bid": 3.75}'}
    )
    assert answer.status_code == 303
    assert (
        answer.headers["location"]
        == f"/console/submissions/campaigns/{refused}?fixed={group.id}#node-{group.id}"
    )
    fixed = await engine.node_record(sqlite_database, group.id)
    assert (fixed.payload["bid"], fixed.payload_version, fixed.state) == (3.75, 2, "error")
    page = (await console.get(answer.headers["location"].split("#")[0])).text
    assert "The ad group&#39;s payload is now version 2: press Retry to send it." in page


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ('{"bid": -1}', 400, "400: bid:"),
        ('{"colour": "red"}', 400, "400: a ad_group has no field colour"),
        ("{bid: 3}", 400, "400: the changes are not JSON"),
        ("[]", 400, "400: give a JSON object of the fields to change"),
    ],
)
async def test_a_refused_fix_shows_why_beside_its_form_and_keeps_the_text(
    console: httpx.AsyncClient, sqlite_database: Database, changes: str, status: int, message: str
) -> None:
    refused = await refused_group(sqlite_database)
    group = (await engine.campaign_nodes(sqlite_database, refused))[1]
    token = csrf_of((await console.get(f"/console/submissions/campaigns/{refused}")).text)
    answer = await console.post(
        f"/console/submissions/nodes/{group.id}/fix", data={"csrf_token": token, "changes": changes}
    )
    assert answer.status_code == status
    assert (
        f'id="fix-error-{group.id}" class="error" role="alert">The fix was refused — {message}' in answer.text
    )
    assert 'aria-invalid="true"' in answer.text
    unchanged = await engine.node_record(sqlite_database, group.id)
    assert unchanged.payload_version == 1


async def test_a_node_at_the_dsp_cannot_be_fixed_409_on_the_page(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    refused = await refused_group(sqlite_database)
    root = (await engine.campaign_nodes(sqlite_database, refused))[0]  # completed at the DSP
    token = csrf_of((await console.get(f"/console/submissions/campaigns/{refused}")).text)
    answer = await console.post(
        f"/console/submissions/nodes/{root.id}/fix", data={"csrf_token": token, "changes": '{"budget": 9000}'}
    )
    assert answer.status_code == 409
    assert f"The fix was refused — 409: node {root.id} is completed" in answer.text
    assert "<h1>Campaign Refused</h1>" in answer.text


async def test_with_keys_a_key_without_ops_read_is_sent_to_sign_in(
    guarded: httpx.AsyncClient, sqlite_database: Database
) -> None:
    refused = await refused_group(sqlite_database)
    assert (await guarded.get("/console/submissions")).status_code == 303
    guarded.cookies.set("crossdock_console", WRITER_KEY)  # submissions:write, but no ops:read
    for path in ("/console/submissions", f"/console/submissions/campaigns/{refused}"):
        answer = await guarded.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/login?next=")


async def test_with_keys_actions_need_the_write_scope(
    guarded: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """ops:read sees the page without its buttons and is refused the actions; with
    submissions:write the Retry works."""
    refused = await refused_group(sqlite_database)
    guarded.cookies.set("crossdock_console", OPS_KEY)
    page = await guarded.get(f"/console/submissions/campaigns/{refused}")
    assert page.status_code == 200
    assert "Retrying needs a key holding <code>submissions:write</code>." in page.text
    assert "Retry failed nodes</button>" not in page.text
    listing = (await guarded.get("/console/submissions")).text
    assert 'aria-label="Retry: campaign Refused"' not in listing
    refused_retry = await guarded.post(
        f"/console/submissions/campaigns/{refused}/retry", data={"csrf_token": csrf_of(page.text)}
    )
    assert refused_retry.status_code == 403
    assert "does not hold the scope submissions:write" in refused_retry.text
    guarded.cookies.set("crossdock_console", FIXER_KEY)
    page = await guarded.get(f"/console/submissions/campaigns/{refused}")
    assert "Retry failed nodes</button>" in page.text
    done = await guarded.post(
        f"/console/submissions/campaigns/{refused}/retry", data={"csrf_token": csrf_of(page.text)}
    )
    assert done.status_code == 303
    assert [node.state for node in await engine.campaign_nodes(sqlite_database, refused)][1] == "pending"
