"""Image proxy throughput: a cached thumbnail from `/img/...` vs nginx serving the same file.

Starts a publisher's image host on loopback (one generated 1200x630 JPEG), the app
(`newsline serve --workers 2 --no-scheduler`, fetching allowed on loopback), asks the
proxy once for the card thumbnail as WebP (it fetches, resizes and caches it on disk), saves
those very bytes as a static file, then measures with wrk (50 connections, a separate
process), in the same run:

1. nginx serving that file as a static file (the reference);
2. the app alone answering the cached thumbnail (signature check, disk cache, Vary: Accept);
3. the app behind the shipped `deploy/nginx.conf` (its `/img/` location caches per format).

Prints a table with each figure's ratio to the reference.

    .venv/bin/python bench/images.py [--duration 10] [--rounds 3]

The helpers (wrk, nginx, the deploy config with this run's ports) are bench/web.py's.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from newsline.db.migrate import upgrade
from newsline.urls import Urls
from procs import stop_group
from web import (
    Result,
    deploy_conf,
    free_port,
    median,
    start_app,
    start_nginx,
    wait_for,
    wrk,
)

SECRET = "bench-images-secret"
ACCEPT = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"  # Chromium's, AVIF off here
CONFIG = """\
database_url = "sqlite:///{db}"
data_dir = "{data}"

[fetch]
allow_private = true

[web]
base_url = "http://127.0.0.1:{port}"
secret_key = "{secret}"

[images]
avif = false

[[channels]]
slug = "bench"
display_name = "Bench"
"""


def photo() -> bytes:
    """A 1200x630 JPEG with detail (what a publisher's lead image weighs)."""
    ramp = Image.linear_gradient("L").resize((1200, 630))
    noise = Image.effect_noise((1200, 630), 40)
    image = Image.merge(
        "RGB", (ramp, noise, ramp.transpose(Image.Transpose.ROTATE_90).resize((1200, 630)))
    )
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def image_host(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def get(url: str, accept: str) -> tuple[bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=60) as resp:
        return resp.read(), {k.lower(): v for k, v in resp.headers.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server (median)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found")

    work = Path(tempfile.mkdtemp(prefix="newsline-bench-images-"))
    procs: list[subprocess.Popen[bytes]] = []
    host = image_host(photo())
    try:
        app_port, static_port, proxy_port = free_port(), free_port(), free_port()
        config = work / "newsline.toml"
        config.write_text(
            CONFIG.format(db=work / "bench.db", data=work, port=app_port, secret=SECRET),
            encoding="utf-8",
        )
        upgrade(f"sqlite:///{work / 'bench.db'}")
        procs.append(start_app(config, app_port, work / "serve.log", cache=True))
        wait_for(app_port)
        source = f"http://127.0.0.1:{host.server_address[1]}/lead.jpg"
        path = Urls().image(SECRET.encode(), source, "thumb-336")
        base = f"http://127.0.0.1:{app_port}"
        body, headers = get(base + path, ACCEPT)
        if headers.get("x-image") == "placeholder" or headers["content-type"] != "image/webp":
            raise SystemExit(f"the proxy did not make the thumbnail: {headers}")
        print(f"thumbnail: {path[:60]}... ({len(body)} bytes, {headers['content-type']})")
        static = work / "static"
        static.mkdir()
        (static / "thumb.webp").write_bytes(body)

        procs.append(
            start_nginx(
                work / "nginx-static",
                f"server {{ listen 127.0.0.1:{static_port}; location / {{ root {static}; }} }}",
            )
        )
        cache = work / "nginx-cache"
        procs.append(start_nginx(work / "nginx-proxy", deploy_conf(proxy_port, app_port, cache)))
        wait_for(static_port)
        wait_for(proxy_port)
        via = f"http://127.0.0.1:{proxy_port}"
        for _ in range(2):  # the first fills nginx's cache, the second must be a hit
            cached, proxy_headers = get(via + path, ACCEPT)
        assert cached == body and proxy_headers.get("x-cache") == "HIT", proxy_headers
        _, plain_headers = get(via + path, "image/jpeg")
        assert plain_headers["content-type"] == "image/jpeg", "nginx kept formats apart"

        targets = {
            "nginx, static file (reference)": f"http://127.0.0.1:{static_port}/thumb.webp",
            "app alone (cached on disk)": base + path,
            "app behind deploy/nginx.conf": via + path,
        }
        accept = work / "accept.lua"  # a browser's Accept header on every request
        accept.write_text(f'wrk.headers["Accept"] = "{ACCEPT}"\n', encoding="utf-8")
        # Rounds interleave the servers, so that load from other work on the machine hits
        # them alike; each run after a 1 s warm-up; the median of the rounds is reported.
        samples: dict[str, list[Result]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, url in targets.items():
                wrk(url, 1, args.connections, args.threads, script=accept)
                samples[name].append(
                    wrk(url, args.duration, args.connections, args.threads, script=accept)
                )
        results = {name: median(runs) for name, runs in samples.items()}
        print(f"load average after the runs: {os.getloadavg()[0]:.1f}")
        reference = results["nginx, static file (reference)"].rps
        print(
            f"\n{'server':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'ratio':>6}"
        )
        for name, r in results.items():
            print(
                f"{name:34} {r.rps:9.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d} "
                f"{r.rps / reference:6.2f}"
            )
    finally:
        host.shutdown()
        for proc in procs:
            stop_group(proc)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
