"""The audit log: every moderation, editorial and operator action, append-only.

One function writes it, :func:`record`, in the caller's transaction, so an action and its
entry commit or roll back together. The database refuses UPDATE and DELETE on the table
(triggers made by migration 0005): nobody, not even an admin with a SQL prompt through the
application's connection, rewrites history. :func:`entries` reads it back, newest first,
filtered as the console and ``newsline audit`` need.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from newsline.db.models import AuditEntry, User, utcnow


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user, or the operator at the command line (``user_id`` None)."""

    label: str
    user_id: int | None = None

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(label=user.email, user_id=user.id)

    @classmethod
    def cli(cls) -> Actor:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers)
            name = "unknown"
        return cls(label=f"cli:{name}")


def record(
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: int | str,
    *,
    channel_id: int | None = None,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add one entry (``action`` like ``comment.hide`` or ``item.unpublish``)."""
    entry = AuditEntry(
        at=at or utcnow(),
        actor_id=actor.user_id,
        actor=actor.label[:320],
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        channel_id=channel_id,
        reason=reason,
        detail=detail or {},
    )
    session.add(entry)
    return entry


def entries(
    session: Session,
    *,
    action: str | None = None,
    actor: str | None = None,
    target_type: str | None = None,
    target_id: int | str | None = None,
    channel_id: int | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries newest first; ``action`` may end in ``.`` to match a family (``comment.``)."""
    query: Select[tuple[AuditEntry]] = select(AuditEntry)
    if action:
        query = query.where(
            AuditEntry.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditEntry.action == action
        )
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == str(target_id))
    if channel_id is not None:
        query = query.where(AuditEntry.channel_id == channel_id)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
