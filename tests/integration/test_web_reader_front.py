"""The front page and the other lists honour a signed-in reader's choices (issue 13):
publications switched off never show (not as a card, not as an "other sources" line, not
pinned, not on a story page), followed hashtags get a "For you" band and page, saved items
are a click away; anonymous readers and readers without choices get everybody's page, and
one reader's choices never reach another. Real app, real SQLite (and PostgreSQL when the
test command started one)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import select

from newsline import urls
from newsline.community import accounts, preferences
from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.db.models import Channel, Item, Publication
from newsline.web.app import create_app
from newsline.web.cache import RenderCacheMiddleware
from tests.support.webdata import NOW, Seeded, add_item, add_story, seed

pytestmark = pytest.mark.postgres

PASSWORD = "correct horse battery"
BROWSER = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
FRONT = urls.NEWSLINE.format(channel_slug="news")
HARBOR_LINK = "/news/topic/harbor/"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    made: Settings = make_settings()
    with session_scope(made.database_url) as session:
        sync_channels(session, made)
    return made


@pytest.fixture
def seeded(settings: Settings) -> Seeded:
    """The web seed, plus a pier story covered by harbor (newest) and valley, a story only
    harbor covers, and harbor's pinned item."""
    data = seed(settings)
    with session_scope(settings.database_url) as session:
        harbor = session.get(Publication, data.publications["harbor"])
        valley = session.get(Publication, data.publications["valley"])
        assert harbor is not None and valley is not None
        pier = [
            add_item(
                session,
                harbor,
                "pier-h",
                title="Harbour board approves the longer pier",
                sort_at=NOW - timedelta(minutes=2),
            ),
            add_item(
                session,
                valley,
                "pier-v",
                title="Pier vote: board picks the long design",
                sort_at=NOW - timedelta(minutes=20),
            ),
        ]
        alone = [
            add_item(
                session,
                harbor,
                "alone-h",
                title="Only the harbour paper covers the ferry",
                sort_at=NOW - timedelta(minutes=4),
            )
        ]
        for key, title, items in (("pier", "The pier", pier), ("ferry", "The ferry", alone)):
            data.items[f"story-{key}"] = add_story(session, key, title, items)
        data.items.update({i.slug or "": i.id for i in pier + alone})
        pinned = session.get(Item, data.items["harbor-2"])
        assert pinned is not None
        pinned.pinned_until = NOW + timedelta(hours=2)
    return data


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


def _reader(settings: Settings, email: str, name: str) -> int:
    with session_scope(settings.database_url) as session:
        return accounts.create_user(session, email, PASSWORD, name, verified=True).id


