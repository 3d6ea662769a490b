"""Rate limits in distributed mode are counted in Redis and hold across two
``newsline serve --workers 2`` processes on one redis-server (and one PostgreSQL): password
guesses spread over both processes hit the back-off and lock-out set in ``[limits]``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
from newsline.db.models import Throttle
from tests.support.ports import free_port, wait_for_port
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
lock_at = 3
backoff_seconds = 1
max_backoff_seconds = 1
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
        for port, proc in zip(ports, procs, strict=True):
            wait_for_port(port, proc)
        yield bases, item_id
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{PREFIX}:*"):
            client.delete(key)
        client.close()


def _signed_in(base: str, email: str, ip: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, headers={"x-forwarded-for": ip}, timeout=60)
    signed = client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    return client, signed.json()["csrf_token"]


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

    # [limits.signin_account]: two free guesses, then a 1 s wait, the third locks.
    assert [guess(n, f"guess {n}").status_code for n in range(2)] == [401, 401]
    waiting = guess(2, "guess 2")
    assert waiting.status_code == 429 and "please wait 1 second" in waiting.json()["detail"]
    # Wait as asked (Retry-After), then the third guess is counted and locks the account.
    time.sleep(int(waiting.headers["retry-after"]))
    third = guess(3, "guess 3")
    assert third.status_code == 401
    right = guess(4, PASSWORD)  # even the right password, on the other process
    assert right.status_code == 429
    assert "password sign-in is locked for 60 minutes" in right.json()["detail"]
    for client in clients:
        client.close()
    with Session(engine_for(database_url)) as session:
        assert session.scalar(select(func.count()).select_from(Throttle)) == 0
