"""Read queries shared by the CLI, the API and the workers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsline.db.models import Item, Publication


def item_record(item: Item, tag: str) -> dict[str, Any]:
    """An item as plain JSON-able data (what ``newsline items list --json`` prints)."""
    return {
        "id": item.id,
        "publication": tag,
        "url": item.url,
        "canonical_url": item.canonical_url,
        "state": item.state,
        "title": item.title,
        "author": item.author,
        "published": item.published_at.isoformat() if item.published_at else None,
        "first_seen": item.first_seen_at.isoformat(),
        "image_url": item.image_url,
        "image_caption": item.image_caption,
        "language": item.language,
        "site_name": item.site_name,
        "slug": item.slug,
        "content_source": item.content_source,
        "extract_error": item.extract_error,
        "duplicate_of": item.duplicate_of_id,
        "teaser": item.teaser,
        "summary": item.summary,
        "text": item.body_text,
    }


def list_items(
    session: Session, *, source: str | None = None, limit: int = 50, state: str = "ready"
) -> list[dict[str, Any]]:
    """Newest items first, optionally of one publication and state (``all`` for any)."""
    query = select(Item, Publication.tag).join(Publication)
    if source is not None:
        query = query.where(Publication.tag == source)
    if state != "all":
        query = query.where(Item.state == state)
    query = query.order_by(Item.sort_at.desc(), Item.id.desc()).limit(limit)
    return [item_record(item, tag) for item, tag in session.execute(query)]
