"""What a feed reader shows of a feedparser text construct (tests of our output feeds)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _Shown(HTMLParser):
    """What a browser shows of an HTML fragment, and which tags it would build."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def shown(detail: Any) -> str:
    """The text a reader shows for a feedparser text construct; no tag may be built."""
    if detail["type"] in ("text/html", "application/xhtml+xml"):
        parser = _Shown()
        parser.feed(detail["value"])
        parser.close()
        assert parser.tags == [], f"live markup in an HTML element: {detail['value']!r}"
        return "".join(parser.text)
    assert detail["type"] == "text/plain", detail
    return str(detail["value"])
