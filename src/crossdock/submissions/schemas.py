"""Pydantic I/O of the submission API: a campaign tree as ``POST /api/campaigns`` receives it.

``CampaignSubmission`` is the request body ``{"dsp": NAME, "campaign": {...}}``; ``CampaignIn`` →
``AdGroupIn`` → ``AdIn`` is the tree, ``TargetingIn`` an ad group's targeting. The CSV import
(``csv_import.py``) builds the same models, so both entrances share one set of rules. Each node gives
the body the DSP receives for it (``to_payload()``) minus its parent's DSP id, which only the engine
knows once the parent is created.

What is checked here is the *shape* a DSP accepts, so that a malformed submission is refused at once
with a message naming the field instead of failing later, node by node:

- every model refuses unknown fields and is immutable (a payload fix makes a new model);
- texts (names, objective, ad type) are 1 to 255 characters once surrounding blanks are stripped, with
  no control characters; a number or a list is not a text;
- money (``budget``, ``bid``) is a ``Decimal``, more than 0, at most ``999,999,999,999.99``, with at
  most 2 decimal places (cents). The API takes it as a JSON *number*, never a string, because that is
  what the DSP's contract takes; JSON output (``model_dump(mode="json")``, the payloads) writes it back
  as a number: an ``int`` when whole, else a ``float`` (exact: 14 significant digits at most);
- dates are ISO ``YYYY-MM-DD`` strings (or ``date`` objects from Python), ``end_date >= start_date``;
- URLs are ``http``/``https`` with a host, kept exactly as given (no normalisation: the DSP must
  receive the same bytes every time a node is re-sent under one idempotency key);
- targeting lists hold at most 100 short strings (1 to 64 characters, no ``;`` — the CSV format's list
  separator — and no control characters); each list defaults to empty, as does the whole targeting;
- a campaign may have no ad group and an ad group no ad (the DSP creates a campaign alone), but at
  most ``MAX_AD_GROUPS_PER_CAMPAIGN`` and ``MAX_ADS_PER_AD_GROUP`` (constants until settings need them).

What is *not* checked here is each DSP's business rules (which ad types, objectives, age-range
notations or geo codes it supports): they differ per DSP and come back from it as an asynchronous
``Error`` with its own message, which the engine keeps. Whether ``dsp`` names a configured DSP is the
service's check against the settings.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, TypedDict
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

MAX_AD_GROUPS_PER_CAMPAIGN: Final = 100
MAX_ADS_PER_AD_GROUP: Final = 100
MAX_TEXT_LENGTH: Final = 255
MAX_URL_LENGTH: Final = 2048
MAX_TARGETING_ITEMS: Final = 100
MAX_TARGETING_ITEM_LENGTH: Final = 64
MONEY_LIMIT: Final = 10**12
"""Money is below this (so at most 999,999,999,999.99: 14 digits, exact as a float too)."""
MONEY_DECIMAL_PLACES: Final = 2
LIST_SEPARATOR: Final = ";"
"""Separator of list values in the CSV format; a targeting item may not contain it."""

_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


# -- field types ------------------------------------------------------------------------------------


def _no_control_characters(value: str) -> str:
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return value


def _money_input(value: object) -> object:
    # pydantic would parse "12.50" into a Decimal; the contract (ours and the DSP's) says number.
    if isinstance(value, str):
        raise PydanticCustomError("money_type", "must be a number, not a string")
    return value


def _money_output(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _iso_date(value: object) -> object:
    # pydantic's own date parsing also takes timestamps, datetimes and "2025-07-01T00:00": not here.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "date_value", "{value} is not a calendar date", {"value": value}
            ) from None
    raise PydanticCustomError("date_format", "must be a date written YYYY-MM-DD")


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https"):
        raise PydanticCustomError("url_scheme", "must be an http:// or https:// URL")
    if not host:
        raise PydanticCustomError("url_host", "must name a host (http(s)://host/...)")
    if any(char.isspace() for char in value):
        raise PydanticCustomError("url_spaces", "must not contain spaces (percent-encode them)")
    return value


def _no_list_separator(value: str) -> str:
    if LIST_SEPARATOR in value:
        raise PydanticCustomError("targeting_separator", "must not contain ';' (it separates list items)")
    return value


Text = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=MAX_TEXT_LENGTH),
    AfterValidator(_no_control_characters),
]
"""A name-like text: 1 to 255 characters after stripping surrounding blanks, no control characters."""

Money = Annotated[
    Decimal,
    BeforeValidator(_money_input),
    Field(gt=0, lt=MONEY_LIMIT, decimal_places=MONEY_DECIMAL_PLACES),
    PlainSerializer(_money_output, return_type=int | float, when_used="json"),
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": MONEY_LIMIT,
            "multipleOf": 0.01,
            "description": "An amount with at most 2 decimal places, more than 0",
        }
    ),
]
"""An amount of money: a Decimal from a JSON number, written back as a JSON number."""

IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}),
]

HttpUrl = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=MAX_URL_LENGTH),
    AfterValidator(_http_url),
    WithJsonSchema({"type": "string", "format": "uri", "maxLength": MAX_URL_LENGTH}),
]
"""An http(s) URL, kept as given (pydantic's URL types would normalise it: a trailing slash added...)."""

TargetingItem = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=MAX_TARGETING_ITEM_LENGTH),
    AfterValidator(_no_control_characters),
    AfterValidator(_no_list_separator),
]

