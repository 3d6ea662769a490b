"""The digest on the real site (uvicorn on loopback): item page, digest feeds, and the
subscribe -> confirm -> one-click unsubscribe flow with mail through aiosmtpd."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import feedparser
import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import select

from newsline import urls
from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Subscriber
from newsline.publish.digest import run_digest
from newsline.publish.mailer import deliver_digests
from tests.support.digest_seed import Seeder
from tests.support.forms import csrf_of, form_fields
from tests.support.mail import Inbox, body
from tests.support.ports import free_port
from tests.support.site import serve

SLOT = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)


@pytest.fixture
def site(make_settings: Callable[..., Settings], smtp: Inbox) -> Iterator[tuple[str, Settings]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(
        web={"base_url": base},
        email={
            "enabled": True,
            "port": smtp.port,
            "security": "none",
            "from_address": "digest@news.example",
        },
    )
    seed = Seeder(settings)
    story = seed.story(2)
    seed.item("alpha", SLOT - timedelta(minutes=20), story_id=story, title="Dam repairs finish")
    seed.item("beta", SLOT - timedelta(minutes=10), story_id=story, title="Dam reopens to traffic")
    seed.item("gamma", SLOT - timedelta(minutes=5), hashtag="sports", title="League final set")
    for n in range(1, 4):  # three digests, one per slot
        seed.item("gamma", SLOT + timedelta(minutes=30 * n - 3), hashtag="economy")
    for n in range(4):
        assert (
            run_digest(settings, "news", at=SLOT + timedelta(minutes=30 * n)).status == "published"
        )
    with serve(settings, port=port) as served:
        assert served == base
        yield base, settings


def test_digest_item_page_has_sections_links_and_thumbnails(site: tuple[str, Settings]) -> None:
    base, _ = site
    resp = httpx.get(f"{base}/news/topic/news/the-digest-7252025-1030am-cdt")
    assert resp.status_code == 200
    page = LexborHTMLParser(resp.text)
    assert page.css_first("h1").text().strip() == "The Digest, 7/25/2025 @1030AM, CDT"
    headings = [h.text() for h in page.css("h2") if h.text().startswith("#")]
    assert headings == ["#politics", "#sports", "#sponsor"]
    sources = {a.text(): a.attributes.get("href") for a in page.css("h3 a")}
    assert set(sources) == {"BETA: Dam reopens to traffic", "GAMMA: League final set"}
    assert all(
        str(href).startswith(("https://beta.example/", "https://gamma.example/"))
        for href in sources.values()
    )
    # Each entry: its title, then its thumbnail (floated beside the summary by the page's CSS).
    thumbs = [
        h3.next.attributes.get("src")
        for h3 in page.css(".digest-body article > h3")
        if h3.next is not None and h3.next.tag == "img"
    ]
    # Each named through our image proxy (never hotlinked), carrying its entry's picture.
    assert len(thumbs) == 2 and all(str(src).startswith("/img/") for src in thumbs)
    assert all(urls.image_source(str(src).rsplit("/", 1)[1]) for src in thumbs)
    assert page.css_first(".hero") is None  # no hero repeating the first thumbnail


def test_digest_feeds_list_only_digests(site: tuple[str, Settings]) -> None:
    base, _ = site
    for name in ("feed.xml", "atom.xml"):
        resp = httpx.get(f"{base}/news/digest/{name}")
        assert resp.status_code == 200
        parsed = feedparser.parse(resp.content)
        assert not parsed.bozo, parsed.get("bozo_exception")
        titles = [e.title for e in parsed.entries]
        assert titles == [
            "The Digest, 7/25/2025 @1200PM, CDT",
            "The Digest, 7/25/2025 @1130AM, CDT",
            "The Digest, 7/25/2025 @1100AM, CDT",
            "The Digest, 7/25/2025 @1030AM, CDT",
        ]
        assert parsed.entries[-1].link == f"{base}/news/topic/news/the-digest-7252025-1030am-cdt"
    feed = json.loads(httpx.get(f"{base}/news/digest/feed.json").text)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert len(feed["items"]) == 4 and "#politics" in feed["items"][-1]["content_html"]
    assert httpx.get(f"{base}/news/digest/nope.xml").status_code == 404
    assert httpx.get(f"{base}/nochannel/digest/feed.xml").status_code == 404


def test_subscribe_confirm_deliver_and_one_click_unsubscribe(
    site: tuple[str, Settings], smtp: Inbox
) -> None:
    base, settings = site
    browser = httpx.Client()  # keeps the session cookie the form's token is tied to
    form = browser.get(f"{base}/news/digest/subscribe")
    assert form.status_code == 200 and 'name="email"' in form.text
    token = csrf_of(form.text)
    resp = browser.post(
        f"{base}/news/digest/subscribe",
        data={"email": "web@example.org", "cadence": "all", "daily_hour": "7", "csrf_token": token},
    )
    assert resp.status_code == 200 and "Check your inbox" in resp.text
    bad = browser.post(
        f"{base}/news/digest/subscribe", data={"email": "nonsense", "csrf_token": token}
    )
    assert bad.status_code == 400

    (confirm_mail,) = smtp.to("web@example.org")
    link = next(w for w in body(confirm_mail, "plain").split() if "/digest/confirm?" in w)
    assert link.startswith(f"{base}/news/digest/confirm?token=")
    # Not confirmed yet: no digest.
    assert deliver_digests(settings, "news", now=SLOT + timedelta(hours=2)).sent == []
    # The link shows a button (link scanners GET it too); only its POST confirms.
    button = browser.get(link)
    assert button.status_code == 200 and "Subscription confirmed" not in button.text
    with session_scope(settings.database_url) as s:
        assert s.scalars(select(Subscriber)).one().status == "pending"
    action, hidden = form_fields(button.text)
    confirmed = browser.post(f"{base}{action}", data=hidden)
    assert confirmed.status_code == 200 and "Subscription confirmed" in confirmed.text
    assert httpx.get(f"{base}/news/digest/confirm?token=forged").status_code == 404

    # Confirming does not resend old digests; the next one is mailed.
    assert deliver_digests(settings, "news", now=SLOT + timedelta(hours=2)).sent == []
    Seeder(settings).item("gamma", SLOT + timedelta(hours=2, minutes=5), hashtag="health")
    run_digest(settings, "news", at=SLOT + timedelta(hours=2, minutes=30))
    assert deliver_digests(settings, "news", now=SLOT + timedelta(hours=2, minutes=31)).sent == [
        "web@example.org"
    ]
    digest_mail = smtp.to("web@example.org")[-1]
    target = digest_mail["List-Unsubscribe"].strip("<>")
    assert urlparse(target).netloc == urlparse(base).netloc

    # A GET (link scanners) never unsubscribes; the RFC 8058 POST does.
    assert httpx.get(target).status_code == 200
    with session_scope(settings.database_url) as s:
        assert s.scalars(select(Subscriber)).one().status == "confirmed"
    one_click = httpx.post(
        target,
        content=digest_mail["List-Unsubscribe-Post"].encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200 and "Unsubscribed" in one_click.text
    with session_scope(settings.database_url) as s:
        assert s.scalars(select(Subscriber)).one().status == "unsubscribed"
