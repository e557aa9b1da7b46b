"""``crossdock submissions import|status|retry`` against a real SQLite database, with the FunnelFuel sample.

Importing stores every campaign once (a second import answers them as already submitted, a changed
one as a conflict), status lists them and shows one's tree, retry resumes failed nodes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import update
from typer.testing import CliRunner, Result

from crossdock.config import DatabaseSettings, get_settings
from crossdock.storage import create_database
from crossdock.submissions.cli import app
from crossdock.submissions.models import NodeRecord

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "funnelfuel" / "dsp_merged_data.csv"
ACCOUNT_KEY = "ff-secret-key-0001"
FIXTURE_CAMPAIGNS = 6
FIXTURE_ROWS = 9
FIXTURE_NODES = 23  # five campaigns of one ad group and one ad, one of three ad groups and four ads
runner = CliRunner()


@pytest.fixture(autouse=True)
def database_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite file and one configured DSP, read afresh by each command."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}"
    monkeypatch.setenv("CROSSDOCK_DATABASE_URL", url)
    monkeypatch.setenv("CROSSDOCK_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("CROSSDOCK_BROKER_URL", raising=False)
    accounts = {"funnelfuel": {"url": "http://127.0.0.1:9/", "api_key": ACCOUNT_KEY}}
    monkeypatch.setenv("CROSSDOCK_SUBMISSIONS_DSPS", orjson.dumps(accounts).decode())
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    root.handlers[:] = handlers  # the commands point logging at the runner's stream, gone afterwards
    root.setLevel(level)


def invoke(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert ACCOUNT_KEY not in result.output
    return result


def as_json(*args: str) -> Any:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def edited(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def fixture_lines() -> list[str]:
    return FIXTURE.read_text(encoding="utf-8").splitlines()


def test_import_submits_every_campaign_of_the_sample() -> None:
    """All 6 campaigns of the 9 rows are submitted, none rejected; progress goes to stderr."""
    result = invoke("import", str(FIXTURE))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        f"campaigns: {FIXTURE_CAMPAIGNS} submitted, 0 already submitted, 0 conflicting; "
        f"rows: {FIXTURE_ROWS} read, {FIXTURE_ROWS} imported, 0 rejected (DSP funnelfuel)"
    )
    assert "Reading CSV" in result.stderr
    assert "Submitting campaigns" in result.stderr


def test_importing_the_same_file_again_submits_nothing_twice() -> None:
    """The second import answers the same campaigns as already submitted, exit 0, nothing new stored."""
    first = as_json("import", str(FIXTURE))
    second = as_json("import", str(FIXTURE))
    assert len(first["submitted"]) == FIXTURE_CAMPAIGNS
    assert (second["submitted"], second["conflicts"], second["rejected"]) == ([], [], [])
    assert second["already_submitted"] == first["submitted"]
    assert [item["campaign_id"] for item in first["submitted"]] == [
        "cmp_2025_001",
        "cmp_2025_002",
        "cmp_2025_003",
        "cmp_2025_004",
        "cmp_2024_005",
        "cmp_2025_multi_01",
    ]
    assert len(as_json("status")["campaigns"]) == FIXTURE_CAMPAIGNS


def test_a_campaign_changed_since_its_import_is_a_conflict_not_a_second_campaign(tmp_path: Path) -> None:
    """A changed bid under the same campaign_id: that campaign conflicts, the others are already there."""
    as_json("import", str(FIXTURE))
    header, *rows = fixture_lines()
    rows[0] = rows[0].replace(",2.5,", ",2.6,")  # cmp_2025_001's bid
    changed = edited(tmp_path, "changed.csv", [header, *rows])

    answer = as_json("import", str(changed))
    assert [item["campaign_id"] for item in answer["conflicts"]] == ["cmp_2025_001"]
    assert len(answer["already_submitted"]) == FIXTURE_CAMPAIGNS - 1
    assert answer["submitted"] == []
    assert len(as_json("status")["campaigns"]) == FIXTURE_CAMPAIGNS

    alone = edited(tmp_path, "alone.csv", [header, rows[0]])
    result = invoke("import", str(alone))
    assert result.exit_code == 1  # its only campaign could not be imported
    assert "campaign 'cmp_2025_001': already submitted with other values" in result.stdout


def test_rejected_rows_are_listed_and_the_rest_is_imported(tmp_path: Path) -> None:
    """A bad bid drops its campaign with a line per row; the others are submitted, exit 0."""
    header, *rows = fixture_lines()
    rows[0] = rows[0].replace(",2.5,", ",cheap,")
    result = invoke("import", str(edited(tmp_path, "bad.csv", [header, *rows])))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        f"campaigns: {FIXTURE_CAMPAIGNS - 1} submitted, 0 already submitted, 0 conflicting; "
        f"rows: {FIXTURE_ROWS} read, {FIXTURE_ROWS - 1} imported, 1 rejected"
    )
    assert lines[1] == (
        "  line 2, bid: not a number: 'cheap'; ad group 'ag_1001' of campaign 'cmp_2025_001' is not imported"
    )


def test_a_file_with_nothing_usable_fails_with_its_reasons(tmp_path: Path) -> None:
    """A wrong header: nothing imported, the reason printed, exit 1 (not a usage error)."""
    _header, *rows = fixture_lines()
    answer = invoke("import", str(edited(tmp_path, "headless.csv", rows)), "--json")
    assert answer.exit_code == 1
    summary = orjson.loads(answer.stdout)
    assert summary["submitted"] == summary["already_submitted"] == []
    assert [item["line"] for item in summary["rejected"]] == [1]
    assert "header" in summary["rejected"][0]["error"]


def test_status_lists_the_newest_campaigns_with_their_node_counts() -> None:
    """Every imported campaign, Not Started, its nodes counted by state; --limit caps the list."""
    imported = as_json("import", str(FIXTURE))
    listed = as_json("status")["campaigns"]
    assert {item["id"] for item in listed} == {item["id"] for item in imported["submitted"]}
    assert {item["status"] for item in listed} == {"Not Started"}
    assert sum(item["nodes"]["pending"] for item in listed) == FIXTURE_NODES
    assert len(as_json("status", "--limit", "2")["campaigns"]) == 2

    text = invoke("status")
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "CREATED", "DSP", "NODES", "NAME"]
    assert len(lines) == 1 + FIXTURE_CAMPAIGNS
    assert any("pending 8" in line and line.endswith("Autumn Sale Push") for line in lines)


def test_status_without_campaigns_says_so() -> None:
    """An empty database lists nothing, exit 0."""
    result = invoke("status")
    assert result.exit_code == 0
    assert result.stdout.startswith("no campaigns yet")


def test_status_of_one_campaign_shows_its_tree() -> None:
    """The multi-group campaign: 3 ad groups, 4 ads, every node pending and not sent."""
    imported = as_json("import", str(FIXTURE))
    multi = next(item["id"] for item in imported["submitted"] if item["campaign_id"] == "cmp_2025_multi_01")

    read = as_json("status", multi)
    assert (read["id"], read["dsp"], read["name"], read["status"]) == (
        multi,
        "funnelfuel",
        "Autumn Sale Push",
        "Not Started",
    )
    tree = read["tree"]
    assert tree["kind"] == "campaign"
    assert [len(group["children"]) for group in tree["children"]] == [2, 1, 1]
    assert {tree["external_id"], tree["attempts"]} == {None, 0}

    text = invoke("status", multi).stdout.splitlines()
    assert text[0].startswith(f"campaign {multi} 'Autumn Sale Push' on funnelfuel")
    nodes = text[3:]
    kinds = ["campaign", "ad_group", "ad", "ad", "ad_group", "ad", "ad_group", "ad"]
    assert [line.split()[0] for line in nodes] == kinds
    assert nodes[1].startswith("  ad_group ")
    assert nodes[2].startswith("    ad ")


@pytest.mark.parametrize("command", ["status", "retry"])
def test_an_unknown_campaign_is_one_line_and_exit_1(command: str) -> None:
    """status ID and retry ID for an id never stored: "error: no campaign ...", exit 1."""
    result = invoke(command, "no-such-campaign")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no campaign no-such-campaign"


def fail_campaign_node(url: str, campaign_id: str) -> None:
    """The DSP refused the campaign node (error) and its descendants were blocked, as the engine does."""

    async def change() -> None:
        db = create_database(DatabaseSettings(url=url))
        try:
            async with db.unit_of_work() as session:
                await session.execute(
                    update(NodeRecord)
                    .where(NodeRecord.campaign_id == campaign_id, NodeRecord.parent_id.is_(None))
                    .values(state="error", dsp_status="Error", error_message="Invalid budget")
                )
                await session.execute(
                    update(NodeRecord)
                    .where(NodeRecord.campaign_id == campaign_id, NodeRecord.parent_id.is_not(None))
                    .values(state="blocked", last_error="its parent failed")
                )
        finally:
            await db.dispose()

    asyncio.run(change())


def test_retry_answers_nothing_to_do_then_resumes_the_failed_nodes(database_url: str) -> None:
    """Nothing to resume at first; after its root failed: the root and its blocked children resumed."""
    imported = as_json("import", str(FIXTURE))
    first = imported["submitted"][0]["id"]

    assert as_json("retry", first) == {"id": first, "status": "Not Started", "nodes_changed": 0}
    assert invoke("retry", first).stdout.startswith("nothing to retry")

    fail_campaign_node(database_url, first)
    failed = as_json("status", first)
    assert (failed["status"], failed["error_message"]) == ("Error", "Invalid budget")
    assert "Invalid budget" in invoke("status", first).stdout

    result = invoke("retry", first)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"resumed 3 node(s) of campaign {first} (status now Not Started)")
    assert {node["state"] for node in _nodes(as_json("status", first)["tree"])} == {"pending"}


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node["children"]:
        yield from _nodes(child)
