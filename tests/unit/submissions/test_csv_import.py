"""Flattened campaign CSV files (the FunnelFuel format) read into campaign trees, with per-row errors."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossdock.errors import InvalidInputError
from crossdock.submissions.csv_import import (
    COLUMNS,
    CsvImportResult,
    ImportedCampaign,
    RowError,
    read_campaigns_csv,
    read_campaigns_csv_file,
)
from crossdock.submissions.schemas import LIST_SEPARATOR, AdGroupIn, AdIn, CampaignIn, TargetingIn
from tests.unit.submissions.test_schemas import campaign_trees

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "funnelfuel" / "dsp_merged_data.csv"
HEADER = ",".join(COLUMNS)


@pytest.fixture(scope="module")
def sample_lines() -> list[str]:
    """The fixture's data rows (no header, no line ending), in file order: line N is index N - 2."""
    return FIXTURE.read_text(encoding="utf-8").splitlines()[1:]


def read(*rows: str, header: str = HEADER) -> CsvImportResult:
    return read_campaigns_csv(io.StringIO("\n".join([header, *rows]) + "\n", newline=""))


def with_cells(row: str, **cells: str) -> str:
    """A fixture row with some cells replaced (the fixture's rows hold no quoted commas)."""
    values = row.split(",")
    for name, value in cells.items():
        values[COLUMNS.index(name)] = value
    return ",".join(values)


def by_id(result: CsvImportResult) -> dict[str, CampaignIn]:
    return dict(result.campaigns)


def errors_at(result: CsvImportResult) -> list[tuple[int, str | None]]:
    return [(error.line, error.column) for error in result.errors]


def assert_every_rejected_row_is_explained(result: CsvImportResult) -> None:
    """Each row not imported has an error on its line, and no imported row has one."""
    assert len({error.line for error in result.errors}) == result.rows_rejected


# -- the sample -------------------------------------------------------------------------------------


def test_the_sample_gives_six_campaigns_eight_ad_groups_nine_ads() -> None:
    """The fixture's 9 rows are 6 campaigns, 8 ad groups and 9 ads, all imported, no error."""
    result = read_campaigns_csv_file(FIXTURE)

    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (9, 9, 0)
    assert (len(result.campaigns), result.ad_groups, result.ads, result.nodes) == (6, 8, 9, 23)
    assert result.errors == []
    assert [source_id for source_id, _ in result.campaigns] == [
        "cmp_2025_001",
        "cmp_2025_002",
        "cmp_2025_003",
        "cmp_2025_004",
        "cmp_2024_005",
        "cmp_2025_multi_01",
    ]


def test_the_sample_multi_row_campaign_is_one_campaign_of_three_ad_groups() -> None:
    """``cmp_2025_multi_01``'s 4 rows make one campaign; ``ag_3001``'s two rows make one group of 2 ads."""
    multi = by_id(read_campaigns_csv_file(FIXTURE))["cmp_2025_multi_01"]

    assert multi.to_payload() == {
        "name": "Autumn Sale Push",
        "budget": 20000,
        "start_date": "2025-09-01",
        "end_date": "2025-10-15",
        "objective": "conversions",
    }
    assert [(group.name, len(group.ads)) for group in multi.ad_groups] == [
        ("Urban Millennials", 2),
        ("Budget-Conscious Families", 1),
        ("Campus Trendsetters", 1),
    ]
    assert multi.ad_groups[0].targeting == TargetingIn(
        ages=["25-34"], interests=["fashion", "tech"], geo=["UK", "DE"]
    )
    assert [ad.type for ad in multi.ad_groups[0].ads] == ["banner", "video"]
    assert multi.ad_groups[2].bid == Decimal("2.3")


def test_the_sample_ad_group_id_reused_under_two_campaigns_stays_two_ad_groups() -> None:
    """``ag_1001`` under ``cmp_2025_001`` and ``cmp_2025_002`` is two ad groups, each with its own ad."""
    campaigns = by_id(read_campaigns_csv_file(FIXTURE))
    first, second = campaigns["cmp_2025_001"], campaigns["cmp_2025_002"]

    assert len(first.ad_groups) == len(second.ad_groups) == 1
    assert first.ad_groups[0].ads == [
        AdIn(
            type="banner",
            creative_url="https://cdn.example.com/creatives/summer_style_urban.jpg",
            click_url="https://shop.example.com/urban-summer",
        )
    ]
    assert [ad.type for ad in second.ad_groups[0].ads] == ["video"]


