"""Read flattened campaign CSV files (one row per ad) into campaign trees, with per-row errors.

The format is the FunnelFuel sample's (``tests/fixtures/funnelfuel/dsp_merged_data.csv``): a header
naming the columns in ``COLUMNS`` (any order; ``ad_status``, the DSP-side status of the sample's
origin, is optional and ignored), then one row per ad repeating its campaign's and ad group's fields.
List values (``targeting_*``) are ``;``-separated. Every field is validated by the same models as
``POST /api/campaigns`` (``schemas.py``); this module only maps rows and columns onto them.

Grouping, and the sample's traps:

- rows are grouped into campaigns by ``campaign_id``, in first-seen order, wherever the rows are;
- ad groups are keyed by ``(campaign_id, ad_group_id)``, never by ``ad_group_id`` alone: the sample
  reuses ``ag_1001`` under two campaigns, which are two different ad groups;
- ads are keyed by ``(campaign_id, ad_group_id, ad_id)``: a second row with the same key is refused;
- a row whose ad columns are all empty describes an ad group without ads, and a row whose ad group
  and ad columns are all empty a campaign without ad groups, so every tree the API accepts can be
  written in this format.

Errors (``RowError(line, column, message)``, ``line`` the file line where the row starts): a bad row
is reported and the rest of the file is still read. What a bad row takes with it is the smallest
subtree whose definition is in doubt:

- a bad ad field (missing, bad URL, duplicate ad id, the ad group's ad limit reached): only that ad;
- a bad ad group field (name, bid, targeting) or one contradicting an earlier row of the same ad
  group: the whole ad group, because which bid or targeting was meant is unknowable, and creating it
  with a guess spends the advertiser's money on the wrong terms;
- a bad campaign field (name, budget, dates, objective) or one contradicting an earlier row of the
  same campaign: the whole campaign, for the same reason.

Every data row that is not imported has at least one error on its line (rows dropped with their ad
group or campaign say which line doomed it), and an imported row has none. A campaign or ad group
none of whose rows was imported is not produced. A record the csv module cannot parse (a stray
quote) is one bad row. A missing or wrong header is one error and nothing is imported; so is text
that is not UTF-8, at the line where reading stopped (the rows before it are not imported either:
a campaign would lose the rows after the break).

It streams: rows are read one at a time from any iterable of lines (``read_campaigns_csv``) or a file
(``read_campaigns_csv_file``); only the trees being built and one line number per row are kept.
It must not submit anything or touch storage: that is the engine's.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from crossdock.errors import InvalidInputError
from crossdock.submissions.schemas import (
    LIST_SEPARATOR,
    MAX_AD_GROUPS_PER_CAMPAIGN,
    MAX_ADS_PER_AD_GROUP,
    AdGroupIn,
    AdIn,
    CampaignIn,
    TargetingIn,
)

CAMPAIGN_COLUMNS: Final = ("campaign_name", "campaign_budget", "start_date", "end_date", "objective")
AD_GROUP_COLUMNS: Final = ("ad_group_name", "bid", "targeting_ages", "targeting_interests", "targeting_geo")
AD_COLUMNS: Final = ("ad_type", "creative_url", "click_url")
IGNORED_COLUMNS: Final = ("ad_status",)
COLUMNS: Final = (
    "campaign_id",
    *CAMPAIGN_COLUMNS,
    "ad_group_id",
    *AD_GROUP_COLUMNS,
    "ad_id",
    *AD_COLUMNS,
    *IGNORED_COLUMNS,
)
"""Every column of the format, in the sample's order."""
REQUIRED_COLUMNS: Final = tuple(name for name in COLUMNS if name not in IGNORED_COLUMNS)
TARGETING_COLUMNS: Final = ("targeting_ages", "targeting_interests", "targeting_geo")

