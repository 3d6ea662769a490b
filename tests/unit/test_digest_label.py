"""Digest slots and labels: the format, DST edges in America/Chicago, non-US zones."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsline.publish.digest import (
    DigestError,
    digest_label,
    label_for_slot,
    next_slot,
    parse_schedule,
    slot_containing,
)

CHICAGO = "America/Chicago"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def slots(start: datetime, end: datetime, tz: str, schedule: str = "*/30") -> list[datetime]:
    out = [slot_containing(start, tz, schedule)]
    while out[-1] < end:
        out.append(next_slot(out[-1], tz, schedule))
    return out


def test_label_of_the_issue() -> None:
    assert digest_label(utc(2025, 7, 25, 15, 30), CHICAGO) == (
        "The Digest, 7/25/2025 @1030AM, CDT",
        "the-digest-7252025-1030am-cdt",
    )
    # Any instant inside the slot gives the slot's label; one second earlier, the previous one.
    assert (
        digest_label(utc(2025, 7, 25, 15, 59, 59), CHICAGO)[0]
        == "The Digest, 7/25/2025 @1030AM, CDT"
    )
    assert (
        digest_label(utc(2025, 7, 25, 15, 29, 59), CHICAGO)[0]
        == "The Digest, 7/25/2025 @1000AM, CDT"
    )
    # Non-UTC aware input is fine.
    at = datetime(2025, 7, 25, 10, 45, tzinfo=ZoneInfo(CHICAGO))
    assert digest_label(at, CHICAGO)[1] == "the-digest-7252025-1030am-cdt"


def test_winter_is_cst_and_twelve_hour_clock() -> None:
    assert digest_label(utc(2025, 1, 6, 15, 40), CHICAGO) == (
        "The Digest, 1/6/2025 @930AM, CST",
        "the-digest-162025-930am-cst",
    )
    assert (
        digest_label(utc(2025, 12, 31, 18, 5), CHICAGO)[0] == "The Digest, 12/31/2025 @1200PM, CST"
    )
    assert digest_label(utc(2026, 1, 1, 6, 0), CHICAGO)[0] == "The Digest, 1/1/2026 @1200AM, CST"
    assert digest_label(utc(2025, 7, 4, 23, 31), CHICAGO)[0] == "The Digest, 7/4/2025 @630PM, CDT"


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(DigestError):
        digest_label(datetime(2025, 7, 25, 10, 30), CHICAGO)


def test_spring_forward_chicago_2025() -> None:
    # 2025-03-09 02:00 CST -> 03:00 CDT (08:00 UTC): 2:00 and 2:30 do not exist.
    got = slots(utc(2025, 3, 9, 6, 0), utc(2025, 3, 9, 8, 30), CHICAGO)
    labels = [label_for_slot(s, CHICAGO)[0].split(", ", 1)[1] for s in got]
    assert labels == [
        "3/9/2025 @1200AM, CST",
        "3/9/2025 @1230AM, CST",
        "3/9/2025 @100AM, CST",
        "3/9/2025 @130AM, CST",
        "3/9/2025 @300AM, CDT",
        "3/9/2025 @330AM, CDT",
    ]
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(got))


def test_fall_back_chicago_2025_repeated_hour_has_distinct_slots() -> None:
    # 2025-11-02 02:00 CDT -> 01:00 CST (07:00 UTC): 1:00-1:59 happens twice.
    got = slots(utc(2025, 11, 2, 5, 0), utc(2025, 11, 2, 8, 30), CHICAGO)
    titles = [label_for_slot(s, CHICAGO) for s in got]
    assert [t.split(", ", 1)[1] for t, _ in titles] == [
        "11/2/2025 @1200AM, CDT",
        "11/2/2025 @1230AM, CDT",
        "11/2/2025 @100AM, CDT",
        "11/2/2025 @130AM, CDT",
        "11/2/2025 @100AM, CST",
        "11/2/2025 @130AM, CST",
        "11/2/2025 @200AM, CST",
        "11/2/2025 @230AM, CST",
    ]
    slugs = [s for _, s in titles]
    assert len(set(slugs)) == len(slugs)  # no duplicate slot, no duplicate page
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(got))
    # An instant in the second 1:15 belongs to the CST slot, in the first to the CDT one.
    assert digest_label(utc(2025, 11, 2, 6, 15), CHICAGO)[1] == "the-digest-11-2-2025-100am-cdt"
    assert digest_label(utc(2025, 11, 2, 7, 15), CHICAGO)[1] == "the-digest-11-2-2025-100am-cst"


def test_europe_london_gmt_and_bst() -> None:
    london = "Europe/London"
    assert digest_label(utc(2025, 1, 15, 9, 10), london)[0] == "The Digest, 1/15/2025 @900AM, GMT"
    assert digest_label(utc(2025, 7, 15, 9, 10), london)[0] == "The Digest, 7/15/2025 @1000AM, BST"
    # BST ends 2025-10-26 02:00 BST -> 01:00 GMT.
    got = slots(utc(2025, 10, 26, 0, 0), utc(2025, 10, 26, 1, 30), london)
    assert [label_for_slot(s, london)[1].rsplit("-", 2)[1:] for s in got] == [
        ["100am", "bst"],
        ["130am", "bst"],
        ["100am", "gmt"],
        ["130am", "gmt"],
    ]


def test_zone_with_45_minute_offset() -> None:
    # Kathmandu is UTC+05:45: its :00 and :30 are :15 and :45 in UTC.
    slot = slot_containing(utc(2025, 7, 25, 4, 20), "Asia/Kathmandu")
    assert slot == utc(2025, 7, 25, 4, 15)
    assert label_for_slot(slot, "Asia/Kathmandu")[0] == "The Digest, 7/25/2025 @1000AM, +0545"
    assert label_for_slot(slot, "Asia/Kathmandu")[1] == "the-digest-7252025-1000am-0545"


def test_schedules() -> None:
    assert parse_schedule("*/30").minutes == frozenset({0, 30})
    assert parse_schedule("0,30").minutes == frozenset({0, 30})
    assert parse_schedule("*/15").minutes == frozenset({0, 15, 30, 45})
    hourly_daytime = parse_schedule("0 6-22")
    assert hourly_daytime.minutes == frozenset({0}) and min(hourly_daytime.hours) == 6
    # Hourly in daytime only: the slot of 3 AM local is 10 PM the day before.
    assert slot_containing(utc(2025, 7, 25, 8, 0), CHICAGO, "0 6-22") == utc(2025, 7, 25, 3, 0)
    for bad in ("", "61", "*/0", "a", "0 24", "0 1 2"):
        with pytest.raises(DigestError):
            parse_schedule(bad)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from([CHICAGO, "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu"]),
)
def test_slot_contains_the_instant(at: datetime, tz: str) -> None:
    slot = slot_containing(at, tz)
    assert slot <= at < next_slot(slot, tz)
    assert slot.astimezone(ZoneInfo(tz)).minute in (0, 30)


def test_a_whole_year_of_chicago_slots_has_unique_labels() -> None:
    got = slots(utc(2025, 1, 1, 6, 0), utc(2026, 1, 1, 6, 0), CHICAGO)
    assert len(got) == 365 * 48 + 1  # 17,521: a slot every 30 real minutes, none lost
    slugs = {label_for_slot(s, CHICAGO)[1] for s in got}
    assert len(slugs) == len(got)


def test_dates_that_run_together_ambiguously_keep_hyphens() -> None:
    # 1/12 and 11/2 (both CST, same hour) would both squeeze to "1122025".
    jan = digest_label(utc(2025, 1, 12, 16, 0), CHICAGO)
    nov = digest_label(utc(2025, 11, 2, 16, 0), CHICAGO)
    assert jan == ("The Digest, 1/12/2025 @1000AM, CST", "the-digest-1-12-2025-1000am-cst")
    assert nov == ("The Digest, 11/2/2025 @1000AM, CST", "the-digest-11-2-2025-1000am-cst")
    # Unambiguous dates keep the compact form of the spec.
    assert digest_label(utc(2025, 1, 10, 16, 0), CHICAGO)[1] == "the-digest-1102025-1000am-cst"
    assert digest_label(utc(2025, 10, 30, 15, 0), CHICAGO)[1] == "the-digest-10302025-1000am-cdt"