def test_the_sample_reads_the_same_with_lf_endings_a_bom_or_as_lines(tmp_path: Path) -> None:
    """CRLF (the fixture) or LF, with a UTF-8 BOM or not, from a file or from lines: the same campaigns."""
    original = read_campaigns_csv_file(FIXTURE)
    text = FIXTURE.read_bytes().decode()
    assert "\r\n" in text
    lf_with_bom = tmp_path / "lf.csv"
    lf_with_bom.write_bytes(b"\xef\xbb\xbf" + text.replace("\r\n", "\n").encode())

    assert read_campaigns_csv_file(lf_with_bom) == original
    assert (
        read_campaigns_csv(io.StringIO("\ufeff" + text, newline="")) == original
    )  # BOM left in by the caller
    assert read_campaigns_csv(text.splitlines()) == original


def test_columns_may_come_in_any_order_and_ad_status_may_be_absent(sample_lines: list[str]) -> None:
    """Columns are found by name; ``ad_status`` (ignored) is optional."""
    rows = list(csv.reader([HEADER, *sample_lines]))
    order = [name for name in reversed(COLUMNS) if name != "ad_status"]
    moved = [",".join(row[COLUMNS.index(name)] for name in order) for row in rows[1:]]

    assert read(*moved, header=",".join(order)).campaigns == read_campaigns_csv_file(FIXTURE).campaigns


# -- rows without ads or ad groups, lists -----------------------------------------------------------


def test_rows_without_ad_or_ad_group_columns_give_empty_nodes(sample_lines: list[str]) -> None:
    """Blank ad columns: an ad group without ads; blank ad-group and ad columns: a campaign alone."""
    ad_blank = {name: "" for name in ("ad_id", "ad_type", "creative_url", "click_url", "ad_status")}
    group_blank = {name: "" for name in COLUMNS[6:12]}
    result = read(
        with_cells(sample_lines[0], **ad_blank),
        with_cells(sample_lines[1], **ad_blank, **group_blank),
    )

    campaigns = by_id(result)
    assert result.errors == []
    assert campaigns["cmp_2025_001"].count_nodes() == (1, 1, 0)
    assert campaigns["cmp_2025_002"].count_nodes() == (1, 0, 0)


def test_list_cells_are_split_on_semicolons_and_stripped(sample_lines: list[str]) -> None:
    """``18-24; 25-34`` is two ages; an empty cell is an empty list."""
    result = read(with_cells(sample_lines[0], targeting_ages="18-24; 25-34 ", targeting_interests=""))

    targeting = result.campaigns[0].campaign.ad_groups[0].targeting
    assert targeting == TargetingIn(ages=["18-24", "25-34"], interests=[], geo=["UK", "IE"])


def test_blank_lines_are_skipped_and_not_counted(sample_lines: list[str]) -> None:
    """Empty lines (and rows of empty cells) are neither rows nor errors."""
    result = read(sample_lines[0], "", "," * (len(COLUMNS) - 1), sample_lines[1])

    assert (result.rows_read, len(result.campaigns), result.errors) == (2, 2, [])


