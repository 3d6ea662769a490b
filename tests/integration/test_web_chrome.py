"""The pre-rendered chrome (web/render.py: the list, story and item pages spliced into
base.html rendered once per channel and settings) gives the same bytes as rendering the whole page,
whatever page, reader, options or settings came first (issue 12)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from newsline import urls
from newsline.community import accounts
from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.web import render
from newsline.web.app import create_app
from tests.support.webdata import seed

HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
PASSWORD = "correct horse battery"
#: An age printed on a card ticks between two renders.
AGE = re.compile(r">[0-9]+[smhd]<")


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    made: Settings = make_settings(web={"render_cache_seconds": 0})
    with session_scope(made.database_url) as session:
        sync_channels(session, made)
    seed(made)
    return made


def _pages(client: TestClient) -> list[str]:
    story = "/news/story/999999"  # a 404: rendered whole, in the same chrome
    return [
        client.get(path).text
        for path in (
            "/news/newsline",
            "/news/tag/politics",
            "/news/solo/harbor",
            "/news/newsline?before=1-1",
            story,
            "/",
            # Item pages: a full text and a teaser, both in a story (related coverage), with
            # their comment sections (a signed-in reader's has forms with their token).
            "/news/topic/harbor/harbor-0",
            "/news/topic/valley/valley-0",
        )
    ]


def _same(spliced: list[str], whole: list[str]) -> None:
    for one, other in zip(spliced, whole, strict=True):
        assert AGE.sub("><", one) == AGE.sub("><", other)


def test_spliced_pages_are_byte_for_byte_the_whole_render(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert render.SPLICED  # the fast path is on
    with session_scope(settings.database_url) as session:
        accounts.create_user(
            session, "chrome@example.org", PASSWORD, "Chrome Reader", verified=True
        )
    story_id = _a_story(settings)
    app = create_app(settings)
    with TestClient(app, headers=HUMAN) as anonymous, TestClient(app, headers=HUMAN) as reader:
        reader.post(
            urls.API + urls.API_SESSION, json={"email": "chrome@example.org", "password": PASSWORD}
        )
        reader.cookies.set("nl_theme", "dark")
        reader.cookies.set("nl_dense", "1")
        # The first page rendered makes the chrome: the signed-in, dark, dense reader's.
        spliced_reader = _pages(reader)
        spliced_anonymous = _pages(anonymous)
        spliced_story = anonymous.get(f"/news/story/{story_id}").text
        # Asked again: the pages kept by data version, their per-request parts filled in.
        kept_reader, kept_anonymous = _pages(reader), _pages(anonymous)
        kept_story = anonymous.get(f"/news/story/{story_id}").text
        assert "Chrome Reader" in spliced_reader[0] and "Chrome Reader" not in spliced_anonymous[0]
        assert 'class="theme-dark dense"' in spliced_reader[0]
        monkeypatch.setattr(render, "SPLICED", frozenset())
        whole_reader, whole_anonymous = _pages(reader), _pages(anonymous)
        whole_story = anonymous.get(f"/news/story/{story_id}").text
        _same(spliced_reader, whole_reader)
        _same(spliced_anonymous, whole_anonymous)
        _same([spliced_story], [whole_story])
        _same(kept_reader, whole_reader)
        _same(kept_anonymous, whole_anonymous)
        _same([kept_story], [whole_story])


def test_the_chrome_follows_a_settings_change(settings: Settings) -> None:
    app = create_app(settings)
    site: Any = app.state.site
    with TestClient(app, headers=HUMAN) as client:
        assert "THE HARBOR" not in client.get("/news/newsline").text
        changed = settings.model_copy(deep=True)
        changed.channels[0].display_name = "The Harbor Herald"
        site._settings = changed  # what Site does when the console saved a change
        site._checked_at = float("inf")  # no poll in between
        page = client.get("/news/newsline").text
        assert "THE HARBOR HERALD" in page and "<title>The Harbor Herald</title>" in page


def _a_story(settings: Settings) -> int:
    from newsline.db.models import Item, Story

    with session_scope(settings.database_url) as session:
        story = Story(key="chrome", title="Chrome story", item_count=2, publication_count=2)
        session.add(story)
        session.flush()
        for item in session.query(Item).filter(Item.slug.in_(["harbor-0", "valley-0"])):
            item.story_id = story.id
        return story.id


def test_a_reload_in_the_middle_of_a_request_does_not_keep_the_old_settings_chrome(
    settings: Settings,
) -> None:
    """What a page makes from its channel's settings is filed with the settings the request
    was served under: a console change reloading them between the start of a request and
    its chrome must not leave the old chrome filed under the new settings, where it would
    stay (seen in CI: a reset hometown still shown 20 s later on PostgreSQL)."""
    from types import SimpleNamespace

    from newsline.web.site import ChannelRef, Site

    site = Site(settings)
    request: Any = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(site=site)))
    old_cfg = settings.channels[0]
    new_cfg = old_cfg.model_copy(update={"hometown": "Bemidji,MN"})
    made: list[str] = []

    def build(cfg: Any) -> Callable[[], str]:
        def make() -> str:
            made.append(cfg.hometown)
            return str(cfg.hometown)

        return make

    # A request that began under the old settings builds its chrome after the reload...
    assert render.per_channel_settings(request, "t", ChannelRef(old_cfg, 1), build(old_cfg)) == (
        old_cfg.hometown
    )
    # ...and the next request, under the new settings, gets a chrome of its own.
    shown = render.per_channel_settings(request, "t", ChannelRef(new_cfg, 1), build(new_cfg))
    assert shown == "Bemidji,MN"
    # Unchanged settings reuse what was made.
    again = render.per_channel_settings(request, "t", ChannelRef(new_cfg, 1), build(new_cfg))
    assert again == "Bemidji,MN" and made == [old_cfg.hometown, "Bemidji,MN"]
