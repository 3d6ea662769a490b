"""``newsline demo``: the whole pipeline on a replayed web, with no network.

Writes the project's own demo corpus (fictional publishers, our own text) or takes any
capture corpus, replays it on loopback, points a fresh newsline at it through the two
ordinary settings (``fetch.connect_to``, ``fetch.ca_bundle``), adds its feeds as sources,
runs ingest, enrichment and the digest once, and leaves the site serving.

The bundled corpus carries four days of coverage (:mod:`newsline.testing.demo_history`),
and :func:`publish_history` makes the site look as if it had been running all along:
items count as seen when they were published, and the Digests those days would have
produced are published, slot by slot, so every page has content from the first minute.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, func, select, update

from newsline.config import Settings, load_settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.db.migrate import upgrade
from newsline.db.models import Item, Publication
from newsline.ingest.feeds import looks_like_html
from newsline.ingest.publications import add_publication
from newsline.publish.digest import DigestResult, label_for_slot, next_slot, run_digest
from newsline.testing.corpus import read_manifest
from newsline.testing.democorpus import demo_sources
from newsline.testing.replay import ReplayServer
from newsline.workers.pipeline import run_pass

log = logging.getLogger(__name__)

FEED_TYPES = ("rss", "atom", "xml", "feed+json")
#: How far back the demo pretends to have been running (the corpus's history and a day).
HISTORY = timedelta(days=5)
#: The demo's Digest: three editions a day, read like a newspaper's (the default, every
#: half hour, would make four days of history into a hundred one-item Digests).
DEMO_DIGEST_SCHEDULE = "0 7,12,18"


@dataclass(frozen=True)
class DemoSite:
    """A prepared demo: its config file and settings."""

    config: Path
    settings: Settings


def write_config(data_dir: Path, server: ReplayServer, base_url: str) -> Path:
    """A newsline.toml for the demo: SQLite in ``data_dir``, fetching from the replay server."""
    config = data_dir / "newsline.toml"
    lines = [
        "# Written by `newsline demo`: the replay server stands in for the web.",
        f"database_url = {json.dumps('sqlite:///' + str((data_dir / 'newsline.db').resolve()))}",
        "",
        "[fetch]",
        f"connect_to = {json.dumps(server.connect_to)}",
        f"ca_bundle = {json.dumps(str(server.ca_file))}",
        "min_host_delay = 0.0",
        "",
        "[web]",
        f"base_url = {json.dumps(base_url)}",
        "",
        "[[channels]]",
        'slug = "news"',
        'display_name = "The Newsline Demo"',
        'hometown = "Remer,MN"',
        'timezone = "America/Chicago"',
        "",
        "[channels.digest]",
        f"schedule = {json.dumps(DEMO_DIGEST_SCHEDULE)}",
        "",
    ]
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


def corpus_feeds(corpus: Path) -> list[str]:
    """Feed URLs a capture corpus serves (by content type, or marked generated)."""
    feeds = []
    for entry in read_manifest(corpus):
        kind = (entry.header("Content-Type") or "").lower()
        is_feed = entry.extra.get("generated") or any(t in kind for t in FEED_TYPES)
        healthy = entry.fault is None and entry.status == 200
        if is_feed and healthy and not looks_like_html(entry.read_body()[:2048]):
            feeds.append(entry.url)
    return feeds


def prepare(data_dir: Path, server: ReplayServer, *, own_corpus: bool, base_url: str) -> DemoSite:
    """Config, database and sources for a demo run (idempotent)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(data_dir, server, base_url)
    settings = load_settings(config)
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        sync_channels(session, settings)
        if own_corpus:
            for src in demo_sources(history=True):
                add_publication(
                    session,
                    settings,
                    src.feed_url,
                    tag=src.tag,
                    name=src.name,
                    republish=src.republish,
                    home_url=src.home_url,
                )
        else:
            for url in corpus_feeds(server.corpus_dir):
                add_publication(session, settings, url)
    return DemoSite(config, settings)


def run_pipeline(settings: Settings) -> str:
    """One pass of the pipeline (ingest, enrichment, due digests); a summary for the console.

    A digest covers what arrived before its slot, so items ingested just now go into the
    next slot's digest, which the scheduler publishes while the site is serving.
    """
    report = run_pass(settings)
    lines = [report.summary()]
    history = publish_history(settings)
    if history:
        lines.append(f"history: published {len(history)} past Digests")
    published = {result.channel: result for result in report.published}
    for channel in settings.channels:
        result = published.get(channel.slug)
        if result is not None:
            lines.append(f"{channel.slug}: published {result.title} ({result.entries} entries)")
        else:
            upcoming = next_slot(datetime.now(UTC), channel.zone, channel.digest.schedule)
            title, _slug = label_for_slot(upcoming, channel.zone)
            lines.append(f"{channel.slug}: next Digest is {title}, published while serving")
    return "\n".join(lines)


def publish_history(settings: Settings, now: datetime | None = None) -> list[DigestResult]:
    """Make the demo look as if it had been running: past items seen when published, and
    the Digests of every slot since the oldest of them (the last :data:`HISTORY`).

    Only the demo does this: a real install's Digest covers what it saw, when it saw it.
    Idempotent (a slot's Digest is published once; items already backdated stay so).
    """
    now = now or datetime.now(UTC)
    since = now - HISTORY
    with session_scope(settings.database_url) as session:
        others = select(Publication.id).where(Publication.is_channel_own.is_(False))
        session.execute(
            update(Item)
            .where(
                and_(
                    Item.publication_id.in_(others),
                    Item.sort_at >= since,
                    Item.sort_at < Item.first_seen_at,
                )
            )
            .values(first_seen_at=Item.sort_at)
        )
        oldest = session.scalar(
            select(func.min(Item.first_seen_at)).where(
                Item.publication_id.in_(others), Item.first_seen_at >= since
            )
        )
    if oldest is None:
        return []
    if oldest.tzinfo is None:  # SQLite hands back naive UTC
        oldest = oldest.replace(tzinfo=UTC)
    published: list[DigestResult] = []
    for channel in settings.channels:
        slot = next_slot(oldest, channel.zone, channel.digest.schedule)
        settled = now - timedelta(seconds=channel.digest.settle_seconds)
        while slot <= settled:
            result = run_digest(settings, channel.slug, at=slot)
            if result.status == "published":
                published.append(result)
            slot = next_slot(slot, channel.zone, channel.digest.schedule)
    return published
