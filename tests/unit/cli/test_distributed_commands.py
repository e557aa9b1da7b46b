"""The distributed engine's commands refuse settings that cannot work, in one line with exit code 2."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from crossdock.cli.main import app
from crossdock.config import JobsSettings, get_settings
from crossdock.jobs.scheduler import lock_key
from crossdock.site_outages.simulator.app import max_in_window

runner = CliRunner()


@pytest.fixture(autouse=True)
def _settings_read_afresh() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("command", [["worker"], ["scheduler"]])
def test_without_a_broker_the_process_commands_say_what_to_set(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CROSSDOCK_BROKER_URL", raising=False)
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    assert "CROSSDOCK_BROKER_URL" in result.output


@pytest.mark.parametrize("command", [["worker"], ["scheduler"]])
def test_on_sqlite_the_process_commands_ask_for_postgresql(
    command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("CROSSDOCK_BROKER_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("CROSSDOCK_DATABASE_URL", "sqlite:///./never-created.db")
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    assert "needs PostgreSQL" in result.output


def test_a_broker_url_of_another_scheme_is_refused_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSDOCK_BROKER_URL", "http://user:s3cret@example.test/")
    result = runner.invoke(app, ["jobs", "status"])
    assert result.exit_code == 2
    assert "CROSSDOCK_BROKER_URL" in result.output
    assert "s3cret" not in result.output


def test_shared_limits_live_in_the_redis_broker_unless_another_redis_is_named() -> None:
    assert JobsSettings(broker_url="redis://127.0.0.1:6379/0").shared_redis_url == "redis://127.0.0.1:6379/0"
    assert JobsSettings(broker_url="amqp://guest:guest@127.0.0.1/").shared_redis_url is None
    with_redis = JobsSettings(broker_url="amqp://127.0.0.1/", redis_url="redis://127.0.0.1:6379/1")
    assert with_redis.shared_redis_url == "redis://127.0.0.1:6379/1"


def test_schedulers_of_different_queues_never_compete_for_one_lock() -> None:
    assert lock_key("crossdock") == lock_key("crossdock")
    assert lock_key("crossdock") != lock_key("crossdock-staging")
    assert -(2**63) <= lock_key("crossdock") < 2**63


@pytest.mark.parametrize(
    ("times", "most"),
    [
        ([], 0),
        ([0.0, 0.5, 0.99], 3),
        ([0.0, 0.5, 1.0, 1.5], 2),  # a window is half-open: [t, t + 1)
        ([0.0, 0.1, 0.2, 5.0], 3),
    ],
)
def test_the_simulator_counts_the_busiest_second(times: list[float], most: int) -> None:
    assert max_in_window(times, 1.0) == most
