"""Readers online: page heartbeats stored in the database, so every worker process agrees.

A reader is a session (the web's ``nl_sid`` cookie), not a request: however often one
browser beats, it is one row. Each row also records who sent it (a pseudonym of the client
IP), and :func:`online_count` counts at most ``per_client`` readers per client, so a script
inventing sessions cannot inflate the count beyond that.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from newsline.db.models import Presence, UTCDateTime, utcnow

#: A reader counts as online this long after their last heartbeat (pages beat every 10 s).
ONLINE_WINDOW = timedelta(seconds=30)
#: Rows older than this are deleted while recording heartbeats.
FORGET_AFTER = timedelta(minutes=10)

_BOT = re.compile(
    r"bot|crawl|spider|slurp|fetch|scrap|preview|monitor|lighthouse|headless|phantom|python|"
    r"curl|wget|httpie|httpx|aiohttp|okhttp|java/|go-http|libwww|feed|rss|reader|wrk|"
    r"facebookexternalhit|embedly|whatsapp|telegram|discord|skype|bingpreview",
    re.IGNORECASE,
)
_VISITOR = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def is_bot(user_agent: str | None) -> bool:
    """Whether a client looks like a bot by its User-Agent (no agent at all counts as a bot)."""
    if not user_agent or not user_agent.strip():
        return True
    return _BOT.search(user_agent) is not None


def valid_visitor(visitor: str) -> bool:
    """Whether a visitor id sent by a page is acceptable (random URL-safe token)."""
    return _VISITOR.match(visitor) is not None


def heartbeat(
    session: Session,
    channel_id: int,
    visitor: str,
    now: datetime | None = None,
    *,
    client: str = "",
) -> None:
    """Record that `visitor` (a session id) has a page of the channel open now (upsert),
    sent from `client`; forget stale rows."""
    if not valid_visitor(visitor):
        raise ValueError("visitor id must be 8-64 URL-safe characters")
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(Presence).values(
        channel_id=channel_id, visitor=visitor, seen_at=now, client=client[:64]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Presence.channel_id, Presence.visitor],
        set_={"seen_at": now, "client": client[:64]},
    )
    session.execute(stmt)
    session.execute(delete(Presence).where(Presence.seen_at < now - FORGET_AFTER))


# Prebuilt: every page render asks this, so no statement building per call.
_COUNT = text(
    "SELECT coalesce(sum(CASE WHEN n > :cap THEN :cap ELSE n END), 0) FROM ("
    " SELECT count(*) AS n FROM presence"
    " WHERE channel_id = :channel AND seen_at >= :since GROUP BY client"
    ") AS per_client"
).bindparams(bindparam("since", type_=UTCDateTime()))
#: Readers counted per client at most, unless the caller says otherwise.
PER_CLIENT = 10


def online_count(
    session: Session | Connection,
    channel_id: int,
    now: datetime | None = None,
    *,
    per_client: int = PER_CLIENT,
) -> int:
    """How many readers sent a heartbeat for the channel within the last 30 seconds, counting
    at most `per_client` of them per client."""
    since = (now or utcnow()) - ONLINE_WINDOW
    params = {"channel": channel_id, "since": since, "cap": max(1, per_client)}
    return int(session.scalar(_COUNT, params) or 0)