# -- the header ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty: expected a header row (columns: campaign_id, campaign_name,"),
        ("\n\n", "no header row: the first line must name the columns: campaign_id,"),
        (
            "cmp_1,Summer,15000,2025-07-01,2025-08-15,engagement,ag_1,G,2.5,,,,ad_1,banner,https://a.b,https://c.d\n",
            "no header row: the first line must name the columns: campaign_id,",
        ),
        (
            HEADER.replace("campaign_budget", "budget").replace("bid", "bid_amount") + ",notes\n",
            "bad header (missing columns: campaign_budget, bid; "
            "unknown columns: 'budget', 'bid_amount', 'notes')",
        ),
        (HEADER + ",bid\n", "bad header (repeated columns: bid); expected columns: campaign_id,"),
        ('campaign_id,"campaign_name\n', "malformed header row: unexpected end of data; expected columns:"),
    ],
)
def test_a_bad_header_is_one_error_and_nothing_is_imported(text: str, message: str) -> None:
    """No header, a missing, unknown or repeated column: one error on line 1 saying what is expected."""
    rows = "".join(f"{line}\n" for line in FIXTURE.read_text().splitlines()[1:])
    result = read_campaigns_csv(io.StringIO(text + (rows if text.strip() else ""), newline=""))

    assert len(result.errors) == 1
    assert (result.errors[0].line, result.errors[0].column) == (1, None)
    assert result.errors[0].message.startswith(message)
    assert result.campaigns == []


def test_a_header_without_rows_is_an_empty_import() -> None:
    """A header alone is valid: nothing to import, nothing wrong."""
    result = read()

    assert (result.campaigns, result.errors, result.rows_read) == ([], [], 0)


# -- bad rows: what each takes with it ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        ({"campaign_name": ""}, "campaign_name", "missing value"),
        ({"campaign_budget": "15k"}, "campaign_budget", "not a number: '15k'"),
        ({"campaign_budget": "1e4"}, "campaign_budget", "not a number: '1e4'"),
        ({"campaign_budget": "0"}, "campaign_budget", "Input should be greater than 0"),
        (
            {"campaign_budget": "10.005"},
            "campaign_budget",
            "Decimal input should have no more than 2 decimal places",
        ),
        ({"start_date": "01/07/2025"}, "start_date", "must be a date written YYYY-MM-DD"),
        ({"end_date": "2025-06-31"}, "end_date", "2025-06-31 is not a calendar date"),
        ({"end_date": "2025-06-30"}, "end_date", "must be on or after start_date (2025-07-01)"),
        ({"objective": ""}, "objective", "missing value"),
    ],
)
def test_a_bad_campaign_field_drops_its_campaign_only(
    sample_lines: list[str], cells: dict[str, str], column: str, message: str
) -> None:
    """A bad campaign-level cell is reported at its line and column; the other campaigns are imported."""
    result = read(sample_lines[0], with_cells(sample_lines[1], **cells), sample_lines[2])

    assert [source_id for source_id, _ in result.campaigns] == ["cmp_2025_001", "cmp_2025_003"]
    assert result.errors == [RowError(3, column, f"{message}; campaign 'cmp_2025_002' is not imported")]
    assert (result.rows_read, result.rows_imported) == (3, 2)


def test_a_contradicting_campaign_row_drops_the_whole_campaign(sample_lines: list[str]) -> None:
    """A budget unlike the campaign's first row's: every row of that campaign is rejected and says why."""
    multi = sample_lines[5:9]  # lines 7 to 10
    result = read(*sample_lines[:5], multi[0], with_cells(multi[1], campaign_budget="21000"), *multi[2:])

    assert "cmp_2025_multi_01" not in by_id(result)
    assert len(result.campaigns) == 5
    assert errors_at(result) == [(7, None), (8, "campaign_budget"), (9, None), (10, None)]
    assert result.errors[1].message == (
        "'21000' contradicts '20000' on line 7; campaign 'cmp_2025_multi_01' is not imported"
    )
    assert result.errors[0].message == "not imported: campaign 'cmp_2025_multi_01' is rejected (see line 8)"
    assert_every_rejected_row_is_explained(result)


