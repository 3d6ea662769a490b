"""Hourly budgets in the database: how many actions (mails, comments, votes ...) of a kind
may be done per hour, per client and in all — the database backend of
:class:`newsline.community.limits.Limits` (distributed mode counts in Redis instead).

Counts live in the database (``send_budget``: one row per key and hour), so the limits
hold across every worker process of ``serve --workers N``. :func:`spend` counts one mail
against each budget in the caller's transaction and raises :class:`BudgetSpent` — before
anything is sent — when one is used up; the caller's rollback then undoes the counting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from newsline.db.models import SendBudget, utcnow
from newsline.errors import NewslineError

WINDOW = timedelta(hours=1)
#: Rows of windows older than this are deleted while spending.
FORGET_AFTER = timedelta(days=1)


class BudgetSpent(NewslineError):
    """A send budget is used up for this hour; ``retry_after`` is the seconds until it renews."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def window_of(now: datetime) -> datetime:
    """The start of the hour window `now` falls in."""
    return now.replace(minute=0, second=0, microsecond=0)


def spend(
    session: Session, budgets: Sequence[tuple[str, int]], now: datetime | None = None
) -> None:
    """Count one mail against each ``(key, per-hour limit)``; :class:`BudgetSpent` if any
    budget is already used up (the caller rolls back, so nothing is counted then)."""
    now = now or utcnow()
    window = window_of(now)
    retry_after = max(1, int((window + WINDOW - now).total_seconds()))
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for key, limit in budgets:
        if limit <= 0:
            raise BudgetSpent(f"budget {key!r} allows no mail", retry_after)
        stmt = insert(SendBudget).values(key=key, window_start=window, count=1)
        # The upsert takes the row's lock: concurrent workers count one after the other.
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[SendBudget.key, SendBudget.window_start],
                set_={"count": SendBudget.count + 1},
            )
        )
        used = session.scalar(
            select(SendBudget.count).where(SendBudget.key == key, SendBudget.window_start == window)
        )
        if used is not None and used > limit:
            raise BudgetSpent(f"budget {key!r} of {limit} per hour is used up", retry_after)
    session.execute(delete(SendBudget).where(SendBudget.window_start < window - FORGET_AFTER))


def used(session: Session, key: str, now: datetime | None = None) -> int:
    """How much of a budget the current hour has used."""
    window = window_of(now or utcnow())
    count = session.scalar(
        select(SendBudget.count).where(SendBudget.key == key, SendBudget.window_start == window)
    )
    return int(count or 0)