# Model field -> column, per node: how a pydantic error's location becomes a column name.
_CAMPAIGN_FIELDS: Final = {
    "name": "campaign_name",
    "budget": "campaign_budget",
    "start_date": "start_date",
    "end_date": "end_date",
    "objective": "objective",
}
_AD_GROUP_FIELDS: Final = {"name": "ad_group_name", "bid": "bid", "targeting": "targeting"}
_TARGETING_FIELDS: Final = {
    "ages": "targeting_ages",
    "interests": "targeting_interests",
    "geo": "targeting_geo",
}
_AD_FIELDS: Final = {"type": "ad_type", "creative_url": "creative_url", "click_url": "click_url"}
_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_BOM: Final = "\ufeff"


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row (or the file, ``column`` None) was not imported: ``line`` is where the row starts."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.column is None else f"line {self.line}, {self.column}"
        return f"{where}: {self.message}"


class ImportedCampaign(NamedTuple):
    """A campaign read from the file, with the ``campaign_id`` it had there."""

    source_id: str
    campaign: CampaignIn


@dataclass(frozen=True, slots=True)
class CsvImportResult:
    """What a file gave: the campaigns (file order), every error (line order) and the counts."""

    campaigns: list[ImportedCampaign]
    errors: list[RowError]
    rows_read: int
    """Data rows read (the header and blank lines not counted)."""
    rows_imported: int

    @property
    def rows_rejected(self) -> int:
        return self.rows_read - self.rows_imported

    @property
    def ad_groups(self) -> int:
        return sum(len(item.campaign.ad_groups) for item in self.campaigns)

    @property
    def ads(self) -> int:
        return sum(len(group.ads) for item in self.campaigns for group in item.campaign.ad_groups)

    @property
    def nodes(self) -> int:
        """Campaigns, ad groups and ads: what the engine will submit."""
        return len(self.campaigns) + self.ad_groups + self.ads


