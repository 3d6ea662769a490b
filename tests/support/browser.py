"""What the browser tests share, one way each: Debian's Chromium launched with the
project's flags, a human User-Agent, `newsline serve` started and stopped, signing up and
in, axe-core injected and its violations listed, generated pictures and their server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support import PROJECT_ROOT
from tests.support.ports import stop_group, wait_for_port

#: Debian's chromium (never a browser Playwright downloads) and the flags we run it with.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: axe-core, from the npm tools ``scripts/setup --test`` installs (absent without node).
AXE = PROJECT_ROOT / ".npm-tools" / "node_modules" / "axe-core" / "axe.min.js"

#: A desktop browser's User-Agent: headless Chromium's own says "HeadlessChrome", a bot.
HUMAN_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)

PALETTE = ["#1e3a8a", "#9f1239", "#065f46", "#7c2d12", "#4c1d95", "#0f766e", "#854d0e", "#334155"]


@dataclass
class LiveSite:
    """The running site of the ``live_site`` fixture."""

    base: str
    settings: Any
    item_ids: dict[str, int]
    images: str

    def url(self, path: str) -> str:
        return self.base + path


def write_images(folder: Path, count: int) -> None:
    """Simple generated SVG pictures (landscape gradients), our own artwork."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        a, b = PALETTE[n % len(PALETTE)], PALETTE[(n * 3 + 1) % len(PALETTE)]
        folder.joinpath(f"{n}.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1200 675">'
            f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{a}"/>'
            f'<stop offset="1" stop-color="{b}"/></linearGradient></defs>'
            '<rect width="1200" height="675" fill="url(#g)"/>'
            f'<circle cx="{300 + n * 97 % 600}" cy="{200 + n * 53 % 250}" r="{90 + n * 17 % 80}" fill="#fff" fill-opacity=".18"/>'
            '<path d="M0 520 Q300 420 600 500 T1200 470 V675 H0Z" fill="#000" fill-opacity=".22"/></svg>',
            encoding="utf-8",
        )


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves a folder (the generated pictures) without logging each request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium under Playwright, with the project's flags."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextmanager
def newsline_serve(config: Path, port: int, *, workers: int, log: Path) -> Iterator[None]:
    """`newsline serve --no-scheduler` on `config` and a loopback `port` (its output to `log`),
    started in its own process group and stopped (SIGTERM, then SIGKILL) at the end."""
    with log.open("wb") as out:
        command = [sys.executable, "-m", "newsline.cli", "--config", str(config), "serve"]
        proc = subprocess.Popen(
            [*command, "--port", str(port), "--workers", str(workers), "--no-scheduler"],
            env={**os.environ, "NEWSLINE_CONFIG": str(config)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(port, proc, log=log)
            yield
        finally:
            stop_group(proc)


def submit_sign_in(page: Any, email: str, password: str) -> None:
    """Fill in and send the sign-in form of the page `page` is on."""
    form = page.locator('form[action="/account/sign-in"]')
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def sign_in(page: Any, base: str, email: str, password: str) -> None:
    """Sign in as a reader does: on the sign-in page, through its form."""
    page.goto(base + "/account/sign-in")
    submit_sign_in(page, email, password)


def sign_in_by_api(context: Any, base: str, email: str, password: str) -> None:
    """Give the browser context a session cookie through the API (set-up, not a reader's
    steps)."""
    response = context.request.post(
        base + "/api/v1/session", data={"email": email, "password": password}
    )
    assert response.status == 200, response.text()


def sign_up(page: Any, base: str, email: str, display_name: str, password: str) -> None:
    """Fill in and send the sign-up page's form."""
    page.goto(base + "/account/sign-up")
    form = page.locator('form[action="/account/sign-up"]')
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=display_name]").fill(display_name)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


@cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core run on the page as it is now (injected: the context needs ``bypass_csp``);
    each violation's id, impact and first three nodes, empty when there are none."""
    page.evaluate(_axe_source())
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:3]]}
        for v in result
    ]
