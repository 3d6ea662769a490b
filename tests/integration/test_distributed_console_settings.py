"""Distributed mode's units use the console's channel settings as a pass of ``run_pass``
does: enrichment classifies with the console's hashtag list, the Digest's mail goes out
under the console's channel name. The units' work is called directly (no Redis needed)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import ItemHashtag
from newsline.publish import editorial
from newsline.publish.editorial import Actor
from newsline.workers.actors import digest_unit, enrich_unit, mail_unit
from tests.support.digest_seed import Seeder
from tests.support.enrich_seed import seed_reports
from tests.support.mail import Inbox

REDIS_URL = os.environ.get("NEWSLINE_TEST_REDIS_URL", "")
SLOT = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)
EDITOR = Actor("editor@example.org")


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp: Inbox) -> Settings:
    return make_settings(
        web={"base_url": "https://news.example"},
        email={
            "enabled": True,
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "from_address": "digest@news.example",
        },
    )


def console_sets(settings: Settings, key: str, value: object) -> None:
    with session_scope(settings.database_url) as session:
        editorial.set_channel_setting(session, settings, EDITOR, "news", key, value)


def test_the_enrich_unit_classifies_with_the_consoles_hashtags(settings: Settings) -> None:
    seed_reports(settings)
    file_tags = {h.tag for h in settings.channels[0].hashtags}
    assert "riverton" not in file_tags
    hashtags = [{"tag": "riverton", "keywords": ["riverton", "flood", "river", "council"]}]
    console_sets(settings, "hashtags", hashtags)

    report = enrich_unit(settings)

    assert report.enriched > 0
    with session_scope(settings.database_url) as session:
        tags = set(session.scalars(select(ItemHashtag.hashtag)))
    # The console's one hashtag (and the catch-all), none of the file's list.
    assert "riverton" in tags and not tags & (file_tags - {"other"}), tags


def test_the_digest_and_mail_units_go_out_under_the_consoles_settings(
    settings: Settings, smtp: Inbox
) -> None:
    seed = Seeder(settings)
    seed.publication("alpha", "Alpha Daily")
    seed.item("alpha", SLOT - timedelta(minutes=20), title="Bridge reopens")
    from newsline.community import subscribers

    with session_scope(settings.database_url) as session:
        sub, _ = subscribers.subscribe(session, seed.channel_id(), "reader@example.org")
        assert subscribers.confirm(session, sub.token) is not None
    console_sets(settings, "display_name", "The Bemidji Wire")
    console_sets(settings, "digest.schedule", "15,45")

    # A slot by the console's schedule (the file's is every :00 and :30).
    result = digest_unit(settings, "news", (SLOT + timedelta(minutes=20)).isoformat())
    assert result.status == "published" and result.slot_at.minute == 45
    report = mail_unit(settings, "news")

    assert report.sent == ["reader@example.org"]
    (msg,) = smtp.to("reader@example.org")
    assert msg["From"] == "The Bemidji Wire <digest@news.example>"


@pytest.mark.postgres
@pytest.mark.skipif(not REDIS_URL, reason="NEWSLINE_TEST_REDIS_URL not set (scripts/test sets it)")
def test_the_scheduler_enqueues_the_slot_of_the_consoles_schedule(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    from newsline.workers.actors import declare, queued_key
    from newsline.workers.distributed import schedule_once
    from newsline.workers.queue import make_broker, redis_client

    if not database_url.startswith("postgresql"):
        pytest.skip("distributed mode runs on PostgreSQL")
    settings = make_settings(queue_url=REDIS_URL)
    Seeder(settings).channel_id()
    console_sets(settings, "digest.schedule", "15,45")
    now = datetime(2025, 7, 25, 15, 20, tzinfo=UTC)  # the file's slot: 15:00; the console's 15:15
    wanted = queued_key("digest", f"news@{datetime(2025, 7, 25, 15, 15, tzinfo=UTC).isoformat()}")
    stale = queued_key("digest", f"news@{datetime(2025, 7, 25, 15, 0, tzinfo=UTC).isoformat()}")
    broker = make_broker(settings)
    client = redis_client(settings)
    client.delete(wanted, stale)
    try:
        tick = schedule_once(settings, declare(broker, settings), client, now)
        assert tick.digests == 1
        assert client.exists(wanted) and not client.exists(stale)
    finally:
        client.delete(wanted, stale)
        broker.flush_all()
        client.close()
        broker.close()