def read_campaigns_csv_file(path: Path) -> CsvImportResult:
    """Read a CSV file (UTF-8, with or without a BOM; any line endings) into campaigns.

    Raises ``InvalidInputError`` when the file cannot be opened; everything about its content is
    reported in the result instead.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            return read_campaigns_csv(stream)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}", code="unreadable_file") from exc


def read_campaigns_csv(lines: Iterable[str]) -> CsvImportResult:
    """Read CSV text, given as lines (a text file opened with ``newline=""`` is best), into campaigns."""
    reader = _Reader()
    records = _records(lines, reader)
    header = next(records, None)
    if header is None:
        if reader.unreadable:
            return reader.result()
        reader.errors.append(RowError(1, None, f"the file is empty: expected a header row ({_expected()})"))
        return reader.result()
    line, cells = header
    columns = _check_header(line, cells, reader.errors)
    if columns is None:
        return reader.result()
    for line, cells in records:
        if isinstance(cells, str):
            reader.rows_read += 1
            reader.reject(line, None, f"malformed CSV: {cells}")
            continue
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or a row of empty cells: nothing to import, nothing wrong
        reader.rows_read += 1
        if len(cells) != len(columns):
            reader.reject(line, None, f"the row has {len(cells)} fields, the header {len(columns)}")
            continue
        reader.read_row(line, {name: cell.strip() for name, cell in zip(columns, cells, strict=True)})
    return reader.result()


# -- reading the file -------------------------------------------------------------------------------


def _records(lines: Iterable[str], into: _Reader) -> Iterator[tuple[int, list[str] | str]]:
    """(line where each record starts, its cells or why it cannot be parsed).

    A record the csv module cannot parse (a quote in the wrong place) is skipped and reading goes on
    at the next line. Text that cannot be decoded ends the reading with one error and marks the import
    unreadable: a campaign whose later rows were never read must not be submitted without them.
    """
    reader = csv.reader(lines, strict=True)
    line = 1
    while True:
        try:
            cells: list[str] | str = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            cells = str(exc)
        except UnicodeDecodeError as exc:
            into.unreadable = True
            message = f"the file is not UTF-8 text ({exc.reason}) from line {line} on; nothing is imported"
            into.reject(line, None, message)
            return
        if line == 1 and cells and isinstance(cells, list):
            cells[0] = cells[0].removeprefix(_BOM)  # a BOM the caller's decoding left in
        yield line, cells
        line = reader.line_num + 1


def _expected() -> str:
    return "columns: " + ", ".join(COLUMNS)


def _check_header(line: int, cells: list[str] | str, errors: list[RowError]) -> list[str] | None:
    if isinstance(cells, str):
        errors.append(RowError(line, None, f"malformed header row: {cells}; expected {_expected()}"))
        return None
    columns = [cell.strip() for cell in cells]
    known = set(COLUMNS)
    if not known.intersection(columns):
        errors.append(RowError(line, None, f"no header row: the first line must name the {_expected()}"))
        return None
    problems = []
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        problems.append("missing columns: " + ", ".join(missing))
    unknown = [name for name in columns if name not in known]
    if unknown:
        problems.append("unknown columns: " + ", ".join(repr(name) for name in unknown))
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        problems.append("repeated columns: " + ", ".join(repeated))
    if problems:
        errors.append(RowError(line, None, f"bad header ({'; '.join(problems)}); expected {_expected()}"))
        return None
    return columns


# -- building the trees -----------------------------------------------------------------------------

Problem = tuple[str | None, str]
"""(column, message) of one thing wrong with a row."""
_Model = TypeVar("_Model", bound=BaseModel)


@dataclass(slots=True)
class _AdGroupDraft:
    source_id: str
    head: AdGroupIn | None  # its fields, ads empty; None while no row defined them validly
    head_line: int
    doomed_at: int | None = None
    lines: list[int] = field(default_factory=list)  # rows accepted for it (ad or ad-group-only rows)
    ads: list[AdIn] = field(default_factory=list)
    ad_lines: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _CampaignDraft:
    source_id: str
    head: CampaignIn | None  # its fields, ad groups empty; None while no row defined them validly
    head_line: int
    doomed_at: int | None = None
    lines: list[int] = field(default_factory=list)  # campaign-only rows accepted
    ad_groups: dict[str, _AdGroupDraft] = field(default_factory=dict)

    def live_ad_groups(self) -> int:
        return sum(1 for group in self.ad_groups.values() if group.doomed_at is None)


class _Reader:
    """Folds rows into campaign drafts; ``result()`` turns the drafts into trees."""

    def __init__(self) -> None:
        self.campaigns: dict[str, _CampaignDraft] = {}
        self.errors: list[RowError] = []
        self.rows_read = 0
        self.unreadable = False

    def reject(self, line: int, column: str | None, message: str) -> None:
        self.errors.append(RowError(line, column, message))

    def read_row(self, line: int, row: Mapping[str, str]) -> None:
        campaign_id = row["campaign_id"]
        if not campaign_id:
            self.reject(line, "campaign_id", "missing value")
            return
        campaign = self._campaign_of(line, campaign_id, row)
        if campaign is None:
            return
        if not any(row[name] for name in ("ad_group_id", *AD_GROUP_COLUMNS, "ad_id", *AD_COLUMNS)):
            campaign.lines.append(line)  # a campaign without ad groups
            return
        group_id = row["ad_group_id"]
        if not group_id:
            self.reject(line, "ad_group_id", "missing value")
            return
        group = self._ad_group_of(line, campaign, group_id, row)
        if group is None:
            return
        if not any(row[name] for name in ("ad_id", *AD_COLUMNS)):
            group.lines.append(line)  # an ad group without ads
            return
        self._add_ad(line, campaign, group, row)

    def _campaign_of(self, line: int, campaign_id: str, row: Mapping[str, str]) -> _CampaignDraft | None:
        head, problems = _campaign_head(row)
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            campaign = self.campaigns[campaign_id] = _CampaignDraft(campaign_id, head, line)
        elif campaign.head is None:
            campaign.head, campaign.head_line = head, line
        elif head is not None:
            problems = _contradictions(head, campaign.head, _CAMPAIGN_FIELDS, campaign.head_line)
        if problems:
            consequence = f"campaign {campaign_id!r} is not imported"
            for column, message in problems:
                self.reject(line, column, f"{message}; {consequence}")
            if campaign.doomed_at is None:
                campaign.doomed_at = line
            return None
        return campaign

    def _ad_group_of(
        self, line: int, campaign: _CampaignDraft, group_id: str, row: Mapping[str, str]
    ) -> _AdGroupDraft | None:
        head, problems = _ad_group_head(row)
        group = campaign.ad_groups.get(group_id)
        if group is None:
            if not problems and campaign.live_ad_groups() >= MAX_AD_GROUPS_PER_CAMPAIGN:
                self.reject(
                    line,
                    "ad_group_id",
                    f"campaign {campaign.source_id!r} already has {MAX_AD_GROUPS_PER_CAMPAIGN} ad groups, "
                    "the most a campaign may have",
                )
                return None
            group = campaign.ad_groups[group_id] = _AdGroupDraft(group_id, head, line)
        elif group.head is None:
            group.head, group.head_line = head, line
        elif head is not None:
            problems = _contradictions(head, group.head, _AD_GROUP_FIELDS, group.head_line)
        if problems:
            consequence = f"ad group {group_id!r} of campaign {campaign.source_id!r} is not imported"
            for column, message in problems:
                self.reject(line, column, f"{message}; {consequence}")
            if group.doomed_at is None:
                group.doomed_at = line
            return None
        return group

    def _add_ad(
        self, line: int, campaign: _CampaignDraft, group: _AdGroupDraft, row: Mapping[str, str]
    ) -> None:
        ad, problems = _ad(row)
        ad_id = row["ad_id"]
        where = f"ad group {group.source_id!r} of campaign {campaign.source_id!r}"
        if ad_id and ad_id in group.ad_lines:
            problems.append(("ad_id", f"ad {ad_id!r} is already in {where} (line {group.ad_lines[ad_id]})"))
        if ad is None or problems:
            for column, message in problems:
                self.reject(line, column, message)
            return
        if len(group.ads) >= MAX_ADS_PER_AD_GROUP:
            self.reject(
                line, "ad_id", f"{where} already has {MAX_ADS_PER_AD_GROUP} ads, the most it may have"
            )
            return
        group.ads.append(ad)
        group.ad_lines[ad_id] = line
        group.lines.append(line)

    def result(self) -> CsvImportResult:
        campaigns: list[ImportedCampaign] = []
        imported = 0
        if self.unreadable:
            self.campaigns.clear()  # its one error says why nothing is imported
        for draft in self.campaigns.values():
            if draft.doomed_at is not None:
                self._dropped(draft.lines, f"campaign {draft.source_id!r}", draft.doomed_at)
                for group in draft.ad_groups.values():
                    self._dropped(group.lines, f"campaign {draft.source_id!r}", draft.doomed_at)
                continue
            groups: list[AdGroupIn] = []
            for group in draft.ad_groups.values():
                if group.doomed_at is not None:
                    where = f"ad group {group.source_id!r} of campaign {draft.source_id!r}"
                    self._dropped(group.lines, where, group.doomed_at)
                elif group.lines and group.head is not None:
                    groups.append(group.head.model_copy(update={"ads": group.ads}))
                    imported += len(group.lines)
            if draft.head is None or not (groups or draft.lines):
                continue  # every row of it failed
            imported += len(draft.lines)
            tree = draft.head.model_copy(update={"ad_groups": groups})
            campaigns.append(ImportedCampaign(draft.source_id, tree))
        self.errors.sort(key=lambda error: error.line)
        return CsvImportResult(campaigns, self.errors, self.rows_read, imported)

    def _dropped(self, lines: list[int], what: str, doomed_at: int) -> None:
        for line in lines:
            self.reject(line, None, f"not imported: {what} is rejected (see line {doomed_at})")


# -- one row's fields -------------------------------------------------------------------------------


def _campaign_head(row: Mapping[str, str]) -> tuple[CampaignIn | None, list[Problem]]:
    problems = _missing(row, CAMPAIGN_COLUMNS)
    budget = _number(row, "campaign_budget", problems)
    data = {
        "name": row["campaign_name"],
        "budget": budget,
        "start_date": row["start_date"],
        "end_date": row["end_date"],
        "objective": row["objective"],
    }
    return _validate(CampaignIn, data, _CAMPAIGN_FIELDS, problems)


def _ad_group_head(row: Mapping[str, str]) -> tuple[AdGroupIn | None, list[Problem]]:
    problems = _missing(row, ("ad_group_name", "bid"))
    bid = _number(row, "bid", problems)
    targeting = {name: _items(row[column], column, problems) for name, column in _TARGETING_FIELDS.items()}
    data = {"name": row["ad_group_name"], "bid": bid, "targeting": targeting}
    return _validate(AdGroupIn, data, _AD_GROUP_FIELDS, problems)


def _ad(row: Mapping[str, str]) -> tuple[AdIn | None, list[Problem]]:
    problems = _missing(row, ("ad_id", *AD_COLUMNS))
    data = {"type": row["ad_type"], "creative_url": row["creative_url"], "click_url": row["click_url"]}
    return _validate(AdIn, data, _AD_FIELDS, problems)


def _missing(row: Mapping[str, str], columns: Iterable[str]) -> list[Problem]:
    return [(column, "missing value") for column in columns if not row[column]]


def _number(row: Mapping[str, str], column: str, problems: list[Problem]) -> Decimal | None:
    text = row[column]
    if not text:
        return None  # reported as missing
    if not _NUMBER.fullmatch(text):
        problems.append((column, f"not a number: {text!r}"))
        return None
    return Decimal(text)


def _items(text: str, column: str, problems: list[Problem]) -> list[str]:
    items = [item.strip() for item in text.split(LIST_SEPARATOR)] if text else []
    if not all(items):  # "a;;b", a trailing ";": probably a lost value, so not silently skipped
        problems.append((column, f"empty item in the {LIST_SEPARATOR!r}-separated list {text!r}"))
    return items


def _validate(
    model: type[_Model], data: Mapping[str, object], columns: Mapping[str, str], problems: list[Problem]
) -> tuple[_Model | None, list[Problem]]:
    """The model, or the row's problems: those found before plus the model's, each under its column."""
    reported = {column for column, _ in problems}  # a missing or unreadable value is reported once
    try:
        instance = model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            column = _column_of(error["loc"], columns)
            if column not in reported and (column, error["msg"]) not in problems:
                problems.append((column, error["msg"]))
        return None, problems
    return (None if problems else instance), problems


def _column_of(loc: tuple[int | str, ...], columns: Mapping[str, str]) -> str | None:
    if not loc:
        return None
    column = columns.get(str(loc[0]))
    if column == "targeting" and len(loc) > 1:
        return _TARGETING_FIELDS.get(str(loc[1]), column)
    return column


def _contradictions(
    new: BaseModel, old: BaseModel, columns: Mapping[str, str], old_line: int
) -> list[Problem]:
    problems: list[Problem] = []
    for name, column in columns.items():
        was, now = getattr(old, name), getattr(new, name)
        if was == now:
            continue
        if isinstance(was, TargetingIn) and isinstance(now, TargetingIn):
            problems.extend(
                (_TARGETING_FIELDS[part], _differs(getattr(now, part), getattr(was, part), old_line))
                for part in _TARGETING_FIELDS
                if getattr(was, part) != getattr(now, part)
            )
        else:
            problems.append((column, _differs(now, was, old_line)))
    return problems


def _differs(now: object, was: object, old_line: int) -> str:
    def shown(value: object) -> str:
        return LIST_SEPARATOR.join(value) if isinstance(value, list) else str(value)

    return f"{shown(now)!r} contradicts {shown(was)!r} on line {old_line}"
