"""The editors' commands (CLI parity with the console): each changes what readers get and
writes its audit entry; bad input is one clear line and changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from newsline.cli import app as cli
from newsline.community.audit import Actor, entries
from newsline.db.channels import channel_row, effective_settings
from newsline.db.engine import session_scope
from newsline.db.models import Digest, Item, Publication, utcnow
from newsline.ingest.refresh import due_feeds
from newsline.publish import editorial
from newsline.web.app import create_app
from tests.support.webdata import Seeded, add_item, seed

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(make_settings: Any) -> Any:
    return make_settings(web={"base_url": "http://testserver", "render_cache_seconds": 0})


@pytest.fixture
def seeded(settings: Any) -> Seeded:
    return seed(settings)


@pytest.fixture
def config(settings: Any, tmp_path: Path) -> Path:
    path = tmp_path / "newsline.toml"
    path.write_text(f'database_url = "{settings.database_url}"\n', encoding="utf-8")
    return path


def run(config: Path, *args: str, ok: bool = True) -> Any:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert (result.exit_code == 0) is ok, result.output
    return result


def actions(settings: Any, family: str) -> list[str]:
    with session_scope(settings.database_url) as session:
        return [e.action for e in entries(session, action=family)]


def preview_ids(settings: Any) -> set[int]:
    result = editorial.preview_digest(settings, settings.channels[0].slug)
    assert result.composed is not None
    return {i for e in result.composed.entries for i in e.item_ids}


def test_include_next_and_exclude_steer_the_digest(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    # An item far outside the window: only an editor's pick brings it in.
    with session_scope(settings.database_url) as session:
        harbor = session.scalar(select(Publication).where(Publication.tag == "harbor"))
        assert harbor is not None
        old = add_item(session, harbor, "archive-piece", sort_at=utcnow() - timedelta(days=20)).id
    excluded = seeded.items["harbor-1"]
    assert old not in preview_ids(settings) and excluded in preview_ids(settings)
    run(config, "items", "include-next", str(old), "--reason", "anniversary")
    run(config, "items", "exclude-digest", str(excluded))
    ids = preview_ids(settings)
    assert old in ids and excluded not in ids
    out = run(config, "digest", "preview").output
    assert "entries" in out
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(Digest.id)) is None  # a preview stores nothing
    run(config, "digest", "publish")
    with session_scope(settings.database_url) as session:
        (digest,) = session.scalars(select(Digest)).all()
        carried = {i for e in digest.entries for i in e["item_ids"]}
        picked = session.get(Item, old)
        assert picked is not None and picked.digest_choice is None  # done: carried once
        skipped = session.get(Item, excluded)
        assert skipped is not None and skipped.digest_choice == "exclude"  # for good
    assert old in carried and excluded not in carried
    assert actions(settings, "item.") == ["item.exclude_digest", "item.include_next"]
    assert actions(settings, "digest.") == ["digest.publish"]
    run(config, "items", "exclude-digest", str(excluded), "--undo")
    assert actions(settings, "item.")[0] == "item.digest_default"


def test_pin_and_edit_show_on_the_site_and_keep_the_original(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    item_id = seeded.items["valley-2"]
    run(config, "items", "pin", str(item_id), "--hours", "5")
    run(config, "items", "edit", str(item_id), "--title", "Ferry runs again", "--summary", "Ours.")
    client = TestClient(create_app(settings))
    assert "Ferry runs again" in client.get("/news/topic/valley/valley-2").text
    with session_scope(settings.database_url) as session:
        item = session.get(Item, item_id)
        assert item is not None and item.original_title == "Item valley-2"
        assert item.pinned_until is not None
        assert item.pinned_until - utcnow() > timedelta(hours=4)
        channel_id = channel_row(session, settings, "news").id
        assert [p.id for p in editorial.pinned(session, channel_id)] == [item_id]
    run(config, "items", "edit", str(item_id), "--revert")
    assert "Item valley-2" in client.get("/news/topic/valley/valley-2").text
    for args, expected in (
        (["items", "pin", str(item_id), "--hours", "500"], "between 0 and 168"),
        (["items", "edit", str(item_id)], "give --title"),
        (["items", "edit", str(item_id), "--title", "  "], "cannot be empty"),
        (["items", "edit", str(item_id), "--revert"], "never edited"),
    ):
        result = run(config, *args, ok=False)
        assert expected in result.stderr, result.stderr
    assert actions(settings, "item.") == ["item.revert_edit", "item.edit", "item.pin"]


def test_publications_pause_resume_and_remove_never_lose_items(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    run(config, "publications", "pause", "valley")
    with session_scope(settings.database_url) as session:
        assert {d.url for d in due_feeds(session, force=True)} == {"https://harbor.example.org/rss"}
    run(config, "publications", "resume", "valley")
    with session_scope(settings.database_url) as session:
        assert len(due_feeds(session, force=True)) == 2
    refused = run(config, "publications", "remove", "valley", ok=False)
    assert "--keep-items" in refused.stderr and "--hide-items" in refused.stderr
    run(config, "publications", "remove", "valley", "--keep-items")
    client = TestClient(create_app(settings))
    assert client.get("/news/topic/valley/valley-1").status_code == 200  # kept, still shown
    run(config, "publications", "remove", "harbor", "--hide-items")
    assert client.get("/news/topic/harbor/harbor-1").status_code == 410
    with session_scope(settings.database_url) as session:
        harbor = session.scalar(select(Publication).where(Publication.tag == "harbor"))
        assert harbor is not None and harbor.removed_at is not None and not harbor.feeds
        kept = session.scalars(select(Item).where(Item.publication_id == harbor.id)).all()
        assert kept and all(i.state != "ready" for i in kept)  # hidden, not deleted
    # A publication without items is deleted outright.
    with session_scope(settings.database_url) as session:
        session.add(Publication(tag="empty", name="Empty"))
    run(config, "publications", "remove", "empty")
    log = json.loads(run(config, "audit", "--action", "publication.", "--json").stdout)
    assert [e["action"] for e in log] == [
        "publication.remove",
        "publication.remove",
        "publication.remove",
        "publication.resume",
        "publication.pause",
    ]
    assert log[1]["detail"]["items"] > 0 and log[1]["detail"]["kept"] == "hide"


def test_publications_set_changes_name_mode_and_refuses_bad_values(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    run(
        config,
        "publications",
        "set",
        "valley",
        "--name",
        "The Valley Ledger",
        "--republish",
        "full",
    )
    with session_scope(settings.database_url) as session:
        valley = session.scalar(select(Publication).where(Publication.tag == "valley"))
        assert valley is not None and valley.name == "The Valley Ledger"
        assert valley.republish == "full"
    for args, expected in (
        (["--republish", "all"], "full or teaser"),
        (["--icon", "javascript:alert(1)"], "http(s) URL"),
        (["--tag", "harbor"], "is taken"),
        ([], "nothing to change"),
    ):
        assert expected in run(config, "publications", "set", "valley", *args, ok=False).stderr


def test_console_channel_settings_win_over_the_file_until_reset(
    settings: Any, seeded: Seeded
) -> None:
    actor = Actor("editor@example.org")
    with session_scope(settings.database_url) as session:
        editorial.set_channel_setting(session, settings, actor, "news", "hometown", "Remer, MN")
        editorial.set_channel_setting(session, settings, actor, "news", "digest.schedule", "15,45")
        with pytest.raises(editorial.EditorialError, match="timezone"):
            editorial.set_channel_setting(session, settings, actor, "news", "timezone", "Mars/Base")
        with pytest.raises(editorial.EditorialError, match=r"digest\.schedule"):
            editorial.set_channel_setting(session, settings, actor, "news", "digest.schedule", "99")
        with pytest.raises(editorial.EditorialError, match="cannot be changed"):
            editorial.set_channel_setting(session, settings, actor, "news", "slug", "x")
    effective = effective_settings(settings)
    news = effective.channel("news")
    assert news is not None and news.hometown == "Remer, MN" and news.digest.schedule == "15,45"
    assert settings.channel("news").hometown != "Remer, MN"  # the file's, untouched
    assert "Remer, MN" in TestClient(create_app(settings)).get("/news").text
    # The Digest keeps the console's schedule (the file's is every :00 and :30).
    assert editorial.preview_digest(settings, "news").slot_at.minute in (15, 45)
    with session_scope(settings.database_url) as session:
        editorial.clear_channel_setting(session, settings, actor, "news", "hometown")
    assert (
        effective_settings(settings).channel("news").hometown == settings.channel("news").hometown
    )  # type: ignore[union-attr]
    assert actions(settings, "channel.") == ["channel.reset", "channel.set", "channel.set"]


def _first_card(client: TestClient) -> str:
    import re

    html = client.get("/news/newsline").text
    found = re.search(r'class="[^"]*\bcard\b[^"]*".*?href="(/news/topic/[^"]+)"', html, re.S)
    assert found, "no card on the front page"
    return found.group(1)


def test_a_pin_leads_the_front_page_until_it_ends(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    client = TestClient(create_app(settings))
    old = "/news/topic/harbor/harbor-old"
    assert _first_card(client) != old
    run(config, "items", "pin", str(seeded.items["harbor-old"]), "--hours", "1")
    assert _first_card(client) == old
    assert client.get("/news/newsline").text.count(f'href="{old}"') >= 1
    run(config, "items", "pin", str(seeded.items["harbor-old"]), "--hours", "0")
    assert _first_card(client) != old
    assert actions(settings, "item.") == ["item.unpin", "item.pin"]


def test_channels_and_subscribers_commands_are_the_consoles(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    from newsline.community.subscribers import subscribe

    run(config, "channels", "set", "news", "hometown", "Remer, MN")
    shown = run(config, "channels", "show", "news").stdout
    assert 'stored (wins): "Remer, MN"' in shown
    bad = run(config, "channels", "set", "news", "sponsor", "{not json", ok=False)
    assert "takes JSON" in bad.stderr
    run(config, "channels", "reset", "news", "hometown")
    assert "stored (wins)" not in run(config, "channels", "show", "news").stdout
    with session_scope(settings.database_url) as session:
        subscribe(session, channel_row(session, settings, "news").id, "reader@example.org")
    run(config, "digest", "subscribers", "confirm", "reader@example.org")
    run(config, "digest", "subscribers", "remove", "reader@example.org")
    assert (
        "not a subscriber"
        in run(config, "digest", "subscribers", "remove", "reader@example.org", ok=False).stderr
    )
    assert actions(settings, "channel.") == ["channel.reset", "channel.set"]
    assert actions(settings, "subscriber.") == ["subscriber.remove", "subscriber.confirm"]
