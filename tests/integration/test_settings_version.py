"""A web process asks only for the channel settings' version number (one primary-key read
per render-cache cycle) and re-reads ``channel_setting`` only when a console or CLI write
bumped it — not on every cycle."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import event

from newsline.community.audit import Actor
from newsline.db.channels import settings_version
from newsline.db.engine import engine_for, session_scope
from newsline.publish import editorial
from newsline.web.site import Site

pytestmark = pytest.mark.postgres

CYCLE = 0.05  # web.render_cache_seconds: the version is checked this often


def test_settings_are_re_read_only_when_their_version_changes(make_settings: Any) -> None:
    settings = make_settings(web={"render_cache_seconds": CYCLE})
    site = Site(settings)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine_for(settings.database_url), "before_cursor_execute", seen)
    for _ in range(4):
        time.sleep(CYCLE * 1.2)
        assert site.settings.channels[0].hometown == "Remer,MN"
    asked = [s for s in statements if "settings_version" in s]
    assert len(asked) == 4  # once per cycle ...
    assert not any("channel_setting" in s for s in statements)  # ... and nothing re-read

    with session_scope(settings.database_url) as session:
        editorial.set_channel_setting(session, settings, Actor.cli(), "news", "hometown", "Ely,MN")
    with engine_for(settings.database_url).connect() as conn:
        assert settings_version(conn) == 1
    statements.clear()
    time.sleep(CYCLE * 1.2)
    assert site.settings.channels[0].hometown == "Ely,MN"  # seen at the next check
    assert any("channel_setting" in s for s in statements)

    statements.clear()
    time.sleep(CYCLE * 1.2)
    assert site.settings.channels[0].hometown == "Ely,MN"
    assert not any("channel_setting" in s for s in statements)  # unchanged: not re-read

    # Clearing a setting bumps it too (a clear leaves no newer timestamp behind).
    with session_scope(settings.database_url) as session:
        editorial.clear_channel_setting(session, settings, Actor.cli(), "news", "hometown")
    time.sleep(CYCLE * 1.2)
    assert site.settings.channels[0].hometown == "Remer,MN"
    event.remove(engine_for(settings.database_url), "before_cursor_execute", seen)