def test_equal_values_written_differently_do_not_contradict(sample_lines: list[str]) -> None:
    """``20000`` and ``20000.00`` are the same budget; comparisons are on values, not on text."""
    multi = sample_lines[5:9]
    result = read(multi[0], with_cells(multi[1], campaign_budget="20000.00", bid="2.80"), *multi[2:])

    assert result.errors == []
    assert result.campaigns[0].campaign.count_nodes() == (1, 3, 4)


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        ({"bid": "1.9"}, "bid", "'1.9' contradicts '2.8' on line 2"),
        ({"ad_group_name": "Other"}, "ad_group_name", "'Other' contradicts 'Urban Millennials' on line 2"),
        ({"targeting_geo": "UK"}, "targeting_geo", "'UK' contradicts 'UK;DE' on line 2"),
        ({"bid": "-1"}, "bid", "Input should be greater than 0"),
        ({"bid": ""}, "bid", "missing value"),
        ({"targeting_ages": "25-34;;"}, "targeting_ages", "empty item in the ';'-separated list '25-34;;'"),
        ({"targeting_geo": "UK;" + "x" * 65}, "targeting_geo", "String should have at most 64 characters"),
    ],
)
def test_a_bad_or_contradicting_ad_group_row_drops_that_ad_group_only(
    sample_lines: list[str], cells: dict[str, str], column: str, message: str
) -> None:
    """``ag_3001``'s second row is wrong: both its rows go, the campaign keeps its two other ad groups."""
    multi = sample_lines[5:9]
    result = read(multi[0], with_cells(multi[1], **cells), *multi[2:])

    campaign = by_id(result)["cmp_2025_multi_01"]
    assert [group.name for group in campaign.ad_groups] == [
        "Budget-Conscious Families",
        "Campus Trendsetters",
    ]
    assert result.errors == [
        RowError(
            2,
            None,
            "not imported: ad group 'ag_3001' of campaign 'cmp_2025_multi_01' is rejected (see line 3)",
        ),
        RowError(3, column, f"{message}; ad group 'ag_3001' of campaign 'cmp_2025_multi_01' is not imported"),
    ]
    assert_every_rejected_row_is_explained(result)


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        ({"click_url": "shop.example.com/x"}, "click_url", "must be an http:// or https:// URL"),
        ({"creative_url": ""}, "creative_url", "missing value"),
        ({"ad_type": ""}, "ad_type", "missing value"),
        ({"ad_id": ""}, "ad_id", "missing value"),
        (
            {"ad_id": "ad_9001"},
            "ad_id",
            "ad 'ad_9001' is already in ad group 'ag_3001' of campaign 'cmp_2025_multi_01' (line 2)",
        ),
    ],
)
def test_a_bad_ad_row_drops_only_its_ad(
    sample_lines: list[str], cells: dict[str, str], column: str, message: str
) -> None:
    """A bad ad cell, or an ad id already in its ad group: that ad only; its ad group and campaign stay."""
    multi = sample_lines[5:9]
    result = read(multi[0], with_cells(multi[1], **cells), *multi[2:])

    campaign = by_id(result)["cmp_2025_multi_01"]
    assert campaign.count_nodes() == (1, 3, 3)
    assert [len(group.ads) for group in campaign.ad_groups] == [1, 1, 1]
    assert result.errors == [RowError(3, column, message)]


def test_every_bad_cell_of_a_row_is_reported(sample_lines: list[str]) -> None:
    """A row with two bad ad cells gets two errors, so a user fixes both in one go."""
    result = read(with_cells(sample_lines[0], ad_type="", click_url="nope"))

    assert errors_at(result) == [(2, "ad_type"), (2, "click_url")]


def test_a_campaign_whose_rows_all_failed_is_not_produced(sample_lines: list[str]) -> None:
    """If none of a campaign's rows is imported (bad ads only), there is no campaign, not an empty one."""
    multi = sample_lines[5:9]
    result = read(sample_lines[0], *(with_cells(row, creative_url="x") for row in multi))

    assert [source_id for source_id, _ in result.campaigns] == ["cmp_2025_001"]
    assert [error.line for error in result.errors] == [3, 4, 5, 6]


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("cmp_1,Summer", None, "the row has 2 fields, the header 17"),
        ("cmp_1" + "," * 17, None, "the row has 18 fields, the header 17"),
        ('cmp_1,"Sum"mer,15000', None, "malformed CSV: ',' expected after '\"'"),
    ],
)
def test_a_row_that_is_not_a_row_of_the_format_is_skipped(
    sample_lines: list[str], row: str, column: str | None, message: str
) -> None:
    """Too few or too many cells, or a stray quote: that row is reported and reading goes on."""
    result = read(sample_lines[0], row, sample_lines[1])

    assert len(result.campaigns) == 2
    assert result.errors == [RowError(3, column, message)]
    assert (result.rows_read, result.rows_rejected) == (3, 1)