TargetingList = Annotated[list[TargetingItem], Field(max_length=MAX_TARGETING_ITEMS)]


# -- wire payloads ----------------------------------------------------------------------------------


class CampaignPayload(TypedDict):
    """The body of the DSP's ``POST /v1/campaigns``."""

    name: str
    budget: int | float
    start_date: str
    end_date: str
    objective: str


class TargetingPayload(TypedDict):
    ages: list[str]
    interests: list[str]
    geo: list[str]


class AdGroupPayload(TypedDict):
    """The body of the DSP's ``POST /v1/ad-groups`` without ``campaign_id`` (the engine adds it)."""

    name: str
    bid: int | float
    targeting: TargetingPayload


class AdPayload(TypedDict):
    """The body of the DSP's ``POST /v1/ads`` without ``ad_group_id`` (the engine adds it)."""

    type: str
    creative_url: str
    click_url: str


# -- the tree ---------------------------------------------------------------------------------------

_MODEL_CONFIG: Final = ConfigDict(extra="forbid", frozen=True)


class TargetingIn(BaseModel):
    """Who an ad group targets; an empty list means no restriction on that dimension."""

    model_config = _MODEL_CONFIG

    ages: TargetingList = Field(default_factory=list, description="Age ranges, e.g. 18-24 or 65+")
    interests: TargetingList = Field(default_factory=list, description="Interest categories")
    geo: TargetingList = Field(default_factory=list, description="Geographic targets, e.g. UK")

    def to_payload(self) -> TargetingPayload:
        return {"ages": list(self.ages), "interests": list(self.interests), "geo": list(self.geo)}


class AdIn(BaseModel):
    """One ad of an ad group."""

    model_config = _MODEL_CONFIG

    type: Text = Field(description="Ad format as the DSP names it: banner, video, native, ...")
    creative_url: HttpUrl = Field(description="Where the DSP fetches the creative")
    click_url: HttpUrl = Field(description="Where a click leads")

    def to_payload(self) -> AdPayload:
        """The DSP body of this ad, without ``ad_group_id``."""
        return {"type": self.type, "creative_url": self.creative_url, "click_url": self.click_url}


class AdGroupIn(BaseModel):
    """One ad group of a campaign and its ads (none is allowed)."""

    model_config = _MODEL_CONFIG

    name: Text
    bid: Money = Field(description="Bid per unit the DSP charges, at most 2 decimal places")
    targeting: TargetingIn = Field(default_factory=TargetingIn)
    ads: list[AdIn] = Field(default_factory=list, max_length=MAX_ADS_PER_AD_GROUP)

    def to_payload(self) -> AdGroupPayload:
        """The DSP body of this ad group, without ``campaign_id`` (and without its ads)."""
        return {"name": self.name, "bid": _money_output(self.bid), "targeting": self.targeting.to_payload()}


