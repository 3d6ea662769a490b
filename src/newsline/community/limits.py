"""Rate limits on readers' actions that hold across ``serve --workers N``: one interface
(:class:`Limits`), two backends — the database (:class:`DatabaseLimits`, the default) or
Redis when distributed mode configures one (:class:`newsline.community.limits_redis.RedisLimits`).
The numbers are settings (``[limits]`` in newsline.toml, :class:`newsline.config.LimitSettings`).

Two kinds:

- **Hourly budgets** (:meth:`Limits.spend`): at most so many comments, flags, votes,
  sign-ups or mails of a kind per hour, per account, per IP range, per address and in all.
  A spent budget raises :class:`RateLimited` (its message is for the reader) and counts
  nothing; the caller's rollback uncounts an attempt that failed later (in the database
  the counting is part of the caller's transaction; Redis gives the count back when the
  session rolls back).
- **Attempts with back-off and lock-out** (:meth:`Limits.begin_attempt`): sign-in attempts
  per account and per IP range. Each attempt is counted *before* the password is checked
  (and committed), so parallel guesses through several workers are all counted;
  :meth:`Limits.attempt_succeeded` takes a success back off. After ``free`` attempts in a
  window each further one must wait twice as long as the last (on an account 30 s, 1 min,
  2 min … up to ``max_backoff``); at ``lock_at`` the key is locked for ``lock_for``. In
  the database counts change by a compare-and-swap UPDATE, in Redis by one Lua script, so
  two workers never both pass on the same count.

Keys never hold an address in clear: :func:`key_of` hashes them. IPv6 clients are counted
by /64 (one subscriber's whole range), IPv4 by address.
"""

from __future__ import annotations

import hashlib
import ipaddress
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from newsline.community.budgets import BudgetSpent, spend
from newsline.config import AttemptSettings, LimitSettings
from newsline.db.models import Throttle, utcnow
from newsline.errors import NewslineError

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


class LimitsUnavailable(RateLimited):
    """The limits cannot be checked (their Redis is away): the action is refused for now."""


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


def signin_keys(email: str, ip: str) -> tuple[str, str]:
    """The throttle keys of a sign-in: the account (by address) and the client's IP range."""
    return f"signin:acct:{key_of(email.strip().lower())}", f"signin:ip:{key_of(ip_range(ip))}"


def budget_keys(
    hourly: Mapping[str, Mapping[str, int]], kind: str, keys: Mapping[str, str | int]
) -> list[tuple[str, int]]:
    """The ``(key, per-hour limit)`` budgets one `kind` action is counted against: each key
    given (``user=``, ``ip=``, ``email=``; an IP by :func:`ip_range`) and ``all`` when the
    kind has one."""
    limits = hourly.get(kind)
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
    return budgets


def rate_limited(kind: str, retry_after: int) -> RateLimited:
    """What the reader is told when a `kind` budget is spent."""
    minutes = max(1, round(retry_after / 60))
    return RateLimited(
        f"You are {ACTION_WORDS.get(kind, kind)} too often. "
        f"Please try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        retry_after,
    )


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

    @classmethod
    def of(cls, cfg: AttemptSettings) -> AttemptPolicy:
        """The policy a ``[limits.signin_*]`` table configures."""
        return cls(
            free=cfg.free,
            lock_at=cfg.lock_at,
            backoff=timedelta(seconds=cfg.backoff_seconds),
            max_backoff=timedelta(seconds=cfg.max_backoff_seconds),
            lock_for=timedelta(seconds=cfg.lock_for_seconds),
            window=timedelta(seconds=cfg.window_seconds),
        )

    def blocked_until(self, attempts: int, now: datetime) -> datetime | None:
        """Until when the key must wait after its `attempts`-th attempt (None: no wait)."""
        if attempts >= self.lock_at:
            return now + self.lock_for
        if attempts >= self.free:
            wait = self.backoff * 2 ** min(attempts - self.free, 30)
            return now + min(wait, self.max_backoff)
        return None


def throttled(
    key: str, failures: int, blocked_until: datetime, policy: AttemptPolicy, now: datetime
) -> AttemptsThrottled:
    """What the reader is told when `key` (at `failures` attempts) must wait."""
    wait = max(1, int((blocked_until - now).total_seconds() + 0.999))
    locked = failures >= policy.lock_at
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
    return AttemptsThrottled(message, wait, locked)


