"""Moderation: the queue, what moderators do to comments, bans; each action audited.

Actions (:func:`act`): ``hide``, ``restore`` (back to published, also approves a held
comment or dismisses the reports on a published one), ``delete`` (the text removed, the
thread kept), ``spam``. Each one, in the caller's transaction: changes the comment's status
only if nobody changed it first (:func:`newsline.community.comments.set_status`), resolves
its open reports, teaches the channel's spam model (spam or hidden: spam; restored: ham),
and writes who, what, when and why to the append-only audit log.

Bans (:func:`ban`) bar an account or an IP range (CIDR) from posting, on one channel or
all, for a time or for good; :func:`newsline.community.accounts.unban` ends one early. Audited too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from newsline.community import accounts, audit, spam
from newsline.community.audit import Actor
from newsline.community.comments import (
    CommentConflict,
    CommentError,
    CommentForbidden,
    get,
    set_status,
)
from newsline.db.models import Ban, ChannelRole, Comment, CommentFlag, Item, User, utcnow

Action = Literal["hide", "restore", "delete", "spam"]
ACTIONS: tuple[Action, ...] = ("hide", "restore", "delete", "spam")
Queue = Literal["flagged", "held", "recent"]
QUEUES: tuple[Queue, ...] = ("flagged", "held", "recent")
MODERATING_ROLES = frozenset({"moderator", "editor", "admin"})
_TARGET = {"hide": "hidden", "restore": "published", "delete": "deleted", "spam": "spam"}
_LESSON = {"hide": "spam", "spam": "spam", "restore": "ham"}
MAX_REASON = 1000


def can_moderate(session: Session, user: User, channel_id: int | None) -> bool:
    """Whether `user` moderates `channel_id` (install-wide role, or a role on the channel)."""
    if user.deleted_at is not None:
        return False
    if user.role in MODERATING_ROLES:
        return True
    if channel_id is None:
        return False
    role = session.scalar(
        select(ChannelRole.role).where(
            ChannelRole.user_id == user.id, ChannelRole.channel_id == channel_id
        )
    )
    return role in MODERATING_ROLES


def moderated_channels(session: Session, user: User) -> list[int] | None:
    """The channels `user` moderates: None for all of them (an install-wide role)."""
    if user.role in MODERATING_ROLES:
        return None
    return list(
        session.scalars(
            select(ChannelRole.channel_id).where(
                ChannelRole.user_id == user.id, ChannelRole.role.in_(MODERATING_ROLES)
            )
        )
    )


@dataclass(frozen=True)
class QueueEntry:
    """A comment in the moderators' queue, with its open reports."""

    comment: Comment
    author: str
    author_email: str | None
    item_title: str
    flags: int
    reasons: list[str]


