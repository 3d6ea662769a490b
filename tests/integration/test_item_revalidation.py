"""An item page revalidated with If-Modified-Since or If-None-Match after its comment
section changed (a new comment, a vote, an edit, a moderator's hide) is answered in full,
never 304, whether asked at once or after the change settled; an unchanged page with
comments revalidates to 304 (it is dated by its comments' changed-at stamp)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from newsline.community import accounts
from newsline.config import Settings
from newsline.db.engine import engine_for
from newsline.web.app import create_app
from newsline.web.item import SETTLING, page_date
from tests.support.webdata import seed

pytestmark = pytest.mark.postgres

PASSWORD = "harbour lights at dusk 1987"
HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
PATH = "/news/topic/harbor/harbor-0"


@dataclass
class Site:
    app_client: TestClient
    item_id: int


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> Iterator[Site]:
    settings = make_settings(
        channels=[{"slug": "news", "display_name": "newsline"}],
        # Without the one-second micro-cache (web/cache.py), whose staleness is by design.
        web={"render_cache_seconds": 0},
    )
    seeded = seed(settings)
    with Session(engine_for(settings.database_url)) as session, session.begin():
        for name, role in (("ann", "reader"), ("mo", "moderator")):
            accounts.create_user(
                session, f"{name}@example.org", PASSWORD, name.title(), role=role, verified=True
            )
    with TestClient(create_app(settings), headers=HUMAN, follow_redirects=False) as client:
        yield Site(client, seeded.items["harbor-0"])


def _as(client: TestClient, email: str) -> tuple[str, httpx.Cookies]:
    """Sign in: the CSRF token and the session's cookies (to switch back with)."""
    client.cookies.clear()
    signed = client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    token: str = signed.json()["csrf_token"]
    return token, httpx.Cookies(client.cookies)


def _validators(client: TestClient) -> tuple[str, str]:
    client.cookies.clear()
    first = client.get(PATH)
    assert first.status_code == 200
    return first.headers["last-modified"], first.headers["etag"]


def _revalidated(client: TestClient, modified: str, etag: str) -> list[str]:
    """The anonymous page's text for each kind of conditional GET (asserting 200s)."""
    client.cookies.clear()
    texts = []
    for headers in ({"if-modified-since": modified}, {"if-none-match": etag}):
        again = client.get(PATH, headers=headers)
        assert again.status_code == 200, (headers, again.status_code)
        texts.append(again.text)
    return texts


def _settle() -> None:
    """Past the moments in which a page of a just-changed item carries no date."""
    time.sleep(SETTLING.total_seconds() + 0.2)


def _now_and_settled(client: TestClient, modified: str, etag: str) -> list[str]:
    """Revalidated at once, and again once the change has settled (dated by it)."""
    texts = _revalidated(client, modified, etag)
    _settle()
    return texts + _revalidated(client, modified, etag)


def test_a_new_comment_a_vote_an_edit_or_a_hide_is_never_answered_304(site: Site) -> None:
    client = site.app_client
    api = f"/api/v1/channels/news/items/{site.item_id}/comments"
    ann, ann_cookies = _as(client, "ann@example.org")
    mo, mo_cookies = _as(client, "mo@example.org")
    modified, etag = _validators(client)  # no comments yet: dated by the item
    assert "No comments yet" in client.get(f"{PATH}/comments").text  # cached for everyone
    client.cookies = ann_cookies
    posted = client.post(api, json={"body": "Fresh remark"}, headers={"X-CSRF-Token": ann})
    assert posted.status_code == 201, posted.text
    comment = f"{api}/{posted.json()['id']}"
    for text in _now_and_settled(client, modified, etag):
        assert "Fresh remark" in text
    assert "Fresh remark" in client.get(f"{PATH}/comments").text

    # Settled, the page is dated by its comments: unchanged, it revalidates to 304.
    modified, etag = _validators(client)
    client.cookies.clear()
    assert client.get(PATH, headers={"if-modified-since": modified}).status_code == 304

    client.cookies = mo_cookies
    voted = client.post(f"{comment}/vote", headers={"X-CSRF-Token": mo})
    assert voted.status_code == 200, voted.text
    for text in _now_and_settled(client, modified, etag):
        assert "1 point" in text

    # Fetched in the moment of a change (no date of its own), then changed again at once.
    client.cookies = ann_cookies
    edited = client.patch(comment, json={"body": "Fresh, amended"}, headers={"X-CSRF-Token": ann})
    assert edited.status_code == 200, edited.text
    modified, etag = _validators(client)
    client.cookies = mo_cookies
    acted = client.post(
        f"/api/v1/channels/news/moderation/comments/{posted.json()['id']}",
        json={"action": "hide", "reason": "test"},
        headers={"X-CSRF-Token": mo},
    )
    assert acted.status_code == 200, acted.text
    for text in _now_and_settled(client, modified, etag):
        assert "Fresh" not in text
    assert "Fresh" not in client.get(f"{PATH}/comments").text


def test_the_page_date_waits_for_a_change_to_settle() -> None:
    dated = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    changed = datetime(2026, 11, 30, 13, 0, 0, 900_000, tzinfo=UTC)
    assert page_date(dated, None, changed) == dated
    assert page_date(dated, changed, changed + SETTLING / 2) is None
    assert page_date(dated, changed, changed + SETTLING) == changed
    assert page_date(changed, dated, changed + SETTLING) == changed
