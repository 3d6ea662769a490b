"""The render cache's key names only what a page depends on (issue 16, "Load").

A made-up query parameter (``?x=<random>``, ``utm_source``, ``fbclid``) must be served from
the cache, not make a new entry (and a new render) per request; the parameters a route
declares still tell pages apart, and the route sees exactly the query its key names.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from newsline.db.engine import session_scope
from newsline.db.models import Item
from newsline.web.app import create_app
from newsline.web.cache import canonical_query, route_query_params
from tests.support.webdata import seed

HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0"}


@pytest.fixture
def settings(make_settings: Any) -> Any:
    # A long life: whatever is served twice here comes from the cache, not from timing.
    settings = make_settings(web={"page_size": 4, "render_cache_seconds": 600})
    seed(settings)
    return settings


def rename_all(settings: Any, title: str) -> None:
    with session_scope(settings.database_url) as session:
        session.execute(update(Item).values(title=title))


def plain(page: str) -> str:
    """The page without search highlighting (a search marks the words of its query)."""
    return re.sub(r"</?mark>", "", page)


def more_link(page: str) -> str:
    found = re.search(r'<a class="more" href="([^"]+)"', page)
    assert found, "no 'more' link"
    return html.unescape(found.group(1))


def test_unknown_query_parameters_are_served_from_the_cache(settings: Any) -> None:
    client = TestClient(create_app(settings), headers=HUMAN)
    for path in ("/news/newsline", "/news/solo/harbor", "/news/feed.xml", "/news/search?q=item"):
        first = client.get(path)
        assert first.status_code == 200 and "Item harbor-0" in plain(first.text)
    rename_all(settings, "Renamed after caching")
    joiner = {"/news/search?q=item": "&"}
    for path in ("/news/newsline", "/news/solo/harbor", "/news/feed.xml", "/news/search?q=item"):
        for extra in ("x=8d1f0c", "utm_source=a&fbclid=b", "X=1&x=2", "q", "before&x=1"):
            if extra.startswith(("q", "before")) and "search" not in path:
                continue  # `before` and `q` are known somewhere; tested below
            url = f"{path}{joiner.get(path, '?')}{extra}"
            again = client.get(url)
            assert again.status_code == 200, url
            assert "Item harbor-0" in plain(again.text), f"{url} was rendered again, not cached"
    # a parameter another route knows is still unknown here
    assert "Item harbor-0" in client.get("/news/newsline?q=anything&page_no=3").text
    assert "Item harbor-0" in client.get("/news/solo/harbor?cursor=abc&limit=5").text


def test_known_parameters_still_tell_pages_apart(settings: Any) -> None:
    client = TestClient(create_app(settings), headers=HUMAN)
    front = client.get("/news/newsline").text
    older = more_link(front)
    assert older.startswith("/news/newsline?before=")
    second = client.get(older).text
    assert second != front and "Item harbor-0" not in second
    # The route sees the first value of a parameter, named in any case: the one its key has.
    cursor = older.split("before=", 1)[1]
    assert client.get(f"/news/newsline?before={cursor}&before=zzz").text == second
    assert client.get(f"/news/newsline?BEFORE={cursor}").text == second
    bad = client.get("/news/newsline?before=zzz&before=" + cursor)
    assert bad.status_code == 400  # the first value decides, even if a later one is valid
    # search words are known to the search page
    assert client.get("/news/search?q=harbor").text != client.get("/news/search?q=valley").text


def test_the_api_keeps_its_own_parameters(settings: Any) -> None:
    client = TestClient(create_app(settings))
    page = client.get("/api/v1/channels/news/items", params={"limit": 2}).json()
    assert len(page["items"]) == 2
    assert len(client.get("/api/v1/channels/news/items?limit=3&x=1").json()["items"]) == 3


def test_route_query_params_are_read_from_the_routes(settings: Any) -> None:
    app = create_app(settings)

    def params(path: str) -> frozenset[str]:
        scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
        return route_query_params(app.routes, scope)

    assert params("/news/newsline") == {"before"}
    assert params("/news/search") == {"q", "page_no"}
    assert params("/news/topic/harbor/harbor-0") == frozenset()
    assert params("/api/v1/channels/news/items") == {"cursor", "limit", "publication", "hashtag"}
    assert params("/api/v1/channels/news/search") == {"q", "limit", "cursor"}
    assert params("/news/digest/confirm") == {"token"}


def test_canonical_query() -> None:
    known = frozenset({"q", "page_no", "hub.challenge"})
    assert canonical_query(b"", known) == b""
    assert canonical_query(b"x=1&utm_source=y", known) == b""
    assert canonical_query(b"q=a+b&x=1&page_no=2", known) == b"page_no=2&q=a+b"
    assert canonical_query(b"Q=first&q=second", known) == b"q=first"
    assert canonical_query(b"q&q=caf%C3%A9", known) == b"q=caf%C3%A9"  # `q` has no value
    # as nginx's $arg_q: the first `q=` decides even when empty (then it is absent), and an
    # encoded name is not the name
    assert canonical_query(b"q=&q=x", known) == b""
    assert canonical_query(b"%71=x&page_no=1", known) == b"page_no=1"
    assert canonical_query(b"hub.challenge=abc&hub.mode=x", known) == b"hub.challenge=abc"
