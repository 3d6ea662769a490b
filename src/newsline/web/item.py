"""The item page: ``/<channel>/topic/<pubtag>/<slug>`` (a Digest is an item too)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from newsline import urls
from newsline.publish import editorial
from newsline.sanitize import web_url
from newsline.web import queries
from newsline.web.render import clip, item_path, page, source_url
from newsline.web.safety import clean_body, clean_digest_body
from newsline.web.site import NotFound, Refused, site_of

router = APIRouter(include_in_schema=False)
#: What the page of an item the editors unpublished says (410 Gone).
WITHDRAWN = "This item was withdrawn by the editors and is no longer published here."


def paragraphs(text: str | None) -> list[str]:
    """Plain text split into paragraphs at blank lines (or single newlines)."""
    if not text:
        return []
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
    if len(blocks) == 1:
        blocks = [b.strip() for b in text.split("\n")]
    return [" ".join(b.split()) for b in blocks if b.strip()]


def is_digest(row: Any) -> bool:
    """Whether the item is one of the channel's Digests (an item of its own publication)."""
    return bool(row.publication_is_own) and row.content_source == "digest"


@router.get(urls.ITEM)
async def item(request: Request, channel_slug: str, publication_tag: str, slug: str) -> Response:
    """One item: hero image, publication, title linking to the source, summary, body."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    with site.engine.connect() as conn:
        row = queries.item_page(conn, channel.id, publication_tag, slug)
        if row is None:
            if editorial.withdrawn(conn, channel.id, publication_tag, slug):
                raise Refused(WITHDRAWN, status=410, channel=channel)
            raise NotFound("no such item on this channel", channel)
        if row.duplicate_of_id is not None:
            original = queries.item_by_id(conn, channel.id, row.duplicate_of_id)
            if original is not None:
                return RedirectResponse(item_path(site.urls, channel, original), status_code=301)
        hashtags = queries.hashtags_of(conn, channel.id, [row.id]).get(row.id, [])
        source = source_url(row)
        digest = is_digest(row)
        # An item with no source page (a feed entry without a link) is read here or nowhere.
        shown_whole = digest or row.publication_republish == "full" or source is None
        full = shown_whole and bool(row.body_html)
        body: Markup | None = None
        if full:
            body = clean_digest_body(row.body_html) if digest else clean_body(row.body_html)
        teaser = clip(row.teaser or row.summary or "", 1000)
        url = site.urls.absolute(item_path(site.urls, channel, row))
        description = clip(row.summary or row.teaser or "", 300)
        share = {
            "page": url,
            "x": "https://twitter.com/intent/tweet?"
            + f"url={quote(url, safe='')}&text={quote(row.title, safe='')}",
            "mail": f"mailto:?subject={quote(row.title, safe='')}&body={quote(url, safe='')}",
        }
        return page(
            request,
            channel,
            "item.html",
            conn,
            column="topic",  # the original's column name on an item page (spec)
            title=f"{row.title} · {channel.cfg.display_name}",
            last_modified=row.enriched_at or row.first_seen_at,
            item=row,
            hashtags=hashtags,
            source=source,
            # A digest's image is its first entry's thumbnail: shown there, not as a hero.
            image=None if digest else web_url(row.image_url),
            share_image=web_url(row.image_url),
            digest=digest,
            full=full,
            body=body,
            teaser=teaser,
            summary=paragraphs(row.summary),
            page_url=url,
            description=description,
            share=share,
        )
