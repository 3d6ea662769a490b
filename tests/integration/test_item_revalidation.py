"""An item page revalidated with If-Modified-Since or If-None-Match after its comment
section changed (a new comment, a moderator's hide) is answered in full, never 304."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from newsline.community import accounts
from newsline.config import Settings
from newsline.db.engine import engine_for
from newsline.web.app import create_app
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


def _as(client: TestClient, email: str) -> str:
    client.cookies.clear()
    signed = client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    token: str = signed.json()["csrf_token"]
    return token


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


def test_a_new_comment_or_a_hide_is_never_answered_304(site: Site) -> None:
    client = site.app_client
    api = f"/api/v1/channels/news/items/{site.item_id}/comments"
    modified, etag = _validators(client)
    token = _as(client, "ann@example.org")
    posted = client.post(api, json={"body": "Fresh remark"}, headers={"X-CSRF-Token": token})
    assert posted.status_code == 201, posted.text
    for text in _revalidated(client, modified, etag):
        assert "Fresh remark" in text
    modified, etag = _validators(client)
    token = _as(client, "mo@example.org")
    acted = client.post(
        f"/api/v1/channels/news/moderation/comments/{posted.json()['id']}",
        json={"action": "hide", "reason": "test"},
        headers={"X-CSRF-Token": token},
    )
    assert acted.status_code == 200, acted.text
    for text in _revalidated(client, modified, etag):
        assert "Fresh remark" not in text
