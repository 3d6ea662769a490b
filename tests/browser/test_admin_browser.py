"""The console in a real browser (Debian chromium): an editor signs in at the sign-in page,
is sent on to /admin, and works each section — items (unpublish in bulk, the page then
410; edit, pin), digests (preview, publish), publications (pause), channels (the sponsor's
live preview at each band width, a setting that wins over the file), people and the audit
log — with screenshots at 1300 px in test-output/; every section usable at 375 px (no
sideways scrolling); the sponsor's impressions and clicks counted per width band."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from newsline.community import accounts
from newsline.community.audit import entries
from newsline.config import load_settings
from newsline.db.engine import dispose_all, session_scope
from newsline.db.migrate import upgrade
from newsline.db.models import Item, SponsorStat
from tests.support.browser import HUMAN_UA
from tests.support.site import serve
from tests.support.webdata import seed

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
SECTIONS = [
    "/admin",
    "/admin/items",
    "/admin/digests",
    "/admin/publications",
    "/admin/channels",
    "/admin/people",
    "/admin/audit",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app on loopback with its own seeded database and an editor."""
    root = tmp_path_factory.mktemp("console")
    db = root / "console.db"
    config = root / "newsline.toml"
    config.write_text(
        f'database_url = "sqlite:///{db}"\n[web]\nrender_cache_seconds = 0\n'
        '[[channels]]\nslug = "news"\ndisplay_name = "The Harbor Daily"\nhometown = "Remer,MN"\n'
        '[channels.sponsor]\nname = "Acme Kites"\nurl = "https://kites.example.com/"\n'
        'variants = ["ACME", "ACME KITES", "Acme Kites: fly higher.", '
        '"Acme Kites: fly higher. Hand-made.", "Acme Kites: fly higher. Hand-made kites.", '
        '"Acme Kites: fly higher. Hand-made kites, line and reels since 1971."]\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    upgrade(settings.database_url)
    seeded = seed(settings, items_per_pub=6)
    with session_scope(settings.database_url) as session:
        accounts.create_user(
            session, "ed@example.org", PASSWORD, "Edna Park", role="editor", verified=True
        )
        accounts.create_user(
            session, "rita@example.org", PASSWORD, "Rita Reader", role="reader", verified=True
        )
    dispose_all()
    with serve(settings) as base:
        yield {"base": base, "settings": settings, "items": seeded.items}


@pytest.fixture
def editor(browser: Any, site: dict[str, Any]) -> Iterator[Any]:
    """A page signed in as the editor through the sign-in form, landed on /admin."""
    context = browser.new_context(user_agent=HUMAN_UA, viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.goto(site["base"] + "/admin")
    assert "/account/sign-in" in page.url  # anonymous: sent to sign in first
    page.fill("input[name=email]", "ed@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.locator(
        "form:has(input[name=password]) button[type=submit], form:has(input[name=password]) button"
    ).first.click()
    page.wait_for_url("**/admin")
    expect(page.locator("h1")).to_have_text("The desk")
    yield page
    context.close()


def shot(page: Any, output_dir: Path, name: str) -> None:
    page.screenshot(path=str(output_dir / f"admin-{name}-1300.png"), full_page=True)


def test_items_unpublish_in_bulk_then_the_page_is_gone(
    editor: Any, site: dict[str, Any], output_dir: Path
) -> None:
    base = site["base"]
    page = editor
    page.click("nav.adminnav >> text=Items")
    page.select_option("select[name=publication]", "harbor")
    page.click("form.filters button[type=submit]")
    ids = [site["items"]["harbor-4"], site["items"]["harbor-5"]]
    for item_id in ids:
        page.check(f"input[name=ids][value='{item_id}']")
    page.select_option("select[name=action]", "unpublish")
    page.fill(".bulkbar input[name=reason]", "duplicate wire copy")
    shot(page, output_dir, "items")
    page.click(".bulkbar button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("unpublish: 2 items")
    expect(page.locator(f"#item-{ids[0]} .state")).to_have_text("unpublished")
    answer = page.goto(base + "/news/topic/harbor/harbor-4")
    assert answer is not None and answer.status == 410
    expect(page.locator("h1")).to_contain_text("withdrawn")
    page.screenshot(path=str(output_dir / "admin-unpublished-410-1300.png"))
    page.goto(base + "/news/newsline")
    assert page.locator("a[href$='/topic/harbor/harbor-4']").count() == 0
    with session_scope(site["settings"].database_url) as session:
        log = entries(session, action="item.unpublish")
        assert {e.target_id for e in log} == {str(i) for i in ids}
        assert {e.actor for e in log} == {"ed@example.org"}


def test_item_edit_and_pin(editor: Any, site: dict[str, Any], output_dir: Path) -> None:
    item_id = site["items"]["valley-2"]
    page = editor
    page.goto(site["base"] + f"/admin/items/{item_id}")
    page.fill("input[name=title]", "Valley Ledger: the ferry runs again")
    page.click("form:has(input[name=title]) button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("originals are kept")
    expect(page.locator(".source-cfg")).to_contain_text("Original title")
    page.fill("form:has(button[value=pin]) input[name=hours]", "2")
    page.click("button[value=pin]")
    expect(page.locator(".notice")).to_contain_text("Pin")
    shot(page, output_dir, "item")
    page.goto(site["base"] + "/news/topic/valley/valley-2")
    expect(page.locator("h1")).to_contain_text("the ferry runs again")
    with session_scope(site["settings"].database_url) as session:
        item = session.get(Item, item_id)
        assert item is not None and item.pinned_until is not None


def test_digest_preview_and_publish(editor: Any, site: dict[str, Any], output_dir: Path) -> None:
    page = editor
    page.click("nav.adminnav >> text=Digests")
    expect(page.locator("h2").first).to_contain_text("as it would publish now")
    expect(page.locator(".digest-body")).to_be_visible()
    shot(page, output_dir, "digests")
    page.click("button[value=publish]")
    expect(page.locator(".notice")).to_contain_text("Published")
    expect(page.locator("table.stack tbody tr").first).to_contain_text("The Digest")


def test_publications_pause(editor: Any, site: dict[str, Any], output_dir: Path) -> None:
    page = editor
    page.click("nav.adminnav >> text=Publications")
    row = page.locator("#pub-valley")
    expect(row).to_contain_text("HTTP 503")
    row.locator("button[value=pause]").click()
    expect(page.locator(".notice")).to_contain_text("Paused valley")
    expect(page.locator("#pub-valley .state")).to_have_text("paused")
    shot(page, output_dir, "publications")
    page.locator("#pub-valley button[value=resume]").click()
    expect(page.locator(".notice")).to_contain_text("Resumed valley")


def test_channel_sponsor_live_preview_and_a_setting_that_wins(
    editor: Any, site: dict[str, Any], output_dir: Path
) -> None:
    page = editor
    page.click("nav.adminnav >> text=Channels")
    page.fill("input[name=variant2]", "Acme Kites: now with tails")
    expect(page.locator("[data-preview='2']")).to_have_text("Sponsor: Acme Kites: now with tails")
    widths = [page.locator(f".bp-{n}").bounding_box()["width"] for n in range(6)]  # type: ignore[index]
    assert widths == [375, 500, 600, 900, 1200, 1800]
    page.click("#sponsor-form button[value=save]")
    expect(page.locator(".notice")).to_contain_text("Sponsor saved")
    row = page.locator("#setting-hometown")
    row.locator("input[name=value]").fill("Lighthouse Point")
    row.locator("button[value=save]").click()
    expect(page.locator("#setting-hometown")).to_contain_text("database")
    shot(page, output_dir, "channels")
    page.set_viewport_size({"width": 700, "height": 900})
    page.goto(site["base"] + "/news/newsline")
    expect(page.locator(".dateline")).to_contain_text("Lighthouse Point")
    expect(page.locator(".sponsor .band-2")).to_contain_text("now with tails")


def test_people_and_audit(editor: Any, site: dict[str, Any], output_dir: Path) -> None:
    page = editor
    page.click("nav.adminnav >> text=People")
    expect(page.locator("body")).to_contain_text("rita@example.org")
    shot(page, output_dir, "people")
    page.click("nav.adminnav >> text=Audit log")
    page.fill("input[name=action]", "item.")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.audit")).to_contain_text("item.")
    shot(page, output_dir, "audit")


def test_every_section_is_usable_at_375_px(
    editor: Any, site: dict[str, Any], output_dir: Path
) -> None:
    page = editor
    page.set_viewport_size({"width": 375, "height": 800})
    for path in SECTIONS:
        page.goto(site["base"] + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path}: scrolls sideways by {overflow}px at 375 px"
        nav = page.locator("nav.adminnav a").first.bounding_box()
        assert nav is not None and nav["height"] >= 40  # thumb-sized
    page.goto(site["base"] + "/admin/items")
    page.screenshot(path=str(output_dir / "admin-items-375.png"), full_page=True)


def test_a_reader_is_refused_the_console(browser: Any, site: dict[str, Any]) -> None:
    context = browser.new_context(user_agent=HUMAN_UA)
    answer = context.request.post(
        site["base"] + "/api/v1/session", data={"email": "rita@example.org", "password": PASSWORD}
    )
    assert answer.status == 200
    page = context.new_page()
    response = page.goto(site["base"] + "/admin")
    assert response is not None and response.status == 403
    context.close()


def sponsor_counts(site: dict[str, Any]) -> dict[str, tuple[int, int]]:
    with session_scope(site["settings"].database_url) as session:
        return {s.band: (s.impressions, s.clicks) for s in session.scalars(select(SponsorStat))}


def test_sponsor_counts_the_band_seen_and_the_click(browser: Any, site: dict[str, Any]) -> None:
    before = sponsor_counts(site)
    context = browser.new_context(user_agent=HUMAN_UA, viewport={"width": 375, "height": 800})
    context.route("https://kites.example.com/**", lambda route: route.fulfill(body="kites"))
    page = context.new_page()
    with page.expect_request("**/_sponsor/news/lt500/seen.gif"):
        page.goto(site["base"] + "/news/newsline")
    with (
        page.expect_request(
            lambda r: r.url.endswith("/_sponsor/news/lt500") and r.method == "POST"
        ),
        context.expect_page(),
    ):
        page.locator(".sponsor .band-0 a").click()
    context.close()
    # The browser does not wait for the ping's answer: wait until the click is stored.
    deadline = time.monotonic() + 15
    after = sponsor_counts(site)
    while after.get("lt500", (0, 0))[1] == before.get("lt500", (0, 0))[1]:
        assert time.monotonic() < deadline, "the click was never counted"
        time.sleep(0.05)
        after = sponsor_counts(site)
    seen, clicked = after["lt500"]
    was_seen, was_clicked = before.get("lt500", (0, 0))
    assert seen == was_seen + 1 and clicked == was_clicked + 1
    # The five bands hidden at 375 px never loaded their image.
    assert {b: v for b, v in after.items() if b != "lt500"} == {
        b: v for b, v in before.items() if b != "lt500"
    }
