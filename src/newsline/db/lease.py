"""Leases: at most one process at a time does a given job on a database.

``newsline serve`` fetches on a schedule while an operator may run ``newsline fetch`` or
``newsline enrich`` by hand; the work is idempotent, but doing it twice at once doubles the
load on publishers and races the story index. A lease is a row naming its holder with an
expiry. A holder that died (same host, process gone) or let the lease expire loses it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from newsline.db.engine import session_scope
from newsline.db.models import Lease, utcnow
from newsline.errors import NewslineError

HOST = socket.gethostname()


class LeaseHeld(NewslineError):
    """Another process holds the lease; ``str()`` names it."""


def _holder() -> str:
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead(holder: str) -> bool:
    """Whether a holder on this host is a process that no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire(url: str, name: str, ttl: timedelta) -> str | None:
    """Take the lease ``name``; the holder id, or None when someone else holds it."""
    holder = _holder()
    now = utcnow()
    with session_scope(url) as session:
        current = session.scalar(select(Lease.holder).where(Lease.name == name))
        if current is not None and _dead(current):
            session.execute(delete(Lease).where(Lease.name == name, Lease.holder == current))
        taken = session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.expires_at < now)
            .values(holder=holder, expires_at=now + ttl)
        )
        if getattr(taken, "rowcount", 0) == 1:
            return holder
    try:
        with session_scope(url) as session:
            session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
    except IntegrityError:
        return None
    return holder


def release(url: str, name: str, holder: str) -> None:
    """Give the lease back (only if we still hold it)."""
    with session_scope(url) as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


def holder_of(url: str, name: str) -> str | None:
    """Who holds the lease now, if anyone."""
    with session_scope(url) as session:
        return session.scalar(select(Lease.holder).where(Lease.name == name))


@contextmanager
def lease(url: str, name: str, ttl: timedelta = timedelta(hours=2)) -> Iterator[str]:
    """Hold ``name`` for the block; raise :class:`LeaseHeld` when another process has it."""
    holder = acquire(url, name, ttl)
    if holder is None:
        raise LeaseHeld(
            f"another process is already running {name} ({holder_of(url, name)}); "
            "try again when it is done"
        )
    try:
        yield holder
    finally:
        release(url, name, holder)
