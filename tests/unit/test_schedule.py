"""Adaptive refresh intervals and failure back-off."""

from __future__ import annotations

from datetime import timedelta

from newsline.config import FetchSettings
from newsline.db.models import Feed, utcnow
from newsline.ingest.fetch import HTTPStatusError
from newsline.ingest.store import failure_delay, next_interval

S = FetchSettings(min_interval=300, max_interval=86400)


def test_busy_feed_is_polled_often_quiet_feed_rarely() -> None:
    now = utcnow()
    busy = [now - timedelta(minutes=10 * k) for k in range(20)]  # every 10 minutes
    quiet = [now - timedelta(days=3 * k) for k in range(5)]  # every 3 days
    assert next_interval(busy, 3, 3600, S) == 300  # half of 10 min, clamped to the minimum
    assert next_interval(quiet, 0, 3600, S) == 86400  # clamped to the maximum
    hourly = [now - timedelta(hours=k) for k in range(10)]
    assert 1700 <= next_interval(hourly, 1, 3600, S) <= 1900


def test_feed_that_went_silent_slows_down() -> None:
    now = utcnow()
    old_burst = [now - timedelta(days=10, minutes=k) for k in range(10)]
    assert next_interval(old_burst, 0, 300, S) > 6 * 3600


def test_without_dates_news_speeds_up_and_silence_backs_off() -> None:
    assert next_interval([], 5, 3600, S) == 1800
    assert next_interval([], 0, 3600, S) == 5400
    assert next_interval([], 0, 80000, S) == 86400


def test_failures_back_off_exponentially_and_honour_retry_after() -> None:
    feed = Feed(url="https://x.example/f", interval_seconds=600, consecutive_failures=0)
    delays = []
    for failures in range(5):
        feed.consecutive_failures = failures
        delays.append(failure_delay(feed, RuntimeError("x"), S))
    assert delays == [600, 1200, 2400, 4800, 9600]
    feed.consecutive_failures = 30
    assert failure_delay(feed, RuntimeError("x"), S) == 86400
    feed.consecutive_failures = 0
    limited = HTTPStatusError("https://x.example/f", 429, retry_after=7200)
    assert failure_delay(feed, limited, S) == 7200
