"""A signed-in reader's front page in Chromium at 1300 px (issue 13): the reader switches a
publication off and follows a hashtag on the preferences page, then the front page shows
none of that publication's items, a "For you" band of the followed hashtag's stories, the
filter line with its "change" link and "Saved (N)"; axe-core finds nothing on it, light
and dark. Screenshot: test-output/reader-front-1300.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from newsline.community import accounts, preferences
from newsline.db.engine import dispose_all, session_scope
from tests.support.browser import AXE, HUMAN_UA, LiveSite, axe_violations, sign_in

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
EMAIL = "front-reader@example.org"


def test_signed_in_front_page_honours_the_readers_choices(
    live_site: LiveSite, browser: Any, output_dir: Path
) -> None:
    settings = live_site.settings
    with session_scope(settings.database_url) as session:
        user = accounts.create_user(session, EMAIL, PASSWORD, "Front Reader", verified=True)
        preferences.save_item(session, user.id, live_site.item_ids["valley-0"])
    dispose_all()
    # Reduced motion: no colour transition is under way when axe checks the dark scheme
    # right after switching to it (a half-faded pill failed contrast in a CI run).
    context = browser.new_context(
        user_agent=HUMAN_UA,
        viewport={"width": 1300, "height": 800},
        bypass_csp=True,
        reduced_motion="reduce",
    )
    page = context.new_page()
    sign_in(page, live_site.base, EMAIL, PASSWORD)
    # The choices made as a reader makes them: on the preferences page.
    page.goto(live_site.url("/news/preferences"))
    page.get_by_label("Harbor Gazette").uncheck()
    page.get_by_label("#science").check()
    page.get_by_role("button", name="Save my choices").click()
    page.wait_for_load_state()
    assert "Your choices are saved." in page.content()

    page.goto(live_site.url("/news/newsline"))
    links = page.eval_on_selector_all(
        'main a[href*="/topic/"]', "els => els.map(a => a.getAttribute('href'))"
    )
    assert links and not [href for href in links if "/topic/harbor/" in href]
    assert "Harbor Gazette" not in page.locator("main").inner_text()
    bar = page.locator(".readerbar")
    assert bar.is_visible()
    assert "1 publication hidden" in bar.inner_text()
    assert "following #science" in bar.inner_text()
    assert bar.get_by_role("link", name="Saved (1)").is_visible()
    band = page.locator("section.foryou")
    assert band.is_visible()
    assert band.locator(".card").count() >= 1
    assert page.locator('.tagbar a[href="/news/for-you"]').is_visible()
    page.screenshot(path=str(output_dir / "reader-front-1300.png"))
    if AXE.exists():
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            assert axe_violations(page) == [], scheme
    # "change" leads to the preferences; "For you" to the followed hashtag's stories.
    bar.get_by_role("link", name="change").click()
    page.wait_for_load_state()
    assert page.url.endswith("/news/preferences")
    page.goto(live_site.url("/news/for-you"))
    assert page.locator("main .card").count() >= 1
    page.screenshot(path=str(output_dir / "reader-for-you-1300.png"))
    context.close()
