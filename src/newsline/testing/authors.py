"""Many readers posting comments at once through the JSON API, for the crash test and the
comments benchmark: each author (``author<N>@example.org``, already made) signs in from an
address of its own (``X-Forwarded-For``, believed from the loopback proxy: budgets are per
IP), then all post on one item together, each until told to stop or ``per_author`` times.
What the server acknowledged (201, comment id -> body) is kept to be checked against the
database afterwards."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter

import httpx

log = logging.getLogger(__name__)

PASSWORD = "harbour lights at dusk 1987"


class Authors:
    """`count` signed-in authors posting on `item_id` of `channel` at `base` at once."""

    def __init__(
        self,
        base: str,
        item_id: int,
        count: int,
        *,
        text: str = "the pier should be longer.",
        per_author: int | None = None,
        password: str = PASSWORD,
        channel: str = "news",
    ) -> None:
        self.base = base
        self.path = f"/api/v1/channels/{channel}/items/{item_id}/comments"
        self.count = count
        self.text = text
        self.per_author = per_author
        self.password = password
        self.acknowledged: dict[int, str] = {}  # comment id -> body, each answered 201
        self.statuses: Counter[int] = Counter()  # every answer's status
        self.errors: list[str] = []  # answers other than 201, and transport failures
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: list[tuple[httpx.Client, str]] = []
        self._threads: list[threading.Thread] = []
        self._ready = threading.Barrier(count + 1)
        self.started = 0.0

    def sign_in(self) -> None:
        """Sign every author in, one after the other (argon2 is slow on purpose)."""
        for n in range(self.count):
            client = httpx.Client(
                base_url=self.base,
                headers={"x-forwarded-for": f"10.1.{n // 200}.{n % 200 + 1}"},
                timeout=60,
            )
            response = client.post(
                "/api/v1/session",
                json={"email": f"author{n}@example.org", "password": self.password},
            )
            response.raise_for_status()
            self._clients.append((client, response.json()["csrf_token"]))

    def start(self) -> None:
        """Let every author post at once (signing them in first if not yet done)."""
        if not self._clients:
            self.sign_in()
        self._threads = [
            threading.Thread(target=self._post, args=(n, client, token), daemon=True)
            for n, (client, token) in enumerate(self._clients)
        ]
        for thread in self._threads:
            thread.start()
        self._ready.wait()
        self.started = time.perf_counter()

    def wait(self, timeout: float | None = None) -> float:
        """Wait for the authors to finish (or stop); the seconds since they started."""
        for thread in self._threads:
            thread.join(timeout)
        elapsed = time.perf_counter() - self.started
        for client, _ in self._clients:
            client.close()
        if self.errors:
            log.warning("first errors: %s", self.errors[:3])
        return elapsed

    def _post(self, n: int, client: httpx.Client, token: str) -> None:
        self._ready.wait()
        rounds = range(self.per_author) if self.per_author is not None else itertools.count()
        for k in rounds:
            if self.stop.is_set():
                return
            body = f"Comment {k} by author {n}: {self.text}"
            try:
                response = client.post(
                    self.path, json={"body": body}, headers={"x-csrf-token": token}
                )
            except httpx.HTTPError as exc:
                with self._lock:
                    self.errors.append(repr(exc))
                if self.per_author is None:
                    return  # posting until stopped: the server is gone
                continue
            with self._lock:
                self.statuses[response.status_code] += 1
                if response.status_code == 201:
                    self.acknowledged[response.json()["id"]] = body
                else:
                    self.errors.append(f"{response.status_code} {response.text[:100]}")


def post_comments(
    base: str, item_id: int, authors: int, per_author: int, text: str = "the pier should be longer."
) -> tuple[float, int, dict[int, str]]:
    """`authors` authors post `per_author` comments each at once: seconds taken, errors,
    and the acknowledged comments (id -> body)."""
    crowd = Authors(base, item_id, authors, text=text, per_author=per_author)
    crowd.start()
    elapsed = crowd.wait()
    return elapsed, len(crowd.errors), crowd.acknowledged
