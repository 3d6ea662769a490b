"""Rendering pages in the channel's chrome: title band, dateline, sponsor band, column header."""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import lru_cache, partial
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, nodes
from sqlalchemy import Connection

from newsline.community.presence import is_bot, online_count
from newsline.db.models import utcnow
from newsline.sanitize import web_url
from newsline.text import truncate_words
from newsline.urls import Urls
from newsline.web.auth import viewer
from newsline.web.safety import highlighted
from newsline.web.site import ChannelRef, Site, site_of

#: The sponsor's six width bands (CSS classes ``band-0`` … ``band-5``).
SPONSOR_BANDS = ("lt500", "500-599", "600-899", "900-1199", "1200-1799", "ge1800")
TEASER_CHARS = 280
AVATAR_COLOURS = 8


def clip(text: str | None, limit: int = TEASER_CHARS) -> str:
    """`text` squeezed to at most `limit` characters, cut at a word with "..." when long."""
    return truncate_words(text or "", limit)


def age(when: datetime | None, now: datetime, zone: Any = UTC) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``; after 30 days the date, ``25 Jul 2025``."""
    if when is None:
        return ""
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    if seconds < 30 * 86400:
        return f"{seconds // 86400}d"
    local = when.astimezone(zone)
    return f"{local.day} {local:%b} {local.year}"


def ages(channel: ChannelRef, now: datetime | None = None) -> Callable[[datetime | None], str]:
    """Each moment's age (:func:`age`) as the channel's pages print it at `now` (by default,
    the current time), in the channel's time zone."""
    return partial(age, now=now or utcnow(), zone=channel.cfg.zone)


def dateline_date(now: datetime, zone: Any) -> str:
    """The dateline's date in the channel's zone: ``Jul 25, 2025``."""
    local = now.astimezone(zone)
    return f"{local:%b} {local.day}, {local.year}"


def initials(name: str) -> str:
    """Up to two initials of a publication name, for its avatar when it has no icon."""
    words = [w for w in re.split(r"[^\w]+", name) if w and w.lower() not in {"the", "of", "a"}]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[1][0]).upper()


def avatar_class(name: str) -> str:
    """A stable colour class for a publication's initials avatar."""
    digest = hashlib.blake2b(name.encode(), digest_size=2).digest()
    return f"av{int.from_bytes(digest, 'big') % AVATAR_COLOURS}"


def http_date(when: datetime | None) -> str | None:
    """A ``Last-Modified`` value."""
    return format_datetime(when.astimezone(UTC), usegmt=True) if when else None


@dataclass(frozen=True)
class ReaderOptions:
    """The reader's display options, from cookies."""

    theme: str  # "dark", "light" or "" (follow the system)
    dense: bool

    @classmethod
    def of(cls, request: Request) -> ReaderOptions:
        theme = request.cookies.get("nl_theme", "")
        return cls(
            theme if theme in ("dark", "light") else "", request.cookies.get("nl_dense") == "1"
        )

    @property
    def html_class(self) -> str:
        classes = [f"theme-{self.theme}"] if self.theme else []
        if self.dense:
            classes.append("dense")
        return " ".join(classes)


def item_path(urls: Urls, channel: ChannelRef, row: Any) -> str:
    """Our page of an item row (one with ``publication_tag``, ``slug`` and ``id``)."""
    return urls.item(channel.slug, row.publication_tag, row.slug or row.id)


def source_url(row: Any) -> str | None:
    """The item's source article URL (canonical when known), if it is a safe http(s) URL."""
    return web_url(row.canonical_url) or web_url(row.url)


SPONSOR_URLS = Urls("")  # site paths only


