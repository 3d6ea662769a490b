"""Web throughput: the site under `uvicorn --workers 2` vs nginx serving the same bytes.

With 100,000 items in SQLite (generated here, grouped into stories of 1-5 items as the
site shows them since issue 12), measures requests/s and p50/p99 latency for the front
page, an item page, a story page and the channel's RSS feed, with wrk (50 connections, a
separate process) against:

1. nginx serving the very same responses as static files (the reference);
2. the app alone: `newsline serve --workers 2 --no-scheduler`;
3. the app behind the shipped `deploy/nginx.conf` (reverse proxy + 2 s micro-cache).

Prints a table with each figure's ratio to the reference. The front page is also measured
as a signed-in reader sees it (wrk sends their session cookie; the account, its session and
its choices are made in the bench database): a page that is theirs alone, which no shared
cache (the render cache, nginx's) serves, so it is rendered on every request.

    .venv/bin/python bench/web.py [--items 100000] [--duration 10] [--rounds 3]

With ``--load``, it measures readers under load instead (issue 16): the front page with
wrk (``--connections``, 200 in the issue), idle and while a real pipeline pass runs (a
separate process looping ``run_pass`` over a replay corpus served by another process), the
pass once at the web server's CPU priority (as before) and once at ``nice +10`` (as
``newsline serve`` runs it now); each with the plain URL and with a random ``?x=`` query
per request (cache-busting), for the app alone, the app with its render cache off (what a
cache-busting request cost before the cache keys ignored unknown parameters) and the app
behind deploy/nginx.conf.

    .venv/bin/python bench/web.py --load --items 20000 --connections 200 --duration 5 --rounds 1

"app, render cache off" is the same app with ``web.render_cache_seconds = 0``: every
request renders (SQLite queries + Jinja2).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from procs import cpu_of, machine_busy, stop_group
from wrk import UA, Result, median, wrk

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"
STATIC = ROOT / "src" / "newsline" / "web" / "static"
WORDS = [
    "harbor",
    "council",
    "river",
    "bridge",
    "school",
    "market",
    "winter",
    "budget",
    "ferry",
    "library",
    "county",
    "road",
    "festival",
    "lighthouse",
    "station",
    "mayor",
    "vote",
    "plan",
    "tower",
    "park",
    "rail",
    "storm",
    "field",
    "museum",
    "clinic",
    "farm",
    "mill",
    "court",
    "police",
    "fire",
    "water",
    "power",
    "wind",
    "solar",
    "trade",
    "port",
    "union",
    "board",
    "street",
]
CONFIG = """\
database_url = "sqlite:///{db}"
log_level = "WARNING"

[web]
base_url = "http://127.0.0.1:{port}"
proxy_adds_security_headers = true  # as deploy/nginx.conf asks (it adds them)

[scheduler]
enabled = false

[[channels]]
slug = "bench"
display_name = "The Bench Daily"
hometown = "Remer,MN"
timezone = "America/Chicago"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


def sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def generate(db: Path, config: Path, items: int) -> str:
    """Migrate, create the channel, then bulk-insert publications, feeds and items."""
    from newsline.config import load_settings
    from newsline.db.channels import sync_channels
    from newsline.db.engine import dispose_all, session_scope
    from newsline.db.migrate import upgrade

    settings = load_settings(config)
    upgrade(settings.database_url)
    rng = random.Random(42)
    conn = sqlite3.connect(db)
    now = datetime.now(UTC).replace(tzinfo=None)
    stamp = now.isoformat(sep=" ")
    pubs = []
    for n in range(40):
        tag = f"pub{n}"
        conn.execute(
            "INSERT INTO publication (tag, name, home_url, icon_url, republish, is_channel_own, "
            "created_at) VALUES (?, ?, ?, NULL, ?, 0, ?)",
            (
                tag,
                f"Publication {n} Gazette",
                f"https://{tag}.example.org",
                "full" if n % 2 == 0 else "teaser",
                stamp,
            ),
        )
        pid = conn.execute("SELECT id FROM publication WHERE tag = ?", (tag,)).fetchone()[0]
        conn.execute(
            "INSERT INTO feed (publication_id, url, status, consecutive_failures, "
            "interval_seconds, entries_seen) VALUES (?, ?, 'ok', 0, 3600, 0)",
            (pid, f"https://{tag}.example.org/rss"),
        )
        pubs.append((pid, tag))
    conn.commit()
    conn.close()
    with session_scope(settings.database_url) as session:
        channel_id = sync_channels(session, settings)["bench"].id
    dispose_all()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    hashtags = [h.tag for h in settings.channels[0].hashtags]
    rows = []
    tags = []
    for i in range(1, items + 1):
        pid, tag = pubs[i % len(pubs)]
        when = (now - timedelta(seconds=i * 37)).isoformat(sep=" ")
        title = sentence(rng, rng.randint(6, 12))[:-1]
        paragraphs = [sentence(rng, rng.randint(25, 45)) for _ in range(rng.randint(4, 8))]
        body_html = "".join(f"<p>{p}</p>" for p in paragraphs)
        rows.append(
            (
                i,
                pid,
                f"g{i}",
                f"https://{tag}.example.org/a/{i}",
                f"https://{tag}.example.org/a/{i}",
                f"https://{tag}.example.org/a/{i}",
                "ready",
                0,
                title,
                f"Writer {i % 97}",
                when,
                when,
                when,
                f"Publication {pid} Gazette",
                f"https://img.example.org/{i}.jpg",
                "A caption for the picture.",
                paragraphs[0][:280],
                None,
                body_html,
                "\n\n".join(paragraphs),
                "en",
                f"item-{i}",
                "{}",
            )
        )
        tags.append((i, channel_id, hashtags[i % len(hashtags)], 0, 1.0, "auto"))
    conn.executemany(
        "INSERT INTO item (id, publication_id, guid, url, canonical_url, link, state, attempts, "
        "title, author, published_at, first_seen_at, sort_at, site_name, image_url, "
        "image_caption, teaser, summary, body_html, body_text, language, slug, extra) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO item_hashtag (item_id, channel_id, hashtag, rank, score, source) "
        "VALUES (?,?,?,?,?,?)",
        tags,
    )
    # Stories (issue 12): runs of consecutive items (different publications) cover one
    # event; sizes 1-5, as the demo's publishers do. One item in 50 of a story is a stored
    # near-duplicate of its story's first item.
    stories, members, copies = [], [], []
    i, story_id = 1, 0
    while i <= items:
        size = min(rng.choice((1, 1, 1, 2, 2, 3, 4, 5)), items - i + 1)
        story_id += 1
        first_when = (now - timedelta(seconds=(i + size - 1) * 37)).isoformat(sep=" ")
        last_when = (now - timedelta(seconds=i * 37)).isoformat(sep=" ")
        stories.append(
            (story_id, f"s{story_id}", f"Story {story_id}", first_when, last_when, size, size)
        )
        for n in range(i, i + size):
            members.append((story_id, n))
            if n != i and n % 50 == 0:
                copies.append((i, n))
        i += size
    conn.executemany(
        "INSERT INTO story (id, key, title, first_seen_at, updated_at, item_count, "
        "publication_count) VALUES (?,?,?,?,?,?,?)",
        stories,
    )
    conn.executemany("UPDATE item SET story_id = ? WHERE id = ?", members)
    conn.executemany("UPDATE item SET near_duplicate_of_id = ? WHERE id = ?", copies)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return settings.database_url


# A fresh random query string on every request: each one a new URL to a cache.
BUSTER_LUA = """\
math.randomseed(os.time())
request = function()
  return wrk.format("GET", wrk.path .. "?x=" .. math.random(1, 2000000000))
end
"""


