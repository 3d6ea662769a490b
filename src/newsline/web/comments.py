"""Comments on the site: the thread under every item (and Digest) page, its own pages and
forms, a feed per item, reply notifications, and the JSON API.

Pages work without JavaScript: every action is a plain form that POSTs (with the CSRF
token) and answers ``303`` to the comment's permalink (``…/comments/<id>#c<id>``, the
thread holding it); reply, edit, flag and delete each have a small form page.
``static/comments.js`` makes the reply, edit and flag forms inline and posts them with
``fetch`` to the JSON API, inserting the answer without a reload.

The item page includes ``_comments.html``, which asks :func:`comment_section` (a Jinja
global) for the first page of threads. Readers who are not signed in all get one section
(no form, a "sign in to comment" link), rendered once per version of the item's comments
(``item.comment_version``, bumped by every change the section shows) and kept per worker,
its ages filled per request; signed-in readers' sections are rendered per request.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from functools import cached_property
from typing import Annotated, Any, Literal
from xml.sax.saxutils import escape as xml_escape

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Row, bindparam, select, text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from newsline import urls
from newsline.community import comments
from newsline.community.comments import CommentError, Shown, ThreadPage
from newsline.community.limits import RateLimited
from newsline.community.markdown import MAX_BODY_CHARS
from newsline.db.models import Comment, Item, User, utcnow
from newsline.publish.mailer import MailError, send_message
from newsline.web import queries
from newsline.web.api import ApiError, ChannelSlug, ErrorOut, RowId, api_channel
from newsline.web.auth import Viewer, csrf_unless_token, require_viewer, viewer
from newsline.web.clients import client_ip, client_key
from newsline.web.csrf import FIELD as CSRF_FIELD
from newsline.web.csrf import csrf_token, form_fields, require_csrf
from newsline.web.render import Fragment, ages, fragment_cache, page, render_fragment
from newsline.web.site import NO_STORE, ChannelRef, NotFound, Refused, Site, see_other, site_of

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix=urls.API, tags=["comments"])
FEED_SIZE = 50
#: Threads shown under the item itself; the comments pages show 100 at a time. (A page
#: with a thousand comments weighs half a megabyte: the item stays light to read.)
ITEM_PAGE_THREADS = 10

# --- reading ------------------------------------------------------------------------------


@dataclass
class Section:
    """Everything ``_comments.html`` shows: a page of threads, and what the viewer may do."""

    channel: ChannelRef
    item: Any  # the item's row (id, title, publication_tag, slug)
    thread: ThreadPage
    viewer: Viewer | None
    moderator: bool
    enabled: bool
    edit_minutes: int
    now: datetime
    urls: urls.Urls
    single: bool = False  # one thread (a permalink page)
    on_item_page: bool = False  # the first threads, under the item (more: the comments pages)
    error: str = ""
    draft: str = ""
    max_chars: int = MAX_BODY_CHARS
    sorts: tuple[str, ...] = comments.SORTS
    extra: dict[str, Any] = field(default_factory=dict)
    #: Already rendered (an anonymous reader's section, from the fragment cache).
    html: Markup | None = None
    #: The forms' hidden token input when given (a shared fragment holds a placeholder).
    csrf_html: Markup | None = None
    #: Mark each comment's place: a shared fragment, some comments replaced per reader.
    marks: bool = False

    def mark(self, comment_id: int) -> str:
        return f"\x02{comment_id}\x02" if self.marks else ""

    @property
    def mark_end(self) -> str:
        return "\x03" if self.marks else ""

    @property
    def total(self) -> int:
        return self.thread.total

    @property
    def sign_in_url(self) -> str:
        item_path = self.urls.item(*self._key)
        return self.urls.sign_in(f"{item_path}#comments")

    @cached_property
    def _key(self) -> tuple[str, str, str | int]:
        return (self.channel.slug, self.item.publication_tag, self.item.slug or self.item.id)

    def permalink(self, comment_id: int) -> str:
        return self.urls.comment(*self._key, comment_id)

    def action(self, comment_id: int, name: str) -> str:
        return self.urls.comment_action(*self._key, comment_id, name)

    def page_link(self, sort: str, page_no: int = 1) -> str:
        return self.urls.item_comments(*self._key, sort=sort, page_no=page_no)

    @property
    def post_url(self) -> str:
        return self.urls.item_comments(*self._key)

    @property
    def api_url(self) -> str:
        return self.urls.api_comments(self.channel.slug, self.item.id)

    @property
    def feed_url(self) -> str:
        return self.urls.item_comments_feed(*self._key)

    @property
    def can_post(self) -> bool:
        return self.enabled and self.viewer is not None and self.viewer.verified

    def can_edit(self, c: Shown) -> bool:
        return (
            c.mine
            and c.status in ("published", "held")
            and self.now - c.created_at <= timedelta(minutes=self.edit_minutes)
        )


def moderates(found: Viewer | None, channel: ChannelRef) -> bool:
    return found is not None and found.can("moderator", channel.slug)


def build_section(
    request: Request,
    channel: ChannelRef,
    item: Any,
    *,
    sort: str = "oldest",
    page_no: int = 1,
    root_id: int | None = None,
    on_item_page: bool = False,
    as_stranger: bool = False,
) -> Section:
    """The comment section of `item` for this request's viewer: on the item page its first
    :data:`ITEM_PAGE_THREADS` threads, on the comments pages :data:`comments.PAGE_SIZE`.
    `as_stranger`: the thread as a reader with no comments or votes on the item sees it."""
    site = site_of(request)
    found = viewer(request)
    moderator = moderates(found, channel) and not as_stranger
    with Session(site.engine) as session:
        thread = comments.thread(
            session,
            item.id,
            sort=sort if sort in comments.SORTS else "oldest",
            page=page_no,
            viewer_id=found.id if found and not as_stranger else None,
            moderator=moderator,
            root_id=root_id,
            page_size=ITEM_PAGE_THREADS if on_item_page else comments.PAGE_SIZE,
        )
    settings = channel.cfg.comments
    return Section(
        channel=channel,
        item=item,
        thread=thread,
        viewer=found,
        moderator=moderator,
        enabled=settings.enabled,
        edit_minutes=settings.edit_minutes,
        now=utcnow(),
        urls=site.urls,
        single=root_id is not None,
        on_item_page=on_item_page,
    )


@dataclass(frozen=True)
class CommentState:
    """An item's comment section version (``item.comment_version``: every change of what
    the section shows bumps it, see community/comments.py), when it last changed, and its
    count of published comments."""

    version: int
    changed_at: datetime | None
    count: int


_STATE = select(Item.comment_version, Item.comments_changed_at, Item.comment_count).where(
    Item.id == bindparam("item_id")
)


def comment_state(conn: Connection | Session, item_id: int) -> CommentState:
    """The item's :class:`CommentState`: one lookup by primary key."""
    row = conn.execute(_STATE, {"item_id": item_id}).one()
    return CommentState(int(row[0] or 0), row[1], int(row[2] or 0))


