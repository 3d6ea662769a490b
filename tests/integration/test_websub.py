"""WebSub push, end to end: our subscriber against a real hub (newsline.testing.websub_hub),
the real app under uvicorn as the callback, and a publisher on loopback serving the feed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from newsline.cli import app as cli
from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Feed, Item, Publication, WebSubSubscription, utcnow
from newsline.ingest import websub
from newsline.ingest.publications import add_publication, feed_health, remove_publication
from newsline.testing.websub_hub import WebSubHub
from newsline.workers.pipeline import run_pass
from tests.support.ports import free_port
from tests.support.site import serve


@dataclass
class Publisher:
    """A publisher's site on loopback: one RSS feed (advertising the hub) and its articles."""

    hub_url: str
    entries: list[str] = field(default_factory=list)
    base: str = ""
    link_headers: bool = False

    @property
    def feed_url(self) -> str:
        return f"{self.base}/feed.xml"

    def feed(self, entries: list[str] | None = None) -> bytes:
        items = "".join(
            f"<item><title>Story {e}</title><link>{self.base}/a/{e}</link>"
            f'<guid isPermaLink="false">tag:pub,{e}</guid>'
            f"<description>The {e} story, told at length for the teaser.</description></item>"
            for e in (self.entries if entries is None else entries)
        )
        advertised = self.hub_url and not self.link_headers
        hub = f'<atom:link rel="hub" href="{self.hub_url}"/>' if advertised else ""
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
            f"<title>Pub</title><link>{self.base}/</link><description>d</description>"
            f'{hub}<atom:link rel="self" href="{self.feed_url}"/>'
            f"{items}</channel></rss>"
        ).encode()


@pytest.fixture
def hub() -> Iterator[WebSubHub]:
    with WebSubHub(default_lease=3600, max_lease=3600) as running:
        yield running


@pytest.fixture
def publisher(hub: WebSubHub) -> Iterator[Publisher]:
    pub = Publisher(hub_url=hub.url, entries=["one"])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/feed.xml":
                body, kind = pub.feed(), "application/rss+xml"
            elif self.path.startswith("/a/"):
                name = self.path[3:]
                body = (
                    f"<html><head><title>Story {name}</title></head><body><article>"
                    f"<h1>Story {name}</h1>"
                    + f"<p>The {name} story, told in full on its own page. " * 8
                    + "</p></article></body></html>"
                ).encode()
                kind = "text/html; charset=utf-8"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if pub.link_headers and pub.hub_url and self.path == "/feed.xml":
                self.send_header(
                    "Link", f'<{pub.hub_url}>; rel="hub", <{pub.feed_url}>; rel="self"'
                )
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    pub.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield pub
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(make_settings: Any) -> Iterator[Settings]:
    """Settings whose web.base_url is the real app, running (the hubs' callback)."""
    port = free_port()
    settings: Settings = make_settings(
        fetch={"allow_private": True, "min_host_delay": 0.0, "retries": 0},
        web={"base_url": f"http://127.0.0.1:{port}"},
    )
    with serve(settings, port):
        yield settings


def subscription(settings: Settings) -> WebSubSubscription | None:
    with session_scope(settings.database_url) as session:
        return session.scalar(select(WebSubSubscription))


def items_with_guid(settings: Settings, guid: str) -> list[Item]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Item).where(Item.guid == guid)))


def feed_row(settings: Settings) -> Feed:
    with session_scope(settings.database_url) as session:
        feed = session.scalar(select(Feed))
        assert feed is not None
        return feed


def subscribed(settings: Settings, hub: WebSubHub, publisher: Publisher) -> WebSubSubscription:
    """Add the publication, poll it once (the pass discovers the hub and subscribes)."""
    with session_scope(settings.database_url) as session:
        add_publication(session, settings, publisher.feed_url, tag="pub")
    report = run_pass(settings, enrich=False, publish=False)
    assert report.websub_requests == 1, report.errors
    hub.settle()
    sub = subscription(settings)
    assert sub is not None and sub.state == "active", (hub.verifications, sub.state, sub.last_error)
    return sub


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def get_status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def callback_of(settings: Settings, sub: WebSubSubscription) -> str:
    return f"{settings.web.base_url}/_websub/{sub.key}"


