"""The KrakenFlex simulator app, in process through httpx.ASGITransport: auth, sites, faults, control API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from crossdock.errors import InvalidInputError
from crossdock.simulators.cli import app as simulate_app
from crossdock.simulators.options import USAGE_ERROR_EXIT_CODE
from crossdock.site_outages.simulator.app import (
    BASE_PATH,
    SITES,
    KrakenflexSimulatorOptions,
    create_app,
    generate_api_key,
    load_data,
)

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "krakenflex"
NORWICH = "norwich-pear-tree"
NORWICH_EXPECTED: list[dict[str, str]] = json.loads(load_data("expected-site-outages-norwich-pear-tree.json"))
KINGFISHER_EXPECTED: list[dict[str, str]] = json.loads(
    load_data("readme-example-expected-site-outages-kingfisher.json")
)
REAL_OUTAGES: list[dict[str, str]] = [
    *json.loads(load_data("outages.json")),
    *json.loads(load_data("readme-example-outages.json")),
]
SITE_DEVICES = {
    device["id"]
    for name in ("site-info-norwich-pear-tree.json", "readme-example-site-info-kingfisher.json")
    for device in json.loads(load_data(name))["devices"]
}


@asynccontextmanager
async def simulator(**options: Any) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    key = generate_api_key()
    app = create_app(KrakenflexSimulatorOptions(api_key=key, **options))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://simulator", headers={"x-api-key": key}
    ) as client:
        yield client, key


def api_calls(site: str = NORWICH, body: Any = None) -> list[tuple[str, str, Any]]:
    """One call per endpoint: (method, path, JSON body)."""
    return [
        ("GET", "/outages", None),
        ("GET", f"/site-info/{site}", None),
        ("POST", f"/site-outages/{site}", [] if body is None else body),
    ]


async def call(client: httpx.AsyncClient, method: str, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    if method == "POST":
        return await client.post(path, json=body, **kwargs)
    return await client.get(path, **kwargs)


def test_packaged_data_is_byte_identical_to_the_fixtures() -> None:
    """The package carries exact copies of the captured and README fixtures."""
    for site in SITES:
        for name in (site.site_info_file, site.outages_file, site.expected_outages_file):
            assert load_data(name) == (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(("method", "path", "body"), api_calls())
async def test_missing_or_wrong_key_is_forbidden_on_every_endpoint(method: str, path: str, body: Any) -> None:
    """Without x-api-key, or with another value, every endpoint answers the gateway's 403 body."""
    async with simulator() as (client, key):
        del client.headers["x-api-key"]
        missing = await call(client, method, path, body)
        wrong = await call(client, method, path, body, headers={"x-api-key": key + "x"})
    for response in (missing, wrong):
        assert response.status_code == 403
        assert response.content == b'{"message":"Forbidden"}'
        assert response.headers["content-type"] == "application/json"


async def test_key_header_name_is_case_insensitive() -> None:
    """X-API-KEY works like x-api-key, as HTTP header names are case-insensitive."""
    async with simulator() as (client, key):
        del client.headers["x-api-key"]
        response = await client.get(f"/site-info/{NORWICH}", headers={"X-API-KEY": key})
    assert response.status_code == 200


@pytest.mark.parametrize("prefix", ["", BASE_PATH])
async def test_site_info_is_served_byte_for_byte_at_root_and_under_the_base_path(prefix: str) -> None:
    """GET /site-info answers the packaged body verbatim, with or without /interview-tests-mock-api/v1."""
    async with simulator() as (client, _):
        norwich = await client.get(f"{prefix}/site-info/{NORWICH}")
        kingfisher = await client.get(f"{prefix}/site-info/kingfisher")
    assert norwich.status_code == kingfisher.status_code == 200
    assert norwich.content == load_data("site-info-norwich-pear-tree.json")
    assert kingfisher.content == load_data("readme-example-site-info-kingfisher.json")
    assert norwich.headers["content-type"] == "application/json"


@pytest.mark.parametrize("prefix", ["", BASE_PATH])
async def test_unknown_site_is_404_on_both_site_endpoints(prefix: str) -> None:
    """An unknown siteId gets the captured 404 body on GET /site-info and POST /site-outages."""
    async with simulator() as (client, _):
        info = await client.get(f"{prefix}/site-info/no-such-site")
        posted = await client.post(f"{prefix}/site-outages/no-such-site", json=[])
    for response in (info, posted):
        assert response.status_code == 404
        assert response.content == b'{"message":"Site not found"}'