class CampaignIn(BaseModel):
    """A campaign and its ad groups (none is allowed)."""

    model_config = _MODEL_CONFIG

    name: Text
    budget: Money = Field(description="Total budget, at most 2 decimal places")
    start_date: IsoDate
    end_date: IsoDate = Field(description="Last day of the flight, on or after start_date")
    objective: Text = Field(
        description="Campaign objective as the DSP names it: engagement, conversions, ..."
    )
    ad_groups: list[AdGroupIn] = Field(default_factory=list, max_length=MAX_AD_GROUPS_PER_CAMPAIGN)

    @field_validator("end_date")
    @classmethod
    def _ends_after_start(cls, end_date: date, info: ValidationInfo) -> date:
        start_date = info.data.get("start_date")  # absent when it failed its own check
        if start_date is not None and end_date < start_date:
            raise PydanticCustomError(
                "date_order",
                "must be on or after start_date ({start_date})",
                {"start_date": start_date.isoformat()},
            )
        return end_date

    def to_payload(self) -> CampaignPayload:
        """The DSP body of this campaign (its ad groups are separate requests)."""
        return {
            "name": self.name,
            "budget": _money_output(self.budget),
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "objective": self.objective,
        }

    def count_nodes(self) -> tuple[int, int, int]:
        """(campaigns, ad groups, ads) in this tree: ``(1, groups, ads)``."""
        return 1, len(self.ad_groups), sum(len(group.ads) for group in self.ad_groups)


_EXAMPLE: Final[dict[str, Any]] = {
    "dsp": "funnelfuel",
    "campaign": {
        "name": "Autumn Sale Push",
        "budget": 20000,
        "start_date": "2025-09-01",
        "end_date": "2025-10-15",
        "objective": "conversions",
        "ad_groups": [
            {
                "name": "Urban Millennials",
                "bid": 2.8,
                "targeting": {"ages": ["25-34"], "interests": ["fashion", "tech"], "geo": ["UK", "DE"]},
                "ads": [
                    {
                        "type": "banner",
                        "creative_url": "https://cdn.example.com/banners/millennials_banner.jpg",
                        "click_url": "https://shop.example.com/autumn-millennials",
                    }
                ],
            }
        ],
    },
}


class CampaignSubmission(BaseModel):
    """The body of ``POST /api/campaigns``: a campaign tree to create on one configured DSP."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [_EXAMPLE]})

    dsp: Text = Field(description="Name of a DSP configured in CROSSDOCK_SUBMISSIONS_DSPS")
    campaign: CampaignIn


# -- answers of the HTTP API ---------------------------------------------------------------------------


class SubmittedAnswer(BaseModel):
    """``POST /api/campaigns`` (202): the campaign's id and its seed status."""

    id: str
    status: str


class NodeRead(BaseModel):
    """One node of a campaign tree, as ``GET /api/campaigns/{id}`` shows it."""

    id: str
    kind: str
    state: str
    status: str
    error_message: str | None
    external_id: str | None
    attempts: int
    payload_version: int
    last_error: str | None
    children: list[NodeRead] = Field(default_factory=list)


class CampaignRead(BaseModel):
    """A submitted campaign: its seed status and its tree (the campaign node and its descendants)."""

    id: str
    dsp: str
    name: str
    status: str
    error_message: str | None
    created_at: datetime
    tree: NodeRead


class ActionAnswer(BaseModel):
    """``retry`` and ``cancel`` (202): how many nodes changed, and the campaign's status now."""

    id: str
    status: str
    nodes_changed: int


class CampaignListItem(BaseModel):
    """One campaign of ``GET /api/campaigns``."""

    id: str
    dsp: str
    name: str
    status: str
    error_message: str | None
    created_at: datetime
    nodes: dict[str, int] = Field(description="How many nodes are in each state")


class CampaignPage(BaseModel):
    campaigns: list[CampaignListItem]
    next_cursor: str | None
