"""The submission API's campaign tree: what it accepts, what it refuses and why, and the DSP payloads."""

from __future__ import annotations

import string
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crossdock.submissions.schemas import (
    MAX_AD_GROUPS_PER_CAMPAIGN,
    MAX_ADS_PER_AD_GROUP,
    MAX_TARGETING_ITEMS,
    AdGroupIn,
    AdIn,
    CampaignIn,
    CampaignSubmission,
    TargetingIn,
)

# -- valid trees, also used by the CSV import's round-trip test -----------------------------------

_TEXT_ALPHABET = string.ascii_letters + string.digits + " -_.,;:'\"&/()éß€"
_ITEM_ALPHABET = string.ascii_letters + string.digits + " -+_.,'\"&/"


def _stripped(alphabet: str, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=1, max_size=max_size).map(str.strip).filter(bool)


texts = _stripped(_TEXT_ALPHABET, 40)
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999999999.99"), places=2)
urls = st.builds(
    "{}://{}/{}".format,
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(["cdn.example.com", "shop.example.com:8443", "127.0.0.1"]),
    st.text(string.ascii_letters + string.digits + "-_./?=&%", max_size=30),
)
targeting_lists = st.lists(_stripped(_ITEM_ALPHABET, 20), max_size=4)


@st.composite
def _flights(draw: st.DrawFn) -> tuple[date, date]:
    start = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
    return start, start + timedelta(days=draw(st.integers(0, 400)))


ads = st.builds(AdIn, type=texts, creative_url=urls, click_url=urls)
ad_groups = st.builds(
    AdGroupIn,
    name=texts,
    bid=money,
    targeting=st.builds(TargetingIn, ages=targeting_lists, interests=targeting_lists, geo=targeting_lists),
    ads=st.lists(ads, max_size=3),
)


@st.composite
def campaign_trees(draw: st.DrawFn) -> CampaignIn:
    """Any valid campaign tree, small: up to 3 ad groups of up to 3 ads (none is allowed)."""
    start, end = draw(_flights())
    return CampaignIn(
        name=draw(texts),
        budget=draw(money),
        start_date=start,
        end_date=end,
        objective=draw(texts),
        ad_groups=draw(st.lists(ad_groups, max_size=3)),
    )


# -- helpers ----------------------------------------------------------------------------------------


def ad_body(**changes: Any) -> dict[str, Any]:
    return {
        "type": "banner",
        "creative_url": "https://cdn.example.com/creatives/summer_style_urban.jpg",
        "click_url": "https://shop.example.com/urban-summer",
        **changes,
    }


def ad_group_body(**changes: Any) -> dict[str, Any]:
    return {
        "name": "Young Adults - Urban",
        "bid": 2.5,
        "targeting": {
            "ages": ["18-24", "25-34"],
            "interests": ["fashion", "streetwear"],
            "geo": ["UK", "IE"],
        },
        "ads": [ad_body()],
        **changes,
    }


def campaign_body(**changes: Any) -> dict[str, Any]:
    return {
        "name": "Summer Styles 2025",
        "budget": 15000,
        "start_date": "2025-07-01",
        "end_date": "2025-08-15",
        "objective": "engagement",
        "ad_groups": [ad_group_body()],
        **changes,
    }


def submission_body(**campaign_changes: Any) -> dict[str, Any]:
    return {"dsp": "funnelfuel", "campaign": campaign_body(**campaign_changes)}


def refusal(body: dict[str, Any]) -> tuple[tuple[int | str, ...], str]:
    """The location and message of the one error a submission body gets."""
    with pytest.raises(ValidationError) as caught:
        CampaignSubmission.model_validate(body)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return errors[0]["loc"], errors[0]["msg"]


# -- what is accepted -------------------------------------------------------------------------------


