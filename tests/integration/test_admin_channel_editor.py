"""A channel's editor in the console: items, digests, publications and settings of their
channel only; another channel's are neither listed nor writable (403); the desk, people and
the audit log stay an install-wide editor's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from newsline import urls
from newsline.community import accounts
from newsline.community.audit import Actor
from newsline.db.channels import channel_row
from newsline.db.engine import session_scope
from newsline.db.models import Digest, Item, Publication
from newsline.publish.digest import run_digest
from newsline.web.app import create_app
from tests.support.webdata import Seeded, add_item, seed

pytestmark = pytest.mark.postgres

PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings(make_settings: Any) -> Any:
    # Two channels: "news" carries harbor, "hills" carries valley.
    return make_settings(
        web={"base_url": "http://testserver", "render_cache_seconds": 0},
        channels=[
            {"slug": "news", "display_name": "News", "publications": ["harbor"]},
            {"slug": "hills", "display_name": "Hills", "publications": ["valley"]},
        ],
    )


@pytest.fixture
def seeded(settings: Any) -> Seeded:
    data = seed(settings)
    with session_scope(settings.database_url) as session:
        user = accounts.create_user(
            session, "desk@example.org", PASSWORD, "Desk Person", role="reader", verified=True
        )
        news = channel_row(session, settings, "news")
        accounts.set_role(session, Actor("admin@example.org"), user, "editor", news.id)
        valley = session.get(Publication, data.publications["valley"])
        assert valley is not None
        data.items["valley-extra"] = add_item(session, valley, "valley-extra").id
    for slug in ("news", "hills"):
        assert run_digest(settings, slug).status == "published"
    return data


@pytest.fixture
def desk(settings: Any, seeded: Seeded) -> Iterator[TestClient]:
    """A client signed in as the editor of channel "news" only."""
    client = TestClient(create_app(settings))
    answer = client.post(
        urls.API + urls.API_SESSION, json={"email": "desk@example.org", "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    client.headers["x-test-csrf"] = answer.json()["csrf_token"]
    yield client
    client.close()


def post(client: TestClient, path: str, data: dict[str, Any]) -> Any:
    body = {**data, "csrf_token": client.headers["x-test-csrf"]}
    return client.post(path, data=body, follow_redirects=False)


def digest_of(settings: Any, slug: str) -> int:
    with session_scope(settings.database_url) as session:
        row = channel_row(session, settings, slug)
        found = session.scalar(select(Digest.id).where(Digest.channel_id == row.id))
        assert found is not None
        return int(found)


def state_of(settings: Any, item_id: int) -> str:
    with session_scope(settings.database_url) as session:
        item = session.get(Item, item_id)
        assert item is not None
        return item.state


def test_a_channel_editor_sees_and_acts_on_their_channel_only(
    settings: Any, seeded: Seeded, desk: TestClient
) -> None:
    mine, theirs = seeded.items["harbor-1"], seeded.items["valley-1"]
    # The console: their channel's sections, not the desk, people or the audit log.
    assert desk.get("/admin", follow_redirects=False).headers["location"] == "/admin/items"
    for section in ("people", "audit"):
        assert desk.get(f"/admin/{section}").status_code == 403, section
    listed = desk.get("/admin/items")
    assert listed.status_code == 200
    assert f'value="{mine}"' in listed.text and f'value="{theirs}"' not in listed.text
    assert 'href="/admin/people"' not in listed.text
    other_channel = desk.get("/admin/items", params={"channel": "hills"})
    assert f'value="{theirs}"' not in other_channel.text

    # Items: theirs acted on; another channel's refused and left alone.
    done = post(desk, "/admin/items/action", {"action": "unpublish", "ids": str(mine)})
    assert done.status_code == 303 and state_of(settings, mine) == "unpublished"
    refused = post(desk, "/admin/items/action", {"action": "unpublish", "ids": str(theirs)})
    assert refused.status_code == 403 and state_of(settings, theirs) == "ready"
    both = post(desk, "/admin/items/action", {"action": "republish", "ids": f"{mine},{theirs}"})
    assert both.status_code == 403 and state_of(settings, mine) == "unpublished"
    assert desk.get(f"/admin/items/{mine}").status_code == 200
    assert desk.get(f"/admin/items/{theirs}").status_code == 403
    edit = {"action": "edit", "title": "Renamed", "summary": ""}
    assert post(desk, f"/admin/items/{theirs}", edit).status_code == 403
    assert post(desk, f"/admin/items/{mine}", edit).status_code == 303

    # Digests: theirs previewed and rewritten; another channel's refused.
    assert desk.get("/admin/digests").status_code == 200
    assert desk.get("/admin/digests", params={"channel": "hills"}).status_code == 403
    overview = {"action": "overview", "overview": "Written by the desk."}
    assert (
        post(
            desk, "/admin/digests/action", {**overview, "digest": digest_of(settings, "news")}
        ).status_code
        == 303
    )
    hills = digest_of(settings, "hills")
    assert post(desk, "/admin/digests/action", {**overview, "digest": hills}).status_code == 403
    publish = {"action": "publish", "channel": "hills"}
    assert post(desk, "/admin/digests/action", publish).status_code == 403

    # Publications: theirs listed and paused; another channel's neither; no adding.
    page = desk.get("/admin/publications")
    assert page.status_code == 200
    assert "Harbor Gazette" in page.text and "Valley Ledger" not in page.text
    assert 'value="discover"' not in page.text
    assert (
        post(desk, "/admin/publications/action", {"action": "pause", "tag": "harbor"}).status_code
        == 303
    )
    assert (
        post(desk, "/admin/publications/action", {"action": "pause", "tag": "valley"}).status_code
        == 403
    )
    add = {"action": "add", "feed_url": "https://elsewhere.example/rss"}
    assert post(desk, "/admin/publications/action", add).status_code == 403
    with session_scope(settings.database_url) as session:
        paused = dict(session.execute(select(Publication.tag, Publication.paused_at)).all())
        assert paused["harbor"] is not None and paused["valley"] is None

    # Channel settings: theirs saved; another channel's neither shown nor saved.
    assert desk.get("/admin/channels").status_code == 200
    assert desk.get("/admin/channels", params={"channel": "hills"}).status_code == 403
    hometown = {"action": "save", "key": "hometown", "value": "Rivertown"}
    assert post(desk, "/admin/channels/action", {**hometown, "channel": "news"}).status_code == 303
    assert post(desk, "/admin/channels/action", {**hometown, "channel": "hills"}).status_code == 403
    from newsline.db.channels import stored_overrides

    with session_scope(settings.database_url) as session:
        stored = stored_overrides(session)
        assert stored.get("news", {}).get("hometown") == "Rivertown"
        assert "hometown" not in stored.get("hills", {})
