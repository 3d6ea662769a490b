"""The JSON API under ``/api/v1``: channels, publications, items (cursor pages), item, search."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Row

from newsline import urls
from newsline.publish import editorial
from newsline.publish.digest import current_overview
from newsline.sanitize import web_url
from newsline.web import queries
from newsline.web.queries import CURSOR_PATTERN, Cursor, CursorError
from newsline.web.render import item_path, source_url
from newsline.web.safety import clean_body, highlighted
from newsline.web.search import search_items, snippet_of
from newsline.web.site import ChannelRef, NotFound, Site, site_of

API_CACHE = "public, max-age=30"
MAX_SEARCH_OFFSET = 999


class ApiError(Exception):
    """An API error answered as ``{"detail": ...}`` with a status code."""

    def __init__(self, status_code: int, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.retry_after = retry_after  # seconds, sent as Retry-After (429: a budget spent)


class ErrorOut(BaseModel):
    """An error."""

    detail: str


class ChannelOut(BaseModel):
    """A channel served by this install."""

    slug: str
    display_name: str
    hometown: str
    timezone: str
    url: str
    hashtags: list[str]


class PublicationOut(BaseModel):
    """A publication of a channel's newsline."""

    tag: str
    name: str
    home_url: str | None
    icon_url: str | None
    republish: str = Field(description="full: body republished; teaser: title, summary and link")
    url: str = Field(description="The publication's page on this channel")


class ItemOut(BaseModel):
    """An item as listed."""

    id: int
    url: str = Field(description="The item's page on this channel")
    source_url: str | None = Field(description="The source article")
    title: str
    author: str | None
    publication: str = Field(description="Publication tag")
    publication_name: str
    site_name: str | None
    published_at: datetime | None
    sort_at: datetime
    image_url: str | None
    teaser: str
    summary: str | None
    hashtags: list[str]


class ItemDetailOut(ItemOut):
    """An item with its body (when its publication is republished in full)."""

    image_caption: str | None
    body_html: str | None
    language: str | None
    story_id: int | None


class ItemPage(BaseModel):
    """A page of items, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[ItemOut]
    next_cursor: str | None


class SearchHit(ItemOut):
    """A search match with a highlighted snippet (HTML with ``<mark>``)."""

    snippet_html: str


class SearchPage(BaseModel):
    """A page of search matches, best first."""

    query: str
    items: list[SearchHit]
    next_cursor: str | None


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "Not found"}}
NOT_FOUND_OR_GONE: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    410: {"model": ErrorOut, "description": "Withdrawn by the editors"},
}
BAD_CURSOR: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid cursor"}
}
ChannelSlug = Annotated[str, Path(description="Channel slug", max_length=64)]
#: A row id in a path (an item, a comment): 1 to 2**62, as the database keeps them.
RowId = Annotated[int, Path(ge=1, le=2**62)]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page")]
CursorParam = Annotated[
    str | None,
    Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page"),
]
SearchCursor = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,3}$", description="`next_cursor` of the previous page"),
]

router = APIRouter(prefix=urls.API, tags=["api"])


def _json(data: Any) -> JSONResponse:
    return JSONResponse(data, headers={"cache-control": API_CACHE})


def api_channel(site: Site, slug: str) -> ChannelRef:
    """The channel `slug` names, or the API's 404."""
    try:
        return site.channel(slug)
    except NotFound as exc:
        raise ApiError(404, f"no channel {slug!r}") from exc


def _channel_out(site: Site, channel: ChannelRef) -> ChannelOut:
    cfg = channel.cfg
    return ChannelOut(
        slug=cfg.slug,
        display_name=cfg.display_name,
        hometown=cfg.hometown,
        timezone=cfg.timezone,
        url=site.urls.absolute(site.urls.newsline(cfg.slug)),
        hashtags=[h.tag for h in cfg.hashtags],
    )


def _item_fields(
    site: Site,
    channel: ChannelRef,
    row: Row[Any],
    hashtags: list[str],
    conn: Connection | None = None,
) -> dict[str, Any]:
    summary = row.summary
    # The channel's own publication carries its Digests (list rows have no content_source).
    own = row.publication_tag == channel.cfg.own_tag
    if conn is not None and (own or getattr(row, "content_source", None) == "digest"):
        # A Digest's automatic overview loses the lines of entries unpublished since.
        summary = current_overview(conn, row.id, row.summary)
    return {
        "id": row.id,
        "url": site.urls.absolute(item_path(site.urls, channel, row)),
        "source_url": source_url(row),
        "title": row.title,
        "author": row.author,
        "publication": row.publication_tag,
        "publication_name": row.publication_name,
        "site_name": row.site_name,
        "published_at": row.published_at,
        "sort_at": row.sort_at,
        "image_url": web_url(row.image_url),
        "teaser": row.teaser or "",
        "summary": summary,
        "hashtags": hashtags,
    }


def _rows_out(
    site: Site, channel: ChannelRef, conn: Connection, rows: list[Row[Any]]
) -> list[ItemOut]:
    hashtags = queries.hashtags_of(conn, channel.id, [r.id for r in rows])
    return [ItemOut(**_item_fields(site, channel, r, hashtags.get(r.id, []), conn)) for r in rows]


