"""A real site for the browser tests: `newsline serve --workers 2` on a free loopback port,
a SQLite file filled by the synthetic factory, images from a second loopback server, and
Debian's chromium driven by Playwright."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import PROJECT_ROOT
from tests.support.browser import (
    CHROMIUM,
    LiveSite,
    QuietHandler,
    launch_chromium,
    newsline_serve,
    write_images,
)
from tests.support.ports import free_port
from tests.support.webdata import NOW, seed, seed_xss

OUTPUT = PROJECT_ROOT / "test-output"

CONFIG = """\
database_url = "sqlite:///{db}"

[web]
base_url = "{base}"
page_size = 12

[[channels]]
slug = "news"
display_name = "The Harbor Daily"
hometown = "Remer,MN"
timezone = "America/Chicago"

[channels.sponsor]
name = "Acme Kites"
url = "https://kites.example.com/?ref=site"
variants = ["ACME", "ACME KITES", "Acme Kites: fly higher.", "Acme Kites: fly higher. Hand-made in Remer.", "Acme Kites: fly higher. Hand-made kites, line and reels, made in Remer.", "Acme Kites: fly higher. Hand-made kites, line and reels for beaches, parks and fields, made in Remer since 1971."]

[[channels]]
slug = "town"
display_name = "Town Crier"
hometown = "Remer,MN"
"""


@pytest.fixture(scope="session")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """`newsline serve --workers 2 --no-scheduler` on a seeded SQLite file."""
    from newsline.config import load_settings
    from newsline.db.engine import dispose_all, session_scope
    from newsline.db.migrate import upgrade
    from newsline.db.models import Item, Publication

    root = tmp_path_factory.mktemp("site")
    images = root / "img"
    write_images(images, 12)
    img_server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(images)))
    img_thread = threading.Thread(target=img_server.serve_forever, daemon=True)
    img_thread.start()
    img_base = f"http://127.0.0.1:{img_server.server_address[1]}"

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db = root / "site.db"
    config = root / "newsline.toml"
    config.write_text(CONFIG.format(db=db, base=base), encoding="utf-8")
    settings = load_settings(config)
    upgrade(settings.database_url)
    seeded = seed(settings, items_per_pub=8)
    seed_xss(settings)
    images.joinpath("valley-icon.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" '
        'fill="#0f766e"/><path d="M6 10l10 14 10-14" stroke="#fff" stroke-width="4" fill="none"/></svg>',
        encoding="utf-8",
    )
    with session_scope(settings.database_url) as session:
        valley = session.get(Publication, seeded.publications["valley"])
        assert valley is not None
        valley.icon_url = f"{img_base}/valley-icon.svg"
        for n, item in enumerate(session.query(Item).order_by(Item.id)):
            item.image_url = f"{img_base}/{n % 12}.svg" if n % 5 != 3 else None
            item.title = TITLES[n % len(TITLES)] if item.slug != "xss" else item.title
            item.teaser = TEASERS[n % len(TEASERS)] if item.slug != "xss" else item.teaser
            if item.slug == "harbor-0":
                item.summary = "The harbour board approved the new pier.\n\nWork starts in spring."
                item.sort_at = NOW - timedelta(seconds=40)
                item.body_html = "".join(f"<p>{para}</p>" for para in BODY)
                item.body_text = "\n\n".join(BODY)
    dispose_all()

    try:
        with newsline_serve(config, port, workers=2, log=root / "serve.log"):
            yield LiveSite(base, settings, seeded.items, img_base)
    finally:
        img_server.shutdown()
        img_server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium under Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = launch_chromium(pw)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where screenshots go (gitignored)."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


TITLES = [
    "Harbour board approves a longer pier after a year of debate over the old one",
    "Lighthouse keeper retires after forty winters on the point",
    "Ferry timetable changes as the river runs low",
    "Market square to get trees, benches and a fountain",
    "School robotics team heads to the state final",
    "Snowplough budget doubles after the long winter",
    "New bakery opens where the old post office stood",
    "Library extends hours for exam season",
    "County fair returns with a bigger livestock show",
    "Volunteers count migrating geese on the lake",
]
TEASERS = [
    "The board voted five to two for the longer design, which adds mooring for six boats and a "
    "covered walkway. Construction is expected to take two summers, with the old pier kept open "
    "for fishing until the new one is finished and inspected by the county engineers.",
    "After forty winters of keeping the lamp lit, the keeper hands over the keys to the "
    "historical society, which plans tours from June.",
    "Low water has pushed the first crossing back by half an hour; the operator says the "
    "change holds until the autumn rains.",
    "Planners unveiled the design at a packed meeting on Tuesday evening.",
]
BODY = [
    "The harbour board voted on Tuesday night to replace the old timber pier with a longer "
    "concrete one, ending a year of meetings in which fishermen, ferry crews and residents "
    "argued over its length, its cost and where the new boat ramp should go.",
    "Under the approved plan the pier grows by forty metres, enough to moor six more boats, "
    "and gains a covered walkway so that ferry passengers can wait out of the rain.",
    "\u201cWe listened to everyone, and the longer design is the one that serves the most "
    "people,\u201d the board's chair said after the vote. Two members voted against, citing "
    "the cost of dredging the outer berth.",
    "Work is expected to start in spring and take two summers. The old pier stays open for "
    "fishing until the county engineers have inspected and signed off the new one.",
]
