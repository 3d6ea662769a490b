"""Full-text search: FTS5 with bm25 and snippet() on SQLite, tsvector/ts_rank on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection, Row, text

from newsline import urls
from newsline.web.queries import CARD_SQL, LISTED_SQL, STAMP_TYPES
from newsline.web.render import page
from newsline.web.safety import MARK_END, MARK_START
from newsline.web.site import site_of

router = APIRouter(include_in_schema=False)

MAX_TERMS = 12
_TERM = re.compile(r"\w+", re.UNICODE)

_SELECT = CARD_SQL
_LISTED = LISTED_SQL

SQLITE_SEARCH = f"""
SELECT {_SELECT},
    highlight(item_fts, 0, :start, :end) AS title_marked,
    snippet(item_fts, 1, :start, :end, '…', 24) AS snippet_marked
FROM item_fts
JOIN item ON item.id = item_fts.rowid
JOIN publication ON publication.id = item.publication_id
WHERE item_fts MATCH :query AND {_LISTED}
ORDER BY bm25(item_fts, 8.0, 1.0), item.sort_at DESC
LIMIT :limit OFFSET :offset
"""

POSTGRES_SEARCH = f"""
WITH q AS (SELECT websearch_to_tsquery('english', :query) AS query)
SELECT {_SELECT},
    ts_headline('english', item.title, q.query, :title_options) AS title_marked,
    ts_headline('english', item.body_text, q.query, :snippet_options) AS snippet_marked
FROM item
JOIN publication ON publication.id = item.publication_id, q
WHERE item.search_vector @@ q.query AND {_LISTED}
ORDER BY ts_rank(item.search_vector, q.query) DESC, item.sort_at DESC
LIMIT :limit OFFSET :offset
"""


def terms_of(query: str) -> list[str]:
    """The words of a search query (punctuation and operators dropped)."""
    return _TERM.findall(query)[:MAX_TERMS]


def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression: every term required, the last one as a prefix."""
    quoted = [f'"{t}"' for t in terms]
    if quoted and len(terms[-1]) >= 3:
        quoted[-1] += "*"
    return " ".join(quoted)


def search_items(
    conn: Connection, channel_id: int, query: str, *, limit: int, offset: int = 0
) -> list[Row[Any]]:
    """Ranked matches of `query` among the channel's items, with marked title and snippet."""
    terms = terms_of(query)
    if not terms:
        return []
    params: dict[str, Any] = {"channel": channel_id, "limit": limit, "offset": offset}
    if conn.dialect.name == "postgresql":
        sel = f"StartSel={MARK_START}, StopSel={MARK_END}"
        params |= {
            "query": " ".join(terms),
            "title_options": f"{sel}, HighlightAll=true",
            "snippet_options": f"{sel}, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=…",
        }
        statement = POSTGRES_SEARCH
    else:
        params |= {"query": fts5_query(terms), "start": MARK_START, "end": MARK_END}
        statement = SQLITE_SEARCH
    typed = text(statement).columns(**STAMP_TYPES)
    return list(conn.execute(typed, params).all())


@router.get(urls.SEARCH)
async def search(request: Request, channel_slug: str, q: str = "", page_no: int = 1) -> Response:
    """The search page: a form and ranked, highlighted results."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    size = site.settings.web.page_size
    page_no = max(1, min(page_no, 100))
    with site.engine.connect() as conn:
        hits = (
            search_items(conn, channel.id, q, limit=size + 1, offset=(page_no - 1) * size)
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
        )
