"""Synthetic rows for the site's tests: publications, feeds and items put straight into the DB.

All text here is our own invention (no publisher text in the repository).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.db.models import Feed, Item, ItemHashtag, Publication, Story

NOW = datetime.now(UTC).replace(microsecond=0)

XSS = {
    "title": 'Council vote <script>alert("t")</script><img src=x onerror=alert("ti")>',
    "author": '<svg onload=alert("a")>Jo "Quote" O\'Hara',
    "caption": '<iframe src="javascript:alert(\'c\')"></iframe><b onmouseover=alert("c2")>x</b>',
    "body": (
        "<p>Safe paragraph one about the harbour bridge.</p>"
        '<script>alert("body")</script>'
        "<p><a href=\"javascript:alert('href')\">click</a> "
        '<img src="x" onerror="alert(\'img\')"> '
        '<svg><script>alert("svg")</script></svg>'
        "<div style=\"background:url(javascript:alert('css'));width:expression(alert('expr'))\">"
        "styled</div>"
        '<iframe srcdoc="<script>alert(1)</script>"></iframe>'
        '<math><mtext><table><mglyph><style><img src=x onerror=alert("m")></style></mglyph></table></mtext></math>'
        "<object data=\"javascript:alert('obj')\"></object>"
        "<a href=\"  JaVaScRiPt:alert('mixed')\">mixed</a></p>"
    ),
    "image_url": "javascript:alert('image')",
    "url": "javascript:alert('source')",
}


@dataclass
class Seeded:
    """What :func:`seed` created."""

    publications: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)


def add_story(session: Any, key: str, title: str, items: list[Item]) -> int:
    """A story of these items (its counts from them); its id."""
    story = Story(
        key=key,
        title=title,
        item_count=len(items),
        publication_count=len({i.publication_id for i in items}),
    )
    session.add(story)
    session.flush()
    for item in items:
        item.story_id = story.id
    return int(story.id)


def add_item(session: Any, pub: Publication, key: str, **values: Any) -> Item:
    """Add a ready item with sensible defaults; `key` makes URL, guid and slug unique."""
    when = values.pop("sort_at", NOW - timedelta(minutes=5))
    defaults: dict[str, Any] = {
        "publication_id": pub.id,
        "guid": f"guid-{key}",
        "url": f"https://{pub.tag}.example.org/news/{key}",
        "canonical_url": f"https://{pub.tag}.example.org/news/{key}",
        "state": "ready",
        "title": f"Item {key}",
        "author": "Ann Writer",
        "published_at": when,
        "first_seen_at": when,
        "sort_at": when,
        "site_name": pub.name,
        "image_url": f"https://img.example.org/{key}.jpg",
        "image_caption": f"Caption of {key}.",
        "teaser": f"Teaser of {key}, a short text about the matter at hand.",
        "body_html": f"<p>Body of {key}: the lighthouse keeper counted ships.</p>",
        "body_text": f"Body of {key}: the lighthouse keeper counted ships.",
        "slug": key,
        "language": "en",
    }
    defaults.update(values)
    item = Item(**defaults)
    session.add(item)
    session.flush()
    return item


def seed(settings: Settings, items_per_pub: int = 3) -> Seeded:
    """Two publications (full + teaser) with feeds and items, hashtags, a duplicate, a pending
    item, an outsider publication not in the newsline, and one XSS-laden item."""
    out = Seeded()
    channel_slug = settings.channels[0].slug
    with session_scope(settings.database_url) as session:
        harbor = Publication(
            tag="harbor",
            name="Harbor Gazette",
            home_url="https://harbor.example.org",
            republish="full",
        )
        valley = Publication(
            tag="valley",
            name="Valley Ledger",
            home_url="https://valley.example.org",
            icon_url="https://valley.example.org/icon.png",
            republish="teaser",
        )
        session.add_all([harbor, valley])
        session.flush()
        session.add_all(
            [
                Feed(
                    publication_id=harbor.id,
                    url="https://harbor.example.org/rss",
                    status="ok",
                    last_status_code=200,
                    last_success_at=NOW - timedelta(minutes=3),
                    last_fetched_at=NOW - timedelta(minutes=3),
                ),
                Feed(
                    publication_id=valley.id,
                    url="https://valley.example.org/feed",
                    status="error",
                    last_status_code=503,
                    last_error="HTTP 503 Service Unavailable",
                    consecutive_failures=4,
                    last_fetched_at=NOW - timedelta(minutes=9),
                ),
            ]
        )
        channels = sync_channels(session, settings)
        channel_id = channels[channel_slug].id
        out.publications = {"harbor": harbor.id, "valley": valley.id}
        for pub in (harbor, valley):
            for n in range(items_per_pub):
                key = f"{pub.tag}-{n}"
                item = add_item(session, pub, key, sort_at=NOW - timedelta(hours=n + 1, minutes=1))
                out.items[key] = item.id
                session.add(
                    ItemHashtag(
                        item_id=item.id,
                        channel_id=channel_id,
                        hashtag="politics" if n % 2 == 0 else "science",
                        rank=0,
                    )
                )
        old = add_item(
            session,
            harbor,
            "harbor-old",
            sort_at=NOW - timedelta(days=45),
            title="An old story about the tides",
            summary="First summary line.\n\nSecond.",
        )
        out.items["harbor-old"] = old.id
        dup = add_item(
            session,
            valley,
            "valley-dup",
            duplicate_of_id=out.items["harbor-0"],
            title="Duplicate copy of harbor zero",
        )
        out.items["valley-dup"] = dup.id
        pending = add_item(
            session, harbor, "harbor-pending", state="pending", title="Pending item not shown"
        )
        out.items["harbor-pending"] = pending.id
        # Not in the newsline: added after sync_channels, so not a member.
        outsider = Publication(tag="outsider", name="Outsider Times", republish="full")
        session.add(outsider)
        session.flush()
        out.publications["outsider"] = outsider.id
        add_item(session, outsider, "outsider-0", title="Outsider item not carried")
    return out


def seed_xss(settings: Settings) -> int:
    """An item of a full-text publication whose every field carries an XSS payload."""
    with session_scope(settings.database_url) as session:
        from sqlalchemy import select

        pub = session.scalar(select(Publication).where(Publication.tag == "harbor"))
        assert pub is not None
        item = add_item(
            session,
            pub,
            "xss",
            title=XSS["title"],
            author=XSS["author"],
            image_caption=XSS["caption"],
            body_html=XSS["body"],
            image_url=XSS["image_url"],
            url=XSS["url"],
            canonical_url=None,
            teaser=XSS["title"],
            summary=XSS["caption"],
            site_name=XSS["author"],
            sort_at=NOW - timedelta(seconds=30),
        )
        return item.id
