"""Channel lookups in the database: by slug, created from the config on first use."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from newsline.db.channels import UnknownChannel, channel_row, channel_settings
from newsline.db.engine import session_scope
from newsline.db.models import Channel, Publication
from newsline.errors import NewslineError

CHANNELS = [
    {"slug": "news", "display_name": "News"},
    {"slug": "town", "display_name": "Town Crier", "own_tag": "crier"},
]


def test_channel_settings_by_slug(make_settings: Any) -> None:
    settings = make_settings(channels=CHANNELS)
    assert channel_settings(settings, "town").display_name == "Town Crier"
    with pytest.raises(UnknownChannel, match=r"unknown channel 'nope' \(configured: news, town\)"):
        channel_settings(settings, "nope")
    assert issubclass(UnknownChannel, NewslineError)  # the CLI and the web show its line


@pytest.mark.postgres
def test_channel_row_creates_the_rows_of_a_configured_channel(
    database_url: str, make_settings: Any
) -> None:
    settings = make_settings(channels=CHANNELS)
    with session_scope(database_url) as session:
        town = channel_row(session, settings, "town")  # no rows yet: synced from the config
        assert town.display_name == "Town Crier"
        own = session.get(Publication, town.own_publication_id)
        assert own is not None and own.tag == "crier" and own.is_channel_own
        again = channel_row(session, settings, "town")
        assert again.id == town.id
        assert session.scalar(select(func.count()).select_from(Channel)) == 2
    with session_scope(database_url) as session, pytest.raises(UnknownChannel, match="'nope'"):
        channel_row(session, settings, "nope")
