"""What the browser tests share: a human User-Agent, generated pictures and their server."""

from __future__ import annotations

from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

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
