"""The site in a real browser: sponsor bands, no sideways scrolling, dark mode, online count,
screenshots, and XSS payloads that must never run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import HUMAN_UA, LiveSite

pytestmark = pytest.mark.browser

WIDTHS = {375: 0, 550: 1, 700: 2, 1000: 3, 1300: 4, 1900: 5}
ITEM = "/news/topic/harbor/harbor-0"


@pytest.fixture
def context(browser: Any) -> Any:
    ctx = browser.new_context(user_agent=HUMAN_UA, color_scheme="light")
    yield ctx
    ctx.close()


@pytest.mark.parametrize("path", ["/news/newsline", ITEM, "/news/digest/subscribe"])
def test_one_sponsor_variant_per_width_and_no_sideways_scroll(
    live_site: LiveSite, context: Any, path: str
) -> None:
    page = context.new_page()
    for width, band in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live_site.url(path))
        variants = page.locator(".sponsor .sv")
        assert variants.count() == 6
        visible = [i for i in range(6) if variants.nth(i).is_visible()]
        assert visible == [band], f"width {width}: visible sponsor variants {visible}"
        href = variants.nth(band).locator("a").get_attribute("href") or ""
        assert "utm_content=" in href and href.startswith("https://kites.example.com/?ref=site&")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"width {width}: page scrolls sideways by {overflow}px"


def _background(page: Any) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def _is_darkish(rgb: str) -> bool:
    r, g, b = (int(v) for v in re.findall(r"\d+", rgb)[:3])
    return (r + g + b) / 3 < 80


def test_dark_mode_toggles_and_persists(live_site: LiveSite, context: Any) -> None:
    page = context.new_page()
    page.goto(live_site.url("/news/newsline"))
    assert not _is_darkish(_background(page))
    page.click('[data-toggle="theme"]')
    # (expect() polls from outside the page: a string predicate would need eval, which our
    # Content-Security-Policy rightly refuses)
    expect(page.locator("html")).to_have_class(re.compile(r"\btheme-dark\b"))
    assert _is_darkish(_background(page))
    page.reload()
    assert "theme-dark" in (page.get_attribute("html", "class") or "")
    assert _is_darkish(_background(page))
    # and back to light, also persisted
    page.click('[data-toggle="theme"]')
    page.reload()
    assert not _is_darkish(_background(page))
    # dense layout: teasers hidden, persisted by cookie
    page.click('[data-toggle="dense"]')
    page.reload()
    assert "dense" in (page.get_attribute("html", "class") or "")
    assert not page.locator(".card .teaser").first.is_visible()


def test_dark_mode_follows_the_system_setting(live_site: LiveSite, browser: Any) -> None:
    ctx = browser.new_context(user_agent=HUMAN_UA, color_scheme="dark")
    try:
        page = ctx.new_page()
        page.goto(live_site.url("/news/newsline"))
        assert _is_darkish(_background(page))
        page.click('[data-toggle="theme"]')  # from system dark to explicit light
        page.reload()
        assert not _is_darkish(_background(page))
    finally:
        ctx.close()


def test_online_count_goes_from_zero_to_one(live_site: LiveSite, browser: Any) -> None:
    # channel "town" is used by this test only, so nobody else is online there
    human = {"user-agent": HUMAN_UA}
    before = httpx.get(live_site.url("/town/newsline"), headers=human).text
    assert re.search(r'id="online"[^>]*>0<', before)
    bot_ctx = browser.new_context()  # HeadlessChrome's own agent: a bot
    ctx = browser.new_context(user_agent=HUMAN_UA)
    try:
        bot = bot_ctx.new_page()
        bot.goto(live_site.url("/town/newsline"))
        bot.wait_for_timeout(500)
        assert bot.text_content("#online") == "0"
        page = ctx.new_page()
        page.goto(live_site.url("/town/newsline"))
        expect(page.locator("#online")).to_have_text("1", timeout=20_000)
        # the server (either of the two workers) now renders 1 for humans, 0 for bots,
        # once the pages rendered before the heartbeat have left the 1 s render cache
        page.wait_for_timeout(1200)
        after = httpx.get(live_site.url("/town/newsline"), headers=human).text
        assert re.search(r'id="online"[^>]*>1<', after)
        crawler = httpx.get(
            live_site.url("/town/newsline"), headers={"user-agent": "Googlebot/2.1"}
        )
        assert re.search(r'id="online"[^>]*>0<', crawler.text)
    finally:
        ctx.close()
        bot_ctx.close()


@pytest.mark.parametrize("width", [375, 1300])
@pytest.mark.parametrize(
    "name,path",
    [("front", "/news/newsline"), ("item", ITEM), ("subscribe", "/news/digest/subscribe")],
)
def test_screenshots(
    live_site: LiveSite, context: Any, output_dir: Path, width: int, name: str, path: str
) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(live_site.url(path), wait_until="networkidle")
    page.screenshot(path=str(output_dir / f"{name}-{width}-top.png"))
    # bring the lazy images in before the full-page picture
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, 0)")
    shot = output_dir / f"{name}-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # every image that should be there loaded
    broken = page.evaluate(
        "[...document.images].filter(i => i.loading !== 'lazy' && !(i.complete && i.naturalWidth)).map(i => i.src)"
    )
    assert broken == []
    assert errors == []


XSS_PAGES = [
    "/news/topic/harbor/xss",
    "/news/newsline",
    "/news/solo/harbor",
    "/news/search?q=council+vote",
    "/news/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
    "/news/tag/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
]


@pytest.mark.parametrize("path", XSS_PAGES)
def test_xss_payloads_never_run(live_site: LiveSite, context: Any, path: str) -> None:
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_site.url(path), wait_until="networkidle")
    page.mouse.move(200, 400)
    for link in page.locator("a:visible").all()[:5]:
        link.hover()
    page.wait_for_timeout(300)
    assert dialogs == []
    # broken image URLs from the payloads may 404; nothing else may complain
    assert [e for e in errors if "Failed to load resource" not in e] == []
    # Code only from our static files; JSON-LD blocks are data (never run), and must parse.
    scripts = page.evaluate(
        "[...document.scripts].filter(s => s.type !== 'application/ld+json').map(s => s.src)"
    )
    assert all(src.startswith(live_site.base + "/static/") for src in scripts)
    for data in page.evaluate(
        "[...document.querySelectorAll('script[type=\"application/ld+json\"]')]"
        ".map(s => JSON.parse(s.textContent)['@type'])"
    ):
        assert data == "NewsArticle"
    handlers = page.evaluate(
        "[...document.querySelectorAll('*')].flatMap(el => [...el.attributes]"
        ".filter(a => a.name.startsWith('on') || a.name === 'style'"
        " || /^\\s*javascript:/i.test(a.value)).map(a => el.tagName + ' ' + a.name))"
    )
    assert handlers == []
    assert page.locator("iframe, object, embed").count() == 0