@dataclass
class CachedSection:
    """An anonymous reader's comment section, rendered once per thread version."""

    html: Markup
    total: int


@pass_context
def comment_section(context: Context, item: Any = None) -> Section | CachedSection:
    """Jinja global: the item page's comment section (first page, oldest first). Readers
    who are not signed in all see the same one: it is rendered once per version of the
    item's comments (:class:`CommentState`, which the page passes as ``comment_state`` when
    it has read it) and its ages are filled per request. (Authors' renamed display names
    show when the fragment expires, within two minutes.)"""
    request: Request = context["request"]
    channel: ChannelRef = context["channel"]
    item = item or context["item"]
    state = context.get("comment_state")
    found = viewer(request)
    if found is not None:
        shared = reader_section(request, channel, item, context["age"], found, state=state)
        if shared is None:
            return build_section(request, channel, item, on_item_page=True)
        return CachedSection(*shared)
    html, total = anonymous_section(request, channel, item, context["age"], state=state)
    return CachedSection(html, total)


def anonymous_section(
    request: Request,
    channel: ChannelRef,
    item: Any,
    age_of: Callable[[datetime], str],
    *,
    state: CommentState | None = None,
    sort: str = "oldest",
    page_no: int = 1,
    on_item_page: bool = True,
) -> tuple[Markup, int]:
    """The section as every reader who is not signed in sees it, and the item's count of
    published comments: rendered once per version of the item's comments (`state`, read
    here when not given) and page, its ages filled per call."""
    if state is None:
        with site_of(request).engine.connect() as conn:
            state = comment_state(conn, item.id)
    enabled = channel.cfg.comments.enabled
    key = ("comments", channel.slug, item.id, state.version, enabled, sort, page_no, on_item_page)
    cache = fragment_cache(request)
    fragment = cache.get(key)
    if fragment is None:
        # Read after the version: what is stored under a version is never older than it.
        section = build_section(
            request, channel, item, sort=sort, page_no=page_no, on_item_page=on_item_page
        )
        fragment = render_fragment(request, channel, "_comment_section.html", "section", section)
        cache.put(key, fragment)
    return Markup(fragment.fill(age_of)), state.count


#: Where a shared reader's section has the forms' token, and its comments' places.
CSRF_MARK = "\x04csrf\x04"
_MARKED = re.compile("\x02([0-9]+)\x02(.*?)\x03", re.DOTALL)


class _ReaderSections:
    """Signed-in readers' shared sections per key (LRU, each kept at most `ttl` seconds):
    the fragment, the comments it shows, and the count of published comments."""

    def __init__(self, size: int = 1024, ttl: float = 120.0) -> None:
        self.size, self.ttl = size, ttl
        self._entries: OrderedDict[Any, tuple[float, tuple[Fragment, dict[int, Shown], int]]]
        self._entries = OrderedDict()

    def get(self, key: Any) -> tuple[Fragment, dict[int, Shown], int] | None:
        found = self._entries.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        self._entries.move_to_end(key)
        return found[1]

    def put(self, key: Any, entry: tuple[Fragment, dict[int, Shown], int]) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, entry)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