def sponsor_links(channel: ChannelRef) -> list[dict[str, str]]:
    """The six sponsor variants with their width band and utm-tagged link."""
    sponsor = channel.cfg.sponsor
    base = web_url(sponsor.url) or "#"
    links = []
    for band, text in zip(SPONSOR_BANDS, sponsor.variants, strict=True):
        query = urlencode(
            {
                "utm_source": "newsline",
                "utm_medium": "sponsor",
                "utm_campaign": channel.slug,
                "utm_content": band,
            }
        )
        href = base if base == "#" else f"{base}{'&' if '?' in base else '?'}{query}"
        # Counted per day and band without tracking anyone (web/sponsor.py).
        ping = SPONSOR_URLS.sponsor_click(channel.slug, band)
        seen = SPONSOR_URLS.sponsor_seen(channel.slug, band)
        links.append({"band": band, "text": text, "href": href, "ping": ping, "seen": seen})
    return links


#: Feed formats as a page announces them: kind, media type, name.
FEED_LINKS = (
    ("rss", "application/rss+xml", "RSS"),
    ("atom", "application/atom+xml", "Atom"),
    ("json", "application/feed+json", "JSON Feed"),
)


def feed_links(urls: Urls, channel: ChannelRef) -> list[dict[str, str]]:
    """``<link rel=alternate>`` entries for the channel's feeds (absolute URLs)."""
    title = channel.cfg.display_name
    return [
        {
            "type": media_type,
            "title": f"{title} ({name})",
            "href": urls.absolute(urls.feed(channel.slug, kind)),
        }
        for kind, media_type, name in FEED_LINKS
    ]


_STAMP_MARK = re.compile("\x00([0-9]+)\x00")


@dataclass(frozen=True)
class Fragment:
    """A rendered piece of a page whose ages (``5m``) are filled in per request: the HTML
    around each age, and the moments whose ages go between."""

    parts: tuple[str, ...]
    stamps: tuple[datetime, ...]

    def fill(self, age_of: Callable[[datetime], str]) -> str:
        out = [self.parts[0]]
        for when, part in zip(self.stamps, self.parts[1:], strict=True):
            out.append(age_of(when))
            out.append(part)
        return "".join(out)


class FragmentCache:
    """Rendered fragments by version key, per worker process: bounded (LRU) and each kept
    at most `ttl` seconds, so what a key does not name (an editor's retag, a publication
    renamed) shows within that time."""

    def __init__(self, size: int = 4096, ttl: float = 120.0) -> None:
        self.size, self.ttl = size, ttl
        self._entries: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    def get(self, key: Any) -> Any:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return found[1]

    def put(self, key: Any, fragment: Any) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, fragment)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


def fragment_cache(request: Request) -> FragmentCache:
    """This worker's fragment cache."""
    cache: FragmentCache = site_of(request).memo(("fragments",), FragmentCache)
    return cache


#: Whole pages kept per worker (:func:`page` with `keep`), at most this many (~50 KiB each).
KEPT_PAGES = 512


def page_cache(request: Request) -> FragmentCache:
    """This worker's kept pages (apart from the fragments: pages are big, and one reader's
    pages must not push everybody's cards out)."""
    cache: FragmentCache = site_of(request).memo(("pages",), lambda: FragmentCache(KEPT_PAGES))
    return cache


def helpers(site: Site, channel: ChannelRef) -> dict[str, Any]:
    """The functions every page and fragment template calls (``age`` apart: each caller
    says how it prints a moment)."""
    return {
        "item_path": lambda row: item_path(site.urls, channel, row),
        "source_url": source_url,
        "clip": clip,
        "initials": initials,
        "avatar_class": avatar_class,
        "web_url": web_url,
        "highlighted": highlighted,
    }


def render_fragment(
    request: Request, channel: ChannelRef, template: str, macro: str, *args: Any
) -> Fragment:
    """Call `macro` of `template` with the page globals; every ``age(...)`` it prints is
    left open, to be filled per request by :meth:`Fragment.fill`."""
    site = site_of(request)
    stamps: list[datetime] = []

    def mark(when: datetime | None) -> str:
        if when is None:
            return ""
        stamps.append(when)
        return f"\x00{len(stamps) - 1}\x00"

    names = {"channel": channel, "cfg": channel.cfg, "age": mark, **helpers(site, channel)}
    module = site.templates.get_template(template).make_module(names)
    html = str(getattr(module, macro)(*args))
    pieces = _STAMP_MARK.split(html)
    return Fragment(tuple(pieces[0::2]), tuple(stamps[int(index)] for index in pieces[1::2]))


