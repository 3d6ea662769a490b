"""Web throughput: the site under `uvicorn --workers 2` vs nginx serving the same bytes.

With 100,000 items in SQLite (generated here), measures requests/s and p50/p99 latency
for the front page, an item page and the channel's RSS feed, with wrk (50 connections,
a separate process) against:

1. nginx serving the very same responses as static files (the reference);
2. the app alone: `newsline serve --workers 2 --no-scheduler`;
3. the app behind the shipped `deploy/nginx.conf` (reverse proxy + 2 s micro-cache).

Prints a table with each figure's ratio to the reference.

    .venv/bin/python bench/web.py [--items 100000] [--duration 10] [--rounds 3]

"app, render cache off" is the same app with ``web.render_cache_seconds = 0``: every
request renders (SQLite queries + Jinja2).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"
STATIC = ROOT / "src" / "newsline" / "web" / "static"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
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
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return settings.database_url


@dataclass
class Result:
    """One wrk run."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, duration: int, connections: int, threads: int) -> Result:
    """Run wrk (a separate process) against `url` and parse its --latency report."""
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-H",
            f"User-Agent: {UA}",
            "-H",
            "Accept-Encoding: identity",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+\w+)", out, re.MULTILINE))

    def parse(p: str) -> float:
        m = re.match(r"([\d.]+)(\w+)", pct[p])
        assert m is not None
        return _ms(m.group(1), m.group(2))

    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return Result(rps, parse("50"), parse("99"), errors)


def median(results: list[Result]) -> Result:
    """Per-figure median of several runs (errors summed)."""
    return Result(
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
    )


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


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def deploy_conf(listen: int, app_port: int, cache: Path) -> str:
    """The shipped deploy/nginx.conf with this run's ports and folders."""
    text = DEPLOY_CONF.read_text(encoding="utf-8")
    replacements = {
        "/var/cache/nginx/newsline": str(cache),
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "listen 80;": f"listen 127.0.0.1:{listen};",
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


def fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": UA})
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server (median)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--hold", type=int, default=0, help="seconds to keep the app up (profiling)"
    )
    args = parser.parse_args()
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
            "RSS feed": "/bench/feed.xml",
        }
        static = work / "static"
        static.mkdir()
        files = {}
        for name, path in targets.items():
            body = fetch(base + path)
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
        if args.hold:
            print(
                f"app on {base}, behind nginx on http://127.0.0.1:{proxy_port}, "
                f"for {args.hold} s (profile it now)",
                flush=True,
            )
            time.sleep(args.hold)

        rows = []
        for name, path in targets.items():
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
            # hits them alike; the median of the rounds is reported.
            samples: dict[str, list[Result]] = {label: [] for label in runs}
            for _ in range(args.rounds):
                for label, url in runs.items():
                    wrk(url, 1, args.connections, args.threads)  # warm-up
                    samples[label].append(wrk(url, args.duration, args.connections, args.threads))
            results = {label: median(found) for label, found in samples.items()}
            reference = results["nginx static (reference)"].rps
            for label, result in results.items():
                rows.append((name, label, result, result.rps / reference))
                print(
                    f"  {name:10} {label:38} {result.rps:9.0f} req/s  "
                    f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                    f"ratio {result.rps / reference:5.3f}  errors {result.errors}",
                    flush=True,
                )

        print()
        print("| page | server | req/s | p50 ms | p99 ms | ratio to static | errors |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for name, label, result, ratio in rows:
            print(
                f"| {name} | {label} | {result.rps:.0f} | {result.p50_ms:.2f} | "
                f"{result.p99_ms:.2f} | {ratio:.3f} | {result.errors} |"
            )
    finally:
        for proc in reversed(procs):
            stop(proc)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
