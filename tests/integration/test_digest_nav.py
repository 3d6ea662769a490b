"""A Digest's previous / next links and the archive by date, on the real app and SQLite."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from selectolax.lexbor import LexborHTMLParser

from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Item
from newsline.publish.digest import run_digest
from newsline.web.app import create_app
from tests.support.digest_seed import Seeder

pytestmark = pytest.mark.postgres

HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
# Four slots over two days in Chicago: 24 Jul 10:30 and 18:00 CDT, 25 Jul 07:00 and 10:30.
SLOTS = [
    datetime(2025, 7, 24, 15, 30, tzinfo=UTC),
    datetime(2025, 7, 24, 23, 0, tzinfo=UTC),
    datetime(2025, 7, 25, 12, 0, tzinfo=UTC),
    datetime(2025, 7, 25, 15, 30, tzinfo=UTC),
]


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> tuple[Settings, list[int]]:
    settings = make_settings(
        web={"render_cache_seconds": 0},
        channels=[
            {
                "slug": "news",
                "display_name": "The Harbor Daily",
                "hometown": "Remer,MN",
                "timezone": "America/Chicago",
            }
        ],
    )
    seed = Seeder(settings)
    digest_items = []
    for n, slot in enumerate(SLOTS):
        seed.item("gazette", slot - timedelta(minutes=15), title=f"Harbour report number {n}")
        result = run_digest(settings, "news", at=slot)
        assert result.status == "published" and result.item_id is not None
        digest_items.append(result.item_id)
    return settings, digest_items


def doc(client: TestClient, path: str) -> Any:
    resp = client.get(path)
    assert resp.status_code == 200, (path, resp.status_code)
    return LexborHTMLParser(resp.text)


def digest_path(settings: Settings, item_id: int) -> str:
    with session_scope(settings.database_url) as session:
        item = session.get(Item, item_id)
        assert item is not None
        return f"/news/topic/{item.publication.tag}/{item.slug}"


def test_previous_and_next_walk_every_digest_in_order(site: tuple[Settings, list[int]]) -> None:
    settings, items = site
    client = TestClient(create_app(settings), headers=HUMAN)
    paths = [digest_path(settings, i) for i in items]
    first = doc(client, paths[0])
    assert first.css_first(".digest-nav a[rel=prev]") is None
    assert "first Digest" in first.css_first(".digest-nav .prev").text()
    # Forward by rel=next from the first reaches each in turn, then stops at the latest.
    seen, page = [paths[0]], first
    while (link := page.css_first(".digest-nav a[rel=next]")) is not None:
        seen.append(link.attributes["href"] or "")
        page = doc(client, seen[-1])
    assert seen == paths
    assert "latest Digest" in page.css_first(".digest-nav .next").text()
    # And back by rel=prev from the latest.
    back = [paths[-1]]
    while (link := page.css_first(".digest-nav a[rel=prev]")) is not None:
        back.append(link.attributes["href"] or "")
        page = doc(client, back[-1])
    assert back == paths[::-1]
    # The links name the Digest they lead to.
    middle = doc(client, paths[1]).css_first(".digest-nav a[rel=next]")
    assert middle is not None and "7/25/2025 @700AM" in middle.text()


def test_a_withdrawn_digest_is_skipped(site: tuple[Settings, list[int]]) -> None:
    settings, items = site
    with session_scope(settings.database_url) as session:
        withdrawn = session.get(Item, items[1])
        assert withdrawn is not None
        withdrawn.state = "withdrawn"
    client = TestClient(create_app(settings), headers=HUMAN)
    page = doc(client, digest_path(settings, items[0]))
    link = page.css_first(".digest-nav a[rel=next]")
    assert link is not None and link.attributes["href"] == digest_path(settings, items[2])


def test_archive_by_date(site: tuple[Settings, list[int]]) -> None:
    settings, items = site
    client = TestClient(create_app(settings), headers=HUMAN)
    index = doc(client, "/news/digest/archive")
    days = [(a.attributes["href"], a.text()) for a in index.css(".digest-archive li a")]
    # Days of the channel's calendar (Chicago), newest first.
    assert days == [
        ("/news/digest/archive/2025-07-25", "Friday, July 25, 2025"),
        ("/news/digest/archive/2025-07-24", "Thursday, July 24, 2025"),
    ]
    assert [c.text() for c in index.css(".digest-archive .count")] == ["2 Digests", "2 Digests"]
    day = doc(client, "/news/digest/archive/2025-07-24")
    listed = [a.attributes["href"] for a in day.css(".digest-archive .headlines a")]
    assert listed == [digest_path(settings, i) for i in items[:2]]
    later = day.css_first(".pager a[rel=next]")
    assert later is not None and later.attributes["href"] == "/news/digest/archive/2025-07-25"
    assert day.css_first(".pager a[rel=prev]") is None
    # Each Digest links its own day.
    page = doc(client, digest_path(settings, items[2]))
    day_link = page.css_first(".digest-nav p a")
    assert day_link is not None and day_link.attributes["href"] == "/news/digest/archive/2025-07-25"
    for bad in ("2025-07-23", "2025-7-24", "yesterday", "2025-02-30"):
        assert client.get(f"/news/digest/archive/{bad}").status_code == 404, bad


def test_item_pages_that_are_not_digests_have_no_digest_nav(
    site: tuple[Settings, list[int]],
) -> None:
    settings, _ = site
    client = TestClient(create_app(settings), headers=HUMAN)
    with session_scope(settings.database_url) as session:
        item = session.query(Item).filter(Item.title == "Harbour report number 0").one()
        path = f"/news/topic/{item.publication.tag}/{item.slug or item.id}"
    assert doc(client, path).css_first(".digest-nav") is None
