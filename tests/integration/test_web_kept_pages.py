"""Pages kept by data version (issue 12: web/render.page(keep=...), db/data_version.py): a page
rendered without the render cache (a signed-in reader's, or with the cache off as here) is
kept by each worker until what it shows changes, and every kind of write shows on the very
next request of every worker. Two app instances on one database play two workers; each asks
a page (so both keep it), then a write happens through the real writer, then both ask again.
Each test fails when the writers' version bump is taken out (db/data_version.bump).
Real app, real SQLite (and PostgreSQL when the test command started one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import delete, select, update

from newsline import urls
from newsline.community import accounts, moderation, preferences
from newsline.community import comments as comment_store
from newsline.community.audit import Actor
from newsline.config import Settings
from newsline.db import data_version
from newsline.db.channels import sync_channels
from newsline.db.engine import engine_for, session_scope
from newsline.db.models import Channel, Item, Newsline, Publication, Story, User
from newsline.publish import editorial
from newsline.web.app import create_app
from tests.support.webdata import NOW, Seeded, add_item, add_story, seed

pytestmark = pytest.mark.postgres

PASSWORD = "correct horse battery"
BROWSER = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
FRONT = "/news/newsline"
EDITOR = Actor(label="test:editor")


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    made: Settings = make_settings(web={"render_cache_seconds": 0})
    with session_scope(made.database_url) as session:
        sync_channels(session, made)
    return made


@pytest.fixture
def seeded(settings: Settings) -> Seeded:
    return seed(settings)


@pytest.fixture
def workers(settings: Settings, seeded: Seeded) -> Iterator[tuple[TestClient, TestClient]]:
    """Two app instances on the one database, as two server workers."""
    with (
        TestClient(create_app(settings), headers=BROWSER) as one,
        TestClient(create_app(settings), headers=BROWSER) as two,
    ):
        yield one, two


def _main(html: str, part: str = "main") -> str:
    node = LexborHTMLParser(html).css_first(part)
    assert node is not None
    return str(node.text())


def _both(workers: tuple[TestClient, TestClient], path: str, part: str = "main") -> list[str]:
    """The text of the page's `part` (its main text) from each worker (each keeps it: asked
    twice, the second from what it kept)."""
    out = []
    for client in workers:
        first, again = client.get(path), client.get(path)
        assert first.status_code == again.status_code == 200, path
        assert _main(first.text, part) == _main(again.text, part)
        out.append(_main(again.text, part))
    return out


def _channel_id(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        found = session.scalar(select(Channel.id).where(Channel.slug == "news"))
        assert found is not None
        return found


def _tides(settings: Settings, seeded: Seeded) -> int:
    """A story led by harbor-0 (its only item): its id."""
    with session_scope(settings.database_url) as session:
        lead = session.get(Item, seeded.items["harbor-0"])
        assert lead is not None
        return add_story(session, "tides", "The tides", [lead])


def test_a_new_item_shows_on_the_next_request_of_every_worker(
    settings: Settings, seeded: Seeded, workers: tuple[TestClient, TestClient]
) -> None:
    title = "Lighthouse keeper retires after forty winters"
    for page in _both(workers, FRONT) + _both(workers, "/news/solo/harbor"):
        assert title not in page
    with session_scope(settings.database_url) as session:  # as ingest stores one
        harbor = session.get(Publication, seeded.publications["harbor"])
        assert harbor is not None
        add_item(session, harbor, "keeper", title=title, sort_at=NOW - timedelta(seconds=30))
    for page in _both(workers, FRONT) + _both(workers, "/news/solo/harbor"):
        assert title in page


def test_an_item_joining_a_story_shows_on_its_story_and_item_pages(
    settings: Settings, seeded: Seeded, workers: tuple[TestClient, TestClient]
) -> None:
    story_id = _tides(settings, seeded)
    story_page = f"/news/story/{story_id}"
    item_page = "/news/topic/harbor/harbor-0"
    joining = "Item valley-1"
    for page in _both(workers, story_page) + _both(workers, item_page):
        assert joining not in page
    # As the enrichment stage places an item: a bulk update of the item and its story.
    with session_scope(settings.database_url) as session:
        session.execute(
            update(Item)
            .where(Item.id == seeded.items["valley-1"])
            .values(story_id=story_id)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Story)
            .where(Story.id == story_id)
            .values(item_count=2, publication_count=2, updated_at=NOW)
            .execution_options(synchronize_session=False)
        )
    for page in _both(workers, story_page):
        assert joining in page and "2 sources" in page
    for page in _both(workers, item_page):
        assert "Related coverage" in page and joining in page


def test_a_pin_and_a_withdrawal_show_on_the_next_request(
    settings: Settings, seeded: Seeded, workers: tuple[TestClient, TestClient]
) -> None:
    pinned = "Item harbor-2"
    for page in _both(workers, FRONT):
        assert page.index("Item harbor-0") < page.index(pinned)
    with session_scope(settings.database_url) as session:
        editorial.pin(session, EDITOR, seeded.items["harbor-2"], hours=2)
    for page in _both(workers, FRONT):
        assert page.index(pinned) < page.index("Item harbor-0")  # it leads the page now
    item_page = "/news/topic/harbor/harbor-2"
    _both(workers, item_page)
    with session_scope(settings.database_url) as session:
        editorial.unpublish(session, EDITOR, seeded.items["harbor-2"], "test")
    for page in _both(workers, FRONT):
        assert pinned not in page
    for client in workers:
        assert client.get(item_page).status_code == 410


def _signed_in(client: TestClient, email: str) -> None:
    answer = client.post(urls.API + urls.API_SESSION, json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200


def test_a_comment_hidden_by_a_moderator_leaves_the_item_page_at_once(
    settings: Settings, seeded: Seeded, workers: tuple[TestClient, TestClient]
) -> None:
    item_id = seeded.items["harbor-1"]
    with session_scope(settings.database_url) as session:
        author = accounts.create_user(session, "says@example.org", PASSWORD, "Says", verified=True)
        author_id = author.id
    engine = engine_for(settings.database_url)
    with comment_store.writing(engine) as session:
        user = session.get(User, author_id)
        assert user is not None
        posted = comment_store.post(
            session,
            settings.channels[0].comments,
            item_id=item_id,
            channel_id=_channel_id(settings),
            author=user,
            body="The old harbour light was lit by hand until 1961.",
        )
        comment_id = posted.comment.id
    item_page = "/news/topic/harbor/harbor-1"
    for page in _both(workers, item_page):
        assert "lit by hand until 1961" in page and "1 comment" in page
    # A signed-in reader's page (kept with their blocks open) follows it too.
    with TestClient(workers[1].app, headers=BROWSER) as reader:
        with session_scope(settings.database_url) as session:
            accounts.create_user(session, "reads@example.org", PASSWORD, "Reads", verified=True)
        _signed_in(reader, "reads@example.org")
        assert "lit by hand until 1961" in _main(reader.get(item_page).text)
        with comment_store.writing(engine) as session:
            moderation.act(session, EDITOR, None, comment_id=comment_id, action="hide")
        for page in _both(workers, item_page):
            assert "lit by hand until 1961" not in page and "0 comments" in page
        mine = _main(reader.get(item_page).text)
        assert "lit by hand until 1961" not in mine and "0 comments" in mine


def test_a_readers_choices_show_on_their_next_request_and_nobody_elses(
    settings: Settings, seeded: Seeded, workers: tuple[TestClient, TestClient]
) -> None:
    with session_scope(settings.database_url) as session:
        reader_id = accounts.create_user(
            session, "choosy@example.org", PASSWORD, "Choosy", verified=True
        ).id
    harbor, valley = seeded.publications["harbor"], seeded.publications["valley"]
    one, two = workers
    _signed_in(one, "choosy@example.org")
    two.cookies.update(one.cookies)  # the same browser, served by either worker
    for page in _both(workers, FRONT):
        assert "Item harbor-0" in page
    with session_scope(settings.database_url) as session:
        preferences.set_hidden_publications(
            session, reader_id, _channel_id(settings), [harbor], [harbor, valley]
        )
    for page in _both(workers, FRONT):
        assert "Item harbor-0" not in page and "Item valley-0" in page
        assert "1 publication hidden" in page
    with TestClient(workers[0].app, headers=BROWSER) as anonymous:
        assert "Item harbor-0" in _main(anonymous.get(FRONT).text)


def test_every_watched_write_bumps_the_version_once_per_transaction(settings: Settings) -> None:
    engine = engine_for(settings.database_url)

    def version() -> int:
        with engine.connect() as conn:
            return data_version.read(conn)

    start = version()
    seed(settings)  # one transaction of many rows
    after_seed = version()
    assert after_seed > start
    with session_scope(settings.database_url) as session:  # reads only
        session.scalars(select(Item.id)).all()
    with session_scope(settings.database_url) as session:  # a table no page shows
        accounts.create_user(session, "quiet@example.org", PASSWORD, "Quiet", verified=True)
    assert version() == after_seed
    with session_scope(settings.database_url) as session:  # a rollback bumps nothing
        session.execute(update(Item).values(title="never"))
        session.rollback()
    assert version() == after_seed
    with session_scope(settings.database_url) as session:
        session.execute(update(Item).values(comment_count=Item.comment_count))
        session.execute(update(Item).values(comment_count=Item.comment_count))
    assert version() == after_seed + 1


def test_a_kept_page_never_carries_another_readers_name_or_tokens(
    settings: Settings, seeded: Seeded, workers: tuple[TestClient, TestClient]
) -> None:
    """Two readers whose choices are the same share the kept pages' key: each still gets
    only their own name and their own session's CSRF token (comment, vote and save forms),
    and an anonymous visitor neither, on every kind of kept page."""
    story_id = _tides(settings, seeded)
    with session_scope(settings.database_url) as session:
        for email, name in [("ada@example.org", "Ada Reader"), ("bo@example.org", "Bo Reader")]:
            accounts.create_user(session, email, PASSWORD, name, verified=True)
    pages = [
        FRONT,
        f"/news/story/{story_id}",
        "/news/topic/harbor/harbor-0",
        "/news/tag/politics",
        "/news/solo/harbor",
    ]
    ada = workers[0]  # both readers on one worker: one each would hide a leak
    _signed_in(ada, "ada@example.org")
    with TestClient(ada.app, headers=BROWSER) as bo:
        _signed_in(bo, "bo@example.org")
        with TestClient(ada.app, headers=BROWSER) as anonymous:
            for path in pages:
                seen: dict[str, set[str]] = {}
                for who, client in [("ada", ada), ("bo", bo), ("anon", anonymous), ("ada", ada)]:
                    answer = client.get(path)
                    assert answer.status_code == 200, path
                    tree = LexborHTMLParser(answer.text)
                    tokens = {
                        str(node.attributes.get("value"))
                        for node in tree.css('input[name="csrf_token"]')
                    }
                    seen.setdefault(who, set()).update(tokens)
                    names = {n for n in ("Ada Reader", "Bo Reader") if n in answer.text}
                    assert names == (
                        {"Ada Reader"} if who == "ada" else {"Bo Reader"} if who == "bo" else set()
                    ), (path, who, names)
                if path == pages[2]:  # the item page's save and comment forms
                    assert seen["ada"] and seen["bo"]
                assert not seen["ada"] & seen["bo"], path
                assert not seen["anon"] & (seen["ada"] | seen["bo"]), path


def test_a_kept_front_page_stops_showing_a_pin_when_it_ends(
    settings: Settings,
    seeded: Seeded,
    workers: tuple[TestClient, TestClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pin ends by time alone, with no write to change the data version: the front page
    kept while it stood must not be served after (KeptPage.until). The pages' clock is moved
    by hand (both the page's and the kept page's reading of it)."""
    from newsline.db.models import utcnow
    from newsline.web import newsline as newsline_page
    from newsline.web import render

    clock = [utcnow()]
    for module in (render, newsline_page):
        monkeypatch.setattr(module, "utcnow", lambda: clock[0])
    pinned = "Item harbor-2"
    with session_scope(settings.database_url) as session:
        editorial.pin(session, EDITOR, seeded.items["harbor-2"], hours=1, now=clock[0])
    for page in _both(workers, FRONT):  # each worker keeps the pinned front page
        assert page.index(pinned) < page.index("Item harbor-0")
    clock[0] += timedelta(minutes=59)
    for page in _both(workers, FRONT):  # still pinned a minute before it ends
        assert page.index(pinned) < page.index("Item harbor-0")
    clock[0] += timedelta(minutes=1)
    for page in _both(workers, FRONT):  # ended: back in its own place, below the lead
        assert page.index("Item harbor-0") < page.index(pinned)


@pytest.mark.parametrize(
    ("path", "part", "shown"),
    [("/news/topic/valley/valley-0", "main", "{}"), ("/news/solo/valley", "title", "{} ·")],
)
def test_a_publication_renamed_or_dropped_shows_on_the_next_request(
    settings: Settings,
    seeded: Seeded,
    workers: tuple[TestClient, TestClient],
    path: str,
    part: str,
    shown: str,
) -> None:
    """A publication renamed, or leaving the channel's newsline, shows on the next request of
    every worker: on its item's page, and in the title of its own page (which remembers the
    publication per data version: web/newsline.publication_of)."""
    for page in _both(workers, path, part):
        assert shown.format("Valley Ledger") in page
    with session_scope(settings.database_url) as session:
        session.execute(
            update(Publication)
            .where(Publication.id == seeded.publications["valley"])
            .values(name="Valley Evening Ledger")
            .execution_options(synchronize_session=False)
        )
    for page in _both(workers, path, part):
        assert shown.format("Valley Evening Ledger") in page
    with session_scope(settings.database_url) as session:
        session.execute(
            delete(Newsline).where(Newsline.publication_id == seeded.publications["valley"])
        )
    for client in workers:
        assert client.get(path).status_code == 404