def test_rows_without_their_keys_are_rejected(sample_lines: list[str]) -> None:
    """No campaign_id, or an ad without an ad_group_id: the row cannot be placed in a tree."""
    result = read(with_cells(sample_lines[0], campaign_id=""), with_cells(sample_lines[1], ad_group_id=""))

    assert result.campaigns == []
    assert result.errors == [
        RowError(2, "campaign_id", "missing value"),
        RowError(3, "ad_group_id", "missing value"),
    ]


def test_line_numbers_are_where_a_row_starts_even_after_quoted_newlines(sample_lines: list[str]) -> None:
    """A quoted cell spanning two lines shifts the next rows' line numbers, as an editor shows them."""
    multi_line = with_cells(sample_lines[0], campaign_name='"Summer\nStyles"')
    result = read(multi_line, with_cells(sample_lines[1], bid="x"))

    assert errors_at(result) == [(2, "campaign_name"), (4, "bid")]
    assert result.errors[0].message.startswith("must not contain control characters")


def test_the_limits_of_ad_groups_and_ads_drop_only_the_rows_beyond(sample_lines: list[str]) -> None:
    """The 101st ad group of a campaign and the 101st ad of an ad group are refused, the first 100 kept."""
    ads = [with_cells(sample_lines[0], ad_id=f"ad_{n}") for n in range(101)]
    groups = [with_cells(sample_lines[1], ad_group_id=f"ag_{n}") for n in range(101)]
    result = read(*ads, *groups)

    campaigns = by_id(result)
    assert campaigns["cmp_2025_001"].count_nodes() == (1, 1, 100)
    assert campaigns["cmp_2025_002"].count_nodes() == (1, 100, 100)
    assert result.errors == [
        RowError(
            102,
            "ad_id",
            "ad group 'ag_1001' of campaign 'cmp_2025_001' already has 100 ads, the most it may have",
        ),
        RowError(
            203,
            "ad_group_id",
            "campaign 'cmp_2025_002' already has 100 ad groups, the most a campaign may have",
        ),
    ]


def test_errors_are_in_line_order_whatever_rejected_them(sample_lines: list[str]) -> None:
    """Errors found at the end (rows dropped with a later-rejected campaign) are sorted in with the rest."""
    multi = sample_lines[5:9]
    result = read(multi[0], with_cells(sample_lines[0], bid="x"), with_cells(multi[1], objective="awareness"))

    assert [error.line for error in result.errors] == [2, 3, 4]
    assert str(result.errors[0]) == (
        "line 2: not imported: campaign 'cmp_2025_multi_01' is rejected (see line 4)"
    )


# -- the file ---------------------------------------------------------------------------------------


def test_text_that_is_not_utf8_imports_nothing(tmp_path: Path) -> None:
    """Undecodable bytes end the reading with one error, and nothing read before is imported."""
    path = tmp_path / "latin1.csv"
    path.write_bytes(FIXTURE.read_bytes().replace(b"Summer Styles", "Été Styles".encode("latin-1")))

    result = read_campaigns_csv_file(path)

    assert result.campaigns == []
    assert len(result.errors) == 1
    assert result.errors[0].message.startswith("the file is not UTF-8 text (invalid continuation byte)")
    assert result.errors[0].message.endswith("nothing is imported")


def test_a_missing_file_is_an_invalid_input_error(tmp_path: Path) -> None:
    """A file that cannot be opened raises ``InvalidInputError`` naming it (the CLI gives it an exit code)."""
    with pytest.raises(InvalidInputError, match=r"cannot read .*absent\.csv: No such file or directory"):
        read_campaigns_csv_file(tmp_path / "absent.csv")


