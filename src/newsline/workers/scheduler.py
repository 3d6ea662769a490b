"""The in-process scheduler of ``newsline serve``: pipeline passes and on-time digests.

Jobs are started by the serving command's own process (not by each web worker), so with
``--workers N`` every job still runs once. Both jobs run the pipeline of
:mod:`newsline.workers.pipeline`: a full pass every ``fetch_every_seconds``, and every
minute its last two stages alone, so a digest is published on time even while a long
fetch is running. A failing job is logged and runs again at its next time.

A full pass (fetching, extraction, enrichment: seconds of CPU) runs in a process of its
own at a lower CPU priority (:class:`PipelineProcess`, ``nice`` +10), so it neither holds
the web server's GIL (``--workers 1`` serves from this very process) nor takes CPU from
the web workers while readers are waiting: under load, readers' p99 stays what it is
idle (docs/benchmarks.md, "Web under load"). The digest job is light and stays in-process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from newsline.config import Settings
from newsline.db.lease import LeaseHeld
from newsline.db.models import utcnow
from newsline.errors import NewslineError
from newsline.workers.pipeline import PassReport, publish_and_mail, run_pass

log = logging.getLogger(__name__)

#: How much lower the pipeline process's CPU priority is than the web server's.
PIPELINE_NICE = 10
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

T = TypeVar("T")


class PipelineDied(NewslineError):
    """The pipeline process ended without an answer (killed, out of memory)."""


def _in_child(
    func: Callable[..., Any], args: tuple[Any, ...], nice: int, level: int, conn: Connection
) -> None:
    """Body of the pipeline process: lower priority, log like the parent, run, answer."""
    os.nice(nice)
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    try:
        outcome: Any = func(*args)
    except Exception as exc:  # sent to the parent, which logs it as the job's failure
        if not isinstance(exc, NewslineError):
            log.exception("pipeline process: %s failed", getattr(func, "__name__", func))
        outcome = exc
    try:
        conn.send(outcome)
    except Exception as exc:  # an answer that does not pickle: say what it was
        conn.send(RuntimeError(f"{type(outcome).__name__}: {outcome} ({exc})"))
    conn.close()


class PipelineProcess:
    """Runs functions (pipeline passes) each in a fresh process at a lower CPU priority."""

    def __init__(self, nice: int = PIPELINE_NICE) -> None:
        self.nice = nice
        self._lock = threading.Lock()
        self._current: BaseProcess | None = None
        self._stopped = False

    def run(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` in a new process (spawned: no state shared with the web server);
        its exception is raised here."""
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=False)
        process = context.Process(
            target=_in_child,
            args=(func, args, self.nice, logging.getLogger().getEffectiveLevel(), theirs),
            name="newsline-pipeline",
        )
        with self._lock:
            if self._stopped:
                raise PipelineDied("the pipeline process is stopped (shutting down)")
            process.start()
            self._current = process
        theirs.close()
        try:
            outcome = ours.recv()
        except EOFError:
            process.join()
            raise PipelineDied(
                f"the pipeline process ended with exit code {process.exitcode} and no answer"
            ) from None
        finally:
            ours.close()
            with self._lock:
                self._current = None
        process.join()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def run_pass(self, settings: Settings) -> PassReport:
        """A whole pipeline pass (:func:`run_pass`) in the pipeline process."""
        return self.run(run_pass, settings)

    def stop(self) -> None:
        """End a running pass (on shutdown) and start no more. Its work is safe to cut:
        every stage is idempotent and commits per feed and per item."""
        with self._lock:
            self._stopped = True
            process = self._current
        if process is not None and process.is_alive():
            process.terminate()
            process.join(10)
            if process.is_alive():
                process.kill()


def fetch_job(settings: Settings, runner: Callable[[Settings], PassReport] | None = None) -> None:
    """A whole pass: refresh due feeds, extract, enrich, publish due digests, mail.

    `runner` runs the pass (:meth:`PipelineProcess.run_pass` under ``newsline serve``);
    by default, in this thread."""
    started = utcnow()
    try:
        report = (runner or run_pass)(settings)
    except LeaseHeld as exc:
        log.info("fetch skipped: %s", exc)
        return
    except Exception:  # the scheduler must survive any failure; the next run retries
        log.exception("fetch pass failed")
        return
    seconds = (utcnow() - started).total_seconds()
    log.info("fetch finished in %.1f s: %s", seconds, report.summary())


def digest_job(settings: Settings) -> None:
    """Publish each channel's digest once its slot is due, then mail subscribers."""
    try:
        publish_and_mail(settings)
    except Exception:  # the scheduler must survive any failure; the next minute retries
        log.exception("digest job failed")


def register_jobs(
    scheduler: BaseScheduler,
    settings: Settings,
    *,
    first_run: datetime | None = None,
    runner: Callable[[Settings], PassReport] | None = None,
) -> list[str]:
    """Add newsline's periodic jobs to `scheduler`; return their ids. `runner` runs the
    fetch job's passes (see :func:`fetch_job`)."""
    scheduler.add_job(
        fetch_job,
        "interval",
        seconds=settings.scheduler.fetch_every_seconds,
        args=[settings, runner],
        id="fetch",
        name="fetch feeds and pages, enrich, publish and mail due digests",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
        next_run_time=first_run or utcnow(),
    )
    scheduler.add_job(
        digest_job,
        "interval",
        seconds=60,
        args=[settings],
        id="digest",
        name="publish due digests and mail them",
        max_instances=1,
        coalesce=True,
        replace_existing=True,
        next_run_time=first_run or utcnow(),
    )
    return ["fetch", "digest"]


class Jobs:
    """The started scheduler of ``newsline serve`` and its pipeline process."""

    def __init__(self, scheduler: BackgroundScheduler, pipeline: PipelineProcess | None) -> None:
        self.scheduler = scheduler
        self.pipeline = pipeline

    def shutdown(self, wait: bool = False) -> None:
        """Stop scheduling and end a running pass."""
        if self.pipeline is not None:
            self.pipeline.stop()
        self.scheduler.shutdown(wait=wait)


def start_scheduler(settings: Settings, *, separate_process: bool = True) -> Jobs:
    """A started background scheduler with every job registered; full passes run in a
    :class:`PipelineProcess` unless `separate_process` is false."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"misfire_grace_time": 60})
    if settings.queue_url:
        # Distributed mode: `newsline scheduler` enqueues the pipeline's units and workers
        # run them; the site only serves.
        scheduler.start()
        log.info("distributed mode: no pipeline jobs here (`newsline scheduler` runs them)")
        return Jobs(scheduler, None)
    pipeline = PipelineProcess() if separate_process else None
    ids = register_jobs(
        scheduler, settings, runner=pipeline.run_pass if pipeline is not None else None
    )
    scheduler.start()
    log.info(
        "scheduler started: %s%s",
        ", ".join(ids),
        f" (passes in a process at nice +{pipeline.nice})" if pipeline is not None else "",
    )
    return Jobs(scheduler, pipeline)