# -- subscribe + verify -------------------------------------------------------------------


def test_a_poll_discovers_the_hub_and_the_pass_subscribes_with_a_verified_intent(
    site: Settings, hub: WebSubHub, publisher: Publisher, tmp_path: Path
) -> None:
    sub = subscribed(site, hub, publisher)

    (request,) = hub.requests
    assert request["hub.mode"] == "subscribe"
    assert request["hub.topic"] == publisher.feed_url
    assert request["hub.callback"] == callback_of(site, sub)
    assert request["hub.secret"] == sub.secret and len(sub.secret) >= 32
    (verification,) = hub.verifications
    assert verification.confirmed and verification.status == 200
    (at_hub,) = hub.subscribers(publisher.feed_url)
    assert at_hub.callback == callback_of(site, sub) and at_hub.secret == sub.secret
    # The lease the hub granted, as the hub said it in its verification.
    assert sub.lease_seconds == 3600 and sub.lease_expires_at is not None
    assert timedelta(minutes=59) < sub.lease_expires_at - utcnow() <= timedelta(hours=1)
    # While pushed, the feed is polled only at fetch.max_interval.
    feed = feed_row(site)
    assert feed.next_fetch_at is not None
    assert feed.next_fetch_at - utcnow() > timedelta(seconds=site.fetch.max_interval - 60)

    # Visible to the operator: the feed health and `newsline publications list`.
    with session_scope(site.database_url) as session:
        (health,) = feed_health(session)
    assert health.websub is not None and health.websub.startswith(f"active at {hub.url}")
    config = tmp_path / "newsline.toml"
    config.write_text(f'database_url = "{site.database_url}"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "publications", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["websub"].startswith("active at")
    # A second pass has nothing to ask the hub.
    assert run_pass(site, enrich=False, publish=False).websub_requests == 0


def test_link_headers_name_the_hub_and_topic(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    publisher.link_headers = True  # no hub in the body: only `Link: <hub>; rel="hub"`
    subscribed(site, hub, publisher)
    assert hub.requests[0]["hub.topic"] == publisher.feed_url


def test_the_callback_confirms_only_what_we_asked_for(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    sub = subscribed(site, hub, publisher)
    callback = callback_of(site, sub)

    def verify(**params: str) -> tuple[int, str]:
        query = {"hub.challenge": "c-123", "hub.lease_seconds": "60"} | params
        return get_status(f"{callback}?{urlencode(query)}")

    # Not asked for: a renewal nobody requested, an unsubscribe, another topic, another key.
    assert verify(**{"hub.mode": "subscribe", "hub.topic": publisher.feed_url})[0] == 404
    assert verify(**{"hub.mode": "unsubscribe", "hub.topic": publisher.feed_url})[0] == 404
    assert verify(**{"hub.mode": "subscribe", "hub.topic": "http://evil.example/"})[0] == 404
    bad_key = f"{site.web.base_url}/_websub/nope?" + urlencode(
        {"hub.mode": "subscribe", "hub.topic": publisher.feed_url, "hub.challenge": "x"}
    )
    assert get_status(bad_key)[0] == 404
    # None of it changed the subscription.
    after = subscription(site)
    assert after is not None and after.state == "active"
    assert after.lease_expires_at == sub.lease_expires_at


# -- deliveries -----------------------------------------------------------------------------


def test_a_delivery_makes_the_item_once_and_a_later_poll_does_not_duplicate_it(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    subscribed(site, hub, publisher)
    publisher.entries = ["one", "two"]

    (delivered,) = hub.publish(publisher.feed_url, publisher.feed(["two"]))
    assert delivered.status == 200
    (pushed,) = items_with_guid(site, "tag:pub,two")
    assert pushed.state == "pending" and pushed.title == "Story two"
    # The same delivery again (hubs retry): still one item.
    assert [d.status for d in hub.publish(publisher.feed_url, publisher.feed(["two"]))] == [200]
    assert len(items_with_guid(site, "tag:pub,two")) == 1
    sub = subscription(site)
    assert sub is not None and sub.deliveries == 2 and sub.last_delivery_at is not None

    # A poll of the same feed finds nothing new, and the pass finishes the pushed item.
    report = run_pass(site, force=True, enrich=False, publish=False)
    assert report.feeds_checked == 1 and report.new_items == 0, report.errors
    (item,) = items_with_guid(site, "tag:pub,two")
    assert item.id == pushed.id and item.state == "ready"
    with session_scope(site.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 2


def test_bad_or_missing_signatures_are_acknowledged_ignored_and_recorded(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    sub = subscribed(site, hub, publisher)
    callback = callback_of(site, sub)
    body = publisher.feed(["forged"])
    rss = {"Content-Type": "application/rss+xml"}
    wrong = hmac.new(b"not the secret", body, hashlib.sha256).hexdigest()

    assert post(callback, body, rss | {"X-Hub-Signature": f"sha256={wrong}"}) == 202
    assert post(callback, body, rss) == 202
    assert post(callback, body, rss | {"X-Hub-Signature": "md5=abc"}) == 202
    assert items_with_guid(site, "tag:pub,forged") == []
    after = subscription(site)
    assert after is not None and after.rejected_deliveries == 3 and after.deliveries == 0
    assert after.last_error is not None and "X-Hub-Signature" in after.last_error

    # Every method of §8 is accepted when the HMAC is right (here sha512).
    good = hmac.new(sub.secret.encode(), body, hashlib.sha512).hexdigest()
    assert post(callback, body, rss | {"X-Hub-Signature": f"sha512={good}"}) == 200
    assert len(items_with_guid(site, "tag:pub,forged")) == 1
    # A signed body of the wrong shape changes nothing either, and is recorded.
    junk = b"<html><body>not a feed</body></html>"
    junk_sig = hmac.new(sub.secret.encode(), junk, hashlib.sha1).hexdigest()
    assert post(callback, junk, {"X-Hub-Signature": f"sha1={junk_sig}"}) == 202
    last = subscription(site)
    assert (
        last is not None and last.last_error is not None and "not a usable feed" in last.last_error
    )


def test_a_paused_publications_pushes_are_acknowledged_but_not_stored(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    subscribed(site, hub, publisher)
    with session_scope(site.database_url) as session:
        publication = session.get(Publication, feed_row(site).publication_id)
        assert publication is not None
        publication.paused_at = utcnow()  # as `newsline publications pause` does

    # Acknowledged (the hub keeps the subscription), but nothing stored, as no poll would.
    (delivered,) = hub.publish(publisher.feed_url, publisher.feed(["while-paused"]))
    assert delivered.status == 202
    assert items_with_guid(site, "tag:pub,while-paused") == []
    sub = subscription(site)
    assert sub is not None and sub.state == "active" and sub.deliveries == 0

    with session_scope(site.database_url) as session:
        publication = session.get(Publication, feed_row(site).publication_id)
        assert publication is not None
        publication.paused_at = None
    (delivered,) = hub.publish(publisher.feed_url, publisher.feed(["resumed"]))
    assert delivered.status == 200
    assert len(items_with_guid(site, "tag:pub,resumed")) == 1


# -- leases, failures, removal --------------------------------------------------------------


def test_an_expiring_lease_is_renewed_by_the_pass(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    sub = subscribed(site, hub, publisher)
    assert sub.lease_expires_at is not None
    hub.expire(publisher.feed_url)
    assert hub.publish(publisher.feed_url, publisher.feed()) == []  # the hub stopped pushing

    # Not yet due: an hour's lease is renewed in its last half hour.
    early = run_pass(site, enrich=False, publish=False, now=utcnow() + timedelta(minutes=5))
    assert early.websub_requests == 0
    late = sub.lease_expires_at + timedelta(seconds=1)
    assert run_pass(site, enrich=False, publish=False, now=late).websub_requests == 1
    hub.settle()
    assert len(hub.subscribers(publisher.feed_url)) == 1
    renewed = subscription(site)
    assert renewed is not None and renewed.state == "active"
    assert renewed.lease_expires_at is not None and renewed.lease_expires_at > sub.lease_expires_at
    assert [d.status for d in hub.publish(publisher.feed_url, publisher.feed())] == [200]


def test_a_hub_that_is_down_fails_the_subscription_and_polling_goes_on(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    hub.down = True
    with session_scope(site.database_url) as session:
        add_publication(session, site, publisher.feed_url, tag="pub")
    report = run_pass(site, enrich=False, publish=False)
    assert report.new_items == 1
    assert any("HTTP 503" in e for e in report.errors), report.errors
    sub = subscription(site)
    assert sub is not None and sub.state == "failed"
    assert sub.last_error is not None and "503" in sub.last_error
    assert sub.next_attempt_at is not None and sub.next_attempt_at > utcnow()
    # The feed keeps its own polling interval (not relaxed to fetch.max_interval) ...
    feed = feed_row(site)
    assert feed.next_fetch_at is not None
    assert feed.next_fetch_at <= utcnow() + timedelta(seconds=feed.interval_seconds)
    # ... and polling brings what the hub would have pushed.
    publisher.entries = ["one", "two"]
    assert run_pass(site, force=True, enrich=False, publish=False).new_items == 1
    assert len(items_with_guid(site, "tag:pub,two")) == 1

    # Retried with back-off; once the hub is back, the subscription is made.
    hub.down = False
    assert run_pass(site, enrich=False, publish=False).websub_requests == 0  # not yet due
    assert sub.next_attempt_at is not None
    later = sub.next_attempt_at + timedelta(seconds=1)
    assert run_pass(site, enrich=False, publish=False, now=later).websub_requests == 1
    hub.settle()
    back = subscription(site)
    assert back is not None and back.state == "active" and back.last_error is None


def test_a_failed_renewal_puts_the_feed_back_on_its_polling_interval(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    sub = subscribed(site, hub, publisher)
    assert sub.lease_expires_at is not None
    relaxed = feed_row(site)
    assert relaxed.next_fetch_at is not None
    assert relaxed.next_fetch_at > utcnow() + timedelta(seconds=relaxed.interval_seconds)
    hub.down = True
    # Due for renewal, the lease not yet over: the hub's failure alone ends the relaxing.
    run_pass(site, enrich=False, publish=False, now=sub.lease_expires_at - timedelta(minutes=1))
    failed = subscription(site)
    assert failed is not None and failed.state == "failed"
    feed = feed_row(site)
    assert feed.next_fetch_at is not None
    assert feed.next_fetch_at <= utcnow() + timedelta(seconds=feed.interval_seconds)


def test_a_denied_subscription_is_recorded_as_failed(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    hub.denied[publisher.feed_url] = "not on this hub"
    with session_scope(site.database_url) as session:
        add_publication(session, site, publisher.feed_url, tag="pub")
    run_pass(site, enrich=False, publish=False)
    hub.settle()
    sub = subscription(site)
    assert sub is not None and sub.state == "failed"
    assert sub.last_error == "the hub denied the subscription: not on this hub"


def test_removing_the_publication_unsubscribes_at_the_hub(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    sub = subscribed(site, hub, publisher)
    with session_scope(site.database_url) as session:
        remove_publication(session, "pub")
    gone = subscription(site)
    assert gone is not None and gone.state == "unsubscribing" and gone.feed_id is None
    # Until the hub confirms, a delivery is answered 410 Gone (and stored nowhere).
    body = publisher.feed(["late"])
    signature = hmac.new(sub.secret.encode(), body, hashlib.sha256).hexdigest()
    status = post(callback_of(site, sub), body, {"X-Hub-Signature": f"sha256={signature}"})
    assert status == 410 and items_with_guid(site, "tag:pub,late") == []

    assert run_pass(site, enrich=False, publish=False).websub_requests == 1
    hub.settle()
    assert hub.requests[-1]["hub.mode"] == "unsubscribe"
    assert hub.verifications[-1].mode == "unsubscribe" and hub.verifications[-1].confirmed
    assert hub.subscribers(publisher.feed_url) == []
    assert subscription(site) is None


def test_a_feed_that_stops_advertising_its_hub_is_unsubscribed(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    subscribed(site, hub, publisher)
    publisher.hub_url = ""  # the feed now names no hub (only rel="self")
    run_pass(site, force=True, enrich=False, publish=False)
    hub.settle()
    assert hub.subscribers(publisher.feed_url) == []
    assert subscription(site) is None


def test_our_channel_feeds_advertise_the_configured_hub(make_settings: Any) -> None:
    settings = make_settings(web={"websub_hub": "https://hub.example/"})
    with serve(settings) as base:
        for name in ("feed.xml", "atom.xml", "feed.json"):
            with urllib.request.urlopen(f"{base}/news/{name}", timeout=30) as response:
                body = response.read()
                headers = {k.lower(): v for k, v in response.headers.items()}
            feed_url = f"{settings.web.base_url}/news/{name}"
            assert headers["link"] == f'<https://hub.example/>; rel="hub", <{feed_url}>; rel="self"'
            # What a subscriber (ours) finds, from the headers and from the body alone.
            found = websub.HubLinks("https://hub.example/", feed_url)
            assert websub.discover_hub(body, headers, f"{base}/news/{name}") == found
            assert websub.discover_hub(body, {}, f"{base}/news/{name}") == found


def test_a_publishers_ping_makes_the_hub_fetch_and_push_the_topic(
    site: Settings, hub: WebSubHub, publisher: Publisher
) -> None:
    subscribed(site, hub, publisher)
    publisher.entries = ["one", "pinged"]
    ping = urlencode({"hub.mode": "publish", "hub.url": publisher.feed_url}).encode()
    assert post(hub.url, ping, {"Content-Type": "application/x-www-form-urlencoded"}) == 202
    hub.settle()
    assert [d.status for d in hub.deliveries] == [200]
    assert len(items_with_guid(site, "tag:pub,pinged")) == 1


@pytest.fixture
def reader() -> Iterator[tuple[str, list[bytes]]]:
    """A WebSub subscriber of our own feeds: confirms any intent, records deliveries."""
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = dict(parse_qsl(urlsplit(self.path).query))
            body = query.get("hub.challenge", "").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cb", received
    server.shutdown()
    server.server_close()


def test_a_pass_that_changes_our_feeds_pings_our_hub_which_pushes_them(
    make_settings: Any,
    hub: WebSubHub,
    publisher: Publisher,
    reader: tuple[str, list[bytes]],
) -> None:
    publisher.hub_url = ""  # the publisher's own feed is polled only
    port = free_port()
    settings: Settings = make_settings(
        fetch={"allow_private": True, "min_host_delay": 0.0, "retries": 0},
        web={"base_url": f"http://127.0.0.1:{port}", "websub_hub": hub.url},
    )
    callback, received = reader
    ours = f"{settings.web.base_url}/news/feed.xml"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with serve(settings, port):
        subscribe = {"hub.mode": "subscribe", "hub.topic": ours, "hub.callback": callback}
        assert post(hub.url, urlencode(subscribe).encode(), form) == 202
        hub.settle()
        assert len(hub.subscribers(ours)) == 1
        with session_scope(settings.database_url) as session:
            add_publication(session, settings, publisher.feed_url, tag="pub")

        report = run_pass(settings, publish=False)
        hub.settle()
        assert report.items_ready == 1 and report.errors == []
        pinged = {r["hub.url"] for r in hub.requests if r["hub.mode"] == "publish"}
        assert ours in pinged and f"{settings.web.base_url}/news/solo/pub/atom.xml" in pinged
        (pushed,) = received
        assert b"Story one" in pushed

        # A pass that changes nothing pings nothing.
        asked = len(hub.requests)
        run_pass(settings, publish=False)
        hub.settle()
        assert len(hub.requests) == asked and len(received) == 1
