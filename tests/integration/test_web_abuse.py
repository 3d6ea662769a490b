"""Forms and endpoints under abuse (issue 16, items 3, 8 and 9), on the real site: uvicorn
on loopback, a real SQLite file, confirmation mail through a real SMTP server (aiosmtpd).

- the subscribe form cannot become a mail cannon: per-client and global hourly budgets
  of confirmation mail (held in the database), then 429;
- every state-changing route refuses other sites' requests (Origin / Referer) and every
  form refuses a POST without the token tied to the reader's session cookie;
- the mailed confirmation link only shows a button: a GET (a link scanner) confirms nothing;
- addresses the mail library would misread (NUL, ``b:c@x`` groups) are refused;
- the online count counts readers (sessions), not heartbeats, at most a few per client;
- request bodies are capped (413) and validation errors never echo what was sent;
- cookies are HttpOnly, and Secure exactly when the request came over TLS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from newsline import urls
from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Subscriber
from newsline.web.app import create_app
from newsline.web.csrf import MAX_FORM_BYTES
from tests.support.forms import FIELD, form_fields
from tests.support.mail import Inbox, body
from tests.support.ports import free_port
from tests.support.site import serve

BROWSER = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
EVIL = "https://evil.example"

#: POST routes that take no form token, and why. Every other POST route must demand one.
TOKENLESS = {
    # RFC 8058 one-click: the mail provider POSTs; the unguessable mailed token is the key.
    urls.DIGEST_UNSUBSCRIBE: "one-click unsubscribe",
    urls.REPLIES_UNSUBSCRIBE: "one-click unsubscribe of reply notifications",
    # The sponsor link's <a ping> (a browser POST with no form): same-site by Origin, counts.
    urls.SPONSOR_CLICK: "sponsor click ping",
    # The page script's heartbeat, no form: same-site by Origin, counted per session.
    urls.ONLINE: "heartbeat",
    # WebSub hubs deliver server to server, each delivery HMAC-signed with our secret.
    "/_websub/{key}": "websub callback",
    # Scripts sign in with JSON credentials (no form, no cookie yet): same-site by Origin,
    # and the session it opens is a fresh one (newsline.web.account).
    urls.API + urls.API_SESSION: "API sign-in",
}


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp: Inbox) -> Settings:
    port = free_port()
    return make_settings(
        web={"base_url": f"http://127.0.0.1:{port}", "online_max_per_ip": 3},
        email={
            "enabled": True,
            "port": smtp.port,
            "security": "none",
            "from_address": "digest@news.example",
        },
    )


@pytest.fixture
def base(settings: Settings) -> Iterator[str]:
    port = int(settings.web.base_url.rsplit(":", 1)[1])
    with serve(settings, port=port) as served:
        yield served


def _reader(base: str) -> tuple[httpx.Client, str]:
    """A browser-like client holding a session cookie, and its subscribe form's token."""
    client = httpx.Client(base_url=base, headers=BROWSER)
    form = client.get("/news/digest/subscribe")
    assert form.status_code == 200
    return client, form_fields(form.text)[1].get(FIELD, "")


def _subscribe(client: httpx.Client, token: str, email: str, **headers: str) -> httpx.Response:
    return client.post(
        "/news/digest/subscribe",
        data={"email": email, "cadence": "all", "daily_hour": "7", "csrf_token": token},
        headers={"origin": str(client.base_url).rstrip("/"), **headers},
    )


def _subscribers(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        return int(session.scalar(select(func.count()).select_from(Subscriber)) or 0)


# --- item 3: subscription abuse --------------------------------------------------------------


def test_one_client_gets_its_confirmation_budget_then_429(
    base: str, settings: Settings, smtp: Inbox
) -> None:
    client, token = _reader(base)
    budget = settings.web.confirmations_per_ip_hour
    statuses = [_subscribe(client, token, f"reader{n}@example.org").status_code for n in range(50)]
    assert statuses[:budget] == [200] * budget
    assert statuses[budget:] == [429] * (50 - budget)
    assert len(smtp.messages) == budget
    # The refusal is a page that says what happened, when to come back, and stores nothing.
    refused = _subscribe(client, token, "late@example.org")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "Too many subscription requests" in refused.text
    assert _subscribers(settings) == budget
    # Another client (a different IP, told by the trusted proxy in front) has its own budget.
    other = _subscribe(client, token, "other@example.org", **{"x-forwarded-for": "192.0.2.7"})
    assert other.status_code == 200
    assert len(smtp.to("other@example.org")) == 1


def test_the_global_budget_holds_across_clients(
    make_settings: Callable[..., Settings], smtp: Inbox
) -> None:
    port = free_port()
    settings = make_settings(
        web={"base_url": f"http://127.0.0.1:{port}", "confirmations_per_hour": 3},
        email={"enabled": True, "port": smtp.port, "security": "none"},
    )
    with serve(settings, port=port) as base:
        client, token = _reader(base)
        statuses = [
            _subscribe(
                client, token, f"r{n}@example.org", **{"x-forwarded-for": f"198.51.100.{n}"}
            ).status_code
            for n in range(1, 11)
        ]
    assert statuses == [200] * 3 + [429] * 7
    assert len(smtp.messages) == 3


def _post_routes(routes: list[Any]) -> list[str]:
    """The paths of every POST route, including those of included routers."""
    found = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            found += _post_routes(included.routes)
        elif isinstance(route, APIRoute) and "POST" in (route.methods or ()):
            found.append(route.path)
    return sorted(found)


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "news" if m[0] == "{channel_slug}" else "x", path)


