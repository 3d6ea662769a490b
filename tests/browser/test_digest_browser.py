"""The digest item page in Debian's chromium: sections in channel order, source links, thumbnails."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from newsline import urls
from newsline.config import Settings
from newsline.publish.digest import run_digest
from tests.support.browser import HUMAN_UA, QuietHandler, write_images
from tests.support.digest_seed import Seeder
from tests.support.site import serve

pytestmark = pytest.mark.browser

SLOT = datetime(2025, 1, 6, 15, 30, tzinfo=UTC)  # 9:30 AM CST


@pytest.fixture
def images(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "img"
    write_images(folder, 6)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
    # Plain http on purpose: a digest's thumbnails keep their URLs as the cards show them
    # (the scraped-body sanitizer's https upgrade does not apply to the digest's own body).
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def digest_site(make_settings: Callable[..., Settings], images: str) -> Iterator[str]:
    settings = make_settings()
    seed = Seeder(settings)
    seed.publication("harbor", "Harbor Gazette")
    seed.publication("valley", "Valley Courier")
    story = seed.story(2)
    ids = [
        seed.item(
            "harbor",
            SLOT - timedelta(minutes=25),
            story_id=story,
            hashtag="economy",
            title="Port tolls fall for small boats",
        ),
        seed.item(
            "valley",
            SLOT - timedelta(minutes=15),
            story_id=story,
            hashtag="economy",
            title="Small boats pay lower port tolls from March",
            body_words=200,
        ),
        seed.item(
            "valley",
            SLOT - timedelta(minutes=10),
            hashtag="politics",
            title="Council delays vote on the ring road",
        ),
        seed.item(
            "harbor",
            SLOT - timedelta(minutes=5),
            hashtag="sports",
            title="Rowing club wins the winter regatta",
        ),
    ]
    from newsline.db.engine import session_scope
    from newsline.db.models import Item

    with session_scope(settings.database_url) as s:
        for n, item_id in enumerate(ids):
            item = s.get(Item, item_id)
            assert item is not None
            item.image_url = f"{images}/{n}.svg"
    result = run_digest(settings, "news", at=SLOT)
    assert result.status == "published"
    with serve(settings) as base:
        yield f"{base}/news/topic/news/{result.slug}"


def test_digest_page_in_chromium(browser: Any, digest_site: str, output_dir: Path) -> None:
    context = browser.new_context(
        user_agent=HUMAN_UA,
        viewport={"width": 1000, "height": 900},
    )
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        response = page.goto(digest_site)
        assert response is not None and response.status == 200
        assert page.locator("h1").inner_text().strip() == "The Digest, 1/6/2025 @930AM, CST"

        sections = page.locator("h2").all_inner_texts()
        tags = [t.strip() for t in sections if t.strip().startswith("#")]
        assert tags == ["#politics", "#economy", "#sports", "#sponsor"]  # the channel's order

        entries = page.locator("h3 a")
        assert entries.all_inner_texts() == [
            "Valley Courier: Council delays vote on the ring road",
            "Valley Courier: Small boats pay lower port tolls from March",
            "Harbor Gazette: Rowing club wins the winter regatta",
        ]
        hrefs = [entries.nth(i).get_attribute("href") or "" for i in range(entries.count())]
        assert all(
            h.startswith(("https://valley.example/", "https://harbor.example/")) for h in hrefs
        )
        also = page.get_by_role("link", name="Harbor Gazette", exact=True)
        assert also.count() == 1 and (also.get_attribute("href") or "").startswith(
            "https://harbor.example/"
        )

        # Every entry's thumbnail is there and actually loads (scrolled to: they may be lazy).
        thumbs = page.locator(".body img")
        assert thumbs.count() == 3
        for i in range(thumbs.count()):
            thumbs.nth(i).scroll_into_view_if_needed()
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0",
                arg=thumbs.nth(i).element_handle(),
                timeout=10_000,
            )
        # Named through our image proxy (never hotlinked), each its entry's picture.
        proxied = thumbs.evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))")
        assert all(src.startswith("/img/") for src in proxied)
        sources = [urls.image_source(src.rsplit("/", 1)[1]) or "" for src in proxied]
        assert sorted(src.rsplit("/", 1)[1] for src in sources) == ["1.svg", "2.svg", "3.svg"]
        assert all(src.startswith("http://127.0.0.1:") for src in sources)
        page.screenshot(path=str(output_dir / "digest-1000.png"), full_page=True)
        assert page.locator(".hero").count() == 0  # the first thumbnail is not repeated as hero
        assert errors == []
    finally:
        context.close()


def _box(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None
    return dict(box)


@pytest.mark.parametrize("width", [375, 1300])
@pytest.mark.parametrize("mode", ["light", "dark", "dense"])
def test_digest_page_layout(
    browser: Any, digest_site: str, output_dir: Path, width: int, mode: str
) -> None:
    context = browser.new_context(
        user_agent=HUMAN_UA,
        viewport={"width": width, "height": 900},
        color_scheme="dark" if mode == "dark" else "light",
    )
    if mode == "dense":
        context.add_cookies([{"name": "nl_dense", "value": "1", "url": digest_site}])
    try:
        page = context.new_page()
        page.goto(digest_site)
        body = page.locator(".digest-body")
        assert body.count() == 1
        # Sections follow the channel's hashtag order, top to bottom, each with its heading.
        headings = body.locator("section > h2")
        assert headings.all_inner_texts() == ["#politics", "#economy", "#sports", "#sponsor"]
        tops = [_box(headings.nth(i))["y"] for i in range(headings.count())]
        assert tops == sorted(tops) and len(set(tops)) == len(tops)
        # The overview leads, above the first section.
        overview = page.locator(".summary")
        assert overview.locator("h2").inner_text().strip().lower() == "overview"
        assert _box(overview)["y"] < tops[0]
        thumbs = body.locator("article > img")
        assert thumbs.count() == 3
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        for i in range(thumbs.count()):
            thumbs.nth(i).scroll_into_view_if_needed()
            expect(thumbs.nth(i)).to_have_js_property("complete", True)
        page.evaluate("window.scrollTo(0, 0)")
        column = _box(body)
        for i in range(thumbs.count()):
            entry = thumbs.nth(i).locator("xpath=..")
            thumb = _box(thumbs.nth(i))
            title = _box(entry.locator("h3"))
            # The summary's first line of text (a float shortens line boxes, not the <p>).
            line = entry.locator("p").first.evaluate(
                "p => { const r = document.createRange(); r.selectNodeContents(p);"
                " const b = r.getClientRects()[0]; return {x: b.x, y: b.y, right: b.right}; }"
            )
            # A small picture, not a full-width one: at most ~160 px, under a third of the text
            assert thumb["width"] <= 160, (mode, width, thumb)
            assert thumb["width"] <= column["width"] / 3
            # beside the summary (to the right of its text, level with it), under the title.
            assert thumb["x"] >= line["right"] - 1, (thumb, line)
            assert line["y"] < thumb["y"] + thumb["height"]
            assert thumb["y"] >= title["y"] + title["height"] - 1
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        page.screenshot(path=str(output_dir / f"digest-{width}-{mode}.png"), full_page=True)
    finally:
        context.close()