# The main context both nginx instances share. `pcre_jit on` is what deploy/nginx.conf
# asks operators to set in their main context (the static reference runs no regex).
NGINX_MAIN = """\
worker_processes 2;
pcre_jit on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    types {{ application/rss+xml xml; text/html html; }}
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{body}
}}
"""


def start_nginx(folder: Path, body: str) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_MAIN.format(dir=folder, body=body), encoding="utf-8")
    user = "" if os.geteuid() != 0 else "user root;\n"
    if user:
        conf.write_text(user + conf.read_text(encoding="utf-8"), encoding="utf-8")
    return subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def deploy_conf(listen: int, app_port: int, cache: Path) -> str:
    """The shipped deploy/nginx.conf with this run's ports and folders.

    Its TLS server is measured as plain HTTP on `listen` (the figures are about caching,
    not TLS; wrk keeps its connections, so handshakes would barely count), with a
    throwaway certificate (trustme) so nginx starts; the redirecting port-80 server gets a
    port of its own."""
    import trustme

    folder = cache.parent / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    (folder / "fullchain.pem").write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(folder / "privkey.pem"))
    ca.cert_pem.write_to_path(str(folder / "chain.pem"))
    text = DEPLOY_CONF.read_text(encoding="utf-8")
    replacements = {
        "/var/cache/nginx/newsline": str(cache),
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "listen 80;": f"listen 127.0.0.1:{free_port()};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{listen};",
        "/etc/ssl/newsline/": f"{folder}/",
        "/opt/newsline/src/newsline/web/static/": f"{STATIC}/",
    }
    for old, new in replacements.items():
        if old not in text:
            raise SystemExit(f"deploy/nginx.conf no longer contains {old!r}; update bench/web.py")
        text = text.replace(old, new)
    return text


