"""``crossdock submissions``: usage errors in one line with exit code 2, before any storage is touched;
the import's client keys, exit codes and the printed tree."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from crossdock.config import get_settings
from crossdock.submissions.cli import (
    MAX_CLIENT_KEY,
    ImportSummary,
    app,
    client_key_for,
    one_line,
    tree_lines,
)
from crossdock.submissions.schemas import CampaignRead, NodeRead

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "funnelfuel" / "dsp_merged_data.csv"
ACCOUNT_KEY = "ff-secret-key-0001"
runner = CliRunner()


def accounts(*names: str) -> str:
    return orjson.dumps(
        {name: {"url": "http://127.0.0.1:9/", "api_key": ACCOUNT_KEY} for name in names}
    ).decode()


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Settings read afresh from a clean environment; the database a path that must stay unmade."""
    database = tmp_path / "never-created.db"
    monkeypatch.setenv("CROSSDOCK_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("CROSSDOCK_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("CROSSDOCK_BROKER_URL", raising=False)
    monkeypatch.setenv("CROSSDOCK_SUBMISSIONS_DSPS", accounts("funnelfuel"))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    get_settings.cache_clear()
    yield database
    get_settings.cache_clear()
    root.handlers[:] = handlers  # the commands point logging at the runner's stream, gone afterwards
    root.setLevel(level)


@pytest.mark.parametrize("command", [[], ["import"], ["status"], ["retry"]])
def test_every_command_has_help(command: list[str]) -> None:
    """--help answers for the group and each command, exit 0."""
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_without_a_configured_dsp_the_import_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, environment: Path
) -> None:
    """No DSP configured: one line naming CROSSDOCK_SUBMISSIONS_DSPS, exit 2, no database made."""
    monkeypatch.delenv("CROSSDOCK_SUBMISSIONS_DSPS")
    result = runner.invoke(app, ["import", str(FIXTURE)])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: no DSP is configured: set CROSSDOCK_SUBMISSIONS_DSPS"
    assert not environment.exists()


def test_with_several_dsps_the_import_asks_for_one_and_names_them(
    monkeypatch: pytest.MonkeyPatch, environment: Path
) -> None:
    """Several DSPs and no --dsp: exit 2 naming every configured DSP, never their keys."""
    monkeypatch.setenv("CROSSDOCK_SUBMISSIONS_DSPS", accounts("acme", "funnelfuel"))
    result = runner.invoke(app, ["import", str(FIXTURE)])
    assert result.exit_code == 2
    assert "acme, funnelfuel" in result.stderr
    assert "--dsp" in result.stderr
    assert ACCOUNT_KEY not in result.output
    assert not environment.exists()


