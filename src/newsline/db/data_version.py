"""The data version: one number that changes with everything the reader's pages show.

Web workers keep rendered pieces of pages (a list's cards, a story's members, an item's
body and related coverage) by this number, so a page rendered without the whole-page cache
(a signed-in reader's) reuses them until something they show changes, and never shows them
after it did.

Every ORM session that writes a watched table (:data:`WATCHED`: items, stories, hashtags,
publications, newslines, digests), by its objects or by an ``update()``/``insert()``/``delete()`` it
executes, bumps the number in the same transaction, as its last statement before committing
(its own rows are flushed first, so a PostgreSQL writer holds the one row's lock only while
it commits). A reader reads the number first and the data after it: what is kept under a
number is never older than the number.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, event, update
from sqlalchemy.orm import ORMExecuteState, Session

from newsline.db.models import DataVersion, SettingsVersion
from newsline.db.raw import raw_rows

#: The tables whose rows the reader's pages show.
WATCHED = frozenset({"item", "story", "item_hashtag", "publication", "newsline", "digest"})
_CHANGED = "newsline.data_changed"
_SQL = "SELECT version FROM data_version WHERE id = 1"


def _touches(objects: Iterable[Any]) -> bool:
    return any(getattr(o, "__tablename__", None) in WATCHED for o in objects)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    # Still the flush's own new/dirty/deleted objects here.
    if _touches(session.new) or _touches(session.deleted) or _touches(session.dirty):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in WATCHED:
            state.session.info[_CHANGED] = True


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    pending = _touches(session.new) or _touches(session.deleted) or _touches(session.dirty)
    if not (pending or session.info.get(_CHANGED)):
        return
    session.flush()  # the writer's rows first: the bump is the transaction's last statement
    bump(session)


def bump(session: Session) -> None:
    """Tell every web worker that what the pages show changed (in the writer's transaction)."""
    bump_row(session, DataVersion)
    session.info.pop(_CHANGED, None)


def bump_row(session: Session, counter: type[DataVersion] | type[SettingsVersion]) -> None:
    """Add one to a one-row version counter (row id 1) in the session's transaction."""
    bumped = session.execute(
        update(counter)
        .where(counter.id == 1)
        .values(version=counter.version + 1)
        .execution_options(synchronize_session=False)
    )
    if not getattr(bumped, "rowcount", 0):  # the row is made by the migration; just in case
        session.add(counter(id=1, version=1))
        session.flush()


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def read(conn: Connection) -> int:
    """The current data version: one read by primary key, on the driver's own cursor
    (SQLAlchemy's statement and result machinery cost several times this one-row read)."""
    found = raw_rows(conn, _SQL, {})
    return int(found[0][0]) if found else 0