def test_a_full_submission_is_read_into_the_tree() -> None:
    """A body shaped like the issue's example gives the campaign → ad group → ad tree, values typed."""
    submission = CampaignSubmission.model_validate(submission_body())

    campaign = submission.campaign
    assert submission.dsp == "funnelfuel"
    assert campaign.budget == Decimal(15000)
    assert campaign.start_date == date(2025, 7, 1)
    assert campaign.ad_groups[0].bid == Decimal("2.5")
    assert campaign.ad_groups[0].targeting.geo == ["UK", "IE"]
    assert campaign.ad_groups[0].ads[0].type == "banner"
    assert campaign.count_nodes() == (1, 1, 1)


def test_the_openapi_example_is_a_valid_submission() -> None:
    """The example the model publishes in its JSON schema validates against the model itself."""
    schema = CampaignSubmission.model_json_schema()

    CampaignSubmission.model_validate(schema["examples"][0])


def test_a_campaign_alone_and_an_ad_group_without_ads_are_accepted() -> None:
    """The DSP creates a campaign alone, so zero ad groups, and zero ads in an ad group, are allowed."""
    alone = CampaignIn.model_validate(campaign_body(ad_groups=[]))
    empty_group = CampaignIn.model_validate(campaign_body(ad_groups=[ad_group_body(ads=[])]))

    assert alone.count_nodes() == (1, 0, 0)
    assert empty_group.count_nodes() == (1, 1, 0)


def test_targeting_lists_and_the_targeting_itself_default_to_empty() -> None:
    """Omitted targeting means no restriction: three empty lists, still all sent to the DSP."""
    group = AdGroupIn.model_validate(ad_group_body(targeting={"geo": ["UK"]}))
    bare = AdGroupIn.model_validate({"name": "x", "bid": 1})

    assert group.targeting == TargetingIn(ages=[], interests=[], geo=["UK"])
    assert bare.to_payload()["targeting"] == {"ages": [], "interests": [], "geo": []}


def test_surrounding_blanks_are_stripped_from_texts() -> None:
    """Names, objective, type, targeting items and URLs lose their surrounding blanks."""
    campaign = CampaignIn.model_validate(
        campaign_body(
            name="  Summer  ",
            objective="engagement\t",
            ad_groups=[
                ad_group_body(
                    targeting={"ages": [" 18-24 "]}, ads=[ad_body(type=" video ", click_url=" https://a.b/ ")]
                )
            ],
        )
    )

    assert campaign.name == "Summer"
    assert campaign.objective == "engagement"
    assert campaign.ad_groups[0].targeting.ages == ["18-24"]
    assert campaign.ad_groups[0].ads[0].type == "video"
    assert campaign.ad_groups[0].ads[0].click_url == "https://a.b/"


def test_a_text_of_255_characters_is_accepted() -> None:
    """255 characters is the longest text."""
    assert CampaignIn.model_validate(campaign_body(name="n" * 255)).name == "n" * 255


def test_urls_are_kept_exactly_as_given() -> None:
    """No normalisation (a trailing slash, a lowercased host): the DSP must get the same bytes each time."""
    url = "HTTPS://CDN.Example.com?x=%20y"

    assert AdIn.model_validate(ad_body(creative_url=url)).creative_url == url


def test_the_limits_themselves_are_accepted() -> None:
    """Exactly 100 ad groups, 100 ads and 100 targeting items pass."""
    groups = [ad_group_body(ads=[])] * MAX_AD_GROUPS_PER_CAMPAIGN
    ads_ = [ad_body()] * MAX_ADS_PER_AD_GROUP
    items = ["x"] * MAX_TARGETING_ITEMS

    assert len(CampaignIn.model_validate(campaign_body(ad_groups=groups)).ad_groups) == 100
    assert len(AdGroupIn.model_validate(ad_group_body(ads=ads_)).ads) == 100
    assert len(TargetingIn.model_validate({"geo": items}).geo) == 100


