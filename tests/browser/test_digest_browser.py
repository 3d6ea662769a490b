"""The digest item page in Debian's chromium: sections in channel order, source links, thumbnails."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from newsline.config import Settings
from newsline.publish.digest import run_digest
from tests.browser.conftest import HUMAN_UA, _QuietHandler, write_images
from tests.integration.digest_seed import Seeder, serve

pytestmark = pytest.mark.browser

SLOT = datetime(2025, 1, 6, 15, 30, tzinfo=UTC)  # 9:30 AM CST


@pytest.fixture
def images(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "img"
    write_images(folder, 6)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    # HTTPS: the site's body sanitizer upgrades http:// image URLs to https://.
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
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
        ignore_https_errors=True,  # the image server's certificate is from a throwaway CA
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
        sources = thumbs.evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))")
        assert sorted(src.rsplit("/", 1)[1] for src in sources) == ["1.svg", "2.svg", "3.svg"]
        page.screenshot(path=str(output_dir / "digest-1000.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
