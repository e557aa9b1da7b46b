"""Site ids: validated before anything is recorded or sent, and always one encoded segment on the wire."""

from __future__ import annotations

import secrets

import httpx
import pytest
from pydantic import SecretStr

from crossdock.config import Settings
from crossdock.errors import ConfigurationError, InvalidInputError
from crossdock.httpclient import BreakerRegistry, ResilientClient
from crossdock.site_outages import SiteOutagesSettings, process_site_outages, provider
from crossdock.site_outages.provider import EnhancedOutagePayload
from crossdock.site_outages.service import check_run
from tests.support.http_mocks import Script

KEY = "test-" + secrets.token_hex(12)  # generated per run: never a real credential
BASE = "http://platform.test/interview-tests-mock-api/v1/"

GOOD_IDS = ["norwich-pear-tree", "kingfisher", "too-much-too-soon", "a", "Site_9.b-c", "x" * 128, "a..b"]
BAD_IDS = [
    "../../../x",
    "norwich-pear-tree?x=1",
    "norwich-pear-tree#top",
    "a/b",
    "a%2Fb",
    "..",
    ".",
    ".hidden",
    "-x",
    "_x",
    "with space",
    "line\nbreak",
    "\x1b[31mred",
    "x" * 129,
    "caf\u00e9",
    "\u202eevil",
]


def settings() -> Settings:
    return Settings().with_groups(SiteOutagesSettings(api_key=SecretStr(KEY)))


@pytest.mark.parametrize("site_id", GOOD_IDS)
def test_usable_site_ids_pass_the_run_check(site_id: str) -> None:
    """Ids of letters, digits, '.', '_' and '-' (up to 128, starting alphanumeric) are accepted."""
    check_run(settings(), {"site_id": site_id})


@pytest.mark.parametrize("site_id", BAD_IDS)
def test_malformed_site_ids_are_refused_by_the_run_check(site_id: str) -> None:
    """Path separators, queries, fragments, escapes, dot segments and odd characters are usage errors."""
    with pytest.raises(InvalidInputError) as caught:
        check_run(settings(), {"site_id": site_id})
    assert caught.value.code == "invalid_site_id"
    message = caught.value.message
    assert message.startswith("site id '")
    assert "is not valid" in message
    assert message.isascii()
    assert message.isprintable()


def test_refusal_names_a_long_id_quoted_and_capped() -> None:
    """A huge id with a newline is shown escaped, quoted and cut, so the error stays one short line."""
    site_id = "x\n" + "y" * 10_000
    with pytest.raises(InvalidInputError) as caught:
        check_run(settings(), {"site_id": site_id})
    message = caught.value.message
    assert "\n" not in message
    assert len(message) < 300
    assert "'x\\n" in message
    assert "(10002 characters)" in message


async def test_use_case_refuses_a_malformed_id_before_any_request() -> None:
    """The Python API checks the id too: nothing is sent for '../../../x'."""
    script = Script([200])
    async with ResilientClient(
        "krakenflex", base_url=BASE, transport=httpx.MockTransport(script), registry=BreakerRegistry()
    ) as client:
        with pytest.raises(InvalidInputError):
            await process_site_outages(
                client=client, settings=SiteOutagesSettings(api_key=SecretStr(KEY)), site_id="../../../x"
            )
    assert script.calls == 0


def test_scheduled_site_ids_are_checked_when_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad id in CROSSDOCK_SITE_OUTAGES_SITES is a one-line configuration error naming the variable."""
    monkeypatch.setenv("CROSSDOCK_SITE_OUTAGES_SITES", "norwich-pear-tree, ../admin")
    with pytest.raises(ConfigurationError) as caught:
        Settings()
    message = caught.value.message
    assert message.startswith("invalid setting CROSSDOCK_SITE_OUTAGES_SITES: ")
    assert "'../admin'" in message
    assert "\n" not in message


def test_good_scheduled_site_ids_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Valid comma-separated ids (spaces around them allowed) load as before."""
    monkeypatch.setenv("CROSSDOCK_SITE_OUTAGES_SITES", " norwich-pear-tree , kingfisher ,")
    assert Settings().of(SiteOutagesSettings).site_ids == ["norwich-pear-tree", "kingfisher"]


@pytest.mark.parametrize(
    ("site_id", "segment"),
    [
        ("../../../x", b"..%2F..%2F..%2Fx"),
        ("norwich-pear-tree?x=1", b"norwich-pear-tree%3Fx%3D1"),
        ("a#b", b"a%23b"),
        ("a%2Fb", b"a%252Fb"),
        ("sp ace", b"sp%20ace"),
    ],
)
async def test_odd_site_ids_stay_one_encoded_path_segment(site_id: str, segment: bytes) -> None:
    """The provider encodes the id whole: no other path, no query string, whatever the caller checked."""
    script = Script([httpx.Response(200, json={"id": "s", "name": "S", "devices": []}), 200])
    async with ResilientClient(
        "krakenflex", base_url=BASE, transport=httpx.MockTransport(script), registry=BreakerRegistry()
    ) as client:
        await provider.fetch_site_info(client, site_id)
        await provider.post_site_outages(
            client, site_id, [EnhancedOutagePayload(id="d", name="n", begin="b", end="e")]
        )
    info, post = script.requests
    assert info.url.raw_path == b"/interview-tests-mock-api/v1/site-info/" + segment
    assert post.url.raw_path == b"/interview-tests-mock-api/v1/site-outages/" + segment
    assert info.url.query == post.url.query == b""
    assert info.url.host == "platform.test"


@pytest.mark.parametrize("site_id", ["", ".", ".."])
async def test_dot_segments_never_reach_the_wire(site_id: str) -> None:
    """'.', '..' and '' would still move up the path once encoded, so the provider refuses them."""
    script = Script([200])
    async with ResilientClient(
        "krakenflex", base_url=BASE, transport=httpx.MockTransport(script), registry=BreakerRegistry()
    ) as client:
        with pytest.raises(InvalidInputError):
            await provider.fetch_site_info(client, site_id)
    assert script.calls == 0