def test_end_date_on_the_start_date_is_accepted() -> None:
    """A one-day flight (end == start) is valid."""
    campaign = CampaignIn.model_validate(campaign_body(start_date="2025-07-01", end_date="2025-07-01"))

    assert campaign.end_date == campaign.start_date


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (15000, Decimal(15000)),
        (2.5, Decimal("2.5")),
        (0.1, Decimal("0.1")),
        (0.01, Decimal("0.01")),
        (Decimal("2.50"), Decimal("2.5")),
        (999999999999.99, Decimal("999999999999.99")),
    ],
)
def test_money_is_read_into_an_exact_decimal(given: object, expected: Decimal) -> None:
    """JSON numbers (ints, floats) and Decimals become exact Decimals: 0.1 is 0.1, not a binary fraction."""
    assert AdGroupIn.model_validate(ad_group_body(bid=given)).bid == expected


def test_dates_may_be_date_objects_from_python() -> None:
    """A ``date`` (not a datetime) is taken as is from Python callers."""
    campaign = CampaignIn.model_validate(campaign_body(start_date=date(2025, 7, 1)))

    assert campaign.start_date == date(2025, 7, 1)


# -- what is refused, and the message ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "loc", "message"),
    [
        ({"name": ""}, ("name",), "String should have at least 1 character"),
        ({"name": "   "}, ("name",), "String should have at least 1 character"),
        ({"name": "n" * 256}, ("name",), "String should have at most 255 characters"),
        ({"name": 42}, ("name",), "Input should be a valid string"),
        ({"name": "tab\there"}, ("name",), "must not contain control characters"),
        ({"objective": None}, ("objective",), "Input should be a valid string"),
        ({"budget": "15000"}, ("budget",), "must be a number, not a string"),
        (
            {"budget": True},
            ("budget",),
            "Decimal input should be an integer, float, string or Decimal object",
        ),
        ({"budget": 0}, ("budget",), "Input should be greater than 0"),
        ({"budget": -5}, ("budget",), "Input should be greater than 0"),
        ({"budget": 10.005}, ("budget",), "Decimal input should have no more than 2 decimal places"),
        ({"budget": 1e13}, ("budget",), "Input should be less than 1000000000000"),
        ({"budget": float("nan")}, ("budget",), "Input should be a finite number"),
        ({"budget": float("inf")}, ("budget",), "Input should be a finite number"),
        ({"start_date": "2025-7-1"}, ("start_date",), "must be a date written YYYY-MM-DD"),
        ({"start_date": "01/07/2025"}, ("start_date",), "must be a date written YYYY-MM-DD"),
        ({"start_date": "2025-07-01T00:00:00"}, ("start_date",), "must be a date written YYYY-MM-DD"),
        ({"start_date": 1751328000}, ("start_date",), "must be a date written YYYY-MM-DD"),
        ({"start_date": datetime(2025, 7, 1)}, ("start_date",), "must be a date written YYYY-MM-DD"),
        ({"end_date": "2025-02-30"}, ("end_date",), "2025-02-30 is not a calendar date"),
        ({"end_date": "2025-06-30"}, ("end_date",), "must be on or after start_date (2025-07-01)"),
        ({"unknown": 1}, ("unknown",), "Extra inputs are not permitted"),
        ({"ad_groups": {}}, ("ad_groups",), "Input should be a valid list"),
    ],
)
def test_campaign_fields_are_refused_with_a_message_naming_them(
    changes: dict[str, Any], loc: tuple[str, ...], message: str
) -> None:
    """Each bad campaign field gives one error at its own path with a message a user can act on."""
    assert refusal(submission_body(**changes)) == (("campaign", *loc), message)


