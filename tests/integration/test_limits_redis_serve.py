"""Rate limits in distributed mode are counted in Redis and hold across two
``newsline serve --workers 2`` processes on one redis-server (and one PostgreSQL): a
comment budget lowered in ``[limits]`` refuses the next comment whichever process gets it,
and password guesses spread over both processes hit the configured back-off and lock-out."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsline.community import accounts
from newsline.community.limits_redis import PREFIX
from newsline.config import Settings
from newsline.db.engine import dispose_all, engine_for
from newsline.db.models import SendBudget, Throttle
from tests.support.ports import free_port, stop_group, wait_for_port
from tests.support.webdata import seed

REDIS_URL = os.environ.get("NEWSLINE_TEST_REDIS_URL", "")
PG_URL = os.environ.get("NEWSLINE_TEST_PG_URL", "")
PASSWORD = "harbour lights at dusk 1987"

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not (REDIS_URL and PG_URL),
        reason="needs NEWSLINE_TEST_REDIS_URL and NEWSLINE_TEST_PG_URL (scripts/test sets them)",
    ),
]

LIMITS = """
[limits]
comment = { user = 3 }
[limits.signin_account]
free = 2
lock_at = 2
"""


@pytest.fixture
def servers(
    make_settings: Callable[..., Settings], database_url: str, tmp_path: Path
) -> Iterator[tuple[list[str], int]]:
    """Two `serve --workers 2` processes in distributed mode; yields their URLs and an item."""
    if database_url.startswith("sqlite"):
        pytest.skip("distributed mode needs PostgreSQL")
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    settings = make_settings(web={"base_url": bases[0]})
    item_id = seed(settings).items["harbor-0"]
    with Session(engine_for(settings.database_url)) as session, session.begin():
        accounts.create_user(session, "ann@example.org", PASSWORD, "Ann", verified=True)
        accounts.create_user(session, "bob@example.org", PASSWORD, "Bob", verified=True)
    dispose_all()
    procs = []
    try:
        for n, port in enumerate(ports):
            config = tmp_path / f"serve{n}.toml"
            config.write_text(
                f'database_url = "{settings.database_url}"\nqueue_url = "{REDIS_URL}"\n'
                f'data_dir = "{tmp_path}"\n[web]\nbase_url = "{bases[n]}"\n{LIMITS}',
                encoding="utf-8",
            )
            log = (tmp_path / f"serve{n}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "newsline.cli", "--config", str(config)),
                        *("serve", "--port", str(port), "--workers", "2", "--no-scheduler"),
                    ],
                    env={**os.environ, "NEWSLINE_CONFIG": str(config)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        for n, (port, proc) in enumerate(zip(ports, procs, strict=True)):
            wait_for_port(port, proc, log=tmp_path / f"serve{n}.log")
        yield bases, item_id
    finally:
        for proc in procs:
            stop_group(proc)
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{PREFIX}:*"):
            client.delete(key)
        client.close()


def _signed_in(base: str, email: str, ip: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, headers={"x-forwarded-for": ip}, timeout=60)
    signed = client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    return client, signed.json()["csrf_token"]


def test_the_comment_budget_holds_across_two_serve_processes(
    servers: tuple[list[str], int], database_url: str
) -> None:
    bases, item_id = servers
    # One reader, signed in on each process (from two addresses: only the account's
    # budget, 3 an hour from [limits], can refuse), posting on one, then the other.
    clients = [_signed_in(base, "ann@example.org", f"10.9.{n}.1") for n, base in enumerate(bases)]
    statuses = []
    for n in range(5):
        client, token = clients[n % 2]
        answer = client.post(
            f"/api/v1/channels/news/items/{item_id}/comments",
            json={"body": f"Comment {n}: the pier should be longer."},
            headers={"x-csrf-token": token},
        )
        statuses.append(answer.status_code)
        last = answer
    assert statuses == [201, 201, 201, 429, 429]
    assert "You are posting comments too often" in last.json()["detail"]
    assert 0 < int(last.headers["retry-after"]) <= 3600  # when the hour's budget renews
    # Another reader still may.
    other, token = _signed_in(bases[1], "bob@example.org", "10.9.3.1")
    answer = other.post(
        f"/api/v1/channels/news/items/{item_id}/comments",
        json={"body": "Mine is fine."},
        headers={"x-csrf-token": token},
    )
    assert answer.status_code == 201
    for client in [*(c for c, _ in clients), other]:
        client.close()
    # Counted in Redis, not in the database.
    assert list(redis.Redis.from_url(REDIS_URL).scan_iter(f"{PREFIX}:budget:comment:*"))
    with Session(engine_for(database_url)) as session:
        rows = session.scalar(
            select(func.count()).select_from(SendBudget).where(SendBudget.key.like("comment:%"))
        )
        assert rows == 0


def test_password_guesses_over_two_processes_hit_the_lock_out(
    servers: tuple[list[str], int], database_url: str
) -> None:
    bases, _ = servers
    clients = [
        httpx.Client(base_url=base, headers={"x-forwarded-for": f"10.8.{n}.1"}, timeout=60)
        for n, base in enumerate(bases)
    ]

    def guess(n: int, password: str) -> httpx.Response:
        return clients[n % 2].post(
            "/api/v1/session", json={"email": "ann@example.org", "password": password}
        )

    # [limits.signin_account]: the second guess (on the other process) locks the account.
    assert [guess(n, f"guess {n}").status_code for n in range(2)] == [401, 401]
    for n in range(2):  # even the right password, on either process
        right = guess(n, PASSWORD)
        assert right.status_code == 429
        assert "password sign-in is locked for 60 minutes" in right.json()["detail"]
        assert int(right.headers["retry-after"]) > 3000
    for client in clients:
        client.close()
    with Session(engine_for(database_url)) as session:
        assert session.scalar(select(func.count()).select_from(Throttle)) == 0