#: base.html's blocks that differ from request to request, in page order; the rest of the
#: chrome (head links, masthead, sponsor band, footer) is rendered once per channel and
#: settings version (:func:`chrome`) and the blocks are spliced into it.
CHROME_BLOCKS = (
    "chrome_class",
    "chrome_title",
    "head",
    "chrome_tools",
    "chrome_dateline",
    "chrome_back",
    "colname",
    "column_class",
    "main",
)
#: Pages spliced into the pre-rendered chrome: templates that extend base.html directly and
#: render nothing outside their blocks (tests/integration/test_web_chrome.py compares them
#: with a whole render). Other pages are rendered whole.
SPLICED = frozenset({"newsline.html", "story.html", "item.html"})
_SKELETON = '{% extends "base.html" %}' + "".join(
    f"{{% block {name} %}}\x00{name}\x00{{% endblock %}}" for name in CHROME_BLOCKS
)
_BLOCK_MARK = re.compile("\x00([a-z_]+)\x00")


T = TypeVar("T")


@dataclass(frozen=True)
class Chrome:
    """base.html rendered with a mark for each per-request block: the text between them."""

    parts: tuple[str, ...]
    blocks: tuple[str, ...]


def per_channel_settings(
    request: Request, name: str, channel: ChannelRef, build: Callable[[], T]
) -> T:
    """A value made from the channel's settings, kept per process until they change.

    Kept with the very channel settings the request was served under (a console change
    makes new ones), not looked up again: a reload landing in the middle of a request must
    not file what the old settings made under the new ones, where it would stay."""
    memo: dict[str, tuple[Any, T]] = site_of(request).memo((name,), dict)
    found = memo.get(channel.slug)
    if found is None or found[0] is not channel.cfg:
        found = memo[channel.slug] = (channel.cfg, build())
    return found[1]


def chrome(request: Request, channel: ChannelRef, ctx: Mapping[str, Any]) -> Chrome:
    """The channel's pre-rendered chrome, made again when its settings changed."""

    def build() -> Chrome:
        html = site_of(request).templates.from_string(_SKELETON).render(ctx)
        pieces = _BLOCK_MARK.split(html)
        return Chrome(tuple(pieces[0::2]), tuple(pieces[1::2]))

    return per_channel_settings(request, "chrome", channel, build)


@lru_cache(maxsize=32)
def top_imports(env: Environment, template: str) -> tuple[tuple[str, tuple[Any, ...], bool], ...]:
    """The ``{% from X import a, b [with context] %}`` statements at the top of `template`:
    its blocks use what they import, which only a whole render would otherwise bring in."""
    assert env.loader is not None
    source = env.loader.get_source(env, template)[0]
    found = []
    for node in env.parse(source).body:
        if isinstance(node, nodes.FromImport) and isinstance(node.template, nodes.Const):
            found.append((str(node.template.value), tuple(node.names), bool(node.with_context)))
    return tuple(found)


def _hole(name: str) -> Callable[[Any], Iterator[str]]:
    def render(_context: Any) -> Iterator[str]:
        yield f"\x00{name}\x00"

    return render


