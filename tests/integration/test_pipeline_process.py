"""``newsline serve`` runs pipeline passes in a process of their own at a lower CPU priority
(issue 16, "Load"): a pass must not hold the web server's GIL or starve its workers.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest

from newsline.db.lease import acquire, release
from newsline.workers import scheduler as sched
from newsline.workers.pipeline import PassReport


def test_functions_run_in_another_process_at_lower_priority() -> None:
    pipeline = sched.PipelineProcess()
    assert pipeline.run(os.getpid) != os.getpid()
    assert pipeline.run(os.nice, 0) == min(os.nice(0) + sched.PIPELINE_NICE, 19)
    with pytest.raises(ValueError, match="invalid literal"):
        pipeline.run(int, "not a number")
    # a process that dies without answering is an error of the job, and the next one runs
    with pytest.raises(sched.PipelineDied, match="exit code 3"):
        pipeline.run(os._exit, 3)
    assert pipeline.run(sum, [1, 2, 3]) == 6
    pipeline.stop()
    with pytest.raises(sched.PipelineDied, match="stopped"):
        pipeline.run(os.getpid)


def test_a_pass_runs_in_the_pipeline_process(
    make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings()
    pipeline = sched.PipelineProcess()
    report = pipeline.run_pass(settings)
    assert isinstance(report, PassReport) and report.feeds_checked == 0
    # the lease taken in the pipeline process is honoured like any other: held here, the
    # pass there is skipped (LeaseHeld crosses the process boundary)
    holder = acquire(settings.database_url, "ingest", timedelta(minutes=5))
    assert holder is not None
    try:
        with caplog.at_level("INFO", logger="newsline.workers.scheduler"):
            sched.fetch_job(settings, pipeline.run_pass)
        assert "fetch skipped" in caplog.text
    finally:
        release(settings.database_url, "ingest", holder)
    caplog.clear()
    with caplog.at_level("INFO", logger="newsline.workers.scheduler"):
        sched.fetch_job(settings, pipeline.run_pass)
    assert "0 feeds checked" in caplog.text


def test_serve_schedules_passes_in_the_pipeline_process(make_settings: Any) -> None:
    settings = make_settings(scheduler={"fetch_every_seconds": 3600})
    jobs = sched.start_scheduler(settings)
    try:
        assert isinstance(jobs.pipeline, sched.PipelineProcess)
        fetch = jobs.scheduler.get_job("fetch")
        assert fetch is not None and fetch.args[1] == jobs.pipeline.run_pass
    finally:
        jobs.shutdown()
    inline = sched.start_scheduler(settings, separate_process=False)
    try:
        assert inline.pipeline is None
    finally:
        inline.shutdown()