# --- one interface ------------------------------------------------------------------------


class Limits(ABC):
    """The limits of one install (``[limits]``), counted in the database or in Redis; the
    web asks this and does not know which."""

    def __init__(self, cfg: LimitSettings) -> None:
        self.hourly = cfg.hourly
        self.signin_account = AttemptPolicy.of(cfg.signin_account)
        self.signin_ip = AttemptPolicy.of(cfg.signin_ip)

    def spend(
        self, session: Session, kind: str, *, now: datetime | None = None, **keys: str | int
    ) -> None:
        """Count one `kind` action against the budgets of each key given (``user=``,
        ``ip=``, ``email=``) and of ``all`` when the kind has one; :class:`RateLimited`
        when one is spent (nothing is counted then)."""
        budgets = budget_keys(self.hourly, kind, keys)
        try:
            self.spend_budgets(session, budgets, now)
        except RateLimited:
            raise
        except BudgetSpent as exc:
            raise rate_limited(kind, exc.retry_after) from exc

    @abstractmethod
    def spend_budgets(
        self, session: Session, budgets: Sequence[tuple[str, int]], now: datetime | None = None
    ) -> None:
        """Count one against each ``(key, per-hour limit)``, or :class:`BudgetSpent` when
        one is used up (counting nothing); a rollback of `session` gives the count back."""

    @abstractmethod
    def begin_attempt(
        self,
        session: Session,
        checks: Sequence[tuple[str, AttemptPolicy]],
        now: datetime | None = None,
    ) -> None:
        """Count an attempt against each ``(key, policy)`` — commit before checking the
        password — or :class:`AttemptsThrottled` when a key must wait (counting nothing)."""

    @abstractmethod
    def attempt_succeeded(
        self, session: Session, reset: Sequence[str], forgive: Sequence[str]
    ) -> None:
        """A counted attempt succeeded (applied when `session` commits): the `reset` keys
        start afresh (the account), the `forgive` keys (the IP range) get one attempt back."""

    @abstractmethod
    def attempts(self, session: Session, key: str) -> int:
        """How many attempts a key has in its current window (0 when none)."""

    def begin_sign_in(
        self, session: Session, email: str, ip: str, now: datetime | None = None
    ) -> None:
        """Count a password sign-in for the account and the client's IP range."""
        account, network = signin_keys(email, ip)
        self.begin_attempt(
            session, [(account, self.signin_account), (network, self.signin_ip)], now
        )

    def sign_in_succeeded(self, session: Session, email: str, ip: str) -> None:
        """The password was right: the account starts afresh, the IP range gets it back."""
        account, network = signin_keys(email, ip)
        self.attempt_succeeded(session, reset=[account], forgive=[network])

    def lift_lock_out(self, session: Session, email: str) -> None:
        """A proven address (a mailed link, a reset) lifts the account's back-off and lock-out."""
        self.attempt_succeeded(session, reset=[signin_keys(email, "")[0]], forgive=[])


# --- the database backend -----------------------------------------------------------------


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


class DatabaseLimits(Limits):
    """Counts in the database (``send_budget``, ``throttle``), in the caller's transaction."""

    def spend_budgets(
        self, session: Session, budgets: Sequence[tuple[str, int]], now: datetime | None = None
    ) -> None:
        spend(session, budgets, now)

    def begin_attempt(
        self,
        session: Session,
        checks: Sequence[tuple[str, AttemptPolicy]],
        now: datetime | None = None,
    ) -> None:
        # A refusal on a later key leaves the earlier counted: the caller rolls back.
        now = now or utcnow()
        for key, policy in checks:
            _count(session, key, policy, now)

    def attempt_succeeded(
        self, session: Session, reset: Sequence[str], forgive: Sequence[str]
    ) -> None:
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

    def attempts(self, session: Session, key: str) -> int:
        value = session.scalar(select(Throttle.failures).where(Throttle.key == key))
        return int(value or 0)


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
                raise throttled(key, row.failures, row.blocked_until, policy, now)
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
