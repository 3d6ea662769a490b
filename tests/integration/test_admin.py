"""The console, ``/admin``: who may see it, every route's role requirement, CSRF on every
console form, and each section's actions through HTTP (the same audit entries as the CLI)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsline import urls
from newsline.community import accounts
from newsline.community.audit import entries
from newsline.db.engine import session_scope
from newsline.db.models import Digest, Item, Publication, SponsorStat, Subscriber, utcnow
from newsline.ingest.refresh import due_feeds
from newsline.web.app import create_app
from newsline.web.cache import _api_routes
from tests.support.publisher import paper_publisher
from tests.support.webdata import Seeded, seed

pytestmark = pytest.mark.postgres

PASSWORD = "correct horse battery staple"
ROLES = ("reader", "moderator", "editor", "admin")


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(web={"base_url": "http://testserver", "render_cache_seconds": 0})


@pytest.fixture
def seeded(settings: Any) -> Seeded:
    data = seed(settings)
    with session_scope(settings.database_url) as session:
        for role in ROLES:
            accounts.create_user(
                session,
                f"{role}@example.org",
                PASSWORD,
                f"{role.title()} Person",
                role=role,
                verified=True,
            )
    return data


@pytest.fixture
def app(settings: Any, seeded: Seeded) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def clients(app: FastAPI) -> Iterator[dict[str, TestClient]]:
    """An anonymous client and one signed in per role (``POST /api/v1/session``)."""
    made = {"anonymous": TestClient(app)}
    for role in ROLES:
        client = TestClient(app)
        answer = client.post(
            urls.API + urls.API_SESSION, json={"email": f"{role}@example.org", "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        client.headers["x-test-csrf"] = answer.json()["csrf_token"]
        made[role] = client
    yield made
    for client in made.values():
        client.close()


def token_of(client: TestClient) -> str:
    return str(client.headers["x-test-csrf"])


def post(client: TestClient, path: str, data: dict[str, Any], csrf: bool = True) -> Any:
    """A console form, as the browser sends it (with the session's CSRF token)."""
    body = dict(data)
    if csrf:
        body["csrf_token"] = token_of(client)
    return client.post(path, data=body, follow_redirects=False)


# --- who may enter --------------------------------------------------------------------------


def test_admin_anonymous_is_sent_to_sign_in_reader_refused_editor_served(
    clients: dict[str, TestClient],
) -> None:
    anonymous = clients["anonymous"].get("/admin", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith(urls.SIGN_IN)
    assert "next=/admin" in anonymous.headers["location"].replace("%2F", "/")
    assert clients["reader"].get("/admin").status_code == 403
    served = clients["editor"].get("/admin")
    assert served.status_code == 200 and "The desk" in served.text
    assert "no-store" in served.headers["cache-control"]
    assert clients["admin"].get("/admin").status_code == 200
    # A moderator's console is the moderation queue only.
    moderator = clients["moderator"].get("/admin", follow_redirects=False)
    assert moderator.status_code == 303 and moderator.headers["location"] == urls.MODERATION
    assert clients["moderator"].get("/admin/items").status_code == 403


def _fill(path: str, sample: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: sample.get(m.group(1), "x"), path)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for route in _api_routes(app.routes):
        assert isinstance(route, APIRoute)
        for method in sorted(route.methods or ()):
            found.append((method, route.path))
    return found


#: The news itself: public, whoever asks.
NEWS_PAGES = {
    urls.NEWSLINE,
    urls.ITEM,
    urls.PUBLICATION,
    urls.HASHTAG,
    urls.SEARCH,
    urls.PUBLICATIONS,
    urls.CHANNEL_FILE,
    urls.API + urls.API_ITEMS,
}


def seeded_settings(app: FastAPI) -> Any:
    return app.state.site.settings


def requirement(path: str) -> str:
    """The role a route needs: the console (editor), its moderation queue (moderator)."""
    if path.startswith(urls.MODERATION):
        return "moderator"
    if path == urls.ADMIN or path.startswith(urls.ADMIN + "/"):
        return "editor"
    return "public"


def test_every_route_of_the_app_keeps_its_role_requirement(
    app: FastAPI, clients: dict[str, TestClient], seeded: Seeded
) -> None:
    from newsline.db.channels import channel_row
    from newsline.db.models import Comment

    with session_scope(seeded_settings(app).database_url) as session:
        author = accounts.user_by_email(session, "reader@example.org")
        assert author is not None
        comment = Comment(
            item_id=seeded.items["harbor-1"],
            channel_id=channel_row(session, seeded_settings(app), "news").id,
            author_id=author.id,
            body="A comment.",
            body_html="<p>A comment.</p>",
        )
        session.add(comment)
        session.flush()
        comment_id = str(comment.id)
    sample = {
        "channel_slug": "news",
        "channel": "news",
        "publication_tag": "harbor",
        "slug": "harbor-1",
        "hashtag": "politics",
        "name": "feed.xml",
        "item_id": str(seeded.items["harbor-1"]),
        "story_id": "1",
        "section": "items",
        "band": "lt500",
        "comment_id": comment_id,
    }
    routes = _routes(app)
    console = [(m, p) for m, p in routes if requirement(p) != "public"]
    assert ("GET", "/admin") in console and len(console) >= 10
    checked_public = 0
    for method, path in routes:
        need = requirement(path)
        target = _fill(path, sample)
        if need == "public":
            if method != "GET":
                continue
            # A reader's pages never refuse an anonymous visitor; the news itself never
            # asks anyone to sign in (a reader's own pages, such as preferences, may).
            answer = clients["anonymous"].get(target, follow_redirects=False)
            signs_in = answer.status_code in (303, 401) and (
                answer.status_code == 401
                or answer.headers.get("location", "").startswith(urls.SIGN_IN)
            )
            assert answer.status_code != 403, (method, path)
            if path in NEWS_PAGES:
                assert not signs_in, (method, path)
                assert answer.status_code < 400, (method, path, answer.status_code)
            checked_public += 1
            continue
        if method == "GET":
            anonymous = clients["anonymous"].get(target, follow_redirects=False)
            assert anonymous.status_code == 303, (path, anonymous.status_code)
            assert anonymous.headers["location"].startswith(urls.SIGN_IN), path
            assert clients["reader"].get(target).status_code == 403, path
            served = clients["editor" if need == "editor" else "moderator"].get(target)
            assert served.status_code == 200, (path, served.status_code, served.text[:300])
        else:
            anonymous = post(clients["anonymous"], target, {}, csrf=False)
            assert anonymous.status_code in (303, 401, 403), (path, anonymous.status_code)
            assert post(clients["reader"], target, {"action": "hide"}).status_code == 403, path
            # Every console form needs the session's CSRF token: without it, 403.
            who = clients["editor" if need == "editor" else "moderator"]
            assert post(who, target, {"action": "x"}, csrf=False).status_code == 403, path
    assert checked_public >= 10
    assert {p for _, p in routes} >= NEWS_PAGES


# --- the sections, through HTTP ---------------------------------------------------------------


def test_console_unpublish_takes_the_item_down_and_audits_the_editor(
    settings: Any, clients: dict[str, TestClient], seeded: Seeded
) -> None:
    editor = clients["editor"]
    item_id = seeded.items["harbor-1"]
    page = "/news/topic/harbor/harbor-1"
    assert editor.get(page).status_code == 200
    listed = editor.get("/admin/items", params={"publication": "harbor", "state": "ready"})
    assert f'value="{item_id}"' in listed.text
    done = post(
        editor,
        "/admin/items/action",
        {
            "action": "unpublish",
            "ids": str(item_id),
            "reason": "wrong town",
            "back": "/admin/items",
        },
    )
    assert done.status_code == 303 and "notice=" in done.headers["location"]
    assert clients["anonymous"].get(page).status_code == 410
    with session_scope(settings.database_url) as session:
        (entry,) = entries(session, action="item.unpublish")
        assert entry.actor == "editor@example.org" and entry.reason == "wrong town"
    log = editor.get("/admin/audit", params={"action": "item."})
    assert "item.unpublish" in log.text and "wrong town" in log.text
    # A redirect never leaves the console, whatever `back` says.
    away = post(
        editor,
        "/admin/items/action",
        {"action": "republish", "ids": str(item_id), "back": "https://evil.example/"},
    )
    assert away.headers["location"].startswith("/admin/items")
    assert clients["anonymous"].get(page).status_code == 200


def test_console_bulk_actions_report_each_failure(
    settings: Any, clients: dict[str, TestClient], seeded: Seeded
) -> None:
    ids = [seeded.items["harbor-1"], seeded.items["harbor-pending"]]
    done = post(
        clients["editor"],
        "/admin/items/action",
        {"action": "unpublish", "ids": [str(i) for i in ids]},
    )
    location = done.headers["location"]
    assert "notice=unpublish" in location and "problem=" in location and "pending" in location
    with session_scope(settings.database_url) as session:
        states = {i: session.get(Item, i).state for i in ids}  # type: ignore[union-attr]
    assert states == {ids[0]: "unpublished", ids[1]: "pending"}


def test_console_edit_pin_include_and_retag(
    settings: Any, clients: dict[str, TestClient], seeded: Seeded
) -> None:
    editor = clients["editor"]
    item_id = seeded.items["valley-1"]
    path = f"/admin/items/{item_id}"
    assert (
        post(
            editor, path, {"action": "edit", "title": "A better headline", "summary": "Short."}
        ).status_code
        == 303
    )
    assert "A better headline" in clients["anonymous"].get("/news/topic/valley/valley-1").text
    assert post(editor, path, {"action": "pin", "hours": "3"}).status_code == 303
    assert post(editor, path, {"action": "include"}).status_code == 303
    assert (
        post(editor, path, {"action": "retag", "channel": "news", "hashtag": "economy"}).status_code
        == 303
    )
    with session_scope(settings.database_url) as session:
        item = session.get(Item, item_id)
        assert item is not None
        assert item.original_title == "Item valley-1" and item.title == "A better headline"
        assert item.pinned_until is not None and item.pinned_until > utcnow() + timedelta(hours=2)
        assert item.digest_choice == "include"
        actions = [e.action for e in entries(session, target_type="item", target_id=item_id)]
    assert actions == ["item.retag", "item.include_next", "item.pin", "item.edit"]
    page = editor.get(path)
    assert "Original title: Item valley-1" in page.text and "economy" in page.text
    assert post(editor, path, {"action": "revert"}).status_code == 303
    assert "Item valley-1" in clients["anonymous"].get("/news/topic/valley/valley-1").text
    bad = post(editor, path, {"action": "edit", "title": "   ", "summary": ""})
    assert "problem=" in bad.headers["location"]


def test_console_digest_preview_publish_overview(
    settings: Any, clients: dict[str, TestClient], seeded: Seeded
) -> None:
    editor = clients["editor"]
    page = editor.get("/admin/digests")
    assert page.status_code == 200 and "as it would publish now" in page.text
    assert "Item harbor-0" in page.text  # the preview's entries
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(Digest.id)) is None  # previewing stores nothing
    assert (
        post(editor, "/admin/digests/action", {"action": "publish", "channel": "news"}).status_code
        == 303
    )
    with session_scope(settings.database_url) as session:
        digest_id = session.scalar(select(Digest.id))
    assert digest_id is not None
    answer = post(
        editor,
        "/admin/digests/action",
        {"action": "overview", "digest": str(digest_id), "overview": "Our own words."},
    )
    assert "notice=" in answer.headers["location"]
    with session_scope(settings.database_url) as session:
        digest = session.get(Digest, digest_id)
        item = session.get(Item, digest.item_id)  # type: ignore[union-attr]
        assert item is not None and item.summary == "Our own words." and item.original_summary
        assert [e.action for e in entries(session, action="digest.")] == [
            "digest.edit_overview",
            "digest.publish",
        ]
    # The past digests' table names every column (axe empty-table-header).
    past = editor.get("/admin/digests").text.split("<h2>Past digests</h2>")[1]
    headers = re.findall(r"<th\b[^>]*>(.*?)</th>", past.split("</thead>")[0], re.S)
    assert len(headers) == 4 and all(re.sub(r"<[^>]+>", "", h).strip() for h in headers)


def test_console_publications_pause_resume_remove(
    settings: Any, clients: dict[str, TestClient], seeded: Seeded
) -> None:
    editor = clients["editor"]
    page = editor.get("/admin/publications")
    assert "Harbor Gazette" in page.text and "HTTP 503" in page.text
    post(editor, "/admin/publications/action", {"action": "pause", "tag": "valley"})
    with session_scope(settings.database_url) as session:
        due = {d.url for d in due_feeds(session, force=True)}
    assert "https://valley.example.org/feed" not in due and "https://harbor.example.org/rss" in due
    post(editor, "/admin/publications/action", {"action": "resume", "tag": "valley"})
    refused = post(editor, "/admin/publications/action", {"action": "remove", "tag": "valley"})
    assert "keep-items" in refused.headers["location"] or "hide" in refused.headers["location"]
    post(
        editor, "/admin/publications/action", {"action": "remove", "tag": "valley", "items": "hide"}
    )
    with session_scope(settings.database_url) as session:
        pub = session.scalar(select(Publication).where(Publication.tag == "valley"))
        assert pub is not None and pub.removed_at is not None and not pub.feeds
        states = set(session.scalars(select(Item.state).where(Item.publication_id == pub.id)))
    assert "ready" not in states and "unpublished" in states  # hidden, not deleted
    assert clients["anonymous"].get("/news/topic/valley/valley-0").status_code == 410


def test_console_channel_setting_wins_over_the_file_and_resets(
    settings: Any, clients: dict[str, TestClient], app: FastAPI
) -> None:
    editor = clients["editor"]
    answer = post(
        editor,
        "/admin/channels/action",
        {"action": "save", "channel": "news", "key": "hometown", "value": "Lighthouse Point"},
    )
    assert "notice=" in answer.headers["location"], answer.headers["location"]
    assert "Lighthouse Point" in clients["anonymous"].get("/news").text
    page = editor.get("/admin/channels", params={"channel": "news"})
    assert "Lighthouse Point" in page.text and "database" in page.text
    # A fresh process applies it too.
    assert "Lighthouse Point" in TestClient(create_app(settings)).get("/news").text
    bad = post(
        editor,
        "/admin/channels/action",
        {"action": "save", "channel": "news", "key": "timezone", "value": "Mars/Base"},
    )
    assert "problem=" in bad.headers["location"]
    post(
        editor, "/admin/channels/action", {"action": "reset", "channel": "news", "key": "hometown"}
    )
    assert "Lighthouse Point" not in clients["anonymous"].get("/news").text


def test_sponsor_impressions_and_clicks_are_counted_per_band_without_a_cookie(
    settings: Any, clients: dict[str, TestClient]
) -> None:
    anonymous = clients["anonymous"]
    home = anonymous.get("/news").text
    assert 'src="/_sponsor/news/lt500/seen.gif"' in home
    assert 'ping="/_sponsor/news/ge1800"' in home
    for _ in range(3):
        seen = anonymous.get("/_sponsor/news/lt500/seen.gif")
        assert seen.headers["content-type"] == "image/gif" and "set-cookie" not in seen.headers
    clicked = anonymous.get("/_sponsor/news/lt500", follow_redirects=False)
    assert clicked.status_code == 302 and "utm_content=lt500" in clicked.headers["location"]
    anonymous.post("/_sponsor/news/ge1800")  # a ping
    anonymous.get("/_sponsor/news/lt500/seen.gif", headers={"user-agent": "Googlebot/2.1"})
    assert anonymous.get("/_sponsor/news/nosuch/seen.gif").status_code == 404
    with session_scope(settings.database_url) as session:
        counts = {(s.band, s.impressions, s.clicks) for s in session.scalars(select(SponsorStat))}
    assert counts == {("lt500", 3, 1), ("ge1800", 0, 1)}
    page = clients["editor"].get("/admin/channels")
    assert '<svg class="chart"' in page.text


def test_people_roles_subscribers_and_csv(
    settings: Any, clients: dict[str, TestClient], seeded: Seeded
) -> None:
    from newsline.community.subscribers import subscribe
    from newsline.db.channels import channel_row

    with session_scope(settings.database_url) as session:
        channel_id = channel_row(session, settings, "news").id
        sub, _ = subscribe(session, channel_id, "=cmd@example.org")
        sub_id = sub.id
        reader = accounts.user_by_email(session, "reader@example.org")
        assert reader is not None
        reader_id = reader.id
    editor = clients["editor"]
    assert "reader@example.org" in editor.get("/admin/people").text
    post(editor, "/admin/people/action", {"action": "confirm", "subscriber": str(sub_id)})
    with session_scope(settings.database_url) as session:
        assert session.get(Subscriber, sub_id).status == "confirmed"  # type: ignore[union-attr]
    exported = editor.get("/admin/people/subscribers.csv", params={"channel": "news"})
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][0] == "email" and rows[1][0] == "'=cmd@example.org"  # no formula
    # An editor cannot make an admin; an admin can.
    refused = post(
        editor, "/admin/people/action", {"action": "role", "user": str(reader_id), "role": "admin"}
    )
    assert refused.status_code == 403
    post(
        editor,
        "/admin/people/action",
        {"action": "role", "user": str(reader_id), "role": "moderator"},
    )
    with session_scope(settings.database_url) as session:
        assert accounts.user_by_id(session, reader_id).role == "moderator"  # type: ignore[union-attr]
        assert [e.action for e in entries(session, action="subscriber.")] == ["subscriber.confirm"]


