"""The item page: ``/<channel>/topic/<pubtag>/<slug>`` (a Digest is an item too)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

import lxml.html
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import Connection

from newsline import urls
from newsline.db import data_version
from newsline.db.models import utcnow
from newsline.ingest.extract.figures import same_caption
from newsline.publish import editorial
from newsline.publish.digest import shown_overview
from newsline.publish.digest_compose import overview_html
from newsline.sanitize import web_url
from newsline.web import queries, render
from newsline.web.auth import viewer
from newsline.web.comments import (
    NO_MARKS,
    CachedSection,
    CommentState,
    ReaderMarks,
    Section,
    anonymous_section,
    build_section,
    comment_state,
    moderates,
    reader_marks,
    reader_section,
)
from newsline.web.csrf import csrf_token
from newsline.web.images import image_links
from newsline.web.newsline import reader_of
from newsline.web.render import (
    AgeMarks,
    KeptPage,
    PageFrame,
    ages,
    clip,
    data_context,
    item_path,
    kept_page,
    page,
    respond_kept,
    source_url,
)
from newsline.web.safety import clean_body, clean_digest_body
from newsline.web.site import ChannelRef, NotFound, Refused, site_of

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


#: Size suffixes publishers put on one picture's files (``-1024x576``, ``_large``, ``@2x``).
_SIZE_TOKEN = re.compile(
    r"([-_.]?\d{2,4}x\d{2,4}|[-_](?:large|medium|small|thumb|master)|@\dx)", re.IGNORECASE
)
RELATED = 6
MORE_FROM = 5
#: A Digest entry's picture: 96 px wide beside its text (site.css ``.digest-body``).
DIGEST_THUMB_SIZES = "96px"


def _picture_key(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, url
    path = parts.path.lower()
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return f"{parts.hostname}{path}", _SIZE_TOKEN.sub("", stem)


def same_picture(a: str, b: str) -> bool:
    """Whether two image URLs are one picture (the same file, or one file in two sizes)."""
    exact_a, loose_a = _picture_key(a)
    exact_b, loose_b = _picture_key(b)
    return exact_a == exact_b or (len(loose_a) >= 6 and loose_a == loose_b)


@lru_cache(maxsize=256)
def without_hero(body_html: str, image_url: str | None, caption: str | None) -> str:
    """The body without the hero picture and its caption: the page shows them once, above.

    Stored bodies may still carry them (feed content, older extractions): the picture's
    figure (or bare image) goes, and so does a paragraph or caption that is the hero's."""
    if not body_html or not (image_url or caption):
        return body_html
    try:
        root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    except (ValueError, lxml.etree.ParserError):
        return body_html
    changed = False
    for img in list(root.iter("img")):
        src = img.get("src") or ""
        if not (image_url and src and same_picture(src, image_url)):
            continue
        figure = next((a for a in img.iterancestors() if a.tag == "figure"), None)
        target = figure if figure is not None else img
        parent = target.getparent()
        if parent is None:
            continue
        target.drop_tree()
        changed = True
        # A paragraph or link left holding nothing but the picture goes with it.
        while (
            parent is not root
            and parent.getparent() is not None
            and not (parent.text_content().strip() or len(parent))
        ):
            up = parent.getparent()
            parent.drop_tree()
            parent = up
    if caption:
        for el in list(root.iter("figcaption", "p")):
            if el.getparent() is not None and same_caption(el.text_content(), caption):
                el.drop_tree()
                changed = True
    if not changed:
        return body_html
    return (
        "".join(lxml.html.tostring(child, encoding="unicode") for child in root)
        if len(root)
        else (root.text or "")
    )


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def summary_adds(summary: str | None, lead: str | None) -> bool:
    """Whether a summary says something the page's first lines do not: not a copy of the
    lead (most of its words, in order, at the top of the body or teaser)."""
    mine = _words(summary or "")
    if not mine:
        return False
    theirs = _words(lead or "")[: len(mine) * 2 + 20]
    if not theirs:
        return True
    joined = " ".join(theirs)
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", summary or "") if s.strip()]
    copied = sum(1 for s in sentences if " ".join(_words(s)) in joined)
    return copied < max(1, len(sentences) * 0.6)