@dataclass(frozen=True)
class ReaderMarks:
    """What of an item's comments is a signed-in reader's own: their comments' statuses by
    id, and the comments they upvoted."""

    own: dict[int, str]
    voted: frozenset[int]

    @property
    def none(self) -> bool:
        return not self.own and not self.voted


NO_MARKS = ReaderMarks({}, frozenset())
#: A reader's comments and votes on one item, in one prebuilt statement (an ORM select
#: built per request cost several times the lookup).
_READER_MARKS = text(
    "SELECT id, status, 0 AS vote FROM comment WHERE item_id = :item AND author_id = :user "
    "UNION ALL SELECT comment_vote.comment_id, '', 1 FROM comment_vote "
    "JOIN comment ON comment.id = comment_vote.comment_id "
    "WHERE comment.item_id = :item AND comment_vote.user_id = :user"
)


def reader_marks(conn: Connection, item_id: int, user_id: int, state: CommentState) -> ReaderMarks:
    """The reader's own comments and votes on the item. An item whose comment version is 0
    has had no comment (every comment write bumps it: community.comments.changed), so no
    lookup."""
    if not state.version:
        return NO_MARKS
    own: dict[int, str] = {}
    voted: set[int] = set()
    for comment_id, status, vote in conn.execute(_READER_MARKS, {"item": item_id, "user": user_id}):
        if vote:
            voted.add(int(comment_id))
        else:
            own[int(comment_id)] = str(status)
    return ReaderMarks(own, frozenset(voted))


def reader_section(
    request: Request,
    channel: ChannelRef,
    item: Any,
    age_of: Callable[[datetime], str],
    found: Viewer,
    *,
    state: CommentState | None = None,
    sort: str = "oldest",
    page_no: int = 1,
    on_item_page: bool = True,
    conn: Connection | None = None,
    marks: ReaderMarks | None = None,
) -> tuple[Markup, int] | None:
    """A signed-in reader's section without rendering it all: the section as a reader with
    no comments or votes here sees it, rendered once per version of the item's comments,
    with this reader's own comments and votes re-rendered and their token put in. None for
    moderators and for readers with comments here that only they see (held, hidden, or
    deleted): their thread differs in shape, :func:`build_section` renders it whole.
    `conn`: the page's own connection (else one is taken); `marks`: the reader's own
    comments and votes, when already read (:func:`reader_marks`)."""
    if moderates(found, channel):
        return None
    if conn is None:
        with site_of(request).engine.connect() as own_conn:
            return reader_section(
                request,
                channel,
                item,
                age_of,
                found,
                state=state,
                sort=sort,
                page_no=page_no,
                on_item_page=on_item_page,
                conn=own_conn,
                marks=marks,
            )
    site = site_of(request)
    if state is None:
        state = comment_state(conn, item.id)
    if marks is None:
        marks = reader_marks(conn, item.id, found.id, state)
    own = marks.own
    if any(status != "published" for status in own.values()):
        return None
    enabled = channel.cfg.comments.enabled
    key: tuple[Any, ...] = (channel.slug, item.id, state.version, enabled)
    key += (found.verified, sort, page_no, on_item_page)
    cache: _ReaderSections = site.memo(("reader-sections",), _ReaderSections)
    entry = cache.get(key)
    if entry is None:
        # Read after the version: what is stored under a version is never older than it.
        section = build_section(
            request,
            channel,
            item,
            sort=sort,
            page_no=page_no,
            on_item_page=on_item_page,
            as_stranger=True,
        )
        section.csrf_html, section.marks = Markup(CSRF_MARK), True
        fragment = render_fragment(request, channel, "_comment_section.html", "section", section)
        entry = (fragment, {c.id: c for c in section.thread.comments}, state.count)
        cache.put(key, entry)
    fragment, shown, total = entry
    voted = marks.voted
    csrf = Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, csrf_token(request)
    )
    personal = (own.keys() | voted) & shown.keys()
    settings = channel.cfg.comments
    mine = Section(
        channel=channel,
        item=item,
        thread=ThreadPage([], "oldest", page_no, False, total),
        viewer=found,
        moderator=False,
        enabled=settings.enabled,
        edit_minutes=settings.edit_minutes,
        now=utcnow(),
        urls=site.urls,
        on_item_page=on_item_page,
        csrf_html=csrf,
    )

    def place(match: re.Match[str]) -> str:
        comment_id = int(match.group(1))
        if comment_id not in personal:
            return match.group(2)
        c = replace(shown[comment_id], mine=comment_id in own, voted=comment_id in voted)
        return render_fragment(
            request, channel, "_comment_section.html", "comment_item", mine, c, csrf
        ).fill(age_of)

    html = _MARKED.sub(place, fragment.fill(age_of)).replace(CSRF_MARK, str(csrf))
    return Markup(html), total


# --- pages --------------------------------------------------------------------------------


def _item_row(site: Site, channel: ChannelRef, publication_tag: str, slug: str) -> Row[Any]:
    with site.engine.connect() as conn:
        row = queries.item_page(conn, channel.id, publication_tag, slug)
    if row is None or row.duplicate_of_id is not None:
        raise NotFound("no such item on this channel", channel)
    return row