@router.get(urls.API_CHANNELS, response_model=list[ChannelOut])
async def channels(request: Request) -> JSONResponse:
    """Every channel of this install."""
    site = site_of(request)
    out = [_channel_out(site, site.channel(c.slug)) for c in site.settings.channels]
    return _json([c.model_dump(mode="json") for c in out])


@router.get(urls.API_CHANNEL, response_model=ChannelOut, responses=NOT_FOUND)
async def channel(request: Request, channel: ChannelSlug) -> JSONResponse:
    """One channel."""
    site = site_of(request)
    return _json(_channel_out(site, api_channel(site, channel)).model_dump(mode="json"))


@router.get(urls.API_PUBLICATIONS, response_model=list[PublicationOut], responses=NOT_FOUND)
async def publications(request: Request, channel: ChannelSlug) -> JSONResponse:
    """The publications of the channel's newsline."""
    site = site_of(request)
    ref = api_channel(site, channel)
    with site.engine.connect() as conn:
        rows = queries.publications(conn, ref.id)
    out = [
        PublicationOut(
            tag=p.tag,
            name=p.name,
            home_url=web_url(p.home_url),
            icon_url=web_url(p.icon_url),
            republish=p.republish,
            url=site.urls.absolute(site.urls.publication(ref.slug, p.tag)),
        ).model_dump(mode="json")
        for p in rows
    ]
    return _json(out)


@router.get(
    urls.API_ITEMS,
    response_model=ItemPage,
    responses={**NOT_FOUND, **BAD_CURSOR},
)
async def items(
    request: Request,
    channel: ChannelSlug,
    limit: Limit = 30,
    cursor: CursorParam = None,
    publication: Annotated[str | None, Query(max_length=64)] = None,
    hashtag: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    """The channel's items, newest first, optionally of one publication or hashtag."""
    site = site_of(request)
    ref = api_channel(site, channel)
    try:
        position = Cursor.decode(cursor) if cursor else None
    except CursorError as exc:
        raise ApiError(400, str(exc)) from exc
    with site.engine.connect() as conn:
        publication_id = None
        if publication is not None:
            found = queries.publication(conn, ref.id, publication)
            if found is None:
                raise ApiError(404, f"no publication {publication!r} on this channel")
            publication_id = found.id
        rows, following = queries.list_items(
            conn,
            ref.id,
            limit=limit,
            cursor=position,
            publication_id=publication_id,
            hashtag=hashtag,
        )
        out = ItemPage(
            items=_rows_out(site, ref, conn, list(rows)),
            next_cursor=following.encode() if following else None,
        )
    return _json(out.model_dump(mode="json"))


@router.get(urls.API_ITEM, response_model=ItemDetailOut, responses=NOT_FOUND_OR_GONE)
async def item(request: Request, channel: ChannelSlug, item_id: RowId) -> JSONResponse:
    """One item, with its sanitized body when its publication is republished in full."""
    site = site_of(request)
    ref = api_channel(site, channel)
    with site.engine.connect() as conn:
        row = queries.item_by_id(conn, ref.id, item_id)
        if row is None:
            if editorial.withdrawn_id(conn, ref.id, item_id):
                raise ApiError(410, f"item {item_id} was withdrawn by the editors")
            raise ApiError(404, f"no item {item_id} on this channel")
        hashtags = queries.hashtags_of(conn, ref.id, [row.id]).get(row.id, [])
        fields = _item_fields(site, ref, row, hashtags, conn)
        body = row.body_html
        if row.content_source == "digest" and body:  # without entries unpublished since
            body = editorial.without_withdrawn(conn, row.id, body)
    full = row.publication_republish == "full" and bool(body)
    out = ItemDetailOut(
        **fields,
        image_caption=row.image_caption,
        body_html=str(clean_body(body)) if full else None,
        language=row.language,
        story_id=row.story_id,
    )
    return _json(out.model_dump(mode="json"))


@router.get(
    urls.API_SEARCH,
    response_model=SearchPage,
    responses=NOT_FOUND,
)
async def search(
    request: Request,
    channel: ChannelSlug,
    # Absent and empty are one query, as in the caches' keys (web/cache.py, nginx): nothing.
    q: Annotated[str, Query(max_length=300, description="Words to find (none: no results)")] = "",
    limit: Limit = 20,
    cursor: SearchCursor = None,
) -> JSONResponse:
    """Items matching `q`, best first, with highlighted snippets."""
    site = site_of(request)
    ref = api_channel(site, channel)
    offset = int(cursor) if cursor else 0
    with site.engine.connect() as conn:
        hits = search_items(conn, ref.id, q, limit=limit + 1, offset=offset)
        following = None
        if len(hits) > limit and offset + limit <= MAX_SEARCH_OFFSET:
            following = str(offset + limit)
        hits = hits[:limit]
        hashtags = queries.hashtags_of(conn, ref.id, [h.id for h in hits])
        found = [
            SearchHit(
                **_item_fields(site, ref, h, hashtags.get(h.id, []), conn),
                snippet_html=str(highlighted(snippet_of(h))),
            )
            for h in hits
        ]
    out = SearchPage(query=q, items=found, next_cursor=following)
    return _json(out.model_dump(mode="json"))
