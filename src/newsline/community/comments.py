"""Readers' comments: post, edit, delete, upvote, flag, and an item's thread, page by page.

Every function works in the caller's session (one transaction per request); the caller
commits. Races are settled by the database, not by reading first:

- ``item.comment_count`` (published comments) changes only by ``UPDATE ... SET
  comment_count = comment_count + d``, and only when a conditional status change
  (:func:`set_status`: ``UPDATE comment SET status = new WHERE id = ? AND status = old``)
  actually changed a row, so two moderators hiding one comment at once count it once;
- a vote is a primary key (one per reader and comment), a flag a unique key.

Every change of what an item's comment section shows (a comment posted, edited, deleted,
voted on, or moved between statuses by its author or a moderator) bumps the item's
``comment_version`` and sets ``comments_changed_at`` in the same transaction
(:func:`changed`): the web caches the rendered section per version and dates the item page
by the stamp, so neither can hide a change.

Digests are items, so all of this holds for Digest pages too.

Threads: top-level comments are paged (:data:`PAGE_SIZE` per page, sorted oldest, newest
or top); each page's replies come by one recursive query down ``parent_id`` (indexed), so
an item with thousands of comments costs one page's worth. Replies are shown oldest first
under their parent; nesting is shown to :data:`SHOWN_DEPTH`, deeper replies are flattened
and say whom they answer.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, Row, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from newsline.community import markdown, spam
from newsline.community.accounts import is_banned
from newsline.config import CommentSettings
from newsline.db.models import (
    Comment,
    CommentFlag,
    CommentVote,
    Item,
    User,
    utcnow,
)
from newsline.errors import NewslineError

PAGE_SIZE = 100
#: Replies fetched with one page of threads, at most (a pathological thread is cut here).
MAX_REPLIES = 2000
SHOWN_DEPTH = 3
MAX_FLAG_REASON = 500
STATUSES = ("published", "held", "hidden", "spam", "deleted")
Sort = Literal["oldest", "newest", "top"]
SORTS: tuple[Sort, ...] = ("oldest", "newest", "top")


class CommentError(NewslineError):
    """A comment action that cannot be done; ``status`` is the HTTP status that fits."""

    status = 400


class CommentNotFound(CommentError):
    status = 404


class CommentForbidden(CommentError):
    """Not yours, not allowed, or you are barred (403)."""

    status = 403


class CommentConflict(CommentError):
    """Too late or in the wrong state (409)."""

    status = 409


class BodyError(CommentError):
    """A body that cannot be accepted: empty, or too long (400)."""


def _checked(body: str) -> tuple[str, str]:
    """The body as stored and as HTML, or :class:`BodyError`."""
    try:
        text = markdown.clean_body(body)
        return text, markdown.render(text)
    except markdown.CommentBodyError as exc:
        raise BodyError(str(exc)) from exc


def network_of(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) around an address, as CIDR; "" when it is no address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@contextmanager
def writing(engine: Engine) -> Iterator[Session]:
    """A session in one write transaction, committed at the end of the block.

    On SQLite the write lock is taken first (``BEGIN IMMEDIATE``): a transaction that reads
    and then writes would otherwise fail with "database is locked" when another worker
    wrote in between (a read lock cannot be upgraded past a newer commit; busy_timeout
    does not help), while waiting for the lock up front queues writers politely.
    """
    sqlite = engine.dialect.name == "sqlite"
    # One writer per process at a time on SQLite: SQLite's busy handler is not fair, and
    # with dozens of threads polling for the lock one can starve past busy_timeout (seen
    # with 50 authors posting at once under load); a Python lock queues them instead.
    with (
        _writer_lock(engine) if sqlite else nullcontext(),
        Session(engine, expire_on_commit=False) as session,
    ):
        if sqlite:
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


_WRITER_LOCKS: dict[str, threading.Lock] = {}


def _writer_lock(engine: Engine) -> threading.Lock:
    return _WRITER_LOCKS.setdefault(str(engine.url), threading.Lock())


def changed(session: Session, item_id: int, *, count: int = 0) -> None:
    """The item's comment section changed: a new version and changed-at stamp, and its
    count of published comments moved by `count`."""
    values: dict[str, Any] = {
        "comment_version": Item.comment_version + 1,
        "comments_changed_at": utcnow(),
    }
    if count:
        values["comment_count"] = Item.comment_count + count
    session.execute(
        update(Item)
        .where(Item.id == item_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def set_status(
    session: Session, comment: Comment, status: str, *, hold_reason: str | None = None
) -> bool:
    """Move a comment to `status` if it is still in the status it was read in; keep the
    item's count of published comments right. False when somebody else changed it first."""
    if status not in STATUSES:
        raise ValueError(f"unknown comment status {status!r}")
    old = comment.status
    if old == status:
        return False
    values: dict[str, object] = {"status": status, "hold_reason": hold_reason}
    if status == "deleted":
        values |= {"body": "", "body_html": ""}
    result = session.execute(
        update(Comment)
        .where(Comment.id == comment.id, Comment.status == old)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(comment)
        return False
    changed(session, comment.item_id, count=(status == "published") - (old == "published"))
    session.expire(comment)
    return True


def _item(session: Session, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None or item.state not in ("ready",):
        raise CommentNotFound("There is no such item to comment on.")
    return item


def get(session: Session, comment_id: int, *, item_id: int | None = None) -> Comment:
    """One comment (of `item_id`, when given), or :class:`CommentNotFound`."""
    comment = session.get(Comment, comment_id)
    if comment is None or (item_id is not None and comment.item_id != item_id):
        raise CommentNotFound("There is no such comment.")
    return comment


def may_comment(user: User) -> None:
    """Refuse (403) an account that may not comment: deleted, or its e-mail not verified."""
    if user.deleted_at is not None:
        raise CommentForbidden("This account has been deleted.")
    if user.verified_at is None:
        raise CommentForbidden(
            "Verify your e-mail address before your first comment: "
            "follow the link we sent you (or ask for a new one in your account settings)."
        )


@dataclass(frozen=True)
class Posted:
    """A new comment, and whom to tell about it (the parent's author, if they asked)."""

    comment: Comment
    notify: User | None


def post(
    session: Session,
    settings: CommentSettings,
    *,
    item_id: int,
    channel_id: int,
    author: User,
    body: str,
    parent_id: int | None = None,
    ip: str = "",
    client: str = "",
    now: datetime | None = None,
) -> Posted:
    """A new comment (published, or held with the reason why); the caller commits."""
    now = now or utcnow()
    if not settings.enabled:
        raise CommentForbidden("Comments are closed on this channel.")
    may_comment(author)
    text, html = _checked(body)
    ban = is_banned(session, author.id, ip, channel_id, now=now)
    if ban is not None:
        until = f" until {ban.until:%Y-%m-%d %H:%M} UTC" if ban.until else ""
        raise CommentForbidden(f"You cannot comment here{until}.")
    _item(session, item_id)
    parent = None
    depth = 0
    if parent_id is not None:
        parent = session.get(Comment, parent_id)
        if parent is None or parent.item_id != item_id:
            raise CommentError("The comment you reply to is not on this item.")
        if parent.status != "published":
            raise CommentConflict("The comment you reply to is no longer shown.")
        depth = parent.depth + 1
    network = network_of(ip)
    reason = spam.hold_reason(
        session,
        settings,
        channel_id=channel_id,
        author_id=author.id,
        network=network,
        body=text,
        now=now,
    )
    comment = Comment(
        item_id=item_id,
        channel_id=channel_id,
        parent_id=parent_id,
        depth=depth,
        author_id=author.id,
        body=text,
        body_html=html,
        status="held" if reason else "published",
        hold_reason=reason,
        score=0,
        client=client,
        network=network,
        created_at=now,
    )
    session.add(comment)
    session.flush()
    notify = None
    # A held comment changes the section too: its author sees it there.
    changed(session, item_id, count=1 if reason is None else 0)
    if reason is None and parent is not None and parent.author_id not in (None, author.id):
        parent_author = session.get(User, parent.author_id)
        if (
            parent_author is not None
            and parent_author.notify_replies
            and parent_author.deleted_at is None
        ):
            notify = parent_author
    return Posted(comment, notify)


def _own(session: Session, comment_id: int, user: User, item_id: int | None) -> Comment:
    comment = get(session, comment_id, item_id=item_id)
    if comment.author_id != user.id:
        raise CommentForbidden("This is not your comment.")
    if comment.status == "deleted":
        raise CommentConflict("This comment has been deleted.")
    return comment


def edit(
    session: Session,
    settings: CommentSettings,
    *,
    comment_id: int,
    user: User,
    body: str,
    item_id: int | None = None,
    now: datetime | None = None,
) -> Comment:
    """The author's edit, within ``edit_minutes`` of posting (marked edited)."""
    now = now or utcnow()
    comment = _own(session, comment_id, user, item_id)
    if comment.status in ("hidden", "spam"):
        raise CommentConflict("A moderator has hidden this comment; it cannot be edited.")
    if now - comment.created_at > timedelta(minutes=settings.edit_minutes):
        raise CommentConflict(
            f"Comments can be edited for {settings.edit_minutes} minutes after posting."
        )
    text, html = _checked(body)
    comment.body = text
    comment.body_html = html
    comment.edited_at = now
    session.flush()
    changed(session, comment.item_id)
    # An edit may add what a new comment would have been held for.
    reason = spam.content_hold_reason(session, settings, comment.channel_id, text)
    if reason is not None and comment.status == "published":
        set_status(session, comment, "held", hold_reason=reason)
    return comment


def delete_own(
    session: Session, *, comment_id: int, user: User, item_id: int | None = None
) -> Comment:
    """The author deletes their comment: its text goes, its place in the thread stays."""
    comment = _own(session, comment_id, user, item_id)
    set_status(session, comment, "deleted")
    return comment


def vote(session: Session, *, comment_id: int, user: User, item_id: int | None = None) -> Comment:
    """One upvote per reader and comment (not one's own; again: nothing changes)."""
    comment = get(session, comment_id, item_id=item_id)
    if comment.status != "published":
        raise CommentConflict("This comment is not shown; it cannot be voted on.")
    if comment.author_id == user.id:
        raise CommentForbidden("You cannot vote for your own comment.")
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # RETURNING, not rowcount: an ORM-enabled INSERT reports rowcount -1 on PostgreSQL.
    inserted = session.execute(
        insert(CommentVote)
        .values(comment_id=comment.id, user_id=user.id, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(CommentVote.user_id)
    ).first()
    if inserted is not None:
        session.execute(
            update(Comment)
            .where(Comment.id == comment.id)
            .values(score=Comment.score + 1)
            .execution_options(synchronize_session=False)
        )
        changed(session, comment.item_id)
        session.expire(comment)
    return comment


def flag(
    session: Session,
    *,
    comment_id: int,
    user: User,
    reason: str,
    item_id: int | None = None,
) -> bool:
    """A reader reports a comment (once each); True when this is a new report."""
    comment = get(session, comment_id, item_id=item_id)
    if comment.status == "deleted":
        raise CommentConflict("This comment has been deleted.")
    reason = " ".join(reason.split())[:MAX_FLAG_REASON]
    if not reason:
        raise CommentError("Say why you report this comment.")
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    inserted = session.execute(
        insert(CommentFlag)
        .values(comment_id=comment.id, user_id=user.id, reason=reason, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(CommentFlag.id)
    ).first()
    return inserted is not None


# --- reading a thread ----------------------------------------------------------------------


@dataclass
class Shown:
    """One comment as a page or the API shows it."""

    id: int
    item_id: int
    parent_id: int | None
    depth: int
    author: str
    author_id: int | None
    body_html: str
    status: str
    hold_reason: str | None
    score: int
    created_at: datetime
    edited_at: datetime | None
    #: The indentation shown: depth capped at :data:`SHOWN_DEPTH`.
    indent: int = 0
    #: Deeper than shown: whom this answers (name, comment id).
    in_reply_to: tuple[str, int] | None = None
    mine: bool = False
    voted: bool = False
    replies: int = 0

    @property
    def visible(self) -> bool:
        return self.status == "published"


@dataclass
class ThreadPage:
    """One page of an item's threads, flattened in display order."""

    comments: list[Shown]
    sort: Sort
    page: int
    has_more: bool
    total: int = 0
    cut: bool = False
    roots: list[int] = field(default_factory=list)


FORMER_READER = "former reader"


_COLUMNS = (
    Comment.id,
    Comment.item_id,
    Comment.parent_id,
    Comment.depth,
    Comment.author_id,
    Comment.body_html,
    Comment.status,
    Comment.hold_reason,
    Comment.score,
    Comment.created_at,
    Comment.edited_at,
    User.display_name.label("author_name"),
)


def _columns() -> Any:
    # Plain rows, not ORM objects: a page may carry a thousand comments.
    return select(*_COLUMNS).outerjoin(User, User.id == Comment.author_id)


def _shown(row: Row[Any]) -> Shown:
    return Shown(
        id=row.id,
        item_id=row.item_id,
        parent_id=row.parent_id,
        depth=row.depth,
        author=row.author_name if row.author_name is not None else FORMER_READER,
        author_id=row.author_id,
        body_html=row.body_html,
        status=row.status,
        hold_reason=row.hold_reason,
        score=row.score,
        created_at=row.created_at,
        edited_at=row.edited_at,
        indent=min(row.depth, SHOWN_DEPTH),
    )


def _visible_to(viewer_id: int | None, moderator: bool) -> ColumnElement[bool]:
    if moderator:
        return Comment.status.in_(STATUSES)
    kept: list[ColumnElement[bool]] = [
        Comment.status.in_(("published", "deleted", "hidden", "spam"))
    ]
    if viewer_id is not None:
        kept.append(and_(Comment.status == "held", Comment.author_id == viewer_id))
    return or_(*kept)


def thread(
    session: Session,
    item_id: int,
    *,
    sort: Sort = "oldest",
    page: int = 1,
    viewer_id: int | None = None,
    moderator: bool = False,
    root_id: int | None = None,
    page_size: int = PAGE_SIZE,
) -> ThreadPage:
    """A page of the item's threads (or the one thread holding `root_id`'s comment).

    Published comments for everyone; the viewer's own held or hidden comments for them
    (marked); removed comments only as placeholders where replies hang from them.
    """
    if sort not in SORTS:
        sort = "oldest"
    page = max(1, page)
    roots_query = select(Comment.id).where(
        Comment.item_id == item_id,
        Comment.parent_id.is_(None),
        _visible_to(viewer_id, moderator),
    )
    if root_id is not None:
        roots_query = roots_query.where(Comment.id == root_id)
    order = {
        "oldest": (Comment.created_at, Comment.id),
        "newest": (Comment.created_at.desc(), Comment.id.desc()),
        "top": (Comment.score.desc(), Comment.created_at, Comment.id),
    }[sort]
    root_ids = list(
        session.scalars(
            roots_query.order_by(*order).offset((page - 1) * page_size).limit(page_size + 1)
        )
    )
    has_more = len(root_ids) > page_size
    root_ids = root_ids[:page_size]
    if not root_ids:
        return ThreadPage([], sort, page, False)
    roots = {r.id: r for r in session.execute(_columns().where(Comment.id.in_(root_ids)))}
    below = select(Comment.id).where(Comment.parent_id.in_(root_ids)).cte(recursive=True)
    below = below.union_all(select(Comment.id).join(below, Comment.parent_id == below.c.id))
    replies = list(
        session.execute(
            _columns()
            .where(Comment.id.in_(select(below.c.id)), _visible_to(viewer_id, moderator))
            .order_by(Comment.created_at, Comment.id)
            .limit(MAX_REPLIES + 1)
        )
    )
    cut = len(replies) > MAX_REPLIES
    replies = replies[:MAX_REPLIES]
    children: dict[int, list[Row[Any]]] = defaultdict(list)
    for row in replies:
        children[row.parent_id].append(row)
    voted: set[int] = set()
    if viewer_id is not None:
        ids = list(roots) + [r.id for r in replies]
        voted = set(
            session.scalars(
                select(CommentVote.comment_id).where(
                    CommentVote.user_id == viewer_id, CommentVote.comment_id.in_(ids)
                )
            )
        )
    names = {r.id: r.author_name or FORMER_READER for r in [*roots.values(), *replies]}

    def shown_of(row: Row[Any]) -> Shown:
        shown = _shown(row)
        shown.mine = viewer_id is not None and row.author_id == viewer_id
        shown.voted = row.id in voted
        if not (shown.visible or shown.mine or moderator):
            shown.body_html = ""  # a placeholder: what was removed is nobody's business now
        if not (shown.mine or moderator):
            shown.hold_reason = None
        if row.depth > SHOWN_DEPTH and row.parent_id is not None:
            shown.in_reply_to = (names.get(row.parent_id, FORMER_READER), row.parent_id)
        return shown

    out: list[Shown] = []
    for rid in root_ids:
        if rid not in roots:
            continue
        # Depth-first without recursion (a reply chain may be thousands deep): pre-order
        # for display, then subtree sizes from the end, then placeholders without replies out.
        flat: list[Shown] = []
        stack = [roots[rid]]
        while stack:
            row = stack.pop()
            flat.append(shown_of(row))
            stack.extend(reversed(children.get(row.id, [])))
        kept: dict[int, int] = defaultdict(int)  # comment id -> comments kept below it
        keep: set[int] = set()
        for shown in reversed(flat):
            shown.replies = kept[shown.id]
            if shown.visible or shown.mine or moderator or shown.replies > 0:
                keep.add(shown.id)
                if shown.parent_id is not None:
                    kept[shown.parent_id] += shown.replies + 1
            elif shown.parent_id is not None:
                kept[shown.parent_id] += shown.replies
        out.extend(shown for shown in flat if shown.id in keep)
    total = published_count(session, item_id)
    return ThreadPage(out, sort, page, has_more, total=total, cut=cut, roots=root_ids)


def published_count(session: Session, item_id: int) -> int:
    """The item's count of published comments (the denormalised one)."""
    return int(session.scalar(select(Item.comment_count).where(Item.id == item_id)) or 0)


def recount(session: Session, item_ids: Iterable[int] | None = None) -> int:
    """Set ``comment_count`` from the comments themselves; the number of items corrected."""
    query = select(Item.id, Item.comment_count)
    if item_ids is not None:
        query = query.where(Item.id.in_(list(item_ids)))
    actual = dict(
        session.execute(
            select(Comment.item_id, func.count())
            .where(Comment.status == "published")
            .group_by(Comment.item_id)
        ).all()
    )
    fixed = 0
    for item_id, stored in session.execute(query).all():
        right = int(actual.get(item_id, 0))
        if stored != right:
            session.execute(update(Item).where(Item.id == item_id).values(comment_count=right))
            changed(session, item_id)
            fixed += 1
    return fixed


def root_of(session: Session, comment: Comment) -> int:
    """The id of the top-level comment of a comment's thread."""
    current = comment
    for _ in range(10_000):
        if current.parent_id is None:
            return current.id
        parent = session.get(Comment, current.parent_id)
        if parent is None:
            return current.id
        current = parent
    return current.id


def one(session: Session, comment_id: int) -> Shown:
    """One comment as shown (to its author or a moderator: callers blank what others may not
    see)."""
    row = session.execute(_columns().where(Comment.id == comment_id)).first()
    if row is None:
        raise CommentNotFound("There is no such comment.")
    return _shown(row)


def recent(session: Session, item_id: int, *, limit: int = 50) -> list[Shown]:
    """The item's newest published comments (its comments feed)."""
    rows = session.execute(
        _columns()
        .where(Comment.item_id == item_id, Comment.status == "published")
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(limit)
    )
    return [_shown(r) for r in rows]
