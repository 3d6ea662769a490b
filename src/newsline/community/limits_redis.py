"""The Redis backend of :class:`newsline.community.limits.Limits`, used when distributed
mode configures Redis (``queue_url``): every web worker on every machine counts in one place.

Each check is one round trip: a Lua script (atomic in Redis) looks at every key first and
counts on all of them only when none refuses, so a refusal counts nothing anywhere.

- Hourly budgets: one counter per key and hour (``newsline:limits:budget:<key>:<hour>``),
  expiring a minute after its hour. A budget counted for an action whose database
  transaction then rolls back is given back (DECR) when the session rolls back, as the
  database backend's rollback would.
- Attempts: one hash per key (failures, window start, blocked until, epoch seconds), expiring
  when both its window and its wait are over. A success's reset or forgiveness is applied
  when the caller's session commits, like the database backend's.

Redis away means no limit can be checked, so the action is refused (429 with a retry in a
few seconds and a message saying so) rather than let through unlimited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from newsline.community.budgets import WINDOW, BudgetSpent, window_of
from newsline.community.limits import (
    AttemptPolicy,
    AttemptsThrottled,
    Limits,
    LimitsUnavailable,
    throttled,
)
from newsline.config import LimitSettings
from newsline.db.models import utcnow

log = logging.getLogger(__name__)

#: Prefix of every key the limits keep in Redis.
PREFIX = "newsline:limits"
#: How long past its hour a budget counter is kept (clocks of several machines differ).
BUDGET_GRACE_SECONDS = 60

# KEYS: the budget counters; ARGV[1]: seconds to keep them; ARGV[2..]: each key's limit.
# Returns 0 when counted on every key, else the (1-based) index of the spent budget.
_SPEND = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    return i
  end
end
for i, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[1])
end
return 0
"""

# Gives back what _SPEND counted (a rolled-back action); never below zero.
_GIVE_BACK = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
"""

# KEYS: attempt hashes (f: failures, w: window start, b: blocked until).
# ARGV[1]: now (epoch seconds); then per key: free, lock_at, backoff, max_backoff,
# lock_for, window (seconds). Returns 0 when counted on every key, else
# {index, blocked_until (a string: Lua numbers go back as integers), failures}.
_ATTEMPT = """
local now = tonumber(ARGV[1])
local counted = {}
for i, key in ipairs(KEYS) do
  local base = 1 + (i - 1) * 6
  local window = tonumber(ARGV[base + 6])
  local v = redis.call('HMGET', key, 'f', 'w', 'b')
  local f = tonumber(v[1] or '0')
  local w = tonumber(v[2] or '0')
  local b = tonumber(v[3] or '0')
  if not v[1] or w + window <= now then
    f = 0
    w = now
  elseif b > now then
    return {i, tostring(b), f}
  end
  counted[i] = {f + 1, w}
end
for i, key in ipairs(KEYS) do
  local base = 1 + (i - 1) * 6
  local free = tonumber(ARGV[base + 1])
  local lock_at = tonumber(ARGV[base + 2])
  local n = counted[i][1]
  local w = counted[i][2]
  local b = 0
  if n >= lock_at then
    b = now + tonumber(ARGV[base + 5])
  elseif n >= free then
    b = now + math.min(tonumber(ARGV[base + 3]) * 2 ^ math.min(n - free, 30),
                       tonumber(ARGV[base + 4]))
  end
  redis.call('HSET', key, 'f', n, 'w', string.format('%.6f', w), 'b', string.format('%.6f', b))
  local keep = math.max(w + tonumber(ARGV[base + 6]), b) - now
  redis.call('EXPIRE', key, math.max(1, math.ceil(keep)))
end
return 0
"""

# KEYS[1..ARGV[1]]: reset (deleted); the rest: forgiven one attempt.
_SUCCEEDED = """
local resets = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if i <= resets then
    redis.call('DEL', key)
  elseif tonumber(redis.call('HGET', key, 'f') or '0') > 0 then
    redis.call('HINCRBY', key, 'f', -1)
  end
