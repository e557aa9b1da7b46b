"""API keys: made once, kept only as salted hashes, recognised exactly, listed scopes only."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from crossdock.apikeys import OPS_READ, ApiKeyEntry, KeyRing, create_key, known_scopes
from crossdock.capabilities import CAPABILITIES
from crossdock.cli.main import app
from crossdock.config import ApiSettings
from crossdock.errors import ConfigurationError

runner = CliRunner()


def test_a_created_key_is_recognised_and_its_entry_holds_no_key() -> None:
    """The key opens its own entry; the entry (all that is stored) does not contain the key's secret."""
    key, entry = create_key("ops", (OPS_READ,))
    principal = KeyRing([entry]).identify(key)
    assert principal is not None
    assert (principal.name, principal.scopes) == ("ops", frozenset({OPS_READ}))
    assert key.startswith(f"cdk_{entry.id}_")
    secret = key.removeprefix(f"cdk_{entry.id}_")
    assert len(secret) == 43
    assert secret not in entry.model_dump_json()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),  # one character off
        lambda key: key.replace("cdk_", "cdk_0", 1),  # another id
        lambda key: key + "x",  # too long
        lambda key: "",  # nothing
        lambda key: "cdk_" + "é" * 20,  # not even the shape
    ],
)
def test_anything_but_the_exact_key_is_refused(mutate: object) -> None:
    """A key differing in any way, or of the wrong shape, identifies nobody."""
    key, entry = create_key("ops", (OPS_READ,))
    assert KeyRing([entry]).identify(mutate(key)) is None  # type: ignore[operator]


def test_two_keys_of_the_same_name_differ() -> None:
    """Each creation draws a new id, salt and secret."""
    first, first_entry = create_key("ops", (OPS_READ,))
    second, second_entry = create_key("ops", (OPS_READ,))
    assert first != second
    assert first_entry.hash != second_entry.hash
    assert KeyRing([first_entry]).identify(second) is None


def test_scopes_are_ops_and_each_capabilitys_read_and_write() -> None:
    """Known scopes: ops:read, then <capability>:read and :write for every capability in the list."""
    expected = {OPS_READ} | {f"{c.name}:{a}" for c in CAPABILITIES for a in ("read", "write")}
    assert set(known_scopes()) == expected


def test_settings_read_entries_and_refuse_unknown_scopes_and_duplicate_ids() -> None:
    """CROSSDOCK_API_KEYS entries load; an unknown scope or a repeated id is a configuration error."""
    _, entry = create_key("ops", (OPS_READ,))
    assert ApiSettings(keys=(entry,)).keys == (entry,)
    with pytest.raises(ValueError, match="unknown scopes"):
        ApiSettings(keys=(entry.model_copy(update={"scopes": ("nope:read",)}),))
    with pytest.raises(ValueError, match="same id"):
        ApiSettings(keys=(entry, entry))


def test_a_bad_keys_variable_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed CROSSDOCK_API_KEYS stops with one line naming the variable."""
    from crossdock.config import get_settings

    monkeypatch.setenv("CROSSDOCK_API_KEYS", '[{"name": "ops"}]')
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError) as caught:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert caught.value.message.startswith("invalid setting CROSSDOCK_API_KEYS")
    assert "\n" not in caught.value.message


def test_keys_create_prints_the_key_once_and_an_entry_that_works() -> None:
    """`keys create` prints a key and the entry to configure; configured, the entry admits that key."""
    result = runner.invoke(app, ["keys", "create", "console", "--scope", "ops:read", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    entry = ApiKeyEntry.model_validate(printed["entry"])
    principal = KeyRing(ApiSettings(keys=(entry,)).keys).identify(printed["key"])
    assert principal is not None
    assert principal.name == "console"
    human = runner.invoke(app, ["keys", "create", "console", "--scope", "ops:read"])
    assert human.output.count("cdk_") == 1  # the key, once; the entry holds only its id


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["keys", "create", "ops", "--scope", "everything"], "unknown scope"),
        (["keys", "create", "Bad Name!", "--scope", "ops:read"], "not a key name"),
        (["keys", "create", "ops"], "--scope"),
    ],
)
def test_keys_create_refuses_bad_input_with_exit_2(args: list[str], says: str) -> None:
    """Unknown scopes, bad names and a missing scope are usage errors (exit 2)."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert says in result.output
