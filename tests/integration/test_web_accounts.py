"""Accounts on the real app (ASGI in process, a real SQLite file; PostgreSQL too when marked):
the API session, rotation on sign-in (fixation fails), sign-out everywhere, the CSRF
refusal, cookie flags, the role dependencies, and the render cache that must never hand a
signed-in page to an anonymous reader or the reverse."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsline import urls
from newsline.community import accounts
from newsline.community.audit import Actor
from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.db.models import AuthSession, Channel
from newsline.web.app import create_app
from newsline.web.auth import Viewer, require_role, require_viewer
from tests.support.forms import FIELD, form_fields
from tests.support.webdata import seed

pytestmark = pytest.mark.postgres

PASSWORD = "correct horse battery"
BROWSER = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    made: Settings = make_settings()
    with session_scope(made.database_url) as session:
        sync_channels(session, made)
    return made


def _add_user(settings: Settings, email: str, name: str, role: str = "reader") -> int:
    with session_scope(settings.database_url) as session:
        user = accounts.create_user(session, email, PASSWORD, name, role=role, verified=True)
        return user.id


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    made = create_app(settings)

    # Probe routes for the dependencies (API paths answer JSON, pages redirect).
    @made.get("/api/v1/probe/me")
    def api_me(me: Viewer = Depends(require_viewer)) -> dict[str, Any]:
        return {"id": me.id, "role": me.role, "channels": me.channel_roles}

    @made.get("/api/v1/probe/{channel}/moderate")
    def api_moderate(me: Viewer = Depends(require_role("moderator", "channel"))) -> dict[str, int]:
        return {"id": me.id}

    @made.get("/probe/editor/page")
    def page_editor(q: str = "", me: Viewer = Depends(require_role("editor"))) -> dict[str, int]:
        return {"id": me.id}

    return made


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers=BROWSER) as made:
        yield made


def _sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post(urls.API + urls.API_SESSION, json={"email": email, "password": password})


def _sid(client: TestClient) -> str | None:
    value = client.cookies.get("nl_sid")
    return str(value) if value is not None else None


def test_api_session_signs_in_and_wrong_password_is_401(
    settings: Settings, client: TestClient
) -> None:
    _add_user(settings, "Ann@Example.org", "Ann Reader")
    wrong = _sign_in(client, "ann@example.org", "not the password")
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "Wrong e-mail address or password."
    assert _sid(client) is None
    unknown = _sign_in(client, "nobody@example.org", "not the password")
    assert unknown.status_code == 401 and unknown.json() == wrong.json()

    ok = _sign_in(client, "ANN@example.org")
    assert ok.status_code == 200
    body = ok.json()
    assert body["csrf_token"] and body["user"]["display_name"] == "Ann Reader"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith("nl_sid=S.")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert "secure" not in lowered  # plain HTTP here; TLS is checked below
    assert "no-store" in ok.headers["cache-control"]
    me = client.get("/api/v1/probe/me")
    assert me.status_code == 200 and me.json()["role"] == "reader"


def test_cookie_is_secure_over_tls(settings: Settings, app: FastAPI) -> None:
    _add_user(settings, "tls@example.org", "Tee Ls")
    with TestClient(app, base_url="https://testserver", headers=BROWSER) as tls:
        ok = _sign_in(tls, "tls@example.org")
    assert ok.status_code == 200
    assert "secure" in ok.headers["set-cookie"].lower()


def test_sign_in_rotates_the_session_id_so_fixation_fails(
    settings: Settings, client: TestClient
) -> None:
    user_id = _add_user(settings, "fix@example.org", "Fix Ation")
    # An attacker plants ids of both kinds in the victim's browser before sign-in.
    planted_anonymous = "A" * 24
    planted_signed_in = "S." + "B" * 43
    for planted in (planted_anonymous, planted_signed_in):
        client.cookies.clear()
        client.cookies.set("nl_sid", planted, domain="testserver.local")
        form = client.get(urls.SIGN_IN)
        assert form.status_code == 200
        token_before = form_fields(form.text)[1][FIELD]
        signed = client.post(
            urls.SIGN_IN,
            data={"email": "fix@example.org", "password": PASSWORD, FIELD: token_before},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text
        fresh = _sid(client)
        assert fresh is not None and fresh.startswith("S.") and fresh != planted
        # The planted id opens nothing; the fresh one does.
        with TestClient(client.app, headers=BROWSER) as attacker:
            attacker.cookies.set("nl_sid", planted, domain="testserver.local")
            assert attacker.get("/api/v1/probe/me").status_code == 401
        assert client.get("/api/v1/probe/me").json()["id"] == user_id
        # The CSRF token changed with the id: the old one no longer works.
        stale = client.post(urls.SIGN_OUT, data={FIELD: token_before}, follow_redirects=False)
        assert stale.status_code == 403
    with session_scope(settings.database_url) as session:
        # Only hashes are stored, never the cookie's value.
        stored = {row.id_hash for row in session.query(AuthSession).all()}
    assert fresh not in stored and accounts.secret_hash(fresh) in stored


def test_signing_in_again_ends_the_previous_session(settings: Settings, client: TestClient) -> None:
    _add_user(settings, "twice@example.org", "Twice Over")
    _sign_in(client, "twice@example.org")
    first = _sid(client)
    _sign_in(client, "twice@example.org")
    second = _sid(client)
    assert first and second and first != second
    with session_scope(settings.database_url) as session:
        assert session.get(AuthSession, accounts.secret_hash(first)) is None
        assert session.get(AuthSession, accounts.secret_hash(second)) is not None


def test_api_sign_out_needs_the_csrf_token(settings: Settings, client: TestClient) -> None:
    _add_user(settings, "out@example.org", "Out Side")
    token = _sign_in(client, "out@example.org").json()["csrf_token"]
    refused = client.delete(urls.API + urls.API_SESSION)
    assert refused.status_code == 403
    assert client.get("/api/v1/probe/me").status_code == 200
    done = client.delete(urls.API + urls.API_SESSION, headers={"X-CSRF-Token": token})
    assert done.status_code == 204
    assert not (_sid(client) or "").startswith("S.")
    assert client.get("/api/v1/probe/me").status_code == 401
    # Signed out already: nothing to do, no token needed.
    assert client.delete(urls.API + urls.API_SESSION).status_code == 204


def test_sign_out_everywhere_ends_every_session(
    settings: Settings, app: FastAPI, client: TestClient
) -> None:
    _add_user(settings, "every@example.org", "Every Where")
    with TestClient(app, headers=BROWSER) as laptop, TestClient(app, headers=BROWSER) as phone:
        _sign_in(laptop, "every@example.org")
        _sign_in(phone, "every@example.org")
        assert phone.get("/api/v1/probe/me").status_code == 200
        page = laptop.get(urls.ACCOUNT)
        assert page.status_code == 200 and "2 browsers" in page.text
        action, hidden = form_fields(
            page.text, f'form[action="{urls.ACCOUNT}/sign-out-everywhere"]'
        )
        done = laptop.post(action, data=hidden, follow_redirects=False)
        assert done.status_code == 303
        assert phone.get("/api/v1/probe/me").status_code == 401
        assert laptop.get("/api/v1/probe/me").status_code == 401
    with session_scope(settings.database_url) as session:
        assert session.query(AuthSession).count() == 0


def test_forms_without_the_token_or_from_another_site_are_refused(
    settings: Settings, client: TestClient
) -> None:
    _add_user(settings, "csrf@example.org", "Cee Surf")
    client.get(urls.SIGN_IN)  # a session cookie, but no token sent
    no_token = client.post(
        urls.SIGN_IN,
        data={"email": "csrf@example.org", "password": PASSWORD},
        follow_redirects=False,
    )
    assert no_token.status_code == 403
    assert not (_sid(client) or "").startswith("S.")
    token = _sign_in(client, "csrf@example.org").json()["csrf_token"]
    cross = client.post(
        f"{urls.ACCOUNT}/name",
        data={"display_name": "Evil Name", FIELD: token},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert cross.status_code == 403
    missing = client.post(
        f"{urls.ACCOUNT}/name", data={"display_name": "Evil Name"}, follow_redirects=False
    )
    assert missing.status_code == 403
    with session_scope(settings.database_url) as session:
        user = accounts.user_by_email(session, "csrf@example.org")
        assert user is not None and user.display_name == "Cee Surf"


def test_viewer_and_role_dependencies(settings: Settings, app: FastAPI, client: TestClient) -> None:
    anonymous_api = client.get("/api/v1/probe/me")
    assert anonymous_api.status_code == 401 and "detail" in anonymous_api.json()
    anonymous_page = client.get("/probe/editor/page?q=1", follow_redirects=False)
    assert anonymous_page.status_code == 303
    assert anonymous_page.headers["location"] == urls.SIGN_IN + "?next=/probe/editor/page%3Fq%3D1"
    account_page = client.get(urls.ACCOUNT, follow_redirects=False)
    assert account_page.headers["location"] == urls.SIGN_IN + "?next=/account"

    reader = _add_user(settings, "reader@example.org", "Plain Reader")
    _sign_in(client, "reader@example.org")
    assert client.get("/probe/editor/page").status_code == 403
    assert client.get("/api/v1/probe/news/moderate").status_code == 403
    with session_scope(settings.database_url) as session:
        user = accounts.user_by_id(session, reader)
        assert user is not None
        channel_id = session.scalar(select(Channel.id).where(Channel.slug == "news"))
        accounts.set_role(session, Actor.cli(), user, "moderator", channel_id)
    assert client.get("/api/v1/probe/news/moderate").status_code == 200
    assert client.get("/api/v1/probe/me").json()["channels"] == {"news": "moderator"}
    assert client.get("/probe/editor/page").status_code == 403

    _add_user(settings, "editor@example.org", "Edna Tor", role="editor")
    _sign_in(client, "editor@example.org")
    assert client.get("/probe/editor/page").status_code == 200
    assert client.get("/api/v1/probe/news/moderate").status_code == 200


def test_api_token_signs_requests_in_and_needs_no_csrf(
    settings: Settings, app: FastAPI, client: TestClient
) -> None:
    with session_scope(settings.database_url) as session:
        user = accounts.create_user(session, "tok@example.org", PASSWORD, "Tok En", verified=True)
        made = accounts.create_api_token(session, user, "script")
    with TestClient(app) as script:
        bearer = {"authorization": f"Bearer {made.secret}"}
        assert script.get("/api/v1/probe/me", headers=bearer).json()["id"] == user.id
        assert (
            script.get("/api/v1/probe/me", headers={"authorization": "Bearer nlt_nope"}).status_code
            == 401
        )
        with session_scope(settings.database_url) as session:
            assert accounts.revoke_api_token(session, user.id, made.id)
        assert script.get("/api/v1/probe/me", headers=bearer).status_code == 401


def test_render_cache_never_crosses_signed_in_and_anonymous(
    settings: Settings, app: FastAPI
) -> None:
    seed(settings)
    _add_user(settings, "cache@example.org", "Cachet Reader")
    front = urls.NEWSLINE.format(channel_slug="news")
    with TestClient(app, headers=BROWSER) as anonymous, TestClient(app, headers=BROWSER) as ann:
        # The anonymous page is rendered first and kept by the shared cache...
        first = anonymous.get(front)
        assert first.status_code == 200 and "Cachet Reader" not in first.text
        assert 'aria-label="Sign in"' in first.text
        # ... and is not what a signed-in reader gets, within the same second.
        _sign_in(ann, "cache@example.org")
        mine = ann.get(front)
        assert "Cachet Reader" in mine.text and 'aria-label="Sign in"' not in mine.text
        # Nor is the signed-in page kept for the anonymous reader.
        again = anonymous.get(front)
        assert "Cachet Reader" not in again.text
        assert ann.get(front).text.count("Cachet Reader") >= 1
        # An anonymous session cookie (a form page made it) still gets the shared page.
        anonymous.get(urls.SIGN_IN)
        assert anonymous.cookies.get("nl_sid")
        assert "Cachet Reader" not in anonymous.get(front).text
    cache = _render_cache(app)
    assert cache is not None
    assert all(b"Cachet Reader" not in body for _, _, body in cache.entries.values())


def _render_cache(app: FastAPI) -> Any:
    from newsline.web.cache import RenderCacheMiddleware

    layer: Any = app.middleware_stack
    while layer is not None:
        if isinstance(layer, RenderCacheMiddleware):
            return layer
        layer = getattr(layer, "app", None)
    return None


def test_preferences_shape_the_private_feed_and_its_token_is_revocable(
    settings: Settings, client: TestClient
) -> None:
    seeded = seed(settings)
    _add_user(settings, "prefs@example.org", "Pref Erring")
    _sign_in(client, "prefs@example.org")
    page = client.get("/news/preferences")
    assert page.status_code == 200
    action, hidden = form_fields(page.text, 'form[action="/news/preferences"]')
    shown = [int(v) for v in re.findall(r'name="show" value="(\d+)" checked', page.text)]
    assert sorted(shown) == sorted([seeded.publications["harbor"], seeded.publications["valley"]])
    off = seeded.publications["harbor"]
    kept = [pid for pid in shown if pid != off]
    saved = client.post(
        action, data={**hidden, "show": [str(pid) for pid in kept]}, follow_redirects=False
    )
    assert saved.status_code == 303
    with session_scope(settings.database_url) as session:
        user = accounts.user_by_email(session, "prefs@example.org")
        assert user is not None
        token = accounts.new_feed_token(session, user)
    feed_path = urls.PRIVATE_FEED.format(token=token, channel_slug="news", name="feed.xml")
    feed = client.get(feed_path)
    assert feed.status_code == 200 and "private" in feed.headers["cache-control"]
    public = client.get("/news/feed.xml").text
    assert "Item harbor-0" in public and "Item valley-0" in public
    assert "Item harbor-0" not in feed.text and "Item valley-0" in feed.text
    # Following a hashtag keeps only its items.
    page = client.get("/news/preferences")
    _, hidden = form_fields(page.text, 'form[action="/news/preferences"]')
    client.post(
        action,
        data={**hidden, "show": [str(pid) for pid in kept], "follow": ["science"]},
        follow_redirects=False,
    )
    followed = client.get(feed_path).text
    assert "Item valley-1" in followed and "Item valley-0" not in followed
    # A publication of another channel cannot be switched off here; a bad id is refused.
    refused = client.post(action, data={**hidden, "show": ["999999"]}, follow_redirects=False)
    assert refused.status_code == 400
    with session_scope(settings.database_url) as session:
        user = accounts.user_by_email(session, "prefs@example.org")
        assert user is not None
        accounts.revoke_feed_token(session, user)
    assert client.get(feed_path).status_code == 404


def test_saving_an_item_from_its_page(settings: Settings, app: FastAPI) -> None:
    seeded = seed(settings)
    _add_user(settings, "saver@example.org", "Sav Er")
    item_path = urls.ITEM.format(channel_slug="news", publication_tag="harbor", slug="harbor-0")
    with TestClient(app, headers=BROWSER) as anonymous, TestClient(app, headers=BROWSER) as me:
        assert "Save for later" not in anonymous.get(item_path).text
        assert not anonymous.cookies.get("nl_sid")  # no form, so no session made
        _sign_in(me, "saver@example.org")
        page = me.get(item_path)
        action, hidden = form_fields(page.text, "form.save-item")
        assert hidden["item_id"] == str(seeded.items["harbor-0"])
        saved = me.post(action, data=hidden, follow_redirects=False)
        assert saved.status_code == 303 and saved.headers["location"] == urls.SAVED
        listed = me.get(urls.SAVED)
        assert "Item harbor-0" in listed.text
        action, hidden = form_fields(listed.text, "ul.saveditems form")
        assert me.post(action, data=hidden, follow_redirects=False).status_code == 303
        assert "Item harbor-0" not in me.get(urls.SAVED).text
        # An item the channel does not carry (here: none at all) cannot be saved.
        hidden["item_id"] = "999999"
        refused = me.post(
            urls.PREFERENCE_ACTION.format(channel_slug="news", action="save"), data=hidden
        )
        assert refused.status_code == 404