def test_every_post_route_refuses_other_sites_and_forms_want_their_token(
    base: str, settings: Settings, smtp: Inbox
) -> None:
    routes = _post_routes(create_app(settings).routes)
    client, token = _reader(base)
    fields = {"email": "victim@example.org", "token": "x", "csrf_token": token}
    for route in routes:
        path = _fill(route)
        # From another site, token and cookie notwithstanding: refused, by Origin or Referer.
        for headers in ({"origin": EVIL}, {"referer": f"{EVIL}/page"}, {"origin": "null"}):
            resp = client.post(path, data=fields, headers=headers)
            assert resp.status_code == 403, (route, headers, resp.status_code)
        if route in TOKENLESS:
            continue
        # From our own page but without the token, or with another session's: refused. The
        # API's writes want a signed-in reader first (401); with one, a missing X-CSRF-Token
        # is a 403 (tests/integration/test_comments_web.py).
        refusal = 401 if route.startswith(urls.API + "/") else 403
        resp = client.post(path, data={**fields, "csrf_token": ""}, headers={"origin": base})
        assert resp.status_code == refusal, (route, resp.status_code)
        stranger = httpx.post(base + path, data=fields, headers={"origin": base, **BROWSER})
        assert stranger.status_code == refusal, (route, stranger.status_code)
        if refusal == 403:
            assert "did not come from this site" in stranger.text
    assert smtp.messages == []
    assert _subscribers(settings) == 0
    assert set(routes) >= {
        urls.DIGEST_SUBSCRIBE,
        urls.DIGEST_CONFIRM,
        urls.DIGEST_UNSUBSCRIBE,
        urls.ONLINE,
    }, routes


def test_the_mailed_link_confirms_only_by_its_button(
    base: str, settings: Settings, smtp: Inbox
) -> None:
    client, token = _reader(base)
    assert _subscribe(client, token, "scan@example.org").status_code == 200
    (mail,) = smtp.to("scan@example.org")
    link = next(w for w in body(mail, "plain").split() if "/digest/confirm?" in w)

    def status() -> str:
        with session_scope(settings.database_url) as session:
            return session.scalars(select(Subscriber.status)).one()

    # A link scanner: follows the link, with or without cookies, even twice. Nothing happens.
    for scanner in (httpx.Client(), client):
        page = scanner.get(link)
        assert page.status_code == 200 and "Confirm your subscription" in page.text
    assert status() == "pending"
    # The reader presses the button (another browser than the one that subscribed: fine).
    reader = httpx.Client(headers=BROWSER)
    action, hidden = form_fields(reader.get(link).text)
    done = reader.post(base + action, data=hidden, headers={"origin": base})
    assert done.status_code == 200 and "Subscription confirmed" in done.text
    assert status() == "confirmed"


@pytest.mark.parametrize("address", ["a\x00b@example.org", "b:c@x.example", "a@b@c.example"])
def test_addresses_the_mail_library_would_misread_are_refused(
    base: str, settings: Settings, smtp: Inbox, address: str
) -> None:
    client, token = _reader(base)
    resp = _subscribe(client, token, address)
    assert resp.status_code == 400
    assert "is not an e-mail address" in resp.text
    assert smtp.messages == [] and _subscribers(settings) == 0


# --- item 8: readers online, body caps ------------------------------------------------------


def _online(client: httpx.Client, n: int) -> int:
    count = -1
    for i in range(n):
        # Old pages sent a visitor id of their choosing: a liar sends a new one every time.
        resp = client.post("/news/online", json={"visitor": f"visitor-{i:08d}"})
        assert resp.status_code == 200
        count = resp.json()["online"]
    return count


