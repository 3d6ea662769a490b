"""Comments: posting throughput with concurrent authors, and an item page with 1,000 comments.

Runs `newsline serve --workers 2 --no-scheduler` on a fresh database (SQLite here, or
``--database-url`` for PostgreSQL) and measures, in the same run:

1. **Item page with 1,000 comments vs the same page without comments** (two items of one
   publication, same text): requests/s and p50/p99 latency with wrk (a separate process),
   the two pages alternately, ``--rounds`` times each; once with the render cache as shipped
   (1 s) and once with it off (every request renders: the database and Jinja2 cost).
   The 1,000 comments are 100 threads of 10 (a root and nine replies, nested to depth 3 and
   beyond, so the flattening shows too): the first page of threads holds all of them.
2. **Posting**: ``--authors`` readers (each signed in, each from its own address) post
   ``--per-author`` comments each at once through the JSON API; counts errors and checks that
   every acknowledged comment is in the database and the item's count is right.

    .venv/bin/python bench/comments.py [--duration 10] [--rounds 3] [--authors 50]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from newsline.community import accounts
from newsline.config import load_settings
from newsline.db.channels import sync_channels
from newsline.db.engine import dispose_all, engine_for
from newsline.db.migrate import upgrade
from newsline.db.models import Comment, Item, Publication
from newsline.testing.authors import PASSWORD, post_comments
from procs import stop_group
from wrk import UA, Result, wrk

BODY = (
    "The harbour board voted to replace the old timber pier with a longer concrete one, "
    "ending a year of meetings in which fishermen, ferry crews and residents argued."
)
COMMENT = (
    "I went to two of those meetings. The *longer* design is right, but the dredging cost "
    "was never explained: see <https://example.org/minutes> for the **numbers**."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("newsline serve exited")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError("newsline serve did not start")


def seed(database_url: str, data_dir: Path, authors: int, comments: int) -> dict[str, int]:
    """Two items (one to carry the comments), the authors, and the comments."""
    upgrade(database_url)
    settings = load_settings(None, database_url=database_url, data_dir=str(data_dir))
    now = datetime.now(UTC)
    with Session(engine_for(database_url)) as session, session.begin():
        pub = Publication(tag="harbor", name="Harbor Gazette", republish="full")
        session.add(pub)
        session.flush()
        channel_id = sync_channels(session, settings)["news"].id
        ids = {}
        for key in ("with-comments", "without-comments"):
            item = Item(
                publication_id=pub.id,
                guid=key,
                url=f"https://harbor.example.org/{key}",
                state="ready",
                title="Harbour board approves a longer pier",
                slug=key,
                teaser=BODY,
                body_html=f"<p>{BODY}</p>" * 4,
                body_text=BODY,
                sort_at=now - timedelta(minutes=5),
                first_seen_at=now - timedelta(minutes=5),
            )
            session.add(item)
            session.flush()
            ids[key] = item.id
        users = [
            accounts.create_user(
                session, f"author{n}@example.org", PASSWORD, f"Author {n}", verified=True
            ).id
            for n in range(authors)
        ]
        html = "<p>I went to two of those meetings. The <em>longer</em> design is right.</p>"
        threads = max(1, comments // 10)
        made = 0
        for t in range(threads):
            root = Comment(
                item_id=ids["with-comments"],
                channel_id=channel_id,
                author_id=users[t % len(users)],
                body=COMMENT,
                body_html=html,
                created_at=now - timedelta(hours=2, minutes=-t),
                score=t % 7,
            )
            session.add(root)
            session.flush()
            made += 1
            parents = [root]
            for r in range(9):
                if made >= comments:
                    break
                parent = parents[r // 2] if r < 6 else parents[-1]  # some go deep
                reply = Comment(
                    item_id=ids["with-comments"],
                    channel_id=channel_id,
                    parent_id=parent.id,
                    depth=parent.depth + 1,
                    author_id=users[(t + r + 1) % len(users)],
                    body=COMMENT,
                    body_html=html,
                    created_at=now - timedelta(hours=1, minutes=-t - r),
                )
                session.add(reply)
                session.flush()
                parents.append(reply)
                made += 1
        session.execute(
            update(Item).where(Item.id == ids["with-comments"]).values(comment_count=made)
        )
    dispose_all()
    return ids


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    base: str


def serve(database_url: str, folder: Path, render_cache: float) -> Served:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = folder / f"serve-{render_cache}.toml"
    config.write_text(
        f'database_url = "{database_url}"\ndata_dir = "{folder}"\n'
        f'[web]\nbase_url = "{base}"\nrender_cache_seconds = {render_cache}\n'
        '[[channels]]\nslug = "news"\ndisplay_name = "Harbor Daily"\n'
        "[channels.comments]\nvelocity_max = 100000\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [
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
        ],
        env={**os.environ, "NEWSLINE_CONFIG": str(config)},
        stdout=(folder / f"serve-{render_cache}.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for(port, proc)
    return Served(proc, base)


def stop(served: Served) -> None:
    stop_group(served.proc)


def pages(base: str, duration: int, rounds: int, connections: int) -> dict[str, list[Result]]:
    urls = {
        "1,000 comments": f"{base}/news/topic/harbor/with-comments",
        "no comments": f"{base}/news/topic/harbor/without-comments",
        "all on one page": f"{base}/news/topic/harbor/with-comments/comments",
    }
    marker = 'class="comment indent-'
    for name, url in urls.items():  # warm-up (and a look at what each page holds)
        html = httpx.get(url, headers={"user-agent": UA}, timeout=30).text
        print(f"  {name}: {html.count(marker)} comments shown, {len(html) // 1024} KiB", flush=True)
        wrk(url, 1, connections, timeout=5)
    results: dict[str, list[Result]] = {name: [] for name in urls}
    for _ in range(rounds):
        for name, url in urls.items():
            results[name].append(wrk(url, duration, connections, timeout=5))
    return results


def cpu_per_render(database_url: str, folder: Path, requests: int) -> dict[str, float]:
    """CPU milliseconds per uncached render, in this process (robust to a loaded machine:
    wall-clock figures above count the other processes' turns too)."""
    from fastapi.testclient import TestClient

    from newsline.web.app import create_app

    settings = load_settings(
        None,
        database_url=database_url,
        data_dir=str(folder),
        web={"render_cache_seconds": 0},
        channels=[{"slug": "news", "display_name": "Harbor Daily"}],
    )
    paths = {
        "1,000 comments": "/news/topic/harbor/with-comments",
        "no comments": "/news/topic/harbor/without-comments",
        "all on one page": "/news/topic/harbor/with-comments/comments",
    }
    spent = dict.fromkeys(paths, 0.0)
    with TestClient(create_app(settings), headers={"user-agent": UA}) as client:
        for path in paths.values():
            client.get(path)
        for _ in range(requests):  # interleaved, so drifts of the machine hit all alike
            for name, path in paths.items():
                started = time.process_time()
                assert client.get(path).status_code == 200
                spent[name] += time.process_time() - started
    return {name: total / requests * 1000 for name, total in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--comments", type=int, default=1000)
    parser.add_argument("--authors", type=int, default=50)
    parser.add_argument("--per-author", type=int, default=20)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-pages", action="store_true", help="measure posting only")
    parser.add_argument("--cpu-requests", type=int, default=30)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-comments-"))
    print(f"data folder: {folder}")
    database_url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    print(
        f"seeding {args.comments} comments and {args.authors} authors ({database_url.split(':')[0]})"
    )
    ids = seed(database_url, folder, args.authors, args.comments)

    for cache in () if args.skip_pages else (1.0, 0.0):
        served = serve(database_url, folder, cache)
        try:
            label = "render cache 1 s (as shipped)" if cache else "render cache off"
            print(
                f"\nitem page, {label}: wrk -c{args.connections}, {args.rounds} x {args.duration} s each"
            )
            results = pages(served.base, args.duration, args.rounds, args.connections)
        finally:
            stop(served)
        ref = max(statistics.median(r.rps for r in results["no comments"]), 1e-9)
        print(f"  {'page':<16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'ratio':>8}")
        for name, runs in results.items():
            rps = statistics.median(r.rps for r in runs)
            print(
                f"  {name:<16}{rps:>9.0f}{statistics.median(r.p50_ms for r in runs):>9.1f}"
                f"{max(r.p99_ms for r in runs):>9.1f}{sum(r.errors for r in runs):>8}{rps / ref:>8.2f}"
            )

    if not args.skip_pages:
        cpu = cpu_per_render(database_url, folder, args.cpu_requests)
        print(f"\nCPU per uncached render, in process ({args.cpu_requests} each, interleaved)")
        for name, ms in cpu.items():
            print(f"  {name:<16}{ms:>8.1f} ms{cpu['no comments'] / ms:>8.2f}")

    served = serve(database_url, folder, 1.0)
    try:
        total = args.authors * args.per_author
        print(f"\nposting: {args.authors} authors x {args.per_author} comments at once (JSON API)")
        elapsed, errors, acknowledged = post_comments(
            served.base, ids["without-comments"], args.authors, args.per_author, COMMENT
        )
    finally:
        stop(served)
    with Session(engine_for(database_url)) as session:
        stored = dict(
            session.execute(
                select(Comment.id, Comment.body).where(Comment.id.in_(list(acknowledged)))
            ).all()
        )
        count = session.scalar(select(Item.comment_count).where(Item.id == ids["without-comments"]))
        published = session.scalar(
            select(func.count())
            .select_from(Comment)
            .where(Comment.item_id == ids["without-comments"], Comment.status == "published")
        )
    lost = sum(1 for cid, body in acknowledged.items() if stored.get(cid) != body)
    print(
        f"  {len(acknowledged)}/{total} acknowledged in {elapsed:.1f} s = "
        f"{len(acknowledged) / elapsed:.0f} comments/s; errors {errors}; lost {lost}; "
        f"item count {count} = published {published}: {count == published}"
    )


if __name__ == "__main__":
    main()