@pytest.mark.parametrize(
    ("changes", "loc", "message"),
    [
        ({"bid": 0}, ("bid",), "Input should be greater than 0"),
        ({"bid": "2.5"}, ("bid",), "must be a number, not a string"),
        ({"bid": 0.001}, ("bid",), "Decimal input should have no more than 2 decimal places"),
        ({"name": ""}, ("name",), "String should have at least 1 character"),
        ({"targeting": {"ages": "18-24"}}, ("targeting", "ages"), "Input should be a valid list"),
        (
            {"targeting": {"geo": ["UK;IE"]}},
            ("targeting", "geo", 0),
            "must not contain ';' (it separates list items)",
        ),
        ({"targeting": {"geo": [""]}}, ("targeting", "geo", 0), "String should have at least 1 character"),
        ({"targeting": {"geo": [7]}}, ("targeting", "geo", 0), "Input should be a valid string"),
        (
            {"targeting": {"geo": ["x" * 65]}},
            ("targeting", "geo", 0),
            "String should have at most 64 characters",
        ),
        (
            {"targeting": {"geo": ["x"] * 101}},
            ("targeting", "geo"),
            "List should have at most 100 items after validation, not 101",
        ),
        ({"targeting": {"devices": []}}, ("targeting", "devices"), "Extra inputs are not permitted"),
        ({"campaign_id": "cmp_1"}, ("campaign_id",), "Extra inputs are not permitted"),
        (
            {"ads": [ad_body()] * 101},
            ("ads",),
            "List should have at most 100 items after validation, not 101",
        ),
    ],
)
def test_ad_group_fields_are_refused_with_a_message_naming_them(
    changes: dict[str, Any], loc: tuple[str | int, ...], message: str
) -> None:
    """Each bad ad-group field gives one error at its path under ``campaign.ad_groups.<i>``."""
    body = submission_body(ad_groups=[ad_group_body(), ad_group_body(**changes)])

    assert refusal(body) == (("campaign", "ad_groups", 1, *loc), message)


@pytest.mark.parametrize(
    ("changes", "loc", "message"),
    [
        ({"type": ""}, ("type",), "String should have at least 1 character"),
        (
            {"creative_url": "ftp://cdn.example.com/a.jpg"},
            ("creative_url",),
            "must be an http:// or https:// URL",
        ),
        ({"creative_url": "cdn.example.com/a.jpg"}, ("creative_url",), "must be an http:// or https:// URL"),
        ({"click_url": "https:///path"}, ("click_url",), "must name a host (http(s)://host/...)"),
        ({"click_url": "https://[::1"}, ("click_url",), "must be an http:// or https:// URL"),
        (
            {"click_url": "https://shop.example.com/a b"},
            ("click_url",),
            "must not contain spaces (percent-encode them)",
        ),
        (
            {"click_url": "https://e.com/" + "a" * 2048},
            ("click_url",),
            "String should have at most 2048 characters",
        ),
        ({"ad_group_id": "ag_1"}, ("ad_group_id",), "Extra inputs are not permitted"),
    ],
)
def test_ad_fields_are_refused_with_a_message_naming_them(
    changes: dict[str, Any], loc: tuple[str, ...], message: str
) -> None:
    """Each bad ad field gives one error at its path under ``campaign.ad_groups.<i>.ads.<j>``."""
    body = submission_body(ad_groups=[ad_group_body(ads=[ad_body(), ad_body(**changes)])])

    assert refusal(body) == (("campaign", "ad_groups", 0, "ads", 1, *loc), message)


def test_more_than_100_ad_groups_are_refused() -> None:
    """A campaign holds at most 100 ad groups."""
    body = submission_body(ad_groups=[ad_group_body(ads=[])] * 101)

    assert refusal(body) == (
        ("campaign", "ad_groups"),
        "List should have at most 100 items after validation, not 101",
    )


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"campaign": campaign_body()}, ("dsp",)),
        ({"dsp": "funnelfuel"}, ("campaign",)),
        ({**submission_body(), "priority": 1}, ("priority",)),
        ({"dsp": "", "campaign": campaign_body()}, ("dsp",)),
    ],
)
def test_the_envelope_needs_exactly_dsp_and_campaign(body: dict[str, Any], loc: tuple[str, ...]) -> None:
    """``dsp`` and ``campaign`` are required, a blank dsp is refused and nothing else is allowed."""
    assert refusal(body)[0] == loc