@pytest.fixture
def paper_server() -> Iterator[int]:
    with paper_publisher() as port:
        yield port


def test_console_adds_a_publication_from_what_its_address_offers(
    make_settings: Any, seeded: Seeded, paper_server: int
) -> None:
    settings = make_settings(
        web={"base_url": "http://testserver", "render_cache_seconds": 0},
        fetch={"connect_to": [f"*:80:127.0.0.1:{paper_server}"], "min_host_delay": 0.0},
    )
    client = TestClient(create_app(settings))
    answer = client.post(
        urls.API + urls.API_SESSION, json={"email": "editor@example.org", "password": PASSWORD}
    )
    client.headers["x-test-csrf"] = answer.json()["csrf_token"]
    found = post(
        client, "/admin/publications/action", {"action": "discover", "url": "http://paper.example/"}
    )
    assert found.status_code == 200
    assert 'value="http://paper.example/rss"' in found.text and "2 entries now" in found.text
    assert "http://paper.example/gone.xml" in found.text and "does not work" in found.text
    added = post(
        client,
        "/admin/publications/action",
        {
            "action": "add",
            "feed_url": "http://paper.example/rss",
            "tag": "paper",
            "republish": "full",
        },
    )
    assert "notice=Added" in added.headers["location"], added.headers["location"]
    with session_scope(settings.database_url) as session:
        paper = session.scalar(select(Publication).where(Publication.tag == "paper"))
        assert paper is not None and paper.republish == "full"
        assert [f.url for f in paper.feeds] == ["http://paper.example/rss"]
        (entry,) = entries(session, action="publication.add")
        assert entry.actor == "editor@example.org"
    nothing = post(
        client,
        "/admin/publications/action",
        {"action": "discover", "url": "http://paper.example/none"},
    )
    assert "problem=" in nothing.headers["location"]