def test_an_unknown_dsp_is_a_usage_error_naming_the_configured_ones(environment: Path) -> None:
    """--dsp naming no configured DSP: exit 2, the configured names listed, nothing stored."""
    result = runner.invoke(app, ["import", str(FIXTURE), "--dsp", "acme"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: unknown DSP 'acme'; configured: funnelfuel"
    assert ACCOUNT_KEY not in result.output
    assert not environment.exists()


def test_a_missing_file_is_a_usage_error(tmp_path: Path, environment: Path) -> None:
    """A file that cannot be read: one line with exit 2, no database made."""
    result = runner.invoke(app, ["import", str(tmp_path / "absent.csv")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot read ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not environment.exists()


@pytest.mark.parametrize("limit", ["0", "501", "many"])
def test_status_refuses_an_unusable_limit(limit: str) -> None:
    """--limit outside 1..500 is Typer's usage error, exit 2."""
    assert runner.invoke(app, ["status", "--limit", limit]).exit_code == 2


def test_retry_needs_a_campaign_id() -> None:
    """retry without an id is a usage error, exit 2."""
    assert runner.invoke(app, ["retry"]).exit_code == 2


def test_a_campaign_keeps_its_client_key_whatever_its_content() -> None:
    """The key is the file's campaign_id (so a changed campaign conflicts instead of being stored twice)."""
    assert client_key_for("cmp_2025_001") == "csv:cmp_2025_001"
    assert client_key_for("cmp_2025_001") != client_key_for("cmp_2025_002")


def test_a_campaign_id_too_long_for_the_column_is_hashed() -> None:
    """Ids whose key would pass 255 characters get a stable, distinct hashed key that fits."""
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    assert len(client_key_for(long_a)) <= MAX_CLIENT_KEY
    assert client_key_for(long_a) == client_key_for(long_a)
    assert client_key_for(long_a) != client_key_for(long_b)
    assert client_key_for("a" * (MAX_CLIENT_KEY - 4)) == "csv:" + "a" * (MAX_CLIENT_KEY - 4)


def summary(*, submitted: int = 0, already: int = 0, conflicts: int = 0, rejected: int = 0) -> ImportSummary:
    entry = {"campaign_id": "c", "id": "i"}
    return ImportSummary(
        file="f.csv",
        dsp="funnelfuel",
        rows_read=submitted + already + rejected,
        rows_imported=submitted + already,
        submitted=[entry] * submitted,
        already_submitted=[entry] * already,
        conflicts=[{"campaign_id": "c", "error": "changed"}] * conflicts,
        rejected=[{"line": 2, "column": "bid", "error": "bad"}] * rejected,
    )


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (summary(submitted=1, rejected=3), 0),
        (summary(already=2, conflicts=1), 0),
        (summary(), 0),  # a header and no data row: nothing to do, nothing wrong
        (summary(rejected=2), 1),
        (summary(conflicts=1), 1),
    ],
)
def test_the_import_fails_only_when_problems_left_nothing_imported(outcome: ImportSummary, code: int) -> None:
    """Exit 0 if any campaign landed (problems still listed), 1 if problems left nothing imported."""
    assert outcome.exit_code == code


def test_the_text_summary_gives_one_line_per_problem() -> None:
    """Counts first, then each rejected row's line and reason, then each conflict."""
    lines = list(summary(submitted=1, conflicts=1, rejected=2).lines())
    assert lines[0].startswith("campaigns: 1 submitted, 0 already submitted, 1 conflicting; rows: 3 read")
    assert lines[1:4] == ["  line 2, bid: bad", "  line 2, bid: bad", "  campaign 'c': changed"]


def test_text_from_a_dsp_cannot_break_the_terminal_line() -> None:
    """Control characters (escapes, newlines) in a DSP's message become spaces."""
    assert one_line("Invalid IP\x1b[2J range:\n 192.168.1.256\r") == "Invalid IP [2J range: 192.168.1.256"


def node(kind: str, name: str, children: list[NodeRead] | None = None, **fields: object) -> NodeRead:
    values: dict[str, object] = {
        "id": name,
        "kind": kind,
        "state": "pending",
        "status": "Not Started",
        "error_message": None,
        "external_id": None,
        "attempts": 0,
        "payload_version": 1,
        "last_error": None,
        "children": children or [],
        **fields,
    }
    return NodeRead.model_validate(values)


def test_the_tree_is_indented_by_depth_with_every_nodes_facts() -> None:
    """Each node on its line, indented under its parent: state, status, attempts, external id, error."""
    failed = node(
        "ad", "ad-1", state="error", status="Error", error_message="Invalid IP range", external_id="x9"
    )
    tree = node("campaign", "cmp", [node("ad_group", "grp", [failed])], state="completed", status="Completed")
    read = CampaignRead(
        id="c-1",
        dsp="funnelfuel",
        name="Summer",
        status="Error",
        error_message="Invalid IP range",
        created_at=datetime(2025, 7, 1, 12, 0, tzinfo=UTC),
        tree=tree,
    )
    lines = list(tree_lines(read))
    assert lines[0] == "campaign c-1 'Summer' on funnelfuel, created 2025-07-01 12:00:00"
    assert lines[1] == "status: Error (Invalid IP range)"
    assert lines[2].split() == ["NODE", "STATE", "STATUS", "ATTEMPTS", "EXTERNAL", "ID", "ERROR"]
    assert lines[3].startswith("campaign cmp ")
    assert lines[4].startswith("  ad_group grp ")
    assert lines[5].startswith("    ad ad-1 ")
    assert lines[5].split()[2:] == ["error", "Error", "0", "x9", "Invalid", "IP", "range"]