def _channel_id(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        found = session.scalar(select(Channel.id).where(Channel.slug == "news"))
        assert found is not None
        return found


def _sign_in(client: TestClient, email: str) -> None:
    answer = client.post(urls.API + urls.API_SESSION, json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200


def _main(html: str) -> Any:
    node = LexborHTMLParser(html).css_first("main")
    assert node is not None
    return node


def _item_links(node: Any) -> list[str]:
    return [
        str(a.attributes.get("href"))
        for a in node.css("a")
        if "/topic/" in str(a.attributes.get("href"))
    ]


def test_a_switched_off_publication_never_shows_for_that_reader_only(
    settings: Settings, seeded: Seeded, app: FastAPI
) -> None:
    reader = _reader(settings, "hides@example.org", "Hide Harbor")
    _reader(settings, "other@example.org", "Other Reader")
    channel_id = _channel_id(settings)
    harbor, valley = seeded.publications["harbor"], seeded.publications["valley"]
    with session_scope(settings.database_url) as session:
        preferences.set_hidden_publications(session, reader, channel_id, [harbor], [harbor, valley])
    with (
        TestClient(app, headers=BROWSER) as me,
        TestClient(app, headers=BROWSER) as other,
        TestClient(app, headers=BROWSER) as anonymous,
    ):
        _sign_in(me, "hides@example.org")
        _sign_in(other, "other@example.org")
        mine = me.get(FRONT)
        assert mine.status_code == 200
        assert "private" in mine.headers["cache-control"]
        main = _main(mine.text)
        links = _item_links(main)
        assert links and not [href for href in links if href.startswith(HARBOR_LINK)]
        # The pier story is led by valley's item, with no "Harbor Gazette:" line beside it,
        # and counts one source; the story only harbor covers and harbor's pin are gone.
        text = main.text()
        assert "Pier vote: board picks the long design" in text
        assert "Harbour board approves the longer pier" not in text
        assert "Harbor Gazette" not in text
        assert "Only the harbour paper covers the ferry" not in text
        assert "Item harbor-2" not in text
        bar = main.css_first(".readerbar")
        assert bar is not None and "1 publication hidden" in bar.text()
        change = bar.css_first("a")
        assert change is not None and change.attributes["href"] == "/news/preferences"
        # The hashtag page, the publication's own page and the story page leave it out too.
        tag = _main(me.get("/news/tag/politics").text)
        assert "Item valley-0" in tag.text() and not [
            h for h in _item_links(tag) if h.startswith(HARBOR_LINK)
        ]
        solo = _main(me.get("/news/solo/harbor").text)
        assert not _item_links(solo) and "You switched this publication off" in solo.text()
        story = me.get(f"/news/story/{seeded.items['story-pier']}")
        assert story.status_code == 200
        assert "Pier vote" in story.text and "Harbour board approves" not in story.text
        assert me.get(f"/news/story/{seeded.items['story-ferry']}").status_code == 404
        # Another signed-in reader, on the same server at the same time, sees everything.
        theirs = _main(other.get(FRONT).text)
        assert [h for h in _item_links(theirs) if h.startswith(HARBOR_LINK)]
        assert "Harbour board approves the longer pier" in theirs.text()
        assert "Harbor Gazette:" in theirs.text() or "Valley Ledger:" in theirs.text()
        assert theirs.css_first(".readerbar") is None
        assert "Only the harbour paper covers the ferry" in theirs.text()
        # So does everybody else, and their page is the shared, cached one.
        everybody = _main(anonymous.get(FRONT).text)
        assert "Harbour board approves the longer pier" in everybody.text()
        assert everybody.css_first(".readerbar") is None
        # And the reader's own page still hides it after the others were rendered.
        assert "Harbour board approves the longer pier" not in _main(me.get(FRONT).text).text()


def test_followed_hashtags_and_saved_items_on_the_front_page(
    settings: Settings, seeded: Seeded, app: FastAPI
) -> None:
    reader = _reader(settings, "follows@example.org", "Fol Lower")
    channel_id = _channel_id(settings)
    with session_scope(settings.database_url) as session:
        preferences.set_followed_hashtags(
            session, reader, channel_id, ["science"], [h.tag for h in settings.channels[0].hashtags]
        )
        preferences.save_item(session, reader, seeded.items["valley-0"])
        preferences.save_item(session, reader, seeded.items["harbor-1"])
    with TestClient(app, headers=BROWSER) as me, TestClient(app, headers=BROWSER) as anonymous:
        _sign_in(me, "follows@example.org")
        main = _main(me.get(FRONT).text)
        band = main.css_first("section.foryou")
        assert band is not None
        # The band holds the followed hashtag's stories only (odd-numbered items: science).
        titles = [h.text() for h in band.css(".card .title")]
        assert titles and all(t.strip() in {"Item harbor-1", "Item valley-1"} for t in titles)
        more = band.css_first(".bandhead a")
        assert more is not None and more.attributes["href"] == "/news/for-you"
        # The whole front page is still there below it (politics items too).
        assert "Item valley-0" in main.text()
        tab = main.css_first('.tagbar a[href="/news/for-you"]')
        assert tab is not None and tab.text() == "For you"
        bar = main.css_first(".readerbar")
        assert bar is not None and "following #science" in bar.text()
        saved = bar.css_first("a.saved")
        assert saved is not None and saved.text() == "Saved (2)"
        assert saved.attributes["href"] == urls.SAVED
        # The full list: science stories only, newest first.
        page = me.get("/news/for-you")
        assert page.status_code == 200
        listed = [h.text().strip() for h in _main(page.text).css(".cards .title")]
        assert listed[:2] == ["Item harbor-1", "Item valley-1"] or set(listed) == {
            "Item harbor-1",
            "Item valley-1",
        }
        assert "Item valley-0" not in page.text
        # Signed out, the page asks for a sign-in; the front page has no band.
        assert anonymous.get("/news/for-you", follow_redirects=False).status_code == 303
        plain = _main(anonymous.get(FRONT).text)
        assert plain.css_first("section.foryou") is None
        assert plain.css_first('.tagbar a[href="/news/for-you"]') is None


def test_no_choices_get_everybodys_page_and_the_anonymous_page_stays_cached(
    settings: Settings, seeded: Seeded, app: FastAPI
) -> None:
    _reader(settings, "plain@example.org", "Plain Reader")
    with TestClient(app, headers=BROWSER) as me, TestClient(app, headers=BROWSER) as anonymous:
        everybody = anonymous.get(FRONT)
        _sign_in(me, "plain@example.org")
        mine = me.get(FRONT)

        # The same column, card for card (the masthead differs: the account link; ages
        # may tick between the two renders).
        def column(html: str) -> list[str]:
            main = _main(html)
            for node in main.css("time"):
                node.decompose()
            return [str(main.html)]

        assert column(mine.text) == column(everybody.text)
        assert _main(mine.text).css_first(".readerbar") is None
        assert "last-modified" in everybody.headers
    cache = app.middleware_stack
    while cache is not None and not isinstance(cache, RenderCacheMiddleware):
        cache = getattr(cache, "app", None)
    assert isinstance(cache, RenderCacheMiddleware)
    kept = [body for key, (_, _, body) in cache.entries.items() if key[0] == FRONT]
    assert kept and all(b"readerbar" not in body and b"Plain Reader" not in body for body in kept)


def test_search_leaves_out_what_the_reader_switched_off(
    settings: Settings, seeded: Seeded, app: FastAPI
) -> None:
    reader = _reader(settings, "searcher@example.org", "Sear Cher")
    channel_id = _channel_id(settings)
    harbor, valley = seeded.publications["harbor"], seeded.publications["valley"]
    with session_scope(settings.database_url) as session:
        preferences.set_hidden_publications(session, reader, channel_id, [harbor], [harbor, valley])
    search = urls.SEARCH.format(channel_slug="news") + "?q=pier"
    with TestClient(app, headers=BROWSER) as me, TestClient(app, headers=BROWSER) as anonymous:
        _sign_in(me, "searcher@example.org")
        mine = me.get(search)
        assert mine.status_code == 200 and "private" in mine.headers["cache-control"]
        found = _main(mine.text)
        assert "board picks the long design" in found.text()
        # harbor's pier item is neither a result nor the "other sources" line of valley's
        assert not [h for h in _item_links(found) if h.startswith(HARBOR_LINK)]
        assert "Harbor Gazette" not in found.text()
        everybody = _main(anonymous.get(search).text)
        assert [h for h in _item_links(everybody) if h.startswith(HARBOR_LINK)]


def test_an_item_pages_related_coverage_leaves_out_what_the_reader_switched_off(
    settings: Settings, seeded: Seeded, app: FastAPI
) -> None:
    reader = _reader(settings, "related@example.org", "Rela Ted")
    channel_id = _channel_id(settings)
    harbor, valley = seeded.publications["harbor"], seeded.publications["valley"]
    with session_scope(settings.database_url) as session:
        preferences.set_hidden_publications(session, reader, channel_id, [harbor], [harbor, valley])
    page = "/news/topic/valley/pier-v"

    def related(client: TestClient) -> str:
        answer = client.get(page)
        assert answer.status_code == 200
        sections = _main(answer.text).css("section.related")
        return " ".join(s.text() for s in sections if s.css_first("#related-h"))

    with TestClient(app, headers=BROWSER) as me, TestClient(app, headers=BROWSER) as anonymous:
        assert "Harbour board approves the longer pier" in related(anonymous)
        _sign_in(me, "related@example.org")
        assert "Harbour board approves the longer pier" not in related(me)
