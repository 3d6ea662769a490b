"""The one reader of written dates, for feeds and pages: ISO 8601, RFC 822/2822 and its
common variants, epoch seconds, plain-English forms."""

from __future__ import annotations

import html
import re
import warnings
from datetime import UTC, datetime, timedelta, timezone

from dateutil import parser as dateparser

__all__ = ["parse_datetime", "plausible"]

_TZINFOS = {
    "UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7,
    "MDT": -6, "PST": -8, "PDT": -7, "BST": 1, "CET": 1, "CEST": 2, "MSK": 3, "IST": 5.5,
    "JST": 9, "AEST": 10, "AEDT": 11,
}  # fmt: skip
_TZ = {name: timezone(timedelta(hours=hours)) for name, hours in _TZINFOS.items()}


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
#: The RFC 822 form nearly every RSS feed writes ("Mon, 30 Nov 2026 10:00:00 +0100"), read
#: without dateutil's general parser (~50x slower).
_RFC822 = re.compile(
    r"(?:[A-Za-z]{3}, ?)?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2})(?::(\d{2}))?"
    r" (?:GMT|UTC|UT|Z|([+-])(\d{2})(\d{2}))"
)


def _rfc822(value: str) -> datetime | None:
    match = _RFC822.fullmatch(value)
    month = _MONTHS.get(match[2].lower()) if match else None
    if match is None or month is None:
        return None
    offset = timedelta(hours=int(match[8] or 0), minutes=int(match[9] or 0))
    try:
        when = datetime(
            int(match[3]),
            month,
            int(match[1]),
            int(match[4]),
            int(match[5]),
            int(match[6] or 0),
            tzinfo=timezone(-offset if match[7] == "-" else offset),
        )
    except ValueError:  # 31 November: left to the general parser, which refuses it too
        return None
    return when


def plausible(when: datetime) -> bool:
    """Whether a date can be a news item's: from 1990 to next year (a misread epoch or a
    placeholder year is neither)."""
    return 1990 <= when.year <= datetime.now(UTC).year + 1


def parse_datetime(value: str | None) -> datetime | None:
    """A timezone-aware datetime from an ISO 8601 / RFC 2822 / epoch string, or None.

    Naive values are taken as UTC; implausible years (before 1990, after next year) are
    rejected."""
    if not isinstance(value, str):
        return None
    value = " ".join((html.unescape(value) if "&" in value else value).split())
    if not value:
        return None
    result: datetime | None = None
    if value.isdigit() and len(value) in (10, 13):
        seconds = int(value) / (1000 if len(value) == 13 else 1)
        try:
            result = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif (result := _rfc822(value)) is None:
        try:
            result = datetime.fromisoformat(
                value.replace(" ", "T", 1) if len(value) > 10 else value
            )
        except ValueError:
            try:
                with warnings.catch_warnings():
                    # an unknown zone name leaves the value naive: taken as UTC below
                    warnings.simplefilter("ignore", dateparser.UnknownTimezoneWarning)
                    result = dateparser.parse(value, tzinfos=_TZ)
            except (ValueError, OverflowError, TypeError):
                return None
    if result is None:
        return None
    if result.tzinfo is None or result.utcoffset() is None:
        result = result.replace(tzinfo=UTC)
    return result if plausible(result) else None