def test_every_problem_of_a_body_is_reported_at_once() -> None:
    """Validation does not stop at the first bad field: a user fixes everything in one go."""
    body = submission_body(name="", budget=0, ad_groups=[ad_group_body(ads=[ad_body(click_url="x")])])

    with pytest.raises(ValidationError) as caught:
        CampaignSubmission.model_validate(body)

    assert [error["loc"] for error in caught.value.errors()] == [
        ("campaign", "name"),
        ("campaign", "budget"),
        ("campaign", "ad_groups", 0, "ads", 0, "click_url"),
    ]


def test_models_are_immutable() -> None:
    """A payload fix builds a new model; nothing edits a submitted one in place."""
    campaign = CampaignIn.model_validate(campaign_body())

    with pytest.raises(ValidationError, match="frozen"):
        campaign.name = "other"


def test_json_input_is_validated_the_same_way() -> None:
    """``model_validate_json`` (raw bodies) applies the same rules: a string budget is refused there too."""
    body = submission_body()
    body["campaign"]["budget"] = "15000"

    with pytest.raises(ValidationError, match="must be a number, not a string"):
        CampaignSubmission.model_validate_json(orjson.dumps(body))


# -- payloads and output ----------------------------------------------------------------------------


def test_each_node_gives_its_dsp_body_without_the_parent_id() -> None:
    """Campaign, ad group and ad payloads match the DSP contract, minus the id the engine fills in."""
    campaign = CampaignIn.model_validate(campaign_body())
    group = campaign.ad_groups[0]

    assert campaign.to_payload() == {
        "name": "Summer Styles 2025",
        "budget": 15000,
        "start_date": "2025-07-01",
        "end_date": "2025-08-15",
        "objective": "engagement",
    }
    assert group.to_payload() == {
        "name": "Young Adults - Urban",
        "bid": 2.5,
        "targeting": {
            "ages": ["18-24", "25-34"],
            "interests": ["fashion", "streetwear"],
            "geo": ["UK", "IE"],
        },
    }
    assert group.ads[0].to_payload() == ad_body()


def test_money_is_written_as_a_json_number_int_when_whole() -> None:
    """Payloads and JSON dumps write money as numbers (the DSP takes numbers): 15000, 2.5, 0.1."""
    campaign = CampaignIn.model_validate(
        campaign_body(budget=Decimal("15000.00"), ad_groups=[ad_group_body(bid=0.1)])
    )

    assert orjson.dumps(campaign.to_payload()).startswith(b'{"name":"Summer Styles 2025","budget":15000,')
    assert orjson.dumps(campaign.ad_groups[0].to_payload()["bid"]) == b"0.1"
    dumped = campaign.model_dump(mode="json")
    assert (dumped["budget"], dumped["ad_groups"][0]["bid"]) == (15000, 0.1)


def test_the_json_schema_documents_money_as_a_number_and_dates_as_strings() -> None:
    """The OpenAPI view matches what is accepted: budget a number (no string form), dates ISO strings."""
    campaign = CampaignSubmission.model_json_schema()["$defs"]["CampaignIn"]["properties"]

    assert campaign["budget"]["type"] == "number"
    assert campaign["budget"]["exclusiveMinimum"] == 0
    assert campaign["start_date"] == {
        "format": "date",
        "pattern": r"^\d{4}-\d{2}-\d{2}$",
        "title": "Start Date",
        "type": "string",
    }


@settings(max_examples=150, deadline=None)
@given(campaign_trees())
def test_any_valid_tree_survives_a_json_round_trip(campaign: CampaignIn) -> None:
    """A tree dumped to JSON and validated again is the same tree, and its payloads are plain JSON."""
    submission = CampaignSubmission(dsp="dsp-a", campaign=campaign)

    assert CampaignSubmission.model_validate_json(submission.model_dump_json()) == submission
    assert CampaignSubmission.model_validate(
        orjson.loads(orjson.dumps(submission.model_dump(mode="json")))
    ) == (submission)
    payload = orjson.loads(orjson.dumps(campaign.to_payload()))
    assert Decimal(str(payload["budget"])) == campaign.budget
    for group in campaign.ad_groups:
        assert Decimal(str(orjson.loads(orjson.dumps(group.to_payload()))["bid"])) == group.bid
