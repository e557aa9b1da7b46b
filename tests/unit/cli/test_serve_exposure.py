"""`crossdock serve` refuses to expose the service beyond this machine without API keys."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from crossdock.apikeys import OPS_READ, create_key
from crossdock.cli.main import app
from crossdock.cli.serve import check_exposure, is_loopback
from crossdock.config import ApiSettings, Settings
from crossdock.errors import ConfigurationError

runner = CliRunner()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("myhost.example", False),
    ],
)
def test_loopback_is_recognised(host: str, loopback: bool) -> None:
    """Only loopback addresses (and the name localhost) count as this machine only."""
    assert is_loopback(host) is loopback


def test_open_bind_without_keys_is_refused_unless_allowed() -> None:
    """A non-loopback host without keys is a configuration error; keys or the explicit switch allow it."""
    with pytest.raises(ConfigurationError, match="CROSSDOCK_API_KEYS"):
        check_exposure(Settings(api=ApiSettings(keys=())), "0.0.0.0", allow_unauthenticated=False)
    check_exposure(Settings(api=ApiSettings(keys=())), "0.0.0.0", allow_unauthenticated=True)
    check_exposure(
        Settings(api=ApiSettings(allow_unauthenticated=True)), "0.0.0.0", allow_unauthenticated=False
    )
    keyed = Settings(api=ApiSettings(keys=(create_key("ops", (OPS_READ,))[1],)))
    check_exposure(keyed, "0.0.0.0", allow_unauthenticated=False)
    check_exposure(Settings(api=ApiSettings(keys=())), "127.0.0.1", allow_unauthenticated=False)


def test_serve_on_all_interfaces_without_keys_exits_2_before_listening(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`serve --host 0.0.0.0` with no keys stops at once with exit 2 and one line saying what to do."""
    monkeypatch.delenv("CROSSDOCK_API_KEYS", raising=False)
    monkeypatch.delenv("CROSSDOCK_API_ALLOW_UNAUTHENTICATED", raising=False)
    from crossdock.config import get_settings

    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: refusing to serve on 0.0.0.0 without API keys")
    assert "--allow-unauthenticated" in last
