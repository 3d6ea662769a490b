"""Exactly one digest per channel and slot, even when two processes race for it."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from newsline.config import Settings, load_settings
from newsline.db.engine import session_scope
from newsline.db.models import Digest, Item
from newsline.publish.digest import (
    channel_settings,
    compose_digest,
    run_digest,
    slot_containing,
    store_digest,
)
from tests.support.digest_seed import Seeder

SLOT = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)


def _compose_then_store(url: str, data_dir: str, barrier: Any, out: Any) -> None:
    """Child process: compose, wait until the other one has composed too, then store."""
    settings = load_settings(None, database_url=url, data_dir=data_dir)
    cfg = channel_settings(settings, "news")
    with session_scope(url) as session:
        composed = compose_digest(session, settings, cfg, slot_containing(SLOT, cfg.zone))
    barrier.wait(timeout=60)  # both have composed: both will try to insert
    out.put(store_digest(settings, composed).status)


def _run(url: str, data_dir: str, barrier: Any, out: Any) -> None:
    settings = load_settings(None, database_url=url, data_dir=data_dir)
    barrier.wait(timeout=60)
    out.put(run_digest(settings, "news", at=SLOT + timedelta(minutes=1)).status)


def _race(target: Callable[..., None], settings: Settings) -> list[str]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    out = ctx.Queue()
    args = (settings.database_url, str(settings.data_dir), barrier, out)
    procs = [ctx.Process(target=target, args=args) for _ in range(2)]
    for p in procs:
        p.start()
    statuses = sorted(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return statuses


def _rows(url: str) -> tuple[int, int]:
    with session_scope(url) as s:
        digests = s.scalar(select(func.count()).select_from(Digest)) or 0
        items = s.scalar(
            select(func.count()).select_from(Item).where(Item.guid.like("the-digest-%"))
        )
    return digests, items or 0


@pytest.fixture
def seeded(make_settings: Callable[..., Settings]) -> Settings:
    settings = make_settings()
    seed = Seeder(settings)
    for n in range(30):
        seed.item(f"pub{n % 4}", SLOT - timedelta(minutes=29) + timedelta(seconds=n * 30))
    return settings


@pytest.mark.postgres
def test_two_processes_that_both_composed_store_one_digest(seeded: Settings) -> None:
    statuses = _race(_compose_then_store, seeded)
    assert statuses == ["exists", "published"]
    assert _rows(seeded.database_url) == (1, 1)


@pytest.mark.postgres
def test_two_processes_running_the_same_slot_publish_once(seeded: Settings) -> None:
    statuses = _race(_run, seeded)
    assert statuses == ["exists", "published"]
    assert _rows(seeded.database_url) == (1, 1)


@pytest.mark.postgres
def test_the_database_itself_refuses_a_second_digest_for_a_slot(seeded: Settings) -> None:
    run_digest(seeded, "news", at=SLOT)
    with pytest.raises(IntegrityError), session_scope(seeded.database_url) as s:
        first = s.scalars(select(Digest)).one()
        s.add(Digest(channel_id=first.channel_id, slot_at=first.slot_at, window_start=SLOT))
        s.flush()
