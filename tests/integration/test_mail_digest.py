"""The e-mail edition through a real SMTP server on loopback (aiosmtpd): what arrives."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import trustme
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import select

from newsline.community import subscribers
from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Subscriber
from newsline.publish.digest import run_digest
from newsline.publish.mailer import MailError, confirmation_message, deliver_digests, send_message
from tests.support.digest_seed import Seeder
from tests.support.mail import Inbox, body, smtp_server
from tests.support.ports import free_port

SLOT = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)  # 10:30 AM CDT


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp: Inbox) -> Settings:
    return make_settings(
        web={"base_url": "https://news.example"},
        email={
            "enabled": True,
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "from_address": "digest@news.example",
        },
    )


def channel_id(settings: Settings) -> int:
    return Seeder(settings).channel_id()


def add_subscriber(settings: Settings, email: str, **kw: Any) -> Subscriber:
    with session_scope(settings.database_url) as s:
        sub, _ = subscribers.subscribe(s, channel_id(settings), email, **kw)
        return sub


@pytest.mark.postgres
def test_double_opt_in_then_digest_with_unsubscribe_headers(
    settings: Settings, smtp: Inbox
) -> None:
    seed = Seeder(settings)
    seed.publication("alpha", "Alpha Daily")
    seed.publication("beta", "Beta Post")
    story = seed.story(2)
    seed.item("alpha", SLOT - timedelta(minutes=20), story_id=story, title="Bridge reopens")
    seed.item("beta", SLOT - timedelta(minutes=10), story_id=story, title="Bridge open again")
    seed.item("beta", SLOT - timedelta(minutes=5), hashtag="economy", title="Harvest prices rise")

    # Subscribe: only a confirmation mail, with a working token link.
    sub = add_subscriber(settings, "Reader@Example.ORG")
    assert sub.status == "pending" and sub.email == "Reader@example.org"
    cfg = settings.channels[0]
    send_message(settings.email, confirmation_message(settings, cfg, sub))
    add_subscriber(settings, "pending@example.org")  # never confirms
    (confirm_mail,) = smtp.to("Reader@example.org")
    assert confirm_mail["Subject"] == "Confirm your subscription to newsline"
    link = next(w for w in body(confirm_mail, "plain").split() if "/digest/confirm?" in w)
    token = parse_qs(urlparse(link).query)["token"][0]
    assert urlparse(link).netloc == "news.example"
    with session_scope(settings.database_url) as s:
        assert subscribers.confirm(s, token) is not None

    assert run_digest(settings, "news", at=SLOT).status == "published"
    report = deliver_digests(settings, "news", now=SLOT + timedelta(minutes=2))
    assert report.sent == ["Reader@example.org"]
    assert smtp.to("pending@example.org") == []
    msg = smtp.to("Reader@example.org")[-1]

    assert msg["Subject"] == "The Digest, 7/25/2025 @1030AM, CDT"
    assert msg["From"] == "newsline <digest@news.example>"
    assert msg.get_content_type() == "multipart/alternative"
    unsubscribe = f"https://news.example/news/digest/unsubscribe?token={token}"
    assert msg["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "news.digest.news.example" in msg["List-Id"]

    text = body(msg, "plain")
    assert "#politics" in text and "#economy" in text
    assert "* Beta Post: Bridge open again" in text
    assert "also: Alpha Daily <https://alpha.example/news/" in text
    assert f"Unsubscribe: {unsubscribe}" in text

    html = LexborHTMLParser(body(msg, "html"))
    assert [h.text() for h in html.css("h2")] == ["#politics", "#economy", "#sponsor"]
    links = {a.text(): a.attributes["href"] for a in html.css("h3 a")}
    assert set(links) == {"Beta Post: Bridge open again", "Beta Post: Harvest prices rise"}
    assert all(str(href).startswith("https://beta.example/news/") for href in links.values())
    assert len(html.css("img")) == 2  # a thumbnail per entry
    assert any(a.attributes.get("href") == unsubscribe for a in html.css("a"))

    # Nothing new: nothing more is sent, even by a second delivery run.
    assert deliver_digests(settings, "news", now=SLOT + timedelta(minutes=3)).sent == []
    assert len(smtp.to("Reader@example.org")) == 2

    # One-click unsubscribe: no further mail, even when a new digest appears.
    with session_scope(settings.database_url) as s:
        assert subscribers.unsubscribe(s, token) is not None
    seed.item("alpha", SLOT + timedelta(minutes=5), title="Storm warning")
    assert run_digest(settings, "news", at=SLOT + timedelta(minutes=30)).status == "published"
    assert deliver_digests(settings, "news", now=SLOT + timedelta(minutes=32)).sent == []


def test_each_digest_subscriber_gets_only_the_newest_after_an_outage(
    settings: Settings, smtp: Inbox
) -> None:
    seed = Seeder(settings)
    add_subscriber(settings, "all@example.org", confirmed=True)
    for n in range(3):
        seed.item("alpha", SLOT + timedelta(minutes=30 * n - 5))
        run_digest(settings, "news", at=SLOT + timedelta(minutes=30 * n))
    report = deliver_digests(settings, "news", now=SLOT + timedelta(minutes=61))
    assert report.sent == ["all@example.org"]
    (msg,) = smtp.to("all@example.org")
    assert msg["Subject"] == "The Digest, 7/25/2025 @1130AM, CDT"


@pytest.mark.postgres
def test_daily_subscriber_gets_one_merged_edition_at_their_local_hour(
    settings: Settings, smtp: Inbox
) -> None:
    seed = Seeder(settings)
    # Confirmed the evening before; wants one mail a day at 7 AM London time.
    with session_scope(settings.database_url) as s:
        subscribers.subscribe(
            s,
            channel_id(settings),
            "daily@example.org",
            cadence="daily",
            daily_hour=7,
            timezone="Europe/London",
            confirmed=True,
            now=datetime(2025, 7, 24, 20, 0, tzinfo=UTC),
        )
    story = seed.story(2)
    seed.item("alpha", datetime(2025, 7, 24, 21, 10, tzinfo=UTC), story_id=story)
    run_digest(settings, "news", at=datetime(2025, 7, 24, 21, 30, tzinfo=UTC))
    seed.item("beta", datetime(2025, 7, 24, 23, 10, tzinfo=UTC), story_id=story)
    seed.item("beta", datetime(2025, 7, 24, 23, 12, tzinfo=UTC), hashtag="sports")
    run_digest(settings, "news", at=datetime(2025, 7, 24, 23, 30, tzinfo=UTC))

    before = datetime(2025, 7, 25, 5, 59, tzinfo=UTC)  # 6:59 BST
    assert deliver_digests(settings, "news", now=before).sent == []
    at_seven = datetime(2025, 7, 25, 6, 1, tzinfo=UTC)  # 7:01 BST
    assert deliver_digests(settings, "news", now=at_seven).sent == ["daily@example.org"]
    assert deliver_digests(settings, "news", now=at_seven + timedelta(minutes=30)).sent == []
    (msg,) = smtp.to("daily@example.org")
    assert msg["Subject"] == "The Digest, daily edition, 7/25/2025"
    text = body(msg, "plain")
    assert text.count("* ") == 2  # the story once (its newest telling), plus #sports
    assert "#politics" in text and "#sports" in text
    assert "Update:" not in text


def test_smtp_down_gives_claims_back_for_the_next_tick(
    make_settings: Callable[..., Settings], smtp: Inbox
) -> None:
    dead = make_settings(
        email={"enabled": True, "port": free_port(), "security": "none", "timeout": 5}
    )
    Seeder(dead).item("alpha", SLOT - timedelta(minutes=5))
    add_subscriber(dead, "all@example.org", confirmed=True)
    run_digest(dead, "news", at=SLOT)
    with pytest.raises(MailError, match=r"SMTP 127\.0\.0\.1"):
        deliver_digests(dead, "news", now=SLOT + timedelta(minutes=1))
    with session_scope(dead.database_url) as s:
        sub = s.scalars(select(Subscriber)).one()
        assert sub.last_sent_at is None and "SMTP" in (sub.last_error or "")
    alive = dead.model_copy(update={"email": dead.email.model_copy(update={"port": smtp.port})})
    assert deliver_digests(alive, "news", now=SLOT + timedelta(minutes=2)).sent == [
        "all@example.org"
    ]


def test_starttls_and_login(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with smtp_server(tls=server_ctx, accounts={"mailer": "s3cret"}) as inbox:
        settings = make_settings(
            email={
                "enabled": True,
                "port": inbox.port,
                "security": "starttls",
                "username": "mailer",
                "password": "s3cret",
                "ca_bundle": str(ca_file),
            }
        )
        Seeder(settings).item("alpha", SLOT - timedelta(minutes=5))
        add_subscriber(settings, "tls@example.org", confirmed=True)
        run_digest(settings, "news", at=SLOT)
        assert deliver_digests(settings, "news", now=SLOT).sent == ["tls@example.org"]
        assert inbox.logins == ["mailer"] and len(inbox.messages) == 1
        wrong = settings.model_copy(
            update={"email": settings.email.model_copy(update={"password": "nope"})}
        )
        with pytest.raises(MailError, match="Authentication"):
            send_message(wrong.email, inbox.messages[0][1])


def test_bad_addresses_and_choices_are_refused(settings: Settings) -> None:
    with session_scope(settings.database_url) as s:
        cid = channel_id(settings)
        for bad in ("", "no-at-sign", "a@b", "a b@example.org", "<x>@example.org"):
            with pytest.raises(subscribers.SubscriptionError):
                subscribers.subscribe(s, cid, bad)
        with pytest.raises(subscribers.SubscriptionError):
            subscribers.subscribe(s, cid, "ok@example.org", cadence="hourly")
        with pytest.raises(subscribers.SubscriptionError):
            subscribers.subscribe(s, cid, "ok@example.org", cadence="daily", daily_hour=24)
        with pytest.raises(subscribers.SubscriptionError):
            subscribers.subscribe(s, cid, "ok@example.org", timezone="Mars/Olympus")


def test_the_form_cannot_flood_an_inbox(settings: Settings) -> None:
    """Repeated sign-ups of one address get one confirmation mail per interval."""
    cid = channel_id(settings)
    now = datetime(2025, 7, 25, 12, 0, tzinfo=UTC)
    due = []
    for minutes in (0, 1, 5, 14, 16, 17):
        with session_scope(settings.database_url) as s:
            _sub, needs_mail = subscribers.subscribe(
                s, cid, "victim@example.org", now=now + timedelta(minutes=minutes)
            )
        due.append(needs_mail)
    assert due == [True, False, False, False, True, False]
