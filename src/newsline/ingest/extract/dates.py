"""Dates: the page's written dates (read by :mod:`newsline.ingest.timestamps`); one in the URL
or, last, with htmldate."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from htmldate import find_date
from lxml import html as lxml_html

from newsline.ingest.timestamps import parse_datetime

__all__ = ["fallback_date", "parse_datetime", "url_date"]

log = logging.getLogger(__name__)

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
