"""The console in a real browser (Debian chromium): an editor signs in at the sign-in page,
is sent on to /admin, and works each section — items (unpublish in bulk, the page then
410; edit, pin), digests (preview, publish), publications (pause), channels (the sponsor's
live preview at each band width, a setting that wins over the file), people and the audit
log — with screenshots at 1300 px in test-output/; adding a publication from what its
address offers (a publisher on loopback), resending a past Digest by e-mail (a loopback
SMTP server), changing a role and banning from People; every section usable at 375 px (no
sideways scrolling); the sponsor's impressions and clicks counted per width band."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from newsline.community import accounts, subscribers
from newsline.community.audit import entries
from newsline.config import load_settings
from newsline.db.engine import dispose_all, session_scope
from newsline.db.migrate import upgrade
from newsline.db.models import Channel, Item, Publication, SponsorStat
from newsline.publish.digest import run_digest
from tests.support.browser import HUMAN_UA, sign_in_by_api, submit_sign_in
from tests.support.mail import Inbox, body, smtp_server
from tests.support.publisher import paper_publisher
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
def paper() -> Iterator[int]:
    """paper.example on loopback (tests/support/publisher.py)."""
    with paper_publisher() as port:
        yield port


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    with smtp_server() as found:
        yield found


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, paper: int, inbox: Inbox
) -> Iterator[dict[str, Any]]:
    """The app on loopback with its own seeded database, an editor, a subscriber, e-mail to
    a loopback SMTP server and paper.example on a loopback port."""
    root = tmp_path_factory.mktemp("console")
    db = root / "console.db"
    config = root / "newsline.toml"
    config.write_text(
        f'database_url = "sqlite:///{db}"\n[web]\nrender_cache_seconds = 0\n'
        f'[fetch]\nconnect_to = ["*:80:127.0.0.1:{paper}"]\nmin_host_delay = 0.0\n'
        f'[email]\nenabled = true\nhost = "127.0.0.1"\nport = {inbox.port}\n'
        'security = "none"\nfrom_address = "digest@news.example"\n'
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
        accounts.create_user(
            session, "sam@example.org", PASSWORD, "Sam Sender", role="reader", verified=True
        )
        channel_id = session.scalar(select(Channel.id).where(Channel.slug == "news"))
        assert channel_id is not None
        sub, _ = subscribers.subscribe(session, channel_id, "follower@example.org")
        assert subscribers.confirm(session, sub.token) is not None
    dispose_all()
    with serve(settings) as base:
        yield {"base": base, "settings": settings, "items": seeded.items}


@pytest.fixture(scope="module")
def editor_state(browser: Any, site: dict[str, Any]) -> dict[str, Any]:
    """The editor's browser state (cookies, storage) once signed in through the sign-in
    form; the tests start from it rather than signing in again each time."""
    context = browser.new_context(user_agent=HUMAN_UA, viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.goto(site["base"] + "/admin")
    assert "/account/sign-in" in page.url  # anonymous: sent to sign in first
    submit_sign_in(page, "ed@example.org", PASSWORD)
    page.wait_for_url("**/admin")
    expect(page.locator("h1")).to_have_text("The desk")
    state: dict[str, Any] = context.storage_state()
    context.close()
    return state


@pytest.fixture
def editor(browser: Any, site: dict[str, Any], editor_state: dict[str, Any]) -> Iterator[Any]:
    """A page of a new context signed in as the editor, landed on /admin."""
    context = browser.new_context(
        user_agent=HUMAN_UA, viewport={"width": 1300, "height": 900}, storage_state=editor_state
    )
    page = context.new_page()
    page.goto(site["base"] + "/admin")
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


def test_publication_added_by_address_from_the_feeds_found(
    editor: Any, site: dict[str, Any], output_dir: Path
) -> None:
    page = editor
    page.click("nav.adminnav >> text=Publications")
    page.fill("input[name=url]", "http://paper.example/")
    page.click("button[value=discover]")
    found = page.locator("form.found")
    expect(found.locator("legend")).to_contain_text("Found at http://paper.example/")
    working = found.locator("label.choice", has_text="http://paper.example/rss")
    expect(working).to_contain_text("2 entries now")
    expect(working.locator("input[type=radio]")).to_be_checked()
    broken = found.locator("label.choice", has_text="http://paper.example/gone.xml")
    expect(broken).to_contain_text("does not work")
    expect(broken.locator("input[type=radio]")).to_be_disabled()
    found.locator("input[name=tag]").fill("paper")
    found.locator("select[name=republish]").select_option("full")
    shot(page, output_dir, "publication-found")
    found.locator("button[value=add]").click()
    expect(page.locator(".notice")).to_contain_text("Added")
    expect(page.locator("#pub-paper")).to_contain_text("http://paper.example/rss")
    with session_scope(site["settings"].database_url) as session:
        added = session.scalar(select(Publication).where(Publication.tag == "paper"))
        assert added is not None and added.republish == "full"
        assert [f.url for f in added.feeds] == ["http://paper.example/rss"]
        assert [e.actor for e in entries(session, action="publication.add")] == ["ed@example.org"]


def test_digest_resent_by_email(
    editor: Any, site: dict[str, Any], inbox: Inbox, output_dir: Path
) -> None:
    settings = site["settings"]
    run_digest(settings, "news")  # a past Digest (or the one already published this slot)
    before = len(inbox.to("follower@example.org"))
    page = editor
    page.click("nav.adminnav >> text=Digests")
    past = page.locator("table.stack tbody tr").first
    title = past.locator("td a").first.inner_text()
    past.locator("button[value=resend]").click()
    expect(page.locator(".notice")).to_contain_text("Sent to 1 subscribers")
    shot(page, output_dir, "digest-resent")
    mails = inbox.to("follower@example.org")
    assert len(mails) == before + 1
    assert mails[-1]["Subject"] == title and "#" in body(mails[-1], "plain")
    with session_scope(settings.database_url) as session:
        assert [e.actor for e in entries(session, action="digest.resend")][-1] == "ed@example.org"


def test_people_role_change_and_ban(editor: Any, site: dict[str, Any], output_dir: Path) -> None:
    page = editor
    page.click("nav.adminnav >> text=People")
    with session_scope(site["settings"].database_url) as session:
        sam = accounts.user_by_email(session, "sam@example.org")
        assert sam is not None
        sam_id = sam.id
    row = page.locator(f"#user-{sam_id}")
    row.locator("select[name=role]").select_option("moderator")
    row.locator("button[value=role]").click()
    expect(page.locator(".notice")).to_contain_text("sam@example.org is now moderator")
    expect(page.locator(f"#user-{sam_id} td").nth(1)).to_contain_text("moderator")
    row = page.locator(f"#user-{sam_id}")
    row.locator("input[name=hours]").fill("24")
    row.locator("input[name=reason]").fill("spam links in comments")
    row.locator("button[value=ban]").click()
    expect(page.locator(".notice")).to_contain_text("sam@example.org is banned for 24 h")
    expect(page.locator("body")).to_contain_text("spam links in comments")
    shot(page, output_dir, "people-role-ban")
    with session_scope(site["settings"].database_url) as session:
        user = accounts.user_by_id(session, sam_id)
        assert user is not None and user.role == "moderator"
        bans = [b for b in accounts.active_bans(session) if b.user_id == sam_id]
        assert len(bans) == 1 and bans[0].reason == "spam links in comments"


def test_channel_sponsor_live_preview_and_a_setting_that_wins(
    editor: Any, site: dict[str, Any], output_dir: Path
) -> None:
    page = editor
    page.click("nav.adminnav >> text=Channels")
    page.wait_for_load_state()  # admin.js (deferred) listens before we type
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
    # An item action of this test's own: the audit log must not depend on other tests
    # having run first in this process.
    page.goto(site["base"] + f"/admin/items/{site['items']['valley-2']}")
    page.fill("form:has(button[value=pin]) input[name=hours]", "1")
    page.click("button[value=pin]")
    expect(page.locator(".notice")).to_contain_text("Pin")
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
    sign_in_by_api(context, site["base"], "rita@example.org", PASSWORD)
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
    # The browser does not wait for the ping's answer: wait until the click is stored, the
    # context still open (closing it can abort the ping before it reaches the server).
    deadline = time.monotonic() + 15
    after = sponsor_counts(site)
    while after.get("lt500", (0, 0))[1] == before.get("lt500", (0, 0))[1]:
        assert time.monotonic() < deadline, "the click was never counted"
        time.sleep(0.05)
        after = sponsor_counts(site)
    context.close()
    seen, clicked = after["lt500"]
    was_seen, was_clicked = before.get("lt500", (0, 0))
    assert seen == was_seen + 1 and clicked == was_clicked + 1
    # The five bands hidden at 375 px never loaded their image.
    assert {b: v for b, v in after.items() if b != "lt500"} == {
        b: v for b, v in before.items() if b != "lt500"
    }