def _comments_page(
    request: Request,
    channel: ChannelRef,
    row: Row[Any],
    section: Section,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    site = site_of(request)
    return page(
        request,
        channel,
        "comments.html",
        None,
        column="comments",
        title=f"Comments: {row.title} · {channel.cfg.display_name}",
        status_code=status_code,
        headers=headers,
        item=row,
        item_url=site.urls.item(channel.slug, row.publication_tag, row.slug or row.id),
        section=section,
    )


SortParam = Annotated[Literal["oldest", "newest", "top"], Query()]
PageParam = Annotated[int, Query(ge=1, le=10_000)]


@router.get(urls.ITEM_COMMENTS)
async def comments_page(
    request: Request,
    channel_slug: str,
    publication_tag: str,
    slug: str,
    sort: SortParam = "oldest",
    page: PageParam = 1,
) -> Response:
    """An item's comments, a page of threads at a time, in the order asked for."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    row = await run_in_threadpool(_item_row, site, channel, publication_tag, slug)
    section = await run_in_threadpool(_shared_page, request, channel, row, sort, page)
    return _comments_page(request, channel, row, section)


def _shared_page(
    request: Request, channel: ChannelRef, row: Row[Any], sort: str, page_no: int
) -> Section:
    """A comments page of threads from the shared sections (:func:`anonymous_section`,
    :func:`reader_section`), or rendered whole for the readers those do not serve."""
    site = site_of(request)
    now = utcnow()
    found = viewer(request)
    age_of = ages(channel, now)
    shared = (
        anonymous_section(
            request, channel, row, age_of, sort=sort, page_no=page_no, on_item_page=False
        )
        if found is None
        else reader_section(
            request, channel, row, age_of, found, sort=sort, page_no=page_no, on_item_page=False
        )
    )
    if shared is None:
        return build_section(request, channel, row, sort=sort, page_no=page_no)
    html, total = shared
    settings = channel.cfg.comments
    return Section(
        channel=channel,
        item=row,
        thread=ThreadPage([], sort if sort in comments.SORTS else "oldest", page_no, False, total),
        viewer=found,
        moderator=False,
        enabled=settings.enabled,
        edit_minutes=settings.edit_minutes,
        now=now,
        urls=site.urls,
        html=html,
    )


def _comment_of(site: Site, row: Row[Any], comment_id: int) -> Comment:
    with Session(site.engine, expire_on_commit=False) as session:
        found = session.get(Comment, comment_id)
        if found is None or found.item_id != row.id:
            raise NotFound("no such comment")
        return found


@router.get(urls.COMMENT)
async def permalink(
    request: Request,
    channel_slug: str,
    publication_tag: str,
    slug: str,
    comment_id: RowId,
) -> Response:
    """A comment's permalink: the whole thread it belongs to."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    row = await run_in_threadpool(_item_row, site, channel, publication_tag, slug)

    def load() -> Section:
        with Session(site.engine) as session:
            found = session.get(Comment, comment_id)
            if found is None or found.item_id != row.id:
                raise NotFound("no such comment", channel)
            root = comments.root_of(session, found)
        return build_section(request, channel, row, root_id=root)

    section = await run_in_threadpool(load)
    return _comments_page(request, channel, row, section)


FORM_ACTIONS = ("reply", "edit", "flag", "delete")


@router.get(urls.COMMENT_ACTION)
async def action_form(
    request: Request,
    channel_slug: str,
    publication_tag: str,
    slug: str,
    comment_id: RowId,
    action: str,
) -> Response:
    """The form of one action on a comment (reply, edit, flag, delete), for readers
    without JavaScript."""
    if action not in FORM_ACTIONS:
        raise NotFound("page not found")
    found = require_viewer(request)
    site = site_of(request)
    channel = site.channel(channel_slug)
    row = await run_in_threadpool(_item_row, site, channel, publication_tag, slug)
    comment = await run_in_threadpool(_comment_of, site, row, comment_id)
    return _action_page(request, channel, row, comment, action, found)


def _action_page(
    request: Request,
    channel: ChannelRef,
    row: Row[Any],
    comment: Comment,
    action: str,
    found: Viewer,
    *,
    error: str = "",
    draft: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    site = site_of(request)
    key = (channel.slug, row.publication_tag, row.slug or row.id)
    titles = {
        "reply": "Reply",
        "edit": "Edit your comment",
        "flag": "Report this comment",
        "delete": "Delete your comment",
    }
    return page(
        request,
        channel,
        "comment_form.html",
        None,
        column="comments",
        title=f"{titles[action]} · {channel.cfg.display_name}",
        status_code=status_code,
        headers=NO_STORE,
        item=row,
        item_url=site.urls.item(*key),
        comment=comment,
        action=action,
        heading=titles[action],
        target=site.urls.comment_action(*key, comment.id, action)
        if action != "reply"
        else site.urls.item_comments(*key),
        permalink=site.urls.comment(*key, comment.id),
        error=error,
        draft=(comment.body if action == "edit" else "") if draft is None else draft,
        max_chars=MAX_BODY_CHARS,
        viewer_verified=found.verified,
    )


def _refusal(exc: CommentError | RateLimited) -> tuple[int, str]:
    if isinstance(exc, RateLimited):
        return 429, str(exc)
    return exc.status, str(exc)


@dataclass(frozen=True)
class Outcome:
    """What a write did: the comment concerned, and a reply to mail about."""

    comment_id: int
    notify: tuple[str, str, str] | None = None  # (to, author name, excerpt)
    comment: Shown | None = None
    flagged: bool = False  # a flag: whether this report is new


def _notify(site: Site, channel: ChannelRef, row: Any, outcome: Outcome) -> None:
    """Mail the parent's author about a reply (opt-in; failures only logged)."""
    settings = site.settings
    if outcome.notify is None or not settings.email.enabled:
        return
    to, token, excerpt = outcome.notify
    link = site.urls.absolute(
        site.urls.comment(channel.slug, row.publication_tag, row.slug or row.id, outcome.comment_id)
    )
    unsubscribe = site.urls.absolute(site.urls.replies_unsubscribe(token))
    msg = EmailMessage()
    msg["From"] = formataddr(
        (settings.email.from_name or channel.cfg.display_name, settings.email.from_address)
    )
    msg["To"] = to
    msg["Subject"] = f"A reply to your comment on {row.title}"[:200]
    msg["Message-ID"] = make_msgid(domain="newsline")
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(
        f"Someone replied to your comment on {row.title}:\n\n{excerpt}\n\n"
        f"Read it: {link}\n\n"
        f"No more of these mails: {unsubscribe}\n"
    )
    try:
        send_message(settings.email, msg)
    except MailError as exc:
        log.warning("reply notification to comment %s not sent: %s", outcome.comment_id, exc)


def _excerpt(text: str, limit: int = 500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def post_comment(
    request: Request,
    channel: ChannelRef,
    row: Any,
    found: Viewer,
    body: str,
    parent_id: int | None,
) -> Outcome:
    """Post a comment (rate-limited, spam-checked) in one transaction; see :func:`comments.post`."""
    site = site_of(request)
    ip = client_ip(request)
    with comments.writing(site.engine) as session:
        user = session.get(User, found.id)
        if user is None:
            raise comments.CommentForbidden("This account no longer exists.")
        comments.may_comment(user)
        site.limits.spend(session, "comment", user=user.id, ip=ip)
        posted = comments.post(
            session,
            channel.cfg.comments,
            item_id=row.id,
            channel_id=channel.id,
            author=user,
            body=body,
            parent_id=parent_id,
            ip=ip,
            client=client_key(request),
        )
        notify = None
        if posted.notify is not None:
            notify = (
                posted.notify.email,
                posted.notify.unsubscribe_token,
                _excerpt(posted.comment.body),
            )
        comment = posted.comment
        shown = comments.Shown(
            id=comment.id,
            item_id=comment.item_id,
            parent_id=comment.parent_id,
            depth=comment.depth,
            author=user.display_name,
            author_id=user.id,
            body_html=comment.body_html,
            status=comment.status,
            hold_reason=comment.hold_reason,
            score=0,
            created_at=comment.created_at,
            edited_at=None,
            indent=min(comment.depth, comments.SHOWN_DEPTH),
            mine=True,
        )
    outcome = Outcome(comment.id, notify, shown)
    _notify(site, channel, row, outcome)
    return outcome


def _comment_write(
    request: Request,
    channel: ChannelRef,
    row: Any,
    found: Viewer,
    action: str,
    fields: dict[str, str],
) -> Outcome:
    """Edit, delete, vote or flag, in one transaction."""
    site = site_of(request)
    comment_id = int(fields["comment_id"])
    with comments.writing(site.engine) as session:
        user = session.get(User, found.id)
        if user is None:
            raise comments.CommentForbidden("This account no longer exists.")
        if action == "edit":
            comments.edit(
                session,
                channel.cfg.comments,
                comment_id=comment_id,
                user=user,
                body=fields.get("body", ""),
                item_id=row.id,
            )
        elif action == "delete":
            comments.delete_own(session, comment_id=comment_id, user=user, item_id=row.id)
        elif action == "vote":
            site.limits.spend(session, "vote", user=user.id, ip=client_ip(request))
            comments.vote(session, comment_id=comment_id, user=user, item_id=row.id)
        elif action == "flag":
            site.limits.spend(session, "flag", user=user.id, ip=client_ip(request))
            new = comments.flag(
                session,
                comment_id=comment_id,
                user=user,
                reason=fields.get("reason", ""),
                item_id=row.id,
            )
            return Outcome(comment_id, flagged=new)
        else:
            raise NotFound("page not found")
    return Outcome(comment_id)


def _see_permalink(site: Site, channel: ChannelRef, row: Any, comment_id: int) -> RedirectResponse:
    target = site.urls.comment(channel.slug, row.publication_tag, row.slug or row.id, comment_id)
    return see_other(target)


def _parent(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise comments.CommentError("That reply names no comment.")
    return int(value)


@router.post(urls.ITEM_COMMENTS, dependencies=[Depends(require_csrf)])
async def post_form(
    request: Request, channel_slug: str, publication_tag: str, slug: str
) -> Response:
    """A comment (or reply) from the plain form: 303 to its permalink."""
    found = require_viewer(request)
    site = site_of(request)
    channel = site.channel(channel_slug)
    row = await run_in_threadpool(_item_row, site, channel, publication_tag, slug)
    fields = await form_fields(request)
    body = fields.get("body", "")
    try:
        parent_id = _parent(fields.get("parent_id", ""))
        outcome = await run_in_threadpool(
            post_comment, request, channel, row, found, body, parent_id
        )
    except (CommentError, RateLimited) as exc:
        status, message = _refusal(exc)
        return await run_in_threadpool(
            _form_again, request, channel, row, found, fields, message, status
        )
    return _see_permalink(site, channel, row, outcome.comment_id)


def _form_again(
    request: Request,
    channel: ChannelRef,
    row: Any,
    found: Viewer,
    fields: dict[str, str],
    message: str,
    status: int,
) -> HTMLResponse:
    """The form again, with the reader's text kept and what went wrong (nothing is lost)."""
    parent = fields.get("parent_id", "").strip()
    site = site_of(request)
    if parent.isdigit() and len(parent) < 18:
        with Session(site.engine, expire_on_commit=False) as session:
            comment = session.get(Comment, int(parent))
        if comment is not None and comment.item_id == row.id:
            return _action_page(
                request,
                channel,
                row,
                comment,
                "reply",
                found,
                error=message,
                draft=fields.get("body", ""),
                status_code=status,
            )
    section = build_section(request, channel, row)
    section.error = message
    section.draft = fields.get("body", "")
    return _comments_page(request, channel, row, section, status_code=status, headers=NO_STORE)


@router.post(urls.COMMENT_ACTION, dependencies=[Depends(require_csrf)])
async def action_post(
    request: Request,
    channel_slug: str,
    publication_tag: str,
    slug: str,
    comment_id: RowId,
    action: str,
) -> Response:
    """Edit, delete, vote on or report a comment from a plain form: 303 to its permalink."""
    if action not in ("edit", "delete", "vote", "flag"):
        raise NotFound("page not found")
    found = require_viewer(request)
    site = site_of(request)
    channel = site.channel(channel_slug)
    row = await run_in_threadpool(_item_row, site, channel, publication_tag, slug)
    fields = await form_fields(request)
    fields["comment_id"] = str(comment_id)
    try:
        await run_in_threadpool(_comment_write, request, channel, row, found, action, fields)
    except (CommentError, RateLimited) as exc:
        status, message = _refusal(exc)
        if action in ("edit", "flag"):
            comment = await run_in_threadpool(_comment_of, site, row, comment_id)
            return _action_page(
                request,
                channel,
                row,
                comment,
                action,
                found,
                error=message,
                draft=fields.get("body" if action == "edit" else "reason", ""),
                status_code=status,
            )
        retry_after = _retry_after(exc)
        raise Refused(message, status=status, channel=channel, retry_after=retry_after) from exc
    return _see_permalink(site, channel, row, comment_id)


# --- the comments feed --------------------------------------------------------------------


def comments_atom(site: Site, channel: ChannelRef, row: Any, shown: list[Shown]) -> str:
    """An Atom feed of an item's newest published comments."""
    key = (channel.slug, row.publication_tag, row.slug or row.id)
    feed_url = site.urls.absolute(site.urls.item_comments_feed(*key))
    page_url = site.urls.absolute(site.urls.item(*key))
    updated = max((c.edited_at or c.created_at for c in shown), default=row.sort_at)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{xml_escape('Comments: ' + row.title)}</title>",
        f"<id>{xml_escape(feed_url)}</id>",
        f'<link rel="self" href="{xml_escape(feed_url)}"/>',
        f'<link rel="alternate" type="text/html" href="{xml_escape(page_url)}"/>',
        f"<updated>{updated.isoformat()}</updated>",
    ]
    for c in shown:
        link = site.urls.absolute(site.urls.comment(*key, c.id))
        parts += [
            "<entry>",
            f"<title>{xml_escape(c.author)}</title>",
            f"<id>{xml_escape(link)}</id>",
            f'<link rel="alternate" type="text/html" href="{xml_escape(link)}"/>',
            f"<author><name>{xml_escape(c.author)}</name></author>",
            f"<published>{c.created_at.isoformat()}</published>",
            f"<updated>{(c.edited_at or c.created_at).isoformat()}</updated>",
            f'<content type="html">{xml_escape(c.body_html)}</content>',
            "</entry>",
        ]
    parts.append("</feed>")
    return "\n".join(parts) + "\n"


@router.get(urls.ITEM_COMMENTS_FEED)
async def comments_feed(
    request: Request, channel_slug: str, publication_tag: str, slug: str
) -> Response:
    """The Atom feed of an item's newest comments."""
    site = site_of(request)
    channel = site.channel(channel_slug)
    row = await run_in_threadpool(_item_row, site, channel, publication_tag, slug)

    def load() -> list[Shown]:
        with Session(site.engine) as session:
            return comments.recent(session, row.id, limit=FEED_SIZE)

    shown = await run_in_threadpool(load)
    return Response(
        comments_atom(site, channel, row, shown),
        media_type="application/atom+xml; charset=utf-8",
        headers={"cache-control": "public, max-age=60"},
    )


# --- reply notifications: one-click unsubscribe -------------------------------------------


def _unsubscribe(site: Site, token: str) -> bool:
    if not token or len(token) > 64:
        return False
    with comments.writing(site.engine) as session:
        user = session.scalar(select(User).where(User.unsubscribe_token == token))
        if user is None:
            return False
        user.notify_replies = False
        return True


def _unsubscribe_page(request: Request, token: str, done: bool | None) -> HTMLResponse:
    """The reply notifications' unsubscribe page: its button (`done` None), or the outcome."""
    channel = site_of(request).default_channel()
    return page(
        request,
        channel,
        "comment_unsubscribe.html",
        None,
        column="comments",
        title=f"Reply notifications · {channel.cfg.display_name}",
        status_code=404 if done is False else 200,
        headers=NO_STORE,
        token=token,
        done=done,
    )


@router.get(urls.REPLIES_UNSUBSCRIBE)
async def unsubscribe_form(
    request: Request, token: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    """The unsubscribe link of a reply notification: a button (mail scanners follow links)."""
    return _unsubscribe_page(request, token, None)


@router.post(urls.REPLIES_UNSUBSCRIBE)
async def unsubscribe(
    request: Request, token: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    """One click (RFC 8058; no CSRF token: the unguessable token is the authority)."""
    done = await run_in_threadpool(_unsubscribe, site_of(request), token)
    return _unsubscribe_page(request, token, done)


# --- the JSON API -------------------------------------------------------------------------


class CommentOut(BaseModel):
    """A comment as the API shows it (``body_html`` empty for removed ones)."""

    id: int
    parent_id: int | None
    item_id: int
    depth: int
    author: str
    body_html: str
    status: str = Field(
        description="published | held (awaiting a moderator) | hidden | spam | deleted"
    )
    score: int
    created_at: datetime
    edited_at: datetime | None
    url: str = Field(description="The comment's permalink")
    in_reply_to: int | None = Field(description="Set on replies nested deeper than shown")
    mine: bool
    voted: bool


class CommentList(BaseModel):
    """A page of an item's threads, flattened: each reply follows its parent."""

    comments: list[CommentOut]
    count: int = Field(description="Published comments of the item")
    sort: str
    page: int
    has_more: bool


class CommentIn(BaseModel):
    """A new comment: Markdown (a small subset), optionally a reply."""

    body: str = Field(min_length=1, max_length=4 * MAX_BODY_CHARS)
    parent_id: int | None = Field(default=None, ge=1, le=2**62)


class CommentEdit(BaseModel):
    """The comment's new text."""

    body: str = Field(min_length=1, max_length=4 * MAX_BODY_CHARS)


class FlagIn(BaseModel):
    """Why the comment should be looked at."""

    reason: str = Field(min_length=1, max_length=500)


class FlagOut(BaseModel):
    """Whether this report is new (False: you had reported it already)."""

    flagged: bool


WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Not accepted (the message says why)"},
    401: {"model": ErrorOut, "description": "Not signed in"},
    403: {"model": ErrorOut, "description": "No CSRF token, not yours, or not allowed"},
    404: {"model": ErrorOut, "description": "No such channel, item or comment"},
    409: {"model": ErrorOut, "description": "Too late, or not in a state that allows it"},
    429: {"model": ErrorOut, "description": "Too many actions this hour"},
}
WRITE_DEPENDENCIES = [Depends(require_viewer), Depends(csrf_unless_token)]


def _api_item(site: Site, channel: str, item_id: int) -> tuple[ChannelRef, Row[Any]]:
    ref = api_channel(site, channel)
    with site.engine.connect() as conn:
        row = queries.item_by_id(conn, ref.id, item_id)
    if row is None:
        raise ApiError(404, f"no item {item_id} on this channel")
    return ref, row


def _out(site: Site, channel: ChannelRef, row: Any, c: Shown) -> dict[str, Any]:
    key = (channel.slug, row.publication_tag, row.slug or row.id)
    return CommentOut(
        id=c.id,
        parent_id=c.parent_id,
        item_id=c.item_id,
        depth=c.depth,
        author=c.author,
        body_html=c.body_html,
        status=c.status,
        score=c.score,
        created_at=c.created_at,
        edited_at=c.edited_at,
        url=site.urls.absolute(site.urls.comment(*key, c.id)),
        in_reply_to=c.in_reply_to[1] if c.in_reply_to else None,
        mine=c.mine,
        voted=c.voted,
    ).model_dump(mode="json")


def _api_error(exc: CommentError | RateLimited) -> ApiError:
    status, message = _refusal(exc)
    return ApiError(status, message, _retry_after(exc))


def _retry_after(exc: CommentError | RateLimited) -> int | None:
    """When a spent budget renews (the Retry-After of a 429), None for other refusals."""
    return exc.retry_after if isinstance(exc, RateLimited) else None


@api_router.get(
    urls.API_COMMENTS,
    response_model=CommentList,
    responses={404: {"model": ErrorOut, "description": "No such channel or item"}},
)
def list_comments(
    request: Request,
    channel: ChannelSlug,
    item_id: RowId,
    sort: SortParam = "oldest",
    page: PageParam = 1,
) -> JSONResponse:
    """An item's comments: a page of up to 100 threads with their replies (public)."""
    site = site_of(request)
    ref, row = _api_item(site, channel, item_id)
    section = build_section(request, ref, row, sort=sort, page_no=page)
    thread = section.thread
    out = {
        "comments": [_out(site, ref, row, c) for c in thread.comments],
        "count": thread.total if thread.comments else row_count(site, row.id),
        "sort": thread.sort,
        "page": thread.page,
        "has_more": thread.has_more,
    }
    personal = section.viewer is not None
    return JSONResponse(
        out, headers=NO_STORE if personal else {"cache-control": "public, max-age=10"}
    )


def row_count(site: Site, item_id: int) -> int:
    with Session(site.engine) as session:
        return comments.published_count(session, item_id)


def _shown_one(site: Site, comment_id: int, found: Viewer) -> Shown:
    with Session(site.engine) as session:
        shown = comments.one(session, comment_id)
    shown.mine = shown.author_id == found.id
    if not shown.mine and shown.status != "published":
        shown.body_html = ""
    return shown


def _write_route(
    method: str, path: str, *, model: type[BaseModel] = CommentOut, status_code: int = 200
) -> Callable[[Callable[..., JSONResponse]], Callable[..., JSONResponse]]:
    """The route of an API write: signed in (401), with the CSRF token or an API token
    (403), its refusals documented (:data:`WRITE_ERRORS`)."""
    route: Callable[..., Callable[[Callable[..., JSONResponse]], Callable[..., JSONResponse]]]
    route = getattr(api_router, method)
    return route(
        path,
        status_code=status_code,
        response_model=model,
        responses=WRITE_ERRORS,
        dependencies=WRITE_DEPENDENCIES,
    )


@_write_route("post", urls.API_COMMENTS, status_code=201)
def create_comment(
    request: Request, channel: ChannelSlug, item_id: RowId, data: CommentIn
) -> JSONResponse:
    """Post a comment (session cookie + ``X-CSRF-Token``, or an API token). Its ``status`` is
    ``held`` when a spam signal holds it for a moderator."""
    site = site_of(request)
    found = require_viewer(request)
    ref, row = _api_item(site, channel, item_id)
    try:
        outcome = post_comment(request, ref, row, found, data.body, data.parent_id)
    except (CommentError, RateLimited) as exc:
        raise _api_error(exc) from exc
    assert outcome.comment is not None
    return JSONResponse(_out(site, ref, row, outcome.comment), status_code=201, headers=NO_STORE)


@_write_route("patch", urls.API_COMMENT)
def edit_comment(
    request: Request,
    channel: ChannelSlug,
    item_id: RowId,
    comment_id: RowId,
    data: CommentEdit,
) -> JSONResponse:
    """Edit your comment, within the channel's edit window (15 minutes by default)."""
    return _api_write(request, channel, item_id, comment_id, "edit", {"body": data.body})


@_write_route("delete", urls.API_COMMENT)
def delete_comment(
    request: Request, channel: ChannelSlug, item_id: RowId, comment_id: RowId
) -> JSONResponse:
    """Delete your comment: its text goes, replies to it stay."""
    return _api_write(request, channel, item_id, comment_id, "delete", {})


@_write_route("post", urls.API_COMMENT_VOTE)
def vote_comment(
    request: Request, channel: ChannelSlug, item_id: RowId, comment_id: RowId
) -> JSONResponse:
    """Upvote a comment (once; not your own)."""
    return _api_write(request, channel, item_id, comment_id, "vote", {})


@_write_route("post", urls.API_COMMENT_FLAG, model=FlagOut)
def flag_comment(
    request: Request, channel: ChannelSlug, item_id: RowId, comment_id: RowId, data: FlagIn
) -> JSONResponse:
    """Report a comment to the moderators (once per reader)."""
    return _api_write(request, channel, item_id, comment_id, "flag", {"reason": data.reason})


def _api_write(
    request: Request,
    channel: str,
    item_id: int,
    comment_id: int,
    action: str,
    fields: dict[str, str],
) -> JSONResponse:
    """Edit, delete, vote or flag through the API: the comment as it is now (a flag:
    whether the report is new)."""
    site = site_of(request)
    found = require_viewer(request)
    ref, row = _api_item(site, channel, item_id)
    try:
        outcome = _comment_write(
            request, ref, row, found, action, {**fields, "comment_id": str(comment_id)}
        )
    except (CommentError, RateLimited) as exc:
        raise _api_error(exc) from exc
    if action == "flag":
        return JSONResponse({"flagged": outcome.flagged}, headers=NO_STORE)
    shown = _shown_one(site, comment_id, found)
    shown.voted = action == "vote"
    return JSONResponse(_out(site, ref, row, shown), headers=NO_STORE)