def test_a_large_file_is_read_row_by_row_from_a_generator() -> None:
    """10,000 nodes (100 campaigns x 9 ad groups x 10 ads) stream from a lazy source, grouped right."""
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        yield HEADER + "\n"
        for row in range(9_000):
            consumed += 1
            campaign, group, ad = row % 100, (row // 100) % 9, row // 900
            yield (
                f"cmp_{campaign},Campaign {campaign},{1000 + campaign},2025-07-01,2025-08-15,reach,"
                f"ag_{group},Group {group},1.25,18-24,news,UK,ad_{ad},banner,"
                f"https://cdn.example.com/{campaign}/{group}/{ad}.jpg,https://shop.example.com/{ad},pending\n"
            )

    result = read_campaigns_csv(lines())

    assert consumed == 9_000
    assert (len(result.campaigns), result.ad_groups, result.ads, result.nodes) == (100, 900, 9_000, 10_000)
    assert result.errors == []
    assert result.campaigns[42] == ImportedCampaign("cmp_42", result.campaigns[42].campaign)
    assert [len(group.ads) for group in result.campaigns[42].campaign.ad_groups] == [10] * 9


# -- any valid tree survives the format --------------------------------------------------------------


def csv_rows(source_id: str, campaign: CampaignIn) -> list[list[str]]:
    """The rows of one tree in the format: one per ad, plus one per empty ad group or empty campaign."""
    head = [
        source_id,
        campaign.name,
        f"{campaign.budget:f}",
        campaign.start_date.isoformat(),
        campaign.end_date.isoformat(),
        campaign.objective,
    ]
    if not campaign.ad_groups:
        return [head + [""] * 11]
    rows = []
    for number, group in enumerate(campaign.ad_groups):
        lists = [
            LIST_SEPARATOR.join(items)
            for items in (group.targeting.ages, group.targeting.interests, group.targeting.geo)
        ]
        group_cells = [f"ag_{number}", group.name, f"{group.bid:f}", *lists]
        if not group.ads:
            rows.append(head + group_cells + [""] * 5)
        for ad_number, ad in enumerate(group.ads):
            rows.append(
                [*head, *group_cells, f"ad_{ad_number}", ad.type, ad.creative_url, ad.click_url, "pending"]
            )
    return rows


@settings(max_examples=100, deadline=None)
@given(
    trees=st.lists(campaign_trees(), min_size=1, max_size=4),
    data=st.data(),
    line_ending=st.sampled_from(["\r\n", "\n"]),
    bom=st.booleans(),
)
def test_any_valid_trees_written_as_csv_read_back_the_same(
    trees: list[CampaignIn], data: st.DataObject, line_ending: str, bom: bool
) -> None:
    """Trees written one row per ad, campaigns' rows interleaved in any order, read back identical."""
    per_campaign = {f"cmp_{number}": csv_rows(f"cmp_{number}", tree) for number, tree in enumerate(trees)}
    order = data.draw(st.permutations([source for source, rows in per_campaign.items() for _ in rows]))
    pending = {source: iter(rows) for source, rows in per_campaign.items()}
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator=line_ending)
    writer.writerow(COLUMNS)
    writer.writerows(next(pending[source]) for source in order)

    result = read_campaigns_csv(io.StringIO(("\ufeff" if bom else "") + text.getvalue(), newline=""))

    assert result.errors == []
    first_seen = list(dict.fromkeys(order))
    trees_by_source = {f"cmp_{number}": tree for number, tree in enumerate(trees)}
    assert result.campaigns == [ImportedCampaign(source, trees_by_source[source]) for source in first_seen]
    assert result.rows_imported == result.rows_read == len(order)


def test_the_round_trip_helper_covers_empty_nodes() -> None:
    """The property's writer gives a campaign alone and an ad group without ads a row each."""
    lone = CampaignIn(
        name="Lone",
        budget=Decimal("10.50"),
        start_date=date(2025, 1, 1),
        end_date=date(2025, 1, 2),
        objective="reach",
        ad_groups=[AdGroupIn(name="Empty", bid=Decimal(1))],
    )

    assert csv_rows("cmp_x", lone) == [
        ["cmp_x", "Lone", "10.50", "2025-01-01", "2025-01-02", "reach", "ag_0", "Empty", "1", "", "", ""]
        + [""] * 5
    ]
