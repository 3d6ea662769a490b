"""A channel's hashtag list in the console is a form: one row per hashtag (position, name,
description, keywords, remove) and empty rows to add, no JavaScript needed; bad rows get a
clear error naming the row, the page comes back as typed, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lxml.html
import pytest
from fastapi.testclient import TestClient

from newsline import urls
from newsline.community import accounts
from newsline.db.channels import stored_overrides
from newsline.db.engine import session_scope
from newsline.web.app import create_app
from tests.support.webdata import seed

pytestmark = pytest.mark.postgres

PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(
        web={"base_url": "http://testserver", "render_cache_seconds": 0},
        channels=[
            {
                "slug": "news",
                "display_name": "News",
                "hashtags": [
                    {"tag": "politics", "description": "Government", "keywords": ["council"]},
                    {"tag": "sports", "description": "Games", "keywords": ["match", "score"]},
                    {"tag": "weather", "description": "Sky", "keywords": ["rain"]},
                ],
            }
        ],
    )


@pytest.fixture
def editor(settings: Any) -> Iterator[TestClient]:
    seed(settings)
    with session_scope(settings.database_url) as session:
        accounts.create_user(
            session, "editor@example.org", PASSWORD, "Ed", role="editor", verified=True
        )
    client = TestClient(create_app(settings))
    answer = client.post(
        urls.API + urls.API_SESSION, json={"email": "editor@example.org", "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    client.headers["x-test-csrf"] = answer.json()["csrf_token"]
    yield client
    client.close()


def form_of(client: TestClient) -> tuple[dict[str, str], str]:
    """The hashtag form's fields as the page fills them (what a browser would send)."""
    page = client.get("/admin/channels", params={"channel": "news"})
    assert page.status_code == 200
    return fields(page.text), page.text


def fields(html: str) -> dict[str, str]:
    (form,) = lxml.html.fromstring(html).xpath("//form[@id='hashtag-form']")
    out: dict[str, str] = {}
    for element in form.xpath(".//input|.//textarea"):
        name = element.get("name")
        if element.get("type") == "checkbox":
            if element.get("checked") is not None:
                out[name] = element.get("value")
            continue
        out[name] = element.text or "" if element.tag == "textarea" else element.get("value", "")
    return out


def stored(settings: Any) -> Any:
    with session_scope(settings.database_url) as session:
        return stored_overrides(session).get("news", {}).get("hashtags")


def test_the_hashtag_form_edits_orders_removes_and_adds_rows(
    settings: Any, editor: TestClient
) -> None:
    data, _ = form_of(editor)
    # The rows in force, then empty rows to add.
    assert [data[f"h{n}.tag"] for n in range(4)] == ["politics", "sports", "weather", ""]
    assert data["h1.keywords"] == "match, score"
    data.update(
        {
            "h0.position": "3",  # politics goes last
            "h1.description": "Games and teams",
            "h1.keywords": "match, score,  league ,match",
            "h2.remove": "1",  # weather goes
            "h3.tag": "#Harbor_Life",  # a new one, with no position: after the numbered ones
            "h3.description": "The waterfront",
            "h3.keywords": "pier\nferry",
            "action": "save",
        }
    )
    done = editor.post("/admin/channels/action", data=data, follow_redirects=False)
    assert done.status_code == 303, done.text[:500]
    assert "notice=" in done.headers["location"]
    expected = [
        {
            "tag": "sports",
            "description": "Games and teams",
            "keywords": ["match", "score", "league"],
        },
        {"tag": "politics", "description": "Government", "keywords": ["council"]},
        {"tag": "harbor_life", "description": "The waterfront", "keywords": ["pier", "ferry"]},
    ]
    assert stored(settings) == expected
    # The page shows the list in force in its new order, and the site uses it.
    again, _ = form_of(editor)
    assert [again[f"h{n}.tag"] for n in range(4)] == ["sports", "politics", "harbor_life", ""]
    assert editor.get("/news/tag/harbor_life").status_code == 200
    assert editor.get("/news/tag/weather").status_code == 404  # removed


def test_bad_hashtag_rows_are_named_shown_as_typed_and_nothing_is_stored(
    settings: Any, editor: TestClient
) -> None:
    data, _ = form_of(editor)
    data.update(
        {
            "h1.tag": "not ok",
            "h2.tag": "politics",  # twice
            "h2.position": "soon",
            "h3.tag": "fresh",
            "h3.keywords": "one, two",
            "action": "save",
        }
    )
    answer = editor.post("/admin/channels/action", data=data, follow_redirects=False)
    assert answer.status_code == 422
    problem = lxml.html.fromstring(answer.text).xpath("//p[@class='problem']")[0].text_content()
    assert "row 2: #not ok must be letters, digits or '_'" in problem
    assert "row 3: #politics is already row 1" in problem
    assert "row 3: the position 'soon' is not a number" in problem
    typed = fields(answer.text)  # nothing typed is lost
    assert typed["h1.tag"] == "not ok" and typed["h2.position"] == "soon"
    assert typed["h3.tag"] == "fresh" and typed["h3.keywords"] == "one, two"
    assert stored(settings) is None
    # Every row removed: refused too.
    empty = {k: v for k, v in data.items() if not k.endswith(".tag")} | {
        f"h{n}.remove": "1" for n in range(6)
    }
    answer = editor.post("/admin/channels/action", data=empty, follow_redirects=False)
    assert answer.status_code == 422 and "keep at least one hashtag" in answer.text
    assert stored(settings) is None
