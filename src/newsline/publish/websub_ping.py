"""WebSub, the publisher side: tell the configured hub (``web.websub_hub``) which of our
feeds changed, so it can push them (``hub.mode=publish``, ``hub.url=<feed>``).

Our channel and publication feeds advertise the hub (``web/feeds.py``); a subscriber that
trusts the push polls them less, so every feed that advertises the hub is pinged when a
pass adds to it. Hashtag feeds do not advertise it: which of them changed is not worth
working out for every pass.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import aiohttp
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Channel, Item, Newsline, Publication
from newsline.urls import FEED_FILES, Urls

log = logging.getLogger(__name__)


def changed_topics(session: Session, settings: Settings, since: datetime) -> list[str]:
    """The URLs of our feeds that gained or changed items since `since`."""
    rows = session.execute(
        select(Channel.slug, Publication.tag)
        .join(Newsline, Newsline.channel_id == Channel.id)
        .join(Publication, Publication.id == Newsline.publication_id)
        .where(
            select(Item.id)
            .where(
                Item.publication_id == Publication.id,
                Item.state == "ready",
                or_(Item.first_seen_at >= since, Item.enriched_at >= since),
            )
            .exists()
        )
        .order_by(Channel.slug, Publication.tag)
    )
    site, paths = Urls(settings.web.base_url), Urls()
    topics: dict[str, None] = {}  # ordered and without repeats
    for slug, tag in rows:
        for kind in FEED_FILES:
            topics[site.absolute(paths.feed(slug, kind))] = None
            topics[site.absolute(paths.publication_feed(slug, tag, kind))] = None
    return list(topics)


async def ping(settings: Settings, topics: list[str]) -> list[str]:
    """Send one ``hub.mode=publish`` per topic to the hub; the errors, one line each."""
    hub = settings.web.websub_hub
    if not hub or not topics:
        return []
    # The hub is the operator's own setting, not a publisher's word: no SSRF guard here.
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.websub.timeout),
        headers={"User-Agent": settings.fetch.agent},
    ) as client:

        async def one(topic: str) -> str | None:
            form = {"hub.mode": "publish", "hub.url": topic}
            try:
                async with client.post(hub, data=form, allow_redirects=False) as resp:
                    if 200 <= resp.status < 300:
                        return None
                    return f"websub hub {hub}: HTTP {resp.status} to the ping for {topic}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                return f"websub hub {hub}: cannot ping for {topic}: {exc or type(exc).__name__}"

        results = await asyncio.gather(*(one(t) for t in topics))
    return [r for r in results if r is not None]


def ping_changed(settings: Settings, since: datetime) -> list[str]:
    """Ping the hub for every feed of ours that changed since `since` (a pass's start);
    the errors. Never raises: a hub's trouble must not fail the pass that fed it."""
    if not settings.web.websub_hub:
        return []
    try:
        with session_scope(settings.database_url) as session:
            topics = changed_topics(session, settings, since)
        return asyncio.run(ping(settings, topics))
    except Exception as exc:
        log.exception("websub: pinging the hub failed")
        return [f"websub hub: {type(exc).__name__}: {exc}"[:500]]
