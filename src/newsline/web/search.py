"""Full-text search: FTS5 with bm25 on SQLite, tsvector/ts_rank on PostgreSQL.

The database marks the matches in the title and in the whole body; the snippet a card
shows (the matching sentences, without headline, byline or web addresses) is chosen from
the marked body by :func:`newsline.web.snippets.snippet`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import Connection, Row, bindparam, text

from newsline import urls
from newsline.web import queries
from newsline.web.newsline import PERSONAL, reader_of
from newsline.web.queries import CARD_SQL, LISTED_SQL, STAMP_TYPES
from newsline.web.render import ages, page, render_fragment
from newsline.web.safety import MARK_END, MARK_START, highlighted
from newsline.web.site import ChannelRef, site_of
from newsline.web.snippets import snippet

router = APIRouter(include_in_schema=False)

MAX_TERMS = 12
_TERM = re.compile(r"\w+", re.UNICODE)

_SELECT = CARD_SQL + ", item.story_id"
_LISTED = LISTED_SQL
#: What a signed-in reader switched off is not found either.
_NOT_HIDDEN = "AND item.publication_id NOT IN :hidden"

SQLITE_SEARCH = f"""
SELECT {_SELECT},
    highlight(item_fts, 0, :start, :end) AS title_marked,
    highlight(item_fts, 1, :start, :end) AS body_marked
FROM item_fts
JOIN item ON item.id = item_fts.rowid
JOIN publication ON publication.id = item.publication_id
WHERE item_fts MATCH :query AND {_LISTED} {{hidden}}
ORDER BY bm25(item_fts, 8.0, 1.0), item.sort_at DESC
LIMIT :limit OFFSET :offset
"""

POSTGRES_SEARCH = f"""
WITH q AS (SELECT websearch_to_tsquery('english', :query) AS query)
SELECT {_SELECT},
    ts_headline('english', item.title, q.query, :title_options) AS title_marked,
    ts_headline('english', item.body_text, q.query, :body_options) AS body_marked
FROM item
JOIN publication ON publication.id = item.publication_id, q
WHERE item.search_vector @@ q.query AND {_LISTED} {{hidden}}
ORDER BY ts_rank(item.search_vector, q.query) DESC, item.sort_at DESC
LIMIT :limit OFFSET :offset
"""


def terms_of(query: str) -> list[str]:
    """The words of a search query (punctuation and operators dropped)."""
    return _TERM.findall(query)[:MAX_TERMS]


def fts5_query(terms: Sequence[str], *, prefix: bool = True) -> str:
    """An FTS5 MATCH expression: every term required, the last one as a prefix."""
    quoted = [f'"{t}"' for t in terms]
    if prefix and quoted and len(terms[-1]) >= 3:
        quoted[-1] += "*"
    return " ".join(quoted)


_OR = re.compile(r"\s+OR\s+")


def alternatives(query: str) -> list[list[str]]:
    """The query's alternatives, split at the word ``OR`` (upper case, between words), each
    the list of its terms; at most MAX_TERMS terms in all."""
    groups: list[list[str]] = []
    budget = MAX_TERMS
    for part in _OR.split(query.strip()):
        terms = _TERM.findall(part)[:budget]
        budget -= len(terms)
        if terms:
            groups.append(terms)
    return groups


def fts5_match(groups: Sequence[Sequence[str]]) -> str:
    """An FTS5 MATCH expression: every term of an alternative required, any alternative
    matching; the query's last term also as a prefix (the reader may still be typing)."""
    if len(groups) == 1:
        return fts5_query(groups[0])
    parts = [
        fts5_query(g) if n == len(groups) - 1 else fts5_query(g, prefix=False)
        for n, g in enumerate(groups)
    ]
    return " OR ".join(f"({p})" for p in parts)