end
return 0
"""


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _moment(epoch: float) -> datetime:
    found = datetime.fromtimestamp(epoch, UTC)
    return found if utcnow().tzinfo else found.replace(tzinfo=None)


class RedisLimits(Limits):
    """Counts in Redis, shared by every process that uses the same server."""

    def __init__(self, cfg: LimitSettings, client: redis.Redis, prefix: str = PREFIX) -> None:
        super().__init__(cfg)
        self.client = client
        self.prefix = prefix
        self._spend = client.register_script(_SPEND)
        self._give_back = client.register_script(_GIVE_BACK)
        self._attempt = client.register_script(_ATTEMPT)
        self._succeeded = client.register_script(_SUCCEEDED)

    def spend_budgets(
        self, session: Session, budgets: Sequence[tuple[str, int]], now: datetime | None = None
    ) -> None:
        now = now or utcnow()
        window = window_of(now)
        retry_after = max(1, int((window + WINDOW - now).total_seconds()))
        hour = int(_epoch(window))
        keys = [f"{self.prefix}:budget:{key}:{hour}" for key, _ in budgets]
        keep = retry_after + BUDGET_GRACE_SECONDS
        try:
            spent = int(self._spend(keys=keys, args=[keep, *(limit for _, limit in budgets)]))
        except RedisError as exc:
            log.error("rate limits: Redis unavailable (%s); refusing", exc)
            raise LimitsUnavailable(
                "This cannot be done just now: please try again in a few seconds.", 5
            ) from exc
        if spent:
            key, limit = budgets[spent - 1]
            raise BudgetSpent(f"budget {key!r} of {limit} per hour is used up", retry_after)
        _when_done(session, on_rollback=lambda: self._give_back(keys=keys))

    def begin_attempt(
        self,
        session: Session,
        checks: Sequence[tuple[str, AttemptPolicy]],
        now: datetime | None = None,
    ) -> None:
        now = now or utcnow()
        args: list[Any] = [repr(_epoch(now))]
        for _, policy in checks:
            args += [
                policy.free,
                policy.lock_at,
                policy.backoff.total_seconds(),
                policy.max_backoff.total_seconds(),
                policy.lock_for.total_seconds(),
                policy.window.total_seconds(),
            ]
        keys = [f"{self.prefix}:attempt:{key}" for key, _ in checks]
        try:
            refused = self._attempt(keys=keys, args=args)
        except RedisError as exc:
            log.error("rate limits: Redis unavailable (%s); refusing the sign-in", exc)
            raise AttemptsThrottled(
                "Sign-ins cannot be checked just now: please try again in a few seconds.",
                5,
                False,
            ) from exc
        if refused:
            index, blocked_until, failures = refused
            key, policy = checks[int(index) - 1]
            raise throttled(key, int(failures), _moment(float(blocked_until)), policy, now)

    def attempt_succeeded(
        self, session: Session, reset: Sequence[str], forgive: Sequence[str]
    ) -> None:
        keys = [f"{self.prefix}:attempt:{key}" for key in (*reset, *forgive)]
        if keys:
            _when_done(session, on_commit=lambda: self._succeeded(keys=keys, args=[len(reset)]))

    def attempts(self, session: Session, key: str) -> int:
        return int(self.client.hget(f"{self.prefix}:attempt:{key}", "f") or 0)


def _when_done(
    session: Session,
    *,
    on_commit: Callable[[], Any] | None = None,
    on_rollback: Callable[[], Any] | None = None,
) -> None:
    """Run `on_commit` once `session`'s transaction commits, or `on_rollback` once it ends
    without committing (rolled back or closed)."""
    pending: list[tuple[Callable[[], Any] | None, Callable[[], Any] | None]] | None
    pending = session.info.get("limits_pending")
    if pending is None:
        pending = session.info["limits_pending"] = []
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_transaction_end", _ended)
    if not session.in_transaction():
        session.begin()  # so that its end is seen even when nothing else touched the database
    pending.append((on_commit, on_rollback))


def _committed(session: Session) -> None:
    session.info["limits_committed"] = True


def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint or an inner transaction: the outer one decides
    committed = session.info.pop("limits_committed", False)
    pending = session.info.get("limits_pending") or []
    session.info["limits_pending"] = []
    for on_commit, on_rollback in pending:
        action = on_commit if committed else on_rollback
        if action is None:
            continue
        try:
            action()
        except RedisError as exc:  # the count stays a little high for this hour: harmless
            log.warning("rate limits: Redis unavailable after the transaction (%s)", exc)