def queue(
    session: Session,
    kind: Queue,
    *,
    channel_ids: list[int] | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[QueueEntry]:
    """The queue: ``flagged`` (open reports, most reported first), ``held`` (oldest first,
    awaiting approval) or ``recent`` (newest comments of any status), on `channel_ids`
    (None: every channel)."""
    query = select(Comment).where(Comment.status != "deleted")
    if channel_ids is not None:
        query = query.where(Comment.channel_id.in_(channel_ids))
    if before_id is not None:
        query = query.where(Comment.id < before_id)
    open_flags = (
        select(CommentFlag.comment_id, func.count().label("n"))
        .where(CommentFlag.resolved_at.is_(None))
        .group_by(CommentFlag.comment_id)
        .subquery()
    )
    if kind == "flagged":
        query = query.join(open_flags, open_flags.c.comment_id == Comment.id).order_by(
            open_flags.c.n.desc(), Comment.id.desc()
        )
    elif kind == "held":
        query = query.where(Comment.status == "held").order_by(Comment.id.desc())
    else:
        query = query.order_by(Comment.id.desc())
    comments = list(session.scalars(query.limit(limit)))
    ids = [c.id for c in comments]
    reasons: dict[int, list[str]] = {}
    for comment_id, reason in session.execute(
        select(CommentFlag.comment_id, CommentFlag.reason).where(
            CommentFlag.comment_id.in_(ids), CommentFlag.resolved_at.is_(None)
        )
    ):
        reasons.setdefault(comment_id, []).append(reason)
    authors = {
        u.id: u
        for u in session.scalars(
            select(User).where(User.id.in_({c.author_id for c in comments if c.author_id}))
        )
    }
    titles = dict(
        session.execute(
            select(Item.id, Item.title).where(Item.id.in_({c.item_id for c in comments}))
        ).all()
    )
    out = []
    for c in comments:
        user = authors.get(c.author_id) if c.author_id else None
        out.append(
            QueueEntry(
                comment=c,
                author=user.display_name if user else "former reader",
                author_email=user.email if user else None,
                item_title=titles.get(c.item_id, ""),
                flags=len(reasons.get(c.id, [])),
                reasons=reasons.get(c.id, []),
            )
        )
    return out


def act(
    session: Session,
    actor: Actor,
    moderator: User | None,
    *,
    comment_id: int,
    action: str,
    reason: str = "",
    now: datetime | None = None,
) -> Comment:
    """A moderator's action on a comment (see the module); ``moderator`` None: the CLI."""
    if action not in ACTIONS:
        raise CommentError(f"Unknown action {action!r}: one of {', '.join(ACTIONS)}.")
    now = now or utcnow()
    comment = get(session, comment_id)
    if moderator is not None and not can_moderate(session, moderator, comment.channel_id):
        raise CommentForbidden("You do not moderate this channel.")
    reason = " ".join(reason.split())[:MAX_REASON]
    before = comment.status
    if before == "deleted" and action != "delete":
        raise CommentConflict("This comment has been deleted; there is nothing to restore.")
    lesson = _LESSON.get(action)
    if lesson is not None and comment.author_id != (moderator.id if moderator else None):
        spam.learn(session, comment, lesson)
    target = _TARGET[action]
    changed = set_status(session, comment, target) if before != target else False
    resolved = session.execute(
        update(CommentFlag)
        .where(CommentFlag.comment_id == comment.id, CommentFlag.resolved_at.is_(None))
        .values(resolved_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    audit.record(
        session,
        actor,
        f"comment.{action}",
        "comment",
        comment.id,
        channel_id=comment.channel_id,
        reason=reason,
        detail={
            "from": before,
            "to": target,
            "changed": changed,
            "reports_resolved": resolved,
            "item_id": comment.item_id,
            "author_id": comment.author_id,
        },
        at=now,
    )
    session.flush()
    session.refresh(comment)
    return comment


def ban(
    session: Session,
    actor: Actor,
    moderator: User | None,
    *,
    user_id: int | None = None,
    network: str | None = None,
    channel_id: int | None = None,
    hours: float | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Ban:
    """Bar an account or an IP range (on `channel_id`, or everywhere) for `hours` (None:
    until lifted); audited (:func:`newsline.community.accounts.ban`). ``moderator`` None:
    the CLI."""
    target = None
    if user_id is not None:
        target = session.get(User, user_id)
        if target is None:
            raise CommentError("There is no such account.")
    if moderator is not None:
        if not can_moderate(session, moderator, channel_id):
            raise CommentForbidden("You do not moderate this channel.")
        if target is not None and target.role in MODERATING_ROLES and moderator.role != "admin":
            raise CommentForbidden("Only an admin can ban a moderator, editor or admin.")
    try:
        return accounts.ban(
            session,
            actor,
            user=target,
            network=network,
            channel_id=channel_id,
            hours=hours,
            reason=" ".join(reason.split())[:MAX_REASON],
            now=now,
        )
    except accounts.AccountError as exc:
        raise CommentError(str(exc)) from exc
