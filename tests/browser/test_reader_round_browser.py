"""A signed-in reader's round in Chromium on `newsline serve --workers 2` (issue 12: their
pages are kept by data version, their own parts filled per request): they save an item,
switch a publication off and on again, follow a hashtag, post a comment and upvote
another reader's; each shows on the very next page load, whichever worker serves it, and
another reader on the same site sees none of their own parts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsline.community import accounts, comments
from newsline.db.engine import dispose_all, engine_for
from newsline.db.models import Channel, User
from tests.support.browser import HUMAN_UA, LiveSite, sign_in

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
ITEM = "/news/topic/valley/valley-1"
FRONT = "/news/newsline"


def _reader(settings: Any, email: str, name: str) -> int:
    with Session(engine_for(settings.database_url)) as session, session.begin():
        found = session.scalar(select(User).where(User.email == email))
        if found is not None:
            return found.id
        return accounts.create_user(session, email, PASSWORD, name, verified=True).id


def _tokens(page: Any) -> set[str]:
    return set(re.findall(r'name="csrf_token" value="([^"]+)"', page.content()))


def test_a_signed_in_readers_round_shows_on_every_next_page(
    live_site: LiveSite, browser: Any
) -> None:
    settings = live_site.settings
    _reader(settings, "round-reader@example.org", "Rowan Roundtree")
    other_id = _reader(settings, "round-other@example.org", "Otto Elsewhere")
    engine = engine_for(settings.database_url)
    with comments.writing(engine) as session:  # another reader's comment to upvote
        channel_id = session.scalar(select(Channel.id).where(Channel.slug == "news"))
        assert channel_id is not None
        author = session.get(User, other_id)
        assert author is not None
        theirs = comments.post(
            session,
            settings.channels[0].comments,
            item_id=live_site.item_ids["valley-1"],
            channel_id=channel_id,
            author=author,
            body="The valley road was closed all morning.",
        ).comment.id
    dispose_all()

    context = browser.new_context(user_agent=HUMAN_UA, viewport={"width": 1300, "height": 800})
    page = context.new_page()
    sign_in(page, live_site.base, "round-reader@example.org", PASSWORD)

    # Save the item: the saved page and the front page's "Saved (1)" show it.
    page.goto(live_site.url(ITEM))
    title = page.locator("main h1").first.inner_text().strip()
    page.get_by_role("button", name="Save for later").click()
    page.wait_for_load_state()
    page.goto(live_site.url("/account/saved"))
    assert title in page.locator("main").inner_text()
    page.goto(live_site.url(FRONT))
    assert page.locator(".readerbar").get_by_role("link", name="Saved (1)").is_visible()

    # Switch a publication off, then on again; follow a hashtag.
    for checked in (False, True):
        page.goto(live_site.url("/news/preferences"))
        box = page.get_by_label("Valley Ledger")
        box.check() if checked else box.uncheck()
        page.get_by_role("button", name="Save my choices").click()
        page.wait_for_load_state()
        page.goto(live_site.url(FRONT))
        hrefs = page.eval_on_selector_all(
            'main a[href*="/topic/"]', "els => els.map(a => a.getAttribute('href'))"
        )
        assert bool([h for h in hrefs if "/topic/valley/" in h]) == checked, checked
    page.goto(live_site.url("/news/preferences"))
    page.get_by_label("#science").check()
    page.get_by_role("button", name="Save my choices").click()
    page.wait_for_load_state()
    page.goto(live_site.url(FRONT))
    assert "following #science" in page.locator(".readerbar").inner_text()

    # Upvote the other reader's comment, post one of their own: both on the next load.
    page.goto(live_site.url(ITEM))
    assert "1 comment" in page.locator("main").inner_text()
    mine_tokens = _tokens(page)
    assert len(mine_tokens) == 1
    their_li = page.locator(f"#c{theirs}")
    their_li.get_by_role("button", name="Upvote").click()
    page.wait_for_load_state()
    page.goto(live_site.url(ITEM))
    button = page.locator(f"#c{theirs}").get_by_role("button", name="Upvoted")
    assert button.is_disabled()
    assert "1 point" in page.locator(f"#c{theirs}").inner_text()
    page.locator("textarea#comment-body").fill("Closed again tonight, says the county.")
    page.get_by_role("button", name="Post comment").click()
    page.wait_for_load_state()
    page.goto(live_site.url(ITEM))
    mine = page.locator("li.comment.mine")
    assert mine.count() == 1
    assert "Closed again tonight" in mine.inner_text()
    assert mine.get_by_role("link", name="Edit").is_visible()
    assert "2 comments" in page.locator("main").inner_text()
    assert _tokens(page) == mine_tokens

    # Another reader on the same site: their own token, none of the first reader's parts.
    _reader(settings, "round-third@example.org", "Tess Third")
    dispose_all()
    other = browser.new_context(user_agent=HUMAN_UA)
    other_page = other.new_page()
    sign_in(other_page, live_site.base, "round-third@example.org", PASSWORD)
    for _ in range(3):  # either worker
        other_page.goto(live_site.url(ITEM))
        html = other_page.content()
        # The first reader's name only as their comment's author (not in this one's chrome).
        assert html.count("Rowan Roundtree") == 1
        assert "Tess Third" in html
        tokens = _tokens(other_page)
        assert len(tokens) == 1 and not tokens & mine_tokens
        assert other_page.locator("li.comment.mine").count() == 0
        assert other_page.locator(f"#c{theirs}").get_by_role("button", name="Upvote").is_enabled()
        assert "Closed again tonight" in other_page.locator("main").inner_text()
    other.close()
    context.close()