def render_spliced(
    request: Request,
    channel: ChannelRef,
    template: str,
    ctx: dict[str, Any],
    holes: frozenset[str] = frozenset(),
) -> str:
    """`template` rendered into the channel's pre-rendered chrome: the same bytes as a whole
    render, without rendering the unchanging parts again. The blocks named in `holes` are
    left as marks (``\x00name\x00``), to be filled per request (:class:`PageFrame`)."""
    env = site_of(request).templates
    page_template = env.get_template(template)
    base = env.get_template("base.html")
    context = page_template.new_context(ctx)
    for source, names, with_context in top_imports(env, template):
        imported = env.get_template(source)
        module = imported.make_module(context.get_all()) if with_context else imported.module
        for name in names:
            name, alias = name if isinstance(name, tuple) else (name, name)
            context.vars[alias] = getattr(module, name)
    for name in holes.difference(CHROME_BLOCKS):  # blocks inside the page's blocks
        context.blocks[name] = [_hole(name)]
    frame = chrome(request, channel, ctx)
    out = [frame.parts[0]]
    for name, part in zip(frame.blocks, frame.parts[1:], strict=True):
        if name in holes:
            out.append(f"\x00{name}\x00")
        else:
            block = page_template.blocks.get(name) or base.blocks[name]
            out.extend(block(context))
        out.append(part)
    return "".join(out)


#: base.html's blocks that differ per request, not with the data a page shows: a page kept
#: by data version (:func:`page` with `keep`) has them filled in per request.
REQUEST_BLOCKS = frozenset({"chrome_class", "chrome_tools", "chrome_dateline"})
_HOLE = re.compile("\x00([0-9]+|[a-z_]+)\x00")


class AgeMarks:
    """The ``age`` of a page rendered to be kept: each moment becomes a numbered mark."""

    def __init__(self) -> None:
        self.stamps: list[datetime] = []

    def __call__(self, when: datetime | None) -> str:
        if when is None:
            return ""
        self.stamps.append(when)
        return f"\x00{len(self.stamps) - 1}\x00"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // _MICROSECOND