def search_items(
    conn: Connection,
    channel_id: int,
    query: str,
    *,
    limit: int,
    offset: int = 0,
    hidden: frozenset[int] = frozenset(),
) -> list[Row[Any]]:
    """Ranked matches of `query` among the channel's items, with their title and body
    marked (none of the `hidden` publications, which a signed-in reader switched off);
    :func:`snippet_of` gives a hit's snippet."""
    groups = alternatives(query)
    terms = [t for g in groups for t in g]
    if not terms:
        return []
    params: dict[str, Any] = {"channel": channel_id, "limit": limit, "offset": offset}
    if conn.dialect.name == "postgresql":
        sel = f"StartSel={MARK_START}, StopSel={MARK_END}"
        params |= {
            # websearch_to_tsquery reads "or" between words as OR, as we do.
            "query": " or ".join(" ".join(g) for g in groups),
            "title_options": f"{sel}, HighlightAll=true",
            "body_options": f"{sel}, HighlightAll=true",
        }
        statement = POSTGRES_SEARCH
    else:
        params |= {"query": fts5_match(groups), "start": MARK_START, "end": MARK_END}
        statement = SQLITE_SEARCH
    clause = text(statement.format(hidden=_NOT_HIDDEN if hidden else ""))
    if hidden:
        clause = clause.bindparams(bindparam("hidden", expanding=True))
        params["hidden"] = sorted(hidden)
    return list(conn.execute(clause.columns(**STAMP_TYPES), params).all())


def snippet_of(hit: Row[Any]) -> str:
    """A search hit's snippet, matches marked: the body's matching sentences."""
    return snippet(hit.body_marked or "", title=hit.title or "", author=hit.author)


def grouped(
    request: Request,
    conn: Connection,
    channel: ChannelRef,
    hits: Sequence[Row[Any]],
    hidden: frozenset[int] = frozenset(),
) -> list[Markup]:
    """The hits as story cards: the best-ranked hit of each story leads it, with the story's
    other coverage (none from `hidden` publications); the same headline is never shown
    twice."""
    story_ids = list({h.story_id for h in hits if h.story_id is not None})
    members = queries.story_members(conn, channel.id, story_ids)
    seen_stories: set[int] = set()
    seen_titles: set[str] = set()
    age_of = ages(channel)
    out = []
    for hit in hits:
        words = queries.title_key(hit.title)
        if hit.story_id in seen_stories or (words and words in seen_titles):
            continue
        if hit.story_id is not None:
            seen_stories.add(hit.story_id)
        seen_titles.add(words)
        story = members.get(hit.story_id, []) if hit.story_id is not None else []
        others, sources = queries.card_coverage(hit, story, hidden)
        fragment = render_fragment(
            request,
            channel,
            "_card.html",
            "card",
            hit,
            [],
            highlighted(snippet_of(hit)),
            highlighted(hit.title_marked or hit.title),
            others,
            sources,
        )
        out.append(Markup(fragment.fill(age_of)))
    return out


@router.get(urls.SEARCH)
async def search(request: Request, channel_slug: str, q: str = "", page_no: int = 1) -> Response:
    """The search page: a form and ranked, highlighted results."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    size = site.settings.web.page_size
    page_no = max(1, min(page_no, 100))
    reader = reader_of(request, channel)
    hidden = reader.hidden if reader else frozenset()
    with site.engine.connect() as conn:
        offset = (page_no - 1) * size
        hits = (
            search_items(conn, channel.id, q, limit=size + 1, offset=offset, hidden=hidden)
            if q
            else []
        )
        more = len(hits) > size
        return page(
            request,
            channel,
            "search.html",
            conn,
            column="search",
            title=f"Search{': ' + q if q else ''} · {channel.cfg.display_name}",
            query=q,
            hits=hits[:size],
            page_no=page_no,
            more=more,
            searched=bool(terms_of(q)),
            cards=grouped(request, conn, channel, hits[:size], hidden),
            headers=PERSONAL if reader is not None else None,
        )
