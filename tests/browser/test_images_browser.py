"""Publishers' images in a real browser: through our proxy, sized, and never a box of alt text
when the publisher refuses them (hotlink protection) or the browser cannot reach them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from newsline.db.engine import session_scope
from newsline.db.models import Item
from tests.support.browser import HUMAN_UA
from tests.support.images import ImageHost, image_host, photo
from tests.support.site import serve
from tests.support.webdata import seed

pytestmark = pytest.mark.browser

#: What an <img> looks like to the reader: loaded (a picture), or broken (alt text / icon).
IMAGES = """() => [...document.images].map(i => ({
    src: i.currentSrc || i.src, alt: i.alt, loaded: i.complete && i.naturalWidth > 0,
    visible: !!(i.offsetWidth || i.offsetHeight), width: i.getAttribute('width'),
    height: i.getAttribute('height'), thumb: !!i.closest('.thumb'), hero: !!i.closest('.hero'), avatar: i.classList.contains('avatar'),
}))"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ImageHost]]:
    from newsline.config import load_settings
    from newsline.db.migrate import upgrade

    root = tmp_path_factory.mktemp("images-site")
    with image_host() as host:
        settings = load_settings(
            None,
            database_url=f"sqlite:///{root / 'site.db'}",
            data_dir=str(root),
            # The publishers' host is on loopback here; a real one is on the internet.
            fetch={"allow_private": True},
            web={"page_size": 12, "render_cache_seconds": 0},
        )
        upgrade(settings.database_url)
        seed(settings, items_per_pub=6)
        with session_scope(settings.database_url) as session:
            for n, item in enumerate(session.query(Item).order_by(Item.id)):
                if n % 3 == 0:  # served
                    item.image_url = host.add(f"/ok/{n}.jpg", photo(900, 600))
                elif n % 3 == 1:  # hotlink protection: a 403 page
                    item.image_url = host.add(
                        f"/blocked/{n}.jpg", b"<h1>Hotlinking forbidden</h1>", "text/html", 403
                    )
                else:  # a host that does not answer at all
                    item.image_url = f"https://images.invalid/{n}.jpg"
            session.query(Item).filter_by(slug="harbor-old").one().image_url = host.base_url + (
                "/blocked/hero.jpg"
            )
        with serve(settings) as base:
            yield base, host


@pytest.mark.parametrize("width", [375, 1300])
@pytest.mark.parametrize(
    "path", ["/news/newsline", "/news/solo/harbor", "/news/topic/harbor/harbor-old"]
)
def test_no_alt_text_boxes_with_publisher_images_blocked(
    browser: Any, site: tuple[str, ImageHost], width: int, path: str
) -> None:
    base, host = site
    ctx = browser.new_context(user_agent=HUMAN_UA, viewport={"width": width, "height": 900})
    try:
        page = ctx.new_page()
        foreign: list[str] = []

        def only_our_origin(route: Any) -> None:
            # The browser itself never reaches a publisher: anything not ours is blocked.
            if urlsplit(route.request.url).netloc == urlsplit(base).netloc:
                route.continue_()
            else:
                foreign.append(route.request.url)
                route.abort()

        page.route("**/*", only_our_origin)
        page.goto(base + path, wait_until="networkidle")
        # Lazy images load as they near the viewport: load every one now, as scrolling would.
        page.evaluate(
            "document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')"
        )
        page.wait_for_load_state("networkidle")
        for _ in range(100):  # (wait_for_function evaluates a string: our CSP refuses that)
            if page.evaluate("() => [...document.images].every(i => i.complete)"):
                break
            page.wait_for_timeout(100)
        images = page.evaluate(IMAGES)
        shown = [i for i in images if i["thumb"] or i["hero"] or i["avatar"]]
        assert shown, "the page shows publishers' images"
        for image in shown:
            assert urlsplit(image["src"]).path.startswith("/img/"), image
            assert image["width"] and image["height"], image
            if image["visible"]:
                # A picture or a neutral placeholder, never a broken image showing its alt.
                assert image["loaded"], image
            assert image["alt"] == ("" if image["thumb"] or image["avatar"] else image["alt"])
        assert not [i for i in images if i["visible"] and not i["loaded"]]
        assert [f for f in foreign if "/img/" in f] == []
        # Card thumbnails are decorative; the hero keeps the original's alt text.
        for image in shown:
            if image["hero"]:
                assert image["alt"].startswith("NextImg:")
    finally:
        ctx.close()
    # Some came from the publisher, some could not: both kinds were on the pages.
    assert any(path.startswith("/ok/") for path in host.hits)
