"""Rate limits on readers' actions, in the database so they hold across ``serve --workers N``.

Two kinds:

- **Hourly budgets** (:func:`spend_action`): at most so many comments, flags, votes,
  sign-ups or mails of a kind per hour, per account, per IP range, per address and in all
  (:data:`ACTION_LIMITS`). Counted in ``send_budget`` rows by
  :func:`newsline.community.budgets.spend` in the caller's transaction; a spent budget
  raises :class:`RateLimited` (its message is for the reader) and the caller's rollback
  uncounts the attempt.
- **Attempts with back-off and lock-out** (:func:`begin_attempt`): sign-in attempts per
  account and per IP range (``throttle`` rows). Each attempt is counted *before* the
  password is checked (and committed), so parallel guesses through several workers are all
  counted; :func:`attempt_succeeded` takes a success back off. After ``free`` attempts in a
  window each further one must wait twice as long as the last (on an account 30 s,
  1 min, 2 min … up to ``max_backoff``); at ``lock_at`` the key is locked for ``lock_for``. Counts change by a
  compare-and-swap UPDATE, so two workers never both pass on the same count.

Keys never hold an address in clear: :func:`key_of` hashes them. IPv6 clients are counted
by /64 (one subscriber's whole range), IPv4 by address.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from newsline.community.budgets import BudgetSpent, spend
from newsline.db.models import Throttle, utcnow
from newsline.errors import NewslineError

#: Per hour, by kind, then by what is counted (``all``: everybody together).
ACTION_LIMITS: dict[str, dict[str, int]] = {
    "comment": {"user": 30, "ip": 60, "all": 5000},
    "flag": {"user": 20, "ip": 40},
    "vote": {"user": 300, "ip": 600},
    "signup": {"ip": 5, "all": 500},
    "reset_mail": {"email": 3, "ip": 10, "all": 500},
    "signin_mail": {"email": 5, "ip": 10, "all": 500},
    "verify_mail": {"user": 5, "ip": 10, "all": 500},
    "email_change": {"user": 5, "ip": 10},
}
#: What the reader is told they did too often.
ACTION_WORDS = {
    "comment": "posting comments",
    "flag": "flagging comments",
    "vote": "voting",
    "signup": "creating accounts",
    "reset_mail": "asking for password reset mails",
    "signin_mail": "asking for sign-in links",
    "verify_mail": "asking for verification mails",
    "email_change": "changing the e-mail address",
}
_CAS_TRIES = 8


class RateLimited(BudgetSpent):
    """An action done too often this hour; ``retry_after`` is the seconds until it renews."""


class AttemptsThrottled(NewslineError):
    """Too many failed attempts: wait ``retry_after`` seconds (``locked``: a lock-out)."""

    def __init__(self, message: str, retry_after: int, locked: bool) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.locked = locked


def ip_range(ip: str) -> str:
    """What one client is counted as: its IPv4 address, or its IPv6 /64."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def key_of(value: str | int) -> str:
    """A short pseudonym of what is counted (an address, an IP range, an account id)."""
    return hashlib.blake2b(str(value).encode(), digest_size=12).hexdigest()


def spend_action(
    session: Session, kind: str, *, now: datetime | None = None, **keys: str | int
) -> None:
    """Count one `kind` action against the budgets of each key given (``user=``, ``ip=``,
    ``email=``) and of ``all`` when the kind has one; :class:`RateLimited` when one is
    spent (the caller rolls back). An IP is counted by :func:`ip_range`."""
    limits = ACTION_LIMITS.get(kind)
    if limits is None:
        raise ValueError(f"unknown rate-limited action {kind!r}")
    budgets: list[tuple[str, int]] = []
    for name, value in keys.items():
        if name not in limits:
            raise ValueError(f"action {kind!r} has no limit per {name!r}")
        counted = ip_range(str(value)) if name == "ip" else value
        budgets.append((f"{kind}:{name}:{key_of(counted)}", limits[name]))
    if "all" in limits:
        budgets.append((f"{kind}:all", limits["all"]))
    try:
        spend(session, budgets, now)
    except BudgetSpent as exc:
        minutes = max(1, round(exc.retry_after / 60))
        raise RateLimited(
            f"You are {ACTION_WORDS.get(kind, kind)} too often. "
            f"Please try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            exc.retry_after,
        ) from exc


# --- attempts: back-off and lock-out ------------------------------------------------------


