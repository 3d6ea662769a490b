"""What a cache hit behind deploy/nginx.conf costs nginx, against a static file: counted,
not timed, so the figure holds on a loaded machine.

Each nginx runs as one process (`master_process off`) under valgrind's callgrind; after 30
warm-up requests the counters are zeroed, wrk sends requests for a few seconds (1 thread,
4 connections) and the user-space instructions nginx executed are divided by the
requests served. The same bytes served as a static file are the reference. The kernel's
part (system calls, copies) is not in the count: `--syscalls` adds strace's count of
system calls per request.

Servers, for each page (item, front page, RSS feed of a generated site, as bench/web.py
builds it):

- nginx static: bench/web.py's reference (sendfile, tcp_nopush, no open_file_cache, its
  few headers);
- nginx static, site headers: the same file with the headers the site sends (security
  headers, Vary, Cache-Control, HSTS) and deploy/nginx.conf's open_file_cache and gzip:
  what a static copy of the site would be configured like;
- deploy/nginx.conf (cache hit), and the same with `--before REV`'s config (its app sends
  its own security headers: configs before 76be5a2 did not add them);
- two ablations, for the breakdown only (not configurations to ship): without the
  bot/human class in the key (`$newsline_agent_class` constant), and with a plain
  `$request_uri` key (no maps at all, no bypass).

    .venv/bin/python bench/nginx_cost.py [--pages item,front,feed] [--before REV] [--syscalls]

Needs nginx, wrk and valgrind (Debian packages nginx-light, wrk, valgrind).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import web
from procs import stop_group
from web import (
    CONFIG,
    NGINX_MAIN,
    ROOT,
    deploy_conf,
    fetch,
    free_port,
    generate,
    start_app,
    wait_for,
)
from wrk import UA

ONE_PROCESS = NGINX_MAIN.replace("worker_processes 2;", "worker_processes 1;\nmaster_process off;")
PAGES = {
    "item": "/bench/topic/pub0/item-1000",
    "front": "/bench/newsline",
    "feed": "/bench/feed.xml",
}
STATIC = (
    "    server {{ listen 127.0.0.1:{port}; root {root}; default_type text/html; "
    'location / {{ add_header Cache-Control "public, no-cache"; }} }}'
)
# Headers the app sends with every page that a static copy would send as well.
SITE_HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy",
                "x-frame-options", "vary", "cache-control")  # fmt: skip


def site_static(port: int, root: Path, headers: dict[str, str]) -> str:
    adds = " ".join(
        f'add_header {name} "{headers[name]}";' for name in SITE_HEADERS if name in headers
    )
    return (
        f"    server {{ listen 127.0.0.1:{port}; root {root}; default_type text/html; "
        "open_file_cache max=10000 inactive=60s; open_file_cache_valid 30s; "
        "gzip on; gzip_comp_level 1; gzip_min_length 1024; "
        f"location / {{ {adds} "
        'add_header Strict-Transport-Security "max-age=31536000" always; } }'
    )


def without_agent_class(conf: str) -> str:
    old = "map $http_user_agent $newsline_agent_class {"
    if old not in conf:
        raise SystemExit("deploy/nginx.conf has no $newsline_agent_class map")
    return conf.replace(
        old,
        "map $http_host $newsline_agent_class { default human; }\n"
        + old.replace("class {", "class_unused {"),
    )


def without_maps(conf: str) -> str:
    out = re.sub(r'proxy_cache_key "\$scheme\$host\$newsline_path[^"]*";',
                 'proxy_cache_key "$scheme$host$request_uri";', conf)  # fmt: skip
    out = re.sub(r"proxy_cache_bypass \$newsline_private[^;]*;", "", out)
    out = re.sub(r"proxy_no_cache \$newsline_private[^;]*;", "", out)
    if out == conf:
        raise SystemExit("deploy/nginx.conf's cache key changed; update bench/nginx_cost.py")
    return out


def measure(folder: Path, body: str, url: str, seconds: int, syscalls: bool) -> tuple[float, float]:
    """Instructions per request (and system calls per request, or 0) of one nginx process."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(ONE_PROCESS.format(dir=folder, body=body), encoding="utf-8")
    command = ["nginx", "-c", str(conf), "-p", str(folder)]
    if not syscalls:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/cg.%p", *command]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "valgrind.log").open("wb"),
        start_new_session=True,
    )
    try:
        wait_for(int(url.split(":")[2].split("/")[0]), 120)
        headers = {"User-Agent": UA, "Accept-Encoding": "identity"}
        for _ in range(30):
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
                resp.read()
        tracer = None
        if syscalls:
            tracer = subprocess.Popen(
                ["strace", "-c", "-p", str(proc.pid), "-o", str(folder / "strace.txt")],
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
        else:
            subprocess.run(
                ["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True
            )
        out = subprocess.run(
            ["wrk", "-t1", "-c4", f"-d{seconds}s", "-H", f"User-Agent: {UA}",
             "-H", "Accept-Encoding: identity", url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        served = re.search(r"(\d+) requests in", out)
        if served is None:
            raise SystemExit(f"not a wrk report: {out[:200]!r}")
        requests = int(served.group(1))
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            tracer.wait()
            table = (folder / "strace.txt").read_text(encoding="utf-8")
            total = re.search(r"^-+ -+ -+ -+ -+ -+\n\s*100\.00\s+\S+\s+\S+\s+(\d+)", table, re.M)
            calls = int(total.group(1)) if total else 0
            return 0.0, calls / requests
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
        time.sleep(1)
        dumps = sorted(glob.glob(f"{folder}/cg.{proc.pid}*"), key=os.path.getmtime)
        text = Path(dumps[-1]).read_text(encoding="utf-8")
        found = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
        if found is None:
            raise SystemExit(f"no totals in {dumps[-1]}")
        return int(found.group(1)) / requests, 0.0
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", default="item,front,feed")
    parser.add_argument("--before", help="also the deploy/nginx.conf of this git revision")
    parser.add_argument("--seconds", type=int, default=4, help="wrk seconds per server")
    parser.add_argument("--syscalls", action="store_true", help="system calls (strace) instead")
    args = parser.parse_args()
    for tool in ("nginx", "wrk", "strace" if args.syscalls else "valgrind"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found (Debian package {tool})")

    work = Path(tempfile.mkdtemp(prefix="newsline-bench-nginx-"))
    apps: list[subprocess.Popen[bytes]] = []
    try:
        app_port = free_port()
        db, config = work / "bench.db", work / "newsline.toml"
        config.write_text(CONFIG.format(db=db, port=app_port), encoding="utf-8")
        generate(db, config, 2000)
        apps.append(start_app(config, app_port, work / "serve.log", cache=True))
        wait_for(app_port)
        # An older config may not add the security headers itself: its app sends them.
        before_port = app_port
        if args.before:
            before_port = free_port()
            before = work / "before.toml"
            before.write_text(
                CONFIG.format(db=db, port=before_port).replace(
                    "proxy_adds_security_headers = true", "proxy_adds_security_headers = false"
                ),
                encoding="utf-8",
            )
            apps.append(start_app(before, before_port, work / "before.log", cache=True))
            wait_for(before_port)
        base = f"http://127.0.0.1:{app_port}"
        request = urllib.request.Request(base + PAGES["front"], headers={"User-Agent": UA})
        with urllib.request.urlopen(request) as resp:
            headers = {k.lower(): v for k, v in resp.headers.items()}
        before = None
        if args.before:
            before = subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{args.before}:deploy/nginx.conf"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
        configs: dict[str, tuple[str | None, Callable[[str], str]]] = {
            "deploy/nginx.conf (cache hit)": (None, lambda text: text),
        }
        if before is not None:
            configs[f"deploy/nginx.conf at {args.before}"] = (before, lambda text: text)
        configs["  ablation: no bot/human class"] = (None, without_agent_class)
        configs["  ablation: no key maps at all"] = (None, without_maps)
        unit = "system calls" if args.syscalls else "instructions"
        print(f"| page | server | {unit} per request | ratio to nginx static |")
        print("| --- | --- | ---: | ---: |")
        for page in args.pages.split(","):
            root = work / f"static-{page}"
            root.mkdir()
            (root / page).write_bytes(fetch(base + PAGES[page]))
            rows: list[tuple[str, float]] = []
            for name, body in (
                ("nginx static (bench/web.py's reference)", STATIC),
                ("nginx static, site headers + open_file_cache", None),
            ):
                port = free_port()
                text = (
                    body.format(port=port, root=root) if body else site_static(port, root, headers)
                )
                url = f"http://127.0.0.1:{port}/{page}"
                ins, calls = measure(
                    work / f"{page}-{len(rows)}", text, url, args.seconds, args.syscalls
                )
                rows.append((name, calls if args.syscalls else ins))
            for name, (source, change) in configs.items():
                port = free_port()
                folder = work / f"{page}-{len(rows)}"
                (folder / "tls").mkdir(parents=True)
                shipped = web.DEPLOY_CONF
                if source is not None:  # bench/web.py's renderer, on the older file
                    web.DEPLOY_CONF = folder / "deploy.conf"
                    web.DEPLOY_CONF.write_text(source, encoding="utf-8")
                try:
                    upstream = app_port if source is None else before_port
                    text = change(deploy_conf(port, upstream, folder / "tls" / "cache"))
                finally:
                    web.DEPLOY_CONF = shipped
                # Hits only: nothing expires during the count (the refresh is the app's work).
                text = text.replace(
                    "proxy_cache_valid 200 301 308 2s;", "proxy_cache_valid 200 301 308 1h;"
                )
                url = f"http://127.0.0.1:{port}{PAGES[page]}"
                ins, calls = measure(folder, text, url, args.seconds, args.syscalls)
                rows.append((name, calls if args.syscalls else ins))
            reference = rows[0][1]
            for name, value in rows:
                shown = f"{value:.1f}" if args.syscalls else f"{value:,.0f}"
                print(f"| {page} | {name} | {shown} | {value / reference:.2f} |", flush=True)
    finally:
        for app in apps:
            stop_group(app)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
