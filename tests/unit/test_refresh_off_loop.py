"""Where a unit's CPU-bound work runs: a pool's thread, or the event loop's own."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from newsline.ingest.refresh import off_loop


def test_without_a_pool_the_work_runs_on_the_loops_thread_and_lets_the_loop_run_after() -> None:
    async def main() -> tuple[int, int, list[str]]:
        order: list[str] = []

        async def other() -> None:
            order.append("other request")

        def work() -> int:
            order.append("work")
            return threading.get_ident()

        loop_thread = threading.get_ident()
        waiting = asyncio.ensure_future(other())  # ready, but the work comes first
        ran_on = await off_loop(None, work)
        order.append("after")
        await waiting
        return loop_thread, ran_on, order

    loop_thread, ran_on, order = asyncio.run(main())
    assert ran_on == loop_thread
    # The yield after the work let the loop see to what was ready before the unit went on.
    assert order == ["work", "other request", "after"]


def test_with_a_pool_the_work_runs_in_its_thread() -> None:
    async def main(pool: ThreadPoolExecutor) -> tuple[int, int]:
        return threading.get_ident(), await off_loop(pool, threading.get_ident)

    with ThreadPoolExecutor(1) as pool:
        loop_thread, ran_on = asyncio.run(main(pool))
    assert ran_on != loop_thread


def test_the_works_exception_reaches_the_unit_either_way() -> None:
    def work() -> int:
        raise ValueError("malformed")

    with ThreadPoolExecutor(1) as pool:
        for where in (None, pool):
            with pytest.raises(ValueError, match="malformed"):
                asyncio.run(off_loop(where, work))