def news_article(row: Any, url: str, image: str | None, cfg: Any, description: str) -> str:
    """The item as schema.org NewsArticle JSON-LD (``</`` escaped: safe inside a script)."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": row.title[:110],
        "url": url,
        "mainEntityOfPage": url,
        "datePublished": (row.published_at or row.sort_at).isoformat(),
        "dateModified": (row.enriched_at or row.first_seen_at).isoformat(),
        "description": description,
        "publisher": {"@type": "Organization", "name": row.publication_name},
    }
    if row.author:
        data["author"] = {"@type": "Person", "name": row.author}
    if image:
        data["image"] = [image]
    if row.language:
        data["inLanguage"] = row.language
    source = source_url(row)
    if source and source != url:
        data["isBasedOn"] = source
    data["sourceOrganization"] = {"@type": "Organization", "name": cfg.display_name}
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def is_digest(row: Any) -> bool:
    """Whether the item is one of the channel's Digests (an item of its own publication)."""
    return bool(row.publication_is_own) and row.content_source == "digest"


#: A page whose comments changed this recently gets no Last-Modified (see :func:`page_date`).
SETTLING = timedelta(seconds=2)


def page_date(
    dated: datetime, comments_changed_at: datetime | None, now: datetime | None = None
) -> datetime | None:
    """The item page's Last-Modified: the later of the item's own time and its comments'.

    HTTP dates have whole seconds, and a change is stamped a moment before it commits: a
    page served in the second of a change (or just before its commit) could carry the date
    the change gets, and a revalidation would then answer 304 and hide it. So while the
    comments changed less than :data:`SETTLING` ago the page has no date (revalidation goes
    by the ETag, and the middleware's fallback date lies far enough back)."""
    if comments_changed_at is None:
        return dated
    if (now or utcnow()) - comments_changed_at < SETTLING:
        return None
    return max(dated, comments_changed_at)


#: item.html's blocks that differ from one signed-in reader to another (their comments and
#: votes, their forms' token): filled per request into a page kept for signed-in readers.
READER_BLOCKS = frozenset({"item_comment_count", "item_save", "item_comments"})


def section_for(
    request: Request,
    channel: ChannelRef,
    row: Any,
    age_of: Callable[[datetime], str],
    state: CommentState,
    conn: Connection | None = None,
    marks: ReaderMarks | None = None,
) -> CachedSection | Section:
    """The item's comment section as this request's reader sees it (what the template
    global ``comment_section`` gives, with the comments' version already read)."""
    me = viewer(request)
    if me is not None:
        shared = reader_section(
            request, channel, row, age_of, me, state=state, conn=conn, marks=marks
        )
        if shared is None:
            return build_section(request, channel, row, on_item_page=True)
        return CachedSection(*shared)
    return CachedSection(*anonymous_section(request, channel, row, age_of, state=state))


#: The :data:`READER_BLOCKS` a signed-in reader with no comments or votes on the item sees,
#: kept with the page (per "verified": an unverified reader gets no comment form): the
#: same for every such reader but for their forms' token, a hole filled per request.
STRANGER_BLOCKS = "stranger-blocks"
_TOKEN_HOLE = "csrf_token"


def _render_reader_blocks(
    request: Request,
    channel: ChannelRef,
    kept: KeptPage,
    age_of: Callable[[datetime | None], str],
    now: datetime,
    conn: Connection,
    marks: ReaderMarks,
) -> dict[str, str]:
    row, state = kept.data["item"], kept.data["state"]
    template = site_of(request).templates.get_template("item.html")
    section = section_for(request, channel, row, age_of, state, conn, marks)
    context = template.new_context(
        data_context(
            request,
            channel,
            now,
            age_of,
            column=kept.column,
            item=row,
            comment_block=section,
            comment_state=state,
        )
    )
    return {name: "".join(template.blocks[name](context)) for name in READER_BLOCKS}


def reader_blocks(
    request: Request, channel: ChannelRef, kept: KeptPage, conn: Connection
) -> dict[str, str]:
    """The :data:`READER_BLOCKS` of a kept item page for this request's reader: rendered
    once per kept page for readers with nothing of their own in its comments (their token
    and the ages filled per request), else for this reader (their comments, votes, edit
    links)."""
    row, state = kept.data["item"], kept.data["state"]
    me = viewer(request)
    now = utcnow()
    marks = reader_marks(conn, row.id, me.id, state) if me is not None else NO_MARKS
    if me is None or not marks.none or moderates(me, channel):
        return _render_reader_blocks(request, channel, kept, ages(channel, now), now, conn, marks)
    token = csrf_token(request)
    frames: dict[bool, dict[str, PageFrame]] = kept.data[STRANGER_BLOCKS]
    found = frames.get(me.verified)
    if found is None:
        stamps = AgeMarks()
        rendered = _render_reader_blocks(request, channel, kept, stamps, now, conn, marks)
        hole = f"\x00{_TOKEN_HOLE}\x00"
        found = {
            name: PageFrame.of(html.replace(token, hole), stamps.stamps)
            for name, html in rendered.items()
        }
        frames[me.verified] = found
    holes = {_TOKEN_HOLE: token}
    return {name: frame.fill(now, channel.cfg.zone, holes) for name, frame in found.items()}


