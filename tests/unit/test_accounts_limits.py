"""community/limits.py on both backends — the database (SQLite, PostgreSQL) and Redis (a real
redis-server, when the test command started one): hourly action budgets, and sign-in
attempts with back-off and lock-out counted before the password check, also when many
threads (standing in for workers) guess at once; the numbers come from ``[limits]``."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from newsline.community import limits as limits_module
from newsline.community.limits import (
    AttemptPolicy,
    AttemptsThrottled,
    DatabaseLimits,
    Limits,
    RateLimited,
    signin_keys,
)
from newsline.community.limits_redis import RedisLimits
from newsline.config import ConfigError, LimitSettings, load_settings
from newsline.db.engine import session_scope
from newsline.db.models import SendBudget, utcnow
from tests.support.ports import free_port

pytestmark = pytest.mark.postgres

REDIS_URL = os.environ.get("NEWSLINE_TEST_REDIS_URL", "")


def make_limits(kind: str, cfg: LimitSettings) -> Iterator[Limits]:
    if kind == "database":
        yield DatabaseLimits(cfg)
        return
    if not REDIS_URL:
        pytest.skip("NEWSLINE_TEST_REDIS_URL not set (scripts/test sets it)")
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"test-limits:{uuid.uuid4().hex}"  # the server is shared with other tests
    yield RedisLimits(cfg, client, prefix=prefix)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=["database", "redis"])
def limits(request: pytest.FixtureRequest, database_url: str) -> Iterator[Limits]:
    yield from make_limits(request.param, LimitSettings())


@pytest.fixture(params=["database", "redis"])
def strict(request: pytest.FixtureRequest, database_url: str) -> Iterator[Limits]:
    """Limits a config lowered: two comments per account and hour, short sign-in waits."""
    cfg = load_settings(
        None,
        limits={
            "comment": {"user": 2},
            "signin_account": {"free": 2, "lock_at": 3, "backoff_seconds": 5},
        },
    ).limits
    yield from make_limits(request.param, cfg)


def test_action_budgets_per_key_and_hour(database_url: str, limits: Limits) -> None:
    now = utcnow().replace(minute=10)
    allowed = limits.hourly["flag"]["user"]
    assert allowed == 20  # today's default
    for _ in range(allowed):
        with session_scope(database_url) as session:
            limits.spend(session, "flag", user=7, ip="203.0.113.5", now=now)
    with pytest.raises(RateLimited) as refused, session_scope(database_url) as session:
        limits.spend(session, "flag", user=7, ip="203.0.113.6", now=now)
    assert "flagging comments too often" in str(refused.value)
    assert 0 < refused.value.retry_after <= 3600
    with session_scope(database_url) as session:
        limits.spend(session, "flag", user=8, ip="203.0.113.6", now=now)  # someone else: fine
        limits.spend(session, "flag", user=7, now=now + timedelta(hours=1))  # the next hour
        keys = [row.key for row in session.query(SendBudget).all()]
    if isinstance(limits, RedisLimits):
        assert keys == []  # counted in Redis, not in the database
        keys = [k.decode() for k in limits.client.scan_iter(f"{limits.prefix}:*")]
        assert len(keys) >= 4
    # Nothing in clear: neither the IP nor the account id.
    assert not any("203.0.113" in key or key.endswith(":7") for key in keys)
    with pytest.raises(ValueError, match="per 'email'"), session_scope(database_url) as session:
        limits.spend(session, "flag", email="x@example.org")


def test_a_rolled_back_action_is_not_counted(database_url: str, strict: Limits) -> None:
    now = utcnow().replace(minute=20)
    for _ in range(3):  # three attempts that fail after counting: none is kept
        with pytest.raises(RuntimeError), session_scope(database_url) as session:
            strict.spend(session, "comment", user=3, ip="198.51.100.3", now=now)
            raise RuntimeError("the comment was refused after counting")
    for _ in range(2):
        with session_scope(database_url) as session:
            strict.spend(session, "comment", user=3, ip="198.51.100.3", now=now)
    with pytest.raises(RateLimited), session_scope(database_url) as session:
        strict.spend(session, "comment", user=3, ip="198.51.100.3", now=now)


def test_a_lower_comment_budget_from_the_config_refuses_the_third(
    database_url: str, strict: Limits
) -> None:
    now = utcnow().replace(minute=30, second=0, microsecond=0)
    for _ in range(2):
        with session_scope(database_url) as session:
            strict.spend(session, "comment", user=11, ip="198.51.100.11", now=now)
    with pytest.raises(RateLimited) as refused, session_scope(database_url) as session:
        strict.spend(session, "comment", user=11, ip="198.51.100.11", now=now)
    assert (
        str(refused.value) == "You are posting comments too often. Please try again in 30 minutes."
    )


def test_bad_limits_in_the_config_are_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad, message in [
        ({"comment": {"user": -1}}, "comment.user: -1 is not a whole number"),
        ({"comment": {"email": 3}}, "comment is counted per user, ip, all only"),
        ({"comments": {"user": 3}}, "unknown action 'comments'"),
        ({"signin_ip": {"free": 300}}, "lock_at (200) must not be below free (300)"),
        ({"signin_account": {"backoff_seconds": 0}}, "greater than or equal to 1"),
    ]:
        with pytest.raises(ConfigError, match="limits") as error:
            load_settings(None, limits=bad)
        assert message in str(error.value)
    # The defaults are today's numbers; a key left out keeps its default.
    cfg = load_settings(None, limits={"comment": {"user": 3}}).limits
    assert cfg.hourly["comment"] == {"user": 3, "ip": 60, "all": 5000}
    assert cfg.signin_account.free == 5 and cfg.signin_account.lock_at == 20
    assert cfg.signin_ip.free == 30 and cfg.signin_ip.lock_at == 200
    # From the environment too, key by key.
    monkeypatch.setenv("NEWSLINE_LIMITS__COMMENT__USER", "7")
    monkeypatch.setenv("NEWSLINE_LIMITS__SIGNIN_ACCOUNT__FREE", "3")
    cfg = load_settings(None).limits
    assert cfg.hourly["comment"]["user"] == 7 and cfg.signin_account.free == 3


def test_ipv6_clients_count_by_their_64(database_url: str, limits: Limits) -> None:
    assert limits_module.ip_range("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert limits_module.ip_range("::ffff:203.0.113.9") == "203.0.113.9"
    now = utcnow().replace(minute=5)
    for n in range(limits.hourly["signup"]["ip"]):
        with session_scope(database_url) as session:
            limits.spend(session, "signup", ip=f"2001:db8:1:2::{n + 1}", now=now)
    with pytest.raises(RateLimited), session_scope(database_url) as session:
        limits.spend(session, "signup", ip="2001:db8:1:2:ffff::9", now=now)


def test_sign_in_attempts_back_off_then_lock(database_url: str, limits: Limits) -> None:
    policy = limits.signin_account
    account, _ = signin_keys("Ann@Example.org", "198.51.100.7")
    assert account == signin_keys("ann@example.org", "1.1.1.1")[0]
    start = utcnow()
    checks = [(account, policy)]
    at = start
    # The free attempts go through at once.
    for _ in range(policy.free - 1):
        with session_scope(database_url) as session:
            limits.begin_attempt(session, checks, at)
    with session_scope(database_url) as session:
        limits.begin_attempt(session, checks, at)  # the fifth: from now on each must wait
    with pytest.raises(AttemptsThrottled) as wait, session_scope(database_url) as session:
        limits.begin_attempt(session, checks, at)
    assert not wait.value.locked and wait.value.retry_after == 30
    assert "wait 30 seconds" in str(wait.value)
    waits = [wait.value.retry_after]
    for n in range(policy.free + 1, policy.lock_at + 1):
        at += timedelta(seconds=waits[-1])  # waited exactly as long as asked
        with session_scope(database_url) as session:
            limits.begin_attempt(session, checks, at)
            assert limits.attempts(session, account) == n
        with pytest.raises(AttemptsThrottled) as wait, session_scope(database_url) as session:
            limits.begin_attempt(session, checks, at)
        waits.append(wait.value.retry_after)
    assert waits[:5] == [30, 60, 120, 240, 480]  # doubling ...
    assert max(waits[:-1]) == policy.max_backoff.total_seconds()  # ... up to a cap
    assert waits[-1] == policy.lock_for.total_seconds()  # then the lock-out
    with pytest.raises(AttemptsThrottled) as locked, session_scope(database_url) as session:
        limits.begin_attempt(session, checks, at + timedelta(minutes=30))
    assert locked.value.locked and "locked for 30 minutes" in str(locked.value)
    assert "link by e-mail" in str(locked.value)
    # After the window, counting starts afresh.
    with session_scope(database_url) as session:
        limits.begin_attempt(session, checks, start + policy.window + timedelta(hours=2))
        assert limits.attempts(session, account) == 1


def test_lower_sign_in_limits_from_the_config_lock_sooner(
    database_url: str, strict: Limits
) -> None:
    at = utcnow()
    email, ip = "eve@example.org", "198.51.100.12"
    statuses = []
    for _ in range(4):
        try:
            with session_scope(database_url) as session:
                strict.begin_sign_in(session, email, ip, at)
            statuses.append("counted")
        except AttemptsThrottled as exc:
            statuses.append("locked" if exc.locked else f"wait {exc.retry_after}")
            at += timedelta(seconds=exc.retry_after)
    assert statuses == ["counted", "counted", "wait 5", "counted"]
    with pytest.raises(AttemptsThrottled) as locked, session_scope(database_url) as session:
        strict.begin_sign_in(session, email, ip, at)
    assert locked.value.locked and locked.value.retry_after == 3600


def test_a_success_resets_the_account_and_forgives_the_ip(
    database_url: str, limits: Limits
) -> None:
    account, ip = signin_keys("bob@example.org", "198.51.100.8")
    now = utcnow()
    for _ in range(3):
        with session_scope(database_url) as session:
            limits.begin_sign_in(session, "bob@example.org", "198.51.100.8", now)
    with pytest.raises(RuntimeError), session_scope(database_url) as session:
        limits.sign_in_succeeded(session, "bob@example.org", "198.51.100.8")
        raise RuntimeError("the session could not be opened")  # rolled back: nothing applied
    with session_scope(database_url) as session:
        assert limits.attempts(session, account) == 3 and limits.attempts(session, ip) == 3
    with session_scope(database_url) as session:
        limits.sign_in_succeeded(session, "bob@example.org", "198.51.100.8")
    with session_scope(database_url) as session:
        assert limits.attempts(session, account) == 0 and limits.attempts(session, ip) == 2
    with session_scope(database_url) as session:
        limits.begin_sign_in(session, "bob@example.org", "198.51.100.8", now)
        limits.lift_lock_out(session, "bob@example.org")  # a mailed link proved the address
    with session_scope(database_url) as session:
        assert limits.attempts(session, account) == 0 and limits.attempts(session, ip) == 3


def test_a_throttled_key_counts_nothing_on_the_others(database_url: str, limits: Limits) -> None:
    account, ip = signin_keys("cy@example.org", "198.51.100.9")
    now = utcnow()
    tight = AttemptPolicy(
        free=1,
        lock_at=1,
        backoff=timedelta(seconds=1),
        max_backoff=timedelta(seconds=1),
        lock_for=timedelta(hours=1),
        window=timedelta(hours=24),
    )
    with session_scope(database_url) as session:
        limits.begin_attempt(session, [(ip, tight)], now)  # the network is locked now
    with pytest.raises(AttemptsThrottled) as refused, session_scope(database_url) as session:
        limits.begin_attempt(session, [(account, limits.signin_account), (ip, tight)], now)
    assert "your network" in str(refused.value)
    with session_scope(database_url) as session:
        assert limits.attempts(session, account) == 0  # not counted with the refusal


def test_parallel_guesses_are_all_counted(database_url: str, limits: Limits) -> None:
    policy = limits.signin_account
    account, _ = signin_keys("dee@example.org", "198.51.100.10")
    now = utcnow()
    passed: list[int] = []
    refused: list[int] = []
    barrier = threading.Barrier(12)

    def guess(n: int) -> None:
        barrier.wait()
        try:
            with session_scope(database_url) as session:
                limits.begin_attempt(session, [(account, policy)], now)
            passed.append(n)
        except AttemptsThrottled:
            refused.append(n)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Whatever the interleaving, no more than the free attempts got through at one instant.
    assert len(passed) == policy.free and len(refused) == 12 - policy.free
    with session_scope(database_url) as session:
        assert limits.attempts(session, account) == policy.free


def test_without_its_redis_nothing_is_let_through_unlimited(database_url: str) -> None:
    client = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=2)
    away = RedisLimits(LimitSettings(), client, prefix="test-limits:away")
    with pytest.raises(RateLimited) as refused, session_scope(database_url) as session:
        away.spend(session, "comment", user=1, ip="198.51.100.20")
    assert "try again in a few seconds" in str(refused.value)
    assert refused.value.retry_after == 5
    with pytest.raises(AttemptsThrottled) as waiting, session_scope(database_url) as session:
        away.begin_sign_in(session, "fay@example.org", "198.51.100.20")
    assert "Sign-ins cannot be checked just now" in str(waiting.value)
