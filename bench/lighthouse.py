"""Lighthouse scores of the demo's front, item, story and Digest pages, mobile and desktop.

Starts the offline demo (`newsline demo`: replayed fictional publishers and four days of
history, so every page has content at once) and, as the reference measured in the same
run, nginx serving each page's very HTML as a static file with everything else (styles,
scripts, images through `/img/`) passed to the demo. Lighthouse (installed by
`scripts/setup --test` into `.npm-tools/`) runs against Debian's Chromium, alternating
app and reference, ``--rounds`` times; the table gives the median score per category and
the app's performance score as a ratio to the reference's.

    .venv/bin/python bench/lighthouse.py [--rounds 3]

The performance score is timing (simulated throttling over measured traces), which is why
the test suite asserts the other three categories and the layout shift, and this script
reports performance: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from newsline.testing import lighthouse
from procs import stop_group
from web import free_port, start_nginx, wait_for

ROOT = Path(__file__).resolve().parent.parent
FORMS = {"mobile": False, "desktop": True}


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return str(response.read().decode("utf-8"))


def first(pattern: str, html: str, what: str) -> str:
    found = re.search(pattern, html)
    if found is None:
        raise SystemExit(f"the demo's page has no {what} link ({pattern})")
    return found.group(1)


def pages(base: str) -> dict[str, str]:
    """The demo's front page and the first story, item and Digest it links to."""
    front = "/news/newsline"
    html = fetch(base + front)
    digest_list = first(r'class="digestnav"[^>]*>\s*<a href="([^"]+)"', html, "Digest")
    own = digest_list.rstrip("/").rsplit("/", 1)[-1]
    return {
        "front": front,
        "story": first(r'href="(/news/story/\d+)"', html, "story"),
        "item": first(rf'href="(/news/topic/(?!{own}/)[^/"]+/[^/"]+)"', html, "item"),
        "digest": first(rf'href="(/news/topic/{own}/[^"]+)"', fetch(base + digest_list), "Digest"),
    }


def static_conf(port: int, app_port: int, files: dict[str, Path]) -> str:
    exact = "".join(
        f"        location = {path} {{ default_type text/html; alias {file}; }}\n"
        for path, file in files.items()
    )
    return (
        f"    server {{\n        listen 127.0.0.1:{port};\n{exact}"
        f"        location / {{ proxy_pass http://127.0.0.1:{app_port}; "
        "proxy_set_header Host $http_host; }\n    }"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reason = lighthouse.missing(ROOT)
    if reason:
        raise SystemExit(reason)
    # Stopped by a signal (a `timeout`), still stop the demo and nginx (`finally` below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-lighthouse-") as tmp:
        work = Path(tmp)
        app_port, static_port = free_port(), free_port()
        log = (work / "demo.log").open("wb")
        command = [sys.executable, "-m", "newsline.cli", "demo"]
        demo = subprocess.Popen(
            [*command, "--data-dir", str(work / "demo"), "--port", str(app_port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        nginx = None
        try:
            wait_for(app_port, timeout=180)
            app = f"http://127.0.0.1:{app_port}"
            paths = pages(app)
            files = {}
            for name, path in paths.items():
                files[path] = work / f"{name}.html"
                files[path].write_text(fetch(app + path), encoding="utf-8")
            nginx = start_nginx(work / "nginx", static_conf(static_port, app_port, files))
            wait_for(static_port)
            reference = f"http://127.0.0.1:{static_port}"
            scores: dict[tuple[str, str, str], list[dict[str, float]]] = {}
            for round_ in range(args.rounds):
                for name, path in paths.items():
                    for form, desktop in FORMS.items():
                        for server, base in (("app", app), ("static", reference)):
                            out = work / f"{name}-{form}-{server}-{round_}.json"
                            report = lighthouse.audit(ROOT, base + path, out, desktop=desktop)
                            scores.setdefault((name, form, server), []).append(report.scores)
                            got = " ".join(f"{c} {v:.2f}" for c, v in report.scores.items())
                            print(f"round {round_ + 1}: {name} {form} {server}: {got}", flush=True)
            print(f"Lighthouse medians of {args.rounds} rounds; pages: {paths}")
            head = ["page", "form", "server", *lighthouse.CATEGORIES, "perf. ratio"]
            print(" | ".join(head))
            for name in paths:
                for form in FORMS:
                    median = {
                        server: {
                            c: statistics.median(r[c] for r in scores[(name, form, server)])
                            for c in lighthouse.CATEGORIES
                        }
                        for server in ("app", "static")
                    }
                    ratio = median["app"]["performance"] / (median["static"]["performance"] or 1)
                    for server in ("app", "static"):
                        row = [name, form, server]
                        row += [f"{median[server][c]:.2f}" for c in lighthouse.CATEGORIES]
                        row.append(f"{ratio:.2f}" if server == "app" else "1.00")
                        print(" | ".join(row))
        finally:
            if nginx is not None:
                stop_group(nginx)
            stop_group(demo)


if __name__ == "__main__":
    main()