def start_app(config: Path, port: int, log: Path, cache: bool) -> subprocess.Popen[bytes]:
    """`newsline serve --workers 2` on `port`; `cache=False` turns the render cache off."""
    env = {**os.environ, "NEWSLINE_CONFIG": str(config)}
    if not cache:
        env["NEWSLINE_WEB__RENDER_CACHE_SECONDS"] = "0"
    command = [
        sys.executable,
        "-m",
        "newsline.cli",
        "--config",
        str(config),
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        "--no-scheduler",
    ]
    return subprocess.Popen(
        command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


BARE_APP = """\
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

FILES = {{p.name: p.read_bytes() for p in Path({static!r}).iterdir()}}
app = FastAPI()


@app.get("/{{name}}")
async def bare(name: str) -> Response:
    return Response(FILES[name], media_type="text/html")
"""


CORPORA = Path(os.environ.get("NEWS_CORPORA", ROOT.parent / "shared" / "corpora"))


def fetch_worker(corpus: Path, work: Path, nice: int) -> None:
    """``--fetch-worker``: real pipeline passes (fetch, extract, enrich) over the replay
    corpus, each into a fresh database, until killed; at CPU priority +`nice`."""
    from newsline.config import load_settings
    from newsline.db.engine import dispose_all, session_scope
    from newsline.db.migrate import upgrade
    from newsline.ingest.publications import add_publication
    from newsline.testing.corpus import read_manifest
    from newsline.workers.pipeline import run_pass

    os.nice(nice)
    feeds = [e.url for e in read_manifest(corpus) if e.extra.get("generated")]
    for n in range(1, 1_000_000):
        db = f"sqlite:///{work / f'fetch-{n}.db'}"
        upgrade(db)
        settings = load_settings(
            None,
            database_url=db,
            fetch={
                "connect_to": os.environ["NEWSLINE_FETCH__CONNECT_TO"],
                "ca_bundle": os.environ["NEWSLINE_FETCH__CA_BUNDLE"],
                "min_host_delay": 0.0,
                "retries": 0,
            },
        )
        with session_scope(db) as session:
            for url in feeds:
                add_publication(session, settings, url)
        started = time.monotonic()
        report = run_pass(settings, force=True, publish=False)
        print(
            f"pass {n}: {report.items_ready} items in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        dispose_all()


class FetchRunning:
    """A replay server process and a `fetch_worker` process beside it (at `nice`)."""

    def __init__(self, corpus: Path, work: Path, nice: int) -> None:
        self.corpus, self.work, self.nice = corpus, work, nice
        self.procs: list[subprocess.Popen[str]] = []

    def __enter__(self) -> FetchRunning:
        replay = subprocess.Popen(
            [sys.executable, "-m", "newsline.cli", "replay", "serve", str(self.corpus)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.procs.append(replay)
        assert replay.stdout is not None
        env = dict(os.environ)
        for _ in range(2):
            name, _, value = replay.stdout.readline().strip().partition("=")
            env[name] = value
        self.work.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, __file__, "--fetch-worker", str(self.corpus), "--work"]
        worker = subprocess.Popen(
            [*command, str(self.work), "--nice", str(self.nice)],
            env=env,
            stdout=(self.work / "fetch.log").open("w"),
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.procs.append(worker)
        time.sleep(3)  # imports done, the first pass under way
        if worker.poll() is not None:
            raise SystemExit(f"the fetch worker died: see {self.work / 'fetch.log'}")
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            stop_group(proc)  # type: ignore[arg-type]

    def items_stored(self) -> int:
        """Items the fetch stored meanwhile (proof that it really ran)."""
        total = 0
        for db in self.work.glob("fetch-*.db"):
            with sqlite3.connect(db) as conn:
                total += conn.execute("SELECT count(*) FROM item").fetchone()[0]
        return total


def load_bench(
    args: argparse.Namespace, work: Path, urls: dict[str, tuple[str, bool]], corpus: Path
) -> list[tuple[str, str, str, Result]]:
    """Front page under `args.connections` connections: idle / during a fetch at the web
    server's priority / during a fetch at nice +10, plain and cache-busting."""
    buster = work / "buster.lua"
    buster.write_text(BUSTER_LUA, encoding="utf-8")
    rows = []
    for phase, nice in (("idle", None), ("fetch, nice 0", 0), ("fetch, nice +10", 10)):
        samples: dict[tuple[str, str], list[Result]] = {}
        for n in range(args.rounds):
            running = (
                FetchRunning(corpus, work / f"fetch-{nice}-{n}", nice) if nice is not None else None
            )
            if running is not None:
                running.__enter__()
            try:
                for label, (url, bust) in urls.items():
                    queries = [("plain", None)] + ([("?x=random", buster)] if bust else [])
                    for query, script in queries:
                        wrk(url, 1, args.connections, args.threads, script, 10)  # warm-up
                        # 10 s: a slow answer counts as slow, not as a wrk timeout
                        result = wrk(url, args.duration, args.connections, args.threads, script, 10)
                        samples.setdefault((label, query), []).append(result)
            finally:
                if running is not None:
                    running.__exit__()
                    print(f"  ({phase}: the fetch stored {running.items_stored()} items)")
        for (label, query), found in samples.items():
            result = median(found)
            rows.append((phase, label, query, result))
            print(
                f"  {phase:16} {label:30} {query:10} {result.rps:8.0f} req/s  "
                f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                flush=True,
            )
    return rows


def load_corpus(work: Path) -> Path:
    """The replay corpus of the fetch: bench/ingest.py's (the articles corpus) if present,
    else the bundled demo publishers."""
    corpus = work / "corpus"
    if (CORPORA / "articles").is_dir():
        from newsline.testing.build import build_corpus

        source = work / "source"
        source.mkdir()
        (source / "articles").symlink_to(CORPORA / "articles")
        build_corpus(source, corpus)
    else:
        from newsline.testing.democorpus import write_demo_corpus

        write_demo_corpus(corpus)
    return corpus


#: The signed-in reader's choices (bench/web.py's own reader): one publication switched off,
#: two hashtags followed, so that their front page is theirs alone (the render cache never
#: serves it), with a "For you" band.
READER_HIDDEN = "pub7"
READER_FOLLOWS = 2


def signed_in_cookie(config: Path) -> str:
    """A signed-in reader of the bench database, made here: an account and a live session
    (its Cookie header value, ``nl_sid=S....``), with choices of their own."""
    import secrets

    from sqlalchemy import select

    from newsline.community import accounts, preferences
    from newsline.config import load_settings
    from newsline.db.engine import session_scope
    from newsline.db.models import Channel, Publication

    settings = load_settings(config)
    sid = "S." + secrets.token_urlsafe(32)
    with session_scope(settings.database_url) as session:
        user = accounts.create_user(
            session, f"reader-{secrets.token_hex(4)}@bench.example.org", None, verified=True
        )
        accounts.start_session(session, user, sid)
        channel_id = session.scalar(select(Channel.id).where(Channel.slug == "bench"))
        assert channel_id is not None
        hidden = session.scalar(select(Publication.id).where(Publication.tag == READER_HIDDEN))
        assert hidden is not None
        allowed = session.scalars(select(Publication.id)).all()
        preferences.set_hidden_publications(session, user.id, channel_id, [hidden], allowed)
        tags = [h.tag for h in settings.channels[0].hashtags]
        preferences.set_followed_hashtags(session, user.id, channel_id, tags[:READER_FOLLOWS], tags)
    return f"nl_sid={sid}"


def cpu_per_request(
    config: Path, paths: dict[str, str | tuple[str, str]], requests: int
) -> dict[str, tuple[float, float]]:
    """CPU ms per uncached request in this process (median of `requests`, interleaved, after
    one warm-up each), with the render cache off and no compression, as wrk asks: through
    httpx's ASGI transport (client included, as before), and the app alone (the ASGI call
    with a ready-made scope: what a server worker spends beyond parsing HTTP). Robust to other
    work on the machine, unlike req/s; the constant ``/robots.txt`` is the same run's
    yardstick (the stack and client alone). A path given as (path, cookie) is asked with
    that Cookie header (a signed-in reader's page)."""
    import asyncio

    import httpx

    os.environ["NEWSLINE_WEB__RENDER_CACHE_SECONDS"] = "0"
    from newsline.config import load_settings
    from newsline.web.app import create_app

    app = create_app(load_settings(config))
    client_ms: dict[str, list[float]] = {name: [] for name in paths}
    app_ms: dict[str, list[float]] = {name: [] for name in paths}
    headers = [
        (b"host", b"127.0.0.1"),
        (b"user-agent", UA.encode()),
        (b"accept-encoding", b"identity"),
        (b"accept", b"*/*"),
    ]

    async def alone(path: str, cookie: str | None) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers + ([(b"cookie", cookie.encode())] if cookie else []),
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return int(sent[0]["status"])

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://127.0.0.1",
            headers={"user-agent": UA, "accept-encoding": "identity"},
        ) as client:
            asked = {
                name: (target, None) if isinstance(target, str) else target
                for name, target in paths.items()
            }
            for path, cookie in asked.values():
                sent = {"cookie": cookie} if cookie else {}
                assert (await client.get(path, headers=sent)).status_code == 200, path
                assert await alone(path, cookie) == 200, path
            for _ in range(requests):
                for name, (path, cookie) in asked.items():
                    sent = {"cookie": cookie} if cookie else {}
                    started = time.process_time()
                    await client.get(path, headers=sent)
                    client_ms[name].append(time.process_time() - started)
                    started = time.process_time()
                    await alone(path, cookie)
                    app_ms[name].append(time.process_time() - started)

    asyncio.run(run())
    os.environ.pop("NEWSLINE_WEB__RENDER_CACHE_SECONDS")
    return {
        name: (statistics.median(client_ms[name]) * 1000, statistics.median(app_ms[name]) * 1000)
        for name in paths
    }


def fetch(url: str, cookie: str | None = None) -> bytes:
    sent = {"User-Agent": UA, **({"Cookie": cookie} if cookie else {})}
    request = urllib.request.Request(url, headers=sent)
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


#: The servers main() starts, in the order it starts them.
SERVERS = ("app", "app, render cache off", "bare FastAPI", "nginx static", "nginx proxy")
#: Which of them serve each measured run (the rest are "other servers").
OWN = {
    "nginx static (reference)": ("nginx static",),
    "bare FastAPI, same bytes (calibration)": ("bare FastAPI",),
    "app, uvicorn --workers 2": ("app",),
    "app, render cache off": ("app, render cache off",),
    "app behind deploy/nginx.conf": ("nginx proxy", "app"),
}


def cpu_snapshot(servers: dict[str, int]) -> tuple[dict[str, float], float, float]:
    """CPU seconds so far of each server's processes and of the whole machine, and when."""
    return {name: cpu_of([pid]) for name, pid in servers.items()}, machine_busy(), time.monotonic()


@dataclass(frozen=True)
class Spent:
    """What one wrk run cost: the measured server's CPU per request (microseconds), the
    other servers' CPU meanwhile (seconds: they should be idle), and the whole machine's
    busy cores (wrk included)."""

    own_us: float
    others_s: float
    machine_cores: float

    @classmethod
    def between(
        cls,
        before: tuple[dict[str, float], float, float],
        after: tuple[dict[str, float], float, float],
        own: tuple[str, ...],
        result: Result,
        duration: int,
    ) -> Spent:
        used = {name: after[0][name] - before[0][name] for name in before[0]}
        mine = sum(used[name] for name in own)
        others = sum(v for name, v in used.items() if name not in own)
        requests = max(result.rps * duration, 1.0)
        # Over the wall-clock between the snapshots: wrk's start and exit are in both counts.
        cores = (after[1] - before[1]) / max(after[2] - before[2], 1e-9)
        return cls(1e6 * mine / requests, others, cores)

    @staticmethod
    def median(found: list[Spent]) -> Spent:
        return Spent(
            statistics.median(s.own_us for s in found),
            statistics.median(s.others_s for s in found),
            statistics.median(s.machine_cores for s in found),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server (median)")
    parser.add_argument(
        "--pages",
        default="",
        help="comma-separated page names to measure (e.g. 'item page'); all by default",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--hold", type=int, default=0, help="seconds to keep the app up (profiling)"
    )
    parser.add_argument(
        "--load", action="store_true", help="readers under load: idle vs during a fetch"
    )
    parser.add_argument(
        "--cpu",
        type=int,
        default=0,
        metavar="N",
        help="also CPU ms per uncached request in process, N requests per page",
    )
    parser.add_argument("--fetch-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--nice", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fetch_worker:
        fetch_worker(args.fetch_worker, args.work, args.nice)
        return
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} not found (Debian package {'nginx-light' if tool == 'nginx' else tool})"
            )

    work = Path(tempfile.mkdtemp(prefix="newsline-bench-web-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        app_port, static_port, proxy_port = free_port(), free_port(), free_port()
        db = work / "bench.db"
        config = work / "newsline.toml"
        config.write_text(CONFIG.format(db=db, port=app_port), encoding="utf-8")
        started = time.monotonic()
        generate(db, config, args.items)
        print(
            f"generated {args.items} items in {time.monotonic() - started:.0f} s "
            f"({db.stat().st_size / 1e6:.0f} MB)",
            flush=True,
        )

        procs.append(start_app(config, app_port, work / "serve.log", cache=True))
        uncached_port = free_port()
        procs.append(start_app(config, uncached_port, work / "serve-nocache.log", cache=False))
        wait_for(app_port)
        wait_for(uncached_port)
        base = f"http://127.0.0.1:{app_port}"
        targets = {
            "front page": "/bench/newsline",
            "item page": f"/bench/topic/pub{args.items // 2 % 40}/item-{args.items // 2}",
            "story page": "/bench/story/{story}",
            "RSS feed": "/bench/feed.xml",
        }
        with sqlite3.connect(db) as probe:  # a story of 3+ items on the front page
            (story,) = probe.execute(
                "SELECT story_id FROM item JOIN story ON story.id = item.story_id "
                "WHERE story.item_count >= 3 ORDER BY item.sort_at DESC LIMIT 1"
            ).fetchone()
        targets["story page"] = targets["story page"].format(story=story)
        # A signed-in reader's front page: theirs alone (their choices), so no shared cache
        # (the render cache, nginx's) ever serves it: the case uncached speed is about.
        cookie = signed_in_cookie(config)
        pages: dict[str, tuple[str, str | None]] = {
            name: (path, None) for name, path in targets.items()
        }
        pages = {
            "front page": pages["front page"],
            "front page, signed in": (targets["front page"], cookie),
            **pages,
        }
        if args.pages:
            wanted = [name.strip() for name in args.pages.split(",")]
            unknown = [name for name in wanted if name not in pages]
            if unknown:
                raise SystemExit(f"unknown page {unknown[0]!r}: choose from {', '.join(pages)}")
            pages = {name: pages[name] for name in wanted}
        if args.cpu:
            asked: dict[str, str | tuple[str, str]] = {
                name: (path, sent) if sent else path for name, (path, sent) in pages.items()
            }
            # The signed-in reader's item page: their comment blocks (comment form, save
            # button, token) filled per request into the page kept by data version.
            asked["item page, signed in"] = (targets["item page"], cookie)
            cpu = cpu_per_request(config, {**asked, "/robots.txt": "/robots.txt"}, args.cpu)
            robots, robots_alone = cpu["/robots.txt"]
            print()
            print(
                "| page | CPU ms per uncached request (httpx client included) | "
                "ratio to /robots.txt | CPU ms, the app alone | ratio to /robots.txt |"
            )
            print("| --- | ---: | ---: | ---: | ---: |")
            for name, (ms, alone_ms) in cpu.items():
                print(
                    f"| {name} | {ms:.2f} | {ms / robots:.1f} | {alone_ms:.2f} | "
                    f"{alone_ms / robots_alone:.1f} |",
                    flush=True,
                )
            print()
        static = work / "static"
        static.mkdir()
        files = {}
        for name, (path, sent) in pages.items():
            body = fetch(base + path, sent)
            fname = re.sub(r"\W+", "-", name) + (".xml" if path.endswith(".xml") else ".html")
            (static / fname).write_bytes(body)
            files[name] = fname
            print(f"{name}: {path} ({len(body) / 1024:.1f} KiB)", flush=True)

        bare_port = free_port()
        (work / "bare_app.py").write_text(BARE_APP.format(static=str(static)), encoding="utf-8")
        bare_cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--app-dir",
            str(work),
            "--port",
            str(bare_port),
            "--workers",
            "2",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        procs.append(
            subprocess.Popen(
                bare_cmd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        procs.append(
            start_nginx(
                work / "nginx-static",
                (
                    f"    server {{ listen 127.0.0.1:{static_port}; root {static}; "
                    'location / { add_header Cache-Control "public, no-cache"; } }'
                ),
            )
        )
        procs.append(
            start_nginx(work / "nginx-proxy", deploy_conf(proxy_port, app_port, work / "cache"))
        )
        wait_for(static_port)
        wait_for(proxy_port)
        wait_for(bare_port)
        # Each server's processes, to count the CPU each run costs it and the others.
        servers = dict(zip(SERVERS, (proc.pid for proc in procs), strict=True))
        if args.hold:
            print(
                f"app on {base}, behind nginx on http://127.0.0.1:{proxy_port}, "
                f"for {args.hold} s (profile it now)",
                flush=True,
            )
            time.sleep(args.hold)

        if args.load:
            corpus = load_corpus(work)
            front = targets["front page"]
            table = load_bench(
                args,
                work,
                {
                    # what uvicorn itself can do here: constant bytes, no app
                    "bare FastAPI, same bytes (calibration)": (
                        f"http://127.0.0.1:{bare_port}/{files['front page']}",
                        False,
                    ),
                    "app, uvicorn --workers 2": (base + front, True),
                    # every request renders: what each cache-busting request cost before
                    "app, render cache off": (f"http://127.0.0.1:{uncached_port}{front}", False),
                    "app behind deploy/nginx.conf": (f"http://127.0.0.1:{proxy_port}{front}", True),
                },
                corpus,
            )
            print()
            print("| while | server | query | req/s | p50 ms | p99 ms | errors |")
            print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
            for phase, label, query, result in table:
                print(
                    f"| {phase} | {label} | {query} | {result.rps:.0f} | "
                    f"{result.p50_ms:.2f} | {result.p99_ms:.2f} | {result.errors} |"
                )
            return

        rows = []
        for name, (path, sent) in pages.items():
            headers = (f"Cookie: {sent}",) if sent else ()
            runs = {
                "nginx static (reference)": f"http://127.0.0.1:{static_port}/{files[name]}",
                "bare FastAPI, same bytes (calibration)": (
                    f"http://127.0.0.1:{bare_port}/{files[name]}"
                ),
                "app, uvicorn --workers 2": base + path,
                "app, render cache off": f"http://127.0.0.1:{uncached_port}{path}",
                "app behind deploy/nginx.conf": f"http://127.0.0.1:{proxy_port}{path}",
            }
            # Rounds interleave the servers so that load from other work on the machine
            # hits them alike; the median of the rounds is reported. Each round starts one
            # server further on, so none always follows the same one (nginx behind the app
            # read 0.81 and 0.86 of static right after the uncached app's run, 0.91 right
            # after static's, in one afternoon at 20,000 items: docs/benchmarks.md).
            samples: dict[str, list[Result]] = {label: [] for label in runs}
            spent: dict[str, list[Spent]] = {label: [] for label in runs}
            order = list(runs.items())
            for round_no in range(args.rounds):
                shift = round_no % len(order)
                for label, url in order[shift:] + order[:shift]:
                    wrk(url, 1, args.connections, args.threads, headers=headers)  # warm-up
                    before = cpu_snapshot(servers)
                    result = wrk(
                        url, args.duration, args.connections, args.threads, headers=headers
                    )
                    samples[label].append(result)
                    spent[label].append(
                        Spent.between(
                            before, cpu_snapshot(servers), OWN[label], result, args.duration
                        )
                    )
            results = {label: median(found) for label, found in samples.items()}
            reference = results["nginx static (reference)"].rps
            for label, result in results.items():
                used = Spent.median(spent[label])
                rows.append((name, label, result, result.rps / reference, used))
                print(
                    f"  {name:10} {label:38} {result.rps:9.0f} req/s  "
                    f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                    f"ratio {result.rps / reference:5.3f}  errors {result.errors}  "
                    f"server {used.own_us:5.1f} us/req  others {used.others_s:4.2f} s  "
                    f"machine {used.machine_cores:4.2f} cores",
                    flush=True,
                )

        print()
        print(
            "| page | server | req/s | p50 ms | p99 ms | ratio to static | errors "
            "| server CPU us/req | other servers' CPU s | machine busy cores |"
        )
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, label, result, ratio, used in rows:
            print(
                f"| {name} | {label} | {result.rps:.0f} | {result.p50_ms:.2f} | "
                f"{result.p99_ms:.2f} | {ratio:.3f} | {result.errors} | {used.own_us:.1f} | "
                f"{used.others_s:.2f} | {used.machine_cores:.2f} |"
            )
    finally:
        for proc in reversed(procs):
            stop_group(proc)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
