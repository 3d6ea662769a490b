"""The Digest's reader-facing pages in the site's chrome: subscribe / confirm / unsubscribe,
the digest listing (the channel's own publication) and the links that lead to them.

Real app on a real SQLite file (TestClient); the subscribe POSTs go to a real SMTP server
on loopback (aiosmtpd).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from selectolax.lexbor import LexborHTMLParser

from newsline.config import Settings
from newsline.publish.digest import run_digest
from newsline.web.app import create_app
from tests.support.digest_seed import Seeder
from tests.support.forms import csrf_of
from tests.support.mail import Inbox

HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
SLOT = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)
SPONSOR = [
    "KITES",
    "ACME KITES",
    "Acme: kites",
    "Acme: kites, line",
    "Acme: kites, line, reels",
    "Acme",
]


def _settings(make_settings: Callable[..., Settings], smtp: Inbox, mail: bool) -> Settings:
    return make_settings(
        web={"base_url": "https://news.example.net", "render_cache_seconds": 30},
        email={
            "enabled": mail,
            "port": smtp.port,
            "security": "none",
            "from_address": "digest@news.example",
        },
        channels=[
            {
                "slug": "news",
                "display_name": "The Harbor Daily",
                "hometown": "Remer,MN",
                "timezone": "America/Chicago",
                "sponsor": {"name": "Acme", "url": "https://kites.example", "variants": SPONSOR},
            }
        ],
    )


@pytest.fixture
def client(make_settings: Callable[..., Settings], smtp: Inbox) -> TestClient:
    settings = _settings(make_settings, smtp, mail=True)
    seed = Seeder(settings)
    seed.item("alpha", SLOT - timedelta(minutes=20), title="Dam repairs finish")
    seed.item("beta", SLOT - timedelta(minutes=10), hashtag="sports", title="League final set")
    assert run_digest(settings, "news", at=SLOT).status == "published"
    return TestClient(create_app(settings), headers=HUMAN)


def _doc(html: str) -> Any:
    return LexborHTMLParser(html)


def _assert_chrome(html: str, column: str = "digest") -> None:
    page = _doc(html)
    brand = page.css_first(".titleband a.brand")
    assert brand is not None and brand.text() == "THE HARBOR DAILY"
    assert brand.attributes.get("href") == "/news/newsline"
    dateline = " ".join(page.css_first(".dateline").text().split())
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \| \d+ \| Remer,MN", dateline), dateline
    assert [v.text().strip() for v in page.css(".sponsor .sv a")] == [
        f"Sponsor: {s}" for s in SPONSOR
    ]
    assert page.css_first(".colhead .back a").text().strip() == "back"
    assert page.css_first(".colname").text() == column
    assert page.css_first('script[src^="/static/site.js"]') is not None
    assert page.css_first('meta[name="robots"]').attributes.get("content") == "noindex"


def _main_text(html: str) -> str:
    main = _doc(html).css_first("main")
    return " ".join(main.text().split())


def test_subscription_pages_wear_the_site_chrome(client: TestClient) -> None:
    form = client.get("/news/digest/subscribe")
    assert form.status_code == 200
    assert form.headers["cache-control"] == "no-store"
    _assert_chrome(form.text)
    page = _doc(form.text)
    assert page.css_first("h1").text() == "Subscribe to the Digest"
    post = page.css_first('form[method="post"]')
    assert post is not None and post.attributes.get("action") == "/news/digest/subscribe"
    assert page.css_first('input[type="email"][name="email"][required]') is not None
    assert page.css_first('select[name="daily_hour"] option[selected]').attributes["value"] == "7"

    token = csrf_of(form.text)
    bad = client.post(
        "/news/digest/subscribe", data={"email": "not-an-address <x>", "csrf_token": token}
    )
    assert bad.status_code == 400
    _assert_chrome(bad.text)
    page = _doc(bad.text)
    assert page.css_first(".notice") is not None  # says what is wrong
    # what the reader typed comes back, escaped
    assert page.css_first('input[name="email"]').attributes["value"] == "not-an-address <x>"
    assert "not-an-address <x>" not in bad.text

    for path, status, heading in [
        ("/news/digest/confirm?token=forged", 404, "Link not valid"),
        ("/news/digest/unsubscribe?token=abc", 200, "Unsubscribe from the Digest"),
    ]:
        resp = client.get(path)
        assert resp.status_code == status, path
        assert resp.headers["cache-control"] == "no-store"
        _assert_chrome(resp.text)
        assert _doc(resp.text).css_first("h1").text() == heading

    # GET unsubscribe shows a button that POSTs the token back
    button = _doc(client.get("/news/digest/unsubscribe?token=a%20b").text)
    target = button.css_first('main form[method="post"]')
    assert target is not None
    assert target.attributes["action"] == "/news/digest/unsubscribe?token=a%20b"
    assert button.css_first("main form button").text() == "Unsubscribe"
    gone = client.post("/news/digest/unsubscribe?token=forged")
    assert gone.status_code == 404
    _assert_chrome(gone.text)

    # Unknown channel: the site's 404 page, in the default channel's chrome.
    missing = client.get("/elsewhere/digest/subscribe")
    assert missing.status_code == 404
    _assert_chrome(missing.text, column="not found")


def test_subscribing_answers_alike_for_new_and_known_addresses(
    client: TestClient, smtp: Inbox
) -> None:
    token = csrf_of(client.get("/news/digest/subscribe").text)
    data = {
        "email": "reader@example.org",
        "cadence": "daily",
        "daily_hour": "6",
        "csrf_token": token,
    }
    first = client.post("/news/digest/subscribe", data=data)
    again = client.post("/news/digest/subscribe", data=data)
    assert first.status_code == again.status_code == 200
    _assert_chrome(first.text)
    assert "Check your inbox" in _main_text(first.text)
    assert _main_text(first.text) == _main_text(again.text)  # no address enumeration
    assert first.headers["cache-control"] == "no-store"
    assert len(smtp.to("reader@example.org")) >= 1


def test_subscribe_without_mail_says_so_before_any_form(
    make_settings: Callable[..., Settings], smtp: Inbox
) -> None:
    client = TestClient(create_app(_settings(make_settings, smtp, mail=False)), headers=HUMAN)
    resp = client.get("/news/digest/subscribe")
    # At once, on the GET: no form to fill in only to be told no (it was a 503 after POST).
    assert resp.status_code == 200
    _assert_chrome(resp.text)
    page = _doc(resp.text)
    assert page.css_first("form") is None or page.css_first("form.mailform") is None
    assert "does not send e-mail" in _main_text(resp.text)
    assert page.css_first('.mailpage a[href="/news/digest/feed.xml"]') is not None
    assert resp.headers["cache-control"] == "no-store"
    assert smtp.to("a@example.org") == []
    # A form posted anyway (an old page) gets the same answer, no 503.
    token = csrf_of(client.get("/account/sign-in").text)  # any form of ours
    posted = client.post(
        "/news/digest/subscribe", data={"email": "a@example.org", "csrf_token": token}
    )
    assert posted.status_code == 200 and "does not send e-mail" in _main_text(posted.text)
    assert smtp.to("a@example.org") == []
    # and the channel pages do not offer the e-mail edition
    front = _doc(client.get("/news/newsline").text)
    assert front.css_first('a[href="/news/digest/subscribe"]') is None
    assert front.css_first('.digestnav a[href="/news/digest/feed.xml"]') is not None


def test_channel_pages_lead_to_the_digest(client: TestClient) -> None:
    for path in ("/news/newsline", "/news/publications", "/news/tag/politics"):
        page = _doc(client.get(path).text)
        footer = {a.attributes.get("href"): a.text() for a in page.css(".sitefoot .digestnav a")}
        assert footer == {
            "/news/solo/news": "The Digest",
            "/news/digest/subscribe": "Digest by e-mail",
            "/news/digest/feed.xml": "Digest RSS",
            "/news/digest/atom.xml": "Digest Atom",
            "/news/digest/feed.json": "Digest JSON Feed",
        }, path
        alternate = page.css_first('link[rel="alternate"][title^="The Digest"]')
        assert alternate is not None
        assert alternate.attributes["href"] == "https://news.example.net/news/digest/feed.xml"
    tagbar = _doc(client.get("/news/newsline").text).css_first('.tagbar a[href="/news/solo/news"]')
    assert tagbar is not None and tagbar.text() == "Digest"

    # The digest listing: the channel's own publication, with the digest feeds and e-mail.
    listing = client.get("/news/solo/news")
    assert listing.status_code == 200
    listed = _doc(listing.text)
    assert listed.css_first(".colname").text() == "digest"
    titles = [a.text() for a in listed.css(".card .title a")]
    assert titles == ["The Digest, 7/25/2025 @1030AM, CDT"]
    links = [a.attributes.get("href") for a in listed.css(".feedlinks a")]
    assert links == [
        "/news/digest/feed.xml",
        "/news/digest/atom.xml",
        "/news/digest/feed.json",
        "/news/digest/subscribe",
    ]
    current = listed.css_first('.tagbar a[aria-current="page"]')
    assert current is not None and current.text() == "Digest"


def test_render_cache_keeps_no_store_pages_out(client: TestClient) -> None:
    # With a 30 s render cache, a confirmation page must still be answered afresh each time.
    first = client.get("/news/digest/confirm?token=forged")
    assert first.status_code == 404
    form_a = client.get("/news/digest/subscribe")
    form_b = client.get("/news/digest/subscribe")
    assert form_a.status_code == form_b.status_code == 200
    app: Any = client.app
    stack = app.middleware_stack
    found = None
    while stack is not None and found is None:
        if type(stack).__name__ == "RenderCacheMiddleware":
            found = stack
        stack = getattr(stack, "app", None)
    assert found is not None
    cached_paths = {key[0] for key in found.entries}
    assert "/news/digest/subscribe" not in cached_paths
    client.get("/news/newsline")
    assert "/news/newsline" in {key[0] for key in found.entries}  # ordinary pages are cached