@router.get(urls.ITEM)
async def item(request: Request, channel_slug: str, publication_tag: str, slug: str) -> Response:
    """One item: hero image, publication, title linking to the source, summary, body."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    signed_in = viewer(request) is not None
    with site.engine.connect() as conn:
        reader = reader_of(request, channel, conn)  # None (no query) unless signed in
        hidden = reader.hidden if reader is not None else frozenset()
        # Kept by the data version (comments too: their writes bump it), read before the data.
        key = (
            "item",
            channel.id,
            data_version.read(conn),
            publication_tag,
            slug,
            signed_in,
            tuple(sorted(hidden)),
        )
        found = kept_page(request, channel, key)
        if found is not None:
            own = reader_blocks(request, channel, found, conn) if signed_in else None
            return respond_kept(request, channel, found, conn, own)
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
        image = None if digest else web_url(row.image_url)
        if full:
            if digest:
                # Its entries' pictures through our proxy, as on the cards: never hotlinked.
                body = image_links(request).in_html(
                    clean_digest_body(editorial.without_withdrawn(conn, row.id, row.body_html)),
                    "thumb",
                    DIGEST_THUMB_SIZES,
                )
            else:
                body = clean_body(without_hero(row.body_html, image, row.image_caption))
        teaser = clip(row.teaser or row.summary or "", 1000)
        lead_text = (row.body_text if full else teaser) or ""
        summary: list[str] = []
        overview: Markup | None = None
        if digest:
            # An automatic overview loses the lines of entries unpublished since; each line
            # links to its entry.
            shown, kept = shown_overview(conn, row.id, row.summary)
            overview = Markup(overview_html(shown, kept)) if shown else None
        else:
            shown = row.summary
            summary = paragraphs(shown) if summary_adds(shown, lead_text) else []
        related: list[Any] = []
        if row.story_id is not None and not digest:
            members = queries.story_members(conn, channel.id, [row.story_id]).get(row.story_id, [])
            related = queries.card_coverage(row, members, hidden)[0][:RELATED]
        more = queries.more_from(conn, row.publication_id, row.id, MORE_FROM)
        url = site.urls.absolute(item_path(site.urls, channel, row))
        description = clip(shown if digest else row.summary or row.teaser or "", 300)
        state = comment_state(conn, row.id)
        marks = AgeMarks()
        now = utcnow()
        keeping = "item.html" in render.SPLICED  # else rendered whole, for this request only
        if keeping and signed_in:
            section = None  # the reader's blocks are filled per request
        else:
            section = section_for(
                request,
                channel,
                row,
                marks if keeping else ages(channel, now),
                state,
            )
        modified = page_date(row.enriched_at or row.first_seen_at, state.changed_at, now)
        # A page without a date while its comments settle is kept only that long.
        until = state.changed_at + SETTLING if state.changed_at and modified is None else None
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
            last_modified=modified,
            keep=key,
            marks=marks,
            until=until,
            own_holes=READER_BLOCKS if signed_in else frozenset(),
            own_blocks=lambda kept: reader_blocks(request, channel, kept, conn),
            data={"item": row, "state": state, STRANGER_BLOCKS: {}},
            comment_block=section,
            comment_state=state,
            item=row,
            hashtags=hashtags,
            source=source,
            # A digest's image is its first entry's thumbnail: shown there, not as a hero.
            image=image,
            share_image=web_url(row.image_url),
            digest=digest,
            full=full,
            body=body,
            teaser=teaser,
            summary=summary,
            overview=overview,
            related=related,
            story_path=site.urls.story(channel.slug, row.story_id) if related else None,
            more_from=more,
            json_ld=Markup(
                news_article(row, url, web_url(row.image_url), channel.cfg, description)
            ),
            page_url=url,
            description=description,
            share=share,
        )