async def test_too_much_too_soon_is_rate_limited_on_both_site_endpoints() -> None:
    """Site too-much-too-soon answers the captured 429 body, as the live API's test hook did."""
    async with simulator() as (client, _):
        info = await client.get("/site-info/too-much-too-soon")
        posted = await client.post(f"{BASE_PATH}/site-outages/too-much-too-soon", json=[])
    for response in (info, posted):
        assert response.status_code == 429
        assert response.content == b'{"message":"You have exceeded your limit for your API key"}'


@pytest.mark.parametrize(("method", "path", "body"), api_calls(body=NORWICH_EXPECTED))
async def test_error_rate_one_fails_every_endpoint_with_500(method: str, path: str, body: Any) -> None:
    """At error_rate=1 every API request with a valid key is a 500, even the correct POST."""
    async with simulator(error_rate=1.0) as (client, _):
        responses = [await call(client, method, path, body) for _ in range(3)]
        state = (await client.get("/_control")).json()
    assert [r.status_code for r in responses] == [500] * 3
    assert responses[0].json() == {"message": "Internal server error"}
    assert state["counters"]["errors"] == 3


async def test_outages_hold_the_real_ones_in_order_plus_noise_that_changes() -> None:
    """GET /outages has every real outage in source order, plus new noise of unknown devices each call."""
    async with simulator() as (client, _):
        first = await client.get("/outages")
        second = await client.get(f"{BASE_PATH}/outages")
    assert first.status_code == second.status_code == 200
    noises = []
    for response in (first, second):
        outages = response.json()
        real = [outage for outage in outages if outage in REAL_OUTAGES]
        noise = [outage for outage in outages if outage not in REAL_OUTAGES]
        assert real == REAL_OUTAGES
        assert 3 <= len(noise) <= 8
        assert all(set(outage) == {"id", "begin", "end"} for outage in noise)
        assert not {outage["id"] for outage in noise} & SITE_DEVICES
        assert all(outage["begin"] < outage["end"] and outage["end"].endswith("Z") for outage in noise)
        noises.append(noise)
    assert noises[0] != noises[1]


async def test_noise_repeats_for_the_same_seed() -> None:
    """Two simulators with the same seed serve the same noise outages."""
    async with simulator(seed=7) as (one, _), simulator(seed=7) as (two, _):
        assert (await one.get("/outages")).content == (await two.get("/outages")).content


@pytest.mark.parametrize(
    ("site", "expected"), [(NORWICH, NORWICH_EXPECTED), ("kingfisher", KINGFISHER_EXPECTED)]
)
async def test_post_of_exactly_the_expected_outages_is_accepted(site: str, expected: Any) -> None:
    """The expected body for a site gets 200 with an empty body, as api.yaml documents no content."""
    async with simulator() as (client, _):
        response = await client.post(f"{BASE_PATH}/site-outages/{site}", json=expected)
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    "body",
    [
        NORWICH_EXPECTED[:-1],
        list(reversed(NORWICH_EXPECTED)),
        [*NORWICH_EXPECTED, NORWICH_EXPECTED[0]],
        [{**NORWICH_EXPECTED[0], "name": "Battery 9"}, *NORWICH_EXPECTED[1:]],
        KINGFISHER_EXPECTED,
        [],
        {"outages": NORWICH_EXPECTED},
    ],
    ids=["partial", "reordered", "duplicated", "wrong-name", "other-site", "empty", "not-a-list"],
)
async def test_post_of_any_other_set_is_rejected_with_400(body: Any) -> None:
    """Anything but the exact expected outages, in order, gets the captured 400 body."""
    async with simulator() as (client, _):
        response = await client.post(f"/site-outages/{NORWICH}", json=body)
    assert response.status_code == 400
    assert response.content == b'{"message":"Unexpected outages received"}'


async def test_post_key_order_inside_an_outage_does_not_matter() -> None:
    """Bodies are compared as JSON values: an outage with its keys in another order still matches."""
    reordered = [dict(reversed(outage.items())) for outage in NORWICH_EXPECTED]
    async with simulator() as (client, _):
        response = await client.post(f"/site-outages/{NORWICH}", json=reordered)
    assert response.status_code == 200