def test_500_heartbeats_from_one_reader_count_one(base: str) -> None:
    reader = httpx.Client(base_url=base, headers={**BROWSER, "origin": base})
    assert _online(reader, 500) == 1
    cookie = next(c for c in reader.cookies.jar if c.name == "nl_sid")
    assert cookie.has_nonstandard_attr("HttpOnly") and not cookie.secure
    # A script dropping its cookie each time makes new sessions, counted a few at most.
    for _ in range(50):
        httpx.post(f"{base}/news/online", headers={**BROWSER, "origin": base})
    assert _online(reader, 1) == 3  # web.online_max_per_ip
    # Readers elsewhere (another IP, as the trusted proxy tells) count on their own.
    other = httpx.Client(
        base_url=base, headers={**BROWSER, "origin": base, "x-forwarded-for": "203.0.113.9"}
    )
    assert _online(other, 3) == 4


def test_large_bodies_get_413_and_422s_stay_small(base: str) -> None:
    big = b"x" * (5 * 1024 * 1024)
    headers = {**BROWSER, "origin": base, "content-type": "application/json"}
    for path in ("/news/online", "/news/digest/subscribe", "/news/digest/unsubscribe?token=x"):
        declared = httpx.post(base + path, content=big, headers=headers)
        assert declared.status_code == 413, path
    for path in ("/news/digest/subscribe", "/news/digest/confirm?token=x"):

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
            for _ in range(80):
                yield b"y" * 65536

        streamed = httpx.post(base + path, content=chunks(), headers=headers)
        assert streamed.status_code == 413, path
    # A validation error names the problem and never echoes what was sent.
    for path, query in (("search", {"q": "z" * 12000}), ("items", {"limit": "9" * 12000})):
        resp = httpx.get(f"{base}{urls.API}/channels/news/{path}", params=query)
        assert resp.status_code == 422, path
        assert len(resp.content) < 2048 and "zzzz" not in resp.text and "9999" not in resp.text


def test_a_form_over_the_form_limit_is_refused_clearly(
    make_settings: Callable[..., Settings],
) -> None:
    """With the body limit raised above the form limit (web.max_body_bytes), a larger form
    gets the one clear answer every form handler gives: 400, "This form is too large" (the
    token check read it as a form without a token: a 403 that blamed the form's age)."""
    settings = make_settings(web={"max_body_bytes": 1024 * 1024})
    with TestClient(create_app(settings), headers=BROWSER) as client:
        token = form_fields(client.get(urls.SIGN_IN).text)[1][FIELD]
        padding = "x" * (MAX_FORM_BYTES + 1)
        for path in ("/news/digest/subscribe", urls.PREFERENCES.format(channel_slug="news")):
            refused = client.post(path, data={FIELD: token, "email": "a@b.example", "p": padding})
            assert refused.status_code == 400, path
            assert "This form is too large." in refused.text, path


# --- item 9: cookie flags -------------------------------------------------------------------


def test_cookies_are_httponly_and_secure_behind_tls(settings: Settings) -> None:
    # TestClient's peer is no trusted proxy: its X-Forwarded-Proto is ignored.
    plain = TestClient(create_app(settings), headers=BROWSER)
    for response in (
        plain.get("/news/digest/subscribe"),
        plain.get("/_options?theme=dark&next=/", follow_redirects=False),
        plain.get(
            "/_options?dense=1&next=/",
            headers={"x-forwarded-proto": "https"},
            follow_redirects=False,
        ),
    ):
        for header in response.headers.get_list("set-cookie"):
            assert "httponly" in header.lower() and "secure" not in header.lower(), header
    tls = TestClient(create_app(settings), base_url="https://testserver", headers=BROWSER)
    for response in (
        tls.get("/news/digest/subscribe"),
        tls.get("/_options?theme=dark&next=/", follow_redirects=False),
    ):
        cookies = response.headers.get_list("set-cookie")
        assert cookies
        for header in cookies:
            assert "httponly" in header.lower() and "secure" in header.lower(), header


def test_x_forwarded_proto_is_believed_from_trusted_proxies_only(base: str) -> None:
    # uvicorn on loopback: the test client is the trusted proxy (web.trusted_proxies).
    proxied = httpx.get(
        f"{base}/news/digest/subscribe",
        headers={**BROWSER, "x-forwarded-proto": "https", "x-forwarded-for": "192.0.2.1"},
    )
    (cookie,) = proxied.headers.get_list("set-cookie")
    assert "secure" in cookie.lower() and "httponly" in cookie.lower()
    direct = httpx.get(f"{base}/news/digest/subscribe", headers=BROWSER)
    (cookie,) = direct.headers.get_list("set-cookie")
    assert "secure" not in cookie.lower() and "httponly" in cookie.lower()
