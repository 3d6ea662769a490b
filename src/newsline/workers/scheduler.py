"""The in-process scheduler of ``newsline serve``: pipeline passes and on-time digests.

Jobs run in the serving command's own process (not in each web worker), so with
``--workers N`` every job still runs once. Both jobs run the pipeline of
:mod:`newsline.workers.pipeline`: a full pass every ``fetch_every_seconds``, and every
minute its last two stages alone, so a digest is published on time even while a long
fetch is running. A failing job is logged and runs again at its next time.
"""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from newsline.config import Settings
from newsline.db.lease import LeaseHeld
from newsline.db.models import utcnow
from newsline.workers.pipeline import publish_and_mail, run_pass

log = logging.getLogger(__name__)


def fetch_job(settings: Settings) -> None:
    """A whole pass: refresh due feeds, extract, enrich, publish due digests, mail."""
    started = utcnow()
    try:
        report = run_pass(settings)
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
    scheduler: BaseScheduler, settings: Settings, *, first_run: datetime | None = None
) -> list[str]:
    """Add newsline's periodic jobs to `scheduler`; return their ids."""
    scheduler.add_job(
        fetch_job,
        "interval",
        seconds=settings.scheduler.fetch_every_seconds,
        args=[settings],
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


def start_scheduler(settings: Settings) -> BackgroundScheduler:
    """A started background scheduler with every job registered."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"misfire_grace_time": 60})
    ids = register_jobs(scheduler, settings)
    scheduler.start()
    log.info("scheduler started: %s", ", ".join(ids))
    return scheduler