async def test_posts_log_records_site_body_and_status_until_reset() -> None:
    """GET /_control/posts lists each POST with its site, parsed body and status; reset empties it."""
    async with simulator() as (client, _):
        await client.post(f"/site-outages/{NORWICH}", json=NORWICH_EXPECTED[:1])
        await client.post(f"{BASE_PATH}/site-outages/{NORWICH}", json=NORWICH_EXPECTED)
        await client.post("/site-outages/nowhere", content=b"not json")
        posts = (await client.get("/_control/posts")).json()
        state = (await client.get("/_control")).json()
        await client.post("/_control/reset")
        after = (await client.get("/_control/posts")).json()
    assert posts == [
        {"site_id": NORWICH, "body": NORWICH_EXPECTED[:1], "status": 400},
        {"site_id": NORWICH, "body": NORWICH_EXPECTED, "status": 200},
        {"site_id": "nowhere", "body": "not json", "status": 404},
    ]
    assert state["counters"]["posts"] == 3
    assert state["counters"]["by_status"] == {"400": 1, "200": 1, "404": 1}
    assert after == []


async def test_control_changes_faults_live_and_refuses_bad_values() -> None:
    """PUT /_control sets error_rate/latency_ms, refuses bad or unknown values with 400, and needs no key."""
    async with simulator() as (client, _):
        del client.headers["x-api-key"]
        bad = [
            await client.put("/_control", json=changes)
            for changes in ({"error_rate": 1.5}, {"latency_ms": -1}, {"latency_ms": 0.5}, {"down": True})
        ]
        good = await client.put("/_control", json={"error_rate": 1.0, "latency_ms": 0})
        reset = await client.post("/_control/reset")
    assert [r.status_code for r in bad] == [400] * 4
    assert "error_rate must be a number between 0 and 1" in bad[0].json()["error"]
    assert good.status_code == 200
    assert good.json()["error_rate"] == 1.0
    assert reset.json()["error_rate"] == 0.0
    assert "api_key" not in json.dumps(good.json())


def test_options_validate_and_round_trip_through_json_without_showing_the_key() -> None:
    """Options refuse bad rates, latency and keys, survive to_json/from_json, and keep the key out of repr."""
    options = KrakenflexSimulatorOptions(api_key="k3y-value", seed=3, error_rate=0.25, latency_ms=10)
    assert KrakenflexSimulatorOptions.from_json(options.to_json()) == options
    assert "k3y-value" not in repr(options)
    for bad in (
        {"api_key": ""},
        {"api_key": "with space"},
        {"api_key": "k", "error_rate": 1.01},
        {"api_key": "k", "error_rate": -0.1},
        {"api_key": "k", "latency_ms": -1},
        {"api_key": "k", "latency_ms": True},
    ):
        with pytest.raises(InvalidInputError):
            KrakenflexSimulatorOptions(**bad)
    for text in ('{"seed": 1}', '{"api_key": "k", "nope": 1}', "[]", "not json"):
        with pytest.raises(InvalidInputError):
            KrakenflexSimulatorOptions.from_json(text)


def test_generated_keys_are_random() -> None:
    """Each generated key is new: there is no fixed default key."""
    assert len({generate_api_key() for _ in range(5)}) == 5


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--error-rate", "1.5"], "Error: --error-rate must be between 0 and 1 (got 1.5)"),
        (["--latency-ms", "-1"], "Error: --latency-ms must be 0 or more (got -1)"),
        (["--port", "0"], "Error: --port must be between 1 and 65535 (got 0)"),
        (["--api-key", "has space"], "Error: api_key must be printable ASCII without spaces"),
    ],
)
def test_cli_refuses_bad_values_with_exit_code_2(arguments: list[str], message: str) -> None:
    """`crossdock simulate krakenflex` names a bad value on stderr and exits 2 before serving."""
    result = CliRunner().invoke(simulate_app, ["krakenflex", *arguments])
    assert result.exit_code == USAGE_ERROR_EXIT_CODE
    assert message in result.output


def test_cli_help_documents_every_option_and_the_env_var() -> None:
    """The krakenflex command's help lists its options and the env var that can hold the key."""
    result = CliRunner().invoke(simulate_app, ["krakenflex", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--host", "--port", "--api-key", "--error-rate", "--latency-ms", "--seed"):
        assert option in result.output
    assert "CROSSDOCK_SIMULATOR_KRAKENFLEX_API_KEY" in result.output
