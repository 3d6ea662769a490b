"""One ingest run per database at a time; dead or expired holders lose the lease."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from newsline.db.engine import session_scope
from newsline.db.lease import HOST, LeaseHeld, acquire, holder_of, lease, release
from newsline.db.models import Lease, utcnow
from newsline.workers.pipeline import run_pass

pytestmark = pytest.mark.postgres


def test_second_holder_is_refused_until_release(database_url: str) -> None:
    first = acquire(database_url, "job", timedelta(minutes=5))
    assert first is not None
    assert acquire(database_url, "job", timedelta(minutes=5)) is None
    assert holder_of(database_url, "job") == first
    release(database_url, "job", first)
    second = acquire(database_url, "job", timedelta(minutes=5))
    assert second is not None and second != first


def test_expired_lease_is_taken_over(database_url: str) -> None:
    first = acquire(database_url, "job", timedelta(minutes=5))
    assert first is not None
    with session_scope(database_url) as s:
        s.execute(update(Lease).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert acquire(database_url, "job", timedelta(minutes=5)) not in (None, first)


def test_lease_of_a_dead_process_is_taken_over(database_url: str) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    with session_scope(database_url) as s:
        s.add(
            Lease(
                name="job",
                holder=f"{HOST}:{gone.stdout.strip()}:dead",
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
    assert acquire(database_url, "job", timedelta(minutes=5)) is not None


def test_a_fetch_while_another_runs_is_refused_with_a_reason(make_settings: Any) -> None:
    settings = make_settings()
    with lease(settings.database_url, "ingest"), pytest.raises(LeaseHeld, match="running ingest"):
        run_pass(settings, enrich=False, publish=False)
    assert run_pass(settings, enrich=False, publish=False).feeds_checked == 0
