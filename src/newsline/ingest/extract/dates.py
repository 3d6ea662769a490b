"""Dates: parse the many ways pages write them; find one in the URL or, last, with htmldate."""

from __future__ import annotations

import logging
import re
import warnings
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

from dateutil import parser as dateparser
from htmldate import find_date
from lxml import html as lxml_html

from newsline.ingest.extract.textutil import clean

__all__ = ["fallback_date", "parse_datetime", "url_date"]

log = logging.getLogger(__name__)

_TZINFOS = {
    "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7,
    "MDT": -6, "PST": -8, "PDT": -7, "BST": 1, "CET": 1, "CEST": 2, "MSK": 3, "IST": 5.5,
    "JST": 9, "AEST": 10, "AEDT": 11,
}  # fmt: skip
_TZ = {name: timezone(timedelta(hours=hours)) for name, hours in _TZINFOS.items()}


def parse_datetime(value: str | None) -> datetime | None:
    """A timezone-aware datetime from an ISO 8601 / RFC 2822 / epoch string, or None.

    Naive values are taken as UTC; implausible years (before 1990, after next year) are
    rejected."""
    value = clean(value)
    if not value:
        return None
    result: datetime | None = None
    if value.isdigit() and len(value) in (10, 13):
        seconds = int(value) / (1000 if len(value) == 13 else 1)
        try:
            result = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
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
    if not 1990 <= result.year <= datetime.now(UTC).year + 1:
        return None
    return result


_URL_DATE_RE = re.compile(
    r"/((?:19|20)\d{2})[/_-]?(0[1-9]|1[0-2])[/_-]?(0[1-9]|[12]\d|3[01])(?:[/_.-]|$)"
)


def url_date(url: str) -> datetime | None:
    """A date spelled in the article's URL path (``/2016/12/09/``, ``/20161209/``)."""
    try:
        path = urlsplit(url).path
    except ValueError:  # a publisher's URL that cannot be parsed (``http://[::1/``) has no date
        return None
    match = _URL_DATE_RE.search(path)
    if not match:
        return None
    try:
        when = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
    except ValueError:
        return None
    return when if when <= datetime.now(UTC) + timedelta(days=1) else None


def fallback_date(tree: lxml_html.HtmlElement, url: str) -> datetime | None:
    """htmldate's heuristics (URL, visible dates) when the page has no date metadata."""
    try:
        found = find_date(tree, url=url, extensive_search=False, original_date=True)
    except (ValueError, TypeError) as exc:
        log.debug("htmldate failed on %s: %s", url, exc)
        return None
    return parse_datetime(found) if found else None