@dataclass(frozen=True)
class PageFrame:
    """A whole page as rendered from its data: the text between its holes, each hole either
    a moment (its age, ``5m``, filled per request) or a per-request block's name."""

    parts: tuple[str, ...]
    holes: tuple[datetime | str, ...]
    micros: tuple[int, ...]  # each hole's moment in µs since 1970 (0 for a block)

    @classmethod
    def of(cls, html: str, stamps: list[datetime]) -> PageFrame:
        pieces = _HOLE.split(html)
        holes = tuple(stamps[int(mark)] if mark.isdigit() else mark for mark in pieces[1::2])
        micros = tuple(0 if isinstance(h, str) else _micros(h) for h in holes)
        return cls(tuple(pieces[0::2]), holes, micros)

    def fill(self, now: datetime, zone: Any, blocks: Mapping[str, str]) -> str:
        """The page at `now`: each age as :func:`age` gives it, and the `blocks`."""
        clock = _micros(now)
        out = [self.parts[0]]
        for hole, when, part in zip(self.holes, self.micros, self.parts[1:], strict=True):
            if isinstance(hole, str):
                out.append(blocks[hole])
            else:
                # age()'s arithmetic on whole microseconds: the same text, a fraction of the
                # cost (datetime subtraction and total_seconds() per age were most of it).
                elapsed = max(0, (clock - when) // 1_000_000)
                if elapsed < 60:
                    out.append(f"{elapsed}s")
                elif elapsed < 3600:
                    out.append(f"{elapsed // 60}m")
                elif elapsed < 86400:
                    out.append(f"{elapsed // 3600}h")
                else:
                    out.append(age(hole, now, zone))
            out.append(part)
        return "".join(out)


@dataclass(frozen=True)
class KeptPage:
    """A page kept by the data version it shows (:func:`page` with `keep`)."""

    frame: PageFrame
    template: str
    cfg: Any  # the channel settings it was rendered under: kept only while they stand
    column: str
    last_modified: datetime | None
    headers: Mapping[str, str] | None
    until: datetime | None  # when something it shows changes by time alone (a pin ends)
    data: Mapping[str, Any]  # what the page's own per-request blocks need (its item)


def kept_page(request: Request, channel: ChannelRef, key: tuple[Any, ...]) -> KeptPage | None:
    """The page kept under `key` (which names the data version), if still good."""
    found: KeptPage | None = page_cache(request).get(key)
    if found is None or found.cfg is not channel.cfg or found.template not in SPLICED:
        return None
    if found.until is not None and utcnow() >= found.until:
        return None
    return found


#: How long a worker reuses a channel's online count: a second, as the render cache keeps a
#: whole page (a signed-in reader's page is rendered for them, but the count is everybody's).
ONLINE_SECONDS = 1.0
#: A User-Agent's class, remembered: the same few agents ask again and again.
bot_agent = lru_cache(maxsize=1024)(is_bot)


def online_now(
    request: Request, channel: ChannelRef, conn: Connection | None, now: datetime
) -> int:
    """The channel's readers online, counted at most once a second per worker."""
    site = site_of(request)
    memo: dict[int, tuple[float, int]] = site.memo(("online",), dict)
    clock = time.monotonic()
    found = memo.get(channel.id)
    if found is None or found[0] <= clock:
        per_client = site.settings.web.online_max_per_ip
        if conn is None:
            with site.engine.connect() as own:
                count = online_count(own, channel.id, now, per_client=per_client)
        else:
            count = online_count(conn, channel.id, now, per_client=per_client)
        found = memo[channel.id] = (clock + ONLINE_SECONDS, count)
    return found[1]


def online_of(request: Request, channel: ChannelRef, conn: Connection | None, now: datetime) -> int:
    """The online count a page shows (0 to bots)."""
    if bot_agent(request.headers.get("user-agent")):
        return 0
    return online_now(request, channel, conn, now)


#: Per-request chrome blocks kept, by everything they show (at most this many).
REQUEST_BLOCKS_KEPT = 1024


def request_blocks(
    request: Request, channel: ChannelRef, template: str, conn: Connection | None, now: datetime
) -> dict[str, str]:
    """The per-request blocks (:data:`REQUEST_BLOCKS`) of a page for this request: its
    options, path, signed-in reader, date and online count; rendered once per such
    combination and worker."""
    options = ReaderOptions.of(request)
    zone = channel.cfg.zone
    dateline = dateline_date(now, zone)
    online = online_of(request, channel, conn, now)
    me = viewer(request)
    key = (
        template,
        channel.slug,
        options,
        request.url.path,
        (me.id, me.display_name) if me else None,
        dateline,
        online,
    )
    memo: OrderedDict[Any, tuple[Any, dict[str, str]]] = site_of(request).memo(
        ("request-blocks",), OrderedDict
    )
    found = memo.get(key)
    if found is not None and found[0] is channel.cfg:
        return found[1]
    env = site_of(request).templates
    page_template = env.get_template(template)
    base = env.get_template("base.html")
    context = page_template.new_context(
        {
            "request": request,
            "channel": channel,
            "cfg": channel.cfg,
            "options": options,
            "path": request.url.path,
            "dateline": dateline,
            "online": online,
        }
    )
    blocks = {
        name: "".join((page_template.blocks.get(name) or base.blocks[name])(context))
        for name in REQUEST_BLOCKS
    }
    memo[key] = (channel.cfg, blocks)
    while len(memo) > REQUEST_BLOCKS_KEPT:
        memo.popitem(last=False)
    return blocks


def respond_kept(
    request: Request,
    channel: ChannelRef,
    kept: KeptPage,
    conn: Connection | None,
    own_blocks: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A kept page for this request: its ages and per-request blocks filled in (the chrome's,
    and `own_blocks`: the page's own, rendered by the page for this request)."""
    now = utcnow()
    zone = channel.cfg.zone
    blocks = request_blocks(request, channel, kept.template, conn, now)
    html = kept.frame.fill(now, zone, {**blocks, **own_blocks} if own_blocks else blocks)
    response = HTMLResponse(html, headers=dict(kept.headers or {}))
    response.headers["vary"] = "Cookie, User-Agent"
    stamp = http_date(kept.last_modified)
    if stamp:
        response.headers["last-modified"] = stamp
    return response


def data_context(
    request: Request,
    channel: ChannelRef,
    now: datetime,
    age_of: Callable[[datetime | None], str],
    **context: Any,
) -> dict[str, Any]:
    """What a page is rendered with: the page's data (`context`), the channel's settings and
    the request's path. For a kept page's blocks nothing else of the request (no options,
    date or online count: :data:`REQUEST_BLOCKS` show those); a page rendered whole passes
    those in `context` too."""
    site = site_of(request)
    return {
        "request": request,
        "channel": channel,
        "cfg": channel.cfg,
        "now": now,
        "zone": channel.cfg.zone,
        "sponsors": per_channel_settings(
            request, "sponsors", channel, lambda: sponsor_links(channel)
        ),
        "path": request.url.path,
        "home": site.urls.newsline(channel.slug),
        # The channel's digests are its own publication's items.
        "digest_home": site.urls.digests(channel.slug, channel.cfg.own_tag),
        "mail_enabled": site.settings.email.enabled,
        "feeds": per_channel_settings(
            request, "feeds", channel, lambda: feed_links(site.urls, channel)
        ),
        "age": age_of,
        **helpers(site, channel),
        **context,
    }


def page(
    request: Request,
    channel: ChannelRef,
    template: str,
    conn: Connection | None,
    *,
    column: str,
    title: str,
    status_code: int = 200,
    last_modified: datetime | None = None,
    headers: Mapping[str, str] | None = None,
    keep: tuple[Any, ...] | None = None,
    marks: AgeMarks | None = None,
    until: datetime | None = None,
    own_holes: frozenset[str] = frozenset(),
    own_blocks: Callable[[KeptPage], Mapping[str, str]] | None = None,
    data: Mapping[str, Any] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render `template` inside the channel's chrome.

    With `keep` (a key naming the data version the page shows and everything else its data
    blocks depend on), the page is kept as rendered, its ages and per-request blocks left
    open (`marks` collects the ages, shared with fragments rendered for it beforehand), and
    :func:`kept_page` finds it again until `until`. `own_holes`: blocks of the page itself
    that differ per request (a signed-in reader's forms), left open too and filled by
    `own_blocks(kept page)`; `data`: what that needs, kept with the page."""
    site = site_of(request)
    now = utcnow()
    if keep is not None and template in SPLICED and status_code == 200:
        marks = marks or AgeMarks()
        ctx = data_context(request, channel, now, marks, column=column, title=title, **context)
        html = render_spliced(request, channel, template, ctx, REQUEST_BLOCKS | own_holes)
        kept = KeptPage(
            PageFrame.of(html, marks.stamps),
            template,
            channel.cfg,
            column,
            last_modified,
            headers,
            until,
            data or {},
        )
        page_cache(request).put(keep, kept)
        return respond_kept(
            request, channel, kept, conn, own_blocks(kept) if own_blocks and own_holes else None
        )
    online = online_of(request, channel, conn, now)
    zone = channel.cfg.zone
    options = ReaderOptions.of(request)
    ctx = data_context(request, channel, now, ages(channel, now))
    ctx.update(
        dateline=dateline_date(now, zone),
        online=online,
        options=options,
        column=column,
        title=title,
    )
    ctx.update(context)  # the page's own values win (an admin page's own `now`)
    if template in SPLICED:
        html = render_spliced(request, channel, template, ctx)
    else:
        html = site.templates.get_template(template).render(ctx)
    if marks is not None and marks.stamps:  # fragments rendered for a page to be kept
        html = PageFrame.of(html, marks.stamps).fill(now, zone, {})
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    response.headers["vary"] = "Cookie, User-Agent"
    stamp = http_date(last_modified)
    if stamp and status_code == 200:
        response.headers["last-modified"] = stamp
    return response
