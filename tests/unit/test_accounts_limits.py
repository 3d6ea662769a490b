"""community/limits.py on a real database: hourly action budgets, and sign-in attempts
with back-off and lock-out counted before the password check, also when many threads
(standing in for workers) guess at once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from newsline.community import limits
from newsline.community.limits import (
    SIGNIN_ACCOUNT,
    SIGNIN_IP,
    AttemptsThrottled,
    RateLimited,
    attempt_succeeded,
    attempts,
    begin_attempt,
    signin_keys,
    spend_action,
)
from newsline.db.engine import session_scope
from newsline.db.models import SendBudget, Throttle, utcnow

pytestmark = pytest.mark.postgres


def test_action_budgets_per_key_and_hour(database_url: str) -> None:
    now = utcnow().replace(minute=10)
    allowed = limits.ACTION_LIMITS["flag"]["user"]
    for _ in range(allowed):
        with session_scope(database_url) as session:
            spend_action(session, "flag", user=7, ip="203.0.113.5", now=now)
    with pytest.raises(RateLimited) as refused, session_scope(database_url) as session:
        spend_action(session, "flag", user=7, ip="203.0.113.6", now=now)
    assert "flagging comments too often" in str(refused.value)
    assert 0 < refused.value.retry_after <= 3600
    with session_scope(database_url) as session:
        spend_action(session, "flag", user=8, ip="203.0.113.6", now=now)  # someone else: fine
        spend_action(session, "flag", user=7, now=now + timedelta(hours=1))  # the next hour
        keys = [row.key for row in session.query(SendBudget).all()]
    # Nothing in clear: neither the IP nor the account id.
    assert not any("203.0.113" in key or key.endswith(":7") for key in keys)
    with pytest.raises(ValueError, match="per 'email'"), session_scope(database_url) as session:
        spend_action(session, "flag", email="x@example.org")


def test_ipv6_clients_count_by_their_64(database_url: str) -> None:
    assert limits.ip_range("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert limits.ip_range("::ffff:203.0.113.9") == "203.0.113.9"
    now = utcnow().replace(minute=5)
    for n in range(limits.ACTION_LIMITS["signup"]["ip"]):
        with session_scope(database_url) as session:
            spend_action(session, "signup", ip=f"2001:db8:1:2::{n + 1}", now=now)
    with pytest.raises(RateLimited), session_scope(database_url) as session:
        spend_action(session, "signup", ip="2001:db8:1:2:ffff::9", now=now)


def test_sign_in_attempts_back_off_then_lock(database_url: str) -> None:
    account, _ = signin_keys("Ann@Example.org", "198.51.100.7")
    assert account == signin_keys("ann@example.org", "1.1.1.1")[0]
    start = utcnow()
    checks = [(account, SIGNIN_ACCOUNT)]
    at = start
    # The free attempts go through at once.
    for _ in range(SIGNIN_ACCOUNT.free - 1):
        with session_scope(database_url) as session:
            begin_attempt(session, checks, at)
    with session_scope(database_url) as session:
        begin_attempt(session, checks, at)  # the fifth: from now on each must wait
    with pytest.raises(AttemptsThrottled) as wait, session_scope(database_url) as session:
        begin_attempt(session, checks, at)
    assert not wait.value.locked and wait.value.retry_after == 30
    assert "wait 30 seconds" in str(wait.value)
    waits = []
    for n in range(SIGNIN_ACCOUNT.free + 1, SIGNIN_ACCOUNT.lock_at + 1):
        with session_scope(database_url) as session:
            row = session.get(Throttle, account)
            assert row is not None and row.blocked_until is not None
            at = row.blocked_until  # waited exactly as long as asked
            begin_attempt(session, checks, at)
        with session_scope(database_url) as session:
            row = session.get(Throttle, account)
            assert row is not None and row.failures == n and row.blocked_until is not None
            waits.append((row.blocked_until - at).total_seconds())
    assert waits[:4] == [60, 120, 240, 480]  # doubling ...
    assert max(waits[:-1]) == SIGNIN_ACCOUNT.max_backoff.total_seconds()  # ... up to a cap
    assert waits[-1] == SIGNIN_ACCOUNT.lock_for.total_seconds()  # then the lock-out
    with pytest.raises(AttemptsThrottled) as locked, session_scope(database_url) as session:
        begin_attempt(session, checks, at + timedelta(minutes=30))
    assert locked.value.locked and "locked for 30 minutes" in str(locked.value)
    assert "link by e-mail" in str(locked.value)
    # After the window, counting starts afresh.
    with session_scope(database_url) as session:
        begin_attempt(session, checks, start + SIGNIN_ACCOUNT.window + timedelta(hours=2))
        assert attempts(session, account) == 1


def test_a_success_resets_the_account_and_forgives_the_ip(database_url: str) -> None:
    account, ip = signin_keys("bob@example.org", "198.51.100.8")
    now = utcnow()
    for _ in range(3):
        with session_scope(database_url) as session:
            begin_attempt(session, [(account, SIGNIN_ACCOUNT), (ip, SIGNIN_IP)], now)
    with session_scope(database_url) as session:
        attempt_succeeded(session, reset=[account], forgive=[ip])
    with session_scope(database_url) as session:
        assert attempts(session, account) == 0 and attempts(session, ip) == 2


def test_a_throttled_key_counts_nothing_on_the_others(database_url: str) -> None:
    account, ip = signin_keys("cy@example.org", "198.51.100.9")
    now = utcnow()
    with session_scope(database_url) as session:
        session.add(
            Throttle(key=ip, failures=500, window_start=now, blocked_until=now + timedelta(hours=1))
        )
    with pytest.raises(AttemptsThrottled) as refused, session_scope(database_url) as session:
        begin_attempt(session, [(account, SIGNIN_ACCOUNT), (ip, SIGNIN_IP)], now)
    assert "your network" in str(refused.value)
    with session_scope(database_url) as session:
        assert attempts(session, account) == 0  # rolled back with the refusal


def test_parallel_guesses_are_all_counted(database_url: str) -> None:
    account, _ = signin_keys("dee@example.org", "198.51.100.10")
    now = utcnow()
    passed: list[int] = []
    refused: list[int] = []
    barrier = threading.Barrier(12)

    def guess(n: int) -> None:
        barrier.wait()
        try:
            with session_scope(database_url) as session:
                begin_attempt(session, [(account, SIGNIN_ACCOUNT)], now)
            passed.append(n)
        except AttemptsThrottled:
            refused.append(n)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Whatever the interleaving, no more than the free attempts got through at one instant.
    assert len(passed) == SIGNIN_ACCOUNT.free and len(refused) == 12 - SIGNIN_ACCOUNT.free
    with session_scope(database_url) as session:
        assert attempts(session, account) == SIGNIN_ACCOUNT.free