@dataclass(frozen=True)
class AttemptPolicy:
    """How many attempts a key gets before back-off, and when it is locked out."""

    free: int  # attempts in a window before back-off starts
    lock_at: int  # attempts in a window that lock the key
    backoff: timedelta  # the first wait; each further attempt waits twice as long
    max_backoff: timedelta
    lock_for: timedelta
    window: timedelta  # counts start again this long after the first attempt

    def blocked_until(self, attempts: int, now: datetime) -> datetime | None:
        """Until when the key must wait after its `attempts`-th attempt (None: no wait)."""
        if attempts >= self.lock_at:
            return now + self.lock_for
        if attempts >= self.free:
            wait = self.backoff * 2 ** min(attempts - self.free, 30)
            return now + min(wait, self.max_backoff)
        return None


#: Sign-in attempts on one account (by address, whether or not it exists).
SIGNIN_ACCOUNT = AttemptPolicy(
    free=5,
    lock_at=20,
    backoff=timedelta(seconds=30),
    max_backoff=timedelta(minutes=15),
    lock_for=timedelta(hours=1),
    window=timedelta(hours=24),
)
#: Sign-in attempts from one IP range, on any accounts.
SIGNIN_IP = AttemptPolicy(
    free=30,
    lock_at=200,
    backoff=timedelta(seconds=10),
    max_backoff=timedelta(minutes=5),
    lock_for=timedelta(hours=1),
    window=timedelta(hours=24),
)


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _throttled(key: str, row: Throttle, policy: AttemptPolicy, now: datetime) -> None:
    assert row.blocked_until is not None
    wait = max(1, int((row.blocked_until - now).total_seconds() + 0.999))
    locked = row.failures >= policy.lock_at
    what = "this account" if key.startswith("signin:acct:") else "your network"
    if locked:
        minutes = max(1, round(wait / 60))
        message = (
            f"Too many failed sign-ins for {what}: password sign-in is locked for "
            f"{minutes} minute{'s' if minutes != 1 else ''}. You can still sign in with a "
            "link by e-mail, or reset your password."
        )
    else:
        message = (
            f"Too many failed sign-ins for {what}: please wait {wait} second"
            f"{'s' if wait != 1 else ''} before trying again."
        )
    raise AttemptsThrottled(message, wait, locked)


def _count(session: Session, key: str, policy: AttemptPolicy, now: datetime) -> None:
    for _ in range(_CAS_TRIES):
        row = session.get(Throttle, key, populate_existing=True)
        if row is None:
            inserted = session.execute(
                _insert(session)(Throttle)
                .values(
                    key=key,
                    failures=1,
                    window_start=now,
                    blocked_until=policy.blocked_until(1, now),
                )
                .on_conflict_do_nothing(index_elements=[Throttle.key])
                .returning(Throttle.key)  # rowcount is not reliable here on PostgreSQL
            ).first()
            if inserted is not None:
                return
            continue  # another worker made the row first: count on it
        if row.window_start + policy.window <= now:
            attempts, window = 1, now
        else:
            if row.blocked_until is not None and row.blocked_until > now:
                _throttled(key, row, policy, now)
            attempts, window = row.failures + 1, row.window_start
        swapped = session.execute(
            update(Throttle)
            .where(
                Throttle.key == key,
                Throttle.failures == row.failures,
                Throttle.window_start == row.window_start,
            )
            .values(
                failures=attempts,
                window_start=window,
                blocked_until=policy.blocked_until(attempts, now),
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(swapped, "rowcount", 0) == 1:
            return
    raise AttemptsThrottled("Too many sign-ins at once: please try again.", 1, False)


def begin_attempt(
    session: Session, checks: list[tuple[str, AttemptPolicy]], now: datetime | None = None
) -> None:
    """Count an attempt against each ``(key, policy)`` — commit before checking the
    password — or :class:`AttemptsThrottled` when a key must wait (nothing is counted on
    that key then; the caller rolls back the others)."""
    now = now or utcnow()
    for key, policy in checks:
        _count(session, key, policy, now)


def attempt_succeeded(session: Session, reset: list[str], forgive: list[str]) -> None:
    """A counted attempt succeeded: the `reset` keys start afresh (the account), the
    `forgive` keys (the IP range) get this one attempt back."""
    for key in reset:
        row = session.get(Throttle, key)
        if row is not None:
            session.delete(row)
    for key in forgive:
        session.execute(
            update(Throttle)
            .where(Throttle.key == key, Throttle.failures > 0)
            .values(failures=Throttle.failures - 1)
            .execution_options(synchronize_session=False)
        )
    session.flush()


def attempts(session: Session, key: str) -> int:
    """How many attempts a key has in its current window (0 without a row)."""
    value = session.scalar(select(Throttle.failures).where(Throttle.key == key))
    return int(value or 0)


def signin_keys(email: str, ip: str) -> tuple[str, str]:
    """The throttle keys of a sign-in: the account (by address) and the client's IP range."""
    return f"signin:acct:{key_of(email.strip().lower())}", f"signin:ip:{key_of(ip_range(ip))}"
