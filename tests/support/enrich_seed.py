"""Synthetic reports for the enrichment tests: two events, each told by several publications.

All text here is our own invention (no publisher text).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.db.models import Item, Publication

T0 = datetime(2025, 7, 25, 8, 0, tzinfo=UTC)

# Synthetic reports (our own words): two events, each covered by several publications.
REPORTS = [
    (
        "alpha",
        "flood",
        "Kessel River floods Riverton homes",
        "The Kessel River burst its banks in Riverton overnight, flooding hundreds of homes. Mayor "
        "Dana Whitfield ordered evacuations and opened shelters at Riverton High School. Forecasters "
        "expect more rain on Saturday.",
    ),
    (
        "beta",
        "merger",
        "Norbeck Foods agrees to buy Calloway Dairy",
        "Norbeck Foods will buy Calloway Dairy for $2 billion, the companies said on Friday, "
        "creating the largest dairy group in the region. Calloway shareholders will receive cash, "
        "and the deal needs approval from regulators.",
    ),
    (
        "beta",
        "flood",
        "Riverton evacuates as Kessel River rises",
        "Residents of Riverton fled rising water after the Kessel River overflowed. Mayor Whitfield "
        "said shelters were open at Riverton High School and the flooding could last until Sunday.",
    ),
    (
        "gamma",
        "merger",
        "Calloway Dairy sold to Norbeck in $2bn deal",
        "Calloway Dairy's board accepted a $2 billion offer from Norbeck Foods. Regulators must "
        "approve the takeover, Norbeck said, and Calloway shareholders will be paid in cash.",
    ),
    (
        "gamma",
        "flood",
        "Kessel River flood fills Riverton shelters",
        "Shelters in Riverton filled up as the Kessel River flood spread through low streets. "
        "Mayor Whitfield asked residents to stay away from the river banks until the water falls.",
    ),
]
WIRE = " ".join(
    f"Paragraph {i}: the Kessel River flood forced Riverton to close roads and schools, and "
    f"volunteers filled sandbags along the river banks through the night."
    for i in range(12)
)


def seed_reports(settings: Settings) -> dict[str, int]:
    """Publications, channel membership and the reports as items (plus a wire story, a
    shorter syndicated copy and a pending item); returns item ids by a short name."""
    ids: dict[str, int] = {}
    with session_scope(settings.database_url) as session:
        pubs = {}
        for tag in ("alpha", "beta", "gamma", "wire"):
            pub = Publication(tag=tag, name=tag.title(), republish="full")
            session.add(pub)
            pubs[tag] = pub
        session.flush()
        sync_channels(session, settings)
        for n, (tag, event, title, text) in enumerate(REPORTS):
            item = report_item(pubs[tag].id, f"{event}{n}", title, text, T0 + timedelta(hours=n))
            session.add(item)
            session.flush()
            ids[f"{event}{n}"] = item.id
        # A wire story and a shorter syndicated copy of it on another site.
        wire = report_item(
            pubs["wire"].id,
            "wire",
            "Riverton flood: roads and schools closed",
            WIRE,
            T0 + timedelta(hours=6),
        )
        copy = report_item(
            pubs["alpha"].id,
            "copy",
            "Riverton flood: roads and schools closed",
            WIRE[: len(WIRE) * 3 // 4],
            T0 + timedelta(hours=7),
        )
        pending = report_item(
            pubs["alpha"].id, "pending", "Not extracted yet", "", T0, state="pending"
        )
        session.add_all([wire, copy, pending])
        session.flush()
        ids.update(wire=wire.id, copy=copy.id, pending=pending.id)
    return ids


def report_item(
    pub_id: int, key: str, title: str, text: str, when: datetime, state: str = "ready"
) -> Item:
    """An unsaved item of publication `pub_id` with `text` as its extracted body."""
    return Item(
        publication_id=pub_id,
        guid=key,
        url=f"https://example.org/{key}",
        state=state,
        title=title,
        body_text=text,
        published_at=when,
        sort_at=when,
        first_seen_at=when,
    )
